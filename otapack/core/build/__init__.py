"""Package builders: full and delta packages from the partition model.

``build_full`` and ``build_delta`` take ``FirmwareImage`` objects and a
validated ``PackageOptions`` and return the package bytes.  The planner
decides one operation per partition, with a reason ``info`` shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Callable

from otapack.version import __version__
from otapack.core.codecs import (
    CODECS, DEFAULT_LZMA_DICT, LZMA_TUNINGS, compress_fast_estimate, compress_rank_size, grid_at_least, tunings_within, valid_dict_size,
)
from otapack.errors import BudgetError, IncompatibleImagesError, InputError, PackageLimitError, UsageError
from otapack.core.build.budget import RamBreakdown, fit_ram_budget, ram_budget_error
from otapack.core.build.figures import StreamFigures, payload_lclp, stream_figures, tighten
from otapack.core.build.in_place import Tools as InPlaceTools, fit_scratch, scratch_needed
from otapack.core.build.profiles import DEFAULT_PROFILE, get_profile
from otapack.core.build.reuse import PlanMemo
from otapack.core.formats.delta import DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_TUPLES
from otapack.core.formats.wire_numbers import (
    DELTA_OPERATIONS, DELTA_VERSIONS, IN_PLACE_OPERATIONS, LZMA2_MAX_LCLP, MAX_ERASE_BLOCK, MAX_STRING_LENGTH, MAX_U32, MAX_WINDOW_SIZE,
    MAX_WINDOW_TUPLES, MIN_ERASE_BLOCK, MIN_WINDOW_SIZE, MIN_WINDOW_TUPLES, TRANSFORM_ARCH_IDS, is_power_of_two,
    max_stream_length,
)
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.parallel import SERIAL, Workers
from otapack.core.container import PackageHeader, PartitionRecord, assemble, header_size
from otapack.core.package_limits import check_limits
from otapack.core.formats.extensions import layout_digest
from otapack.core.restore.resources import (PayloadRam, copy_scratch, fixed_ram, known_ram, ram_requirement,
                                           staged_bytes)

#: lc/lp/pb tried on patch streams (mostly-zero diff bytes favour lc 0-1).
DELTA_TUNINGS = ((1, 0, 0),)
#: Partitions up to this size get the thorough candidate search.
THOROUGH_LIMIT = 1 << 20
THOROUGH_TUNINGS = ((1, 0, 0), (0, 0, 0), (2, 0, 0))
#: Raw-coded candidates whose fast-pass size is over this many thousandths above the smallest get no 9e pass.
RANK_MARGIN_PER_MILLE = 3
#: Latest build time the builder records: the last second a date can show (9999-12-31 23:59:59 UTC).
#: Not a wire limit (the field is 64-bit and readers take any value): a date nobody can read is refused.
MAX_BUILD_TIME = 253402300799


#: ``--arch`` values: a transform set, ``none`` or ``auto``.
TRANSFORM_CHOICES = tuple(TRANSFORM_ARCH_IDS) + ("auto",)
#: What ``auto`` tries on a code partition that does not say its arch: the
#: module families' instruction sets, most common first.
AUTO_TRIALS = ("thumb2", "aarch64")


def resolve_build_time(explicit: int | None = None) -> int:
    """SOURCE_DATE_EPOCH when set, else 0 ("not recorded"), so builds repeat."""
    if explicit is not None:
        if not 0 <= explicit <= MAX_BUILD_TIME:
            raise UsageError(f"build time {explicit} out of range 0..{MAX_BUILD_TIME} (9999-12-31 23:59:59 UTC)",
                             option="build_time")
        return explicit
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return 0
    try:
        epoch = int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH must be a decimal number of seconds, got {value!r}") from None
    if not 0 <= epoch <= MAX_BUILD_TIME:
        raise UsageError(f"SOURCE_DATE_EPOCH {epoch} out of range 0..{MAX_BUILD_TIME} (9999-12-31 23:59:59 UTC)")
    return epoch


def _check_string(name: str, value: str) -> None:
    try:
        encoded = value.encode("ascii")
    except UnicodeEncodeError:
        raise UsageError(f"{name} must be ASCII, got {value!r}") from None
    if len(encoded) > MAX_STRING_LENGTH:
        raise UsageError(f"{name} is {len(encoded)} characters; at most {MAX_STRING_LENGTH}")


@dataclass(frozen=True)
class PackageOptions:
    """Everything a builder needs besides the images; validated on creation."""

    model: str = ""
    target_version: str = ""
    source_version: str = ""
    security_counter: int = 0
    lzma_dict_size: int = DEFAULT_LZMA_DICT
    build_time: int | None = None
    jobs: int = 1
    diff_algorithm: str = "otadiff"
    window_size: int = DEFAULT_WINDOW_SIZE
    max_window_tuples: int = DEFAULT_WINDOW_TUPLES
    extensions: tuple[tuple[str, bytes], ...] = ()
    #: Board/hardware identifier the package binds to (``hardware-id``).
    hardware_id: str = ""
    kind: str | None = None  # override for minimal-system stages
    #: RAM the device gives the restore: the builder lowers the dictionary,
    #: window, tuples per window and LZMA model until the package fits
    #: (``budget.fit_ram_budget``), or fails with the shortfall (BudgetError).
    ram_budget: int | None = None
    #: Largest package allowed, in bytes (BudgetError above it; nothing is written).
    max_size: int | None = None
    #: Largest lc+lp the LZMA2 payloads may use (their model is 2*(1846+768*2^(lc+lp)) bytes of RAM).
    max_lzma_lclp: int = LZMA2_MAX_LCLP
    #: Instruction set whose branch and pointer operands a delta-v2 patch re-aims
    #: (TRANSFORM_CHOICES; "none": delta-v1 only; "auto": the partition's own
    #: ``arch`` (layout key, ELF e_machine), else a trial of AUTO_TRIALS).
    #: Kept per partition only where smaller.
    transform_arch: str = "none"
    #: Device RAM the transform tables of one partition may take.
    transform_table_ram: int = 4096
    #: Scratch flash the device has for deltas: staged, in place or full per partition (None: every delta staged).
    scratch_flash: int | None = None
    #: Slots the package is downloaded into: scratch_flash adds its copy (docs/verifier.md, "The package in ...").
    download_slots: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("model", "target_version", "source_version", "hardware_id"):
            _check_string(name.replace("_", " "), getattr(self, name))
        if not 0 <= self.security_counter <= MAX_U32:
            raise UsageError(f"security counter {self.security_counter} outside 0..{MAX_U32}")
        valid_dict_size(self.lzma_dict_size)
        if self.jobs < 1:
            raise UsageError(f"jobs must be at least 1, got {self.jobs}", option="jobs")
        if not MIN_WINDOW_SIZE <= self.window_size <= MAX_WINDOW_SIZE:
            raise UsageError(f"patch window {self.window_size} outside {MIN_WINDOW_SIZE}..{MAX_WINDOW_SIZE} bytes")
        if not MIN_WINDOW_TUPLES <= self.max_window_tuples <= MAX_WINDOW_TUPLES:
            raise UsageError(
                f"tuples per window {self.max_window_tuples} outside {MIN_WINDOW_TUPLES}..{MAX_WINDOW_TUPLES}")
        if self.ram_budget is not None and not 0 <= self.ram_budget <= MAX_U32:
            raise UsageError(f"RAM budget {self.ram_budget} outside 0..{MAX_U32} bytes", option="ram_budget")
        if self.max_size is not None and not 1 <= self.max_size:
            raise UsageError(f"maximum package size {self.max_size} must be at least 1 byte", option="max_size")
        if not 0 <= self.max_lzma_lclp <= LZMA2_MAX_LCLP:
            raise UsageError(f"lc+lp limit {self.max_lzma_lclp} outside 0..{LZMA2_MAX_LCLP}", option="max_lzma_lclp")
        if self.transform_arch not in TRANSFORM_CHOICES:
            raise UsageError(f"unknown transform arch {self.transform_arch!r}; choose from "
                             f"{', '.join(TRANSFORM_CHOICES)}", option="transform_arch")
        if self.scratch_flash is not None and not 0 <= self.scratch_flash <= MAX_U32:
            raise UsageError(f"scratch flash {self.scratch_flash} outside 0..{MAX_U32} bytes", option="scratch_flash")
        if not 0 <= self.transform_table_ram <= MAX_U32:
            raise UsageError(f"transform table RAM {self.transform_table_ram} outside 0..{MAX_U32}",
                             option="transform_table_ram")

    @classmethod
    def for_profile(cls, profile: str | None = None, **fields) -> "PackageOptions":
        """Options with a build profile's resource settings (``PROFILES``;
        default: ``default``); the ``fields`` given (not None) override them."""
        values = get_profile(profile or DEFAULT_PROFILE).settings()
        values.update({name: value for name, value in fields.items() if value is not None})
        return cls(**values)

    def settings(self) -> str:
        """The resource settings, as messages show them."""
        return (f"dictionary {self.lzma_dict_size}, window {self.window_size}, {self.max_window_tuples} tuples per "
                f"window, lc+lp <= {self.max_lzma_lclp}")


@dataclass(frozen=True)
class PlannedPartition:
    record: PartitionRecord
    payload: bytes = b""
    #: sizes of the candidates considered, for ``info``/reports
    candidates: dict[str, int] = field(default_factory=dict)
    #: patch window the payload uses (0: not a delta)
    window_size: int = 0
    #: lc+lp of the payload's LZMA2 chunks (None: stored, or no LZMA chunk)
    lclp: int | None = None
    #: a delta payload's stream figures (tuples and extra bytes per window)
    stream: StreamFigures | None = None


#: ``progress(name, fraction)``: that partition's work is ``fraction`` (0..1]
#: done; 1.0 once it is planned.  Called from the building threads.
ProgressFn = Callable[[str, float], None]


def dict_for(length: int, requested: int) -> int:
    """The dictionary a payload of ``length`` bytes needs: the smallest LZMA2
    size (2^n or 3*2^(n-1)) that holds the data (a larger one only costs
    device RAM), no more than requested."""
    return min(grid_at_least(length), requested)


def _compress_full(data: bytes, opts: PackageOptions, workers: Workers = SERIAL) -> tuple[str, bytes]:
    tunings = tunings_within(LZMA_TUNINGS, opts.max_lzma_lclp)
    packed = CODECS["lzma2"].compress(data, dict_for(len(data), opts.lzma_dict_size), tunings, workers)
    if len(packed) < len(data):
        return "lzma2", packed
    return "none", bytes(data)


def _replace(part: Partition, reason: str, opts: PackageOptions, workers: Workers = SERIAL) -> PlannedPartition:
    codec, payload = _compress_full(part.data, opts, workers)
    record = PartitionRecord(
        name=part.name, address=part.address, operation="replace", reason=reason, codec=codec,
        target_size=part.size, target_sha256=part.sha256(), uncompressed_length=part.size,
    )
    return PlannedPartition(record, payload, {"full": len(payload)},
                            lclp=payload_lclp(payload) if codec == "lzma2" else None)


def keep_partition(part: Partition, reason: str) -> PlannedPartition:
    """A ``keep`` entry: only the hash the partition must already have travels."""
    return PlannedPartition(PartitionRecord(
        name=part.name, address=part.address, operation="keep", reason=reason,
        target_size=part.size, target_sha256=part.sha256(),
    ))


def skip_partition(part: Partition, reason: str = "policy-skip") -> PlannedPartition:
    """A ``skip`` entry: the partition is listed and never touched."""
    return PlannedPartition(PartitionRecord(name=part.name, address=part.address, operation="skip", reason=reason))


def changes_on_device(part: Partition) -> bool:
    """Policy ``full`` (the file-system default): the device writes to it after it
    leaves the factory, so its content is never hash-checked (no ``keep``, no
    delta source): it is replaced when the release changes it, else left alone."""
    return part.policy is Policy.FULL


def plan_full_partition(part: Partition, opts: PackageOptions, workers: Workers | None = None) -> PlannedPartition:
    """``workers``: the build's thread budget (default: ``opts.jobs`` threads for this partition alone)."""
    if part.policy is Policy.SKIP:
        return skip_partition(part)
    return _replace(part, "full-package", opts, workers or Workers(opts.jobs))


def _smallest_patch(streams: list[bytes], tunings, lzma_dict: int,
                    workers: Workers = SERIAL, similar: tuple[int, ...] = ()) -> tuple[bytes, bytes]:
    """The candidate stream that compresses smallest, and its payload.

    Every stream is compressed with the first tuning; the other tunings are
    tried on the two best only (a tuning's effect hardly depends on the
    stream, and this halves the work).  liblzma releases the GIL, so each
    round runs on ``workers``.  Ties go to the earliest job: output is stable.

    ``similar``: indices of the raw-coded streams of the matcher settings.
    They differ little from each other, each 9e pass costs 5-20x a zero-run
    one's, and their 9e sizes rank as their fast-pass sizes do: only those
    within RANK_MARGIN_PER_MILLE of the smallest fast size get 9e passes.
    On every corpus pair the 9e-smallest was within 0.08 % (a heuristic, not
    a bound: measured, no corpus package changed; docs/benchmarks.md).
    """
    if len(similar) > 1:
        sizes = workers.map(lambda at: compress_rank_size(streams[at], dict_for(len(streams[at]), lzma_dict),
                                                          tunings[0]), list(similar))
        least = min(sizes)
        dropped = {at for at, size in zip(similar, sizes) if size * 1000 > least * (1000 + RANK_MARGIN_PER_MILLE)}
        streams = [stream for at, stream in enumerate(streams) if at not in dropped]
    def run(jobs):
        # Longest stream first: a pass costs about its input's length, and the
        # raw-coded streams take 5-10x longer than the others; started last,
        # one of them would run alone at the end of the round.  The results
        # go back in job order, so the choice is unchanged.
        order = sorted(range(len(jobs)), key=lambda at: (-len(streams[jobs[at][0]]), at))
        packed = workers.map(
            lambda job: CODECS["lzma2"].compress(streams[job[0]], dict_for(len(streams[job[0]]), lzma_dict),
                                                 (job[1],)), [jobs[at] for at in order])
        out: list[bytes] = [b""] * len(jobs)
        for at, result in zip(order, packed):
            out[at] = result
        return out

    jobs = [(index, tunings[0]) for index in range(len(streams))]
    packed = run(jobs)
    leaders = sorted(range(len(streams)), key=lambda index: (len(packed[index]), index))[:2]
    more = [(index, tuning) for index in leaders for tuning in tunings[1:]]
    if more:
        jobs += more
        packed += run(more)
    best = min(range(len(jobs)), key=lambda index: (len(packed[index]), index))
    return streams[jobs[best][0]], packed[best]


def plan_delta_partition(old: Partition | None, new: Partition, opts: PackageOptions,
                         workers: Workers | None = None, *,
                         step: Callable[[float], None] | None = None) -> PlannedPartition:
    """One partition of a delta package: keep, full, or patch, by policy and size.

    ``workers``: the build's thread budget (default: ``opts.jobs`` threads for this partition alone).
    ``step(fraction)``: how far the work is, for a progress bar (the matching
    scan is about half of it, the LZMA passes most of the rest)."""
    from otapack.core.diff import make_candidates

    workers = workers or Workers(opts.jobs)
    if new.policy is Policy.SKIP:
        return skip_partition(new)
    if new.policy is Policy.KEEP:
        if old is None or old.data != new.data:
            raise IncompatibleImagesError(
                f"partition {new.name!r} has policy keep but differs between old and new firmware"
            )
        return keep_partition(new, "policy-keep")
    if old is not None and old.data == new.data:
        if changes_on_device(new):  # a fielded device's /usr differs from the release's: leave it alone
            return skip_partition(new, "fs-unchanged")
        return keep_partition(new, "unchanged")
    if new.policy is Policy.FULL:
        return _replace(new, "policy-full", opts, workers)
    if old is None or not old.data:
        return _replace(new, "no-source", opts, workers)
    # One window for a partition smaller than the default: no RAM wasted.
    window = max(1, min(opts.window_size, new.size))
    # Small partitions are cheap to search: every matcher setting and more
    # LZMA tunings; large ones use the defaults.  Every diff coding always.
    thorough = new.size <= THOROUGH_LIMIT
    coded = [(coding, stream)
             for by_coding in make_candidates(old.data, new.data, opts.diff_algorithm, window_size=window,
                                              max_window_tuples=opts.max_window_tuples,
                                              settings=None if thorough else ({},), workers=workers)
             for coding, stream in by_coding.items()]
    # Only streams the restore accepts within its work bound; each declares
    # the tuple array it really needs.
    if step:
        step(0.5)
    figured = [(coding, stream, stream_figures(stream, new.size)) for coding, stream in coded]
    streams, raw_coded = {}, set()
    for coding, stream, fig in figured:
        if fig.within_work_bound:
            tight = tighten(stream, fig)
            streams[tight] = fig
            if coding == "raw":
                raw_coded.add(tight)
    transformed = _transformed_streams(old, new, opts, window)
    streams.update(transformed)
    full_dict = dict_for(new.size, opts.lzma_dict_size)
    if not streams:
        full = _replace(new, "full-smaller", opts, workers)
        return replace(full, candidates={"full": len(full.payload),
                                         "full-estimate": compress_fast_estimate(new.data, full_dict),
                                         "delta-tuples-over-work-bound": min(f.tuples for _, _, f in figured)})
    tunings = tunings_within(THOROUGH_TUNINGS if thorough else DELTA_TUNINGS, opts.max_lzma_lclp)
    stream, patch = _smallest_patch(list(streams), tunings, opts.lzma_dict_size, workers,
                                    tuple(at for at, stream in enumerate(streams) if stream in raw_coded))
    if step:
        step(0.9)
    # The full payload is compressed at full effort only when it could win.
    # The 9e size is 0.87-0.98 of a fast pass on every corpus image and 0.80
    # on plain text, so a patch below 3/4 of the fast size is surely smaller.
    # The fast pass stops once it is past 4/3 of the patch: the rest could
    # not change the decision (on a large image, the whole pass costed more
    # than the diff).  "full-estimate" is then a lower bound.
    estimate = compress_fast_estimate(new.data, full_dict, stop_above=4 * len(patch) // 3)
    candidates = {"delta": len(patch), "full-estimate": estimate}
    if 4 * len(patch) >= 3 * estimate:
        full = _replace(new, "full-smaller", opts, workers)
        candidates["full"] = len(full.payload)
        if len(patch) >= len(full.payload):
            return replace(full, candidates=candidates)
    record = PartitionRecord(
        name=new.name, address=new.address, operation="delta-v2" if stream in transformed else "delta",
        reason="delta-smaller", codec="lzma2",
        source_size=old.size, source_sha256=old.sha256(), target_size=new.size, target_sha256=new.sha256(),
        uncompressed_length=len(stream),
    )
    return PlannedPartition(record, patch, candidates, window, lclp=payload_lclp(patch), stream=streams[stream])


def transform_arches(new: Partition, choice: str) -> tuple[str, ...]:
    """The transform sets the builder tries on ``new`` for ``--arch choice``."""
    if choice == "none":
        return ()
    if choice != "auto":
        return (choice,)
    if new.arch:
        return (new.arch,)
    return AUTO_TRIALS if new.type in (PartitionType.CODE, PartitionType.BOOTLOADER, PartitionType.UNKNOWN) else ()


def _transformed_streams(old: Partition, new: Partition, opts: PackageOptions, window: int) -> dict:
    """delta-v2 candidates (stream -> figures) for ``opts.transform_arch``, within the work bound."""
    arches = transform_arches(new, opts.transform_arch)
    if not arches:
        return {}
    from otapack.core.transforms.builder import candidate_streams

    out = {}
    for arch in arches:
        for stream in candidate_streams(old.data, new.data, arch, base=new.address or None,
                                        window_size=window, max_window_tuples=opts.max_window_tuples,
                                        max_table_ram=opts.transform_table_ram):
            fig = stream_figures(stream, new.size, DELTA_VERSIONS["delta-v2"])
            if fig.within_work_bound:
                out[tighten(stream, fig)] = fig
    return out


def check_sizes(image: FirmwareImage) -> None:
    """Every partition fits the 32-bit fields of the format (InputError), and
    the erase block is one the restore accepts (PackageLimitError).

    Counts and name lengths are format limits: ``preflight`` refuses them
    (PackageLimitError) before any build work, and the readers before that."""
    for part in image.partitions:
        if part.size > MAX_U32 or part.address > MAX_U32:
            raise InputError(f"partition {part.name!r} does not fit the 32-bit fields of package format v1")
    block = image.erase_block
    if not is_power_of_two(block) or not MIN_ERASE_BLOCK <= block <= MAX_ERASE_BLOCK:
        raise PackageLimitError(f"erase block {block} is not a power of two within {MIN_ERASE_BLOCK}.."
                                f"{MAX_ERASE_BLOCK} bytes: the restore refuses such a package")


def binding_extensions(image: FirmwareImage, opts: PackageOptions) -> tuple[tuple[str, bytes], ...]:
    """hardware-id and layout-digest: what ties a package to a device class."""
    out = []
    if opts.hardware_id:
        out.append(("hardware-id", opts.hardware_id.encode("ascii")))
    slots = image.slot_records()
    if slots is not None:
        out.append(("layout-digest", layout_digest(slots)))
    if image.source != "single":  # where the partitions came from, for `info`
        out.append(("image-source", image.source.encode("ascii")))
    names = {name for name, _ in opts.extensions}
    return tuple(e for e in out if e[0] not in names)


def _package_header(kind: str, opts: PackageOptions, erase_block: int, image: FirmwareImage | None,
                    dict_size: int = 0) -> PackageHeader:
    return PackageHeader(
        kind=opts.kind or kind,
        model=opts.model,
        target_version=opts.target_version,
        source_version=opts.source_version if kind != "full" else "",
        security_counter=opts.security_counter,
        build_time=resolve_build_time(opts.build_time),
        lzma_dict_size=dict_size,
        erase_block=erase_block,
        tool_version=__version__,
        extensions=tuple(opts.extensions) + (binding_extensions(image, opts) if image is not None else ()),
    )


def preflight(kind: str, image: FirmwareImage, opts: PackageOptions, operations: list[str]) -> None:
    """Refuse, before any diffing or compression, a package the readers would
    refuse (header over its limit, too many partitions, names too long, ...).

    ``operations``: per partition of ``image``, the operation it will get, or
    the smallest entry it can get when the plan decides (``replace`` for a
    partition that may become ``delta``): a header too large even then is
    too large for sure.  ``finish_package`` checks the final header again."""
    records = [
        PartitionRecord(name=p.name, address=p.address, operation=op, reason="full-package",
                        source_size=0, source_sha256=bytes(32), target_size=p.size, target_sha256=bytes(32))
        for p, op in zip(image.partitions, operations)
    ]
    check_limits(_package_header(kind, opts, image.erase_block, image), records)


def _check_plan(planned: list[PlannedPartition]) -> None:
    """What the restore's table check refuses, on the builder's own plan."""
    for p in planned:
        r = p.record
        if r.operation in DELTA_OPERATIONS and r.uncompressed_length > max_stream_length(r.target_size, r.operation in IN_PLACE_OPERATIONS):
            raise PackageLimitError(f"partition {r.name!r}: a {r.uncompressed_length}-byte patch stream exceeds "
                                    f"the bound {max_stream_length(r.target_size, r.operation in IN_PLACE_OPERATIONS)} for a {r.target_size}-byte target")
        if r.operation == "replace" and r.uncompressed_length != r.target_size:
            raise PackageLimitError(f"partition {r.name!r}: replace payload decodes to {r.uncompressed_length} bytes, "
                                    f"target is {r.target_size}")
        if r.has_payload and r.codec == "none" and len(p.payload) != r.uncompressed_length:
            raise PackageLimitError(f"partition {r.name!r}: stored payload is {len(p.payload)} bytes, "
                                    f"{r.uncompressed_length} declared")


def payload_ram(p: PlannedPartition, dict_size: int) -> PayloadRam:
    """The RAM figures of one planned payload, as the restore prices and holds them."""
    r = p.record
    return PayloadRam(
        lzma=r.codec == "lzma2", dictionary=min(dict_size, r.uncompressed_length) if r.codec == "lzma2" else 0,
        lclp=p.lclp, window_tuples=max(MIN_WINDOW_TUPLES, p.stream.max_count) if p.stream else 0,
        max_extra=p.stream.max_extra if p.stream else 0, delta=r.operation in DELTA_OPERATIONS,
        transform=p.stream.transform_ram if p.stream else 0,
    )


def finish_package(kind: str, planned: list[PlannedPartition], opts: PackageOptions, erase_block: int,
                   image: FirmwareImage | None = None) -> bytes:
    """Header resources from the plan, then assemble."""
    _check_plan(planned)
    records = [p.record for p in planned]  # each payload compressed with the dictionary it needs; the header: the largest
    dict_size = max((dict_for(r.uncompressed_length, opts.lzma_dict_size) for r in records if r.codec == "lzma2"),
                    default=0)
    header = _package_header(kind, opts, erase_block, image, dict_size)
    header_length = header_size(header, records)
    payloads = [(p.record.name, payload_ram(p, dict_size)) for p in planned if p.record.has_payload]
    ram = ram_requirement(header_length=header_length, erase_block=erase_block, payloads=[r for _, r in payloads])
    if opts.ram_budget is not None and ram > opts.ram_budget:
        fixed = fixed_ram(header_length, erase_block)
        worst = max(payloads, key=lambda item: known_ram(fixed, item[1]) + item[1].max_extra, default=None)
        breakdown = RamBreakdown.of(fixed, *worst) if worst else RamBreakdown(None, fixed)
        raise ram_budget_error(breakdown, opts)
    # Deltas are staged until commit (their old copy is still read); a package over its download area is copied.
    copied = [len(p.payload) for p in planned if p.record.has_payload and p.record.name in opts.download_slots]
    scratch = scratch_needed(planned, erase_block) + copy_scratch(header_length, copied, erase_block)
    header = replace(header, ram_required=ram, scratch_flash=scratch)
    package = assemble(header, [(p.record, p.payload) for p in planned])
    check_package_size(package, opts.max_size)
    return package


def check_package_size(package: bytes, max_size: int | None) -> None:
    """BudgetError when ``package`` is larger than ``max_size`` (None: no limit)."""
    if max_size is not None and len(package) > max_size:
        raise BudgetError(f"package is {len(package)} bytes, {len(package) - max_size} more than the maximum size "
                          f"of {max_size} bytes; it was not written", option="max_size")


def plan_shared(old: Partition | None, new: Partition, opts: PackageOptions, workers: Workers,
                memo: PlanMemo | None, progress: ProgressFn | None = None) -> PlannedPartition:
    """``plan_delta_partition``, through ``memo`` when there is one."""
    step = (lambda fraction: progress(new.name, fraction)) if progress else None
    if memo is None:
        return plan_delta_partition(old, new, opts, workers, step=step)
    return memo.plan(old, new, opts, lambda: plan_delta_partition(old, new, opts, workers, step=step))


def map_partitions(fn, items, workers: Workers | int, progress: ProgressFn | None = None):
    """``fn`` over partitions on ``workers`` (or that many threads); results in input order."""
    if isinstance(workers, int):
        workers = Workers(workers)
    if workers.jobs == 1 or len(items) < 2:
        results = []
        for item in items:
            results.append(fn(item))
            if progress:
                progress(results[-1].record.name, 1.0)
        return results
    # The diff core and liblzma release the GIL, so threads run in parallel.
    results = workers.map(fn, items)
    if progress:
        for r in results:
            progress(r.record.name, 1.0)
    return results


def build_full(image: FirmwareImage, opts: PackageOptions = PackageOptions(), progress: ProgressFn | None = None) -> bytes:
    """A full package: every partition compressed, wrapped with header and footer."""
    check_sizes(image)
    if not image.partitions:
        raise InputError("the image has no partitions")
    preflight("full", image, opts, ["skip" if p.policy is Policy.SKIP else "replace" for p in image.partitions])

    def build(o: PackageOptions) -> bytes:
        workers = Workers(o.jobs)
        planned = map_partitions(lambda p: plan_full_partition(p, o, workers), list(image.partitions), workers,
                                 progress)
        return finish_package("full", planned, o, image.erase_block, image)

    return fit_ram_budget(build, opts)


def in_place_tools() -> InPlaceTools:
    return InPlaceTools(_replace, _smallest_patch, PlannedPartition, lambda size, p: tunings_within(
        THOROUGH_TUNINGS if size <= THOROUGH_LIMIT else DELTA_TUNINGS, p.max_lzma_lclp), THOROUGH_LIMIT)


def build_delta(old: FirmwareImage, new: FirmwareImage, opts: PackageOptions = PackageOptions(),
                progress: ProgressFn | None = None, *, memo: PlanMemo | None = None) -> bytes:
    """A delta package from OLD to NEW (same partition structure).

    ``memo``: partition plans shared with other packages built from OLD (a release task)."""
    check_sizes(old)
    check_sizes(new)
    check_structure(old, new)
    pairs = [(old.get(p.name), p) for p in new.partitions]
    preflight("delta", new, opts, [least_operation(o, p) for o, p in pairs])

    def build(o: PackageOptions) -> bytes:
        workers = Workers(o.jobs)
        planned = map_partitions(lambda pair: plan_shared(pair[0], pair[1], o, workers, memo, progress), pairs, workers,
                                 progress)
        planned = planned if o.scratch_flash is None else fit_scratch(planned, pairs, o, new.erase_block, workers, in_place_tools())
        return finish_package("delta", planned, o, new.erase_block, new)

    return fit_ram_budget(build, opts)


def least_operation(old: Partition | None, new: Partition) -> str:
    """The operation ``plan_delta_partition`` gives, or the one with the
    smaller table entry when it decides by size (replace, not delta)."""
    if new.policy is Policy.SKIP:
        return "skip"
    if old is not None and old.data == new.data and changes_on_device(new):
        return "skip"
    if new.policy is Policy.KEEP or (old is not None and old.data == new.data):
        return "keep"
    return "replace"


def check_structure(old: FirmwareImage, new: FirmwareImage) -> None:
    from otapack.core.inputs import check_compatible

    check_compatible(old, new)
