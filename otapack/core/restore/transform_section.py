"""The transform section of a delta-v2 stream, as the device reads it.

Right after the v1 header fields (window size, tuples per window, diff
coding) a delta-v2 stream carries::

    arch          varint   TRANSFORM_ARCH_IDS (0: none; then every field below is 0)
    base          varint   address of old offset 0, < 2^bits of the arch
    map_count     varint   0 .. MAX_MAP_ENTRIES
    region_count  varint   0 .. MAX_REGIONS
    map_count x   key gap varint (first: the key), code varint (0 hole, else zigzag(delta) + 1)
    region_count x start gap varint (first: the start), mask varint

Both counts come first so the resources check prices the tables from four
varints, before any table byte is decoded.  Canonical rules: keys and
starts strictly increase; adjacent entries differ; the first map entry is
not a hole and the first region's mask is not 0; every region starts inside
the old partition; masks name only the arch's kinds.  Standard library only.
"""

from __future__ import annotations

from otapack.core.formats.wire_numbers import (
    MAX_MAP_DELTA,
    MAX_MAP_ENTRIES,
    MAX_REGIONS,
    MAX_TRANSFORM_ADDRESS as MAX_ADDRESS,
    TRANSFORM_ARCH_IDS as ARCH_IDS,
)
from otapack.core.restore.transform import TransformParams
from otapack.core.restore.transform_kinds import ARCHES
from otapack.core.restore.varint import read_varint
from otapack.errors import CorruptPatchError

ARCH_BY_ID = {v: k for k, v in ARCH_IDS.items()}


def read_counts(stream, where: str) -> tuple[int, int, int, int]:
    """``(arch id, base, map_count, region_count)``: what the resources check prices."""
    arch_id = read_varint(stream, max(ARCH_IDS.values()), "transform arch", where)
    if arch_id not in ARCH_BY_ID:
        raise CorruptPatchError(f"{where}: unknown transform arch {arch_id}")
    bits = ARCHES[ARCH_BY_ID[arch_id]].bits if arch_id else 64
    base = read_varint(stream, (1 << bits) - 1, "transform base", where)
    map_count = read_varint(stream, MAX_MAP_ENTRIES, "map entries", where)
    region_count = read_varint(stream, MAX_REGIONS, "transform regions", where)
    if arch_id == 0 and (base or map_count or region_count):
        raise CorruptPatchError(f"{where}: transform arch none with a base or tables")
    return arch_id, base, map_count, region_count


def read_section(stream, old_size: int, where: str) -> TransformParams:
    """The whole section: counts, then tables."""
    return read_tables(stream, read_counts(stream, where), old_size, where)


def read_tables(stream, counts: tuple[int, int, int, int], old_size: int, where: str) -> TransformParams:
    """The tables after the counts ``read_counts`` returned, every canonical rule checked."""
    arch_id, base, map_count, region_count = counts
    name = ARCH_BY_ID[arch_id]
    if arch_id == 0:
        return TransformParams("none")
    arch = ARCHES[name]
    keys, deltas = [], []
    key = 0
    prev_code = None
    for i in range(map_count):
        at = f"{where}: map entry {i}"
        gap = read_varint(stream, arch.addr_mask, "key gap", at)
        if i and gap == 0:
            raise CorruptPatchError(f"{at}: key does not increase")
        if gap > arch.addr_mask - key:
            raise CorruptPatchError(f"{at}: key past the {arch.bits}-bit address space")
        key += gap
        code = read_varint(stream, 2 * MAX_MAP_DELTA + 1, "map delta", at)
        if code == prev_code or (i == 0 and code == 0):
            raise CorruptPatchError(f"{at}: non-canonical map (repeats the previous entry or starts with a hole)")
        prev_code = code
        keys.append(key)
        deltas.append(None if code == 0 else ((code - 1) >> 1) ^ -((code - 1) & 1))
    starts, masks = [], []
    start = 0
    prev_mask = None
    for i in range(region_count):
        at = f"{where}: region {i}"
        gap = read_varint(stream, MAX_ADDRESS, "region gap", at)
        if i and gap == 0:
            raise CorruptPatchError(f"{at}: region start does not increase")
        if gap >= old_size - start:
            raise CorruptPatchError(f"{at}: region starts past the {old_size}-byte old partition")
        start += gap
        mask = read_varint(stream, arch.all_mask, "region mask", at)
        if mask == prev_mask or (i == 0 and mask == 0):
            raise CorruptPatchError(f"{at}: non-canonical regions (repeats the previous mask or starts empty)")
        prev_mask = mask
        starts.append(start)
        masks.append(mask)
    return TransformParams(name, base, tuple(keys), tuple(deltas), tuple(starts), tuple(masks))
