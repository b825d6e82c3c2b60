"""Host-side verify and apply: run the device restore on a simulated module.

One code path for both.  ``make_device`` builds the simulated module: holding
OLD (its slots: from a layout or table, else as large as each partition), or
blank with a layout's slots, or blank with no known layout (a full package
then makes each slot it writes).  The restore runs on it (``restore_report``:
every named check, minimal-system chain and download area included).  Then
``verify_package`` compares the device's flash with NEW (``expected-image``)
and ``apply_package`` returns it (``FlashImage``): ``apply`` is ``verify``
without the expected image, plus writing the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from otapack.errors import (
    InputError, OtapackError, TargetMismatchError, UsageError, VerificationError, error_fields,
)
from otapack.core.flash_image import Background, FlashImage, outside_slots
from otapack.core.model import FirmwareImage, Partition, Policy
from otapack.core.restore import wire
from otapack.core.restore import engines
from otapack.core.restore.engine import Check, CheckStatus, Device, DevicePartition, RestoreResult, check_disable
from otapack.core.restore.extensions import layout_difference, layout_digest
from otapack.core.restore.flash import SimFlash


@dataclass(frozen=True)
class DeviceOptions:
    """What the simulated device knows about itself (all optional)."""

    model: str | None = None
    security_counter: int | None = None
    ram_budget: int | None = None
    #: The download area while the firmware runs (phase 1) ...
    download_capacity: int | None = None
    #: ... and while a minimal system runs (phase 2); None: the phase-1 area.
    minimal_download_capacity: int | None = None
    signature_check: Callable[[bytes, bytes], str] | None = None
    hardware_id: str | None = None
    #: Restore checks to switch off; only those the check table allows
    #: (``otapack.core.restore.engine.CHECKS``, docs/verifier.md).
    skip_checks: frozenset[str] = frozenset()
    #: The restore that runs: "python", "c" (the device library) or "both"
    #: (fails unless they agree; ``otapack.core.restore.engines``).
    engine: str = "python"

    def __post_init__(self) -> None:
        for name in ("security_counter", "ram_budget", "download_capacity", "minimal_download_capacity"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UsageError(f"the device's {name.replace('_', ' ')} cannot be negative, got {value}",
                                 option=name)
        object.__setattr__(self, "skip_checks", check_disable(self.skip_checks))
        engines.check_engine(self.engine)


@dataclass
class VerifyReport:
    restore: RestoreResult
    checks: list[Check] = field(default_factory=list)
    error: OtapackError | None = None
    device: Device | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        out = self.restore.to_dict()
        out["checks"] = [c.to_dict() for c in self.checks]
        out["result"] = CheckStatus.PASS.value if self.ok else CheckStatus.FAIL.value
        out["error"] = str(self.error) if self.error else None
        out.update(error_fields(self.error))
        return out


def _blank_slots(layout) -> tuple[list[tuple[str, int, int]], int, int]:
    """(name, address, slot size) of every slot, erase block, erased value."""
    if isinstance(layout, FirmwareImage):
        return [(p.name, p.address, p.capacity) for p in layout.partitions], layout.erase_block, layout.erased_value
    from otapack.core.inputs.layout import load_layout

    layout = load_layout(layout)
    return ([(lp.name, layout.address(lp), lp.size) for lp in layout.partitions], layout.erase_block,
            layout.erased_value)


def make_device(old: FirmwareImage | None, opts: DeviceOptions = DeviceOptions(), *,
                erase_block: int | None = None, layout=None, on_write=None) -> Device:
    """The simulated module: holding ``old``; else blank with ``layout``'s slots
    (a layout, or an image whose slots the device has); else blank, its layout
    unknown (a full package makes the slots it writes)."""
    slots, block, erased = [], 4096, 0xFF
    if old is not None:
        block, erased = old.erase_block, old.erased_value
    elif layout is not None:
        slots, block, erased = _blank_slots(layout)
    block = erase_block or block
    device = Device(
        erase_block=block, erased_value=erased, model=opts.model, security_counter=opts.security_counter,
        ram_budget=opts.ram_budget, download_capacity=opts.download_capacity,
        minimal_download_capacity=opts.minimal_download_capacity, signature_check=opts.signature_check,
        create_missing=old is None and layout is None, hardware_id=opts.hardware_id,
        disabled_checks=opts.skip_checks, engine=opts.engine,
        # a device holding OLD read with a layout knows that whole layout
        layout_slots=old.details.get("layout_slots") if old is not None else None,
    )
    for part in old.partitions if old else ():
        flash = SimFlash.holding(part.data, part.capacity, block, erased, part.name)
        device.partitions[part.name] = DevicePartition(part.name, part.address, flash, part.capacity,
                                                       resizable=part.slot_size is None)
    for name, address, size in slots:
        device.partitions[name] = DevicePartition(name, address, SimFlash.holding(b"", size, block, erased, name), size)
    for part in device.partitions.values():  # ``on_write(n)``: bytes written into a slot, for a progress bar
        part.flash.on_write = on_write
    return device


def verify_package(package: bytes, old: FirmwareImage | None = None, new: FirmwareImage | None = None,
                   opts: DeviceOptions = DeviceOptions(), device: Device | None = None, *,
                   layout=None, backgrounds: tuple[Background | None, Background | None] = (None, None),
                   on_write=None) -> VerifyReport:
    """Every named check of the device restore, plus ``expected-image`` against NEW.

    ``layout``: without ``old``, the blank device's slots (a layout, or an
    image whose slots the device has).  ``on_write(n)``: told of every write into a
    slot (a progress bar).  ``backgrounds``: the bytes no partition
    covers in a raw OLD (what apply keeps) and a raw NEW (what they must be)."""
    if device is None:
        erase_block = None
        if old is None and layout is None:  # a blank device takes the geometry the package names
            erase_block = wire.fixed_field(package, "erase_block") or None
        device = make_device(old, opts, erase_block=erase_block, layout=layout, on_write=on_write)
    report = restore_report(package, device)
    expected, error = expected_image_check(device, new, None if report.restore.ok or new is None else RESTORE_FAILED,
                                           header=report.restore.header, backgrounds=backgrounds)
    report.checks.append(expected)
    report.error = report.error or error
    return report


def restore_report(package: bytes, device: Device) -> VerifyReport:
    """One run of the device restore on ``device``, as a report (no comparison with NEW)."""
    result = engines.run(device, package)
    return VerifyReport(restore=result, checks=list(result.checks), error=result.error, device=device)


#: Why ``expected-image`` was skipped.
NO_EXPECTED_IMAGE = "no expected image given"
RESTORE_FAILED = "the restore did not complete"


def expected_image_check(device: Device, new: FirmwareImage | None, skipped_because: str | None = None, *,
                         header: wire.Header | None = None,
                         backgrounds: tuple[Background | None, Background | None] = (None, None),
                         ) -> tuple[Check, VerificationError | None]:
    """The ``expected-image`` check after a restore: the device's flash against NEW.

    Returns the check and the error it found (None when it passed or was skipped)."""
    if skipped_because is None and new is None:
        skipped_because = NO_EXPECTED_IMAGE
    if skipped_because is not None:
        return Check("expected-image", CheckStatus.SKIPPED, skipped_because), None
    try:
        return Check("expected-image", CheckStatus.PASS, compare_with(device, new, header, backgrounds)), None
    except VerificationError as exc:
        return Check("expected-image", CheckStatus.FAIL, str(exc)), exc


def _first_difference(a: bytes, b: bytes) -> int:
    step = 4096
    for start in range(0, min(len(a), len(b)), step):
        if a[start:start + step] != b[start:start + step]:
            return next(i for i, (x, y) in enumerate(zip(a[start:start + step], b[start:start + step]), start)
                        if x != y)
    return min(len(a), len(b))


def compare_with(device: Device, new: FirmwareImage, header: wire.Header | None = None,
                 backgrounds: tuple[Background | None, Background | None] = (None, None)) -> str:
    """The device's flash is NEW (docs/verifier.md, "What expected-image compares").

    Every partition of NEW is on the device at NEW's address with NEW's slot,
    holding NEW's bytes followed by erased bytes to the end of the slot; a
    ``skip`` partition of NEW may instead be absent or hold what the device
    had (the restore did not write it); the restore wrote no slot NEW does
    not have; a package bound to a layout is bound to NEW's; and, given a raw
    NEW, its bytes outside every partition are those apply keeps (a raw
    OLD's there, else erased)."""
    compared = left = short = 0
    for p in new.partitions:
        d = device.partitions.get(p.name)
        if p.policy is Policy.SKIP and (d is None or not d.written):
            if d is not None and d.address != p.address:
                raise TargetMismatchError(
                    f"partition {p.name!r} is at {d.address:#x} on the device, the new image has it at {p.address:#x}")
            left += 1
            continue
        if d is None:
            raise TargetMismatchError(f"partition {p.name!r} of the new image is not on the device after the restore")
        if d.address != p.address:
            raise TargetMismatchError(
                f"partition {p.name!r} is at {d.address:#x} on the device, the new image has it at {p.address:#x}")
        slot = max(p.capacity, p.size)
        have = d.read()
        # A slot a blank device made for its content ends there; the flash past it is erased.
        if d.size < slot and d.resizable and device.create_missing:
            have += bytes([device.erased_value]) * (slot - d.size)
            short += 1
        elif d.size != slot:
            raise TargetMismatchError(
                f"partition {p.name!r} has a {d.size}-byte slot on the device, the new image's is {slot} bytes")
        want = p.data + bytes([new.erased_value]) * (slot - p.size)
        if have != want:
            first = _first_difference(have, want)
            notes = []
            if first >= p.size:
                notes.append(f"past the new image's {p.size} bytes of content: the restore leaves the rest of a "
                             f"slot erased")
            if not d.written:
                notes.append("the restore did not write this slot")
            raise TargetMismatchError(
                f"partition {p.name!r} differs from the new image: first difference at offset {first} of its "
                f"{slot}-byte slot" + (f" ({'; '.join(notes)})" if notes else ""))
        compared += 1
    names = set(new.names())
    for d in device.partitions.values():
        if d.name not in names and d.written:
            raise TargetMismatchError(f"the restore wrote partition {d.name!r}, which the new image does not have")
    wanted = header.extensions.get("layout-digest") if header is not None else None
    new_slots = new.slot_records()
    if wanted is not None and new_slots is not None:
        have_layout = layout_digest(new_slots)
        if have_layout != wanted:
            differs = layout_difference(((e.name, e.address) for e in header.entries),
                                        ((p.name, p.address, p.slot_size) for p in new.partitions), "the new image")
            raise TargetMismatchError(
                f"the package is for partition layout {wanted.hex()[:16]}, the new image's layout is "
                f"{have_layout.hex()[:16]}: {differs}")
    old_background, new_background = backgrounds
    if new_background is not None:
        missing = outside_slots(new_background.unassigned, old_background, device.erased_value)
        if missing is not None:
            where = "the old image has other bytes there" if old_background is not None else "the device is blank there"
            raise TargetMismatchError(
                f"the new image's bytes at {missing[0]:#x}, outside every partition, are not what apply writes: "
                f"no package carries them and {where}")
    detail = f"{compared} partitions byte-identical to the new image (whole slots)"
    if left:
        detail += f"; {left} skip partitions as the device had them"
    if short:  # what apply's image then holds: say it here too, not only in apply's note
        detail += (f"; {short} slots end where their content ends on this blank device of unknown layout "
                   f"(erased past it; give the layout for whole slots)")
    return detail


def device_flash(device: Device, header: wire.Header | None = None, *, base_address: int | None = None,
                 background: Background | None = None) -> FlashImage:
    """The device's flash after a restore: every slot, in address order."""
    slots = tuple(
        Partition(name=d.name, address=d.address, data=d.read(), slot_size=d.size)
        for d in sorted(device.partitions.values(), key=lambda d: (d.address, d.name)))
    notes = []
    for e in header.entries if header is not None else ():
        if e.operation == "skip" and e.name not in device.partitions:
            notes.append(f"partition {e.name!r} is skipped by the package and has no slot on this device: "
                         f"not in the image")
    if device.create_missing and any(d.written for d in device.partitions.values()):
        notes.append("the device's layout is unknown: each partition ends where its content ends "
                     "(give the layout or the old image for whole slots)")
    return FlashImage(slots, device.erased_value, base_address if background is None else background.base_address,
                      background, tuple(notes))


def flash_base(layout) -> int | None:
    """Where a blank device's flat image starts: the layout's ``base_address``."""
    if layout is None or isinstance(layout, FirmwareImage):
        return None
    from otapack.core.inputs.layout import load_layout

    return load_layout(layout).base_address


def flatten(image: FirmwareImage) -> bytes:
    """One flat flash image: a single partition as is, several laid out by address."""
    if not image.partitions:
        raise InputError("nothing to write: the package restores no partition (it only lists skipped ones)")
    if len(image.partitions) == 1 and image.source in ("single", "package"):
        return image.partitions[0].data
    base = min(p.address for p in image.partitions)
    end = max(p.address + max(p.capacity, p.size) for p in image.partitions)
    flat = bytearray([image.erased_value]) * (end - base)
    for p in image.partitions:
        flat[p.address - base : p.address - base + p.size] = p.data
    return bytes(flat)


def apply_package(package: bytes, old: FirmwareImage | None = None, opts: DeviceOptions = DeviceOptions(), *,
                  layout=None, background: Background | None = None) -> FlashImage:
    """Restore and return the flash the device ends with; raises the first failing check.

    The same run as ``verify_package`` without NEW.  ``background``: the bytes
    of a raw OLD no partition covers (``flash_image.old_background``), kept."""
    report = verify_package(package, old, None, opts, layout=layout)
    if report.error is not None:
        raise report.error
    return device_flash(report.device, report.restore.header, base_address=flash_base(layout), background=background)
