"""Package container v1 (docs/formats/package-v1.md), declared once.

Layout, little-endian throughout::

    +--------------------------+  offset 0
    | Preamble: magic, version |  dispatch on format_version (VERSIONS)
    | HeaderV1 + extensions    |
    | partition table          |
    +--------------------------+  header_length
    | payloads, table order    |
    +--------------------------+  body_length  (SHA-256 covers [0, body_length))
    | signature slot (0..N B)  |  the only unsigned bytes
    | Trailer (fixed size)     |  found from the end of the file
    +--------------------------+  total_length

Every number (magics, ids, field sizes and offsets, limits) comes from
``otapack.core.formats.wire_numbers``; this module declares the structure.
The builder and the parser (otapack.core.container) use these declarations only; the
device-mirroring restore (otapack.core.restore) is a separate stdlib-only reader
and a test checks that both agree on every package.
"""

from __future__ import annotations

from construct import (
    Bytes,
    Const,
    Enum,
    MappingError,
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    PascalString,
    Prefixed,
    PrefixedArray,
    Struct,
)

# The numbers (magics, ids, field sizes, limits) live in wire_numbers; this
# module only declares structure with them.  Re-exported for the builder.
from otapack.core.formats.wire_numbers import (  # noqa: F401
    EXTENSION_TAGS,
    FORMAT_VERSION,
    KINDS,
    MAGIC,
    MAX_SIGNATURE_LENGTH,
    OPERATIONS,
    REASONS,
    SIGNATURE_ALGORITHMS,
    TEXT_EXTENSIONS,
    TRAILER_CRC_TAIL,
    TRAILER_MAGIC,
    TRAILER_SIZE,
)
from otapack.core.formats import wire_numbers as wn

_INT = {1: Int8ul, 2: Int16ul, 4: Int32ul, 8: Int64ul}


class StrictEnum(Enum):
    """An Enum that rejects values it does not name (construct's accepts them)."""

    def _decode(self, obj, context, path):
        if obj not in self.decmapping:
            known = ", ".join(f"{name}({value})" for value, name in sorted(self.decmapping.items()))
            raise MappingError(f"unknown value {obj} (expected {known})", path=path)
        return super()._decode(obj, context, path)


def _enum(table: dict[str, int], size: int = 1) -> StrictEnum:
    return StrictEnum(_INT[size], **{k.replace("-", "_"): v for k, v in table.items()})


def _fields(fields, **special):
    """Subcons for a ``(name, size)`` table; ``special`` overrides by name."""
    return [name / special.get(name, _INT.get(size)) for name, size in fields]


_FIXED = dict(wn.PREAMBLE_FIELDS + wn.HEADER_FIELDS)

Preamble = Struct(*_fields(wn.PREAMBLE_FIELDS, magic=Const(MAGIC)))

ShortString = PascalString(_INT[wn.STRING_LENGTH_SIZE], "ascii")

Extension = Struct(
    "tag" / _enum(EXTENSION_TAGS, wn.EXTENSION_TAG_SIZE),
    "value" / Prefixed(_INT[wn.EXTENSION_LENGTH_SIZE], GreedyBytes),
)

_ENTRY = dict(wn.ENTRY_FIELDS)
Operation = _enum(OPERATIONS, _ENTRY["operation"])
Reason = _enum(REASONS, _ENTRY["reason"])

def _both_spellings(names: tuple[str, ...]) -> tuple[str, ...]:
    """Operation names as the tables spell them ("delta-v2") and as construct's enum does ("delta_v2")."""
    return tuple(dict.fromkeys(names + tuple(n.replace("-", "_") for n in names)))


_HAS_SOURCE = _both_spellings(wn.HAS_SOURCE)
_HAS_TARGET = _both_spellings(wn.HAS_TARGET)
_HAS_PAYLOAD = _both_spellings(wn.HAS_PAYLOAD)

ImageRef = Struct(*_fields(wn.IMAGE_REF_FIELDS, sha256=Bytes(wn.SHA256_SIZE)))

PartitionEntry = Struct(
    "name" / ShortString,
    *_fields(wn.ENTRY_FIELDS, operation=Operation, reason=Reason),
    "source" / If(lambda ctx: ctx.operation in _HAS_SOURCE, ImageRef),
    "target" / If(lambda ctx: ctx.operation in _HAS_TARGET, ImageRef),
    "payload" / If(lambda ctx: ctx.operation in _HAS_PAYLOAD, Struct(*_fields(wn.PAYLOAD_FIELDS))),
)

_FIXED_V1 = _fields(wn.HEADER_FIELDS, kind=_enum(KINDS, _FIXED["kind"]))
#: The fixed-size part of HeaderV1 (after the preamble): read first, so a
#: reader can bound ``header_length`` before it parses the rest.
FixedHeaderV1 = Struct(*_FIXED_V1)

HeaderV1 = Struct(
    *_FIXED_V1,
    *[name / ShortString for name in wn.HEADER_STRINGS],
    "extensions" / PrefixedArray(_INT[wn.COUNT_SIZE], Extension),
    "partitions" / PrefixedArray(_INT[wn.COUNT_SIZE], PartitionEntry),
)

#: Header bodies by format version; unknown versions are typed errors.
VERSIONS = {1: HeaderV1}
assert tuple(VERSIONS) == wn.SUPPORTED_VERSIONS

SignatureRecord = Struct(
    "algorithm" / _enum(SIGNATURE_ALGORITHMS, wn.SIGNATURE_ALGORITHM_SIZE),
    "key_id" / Bytes(wn.KEY_ID_SIZE),  # first 8 bytes of SHA-256 of the raw public key: a hint
    "signature" / GreedyBytes,
)

Trailer = Struct(*_fields(wn.TRAILER_FIELDS, body_sha256=Bytes(wn.SHA256_SIZE), magic=Const(TRAILER_MAGIC)))
assert Trailer.sizeof() == TRAILER_SIZE
