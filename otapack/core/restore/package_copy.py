"""A package downloaded into partition slots that the restore rewrites
(docs/verifier.md, "The package in the download area").

A minimal-system stage 2 is downloaded into a slot it rewrites (the
example's ``customer_fs``).  On a journaled device whose ``ResumeArea``
names such slots (``download``), the package lives in their flash: every
boot reads it from there (``FlashPackage``), so a restore that overwrote it
could no longer verify it.  The rules:

- at ``resources``, before any write: every payload partition over the
  download area is a ``replace`` (a delta's source was destroyed by the
  download) and comes after every other payload partition in table order
  (committed last); the copy below fits the scratch area after the staged
  partitions and in-place saves.  Otherwise ``ResourceLimitError``;
- at ``commit``, once the other partitions are written and before the first
  erase over the package: the header and the compressed payloads of those
  partitions are copied to the end of the scratch area, read back and
  checked, then the copy's descriptor (length, package digest, SHA-256 of
  the copy) is programmed and the record ``copied`` written.  Those
  partitions are then committed from the copy, their records in phase
  ``copied``;
- a boot whose newest record is ``copied`` (the package may be gone) takes
  the copy instead of the download area: the descriptor must name the
  record's package and the copy must hash to the descriptor's SHA-256 (it
  was checked against the package verified on the boot that copied it);
  then the commit resumes from the record.  While the record is older than
  ``copied`` the package is intact and every boot verifies its CRC32,
  digest and signature as before.

Standard library only.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING, Callable

from otapack.core.formats import wire_numbers as wn
from otapack.core.formats.wire_numbers import HAS_PAYLOAD, IN_PLACE_OPERATIONS, STAGED_DELTA_OPERATIONS
from otapack.core.restore import wire
from otapack.core.restore.checks import Check, CheckStatus
from otapack.core.restore.pricing import check_declarations, price_payload
from otapack.core.restore.resources import copy_scratch, staged_bytes
from otapack.errors import IntegrityError, ResourceLimitError

if TYPE_CHECKING:
    from otapack.core.restore.engine import Restore

_DESCRIPTOR = struct.Struct(f"<4sI{wn.SHA256_SIZE}s{wn.SHA256_SIZE}s")
assert _DESCRIPTOR.size == wn.JOURNAL_COPY_SIZE <= wn.JOURNAL_COPY_RESERVE


class _Sequential:
    """The file a ``ForwardReader`` pulls from: ``read_at(offset, n)`` in order."""

    def __init__(self, view):
        self.view, self.position = view, 0

    def read(self, length: int) -> bytes:
        data = self.view.read_at(self.position, length)
        self.position += len(data)
        return data


class FlashPackage:
    """The downloaded package, read live from the flash of its slots (in order)."""

    def __init__(self, flashes: list, length: int):
        self.flashes, self.length = flashes, length

    def __len__(self) -> int:
        return self.length

    def read_at(self, offset: int, length: int) -> bytes:
        out, length = bytearray(), max(0, min(length, self.length - offset))
        for flash in self.flashes:
            if length and offset < flash.size:
                piece = min(length, flash.size - offset)
                out += flash.read(offset, piece)
                offset, length = 0, length - piece
            else:
                offset -= flash.size
        return bytes(out)

    def __getitem__(self, key: slice) -> bytes:
        start, stop, _ = key.indices(self.length)
        return self.read_at(start, max(0, stop - start))

    def open(self) -> _Sequential:
        return _Sequential(self)


class CopiedPackage:
    """The package as its copy in scratch holds it: the header and the copied
    payloads at their package offsets; other bytes read as zeros (never decoded)."""

    def __init__(self, scratch, base: int, spans: list[tuple[int, int]]):
        self.scratch, self.base = scratch, base
        self.spans = []  # (package offset, length, copy offset)
        at = 0
        for offset, length in spans:
            self.spans.append((offset, length, at))
            at += length

    def read_at(self, offset: int, length: int) -> bytes:
        out = bytearray(length)
        for start, size, at in self.spans:
            lo, hi = max(offset, start), min(offset + length, start + size)
            if lo < hi:
                out[lo - offset : hi - offset] = self.scratch.read(self.base + at + lo - start, hi - lo)
        return bytes(out)

    def open(self) -> _Sequential:
        return _Sequential(self)


def slots(dev) -> tuple[str, ...]:
    return dev.resume.download if getattr(dev, "resume", None) is not None else ()


def stored(dev, data: bytes):
    """What the restore reads as its package: the download area's flash when it
    is made of partition slots (``data``, the download, is already there), else ``data``."""
    names = slots(dev)
    if not names:
        return data
    return FlashPackage([dev.partitions[name].flash for name in names], len(data))


def over_package(dev, header) -> list[int]:
    """Table indices of the payload partitions whose slots hold the package."""
    names = slots(dev)
    return [i for i, e in enumerate(header.entries) if e.operation in HAS_PAYLOAD and e.name in names]


def spans(header, indices: list[int]) -> list[tuple[int, int]]:
    """What the copy holds: (package offset, length) of the header, then each payload."""
    return [(0, header.header_length)] + [(header.entries[i].payload_offset, header.entries[i].payload_length)
                                          for i in indices]


def copy_base(scratch, length: int) -> int | None:
    """Where a copy of ``length`` bytes starts: the last sector start leaving it
    room before the descriptor's reserve (None: it does not fit)."""
    limit = scratch.size - wn.JOURNAL_COPY_RESERVE
    fitting = [start for start, _ in scratch.sectors if start + length <= limit]
    return fitting[-1] if fitting else None


def check(restore: "Restore", header, in_use: Callable[["Restore", object], int]) -> None:
    """``resources``: the rules of the module docstring, before any write
    (``in_use``: the scratch bytes the staged partitions take, ``resume.scratch_in_use``)."""
    dev = restore.device
    indices = over_package(dev, header)
    if not indices:
        return
    payloads = [i for i, e in enumerate(header.entries) if e.operation in HAS_PAYLOAD]
    for i in indices:
        e = header.entries[i]
        if e.operation != "replace":
            raise ResourceLimitError(f"partition {e.name!r} holds the downloaded package: it can only be carried "
                                     f"in full (replace), not as {e.operation}")
    later = [header.entries[i].name for i in payloads if i > indices[0] and i not in indices]
    if later:
        raise ResourceLimitError(f"partition {header.entries[indices[0]].name!r} holds the downloaded package but "
                                 f"comes before {', '.join(map(repr, later))}: it must be committed last")
    if any(e.operation in IN_PLACE_OPERATIONS for e in header.entries):
        raise ResourceLimitError("a package over its own download area cannot carry in-place deltas")
    length = sum(size for _, size in spans(header, indices))
    declared = staged_bytes((e.target_size for e in header.entries if e.operation in STAGED_DELTA_OPERATIONS),
                            header.erase_block) + copy_scratch(header.header_length, [size for _, size in
                                                                                       spans(header, indices)[1:]],
                                                               header.erase_block)
    if header.scratch_flash < declared:
        raise ResourceLimitError(f"the package declares {header.scratch_flash} bytes of scratch flash, its copy over "
                                 f"its download area makes {declared}: build it naming that area")
    scratch_used = in_use(restore, header)
    base = copy_base(dev.resume.scratch, length)
    if base is None or base < scratch_used:
        need = scratch_used + length + wn.JOURNAL_COPY_RESERVE
        raise ResourceLimitError(f"the copy of the package's header and of the payloads over its download area "
                                 f"needs {need} bytes of the {dev.resume.scratch.size}-byte scratch area")


def _descriptor(scratch) -> tuple[bytes, int, bytes, bytes]:
    at = scratch.size - wn.JOURNAL_COPY_RESERVE
    return _DESCRIPTOR.unpack(scratch.read(at, _DESCRIPTOR.size))


def _hash(scratch, base: int, length: int, block: int) -> bytes:
    sha = hashlib.sha256()
    for at in range(0, length, block):
        sha.update(scratch.read(base + at, min(block, length - at)))
    return sha.digest()


def copy_out(restore: "Restore", header, digest: bytes, indices: list[int], writer_class) -> None:
    """Copy the header and the payloads of ``indices`` from the package to
    scratch, check the copy, program its descriptor; the caller then journals
    ``copied``.  Afterwards the restore reads its package from the copy."""
    dev = restore.device
    scratch, block = dev.resume.scratch, dev.erase_block
    parts = spans(header, indices)
    length = sum(size for _, size in parts)
    base = copy_base(scratch, length)
    sha = hashlib.sha256()
    sectors = writer_class(scratch, base, scratch.size, 0, block, lambda done: None)
    for offset, size in parts:
        reader = restore._forward(offset)
        for at in range(0, size, block):
            piece = reader.read(min(block, size - at))
            sha.update(piece)
            sectors.write(piece)
        restore.result.package_bytes_read += reader.bytes_read
    sectors.finish()
    if _hash(scratch, base, length, block) != sha.digest():
        raise IntegrityError("the package copy in scratch does not read back as written")
    scratch.write(scratch.size - wn.JOURNAL_COPY_RESERVE,
                  _DESCRIPTOR.pack(wn.JOURNAL_COPY_MAGIC, length, digest, sha.digest()))
    restore.stored = CopiedPackage(scratch, base, parts)


def open_copy(restore: "Restore", digest: bytes) -> tuple[int, int]:
    """A boot after ``copied``: (base, length) of the copy of package ``digest``
    in scratch, verified (IntegrityError when it is not that package's or damaged)."""
    dev = restore.device
    scratch = dev.resume.scratch
    magic, length, named, want = _descriptor(scratch)
    if magic != wn.JOURNAL_COPY_MAGIC or named != digest:
        raise IntegrityError(f"the journal says package {digest.hex()} was copied to scratch, but the scratch area "
                             f"holds no copy of it")
    base = copy_base(scratch, length)
    if base is None or _hash(scratch, base, length, dev.erase_block) != want:
        raise IntegrityError(f"the scratch copy of package {digest.hex()} is damaged")
    return base, length


def resuming(restore: "Restore"):
    """The newest record when it is ``copied`` on a device whose package is in
    partition slots: this boot restores from the copy (None: from the package)."""
    area = restore.device.resume
    if area is None or not area.download:
        return None
    area.journal.boot()
    record = area.journal.latest()
    return record if record is not None and record.phase == "copied" else None


_VERIFIED = "verified before the package in the download area was overwritten (journal phase copied)"


def run_from_copy(restore: "Restore", state, record, commit: Callable) -> None:
    """The check table on a boot after ``copied``: the copy is verified at
    ``download``, the header parsed from it, the copied payloads priced at
    ``resources``, and ``commit`` (``resume.commit``) resumes from the record;
    the checks that needed the whole package ran on the boot that copied it."""
    dev, checks = restore.device, restore.result.checks

    def skipped(*names: str, why: str = _VERIFIED) -> None:
        checks.extend(Check(name, CheckStatus.SKIPPED, why) for name in names)

    with restore.check("download") as c:
        base, length = open_copy(restore, record.package_digest)
        restore.stored = CopiedPackage(dev.resume.scratch, base, [(0, length)])
        c.detail = f"the package may be overwritten: its {length}-byte copy in scratch matches its descriptor"
    skipped("trailer", "crc32")
    with restore.check("header") as c:
        reader = restore._forward()
        prefix = reader.read(wire.FIXED_HEADER_SIZE)
        _, header_length = wire.parse_fixed(prefix)
        restore.ram.hold("header", header_length)
        header = wire.parse_header(prefix + reader.read(header_length - len(prefix)))
        indices = over_package(dev, header)
        parts = spans(header, indices)
        if not indices or sum(size for _, size in parts) != length:
            raise IntegrityError(f"the scratch copy holds {length} bytes, its header names "
                                 f"{sum(size for _, size in parts)} to copy")
        restore.stored = CopiedPackage(dev.resume.scratch, base, parts)
        state.header = restore.result.header = header
        restore.result.ram_declared, restore.result.scratch_declared = header.ram_required, header.scratch_flash
        c.detail = f"from the copy: {header.kind}, {len(indices)} partitions left to commit"
    state.digest = record.package_digest
    skipped("digest", "signature", "compatibility", "table")
    with restore.check("resources") as c:
        fixed, _ = check_declarations(header, dev.ram_budget, dev)
        for i in indices:
            e = header.entries[i]
            restore._priced[e.name] = price_payload(
                header, e, fixed, restore._forward,
                lambda entry, reader, lclp: restore._decoder(header, entry, reader, lclp), restore.ram)
        restore.ram.limit = header.ram_required if dev.ram_budget is None else min(header.ram_required,
                                                                                  dev.ram_budget)
        c.detail = f"{len(indices)} copied payloads priced"
    skipped("precondition", why="the journal stands in: the commit has begun")
    skipped("ram", why="audited on the boot that staged the package")
    with restore.check("commit") as c:
        commit(restore, state, c)
