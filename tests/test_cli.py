"""The command line as a pipeline sees it: exit codes, one-line errors,
stdout for data, atomic outputs, determinism."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from otapack.cli import main
from otapack.errors import EXIT_CODES

from conftest import FIXTURES, error_line, run

ROOT = Path(__file__).resolve().parent.parent
OLD = FIXTURES / "corpus" / "programmer-0.8.0.bin"
NEW = FIXTURES / "corpus" / "programmer-0.9.0.bin"



def test_full_info_verify_apply(tmp_path, capsys):
    pkg = tmp_path / "full.pack"
    code, out, err = run(capsys, "-q", "full", NEW, "-o", pkg, "--model", "EC600NCNLC", "--target-version", "0.9.0")
    assert code == 0 and out == "" and pkg.exists()
    code, out, _ = run(capsys, "info", pkg, "--json")
    assert code == 0
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert doc["header"]["kind"] == "full" and doc["header"]["model"] == "EC600NCNLC"
    assert doc["partitions"][0]["operation"] == "replace"
    code, out, _ = run(capsys, "verify", pkg, "--new", NEW, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["result"] == "pass"
    assert [c["name"] for c in report["checks"]][:5] == ["download", "trailer", "crc32", "header", "digest"]
    assert report["checks"][-1] == {"name": "expected-image", "status": "pass",
                                    "detail": "1 partitions byte-identical to the new image (whole slots)"}
    restored = tmp_path / "restored.bin"
    assert run(capsys, "apply", pkg, "-o", restored)[0] == 0
    assert restored.read_bytes() == NEW.read_bytes()


def test_diff_verify_apply(tmp_path, capsys):
    pkg = tmp_path / "delta.pack"
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", pkg, "--source-version", "0.8.0", "--target-version", "0.9.0")
    assert code == 0, err
    code, out, _ = run(capsys, "verify", pkg, "--old", OLD, "--new", NEW)
    assert code == 0 and "result: PASS" in out
    restored = tmp_path / "restored.bin"
    assert run(capsys, "apply", pkg, "--old", OLD, "-o", restored)[0] == 0
    assert restored.read_bytes() == NEW.read_bytes()
    code, out, _ = run(capsys, "info", pkg)
    assert code == 0 and "delta" in out and "delta-smaller" in out


def test_wrong_base_is_refused_before_any_write(tmp_path, capsys):
    pkg = tmp_path / "delta.pack"
    run(capsys, "diff", OLD, NEW, "-o", pkg)
    wrong = tmp_path / "wrong.bin"
    data = bytearray(OLD.read_bytes())
    data[1000] ^= 0x01
    wrong.write_bytes(bytes(data))
    code, out, err = run(capsys, "verify", pkg, "--old", wrong, "--json")
    assert code == 1
    report = json.loads(out)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["precondition"]
    assert report["flash"] == {"blocks_erased": 0, "bytes_written": 0}
    line = error_line(err)
    assert re.fullmatch(r"error: partition 'image': wrong base image: the first 23504 bytes of the device's "
                        r"23504-byte slot have SHA-256 [0-9a-f]{64}, the package expects [0-9a-f]{64}", line)


@pytest.mark.parametrize("args, code, message", [
    (["full", "missing.bin", "-o", "x.pack"], 3, "error: new image missing.bin does not exist"),
    (["full", "empty.bin", "-o", "x.pack"], 3, "error: new image empty.bin is empty"),
    (["info", "garbage.pack"], 4, "error: not an otapack package: magic b'this', expected b'OTAP'"),
    (["info", "missing.pack"], 3, "error: package missing.pack does not exist"),
    (["full", "new.bin", "-o", "x.pack", "--lzma-dict", "1K"], 2, "error: LZMA dictionary size 1024 outside 4096..67108864 bytes (option --lzma-dict)"),
    (["full", "new.bin", "-o", "x.pack", "--lzma-dict", "lots"], 2, None),
    (["full", "new.bin", "-o", "nodir/x.pack"], 6, "error: cannot write nodir/x.pack: directory nodir does not exist"),
    (["verify", "v9.pack"], 5, "error: unsupported package format version 9 (this otapack reads 1)"),
    (["frobnicate"], 2, "error: No such command 'frobnicate'."),
    (["full", "new.bin"], 2, "error: Missing option '-o' / '--output'."),
    (["diff", "new.bin", "new.bin", "-o", "x.pack", "--model", "É"], 2, "error: model must be ASCII, got 'É'"),
])
def test_bad_input_gives_one_line_and_exit_code(tmp_path, capsys, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.bin").write_bytes(b"")
    (tmp_path / "garbage.pack").write_bytes(b"this is not a package!!ge!!")
    (tmp_path / "new.bin").write_bytes(NEW.read_bytes())
    (tmp_path / "v9.pack").write_bytes((FIXTURES / "corrupt" / "unknown-version.pack").read_bytes())
    got, out, err = run(capsys, *args)
    assert got == code, err
    line = error_line(err)
    if message is not None:
        assert line == message
    assert not (tmp_path / "x.pack").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_debug_shows_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "--debug", "info", tmp_path / "missing.pack")
    assert code == 3 and "Traceback" in err and err.strip().endswith("does not exist")


def test_failed_run_never_clobbers_existing_output(tmp_path, capsys):
    out = tmp_path / "good.pack"
    out.write_bytes(b"previous good package")
    code, _, _ = run(capsys, "full", tmp_path / "missing.bin", "-o", out)
    assert code == 3
    assert out.read_bytes() == b"previous good package"


def test_console_script_no_traceback_on_bad_input(tmp_path):
    bad = tmp_path / "bad.pack"
    bad.write_bytes(b"\x00" * 100)
    proc = subprocess.run([sys.executable, "-m", "otapack", "info", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 4
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")


def _build_in(tmp_path: Path, name: str, env_extra: dict) -> bytes:
    work = tmp_path / name
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(env_extra)
    subprocess.run([sys.executable, "-m", "otapack", "-q", "diff", str(OLD), str(NEW), "-o", "out.pack"],
                   cwd=work, env=env, check=True)
    return (work / "out.pack").read_bytes()


def test_builds_are_byte_identical_across_runs_dirs_timezones(tmp_path):
    a = _build_in(tmp_path, "a", {"TZ": "UTC", "LC_ALL": "C", "PYTHONHASHSEED": "1"})
    b = _build_in(tmp_path, "b", {"TZ": "Asia/Shanghai", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "2"})
    assert a == b


def test_source_date_epoch_sets_build_time(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    pkg = tmp_path / "p.pack"
    assert run(capsys, "full", NEW, "-o", pkg)[0] == 0
    code, out, _ = run(capsys, "info", pkg, "--json")
    assert json.loads(out)["header"]["build_time"] == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    code, _, err = run(capsys, "full", NEW, "-o", pkg)
    assert code == 2 and error_line(err) == "error: SOURCE_DATE_EPOCH must be a decimal number of seconds, got 'yesterday'"


def test_exit_code_table_in_docs_matches_code():
    text = (ROOT / "docs" / "cli.md").read_text()
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", text, flags=re.M))
    assert {int(k): v for k, v in rows.items()} == EXIT_CODES


def test_every_command_has_help(capsys):
    import importlib

    from otapack.cli import COMMAND_MODULES

    defined = {command.name: module for module in set(COMMAND_MODULES.values())
               for command in importlib.import_module(module).COMMANDS}
    assert defined == COMMAND_MODULES  # the lazy table names every command, and only those
    helps = set()
    for name in COMMAND_MODULES:
        code, out, _ = run(capsys, name, "--help")
        assert code == 0 and out.startswith("Usage: otapack " + name)
        helps.add(out)
    assert len(helps) == len(COMMAND_MODULES)


def test_hardware_id_end_to_end(tmp_path, capsys):
    pkg = tmp_path / "hw.pack"
    assert run(capsys, "-q", "full", NEW, "-o", pkg, "--hardware-id", "EC600N-PCB-V1")[0] == 0
    code, out, _ = run(capsys, "info", pkg, "--json")
    assert json.loads(out)["header"]["extensions"] == {"hardware-id": "EC600N-PCB-V1"}
    assert run(capsys, "verify", pkg, "--hardware-id", "EC600N-PCB-V1")[0] == 0
    code, _, err = run(capsys, "verify", pkg, "--hardware-id", "EC600N-PCB-V2")
    assert code == 8
    assert error_line(err) == "error: package is for hardware 'EC600N-PCB-V1', device is 'EC600N-PCB-V2'"


def test_every_exception_class_is_documented():
    import inspect

    from otapack import errors

    text = (ROOT / "docs" / "cli.md").read_text()
    classes = [name for name, value in vars(errors).items()
               if inspect.isclass(value) and issubclass(value, errors.OtapackError) and value is not errors.OtapackError]
    assert [name for name in classes if f"`{name}`" not in text] == []


def test_expected_image_says_why_it_was_skipped(tmp_path, capsys):
    pkg = tmp_path / "delta.pack"
    assert run(capsys, "-q", "diff", OLD, NEW, "-o", pkg)[0] == 0
    code, out, _ = run(capsys, "verify", pkg, "--old", OLD, "--json")
    assert code == 0 and json.loads(out)["checks"][-1]["detail"] == "no expected image given"
    code, out, _ = run(capsys, "verify", pkg, "--old", NEW, "--new", NEW, "--json")
    assert code == 1 and json.loads(out)["checks"][-1] == {"name": "expected-image", "status": "skipped",
                                                          "detail": "the restore did not complete"}
