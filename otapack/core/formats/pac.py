"""Unisoc (Spreadtrum) ``.pac`` firmware container, declared once.

Public layout, as read by the open-source pac extractors (divinebird/
pacextractor, unisoc/dloader ``BinPack.h``): a 2124-byte header, an array of
2580-byte file entries at ``file_offset``, then the file data.  Strings are
UTF-16LE.  Version ``BP_R1.0.0`` uses 32-bit sizes and offsets;
``BP_R2.0.1`` adds high 32-bit halves, stored where R1 keeps the tail of the
version and file-version strings (zero in R1 files), so one declaration
reads both.  ``addresses[0]`` is the load/flash address when
``address_count`` >= 1.  The two header CRC-16 fields are not checked.

``file_flag`` says what an entry is: 0 a download step without data (erase,
format), 1 a file, 2 the download configuration XML (``BMAConfig``; the
vendor generator writes it last, without a file ID).  Addresses
0xFE000000..0xFEFFFFFF are not memory but logical targets the download tool
and its FDL handle (on the 8910: 0xFE000001 erase NV, 0xFE000002 phase
check, 0xFE000003 NV, 0xFE000004 file-system pre-pack, 0xFE000006 format a
file system), as in the Air724U CSDK PAC (docs/partitions.md).
"""

from __future__ import annotations

from construct import Array, Bytes, Const, Int16ul, Int32ul, PaddedString, Struct

MAGIC = 0xFFFAFFFA
HEADER_SIZE = 2124
ENTRY_SIZE = 2580
#: Offset of the magic in the header (for sniffing without a full parse).
MAGIC_OFFSET = 2116
VERSION_R1 = "BP_R1.0.0"
VERSION_R2 = "BP_R2.0.1"
#: Known versions -> whether sizes/offsets have high 32-bit halves.
VERSIONS: dict[str, bool] = {VERSION_R1: False, VERSION_R2: True}
#: ``file_flag`` values.
FLAG_NO_DATA, FLAG_FILE, FLAG_CONFIG = 0, 1, 2
FILE_FLAGS = {FLAG_NO_DATA: "no data", FLAG_FILE: "file", FLAG_CONFIG: "configuration"}
#: Slots in ``addresses``.
MAX_ADDRESSES = 5
#: Logical (non-memory) download targets: ``address & LOGICAL_MASK == LOGICAL_BASE``.
LOGICAL_BASE, LOGICAL_MASK = 0xFE000000, 0xFF000000
ADDRESS_SPACE = 1 << 32

PacHeader = Struct(
    "version" / PaddedString(44, "utf_16_le"),
    "size_hi" / Int32ul,  # BP_R2 only; zero (string padding) in BP_R1
    "size" / Int32ul,
    "product_name" / PaddedString(512, "utf_16_le"),
    "product_version" / PaddedString(512, "utf_16_le"),
    "file_count" / Int32ul,
    "file_offset" / Int32ul,
    "mode" / Int32ul,
    "flash_type" / Int32ul,
    "nand_strategy" / Int32ul,
    "is_nv_backup" / Int32ul,
    "nand_page_type" / Int32ul,
    "product_alias" / PaddedString(200, "utf_16_le"),
    "oma_dm_product_flag" / Int32ul,
    "is_oma_dm" / Int32ul,
    "is_preload" / Int32ul,
    "reserved" / Bytes(800),
    "magic" / Const(MAGIC, Int32ul),
    "crc1" / Int16ul,
    "crc2" / Int16ul,
)

PacFileEntry = Struct(
    "entry_size" / Int32ul,  # 2580
    "file_id" / PaddedString(512, "utf_16_le"),  # FDL1, BOOTLOADER, PY_FS_U, ...
    "file_name" / PaddedString(512, "utf_16_le"),
    "file_version" / PaddedString(504, "utf_16_le"),
    "size_hi" / Int32ul,  # BP_R2 only
    "offset_hi" / Int32ul,  # BP_R2 only
    "size" / Int32ul,
    "file_flag" / Int32ul,  # 0: an operation without data (e.g. erase)
    "check_flag" / Int32ul,
    "data_offset" / Int32ul,
    "can_omit" / Int32ul,
    "address_count" / Int32ul,
    "addresses" / Array(MAX_ADDRESSES, Int32ul),
    "reserved" / Bytes(996),
)

assert PacHeader.sizeof() == HEADER_SIZE and PacFileEntry.sizeof() == ENTRY_SIZE
