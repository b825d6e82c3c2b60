"""The device's own reader of the package header, table and trailer.

Standard library only, written the way device C code reads the format
(bounded, field by field).  The format itself is specified by the construct
declarations in ``otapack.core.formats.package``; tests check that this reader and
that declaration agree on every golden, random and mutated package.  Both
take their numbers (magics, ids, field sizes and offsets, limits) from
``otapack.core.formats.wire_numbers``, as the C library takes them from the
header generated from it (``device/include/ota_wire.h``).
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.formats import wire_numbers as wn
from otapack.core.formats.wire_numbers import (  # noqa: F401  (the restore's names for them)
    FIXED_HEADER_SIZE,
    MAGIC,
    MAX_HEADER_LENGTH,
    MAX_SIGNATURE_LENGTH,
    SUPPORTED_VERSIONS,
    TRAILER_MAGIC,
    TRAILER_SIZE,
)
from otapack.errors import OtapackError, PackageFormatError, TruncatedPackageError, UnsupportedVersionError

#: The device's lookup tables: wire id -> name.
KIND_NAMES = {v: k for k, v in wn.KINDS.items()}
OPERATION_NAMES = {v: k for k, v in wn.OPERATIONS.items()}
CODEC_NAMES = {v: k for k, v in wn.CODEC_IDS.items()}
EXTENSION_NAMES = {v: k for k, v in wn.EXTENSION_TAGS.items()}
REASON_NAMES = {v: k for k, v in wn.REASONS.items()}

_FIXED = wn.FIXED
_TRAILER = wn.TRAILER
_ENTRY = {name: field.size for name, field in wn.ENTRY.items()}
_REF = {name: field.size for name, field in wn.IMAGE_REF.items()}
_PAYLOAD = {name: field.size for name, field in wn.PAYLOAD.items()}


@dataclass
class Entry:
    name: str
    address: int
    operation: str
    codec: str
    source_size: int | None = None
    source_sha256: bytes | None = None
    target_size: int | None = None
    target_sha256: bytes | None = None
    payload_offset: int = 0
    payload_length: int = 0
    uncompressed_length: int = 0


@dataclass
class Header:
    format_version: int
    kind: str
    header_length: int
    body_length: int
    security_counter: int
    build_time: int
    ram_required: int
    scratch_flash: int
    lzma_dict_size: int
    erase_block: int
    model: str
    source_version: str
    target_version: str
    tool_version: str
    extensions: dict
    entries: list


@dataclass
class Trailer:
    signature_length: int
    total_length: int
    body_sha256: bytes
    crc32: int


class _Cursor:
    def __init__(self, data: bytes, base: int = 0):
        self.data = data
        self.pos = 0
        self.base = base

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise TruncatedPackageError(f"header truncated inside {what}", offset=self.base + self.pos)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "little")

    def string(self, what: str) -> str:
        raw = self.take(self.u(wn.STRING_LENGTH_SIZE, what), what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise PackageFormatError(f"{what} is not ASCII", offset=self.base + self.pos) from None


def _u(data: bytes, field: wn.Field) -> int:
    return int.from_bytes(data[field.offset : field.end], "little")


def fixed_field(data: bytes, name: str) -> int | None:
    """One fixed header field of ``data`` (unchecked), or None when too short."""
    field = _FIXED[name]
    return _u(data, field) if len(data) >= field.end else None


def kind_at(data: bytes) -> str | None:
    """The package kind its fixed header names (unchecked), or None."""
    kind = fixed_field(data, "kind")
    return None if kind is None else KIND_NAMES.get(kind)


def parse_fixed(prefix: bytes) -> tuple[int, int]:
    """From the first FIXED_HEADER_SIZE bytes: (format_version, header_length)."""
    magic = _FIXED["magic"]
    if len(prefix) < wn.PREAMBLE_SIZE:
        raise TruncatedPackageError("package shorter than its magic and version")
    if prefix[magic.offset : magic.end] != MAGIC:
        raise PackageFormatError(f"not an otapack package: magic {prefix[magic.offset : magic.end]!r}")
    version = _u(prefix, _FIXED["format_version"])
    if version not in SUPPORTED_VERSIONS:
        known = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise UnsupportedVersionError(f"unsupported package format version {version} (this otapack reads {known})")
    if len(prefix) < FIXED_HEADER_SIZE:
        raise TruncatedPackageError("package shorter than its fixed header")
    header_length = _u(prefix, _FIXED["header_length"])
    if header_length < FIXED_HEADER_SIZE or header_length > MAX_HEADER_LENGTH:
        raise PackageFormatError(f"header_length {header_length} outside {FIXED_HEADER_SIZE}..{MAX_HEADER_LENGTH}")
    return version, header_length


def parse_header(data: bytes) -> Header:
    """Parse exactly ``header_length`` bytes; trailing or missing bytes are errors."""
    version, header_length = parse_fixed(data)
    if len(data) != header_length:
        raise PackageFormatError(f"header buffer is {len(data)} bytes, header_length says {header_length}")
    c = _Cursor(data)
    c.take(wn.PREAMBLE_SIZE, "preamble")
    kind_id = c.u(_FIXED["kind"].size, "kind")
    if kind_id not in KIND_NAMES:
        raise PackageFormatError(f"unknown package kind {kind_id}", offset=_FIXED["kind"].offset)
    flags = c.u(_FIXED["flags"].size, "flags")
    if flags:
        raise PackageFormatError(f"header flags {flags:#04x} set; v1 defines none", offset=_FIXED["flags"].offset)
    c.u(_FIXED["header_length"].size, "header_length")
    body_length = c.u(_FIXED["body_length"].size, "body_length")
    fields = {name: c.u(_FIXED[name].size, name) for name in (
        "security_counter", "build_time", "ram_required", "scratch_flash", "lzma_dict_size", "erase_block")}
    strings = {name: c.string(name) for name in wn.HEADER_STRINGS}
    extensions = {}
    for _ in range(c.u(wn.COUNT_SIZE, "extension count")):
        tag = c.u(wn.EXTENSION_TAG_SIZE, "extension tag")
        if tag not in EXTENSION_NAMES:
            raise PackageFormatError(f"unknown critical header extension tag {tag}", offset=c.pos - 1)
        name = EXTENSION_NAMES[tag]
        if name in extensions:
            raise PackageFormatError(f"header extension {name} appears twice", offset=c.pos - 1)
        extensions[name] = c.take(c.u(wn.EXTENSION_LENGTH_SIZE, "extension length"), f"extension {name}")
    entries = []
    for _ in range(c.u(wn.COUNT_SIZE, "partition count")):
        entries.append(_parse_entry(c))
    if c.pos != header_length:
        raise PackageFormatError(f"{header_length - c.pos} unexplained bytes after the partition table", offset=c.pos)
    return Header(version, KIND_NAMES[kind_id], header_length, body_length, extensions=extensions,
                  entries=entries, **fields, **strings)


def _parse_entry(c: _Cursor) -> Entry:
    name = c.string("partition name")
    address = c.u(_ENTRY["address"], f"{name}: address")
    op_id = c.u(_ENTRY["operation"], f"{name}: operation")
    if op_id not in OPERATION_NAMES:
        raise PackageFormatError(f"partition {name!r}: unknown operation {op_id}", offset=c.pos - 1)
    codec_id = c.u(_ENTRY["codec"], f"{name}: codec")
    if codec_id not in CODEC_NAMES:
        raise PackageFormatError(f"partition {name!r}: unknown codec id {codec_id}", offset=c.pos - 1)
    reason = c.u(_ENTRY["reason"], f"{name}: reason")
    if reason not in REASON_NAMES:
        raise PackageFormatError(f"partition {name!r}: unknown reason {reason}", offset=c.pos - 1)
    entry = Entry(name, address, OPERATION_NAMES[op_id], CODEC_NAMES[codec_id])
    if entry.operation in wn.HAS_SOURCE:
        entry.source_size = c.u(_REF["size"], f"{name}: source size")
        entry.source_sha256 = c.take(_REF["sha256"], f"{name}: source sha256")
    if entry.operation in wn.HAS_TARGET:
        entry.target_size = c.u(_REF["size"], f"{name}: target size")
        entry.target_sha256 = c.take(_REF["sha256"], f"{name}: target sha256")
    if entry.operation in wn.HAS_PAYLOAD:
        entry.payload_offset = c.u(_PAYLOAD["offset"], f"{name}: payload offset")
        entry.payload_length = c.u(_PAYLOAD["length"], f"{name}: payload length")
        entry.uncompressed_length = c.u(_PAYLOAD["uncompressed_length"], f"{name}: uncompressed length")
    return entry


def parse_trailer(tail: bytes) -> Trailer:
    if len(tail) != TRAILER_SIZE:
        raise TruncatedPackageError(f"package shorter than its {TRAILER_SIZE}-byte trailer")
    magic = _TRAILER["magic"]
    if tail[magic.offset : magic.end] != TRAILER_MAGIC:
        raise TruncatedPackageError("no package trailer at the end: truncated or not a package")
    digest = _TRAILER["body_sha256"]
    trailer = Trailer(
        signature_length=_u(tail, _TRAILER["signature_length"]),
        total_length=_u(tail, _TRAILER["total_length"]),
        body_sha256=tail[digest.offset : digest.end],
        crc32=_u(tail, _TRAILER["crc32"]),
    )
    if trailer.signature_length > MAX_SIGNATURE_LENGTH:
        raise PackageFormatError(f"signature slot length {trailer.signature_length} exceeds {MAX_SIGNATURE_LENGTH}")
    return trailer


def operations_seen(data: bytes) -> list[str]:
    """The operation of each table entry of the header bytes ``data``, as far
    as a tolerant walk gets (it stops at the first error ``parse_header``
    would raise): what a differential test needs to know of a header one
    reader refuses and another parses further."""
    seen: list[str] = []
    c = _Cursor(data)
    try:
        c.take(wn.FIXED_HEADER_SIZE, "fixed header")
        for name in wn.HEADER_STRINGS:
            c.string(name)
        for _ in range(c.u(wn.COUNT_SIZE, "extension count")):
            c.take(wn.EXTENSION_TAG_SIZE, "extension tag")
            c.take(c.u(wn.EXTENSION_LENGTH_SIZE, "extension length"), "extension")
        for _ in range(c.u(wn.COUNT_SIZE, "partition count")):
            start = c.pos
            c.string("partition name")
            c.take(_ENTRY["address"], "address")
            seen.append(OPERATION_NAMES.get(c.u(_ENTRY["operation"], "operation"), "unknown"))
            c.pos = start
            _parse_entry(c)
    except OtapackError:
        pass
    return seen
