"""Streaming application of a delta-v1 or delta-v2 patch, as the device runs it.

Every bound is checked in subtraction form (``a > limit - b``), which cannot
overflow in the device's 32-bit arithmetic (CVE-2014-9862, CVE-2020-14315).
Reads outside the old partition are errors, not zeros.  Standard library only.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from otapack.errors import CorruptPatchError, OtapackError, ResourceLimitError, UnsupportedVersionError
from otapack.core.formats.wire_numbers import (
    DELTA_VERSIONS,
    DIFF_CODINGS,
    MAX_SEEK,
    MAX_WINDOW_SIZE,
    MAX_WINDOW_TUPLES,
    MIN_TUPLE_OUTPUT,
    MIN_WINDOW_SIZE,
    MIN_WINDOW_TUPLES,
    TUPLE_ALLOWANCE,
    transform_ram,
)
from otapack.core.restore.in_place_tables import InPlaceTables, read_in_place_tables
from otapack.core.restore.resources import DECODE_CHUNK, TUPLE_BYTES, RamMeter
from otapack.core.restore.transform import Transformer
from otapack.core.restore.transform_section import read_counts, read_tables
from otapack.core.restore.varint import read_varint


@dataclass
class Work:
    """A deterministic count of the restore's work (what tests measure, never time)."""

    windows: int = 0
    tuples: int = 0
    diff_pairs: int = 0
    units: int = 0  # delta-v2: references re-aimed


def tuples_exceed_bound(tuples: int, output: int) -> bool:
    """The work bound: ``tuples`` tuples (the stream's so far) for ``output``
    bytes (up to the end of the last of them) is more than TUPLE_ALLOWANCE
    plus one per MIN_TUPLE_OUTPUT bytes."""
    return tuples > TUPLE_ALLOWANCE and tuples - TUPLE_ALLOWANCE > output // MIN_TUPLE_OUTPUT


@dataclass(frozen=True)
class PatchHeader:
    window_size: int
    max_tuples: int
    zero_runs: bool  # diff bytes coded as (zero run, literal run) pairs
    version: int = 1
    #: delta-v2: (arch id, base, map entries, regions) of the transform section; the
    #: tables follow in the stream and are read by ``apply_delta`` after pricing.
    transform_counts: tuple[int, int, int, int] | None = None
    #: delta-in-place: the in-place header read before the delta-v1 fields.
    in_place: InPlaceTables | None = None

    @property
    def transform_ram(self) -> int:
        """Device RAM of the stream's tables: delta-v2's transform, delta-in-place's segments and saves."""
        if self.in_place is not None:
            return self.in_place.ram
        if not self.transform_counts or not self.transform_counts[0]:
            return 0
        return transform_ram(self.transform_counts[2], self.transform_counts[3])


def read_stream_header(stream, where: str, version: int = 1) -> PatchHeader:
    """The header of a delta stream of ``version`` (DELTA_VERSIONS of the
    partition's operation): v1's three fields; v2 adds the transform
    section's counts, which price its tables before they are read."""
    if version not in STREAM_VERSIONS:
        raise UnsupportedVersionError(f"{where}: delta stream version {version} is not supported")
    in_place = read_in_place_tables(stream, where) if version == IN_PLACE_VERSION else None
    window_size = read_varint(stream, MAX_WINDOW_SIZE, "window size", where)
    max_tuples = read_varint(stream, MAX_WINDOW_TUPLES, "tuples per window", where)
    if window_size < MIN_WINDOW_SIZE or max_tuples < MIN_WINDOW_TUPLES:
        raise CorruptPatchError(f"{where}: window size must be at least {MIN_WINDOW_SIZE} and tuples per window "
                                f"at least {MIN_WINDOW_TUPLES}")
    coding = read_varint(stream, max(DIFF_CODINGS.values()), "diff coding", where)
    counts = read_counts(stream, where) if STREAM_VERSIONS[version] else None
    return PatchHeader(window_size, max_tuples, coding == DIFF_CODINGS["zero-run"], version, counts, in_place)


#: Delta stream versions -> whether the header carries a transform section.
STREAM_VERSIONS = {1: False, 2: True, 3: False}
#: The version whose stream starts with the in-place header.
IN_PLACE_VERSION = DELTA_VERSIONS["delta-in-place"]


class RawDiff:
    """Diff bytes stored as they are."""

    def __init__(self, stream, where: str, work: Work | None = None):
        self.stream = stream

    def start_window(self, total: int, where: str) -> None:
        pass

    def pieces(self, n: int):
        while n:
            k = min(DECODE_CHUNK, n)
            yield self.stream.read(k)
            n -= k


class ZeroRunDiff:
    """Diff bytes as (zeros, literals) pairs: zeros cost nothing to apply."""

    def __init__(self, stream, where: str, work: Work | None = None):
        self.stream = stream
        self.zeros = self.literals = self.left = self.pairs = 0
        self.where = where
        self.work = work or Work()

    def start_window(self, total: int, where: str) -> None:
        self.left, self.pairs, self.where = total, 0, where

    def _next_pair(self) -> None:
        zeros = read_varint(self.stream, MAX_WINDOW_SIZE, "zero run", self.where)
        literals = read_varint(self.stream, MAX_WINDOW_SIZE, "literal run", self.where)
        if zeros > self.left or literals > self.left - zeros:
            raise CorruptPatchError(f"{self.where}: zero-run pair ({zeros}, {literals}) overruns the "
                                    f"{self.left} diff bytes left in the window")
        if self.pairs and not zeros:
            raise CorruptPatchError(f"{self.where}: non-canonical zero-run pair: no zeros after a literal run")
        if not literals and zeros != self.left:
            raise CorruptPatchError(f"{self.where}: non-canonical zero-run pair: no literals before the end")
        self.left -= zeros + literals
        self.zeros, self.literals = zeros, literals
        self.pairs += 1
        self.work.diff_pairs += 1

    def pieces(self, n: int):
        """Pieces of the next ``n`` diff bytes: an int is that many zeros."""
        while n:
            if not self.zeros and not self.literals:
                self._next_pair()
            if self.zeros:
                k = min(self.zeros, n)
                self.zeros -= k
            else:
                k = min(self.literals, n, DECODE_CHUNK)
                data = self.stream.read(k)
                if data.count(0):
                    raise CorruptPatchError(f"{self.where}: non-canonical zero-run pair: zero byte inside a literal run")
                self.literals -= k
                k = data
            n -= k if isinstance(k, int) else len(k)
            yield k


def add_bytes(old: bytes, diff: bytes) -> bytes:
    """Bytewise (old + diff) mod 256, carry-free, using wide integers."""
    n = len(diff)
    if diff.count(0) == n:
        return old
    low = int.from_bytes(b"\x7f" * n, "little")
    x = int.from_bytes(old, "little")
    y = int.from_bytes(diff, "little")
    return (((x & low) + (y & low)) ^ ((x ^ y) & ~low & ((1 << (8 * n)) - 1))).to_bytes(n, "little")


def apply_delta(stream, read_old, old_size: int, writer, target_size: int, ram: RamMeter, where: str,
                header: PatchHeader, *, extra_capacity: int | None = None, work: Work | None = None) -> None:
    """Decode windows from ``stream`` and write exactly ``target_size`` bytes.

    The tuple array (``max_tuples`` entries) and the old-read piece are held
    for the whole stream, as a device allocates them; a window's extra bytes
    are checked against ``extra_capacity`` (what the declared RAM leaves for
    them) after its tuples are read and before any of them is buffered or
    any byte of the window is written."""
    window_size, max_tuples = header.window_size, header.max_tuples
    work = work if work is not None else Work()
    diff = (ZeroRunDiff if header.zero_runs else RawDiff)(stream, where, work)
    ram.hold("control tuples", max_tuples * TUPLE_BYTES)
    ram.hold("old read", DECODE_CHUNK)
    transformer = None
    if header.transform_counts is not None:  # delta-v2: the tables, priced by their counts
        ram.hold("transform tables", header.transform_ram)
        transformer = Transformer(read_tables(stream, header.transform_counts, old_size, where))
    out = 0
    old_pos = 0
    window_index = 0
    tuple_index = None  # the tuple being read or applied: the failure record's
    try:
        while out < target_size:
            at = f"{where}: window {window_index} (output offset {out})"
            tuple_index = None
            count = read_varint(stream, max_tuples, "tuple count", at)
            if count < 1:
                raise CorruptPatchError(f"{at}: empty window")
            work.windows += 1
            tuples = array("q")
            window_out = 0
            copy_total = 0
            for index in range(count):
                tuple_index = index
                tat = f"{at}, tuple {index}"
                add = read_varint(stream, window_size, "add length", tat)
                copy = read_varint(stream, window_size, "copy length", tat)
                seek = read_varint(stream, 2 * MAX_SEEK, "seek", tat)
                seek = (seek >> 1) ^ -(seek & 1)
                work.tuples += 1
                if add == 0 and copy == 0 and (window_index or index):
                    raise CorruptPatchError(f"{tat}: writes nothing (only the stream's first tuple may be a bare seek)")
                if add > window_size - window_out:
                    raise CorruptPatchError(f"{tat}: add length {add} overflows the {window_size}-byte window")
                window_out += add
                if copy > window_size - window_out:
                    raise CorruptPatchError(f"{tat}: copy length {copy} overflows the {window_size}-byte window")
                window_out += copy
                if tuples_exceed_bound(work.tuples, out + window_out):
                    raise CorruptPatchError(
                        f"{tat}: {work.tuples} tuples for {out + window_out} output bytes: above the work bound of "
                        f"{TUPLE_ALLOWANCE} tuples plus one per {MIN_TUPLE_OUTPUT} bytes"
                    )
                copy_total += copy
                tuples.extend((add, copy, seek))
            tuple_index = None
            if window_out > target_size - out:
                raise CorruptPatchError(
                    f"{at}: window writes {window_out} bytes, only {target_size - out} left of the target"
                )
            if extra_capacity is not None and copy_total > extra_capacity:
                raise ResourceLimitError(
                    f"{at}: {copy_total} extra bytes, the declared RAM leaves {extra_capacity} for them"
                )
            ram.hold("extra buffer", copy_total)
            extra = stream.read(copy_total)
            extra_pos = 0
            diff.start_window(window_out - copy_total, at)
            tuple_out = out
            for index in range(count):
                tuple_index = index
                add, copy, seek = tuples[3 * index : 3 * index + 3]
                if add:
                    if old_pos > old_size or add > old_size - old_pos:
                        raise CorruptPatchError(
                            f"{at}, tuple {index}: reads {add} old bytes at {old_pos}, past the {old_size}-byte old partition"
                        )
                    old_bytes = read_old if transformer is None else _transformed(transformer, read_old, old_size,
                                                                                   tuple_out - old_pos)
                    position = old_pos
                    for piece in diff.pieces(add):
                        if isinstance(piece, int):  # a zero run: the (transformed) old bytes unchanged
                            while piece:
                                k = min(DECODE_CHUNK, piece)
                                writer.write(old_bytes(position, k))
                                position += k
                                piece -= k
                        else:
                            writer.write(add_bytes(old_bytes(position, len(piece)), piece))
                            position += len(piece)
                    old_pos += add
                tuple_out += add + copy
                if copy:
                    writer.write(extra[extra_pos : extra_pos + copy])
                    extra_pos += copy
                if seek < -old_pos or seek > old_size - old_pos:
                    raise CorruptPatchError(
                        f"{at}, tuple {index}: seek {seek} from {old_pos} leaves the {old_size}-byte old partition"
                    )
                old_pos += seek
            ram.release("extra buffer")
            out += window_out
            window_index += 1
    except OtapackError as exc:
        exc.restore_position = (window_index, tuple_index, out)
        raise
    if transformer is not None:
        ram.release("transform tables")
        work.units += transformer.units


def _transformed(transformer: Transformer, read_old, old_size: int, displacement: int):
    """``read_old`` for one add of a delta-v2 stream: ``old'``, the old bytes
    with every recognised reference re-aimed (docs/formats/delta-v2-transforms.md)."""
    return lambda position, n: transformer.transform(read_old, old_size, position, n, displacement)

