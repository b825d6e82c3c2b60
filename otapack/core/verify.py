"""Host-side verify and apply: run the device restore on a simulated module.

``verify_package`` builds a simulated device holding OLD (or a blank one for
full packages), runs the restore (``otapack.core.restore.engine``) and, given NEW,
checks the device ends byte-identical to it.  ``apply_package`` returns the
restored firmware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from otapack.errors import InputError, OtapackError, TargetMismatchError, VerificationError
from otapack.core.model import FirmwareImage, Partition, Policy
from otapack.core.restore import wire
from otapack.core.restore.engine import Check, CheckStatus, Device, DevicePartition, Restore, RestoreResult, check_disable
from otapack.core.restore.flash import SimFlash


@dataclass(frozen=True)
class DeviceOptions:
    """What the simulated device knows about itself (all optional)."""

    model: str | None = None
    security_counter: int | None = None
    ram_budget: int | None = None
    download_capacity: int | None = None
    signature_check: Callable[[bytes, bytes], str] | None = None
    chain_check: Callable | None = None
    hardware_id: str | None = None
    #: Restore checks to switch off; only those the check table allows
    #: (``otapack.core.restore.engine.CHECKS``, docs/verifier.md).
    skip_checks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "skip_checks", check_disable(self.skip_checks))


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
        return out


def make_device(old: FirmwareImage | None, opts: DeviceOptions = DeviceOptions(), *,
                erase_block: int | None = None) -> Device:
    block = erase_block or (old.erase_block if old else 4096)
    erased = old.erased_value if old else 0xFF
    device = Device(
        erase_block=block, erased_value=erased, model=opts.model, security_counter=opts.security_counter,
        ram_budget=opts.ram_budget, download_capacity=opts.download_capacity,
        signature_check=opts.signature_check, chain_check=opts.chain_check, create_missing=old is None,
        hardware_id=opts.hardware_id, disabled_checks=opts.skip_checks,
    )
    for part in old.partitions if old else ():
        flash = SimFlash.holding(part.data, part.capacity, block, erased, part.name)
        device.partitions[part.name] = DevicePartition(part.name, part.address, flash, part.size, part.slot_size)
    return device


def verify_package(package: bytes, old: FirmwareImage | None = None, new: FirmwareImage | None = None,
                   opts: DeviceOptions = DeviceOptions(), device: Device | None = None) -> VerifyReport:
    """Every named check of the device restore, plus equality with NEW."""
    if device is None:
        erase_block = None
        if old is None:  # a blank device takes the geometry the package names
            erase_block = wire.fixed_field(package, "erase_block") or None
        device = make_device(old, opts, erase_block=erase_block)
    report = restore_report(package, device)
    expected, error = expected_image_check(device, new, None if report.restore.ok or new is None else RESTORE_FAILED)
    report.checks.append(expected)
    report.error = report.error or error
    return report


def restore_report(package: bytes, device: Device) -> VerifyReport:
    """One run of the device restore on ``device``, as a report (no comparison with NEW)."""
    result = Restore(device).run(package)
    return VerifyReport(restore=result, checks=list(result.checks), error=result.error, device=device)


#: Why ``expected-image`` was skipped.
NO_EXPECTED_IMAGE = "no expected image given"
RESTORE_FAILED = "the restore did not complete"


def expected_image_check(device: Device, new: FirmwareImage | None,
                         skipped_because: str | None = None) -> tuple[Check, VerificationError | None]:
    """The ``expected-image`` check after a restore: the device's flash against NEW, byte for byte.

    Returns the check and the error it found (None when it passed or was skipped)."""
    if skipped_because is None and new is None:
        skipped_because = NO_EXPECTED_IMAGE
    if skipped_because is not None:
        return Check("expected-image", CheckStatus.SKIPPED, skipped_because), None
    try:
        return Check("expected-image", CheckStatus.PASS, compare_with(device, new)), None
    except VerificationError as exc:
        return Check("expected-image", CheckStatus.FAIL, str(exc)), exc


def compare_with(device: Device, new: FirmwareImage) -> str:
    compared = 0
    for part in new.partitions:
        if part.policy is Policy.SKIP:
            continue
        have = device.partitions.get(part.name)
        if have is None:
            raise TargetMismatchError(f"partition {part.name!r} of the new image is missing after the restore")
        data = have.flash.read(0, have.size)
        if data != part.data:
            first = next((i for i, (a, b) in enumerate(zip(data, part.data)) if a != b), min(len(data), len(part.data)))
            raise TargetMismatchError(
                f"partition {part.name!r} differs from the new image: {len(data)} vs {len(part.data)} bytes, "
                f"first difference at offset {first}"
            )
        compared += 1
    return f"{compared} partitions byte-identical to the new image"


def restored_image(device: Device, template: FirmwareImage | None) -> FirmwareImage:
    """The device's partitions after a restore, in the template's order."""
    names = [p.name for p in template.partitions] if template else []
    names += [n for n in device.partitions if n not in names]
    parts = []
    for name in names:
        dp = device.partitions[name]
        base = template.get(name) if template else None
        parts.append(Partition(
            name=name, address=dp.address, data=dp.flash.read(0, dp.size),
            type=base.type if base else Partition.__dataclass_fields__["type"].default,
            policy=base.policy if base else Policy.DELTA, slot_size=dp.capacity,
        ))
    source = template.source if template else ("single" if len(parts) == 1 else "package")
    return FirmwareImage(tuple(parts), source=source, erase_block=device.erase_block,
                         erased_value=device.erased_value)


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


def apply_package(package: bytes, old: FirmwareImage | None = None, opts: DeviceOptions = DeviceOptions()) -> FirmwareImage:
    """Restore and return the new firmware; raises the first failing check."""
    report = verify_package(package, old, None, opts)
    if report.error is not None:
        raise report.error
    return restored_image(report.device, old)
