"""Fitting a package into the device's RAM (``PackageOptions.ram_budget``).

``finish_package`` refuses a package whose declared RAM is over the budget
with a ``RamBudgetError`` that carries the breakdown of the payload that
needs the most; ``fit_ram_budget`` then lowers the one setting that is the
cheapest to give up for that part and builds again, until the package fits
or nothing is left to lower.  The order (measured on the corpus: a 64 KiB
dictionary costs 0-1.5 %, a 16 KiB one up to 6.6 %, docs/benchmarks.md):

1. the LZMA2 dictionary, down to 32 KiB;
2. the LZMA model, down to lc+lp = 1 (what patch streams use anyway);
3. the patch window (a window's extra bytes are held whole), down to 4 KiB;
4. the tuples per window (the tuple array), down to 64;
5. the dictionary, down to 4 KiB; 6. the model, down to lc+lp = 0.

Each round lowers one setting as far as the shortfall asks (never below its
floor), so a build takes at most a handful of rounds, and the outcome is
deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, TypeVar

from otapack.core.codecs import grid_at_most
from otapack.core.formats.wire_numbers import DECODE_CHUNK, MIN_LZMA_DICT, TUPLE_BYTES
from otapack.core.restore.resources import PayloadRam, lzma_model_bytes
from otapack.errors import RamBudgetError

T = TypeVar("T")

#: (setting, floor) in the order the builder gives them up.
PHASES = (("dictionary", 32 * 1024), ("model", 1), ("window", 4096), ("tuples", 64),
          ("dictionary", MIN_LZMA_DICT), ("model", 0))
#: More rounds than the phases can ever use (each round lowers one setting).
MAX_ROUNDS = 24


@dataclass(frozen=True)
class RamBreakdown:
    """The RAM one payload makes the restore hold, by part."""

    partition: str | None
    fixed: int  # package chunk, header, write buffer
    dictionary: int = 0
    model: int = 0
    lclp: int | None = None
    pieces: int = 0  # the decode piece and the old-read piece
    tuples: int = 0  # the tuple array
    extra: int = 0  # the largest window's extra bytes

    @classmethod
    def of(cls, fixed: int, name: str, p: PayloadRam) -> "RamBreakdown":
        return cls(name, fixed, p.dictionary if p.lzma else 0, lzma_model_bytes(p.lclp) if p.lzma else 0, p.lclp,
                   DECODE_CHUNK * (p.lzma + p.delta), p.window_tuples * TUPLE_BYTES, p.max_extra)

    @property
    def total(self) -> int:
        return self.fixed + self.dictionary + self.model + self.pieces + self.tuples + self.extra

    def describe(self) -> str:
        parts = [f"{self.fixed} fixed (package chunk, header, write buffer)"]
        for value, what in ((self.dictionary, "dictionary"),
                            (self.model, f"LZMA model (lc+lp={self.lclp})"),
                            (self.pieces, "decode/old-read pieces"), (self.tuples, "tuple array"),
                            (self.extra, "largest window's extra bytes")):
            if value:
                parts.append(f"{value} {what}")
        where = f"partition {self.partition!r}: " if self.partition else ""
        return where + " + ".join(parts)


def ram_budget_error(breakdown: RamBreakdown, opts, tried: tuple[tuple[str, int], ...] = ()) -> RamBudgetError:
    budget = opts.ram_budget
    message = (f"the package needs {breakdown.total} bytes of device RAM, {breakdown.total - budget} more than the "
               f"RAM budget of {budget} ({breakdown.describe()})")
    if tried:
        message += "; tried: " + "; ".join(f"{settings} -> {ram} bytes" for settings, ram in tried)
    return RamBudgetError(message, needed=breakdown.total, budget=budget, breakdown=breakdown)


def _lower(opts, b: RamBreakdown, over: int):
    """Options with one setting lowered to cover ``over`` bytes, or None."""
    for setting, floor in PHASES:
        if setting == "dictionary" and b.dictionary > floor:
            size = grid_at_most(max(floor, b.dictionary - over))
            if size < b.dictionary:
                return replace(opts, lzma_dict_size=size)
        elif setting == "model" and b.lclp is not None and b.lclp > floor:
            lclp = max([floor] + [n for n in range(b.lclp) if lzma_model_bytes(n) <= b.model - over])
            return replace(opts, max_lzma_lclp=lclp)
        elif setting == "window" and b.extra and opts.window_size > floor:
            target = max(floor, b.extra - over)
            window = max(floor, min(1 << (target.bit_length() - 1), opts.window_size // 2))  # a power of two
            if window < opts.window_size:
                return replace(opts, window_size=window)
        elif setting == "tuples" and b.tuples // TUPLE_BYTES > floor:
            count = b.tuples // TUPLE_BYTES
            return replace(opts, max_window_tuples=max(floor, min(count - 1, (b.tuples - over) // TUPLE_BYTES)))
    return None


def fit_ram_budget(build: Callable[[object], T], opts) -> T:
    """``build(opts)``, with settings lowered until the result fits
    ``opts.ram_budget`` (RamBudgetError with the shortfall and every setting
    tried when nothing fits)."""
    if opts.ram_budget is None:
        return build(opts)
    tried: list[tuple[str, int]] = []
    current = opts
    for _ in range(MAX_ROUNDS):
        try:
            return build(current)
        except RamBudgetError as exc:
            breakdown = exc.breakdown
            tried.append((current.settings(), breakdown.total))
            lowered = _lower(current, breakdown, breakdown.total - opts.ram_budget)
            if lowered is None:
                raise ram_budget_error(breakdown, opts, tuple(tried)) from None
            current = lowered
    raise ram_budget_error(breakdown, opts, tuple(tried))
