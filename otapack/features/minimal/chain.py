"""Verifying a minimal-system chain: the stages in order on one simulated
device, rebooting between them, with the device's chain rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from otapack.core.formats.wire_numbers import SHA256_SIZE as DIGEST_SIZE
from otapack.core.model import FirmwareImage
from otapack.core.restore import wire
from otapack.core.restore.engine import Check, Device
from otapack.core.restore.extensions import read_prev_state
from otapack.core.verify import DeviceOptions, VerifyReport, expected_image_check, make_device, restore_report
from otapack.core.restore.checks import CheckStatus
from otapack.errors import ChainMismatchError, ChainStateError, OtapackError, PackageFormatError, UsageError
from otapack.features.minimal.config import STAGE_KINDS
from otapack.features.minimal.state import device_state


def is_stage(data: bytes) -> bool:
    """True for a minimal-system stage (kind byte 3 or 4 after a valid magic)."""
    return data[:len(wire.MAGIC)] == wire.MAGIC and wire.kind_at(data) in STAGE_KINDS


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
        want, covered = read_prev_state(prev, len(header.entries))
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
            if nxt is None or len(nxt) != DIGEST_SIZE:
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
        return Check("intermediate-state", CheckStatus.SKIPPED,
                     "stage 1 applied: the minimal system is installed; no readable stage 2 follows")
    try:
        want, covered = read_prev_state(header.extensions["chain-prev-state"], len(header.entries))
    except PackageFormatError as exc:
        return Check("intermediate-state", CheckStatus.FAIL, str(exc))
    have, names = device_state(device, header.entries, covered)
    if have != want:
        return Check("intermediate-state", CheckStatus.FAIL,
                     f"after stage 1 the flash is in state {have.hex()}, the next package starts from {want.hex()}")
    return Check("intermediate-state", CheckStatus.PASS,
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
            "result": CheckStatus.PASS.value if self.ok else CheckStatus.FAIL.value,
            "error": str(self.error) if self.error else None,
            "stages": [dict(r.to_dict(), package=n) for r, n in zip(self.stages, self.names)],
            "checks": [dict(c.to_dict(), scope=scope) for scope, c in self.steps],
        }

    def _chain(self, check: Check) -> None:
        self.checks.append(check)
        self.steps.append(("chain", check))


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
            report._chain(Check("reboot", CheckStatus.PASS, f"device restarted; remembers next package "
                                       f"{memory.expected_next.hex()[:16] + '…' if memory.expected_next else 'none'}"))
        last_kind = wire.kind_at(package)
        phase = 2 if last_kind == "minimal-stage2" else 1
        device.download_capacity = capacities[phase - 1] if opts.download_capacity is None else opts.download_capacity
        device.chain_check = make_chain_check(device, memory, body_digest(package))
        stage_report = restore_report(package, device)
        report.stages.append(stage_report)
        report.steps += [(names[index], c) for c in stage_report.checks]
        if stage_report.error is not None:
            report.error = stage_report.error
            return report
        header = stage_report.restore.header
        memory.expected_next = header.extensions.get("chain-next-package") if header.kind == "minimal-stage1" else None
        if header.kind == "minimal-stage1":
            report._chain(_intermediate_check(device, packages[index + 1] if index + 1 < len(packages)
                                                     else None))
    ends_early = "the chain ends after stage 1 (intermediate state); give stage 2 to reach NEW"
    expected, error = expected_image_check(device, new, ends_early if last_kind == "minimal-stage1" else None)
    report._chain(expected)
    report.error = error
    return report
