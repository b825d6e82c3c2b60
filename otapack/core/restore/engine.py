"""The device restore, step by step, in the order a device must run it.

1. ``download``      store the package in the download area (bounded)
2. ``trailer``       find the trailer at the end; total length must match
3. ``crc32``         the modem's cheap whole-file check
4. ``header``        parse header and table (bounded, forward)
5. ``digest``        SHA-256 of header+table+payloads against the trailer
6. ``signature``     signature over that digest (when signed or required)
7. ``compatibility`` model, security counter, erase block, board, layout,
                     minimal-system chain (``otapack.core.restore.chain``)
8. ``table``         payload tiling, partitions exist at their addresses, fit
                     their slots, written slots do not overlap
9. ``resources``     declared RAM within the device budget; every LZMA2
                     payload decoded once in full (``pricing``); patch
                     windows within the declared RAM
10. ``precondition`` SHA-256 of the first source (delta) or target (keep)
                     bytes of each such slot: the last check before the
                     first flash write
11. ``restore:NAME`` decode/patch each partition into flash
12. ``target:NAME``  SHA-256 of what was written
13. ``ram``          measured peak RAM within the declared figure
14. ``commit``       staged partitions copied into place

The order, names and functions are one table, ``CHECKS`` (end of this
module): ``Restore`` runs it as a loop, and the names reach the report, the
CLI, the JSON, docs/verifier.md (a test compares) and the C library
(``OTA_CHECK_*`` in ``device/include/ota_wire.h``, generated from it).

Quectel modules store the whole package before applying it, so the digest
and signature are checked over the stored copy before anything is decoded.
Standard library only: signature checking is injected by the caller.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from otapack.errors import (IncompatibleDeviceError, IntegrityError, OtapackError, PackageFormatError,
                            PrecursorMismatchError, ResourceLimitError, RollbackError, TargetMismatchError,
                            TruncatedPackageError, UsageError)
from otapack.core.formats.wire_numbers import (DELTA_OPERATIONS, DELTA_VERSIONS, HAS_PAYLOAD, IN_PLACE_OPERATIONS,
                                               TRAILER_CRC_TAIL, max_stream_length)
from otapack.core.restore import chain, in_place, package_copy, resume, slots, wire
from otapack.core.restore.checks import Check, CheckSpec, CheckStatus, Failure, RestoreResult, at as _at
from otapack.core.restore.delta import Work, apply_delta, read_stream_header
from otapack.core.restore.extensions import layout_difference, layout_digest
from otapack.core.restore.flash import FlashWriter, SimFlash
from otapack.core.restore.pricing import Priced, check_declarations, check_scratch, price_payload
from otapack.core.restore.resources import DECODE_CHUNK, RamMeter, round_up
from otapack.core.restore.slots import DevicePartition
from otapack.core.restore.stream import ForwardReader, LzmaReader, RawReader


@dataclass
class Device:
    """The simulated module: its partitions and what it knows about itself."""

    partitions: dict[str, DevicePartition] = field(default_factory=dict)
    erase_block: int = 4096
    erased_value: int = 0xFF
    model: str | None = None
    security_counter: int | None = None
    ram_budget: int | None = None
    #: Bytes of the download area while the firmware runs (phase 1) ...
    download_capacity: int | None = None
    #: ... and while a minimal system runs (phase 2, where a minimal-stage2
    #: package is downloaded); None: the phase-1 area.
    minimal_download_capacity: int | None = None
    #: Called with (slot bytes, body digest); raises SecurityError.  Returns a
    #: one-line detail.  None: unsigned packages pass, signed ones are only
    #: reported (no key to check them with).
    signature_check: Callable[[bytes, bytes], str] | None = None
    #: After a stage 1, the ``chain-next-package`` digest it names: the device
    #: keeps it across the reboot and accepts no other package until that one
    #: is installed (``otapack.core.restore.chain``).
    expected_next: bytes | None = None
    #: A blank device whose layout is unknown: a ``replace`` partition it does
    #: not have is made at the package's address, as large as its target.
    create_missing: bool = False
    #: Board/hardware identifier; a package binding another one is refused.
    hardware_id: str | None = None
    #: Checks switched off by the caller; only those the table marks
    #: ``can_disable`` (UsageError otherwise).
    disabled_checks: frozenset[str] = frozenset()
    engine: str = "python"  #: "python", "c" or "both": the restore that runs (restore/engines.py)
    #: (name, address, size) of the device's whole layout when it has slots
    #: no partition here stands for (a PAC fills only some of a layout's).
    layout_slots: tuple[tuple[str, int, int], ...] | None = None
    #: Journal and scratch flash kept across reboots: the restore is then
    #: journaled and resumable (``otapack.core.restore.resume``).
    resume: resume.ResumeArea | None = None

    def __post_init__(self) -> None:
        self.disabled_checks = check_disable(self.disabled_checks)

    def layout_digest(self) -> bytes | None:
        """Digest of this device's partition layout, or None when slots are unknown."""
        if self.layout_slots is not None:
            return layout_digest(self.layout_slots)
        parts = list(self.partitions.values())
        if not parts or self.create_missing or any(p.resizable for p in parts):
            return None
        return layout_digest((p.name, p.address, p.size) for p in parts)

    def download_area(self, first_chunk: bytes) -> int | None:
        """The download area of the phase a package is downloaded in: phase 2
        (the minimal system runs) for a minimal-stage2 package, else phase 1."""
        if wire.kind_at(first_chunk) == chain.STAGE_KINDS[1] and self.minimal_download_capacity is not None:
            return self.minimal_download_capacity
        return self.download_capacity

    def image(self, name: str) -> bytes:
        """The bytes of a slot."""
        return self.partitions[name].read()


@dataclass
class _State:
    """What one run's checks hand on to the later ones."""

    source: Any
    total: int = 0
    trailer: wire.Trailer | None = None
    body_length: int = 0
    body_sha: Any = None  # SHA-256 of [0, body_length), fed by the crc32 pass
    digest: bytes = b""
    header: wire.Header | None = None
    reader: ForwardReader | None = None  # the one forward pass over the payloads
    writer: Any = None  # the partition being restored (hashes what it writes)


class _HashingWriter:
    def __init__(self, writer: FlashWriter):
        self.writer = writer
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.writer.write(data)


class Restore:
    """One run of the restore against a device; ``run`` never raises OtapackError."""

    def __init__(self, device: Device):
        self.device = device
        self.result = RestoreResult()
        self.ram = RamMeter(limit=device.ram_budget)
        self.scratch = RamMeter(what="scratch flash")
        self.work = Work()
        #: What the resources check priced per payload partition (by name).
        self._priced: dict[str, Priced] = {}
        self.stored = b""
        self._staged: list[tuple[DevicePartition, SimFlash, int]] = []
        # Flash counters before this run (a device may run several packages).
        self._counters = {id(p.flash): (p.flash.blocks_erased, p.flash.bytes_written)
                          for p in device.partitions.values()}

    @contextmanager
    def check(self, name: str):
        entry = Check(name, CheckStatus.PASS)
        self.result.checks.append(entry)
        try:
            yield entry
        except OtapackError as exc:
            entry.status = CheckStatus.FAIL
            entry.detail = str(exc)
            raise

    def run(self, package: io.BufferedIOBase | bytes) -> RestoreResult:
        source = io.BytesIO(package) if isinstance(package, (bytes, bytearray)) else package
        try:
            self._run(source)
        except OtapackError as exc:
            self.result.error, self.result.failure = exc, Failure.of(self.result.checks, exc)
            done = {c.name.split(":")[0] for c in self.result.checks}
            for spec in CHECKS:
                if spec.name not in done and not spec.per_partition:
                    self.result.checks.append(Check(spec.name, CheckStatus.SKIPPED))
        self.result.ram_peak = self.ram.peak
        self.result.scratch_peak = self.scratch.peak
        self.result.tuples, self.result.diff_pairs = self.work.tuples, self.work.diff_pairs
        flashes = [p.flash for p in self.device.partitions.values()] + [s for _, s, _ in self._staged]
        before = [self._counters.get(id(f), (0, 0)) for f in flashes]
        self.result.blocks_erased = sum(f.blocks_erased - b[0] for f, b in zip(flashes, before))
        self.result.bytes_written = sum(f.bytes_written - b[1] for f, b in zip(flashes, before))
        return self.result

    def _forward(self, start: int = 0) -> ForwardReader:
        reader = ForwardReader(io.BytesIO(self.stored) if isinstance(self.stored, bytes) else self.stored.open(), self.ram)
        reader.skip_to(start)
        return reader

    def _run(self, source) -> None:
        """The table in order; per-partition checks go once over the payload partitions (one forward pass)."""
        state = _State(source)
        if (copied := package_copy.resuming(self)) is not None:  # the package may be gone: its copy rules
            return package_copy.run_from_copy(self, state, copied, resume.commit)
        for per_partition, group in itertools.groupby(CHECKS, key=lambda spec: spec.per_partition):
            if per_partition:
                self._partition_pass(state, list(group))
            else:
                for spec in group:
                    self._one(spec, state)

    def _one(self, spec: CheckSpec, state: _State, entry: wire.Entry | None = None) -> None:
        name = spec.name if entry is None else f"{spec.name}:{entry.name}"
        if spec.name in self.device.disabled_checks:
            self.result.checks.append(Check(name, CheckStatus.SKIPPED, "disabled by the caller"))
            return
        with self.check(name) as c:
            if entry is None:
                spec.run(self, state, c)
            else:
                spec.run(self, state, c, entry)

    def _partition_pass(self, state: _State, group: list[CheckSpec]) -> None:
        state.reader = self._forward(state.header.header_length)
        for entry in state.header.entries:
            if entry.operation in HAS_PAYLOAD:
                for spec in group:
                    self._one(spec, state, entry)
                for name in ("control tuples", "extra buffer", "old read", "lzma decoder", "write buffer"):
                    self.ram.release(name)
        self.result.package_bytes_read += state.reader.bytes_read

    # ----------------------------------------------------------------- checks

    def _download(self, state: _State, c: Check) -> None:
        reader = ForwardReader(state.source, self.ram)
        stored = bytearray()
        area = None
        while True:
            chunk = reader.read_some(reader.chunk_size)
            if not chunk:
                break
            if not stored:
                area = self.device.download_area(chunk)
            stored += chunk
            if area is not None and len(stored) > area:
                raise ResourceLimitError(f"package exceeds the {area}-byte download area")
        self.stored = package_copy.stored(self.device, bytes(stored))  # partition slots: read from their flash
        self.result.package_bytes_read += reader.bytes_read
        state.total = len(self.stored)
        c.detail = f"{len(self.stored)} bytes"

    def _trailer(self, state: _State, c: Check) -> None:
        total = state.total
        trailer = wire.parse_trailer(self.stored[-wire.TRAILER_SIZE:] if total >= wire.TRAILER_SIZE else self.stored)
        if trailer.total_length != total:
            raise TruncatedPackageError(
                f"downloaded {total} bytes but the trailer declares {trailer.total_length}"
            )
        body_length = total - wire.TRAILER_SIZE - trailer.signature_length
        if body_length < wire.FIXED_HEADER_SIZE:
            raise PackageFormatError(f"signature slot of {trailer.signature_length} bytes leaves no room for a header")
        state.trailer, state.body_length = trailer, body_length
        c.detail = f"{total} bytes: body {body_length}, signature slot {trailer.signature_length}"

    def _crc32(self, state: _State, c: Check) -> None:
        body_length, trailer = state.body_length, state.trailer
        crc = 0
        sha = hashlib.sha256()
        reader = self._forward()
        crc_end = state.total - TRAILER_CRC_TAIL
        while reader.position < crc_end:
            start = reader.position
            chunk = reader.read(min(reader.chunk_size, crc_end - start))
            crc = zlib.crc32(chunk, crc)
            if start < body_length:
                sha.update(chunk[: body_length - start])
        self.result.package_bytes_read += reader.bytes_read
        if crc != trailer.crc32:
            raise IntegrityError(f"package CRC32 mismatch: trailer says {trailer.crc32:08x}, package has {crc:08x}")
        state.body_sha = sha
        c.detail = f"{crc:08x}"

    def _header(self, state: _State, c: Check) -> None:
        body_length = state.body_length
        reader = self._forward()
        prefix = reader.read(min(wire.FIXED_HEADER_SIZE, body_length))
        _, header_length = wire.parse_fixed(prefix)
        if header_length > body_length:
            raise PackageFormatError(f"header_length {header_length} runs past the body ({body_length})")
        self.ram.hold("header", header_length)
        header = wire.parse_header(prefix + reader.read(header_length - len(prefix)))
        self.result.package_bytes_read += reader.bytes_read
        if header.body_length != body_length:
            raise PackageFormatError(
                f"header body_length {header.body_length} disagrees with the trailer ({body_length})"
            )
        state.header = self.result.header = header
        self.result.ram_declared = header.ram_required
        self.result.scratch_declared = header.scratch_flash
        c.detail = f"format v{header.format_version}, {header.kind}, {len(header.entries)} partitions"

    def _digest(self, state: _State, c: Check) -> None:
        digest = state.body_sha.digest()
        if digest != state.trailer.body_sha256:
            raise IntegrityError(
                f"package SHA-256 mismatch: trailer says {state.trailer.body_sha256.hex()}, "
                f"package hashes to {digest.hex()}"
            )
        state.digest = digest
        c.detail = digest.hex()

    def _signature(self, state: _State, c: Check) -> None:
        slot = self.stored[state.body_length : state.body_length + state.trailer.signature_length]
        if self.device.signature_check is not None:
            c.detail = self.device.signature_check(slot, state.digest)
        elif slot:
            c.status, c.detail = CheckStatus.SKIPPED, "package is signed; no public key given to check it"
        else:
            c.status, c.detail = CheckStatus.SKIPPED, "unsigned package, no key required"

    def _restore(self, state: _State, c: Check, e: wire.Entry) -> None:
        if self.device.resume is not None:  # journaled: staged, resumable
            state.writer = resume.restore_partition(self, state, e, c)
            return
        state.writer = (in_place.stage_unjournaled(self, state.header, e, c) if e.operation in IN_PLACE_OPERATIONS
                        else self._restore_partition(state.header, e, state.reader, c))

    def _target(self, state: _State, c: Check, e: wire.Entry) -> None:
        have, want = state.writer.sha.digest(), getattr(state.writer, "expected", e.target_sha256)  # in place: write order
        if have != want:
            raise TargetMismatchError(f"partition {e.name!r}: restored data hashes to {have.hex()}, package declares "
                                      f"{want.hex()}" + (" (write order)" if want != e.target_sha256 else ""))
        c.detail = have.hex()

    def _ram(self, state: _State, c: Check) -> None:
        declared, scratch = state.header.ram_required, state.header.scratch_flash
        if self.ram.peak > declared:
            raise ResourceLimitError(f"restore used {self.ram.peak} bytes of RAM, the header declares {declared}")
        if self.scratch.peak > scratch:
            raise ResourceLimitError(f"restore held {self.scratch.peak} bytes of scratch flash, "
                                     f"the header declares {scratch}")
        c.detail = f"peak {self.ram.peak} of {declared} declared; scratch flash {self.scratch.peak} of {scratch}"

    def _commit(self, state: _State, c: Check) -> None:
        if self.device.resume is not None:  # journaled: in place, resumable
            return resume.commit(self, state, c)
        for part, staging, size in self._staged:
            writer = FlashWriter(self._region(part, size), size)
            position = 0
            while position < size:
                piece = min(self.device.erase_block, size - position)
                writer.write(staging.read(position, piece))
                position += piece
            writer.finish()
        # The device keeps this across the reboot: after a stage 1, only its stage 2.
        self.device.expected_next = chain.next_expected(state.header)
        c.detail = f"{len(self._staged)} staged, {in_place.commit_unjournaled(self, state.header)} in-place partitions committed"
        if self.device.expected_next is not None:
            c.detail += f"; the device now accepts only package {self.device.expected_next.hex()[:16]}…"

    def _compatibility(self, state: _State, c: Check) -> None:
        dev, header = self.device, state.header
        notes = [header.kind]
        if dev.model is not None and header.model != dev.model:
            raise IncompatibleDeviceError(f"package is for model {header.model!r}, device is {dev.model!r}")
        if dev.security_counter is not None:
            if header.security_counter < dev.security_counter:
                raise RollbackError(
                    f"package security counter {header.security_counter} is below the device's {dev.security_counter}"
                )
            notes.append(f"counter {header.security_counter} >= {dev.security_counter}")
        if header.erase_block != dev.erase_block:
            raise IncompatibleDeviceError(
                f"package is for {header.erase_block}-byte erase blocks, device has {dev.erase_block}"
            )
        wanted_hw = header.extensions.get("hardware-id")
        if wanted_hw is not None:
            hw = wanted_hw.decode("ascii", "replace")
            if dev.hardware_id is not None and hw != dev.hardware_id:
                raise IncompatibleDeviceError(f"package is for hardware {hw!r}, device is {dev.hardware_id!r}")
            notes.append(f"hardware {hw}" + ("" if dev.hardware_id is not None else " (not checked)"))
        wanted_layout = header.extensions.get("layout-digest")
        if wanted_layout is not None:
            have = dev.layout_digest()
            if have is not None and have != wanted_layout:
                differs = layout_difference(((e.name, e.address) for e in header.entries),
                                            ((p.name, p.address, p.size) for p in dev.partitions.values()))
                raise IncompatibleDeviceError(f"package is for partition layout {wanted_layout.hex()[:16]}, "
                                              f"device has {have.hex()[:16]}: {differs}")
            notes.append("layout matches" if have is not None else "layout not known to the device")
        if header.kind in chain.STAGE_KINDS and not (dev.resume and resume.commit_begun(self, state)):
            notes.append(chain.check_stage(dev, header))
        notes.append(chain.check_expected(dev, header, state.digest))
        c.detail = ", ".join(n for n in notes if n)

    def _table(self, state: _State, c: Check) -> None:
        header, dev = state.header, self.device
        position = header.header_length
        seen = set()
        written: list[slots.Extent] = []  # every slot this package writes
        for e in header.entries:
            if e.name in seen:
                raise PackageFormatError(f"partition {e.name!r} appears twice in the table")
            seen.add(e.name)
            if e.operation in HAS_PAYLOAD:
                if e.payload_offset != position:
                    raise PackageFormatError(f"partition {e.name!r}: payload offset {e.payload_offset}, expected {position}")
                if e.payload_length > header.body_length - position:
                    raise PackageFormatError(f"partition {e.name!r}: payload runs past the end of the body")
                position += e.payload_length
            if e.operation in DELTA_OPERATIONS and e.uncompressed_length > max_stream_length(e.target_size, e.operation in IN_PLACE_OPERATIONS):
                # A longer stream cannot be valid; refusing it bounds the work a
                # tiny, highly compressible payload can cause (decompression bomb).
                raise PackageFormatError(
                    f"partition {e.name!r}: a {e.uncompressed_length}-byte patch stream is implausible "
                    f"for a {e.target_size}-byte target"
                )
            if e.operation == "skip":
                continue
            part = dev.partitions.get(e.name)
            if part is None:
                if not (dev.create_missing and e.operation == "replace"):
                    raise IncompatibleDeviceError(f"package targets partition {e.name!r}, which the device does not have")
                written.append(slots.extent(e.name, e.address, e.target_size))
                continue
            if part.address != e.address:
                raise IncompatibleDeviceError(
                    f"partition {e.name!r} is at {part.address:#x} on the device, the package expects {e.address:#x}"
                )
            if not part.resizable and e.target_size > part.size:
                raise IncompatibleDeviceError(
                    f"partition {e.name!r}: target of {e.target_size} bytes exceeds its {part.size}-byte slot"
                )
            if e.operation in HAS_PAYLOAD:
                written.append(slots.extent(e.name, part.address, e.target_size if part.resizable else part.size))
        if position != header.body_length:
            raise PackageFormatError(f"payloads end at {position} but body_length is {header.body_length}")
        slots.check_overlaps(written, [(p.name, p.address, p.size) for p in dev.partitions.values()])
        c.detail = f"{len(header.entries)} partitions, payloads tile the body"

    def _resources(self, state: _State, c: Check) -> None:
        """The header's figures within their limits, then every payload priced
        before the first write (``pricing``; docs/verifier.md, "RAM accounting")."""
        dev, header = self.device, state.header
        fixed, staged = check_declarations(header, dev.ram_budget, dev)
        payloads = [e for e in header.entries if e.operation in HAS_PAYLOAD]
        streams = []  # the decoders pricing ran (its full decodes included): their calls are work done
        def decoder(entry, reader, lclp):
            streams.append(self._decoder(header, entry, reader, lclp))
            return streams[-1]
        try:
            for e in payloads:
                self._priced[e.name] = price_payload(header, e, fixed, self._forward, decoder, self.ram)
        finally:
            self.result.decompress_calls += sum(s.decompress_calls for s in streams)
        staged = check_scratch(header, self._priced, staged)
        package_copy.check(self, header, resume.scratch_in_use)  # a package in slots the restore rewrites
        # From here on the restore holds the device to its declaration, as a device sizing its buffers from it.
        declared = header.ram_required
        self.ram.limit = declared if dev.ram_budget is None else min(declared, dev.ram_budget)
        self.scratch.limit = header.scratch_flash
        c.detail = (f"{declared} bytes RAM declared, {staged} of {header.scratch_flash} bytes scratch flash; "
                    f"{len(payloads)} payloads priced")

    def _precondition(self, state: _State, c: Check) -> None:
        """The bytes the package names (source size for a delta, target size for
        a keep) from the start of the slot; the rest of the slot is not its business."""
        header = state.header if self.device.resume is None else resume.unwritten(self, state, c)
        checked = 0
        for e in header.entries:
            if e.operation not in DELTA_OPERATIONS + ("keep",):
                continue
            part = self.device.partitions[e.name]
            want_size = e.source_size if e.operation in DELTA_OPERATIONS else e.target_size
            want_sha = e.source_sha256 if e.operation in DELTA_OPERATIONS else e.target_sha256
            what = "base image" if e.operation in DELTA_OPERATIONS else "kept partition"
            if want_size > part.size:
                raise _at(e, PrecursorMismatchError(
                    f"partition {e.name!r}: the device's slot has {part.size} bytes, the package's {what} has {want_size}"
                ))
            sha = hashlib.sha256()
            position = 0
            while position < want_size:
                piece = min(self.device.erase_block, want_size - position)
                sha.update(part.flash.read(position, piece))
                position += piece
            have = sha.digest()
            if have != want_sha:
                raise _at(e, PrecursorMismatchError(
                    f"partition {e.name!r}: wrong {what}: the first {want_size} bytes of the device's "
                    f"{part.size}-byte slot have SHA-256 {have.hex()}, the package expects {want_sha.hex()}"
                ))
            checked += 1
        c.detail = f"{checked} partitions match their source hashes; {c.detail or 'no flash written yet'}"

    # ----------------------------------------------------------------- restore

    def _region(self, part: DevicePartition, size: int) -> SimFlash:
        """The slot's flash, about to receive ``size`` bytes (the rest of the slot
        is erased after them); a resizable slot becomes exactly that size."""
        if part.resizable:
            if size > part.flash.size:
                dev = self.device
                part.flash = SimFlash.holding(b"", size, dev.erase_block, dev.erased_value, part.name)
            part.size = size
        part.written = True
        return part.flash

    def _decoder(self, header: wire.Header, e: wire.Entry, reader: ForwardReader, lclp: int | None):
        where = f"partition {e.name!r}"
        if e.codec == "lzma2":
            return LzmaReader(reader, e.payload_length, header.lzma_dict_size, e.uncompressed_length, self.ram, where,
                              lclp)
        return RawReader(reader, e.payload_length, e.uncompressed_length, where)

    def _restore_partition(self, header: wire.Header, e: wire.Entry, reader: ForwardReader, c: Check):
        """Decode or patch one partition; returns the writer that hashed it."""
        dev = self.device
        reader.skip_to(e.payload_offset)
        priced = self._priced[e.name]
        stream = self._decoder(header, e, reader, priced.lclp)
        self.ram.hold("write buffer", dev.erase_block)
        part = dev.partitions.get(e.name)
        if part is None:  # blank device receiving a full package: a slot as large as the target
            flash = SimFlash.holding(b"", e.target_size, dev.erase_block, dev.erased_value, e.name)
            part = dev.partitions[e.name] = DevicePartition(e.name, e.address, flash, e.target_size, resizable=True)
        if e.operation == "replace":
            if e.uncompressed_length != e.target_size:
                raise PackageFormatError(
                    f"partition {e.name!r}: replace payload decodes to {e.uncompressed_length} bytes, target is {e.target_size}"
                )
            writer = _HashingWriter(FlashWriter(self._region(part, e.target_size), e.target_size))
            done = 0
            while done < e.target_size:
                piece = min(DECODE_CHUNK, e.target_size - done)
                writer.write(stream.read(piece))
                done += piece
            stream.finish()
            writer.writer.finish()
        else:
            # Held until commit: refused here if the staged partitions outgrow the declared scratch flash.
            self.scratch.hold(f"staging {e.name}", round_up(e.target_size, dev.erase_block))
            staging = SimFlash.holding(b"", e.target_size, dev.erase_block, dev.erased_value, f"{e.name} (staging)")
            writer = _HashingWriter(FlashWriter(staging, e.target_size))
            patch = read_stream_header(stream, f"partition {e.name!r}", DELTA_VERSIONS[e.operation])  # as priced
            # The base is the first source_size bytes of the slot (checked at precondition).
            apply_delta(stream, part.flash.read, e.source_size, writer, e.target_size, self.ram,
                        f"partition {e.name!r}", patch, extra_capacity=priced.extra_capacity, work=self.work)
            stream.finish()
            writer.writer.finish()  # the write buffer's last block into the staging area
            self._staged.append((part, staging, e.target_size))
        self.result.decompress_calls += stream.decompress_calls
        c.detail = f"{e.operation}: {e.payload_length} payload bytes -> {e.target_size} bytes"
        return writer


#: The restore's checks in the device's order: name, function, and whether a
#: caller may switch it off (and why, or why not).  Everything up to
#: ``precondition`` guards the first flash write and everything after it
#: proves or completes the restore, so none of those can be disabled; ``ram``
#: only audits the builder's declaration after the fact.
CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("download", Restore._download, "storing the package is the restore's input"),
    CheckSpec("trailer", Restore._trailer, "every later check needs the trailer's lengths"),
    CheckSpec("crc32", Restore._crc32, "the download check; the body digest is computed in the same pass"),
    CheckSpec("header", Restore._header, "the bounded parse every later check reads"),
    CheckSpec("digest", Restore._digest, "nothing is decoded before the package is authenticated"),
    CheckSpec("signature", Restore._signature,
              "off would accept any signer's package; without a key it already reports skipped"),
    CheckSpec("compatibility", Restore._compatibility,
              "refuses a package for another model, counter, erase block, board, layout or chain state"),
    CheckSpec("table", Restore._table, "payload tiling and addresses bound every later read and write"),
    CheckSpec("resources", Restore._resources,
              "prices RAM and decodes every LZMA2 payload once before the first flash write"),
    CheckSpec("precondition", Restore._precondition,
              "the last check before the first flash write: a patch on the wrong base writes garbage"),
    CheckSpec("restore", Restore._restore, "it is the restore", per_partition=True),
    CheckSpec("target", Restore._target, "the only proof the written partition is right", per_partition=True),
    CheckSpec("ram", Restore._ram,
              "an audit of the builder's RAM figure after the restore: the device sizes its buffers from the "
              "header and refuses an under-declaration at resources, so off accepts nothing the device would refuse",
              can_disable=True),
    CheckSpec("commit", Restore._commit, "copies the staged partitions into place"),
)
CHECK_BY_NAME = {spec.name: spec for spec in CHECKS}
CHECK_ORDER = tuple(spec.name for spec in CHECKS)


def check_disable(names) -> frozenset[str]:
    """``names`` as a set of checks that may be disabled; UsageError otherwise."""
    names = frozenset(names)
    for name in sorted(names):
        spec = CHECK_BY_NAME.get(name)
        if spec is None:
            raise UsageError(f"unknown restore check {name!r} (checks: {', '.join(CHECK_ORDER)})")
        if not spec.can_disable:
            allowed = ", ".join(s.name for s in CHECKS if s.can_disable)
            raise UsageError(f"restore check {name!r} cannot be disabled ({spec.why}); can be disabled: {allowed}")
    return names
