"""The restore journal: progress records in two erase sectors (docs/formats/journal-v1.md).

Records are fixed 64-byte slots, sequence-numbered and CRC32-checked, read
and written field by field as the C library does (no allocation: a device
scans the two sectors slot by slot and keeps the newest valid record).

- **Reading** (``latest``): every slot of both sectors; a slot counts only
  with the magic and a matching CRC, so a torn or half-erased record is
  ignored and the one before it rules: at most one unit of work is redone.
- **Writing** (``append``): the first record a boot writes goes to the other
  sector, erased first, so a boot never programs a slot an earlier boot may
  have half-programmed (a torn slot can read as erased); later records follow
  it slot by slot, and a full sector moves the journal to the other one the
  same way.  The newest record is always readable: the sector holding it is
  erased only after a newer record has landed in the other one.

Standard library only.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from otapack.core.formats import wire_numbers as wn
from otapack.core.restore.nor import NorFlash

PHASE_NAMES = {v: k for k, v in wn.JOURNAL_PHASES.items()}
_R = wn.JOURNAL_RECORD
#: Everything before the padding: magic, sequence, digest, phase, reserved, entry, done.
_HEAD = struct.Struct(f"<4sI{wn.SHA256_SIZE}sB3xII")
assert _HEAD.size == _R["padding"].offset
assert wn.JOURNAL_RECORD_SIZE % 32 == 0  # a whole number of the largest program unit


@dataclass(frozen=True)
class Record:
    """Progress of the restore of one package: entries before ``entry`` are
    finished in ``phase``, and the first ``done`` bytes of ``entry`` too."""

    sequence: int
    package_digest: bytes
    phase: str
    entry: int
    done: int

    def to_bytes(self) -> bytes:
        head = _HEAD.pack(wn.JOURNAL_MAGIC, self.sequence, self.package_digest, wn.JOURNAL_PHASES[self.phase],
                          self.entry, self.done)
        body = head + bytes(_R["padding"].size)
        return body + struct.pack("<I", zlib.crc32(body))


def parse_record(slot: bytes) -> Record | None:
    """The record in a slot, or None (erased, torn, or not a record)."""
    if len(slot) != wn.JOURNAL_RECORD_SIZE or slot[_R["magic"].offset : _R["magic"].end] != wn.JOURNAL_MAGIC:
        return None
    (crc,) = struct.unpack_from("<I", slot, wn.JOURNAL_CRC_SPAN)
    if crc != zlib.crc32(slot[: wn.JOURNAL_CRC_SPAN]):
        return None
    _, sequence, digest, phase, entry, done = _HEAD.unpack_from(slot)
    if phase not in PHASE_NAMES or any(slot[_R["reserved"].offset : _R["reserved"].end]) \
            or any(slot[_R["padding"].offset : _R["padding"].end]):
        return None
    return Record(sequence, digest, PHASE_NAMES[phase], entry, done)


class Journal:
    """The journal area: the first two sectors of ``flash``."""

    def __init__(self, flash: NorFlash):
        self.flash = flash
        self.areas = flash.sectors[: wn.JOURNAL_AREAS]
        if len(self.areas) < wn.JOURNAL_AREAS or min(size for _, size in self.areas) < wn.JOURNAL_RECORD_SIZE:
            raise ValueError(f"{flash.name}: a journal needs {wn.JOURNAL_AREAS} sectors of at least "
                             f"{wn.JOURNAL_RECORD_SIZE} bytes")
        self._area: int | None = None  # the sector this boot writes, once it has written
        self._next: int | None = 0  # its next free slot (None: full)
        self._sequence = 0

    def boot(self) -> None:
        """Forget what this boot wrote (RAM state): the next record starts a fresh sector."""
        self._area, self._next = None, 0

    def latest_in(self) -> tuple[Record | None, int | None]:
        """The newest valid record and the sector holding it (None, None: none)."""
        best, where = None, None
        size = wn.JOURNAL_RECORD_SIZE
        for area, (start, length) in enumerate(self.areas):
            data = self.flash.read(start, length)
            # Only slots starting with the magic can hold a record (a device
            # compares the four bytes first, then the CRC).
            offset = data.find(wn.JOURNAL_MAGIC)
            while 0 <= offset <= length - size:
                if offset % size == 0:
                    record = parse_record(data[offset : offset + size])
                    if record is not None and (best is None or record.sequence > best.sequence):
                        best, where = record, area
                    offset = data.find(wn.JOURNAL_MAGIC, offset + size)
                else:
                    offset = data.find(wn.JOURNAL_MAGIC, offset - offset % size + size)
        return best, where

    def latest(self) -> Record | None:
        """The newest valid record, or None (an empty or unreadable journal)."""
        return self.latest_in()[0]

    def append(self, digest: bytes, phase: str, entry: int, done: int) -> Record:
        """Write the next record (one program of one slot; a sector erase before
        the first record of a boot and whenever the sector in use is full)."""
        if self._area is None:  # the first record of this boot
            newest, area = self.latest_in()
            self._sequence = 0 if newest is None else newest.sequence + 1
            self._start_area(0 if area is None else 1 - area)
        elif self._next is None:  # the sector in use is full
            self._start_area(1 - self._area)
        record = Record(self._sequence, digest, phase, entry, done)
        self.flash.write(self._next, record.to_bytes())
        self._sequence += 1
        following = self._next + wn.JOURNAL_RECORD_SIZE
        start, size = self.areas[self._area]
        self._next = following if following + wn.JOURNAL_RECORD_SIZE <= start + size else None
        return record

    def _start_area(self, area: int) -> None:
        start, _ = self.areas[area]
        self.flash.erase_at(start)
        self._area, self._next = area, start
