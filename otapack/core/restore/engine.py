"""The device restore, step by step, in the order a device must run it.

1. ``download``      store the package in the download area (bounded)
2. ``trailer``       find the trailer at the end; total length must match
3. ``crc32``         the modem's cheap whole-file check
4. ``header``        parse header and table (bounded, forward)
5. ``digest``        SHA-256 of header+table+payloads against the trailer
6. ``signature``     signature over that digest (when signed or required)
7. ``compatibility`` package kind, model, security counter, chain
8. ``table``         payload tiling, partitions exist at their addresses, fit
9. ``resources``     declared RAM within the device budget; patch windows
                     within the declared RAM
10. ``precondition`` source SHA-256 of every delta/keep partition: the last
                     check before the first flash write
11. ``restore:NAME`` decode/patch each partition into flash
12. ``target:NAME``  SHA-256 of what was written
13. ``ram``          measured peak RAM within the declared figure
14. ``commit``       staged partitions copied into place

Quectel modules store the whole package before applying it, so the digest
and signature are checked over the stored copy before anything is decoded.
Standard library only: signature checking is injected by the caller.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from otapack.errors import (
    IncompatibleDeviceError,
    IntegrityError,
    OtapackError,
    PackageFormatError,
    PrecursorMismatchError,
    ResourceLimitError,
    RollbackError,
    TargetMismatchError,
    TruncatedPackageError,
)
from otapack.core.restore import wire
from otapack.core.restore.delta import apply_delta, read_stream_header
from otapack.core.restore.extensions import layout_digest
from otapack.core.restore.flash import FlashWriter, SimFlash
from otapack.core.restore.resources import RamMeter, ram_requirement
from otapack.core.restore.stream import ForwardReader, LzmaReader, RawReader

CHECK_ORDER = (
    "download", "trailer", "crc32", "header", "digest", "signature", "compatibility",
    "table", "resources", "precondition", "restore", "target", "ram", "commit",
)


@dataclass
class DevicePartition:
    name: str
    address: int
    flash: SimFlash
    size: int  # bytes of current content
    capacity: int | None = None  # slot size; None = as large as needed


@dataclass
class Device:
    """The simulated module: its partitions and what it knows about itself."""

    partitions: dict[str, DevicePartition] = field(default_factory=dict)
    erase_block: int = 4096
    erased_value: int = 0xFF
    model: str | None = None
    security_counter: int | None = None
    ram_budget: int | None = None
    download_capacity: int | None = None
    #: Called with (slot bytes, body digest); raises SecurityError.  Returns a
    #: one-line detail.  None: unsigned packages pass, signed ones are only
    #: reported (no key to check them with).
    signature_check: Callable[[bytes, bytes], str] | None = None
    #: Called with the parsed header; raises on a broken chain.  Returns detail.
    chain_check: Callable[[wire.Header], str] | None = None
    #: Partitions that appear in the package but not on the device are made
    #: (a blank device receiving a full package).
    create_missing: bool = False
    #: Board/hardware identifier; a package binding another one is refused.
    hardware_id: str | None = None

    def layout_digest(self) -> bytes | None:
        """Digest of this device's partition layout, or None when slots are unknown."""
        parts = list(self.partitions.values())
        if not parts or any(p.capacity is None for p in parts):
            return None
        return layout_digest((p.name, p.address, p.capacity) for p in parts)

    def image(self, name: str) -> bytes:
        part = self.partitions[name]
        return part.flash.read(0, part.size)


@dataclass
class Check:
    name: str
    status: str  # pass | fail | skipped
    detail: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class RestoreResult:
    checks: list[Check] = field(default_factory=list)
    error: OtapackError | None = None
    ram_peak: int = 0
    ram_declared: int = 0
    package_bytes_read: int = 0
    blocks_erased: int = 0
    bytes_written: int = 0
    decompress_calls: int = 0
    header: wire.Header | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "result": "pass" if self.ok else "fail",
            "error": str(self.error) if self.error else None,
            "checks": [c.to_dict() for c in self.checks],
            "ram": {"peak": self.ram_peak, "declared": self.ram_declared},
            "package_bytes_read": self.package_bytes_read,
            "flash": {"blocks_erased": self.blocks_erased, "bytes_written": self.bytes_written},
        }


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
        self.stored = b""
        self._staged: list[tuple[DevicePartition, SimFlash, int]] = []

    @contextmanager
    def check(self, name: str):
        entry = Check(name, "pass")
        self.result.checks.append(entry)
        try:
            yield entry
        except OtapackError as exc:
            entry.status = "fail"
            entry.detail = str(exc)
            raise

    def run(self, package: io.BufferedIOBase | bytes) -> RestoreResult:
        source = io.BytesIO(package) if isinstance(package, (bytes, bytearray)) else package
        try:
            self._run(source)
        except OtapackError as exc:
            self.result.error = exc
            done = {c.name.split(":")[0] for c in self.result.checks}
            for name in CHECK_ORDER:
                if name not in done and name not in ("restore", "target"):
                    self.result.checks.append(Check(name, "skipped"))
        self.result.ram_peak = self.ram.peak
        flashes = [p.flash for p in self.device.partitions.values()] + [s for _, s, _ in self._staged]
        self.result.blocks_erased = sum(f.blocks_erased for f in flashes)
        self.result.bytes_written = sum(f.bytes_written for f in flashes)
        return self.result

    # ----------------------------------------------------------------- passes

    def _forward(self, start: int = 0) -> ForwardReader:
        reader = ForwardReader(io.BytesIO(self.stored), self.ram)
        reader.skip_to(start)
        return reader

    def _run(self, source) -> None:
        dev = self.device
        with self.check("download") as c:
            reader = ForwardReader(source, self.ram)
            stored = bytearray()
            while True:
                chunk = reader.read_some(reader.chunk_size)
                if not chunk:
                    break
                stored += chunk
                if dev.download_capacity is not None and len(stored) > dev.download_capacity:
                    raise ResourceLimitError(
                        f"package exceeds the {dev.download_capacity}-byte download area"
                    )
            self.stored = bytes(stored)
            self.result.package_bytes_read += reader.bytes_read
            c.detail = f"{len(self.stored)} bytes"
        total = len(self.stored)
        with self.check("trailer") as c:
            trailer = wire.parse_trailer(self.stored[-wire.TRAILER_SIZE:] if total >= wire.TRAILER_SIZE else self.stored)
            if trailer.total_length != total:
                raise TruncatedPackageError(
                    f"downloaded {total} bytes but the trailer declares {trailer.total_length}"
                )
            body_length = total - wire.TRAILER_SIZE - trailer.signature_length
            if body_length < wire.FIXED_HEADER_SIZE:
                raise PackageFormatError(f"signature slot of {trailer.signature_length} bytes leaves no room for a header")
            c.detail = f"{total} bytes: body {body_length}, signature slot {trailer.signature_length}"
        with self.check("crc32") as c:
            crc = 0
            sha = hashlib.sha256()
            reader = self._forward()
            crc_end = total - 8
            while reader.position < crc_end:
                start = reader.position
                chunk = reader.read(min(reader.chunk_size, crc_end - start))
                crc = zlib.crc32(chunk, crc)
                if start < body_length:
                    sha.update(chunk[: body_length - start])
            self.result.package_bytes_read += reader.bytes_read
            if crc != trailer.crc32:
                raise IntegrityError(f"package CRC32 mismatch: trailer says {trailer.crc32:08x}, package has {crc:08x}")
            c.detail = f"{crc:08x}"
        with self.check("header") as c:
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
            self.result.header = header
            self.result.ram_declared = header.ram_required
            c.detail = f"format v{header.format_version}, {header.kind}, {len(header.entries)} partitions"
        with self.check("digest") as c:
            digest = sha.digest()
            if digest != trailer.body_sha256:
                raise IntegrityError(
                    f"package SHA-256 mismatch: trailer says {trailer.body_sha256.hex()}, package hashes to {digest.hex()}"
                )
            c.detail = digest.hex()
        with self.check("signature") as c:
            slot = self.stored[body_length : body_length + trailer.signature_length]
            if dev.signature_check is not None:
                c.detail = dev.signature_check(slot, digest)
            elif slot:
                c.status, c.detail = "skipped", "package is signed; no public key given to check it"
            else:
                c.status, c.detail = "skipped", "unsigned package, no key required"
        with self.check("compatibility") as c:
            self._check_compatibility(header, c)
        with self.check("table") as c:
            self._check_table(header)
            c.detail = f"{len(header.entries)} partitions, payloads tile the body"
        with self.check("resources") as c:
            self._check_resources(header, c)
        with self.check("precondition") as c:
            c.detail = self._check_sources(header)
        reader = self._forward(header.header_length)
        for entry in header.entries:
            if entry.operation in ("replace", "delta"):
                self._restore_partition(header, entry, reader)
        self.result.package_bytes_read += reader.bytes_read
        with self.check("ram") as c:
            if self.ram.peak > header.ram_required:
                raise ResourceLimitError(
                    f"restore used {self.ram.peak} bytes of RAM, the header declares {header.ram_required}"
                )
            c.detail = f"peak {self.ram.peak} of {header.ram_required} declared"
        with self.check("commit") as c:
            for part, staging, size in self._staged:
                writer = FlashWriter(self._region(part, size), size)
                position = 0
                while position < size:
                    piece = min(dev.erase_block, size - position)
                    writer.write(staging.read(position, piece))
                    position += piece
                writer.finish()
                part.size = size
            c.detail = f"{len(self._staged)} staged partitions copied into place"

    # ----------------------------------------------------------------- checks

    def _check_compatibility(self, header: wire.Header, c: Check) -> None:
        dev = self.device
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
                raise IncompatibleDeviceError(
                    f"package is for partition layout {wanted_layout.hex()[:16]}, device has {have.hex()[:16]}"
                )
            notes.append("layout matches" if have is not None else "layout not known to the device")
        if dev.chain_check is not None:
            notes.append(dev.chain_check(header))
        elif header.kind == "minimal-stage2" and "chain-prev-state" in header.extensions:
            notes.append("chain not checked")
        c.detail = ", ".join(n for n in notes if n)

    def _check_table(self, header: wire.Header) -> None:
        position = header.header_length
        seen = set()
        for e in header.entries:
            if e.name in seen:
                raise PackageFormatError(f"partition {e.name!r} appears twice in the table")
            seen.add(e.name)
            if e.operation in ("replace", "delta"):
                if e.payload_offset != position:
                    raise PackageFormatError(f"partition {e.name!r}: payload offset {e.payload_offset}, expected {position}")
                if e.payload_length > header.body_length - position:
                    raise PackageFormatError(f"partition {e.name!r}: payload runs past the end of the body")
                position += e.payload_length
            if e.operation == "delta" and e.uncompressed_length > 32 + 16 * (e.target_size + 1):
                # A longer stream cannot be valid; refusing it bounds the work a
                # tiny, highly compressible payload can cause (decompression bomb).
                raise PackageFormatError(
                    f"partition {e.name!r}: a {e.uncompressed_length}-byte patch stream is implausible "
                    f"for a {e.target_size}-byte target"
                )
            if e.operation == "skip":
                continue
            part = self.device.partitions.get(e.name)
            if part is None:
                if not (self.device.create_missing and e.operation == "replace"):
                    raise IncompatibleDeviceError(f"package targets partition {e.name!r}, which the device does not have")
                continue
            if part.address != e.address:
                raise IncompatibleDeviceError(
                    f"partition {e.name!r} is at {part.address:#x} on the device, the package expects {e.address:#x}"
                )
            if part.capacity is not None and e.target_size is not None and e.target_size > part.capacity:
                raise IncompatibleDeviceError(
                    f"partition {e.name!r}: target of {e.target_size} bytes exceeds its {part.capacity}-byte slot"
                )
        if position != header.body_length:
            raise PackageFormatError(f"payloads end at {position} but body_length is {header.body_length}")

    def _check_resources(self, header: wire.Header, c: Check) -> None:
        dev = self.device
        if dev.ram_budget is not None and header.ram_required > dev.ram_budget:
            raise ResourceLimitError(
                f"package declares {header.ram_required} bytes of RAM, the device budget is {dev.ram_budget}"
            )
        uses_lzma = any(e.codec == "lzma2" for e in header.entries)
        floor = ram_requirement(lzma_dict_size=header.lzma_dict_size, erase_block=header.erase_block,
                                header_length=header.header_length, uses_lzma=uses_lzma)
        if header.ram_required < floor:
            raise ResourceLimitError(f"header declares {header.ram_required} bytes of RAM, the restore needs at least {floor}")
        # Peek at each patch's window bounds now, before the first write.
        for e in header.entries:
            if e.operation != "delta":
                continue
            stream = self._decoder(header, e, self._forward(e.payload_offset))
            patch = read_stream_header(stream, f"partition {e.name!r}")
            self.ram.release("lzma decoder")
            need = ram_requirement(lzma_dict_size=header.lzma_dict_size, erase_block=header.erase_block,
                                   header_length=header.header_length, uses_lzma=e.codec == "lzma2",
                                   window_size=patch.window_size, max_window_tuples=patch.max_tuples)
            if need > header.ram_required:
                raise ResourceLimitError(
                    f"partition {e.name!r}: patch windows need {need} bytes of RAM, the header declares {header.ram_required}"
                )
        c.detail = f"{header.ram_required} bytes RAM declared, {header.scratch_flash} bytes scratch flash"

    def _check_sources(self, header: wire.Header) -> str:
        checked = 0
        for e in header.entries:
            if e.operation not in ("delta", "keep"):
                continue
            part = self.device.partitions[e.name]
            want_size = e.source_size if e.operation == "delta" else e.target_size
            want_sha = e.source_sha256 if e.operation == "delta" else e.target_sha256
            sha = hashlib.sha256()
            position = 0
            size = part.size
            while position < size:
                piece = min(self.device.erase_block, size - position)
                sha.update(part.flash.read(position, piece))
                position += piece
            have = sha.digest()
            if size != want_size or have != want_sha:
                what = "base image" if e.operation == "delta" else "kept partition"
                raise PrecursorMismatchError(
                    f"partition {e.name!r}: wrong {what}: device has {size} bytes with SHA-256 {have.hex()}, "
                    f"package expects {want_size} bytes with SHA-256 {want_sha.hex()}"
                )
            checked += 1
        return f"{checked} partitions match their source hashes; no flash written yet"

    # ----------------------------------------------------------------- restore

    def _region(self, part: DevicePartition, size: int) -> SimFlash:
        """The partition's flash, grown when its slot is unbounded (single images)."""
        if size > part.flash.size and part.capacity is None:
            dev = self.device
            part.flash = SimFlash.holding(b"", size, dev.erase_block, dev.erased_value, part.name)
        return part.flash

    def _decoder(self, header: wire.Header, e: wire.Entry, reader: ForwardReader):
        where = f"partition {e.name!r}"
        if e.codec == "lzma2":
            return LzmaReader(reader, e.payload_length, header.lzma_dict_size, e.uncompressed_length, self.ram, where)
        return RawReader(reader, e.payload_length, e.uncompressed_length, where)

    def _restore_partition(self, header: wire.Header, e: wire.Entry, reader: ForwardReader) -> None:
        dev = self.device
        with self.check(f"restore:{e.name}") as c:
            reader.skip_to(e.payload_offset)
            stream = self._decoder(header, e, reader)
            self.ram.hold("write buffer", dev.erase_block)
            part = dev.partitions.get(e.name)
            if part is None:  # blank device receiving a full package
                flash = SimFlash.holding(b"", e.target_size, dev.erase_block, dev.erased_value, e.name)
                part = dev.partitions[e.name] = DevicePartition(e.name, e.address, flash, 0)
            if e.operation == "replace":
                if e.uncompressed_length != e.target_size:
                    raise PackageFormatError(
                        f"partition {e.name!r}: replace payload decodes to {e.uncompressed_length} bytes, target is {e.target_size}"
                    )
                writer = _HashingWriter(FlashWriter(self._region(part, e.target_size), e.target_size))
                done = 0
                while done < e.target_size:
                    piece = min(4096, e.target_size - done)
                    writer.write(stream.read(piece))
                    done += piece
                stream.finish()
                writer.writer.finish()
                part.size = e.target_size
            else:
                staging = SimFlash.holding(b"", e.target_size, dev.erase_block, dev.erased_value, f"{e.name} (staging)")
                writer = _HashingWriter(FlashWriter(staging, e.target_size))
                patch = read_stream_header(stream, f"partition {e.name!r}")
                apply_delta(stream, part.flash.read, part.size, writer, e.target_size, self.ram,
                            f"partition {e.name!r}", patch)
                stream.finish()
                self._staged.append((part, staging, e.target_size))
            self.result.decompress_calls += stream.decompress_calls
            c.detail = f"{e.operation}: {e.payload_length} payload bytes -> {e.target_size} bytes"
        with self.check(f"target:{e.name}") as c:
            have = writer.sha.digest()
            if have != e.target_sha256:
                raise TargetMismatchError(
                    f"partition {e.name!r}: restored data hashes to {have.hex()}, package declares {e.target_sha256.hex()}"
                )
            c.detail = have.hex()
        for name in ("control tuples", "extra buffer", "old read", "lzma decoder", "write buffer"):
            self.ram.release(name)
