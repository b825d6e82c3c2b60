"""The device's own reader of the package header, table and trailer.

Standard library only, written the way device C code reads the format
(bounded, field by field).  The format itself is specified by the construct
declarations in ``otapack.core.formats.package``; tests check that this reader and
that declaration agree on every golden, random and mutated package.
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.errors import PackageFormatError, TruncatedPackageError, UnsupportedVersionError

MAGIC = b"OTAP"
TRAILER_MAGIC = b"OTAF"
SUPPORTED_VERSIONS = (1,)
TRAILER_SIZE = 46
FIXED_HEADER_SIZE = 6 + 2 + 4 * 2 + 4 + 8 + 4 * 4  # preamble .. erase_block
#: The device refuses headers larger than this before buffering them.
MAX_HEADER_LENGTH = 64 * 1024
MAX_SIGNATURE_LENGTH = 1024

KIND_NAMES = {1: "full", 2: "delta", 3: "minimal-stage1", 4: "minimal-stage2"}
OPERATION_NAMES = {0: "keep", 1: "replace", 2: "delta", 3: "skip"}
CODEC_NAMES = {0: "none", 1: "lzma2"}
EXTENSION_NAMES = {1: "chain-prev-state", 2: "chain-next-package", 3: "budget", 4: "hardware-id", 5: "layout-digest",
                   6: "image-source"}
REASON_COUNT = 8


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
        raw = self.take(self.u(1, what), what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise PackageFormatError(f"{what} is not ASCII", offset=self.base + self.pos) from None


def parse_fixed(prefix: bytes) -> tuple[int, int]:
    """From the first FIXED_HEADER_SIZE bytes: (format_version, header_length)."""
    if len(prefix) < 6:
        raise TruncatedPackageError("package shorter than its magic and version")
    if prefix[:4] != MAGIC:
        raise PackageFormatError(f"not an otapack package: magic {prefix[:4]!r}")
    version = int.from_bytes(prefix[4:6], "little")
    if version not in SUPPORTED_VERSIONS:
        known = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise UnsupportedVersionError(f"unsupported package format version {version} (this otapack reads {known})")
    if len(prefix) < FIXED_HEADER_SIZE:
        raise TruncatedPackageError("package shorter than its fixed header")
    header_length = int.from_bytes(prefix[8:12], "little")
    if header_length < FIXED_HEADER_SIZE or header_length > MAX_HEADER_LENGTH:
        raise PackageFormatError(f"header_length {header_length} outside {FIXED_HEADER_SIZE}..{MAX_HEADER_LENGTH}")
    return version, header_length


def parse_header(data: bytes) -> Header:
    """Parse exactly ``header_length`` bytes; trailing or missing bytes are errors."""
    version, header_length = parse_fixed(data)
    if len(data) != header_length:
        raise PackageFormatError(f"header buffer is {len(data)} bytes, header_length says {header_length}")
    c = _Cursor(data)
    c.take(6, "preamble")
    kind_id = c.u(1, "kind")
    if kind_id not in KIND_NAMES:
        raise PackageFormatError(f"unknown package kind {kind_id}", offset=6)
    flags = c.u(1, "flags")
    if flags:
        raise PackageFormatError(f"header flags {flags:#04x} set; v1 defines none", offset=7)
    c.u(4, "header_length")
    body_length = c.u(4, "body_length")
    fields = {name: c.u(size, name) for name, size in (
        ("security_counter", 4), ("build_time", 8), ("ram_required", 4),
        ("scratch_flash", 4), ("lzma_dict_size", 4), ("erase_block", 4))}
    strings = {name: c.string(name) for name in ("model", "source_version", "target_version", "tool_version")}
    extensions = {}
    for _ in range(c.u(1, "extension count")):
        tag = c.u(1, "extension tag")
        if tag not in EXTENSION_NAMES:
            raise PackageFormatError(f"unknown critical header extension tag {tag}", offset=c.pos - 1)
        name = EXTENSION_NAMES[tag]
        if name in extensions:
            raise PackageFormatError(f"header extension {name} appears twice", offset=c.pos - 1)
        extensions[name] = c.take(c.u(2, "extension length"), f"extension {name}")
    entries = []
    for _ in range(c.u(1, "partition count")):
        entries.append(_parse_entry(c))
    if c.pos != header_length:
        raise PackageFormatError(f"{header_length - c.pos} unexplained bytes after the partition table", offset=c.pos)
    return Header(version, KIND_NAMES[kind_id], header_length, body_length, extensions=extensions,
                  entries=entries, **fields, **strings)


def _parse_entry(c: _Cursor) -> Entry:
    name = c.string("partition name")
    address = c.u(4, f"{name}: address")
    op_id = c.u(1, f"{name}: operation")
    if op_id not in OPERATION_NAMES:
        raise PackageFormatError(f"partition {name!r}: unknown operation {op_id}", offset=c.pos - 1)
    codec_id = c.u(1, f"{name}: codec")
    if codec_id not in CODEC_NAMES:
        raise PackageFormatError(f"partition {name!r}: unknown codec id {codec_id}", offset=c.pos - 1)
    reason = c.u(1, f"{name}: reason")
    if reason >= REASON_COUNT:
        raise PackageFormatError(f"partition {name!r}: unknown reason {reason}", offset=c.pos - 1)
    entry = Entry(name, address, OPERATION_NAMES[op_id], CODEC_NAMES[codec_id])
    if entry.operation == "delta":
        entry.source_size = c.u(4, f"{name}: source size")
        entry.source_sha256 = c.take(32, f"{name}: source sha256")
    if entry.operation in ("keep", "replace", "delta"):
        entry.target_size = c.u(4, f"{name}: target size")
        entry.target_sha256 = c.take(32, f"{name}: target sha256")
    if entry.operation in ("replace", "delta"):
        entry.payload_offset = c.u(4, f"{name}: payload offset")
        entry.payload_length = c.u(4, f"{name}: payload length")
        entry.uncompressed_length = c.u(4, f"{name}: uncompressed length")
    return entry


def parse_trailer(tail: bytes) -> Trailer:
    if len(tail) != TRAILER_SIZE:
        raise TruncatedPackageError(f"package shorter than its {TRAILER_SIZE}-byte trailer")
    if tail[-4:] != TRAILER_MAGIC:
        raise TruncatedPackageError("no package trailer at the end: truncated or not a package")
    trailer = Trailer(
        signature_length=int.from_bytes(tail[0:2], "little"),
        total_length=int.from_bytes(tail[2:6], "little"),
        body_sha256=tail[6:38],
        crc32=int.from_bytes(tail[38:42], "little"),
    )
    if trailer.signature_length > MAX_SIGNATURE_LENGTH:
        raise PackageFormatError(f"signature slot length {trailer.signature_length} exceeds {MAX_SIGNATURE_LENGTH}")
    return trailer
