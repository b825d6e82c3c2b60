"""Unisoc PACs with the vendor structure (fixtures/pac, from the Air724U CSDK):
flash images are partitions, loaders/logical/config items are reported and
skipped, and the pair goes through partitions, diff, verify and apply."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from otapack.core.build import build_delta
from otapack.core.inputs import compare, item_changes, load_layout, read_firmware
from otapack.core.model import ItemKind
from otapack.core.verify import apply_package, verify_package
from conftest import error_line, run

PAC_DIR = Path(__file__).parent / "fixtures" / "pac"
OLD, NEW = PAC_DIR / "csdk-old.pac", PAC_DIR / "csdk-new.pac"
EC200U = Path(__file__).parent.parent / "examples" / "layouts" / "ec200u-eg915u.toml"

FLASH = {"BOOTLOADER": (0x60000000, 0x10000), "AP": (0x60010000, 0x170000), "PS": (0x60560000, 0x280000)}
ITEMS = [
    ("HOST_FDL", "loader", 0x838000), ("FDL2", "loader", 0x810000), ("PhaseCheck", "operation", 0xFE000002),
    ("FMT_FSSYS", "operation", 0xFE000006), ("FMT_FSEXT", "operation", 0xFE000006),
    ("FLASH", "operation", 0xFE000001), ("NV", "logical", 0xFE000003), ("PREPACK", "logical", 0xFE000004),
    ("UIX8910_MODEM.xml", "config", 0x0),
]


def _generator():
    spec = importlib.util.spec_from_file_location("make_csdk_pac", PAC_DIR / "make_csdk_pac.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixtures_are_what_the_generator_writes():
    gen = _generator()
    assert OLD.read_bytes() == gen.build("old") and NEW.read_bytes() == gen.build("new")


def test_vendor_pac_splits_flash_images_from_items():
    image = read_firmware(OLD)
    assert image.names() == list(FLASH)
    assert {p.name: (p.address, p.capacity) for p in image.partitions} == FLASH
    assert [(i.name, i.kind.value, i.address) for i in image.items] == ITEMS
    config = image.items[-1]
    assert config.kind is ItemKind.CONFIG and config.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>\r\n')
    assert image.items[7].data[:2] == b"\xc7\x71"  # the real binary cpio pre-pack
    assert all(i.handling == "skip" for i in image.items)


def test_example_layout_matches_the_vendor_pac():
    layout = load_layout(EC200U)
    for name, (address, block) in FLASH.items():
        part = layout.get(name)
        assert (layout.address(part), part.size) == (address, block), name
    image = read_firmware(NEW, EC200U)  # the reader checks address and XML block against the layout
    assert image.names() == list(FLASH) and image.details["layout"] == "ec200u-eg915u.toml"


def test_items_that_change_are_named():
    old, new = read_firmware(OLD), read_firmware(NEW)
    report = compare(old, new)
    assert {d.name: d.status for d in report.items} == {
        "HOST_FDL": "changed", "FDL2": "changed", "PhaseCheck": "unchanged", "FMT_FSSYS": "unchanged",
        "FMT_FSEXT": "unchanged", "FLASH": "unchanged", "NV": "changed", "PREPACK": "changed",
        "UIX8910_MODEM.xml": "unchanged",
    }
    assert item_changes(old, new)[2] == (
        "logical item 'NV' is changed in the new firmware; a package does not carry it (skip)"
    )
    assert report.compatible and report.get("AP").status == "resized" and report.get("PS").status == "unchanged"


def test_delta_restores_every_flash_partition():
    old, new = read_firmware(OLD), read_firmware(NEW)
    package = build_delta(old, new)
    report = verify_package(package, old, new)
    assert report.ok, report.error
    restored = apply_package(package, old)  # every slot whole: the new bytes, then erased to the slot's end
    assert {p.name: p.data for p in restored.partitions} == {p.name: p.padded(new.erased_value) for p in new.partitions}


def test_cli_partitions_diff_verify_apply(capsys, tmp_path):
    code, out, err = run(capsys, "partitions", OLD, "--json")
    doc = json.loads(out)
    assert code == 0 and [p["name"] for p in doc["partitions"]] == list(FLASH)
    assert [(i["name"], i["kind"], i["address"]) for i in doc["items"]] == ITEMS
    pack, flat = tmp_path / "d.pack", tmp_path / "restored.bin"
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", pack)
    assert code == 0, err
    code, out, err = run(capsys, "verify", pack, "--old", OLD, "--new", NEW)
    assert code == 0 and "3 partitions byte-identical to the new image" in out
    code, _, err = run(capsys, "apply", pack, "--old", OLD, "-o", flat)
    assert code == 0, err
    data, base = flat.read_bytes(), 0x60000000
    for part in read_firmware(NEW).partitions:
        assert data[part.address - base:part.address - base + part.size] == part.data, part.name


def test_non_ascii_file_id_fails_up_front(capsys, tmp_path):
    gen = _generator()
    data = bytearray(gen.build("new"))
    from otapack.core.formats import pac

    entry = pac.HEADER_SIZE + 4 * pac.ENTRY_SIZE  # AP
    data[entry + 4:entry + 8] = "Aé".encode("utf-16-le")
    bad = tmp_path / "bad.pac"
    bad.write_bytes(bytes(data))
    code, out, err = run(capsys, "diff", OLD, bad, "-o", tmp_path / "x.pack")
    assert code == 3 and out == "" and not (tmp_path / "x.pack").exists()
    assert error_line(err) == (
        "error: bad.pac: PAC file entry #5: file ID 'Aé' is not ASCII (IDs name partitions)"
    )


@pytest.mark.parametrize("layout_text, message", [
    ('base_address = 0x60000000\n[[partitions]]\nname = "NV"\noffset = 0x7E0000\nsize = 0x20000\n',
     "csdk-old.pac: PAC file 'NV' is a logical item, not a flash image, but layout lists it as partition 'NV'"),
    ('base_address = 0x60000000\n[[partitions]]\nname = "AP"\noffset = 0x10000\nsize = 0x100000\n',
     "csdk-old.pac: layout gives partition 'AP' a 0x100000-byte slot but the PAC's configuration XML "
     "gives it 0x170000"),
])
def test_layout_must_agree_with_the_pac(layout_text, message):
    from otapack.errors import LayoutError

    with pytest.raises(LayoutError) as info:
        read_firmware(OLD, layout_text)
    assert str(info.value) == message
