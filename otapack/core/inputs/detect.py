"""What a partition holds, found from its bytes where the layout does not say.

``DETECTORS`` is the registry: name -> ``Detector`` (the partition type it
implies and a predicate over the bytes).  They are tried in table order; the
first that matches wins.  Every check looks only at fixed offsets, so
detection is cheap even on large images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from otapack.core.model import DEFAULT_POLICY, Partition, PartitionType, Policy

#: Block sizes tried for the second littlefs superblock copy.
_LFS_BLOCK_SIZES = tuple(1 << n for n in range(7, 17))  # 128 B .. 64 KiB
#: littlefs magic offsets in a metadata block: v2 (after revision + tag), v1
#: (after the 16-byte dir header and the 24-byte superblock entry).
_LFS_MAGIC_OFFSETS = (8, 40)
_JFFS2_NODE_TYPES = frozenset({0xE001, 0xE002, 0x2003, 0x2004, 0xE006, 0xE008, 0xE009})


def is_erased(data: bytes, erased_value: int = 0xFF) -> bool:
    """All bytes 0xFF (erased NOR/NAND) or all 0x00."""
    if not data:
        return False
    first = data[0]
    return first in (0xFF, 0x00, erased_value) and data.count(first) == len(data)


def is_littlefs(data: bytes, erased_value: int = 0xFF) -> bool:
    """Magic ``littlefs`` in the superblock of block 0 or block 1."""
    starts = (0,) + _LFS_BLOCK_SIZES
    return any(
        data[s + o:s + o + 8] == b"littlefs" for s in starts for o in _LFS_MAGIC_OFFSETS
    )


def is_squashfs(data: bytes, erased_value: int = 0xFF) -> bool:
    """SquashFS superblock magic at 0: ``hsqs`` (little endian) or ``sqsh``."""
    return data[:4] in (b"hsqs", b"sqsh")


def is_ubi(data: bytes, erased_value: int = 0xFF) -> bool:
    """UBI erase-counter header magic ``UBI#`` at 0."""
    return data[:4] == b"UBI#"


def is_jffs2(data: bytes, erased_value: int = 0xFF) -> bool:
    """JFFS2 node at 0: magic 0x1985 and a known node type, either byte order."""
    if len(data) < 4:
        return False
    for order in ("little", "big"):
        magic = int.from_bytes(data[0:2], order)
        node = int.from_bytes(data[2:4], order)
        if magic == 0x1985 and node in _JFFS2_NODE_TYPES:
            return True
    return False


def is_fat(data: bytes, erased_value: int = 0xFF) -> bool:
    """FAT boot sector: jump instruction, 0x55AA at 510, and the file-system
    type string at 0x36 (FAT12/16) or 0x52 (FAT32), or ``EXFAT`` at 3."""
    if len(data) < 512 or data[510:512] != b"\x55\xaa" or data[0] not in (0xEB, 0xE9):
        return False
    return data[0x36:0x39] == b"FAT" or data[0x52:0x57] == b"FAT32" or data[3:8] == b"EXFAT"


@dataclass(frozen=True)
class Detector:
    name: str
    type: PartitionType
    check: Callable[[bytes, int], bool]
    description: str


#: Content detectors, tried in this order.
DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector("erased", PartitionType.ERASED, is_erased, "every byte 0xFF (or 0x00)"),
        Detector("littlefs", PartitionType.FILESYSTEM, is_littlefs,
                 "'littlefs' at offset 8 (v2) or 40 (v1) of block 0 or 1"),
        Detector("squashfs", PartitionType.FILESYSTEM, is_squashfs, "'hsqs' or 'sqsh' at 0"),
        Detector("ubi", PartitionType.FILESYSTEM, is_ubi, "'UBI#' at 0"),
        Detector("jffs2", PartitionType.FILESYSTEM, is_jffs2, "node magic 0x1985 at 0"),
        Detector("fat", PartitionType.FILESYSTEM, is_fat, "boot sector with 0x55AA and 'FAT' type"),
    )
}


#: Well-known partition names (case-insensitive) -> type: QuecPython/Unisoc
#: PAC IDs, QuecPython file-system names, common ELF section names.  Used
#: when neither the layout nor the table gives a type, before content.
NAME_TYPES: dict[str, PartitionType] = {
    **dict.fromkeys(("bootloader", "boot", "fdl", "fdl1", "fdl2", "spl", "uboot"), PartitionType.BOOTLOADER),
    **dict.fromkeys(("nv", "nvm", "fixnv", "runtimenv", "prodnv", "factory", "calibration", "phy_init"),
                    PartitionType.NV),
    **dict.fromkeys(("customer_fs", "customer_backup_fs", "py_fs_u", "py_fs_b", "usr", "bak"),
                    PartitionType.FILESYSTEM),
    **dict.fromkeys(("appimg", "ps", "ap", "cp", "modem", "app", "text", "system", "firmware", "image"),
                    PartitionType.CODE),
}
#: Names whose default policy differs from DEFAULT_POLICY[type]: download
#: loaders run from RAM during a cable download and are never flashed.
NAME_POLICIES: dict[str, Policy] = dict.fromkeys(("fdl", "fdl1", "fdl2"), Policy.SKIP)


def detect_content(data: bytes, erased_value: int = 0xFF) -> str | None:
    """Name of the first detector that matches, or None."""
    for detector in DETECTORS.values():
        if detector.check(data, erased_value):
            return detector.name
    return None


def erased_fraction(data: bytes, erased_value: int = 0xFF) -> float:
    """Share of bytes equal to the erased value (0.0 for no data)."""
    if not data:
        return 0.0
    return data.count(bytes([erased_value])) / len(data)


def classify(
    name: str,
    address: int,
    data: bytes,
    *,
    type: PartitionType | None = None,
    policy: Policy | None = None,
    slot_size: int | None = None,
    erased_value: int = 0xFF,
    fallback: PartitionType = PartitionType.UNKNOWN,
    arch: str | None = None,
) -> tuple[Partition, str | None]:
    """A ``Partition`` plus the name of the content detector that matched.

    Type, when not given: the well-known name (``NAME_TYPES``), else the
    content detector's type, else ``fallback``.  Policy, when not given:
    ``NAME_POLICIES``, else ``DEFAULT_POLICY[type]``."""
    content = detect_content(data, erased_value)
    if type is None:
        type = NAME_TYPES.get(name.lower())
    if type is None:
        type = DETECTORS[content].type if content else fallback
    if policy is None:
        policy = NAME_POLICIES.get(name.lower(), DEFAULT_POLICY[type])
    return (
        Partition(name=name, address=address, data=bytes(data), type=type, policy=policy,
                  slot_size=slot_size, arch=arch),
        content,
    )
