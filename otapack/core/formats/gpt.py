"""GUID Partition Table header and entry (UEFI spec, chapter 5), declared once.

The header is at LBA 1 (after the protective MBR); the entry array is at
``entries_lba``.  Both carry a CRC-32 (zlib): the header's over its first
``header_size`` bytes with ``header_crc32`` set to zero, the array's over
``num_entries * entry_size`` bytes.  GUIDs are stored mixed-endian
(``uuid.UUID.bytes_le``); names are UTF-16LE.
"""

from __future__ import annotations

import uuid

from construct import Adapter, Bytes, Const, Int32ul, Int64ul, PaddedString, Struct

SIGNATURE = b"EFI PART"
REVISION_1_0 = 0x00010000
HEADER_SIZE = 92
ENTRY_SIZE = 128
#: Sector sizes tried when looking for the header at LBA 1.
SECTOR_SIZES = (512, 4096)


class GuidAdapter(Adapter):
    """16 bytes on disk <-> ``uuid.UUID``."""

    def _decode(self, obj, context, path):
        return uuid.UUID(bytes_le=bytes(obj))

    def _encode(self, obj, context, path):
        return obj.bytes_le


Guid = GuidAdapter(Bytes(16))

GptHeader = Struct(
    "signature" / Const(SIGNATURE),
    "revision" / Int32ul,
    "header_size" / Int32ul,
    "header_crc32" / Int32ul,
    "reserved" / Int32ul,
    "current_lba" / Int64ul,
    "backup_lba" / Int64ul,
    "first_usable_lba" / Int64ul,
    "last_usable_lba" / Int64ul,
    "disk_guid" / Guid,
    "entries_lba" / Int64ul,
    "num_entries" / Int32ul,
    "entry_size" / Int32ul,
    "entries_crc32" / Int32ul,
)

GptEntry = Struct(
    "type_guid" / Guid,
    "unique_guid" / Guid,
    "first_lba" / Int64ul,
    "last_lba" / Int64ul,  # inclusive
    "attributes" / Int64ul,
    "name" / PaddedString(72, "utf_16_le"),
)

assert GptHeader.sizeof() == HEADER_SIZE and GptEntry.sizeof() == ENTRY_SIZE

UNUSED_GUID = uuid.UUID(int=0)

#: Well-known partition type GUIDs -> a short name.
TYPE_GUIDS: dict[uuid.UUID, str] = {
    uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"): "efi-system",
    uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"): "basic-data",
    uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4"): "linux-filesystem",
    uuid.UUID("21686148-6449-6E6F-744E-656564454649"): "bios-boot",
}
