"""otapack.core.fileio / atomic: the file rules every command goes through.

The CLI-wide behaviour is in test_hostile_io.py and test_interrupts.py; here
are the paths a command line cannot reach deterministically: a FIFO swapped
in after the type check, a file larger than its stat said, a target that
appears during the write, a full disk, a signal between two renames.
"""

from __future__ import annotations

import errno
import io
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from otapack.core import atomic, fileio
from otapack.core.fileio import INPUT_LIMITS, InputLimit, read_input, write_atomic, write_files, write_tree
from otapack.errors import InputError, OutputError


@pytest.fixture(params=["anonymous", "named"])
def write_mode(request, monkeypatch):
    """Both write paths: O_TMPFILE, and the named temporary file it falls back to."""
    if request.param == "anonymous":
        assert atomic.ANONYMOUS, "this system has O_TMPFILE and /proc: the anonymous path must be tested"
    monkeypatch.setattr(atomic, "ANONYMOUS", request.param == "anonymous")
    return request.param


def small_limit(monkeypatch, limit: int) -> None:
    monkeypatch.setitem(INPUT_LIMITS, "image", InputLimit("image", limit, "test"))


# -- reading ---------------------------------------------------------------------------------


def test_read_is_bounded_at_exactly_the_limit(tmp_path, monkeypatch):
    small_limit(monkeypatch, 100)
    ok, big = tmp_path / "ok.bin", tmp_path / "big.bin"
    ok.write_bytes(b"x" * 100)
    big.write_bytes(b"x" * 101)
    assert read_input(ok, "image") == b"x" * 100
    with pytest.raises(InputError) as info:
        read_input(big, "image")
    assert str(info.value) == f"image {big} is 101 bytes; otapack reads at most 100 bytes"


def test_a_file_larger_than_its_stat_says_is_still_bounded(monkeypatch):
    """procfs files stat as 0 bytes: the bound holds on what is read, not on st_size."""
    assert os.stat("/proc/self/maps").st_size == 0
    assert b"/" in read_input("/proc/self/maps", "image")
    small_limit(monkeypatch, 10)
    with pytest.raises(InputError) as info:
        read_input("/proc/self/maps", "image")
    assert str(info.value) == "image /proc/self/maps is larger than that; otapack reads at most 10 bytes"


def test_a_fifo_swapped_in_after_the_type_check_does_not_block(tmp_path):
    """The stat says regular file, the open finds a FIFO with no writer: O_NONBLOCK + fstat refuse it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    regular = tmp_path / "regular"
    regular.write_bytes(b"x")
    code = f"""
import os, sys
from otapack.core import fileio
real_stat = os.stat
fileio.os.stat = lambda path, *a, **k: real_stat({str(regular)!r}) if str(path) == {str(fifo)!r} else real_stat(path, *a, **k)
try:
    fileio.read_input({str(fifo)!r}, "image")
except fileio.InputError as exc:
    print(exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == f"image {fifo} is a FIFO, not a regular file", proc.stderr


def _socket(path: Path) -> Path:
    import socket

    here = os.getcwd()
    os.chdir(path.parent)  # AF_UNIX names are limited to 108 bytes
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(path.name)
    finally:
        os.chdir(here)
    return path


@pytest.mark.parametrize("kind, message", [
    ("socket", "image {path} is a socket, not a regular file"),
    ("dangling", "image {path} is a symbolic link to a missing file"),
    ("under-file", "image {path} does not exist (a parent is not a directory)"),
])
def test_other_non_regular_inputs(tmp_path, kind, message):
    path = tmp_path / "x"
    if kind == "socket":
        _socket(path)
    elif kind == "dangling":
        path.symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "plain").write_bytes(b"x")
        path = tmp_path / "plain" / "x"
    with pytest.raises(InputError) as info:
        read_input(path, "image")
    assert str(info.value) == message.format(path=path)


@pytest.mark.parametrize("kind, message", [
    ("socket", "refusing to write {path}: it is a socket, not a regular file"),
    ("loop", "cannot write {path}: Too many levels of symbolic links"),
    ("no-parent", "cannot write {path}: directory {parent} does not exist"),
    ("trailing-slash", "cannot write {path}/: it names a directory"),
])
def test_other_refused_outputs(tmp_path, kind, message):
    path = tmp_path / "out"
    if kind == "socket":
        _socket(path)
    elif kind == "loop":
        path.symlink_to("out2")
        (tmp_path / "out2").symlink_to("out")
    elif kind == "no-parent":
        path = tmp_path / "missing" / "out"
    given = f"{path}/" if kind == "trailing-slash" else path
    before = sorted(p.name for p in tmp_path.iterdir())
    for attempt in (lambda: fileio.check_output(given), lambda: write_atomic(given, b"data")):
        with pytest.raises(OutputError) as info:
            attempt()
        assert str(info.value) == message.format(path=path, parent=path.parent)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_stdin_is_bounded_and_read_once(monkeypatch):
    monkeypatch.setattr(fileio, "_stdin_data", None)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 50)))
    small_limit(monkeypatch, 50)
    assert read_input("-", "package", kind="image") == b"y" * 50
    assert read_input("-", "package", kind="image") == b"y" * 50  # the same stream, twice
    monkeypatch.setattr(fileio, "_stdin_data", None)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 51)))
    with pytest.raises(InputError) as info:
        read_input("-", "package", kind="image")
    assert str(info.value) == "package on standard input is larger than that; otapack reads at most 50 bytes"


def test_input_limits_table_in_docs_matches_code():
    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    rows = dict(re.findall(r"^\| ([a-z][^|]+?) \| +([0-9][^|]*?) \|$", text, flags=re.M))
    assert rows == {item.covers: fileio._size(item.limit).replace(",", "") for item in INPUT_LIMITS.values()}


# -- writing ---------------------------------------------------------------------------------


def test_new_file_gets_umask_mode_and_replaced_file_keeps_its_mode(tmp_path, write_mode):
    new, old = tmp_path / "new.bin", tmp_path / "old.bin"
    old.write_bytes(b"before")
    old.chmod(0o640)
    mask = os.umask(0o027)
    try:
        write_atomic(new, b"data")
        write_atomic(old, b"after")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o640 and new.read_bytes() == b"data"
    assert stat.S_IMODE(old.stat().st_mode) == 0o640 and old.read_bytes() == b"after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.bin", "old.bin"]


def test_a_255_byte_name_still_gets_a_temporary_name_that_fits(tmp_path, write_mode):
    target = tmp_path / ("x" * 255)
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    assert len(os.fsencode(atomic.temp_name("x" * 255))) == 255
    assert [p.name for p in tmp_path.iterdir()] == ["x" * 255]


def test_disk_full_mid_write_leaves_the_target_and_no_temporary_file(tmp_path, monkeypatch, write_mode):
    target = tmp_path / "out.pack"
    target.write_bytes(b"previous")

    def full(fd, data):
        os.write(fd, data[:3])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_write_all", full)
    with pytest.raises(OutputError) as info:
        write_atomic(target, b"new package")
    assert str(info.value) == f"cannot write {target}: No space left on device"
    assert [p.name for p in tmp_path.iterdir()] == ["out.pack"] and target.read_bytes() == b"previous"


def test_never_overwrite_holds_against_a_file_that_appears_during_the_write(tmp_path, monkeypatch, write_mode):
    target = tmp_path / "key.pem"
    real = atomic._write_all

    def racing(fd, data):
        target.write_bytes(b"someone else's key")
        real(fd, data)

    monkeypatch.setattr(atomic, "_write_all", racing)
    with pytest.raises(OutputError) as info:
        write_atomic(target, b"new key", mode=0o600, overwrite=False)
    assert str(info.value) == f"{target} already exists; refusing to overwrite it"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"] and target.read_bytes() == b"someone else's key"


def test_a_signal_during_the_renames_waits_until_every_output_is_in_place(tmp_path, monkeypatch, write_mode):
    class Stop(BaseException):
        pass

    def handler(signum, frame):
        raise Stop()

    previous = signal.signal(signal.SIGTERM, handler)
    real = atomic._publish
    calls = []

    def publish(temp, target, overwrite):
        if not calls:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between the two renames
        calls.append(target)
        real(temp, target, overwrite)

    monkeypatch.setattr(atomic, "_publish", publish)
    a, b = tmp_path / "a.pack", tmp_path / "b.pack"
    try:
        with pytest.raises(Stop):
            write_files([(a, b"stage 1"), (b, b"stage 2")])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(calls) == 2 and a.read_bytes() == b"stage 1" and b.read_bytes() == b"stage 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pack", "b.pack"]


def test_the_writability_probe_leaves_nothing(tmp_path, write_mode):
    fileio.check_output(tmp_path / "out.pack")
    fileio.check_output(tmp_path / "tree", directory=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../escape", "a//b", "./a", ""])
def test_tree_keys_cannot_escape_the_output_directory(tmp_path, key):
    with pytest.raises(OutputError) as info:
        write_tree(tmp_path / "out", {key: b"x", "ok": b"y"})
    assert "is not a plain path inside" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_tree_replaced_with_force_keeps_the_old_tree_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_bytes(b"old")
    real = os.rename

    def failing_rename(src, dst):
        if Path(dst) == out and str(src).endswith(".tmp"):  # the new tree's rename fails, the restore works
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "rename", failing_rename)
    with pytest.raises(OutputError):
        write_tree(out, {"new.txt": b"new"}, overwrite=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_dev_stdout_as_an_output_is_refused_with_a_hint(tmp_path):
    new = Path(__file__).parent / "fixtures" / "corpus" / "programmer-0.9.0.bin"
    proc = subprocess.run([sys.executable, "-m", "otapack", "-q", "full", str(new), "--no-verify", "-o", "/dev/stdout"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 6 and proc.stdout == ""
    assert proc.stderr == ("error: refusing to write /dev/stdout: it is a FIFO, not a regular file "
                           "(use - for standard output)\n")
