"""bench/pac_bench.py (issue 12): a clear error without a corpus, and its
independent check of the image ``apply`` writes catches what it must, run on
the vendor-structured PAC fixtures (never on ../shared)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "pac_bench.py"
PAC_DIR = Path(__file__).parent / "fixtures" / "pac"


def _bench(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def _module():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("pac_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_corpus_is_one_error_line(tmp_path):
    proc = _bench("--corpus", tmp_path / "nowhere", "--out", tmp_path / "b.md")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: corpus folder {tmp_path / 'nowhere'} not found (pass --corpus DIR: a folder of "
        "<pair>/old.pac,new.pac, e.g. the shared corpus ../shared/corpus)"]
    assert not (tmp_path / "b.md").exists()


def test_corpus_without_pac_pairs(tmp_path):
    (tmp_path / "pair").mkdir()
    (tmp_path / "pair" / "old.pac").write_bytes(b"")  # no new.pac: not a pair
    proc = _bench("--corpus", tmp_path, "--out", tmp_path / "b.md")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no PAC pairs under {tmp_path} (a pair is a folder with old.pac and new.pac)"


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """(flat image apply wrote, new PAC, partitions document of the new PAC) for the fixture pair."""

    work = tmp_path_factory.mktemp("applied")
    old, new = PAC_DIR / "csdk-old.pac", PAC_DIR / "csdk-new.pac"
    cli = [sys.executable, "-m", "otapack", "-q"]
    subprocess.run(cli + ["diff", str(old), str(new), "-o", str(work / "d.pack")], check=True)
    subprocess.run(cli + ["apply", str(work / "d.pack"), "--old", str(old), "-o", str(work / "flat.bin")], check=True)
    doc = json.loads(subprocess.run(cli + ["partitions", "--json", str(new)], check=True, capture_output=True).stdout)
    return work / "flat.bin", new, doc


def test_check_accepts_what_apply_writes(applied):
    flat, new, doc = applied
    assert _module().check_applied(flat, new, doc) == []


def test_check_catches_a_wrong_byte_a_dirty_tail_and_a_flashed_item(applied, tmp_path):
    flat, new, doc = applied
    bench = _module()
    image = bytearray(flat.read_bytes())
    base = min(p["address"] for p in doc["partitions"])
    ap = next(p for p in doc["partitions"] if p["name"] == "AP")
    at = ap["address"] - base
    loader = bench.pac_entries(new)["FDL2"][1]

    def problems(edit):
        bad = bytearray(image)
        edit(bad)
        path = tmp_path / "bad.bin"
        path.write_bytes(bytes(bad))
        return bench.check_applied(path, new, doc)

    assert problems(lambda b: b.__setitem__(at + 100, b[at + 100] ^ 1)) == ["AP: bytes differ from new.pac's entry"]
    assert problems(lambda b: b.__setitem__(at + ap["size"], 0)) == ["AP: rest of the slot not erased"]
    tail = at + ap["size"]
    assert problems(lambda b: b.__setitem__(slice(tail, tail + len(loader)), loader)) == [
        "AP: rest of the slot not erased", "item FDL2 found in the written image"]
    assert problems(lambda b: b.extend(b"\xff")) == [
        f"image is {len(image) + 1} bytes, the flash partitions span {len(image)}"]


def test_fixture_pair_end_to_end(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    (corpus / "csdk").mkdir(parents=True)
    shutil.copy(PAC_DIR / "csdk-old.pac", corpus / "csdk" / "old.pac")
    shutil.copy(PAC_DIR / "csdk-new.pac", corpus / "csdk" / "new.pac")
    out = tmp_path / "b.md"
    out.write_text("# report\n\nkept\n")
    proc = _bench("--corpus", corpus, "--out", out, "--tools", "bsdiff4")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("# report\n\nkept\n") and "<!-- BEGIN pac -->" in text
    assert "| csdk | BOOTLOADER 0x60000000" in text and "**byte-identical** |" in text
    # the size row: otapack's whole package as `otapack diff` writes it
    code, _, err = run(capsys, "diff", corpus / "csdk" / "old.pac", corpus / "csdk" / "new.pac",
                       "-o", tmp_path / "d.pack")
    assert code == 0, err
    size_row = next(line for line in text.splitlines() if line.startswith("| csdk |") and "**" in line
                    and "byte-identical" not in line)
    assert f"**{(tmp_path / 'd.pack').stat().st_size:,}**" in size_row
    assert "n/a" not in size_row.split("|")[4]  # bsdiff4 ran on every partition


def test_a_pair_the_readers_refuse_fails_the_run_with_its_reason(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "broken").mkdir(parents=True)
    shutil.copy(PAC_DIR / "csdk-old.pac", corpus / "broken" / "old.pac")
    (corpus / "broken" / "new.pac").write_bytes(b"not a pac file")
    proc = _bench("--corpus", corpus, "--out", tmp_path / "b.md", "--tools", "bsdiff4")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    row = next(line for line in (tmp_path / "b.md").read_text().splitlines() if line.startswith("| broken |"))
    assert "FAIL: `partitions new.pac` exit 3" in row and "reading the flash partitions" in row
