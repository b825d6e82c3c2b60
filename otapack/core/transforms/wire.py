"""Wire numbers of the delta-v2 transform section (docs/formats/delta-v2-transforms.md).

Prototype: these join ``otapack/core/formats/wire_numbers.py`` (and the
generated ``device/include/ota_wire.h``) when delta-v2 is integrated; until
then they are defined here, once, and every module of this package takes
them from here.  Standard library only: the device restore imports it.
"""

from __future__ import annotations

#: Transform sets by wire id (the stream header's ``arch``).  0: none, the
#: stream restores exactly like delta-v1.  An id not listed is refused.
ARCH_IDS = {"none": 0, "thumb2": 1, "aarch64": 2, "arm32": 3}

#: Table bounds.  The tables are held for the whole partition, so each entry
#: is priced in RAM (below) at the resources check, before any flash write.
MAX_MAP_ENTRIES = 4096
MAX_REGIONS = 4096
#: Addresses are at most 64 bits; a map delta is a signed 32-bit value.
MAX_ADDRESS = (1 << 64) - 1
MAX_MAP_DELTA = (1 << 31) - 1
#: Device RAM per table entry: map (u64 key, i32 delta) and region (u32 start, u32 mask).
MAP_ENTRY_BYTES = 12
REGION_ENTRY_BYTES = 8
#: Longest unit a kind rewrites (AArch64 ADRP pair: 8 bytes): the old-read
#: look-ahead and the pending buffer that carries a unit across tuples.
MAX_UNIT = 8


def transform_ram(map_entries: int, regions: int) -> int:
    """RAM the transform tables need on the device, in bytes."""
    return map_entries * MAP_ENTRY_BYTES + regions * REGION_ENTRY_BYTES + 2 * MAX_UNIT
