"""Power cuts in both stages of the minimal-system example (examples/minimal-system,
the golden stage packages): the journal stands in for the chain-prev-state rule
once a stage's commit has begun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "minimal-system"
STAGES = [FIXTURES / "golden" / "minimal-stage1.pack", FIXTURES / "golden" / "minimal-stage2.pack"]


def _sweep(capsys, tmp_path, cuts: str):
    layout, old = EXAMPLE / "layout.toml", EXAMPLE / "old.bin"
    code, _, err = run(capsys, "apply", STAGES[0], "--old", old, "--layout", layout, "-o", tmp_path / "mid.bin")
    assert code == 0, err
    out = []
    for stage, before in zip(STAGES, (old, tmp_path / "mid.bin")):
        code, text, err = run(capsys, "verify", stage, "--old", before, "--layout", layout, "--power-cuts", cuts,
                              "--seed", "2", "--json")
        assert code == 0, err
        out.append(json.loads(text)["power_cuts"])
    return out


def test_sampled_cuts_in_both_stages_survive(capsys, tmp_path):
    for report in _sweep(capsys, tmp_path, "12"):
        assert report["tried"] == report["survived"] == 12 and report["failures"] == 0


@pytest.mark.slow
def test_every_single_cut_in_both_stages_survives(capsys, tmp_path):
    for report in _sweep(capsys, tmp_path, "single"):
        assert report["tried"] == report["survived"] == report["operations"] and report["failures"] == 0
