"""The in-place header of a ``delta-in-place`` stream as the device reads and
checks it (docs/formats/delta-in-place.md).  Standard library only.

``read_in_place_tables`` reads it (bounded counts, canonical varints) ahead of the
delta-v1 header; ``check_tables`` holds it to its entry at ``resources``,
before any write; ``WriteOrder`` answers, for a restore, which physical
sector each write-order chunk is and where a write-order offset lies.
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.formats.wire_numbers import (IN_PLACE_DIRECTIONS, MAX_ERASE_BLOCK, MAX_IN_PLACE_SAVES,
                                               MAX_IN_PLACE_SEGMENTS, MAX_U32, SHA256_SIZE, in_place_ram)
from otapack.core.restore.varint import read_varint
from otapack.errors import CorruptPatchError, ResourceLimitError, TruncatedPackageError

BACKWARD = IN_PLACE_DIRECTIONS["backward"]


@dataclass(frozen=True)
class InPlaceTables:
    sector_size: int
    segments: tuple[tuple[int, int, int], ...]  # (first, count, direction)
    saves: tuple[int, ...]  # old sector indices, increasing
    write_order_sha256: bytes

    @property
    def ram(self) -> int:
        return in_place_ram(len(self.segments), len(self.saves))


def read_in_place_tables(stream, where: str) -> InPlaceTables:
    sector = read_varint(stream, MAX_ERASE_BLOCK, "in-place sector size", where)
    count = read_varint(stream, MAX_IN_PLACE_SEGMENTS, "in-place segment count", where)
    if count < 1:
        raise CorruptPatchError(f"{where}: in-place stream without segments")
    segments = []
    for index in range(count):
        at = f"{where}: in-place segment {index}"
        first = read_varint(stream, MAX_U32, "first sector", at)
        length = read_varint(stream, MAX_U32, "sector count", at)
        direction = read_varint(stream, max(IN_PLACE_DIRECTIONS.values()), "direction", at)
        if length < 1:
            raise CorruptPatchError(f"{at}: empty segment")
        segments.append((first, length, direction))
    saves = []
    for index in range(read_varint(stream, MAX_IN_PLACE_SAVES, "in-place save count", where)):
        saves.append(read_varint(stream, MAX_U32, f"in-place save {index}", where))
        if index and saves[-1] <= saves[-2]:
            raise CorruptPatchError(f"{where}: in-place save {index} (old sector {saves[-1]}) does not follow "
                                    f"sector {saves[-2]}: saves must be strictly increasing")
    digest = stream.read(SHA256_SIZE)
    if len(digest) != SHA256_SIZE:
        raise TruncatedPackageError(f"{where}: in-place header ends inside write_order_sha256")
    return InPlaceTables(sector, tuple(segments), tuple(saves), digest)


def sectors_of(size: int, sector: int) -> int:
    return -(-size // sector)


def check_sectors(where: str, erase_block: int, flashes) -> None:
    """Every erase sector of ``flashes`` (the partition's, the scratch area's) is ``erase_block``."""
    for flash in flashes:
        sizes = {size for _, size in getattr(flash, "sectors", ())}
        if sizes - {erase_block}:
            raise ResourceLimitError(f"{where}: an in-place delta needs erase sectors of {erase_block} bytes; "
                                     f"{flash.name} has sectors of {', '.join(map(str, sorted(sizes)))} bytes")


def check_tables(tables: InPlaceTables, where: str, erase_block: int, source_size: int, target_size: int) -> None:
    """The header's rules against its entry (docs/formats/delta-in-place.md, "Header rules")."""
    if tables.sector_size != erase_block:
        raise CorruptPatchError(f"{where}: in-place sector size {tables.sector_size}, the package's erase block "
                                f"is {erase_block}")
    n = sectors_of(target_size, erase_block)
    total = 0
    for index, (first, count, _) in enumerate(tables.segments):
        if count > n or first > n - count:
            raise CorruptPatchError(f"{where}: in-place segment {index} (sectors {first}+{count}) runs past the "
                                    f"target's {n} sectors")
        for other, (first2, count2, _) in enumerate(tables.segments[:index]):
            if first < first2 + count2 and first2 < first + count:
                raise CorruptPatchError(f"{where}: in-place segments {other} and {index} overlap")
        total += count
    if total != n:
        raise CorruptPatchError(f"{where}: in-place segments cover {total} sectors, the target has {n}")
    old_sectors = sectors_of(source_size, erase_block)
    if tables.saves and tables.saves[-1] >= old_sectors:
        raise CorruptPatchError(f"{where}: in-place save of old sector {tables.saves[-1]}, the base image has "
                                f"{old_sectors} sectors")


class WriteOrder:
    """Chunk ``i`` of the output is physical target sector ``sector[i]``;
    ``rank[j]`` is the chunk that writes sector ``j`` (a device walks the
    segment table for both instead of holding the lists)."""

    def __init__(self, tables: InPlaceTables, target_size: int):
        self.size, self.block = target_size, tables.sector_size
        self.sector: list[int] = []
        for first, count, direction in tables.segments:
            run = range(first, first + count)
            self.sector.extend(reversed(run) if direction == BACKWARD else run)
        self.count = len(self.sector)
        self.rank = [0] * self.count
        for index, sector in enumerate(self.sector):
            self.rank[sector] = index
        last = self.count - 1
        # Only the last physical sector may be short: chunks after it start that much earlier.
        self.short_rank = self.rank[last] if self.count else 0
        self.short = self.block * self.count - target_size

    def length(self, chunk: int) -> int:
        return min(self.block, self.size - self.sector[chunk] * self.block)

    def start(self, chunk: int) -> int:
        return chunk * self.block - (self.short if chunk > self.short_rank else 0)

    def chunk_at(self, offset: int) -> int:
        """The chunk holding write-order ``offset`` (< the target size)."""
        boundary = self.short_rank * self.block + self.length(self.short_rank)
        if offset < boundary:
            return offset // self.block
        return self.short_rank + 1 + (offset - boundary) // self.block
