"""The in-place header of a ``delta-in-place`` stream (docs/formats/delta-in-place.md).

What one raw-LZMA2 payload of a ``delta-in-place`` partition decompresses
to: this header, then a delta-v1 stream (``delta.DeltaHeader`` and windows)
whose output is the target *in write order*: the physical sectors in the
order the segments list them.  Declared once here; the builder builds with
it and the tests parse with it.  The device restore keeps its own reader
(``otapack.core.restore.in_place``), which checks the same rules.
"""

from __future__ import annotations

from construct import Array, Bytes, Check, Struct, this

from otapack.core.formats.varint import CanonicalVarInt
from otapack.core.formats.wire_numbers import (IN_PLACE_DIRECTIONS, MAX_ERASE_BLOCK, MAX_IN_PLACE_SAVES,
                                               MAX_IN_PLACE_SEGMENTS, MAX_U32, SHA256_SIZE)

Segment = Struct(
    "first" / CanonicalVarInt(MAX_U32),
    "count" / CanonicalVarInt(MAX_U32),
    Check(this.count >= 1),
    "direction" / CanonicalVarInt(max(IN_PLACE_DIRECTIONS.values())),
)

InPlaceHeader = Struct(
    "sector_size" / CanonicalVarInt(MAX_ERASE_BLOCK),
    "segment_count" / CanonicalVarInt(MAX_IN_PLACE_SEGMENTS),
    Check(this.segment_count >= 1),
    "segments" / Array(this.segment_count, Segment),
    "save_count" / CanonicalVarInt(MAX_IN_PLACE_SAVES),
    "saves" / Array(this.save_count, CanonicalVarInt(MAX_U32)),
    Check(lambda ctx: all(a < b for a, b in zip(ctx.saves, ctx.saves[1:]))),
    "write_order_sha256" / Bytes(SHA256_SIZE),
)


def write_order(segments) -> list[int]:
    """Physical sector indices in write order: each segment's sectors,
    ascending (forward) or descending (backward), segments in list order."""
    order: list[int] = []
    for first, count, direction in segments:
        sectors = range(first, first + count)
        order.extend(sectors if direction == IN_PLACE_DIRECTIONS["forward"] else reversed(sectors))
    return order


def build_in_place_header(sector_size: int, segments, saves, write_order_sha256: bytes) -> bytes:
    """The header's bytes; ``segments`` as (first, count, direction) triples."""
    return InPlaceHeader.build({
        "sector_size": sector_size,
        "segment_count": len(segments),
        "segments": [{"first": f, "count": c, "direction": d} for f, c, d in segments],
        "save_count": len(saves),
        "saves": list(saves),
        "write_order_sha256": write_order_sha256,
    })
