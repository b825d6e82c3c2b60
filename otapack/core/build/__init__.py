"""Package builders: full and delta packages from the partition model.

``build_full`` and ``build_delta`` take ``FirmwareImage`` objects and a
validated ``PackageOptions`` and return the package bytes.  The planner
decides one operation per partition, with a reason ``info`` shows.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

from otapack.version import __version__
from otapack.core.codecs import CODECS, DEFAULT_LZMA_DICT, MIN_LZMA_DICT, compress_fast_estimate, valid_dict_size
from otapack.errors import IncompatibleImagesError, InputError, PackageLimitError, UsageError
from otapack.core.formats.delta import DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_TUPLES
from otapack.core.formats.wire_numbers import (
    MAX_STRING_LENGTH, MAX_U32, MAX_WINDOW_SIZE, MAX_WINDOW_TUPLES, MIN_WINDOW_SIZE, MIN_WINDOW_TUPLES,
    max_stream_length,
)
from otapack.core.model import FirmwareImage, Partition, Policy
from otapack.core.container import PackageHeader, PartitionRecord, assemble, header_size
from otapack.core.package_limits import check_limits
from otapack.core.formats.extensions import layout_digest
from otapack.core.restore.resources import ram_requirement

#: lc/lp/pb tried on patch streams (mostly-zero diff bytes favour lc 0-1).
DELTA_TUNINGS = ((1, 0, 0),)
#: Partitions up to this size get the thorough candidate search.
THOROUGH_LIMIT = 1 << 20
THOROUGH_TUNINGS = ((1, 0, 0), (0, 0, 0), (2, 0, 0))


def resolve_build_time(explicit: int | None = None) -> int:
    """SOURCE_DATE_EPOCH when set, else 0 ("not recorded"), so builds repeat."""
    if explicit is not None:
        return explicit
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return 0
    try:
        epoch = int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH must be a decimal number of seconds, got {value!r}") from None
    if not 0 <= epoch < 1 << 63:
        raise UsageError(f"SOURCE_DATE_EPOCH {epoch} out of range")
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


@dataclass(frozen=True)
class PlannedPartition:
    record: PartitionRecord
    payload: bytes = b""
    #: sizes of the candidates considered, for ``info``/reports
    candidates: dict[str, int] = field(default_factory=dict)
    #: patch window the payload uses (0: not a delta)
    window_size: int = 0


ProgressFn = Callable[[str], None]


def dict_for(length: int, requested: int) -> int:
    """The dictionary a payload of ``length`` bytes needs: no more than the
    data (a larger one only costs device RAM), no more than requested."""
    size = MIN_LZMA_DICT
    while size < length and size < requested:
        size <<= 1
    return min(size, requested)


def _compress_full(data: bytes, dict_size: int) -> tuple[str, bytes]:
    packed = CODECS["lzma2"].compress(data, dict_for(len(data), dict_size))
    if len(packed) < len(data):
        return "lzma2", packed
    return "none", bytes(data)


def _replace(part: Partition, reason: str, opts: PackageOptions) -> PlannedPartition:
    codec, payload = _compress_full(part.data, opts.lzma_dict_size)
    record = PartitionRecord(
        name=part.name, address=part.address, operation="replace", reason=reason, codec=codec,
        target_size=part.size, target_sha256=part.sha256(), uncompressed_length=part.size,
    )
    return PlannedPartition(record, payload, {"full": len(payload)})


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


def plan_full_partition(part: Partition, opts: PackageOptions) -> PlannedPartition:
    if part.policy is Policy.SKIP:
        return skip_partition(part)
    return _replace(part, "full-package", opts)


def _smallest_patch(streams: list[bytes], tunings, lzma_dict: int) -> tuple[bytes, bytes]:
    """The candidate stream that compresses smallest, and its payload.

    Every stream is compressed with the first tuning; the other tunings are
    tried on the two best only (a tuning's effect hardly depends on the
    stream, and this halves the work).  liblzma releases the GIL, so each
    round runs in parallel.  Ties go to the earliest job: output is stable.
    """
    def run(jobs):
        with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 2)) as pool:
            return list(pool.map(
                lambda job: CODECS["lzma2"].compress(streams[job[0]], dict_for(len(streams[job[0]]), lzma_dict),
                                                     (job[1],)), jobs))

    jobs = [(index, tunings[0]) for index in range(len(streams))]
    packed = run(jobs)
    leaders = sorted(range(len(streams)), key=lambda index: (len(packed[index]), index))[:2]
    more = [(index, tuning) for index in leaders for tuning in tunings[1:]]
    if more:
        jobs += more
        packed += run(more)
    best = min(range(len(jobs)), key=lambda index: (len(packed[index]), index))
    return streams[jobs[best][0]], packed[best]


def plan_delta_partition(old: Partition | None, new: Partition, opts: PackageOptions) -> PlannedPartition:
    """One partition of a delta package: keep, full, or patch, by policy and size."""
    from otapack.core.diff import make_candidates

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
        return _replace(new, "policy-full", opts)
    if old is None or not old.data:
        return _replace(new, "no-source", opts)
    # The quick full-size estimate (below) runs beside the diff: both release the GIL.
    side = ThreadPoolExecutor(max_workers=1)
    estimate_job = side.submit(compress_fast_estimate, new.data, dict_for(new.size, opts.lzma_dict_size))
    side.shutdown(wait=False)
    # One window for a partition smaller than the default: no RAM wasted.
    window = max(1, min(opts.window_size, new.size))
    # Small partitions are cheap to search: every matcher setting and more
    # LZMA tunings; large ones use the defaults.  Every diff coding always.
    thorough = new.size <= THOROUGH_LIMIT
    streams = [stream
               for by_coding in make_candidates(old.data, new.data, opts.diff_algorithm, window_size=window,
                                                max_window_tuples=opts.max_window_tuples,
                                                settings=None if thorough else ({},))
               for stream in by_coding.values()]
    stream, patch = _smallest_patch(streams, THOROUGH_TUNINGS if thorough else DELTA_TUNINGS, opts.lzma_dict_size)
    # The full payload is compressed at full effort only when it could win.
    # The 9e size is 0.87-0.98 of a fast pass on every corpus image and 0.80
    # on plain text, so a patch below 3/4 of the fast size is surely smaller.
    estimate = estimate_job.result()
    candidates = {"delta": len(patch), "full-estimate": estimate}
    if 4 * len(patch) >= 3 * estimate:
        full = _replace(new, "full-smaller", opts)
        candidates["full"] = len(full.payload)
        if len(patch) >= len(full.payload):
            return replace(full, candidates=candidates)
    record = PartitionRecord(
        name=new.name, address=new.address, operation="delta", reason="delta-smaller", codec="lzma2",
        source_size=old.size, source_sha256=old.sha256(), target_size=new.size, target_sha256=new.sha256(),
        uncompressed_length=len(stream),
    )
    return PlannedPartition(record, patch, candidates, window)


def check_sizes(image: FirmwareImage) -> None:
    """Every partition fits the 32-bit fields of the format (InputError)."""
    for part in image.partitions:
        if part.size > MAX_U32 or part.address > MAX_U32:
            raise InputError(f"partition {part.name!r} does not fit the 32-bit fields of package format v1")


def binding_extensions(image: FirmwareImage, opts: PackageOptions) -> tuple[tuple[str, bytes], ...]:
    """hardware-id and layout-digest: what ties a package to a device class."""
    out = []
    if opts.hardware_id:
        out.append(("hardware-id", opts.hardware_id.encode("ascii")))
    if image.partitions and all(p.slot_size is not None for p in image.partitions):
        out.append(("layout-digest", layout_digest((p.name, p.address, p.slot_size) for p in image.partitions)))
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
        if r.operation == "delta" and r.uncompressed_length > max_stream_length(r.target_size):
            raise PackageLimitError(f"partition {r.name!r}: a {r.uncompressed_length}-byte patch stream exceeds "
                                    f"the bound {max_stream_length(r.target_size)} for a {r.target_size}-byte target")
        if r.operation == "replace" and r.uncompressed_length != r.target_size:
            raise PackageLimitError(f"partition {r.name!r}: replace payload decodes to {r.uncompressed_length} bytes, "
                                    f"target is {r.target_size}")
        if r.has_payload and r.codec == "none" and len(p.payload) != r.uncompressed_length:
            raise PackageLimitError(f"partition {r.name!r}: stored payload is {len(p.payload)} bytes, "
                                    f"{r.uncompressed_length} declared")


def finish_package(kind: str, planned: list[PlannedPartition], opts: PackageOptions, erase_block: int,
                   image: FirmwareImage | None = None) -> bytes:
    """Header resources from the plan, then assemble."""
    _check_plan(planned)
    records = [p.record for p in planned]
    uses_lzma = any(r.codec == "lzma2" for r in records)
    window = max((p.window_size for p in planned), default=0)
    # Each payload was compressed with the dictionary it needs; the device
    # needs the largest of them.
    dict_size = max((dict_for(r.uncompressed_length, opts.lzma_dict_size) for r in records if r.codec == "lzma2"),
                    default=0)
    header = _package_header(kind, opts, erase_block, image, dict_size)
    ram = ram_requirement(
        lzma_dict_size=header.lzma_dict_size, erase_block=erase_block,
        header_length=header_size(header, records), uses_lzma=uses_lzma,
        window_size=window,
        max_window_tuples=opts.max_window_tuples if window else 0,
    )
    # A delta partition is rebuilt in a staging area while its old copy is
    # still read; everything else is written in place.
    scratch = max((-(-r.target_size // erase_block) * erase_block for r in records if r.operation == "delta"), default=0)
    header = replace(header, ram_required=ram, scratch_flash=scratch)
    return assemble(header, [(p.record, p.payload) for p in planned])


def map_partitions(fn, items, jobs: int, progress: ProgressFn | None = None):
    """``fn`` over partitions, ``jobs`` at a time; results in input order."""
    if jobs == 1 or len(items) < 2:
        results = []
        for item in items:
            results.append(fn(item))
            if progress:
                progress(results[-1].record.name)
        return results
    # The diff core and liblzma release the GIL, so threads run in parallel.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(fn, items))
    if progress:
        for r in results:
            progress(r.record.name)
    return results


def build_full(image: FirmwareImage, opts: PackageOptions = PackageOptions(), progress: ProgressFn | None = None) -> bytes:
    """A full package: every partition compressed, wrapped with header and footer."""
    check_sizes(image)
    if not image.partitions:
        raise InputError("the image has no partitions")
    preflight("full", image, opts, ["skip" if p.policy is Policy.SKIP else "replace" for p in image.partitions])
    planned = map_partitions(lambda p: plan_full_partition(p, opts), list(image.partitions), opts.jobs, progress)
    return finish_package("full", planned, opts, image.erase_block, image)


def build_delta(old: FirmwareImage, new: FirmwareImage, opts: PackageOptions = PackageOptions(),
                progress: ProgressFn | None = None) -> bytes:
    """A delta package from OLD to NEW (same partition structure)."""
    check_sizes(old)
    check_sizes(new)
    check_structure(old, new)
    pairs = [(old.get(p.name), p) for p in new.partitions]
    preflight("delta", new, opts, [least_operation(o, p) for o, p in pairs])
    planned = map_partitions(lambda pair: plan_delta_partition(pair[0], pair[1], opts), pairs, opts.jobs, progress)
    return finish_package("delta", planned, opts, new.erase_block, new)


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
