"""Each input kind splits the composite firmware into the right partitions."""

from __future__ import annotations

import hashlib

import pytest

from otapack.errors import ImageFormatError, InputError, LayoutError
from otapack.core.formats import pac
from otapack.core.model import PartitionType, Policy
from otapack.core.inputs import INPUT_KINDS, detect_kind, load_layout, read_firmware, read_firmware_bytes
from test_partitions_fixtures import (
    COMPOSITE,
    COMPOSITE_LAYOUT,
    ESP_LAYOUT,
    EXAMPLES,
    GPT_LAYOUT,
    PROGRAMMER,
    Segment,
    blob,
    build_pac,
    composite_elf,
    composite_pac,
    composite_raw,
    composite_segments,
    esp_composite,
    esp_entry,
    esp_table,
    expected_slots,
    gpt_composite,
    littlefs_image,
    mbr_disk,
    pac_file,
    pac_files,
    pieces,
    to_hex,
)

EXPECTED_TYPES = {
    "bootloader": (PartitionType.BOOTLOADER, Policy.DELTA),
    "app": (PartitionType.CODE, Policy.DELTA),
    "customer_fs": (PartitionType.FILESYSTEM, Policy.FULL),
    "nv": (PartitionType.NV, Policy.SKIP),
}


def split(image) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.address, p.data) for p in image.partitions}


def assert_composite_by_layout(image, kind):
    """The composite split by composite.toml: full slots at their offsets."""
    expected = expected_slots()
    assert image.source == "layout" and image.details["kind"] == kind
    assert image.names() == list(COMPOSITE)
    for p in image.partitions:
        offset, size = COMPOSITE[p.name]
        assert (p.address, p.capacity) == (offset, size)
        assert p.data == expected[p.name], p.name
        assert (p.type, p.policy) == EXPECTED_TYPES[p.name]
    assert image.details["content"] == {"customer_fs": "littlefs"}


# -- raw + layout -----------------------------------------------------------------


def test_raw_with_layout(tmp_path):
    path = tmp_path / "fw.bin"
    path.write_bytes(composite_raw())
    image = read_firmware(path, COMPOSITE_LAYOUT)
    assert_composite_by_layout(image, "raw")
    assert image.details["path"] == str(path) and image.details["label"] == "fw.bin"
    assert image.details["unassigned"] == []


def test_raw_layout_base_address_and_unassigned_gap():
    layout = load_layout(
        'base_address = 0x60000000\n[[partitions]]\nname = "a"\noffset = 0x1000\nsize = 0x1000\n'
    )
    image = read_firmware_bytes(b"\x00" * 0x1000 + b"A" * 0x1000 + b"\xff" * 0x1000, layout=layout)
    (a,) = image.partitions
    assert a.address == 0x60001000 and a.data == b"A" * 0x1000
    assert image.details["unassigned"] == [[0, 0x1000], [0x2000, 0x1000]]


def test_raw_layout_partition_past_image_end():
    with pytest.raises(LayoutError) as info:
        read_firmware_bytes(composite_raw()[:0x15000], layout=COMPOSITE_LAYOUT, label="fw.bin")
    assert str(info.value) == (
        "fw.bin: partition 'nv' (0x14000..0x16000) of composite.toml extends past the end of the image "
        "(0x15000 bytes)"
    )


def test_raw_layout_image_larger_than_flash():
    with pytest.raises(LayoutError) as info:
        read_firmware_bytes(composite_raw() + b"\xff" * 0xB000, layout=COMPOSITE_LAYOUT, label="fw.bin")
    assert str(info.value) == "fw.bin (0x21000 bytes) is larger than the flash size in composite.toml (0x20000)"


def test_layout_given_as_text_and_path_string():
    text = COMPOSITE_LAYOUT.read_text()
    assert split(read_firmware_bytes(composite_raw(), layout=text)) == split(
        read_firmware_bytes(composite_raw(), layout=str(COMPOSITE_LAYOUT))
    )


# -- embedded tables ----------------------------------------------------------------


def test_esp_idf_table():
    image = read_firmware_bytes(esp_composite())
    assert image.source == "esp-idf" and image.details["table"] == {"table_offset": 0x8000, "md5_checked": True}
    assert image.names() == list(ESP_LAYOUT)
    data = esp_composite()
    for p in image.partitions:
        offset, size = ESP_LAYOUT[p.name]
        assert (p.address, p.capacity, p.data) == (offset, size, data[offset:offset + size])
    got = {p.name: (p.type, p.policy) for p in image.partitions}
    assert got == {
        "bootloader": (PartitionType.BOOTLOADER, Policy.DELTA),
        "partition-table": (PartitionType.DATA, Policy.KEEP),
        "nvs": (PartitionType.NV, Policy.SKIP),
        "factory": (PartitionType.CODE, Policy.DELTA),
        "storage": (PartitionType.FILESYSTEM, Policy.FULL),
    }
    assert image.get("factory").data.startswith(pieces()["app"])
    assert image.get("storage").data == pieces()["customer_fs"]
    assert image.get("bootloader").data[0x1000:0x4000] == pieces()["bootloader"]


def test_esp_idf_table_at_other_offset_without_md5():
    table = esp_table([esp_entry("factory", 0, 0, 0x10000, 0x8000)], md5=False)
    image = read_firmware_bytes(esp_composite(table=table, table_offset=0xC000))
    assert image.names() == ["bootloader", "partition-table", "factory"]
    assert image.get("bootloader").capacity == 0xC000
    assert image.details["table"] == {"table_offset": 0xC000, "md5_checked": False}


def test_esp_idf_md5_mismatch():
    table = esp_table([esp_entry("factory", 0, 0, 0x10000, 0x8000)], md5_value=b"\x01" * 16)
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(esp_composite(table=table), label="esp.bin")
    actual = hashlib.md5(esp_entry("factory", 0, 0, 0x10000, 0x8000)).hexdigest()
    assert str(info.value) == (
        f"esp.bin: ESP-IDF partition table at 0x8000: MD5 mismatch (table says {'01' * 16}, "
        f"entries hash to {actual})"
    )


def test_esp_idf_partition_past_image_end_is_truncated():
    data = esp_composite()[:0x1C000]
    image = read_firmware_bytes(data)
    storage = image.get("storage")
    assert storage.capacity == 0x8000 and storage.size == 0x4000
    assert image.details["truncated"] == ["storage"]


def test_esp_idf_overlapping_entries():
    table = esp_table([esp_entry("a", 0, 0, 0x10000, 0x8000), esp_entry("b", 1, 0x82, 0x14000, 0x8000)])
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(esp_composite(table=table), label="esp.bin")
    assert str(info.value) == "esp.bin: ESP-IDF partition 'b' (0x14000..0x1c000) overlaps 'a' (0x10000..0x18000)"


def test_gpt():
    image = read_firmware_bytes(gpt_composite())
    assert image.source == "gpt" and image.details["table"]["sector_size"] == 512
    assert image.names() == list(GPT_LAYOUT)
    for p in image.partitions:
        offset, size, _ = GPT_LAYOUT[p.name]
        assert (p.address, p.capacity) == (offset, size)
        assert p.data[:len(pieces()[p.name])] == pieces()[p.name]
        assert (p.type, p.policy) == EXPECTED_TYPES[p.name]
    assert image.details["entries"]["customer_fs"]["gpt_type"] == "linux-filesystem"


def test_gpt_header_crc_mismatch():
    with pytest.raises(ImageFormatError, match=r"^disk\.img: GPT header at 0x200: CRC32 mismatch \(stored 0x"):
        read_firmware_bytes(gpt_composite(corrupt_header=True), label="disk.img")


def test_mbr():
    p = pieces()
    disk = mbr_disk([(0xDA, 0x1000, 0x4000, p["bootloader"]), (0x83, 0x5000, 0x8000, p["customer_fs"]),
                     (0x0C, 0xD000, 0x1000, b"")], 0xE000)
    image = read_firmware_bytes(disk)
    assert image.source == "mbr" and image.names() == ["p1", "p2", "p3"]
    assert [(q.address, q.capacity) for q in image.partitions] == [(0x1000, 0x4000), (0x5000, 0x8000), (0xD000, 0x1000)]
    assert image.get("p2").data == p["customer_fs"] and image.get("p2").type is PartitionType.FILESYSTEM
    assert image.get("p3").type is PartitionType.FILESYSTEM  # FAT32 LBA partition type


def test_plain_firmware_is_one_partition():
    image = read_firmware_bytes(PROGRAMMER.read_bytes())
    assert image.source == "single" and image.names() == ["image"]
    assert image.partitions[0].data == PROGRAMMER.read_bytes()
    assert (image.partitions[0].type, image.partitions[0].policy) == (PartitionType.CODE, Policy.DELTA)


def test_composite_without_layout_is_one_partition():
    image = read_firmware_bytes(composite_raw(), name="whole")
    assert image.names() == ["whole"] and image.partitions[0].data == composite_raw()


# -- ELF ------------------------------------------------------------------------------


def test_elf_with_layout():
    assert_composite_by_layout(read_firmware_bytes(composite_elf(), layout=COMPOSITE_LAYOUT), "elf")


def test_elf_without_layout_is_flattened_like_hex():
    image = read_firmware_bytes(composite_elf())
    assert image.source == "single" and image.details["kind"] == "elf" and image.details["entry"] == 0x4001
    hex_image = read_firmware_bytes(to_hex(composite_segments()))
    assert split(image) == split(hex_image)  # the same segments, the same image, whatever the container
    p = pieces()
    assert image.names() == ["image"] and image.partitions[0].address == 0
    assert image.details["segments"] == [[0x0, len(p["bootloader"])], [0x4000, len(p["app"])],
                                         [0xC000, len(p["customer_fs"])], [0x14000, len(p["nv"])]]


def test_elf_uses_physical_address_and_fills_gaps():
    # .data initialisers: linked to RAM (vaddr) but stored in flash right after .text (paddr)
    init = b"initialised data"
    data_addr = 0x4000 + len(pieces()["app"])
    elf = composite_elf([Segment(data_addr, init, ".data", "RW", vaddr=0x20000400)])
    image = read_firmware_bytes(elf, layout=COMPOSITE_LAYOUT)
    app = image.get("app").data
    assert app[:len(pieces()["app"])] == pieces()["app"]
    assert app[len(pieces()["app"]):len(pieces()["app"]) + len(init)] == init
    assert app[len(pieces()["app"]) + len(init):] == b"\xff" * (0x8000 - len(pieces()["app"]) - len(init))
    flat = read_firmware_bytes(elf).get("image").data
    assert flat[data_addr:data_addr + len(init)] == init


def test_elf_segment_outside_layout():
    elf = composite_elf([Segment(0x30000, b"stray", ".stray", "R")])
    with pytest.raises(LayoutError) as info:
        read_firmware_bytes(elf, layout=COMPOSITE_LAYOUT, label="fw.elf")
    assert str(info.value) == "fw.elf: 0x5 bytes at 0x30000 lie outside every partition of composite.toml"


def test_elf_overlapping_segments():
    elf = composite_elf([Segment(0x4100, b"clash", ".clash", "R")])
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(elf, label="fw.elf")
    assert str(info.value) == "fw.elf: data at 0x4100 (0x5 bytes) overlaps data at 0x4000 (0x5bd0 bytes)"


def test_invalid_elf():
    with pytest.raises(ImageFormatError, match=r"^fw\.elf: invalid ELF file: "):
        read_firmware_bytes(b"\x7fELF\x09" + bytes(60), label="fw.elf")


# -- HEX / S-record ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["ihex", "srec"])
def test_hex_and_srec_with_layout(fmt):
    data = to_hex(composite_segments(), fmt)
    assert detect_kind(data) == fmt
    assert_composite_by_layout(read_firmware_bytes(data, layout=COMPOSITE_LAYOUT), fmt)


@pytest.mark.parametrize("fmt", ["ihex", "srec"])
def test_hex_and_srec_carry_an_embedded_table(fmt):
    image = read_firmware_bytes(to_hex([(0, esp_composite())], fmt))
    assert image.source == "esp-idf" and image.details["kind"] == fmt
    assert split(image) == split(read_firmware_bytes(esp_composite()))


def test_hex_without_layout_is_flattened():
    image = read_firmware_bytes(to_hex([(0x08000000, b"abc"), (0x08000010, b"def")]))
    (whole,) = image.partitions
    assert whole.address == 0x08000000 and whole.data == b"abc" + b"\xff" * 13 + b"def"


def test_hex_outside_layout():
    data = to_hex(composite_segments() + [(0x16000, b"x" * 16)])
    with pytest.raises(LayoutError) as info:
        read_firmware_bytes(data, layout=COMPOSITE_LAYOUT, label="fw.hex")
    assert str(info.value) == "fw.hex: 0x10 bytes at 0x16000 lie outside every partition of composite.toml"


def test_bad_hex_checksum():
    with pytest.raises(ImageFormatError, match=r"^fw\.hex: invalid Intel HEX: "):
        read_firmware_bytes(b":0300000061626300\n:00000001FF\n", label="fw.hex")


# -- PAC ----------------------------------------------------------------------------------


def test_pac():
    image = read_firmware_bytes(composite_pac())
    assert image.source == "pac" and image.details["pac_version"] == "BP_R1.0.0"
    assert image.details["product"] == "EC200UCN_AA" and image.details["config"] is True
    flash = {"BOOTLOADER", "AP", "APPIMG", "PY_FS_U", "PY_FS_B", "PS"}
    expected = {f["file_id"]: (f["addresses"][0], f["data"]) for f in pac_files() if f["file_id"] in flash}
    assert split(image) == expected
    assert image.names() == ["BOOTLOADER", "AP", "APPIMG", "PY_FS_U", "PY_FS_B", "PS"]
    types = {p.name: (p.type.value, p.policy.value, p.capacity) for p in image.partitions}
    assert types == {  # slots: the block sizes of the configuration XML
        "BOOTLOADER": ("bootloader", "delta", 0x10000), "AP": ("code", "delta", 0x170000),
        "APPIMG": ("code", "delta", 0x120000), "PY_FS_U": ("filesystem", "full", 0x60000),
        "PY_FS_B": ("filesystem", "full", 0x20000), "PS": ("code", "delta", 0x280000),
    }
    assert image.details["content"] == {"PY_FS_U": "littlefs", "PY_FS_B": "littlefs"}
    items = [(i.name, i.kind.value, i.address, i.size, i.handling) for i in image.items]
    assert items == [
        ("HOST_FDL", "loader", 0x00838000, 0x800, "skip"), ("FDL2", "loader", 0x00810000, 0x1000, "skip"),
        ("PhaseCheck", "operation", 0xFE000002, 0, "skip"), ("FMT_FSSYS", "operation", 0xFE000006, 0, "skip"),
        ("NV", "logical", 0xFE000003, len(pieces()["nv"]), "skip"),
        ("EC200UCN_AA.xml", "config", 0, len(pac_files()[-1]["data"]), "skip"),
    ]


def test_pac_with_example_layout():
    image = read_firmware_bytes(composite_pac(), layout=EXAMPLES / "ec200u-eg915u.toml")
    usr = image.get("PY_FS_U")
    assert (usr.address, usr.size, usr.capacity) == (0x604E0000, len(pieces()["customer_fs"]), 0x60000)
    assert image.get("PS").capacity == 0x280000 and image.get("NV") is None
    assert image.details["layout"] == "ec200u-eg915u.toml"


def test_pac_address_disagrees_with_layout():
    files = [pac_file("PY_FS_U", littlefs_image(), (0x604F0000,))]
    with pytest.raises(LayoutError) as info:
        read_firmware_bytes(build_pac(files), layout=EXAMPLES / "ec200u-eg915u.toml", label="fw.pac")
    assert str(info.value) == (
        "fw.pac: PAC file 'PY_FS_U' is at 0x604f0000 but ec200u-eg915u.toml puts partition 'PY_FS_U' at 0x604e0000"
    )


def test_pac_file_larger_than_slot():
    files = [pac_file("PY_FS_B", littlefs_image(block_count=40), (0x60540000,))]
    with pytest.raises(LayoutError) as info:
        read_firmware_bytes(build_pac(files), layout=EXAMPLES / "ec200u-eg915u.toml", label="fw.pac")
    assert str(info.value) == (
        "fw.pac: PAC file 'PY_FS_B' (0x28000 bytes) does not fit partition 'PY_FS_B' of ec200u-eg915u.toml "
        "(0x20000 bytes)"
    )


def test_pac_r2_wide_fields():
    data = build_pac([pac_file("PS", b"code" * 100, (0x60010000,))], version=pac.VERSION_R2)
    image = read_firmware_bytes(data)
    assert image.details["pac_version"] == "BP_R2.0.1" and image.get("PS").data == b"code" * 100


def test_pac_truncated():
    data = composite_pac()
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(data[:-100], label="fw.pac")
    assert str(info.value) == f"fw.pac: PAC header says {len(data):#x} bytes but the file has {len(data) - 100:#x}"


def test_pac_file_data_past_end():
    start = pac.HEADER_SIZE + pac.ENTRY_SIZE
    data = build_pac([pac_file("PS", b"x" * 64, (0x60010000,))], declared_size=start + 54)
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(data[:-10], label="fw.pac")
    assert str(info.value) == (
        f"fw.pac: PAC file 'PS' data ({start:#x}..{start + 64:#x}) extends past the end of the file "
        f"({start + 54:#x} bytes)"
    )


def test_pac_extension_without_pac_content(tmp_path):
    path = tmp_path / "fw.pac"
    path.write_bytes(b"not a pac file" * 10)
    with pytest.raises(ImageFormatError) as info:
        read_firmware(path)
    assert str(info.value) == "fw.pac: PAC header at 0x0: truncated (140 of 2124 bytes)"


def test_pac_duplicate_file_id():
    data = build_pac([pac_file("PS", b"a" * 8, (1,)), pac_file("PS", b"b" * 8, (2,))])
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(data, label="fw.pac")
    assert str(info.value) == "fw.pac: PAC lists file ID 'PS' twice"


# -- kinds and file errors ------------------------------------------------------------------


def test_input_kind_registry_and_detection():
    assert list(INPUT_KINDS) == ["elf", "pac", "ihex", "srec", "raw"]
    assert detect_kind(composite_elf()) == "elf"
    assert detect_kind(composite_pac()) == "pac"
    assert detect_kind(composite_raw()) == "raw"
    assert detect_kind(b"\x00" * 10, ".hex") == "ihex"  # extension decides when content does not
    assert detect_kind(composite_elf(), ".bin") == "elf"  # content wins over extension


def test_forced_kind():
    image = read_firmware_bytes(composite_elf(), kind="raw")
    assert image.source == "single" and image.details["kind"] == "raw"
    with pytest.raises(InputError) as info:
        read_firmware_bytes(b"x", kind="zip", label="fw")
    assert str(info.value) == "fw: unknown input kind 'zip' (choose from: elf, pac, ihex, srec, raw)"


def test_missing_empty_and_directory_inputs(tmp_path):
    with pytest.raises(InputError) as info:
        read_firmware(tmp_path / "absent.bin")
    assert str(info.value) == f"firmware {tmp_path / 'absent.bin'} does not exist"
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(InputError) as info:
        read_firmware(empty)
    assert str(info.value) == f"firmware {empty} is empty"
    with pytest.raises(InputError) as info:
        read_firmware(tmp_path)
    assert str(info.value) == f"firmware {tmp_path} is a directory, not a file"


def test_erased_and_random_regions():
    image = read_firmware_bytes(b"\xff" * 0x2000 + blob("x", 0x1000), layout=(
        '[[partitions]]\nname = "spare"\noffset = 0\nsize = 0x2000\n'
        '[[partitions]]\nname = "blob"\noffset = 0x2000\nsize = 0x1000\n'
    ))
    assert image.get("spare").type is PartitionType.ERASED and image.get("blob").type is PartitionType.UNKNOWN
    assert image.details["content"] == {"spare": "erased"}


def test_pac_bad_magic_forced_kind():
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(bytes(3000), kind="pac", label="fw.pac")
    assert str(info.value) == "fw.pac: PAC header at 0x0: bad magic (expected 0xfffafffa, found 0x0)"


def test_pac_entry_size_checked():
    data = bytearray(build_pac([pac_file("PS", b"x" * 64, (0x60010000,))]))
    data[pac.HEADER_SIZE] = 0x10  # entry_size 2580 (0x0a14) -> 2576 (0x0a10)
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(bytes(data), label="fw.pac")
    assert str(info.value) == f"fw.pac: PAC file entry #1 at {pac.HEADER_SIZE:#x} has size 2576 (expected 2580)"
