"""A short libFuzzer run of the decoder against liblzma (ASan + UBSan).
Longer runs: device/scripts/fuzz.sh SECONDS."""

from __future__ import annotations

import sys
import re
import subprocess

import pytest
from device_helpers import DEVICE, builds  # noqa: F401 (fixtures)


def test_fuzz_lzma2_against_liblzma(builds, tmp_path):
    fuzzer = builds.fuzz()
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, DEVICE / "scripts" / "fuzz_seeds.py", corpus, "48"], check=True)
    # -seed fixes libFuzzer's own randomness; -max_total_time bounds the run,
    # so the number of executions varies with the machine but what is
    # checked (no crash, no disagreement) does not
    proc = subprocess.run([fuzzer, "-seed=1", "-max_total_time=30", "-rss_limit_mb=2048", "-print_final_stats=1",
                           f"-artifact_prefix={tmp_path}/", corpus], capture_output=True, text=True, timeout=300)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    if proc.returncode != 0:
        pytest.fail(f"fuzz_lzma2 found a failure (exit {proc.returncode}); artefacts in {tmp_path}\n"
                    f"{proc.stderr[-5000:]}", pytrace=False)
    assert runs and int(runs.group(1)) > 1000, proc.stderr[-2000:]
    print(f"fuzz_lzma2: {runs.group(1)} executions")
