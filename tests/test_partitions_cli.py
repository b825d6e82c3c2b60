"""``otapack partitions`` and ``otapack compare``: JSON, tables, exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest

from otapack.cli import main
from test_partitions_fixtures import (
    COMPOSITE,
    COMPOSITE_LAYOUT,
    build_pac,
    composite_pac,
    composite_raw,
    esp_composite,
    expected_slots,
    pac_files,
)
from test_partitions_compare import new_composite
from conftest import run



@pytest.fixture
def images(tmp_path):
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_bytes(composite_raw())
    new.write_bytes(new_composite())
    return old, new


def test_partitions_json(capsys, images):
    code, out, err = run(capsys, "partitions", images[0], "--layout", COMPOSITE_LAYOUT, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert (doc["label"], doc["kind"], doc["source"], doc["layout"]) == ("old.bin", "raw", "layout", "composite.toml")
    assert (doc["erase_block"], doc["erased_value"]) == (4096, 255)
    slots = expected_slots()
    assert [p["name"] for p in doc["partitions"]] == list(COMPOSITE)
    for p in doc["partitions"]:
        assert (p["address"], p["size"], p["slot_size"]) == (COMPOSITE[p["name"]][0], COMPOSITE[p["name"]][1],
                                                             COMPOSITE[p["name"]][1])
        assert p["sha256"] == hashlib.sha256(slots[p["name"]]).hexdigest()
        assert 0.0 <= p["erased_fraction"] <= 1.0
    fs = doc["partitions"][2]
    assert (fs["type"], fs["content"], fs["policy"]) == ("filesystem", "littlefs", "full")
    assert doc["partitions"][3]["policy"] == "skip"


def test_partitions_table(capsys, images):
    code, out, _ = run(capsys, "partitions", images[0], "--layout", COMPOSITE_LAYOUT)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "old.bin: 4 partition(s), raw input, split by layout composite.toml"
    assert lines[1].split() == ["NAME", "ADDRESS", "SIZE", "TYPE", "POLICY", "ERASED", "SHA-256"]
    fs = lines[4].split()
    assert fs[:6] == ["customer_fs", "0x0000c000", "0x8000", "filesystem", "(littlefs)", "full"]
    assert fs[-1] == hashlib.sha256(expected_slots()["customer_fs"]).hexdigest()[:16]


def test_partitions_embedded_table_and_pac(capsys, tmp_path):
    esp = tmp_path / "esp.bin"
    esp.write_bytes(esp_composite())
    code, out, _ = run(capsys, "partitions", esp, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["source"] == "esp-idf" and doc["layout"] is None
    assert [p["name"] for p in doc["partitions"]] == ["bootloader", "partition-table", "nvs", "factory", "storage"]
    pac = tmp_path / "fw.pac"
    pac.write_bytes(composite_pac())
    code, out, _ = run(capsys, "partitions", pac)
    assert code == 0 and out.splitlines()[0] == "fw.pac: 6 partition(s), pac input, split by pac"
    assert any(line.split()[:2] == ["PY_FS_U", "0x604e0000"] for line in out.splitlines())
    lines = out.splitlines()
    start = lines.index("6 item(s) not flashed by a package (docs/partitions.md):")
    assert lines[start + 1].split() == ["NAME", "ADDRESS", "SIZE", "KIND", "HANDLING", "SHA-256", "FILE"]
    assert lines[start + 2].split()[:5] == ["HOST_FDL", "0x838000", "0x800", "loader", "skip"]
    assert lines[start + 6].split()[:5] == ["NV", "0xfe000003", "0x83a", "logical", "skip"]
    code, out, _ = run(capsys, "partitions", pac, "--json")
    items = json.loads(out)["items"]
    assert [(i["name"], i["kind"], i["handling"]) for i in items] == [
        ("HOST_FDL", "loader", "skip"), ("FDL2", "loader", "skip"), ("PhaseCheck", "operation", "skip"),
        ("FMT_FSSYS", "operation", "skip"), ("NV", "logical", "skip"), ("EC200UCN_AA.xml", "config", "skip")]
    assert items[4]["address"] == 0xFE000003 and items[4]["size"] == 0x83A and items[2]["sha256"] is None
    assert set(items[0]) == {"name", "kind", "address", "size", "file_name", "handling", "reason", "sha256"}


def test_partitions_forced_kind(capsys, tmp_path):
    pac = tmp_path / "fw.pac"
    pac.write_bytes(composite_pac())
    code, out, _ = run(capsys, "partitions", pac, "--kind", "raw", "--json")
    assert code == 0 and [p["name"] for p in json.loads(out)["partitions"]] == ["image"]


def test_partitions_errors(capsys, tmp_path, images):
    code, out, err = run(capsys, "partitions", tmp_path / "absent.bin")
    assert (code, out, err) == (3, "", f"error: firmware {tmp_path / 'absent.bin'} does not exist\n")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[partitions]]\nname = "a"\noffset = 0\nsize = 0x1000\ntpye = "code"\n')
    code, out, err = run(capsys, "partitions", images[0], "--layout", bad)
    assert (code, err) == (3, "error: bad.toml: unknown key 'tpye' in partition 'a' (did you mean 'type'?)\n")
    code, _, err = run(capsys, "partitions", images[0], "--kind", "zip")
    assert code == 2 and err.startswith("error: ")


def test_compare_json(capsys, images):
    code, out, err = run(capsys, "compare", *images, "--layout", COMPOSITE_LAYOUT, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert doc["compatible"] is True and doc["summary"]["changed"] == 2
    app = next(p for p in doc["partitions"] if p["name"] == "app")
    assert (app["status"], app["bytes_differing"], app["first_difference"], app["last_difference"]) == (
        "changed", 3, 0x100, 0x5000)
    assert app["old"]["address"] == 0x4000 and isinstance(app["old"]["size"], int)


def test_compare_table(capsys, images):
    code, out, _ = run(capsys, "compare", *images, "--layout", COMPOSITE_LAYOUT)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "old.bin -> new.bin"
    assert lines[1].split() == ["NAME", "STATUS", "OLD", "SIZE", "NEW", "SIZE", "DIFFERING", "FIRST", "LAST"]
    assert lines[3].split() == ["app", "changed", "0x8000", "0x8000", "3", "0x100", "0x5000"]
    assert lines[2].split() == ["bootloader", "unchanged", "0x4000", "0x4000", "0", "-", "-"]
    assert lines[-1] == "2 unchanged, 2 changed, 0 resized, 0 added, 0 removed"


def test_compare_incompatible(capsys, tmp_path):
    old, new = tmp_path / "old.pac", tmp_path / "new.pac"
    old.write_bytes(build_pac(pac_files()))
    new.write_bytes(build_pac([f for f in pac_files() if f["file_id"] != "APPIMG"]))
    code, out, err = run(capsys, "compare", old, new, "--json")
    assert code == 3
    doc = json.loads(out)
    assert doc["compatible"] is False and doc["summary"]["removed"] == 1
    message = ("old and new firmware have different partition structures: partition 'APPIMG' is in old "
               "(old.pac) but not in new (new.pac)")
    assert doc["incompatibility"] == message
    assert err == f"error: {message}\n"
    code, out, err = run(capsys, "compare", old, new)
    assert code == 3 and err == f"error: {message}\n"
    assert any(line.split()[:3] == ["APPIMG", "removed", "0x1800"] for line in out.splitlines())
