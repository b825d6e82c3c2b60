"""Restoring a ``delta-in-place`` partition over itself (docs/formats/delta-in-place.md).

Both restores use this: without a journal (``engine``) and journaled
(``resume``); the flash sequence is the same apart from the journal records.

- ``stage`` (``restore:NAME``, nothing live written): the saved old sectors
  are copied to their scratch slots, then the **proving pass** decodes the
  whole stream, checks every rule and hashes the write-order output, which
  ``target:NAME`` compares with the stream's ``write_order_sha256``;
- ``commit_entry`` (``commit``): the stream is decoded again and each
  write-order chunk programmed over its own physical sector, through the
  swap sector when the chunk read that sector's old bytes; a resumed run
  replays the stream in skip mode up to the journal's offset.

Standard library only.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Callable

from otapack.core.formats.wire_numbers import DELTA_VERSIONS, IN_PLACE_OPERATIONS
from otapack.core.restore.delta import Work, apply_delta, read_stream_header
from otapack.core.restore.flash import SimFlash
from otapack.core.restore.in_place_tables import InPlaceTables, WriteOrder
from otapack.errors import CorruptPatchError, TargetMismatchError

if TYPE_CHECKING:
    from otapack.core.restore.engine import Restore

#: Called with (phase, done) after each unit: journal records (None: no journal).
Recorder = Callable[[str, int], None] | None


class InPlaceSink:
    """The write-order output of the stream and the old reads it makes.

    ``read_old`` is called just before the bytes it reads are written (the
    patch applier does so), so the output offset tells which chunk reads.
    Output before ``skip`` is only counted: its reads are checked, never made.
    ``emit(chunk, data, own)`` receives each complete chunk from ``skip`` on
    (``own``: it read old bytes of its own sector)."""

    def __init__(self, tables: InPlaceTables, order: WriteOrder, live, saves, where: str,
                 emit: Callable[[int, bytes, bool], None] | None, skip: int = 0):
        self.tables, self.order, self.live, self.where = tables, order, live, where
        self.saved = {sector: index for index, sector in enumerate(tables.saves)}
        self.read_save = saves  # (save index, offset in the sector, length) -> bytes
        self.emit, self.skip = emit, skip
        self.out = 0
        self.chunk = 0
        self.buffer = bytearray()
        self.own: set[int] = set()
        self.sha = hashlib.sha256()

    def read_old(self, position: int, n: int) -> bytes:
        order, block = self.order, self.tables.sector_size
        pieces = []
        at = 0
        while at < n:
            offset = self.out + at
            chunk = order.chunk_at(offset)
            sector, within = divmod(position + at, block)
            k = min(n - at, order.start(chunk) + order.length(chunk) - offset, block - within)
            skipping = offset < self.skip
            if sector in self.saved:
                pieces.append(bytes(k) if skipping else self.read_save(self.saved[sector], within, k))
            else:
                if sector < order.count:
                    if order.rank[sector] < chunk:
                        raise CorruptPatchError(f"{self.where}: old sector {sector} read after it was overwritten "
                                                f"(write-order chunk {chunk})")
                    if order.rank[sector] == chunk:
                        self.own.add(chunk)
                pieces.append(bytes(k) if skipping else self.live.read(position + at, k))
            at += k
        return b"".join(pieces)

    def write(self, data: bytes) -> None:
        if self.out >= self.skip:
            self.sha.update(data)
        self.out += len(data)
        if self.emit is None:
            return
        view = memoryview(data)
        while view:
            room = self.order.length(self.chunk) - len(self.buffer)
            self.buffer += view[:room]
            view = view[room:]
            if len(self.buffer) == self.order.length(self.chunk):
                if self.order.start(self.chunk) >= self.skip:
                    self.emit(self.chunk, bytes(self.buffer), self.chunk in self.own)
                self.own.discard(self.chunk)
                self.buffer.clear()
                self.chunk += 1


class _Proven:
    """What ``target:NAME`` compares for an in-place partition: the write-order hash."""

    def __init__(self, sha, expected: bytes):
        self.sha, self.expected = sha, expected


def tables_of(restore: "Restore", e) -> InPlaceTables:
    return restore._priced[e.name].patch.in_place


def layout(restore: "Restore", header, base: int) -> tuple[dict[str, int], int]:
    """Scratch offsets from ``base`` (after the staged partitions): each
    in-place partition's first save slot in table order, then the swap sector."""
    block, slots = header.erase_block, {}
    for e in header.entries:
        if e.operation in IN_PLACE_OPERATIONS:
            slots[e.name] = base
            base += len(tables_of(restore, e).saves) * block
    return slots, base


def replay(restore: "Restore", header, e, sink: InPlaceSink) -> None:
    """Decode ``e``'s stream from its start through ``sink``, holding the buffers the engine holds."""
    dev, priced = restore.device, restore._priced[e.name]
    where = f"partition {e.name!r}"
    reader = restore._forward(e.payload_offset)
    stream = restore._decoder(header, e, reader, priced.lclp)
    restore.ram.hold("write buffer", dev.erase_block)
    patch = read_stream_header(stream, where, DELTA_VERSIONS[e.operation])  # as priced
    restore.ram.hold("in-place tables", patch.in_place.ram)
    work = Work()  # the work bound counts one pass's tuples against that pass's output
    apply_delta(stream, sink.read_old, e.source_size, sink, e.target_size, restore.ram, where, patch,
                extra_capacity=priced.extra_capacity, work=work)
    for name in ("windows", "tuples", "diff_pairs"):
        setattr(restore.work, name, getattr(restore.work, name) + getattr(work, name))
    stream.finish()
    for name in ("control tuples", "extra buffer", "old read", "lzma decoder", "write buffer", "in-place tables"):
        restore.ram.release(name)
    restore.result.package_bytes_read += reader.bytes_read
    restore.result.decompress_calls += stream.decompress_calls


def _save_reader(scratch, base: int, block: int):
    return lambda index, within, k: scratch.read(base + index * block + within, k)


def stage(restore: "Restore", header, e, scratch, base: int, c, *, write_saves: bool = True) -> _Proven:
    """``restore:NAME``: the saves into scratch at ``base`` (unless already
    there), then the proving pass."""
    tables, block = tables_of(restore, e), header.erase_block
    live = restore.device.partitions[e.name].flash
    if write_saves:
        for index, sector in enumerate(tables.saves):
            at = base + index * block
            scratch.erase(at // block)
            scratch.write(at, live.read(sector * block, min(block, live.size - sector * block)))
    sink = InPlaceSink(tables, WriteOrder(tables, e.target_size), live, _save_reader(scratch, base, block),
                       f"partition {e.name!r}", None)
    replay(restore, header, e, sink)
    c.detail = (f"delta-in-place: {e.payload_length} payload bytes -> {e.target_size} bytes proven in "
                f"{len(tables.segments)} segments, {len(tables.saves)} saved sectors (written at commit)")
    return _Proven(sink.sha, tables.write_order_sha256)


def commit_entry(restore: "Restore", header, e, scratch, base: int, swap: int, record: Recorder = None,
                 resume: tuple[str, int] | None = None, skip_swap: bool = False) -> None:
    """``commit`` of one in-place partition; ``resume``: the journal's
    (phase, done) for it.  ``skip_swap``: the negative control (never park a chunk)."""
    tables, block = tables_of(restore, e), header.erase_block
    part = restore.device.partitions[e.name]
    live, order = part.flash, WriteOrder(tables, e.target_size)
    part.written = True
    if part.resizable:
        part.size = e.target_size

    def program(chunk: int, data: bytes, done: int) -> None:
        sector = order.sector[chunk]
        live.erase(sector)
        live.write(sector * block, data)
        if record:
            record("commit", done + len(data))

    skip = 0
    if resume is not None:
        phase, skip = resume
        if phase == "swap":  # the chunk at ``skip`` is parked: its live sector may be half-erased
            chunk = order.chunk_at(skip)
            program(chunk, scratch.read(swap, order.length(chunk)), skip)
            skip += order.length(chunk)

    def emit(chunk: int, data: bytes, own: bool) -> None:
        done = order.start(chunk)
        if own and not skip_swap:
            scratch.erase(swap // block)
            scratch.write(swap, data)
            if record:
                record("swap", done)
        program(chunk, data, done)

    if skip < e.target_size:
        sink = InPlaceSink(tables, order, live, _save_reader(scratch, base, block), f"partition {e.name!r}", emit,
                           skip)
        replay(restore, header, e, sink)
    for sector in range(order.count, live.size // block):  # the slot after the target: erased, as staged
        live.erase(sector)
    sha = hashlib.sha256()
    for position in range(0, e.target_size, block):
        sha.update(live.read(position, min(block, e.target_size - position)))
    if sha.digest() != e.target_sha256:
        raise TargetMismatchError(f"partition {e.name!r}: committed data hashes to {sha.hexdigest()}, "
                                  f"package declares {e.target_sha256.hex()}")


# ------------------------------------------------------------ without a journal

def scratch_area(restore: "Restore", header) -> tuple[SimFlash, dict[str, int], int]:
    """The restore's scratch for in-place partitions (saves, then the swap
    sector), held in the scratch meter; made once per run."""
    area = getattr(restore, "_in_place_area", None)
    if area is None:
        slots, swap = layout(restore, header, 0)
        dev = restore.device
        restore.scratch.hold("in-place saves and swap", swap + header.erase_block)
        flash = SimFlash.holding(b"", swap + header.erase_block, header.erase_block, dev.erased_value,
                                 "scratch (in place)")
        area = restore._in_place_area = (flash, slots, swap)
    return area


def stage_unjournaled(restore: "Restore", header, e, c) -> _Proven:
    flash, slots, _ = scratch_area(restore, header)
    return stage(restore, header, e, flash, slots[e.name], c)


def commit_unjournaled(restore: "Restore", header) -> int:
    """Every in-place partition, in table order; how many."""
    entries = [e for e in header.entries if e.operation in IN_PLACE_OPERATIONS]
    if entries:
        flash, slots, swap = scratch_area(restore, header)
        for e in entries:
            commit_entry(restore, header, e, flash, slots[e.name], swap)
    return len(entries)
