"""Machine-readable output (issue 13, items 9-10): every build command's
``--json`` build report, JSON errors from info and verify, key ids, and
progress bars that count bytes and cover the self-check."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from otapack.errors import EXIT_CODES
from otapack.version import __version__

from conftest import FIXTURES, run

ROOT = Path(__file__).resolve().parent.parent
OLD = FIXTURES / "corpus" / "programmer-0.8.0.bin"
NEW = FIXTURES / "corpus" / "programmer-0.9.0.bin"
MINI = ROOT / "examples" / "minimal-system"


def _document(out: str):
    """The one JSON document on stdout, checked to be sorted with 2-space indent."""
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return doc


def _check_report(report: dict, path: Path) -> None:
    data = path.read_bytes()
    assert report["output"] == str(path)
    assert report["size"] == len(data) and report["sha256"] == hashlib.sha256(data).hexdigest()
    assert report["tool_version"] == __version__
    assert set(report["device_needs"]) == {"ram", "scratch_flash", "lzma_dict_size", "erase_block"}
    assert report["device_needs"]["ram"] > 0
    for part in report["partitions"]:
        assert set(part) == {"name", "operation", "reason", "payload_bytes", "target_bytes"}


@pytest.mark.parametrize("command", ["full", "diff"])
def test_build_commands_print_a_build_report(tmp_path, capsys, command):
    pkg = tmp_path / "p.pack"
    args = [command, NEW] if command == "full" else [command, OLD, NEW]
    code, out, _ = run(capsys, *args, "--target-version", "V2", "-o", pkg, "--json")
    assert code == 0
    report = _document(out)
    _check_report(report, pkg)
    assert report["kind"] == command if command == "full" else "delta"
    assert report["target_version"] == "V2" and report["signature"] is None
    (part,) = report["partitions"]
    assert part["name"] == "image" and part["target_bytes"] == NEW.stat().st_size
    assert part["operation"] == ("replace" if command == "full" else "delta")
    assert part["payload_bytes"] > 0


def test_json_and_stdout_package_conflict(capsys):
    code, out, err = run(capsys, "full", NEW, "-o", "-", "--json")
    assert code == 2 and out == "" and "--json prints its report on standard output" in err


def test_signed_build_report_has_the_key_id(tmp_path, capsys):
    key = tmp_path / "k.pem"
    code, out, _ = run(capsys, "keygen", "-o", key, "--json")
    assert code == 0
    keydoc = _document(out)
    assert keydoc["algorithm"] == "ed25519" and len(keydoc["key_id"]) == 16 and keydoc["output"] == str(key)
    code, out, _ = run(capsys, "pubkey", key, "--json")
    assert code == 0 and _document(out)["key_id"] == keydoc["key_id"]
    pub = tmp_path / "k.pub.pem"
    code, out, _ = run(capsys, "pubkey", key, "-o", pub, "--json")
    assert code == 0 and _document(out)["format"] == "pem" and pub.read_bytes().startswith(b"-----BEGIN PUBLIC")

    pkg = tmp_path / "p.pack"
    code, out, _ = run(capsys, "full", NEW, "--sign-key", key, "-o", pkg, "--json")
    assert code == 0
    assert _document(out)["signature"] == {"algorithm": "ed25519", "key_id": keydoc["key_id"]}

    unsigned, signed = tmp_path / "u.pack", tmp_path / "s.pack"
    assert run(capsys, "-q", "full", NEW, "-o", unsigned)[0] == 0
    code, out, _ = run(capsys, "digest", unsigned, "--json")
    assert code == 0
    digest = _document(out)
    assert digest["signature"] is None and len(digest["digest"]) == 64
    code, out, _ = run(capsys, "sign", unsigned, "--key", key, "-o", signed, "--json")
    assert code == 0
    report = _document(out)
    _check_report(report, signed)
    assert report["signature"]["key_id"] == keydoc["key_id"]
    code, out, _ = run(capsys, "digest", signed, "--json")
    assert _document(out)["digest"] == digest["digest"]  # the signature is outside what it signs


def test_minimal_reports_both_packages(tmp_path, capsys):
    s1, s2 = tmp_path / "s1.pack", tmp_path / "s2.pack"
    code, out, err = run(capsys, "minimal", MINI / "old.bin", MINI / "new.bin", "--minimal-system", MINI / "minimal.bin",
                         "--layout", MINI / "layout.toml", "-o", s1, "-o", s2, "--json")
    assert code == 0, err
    doc = _document(out)
    assert doc["fits"] is True and len(doc["stages"]) == 2  # the plan, as before
    for report, path in zip(doc["packages"], (s1, s2)):
        _check_report(report, path)


def test_fs_build_report(tmp_path, capsys):
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("print('hi')\n")
    image = tmp_path / "fs.bin"
    code, out, _ = run(capsys, "fs", "build", app, "--block-count", "16", "--lfs-version", "2.0", "-o", image, "--json")
    assert code == 0
    doc = _document(out)
    assert doc["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest() and doc["tool_version"] == __version__


def test_job_json_is_sorted(tmp_path, capsys):
    pkg = tmp_path / "p.pack"
    assert run(capsys, "-q", "full", NEW, "--target-version", "V2", "-o", pkg)[0] == 0
    code, plain, _ = run(capsys, "job", pkg, "--url-base", "https://example.com/fw")
    assert code == 0
    assert plain != json.dumps(json.loads(plain), indent=2, sort_keys=True) + "\n"  # the seed's key order
    code, out, _ = run(capsys, "job", pkg, "--url-base", "https://example.com/fw", "--json")
    assert code == 0 and _document(out) == json.loads(plain)
    job = tmp_path / "job.json"
    code, out, _ = run(capsys, "job", pkg, "--url-base", "https://example.com/fw", "-o", job, "--json")
    assert code == 0
    doc = _document(out)
    assert doc["output"] == str(job) and doc["document"] == json.loads(job.read_text())
    assert job.read_text() == plain  # the file keeps the seed's order


@pytest.mark.parametrize("content, error_class", [
    (None, "InputError"),
    (b"not a package at all", "PackageFormatError"),
])
def test_info_json_on_a_bad_file(tmp_path, capsys, content, error_class):
    path = tmp_path / "bad.pack"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(capsys, "info", path, "--json")
    doc = _document(out)
    assert doc["error_class"] == error_class and doc["exit_code"] == code and code in EXIT_CODES and code != 0
    assert doc["path"] == str(path) and err.startswith("error: ") and doc["error"] in err


def test_verify_json_carries_class_and_exit_code(tmp_path, capsys):
    pkg = tmp_path / "d.pack"
    assert run(capsys, "-q", "diff", OLD, NEW, "-o", pkg)[0] == 0
    code, out, _ = run(capsys, "verify", pkg, "--old", OLD, "--new", NEW, "--json")
    doc = _document(out)
    assert code == 0 and doc["exit_code"] == 0 and doc["error_class"] is None
    code, out, _ = run(capsys, "verify", pkg, "--old", NEW, "--json")  # the wrong base image
    doc = _document(out)
    assert code == 1 and doc["exit_code"] == 1 and doc["error_class"] == "PrecursorMismatchError"
    code, out, _ = run(capsys, "verify", pkg, "--json")  # no --old: a usage error, still JSON
    doc = _document(out)
    assert code == 2 and doc["exit_code"] == 2 and doc["error_class"] == "UsageError" and doc["result"] == "fail"


# -- 10: progress in bytes, self-check included -------------------------------------------


def test_progress_counts_bytes_and_covers_the_self_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", tmp_path / "p.pack")
    assert code == 0
    size_kib = f"{NEW.stat().st_size / 1024:.1f}k"
    assert f"diff: 100%" in err and f"{size_kib}/{size_kib}" in err  # bytes (KiB), not 1/1 partitions
    assert "self-check: 100%" in err
    assert "part/s" not in err and "1/1" not in err
    code, _, err = run(capsys, "-q", "diff", OLD, NEW, "-o", tmp_path / "q.pack")
    assert code == 0 and err == ""


def test_app_report(tmp_path, capsys):
    out = tmp_path / "upload"
    code, stdout, _ = run(capsys, "app", FIXTURES / "app", "--version", "2", "--url-base", "https://example.com/app",
                          "-o", out, "--json")
    assert code == 0
    doc = _document(stdout)
    assert doc["output"] == str(out) and doc["tool_version"] == __version__
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v for k, v in doc.items() if k not in ("output", "tool_version")} == manifest
