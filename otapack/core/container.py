"""Typed view of a package: build bytes from it, parse bytes into it.

``assemble`` and ``read_package`` are the only users of the construct
declarations in ``otapack.core.formats.package``; construct errors become
``PackageFormatError`` here and nowhere else.  ``assemble`` first runs
``otapack.core.package_limits.check_limits``: nothing a reader would refuse
for a format limit is encoded.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

from construct import ConstructError

from otapack.version import __version__
from otapack.core.codecs import CODEC_BY_ID, CODECS
from otapack.errors import (
    IntegrityError,
    PackageFormatError,
    PackageLimitError,
    TruncatedPackageError,
    UnsupportedVersionError,
)
from otapack.core.formats import package as fmt
from otapack.core.formats import wire_numbers as wn
from otapack.core.package_limits import check_limits, check_signature_slot


def _wire(name: str) -> str:
    return name.replace("-", "_")


def _unwire(value: Any) -> str:
    return str(value).replace("_", "-")


@dataclass(frozen=True)
class PartitionRecord:
    """One row of the partition table."""

    name: str
    address: int
    operation: str  # keep | replace | delta | skip
    reason: str
    codec: str = "none"
    source_size: int | None = None
    source_sha256: bytes | None = None
    target_size: int | None = None
    target_sha256: bytes | None = None
    payload_offset: int = 0
    payload_length: int = 0
    uncompressed_length: int = 0

    @property
    def has_payload(self) -> bool:
        return self.operation in fmt._HAS_PAYLOAD

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "name": self.name,
            "address": self.address,
            "operation": self.operation,
            "reason": self.reason,
        }
        if self.source_sha256 is not None:
            out["source"] = {"size": self.source_size, "sha256": self.source_sha256.hex()}
        if self.target_sha256 is not None:
            out["target"] = {"size": self.target_size, "sha256": self.target_sha256.hex()}
        if self.has_payload:
            out["payload"] = {
                "codec": self.codec,
                "offset": self.payload_offset,
                "length": self.payload_length,
                "uncompressed_length": self.uncompressed_length,
            }
        return out


@dataclass(frozen=True)
class PackageHeader:
    kind: str
    model: str = ""
    target_version: str = ""
    source_version: str = ""
    security_counter: int = 0
    build_time: int = 0
    ram_required: int = 0
    scratch_flash: int = 0
    lzma_dict_size: int = 0
    erase_block: int = 4096
    tool_version: str = __version__
    extensions: tuple[tuple[str, bytes], ...] = ()
    format_version: int = fmt.FORMAT_VERSION
    header_length: int = 0
    body_length: int = 0

    def extension(self, tag: str) -> bytes | None:
        for name, value in self.extensions:
            if name == tag:
                return value
        return None

    def to_dict(self) -> dict:
        return {
            "format_version": self.format_version,
            "kind": self.kind,
            "model": self.model,
            "source_version": self.source_version,
            "target_version": self.target_version,
            "security_counter": self.security_counter,
            "build_time": self.build_time,
            "tool_version": self.tool_version,
            "resources": {
                "ram_required": self.ram_required,
                "scratch_flash": self.scratch_flash,
                "lzma_dict_size": self.lzma_dict_size,
                "erase_block": self.erase_block,
            },
            "extensions": {name: value.decode("ascii", "replace") if name in fmt.TEXT_EXTENSIONS else value.hex()
                           for name, value in self.extensions},
            "header_length": self.header_length,
            "body_length": self.body_length,
        }


@dataclass(frozen=True)
class Package:
    header: PackageHeader
    partitions: tuple[PartitionRecord, ...]
    signature_slot: bytes
    total_length: int
    body_sha256: bytes
    crc32: int
    raw: bytes = field(repr=False, compare=False)

    def payload(self, record: PartitionRecord) -> bytes:
        return self.raw[record.payload_offset : record.payload_offset + record.payload_length]

    @property
    def body(self) -> bytes:
        return self.raw[: self.header.body_length]

    def partition(self, name: str) -> PartitionRecord | None:
        for record in self.partitions:
            if record.name == name:
                return record
        return None

    def to_dict(self) -> dict:
        return {
            "header": self.header.to_dict(),
            "partitions": [p.to_dict() for p in self.partitions],
            "footer": {
                "total_length": self.total_length,
                "body_sha256": self.body_sha256.hex(),
                "crc32": f"{self.crc32:08x}",
                "signature_length": len(self.signature_slot),
                "signed": bool(self.signature_slot),
            },
        }


# --------------------------------------------------------------------- build


def _header_container(header: PackageHeader, records: list[PartitionRecord]) -> dict:
    return dict(
        kind=_wire(header.kind),
        flags=0,
        header_length=header.header_length,
        body_length=header.body_length,
        security_counter=header.security_counter,
        build_time=header.build_time,
        ram_required=header.ram_required,
        scratch_flash=header.scratch_flash,
        lzma_dict_size=header.lzma_dict_size,
        erase_block=header.erase_block,
        model=header.model,
        source_version=header.source_version,
        target_version=header.target_version,
        tool_version=header.tool_version,
        extensions=[dict(tag=_wire(t), value=v) for t, v in header.extensions],
        partitions=[
            dict(
                name=r.name,
                address=r.address,
                operation=_wire(r.operation),
                codec=CODECS[r.codec].wire_id,
                reason=_wire(r.reason),
                source=dict(size=r.source_size, sha256=r.source_sha256) if r.operation in fmt._HAS_SOURCE else None,
                target=dict(size=r.target_size, sha256=r.target_sha256) if r.operation in fmt._HAS_TARGET else None,
                payload=dict(offset=r.payload_offset, length=r.payload_length, uncompressed_length=r.uncompressed_length)
                if r.operation in fmt._HAS_PAYLOAD
                else None,
            )
            for r in records
        ],
    )


def _build_header(header: PackageHeader, records: list[PartitionRecord]) -> bytes:
    try:
        return fmt.Preamble.build(dict(format_version=header.format_version)) + fmt.VERSIONS[
            header.format_version
        ].build(_header_container(header, records))
    except ConstructError as exc:
        raise PackageFormatError(f"cannot encode package header: {exc}") from None


def header_size(header: PackageHeader, records) -> int:
    """Bytes the header and table take (offsets are fixed-width)."""
    return len(_build_header(header, list(records)))




def build_trailer(body_and_slot: bytes, body_sha256: bytes, signature_length: int) -> bytes:
    """The fixed trailer for ``body_and_slot`` (CRC covers all bytes before it)."""
    total = len(body_and_slot) + fmt.TRAILER_SIZE
    head = fmt.Trailer.build(
        dict(signature_length=signature_length, total_length=total, body_sha256=body_sha256, crc32=0)
    )[: -fmt.TRAILER_CRC_TAIL]
    crc = zlib.crc32(body_and_slot + head) & 0xFFFFFFFF
    return fmt.Trailer.build(
        dict(signature_length=signature_length, total_length=total, body_sha256=body_sha256, crc32=crc)
    )


def assemble(header: PackageHeader, parts: list[tuple[PartitionRecord, bytes]], signature_slot: bytes = b"", *,
             limits: bool = True) -> bytes:
    """Serialize a package; payload offsets and lengths are filled in here.

    ``limits=False`` skips ``check_limits``: only for tests that build hostile
    packages on purpose (the construct declaration still refuses what it
    cannot encode)."""
    if limits:
        check_signature_slot(signature_slot)
        expected = check_limits(header, [r for r, _ in parts])
        total = expected + sum(len(p) for _, p in parts) + len(signature_slot) + wn.TRAILER_SIZE
        if total > wn.MAX_PACKAGE_LENGTH:
            raise PackageLimitError(f"package would be {total} bytes; package format v1 addresses at most "
                                    f"{wn.MAX_PACKAGE_LENGTH}")
    # Offsets are fixed-width, so a first pass with zeros gives the header size.
    probe = _build_header(header, [r for r, _ in parts])
    if limits:
        assert len(probe) == expected, (len(probe), expected)
    offset = len(probe)
    records = []
    for record, payload in parts:
        if record.has_payload:
            record = replace(record, payload_offset=offset, payload_length=len(payload))
            offset += len(payload)
        elif payload:
            raise PackageFormatError(f"partition {record.name!r}: operation {record.operation} carries no payload")
        records.append(record)
    header = replace(header, header_length=len(probe), body_length=offset)
    body = _build_header(header, records) + b"".join(p for _, p in parts)
    assert len(body) == offset
    return seal(body, signature_slot)


def seal(body: bytes, signature_slot: bytes = b"") -> bytes:
    """Body + signature slot + trailer."""
    check_signature_slot(signature_slot)
    digest = hashlib.sha256(body).digest()
    return body + signature_slot + build_trailer(body + signature_slot, digest, len(signature_slot))


# --------------------------------------------------------------------- parse


def _parse(struct, data: bytes, what: str, offset: int = 0):
    try:
        return struct.parse(data)
    except ConstructError as exc:
        message = str(exc).split("\n")[-1] or type(exc).__name__
        field_path = (getattr(exc, "path", None) or "").replace("(parsing)", "").strip(" ->")
        where = f"field {field_path}: " if field_path else ""
        if type(exc).__name__ == "StreamError":
            raise TruncatedPackageError(f"package truncated inside the {what} ({where}{message})", offset=offset) from None
        raise PackageFormatError(f"malformed {what}: {where}{message}", offset=offset) from None


def read_trailer(data: bytes) -> Any:
    if len(data) < fmt.TRAILER_SIZE:
        raise TruncatedPackageError(
            f"package truncated: {len(data)} bytes, shorter than the {fmt.TRAILER_SIZE}-byte trailer"
        )
    tail = data[-fmt.TRAILER_SIZE :]
    if tail[-len(fmt.TRAILER_MAGIC):] != fmt.TRAILER_MAGIC:
        raise TruncatedPackageError(
            f"no package trailer at the end of the file (expected magic {fmt.TRAILER_MAGIC!r}, "
            f"found {tail[-len(fmt.TRAILER_MAGIC):]!r}): truncated or not an otapack package"
        )
    trailer = _parse(fmt.Trailer, tail, "trailer", len(data) - fmt.TRAILER_SIZE)
    if trailer.total_length != len(data):
        raise TruncatedPackageError(
            f"package is {len(data)} bytes but its trailer declares {trailer.total_length}"
        )
    if trailer.signature_length > fmt.MAX_SIGNATURE_LENGTH:
        raise PackageFormatError(
            f"signature slot length {trailer.signature_length} exceeds {fmt.MAX_SIGNATURE_LENGTH}"
        )
    crc = zlib.crc32(data[: -fmt.TRAILER_CRC_TAIL]) & 0xFFFFFFFF
    if crc != trailer.crc32:
        raise IntegrityError(f"package CRC32 mismatch: trailer says {trailer.crc32:08x}, file has {crc:08x}")
    return trailer


def read_preamble(data: bytes) -> int:
    if len(data) < fmt.Preamble.sizeof():
        raise TruncatedPackageError(f"package truncated: {len(data)} bytes, no room for the magic and version")
    if data[:len(fmt.MAGIC)] != fmt.MAGIC:
        raise PackageFormatError(f"not an otapack package: magic {data[:len(fmt.MAGIC)]!r}, expected {fmt.MAGIC!r}")
    version = fmt.Preamble.parse(data).format_version
    if version not in fmt.VERSIONS:
        known = ", ".join(str(v) for v in sorted(fmt.VERSIONS))
        raise UnsupportedVersionError(f"unsupported package format version {version} (this otapack reads {known})")
    return version


def _record(entry: Any) -> PartitionRecord:
    codec = CODEC_BY_ID.get(entry.codec)
    if codec is None:
        known = ", ".join(f"{c.name}({c.wire_id})" for c in CODECS.values())
        raise PackageFormatError(f"partition {entry.name!r}: unknown codec id {entry.codec} (expected {known})")
    return PartitionRecord(
        name=entry.name,
        address=entry.address,
        operation=_unwire(entry.operation),
        reason=_unwire(entry.reason),
        codec=codec.name,
        source_size=entry.source.size if entry.source else None,
        source_sha256=entry.source.sha256 if entry.source else None,
        target_size=entry.target.size if entry.target else None,
        target_sha256=entry.target.sha256 if entry.target else None,
        payload_offset=entry.payload.offset if entry.payload else 0,
        payload_length=entry.payload.length if entry.payload else 0,
        uncompressed_length=entry.payload.uncompressed_length if entry.payload else 0,
    )


def parse_header(data: bytes) -> tuple[PackageHeader, tuple[PartitionRecord, ...]]:
    """Parse preamble, header and table; check their internal consistency."""
    version = read_preamble(data)
    start = fmt.Preamble.sizeof()
    fixed = _parse(fmt.FixedHeaderV1, data[start:wn.FIXED_HEADER_SIZE], "header", start)
    if not wn.FIXED_HEADER_SIZE <= fixed.header_length <= wn.MAX_HEADER_LENGTH:  # as the device, before parsing on
        raise PackageFormatError(
            f"header_length {fixed.header_length} outside {wn.FIXED_HEADER_SIZE}..{wn.MAX_HEADER_LENGTH}")
    raw = _parse(fmt.VERSIONS[version], data[start:], "header", start)
    if raw.flags != 0:
        raise PackageFormatError(f"header flags {raw.flags:#04x} set; v1 defines none")
    header = PackageHeader(
        kind=_unwire(raw.kind),
        model=raw.model,
        target_version=raw.target_version,
        source_version=raw.source_version,
        security_counter=raw.security_counter,
        build_time=raw.build_time,
        ram_required=raw.ram_required,
        scratch_flash=raw.scratch_flash,
        lzma_dict_size=raw.lzma_dict_size,
        erase_block=raw.erase_block,
        tool_version=raw.tool_version,
        extensions=tuple((_unwire(e.tag), bytes(e.value)) for e in raw.extensions),
        format_version=version,
        header_length=raw.header_length,
        body_length=raw.body_length,
    )
    tags = [name for name, _ in header.extensions]
    for tag in tags:
        if tags.count(tag) > 1:  # the device reader refuses them too (restore/wire.py)
            raise PackageFormatError(f"header extension {tag} appears twice")
    records = tuple(_record(entry) for entry in raw.partitions)
    return header, records


def check_layout(header: PackageHeader, records: tuple[PartitionRecord, ...], actual_header_length: int) -> None:
    """Payloads must tile [header_length, body_length) exactly, in table order."""
    if header.header_length != actual_header_length:
        raise PackageFormatError(
            f"header_length field says {header.header_length}, the header and table take {actual_header_length} bytes"
        )
    names = set()
    position = header.header_length
    for record in records:
        if record.name in names:
            raise PackageFormatError(f"partition {record.name!r} appears twice in the table")
        names.add(record.name)
        if not record.has_payload:
            continue
        if record.payload_offset != position:
            raise PackageFormatError(
                f"partition {record.name!r}: payload offset {record.payload_offset}, expected {position}"
            )
        if record.payload_length > header.body_length - position:
            raise PackageFormatError(
                f"partition {record.name!r}: payload of {record.payload_length} bytes at {position} "
                f"runs past the end of the body ({header.body_length})"
            )
        position += record.payload_length
    if position != header.body_length:
        raise PackageFormatError(
            f"payloads end at {position} but body_length is {header.body_length}"
        )


def read_package(data: bytes, *, check_digest: bool = True) -> Package:
    """Parse and structurally check a whole package held in memory."""
    data = bytes(data)
    read_preamble(data)
    trailer = read_trailer(data)
    body_length = len(data) - fmt.TRAILER_SIZE - trailer.signature_length
    header, records = parse_header(data[:body_length])
    if header.body_length != body_length:
        raise PackageFormatError(
            f"header body_length {header.body_length} disagrees with the trailer ({body_length})"
        )
    actual = len(_build_header(header, list(records)))
    check_layout(header, records, actual)
    if check_digest:
        digest = hashlib.sha256(data[:body_length]).digest()
        if digest != trailer.body_sha256:
            raise IntegrityError(
                f"package SHA-256 mismatch: trailer says {trailer.body_sha256.hex()}, body hashes to {digest.hex()}"
            )
    return Package(
        header=header,
        partitions=records,
        signature_slot=data[body_length : body_length + trailer.signature_length],
        total_length=trailer.total_length,
        body_sha256=trailer.body_sha256,
        crc32=trailer.crc32,
        raw=data,
    )


def package_report(data: bytes, output: str) -> dict:
    """The build report of a package just written to ``output`` (``--json`` of
    every build command): what a pipeline records or checks without parsing
    text.  Per partition the operation, its reason and its bytes (payload
    carried, target restored); the device needs the header declares."""
    package = read_package(data)
    header = package.header
    return {
        "output": output,
        "kind": header.kind,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "tool_version": header.tool_version,
        "model": header.model,
        "source_version": header.source_version,
        "target_version": header.target_version,
        "security_counter": header.security_counter,
        "device_needs": {
            "ram": header.ram_required,
            "scratch_flash": header.scratch_flash,
            "lzma_dict_size": header.lzma_dict_size,
            "erase_block": header.erase_block,
        },
        "partitions": [
            {
                "name": r.name,
                "operation": r.operation,
                "reason": r.reason,
                "payload_bytes": r.payload_length if r.has_payload else 0,
                "target_bytes": r.target_size,
            }
            for r in package.partitions
        ],
    }
