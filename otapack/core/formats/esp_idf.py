"""ESP-IDF binary partition table (``partitions.bin``), declared once.

The table is a run of 32-byte entries, optionally followed by one MD5 entry
over the entries before it, then 0xFF padding; it is at most 0xC00 bytes.
Flash offsets in the entries are absolute (from the start of the flash).
Reference: ESP-IDF ``components/partition_table/gen_esp32part.py``.
"""

from __future__ import annotations

from construct import Bytes, Const, Int8ul, Int32ul, Padding, PaddedString, Struct

#: Where ESP-IDF puts the table by default (CONFIG_PARTITION_TABLE_OFFSET).
DEFAULT_TABLE_OFFSET = 0x8000
#: The table region: entries, MD5 entry and 0xFF padding.
TABLE_MAX_SIZE = 0xC00
ENTRY_SIZE = 32

ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
END_MARKER = b"\xff" * ENTRY_SIZE

#: One partition: magic, type, subtype, absolute offset, size, label, flags.
PartitionEntry = Struct(
    "magic" / Const(ENTRY_MAGIC),
    "type" / Int8ul,
    "subtype" / Int8ul,
    "offset" / Int32ul,
    "size" / Int32ul,
    "label" / PaddedString(16, "utf8"),
    "flags" / Int32ul,
)

#: The optional checksum entry: MD5 of every entry before it.
Md5Entry = Struct(
    "magic" / Const(MD5_MAGIC),
    Padding(14, pattern=b"\xff"),
    "md5" / Bytes(16),
)

assert PartitionEntry.sizeof() == ENTRY_SIZE and Md5Entry.sizeof() == ENTRY_SIZE

TYPE_APP = 0x00
TYPE_DATA = 0x01
TYPE_BOOTLOADER = 0x02
TYPE_PARTITION_TABLE = 0x03

#: Data subtypes with a known meaning (gen_esp32part.py SUBTYPES["data"]).
DATA_SUBTYPES: dict[int, str] = {
    0x00: "ota",
    0x01: "phy",
    0x02: "nvs",
    0x03: "coredump",
    0x04: "nvs_keys",
    0x05: "efuse",
    0x06: "undefined",
    0x80: "esphttpd",
    0x81: "fat",
    0x82: "spiffs",
    0x83: "littlefs",
}

FLAG_ENCRYPTED = 0x1
FLAG_READONLY = 0x2
