"""The journaled, resumable restore (docs/verifier.md, "Power cuts and resume").

A device with a ``ResumeArea`` (a journal and a scratch area in NOR flash,
``Device.resume``) runs the same checks in the same order; four of them
take their journaled form from here:

- ``compatibility``: a minimal-system stage whose commit has begun no longer
  starts from its ``chain-prev-state`` (it is half-way to the next), so the
  journal stands in for that rule;
- ``precondition``: a restore of *another* package in progress is refused;
  for this package the source hash of every partition the commit may have
  touched (the entry in progress and those before it) is replaced by the
  journal; the others are hashed as before;
- ``restore:NAME`` (phase ``stage``): nothing live is written.  A ``delta``
  is patched into its place in the scratch area, sector by sector, each
  finished sector journaled; a resumed run replays the payload from its
  start and skips the sectors already written (and a partition staged
  earlier is only re-hashed from scratch: its source may be gone).  A
  ``replace`` is decoded and hashed only, so every payload is proven before
  any live partition is touched: no failure can leave a mix;
- ``commit`` (phase ``commit``): every payload partition in table order is
  written in place, a staged one copied from scratch, a ``replace`` decoded
  again from the stored package; a record naming the entry is written
  *before* its first erase, one after each finished sector, and a last
  ``done`` record once every target hash has been read back from flash.

A ``delta-in-place`` partition (``in_place``) is saved and proven in
``stage`` and written over itself in ``commit``, through the swap sector
(record ``swap``) where a chunk read its own sector; a resumed run replays
its stream in skip mode up to the record's write-order offset.

A unit of work is one erase sector of where it is written, so at most one
sector is redone after a cut.  Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from otapack.core.formats.wire_numbers import (DELTA_OPERATIONS, DELTA_VERSIONS, HAS_PAYLOAD, IN_PLACE_OPERATIONS,
                                               JOURNAL_LIVE_PHASES, STAGED_DELTA_OPERATIONS)
from otapack.core.restore import chain, in_place, package_copy
from otapack.core.restore.delta import apply_delta, read_stream_header
from otapack.core.restore.flash import FlashFault
from otapack.core.restore.journal import Journal, Record
from otapack.core.restore.nor import NorFlash
from otapack.core.restore.resources import DECODE_CHUNK, round_up
from otapack.core.restore.slots import DevicePartition
from otapack.errors import PackageFormatError, PrecursorMismatchError, ResourceLimitError, TargetMismatchError

if TYPE_CHECKING:
    from otapack.core.restore.engine import Restore

#: Deliberately wrong journal rules the power-cut sweep must catch (its
#: negative controls; ``ResumeArea.fault``, tests only):
#: ``record-before-program`` journals a sector as finished before programming it;
#: ``no-entry-record`` touches a live partition before the journal names it.
FAULTS = ("record-before-program", "no-entry-record")
#: ... and those of in-place deltas: ``skip-swap`` erases a chunk's own
#: sector without parking the chunk in the swap sector first.
IN_PLACE_FAULTS = ("skip-swap",)
#: ... and that of a package in partition slots (``package_copy``): ``skip-copy``
#: commits the partitions over the package from the package, not from a copy.
DOWNLOAD_FAULTS = ("skip-copy",)


@dataclass
class ResumeArea:
    """The flash a resumable restore keeps across reboots."""

    journal: Journal
    scratch: NorFlash
    fault: str | None = None
    #: The partitions whose slots hold the downloaded package, in order (the
    #: download area of its phase); empty: the package is kept elsewhere.
    download: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS + IN_PLACE_FAULTS + DOWNLOAD_FAULTS:
            raise ValueError(f"unknown journal fault {self.fault!r}")


def pending(area: ResumeArea | None) -> bytes | None:
    """For the bootloader: the body digest of the package whose commit is in
    progress (live partitions may be mixed: run the restore again, boot nothing),
    or None.  A restore cut while staging touched only scratch flash: the
    device holds OLD and boots it, and any package may start over."""
    record = area.journal.latest() if area is not None else None
    return record.package_digest if record is not None and record.phase in JOURNAL_LIVE_PHASES else None


def _mine(restore: "Restore", state) -> Record | None:
    """The newest record when it is this package's.  A ``done`` record counts only
    while every payload partition still reads back as its target (the flash may
    have been rewritten since): otherwise the package is applied afresh."""
    record = restore.device.resume.journal.latest()
    if record is None or record.package_digest != state.digest:
        return None
    if record.phase == "done":
        dev = restore.device
        for e in state.header.entries:
            part = dev.partitions.get(e.name)
            if e.operation in HAS_PAYLOAD and (part is None or _Read(part.flash, 0, e.target_size, dev.erase_block)
                                               .sha.digest() != e.target_sha256):
                return None
    return record


def commit_begun(restore: "Restore", state) -> bool:
    """Live partitions may differ from the package's base: its commit has begun."""
    record = _mine(restore, state)
    return record is not None and record.phase in JOURNAL_LIVE_PHASES + ("done",)


def _touched(record: Record | None, index: int) -> bool:
    """Whether table entry ``index`` may already hold (part of) its target."""
    if record is None or record.phase == "stage":
        return False
    return record.phase == "done" or index <= record.entry


def unwritten(restore: "Restore", state, c):
    """``precondition``: the header whose source hashes are still to be checked
    (the journal stands in for the others); refuses while another package's
    commit is in progress."""
    digest = state.digest
    restore.device.resume.journal.boot()  # a run is a boot: no RAM state survives a cut
    newest = restore.device.resume.journal.latest()
    if newest is not None and newest.phase in JOURNAL_LIVE_PHASES and newest.package_digest != digest:
        raise PrecursorMismatchError(
            f"the restore of package {newest.package_digest.hex()} is in progress; it must finish before "
            f"package {digest.hex()} can be applied")
    record = _mine(restore, state)
    entries = state.header.entries
    kept = [e for i, e in enumerate(entries) if e.operation == "keep" or not _touched(record, i)]
    notes = []
    if record is not None:
        notes.append(f"resuming phase {record.phase} at entry {record.entry} (+{record.done} bytes)")
    if len(kept) < len(entries):
        notes.append(f"the journal stands in for {len(entries) - len(kept)} partitions being written")
    c.detail = "; ".join(notes) or "no live flash written yet"
    return dataclasses.replace(state.header, entries=kept)


class SectorWriter:
    """Writes a stream at ``base`` of ``flash``, one sector at a time (erased just
    before its first program), through a write buffer of ``piece`` bytes; the
    first ``start`` bytes (whole sectors already finished) are only counted.
    ``finished(done)`` runs after each sector, with the bytes of the stream done;
    ``finish`` erases the sectors left up to ``end``."""

    def __init__(self, flash: NorFlash, base: int, end: int, start: int, piece: int,
                 finished: Callable[[int], None], fault: str | None = None):
        self.flash, self.base, self.end, self.piece = flash, base, end, piece
        self.skip = start
        self.position = 0
        self.cursor = base + start
        self.buffer = bytearray()
        self.sector_end: int | None = None
        self.finished = finished
        self.fault = fault

    def write(self, data: bytes) -> None:
        if self.position < self.skip:
            drop = min(len(data), self.skip - self.position)
            self.position += drop
            data = data[drop:]
        if self.cursor + len(self.buffer) + len(data) > self.end:
            raise FlashFault(f"{self.flash.name}: restore writes past {self.end}")
        self.position += len(data)
        self.buffer += data
        self._flush(final=False)

    def _open(self) -> None:
        if self.sector_end is None:
            start, size = self.flash.sector_at(self.cursor)
            if start != self.cursor:
                raise FlashFault(f"{self.flash.name}: resume at {self.cursor}, inside the sector at {start}")
            self.flash.erase_at(start)
            self.sector_end = start + size
            if self.fault == "record-before-program":
                self.finished(min(self.sector_end, self.end) - self.base)

    def _close(self) -> None:
        self.cursor, self.sector_end = self.sector_end, None
        if self.fault != "record-before-program":
            self.finished(self.cursor - self.base)

    def _flush(self, final: bool) -> None:
        while self.buffer:
            self._open()
            room = min(self.piece, self.sector_end - self.cursor)
            if len(self.buffer) < room and not final:
                return
            chunk = bytes(self.buffer[:room])
            del self.buffer[:room]
            self.flash.write(self.cursor, chunk)
            self.cursor += len(chunk)
            if self.cursor == self.sector_end:
                self._close()

    def finish(self) -> None:
        self._flush(final=True)
        if self.sector_end is not None:  # the last data sector: its rest is erased
            self._close()
        while self.cursor < self.end:
            self._open()
            self._close()


class _Hashing:
    def __init__(self, sink):
        self.sink, self.sha = sink, hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        if self.sink is not None:
            self.sink.write(data)


class _Read:
    """What ``target:NAME`` compares: the hash of bytes already in flash."""

    def __init__(self, flash, base: int, size: int, block: int):
        self.sha = hashlib.sha256()
        for position in range(0, size, block):
            self.sha.update(flash.read(base + position, min(block, size - position)))


def _placement(restore: "Restore", header) -> dict[int, tuple[int, int]]:
    """Where each delta entry is staged: (base, end) in the scratch area,
    each from a sector boundary, in table order."""
    scratch = restore.device.resume.scratch
    out, base = {}, 0
    for index, e in enumerate(header.entries):
        if e.operation not in STAGED_DELTA_OPERATIONS:
            continue
        end = base + e.target_size
        if end > scratch.size:
            raise ResourceLimitError(f"partition {e.name!r}: staging needs {end} bytes of the "
                                     f"{scratch.size}-byte scratch area")
        while end < scratch.size and scratch.sector_at(end)[0] != end:
            end = sum(scratch.sector_at(end))
        out[index] = (base, min(end, scratch.size))
        base = out[index][1]
    return out


def scratch_in_use(restore: "Restore", header) -> int:
    """Bytes from the start of the scratch area the staged partitions take."""
    return max((end for _, end in _placement(restore, header).values()), default=0)


def _record(restore: "Restore", digest: bytes, phase: str, entry: int) -> Callable[[int], None]:
    journal = restore.device.resume.journal
    return lambda done: journal.append(digest, phase, entry, done)


def _decode(restore: "Restore", header, e, sink, c) -> None:
    """Replay ``e``'s payload from its start into ``sink`` (a replace target or a
    patch's output), holding the buffers the engine holds."""
    dev, priced = restore.device, restore._priced[e.name]
    reader = restore._forward(e.payload_offset)
    stream = restore._decoder(header, e, reader, priced.lclp)
    restore.ram.hold("write buffer", dev.erase_block)
    if e.operation == "replace":
        if e.uncompressed_length != e.target_size:
            raise PackageFormatError(f"partition {e.name!r}: replace payload decodes to {e.uncompressed_length} "
                                     f"bytes, target is {e.target_size}")
        done = 0
        while done < e.target_size:
            piece = min(DECODE_CHUNK, e.target_size - done)
            sink.write(stream.read(piece))
            done += piece
    else:
        part = dev.partitions[e.name]
        patch = read_stream_header(stream, f"partition {e.name!r}", DELTA_VERSIONS[e.operation])
        apply_delta(stream, part.flash.read, e.source_size, sink, e.target_size, restore.ram,
                    f"partition {e.name!r}", patch, extra_capacity=priced.extra_capacity, work=restore.work)
    stream.finish()
    for name in ("control tuples", "extra buffer", "old read", "lzma decoder", "write buffer"):
        restore.ram.release(name)
    restore.result.package_bytes_read += reader.bytes_read
    restore.result.decompress_calls += stream.decompress_calls


def restore_partition(restore: "Restore", state, e, c):
    """``restore:NAME``, phase ``stage``: returns what ``target:NAME`` hashes."""
    header, digest, dev = state.header, state.digest, restore.device
    area = dev.resume
    index = header.entries.index(e)
    record = _mine(restore, state)
    if e.operation == "replace":
        writer = _Hashing(None)
        _decode(restore, header, e, writer, c)
        c.detail = f"replace: {e.payload_length} payload bytes -> {e.target_size} bytes, proven (written at commit)"
        return writer
    if e.operation in IN_PLACE_OPERATIONS:
        return _stage_in_place(restore, state, e, index, record, c)
    base, end = _placement(restore, header)[index]
    restore.scratch.hold(f"staging {e.name}", round_up(e.target_size, dev.erase_block))
    if record is not None and (record.phase != "stage" or index < record.entry):
        c.detail = f"delta: staged by an earlier run; {e.target_size} bytes re-hashed from scratch"
        return _Read(area.scratch, base, e.target_size, dev.erase_block)
    start = record.done if record is not None and index == record.entry else 0
    sectors = SectorWriter(area.scratch, base, end, start, dev.erase_block, _record(restore, digest, "stage", index),
                           area.fault)
    writer = _Hashing(sectors)
    _decode(restore, header, e, writer, c)
    sectors.finish()
    if writer.sha.digest() == e.target_sha256:
        area.journal.append(digest, "stage", index + 1, 0)
    c.detail = (f"delta: {e.payload_length} payload bytes -> {e.target_size} bytes staged"
                + (f", resumed after {start} bytes" if start else ""))
    return writer


def commit(restore: "Restore", state, c) -> None:
    """``commit``, phase ``commit``: every payload partition in place, resumable."""
    header, digest, dev = state.header, state.digest, restore.device
    area = dev.resume
    record = _mine(restore, state)
    payloads = [i for i, e in enumerate(header.entries) if e.operation in HAS_PAYLOAD]
    placement = _placement(restore, header)
    written = 0
    if record is None or record.phase != "done":
        live = record is not None and record.phase in JOURNAL_LIVE_PHASES
        resume_at, done = (record.entry, record.done) if live else (-1, 0)
        over = [] if area.fault == "skip-copy" else package_copy.over_package(dev, header)
        copied = record is not None and record.phase == "copied"
        for index in (i for i in payloads if i >= resume_at):
            e = header.entries[index]
            start = done if index == resume_at else 0
            phase = "copied" if index in over else "commit"
            if index in over and not copied:  # before the first erase over the package
                package_copy.copy_out(restore, header, digest, over, SectorWriter)
                area.journal.append(digest, "copied", index, 0)  # also names the partition
                copied = True
            elif index != resume_at and area.fault != "no-entry-record":
                area.journal.append(digest, phase, index, 0)  # before the partition's first erase
            if e.operation in IN_PLACE_OPERATIONS:
                slots, swap = _in_place_area(restore, header)
                in_place.commit_entry(restore, header, e, area.scratch, slots[e.name], swap,
                                      _record_phase(restore, digest, index),
                                      (record.phase, done) if index == resume_at else None, area.fault == "skip-swap")
                written += 1
                continue
            part = _slot(restore, e)
            flash = restore._region(part, e.target_size)
            sectors = SectorWriter(flash, 0, flash.size, start, dev.erase_block,
                                   _record(restore, digest, phase, index), area.fault)
            if e.operation in DELTA_OPERATIONS:
                base = placement[index][0]
                for position in range(0, e.target_size, dev.erase_block):
                    sectors.write(area.scratch.read(base + position, min(dev.erase_block, e.target_size - position)))
            else:
                _decode(restore, header, e, sectors, c)
            sectors.finish()
            have = _Read(flash, 0, e.target_size, dev.erase_block).sha.digest()
            if have != e.target_sha256:
                raise TargetMismatchError(f"partition {e.name!r}: committed data hashes to {have.hex()}, "
                                          f"package declares {e.target_sha256.hex()}")
            written += 1
        area.journal.append(digest, "done", len(header.entries), 0)
    dev.expected_next = chain.next_expected(header)
    c.detail = f"{written} partitions written in place from the journal's position"
    if dev.expected_next is not None:
        c.detail += f"; the device now accepts only package {dev.expected_next.hex()[:16]}…"


def _record_phase(restore: "Restore", digest: bytes, entry: int) -> Callable[[str, int], None]:
    journal = restore.device.resume.journal
    return lambda phase, done: journal.append(digest, phase, entry, done)


def _in_place_area(restore: "Restore", header) -> tuple[dict[str, int], int]:
    """In-place save slots and the swap sector, after the staged partitions in scratch."""
    staged_end = max((end for _, end in _placement(restore, header).values()), default=0)
    slots, swap = in_place.layout(restore, header, staged_end)
    scratch = restore.device.resume.scratch
    if swap + header.erase_block > scratch.size:
        raise ResourceLimitError(f"in-place saves and the swap sector need {swap + header.erase_block} bytes of "
                                 f"the {scratch.size}-byte scratch area")
    return slots, swap


class _Declared:
    def __init__(self, digest: bytes):
        self._digest = digest

    def digest(self) -> bytes:
        return self._digest


def _stage_in_place(restore: "Restore", state, e, index: int, record: Record | None, c):
    """``restore:NAME`` of an in-place partition: saves and the proving pass,
    unless the commit has begun (then the journal stands for both)."""
    slots, swap = _in_place_area(restore, state.header)
    tables = in_place.tables_of(restore, e)
    restore.scratch.hold("in-place swap sector", state.header.erase_block)
    restore.scratch.hold(f"in-place saves {e.name}", len(tables.saves) * state.header.erase_block)
    if record is not None and record.phase != "stage":
        c.detail = "delta-in-place: proven by an earlier run (the journal reached commit)"
        return in_place._Proven(_Declared(tables.write_order_sha256), tables.write_order_sha256)
    passed = record is not None and index < record.entry  # saved and proven by an earlier run
    proven = in_place.stage(restore, state.header, e, restore.device.resume.scratch, slots[e.name], c,
                            write_saves=not passed)
    if not passed and proven.sha.digest() == proven.expected:
        restore.device.resume.journal.append(state.digest, "stage", index + 1, 0)
    return proven


def _slot(restore: "Restore", e) -> DevicePartition:
    dev = restore.device
    part = dev.partitions.get(e.name)
    if part is None:  # a blank device without a layout: a slot as large as the target
        flash = NorFlash.holding(b"", e.target_size, dev.erase_block, dev.erased_value, e.name,
                                 power=dev.resume.scratch.power)
        part = dev.partitions[e.name] = DevicePartition(e.name, e.address, flash, e.target_size, resizable=True)
    return part
