"""Delta payload v1: a windowed bsdiff-style patch stream (docs/formats/delta-v1.md).

The stream below is what one raw-LZMA2 payload of a DELTA partition
decompresses to.  It is cut into *windows* of at most ``window_size`` output
bytes; each window lists its control tuples first, then all its extra bytes,
then all its diff bytes.  Grouping the three kinds of data compresses 2-5 %
better than interleaving them tuple by tuple (measured, see the doc), while
the device still reads the package once, front to back: it keeps one
window's tuples and extra bytes in RAM and streams the diff bytes.

Semantics of one tuple ``(add, copy, seek)`` with ``old_pos`` starting at 0:
``add`` bytes of ``old[old_pos:old_pos+add] + diff`` (bytewise mod 256), then
``old_pos += add``; then ``copy`` bytes of extra verbatim; then
``old_pos += seek``.  Every read of the old partition must lie inside it.
"""

from __future__ import annotations

from construct import Array, Bytes, Check, Struct, this

from otapack.formats.varint import CanonicalVarInt, ZigZagVarInt

#: Largest window a v1 stream may declare: bounds the device's extra buffer.
MAX_WINDOW_SIZE = 1 << 20
#: Largest tuple count per window a v1 stream may declare.
MAX_WINDOW_TUPLES = 1 << 16
#: Largest partition a v1 patch addresses (fields are 32-bit on the device).
MAX_PARTITION_SIZE = (1 << 32) - 1

DeltaHeader = Struct(
    "window_size" / CanonicalVarInt(MAX_WINDOW_SIZE),
    Check(this.window_size >= 1),
    "max_window_tuples" / CanonicalVarInt(MAX_WINDOW_TUPLES),
    Check(this.max_window_tuples >= 1),
)

ControlTuple = Struct(
    "add" / CanonicalVarInt(MAX_WINDOW_SIZE),
    "copy" / CanonicalVarInt(MAX_WINDOW_SIZE),
    "seek" / ZigZagVarInt(MAX_PARTITION_SIZE),
)

WindowHead = Struct(
    "count" / CanonicalVarInt(MAX_WINDOW_TUPLES),
    Check(this.count >= 1),
    "tuples" / Array(this.count, ControlTuple),
)


def window_struct():
    """A whole window (head, extra, diff) for building and for tests."""
    return Struct(
        "head" / WindowHead,
        "extra" / Bytes(lambda ctx: sum(t["copy"] for t in ctx.head["tuples"])),
        "diff" / Bytes(lambda ctx: sum(t["add"] for t in ctx.head["tuples"])),
    )


Window = window_struct()

#: Default window: 256 KiB is within 0.2 % of unwindowed size on the corpus
#: (64 KiB costs 1.1 %); partitions smaller than it use one window of their
#: own size.  See docs/formats/delta-v1.md.
DEFAULT_WINDOW_SIZE = 256 * 1024
DEFAULT_WINDOW_TUPLES = 1024
