"""``otapack verify PKG --old OLD --power-cuts all|N [--seed S] [--json]``."""

from __future__ import annotations

import json

import pytest

from conftest import error_line, run
from powercut_fixtures import LAYOUT, flat, three_partitions
from otapack.core import powercut


@pytest.fixture
def files(tmp_path, capsys):
    _, old, new = three_partitions()
    (tmp_path / "old.bin").write_bytes(flat(old))
    (tmp_path / "new.bin").write_bytes(flat(new))
    code, _, err = run(capsys, "diff", tmp_path / "old.bin", tmp_path / "new.bin", "--layout", LAYOUT,
                       "-o", tmp_path / "d.pack")
    assert code == 0, err
    return tmp_path


def _verify(capsys, files, *extra):
    return run(capsys, "verify", files / "d.pack", "--old", files / "old.bin", "--layout", LAYOUT, *extra)


def test_sampled_power_cuts_report_tried_and_survived(capsys, files):
    code, out, err = _verify(capsys, files, "--power-cuts", "12", "--seed", "5")
    assert code == 0, err
    last = out.splitlines()[-1]
    assert last.startswith("power cuts: 12 cut sequences over ") and last.endswith(
        "flash operations (seed 5): 12 survived, 0 failed")
    assert "power cuts: sweeping 12 (seed 5)" in err


def test_single_power_cuts_as_json(capsys, files):
    code, out, _ = _verify(capsys, files, "--power-cuts", "single", "--program-unit", "8", "--json")
    assert code == 0
    doc = json.loads(out)
    cuts = doc["power_cuts"]
    assert sorted(cuts) == ["download_area", "failures", "first_failure", "operations", "seed", "survived", "tried"]
    assert cuts["download_area"] == []
    assert cuts["tried"] == cuts["survived"] == cuts["operations"] > 0 and cuts["first_failure"] is None
    assert doc["result"] == "pass"


def test_a_failing_sweep_names_its_first_failure_and_exits_1(capsys, files, monkeypatch):
    monkeypatch.setattr(powercut.PowerCutOptions, "geometry",
                        property(lambda self: powercut.Geometry(fault="record-before-program")))
    code, out, err = _verify(capsys, files, "--power-cuts", "20", "--json")
    assert code == 1
    first = json.loads(out)["power_cuts"]["first_failure"]
    assert sorted(first) == ["boots", "cuts", "problem", "seed", "torn"]
    assert "power-cut sequences end badly" in error_line(err.split("\n", 1)[1])
    code, out, err = _verify(capsys, files, "--power-cuts", "20")
    assert code == 1 and "first failure: " in out and "cuts before operations" in out


@pytest.mark.parametrize("value", ["0", "-3", "some"])
def test_a_bad_power_cut_count_is_a_usage_error(capsys, files, value):
    code, _, err = _verify(capsys, files, "--power-cuts", value)
    assert code == 2 and "--power-cuts" in error_line(err)


def test_power_cuts_take_one_package(capsys, files):
    code, _, err = run(capsys, "verify", files / "d.pack", files / "d.pack", "--old", files / "old.bin",
                       "--power-cuts", "3")
    assert code == 2 and "one package" in error_line(err)
