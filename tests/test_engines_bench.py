"""bench/engines_bench.py: a corpus pair through ``otapack verify --engine
both`` (delta, full and ``--arch auto``), its table written into the named section only, and
one error line with exit 2 when the corpus is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "engines_bench.py"


def test_a_pair_passes_with_both_engines(tmp_path):
    pair = tmp_path / "corpus" / "programmer-0.8.0--0.9.0"
    pair.mkdir(parents=True)
    (pair / "old.bin").write_bytes((FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes())
    (pair / "new.bin").write_bytes((FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes())
    out = tmp_path / "device.md"
    out.write_text("before\n<!-- BEGIN engines-bench -->\nold\n<!-- END engines-bench -->\nafter\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(tmp_path / "corpus"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("before\n<!-- BEGIN engines-bench -->\n") and text.endswith("<!-- END engines-bench -->\nafter\n")
    row = next(line for line in text.splitlines() if line.startswith("| programmer-0.8.0--0.9.0 |"))
    assert row.count("agree, pass") == 3
    assert "| 1/1 |" in row  # the --arch auto package is delta-v2, and the C restore applied it
    assert "3 of 3 packages pass with both engines." in text


def test_missing_corpus_is_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(tmp_path / "none"), "--out",
                           str(tmp_path / "d.md")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no firmware corpus at ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "d.md").exists()
