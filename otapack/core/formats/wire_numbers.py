"""Every wire number of package format v1 and delta-v1, defined once.

Standard library only, with no imports from otapack, so that all of these
can use it: the construct declarations (``package.py``, ``delta.py``), the
codec registry, the builder's limit checks, the stdlib-only device restore
(``otapack.core.restore``), and the generator of the C library's header
(``gen_c_header`` -> ``device/include/ota_wire.h``).  The restore keeps its
own field-by-field reader; only the numbers are shared.  A test checks that
no other module under ``otapack/`` defines any of them again.

Field layouts are ordered ``(name, size)`` tables; offsets are derived from
them, so an offset and its size cannot disagree.
"""

from __future__ import annotations

from typing import NamedTuple


class Field(NamedTuple):
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def _layout(fields: tuple[tuple[str, int], ...], start: int = 0) -> dict[str, Field]:
    out, offset = {}, start
    for name, size in fields:
        out[name] = Field(offset, size)
        offset += size
    return out


# ------------------------------------------------------------ package v1

MAGIC = b"OTAP"
TRAILER_MAGIC = b"OTAF"
FORMAT_VERSION = 1
#: Format versions the readers dispatch on; any other is UnsupportedVersionError.
SUPPORTED_VERSIONS = (1,)

#: Package kinds.  Minimal-system stages are two chained packages.
KINDS = {"full": 1, "delta": 2, "minimal-stage1": 3, "minimal-stage2": 4}

#: Partition operations.  ``keep`` carries only the hash the partition must
#: already have; ``skip`` documents a partition left alone.
#: ``delta-v2`` is a delta whose stream carries a transform section;
#: ``delta-in-place`` a delta the device applies over the partition itself
#: (docs/formats/delta-in-place.md).
OPERATIONS = {"keep": 0, "replace": 1, "delta": 2, "skip": 3, "delta-v2": 4, "delta-in-place": 5}
#: Patch operations -> their delta stream version (docs/formats/delta-v1.md,
#: delta-v2-transforms.md, delta-in-place.md): one table, which every reader dispatches through.
DELTA_VERSIONS = {"delta": 1, "delta-v2": 2, "delta-in-place": 3}
DELTA_OPERATIONS = tuple(DELTA_VERSIONS)
#: Deltas patched into scratch flash of their target's size and copied at ``commit``.
STAGED_DELTA_OPERATIONS = ("delta", "delta-v2")
#: Deltas written over their own partition, sector by sector, in the stream's write order.
IN_PLACE_OPERATIONS = ("delta-in-place",)
#: Which operations carry a source image ref, a target image ref, a payload.
HAS_SOURCE = DELTA_OPERATIONS
HAS_TARGET = ("keep", "replace") + DELTA_OPERATIONS
HAS_PAYLOAD = ("replace",) + DELTA_OPERATIONS

#: Payload codecs (the implementations are in otapack.core.codecs).
CODEC_IDS = {"none": 0, "lzma2": 1}

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
    "fs-unchanged": 8,  # policy full (a file system) unchanged: skipped, never hash-checked (it changes on the device)
    "no-scratch": 9,  # a delta needs more scratch flash than the device's budget (staged or in place)
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

#: Preamble and fixed header fields, in wire order (all little-endian).
PREAMBLE_FIELDS = (("magic", len(MAGIC)), ("format_version", 2))
HEADER_FIELDS = (
    ("kind", 1),
    ("flags", 1),  # reserved, 0 in v1
    ("header_length", 4),  # end of the partition table = first payload byte
    ("body_length", 4),  # end of the payloads = start of the signature slot
    ("security_counter", 4),
    ("build_time", 8),
    ("ram_required", 4),
    ("scratch_flash", 4),
    ("lzma_dict_size", 4),
    ("erase_block", 4),
)
#: Offset and size of every fixed field, from the start of the file.
FIXED = _layout(PREAMBLE_FIELDS + HEADER_FIELDS)
PREAMBLE_SIZE = sum(size for _, size in PREAMBLE_FIELDS)
FIXED_HEADER_SIZE = sum(size for _, size in PREAMBLE_FIELDS + HEADER_FIELDS)
#: Strings after the fixed fields, in wire order, each u8 length + ASCII.
HEADER_STRINGS = ("model", "source_version", "target_version", "tool_version")

#: Length prefix of every string (u8), count of extensions and of partitions (u8).
STRING_LENGTH_SIZE = 1
COUNT_SIZE = 1
EXTENSION_TAG_SIZE = 1
EXTENSION_LENGTH_SIZE = 2
SHA256_SIZE = 32

# ------------------------------------------------------------ extension values
# (docs/formats/package-v1.md, "Extension values")

#: Domain prefix of the flash-state digest, so it can never equal another SHA-256 otapack writes.
STATE_DIGEST_PREFIX = b"otapack-flash-state-v1\0"
#: Version byte of the ``budget`` value.
BUDGET_VERSION = 1
#: Budget figures are u32; larger values are stored as this.
BUDGET_FIELD_MAX = 0xFFFFFFFF

#: A partition entry: name (string), then these, then the optional groups.
ENTRY_FIELDS = (("address", 4), ("operation", 1), ("codec", 1), ("reason", 1))
#: ``source`` (HAS_SOURCE) and ``target`` (HAS_TARGET) image refs.
IMAGE_REF_FIELDS = (("size", 4), ("sha256", SHA256_SIZE))
#: ``payload`` (HAS_PAYLOAD).
PAYLOAD_FIELDS = (("offset", 4), ("length", 4), ("uncompressed_length", 4))
#: Offsets within each group (the entry's: from the end of its name).
ENTRY = _layout(ENTRY_FIELDS)
IMAGE_REF = _layout(IMAGE_REF_FIELDS)
PAYLOAD = _layout(PAYLOAD_FIELDS)

#: The trailer, found from the end of the file.
TRAILER_FIELDS = (
    ("signature_length", 2),
    ("total_length", 4),
    ("body_sha256", SHA256_SIZE),
    ("crc32", 4),  # over every byte of the file before this field
    ("magic", len(TRAILER_MAGIC)),
)
#: Offset and size of every trailer field, from the start of the trailer.
TRAILER = _layout(TRAILER_FIELDS)
TRAILER_SIZE = sum(size for _, size in TRAILER_FIELDS)
#: Bytes of the trailer after the CRC-covered region (the CRC and the magic).
TRAILER_CRC_TAIL = TRAILER_SIZE - TRAILER["crc32"].offset

#: Signature record in the slot: algorithm (u8), key id, then the signature.
SIGNATURE_ALGORITHM_SIZE = 1
KEY_ID_SIZE = 8

#: Hard limits every reader enforces before it allocates; the builder refuses
#: to write anything beyond them.
MAX_HEADER_LENGTH = 64 * 1024  # the device buffers the whole header
MAX_SIGNATURE_LENGTH = 1024
MAX_STRING_LENGTH = (1 << 8 * STRING_LENGTH_SIZE) - 1
MAX_PARTITION_NAME_LENGTH = MAX_STRING_LENGTH
MAX_PARTITIONS = (1 << 8 * COUNT_SIZE) - 1
MAX_EXTENSIONS = (1 << 8 * COUNT_SIZE) - 1
MAX_EXTENSION_LENGTH = (1 << 8 * EXTENSION_LENGTH_SIZE) - 1
#: Sizes, offsets and addresses are u32; the whole package too.
MAX_U32 = (1 << 32) - 1
MAX_PACKAGE_LENGTH = MAX_U32
#: ``lzma_dict_size``: 0 when no payload uses LZMA2, else a value on the
#: LZMA2 size grid (2^n or 3 * 2^(n-1), what a grid-only decoder allocates
#: exactly) within these bounds.  Readers refuse anything else before they
#: allocate a dictionary.
MIN_LZMA_DICT = 4096
MAX_LZMA_DICT = 64 << 20
#: ``erase_block``: a power of two within these bounds.  256 B covers the
#: smallest erase units of MCU flash (SAMD21 rows, STM32L1 pages), 256 KiB
#: the blocks of SPI NAND (64 pages of 4 KiB); the write buffer is one block
#: of RAM, and a smaller block only multiplies the erase operations.
MIN_ERASE_BLOCK = 256
MAX_ERASE_BLOCK = 256 * 1024


def on_lzma2_grid(size: int) -> bool:
    """``size`` is 2^n or 3 * 2^(n-1): a size an LZMA2 dictionary property byte can name."""
    if size < 2:
        return False
    low = size & -size  # the lowest set bit
    return size == low or size == 3 * low


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


# ------------------------------------------------------- restore resources
# The device's RAM model (docs/verifier.md, "RAM accounting"): the buffers a
# restore holds, which ``ram_required`` prices.

#: The device pulls the package in chunks of this size (an HTTP/modem buffer).
PACKAGE_CHUNK = 4096
#: Decoded bytes are consumed, and old bytes read, in pieces of at most this size.
DECODE_CHUNK = 4096
#: One control tuple as the device stores it: three 32-bit fields.
TUPLE_BYTES = 12
#: LZMA probability model: 2 * (LZMA_PROBS_BASE + LZMA_PROBS_PER_LITERAL_STATE
#: * 2^(lc+lp)) bytes (16-bit probabilities), plus the decoder's own state.
LZMA_PROBS_BASE = 1846
LZMA_PROBS_PER_LITERAL_STATE = 768
LZMA_PROB_BYTES = 2
LZMA_DECODER_STATE = 256

# ----------------------------------------------------------- LZMA2 chunks
# Raw LZMA2 is a sequence of chunks; the restore walks their headers over the
# compressed bytes it feeds its decoder (restore/lzma2.py), to price the
# LZMA model each payload needs before decoding and to hold it to it.

#: Control byte values: 0x00 end of stream; 0x01 / 0x02 stored chunk with /
#: without a dictionary reset; 0x03..0x7F invalid; 0x80..0xFF an LZMA chunk
#: whose bits 5-6 say what it resets (below) and bits 0-4 are bits 16-20 of
#: (uncompressed size - 1).
LZMA2_END = 0x00
LZMA2_STORED_RESET = 0x01
LZMA2_STORED = 0x02
LZMA2_LZMA = 0x80
#: An LZMA chunk at or above this carries a properties byte (state reset + new props).
LZMA2_LZMA_PROPS = 0xC0
#: An LZMA chunk at or above this also resets the dictionary.
LZMA2_LZMA_DICT_RESET = 0xE0
#: Header bytes after the control byte: stored chunk (u16 BE size - 1),
#: LZMA chunk (u16 BE low bits of uncompressed size - 1, u16 BE compressed size - 1).
LZMA2_STORED_HEADER = 2
LZMA2_LZMA_HEADER = 4
#: Properties byte = (pb * 5 + lp) * 9 + lc; LZMA2 allows lc + lp <= 4, pb <= 4.
LZMA2_MAX_PROPS = (4 * 5 + 4) * 9 + 8
LZMA2_MAX_LCLP = 4
LZMA2_MAX_PB = 4

# -------------------------------------------------------------- delta v1

#: How each window's diff bytes are stored.  The builder keeps the smaller
#: after compression: zero-run coding wins on sparse diffs (small edits),
#: raw bytes on dense ones whose periodic pointer deltas LZMA's repeat
#: matches exploit.
DIFF_CODINGS = {"raw": 0, "zero-run": 1}

#: Window bounds a stream header may declare: they bound the device's
#: extra buffer and tuple array.  >= 2 tuples: a leading bare seek shares
#: its window with a tuple that writes.
MIN_WINDOW_SIZE = 1
MAX_WINDOW_SIZE = 1 << 20
MIN_WINDOW_TUPLES = 2
MAX_WINDOW_TUPLES = 1 << 16
#: Largest partition a patch addresses, and the largest |seek|: the device's
#: fields are 32-bit.
MAX_PARTITION_SIZE = MAX_U32
MAX_SEEK = MAX_U32

#: Varints are canonical unsigned LEB128 of at most 64 bits.
VARINT_MAX_VALUE = (1 << 64) - 1
VARINT_MAX_BYTES = 10  # ceil(64 / 7)

#: Work bound of a patch stream: the device's cost per control tuple (three
#: varints, the bounds checks, an old-partition read) is far above its cost
#: per byte, so tuples must write bytes on average.  Counting every tuple of
#: the stream (the first is tuple 1) and the output up to the end of that
#: tuple, ``tuples - TUPLE_ALLOWANCE > output // MIN_TUPLE_OUTPUT`` is refused
#: (before the window writes anything).  The builder never writes such a
#: stream (the partition then travels in full); real patches average 134 to
#: 46,000 bytes per tuple (docs/verifier.md).
TUPLE_ALLOWANCE = 64
MIN_TUPLE_OUTPUT = 16

#: Stream bound: header (three varints, far below 32 bytes), then per output
#: byte at most one tuple of three 5-byte varints plus the byte itself.
STREAM_BOUND_BASE = 32
STREAM_BOUND_PER_BYTE = 16


def max_stream_length(target_size: int, in_place: bool = False) -> int:
    """Upper bound of a valid delta-v1 stream for a ``target_size``-byte
    target (``in_place``: after its in-place header); a declared
    ``uncompressed_length`` above it is refused (bomb)."""
    return STREAM_BOUND_BASE + STREAM_BOUND_PER_BYTE * (target_size + 1) + (IN_PLACE_HEADER_BOUND if in_place else 0)


# -------------------------------------------------------------- delta v2
# The transform section of a delta-v2 stream (docs/formats/delta-v2-transforms.md).

#: Transform sets by wire id (the stream header's ``arch``).  0: none, the
#: stream restores exactly like delta-v1.  An id not listed is refused.
TRANSFORM_ARCH_IDS = {"none": 0, "thumb2": 1, "aarch64": 2, "arm32": 3}
#: Address width of each transform set: addresses and offsets wrap modulo 2^bits.
TRANSFORM_ARCH_BITS = {"thumb2": 32, "aarch64": 64, "arm32": 32}
#: Each set's kinds in match order; a region mask's bit i is kind i.
TRANSFORM_KINDS = {
    "thumb2": ("ptr32", "bl", "b.w", "bcond.w", "ldr.w", "ldr-lit", "adr"),
    "aarch64": ("ptr64", "b/bl", "adrp-pair", "adrp", "adr", "ldr-lit"),
    "arm32": ("ptr32", "b/bl", "ldr-lit"),
}
#: Table bounds.  The tables are held for the whole partition, so each entry
#: is priced in RAM (below) at the resources check, before any flash write.
MAX_MAP_ENTRIES = 4096
MAX_REGIONS = 4096
#: Addresses are at most 64 bits; a map delta is a signed 32-bit value.
MAX_TRANSFORM_ADDRESS = (1 << 64) - 1
MAX_MAP_DELTA = (1 << 31) - 1
#: Device RAM per table entry: map (u64 key, i32 delta) and region (u32 start, u32 mask).
MAP_ENTRY_BYTES = 12
REGION_ENTRY_BYTES = 8
#: Longest unit a kind rewrites (AArch64 ADRP pair: 8 bytes): the old-read
#: look-ahead and the pending buffer that carries a unit across tuples.
MAX_UNIT = 8


def transform_ram(map_entries: int, regions: int) -> int:
    """RAM the transform tables of one delta-v2 payload need on the device."""
    return map_entries * MAP_ENTRY_BYTES + regions * REGION_ENTRY_BYTES + 2 * MAX_UNIT


# ------------------------------------------------------------ restore journal v1
# (docs/formats/journal-v1.md): the progress records of a resumable restore.

JOURNAL_MAGIC = b"OTAJ"
#: Erase sectors of the journal area; records go to one, the other is erased
#: when a boot starts writing or the one in use is full.
JOURNAL_AREAS = 2
#: Restore phases a record can name.
#: ``swap``: the in-place commit put write-order chunk ``done`` of ``entry`` in
#: the swap sector and may have begun to erase its live sector.
#: ``copied``: the header and the payloads of the partitions over the package's
#: download area are in scratch (``JOURNAL_COPY_*``); ``entry`` is being
#: committed from that copy, ``done`` bytes of it finished.
JOURNAL_PHASES = {"stage": 1, "commit": 2, "done": 3, "swap": 4, "copied": 5}
#: Phases in which live partitions may be mixed (``pending`` names the package).
JOURNAL_LIVE_PHASES = ("commit", "swap", "copied")
#: A record, fixed size and little-endian; the CRC32 covers every byte before it.
JOURNAL_RECORD_FIELDS = (
    ("magic", len(JOURNAL_MAGIC)),
    ("sequence", 4),  # one more than the newest record; the newest valid record rules
    ("package_digest", SHA256_SIZE),  # body SHA-256 of the package being restored
    ("phase", 1),
    ("reserved", 3),  # 0
    ("entry", 4),  # index of the table entry in progress
    ("done", 4),  # bytes of that entry finished (a sector boundary of where it is written)
    ("padding", 8),  # 0: the record fills 64 bytes, a multiple of every program unit (1..32)
    ("crc32", 4),
)
JOURNAL_RECORD = _layout(JOURNAL_RECORD_FIELDS)
JOURNAL_RECORD_SIZE = sum(size for _, size in JOURNAL_RECORD_FIELDS)
JOURNAL_CRC_SPAN = JOURNAL_RECORD["crc32"].offset
#: The package copy a ``copied`` record stands for: the copy ends before the
#: last ``JOURNAL_COPY_RESERVE`` bytes of the scratch area, whose first bytes
#: hold its descriptor (little-endian).
JOURNAL_COPY_MAGIC = b"OTAC"
JOURNAL_COPY_RESERVE = 128
JOURNAL_COPY_FIELDS = (
    ("magic", len(JOURNAL_COPY_MAGIC)),
    ("length", 4),  # bytes of the copy: the header, then each copied payload in table order
    ("package_digest", SHA256_SIZE),  # body SHA-256 of the package copied (verified before the copy)
    ("copy_sha256", SHA256_SIZE),  # SHA-256 of the copy's bytes
)
JOURNAL_COPY = _layout(JOURNAL_COPY_FIELDS)
JOURNAL_COPY_SIZE = sum(size for _, size in JOURNAL_COPY_FIELDS)


# ------------------------------------------------------------ delta in place
# (docs/formats/delta-in-place.md): the stream header of a ``delta-in-place``
# payload, before its delta-v1 stream.

#: Segment directions: a forward segment writes first, first+1, ...; a
#: backward one first+count-1 down to first.
IN_PLACE_DIRECTIONS = {"forward": 0, "backward": 1}
#: Table bounds: the device holds both tables for the whole partition.
MAX_IN_PLACE_SEGMENTS = 64
MAX_IN_PLACE_SAVES = 64
#: Device RAM priced per entry: a segment (first and count as u32; the
#: direction fits the count's top bit: counts are far below 2^31) and a save (u32 sector).
IN_PLACE_SEGMENT_RAM = 8
IN_PLACE_SAVE_RAM = 4
#: Bound of the in-place header (sector size, two counts, 3 varints per
#: segment, 1 per save, the write-order hash) added to the stream bound.
IN_PLACE_HEADER_BOUND = 3 * 5 + MAX_IN_PLACE_SEGMENTS * 15 + MAX_IN_PLACE_SAVES * 5 + SHA256_SIZE


def in_place_ram(segments: int, saves: int) -> int:
    """RAM the in-place tables of one payload need on the device."""
    return segments * IN_PLACE_SEGMENT_RAM + saves * IN_PLACE_SAVE_RAM
