"""RAM accounting shared by the builder (what it declares) and the restore
(what it measures).  Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otapack.errors import ResourceLimitError

#: The device pulls the package in chunks of this size (an HTTP/modem buffer).
PACKAGE_CHUNK = 4096
#: Decoded bytes are consumed in pieces of at most this size.
DECODE_CHUNK = 4096
#: One control tuple as the device stores it: three 32-bit fields.
TUPLE_BYTES = 12
#: LZMA probability model for lc+lp <= 4 plus bookkeeping (see codecs.py).
LZMA_STATE_BYTES = 2 * (1846 + (768 << 4)) + 256


def ram_requirement(
    *,
    lzma_dict_size: int,
    erase_block: int,
    header_length: int,
    uses_lzma: bool,
    window_size: int = 0,
    max_window_tuples: int = 0,
) -> int:
    """Peak RAM of the restore: the figure the package header declares."""
    # download chunk, parsed header and table, flash write buffer
    total = PACKAGE_CHUNK + header_length + erase_block
    if uses_lzma:
        total += lzma_dict_size + LZMA_STATE_BYTES + DECODE_CHUNK
    if window_size:
        # one window's tuples and extra bytes, plus an old-read piece
        total += window_size + max_window_tuples * TUPLE_BYTES + DECODE_CHUNK
    return total


@dataclass
class RamMeter:
    """Counts every buffer the restore holds; keeps the peak."""

    limit: int | None = None
    held: dict[str, int] = field(default_factory=dict)
    peak: int = 0

    @property
    def current(self) -> int:
        return sum(self.held.values())

    def hold(self, name: str, size: int) -> None:
        self.held[name] = size
        now = self.current
        if now > self.peak:
            self.peak = now
        if self.limit is not None and now > self.limit:
            raise ResourceLimitError(
                f"restore needs {now} bytes of RAM ({name}: {size}), more than the {self.limit} allowed"
            )

    def release(self, name: str) -> None:
        self.held.pop(name, None)
