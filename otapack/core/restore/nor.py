"""Simulated NOR flash with power cuts, for the journaled restore and its sweep.

``NorFlash`` keeps ``SimFlash``'s pages and adds what a power cut can break:

- **erase sectors**: uniform, or a mixed map such as STM32F4's 16/64/128 KiB
  (``SECTOR_MAPS``); an erase takes the whole sector holding the address;
- **program units** of 1 to 32 bytes: a program starts on a unit boundary and
  each unit is programmed at most once per erase (a partial last unit counts
  as programmed; the rest of it keeps the erased value);
- **power**: every erase and program first asks the device's ``Power``, which
  may cut before the operation (nothing happens) or tear it (part of a program
  lands with its bits ANDed into the erased value, an erase leaves random
  bytes and every unit of the sector unprogrammable until it is erased again),
  then raises ``PowerLost``.  The operation counter runs across reboots, so
  repeated cuts can land in a resumed run.

``PowerLost`` is not an ``OtapackError``: a restore cannot catch it, exactly
as a device cannot catch losing its supply.  Standard library only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from otapack.core.restore.flash import FlashFault, SimFlash

KIB = 1024
#: Sector maps by name: the sizes from the start of a region, the last one
#: repeating (``stm32f4``: sectors 0-3 of 16 KiB, 4 of 64 KiB, then 128 KiB).
SECTOR_MAPS = {
    "stm32f4": (16 * KIB, 16 * KIB, 16 * KIB, 16 * KIB, 64 * KIB, 128 * KIB),
}
MIN_PROGRAM_UNIT, MAX_PROGRAM_UNIT = 1, 32


class PowerLost(Exception):
    """The supply went away before (or during) a flash operation."""


@dataclass
class Power:
    """The device's supply: it fails before the operations whose indices are in
    ``cuts`` (0 = the first erase or program of the first run), tearing them
    when ``torn``.  ``rng`` decides how much of a torn operation lands."""

    cuts: frozenset[int] = frozenset()
    torn: bool = False
    seed: int = 0
    operations: int = 0
    cuts_taken: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cuts = frozenset(self.cuts)
        self.rng = random.Random(self.seed)

    def fails(self) -> bool:
        """Count one operation; True when the supply fails during it."""
        index = self.operations
        self.operations += 1
        if index in self.cuts:
            self.cuts_taken.append(index)
            return True
        return False


def sector_sizes(size: int, sector_map: tuple[int, ...] | int) -> list[int]:
    """The sectors tiling a ``size``-byte region from its start (the last may be cut short)."""
    pattern = (sector_map,) if isinstance(sector_map, int) else tuple(sector_map)
    out, done = [], 0
    while done < size:
        step = pattern[min(len(out), len(pattern) - 1)]
        out.append(min(step, size - done))
        done += out[-1]
    return out


class NorFlash(SimFlash):
    def __init__(self, size: int, erase_block: int = 4096, erased_value: int = 0xFF, name: str = "flash", *,
                 program_unit: int = 1, sector_map: tuple[int, ...] | int | None = None,
                 power: Power | None = None):
        super().__init__(size, erase_block, erased_value, name)
        if not MIN_PROGRAM_UNIT <= program_unit <= MAX_PROGRAM_UNIT or program_unit & (program_unit - 1):
            raise ValueError(f"program unit {program_unit} is not a power of two within "
                             f"{MIN_PROGRAM_UNIT}..{MAX_PROGRAM_UNIT}")
        self.program_unit = program_unit
        self.power = power or Power()
        self._starts: list[int] = []
        position = 0
        for step in sector_sizes(size, sector_map or erase_block):
            if step % erase_block and position + step != size:
                raise ValueError(f"sector of {step} bytes is not a multiple of the {erase_block}-byte erase block")
            self._starts.append(position)
            position += step
        self._starts.append(size)
        #: One flag per program unit: programmed since its sector was last erased.
        self._programmed = bytearray(-(-size // program_unit))

    @classmethod
    def holding(cls, data: bytes, capacity: int, erase_block: int, erased_value: int, name: str,
                **geometry) -> "NorFlash":
        size = -(-max(capacity, len(data), 1) // erase_block) * erase_block
        flash = cls(size, erase_block, erased_value, name, **geometry)
        unit = flash.program_unit
        for start in range(0, len(data), unit):
            piece = data[start : start + unit]
            if piece.count(erased_value) != len(piece):
                flash._programmed[start // unit] = 1
        for start in range(0, len(data), 1 << 16):
            flash._store(start, data[start : start + (1 << 16)])
        return flash

    # ------------------------------------------------------------- geometry

    def sector_at(self, offset: int) -> tuple[int, int]:
        """(start, size) of the sector holding ``offset``."""
        if not 0 <= offset < self.size:
            raise FlashFault(f"{self.name}: no sector at {offset} in a {self.size}-byte flash")
        low, high = 0, len(self._starts) - 2
        while low < high:  # the last start <= offset
            mid = (low + high + 1) // 2
            if self._starts[mid] <= offset:
                low = mid
            else:
                high = mid - 1
        return self._starts[low], self._starts[low + 1] - self._starts[low]

    @property
    def sectors(self) -> list[tuple[int, int]]:
        return [(a, b - a) for a, b in zip(self._starts, self._starts[1:])]

    # ------------------------------------------------------------ operations

    def _store(self, offset: int, data: bytes) -> None:
        done = 0
        for index, a, b in self._spans(offset, len(data)):
            self._page(index)[a:b] = data[done : done + b - a]
            done += b - a

    def erase(self, block_index: int) -> None:
        """The sector holding erase block ``block_index`` (the ``SimFlash`` call)."""
        self.erase_at(block_index * self.erase_block)

    def erase_at(self, offset: int) -> None:
        start, size = self.sector_at(offset)
        if self.power.fails():
            if self.power.torn:  # half-erased: random bytes nothing may program over
                self._store(start, self.power.rng.randbytes(size))
                self._mark(start, size, 1)
            raise PowerLost(f"{self.name}: power lost erasing the sector at {start}")
        self._store(start, bytes([self.erased_value]) * size)
        self._mark(start, size, 0)
        self.blocks_erased += 1

    def _mark(self, offset: int, length: int, value: int) -> None:
        unit = self.program_unit
        first, last = offset // unit, -(-(offset + length) // unit)
        self._programmed[first:last] = bytes([value]) * (last - first)

    def write(self, offset: int, data: bytes) -> None:
        unit = self.program_unit
        if offset < 0 or offset > self.size or len(data) > self.size - offset:
            raise FlashFault(f"{self.name}: write of {len(data)} bytes at {offset} outside {self.size}-byte flash")
        if offset % unit:
            raise FlashFault(f"{self.name}: program at {offset} is not on a {unit}-byte program unit")
        first, last = offset // unit, -(-(offset + len(data)) // unit)
        if any(self._programmed[first:last]):
            raise FlashFault(f"{self.name}: program at {offset} into a unit already programmed since its erase")
        data = bytes(data)
        if self.power.fails():
            if self.power.torn:
                self._tear(offset, data)
            raise PowerLost(f"{self.name}: power lost programming {len(data)} bytes at {offset}")
        self._store(offset, data)
        self._mark(offset, len(data), 1)
        self.bytes_written += len(data)
        self.write_calls += 1

    def _tear(self, offset: int, data: bytes) -> None:
        """Whole units up to a random point land, then one unit partly: programming
        moves bits away from the erased value, so a torn unit holds some of them."""
        rng, unit = self.power.rng, self.program_unit
        landed = rng.randrange(len(data) // unit + 1) * unit
        torn = data[landed : landed + unit]
        noise = rng.randbytes(len(torn))
        if self.erased_value == 0xFF:
            partial = bytes(d | n for d, n in zip(torn, noise))
        else:
            partial = bytes(d & n for d, n in zip(torn, noise))
        self._store(offset, data[:landed] + partial)
        self._mark(offset, landed + len(torn), 1)
