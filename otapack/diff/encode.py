"""Delta-v1 patch streams: encode control tuples into windows, and decode them.

``encode_patch`` turns the matcher's output ``(ctrl, diff, extra)`` into the
*uncompressed* delta-v1 stream described in :mod:`otapack.formats.delta`:
a ``DeltaHeader``, then windows of at most ``window_size`` output bytes and
``max_window_tuples`` tuples, each built with the ``Window`` declaration.

``decode_patch`` is a simple in-memory reference applier with full
validation, meant for differential testing against the device restore.  Its
bounds checks are written in subtraction form (``a > limit - b``, never
``a + b > limit``), the way the device's C code must write them to be immune
to integer overflow.
"""

from __future__ import annotations

import io
from typing import Iterable, Sequence

from construct import ConstructError

from otapack.errors import CorruptPatchError, UsageError
from otapack.formats.delta import (
    DEFAULT_WINDOW_SIZE,
    DEFAULT_WINDOW_TUPLES,
    MAX_PARTITION_SIZE,
    MAX_WINDOW_SIZE,
    MAX_WINDOW_TUPLES,
    DIFF_CODINGS,
    ControlTuple,
    DeltaHeader,
    WindowHead,
    ZeroRunBytes,
    build_window,
)

__all__ = [
    "DEFAULT_WINDOW_SIZE",
    "DEFAULT_WINDOW_TUPLES",
    "decode_patch",
    "encode_patch",
    "normalize_ctrl",
    "split_windows",
]

Tuple3 = tuple[int, int, int]


def normalize_ctrl(ctrl: Iterable[Sequence[int]]) -> list[list[int]]:
    """Lossless clean-up of a tuple list.

    Seek-only tuples (``add + copy == 0``) are folded into the previous
    tuple; adjacent tuples are merged where the result restores the same
    bytes: ``(a, c, 0) + (0, c2, s) == (a, c + c2, s)`` and
    ``(a, 0, 0) + (a2, c2, s) == (a + a2, c2, s)``.  The seek of the last
    tuple is never used and becomes 0.  Only a leading seek (the first
    match does not start at old offset 0) stays a tuple of its own, unless
    the next tuple has no add.
    """
    out: list[list[int]] = []
    for raw in ctrl:
        a, c, s = (int(v) for v in raw)
        if a < 0 or c < 0:
            raise ValueError(f"negative add/copy in control tuple {tuple(raw)!r}")
        if out:
            last = out[-1]
            if a == 0 and c == 0:
                last[2] += s
                continue
            if a == 0 and last[0] == 0 and last[1] == 0:
                # leading seek + copy-only tuple: the copy does not read old
                last[1] = c
                last[2] += s
                continue
            if last[2] == 0 and a == 0:
                last[1] += c
                last[2] = s
                continue
            if last[2] == 0 and last[1] == 0:
                last[0] += a
                last[1] = c
                last[2] = s
                continue
        out.append([a, c, s])
    if out:
        out[-1][2] = 0
    return out


def split_windows(
    ctrl: Iterable[Sequence[int]], window_size: int, max_window_tuples: int
) -> list[list[Tuple3]]:
    """Cut normalized tuples into windows, splitting tuples at boundaries.

    A tuple ``(a, c, s)`` straddling a boundary with room ``r`` left becomes
    ``(a1, c1, 0)`` with ``a1 = min(a, r)``, ``c1 = r - a1``, and the rest
    ``(a - a1, c - c1, s)`` opens the next window.
    """
    windows: list[list[Tuple3]] = []
    cur: list[Tuple3] = []
    room = window_size
    for a, c, s in ctrl:
        while True:
            if len(cur) == max_window_tuples:
                windows.append(cur)
                cur, room = [], window_size
            if a <= room and c <= room - a:
                cur.append((a, c, s))
                room -= a + c
                if room == 0:
                    windows.append(cur)
                    cur, room = [], window_size
                break
            a1 = min(a, room)
            c1 = room - a1
            cur.append((a1, c1, 0))
            windows.append(cur)
            cur, room = [], window_size
            a -= a1
            c -= c1
    if cur:
        windows.append(cur)
    return windows


def _check_limits(window_size: int, max_window_tuples: int) -> None:
    if not isinstance(window_size, int) or not 1 <= window_size <= MAX_WINDOW_SIZE:
        raise UsageError(f"window size {window_size!r} outside 1..{MAX_WINDOW_SIZE} bytes")
    if not isinstance(max_window_tuples, int) or not 2 <= max_window_tuples <= MAX_WINDOW_TUPLES:
        raise UsageError(
            f"tuples per window {max_window_tuples!r} outside 2..{MAX_WINDOW_TUPLES}"
        )


def encode_patch(
    ctrl: Iterable[Sequence[int]],
    diff: bytes,
    extra: bytes,
    *,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_window_tuples: int = DEFAULT_WINDOW_TUPLES,
    diff_coding: str = "raw",
) -> bytes:
    """The uncompressed delta-v1 stream for ``(ctrl, diff, extra)``.

    The new image is ``len(diff) + len(extra)`` bytes; the stream ends with
    the window in which the output reaches that size.
    """
    _check_limits(window_size, max_window_tuples)
    if diff_coding not in DIFF_CODINGS:
        raise UsageError(f"unknown diff coding {diff_coding!r}; valid: {', '.join(DIFF_CODINGS)}")
    tuples = normalize_ctrl(ctrl)
    total_add = sum(t[0] for t in tuples)
    total_copy = sum(t[1] for t in tuples)
    if total_add != len(diff) or total_copy != len(extra):
        raise ValueError(
            f"control tuples add {total_add} and copy {total_copy} bytes, "
            f"but diff has {len(diff)} and extra {len(extra)}"
        )
    if total_add + total_copy > MAX_PARTITION_SIZE:
        raise UsageError(f"new image of {total_add + total_copy} bytes is above the v1 limit")
    if total_add + total_copy == 0:
        tuples = []  # an empty image needs no window at all
    out = io.BytesIO()
    out.write(DeltaHeader.build({"window_size": window_size, "max_window_tuples": max_window_tuples,
                                 "diff_coding": DIFF_CODINGS[diff_coding]}))
    dp = ep = 0
    for window in split_windows(tuples, window_size, max_window_tuples):
        n_add = sum(t[0] for t in window)
        n_copy = sum(t[1] for t in window)
        out.write(build_window(window, extra[ep : ep + n_copy], diff[dp : dp + n_add], diff_coding))
        dp += n_add
        ep += n_copy
    return out.getvalue()


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
