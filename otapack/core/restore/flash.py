"""Simulated NOR flash with erase-block semantics, and the device's I/O ports.

A write may only program bytes that are erased (the MCUboot simflash rule);
erases work on whole blocks.  Counters feed the verifier's report.
"""

from __future__ import annotations

from otapack.errors import ResourceLimitError


class FlashFault(ResourceLimitError):
    """The restore broke a flash rule (write to unerased memory, out of bounds)."""


#: The simulated memory is kept in pages of this size, materialized on the
#: first write into them: the host holds what was written (plus at most one
#: page per written region), never what a package merely declares, and
#: growing it never copies what is already held.
PAGE_SIZE = 1 << 16


class SimFlash:
    def __init__(self, size: int, erase_block: int = 4096, erased_value: int = 0xFF, name: str = "flash"):
        if erase_block <= 0 or size % erase_block:
            raise ValueError(f"flash size {size} is not a multiple of the erase block {erase_block}")
        self.name = name
        self.size = size
        self.erase_block = erase_block
        self.erased_value = erased_value
        # Page index -> bytearray(PAGE_SIZE); a missing page is erased.  A
        # hostile package declaring a 4 GiB target must not cost 4 GiB of host RAM.
        self._pages: dict[int, bytearray] = {}
        self.blocks_erased = 0
        self.bytes_written = 0
        self.write_calls = 0
        #: Called with each write's length (a host's progress bar); None on a device.
        self.on_write = None

    @classmethod
    def holding(cls, data: bytes, capacity: int, erase_block: int, erased_value: int, name: str) -> "SimFlash":
        size = -(-max(capacity, len(data), 1) // erase_block) * erase_block
        flash = cls(size, erase_block, erased_value, name)
        view = memoryview(data)
        for start in range(0, len(data), PAGE_SIZE):
            flash._page(start // PAGE_SIZE)[: min(PAGE_SIZE, len(data) - start)] = view[start : start + PAGE_SIZE]
        return flash

    @property
    def held_bytes(self) -> int:
        """Host memory the simulated flash holds."""
        return len(self._pages) * PAGE_SIZE

    def _page(self, index: int) -> bytearray:
        page = self._pages.get(index)
        if page is None:
            page = self._pages[index] = bytearray([self.erased_value]) * PAGE_SIZE
        return page

    def _spans(self, offset: int, length: int):
        """(page index, start in page, end in page) covering [offset, offset + length)."""
        end = offset + length
        while offset < end:
            index, start = divmod(offset, PAGE_SIZE)
            stop = min(PAGE_SIZE, start + end - offset)
            yield index, start, stop
            offset += stop - start

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset > self.size or length > self.size - offset:
            raise FlashFault(f"{self.name}: read of {length} bytes at {offset} outside {self.size}-byte flash")
        erased = bytes([self.erased_value])
        # One allocation of the result: pages are joined through views.
        return b"".join(memoryview(self._pages[i])[a:b] if i in self._pages else erased * (b - a)
                        for i, a, b in self._spans(offset, length))

    def erase(self, block_index: int) -> None:
        start = block_index * self.erase_block
        if block_index < 0 or start >= self.size:
            raise FlashFault(f"{self.name}: erase of block {block_index} outside the flash")
        for index, a, b in self._spans(start, min(self.erase_block, self.size - start)):
            page = self._pages.get(index)
            if page is not None:
                page[a:b] = bytes([self.erased_value]) * (b - a)
        self.blocks_erased += 1

    def write(self, offset: int, data: bytes) -> None:
        if offset < 0 or offset > self.size or len(data) > self.size - offset:
            raise FlashFault(f"{self.name}: write of {len(data)} bytes at {offset} outside {self.size}-byte flash")
        spans = list(self._spans(offset, len(data)))
        for index, a, b in spans:
            page = self._pages.get(index)
            if page is not None and page.count(self.erased_value, a, b) != b - a:
                raise FlashFault(f"{self.name}: write at {offset} to memory that is not erased")
        view = memoryview(data)
        done = 0
        for index, a, b in spans:
            self._page(index)[a:b] = view[done : done + b - a]
            done += b - a
        self.bytes_written += len(data)
        self.write_calls += 1
        if self.on_write is not None:
            self.on_write(len(data))


class FlashWriter:
    """Sequential writer through a one-erase-block write buffer (the restore's
    "write buffer"): it programs whole blocks, erasing each just before
    first writing into it, and the partial last block at ``finish``."""

    def __init__(self, flash: SimFlash, limit: int):
        if limit > flash.size:
            raise FlashFault(f"{flash.name}: {limit} bytes do not fit the {flash.size}-byte region")
        self.flash = flash
        self.limit = limit
        self.position = 0  # bytes accepted, buffered ones included
        self._buffer = bytearray()
        self._programmed = 0  # bytes programmed into the flash
        self._next_block = 0

    def _program(self, data) -> None:
        end = self._programmed + len(data)
        block = self.flash.erase_block
        while self._next_block * block < end:
            self.flash.erase(self._next_block)
            self._next_block += 1
        self.flash.write(self._programmed, data)
        self._programmed = end

    def write(self, data: bytes) -> None:
        if len(data) > self.limit - self.position:
            raise FlashFault(
                f"{self.flash.name}: restore writes past the declared size {self.limit}"
            )
        self.position += len(data)
        block = self.flash.erase_block
        view = memoryview(data)
        if self._buffer:  # top the buffer up to its block boundary first
            take = min(len(view), block - len(self._buffer))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < block:
                return
            self._program(self._buffer)
            self._buffer = bytearray()
        whole = len(view) // block * block  # whole blocks go straight to the flash
        if whole:
            self._program(view[:whole])
        self._buffer += view[whole:]

    def finish(self) -> None:
        """Program the buffered tail, then erase the rest of the region's
        blocks, so no stale tail remains."""
        if self._buffer:
            self._program(self._buffer)
            self._buffer = bytearray()
        block = self.flash.erase_block
        while self._next_block * block < self.flash.size:
            self.flash.erase(self._next_block)
            self._next_block += 1
