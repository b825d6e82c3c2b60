"""Master Boot Record (sector 0 of a partitioned disk image), declared once.

Four primary entries at 0x1BE, signature 0x55 0xAA at 0x1FE; addresses are
in 512-byte sectors (LBA).  Type 0xEE marks a protective MBR in front of a
GPT.
"""

from __future__ import annotations

from construct import Array, Bytes, Const, Int8ul, Int32ul, Struct

SECTOR_SIZE = 512
SIGNATURE = b"\x55\xaa"

MbrEntry = Struct(
    "status" / Int8ul,  # 0x80 bootable, 0x00 not
    "chs_first" / Bytes(3),
    "type" / Int8ul,  # 0x00 = unused
    "chs_last" / Bytes(3),
    "lba_first" / Int32ul,
    "sectors" / Int32ul,
)

Mbr = Struct(
    "bootstrap" / Bytes(440),
    "disk_signature" / Int32ul,
    "reserved" / Bytes(2),
    "entries" / Array(4, MbrEntry),
    "signature" / Const(SIGNATURE),
)

assert MbrEntry.sizeof() == 16 and Mbr.sizeof() == SECTOR_SIZE

TYPE_EMPTY = 0x00
TYPE_GPT_PROTECTIVE = 0xEE
#: Extended-partition containers (their logical partitions are not followed).
EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})
#: Partition types that hold a FAT file system.
FAT_TYPES = frozenset({0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E})
#: Linux native (ext*, squashfs, ...).
LINUX_TYPE = 0x83
