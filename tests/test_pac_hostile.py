"""Hostile Unisoc PACs: every malformed or inconsistent one is one exact
``ImageFormatError`` (exit 3) before any build work."""

from __future__ import annotations

from pathlib import Path

import pytest

from otapack.core.formats import pac
from otapack.core.inputs import read_firmware_bytes
from otapack.errors import ImageFormatError, LayoutError
from test_partitions_fixtures import build_pac, config_file, pac_file
from conftest import error_line, run

VENDOR = (Path(__file__).parent / "fixtures" / "pac" / "csdk-old.pac").read_bytes()
AP, NV, XML = 5, 10, 12  # 1-based entry numbers in the vendor fixture


def entry_pos(index: int) -> int:
    return pac.HEADER_SIZE + (index - 1) * pac.ENTRY_SIZE


def with_entry(data: bytes, index: int, **fields) -> bytes:
    """``data`` with entry #index rebuilt with ``fields`` changed."""
    pos = entry_pos(index)
    entry = pac.PacFileEntry.parse(data[pos:pos + pac.ENTRY_SIZE])
    entry.update(fields)
    return data[:pos] + pac.PacFileEntry.build(entry) + data[pos + pac.ENTRY_SIZE:]


def with_header(data: bytes, **fields) -> bytes:
    header = pac.PacHeader.parse(data[:pac.HEADER_SIZE])
    header.update(fields)
    return pac.PacHeader.build(header) + data[pac.HEADER_SIZE:]


def entry(data: bytes, index: int):
    pos = entry_pos(index)
    return pac.PacFileEntry.parse(data[pos:pos + pac.ENTRY_SIZE])


def with_xml(text: bytes) -> bytes:
    """The vendor fixture with its configuration XML replaced (appended at the end)."""
    data = with_entry(VENDOR, XML, data_offset=len(VENDOR), size=len(text))
    data += text
    return with_header(data, size=len(data))


def reject(data: bytes, message: str, error=ImageFormatError, layout=None) -> None:
    with pytest.raises(error) as info:
        read_firmware_bytes(data, label="fw.pac", layout=layout)
    assert str(info.value) == message


def flash(file_id: str, address: int, size: int) -> dict:
    return pac_file(file_id, bytes([len(file_id)]) * size, (address,))


# -- flash placement ---------------------------------------------------------------------


def test_overlapping_flash_images():
    reject(build_pac([flash("BOOT", 0x60000000, 0x2000), flash("APP", 0x60001000, 0x100)]),
           "fw.pac: PAC file 'APP' (0x60001000..0x60001100) overlaps PAC file 'BOOT' (0x60000000..0x60002000)")


def test_overlapping_xml_blocks():
    # the data do not overlap, but BOOT's block in the configuration does
    files = [flash("BOOT", 0x60000000, 0x100), flash("APP", 0x60001000, 0x100),
             config_file({"BOOT": ("CODE", 0x60000000, 0x2000), "APP": ("CODE", 0x60001000, 0x1000)})]
    reject(build_pac(files),
           "fw.pac: PAC file 'APP' (0x60001000..0x60002000) overlaps PAC file 'BOOT' (0x60000000..0x60002000)")


def test_same_address_twice():
    reject(build_pac([flash("A", 0x60000000, 0x10), flash("B", 0x60000000, 0x10)]),
           "fw.pac: PAC file 'B' (0x60000000..0x60000010) overlaps PAC file 'A' (0x60000000..0x60000010)")


def test_wrapping_address():
    reject(build_pac([flash("TOP", 0xFFFFF000, 0x2000)]),
           "fw.pac: PAC file 'TOP' (0xfffff000 + 0x2000 bytes) wraps past the end of the 32-bit address space")


def test_wrapping_xml_block():
    files = [flash("TOP", 0xFFFF0000, 0x100), config_file({"TOP": ("CODE", 0xFFFF0000, 0x20000)})]
    reject(build_pac(files),
           "fw.pac: PAC file 'TOP' (0xffff0000 + 0x20000 bytes) wraps past the end of the 32-bit address space")


def test_image_larger_than_its_xml_block():
    data = with_entry(VENDOR, AP, size=0x170001)
    data = with_header(data + bytes(0x170001), size=len(VENDOR) + 0x170001)
    reject(data, "fw.pac: PAC file 'AP' (0x170001 bytes) is larger than its 0x170000-byte block in the "
                 "configuration XML")


def test_address_disagrees_with_xml():
    reject(with_entry(VENDOR, AP, addresses=[0x60020000, 0, 0, 0, 0]),
           "fw.pac: PAC file 'AP' is at 0x60020000 but the configuration XML puts it at 0x60010000")


def test_flash_image_without_address():
    reject(build_pac([pac_file("APP", b"x" * 16)]),
           "fw.pac: PAC file 'APP' has no flash address; give a layout that places it")
    layout = 'base_address = 0x60000000\n[[partitions]]\nname = "APP"\noffset = 0x1000\nsize = 0x1000\n'
    image = read_firmware_bytes(build_pac([pac_file("APP", b"x" * 16)]), layout=layout)
    assert (image.get("APP").address, image.get("APP").capacity) == (0x60001000, 0x1000)


def test_too_many_addresses():
    reject(with_entry(VENDOR, AP, address_count=6), "fw.pac: PAC file 'AP' has address_count 6 (at most 5)")


def test_only_items():
    reject(build_pac([pac_file("FDL2", b"x" * 16, (0x810000,)), pac_file("FLASH", b"", (0xFE000001,))]),
           "fw.pac: PAC file has no flash images (only 2 non-flash items)")


# -- sizes, offsets, truncation ----------------------------------------------------------


def test_data_past_the_declared_size():
    start = entry(VENDOR, AP).data_offset
    reject(with_entry(VENDOR, AP, size=len(VENDOR)),
           f"fw.pac: PAC file 'AP' data ({start:#x}..{start + len(VENDOR):#x}) extends past the end of the "
           f"file ({len(VENDOR):#x} bytes)")


def test_data_inside_the_file_table():
    table_end = pac.HEADER_SIZE + 12 * pac.ENTRY_SIZE
    reject(with_entry(VENDOR, AP, data_offset=0x100),
           f"fw.pac: PAC file 'AP' data at 0x100 lies inside the header or file table (which end at {table_end:#x})")


def test_wide_size_in_r2():
    data = build_pac([flash("PS", 0x60000000, 0x40)], version=pac.VERSION_R2)
    start = pac.HEADER_SIZE + pac.ENTRY_SIZE
    reject(with_entry(data, 1, size_hi=1),
           f"fw.pac: PAC file 'PS' data ({start:#x}..{start + (1 << 32) + 0x40:#x}) extends past the end of the "
           f"file ({len(data):#x} bytes)")


def test_file_table_past_the_end():
    reject(with_header(VENDOR, file_count=100_000),
           f"fw.pac: PAC file table (100000 entries at 0x84c) extends past the end of the file ({len(VENDOR):#x} bytes)")


def test_file_table_inside_the_header():
    reject(with_header(VENDOR, file_offset=0x10),
           "fw.pac: PAC file table at 0x10 overlaps the header (0x84c bytes)")


def test_declared_size_larger_than_file():
    reject(VENDOR[:-1], f"fw.pac: PAC header says {len(VENDOR):#x} bytes but the file has {len(VENDOR) - 1:#x}")


@pytest.mark.parametrize("cut", [100, pac.HEADER_SIZE - 4, pac.HEADER_SIZE + 10, entry_pos(AP) + 7,
                                 entry_pos(XML) + pac.ENTRY_SIZE - 1, len(VENDOR) // 2, len(VENDOR) - 1])
def test_every_truncation_is_a_format_error(cut):
    with pytest.raises(ImageFormatError, match=r"^fw\.pac: "):
        read_firmware_bytes(VENDOR[:cut], label="fw.pac", kind="pac")


def test_truncated_entry_table_is_named():
    data = with_header(VENDOR[:entry_pos(AP) + 7], size=entry_pos(AP) + 7)
    reject(data, f"fw.pac: PAC file table (12 entries at 0x84c) extends past the end of the file "
                 f"({entry_pos(AP) + 7:#x} bytes)")


# -- fields ------------------------------------------------------------------------------


def test_unknown_version():
    reject(with_header(VENDOR, version="BP_R9.9.9"), "fw.pac: unknown PAC version 'BP_R9.9.9' (known: BP_R1.0.0, BP_R2.0.1)")


def test_unknown_file_flag():
    reject(with_entry(VENDOR, AP, file_flag=7),
           "fw.pac: PAC file 'AP' has file_flag 7 (known: 0 no data, 1 file, 2 configuration)")


def test_data_entry_without_id():
    reject(with_entry(VENDOR, AP, file_id=""), "fw.pac: PAC file entry #5 has data but an empty file ID")


@pytest.mark.parametrize("file_id, problem", [
    ("AP\u00e9", "is not ASCII"),
    ("\u5206\u533a", "is not ASCII"),
    ("A P", "may only contain letters, digits, '_', '-' and '.'"),
    ("A\x01", "may only contain letters, digits, '_', '-' and '.'"),
])
def test_bad_file_ids(file_id, problem):
    reject(with_entry(VENDOR, AP, file_id=file_id),
           f"fw.pac: PAC file entry #5: file ID {file_id!r} {problem} (IDs name partitions)")


def test_undecodable_file_id():
    pos = entry_pos(AP) + 4
    data = VENDOR[:pos] + b"\x00\xd8" + VENDOR[pos + 2:]  # a lone UTF-16 surrogate
    with pytest.raises(ImageFormatError, match=r"^fw\.pac: PAC file entry #5 at 0x[0-9a-f]+: "):
        read_firmware_bytes(data, label="fw.pac")


def test_duplicate_item_id():
    reject(with_entry(VENDOR, 8, file_id="FMT_FSSYS"), "fw.pac: PAC lists file ID 'FMT_FSSYS' twice")


def test_two_configurations():
    reject(with_entry(VENDOR, NV, file_flag=2), "fw.pac: PAC holds 2 configuration XML entries (at most one)")


@pytest.mark.parametrize("text, message", [
    (b"<BMAConfig><SchemeList>", "configuration XML is malformed: no element found: line 1, column 23"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><BMAConfig/>',
     "configuration XML declares a DTD or entities (refused)"),
    ("<BMAConfig/>".encode("utf-16"), "configuration XML is not 8-bit text (NUL bytes)"),
    (b"<Other/>", "configuration XML has root <Other>, expected <BMAConfig>"),
    (b'<?xml version="1.0" encoding="gbk"?><BMAConfig/>',
     "configuration XML cannot be decoded: multi-byte encodings are not supported"),
    (b"<BMAConfig><SchemeList><Scheme><File><ID>AP</ID><Block><Base>zz</Base></Block></File></Scheme>"
     b"</SchemeList></BMAConfig>", "configuration XML: file 'AP' Base is 'zz', not a number"),
    (b"<BMAConfig>" + b" " * (1 << 20) + b"</BMAConfig>",
     f"configuration XML is {(1 << 20) + 23} bytes (at most {1 << 20})"),
])
def test_hostile_configuration(text, message):
    reject(with_xml(text), f"fw.pac: {message}")


def test_configuration_without_matching_scheme_is_only_a_report():
    image = read_firmware_bytes(with_xml(b"<BMAConfig><SchemeList/></BMAConfig>"), label="fw.pac")
    assert image.names() == ["BOOTLOADER", "AP", "PS"] and image.get("AP").slot_size is None


# -- the CLI: exit 3, one line, nothing written --------------------------------------------


def test_non_ascii_id_fails_before_the_build(capsys, tmp_path):
    # PACs main could read: there the whole build ran and the package writer failed (exit 4).
    old, new = tmp_path / "old.pac", tmp_path / "new.pac"
    old.write_bytes(build_pac([flash("APP\u00e9", 0x60000000, 0x100)]))
    new.write_bytes(build_pac([flash("APP\u00e9", 0x60000000, 0x101)]))
    for args in (("full", new), ("diff", old, new)):
        code, out, err = run(capsys, *args, "-o", tmp_path / "x.pack")
        assert (code, out) == (3, "") and not (tmp_path / "x.pack").exists()
        assert error_line(err) == (
            f"error: {args[1].name}: PAC file entry #1: file ID 'APP\u00e9' is not ASCII (IDs name partitions)")


def test_layout_naming_a_loader():
    layout = 'base_address = 0x0\n[[partitions]]\nname = "HOST_FDL"\noffset = 0x838000\nsize = 0x8000\n'
    reject(VENDOR, "fw.pac: PAC file 'HOST_FDL' is a loader item, not a flash image, but layout lists it as "
                   "partition 'HOST_FDL'", LayoutError, layout)
