"""The LZMA2 decoder: API contract, and agreement with liblzma (the oracle
matrix and its corrupted variants) in every build variant."""

from __future__ import annotations

import sys
import re
import subprocess

import pytest
from device_helpers import DEVICE, builds, run_parallel, run_program, toolchains  # noqa: F401 (fixtures)


def oracle_counts(stdout: str) -> dict:
    line = next(l for l in stdout.splitlines() if l.startswith("oracle:"))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def oracle(prog, cases: int, *args, cwd=None) -> dict:
    """The matrix split in two processes (cases are seeded one by one, so
    the split changes nothing); summed counts."""
    half = cases // 2
    outs = run_parallel([[prog, "--quiet", "--cases", half, *args],
                         [prog, "--quiet", "--first", half, "--cases", cases - half, *args]], cwd=cwd)
    total: dict = {}
    for out in outs:
        for k, v in oracle_counts(out).items():
            total[k] = total.get(k, 0) + v
    return total


@pytest.mark.parametrize("config", ["gcc", "clang", "asan"])
def test_unit(builds, config):
    run_program(builds.host(config) / "test_lzma2_unit")


def test_oracle_matrix(builds, tmp_path):
    """360 generated inputs (7 kinds, 13 dictionary sizes 4 KiB..8 MiB, 10
    lc/lp/pb settings, presets 0..9 and 9e), each valid stream decoded with
    its own and a larger dictionary and joined to a second stream, plus 14
    corrupted variants each, plus edge streams; random input and output
    pieces. Any disagreement with liblzma fails. `--long` of the same
    program runs ten times the cases."""
    c = oracle(builds.host("gcc") / "test_lzma2_oracle", 360, cwd=tmp_path)
    assert c["disagreements"] == 0
    assert c["valid"] == 360 and c["corrupt"] == 360 * 14
    # the corruptions must exercise both outcomes
    assert c["both_accept"] > 1000 and c["both_reject"] > 2500
    print(f"oracle: {c}")


def test_oracle_small_variant(builds, tmp_path):
    """OTA_LZMA2_SMALL (the -Os default) against liblzma, another seed."""
    assert oracle(builds.host("small") / "test_lzma2_oracle", 120, "--seed", "2", cwd=tmp_path)["valid"] == 120


def test_oracle_under_sanitizers(builds, tmp_path):
    assert oracle(builds.host("asan") / "test_lzma2_oracle", 70, "--seed", "3", cwd=tmp_path)["valid"] == 70


def test_bench_runs(builds):
    """The bench compares outputs (exit 1 on a mismatch); its timings are
    printed, never asserted."""
    proc = run_program(builds.host("gcc") / "bench_lzma2", "--quick")
    assert "ota/liblzma time ratio" in proc.stdout


def test_oracle_catches_broken_decoders(toolchains, tmp_path):
    """Nine copies of the decoder, each with one rule dropped (end-of-chunk
    code check, first coder byte, distance bound, liblzma's dictionary
    rounding, previous byte and position reset, match past the chunk end,
    props after a stored reset chunk, packed size): the oracle must reject
    every one, or it proves nothing."""
    proc = subprocess.run([sys.executable, DEVICE / "scripts" / "decoder_mutants.py", tmp_path], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mutants: 9 of 9 caught" in proc.stdout
