"""The in-memory reference applier of delta-v1 streams, for differential tests.

Independent of the device restore (``otapack.core.restore.delta``): it parses
with the construct declarations in :mod:`otapack.core.formats.delta` and holds
everything in memory, yet must accept, reject and restore exactly as the
device does.  Its bounds checks are written in subtraction form (``a > limit
- b``, never ``a + b > limit``), the way the device's C code writes them to
be immune to integer overflow.
"""

from __future__ import annotations

import io

from construct import ConstructError

from otapack.errors import CorruptPatchError
from otapack.core.formats.delta import DIFF_CODINGS, ControlTuple, DeltaHeader, WindowHead, ZeroRunBytes
from otapack.core.formats.wire_numbers import MIN_TUPLE_OUTPUT, TUPLE_ALLOWANCE

__all__ = ["decode_patch"]


def _add_bytes(old: bytes, diff: bytes) -> bytes:
    return bytes(map(_ADD_TABLE.__getitem__, map(int.__add__, old, diff)))


_ADD_TABLE = [v & 0xFF for v in range(512)]

# The count field alone, to read a window head tuple by tuple (offsets).
_COUNT = WindowHead.subcons[0].subcon


def decode_patch(old: bytes, stream: bytes, new_size: int) -> bytes:
    """Restore the new image from ``old`` and an uncompressed delta-v1 stream.

    Raises :class:`otapack.errors.CorruptPatchError` for anything a device
    must reject: malformed fields, windows over their declared bounds, adds
    or copies past ``new_size``, reads or seeks outside ``old``, and missing
    or trailing bytes.
    """
    old = bytes(old)
    stream = bytes(stream)
    old_size = len(old)
    end = len(stream)
    f = io.BytesIO(stream)
    try:
        header = DeltaHeader.parse_stream(f)
    except ConstructError as exc:
        raise CorruptPatchError(f"malformed delta header: {_why(exc)}", offset=0) from None
    window_size = header.window_size
    max_tuples = header.max_window_tuples
    zero_runs = header.diff_coding == DIFF_CODINGS["zero-run"]

    out = bytearray()
    old_pos = 0
    w = 0
    seen = 0  # tuples of the stream so far
    while len(out) < new_size:
        start = f.tell()
        if start == end:
            raise CorruptPatchError(
                f"stream ends after {w} windows with {len(out)} of {new_size} bytes restored",
                offset=start,
            )
        try:
            count = _COUNT.parse_stream(f)
        except ConstructError as exc:
            raise CorruptPatchError(f"window {w}: malformed tuple count: {_why(exc)}", offset=start) from None
        if count < 1:
            raise CorruptPatchError(f"window {w}: declares no tuples", offset=start)
        if count > max_tuples:
            raise CorruptPatchError(
                f"window {w}: {count} tuples, above the declared maximum of {max_tuples}",
                offset=start,
            )
        tuples: list[tuple[int, int, int, int]] = []
        n_add = n_copy = 0
        for t in range(count):
            at = f.tell()
            try:
                tup = ControlTuple.parse_stream(f)
            except ConstructError as exc:
                raise CorruptPatchError(f"window {w} tuple {t}: malformed: {_why(exc)}", offset=at) from None
            a, c, s = tup["add"], tup["copy"], tup["seek"]
            if a == 0 and c == 0 and (w or t):
                raise CorruptPatchError(
                    f"window {w} tuple {t}: writes nothing (only the stream's first tuple may be a bare seek)",
                    offset=at,
                )
            # output of the window so far is n_add + n_copy <= window_size
            if a > window_size - (n_add + n_copy) or c > window_size - (n_add + n_copy) - a:
                raise CorruptPatchError(
                    f"window {w} tuple {t}: window output exceeds the declared window size of {window_size} bytes",
                    offset=at,
                )
            n_add += a
            n_copy += c
            tuples.append((a, c, s, at))
            # the work bound: at most TUPLE_ALLOWANCE tuples plus one per MIN_TUPLE_OUTPUT output bytes
            seen += 1
            if seen - TUPLE_ALLOWANCE > (len(out) + n_add + n_copy) // MIN_TUPLE_OUTPUT:
                raise CorruptPatchError(f"window {w} tuple {t}: {seen} tuples for {len(out) + n_add + n_copy} "
                                        f"output bytes, above the work bound", offset=at)
        pos = f.tell()
        if n_copy > end - pos:
            raise CorruptPatchError(
                f"window {w}: {n_copy} extra bytes declared, {end - pos} left in the stream",
                offset=pos,
            )
        extra = stream[pos : pos + n_copy]
        pos += n_copy
        if zero_runs:
            f.seek(pos)
            try:
                diff = ZeroRunBytes(n_add).parse_stream(f)
            except ConstructError as exc:
                raise CorruptPatchError(f"window {w}: malformed zero-run diff: {_why(exc)}", offset=pos) from None
            pos = f.tell()
        else:
            if n_add > end - pos:
                raise CorruptPatchError(
                    f"window {w}: {n_add} diff bytes declared, {end - pos} left in the stream",
                    offset=pos,
                )
            diff = stream[pos : pos + n_add]
            pos += n_add
            f.seek(pos)

        dp = ep = 0
        for t, (a, c, s, at) in enumerate(tuples):
            if a > new_size - len(out):
                raise CorruptPatchError(
                    f"window {w} tuple {t}: add of {a} bytes at output offset {len(out)} "
                    f"runs past the new size of {new_size} bytes",
                    offset=at,
                )
            if a > old_size - old_pos:
                raise CorruptPatchError(
                    f"window {w} tuple {t}: add of {a} bytes at old offset {old_pos} "
                    f"reads outside the old partition of {old_size} bytes",
                    offset=at,
                )
            out += _add_bytes(old[old_pos : old_pos + a], diff[dp : dp + a])
            old_pos += a
            dp += a
            if c > new_size - len(out):
                raise CorruptPatchError(
                    f"window {w} tuple {t}: copy of {c} bytes at output offset {len(out)} "
                    f"runs past the new size of {new_size} bytes",
                    offset=at,
                )
            out += extra[ep : ep + c]
            ep += c
            if (s < 0 and -s > old_pos) or (s > 0 and s > old_size - old_pos):
                raise CorruptPatchError(
                    f"window {w} tuple {t}: seek of {s} from old offset {old_pos} "
                    f"leaves the old partition of {old_size} bytes",
                    offset=at,
                )
            old_pos += s
        w += 1
    if f.tell() != end:
        raise CorruptPatchError(
            f"{end - f.tell()} trailing bytes after the last window", offset=f.tell()
        )
    return bytes(out)


def _why(exc: ConstructError) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return msg
