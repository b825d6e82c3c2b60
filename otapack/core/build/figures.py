"""The resource figures of what the builder produced, measured on its own output.

The package header (format v1) has one ``ram_required``; the restore prices
what it can see before the first write and enforces the declaration for what
it learns while decoding (docs/verifier.md, "RAM accounting").  So the
builder measures its real maxima:

- per patch stream (``stream_figures``): the largest tuple count and the most
  extra bytes of any window, and whether the stream keeps the work bound the
  restore enforces (tuples per output byte);
- per LZMA2 payload (``payload_lclp``): the lc+lp its chunks use;

and ``tighten`` rewrites a stream's ``max_window_tuples`` to the largest
count it really has (the windows are the same: the encoder only closes a
window at the cap when the window reaches it), so the tuple array the device
allocates is no larger than needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.formats.varint import encode_varint
from otapack.core.formats.wire_numbers import DIFF_CODINGS, MIN_WINDOW_TUPLES, transform_ram
from otapack.core.restore.delta import tuples_exceed_bound
from otapack.core.restore.lzma2 import ChunkWalker


@dataclass(frozen=True)
class StreamFigures:
    window_size: int
    max_window_tuples: int  # as the stream header declares it
    header_bytes: int  # length of the three header varints
    windows: int
    tuples: int
    max_count: int  # the most tuples in one window
    max_extra: int  # the most extra (copy) bytes in one window
    within_work_bound: bool  # the restore's tuples-per-output bound holds at every tuple
    transform_ram: int = 0  # device RAM of the stream's tables (delta-v2 transform, delta-in-place segments/saves)
    saves: int = 0  # delta-in-place: old sectors saved to scratch


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def stream_figures(stream: bytes, target_size: int, version: int = 1) -> StreamFigures:
    """The figures of a delta stream of ``version`` the builder encoded
    (trusted input: the restore, not this, validates streams)."""
    window_size, pos = _varint(stream, 0)
    max_tuples, pos = _varint(stream, pos)
    coding, pos = _varint(stream, pos)
    header_bytes = pos
    tables = 0
    if version == 2:  # the transform section: arch, base, two counts, then two varints an entry
        arch, pos = _varint(stream, pos)
        _, pos = _varint(stream, pos)
        map_count, pos = _varint(stream, pos)
        region_count, pos = _varint(stream, pos)
        for _ in range(2 * (map_count + region_count)):
            _, pos = _varint(stream, pos)
        tables = transform_ram(map_count, region_count) if arch else 0
    zero_runs = coding == DIFF_CODINGS["zero-run"]
    out = windows = tuples = max_count = max_extra = 0
    bounded = True
    while out < target_size:
        count, pos = _varint(stream, pos)
        windows += 1
        max_count = max(max_count, count)
        window_out = extra = 0
        for _ in range(count):
            add, pos = _varint(stream, pos)
            copy, pos = _varint(stream, pos)
            _, pos = _varint(stream, pos)
            tuples += 1
            window_out += add + copy
            extra += copy
            if bounded and tuples_exceed_bound(tuples, out + window_out):
                bounded = False
        max_extra = max(max_extra, extra)
        pos += extra
        left = window_out - extra
        if not zero_runs:
            pos += left
        while zero_runs and left:
            # most run lengths are one byte: read those inline
            zeros = stream[pos]
            if zeros < 0x80:
                pos += 1
            else:
                zeros, pos = _varint(stream, pos)
            literals = stream[pos]
            if literals < 0x80:
                pos += 1
            else:
                literals, pos = _varint(stream, pos)
            pos += literals
            left -= zeros + literals
        out += window_out
    return StreamFigures(window_size, max_tuples, header_bytes, windows, tuples, max_count, max_extra, bounded, tables)


def tighten(stream: bytes, figures: StreamFigures) -> bytes:
    """``stream`` with its header's ``max_window_tuples`` set to the largest
    window count it has (at least the format's minimum)."""
    want = max(MIN_WINDOW_TUPLES, figures.max_count)
    if want == figures.max_window_tuples:
        return stream
    coding = stream[figures.header_bytes - 1 : figures.header_bytes]  # one byte: 0 or 1
    return encode_varint(figures.window_size) + encode_varint(want) + coding + stream[figures.header_bytes :]


def payload_lclp(payload: bytes) -> int | None:
    """lc+lp of the first LZMA chunk of a raw LZMA2 payload (None: none), the
    model the restore prices it for.  liblzma writes one setting into every
    chunk; the second walk proves no later chunk needs more."""
    walker = ChunkWalker(None, "payload")
    walker.feed(payload)
    ChunkWalker(walker.first_lclp, "payload").feed(payload)
    return walker.first_lclp
