"""Simulated NOR flash with erase-block semantics, and the device's I/O ports.

A write may only program bytes that are erased (the MCUboot simflash rule);
erases work on whole blocks.  Counters feed the verifier's report.
"""

from __future__ import annotations

from otapack.errors import ResourceLimitError


class FlashFault(ResourceLimitError):
    """The restore broke a flash rule (write to unerased memory, out of bounds)."""


class SimFlash:
    def __init__(self, size: int, erase_block: int = 4096, erased_value: int = 0xFF, name: str = "flash"):
        if erase_block <= 0 or size % erase_block:
            raise ValueError(f"flash size {size} is not a multiple of the erase block {erase_block}")
        self.name = name
        self.size = size
        self.erase_block = erase_block
        self.erased_value = erased_value
        # Materialized lazily: bytes past len(memory) are erased.  A hostile
        # package declaring a 4 GiB target or erase block must not cost 4 GiB
        # of host RAM.
        self.memory = bytearray()
        self.blocks_erased = 0
        self.bytes_written = 0
        self.write_calls = 0

    @classmethod
    def holding(cls, data: bytes, capacity: int, erase_block: int, erased_value: int, name: str) -> "SimFlash":
        size = -(-max(capacity, len(data), 1) // erase_block) * erase_block
        flash = cls(size, erase_block, erased_value, name)
        flash.memory[: len(data)] = data
        return flash

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset > self.size or length > self.size - offset:
            raise FlashFault(f"{self.name}: read of {length} bytes at {offset} outside {self.size}-byte flash")
        data = bytes(self.memory[offset : offset + length])
        return data + bytes([self.erased_value]) * (length - len(data))

    def erase(self, block_index: int) -> None:
        start = block_index * self.erase_block
        if block_index < 0 or start >= self.size:
            raise FlashFault(f"{self.name}: erase of block {block_index} outside the flash")
        end = min(start + self.erase_block, len(self.memory))
        if start < end:
            self.memory[start:end] = bytes([self.erased_value]) * (end - start)
        self.blocks_erased += 1

    def write(self, offset: int, data: bytes) -> None:
        if offset < 0 or offset > self.size or len(data) > self.size - offset:
            raise FlashFault(f"{self.name}: write of {len(data)} bytes at {offset} outside {self.size}-byte flash")
        if offset + len(data) > len(self.memory):
            self.memory += bytes([self.erased_value]) * (offset + len(data) - len(self.memory))
        current = self.memory[offset : offset + len(data)]
        if current.count(self.erased_value) != len(current):
            raise FlashFault(f"{self.name}: write at {offset} to memory that is not erased")
        self.memory[offset : offset + len(data)] = data
        self.bytes_written += len(data)
        self.write_calls += 1


class FlashWriter:
    """Sequential writer: erases each block just before first writing into it."""

    def __init__(self, flash: SimFlash, limit: int):
        if limit > flash.size:
            raise FlashFault(f"{flash.name}: {limit} bytes do not fit the {flash.size}-byte region")
        self.flash = flash
        self.limit = limit
        self.position = 0
        self._next_block = 0

    def write(self, data: bytes) -> None:
        if len(data) > self.limit - self.position:
            raise FlashFault(
                f"{self.flash.name}: restore writes past the declared size {self.limit}"
            )
        end = self.position + len(data)
        block = self.flash.erase_block
        while self._next_block * block < end:
            self.flash.erase(self._next_block)
            self._next_block += 1
        self.flash.write(self.position, data)
        self.position = end

    def finish(self) -> None:
        """Erase the rest of the region's blocks the image covers, so no stale tail remains."""
        block = self.flash.erase_block
        while self._next_block * block < self.flash.size:
            self.flash.erase(self._next_block)
            self._next_block += 1
