"""Partition type detection from content and well-known names."""

from __future__ import annotations

import pytest

from otapack.core.model import DEFAULT_POLICY, PartitionType, Policy
from otapack.core.inputs import DETECTORS, NAME_TYPES, detect_content, erased_fraction, read_firmware_bytes
from otapack.core.inputs.detect import classify
from otapack.core.formats import mbr
from test_partitions_fixtures import PROGRAMMER, blob, littlefs_image, mbr_sector, pad


def fat16_boot_sector() -> bytes:
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x3c\x90"
    sector[3:11] = b"MSDOS5.0"
    sector[0x36:0x3E] = b"FAT16   "
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def fat32_boot_sector() -> bytes:
    sector = bytearray(fat16_boot_sector())
    sector[0x36:0x3E] = bytes(8)
    sector[0x52:0x5A] = b"FAT32   "
    return bytes(sector)


SAMPLES = {
    "littlefs": littlefs_image(),
    "squashfs": pad(b"hsqs" + blob("sq", 92), 0x1000, 0),
    "squashfs-be": pad(b"sqsh" + blob("sq", 92), 0x1000, 0),
    "ubi": pad(b"UBI#\x01" + blob("ubi", 59), 0x1000),
    "jffs2": pad(b"\x85\x19\x03\x20" + bytes(8), 0x1000),  # little-endian clean marker
    "jffs2-be": pad(b"\x19\x85\xe0\x01" + bytes(8), 0x1000),  # big-endian dirent
    "fat": pad(fat16_boot_sector(), 0x1000, 0),
    "fat32": pad(fat32_boot_sector(), 0x1000, 0),
    "erased": b"\xff" * 0x1000,
    "zeroed": b"\x00" * 0x1000,
}
EXPECTED = {
    "littlefs": "littlefs", "squashfs": "squashfs", "squashfs-be": "squashfs", "ubi": "ubi",
    "jffs2": "jffs2", "jffs2-be": "jffs2", "fat": "fat", "fat32": "fat", "erased": "erased", "zeroed": "erased",
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_detectors(sample):
    assert detect_content(SAMPLES[sample]) == EXPECTED[sample]


def test_registry_types():
    assert list(DETECTORS) == ["erased", "littlefs", "squashfs", "ubi", "jffs2", "fat"]
    assert DETECTORS["erased"].type is PartitionType.ERASED
    assert all(DETECTORS[n].type is PartitionType.FILESYSTEM for n in list(DETECTORS)[1:])


@pytest.mark.parametrize("data", [PROGRAMMER.read_bytes(), blob("random", 0x4000), b"", b"\x85\x19\x00\x00"])
def test_no_false_positives(data):
    assert detect_content(data) is None


def test_littlefs_v1_magic_offset():
    block = bytearray(b"\xff" * 0x1000)
    block[40:48] = b"littlefs"
    assert detect_content(bytes(block)) == "littlefs"


def test_littlefs_second_block_copy():
    image = bytearray(littlefs_image())
    image[0:0x1000] = b"\xff" * 0x1000  # block 0 lost its superblock: block 1 still has one
    assert detect_content(bytes(image)) == "littlefs"


def test_mbr_sector_is_not_a_fat_volume():
    sector = mbr_sector([dict(type=mbr.LINUX_TYPE, lba_first=8, sectors=8)])
    assert detect_content(sector) is None


def test_erased_fraction():
    assert erased_fraction(b"\xff\xff\x00\x01") == 0.5
    assert erased_fraction(b"\x00\x00\x00\x01", 0x00) == 0.75
    assert erased_fraction(b"") == 0.0


def test_classify_precedence():
    lfs = littlefs_image()
    # given type wins, default policy follows it
    part, content = classify("x", 0, lfs, type=PartitionType.CODE)
    assert (part.type, part.policy, content) == (PartitionType.CODE, Policy.DELTA, "littlefs")
    # a well-known name wins over content
    part, _ = classify("PY_FS_U", 0, b"\xff" * 64)
    assert (part.type, part.policy) == (PartitionType.FILESYSTEM, Policy.FULL)
    # then content
    part, _ = classify("storage", 0, lfs)
    assert (part.type, part.policy) == (PartitionType.FILESYSTEM, Policy.FULL)
    # then the fallback; FDL loaders are never flashed
    part, _ = classify("blob", 0, blob("b", 64))
    assert part.type is PartitionType.UNKNOWN and part.policy is DEFAULT_POLICY[PartitionType.UNKNOWN]
    part, _ = classify("FDL2", 0, blob("b", 64))
    assert (part.type, part.policy) == (PartitionType.BOOTLOADER, Policy.SKIP)


def test_name_table_covers_quecpython_names():
    for name in ("customer_fs", "customer_backup_fs", "py_fs_u", "py_fs_b"):
        assert NAME_TYPES[name] is PartitionType.FILESYSTEM
    for name in ("nv", "fixnv", "factory"):
        assert NAME_TYPES[name] is PartitionType.NV


def test_single_file_system_image_travels_in_full():
    image = read_firmware_bytes(littlefs_image(), name="customer_fs")
    (fs,) = image.partitions
    assert (fs.name, fs.type, fs.policy) == ("customer_fs", PartitionType.FILESYSTEM, Policy.FULL)
    assert image.details["content"] == {"customer_fs": "littlefs"}
