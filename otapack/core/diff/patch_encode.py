"""Delta-v1 patch streams: encode the matcher's control tuples into windows.

``encode_patch`` turns the matcher's output ``(ctrl, diff, extra)`` into the
*uncompressed* delta-v1 stream described in :mod:`otapack.core.formats.delta`:
a ``DeltaHeader``, then windows of at most ``window_size`` output bytes and
``max_window_tuples`` tuples, each built with the ``Window`` declaration.

The reference decoder is :mod:`otapack.core.diff.patch_decode`.
"""

from __future__ import annotations

import io
from typing import Callable, Iterable, Sequence

from otapack.errors import UsageError
from otapack.core.formats.delta import (
    DEFAULT_WINDOW_SIZE,
    DEFAULT_WINDOW_TUPLES,
    MAX_PARTITION_SIZE,
    MAX_WINDOW_SIZE,
    MAX_WINDOW_TUPLES,
    MIN_WINDOW_SIZE,
    MIN_WINDOW_TUPLES,
    DIFF_CODINGS,
    DeltaHeader,
    build_window,
    encode_zero_runs,
)

__all__ = [
    "DEFAULT_WINDOW_SIZE",
    "DEFAULT_WINDOW_TUPLES",
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
    if not isinstance(window_size, int) or not MIN_WINDOW_SIZE <= window_size <= MAX_WINDOW_SIZE:
        raise UsageError(f"window size {window_size!r} outside {MIN_WINDOW_SIZE}..{MAX_WINDOW_SIZE} bytes")
    if not isinstance(max_window_tuples, int) or not MIN_WINDOW_TUPLES <= max_window_tuples <= MAX_WINDOW_TUPLES:
        raise UsageError(
            f"tuples per window {max_window_tuples!r} outside {MIN_WINDOW_TUPLES}..{MAX_WINDOW_TUPLES}"
        )


def encode_patch(
    ctrl: Iterable[Sequence[int]],
    diff: bytes,
    extra: bytes,
    *,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_window_tuples: int = DEFAULT_WINDOW_TUPLES,
    diff_coding: str = "raw",
    zero_run_coder: Callable[[bytes], bytes] = encode_zero_runs,
) -> bytes:
    """The uncompressed delta-v1 stream for ``(ctrl, diff, extra)``.

    ``zero_run_coder``: what codes a window's diff bytes for ``zero-run``
    (any function giving ``encode_zero_runs``'s bytes: the builder passes the
    C core's, which is one pass instead of a Python step per run).

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
        if diff_coding == "zero-run":  # build_window's bytes: a raw window's head and extra, then the coded diff
            out.write(build_window(window, extra[ep : ep + n_copy], b"", "raw"))
            out.write(zero_run_coder(diff[dp : dp + n_add]))
        else:
            out.write(build_window(window, extra[ep : ep + n_copy], diff[dp : dp + n_add], diff_coding))
        dp += n_add
        ep += n_copy
    return out.getvalue()
