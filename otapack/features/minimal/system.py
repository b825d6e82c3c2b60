"""Minimal-system upgrades: two chained packages for modules whose flash
cannot hold a single-stage package (docs/minimal-system.md).

Phase 1: the device runs OLD and stores **stage 1** in the phase-1 download
area; stage 1 installs the minimal system (MINI, padded to its slot) into
``[minimal_system].partition``.  Reboot.  Phase 2: the minimal system runs,
stores **stage 2** in the phase-2 download area; stage 2 takes the flash to
NEW (program images delta or full, file systems and download areas in full).

The chain: each stage's ``chain-prev-state`` extension is the digest of the
flash state it starts from (``state_digest``); stage 1's
``chain-next-package`` is stage 2's body SHA-256, so a device that ran stage 1
accepts only that stage 2.  Each stage's ``budget`` extension records the
flash it needs against the download area of its phase.

Public API::

    MinimalConfig.from_layout(layout, partition=None, stage1_download=None, stage2_download=None)
    install_minimal(old, mini, partition) -> FirmwareImage          # the intermediate state
    build_minimal(old, new, mini, config, opts, check_budget=True) -> MinimalResult
    plan_upgrade(old, new, config, opts, mini=None) -> UpgradePlan  # full / delta / minimal-system
    verify_chain(packages, old, new=None, opts, capacities=None) -> ChainReport
    decode_extensions(package) -> dict; describe_extensions(package) -> list[str]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from otapack.core.build import (
    PackageOptions, PlannedPartition, _check_sizes, build_delta, build_full, check_structure,
    finish_package, map_partitions, plan_delta_partition, plan_full_partition,
)
from otapack.errors import (
    BudgetError, InputError, LayoutError, OtapackError, PackageFormatError, PrecursorMismatchError,
    SecurityError, UsageError, VerificationError,
)
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.container import PartitionRecord, read_package
from otapack.core.restore import wire
from otapack.core.restore.engine import Check, Device, Restore
from otapack.core.verify import DeviceOptions, VerifyReport, compare_with, make_device

STAGE_KINDS = ("minimal-stage1", "minimal-stage2")
#: Domain prefix of ``state_digest`` (so it can never equal another SHA-256 otapack writes).
STATE_DIGEST_PREFIX = b"otapack-flash-state-v1\0"
#: ``budget`` extension: version, stage, download area, package bytes, scratch, flash needed.
BUDGET_VERSION = 1
BUDGET_SIZE = 18


class ChainStateError(PrecursorMismatchError):
    """A minimal-system stage was offered to a device not in the flash state it starts from (exit 1)."""


class ChainMismatchError(SecurityError):
    """Stage 2 is not the package stage 1 names: a mix-and-match pair (exit 8)."""


# --------------------------------------------------------------------- config


@dataclass(frozen=True)
class MinimalConfig:
    """Where the minimal system goes and how much flash each phase can spare.

    A download area is a byte count, or a tuple of partition names whose
    slots are free (their content is destroyed by the download) in that phase.
    """

    partition: str
    stage1_download: int | tuple[str, ...]
    stage2_download: int | tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("stage1_download", "stage2_download"):
            value = getattr(self, key)
            if isinstance(value, str):
                object.__setattr__(self, key, (value,))
            elif isinstance(value, list):
                object.__setattr__(self, key, tuple(value))
            elif isinstance(value, int) and (value < 0 or isinstance(value, bool)):
                raise UsageError(f"{key} must be a byte count of at least 0, not {value!r}")

    @classmethod
    def from_layout(cls, layout=None, *, partition: str | None = None, stage1_download: int | None = None,
                    stage2_download: int | None = None,
                    require: tuple[str, ...] = ("partition", "stage1_download", "stage2_download"),
                    ) -> "MinimalConfig":
        """The layout's ``[minimal_system]`` table, with explicit values overriding it.

        ``require``: the keys that must be known (planning single-stage
        packages needs only ``stage1_download``)."""
        table = None
        if layout is not None:
            from otapack.core.inputs.layout import load_layout, minimal_system_table

            table = minimal_system_table(load_layout(layout))
        table = dict(table or {})
        for key, value in (("partition", partition), ("stage1_download", stage1_download),
                           ("stage2_download", stage2_download)):
            if value is not None:
                table[key] = value
        missing = [k for k in require if k not in table]
        if missing:
            flag = {"partition": "--minimal-partition"}.get(missing[0], "--" + missing[0].replace("_", "-"))
            raise UsageError(
                f"no {', '.join(missing)} known: add a [minimal_system] table to the layout "
                f"(docs/minimal-system.md) or give {flag}"
            )
        return cls(table.get("partition", ""), table.get("stage1_download", 0), table.get("stage2_download", 0),
                   table.get("description", ""))

    def area(self, stage: int) -> int | tuple[str, ...]:
        return self.stage1_download if stage == 1 else self.stage2_download

    def area_names(self, stage: int) -> tuple[str, ...]:
        value = self.area(stage)
        return value if isinstance(value, tuple) else ()

    def budget(self, stage: int, image: FirmwareImage) -> int:
        value = self.area(stage)
        if isinstance(value, int):
            return value
        return sum(_part(image, name, f"stage{stage}_download").capacity for name in value)

    def describe_area(self, stage: int) -> str:
        value = self.area(stage)
        if isinstance(value, int):
            return f"stage{stage}_download"
        return "partition" + ("s " if len(value) > 1 else " ") + ", ".join(value)

    def check(self, image: FirmwareImage) -> None:
        """The roles must make sense on this image's partitions (LayoutError)."""
        mini = _part(image, self.partition, "partition")
        if mini.policy in (Policy.SKIP, Policy.KEEP):
            raise LayoutError(
                f"[minimal_system] partition {self.partition!r} has policy {mini.policy.value}: it may never be "
                f"written, so it cannot receive the minimal system"
            )
        for stage in (1, 2):
            for name in self.area_names(stage):
                part = _part(image, name, f"stage{stage}_download")
                if name == self.partition:
                    role = "stage 1 writes it" if stage == 1 else "the minimal system runs from it"
                    raise LayoutError(
                        f"[minimal_system] stage{stage}_download names {name!r}, the minimal-system partition: "
                        f"{role}, so it cannot hold the phase-{stage} package"
                    )
                if part.policy in (Policy.SKIP, Policy.KEEP):
                    raise LayoutError(
                        f"[minimal_system] stage{stage}_download names {name!r}, which has policy "
                        f"{part.policy.value}: its content must survive, it cannot hold a downloaded package"
                    )


def _part(image: FirmwareImage, name: str, key: str) -> Partition:
    part = image.get(name)
    if part is None:
        raise LayoutError(
            f"[minimal_system] {key} names partition {name!r}, which the image does not have "
            f"(partitions: {', '.join(image.names())})"
        )
    return part


# --------------------------------------------------------------------- state


def install_minimal(old: FirmwareImage, mini: bytes, partition: str) -> FirmwareImage:
    """The flash after stage 1: OLD with MINI (padded to the slot) in ``partition``."""
    part = _part(old, partition, "partition")
    if not mini:
        raise InputError("the minimal-system image is empty")
    slot = part.capacity
    if len(mini) > slot:
        raise InputError(
            f"the minimal system ({len(mini)} bytes) does not fit partition {partition!r} ({slot}-byte slot)"
        )
    data = bytes(mini) + bytes([old.erased_value]) * (slot - len(mini))
    new_part = replace(part, data=data, type=PartitionType.CODE, slot_size=part.slot_size)
    parts = tuple(new_part if p.name == partition else p for p in old.partitions)
    return replace(old, partitions=parts, details=dict(old.details, minimal_system=partition))


def state_digest(entries: Iterable[tuple[str, int, int, bytes]]) -> bytes:
    """SHA-256 over the prefix, then per covered partition in table order:
    u8 name length, name, u32 address, u32 size, SHA-256 of its content."""
    sha = hashlib.sha256(STATE_DIGEST_PREFIX)
    for name, address, size, content_sha in entries:
        raw = name.encode("ascii")
        sha.update(bytes([len(raw)]) + raw + address.to_bytes(4, "little") + size.to_bytes(4, "little")
                   + content_sha)
    return sha.digest()


def coverage(image: FirmwareImage, config: MinimalConfig, stage: int) -> list[bool]:
    """Which partitions (in table order) the state a stage starts from covers.

    Not covered: NV/factory data (skip: per device), file systems (full: they
    change at run time), and download areas of this or an earlier phase
    (their content is the downloaded package).  Always covered in phase 2:
    the minimal system itself."""
    dead = set(config.area_names(1)) | (set(config.area_names(2)) if stage == 2 else set())
    out = []
    for p in image.partitions:
        if stage == 2 and p.name == config.partition:
            out.append(True)
        else:
            out.append(p.policy not in (Policy.SKIP, Policy.FULL) and p.name not in dead)
    return out


def image_state(image: FirmwareImage, covered: list[bool]) -> bytes:
    return state_digest((p.name, p.address, p.size, p.sha256())
                        for p, c in zip(image.partitions, covered) if c)


def encode_prev_state(digest: bytes, covered: list[bool]) -> bytes:
    """``chain-prev-state``: 32-byte digest + coverage bitmap (bit i = table entry i, LSB first)."""
    bitmap = bytearray((len(covered) + 7) // 8)
    for i, c in enumerate(covered):
        if c:
            bitmap[i // 8] |= 1 << (i % 8)
    return digest + bytes(bitmap)


def decode_prev_state(value: bytes, entries: int) -> tuple[bytes, list[bool]]:
    if len(value) != 32 + (entries + 7) // 8:
        raise PackageFormatError(
            f"chain-prev-state is {len(value)} bytes; a table of {entries} partitions needs "
            f"{32 + (entries + 7) // 8} (digest + coverage bitmap)"
        )
    bits = value[32:]
    return value[:32], [bool(bits[i // 8] >> (i % 8) & 1) for i in range(entries)]


def device_state(device: Device, entries: list, covered: list[bool]) -> tuple[bytes, list[str]]:
    """The device's own digest of its flash over the covered table entries."""
    items, names = [], []
    for entry, c in zip(entries, covered):
        if not c:
            continue
        part = device.partitions.get(entry.name)
        names.append(entry.name)
        if part is None:
            items.append((entry.name, 0, 0, b"\0" * 32))
            continue
        sha = hashlib.sha256()
        for position in range(0, part.size, device.erase_block):
            sha.update(part.flash.read(position, min(device.erase_block, part.size - position)))
        items.append((entry.name, part.address, part.size, sha.digest()))
    return state_digest(items), names


# --------------------------------------------------------------------- budget


@dataclass(frozen=True)
class StageFigures:
    """One stage's flash need against its phase's download area."""

    stage: int
    package_bytes: int
    scratch_flash: int
    erase_block: int
    download_area: int
    area: str
    operations: dict = field(default_factory=dict)
    #: payload sizes of the candidates per partition (delta, full), when several were built
    candidates: dict = field(default_factory=dict)
    #: partitions carried in full because their delta's staging missed the budget
    fallback: tuple[str, ...] = ()

    @property
    def flash_needed(self) -> int:
        return -(-self.package_bytes // self.erase_block) * self.erase_block + self.scratch_flash

    @property
    def fits(self) -> bool:
        return self.flash_needed <= self.download_area

    @property
    def shortfall(self) -> int:
        return max(0, self.flash_needed - self.download_area)

    def to_dict(self) -> dict:
        return {
            "stage": self.stage, "package_bytes": self.package_bytes, "scratch_flash": self.scratch_flash,
            "flash_needed": self.flash_needed, "download_area": self.download_area, "area": self.area,
            "free_after": self.download_area - self.flash_needed, "fits": self.fits,
            "shortfall": self.shortfall, "operations": dict(self.operations),
            "candidates": dict(self.candidates), "full_for_budget": list(self.fallback),
        }


def encode_budget(f: StageFigures) -> bytes:
    return (bytes([BUDGET_VERSION, f.stage]) + b"".join(
        min(v, 0xFFFFFFFF).to_bytes(4, "little")
        for v in (f.download_area, f.package_bytes, f.scratch_flash, f.flash_needed)))


def decode_budget(value: bytes) -> dict:
    if len(value) != BUDGET_SIZE or value[0] != BUDGET_VERSION:
        raise PackageFormatError(f"budget extension: expected {BUDGET_SIZE} bytes of version {BUDGET_VERSION}")
    area, package, scratch, need = (int.from_bytes(value[i:i + 4], "little") for i in range(2, 18, 4))
    return {"stage": value[1], "download_area": area, "package_bytes": package, "scratch_flash": scratch,
            "flash_needed": need, "free_after": area - need}


def budget_error(f: StageFigures, hint: str) -> BudgetError:
    return BudgetError(
        f"stage {f.stage} needs {f.flash_needed} bytes of flash for its package (the {f.package_bytes}-byte "
        f"package in {f.erase_block}-byte erase blocks + {f.scratch_flash} bytes scratch), the phase-{f.stage} "
        f"download area ({f.area}) has {f.download_area} bytes: short by {f.shortfall} bytes; hint: {hint}"
    )


def _hint(f: StageFigures, config: MinimalConfig) -> str:
    parts = ["a smaller LZMA dictionary does not shrink the package (it only lowers RAM)"]
    if f.scratch_flash:
        parts.append(f"the {f.scratch_flash}-byte scratch stages delta-restored partitions")
    if f.stage == 1:
        parts.append("a smaller minimal system, or installing it where a delta against OLD is small, does; "
                     "so does more free flash in phase 1 (stage1_download)")
    else:
        parts.append(f"moving the minimal system out of {config.partition!r} (so stage 2 can patch it instead of "
                     f"carrying it in full), or a larger phase-2 download area (stage2_download), does")
    return "; ".join(parts)


# --------------------------------------------------------------------- build


@dataclass
class MinimalResult:
    stage1: bytes
    stage2: bytes
    figures: tuple[StageFigures, StageFigures]
    intermediate: FirmwareImage
    config: MinimalConfig

    @property
    def fits(self) -> bool:
        return all(f.fits for f in self.figures)

    def to_dict(self) -> dict:
        s1, s2 = read_package(self.stage1), read_package(self.stage2)
        return {
            "minimal_partition": self.config.partition,
            "stages": [f.to_dict() for f in self.figures],
            "chain": {
                "stage1_prev_state": s1.header.extension("chain-prev-state")[:32].hex(),
                "stage1_next_package": s1.header.extension("chain-next-package").hex(),
                "stage2_prev_state": s2.header.extension("chain-prev-state")[:32].hex(),
                "stage2_body_sha256": s2.body_sha256.hex(),
            },
            "download_total": len(self.stage1) + len(self.stage2),
            "fits": self.fits,
        }

    def check_budget(self) -> None:
        for f in self.figures:
            if not f.fits:
                raise budget_error(f, _hint(f, self.config))


def _finish(kind: str, stage: int, planned: list[PlannedPartition], opts: PackageOptions, extensions: list,
            erase_block: int, budget: int, area: str) -> tuple[bytes, StageFigures]:
    """Assemble twice: the budget extension has a fixed size, so the package
    length found with a placeholder is the final one."""
    ops = {p.record.name: p.record.operation for p in planned}
    cands = {p.record.name: {k: v for k, v in p.candidates.items() if k != "full-estimate"}
             for p in planned if len(p.candidates) > 1}
    placeholder = StageFigures(stage, 0, 0, erase_block, budget, area, ops, cands)

    def build(fig: StageFigures) -> bytes:
        exts = tuple(sorted(extensions + [("budget", encode_budget(fig))],
                            key=lambda e: ["chain-prev-state", "chain-next-package", "budget"].index(e[0])))
        return finish_package("delta", planned, replace(opts, kind=kind, extensions=exts), erase_block)

    first = build(placeholder)
    scratch = read_package(first, check_digest=False).header.scratch_flash
    figures = replace(placeholder, package_bytes=len(first), scratch_flash=scratch)
    package = build(figures)
    assert len(package) == len(first)
    return package, figures


def _as_full(planned: PlannedPartition, new: Partition, opts: PackageOptions) -> PlannedPartition:
    full = plan_full_partition(replace(new, policy=Policy.FULL), opts)
    candidates = dict(planned.candidates, full=len(full.payload))
    return replace(full, record=replace(full.record, reason="full-smaller"), candidates=candidates)


def _within_budget(make: Callable[[list[PlannedPartition]], tuple[bytes, StageFigures]],
                   planned: list[PlannedPartition], news: dict[str, Partition], opts: PackageOptions):
    """Per partition, delta or full by size; if the stage then misses its
    budget because delta partitions need staging, carry them in full."""
    package, figures = make(planned)
    if figures.fits or not any(p.record.operation == "delta" for p in planned):
        return package, figures
    alt = [_as_full(p, news[p.record.name], opts) if p.record.operation == "delta" else p for p in planned]
    package2, figures2 = make(alt)
    if figures2.flash_needed < figures.flash_needed:
        moved = tuple(p.record.name for p in planned if p.record.operation == "delta")
        return package2, replace(figures2, fallback=moved)
    return package, figures


def _keep(part: Partition) -> PlannedPartition:
    return PlannedPartition(PartitionRecord(
        name=part.name, address=part.address, operation="keep", reason="unchanged",
        target_size=part.size, target_sha256=part.sha256()))


def _skip(part: Partition) -> PlannedPartition:
    return PlannedPartition(PartitionRecord(name=part.name, address=part.address, operation="skip",
                                            reason="policy-skip"))


def build_minimal(old: FirmwareImage, new: FirmwareImage, mini: bytes, config: MinimalConfig,
                  opts: PackageOptions = PackageOptions(), *, check_budget: bool = True) -> MinimalResult:
    """Both stages (stage 2 first: stage 1 names its digest); BudgetError when a stage does not fit."""
    _check_sizes(old)
    _check_sizes(new)
    check_structure(old, new)
    config.check(new)
    inter = install_minimal(old, mini, config.partition)
    eb = new.erase_block
    dead1, dead = set(config.area_names(1)), set(config.area_names(1)) | set(config.area_names(2))

    # Stage 2: from the intermediate state to NEW.
    def plan2(p: Partition) -> PlannedPartition:
        if p.policy is Policy.SKIP:
            return _skip(p)
        if p.name in dead:  # its content was destroyed by a download
            planned = plan_full_partition(replace(p, policy=Policy.FULL), opts)
            return replace(planned, record=replace(planned.record, reason="no-source"))
        if p.policy is Policy.FULL:  # file systems travel in full (the seed)
            planned = plan_full_partition(p, opts)
            return replace(planned, record=replace(planned.record, reason="policy-full"))
        return plan_delta_partition(inter.get(p.name), p, opts)

    cover2 = coverage(new, config, 2)
    prev2 = encode_prev_state(image_state(inter, cover2), cover2)
    budget2, area2 = config.budget(2, new), config.describe_area(2)
    news = {p.name: p for p in new.partitions}
    stage2, fig2 = _within_budget(
        lambda planned: _finish("minimal-stage2", 2, planned, opts, [("chain-prev-state", prev2)], eb,
                                budget2, area2),
        map_partitions(plan2, list(new.partitions), opts.jobs), news, opts)
    next_digest = read_package(stage2).body_sha256

    # Stage 1: from OLD to the intermediate state; everything else kept or skipped.
    def plan1(p: Partition) -> PlannedPartition:
        if p.name == config.partition:
            return plan_delta_partition(p, inter.get(p.name), opts)
        if p.policy in (Policy.SKIP, Policy.FULL) or p.name in dead1:
            return _skip(p)
        return _keep(p)

    cover1 = coverage(old, config, 1)
    prev1 = encode_prev_state(image_state(old, cover1), cover1)
    budget1, area1 = config.budget(1, new), config.describe_area(1)
    inter_parts = {p.name: p for p in inter.partitions}
    stage1, fig1 = _within_budget(
        lambda planned: _finish("minimal-stage1", 1, planned, opts,
                                [("chain-prev-state", prev1), ("chain-next-package", next_digest)], eb,
                                budget1, area1),
        map_partitions(plan1, list(old.partitions), opts.jobs), inter_parts, opts)
    result = MinimalResult(stage1, stage2, (fig1, fig2), inter, config)
    if check_budget:
        result.check_budget()
    return result


# --------------------------------------------------------------------- plan


@dataclass
class UpgradePlan:
    candidates: list[dict]
    recommendation: str | None
    reason: str

    def to_dict(self) -> dict:
        return {"candidates": self.candidates, "recommendation": self.recommendation, "reason": self.reason}


def _single(method: str, package: bytes, eb: int, budget: int, area: str) -> dict:
    header = read_package(package).header
    f = StageFigures(1, len(package), header.scratch_flash, eb, budget, area)
    d = f.to_dict()
    del d["stage"], d["operations"]
    return {"method": method, "download_bytes": len(package), "stages": [d], "fits": f.fits}


def plan_upgrade(old: FirmwareImage, new: FirmwareImage, config: MinimalConfig,
                 opts: PackageOptions = PackageOptions(), mini: bytes | None = None) -> UpgradePlan:
    """Full, delta and (with MINI) minimal-system, each against the flash
    budgets; recommends the one that fits with the fewest bytes to download."""
    eb = new.erase_block
    budget1, area1 = config.budget(1, new), config.describe_area(1)
    candidates = [
        _single("delta", build_delta(old, new, opts), eb, budget1, area1),
        _single("full", build_full(new, opts), eb, budget1, area1),
    ]
    if mini is not None:
        result = build_minimal(old, new, mini, config, opts, check_budget=False)
        candidates.append({"method": "minimal-system", "download_bytes": len(result.stage1) + len(result.stage2),
                           "stages": [f.to_dict() for f in result.figures], "fits": result.fits})
    fitting = [c for c in candidates if c["fits"]]
    if fitting:
        best = min(fitting, key=lambda c: (c["download_bytes"], len(c["stages"])))
        return UpgradePlan(candidates, best["method"],
                           f"{best['method']} fits the flash budget with the fewest bytes to download "
                           f"({best['download_bytes']})")
    shorts = "; ".join(
        f"{c['method']}: short by " + "+".join(str(s["shortfall"]) for s in c["stages"]) + " bytes"
        for c in candidates)
    reason = f"no upgrade method fits the flash budget ({shorts})"
    if mini is None:
        reason += "; give --minimal-system MINI to plan a minimal-system upgrade"
    return UpgradePlan(candidates, None, reason)


# --------------------------------------------------------------------- verify


@dataclass
class ChainMemory:
    """What the device keeps across the reboot between the stages."""

    expected_next: bytes | None = None


def body_digest(package: bytes) -> bytes:
    """The trailer's body SHA-256 (the device checked it in its ``digest`` step)."""
    if len(package) < wire.TRAILER_SIZE:
        return b""
    try:
        return wire.parse_trailer(bytes(package[-wire.TRAILER_SIZE:])).body_sha256
    except OtapackError:
        return b""


def make_chain_check(device: Device, memory: ChainMemory, digest: bytes) -> Callable[[wire.Header], str]:
    """The device's chain rules, for the package whose body digest is ``digest``."""

    def check(header: wire.Header) -> str:
        if header.kind not in STAGE_KINDS:
            return ""
        stage = STAGE_KINDS.index(header.kind) + 1
        prev = header.extensions.get("chain-prev-state")
        if prev is None:
            raise PackageFormatError(f"{header.kind} package has no chain-prev-state extension")
        want, covered = decode_prev_state(prev, len(header.entries))
        missing = [e.name for e, c in zip(header.entries, covered) if c and e.name not in device.partitions]
        if missing:
            raise ChainStateError(
                f"stage {stage} starts from a flash state over partition {missing[0]!r}, which the device does not "
                f"have (device partitions: {', '.join(device.partitions) or 'none'}; was the image read without "
                f"its layout?)"
            )
        have, names = device_state(device, header.entries, covered)
        if have != want:
            if stage == 2:
                hint = ("apply its stage 1 first (stage 1 is url1 and comes first)" if memory.expected_next is None else
                        "the stage 1 applied before leaves another state: the pair does not belong together")
            else:
                hint = ("the device is not running the firmware stage 1 was built from (wrong base image)"
                        if memory.expected_next is None else
                        "stage 1 was already applied; the device expects its stage 2 (are the stages swapped?)")
            raise ChainStateError(
                f"stage {stage} starts from flash state {want.hex()}, the device is in state {have.hex()} "
                f"(over {', '.join(names) or 'no partitions'}): {hint}"
            )
        notes = [f"flash state {have.hex()[:16]}… matches"]
        if stage == 2 and memory.expected_next is not None:
            if memory.expected_next != digest:
                raise ChainMismatchError(
                    f"stage 1 names stage 2 package {memory.expected_next.hex()}, this package is {digest.hex()}: "
                    f"a stage 2 built for another upgrade (mix-and-match) is refused"
                )
            notes.append("package is the one stage 1 names")
        if stage == 1:
            nxt = header.extensions.get("chain-next-package")
            if nxt is None or len(nxt) != 32:
                raise PackageFormatError("minimal-stage1 package has no 32-byte chain-next-package extension")
        return "; ".join(notes)

    return check


def _peek_header(package: bytes) -> wire.Header | None:
    try:
        _, length = wire.parse_fixed(bytes(package[:wire.FIXED_HEADER_SIZE]))
        return wire.parse_header(bytes(package[:length]))
    except OtapackError:
        return None


def _intermediate_check(device: Device, following: bytes | None) -> Check:
    """After stage 1: the device's flash state against the one the next package starts from."""
    header = _peek_header(following) if following is not None else None
    if header is None or "chain-prev-state" not in header.extensions:
        return Check("intermediate-state", "skipped",
                     "stage 1 applied: the minimal system is installed; no readable stage 2 follows")
    try:
        want, covered = decode_prev_state(header.extensions["chain-prev-state"], len(header.entries))
    except PackageFormatError as exc:
        return Check("intermediate-state", "fail", str(exc))
    have, names = device_state(device, header.entries, covered)
    if have != want:
        return Check("intermediate-state", "fail",
                     f"after stage 1 the flash is in state {have.hex()}, the next package starts from {want.hex()}")
    return Check("intermediate-state", "pass",
                 f"after stage 1 the flash state {have.hex()[:16]}… (over {', '.join(names)}) is the one the next "
                 f"package starts from")


@dataclass
class ChainReport:
    stages: list[VerifyReport]
    names: list[str]
    #: Chain-level checks (intermediate-state, reboot, expected-image).
    checks: list[Check] = field(default_factory=list)
    #: Every check in the order it ran: (package name or "chain", check).
    steps: list[tuple[str, Check]] = field(default_factory=list)
    error: OtapackError | None = None
    device: Device | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "result": "pass" if self.ok else "fail",
            "error": str(self.error) if self.error else None,
            "stages": [dict(r.to_dict(), package=n) for r, n in zip(self.stages, self.names)],
            "checks": [dict(c.to_dict(), scope=scope) for scope, c in self.steps],
        }

    def _chain(self, check: Check) -> None:
        self.checks.append(check)
        self.steps.append(("chain", check))


def chain_capacities(config: MinimalConfig | None, image: FirmwareImage | None) -> tuple[int | None, int | None]:
    if config is None or image is None:
        return (None, None)
    return (config.budget(1, image), config.budget(2, image))


def verify_chain(packages: list[bytes], old: FirmwareImage | None, new: FirmwareImage | None = None,
                 opts: DeviceOptions = DeviceOptions(), *, capacities: tuple[int | None, int | None] = (None, None),
                 names: list[str] | None = None) -> ChainReport:
    """Run the stages in the given order on one simulated device, rebooting
    between them (a new Restore on the same flash); then compare with NEW."""
    if not packages:
        raise UsageError("no package to verify")
    names = names or [f"package {i + 1}" for i in range(len(packages))]
    device = make_device(old, opts)
    memory = ChainMemory()
    report = ChainReport([], names, device=device)
    last_kind = None
    for index, package in enumerate(packages):
        if index:
            report._chain(Check("reboot", "pass", f"device restarted; remembers next package "
                                       f"{memory.expected_next.hex()[:16] + '…' if memory.expected_next else 'none'}"))
        last_kind = wire.kind_at(package)
        phase = 2 if last_kind == "minimal-stage2" else 1
        device.download_capacity = capacities[phase - 1] if opts.download_capacity is None else opts.download_capacity
        digest = body_digest(package)
        device.chain_check = make_chain_check(device, memory, digest)
        result = Restore(device).run(package)
        stage_report = VerifyReport(restore=result, checks=list(result.checks), error=result.error, device=device)
        report.stages.append(stage_report)
        report.steps += [(names[index], c) for c in result.checks]
        if result.error is not None:
            report.error = result.error
            return report
        header = result.header
        if header.kind == "minimal-stage1":
            memory.expected_next = header.extensions.get("chain-next-package")
        else:
            memory.expected_next = None
        if header.kind == "minimal-stage1":
            report._chain(_intermediate_check(device, packages[index + 1] if index + 1 < len(packages)
                                                     else None))
    expected = Check("expected-image", "skipped", "no --new image given")
    if last_kind == "minimal-stage1":
        expected.detail = "the chain ends after stage 1 (intermediate state); give stage 2 to reach NEW"
    elif new is not None:
        try:
            expected.detail = compare_with(device, new)
            expected.status = "pass"
        except VerificationError as exc:
            expected.status, expected.detail = "fail", str(exc)
            report.error = exc
    report._chain(expected)
    return report


# --------------------------------------------------------------------- inspect


def decode_extensions(package) -> dict:
    """The minimal-system extensions of a parsed Package, decoded."""
    h = package.header
    out: dict = {}
    if h.kind in STAGE_KINDS:
        out["stage"] = STAGE_KINDS.index(h.kind) + 1
    prev = h.extension("chain-prev-state")
    if prev is not None:
        digest, covered = decode_prev_state(prev, len(package.partitions))
        out["chain_prev_state"] = {"digest": digest.hex(),
                                   "covers": [p.name for p, c in zip(package.partitions, covered) if c]}
    nxt = h.extension("chain-next-package")
    if nxt is not None:
        out["chain_next_package"] = nxt.hex()
    budget = h.extension("budget")
    if budget is not None:
        out["budget"] = decode_budget(budget)
    return out


def describe_extensions(package) -> list[str]:
    """``info`` lines for the minimal-system extensions (empty when none)."""
    try:
        d = decode_extensions(package)
    except PackageFormatError as exc:
        return [f"chain          undecodable: {exc}"]
    lines = []
    if "stage" in d:
        lines.append(f"stage          {d['stage']} of 2 (minimal-system upgrade)")
    if "chain_prev_state" in d:
        c = d["chain_prev_state"]
        lines.append(f"chain from     flash state {c['digest']} (over {', '.join(c['covers']) or 'nothing'})")
    if "chain_next_package" in d:
        lines.append(f"chain to       stage 2 package {d['chain_next_package']} (its body SHA-256)")
    if "budget" in d:
        b = d["budget"]
        lines.append(f"flash budget   need {b['flash_needed']:,} B (package {b['package_bytes']:,} B + scratch "
                     f"{b['scratch_flash']:,} B) of {b['download_area']:,} B phase-{b['stage']} download area, "
                     f"{b['free_after']:,} B spare")
    return lines
