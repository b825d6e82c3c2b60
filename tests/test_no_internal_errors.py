"""Inputs the tools accepted but then crashed on (issue 13 item 4): each is now a typed,
documented refusal, and the what-a-package-can-carry checks run before any build work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, error_line, run
from test_partitions_fixtures import build_pac, pac_file

NEW = FIXTURES / "corpus" / "programmer-0.9.0.bin"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "minimal-system"


def layout_text(names: list[str], *, extra: str = "") -> str:
    rows = "".join(f'[[partitions]]\nname = "{n}"\noffset = {i * 4096}\nsize = 4096\n{extra}' for i, n in enumerate(names))
    return "erase_block = 4096\n" + rows


@pytest.fixture
def no_build(monkeypatch):
    """Fail the test if package building starts: the checks must come first."""
    import otapack.core.build as build

    def refuse(*args, **kwargs):
        raise AssertionError("build work started before the input checks")

    monkeypatch.setattr(build, "map_partitions", refuse)


def test_apply_of_a_package_that_restores_nothing_is_an_input_error(tmp_path, capsys):
    layout = tmp_path / "skip.toml"
    layout.write_text(layout_text(["nv"], extra='type = "nv"\npolicy = "skip"\n'))
    image = tmp_path / "img.bin"
    image.write_bytes(bytes(range(256)) * 16)
    pkg = tmp_path / "skip.pack"
    assert run(capsys, "-q", "full", image, "--layout", layout, "-o", pkg)[0] == 0
    assert run(capsys, "verify", pkg)[0] == 0
    code, out, err = run(capsys, "apply", pkg, "-o", tmp_path / "out.bin")
    assert code == 3 and out == ""
    assert error_line(err) == "error: nothing to write: the package restores no partition (it only lists skipped ones)"
    assert not (tmp_path / "out.bin").exists()


def test_build_time_past_year_9999_is_refused_by_the_builder(tmp_path, capsys, monkeypatch):
    pkg = tmp_path / "p.pack"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "253402300800")
    code, _, err = run(capsys, "full", NEW, "--no-verify", "-o", pkg)
    assert code == 2 and not pkg.exists()
    assert error_line(err) == ("error: SOURCE_DATE_EPOCH 253402300800 out of range 0..253402300799 "
                               "(9999-12-31 23:59:59 UTC)")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "253402300799")
    assert run(capsys, "-q", "full", NEW, "--no-verify", "-o", pkg)[0] == 0
    code, out, _ = run(capsys, "info", pkg)
    assert code == 0 and "built          9999-12-31 23:59:59 UTC" in out


def test_info_renders_a_foreign_build_time_it_cannot_date(tmp_path, capsys):
    """Another producer's package may carry any 64-bit time: info shows the number."""
    from hostile_builders import full_package, with_field

    pkg = tmp_path / "far.pack"
    pkg.write_bytes(with_field(full_package(b"\x11" * 4096), "build_time", (1 << 64) - 1))
    code, out, err = run(capsys, "info", pkg)
    assert code == 0, err
    assert f"built          {(1 << 64) - 1} s after 1970 (past year 9999)" in out
    code, out, _ = run(capsys, "info", pkg, "--json")
    assert code == 0 and json.loads(out)["header"]["build_time"] == (1 << 64) - 1


@pytest.mark.parametrize("names, message", [
    (["a" * 256], "partition #1 name 'aaaaaaaaaaaaaaaaaaaaaaaa'... is 256 bytes; a package stores at most 255"),
    ([f"p{i}" for i in range(256)], "256 partitions; a package carries at most 255"),
])
def test_layouts_a_package_cannot_carry_are_refused_when_read(tmp_path, capsys, no_build, names, message):
    layout = tmp_path / "big.toml"
    layout.write_text(layout_text(names))
    image = tmp_path / "img.bin"
    image.write_bytes(b"\x5a" * 4096 * len(names))
    for argv in (["full", image, "--layout", layout, "-o", tmp_path / "x.pack"],
                 ["diff", image, image, "--layout", layout, "-o", tmp_path / "x.pack"]):
        code, out, err = run(capsys, *argv)
        assert code == 3 and out == ""
        assert error_line(err) == f"error: big.toml: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml", "img.bin"]


def test_the_longest_name_and_the_most_partitions_a_package_carries_still_build(tmp_path, capsys):
    names = ["n" * 255] + [f"p{i}" for i in range(254)]
    layout = tmp_path / "max.toml"
    layout.write_text(layout_text(names))
    image = tmp_path / "img.bin"
    image.write_bytes(b"\x5a" * 4096 * len(names))
    code, _, err = run(capsys, "-q", "full", image, "--layout", layout, "-o", tmp_path / "max.pack")
    assert code == 0, err
    code, out, _ = run(capsys, "info", tmp_path / "max.pack", "--json")
    assert len(json.loads(out)["partitions"]) == 255


@pytest.mark.parametrize("files, code, message", [
    # a reader without a layout that yields more partitions than a package holds: the builder's preflight
    ([pac_file(f"P{i}", bytes([i]) * 16, (0x60000000 + i * 0x1000,)) for i in range(256)], 4,
     "256 partitions; package format v1 holds at most 255"),
    # a name no package stores: the image reader refuses it
    ([pac_file("A" * 256, b"x" * 16, (0x60000000,), file_name="a.bin")], 3,
     f"fw.pac: partition name {'A' * 32!r}... is 256 bytes (at most 255)"),
])
def test_images_a_package_cannot_carry_are_refused_before_the_build(tmp_path, capsys, no_build, files, code, message):
    """(ELF inputs without a layout are one flattened partition now, so a PAC stands in for a
    reader that names its own partitions.)"""
    image = tmp_path / "fw.pac"
    image.write_bytes(build_pac(files))
    got, out, err = run(capsys, "full", image, "-o", tmp_path / "x.pack")
    assert (got, out) == (code, "")
    assert error_line(err) == f"error: {message}"
    assert [p.name for p in tmp_path.iterdir()] == ["fw.pac"]


def test_a_closed_standard_output_is_an_output_error(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: EPIPE, deterministically
    try:
        proc = subprocess.run([sys.executable, "-m", "otapack", "-q", "full", str(EXAMPLE / "new.bin"), "--no-verify",
                               "-o", "-"], stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    finally:
        os.close(write_end)
    assert proc.returncode == 6
    assert error_line(proc.stderr) == ("error: standard output was closed before everything was written "
                                       "(broken pipe)")
