"""Payload codecs: one registry from name to wire id to implementation.

Only raw LZMA2 and "none" exist in v1.  Raw LZMA2 (no .xz container) saves
the 60-odd bytes of xz framing per payload; the device needs only the
dictionary size, which the package header declares.  lc/lp/pb live inside
the LZMA2 chunk headers, so the builder may pick them per payload.
"""

from __future__ import annotations

import lzma
from dataclasses import dataclass
from typing import Callable

from otapack.core.formats.wire_numbers import CODEC_IDS, MAX_LZMA_DICT, MIN_LZMA_DICT, on_lzma2_grid
from otapack.core.parallel import SERIAL, Workers
from otapack.errors import PackageFormatError, UsageError

#: Default LZMA2 dictionary: 1 MiB covers every program image in the corpus
#: whole while staying a small fraction of a Cat-1 module's RAM; lower it with
#: --lzma-dict for MCU-class devices (see docs/formats/package-v1.md).
DEFAULT_LZMA_DICT = 1 << 20

#: lc/lp/pb settings the builder tries on full payloads (smallest wins):
#: 4-byte-aligned code (ARM, AArch64) favours lp=2,pb=2; Xtensa's 24-bit
#: instructions the defaults.  Together within 0.1 % of the best of six
#: settings on every corpus image.  Patch streams use otapack.core.build.DELTA_TUNINGS.
LZMA_TUNINGS: tuple[tuple[int, int, int], ...] = ((2, 2, 2), (3, 0, 2))


def lzma2_filters(dict_size: int, lc: int = 3, lp: int = 0, pb: int = 2) -> list[dict]:
    return [
        {
            "id": lzma.FILTER_LZMA2,
            "preset": 9 | lzma.PRESET_EXTREME,
            "dict_size": dict_size,
            "lc": lc,
            "lp": lp,
            "pb": pb,
        }
    ]


def grid_at_least(size: int) -> int:
    """The smallest LZMA2 dictionary size (2^n or 3 * 2^(n-1), at least the
    minimum) that is >= ``size``."""
    value = MIN_LZMA_DICT
    while value < size:
        value = value // 2 * 3 if value & (value - 1) == 0 else value // 3 * 4
    return value


def grid_at_most(size: int) -> int:
    """The largest LZMA2 dictionary size <= ``size`` (the minimum if none is)."""
    value = MIN_LZMA_DICT
    while True:
        following = grid_at_least(value + 1)
        if following > size:
            return value
        value = following


def valid_dict_size(size: int) -> int:
    """``size`` when it is an LZMA2 dictionary size within the format's bounds (UsageError otherwise)."""
    if not MIN_LZMA_DICT <= size <= MAX_LZMA_DICT:
        raise UsageError(f"LZMA dictionary size {size} outside {MIN_LZMA_DICT}..{MAX_LZMA_DICT} bytes",
                         option="lzma_dict_size")
    if not on_lzma2_grid(size):
        raise UsageError(f"LZMA dictionary size {size} is not 2^n or 3*2^(n-1) bytes (a device decoder allocates "
                         f"those exactly); nearest: {grid_at_most(size)} or {grid_at_least(size)}",
                         option="lzma_dict_size")
    return size


def tunings_within(tunings, max_lclp: int):
    """The (lc, lp, pb) settings of ``tunings`` whose model fits lc+lp <= ``max_lclp``;
    (max_lclp, 0, pb of the first) when none does."""
    kept = tuple(t for t in tunings if t[0] + t[1] <= max_lclp)
    return kept or ((max_lclp, 0, tunings[0][2]),)


def compress_lzma2(data: bytes, dict_size: int, tunings=LZMA_TUNINGS, workers: Workers = SERIAL) -> bytes:
    """The smallest raw LZMA2 stream over the tunings tried (ties: the first).

    liblzma releases the GIL, so ``workers`` may run the tunings side by side."""
    def one(tuning):
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=lzma2_filters(dict_size, *tuning))

    return min(workers.map(one, tunings), key=len)


def compress_rank_size(data: bytes, dict_size: int, tuning=(3, 0, 2)) -> int:
    """Size of a fast LZMA2 pass (hash chains, short matches) with ``tuning``:
    what the builder ranks similar candidate streams by before their 9e passes.
    About 15-60x cheaper than 9e on the sparse raw-coded patch streams."""
    filters = lzma2_filters(dict_size, *tuning)
    filters[0].update(mode=lzma.MODE_FAST, mf=lzma.MF_HC4, nice_len=32, depth=4)
    return len(lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters))


#: Input fed to the quick pass at a time: how often it checks its bound.
ESTIMATE_PIECE = 1 << 18


def compress_fast_estimate(data: bytes, dict_size: int, stop_above: int | None = None) -> int:
    """Size of a quick LZMA2 pass: a cheap upper bound for planning.

    With ``stop_above``, the pass ends as soon as its output passes that
    many bytes, and returns the size so far (more than ``stop_above``, at
    most the full size): liblzma's output does not depend on how its input
    is fed, so the output so far is a prefix of the whole pass's."""
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": dict_size}]
    encoder = lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=filters)
    view, size = memoryview(data), 0
    for start in range(0, len(view), ESTIMATE_PIECE):
        size += len(encoder.compress(view[start:start + ESTIMATE_PIECE]))
        if stop_above is not None and size > stop_above:
            return size
    return size + len(encoder.flush())


def decompress_lzma2(payload: bytes, dict_size: int, expected_length: int) -> bytes:
    """Decode exactly ``expected_length`` bytes; never more (decompression bombs)."""
    decoder = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=lzma2_filters(dict_size))
    try:
        out = decoder.decompress(payload, max_length=expected_length)
    except lzma.LZMAError as exc:
        raise PackageFormatError(f"LZMA2 stream is corrupt: {exc}") from None
    if len(out) < expected_length:
        raise PackageFormatError(
            f"LZMA2 stream decodes to {len(out)} bytes, {expected_length} declared"
        )
    if not decoder.eof:
        # more output pending, or the end marker is missing
        try:
            extra = decoder.decompress(b"", max_length=1)
        except lzma.LZMAError as exc:
            raise PackageFormatError(f"LZMA2 stream is corrupt: {exc}") from None
        if extra:
            raise PackageFormatError(f"LZMA2 stream decodes to more than the {expected_length} bytes declared")
        if not decoder.eof:
            raise PackageFormatError("LZMA2 stream has no end marker")
    if decoder.unused_data:
        raise PackageFormatError(f"{len(decoder.unused_data)} bytes after the end of the LZMA2 stream")
    return out


@dataclass(frozen=True)
class Codec:
    name: str
    wire_id: int
    compress: Callable[[bytes, int], bytes]
    decompress: Callable[[bytes, int, int], bytes]


def _copy(data: bytes, dict_size: int) -> bytes:
    return bytes(data)


def _uncopy(payload: bytes, dict_size: int, expected_length: int) -> bytes:
    if len(payload) != expected_length:
        raise PackageFormatError(
            f"stored payload is {len(payload)} bytes, {expected_length} declared"
        )
    return bytes(payload)


CODECS: dict[str, Codec] = {
    "none": Codec("none", CODEC_IDS["none"], _copy, _uncopy),
    "lzma2": Codec("lzma2", CODEC_IDS["lzma2"], compress_lzma2, decompress_lzma2),
}
assert {c.name: c.wire_id for c in CODECS.values()} == CODEC_IDS, "codec registry and wire table disagree"
CODEC_BY_ID: dict[int, Codec] = {c.wire_id: c for c in CODECS.values()}
