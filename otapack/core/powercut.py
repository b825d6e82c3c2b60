"""The power-cut sweep: run the device restore on simulated NOR flash and cut
its power before (or during) flash operations (docs/verifier.md, "Power cuts").

A *case* is a set of operation indices where the supply fails (counted over
every erase and program of every boot, so a later cut can land in a resumed
run), clean or torn.  After each cut the device reboots and, as its
bootloader would, runs the restore again unless the journal says this
package is done; the case ends when a run completes.  The assertions:

1. after every cut: while the journal names no commit of this package,
   every partition holds its OLD bytes; a partition the journal reports
   finished holds its target (and erased bytes after it), one it has not
   reached is still OLD: a finished partition is never a mix;
2. at the end: the last run passed every check, every payload partition's
   target hash is read back from flash, every other partition is untouched,
   and the journal records the package done.

``sweep`` runs every single cut (``cuts="all"``: clean and torn at every
operation, then sampled repeated cuts) or ``N`` sampled cases from a seed,
and reports the first failure with what reproduces it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from otapack.core.formats.wire_numbers import HAS_PAYLOAD, JOURNAL_AREAS, JOURNAL_COPY_RESERVE, STAGED_DELTA_OPERATIONS
from otapack.core.model import FirmwareImage
from otapack.core.restore import package_copy, resume
from otapack.core.restore.engine import Device, Restore
from otapack.core.restore.journal import Journal
from otapack.core.restore.nor import SECTOR_MAPS, NorFlash, Power, PowerLost, sector_sizes
from otapack.core.verify import DeviceOptions, make_device
from otapack.errors import UsageError, VerificationError

#: Most cuts in one sampled case (the issue's "up to 5").
MAX_CUTS = 5
#: The exhaustive sweeps: every operation cut clean, torn and then sampled
#: repeats (``all``), or every operation cut clean only (``single``).
CUT_MODES = ("all", "single")
SWEEP_ENGINES = ("python", "c", "both")


@dataclass(frozen=True)
class Geometry:
    """The simulated device's flash: program unit (1..32 bytes), erase sectors
    (None: uniform erase blocks of the package's size; a name of
    ``nor.SECTOR_MAPS`` or sizes), erased value (None: the OLD image's)."""

    program_unit: int = 1
    sector_map: str | tuple[int, ...] | None = None
    erased_value: int | None = None
    #: False: the restore without a journal (the baseline the sweep measures against).
    journaled: bool = True
    #: A deliberately wrong journal rule (``resume.FAULTS``, ``IN_PLACE_FAULTS``): the negative control.
    fault: str | None = None
    #: The restore swept: ``python``, ``c`` (device/, through ctypes, on the same
    #: NorFlash and Power) or ``both`` (each case on both, which must end every
    #: boot with the same flash, journal and checks).
    engine: str = "python"
    #: The partitions whose slots are the download area holding the package
    #: (its phase's ``[minimal_system]`` download area): the device keeps the
    #: package in their flash, and the sweep asserts it intact until the
    #: journal says it is no longer needed.  Empty: kept apart (in RAM).
    download: tuple[str, ...] = ()

    def sectors(self, erase_block: int) -> tuple[int, ...] | int:
        if self.sector_map is None:
            return erase_block
        return SECTOR_MAPS[self.sector_map] if isinstance(self.sector_map, str) else self.sector_map


@dataclass(frozen=True)
class PowerCutOptions:
    """What ``verify --power-cuts`` sweeps: ``cuts`` is ``"all"``, ``"single"`` or a
    positive count of sampled cases (``cases``); ``seed`` makes the sampled ones
    (and torn bytes)."""

    cuts: str | int = "all"
    seed: int = 0
    program_unit: int = 1
    sector_map: str | None = None
    engine: str = "python"
    #: The partitions holding the downloaded package (``Geometry.download``).
    download: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cuts not in CUT_MODES and (isinstance(self.cuts, bool) or not isinstance(self.cuts, int)
                                           or self.cuts < 1):
            raise UsageError(f"power_cuts must be 'all', 'single' or a positive count, not {self.cuts!r}",
                             option="power_cuts")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 1 << 64:
            raise UsageError(f"seed must be an integer within 0..2^64-1, not {self.seed!r}", option="seed")
        if self.program_unit not in (1, 2, 4, 8, 16, 32):
            raise UsageError(f"program_unit must be a power of two within 1..32 bytes, not {self.program_unit!r}",
                             option="program_unit")
        if self.engine not in SWEEP_ENGINES:
            raise UsageError(f"engine must be one of {', '.join(SWEEP_ENGINES)}, not {self.engine!r}",
                             option="engine")
        if self.sector_map is not None and self.sector_map not in SECTOR_MAPS:
            raise UsageError(f"unknown sector map {self.sector_map!r} (known: {', '.join(sorted(SECTOR_MAPS))})",
                             option="sector_map")

    @property
    def geometry(self) -> Geometry:
        return Geometry(program_unit=self.program_unit, sector_map=self.sector_map, engine=self.engine,
                        download=tuple(self.download))


@dataclass(frozen=True)
class Case:
    cuts: tuple[int, ...]
    torn: bool = False
    seed: int = 0

    def to_dict(self) -> dict:
        return {"cuts": list(self.cuts), "seed": self.seed, "torn": self.torn}


@dataclass
class CaseResult:
    case: Case
    ok: bool
    boots: int
    problem: str = ""


@dataclass
class SweepReport:
    operations: int  # flash operations of an uninterrupted restore
    tried: int = 0
    survived: int = 0
    failures: int = 0
    first_failure: CaseResult | None = None
    seed: int = 0
    geometry: Geometry = field(default_factory=Geometry)

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def to_dict(self) -> dict:
        first = self.first_failure
        return {
            "download_area": list(self.geometry.download),  # the slots holding the package ([]: kept apart)
            "failures": self.failures,
            "first_failure": None if first is None else {**first.case.to_dict(), "boots": first.boots,
                                                        "problem": first.problem},
            "operations": self.operations,
            "seed": self.seed,
            "survived": self.survived,
            "tried": self.tried,
        }


def _nor(data: bytes, size: int, dev: Device, geometry: Geometry, power: Power, name: str) -> NorFlash:
    return NorFlash.holding(data, size, dev.erase_block, dev.erased_value, name, program_unit=geometry.program_unit,
                            sector_map=geometry.sectors(dev.erase_block), power=power)


def build_device(old: FirmwareImage, header, geometry: Geometry, power: Power, package: bytes = b"") -> Device:
    """OLD on NOR flash whose operations all go through ``power``; with a journal
    and a scratch area large enough for the package's staged partitions (and
    its copy, when ``geometry.download`` names slots: ``package`` is downloaded
    into them, overwriting what they held, before the first boot)."""
    dev = make_device(old, DeviceOptions())
    if geometry.erased_value is not None:
        dev.erased_value = geometry.erased_value
    targets = {e.name: e.target_size or 0 for e in header.entries}
    downloaded = _downloaded(dev, geometry.download, package)
    for part in dev.partitions.values():
        size = max(part.flash.size, targets.get(part.name, 0) if part.resizable else 0)
        data = downloaded.get(part.name, part.flash.read(0, part.flash.size))
        part.flash = _nor(data, size, dev, geometry, power, part.name)
    if geometry.journaled:
        sectors = geometry.sectors(dev.erase_block)
        journal_size = sum(sector_sizes(sum(sector_sizes(1 << 24, sectors)[:JOURNAL_AREAS]), sectors))
        largest = max(sectors) if isinstance(sectors, tuple) else sectors
        scratch = sum(-(-e.target_size // largest) * largest for e in header.entries
                      if e.operation in STAGED_DELTA_OPERATIONS)
        over = [i for i, e in enumerate(header.entries) if e.operation in HAS_PAYLOAD and e.name in geometry.download]
        if over:  # the package's copy and its descriptor, after the staged partitions
            copy = sum(size for _, size in package_copy.spans(header, over))
            scratch += -(-(copy + JOURNAL_COPY_RESERVE) // largest) * largest
        scratch = max(scratch, header.scratch_flash)  # in-place saves and the swap sector
        dev.resume = resume.ResumeArea(
            Journal(_nor(b"", journal_size, dev, geometry, power, "journal")),
            _nor(b"", max(scratch, dev.erase_block), dev, geometry, power, "scratch"), geometry.fault,
            geometry.download)
    return dev


def _downloaded(dev: Device, names: tuple[str, ...], package: bytes) -> dict[str, bytes]:
    """What the download leaves in each slot of the download area: the package,
    spread over them in order, erased after it."""
    out, at = {}, 0
    if not names:
        return out
    for name in names:
        if name not in dev.partitions:
            raise UsageError(f"the download area names partition {name!r}, which the device does not have",
                             option="download")
        size = dev.partitions[name].flash.size
        piece = package[at : at + size]
        out[name] = piece + bytes([dev.erased_value]) * (size - len(piece))
        at += len(piece)
    if at < len(package):
        raise UsageError(f"the {len(package)}-byte package does not fit its download area "
                         f"({', '.join(names)}: {at} bytes)", option="download")
    return out


def _package_intact(dev: Device, record, package: bytes) -> str:
    """The package in the download area is intact while the restore still reads
    it: until the journal records it copied (or the package done)."""
    names = dev.resume.download
    if not names or (record is not None and record.phase in ("copied", "done")):
        return ""
    have = package_copy.FlashPackage([dev.partitions[n].flash for n in names], len(package))[:]
    if have != package:
        phase = "no record" if record is None else f"phase {record.phase}"
        return f"the package in the download area ({', '.join(names)}) was overwritten while the journal says {phase}"
    return ""


def _snapshot(dev: Device) -> dict[str, bytes]:
    return {name: part.flash.read(0, part.flash.size) for name, part in dev.partitions.items()}


def _holds_target(dev: Device, e) -> bool:
    flash = dev.partitions[e.name].flash
    data = flash.read(0, flash.size)
    tail = data[e.target_size:]
    return hashlib.sha256(data[: e.target_size]).digest() == e.target_sha256 and \
        tail.count(dev.erased_value) == len(tail)


def _check_cut(dev: Device, header, digest: bytes, old: dict[str, bytes], package: bytes) -> str:
    """Assertion 1 after a cut (and the package intact while needed); the problem, or ''."""
    record = dev.resume.journal.latest()
    if record is not None and record.package_digest != digest:
        record = None
    problem = _package_intact(dev, record, package)
    if problem:
        return problem
    for index, e in enumerate(header.entries):
        if e.name not in dev.partitions:
            continue
        is_old = dev.partitions[e.name].flash.read(0, len(old[e.name])) == old[e.name]
        if record is None or record.phase == "stage" or e.operation not in HAS_PAYLOAD:
            if not is_old:
                phase = "no record" if record is None else f"phase {record.phase}"
                return f"partition {e.name!r} changed while the journal says {phase}"
        elif record.phase == "done" or index < record.entry:
            if not _holds_target(dev, e):
                return f"partition {e.name!r} is reported finished but does not hold its target"
        elif index > record.entry and not is_old:
            return f"partition {e.name!r} changed before the journal reached it (at entry {record.entry})"
    return ""


def _done(dev: Device, digest: bytes) -> bool:
    if dev.resume is None:
        return False
    record = dev.resume.journal.latest()
    return record is not None and record.package_digest == digest and record.phase == "done"


def _engines(geometry: Geometry) -> tuple[str, ...]:
    return ("python", "c") if geometry.engine == "both" else (geometry.engine,)


def _boot(dev: Device, package: bytes, engine: str):
    """One boot of the restore ``engine`` (PowerLost propagates from either)."""
    if engine == "c":
        from otapack.core.restore import c_engine

        return c_engine.run(dev, package)
    return Restore(dev).run(package)


def _reference(package: bytes, old: FirmwareImage, geometry: Geometry):
    """An uninterrupted restore: its header, digest and operation count (the
    same for both restores, or the sweep has found a difference already)."""
    result = Restore(make_device(old, DeviceOptions())).run(package)
    if not result.ok:  # the sweep needs a package that restores on OLD
        raise result.error
    if geometry.engine != "python" and not geometry.journaled:
        raise UsageError("the C restore is swept journaled only", option="engine")
    header, counts = result.header, set()
    for engine in _engines(geometry):
        power = Power()
        result = _boot(build_device(old, header, geometry, power, package), package, engine)
        if not result.ok:
            raise result.error
        counts.add(power.operations)
    if len(counts) > 1:
        raise VerificationError(f"the Python and C restores take {' and '.join(map(str, sorted(counts)))} "
                                "flash operations on an uninterrupted run")
    return header, hashlib.sha256(package[: header.body_length]).digest(), counts.pop()


def flash_state(dev: Device) -> dict[str, bytes]:
    """Every byte the restore may write: partitions, then scratch and journal."""
    state = _snapshot(dev)
    if dev.resume is not None:
        state["(scratch)"] = dev.resume.scratch.read(0, dev.resume.scratch.size)
        state["(journal)"] = dev.resume.journal.flash.read(0, dev.resume.journal.flash.size)
    return state


def _outcome(dev: Device, outcome) -> tuple:
    """What a boot must agree on between the restores: cut or checks, and the flash."""
    if isinstance(outcome, PowerLost):
        return ("power lost",), flash_state(dev)
    checks = tuple((c.name, c.status.value) for c in outcome.checks)
    return (checks, type(outcome.error).__name__ if outcome.error is not None else None), flash_state(dev)


def _differs(outcomes: list[tuple]) -> str:
    (what_p, flash_p), (what_c, flash_c) = outcomes
    if what_p != what_c:
        return f"Python {what_p}, C {what_c}"
    names = [name for name in flash_p if flash_p[name] != flash_c.get(name)]
    return f"flash differs in {', '.join(names)}" if names else ""


def run_case(package: bytes, old: FirmwareImage, case: Case, geometry: Geometry = Geometry(),
             reference=None) -> CaseResult:
    header, digest, _ = reference or _reference(package, old, geometry)
    engines = _engines(geometry)
    powers = [Power(frozenset(case.cuts), case.torn, case.seed) for _ in engines]
    devs = [build_device(old, header, geometry, power, package) for power in powers]
    dev, power = devs[0], powers[0]
    before = _snapshot(dev)
    boots = 0
    while True:
        boots += 1
        if boots > len(case.cuts) + 1:
            return CaseResult(case, False, boots, "the restore never completed")
        outcomes = []
        for engine, one in zip(engines, devs):
            try:
                outcomes.append(_boot(one, package, engine))
            except PowerLost as lost:
                outcomes.append(lost)
        if len(devs) > 1:
            problem = _differs([_outcome(d, o) for d, o in zip(devs, outcomes)])
            if problem:
                return CaseResult(case, False, boots, f"boot {boots}: the restores differ: {problem}")
        result = outcomes[0]
        if isinstance(result, PowerLost):
            problem = _check_cut(dev, header, digest, before, package) if geometry.journaled else ""
            if problem:
                return CaseResult(case, False, boots, f"after cut {power.cuts_taken[-1]}: {problem}")
            if _done(dev, digest):
                break
            continue
        if not result.ok:
            failed = next((c.name for c in result.checks if c.status == "fail"), "?")
            return CaseResult(case, False, boots, f"boot {boots}: check {failed} failed: {result.error}")
        break
    for e in header.entries:
        if e.operation in HAS_PAYLOAD and not _holds_target(dev, e):
            return CaseResult(case, False, boots, f"partition {e.name!r} does not hold its target at the end")
        if e.operation not in HAS_PAYLOAD and e.name in before and \
                dev.partitions[e.name].flash.read(0, len(before[e.name])) != before[e.name]:
            return CaseResult(case, False, boots, f"partition {e.name!r} was not to be written but changed")
    if geometry.journaled and not _done(dev, digest):
        return CaseResult(case, False, boots, "the journal does not record the package done")
    return CaseResult(case, True, boots)


def cases(operations: int, cuts: str | int, seed: int):
    """The cases of a sweep: ``"all"``: every operation cut clean, then torn,
    then ``operations`` sampled repeated cases; ``"single"``: every operation
    cut clean; ``N``: N sampled cases."""
    rng = random.Random(seed)
    if cuts == "single":
        yield from (Case((index,)) for index in range(operations))
        return
    if cuts == "all":
        for index in range(operations):
            yield Case((index,))
        for index in range(operations):
            yield Case((index,), True, rng.getrandbits(32))
        samples = operations
    else:
        samples = int(cuts)
    for _ in range(samples):
        count = rng.randint(1 if cuts != "all" else 2, MAX_CUTS)
        # A resumed run repeats at most a sector per cut but re-reads and re-journals:
        # cuts range over twice the uninterrupted count so they reach resumed runs.
        points = tuple(sorted(rng.sample(range(2 * operations), min(count, 2 * operations))))
        yield Case(points, rng.random() < 0.5, rng.getrandbits(32))


def sweep(package: bytes, old: FirmwareImage | None, cuts: str | int = "all", seed: int = 0,
          geometry: Geometry = Geometry(), stop_at_first: bool = False) -> SweepReport:
    """Every case of ``cases(...)`` on a fresh device holding OLD (None: a blank one)."""
    PowerCutOptions(cuts, seed)  # validated
    reference = _reference(package, old, geometry)
    report = SweepReport(reference[2], seed=seed, geometry=geometry)
    for case in cases(reference[2], cuts, seed):
        outcome = run_case(package, old, case, geometry, reference)
        report.tried += 1
        if outcome.ok:
            report.survived += 1
            continue
        report.failures += 1
        if report.first_failure is None:
            report.first_failure = outcome
            if stop_at_first:
                break
    return report
