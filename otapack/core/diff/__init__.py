"""Binary diff: matchers producing bsdiff-style control tuples, and patch streams.

A matcher maps ``(old, new)`` to ``(ctrl, diff, extra)``: a list of
``(add, copy, seek)`` tuples (semantics in :mod:`otapack.core.formats.delta`),
the add bytes (new - old, mod 256) and the copy bytes.  ``make_patch`` runs
one and encodes the result as an uncompressed delta-v1 stream.

``otadiff`` (the default) is otapack's own C core (``otapack.core.diff._core``:
SA-IS suffix array and a bsdiff-style scan); ``bsdiff4`` uses the bsdiff4
package's matcher, kept for comparison.  ``make_candidates`` runs several
matcher settings; for otadiff they share one suffix array of the old image
(``_core.Index``) and scan concurrently on the caller's ``Workers`` (the
scans release the GIL).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Callable

from otapack.core.diff.patch_encode import DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_TUPLES, encode_patch
from otapack.core.diff.patch_decode import decode_patch
from otapack.errors import InputError, UsageError
from otapack.core.formats.delta import DIFF_CODINGS
from otapack.core.parallel import SERIAL, Workers

Ctrl = list[tuple[int, int, int]]
DiffResult = tuple[Ctrl, bytes, bytes]

__all__ = [
    "DEFAULT_ALGORITHM",
    "DIFF_ALGORITHMS",
    "DiffAlgorithm",
    "decode_patch",
    "encode_patch",
    "get_algorithm",
    "make_patch",
    "make_candidates",
    "match_all",
]


Matcher = Callable[..., DiffResult]


def _no_settings(setting: dict) -> None:
    if setting:
        raise UsageError(f"this diff algorithm takes no settings, got {', '.join(sorted(setting))}")


@dataclass(frozen=True)
class DiffAlgorithm:
    name: str
    description: str
    function: Callable[..., DiffResult]
    #: Matcher settings a thorough build tries (keyword arguments of
    #: ``function``); the first is the default.
    settings: tuple[dict, ...] = ({},)
    #: ``prepare(old)`` does the work on ``old`` that every setting shares
    #: once and returns ``match(new, **setting)``, safe to call from several
    #: threads at once; None when there is nothing to share.
    prepare: Callable[[bytes], Matcher] | None = None
    #: Raises UsageError unless a setting is valid for ``function``.
    check_setting: Callable[[dict], None] = _no_settings


def _check_otadiff_setting(setting: dict) -> None:
    """Names and types here; the bounds are the C core's (``SETTING_RANGES``)."""
    from otapack.core.diff import _core

    for name, value in setting.items():
        if name not in _core.SETTING_RANGES:
            valid = ", ".join(sorted(_core.SETTING_RANGES))
            raise UsageError(f"unknown otadiff setting {name!r}; valid: {valid}")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise UsageError(f"otadiff setting {name} must be an integer, got {value!r}")
        low, high = _core.SETTING_RANGES[name]
        if value is not None and not low <= value <= high:
            raise UsageError(f"otadiff setting {name} must be in {low}..{high}, got {value}")


def _core_errors(call: Callable[[], DiffResult]) -> DiffResult:
    """The C core's argument errors as otapack errors."""
    try:
        return call()
    except ValueError as exc:  # a setting out of range
        raise UsageError(f"otadiff: {exc}") from None
    except OverflowError as exc:  # an input of 2 GiB or more
        raise InputError(f"otadiff: {exc}") from None


def _otadiff(old: bytes, new: bytes, **settings) -> DiffResult:
    from otapack.core.diff import _core

    _check_otadiff_setting(settings)
    return _core_errors(lambda: _core.diff(old, new, **settings))


def _otadiff_prepare(old: bytes) -> Matcher:
    """One suffix array of ``old`` for any number of scans."""
    from otapack.core.diff import _core

    index = _core_errors(lambda: _core.Index(old))

    def match(new: bytes, **settings) -> DiffResult:
        _check_otadiff_setting(settings)
        return _core_errors(lambda: index.diff(new, **settings))

    return match


def _sign_magnitude(raw: int) -> int:
    return -(raw & 0x7FFFFFFFFFFFFFFF) if raw >> 63 else raw


def decode_bsdiff4_ctrl(blob: bytes) -> Ctrl:
    """bsdiff4's control blob: 24-byte records of 3 sign-magnitude LE int64s."""
    if len(blob) % 24:
        raise ValueError(f"bsdiff4 control blob of {len(blob)} bytes is not a multiple of 24")
    values = [_sign_magnitude(v) for v in struct.unpack(f"<{len(blob) // 8}Q", blob)]
    return [tuple(values[i : i + 3]) for i in range(0, len(values), 3)]  # type: ignore[misc]


def _bsdiff4(old: bytes, new: bytes) -> DiffResult:
    import bsdiff4.core

    ctrl, diff, extra = bsdiff4.core.diff(bytes(old), bytes(new))
    if isinstance(ctrl, (bytes, bytearray)):
        ctrl = decode_bsdiff4_ctrl(bytes(ctrl))
    else:  # older bsdiff4 releases return a list of tuples
        ctrl = [tuple(int(v) for v in t) for t in ctrl]
    return ctrl, bytes(diff), bytes(extra)


DIFF_ALGORITHMS: dict[str, DiffAlgorithm] = {
    "otadiff": DiffAlgorithm(
        "otadiff",
        "otapack's C core: SA-IS suffix array and a bsdiff-style scan (default)",
        _otadiff,
        # The default, then the two that most often won on small corpus
        # images (0.8 % smaller packages together; docs/formats/delta-v1.md).
        ({}, {"min_gain": 1, "ext_pct": 30}, {"min_gain": 4, "seek_weight": 1}),
        prepare=_otadiff_prepare,
        check_setting=_check_otadiff_setting,
    ),
    "bsdiff4": DiffAlgorithm(
        "bsdiff4",
        "the bsdiff4 package's matcher (bsdiff 4.x), for comparison",
        _bsdiff4,
    ),
}
DEFAULT_ALGORITHM = "otadiff"


def get_algorithm(name: str) -> DiffAlgorithm:
    try:
        return DIFF_ALGORITHMS[name]
    except KeyError:
        valid = ", ".join(sorted(DIFF_ALGORITHMS))
        raise UsageError(f"unknown diff algorithm {name!r}; valid: {valid}") from None


def make_patch(
    old: bytes,
    new: bytes,
    algorithm: str = DEFAULT_ALGORITHM,
    *,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_window_tuples: int = DEFAULT_WINDOW_TUPLES,
    diff_coding: str = "raw",
) -> bytes:
    """The uncompressed delta-v1 stream restoring ``new`` from ``old``
    (the algorithm's default setting, one diff coding)."""
    return make_candidates(old, new, algorithm, window_size=window_size, max_window_tuples=max_window_tuples,
                           diff_codings=(diff_coding,), settings=({},))[0][diff_coding]


def make_candidates(
    old: bytes,
    new: bytes,
    algorithm: str = DEFAULT_ALGORITHM,
    *,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_window_tuples: int = DEFAULT_WINDOW_TUPLES,
    diff_codings: tuple[str, ...] = tuple(DIFF_CODINGS),
    settings: tuple[dict, ...] | None = None,
    workers: Workers = SERIAL,
) -> list[dict[str, bytes]]:
    """Patch streams for each matcher setting (default: all the algorithm's)
    and each diff coding; the builder keeps the one that compresses smallest."""
    from otapack.core.diff import _core

    def literalized(matches: DiffResult) -> DiffResult:  # literalize_dense_diffs's result, in one C pass
        return _core.literalize_dense(*matches, new, DENSE_MIN_LENGTH, DENSE_MIN_FILL)

    return [_encode_all(literalized(matches), window_size, max_window_tuples, diff_codings)
            for matches in match_all(old, new, algorithm, settings, workers)]


def match_all(old: bytes, new: bytes, algorithm: str = DEFAULT_ALGORITHM,
              settings: tuple[dict, ...] | None = None, workers: Workers = SERIAL) -> list[DiffResult]:
    """The matcher's result for each setting (default: all the algorithm's), in order.

    Every setting is checked before any work.  Where the algorithm can share
    its work on ``old`` (otadiff: the suffix array), it is done once and the
    scans run side by side on ``workers``: they release the GIL, and each
    result only depends on its inputs, so the order and bytes never change.
    """
    alg = get_algorithm(algorithm)
    chosen = alg.settings if settings is None else settings
    for setting in chosen:
        alg.check_setting(setting)
    if alg.prepare is None or len(chosen) < 2:
        return [alg.function(old, new, **setting) for setting in chosen]
    match = alg.prepare(old)
    return workers.map(lambda setting: match(new, **setting), chosen)


#: A run of nonzero diff bytes with zero gaps shorter than 8 bytes.
_DENSE_RUN = re.compile(rb"[^\x00](?:\x00{0,7}[^\x00])*")
#: Dense stretches at least this long and this full become extra bytes.
DENSE_MIN_LENGTH = 256
DENSE_MIN_FILL = 0.6


def literalize_dense_diffs(matches: DiffResult, new: bytes) -> DiffResult:
    """Carry wholesale-replaced stretches as extra bytes instead of diffs.

    An approximate match can run straight through a region that was
    replaced in place: its diff bytes (new - old) are noise LZMA cannot
    compress, while the new bytes themselves (usually code) compress to
    about half.  Each dense stretch becomes ``(add before, copy stretch,
    seek over it)``, which keeps the alignment.  Measured: no corpus pair
    grows; a synthetic 4 MiB image with replaced regions shrinks 26 %.
    The reference: the builder runs the C core's ``literalize_dense`` (the
    same tuples and bytes; tests/test_diff_core.py compares them).
    """
    ctrl, diff, extra = matches
    out: list[tuple[int, int, int]] = []
    new_diff, new_extra = bytearray(), bytearray()
    new_pos = diff_pos = extra_pos = 0
    for add, copy, seek in ctrl:
        start = 0
        for match in _DENSE_RUN.finditer(diff, diff_pos, diff_pos + add):
            u, v = match.start() - diff_pos, match.end() - diff_pos
            if v - u < DENSE_MIN_LENGTH or (v - u) - diff.count(0, diff_pos + u, diff_pos + v) < DENSE_MIN_FILL * (v - u):
                continue
            out.append((u - start, v - u, v - u))
            new_diff += diff[diff_pos + start : diff_pos + u]
            new_extra += new[new_pos + u : new_pos + v]
            start = v
        out.append((add - start, copy, seek))
        new_diff += diff[diff_pos + start : diff_pos + add]
        new_extra += extra[extra_pos : extra_pos + copy]
        new_pos += add + copy
        diff_pos += add
        extra_pos += copy
    return out, bytes(new_diff), bytes(new_extra)


def _encode_all(matches: DiffResult, window_size: int, max_window_tuples: int,
                diff_codings: tuple[str, ...]) -> dict[str, bytes]:
    from otapack.core.diff import _core

    ctrl, diff, extra = matches
    return {
        coding: encode_patch(ctrl, diff, extra, window_size=window_size, max_window_tuples=max_window_tuples,
                             diff_coding=coding, zero_run_coder=_core.zero_runs)
        for coding in diff_codings
    }
