"""Verifying a minimal-system chain: the stages in order on one simulated
device, rebooting between them.  The chain rules themselves are the
device's (``otapack.core.restore.chain``, run in every restore's
``compatibility`` check); this module adds the host-side report: the
``intermediate-state`` check after stage 1, the reboot, ``expected-image``."""

from __future__ import annotations

from dataclasses import dataclass, field

from otapack.core.model import FirmwareImage
from otapack.core.restore import wire
from otapack.core.restore.chain import device_state
from otapack.core.restore.engine import Check, Device
from otapack.core.restore.extensions import read_prev_state
from otapack.core.verify import DeviceOptions, VerifyReport, expected_image_check, make_device, restore_report
from otapack.core.restore.checks import CheckStatus
from otapack.errors import OtapackError, PackageFormatError, UsageError, error_fields
from otapack.features.minimal.config import STAGE_KINDS


def is_stage(data: bytes) -> bool:
    """True for a minimal-system stage (kind byte 3 or 4 after a valid magic)."""
    return data[:len(wire.MAGIC)] == wire.MAGIC and wire.kind_at(data) in STAGE_KINDS


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
            **error_fields(self.error),
            "stages": [dict(r.to_dict(), package=n) for r, n in zip(self.stages, self.names)],
            "checks": [dict(c.to_dict(), scope=scope) for scope, c in self.steps],
        }

    def _chain(self, check: Check) -> None:
        self.checks.append(check)
        self.steps.append(("chain", check))


def verify_chain(packages: list[bytes], old: FirmwareImage | None, new: FirmwareImage | None = None,
                 opts: DeviceOptions = DeviceOptions(), *, capacities: tuple[int | None, int | None] = (None, None),
                 names: list[str] | None = None, layout=None, backgrounds=(None, None)) -> ChainReport:
    """Run the packages in the given order on one simulated device, rebooting
    between them (a new Restore on the same flash and device memory); then
    compare with NEW.  ``capacities``: the download areas of the two phases,
    where ``opts`` does not give them; ``layout``, ``backgrounds``: as for ``verify_package``."""
    if not packages:
        raise UsageError("no package to verify")
    names = names or [f"package {i + 1}" for i in range(len(packages))]
    erase_block = None
    if old is None and layout is None:  # a blank device takes the geometry the package names
        erase_block = wire.fixed_field(packages[0], "erase_block") or None
    device = make_device(old, opts, erase_block=erase_block, layout=layout)
    if device.download_capacity is None:
        device.download_capacity = capacities[0]
    if device.minimal_download_capacity is None:
        device.minimal_download_capacity = capacities[1] if opts.download_capacity is None else None
    report = ChainReport([], names, device=device)
    header = None
    for index, package in enumerate(packages):
        if index:
            remembered = device.expected_next.hex()[:16] + "…" if device.expected_next else "none"
            report._chain(Check("reboot", CheckStatus.PASS, f"device restarted; remembers next package {remembered}"))
        stage_report = restore_report(package, device)
        report.stages.append(stage_report)
        report.steps += [(names[index], c) for c in stage_report.checks]
        if stage_report.error is not None:
            report.error = stage_report.error
            return report
        header = stage_report.restore.header
        if header.kind == "minimal-stage1":
            report._chain(_intermediate_check(device, packages[index + 1] if index + 1 < len(packages)
                                                     else None))
    ends_early = "the chain ends after stage 1 (intermediate state); give stage 2 to reach NEW"
    expected, error = expected_image_check(device, new, ends_early if header.kind == "minimal-stage1" else None,
                                           header=header, backgrounds=backgrounds)
    report._chain(expected)
    report.error = error
    return report
