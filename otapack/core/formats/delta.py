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
Every tuple but the first of the stream writes at least one byte, so the
work a stream can cause is bounded by its partition's target size.
"""

from __future__ import annotations

import re

from construct import Array, Bytes, Check, Construct, Default, Struct, stream_read, stream_write, this
from construct.core import ConstructError, evaluate

from otapack.core.formats.varint import CanonicalVarInt, ZigZagVarInt, encode_varint, zigzag

# The numbers (limits, diff coding ids) live in wire_numbers; re-exported here
# for the encoder and the tests.
from otapack.core.formats.wire_numbers import (  # noqa: F401
    DIFF_CODINGS,
    MAX_PARTITION_SIZE,
    MAX_SEEK,
    MAX_WINDOW_SIZE,
    MAX_WINDOW_TUPLES,
    MIN_WINDOW_SIZE,
    MIN_WINDOW_TUPLES,
)

DeltaHeader = Struct(
    "window_size" / CanonicalVarInt(MAX_WINDOW_SIZE),
    Check(this.window_size >= MIN_WINDOW_SIZE),
    "max_window_tuples" / CanonicalVarInt(MAX_WINDOW_TUPLES),
    # >= 2: a leading bare seek (first match not at old offset 0) shares its
    # window with a tuple that writes, so every window writes something.
    Check(this.max_window_tuples >= MIN_WINDOW_TUPLES),
    "diff_coding" / Default(CanonicalVarInt(max(DIFF_CODINGS.values())), DIFF_CODINGS["raw"]),
)


class ZeroRunBytes(Construct):
    """``length`` bytes stored as (zero run, literal run) pairs.

    Each pair is ``zeros`` varint, ``literals`` varint, then that many
    nonzero bytes.  The encoding is canonical: literal runs hold no zero,
    every pair but the first starts with at least one zero, only the last
    pair may have no literals, and the pairs cover ``length`` exactly.
    Parsing returns the decoded bytes, so a window reads the same either way.
    """

    _NONZERO = re.compile(rb"[^\x00]+")

    def __init__(self, length):
        super().__init__()
        self.length = length
        self.varint = CanonicalVarInt(MAX_WINDOW_SIZE)

    def _parse(self, stream, context, path):
        total = evaluate(self.length, context)
        out = bytearray()
        while len(out) < total:
            zeros = self.varint._parse(stream, context, path)
            literals = self.varint._parse(stream, context, path)
            left = total - len(out)
            if zeros > left or literals > left - zeros:
                raise ConstructError(f"zero-run pair ({zeros}, {literals}) overruns the {left} bytes left", path=path)
            if out and not zeros:
                raise ConstructError("non-canonical zero-run pair: no zeros after a literal run", path=path)
            if not literals and zeros != left:
                raise ConstructError("non-canonical zero-run pair: no literals before the end", path=path)
            out += bytes(zeros)
            chunk = stream_read(stream, literals, path)
            if chunk.count(0):
                raise ConstructError("non-canonical zero-run pair: zero byte inside a literal run", path=path)
            out += chunk
        return bytes(out)

    def _build(self, obj, stream, context, path):
        data = bytes(obj)
        total = evaluate(self.length, context)
        if len(data) != total:
            raise ConstructError(f"zero-run bytes: {len(data)} bytes given, {total} declared", path=path)
        encoded = encode_zero_runs(data)
        stream_write(stream, encoded, len(encoded), path)
        return obj


def encode_zero_runs(data: bytes) -> bytes:
    parts: list[bytes] = []
    append, varint = parts.append, encode_varint
    position = 0
    for match in ZeroRunBytes._NONZERO.finditer(data):
        start, end = match.span()
        append(varint(start - position))
        append(varint(end - start))
        append(data[start:end])
        position = end
    if position < len(data):
        append(varint(len(data) - position) + varint(0))
    return b"".join(parts)

ControlTuple = Struct(
    "add" / CanonicalVarInt(MAX_WINDOW_SIZE),
    "copy" / CanonicalVarInt(MAX_WINDOW_SIZE),
    "seek" / ZigZagVarInt(MAX_SEEK),
)

WindowHead = Struct(
    "count" / CanonicalVarInt(MAX_WINDOW_TUPLES),
    Check(this.count >= 1),
    "tuples" / Array(this.count, ControlTuple),
)


def window_struct(diff_coding: str = "raw"):
    """A whole window (head, extra, diff) for one diff coding."""
    n_add = lambda ctx: sum(t["add"] for t in ctx.head["tuples"])  # noqa: E731
    return Struct(
        "head" / WindowHead,
        "extra" / Bytes(lambda ctx: sum(t["copy"] for t in ctx.head["tuples"])),
        "diff" / (Bytes(n_add) if diff_coding == "raw" else ZeroRunBytes(n_add)),
    )


#: Window declarations by diff coding name.
WINDOWS = {name: window_struct(name) for name in DIFF_CODINGS}
Window = WINDOWS["raw"]


def build_window(tuples, extra: bytes, diff: bytes, diff_coding: str) -> bytes:
    """Exactly ``WINDOWS[diff_coding].build(...)`` for one window, without
    construct's per-field overhead (a large patch has 10^5 tuples); the tests
    check both give the same bytes."""
    varint = encode_varint
    head = [varint(len(tuples))]
    for add, copy, seek in tuples:
        head += (varint(add), varint(copy), varint(zigzag(seek)))
    return b"".join(head) + bytes(extra) + (bytes(diff) if diff_coding == "raw" else encode_zero_runs(diff))

#: Default window: 256 KiB is within 0.2 % of unwindowed size on the corpus
#: (64 KiB costs 1.1 %); partitions smaller than it use one window of their
#: own size.  See docs/formats/delta-v1.md.
DEFAULT_WINDOW_SIZE = 256 * 1024
DEFAULT_WINDOW_TUPLES = 1024
