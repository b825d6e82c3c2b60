"""A short libFuzzer run of the decoder against liblzma (ASan + UBSan).
Longer runs: device/scripts/fuzz.sh SECONDS."""

from __future__ import annotations

import sys
import subprocess

from device_helpers import DEVICE, builds, fuzz_for  # noqa: F401 (fixtures)


def test_fuzz_lzma2_against_liblzma(builds, tmp_path):
    fuzzer = builds.fuzz()
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, DEVICE / "scripts" / "fuzz_seeds.py", corpus, "48"], check=True)
    fuzz_for(fuzzer, corpus, tmp_path, min_runs=1000, timeout=300)
