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
    | Trailer (46 B, fixed)    |  found from the end of the file
    +--------------------------+  total_length

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

MAGIC = b"OTAP"
TRAILER_MAGIC = b"OTAF"
FORMAT_VERSION = 1

#: Package kinds (wire ids).  Minimal-system stages are two chained packages.
KINDS = {"full": 1, "delta": 2, "minimal-stage1": 3, "minimal-stage2": 4}

#: Partition operations (wire ids).  ``keep`` carries only the hash the
#: partition must already have; ``skip`` documents a partition left alone.
OPERATIONS = {"keep": 0, "replace": 1, "delta": 2, "skip": 3}

#: Why the builder chose the operation; shown by ``info``.
REASONS = {
    "unchanged": 0,  # identical in old and new
    "policy-keep": 1,  # layout says keep (checked, never written)
    "policy-full": 2,  # layout/type says full (file systems)
    "delta-smaller": 3,  # patch smaller than the compressed full payload
    "full-smaller": 4,  # delta tried, full payload was not larger
    "full-package": 5,  # a full package carries everything in full
    "policy-skip": 6,  # layout says never touch
    "no-source": 7,  # no old partition to patch against (new or resized slot)
}

#: Header extension tags: critical data later features add without a new
#: format version.  A device must reject a tag it does not know.
EXTENSION_TAGS = {
    "chain-prev-state": 1,  # SHA-256 of the flash state this package starts from
    "chain-next-package": 2,  # SHA-256 digest of the package that must follow
    "budget": 3,  # flash budget figures of a minimal-system stage
    "hardware-id": 4,  # hardware/board identifier the package binds to
    "layout-digest": 5,  # SHA-256 of the partition layout it was built for
    "image-source": 6,  # how the builder found the partitions (informational)
}
#: Extensions whose value is ASCII text (shown as text by ``info``).
TEXT_EXTENSIONS = frozenset({"hardware-id", "image-source"})

#: Signature algorithms in the signature slot.
SIGNATURE_ALGORITHMS = {"ed25519": 1, "ecdsa-p256": 2}

class StrictEnum(Enum):
    """An Enum that rejects values it does not name (construct's accepts them)."""

    def _decode(self, obj, context, path):
        if obj not in self.decmapping:
            known = ", ".join(f"{name}({value})" for value, name in sorted(self.decmapping.items()))
            raise MappingError(f"unknown value {obj} (expected {known})", path=path)
        return super()._decode(obj, context, path)


def _enum(table: dict[str, int]) -> StrictEnum:
    return StrictEnum(Int8ul, **{k.replace("-", "_"): v for k, v in table.items()})


Preamble = Struct(
    "magic" / Const(MAGIC),
    "format_version" / Int16ul,
)

ShortString = PascalString(Int8ul, "ascii")

Extension = Struct(
    "tag" / _enum(EXTENSION_TAGS),
    "value" / Prefixed(Int16ul, GreedyBytes),
)

Operation = _enum(OPERATIONS)
Reason = _enum(REASONS)

_HAS_SOURCE = ("delta",)
_HAS_TARGET = ("keep", "replace", "delta")
_HAS_PAYLOAD = ("replace", "delta")

PartitionEntry = Struct(
    "name" / ShortString,
    "address" / Int32ul,
    "operation" / Operation,
    "codec" / Int8ul,
    "reason" / Reason,
    "source" / If(lambda ctx: ctx.operation in _HAS_SOURCE, Struct("size" / Int32ul, "sha256" / Bytes(32))),
    "target" / If(lambda ctx: ctx.operation in _HAS_TARGET, Struct("size" / Int32ul, "sha256" / Bytes(32))),
    "payload" / If(
        lambda ctx: ctx.operation in _HAS_PAYLOAD,
        Struct("offset" / Int32ul, "length" / Int32ul, "uncompressed_length" / Int32ul),
    ),
)

HeaderV1 = Struct(
    "kind" / _enum(KINDS),
    "flags" / Int8ul,  # reserved, 0 in v1
    "header_length" / Int32ul,  # end of the partition table = first payload byte
    "body_length" / Int32ul,  # end of the payloads = start of the signature slot
    "security_counter" / Int32ul,
    "build_time" / Int64ul,
    "ram_required" / Int32ul,
    "scratch_flash" / Int32ul,
    "lzma_dict_size" / Int32ul,
    "erase_block" / Int32ul,
    "model" / ShortString,
    "source_version" / ShortString,
    "target_version" / ShortString,
    "tool_version" / ShortString,
    "extensions" / PrefixedArray(Int8ul, Extension),
    "partitions" / PrefixedArray(Int8ul, PartitionEntry),
)

#: Header bodies by format version; unknown versions are typed errors.
VERSIONS = {1: HeaderV1}

SignatureRecord = Struct(
    "algorithm" / _enum(SIGNATURE_ALGORITHMS),
    "key_id" / Bytes(8),  # first 8 bytes of SHA-256 of the raw public key: a hint
    "signature" / GreedyBytes,
)

Trailer = Struct(
    "signature_length" / Int16ul,
    "total_length" / Int32ul,
    "body_sha256" / Bytes(32),
    "crc32" / Int32ul,  # over every byte of the file before this field
    "magic" / Const(TRAILER_MAGIC),
)
TRAILER_SIZE = Trailer.sizeof()
#: Bytes of the trailer that follow the CRC-covered region.
TRAILER_CRC_TAIL = 8

#: Hard limits the parser and the restore enforce before allocating.
MAX_PARTITIONS = 255
#: Longest ShortString (partition names, model, versions): its u8 length prefix.
MAX_NAME_BYTES = 255
MAX_SIGNATURE_LENGTH = 1024
