"""ELF inputs: a typical MCU build (``.data`` initialisers stored after
``.text``) diffs without a layout when ``.text`` grows, and whether an ELF
is firmware or a file shipped as is depends on its content, never its name."""

from __future__ import annotations

import pytest

from otapack.core.build import build_delta
from otapack.core.inputs import check_compatible, detect_kind, read_firmware, read_firmware_bytes
from otapack.core.verify import verify_package
from otapack.errors import ImageFormatError
from test_partitions_fixtures import PROGRAMMER, blob
from conftest import run

try:
    from tests.elf_builder import ET_DYN, ET_EXEC, ET_REL, Segment, build_elf
except ImportError:
    from elf_builder import ET_DYN, ET_EXEC, ET_REL, Segment, build_elf

FLASH, RAM = 0x08000000, 0x20000000


def mcu_elf(text: bytes, data: bytes = b"initial values of .data\0", **kwargs) -> bytes:
    """Vector table + code + rodata in .text; .data linked to RAM, stored
    after .text (its LMA), followed by .bss; as arm-none-eabi-ld lays out."""
    return build_elf([
        Segment(FLASH, text, ".text", "RX"),
        Segment(FLASH + len(text), data, ".data", "RW", vaddr=RAM, memsz=len(data) + 0x400),
    ], entry=FLASH + 0x101, **kwargs)


def old_new() -> tuple[bytes, bytes]:
    text = PROGRAMMER.read_bytes()
    grown = text[:0x1000] + blob("new-function", 0x240) + text[0x1000:]
    return mcu_elf(text), mcu_elf(grown, b"initial values of .data v2\0")


def test_text_grows_data_moves_same_structure():
    old, new = (read_firmware_bytes(x, label=name) for x, name in zip(old_new(), ("old.elf", "new.elf")))
    assert old.names() == new.names() == ["image"]
    assert old.partitions[0].address == new.partitions[0].address == FLASH
    text = PROGRAMMER.read_bytes()
    assert old.partitions[0].data == text + b"initial values of .data\0"  # .data's LMA follows .text
    check_compatible(old, new)
    report = verify_package(build_delta(old, new), old, new)
    assert report.ok, report.error


def test_text_grows_cli(capsys, tmp_path):
    paths = [tmp_path / "old.elf", tmp_path / "new.elf"]
    for path, data in zip(paths, old_new()):
        path.write_bytes(data)
    pack = tmp_path / "d.pack"
    code, _, err = run(capsys, "diff", *paths, "-o", pack)
    assert code == 0, err
    code, out, err = run(capsys, "verify", pack, "--old", paths[0], "--new", paths[1])
    assert code == 0 and "result: PASS" in out


def test_far_apart_segments_need_a_layout():
    elf = build_elf([Segment(FLASH, b"code", ".text", "RX"), Segment(0x90000000, b"qspi", ".ext", "R")])
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(elf, label="fw.elf")
    assert str(info.value) == (
        "fw.elf: data spans 0x8000000..0x90000004 (0x88000004 bytes); give a layout to split it"
    )


# -- one rule for every name -----------------------------------------------------------


@pytest.mark.parametrize("e_type, interp, firmware", [
    (ET_EXEC, None, True),                  # a static firmware executable
    (ET_EXEC, b"/lib/ld-linux.so.3\0", False),  # a dynamically linked Linux program
    (ET_DYN, None, False),                  # shared object or PIE
    (ET_REL, None, False),                  # object file / loadable module
])
@pytest.mark.parametrize("suffix", [".elf", ".bin", ".so", ""])
def test_elf_kind_depends_on_content_only(tmp_path, e_type, interp, firmware, suffix):
    data = mcu_elf(PROGRAMMER.read_bytes()[:0x800], e_type=e_type, interp=interp)
    assert detect_kind(data, suffix) == ("elf" if firmware else "raw")
    path = tmp_path / f"fw{suffix}"
    path.write_bytes(data)
    image = read_firmware(path)
    if firmware:
        assert image.details["kind"] == "elf" and image.partitions[0].address == FLASH
    else:  # the file itself, byte for byte, so the device gets the file back
        assert image.details["kind"] == "raw" and image.partitions[0].data == data


def test_forced_elf_kind_still_reads_segments():
    data = mcu_elf(b"code" * 64, e_type=ET_DYN)
    image = read_firmware_bytes(data, kind="elf")
    assert image.partitions[0].address == FLASH and image.partitions[0].data.startswith(b"code")


def test_broken_program_header_table_goes_to_the_elf_reader():
    data = bytearray(mcu_elf(b"code" * 64))
    data[0x2C:0x2E] = (0x100).to_bytes(2, "little")  # e_phnum: a table past the end of the file
    assert detect_kind(bytes(data), ".bin") == "elf"
    with pytest.raises(ImageFormatError, match=r"^fw: invalid ELF"):
        read_firmware_bytes(bytes(data), label="fw")
