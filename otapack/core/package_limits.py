"""The hard limits of package format v1, checked before anything is encoded.

Every reader (``read_package``, the device restore) refuses a header over
``MAX_HEADER_LENGTH``, more than 255 partitions or extensions, strings over
255 bytes or not ASCII, unknown ids, repeated extension tags or partition
names; ``check_limits`` refuses the same on the builder's side with a
``PackageLimitError``.  Every field but the strings and extension values is
fixed-width, so it works on provisional records before the payloads exist
(builders call it before the expensive work; ``assemble`` again on the
final records).  The numbers are ``otapack.core.formats.wire_numbers``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otapack.core.formats import wire_numbers as wn
from otapack.errors import PackageLimitError

if TYPE_CHECKING:
    from otapack.core.container import PackageHeader, PartitionRecord

_REF_SIZE = sum(size for _, size in wn.IMAGE_REF_FIELDS)
_PAYLOAD_SIZE = sum(size for _, size in wn.PAYLOAD_FIELDS)
_ENTRY_SIZE = wn.STRING_LENGTH_SIZE + sum(size for _, size in wn.ENTRY_FIELDS)
_U32_FIELDS = ("security_counter", "ram_required", "scratch_flash", "lzma_dict_size", "erase_block")


def entry_size(record: PartitionRecord) -> int:
    """Bytes one partition entry takes (every field but the name is fixed-width)."""
    return (_ENTRY_SIZE + len(record.name.encode("ascii", "replace"))
            + _REF_SIZE * ((record.operation in wn.HAS_SOURCE) + (record.operation in wn.HAS_TARGET))
            + _PAYLOAD_SIZE * (record.operation in wn.HAS_PAYLOAD))


def _extensions_size(header: PackageHeader) -> int:
    return wn.COUNT_SIZE + sum(wn.EXTENSION_TAG_SIZE + wn.EXTENSION_LENGTH_SIZE + len(v) for _, v in header.extensions)


def _check_string(what: str, value: str) -> None:
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise PackageLimitError(f"{what} {value!r} is not ASCII; package format v1 stores ASCII strings") from None
    if len(raw) > wn.MAX_STRING_LENGTH:
        raise PackageLimitError(f"{what} is {len(raw)} bytes; package format v1 stores at most {wn.MAX_STRING_LENGTH}")


def _check_u32(what: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= wn.MAX_U32:
        raise PackageLimitError(f"{what} {value} does not fit the 32-bit field of package format v1")


def _check_header_fields(header: PackageHeader) -> None:
    if header.format_version not in wn.SUPPORTED_VERSIONS:
        raise PackageLimitError(f"unknown package format version {header.format_version}")
    if header.kind not in wn.KINDS:
        raise PackageLimitError(f"unknown package kind {header.kind!r} (kinds: {', '.join(wn.KINDS)})")
    for name in wn.HEADER_STRINGS:
        _check_string(name.replace("_", " "), getattr(header, name))
    for name in _U32_FIELDS:
        _check_u32(name.replace("_", " "), getattr(header, name))
    if not 0 <= header.build_time < 1 << 8 * wn.FIXED["build_time"].size:
        raise PackageLimitError(f"build time {header.build_time} does not fit its 64-bit field")
    if len(header.extensions) > wn.MAX_EXTENSIONS:
        raise PackageLimitError(
            f"{len(header.extensions)} header extensions; package format v1 holds at most {wn.MAX_EXTENSIONS}")
    seen = set()
    for tag, value in header.extensions:
        if tag not in wn.EXTENSION_TAGS:
            raise PackageLimitError(f"unknown header extension {tag!r} (extensions: {', '.join(wn.EXTENSION_TAGS)})")
        if tag in seen:  # both readers refuse a repeated tag
            raise PackageLimitError(f"header extension {tag} given twice")
        seen.add(tag)
        if len(value) > wn.MAX_EXTENSION_LENGTH:
            raise PackageLimitError(
                f"header extension {tag} is {len(value)} bytes; an extension holds at most {wn.MAX_EXTENSION_LENGTH}")


def _check_record(r: PartitionRecord) -> None:
    _check_string("partition name", r.name)
    where = f"partition {r.name!r}"
    if r.operation not in wn.OPERATIONS:
        raise PackageLimitError(f"{where}: unknown operation {r.operation!r}")
    if r.reason not in wn.REASONS:
        raise PackageLimitError(f"{where}: unknown reason {r.reason!r}")
    if r.codec not in wn.CODEC_IDS:
        raise PackageLimitError(f"{where}: unknown codec {r.codec!r}")
    _check_u32(f"{where}: address", r.address)
    for group, size, sha in (("source", r.source_size, r.source_sha256), ("target", r.target_size, r.target_sha256)):
        if r.operation in (wn.HAS_SOURCE if group == "source" else wn.HAS_TARGET):
            if size is None or sha is None or len(sha) != wn.SHA256_SIZE:
                raise PackageLimitError(f"{where}: {r.operation} needs a {group} size and {wn.SHA256_SIZE}-byte SHA-256")
            _check_u32(f"{where}: {group} size", size)
    for name in ("payload_offset", "payload_length", "uncompressed_length"):
        _check_u32(f"{where}: {name.replace('_', ' ')}", getattr(r, name))


def check_limits(header: PackageHeader, records) -> int:
    """Refuse what a reader refuses for a format limit; returns the header size.

    Offsets and lengths are fixed-width, so this works on provisional records
    (operations known, payloads not yet made): builders call it before the
    expensive work, and ``assemble`` calls it again on the final records."""
    _check_header_fields(header)
    records = list(records)
    if len(records) > wn.MAX_PARTITIONS:
        raise PackageLimitError(f"{len(records)} partitions; package format v1 holds at most {wn.MAX_PARTITIONS}")
    names = set()
    for record in records:
        _check_record(record)
        if record.name in names:  # both readers refuse a repeated name
            raise PackageLimitError(f"partition {record.name!r} appears twice")
        names.add(record.name)
    strings = sum(wn.STRING_LENGTH_SIZE + len(getattr(header, n).encode("ascii")) for n in wn.HEADER_STRINGS)
    extensions = _extensions_size(header)
    table = wn.COUNT_SIZE + sum(entry_size(r) for r in records)
    size = wn.FIXED_HEADER_SIZE + strings + extensions + table
    if size > wn.MAX_HEADER_LENGTH:
        raise PackageLimitError(
            f"package header would be {size} bytes (extensions {extensions}, partition table {table} for "
            f"{len(records)} partitions); readers refuse headers over {wn.MAX_HEADER_LENGTH} bytes "
            f"(the device buffers the whole header)"
        )
    return size


def check_signature_slot(signature_slot: bytes) -> None:
    if len(signature_slot) > wn.MAX_SIGNATURE_LENGTH:
        raise PackageLimitError(f"signature slot of {len(signature_slot)} bytes exceeds {wn.MAX_SIGNATURE_LENGTH}")
