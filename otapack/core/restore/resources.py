"""The device's resource model, shared by the builder (what it declares) and
the restore (what it prices, enforces and measures).  Standard library only.

RAM (docs/verifier.md, "RAM accounting"): the restore holds

- always: the package chunk, the header (``header_length``), the write buffer
  (one ``erase_block``) — ``fixed_ram``;
- per LZMA2 payload: its dictionary (``min(lzma_dict_size,
  uncompressed_length)``: a dictionary as long as the whole output never
  wraps), the LZMA model of its properties (``lzma_model_bytes``) and a
  decode piece — ``decoder_ram``;
- per delta payload: the tuple array (the stream header's
  ``max_window_tuples`` x 12), an old-read piece, and one window's extra
  bytes.

Everything but the extra bytes is known before the first flash write and
priced then (``known_ram``); the extra bytes get what the declaration leaves
(``ram_required - known_ram``), and a window needing more is refused before
it is buffered.  The builder declares ``ram_requirement`` of the figures it
produced, so the declaration is what the restore holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from otapack.core.formats.wire_numbers import (
    DECODE_CHUNK,
    JOURNAL_COPY_RESERVE,
    LZMA_DECODER_STATE,
    LZMA_PROB_BYTES,
    LZMA_PROBS_BASE,
    LZMA_PROBS_PER_LITERAL_STATE,
    MAX_ERASE_BLOCK,
    MAX_LZMA_DICT,
    MIN_ERASE_BLOCK,
    MIN_LZMA_DICT,
    PACKAGE_CHUNK,
    TUPLE_BYTES,
    is_power_of_two,
    on_lzma2_grid,
)
from otapack.errors import PackageFormatError, ResourceLimitError

__all__ = [
    "DECODE_CHUNK", "PACKAGE_CHUNK", "TUPLE_BYTES", "PayloadRam", "RamMeter", "check_header_figures",
    "decoder_ram", "fixed_ram", "known_ram", "lzma_model_bytes", "ram_requirement", "staged_bytes",
]


def lzma_model_bytes(lclp: int | None) -> int:
    """The LZMA decoder's probabilities for ``lc + lp`` plus its own state
    (None: a stream with no LZMA chunk needs the state only)."""
    if lclp is None:
        return LZMA_DECODER_STATE
    return LZMA_PROB_BYTES * (LZMA_PROBS_BASE + (LZMA_PROBS_PER_LITERAL_STATE << lclp)) + LZMA_DECODER_STATE


def fixed_ram(header_length: int, erase_block: int) -> int:
    """Package chunk + the whole header + one erase block of write buffer."""
    return PACKAGE_CHUNK + header_length + erase_block


def decoder_ram(dict_size: int, uncompressed_length: int, lclp: int | None) -> int:
    """Dictionary, LZMA model and decode piece of one LZMA2 payload."""
    return min(dict_size, uncompressed_length) + lzma_model_bytes(lclp) + DECODE_CHUNK


def round_up(size: int, block: int) -> int:
    return -(-size // block) * block


def copy_scratch(header_length: int, copied: list[int], erase_block: int) -> int:
    """Scratch flash for the copy a package downloaded into slots it rewrites
    needs (``package_copy``): its header and the ``copied`` payload lengths,
    then the descriptor's reserve, in whole erase blocks; 0 when none is copied."""
    if not copied:
        return 0
    return round_up(header_length + sum(copied) + JOURNAL_COPY_RESERVE, erase_block)


def staged_bytes(targets: Iterable[int], erase_block: int) -> int:
    """Flash the restore holds for staged (delta) partitions until commit:
    every one of them, each rounded up to whole erase blocks."""
    return sum(round_up(size, erase_block) for size in targets)


@dataclass(frozen=True)
class PayloadRam:
    """The RAM figures of one payload.  ``lzma``: codec lzma2 (``dictionary``
    is then ``min(lzma_dict_size, uncompressed_length)``, ``lclp`` its
    model); ``window_tuples``: the delta stream's ``max_window_tuples`` (0 for
    a replace payload); ``max_extra``: the largest window's extra bytes."""

    lzma: bool
    dictionary: int = 0
    lclp: int | None = None
    window_tuples: int = 0
    max_extra: int = 0
    delta: bool = False
    transform: int = 0  # delta-v2: RAM of the transform tables (wire_numbers.transform_ram)


def known_ram(fixed: int, p: PayloadRam) -> int:
    """What the restore knows this payload needs before its first write."""
    total = fixed
    if p.lzma:
        total += p.dictionary + lzma_model_bytes(p.lclp) + DECODE_CHUNK
    if p.delta:
        total += p.window_tuples * TUPLE_BYTES + DECODE_CHUNK + p.transform  # tuple array, old-read piece, tables
    return total


def ram_requirement(*, header_length: int, erase_block: int, payloads: Iterable[PayloadRam] = ()) -> int:
    """Peak RAM of the restore: the figure the package header declares."""
    fixed = fixed_ram(header_length, erase_block)
    return max([fixed] + [known_ram(fixed, p) + p.max_extra for p in payloads])


def check_header_figures(*, lzma_dict_size: int, erase_block: int, uses_lzma: bool) -> None:
    """The header's geometry figures within their documented limits, before
    anything is sized from them (PackageFormatError)."""
    if not is_power_of_two(erase_block) or not MIN_ERASE_BLOCK <= erase_block <= MAX_ERASE_BLOCK:
        raise PackageFormatError(
            f"erase block {erase_block} is not a power of two within {MIN_ERASE_BLOCK}..{MAX_ERASE_BLOCK} bytes"
        )
    if not uses_lzma:
        if lzma_dict_size:
            raise PackageFormatError(f"lzma_dict_size {lzma_dict_size} declared, but no payload uses LZMA2 (must be 0)")
        return
    if not MIN_LZMA_DICT <= lzma_dict_size <= MAX_LZMA_DICT or not on_lzma2_grid(lzma_dict_size):
        raise PackageFormatError(
            f"lzma_dict_size {lzma_dict_size} is not an LZMA2 dictionary size (2^n or 3*2^(n-1)) "
            f"within {MIN_LZMA_DICT}..{MAX_LZMA_DICT} bytes"
        )


@dataclass
class RamMeter:
    """Counts every buffer the restore holds; keeps the peak.  ``what`` names
    the resource in messages (RAM, scratch flash)."""

    limit: int | None = None
    held: dict[str, int] = field(default_factory=dict)
    peak: int = 0
    what: str = "RAM"

    @property
    def current(self) -> int:
        return sum(self.held.values())

    def hold(self, name: str, size: int) -> None:
        """Hold ``size`` bytes as ``name`` (replacing what it held); over the
        limit it raises and holds nothing more, so the peak stays within it."""
        now = self.current - self.held.get(name, 0) + size
        if self.limit is not None and now > self.limit:
            raise ResourceLimitError(
                f"restore needs {now} bytes of {self.what} ({name}: {size}), more than the {self.limit} allowed"
            )
        self.held[name] = size
        self.peak = max(self.peak, now)

    def release(self, name: str) -> None:
        self.held.pop(name, None)
