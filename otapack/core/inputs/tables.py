"""Partition tables embedded in a raw image: GPT, MBR, ESP-IDF.

``EMBEDDED_TABLES`` is the registry (name -> finder), tried in order; each
finder returns ``None`` when its table is not there, a ``TableResult`` when
it is, and raises ``ImageFormatError`` when the table is there but broken
(bad CRC/MD5, entries outside the image's address space, overlaps).

Where each table is looked for:

* ``gpt``: the header signature ``EFI PART`` at LBA 1, for 512- and
  4096-byte sectors (offset 0x200, then 0x1000); header and entry-array
  CRC-32 are checked.
* ``mbr``: signature 0x55AA at 0x1FE of sector 0 with at least one used
  entry and sane status bytes; a FAT boot sector (a bare file system, not a
  partitioned disk) and a protective MBR (type 0xEE: the GPT) are not MBRs.
* ``esp-idf``: the first entry's magic 0xAA 0x50 at 0x8000 (ESP-IDF's
  default ``CONFIG_PARTITION_TABLE_OFFSET``), then at every other 4 KiB
  boundary below 1 MiB.  The region before the table becomes a
  ``bootloader`` partition and the table's own 4 KiB a ``partition-table``
  partition (policy keep).

Offsets in a table are relative to the start of the image.  A partition
that the table declares but the image does not fully contain keeps its
declared slot size and only the bytes present (it reads as "resized" in a
compare); one that starts beyond the end of the image has no bytes.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Callable

from otapack.errors import ImageFormatError
from otapack.core.formats import esp_idf, gpt, mbr
from otapack.core.model import PartitionType, Policy
from otapack.core.inputs.binparse import parse, try_parse
from otapack.core.inputs.detect import is_fat


@dataclass(frozen=True)
class Slot:
    """One partition as a table declares it (offset from the image start)."""

    name: str
    offset: int
    size: int
    type: PartitionType | None = None  # None: detect from the bytes
    policy: Policy | None = None  # None: DEFAULT_POLICY[type]
    info: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class TableResult:
    source: str  # "gpt", "mbr", "esp-idf"
    slots: tuple[Slot, ...]
    details: dict = field(default_factory=dict, compare=False, hash=False)


def check_slots(slots: list[Slot], what: str, table: str) -> None:
    """Names unique and slots not overlapping, or ImageFormatError."""
    seen = set()
    for s in slots:
        if s.name in seen:
            raise ImageFormatError(f"{what}: {table} table lists partition {s.name!r} twice")
        seen.add(s.name)
    ordered = sorted(slots, key=lambda s: s.offset)
    for a, b in zip(ordered, ordered[1:]):
        if b.offset < a.end:
            raise ImageFormatError(
                f"{what}: {table} partition {b.name!r} ({b.offset:#x}..{b.end:#x}) overlaps "
                f"{a.name!r} ({a.offset:#x}..{a.end:#x})"
            )


# -- ESP-IDF -----------------------------------------------------------------------

ESP_SEARCH_LIMIT = 0x100000

_ESP_DATA_TYPES: dict[str, tuple[PartitionType, Policy | None]] = {
    "ota": (PartitionType.DATA, Policy.SKIP),  # boot selector, written by the device
    "phy": (PartitionType.NV, None),
    "nvs": (PartitionType.NV, None),
    "coredump": (PartitionType.DATA, Policy.SKIP),  # written by the device on a crash
    "nvs_keys": (PartitionType.NV, None),
    "efuse": (PartitionType.NV, None),
    "fat": (PartitionType.FILESYSTEM, None),
    "spiffs": (PartitionType.FILESYSTEM, None),
    "littlefs": (PartitionType.FILESYSTEM, None),
}


def _esp_type(entry) -> tuple[PartitionType | None, Policy | None, str]:
    if entry.type == esp_idf.TYPE_APP:
        return PartitionType.CODE, None, "app"
    if entry.type == esp_idf.TYPE_BOOTLOADER:
        return PartitionType.BOOTLOADER, None, "bootloader"
    if entry.type == esp_idf.TYPE_PARTITION_TABLE:
        return PartitionType.DATA, Policy.KEEP, "partition_table"
    if entry.type == esp_idf.TYPE_DATA:
        sub = esp_idf.DATA_SUBTYPES.get(entry.subtype, f"{entry.subtype:#x}")
        ptype, policy = _ESP_DATA_TYPES.get(sub, (None, None))
        return ptype, policy, f"data/{sub}"
    return None, None, f"{entry.type:#x}/{entry.subtype:#x}"


def find_esp_idf(data: bytes, what: str) -> TableResult | None:
    limit = min(len(data), ESP_SEARCH_LIMIT)
    candidates = [esp_idf.DEFAULT_TABLE_OFFSET] + [
        o for o in range(0x1000, limit, 0x1000) if o != esp_idf.DEFAULT_TABLE_OFFSET
    ]
    for offset in candidates:
        if data[offset:offset + 2] == esp_idf.ENTRY_MAGIC and _plausible_esp(data, offset):
            return _read_esp_idf(data, offset, what)
    return None


def _plausible_esp(data: bytes, offset: int) -> bool:
    """A first entry that looks real (printable label, 4 KiB-aligned offset,
    non-zero size) followed by another entry, the MD5 entry or the end
    marker: firmware bytes that merely contain 0xAA 0x50 are not a table."""
    entry = try_parse(esp_idf.PartitionEntry, data, offset)
    if entry is None or not entry.label or not entry.label.isprintable() or not entry.label.isascii():
        return False
    if entry.offset % 0x1000 or entry.size == 0:
        return False
    following = data[offset + esp_idf.ENTRY_SIZE:offset + esp_idf.ENTRY_SIZE + 2]
    return following in (esp_idf.ENTRY_MAGIC, esp_idf.MD5_MAGIC, b"\xff\xff")


def _read_esp_idf(data: bytes, table: int, what: str) -> TableResult:
    slots: list[Slot] = []
    md5_checked = False
    pos = table
    end = min(table + esp_idf.TABLE_MAX_SIZE, len(data))
    while pos + esp_idf.ENTRY_SIZE <= end:
        chunk = data[pos:pos + esp_idf.ENTRY_SIZE]
        if chunk == esp_idf.END_MARKER:
            break
        if chunk[:2] == esp_idf.MD5_MAGIC:
            md5 = parse(esp_idf.Md5Entry, data, pos, what=f"{what}: ESP-IDF MD5 entry").md5
            actual = hashlib.md5(data[table:pos]).digest()
            if md5 != actual:
                raise ImageFormatError(
                    f"{what}: ESP-IDF partition table at {table:#x}: MD5 mismatch "
                    f"(table says {md5.hex()}, entries hash to {actual.hex()})"
                )
            md5_checked = True
        else:
            index = (pos - table) // esp_idf.ENTRY_SIZE + 1
            entry = parse(esp_idf.PartitionEntry, data, pos, what=f"{what}: ESP-IDF partition entry #{index}")
            ptype, policy, kind = _esp_type(entry)
            info = {"esp_type": kind, "flags": entry.flags}
            if entry.flags & esp_idf.FLAG_ENCRYPTED:
                info["encrypted"] = True
            slots.append(Slot(entry.label, entry.offset, entry.size, ptype, policy, info))
        pos += esp_idf.ENTRY_SIZE
    if not slots:
        raise ImageFormatError(f"{what}: ESP-IDF partition table at {table:#x} has no entries")
    implicit = []
    boot_end = min([table] + [s.offset for s in slots if s.offset < table])
    if boot_end > 0 and not any(s.type is PartitionType.BOOTLOADER for s in slots):
        implicit.append(Slot("bootloader", 0, boot_end, PartitionType.BOOTLOADER, None, {"implicit": True}))
    if not any(s.info.get("esp_type") == "partition_table" for s in slots):
        size = min([0x1000] + [s.offset - table for s in slots if s.offset > table])
        implicit.append(Slot("partition-table", table, size, PartitionType.DATA, Policy.KEEP, {"implicit": True}))
    names = {s.name for s in slots}
    implicit = [s for s in implicit if s.name not in names]
    slots = sorted(implicit + slots, key=lambda s: s.offset)
    check_slots(slots, what, "ESP-IDF")
    return TableResult("esp-idf", tuple(slots), {"table_offset": table, "md5_checked": md5_checked})


# -- MBR ---------------------------------------------------------------------------


def find_mbr(data: bytes, what: str) -> TableResult | None:
    if data[510:512] != mbr.SIGNATURE or is_fat(data):
        return None
    record = try_parse(mbr.Mbr, data, 0)
    if record is None:
        return None
    entries = list(record.entries)
    if any(e.status not in (0x00, 0x80) for e in entries):
        return None
    used = [(i, e) for i, e in enumerate(entries, start=1) if e.type != mbr.TYPE_EMPTY and e.sectors]
    if not used or any(e.type == mbr.TYPE_GPT_PROTECTIVE for _, e in used):
        return None
    if any(e.lba_first == 0 for _, e in used):
        return None  # an entry over sector 0 itself: not a real MBR
    slots = []
    skipped = []
    for index, e in used:
        if e.type in mbr.EXTENDED_TYPES:
            skipped.append(f"p{index}")
            continue
        ptype = PartitionType.FILESYSTEM if e.type in mbr.FAT_TYPES else None
        slots.append(
            Slot(f"p{index}", e.lba_first * mbr.SECTOR_SIZE, e.sectors * mbr.SECTOR_SIZE, ptype, None,
                 {"mbr_type": e.type, "bootable": e.status == 0x80})
        )
    check_slots(slots, what, "MBR")
    return TableResult("mbr", tuple(slots), {"extended_not_followed": skipped})


# -- GPT ---------------------------------------------------------------------------

_GPT_TYPES: dict[str, PartitionType] = {
    "efi-system": PartitionType.FILESYSTEM,
    "basic-data": PartitionType.FILESYSTEM,
    "bios-boot": PartitionType.BOOTLOADER,
}


def _crc_header(raw: bytes) -> int:
    zeroed = raw[:16] + b"\0\0\0\0" + raw[20:]
    return zlib.crc32(zeroed) & 0xFFFFFFFF


def find_gpt(data: bytes, what: str) -> TableResult | None:
    for sector in gpt.SECTOR_SIZES:
        if data[sector:sector + 8] == gpt.SIGNATURE:
            return _read_gpt(data, sector, what)
    return None


def _read_gpt(data: bytes, sector: int, what: str) -> TableResult:
    header = parse(gpt.GptHeader, data, sector, what=f"{what}: GPT header")
    if not gpt.HEADER_SIZE <= header.header_size <= sector:
        raise ImageFormatError(f"{what}: GPT header at {sector:#x}: header size {header.header_size} out of range")
    raw = data[sector:sector + header.header_size]
    crc = _crc_header(raw)
    if crc != header.header_crc32:
        raise ImageFormatError(
            f"{what}: GPT header at {sector:#x}: CRC32 mismatch "
            f"(stored {header.header_crc32:#010x}, computed {crc:#010x})"
        )
    if header.entry_size < gpt.ENTRY_SIZE or header.entry_size % gpt.ENTRY_SIZE:
        raise ImageFormatError(f"{what}: GPT header at {sector:#x}: entry size {header.entry_size} is invalid")
    start = header.entries_lba * sector
    length = header.num_entries * header.entry_size
    if start + length > len(data):
        raise ImageFormatError(
            f"{what}: GPT entry array ({start:#x}..{start + length:#x}) extends past the end of the image "
            f"({len(data):#x} bytes)"
        )
    array = data[start:start + length]
    crc = zlib.crc32(array) & 0xFFFFFFFF
    if crc != header.entries_crc32:
        raise ImageFormatError(
            f"{what}: GPT entry array at {start:#x}: CRC32 mismatch "
            f"(stored {header.entries_crc32:#010x}, computed {crc:#010x})"
        )
    slots = []
    names: set[str] = set()
    for index in range(header.num_entries):
        pos = start + index * header.entry_size
        entry = parse(gpt.GptEntry, data, pos, what=f"{what}: GPT entry #{index + 1}")
        if entry.type_guid == gpt.UNUSED_GUID:
            continue
        if entry.last_lba < entry.first_lba:
            raise ImageFormatError(
                f"{what}: GPT entry #{index + 1} ends (LBA {entry.last_lba}) before it starts "
                f"(LBA {entry.first_lba})"
            )
        name = entry.name or f"p{index + 1}"
        if name in names:
            name = f"{name}-p{index + 1}"
        names.add(name)
        kind = gpt.TYPE_GUIDS.get(entry.type_guid, str(entry.type_guid))
        slots.append(
            Slot(name, entry.first_lba * sector, (entry.last_lba - entry.first_lba + 1) * sector,
                 _GPT_TYPES.get(kind), None,
                 {"gpt_type": kind, "unique_guid": str(entry.unique_guid), "attributes": entry.attributes})
        )
    if not slots:
        raise ImageFormatError(f"{what}: GPT at {sector:#x} has no partitions")
    check_slots(slots, what, "GPT")
    return TableResult("gpt", tuple(slots), {"sector_size": sector, "disk_guid": str(header.disk_guid)})


Finder = Callable[[bytes, str], "TableResult | None"]

#: Embedded table finders, tried in this order (GPT before MBR: a GPT disk
#: starts with a protective MBR).
EMBEDDED_TABLES: dict[str, Finder] = {
    "gpt": find_gpt,
    "mbr": find_mbr,
    "esp-idf": find_esp_idf,
}


def find_table(data: bytes, what: str) -> TableResult | None:
    for finder in EMBEDDED_TABLES.values():
        result = finder(data, what)
        if result is not None:
            return result
    return None
