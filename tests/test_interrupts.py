"""Interrupted writes leave nothing behind (issue 13 item 2).

The CLI runs in a child process whose low-level writer is wrapped to write
part of an output, say so on stderr, then wait.  The signal therefore
arrives mid-write every time; no sleep, no timing threshold.  The timeouts
below are only hang detectors.  Both write paths are exercised: the
anonymous O_TMPFILE file and the named ``.NAME.XXXXXXXX.tmp`` fallback.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, error_line

NEW = FIXTURES / "corpus" / "programmer-0.9.0.bin"
OLD = FIXTURES / "corpus" / "programmer-0.8.0.bin"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "minimal-system"
HANG_TIMEOUT = 120
MARKER = "otapack-test: paused"

#: Runs ``otapack ARGV`` with the writer (or the builder) paused at its Nth call.
WRAPPER = r"""
import signal, sys
import otapack.core.atomic as atomic
import otapack.core.build as build

mode, where, nth, argv = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
atomic.ANONYMOUS = mode == "anonymous"
calls = []

def pause():
    sys.stderr.write("otapack-test: paused\n")
    sys.stderr.flush()
    while True:
        signal.pause()  # until a signal handler raises

def paused_write(fd, data, _real=atomic._write_all):
    calls.append(1)
    if len(calls) < nth:
        return _real(fd, data)
    _real(fd, data[: len(data) // 2])
    pause()

def paused_build(*args, _real=build.build_full, **kwargs):
    pause()

if where == "write":
    atomic._write_all = paused_write
else:
    build.build_full = paused_build

from otapack.cli import main
sys.exit(main(argv))
"""


def start(cwd: Path, mode: str, argv: list, *, where: str = "write", nth: int = 1, preexec_fn=None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, mode, where, str(nth), "-q", *map(str, argv)], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    if not selector.select(timeout=HANG_TIMEOUT):
        proc.kill()
        pytest.fail("the child never reached the paused write")
    line = proc.stderr.readline()
    assert line.strip() == MARKER, line + proc.stderr.read()
    return proc


def finish(proc: subprocess.Popen, signum: int) -> tuple[int, str]:
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=HANG_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"otapack did not stop after {signal.Signals(signum).name}")
    return proc.returncode, err


def listing(directory: Path) -> dict[str, bytes | None]:
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in sorted(directory.iterdir())}


EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


@pytest.mark.parametrize("signum, mode", [
    (signal.SIGTERM, "anonymous"), (signal.SIGTERM, "named"), (signal.SIGINT, "named"), (signal.SIGHUP, "named"),
], ids=lambda v: getattr(v, "name", v))
def test_signal_mid_write_removes_the_temporary_file(tmp_path, mode, signum):
    target = tmp_path / "out.pack"
    target.write_bytes(b"previous good package")
    before = listing(tmp_path)
    proc = start(tmp_path, mode, ["full", NEW, "--no-verify", "-o", target])
    temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.pack.") and p.name.endswith(".tmp")]
    # the named path has its half-written file visible now; the anonymous one has no name yet
    assert len(temps) == (1 if mode == "named" else 0)
    if temps:
        assert 0 < temps[0].stat().st_size
    code, err = finish(proc, signum)
    assert code == EXIT[signum]
    assert error_line(err) == f"error: stopped by {signum.name}; temporary files removed"
    assert listing(tmp_path) == before  # no temporary file, target untouched


def test_sigkill_mid_write_leaves_nothing_with_o_tmpfile(tmp_path):
    """SIGKILL runs no cleanup: the anonymous file is why nothing remains (docs/cli.md)."""
    target = tmp_path / "out.pack"
    target.write_bytes(b"previous good package")
    before = listing(tmp_path)
    proc = start(tmp_path, "anonymous", ["full", NEW, "--no-verify", "-o", target])
    code, _ = finish(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert listing(tmp_path) == before


def test_sigterm_while_the_second_of_two_outputs_is_written_keeps_both(tmp_path):
    """minimal writes both stages or neither: the first, complete, is not renamed alone."""
    s1, s2 = tmp_path / "s1.pack", tmp_path / "s2.pack"
    s1.write_bytes(b"old stage 1")
    s2.write_bytes(b"old stage 2")
    before = listing(tmp_path)
    proc = start(tmp_path, "named", ["minimal", EXAMPLE / "old.bin", EXAMPLE / "new.bin", "--minimal-system",
                                  EXAMPLE / "minimal.bin", "--layout", EXAMPLE / "layout.toml", "--no-verify",
                                  "-o", s1, "-o", s2], nth=2)
    code, err = finish(proc, signal.SIGTERM)
    assert code == 143, err
    assert listing(tmp_path) == before


def test_sigterm_while_a_directory_output_is_written_removes_it(tmp_path):
    image = tmp_path / "fs.bin"
    src = FIXTURES / "app"
    assert subprocess.run([sys.executable, "-m", "otapack", "-q", "fs", "build", src, "--block-count", "32", "--lfs-version", "2.0", "-o", image],
                          capture_output=True).returncode == 0
    before = listing(tmp_path)
    proc = start(tmp_path, "named", ["fs", "extract", image, "-o", tmp_path / "tree"], nth=2)
    assert [p.name.startswith(".tree.") for p in tmp_path.iterdir() if p.is_dir()] == [True]
    code, err = finish(proc, signal.SIGTERM)
    assert code == 143
    error_line(err)
    assert listing(tmp_path) == before


def test_sigterm_during_the_build_writes_nothing(tmp_path):
    proc = start(tmp_path, "named", ["full", NEW, "-o", tmp_path / "out.pack"], where="build")
    code, err = finish(proc, signal.SIGTERM)
    assert code == 143
    assert error_line(err) == "error: stopped by SIGTERM; temporary files removed"
    assert list(tmp_path.iterdir()) == []


def test_ignored_sighup_stays_ignored(tmp_path):
    """Under nohup (SIGHUP ignored) otapack does not start honouring it."""
    proc = start(tmp_path, "named", ["full", NEW, "--no-verify", "-o", tmp_path / "out.pack"],
                 preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    proc.send_signal(signal.SIGHUP)
    code, err = finish(proc, signal.SIGTERM)  # the run was still going after SIGHUP
    assert code == 143 and error_line(err) == "error: stopped by SIGTERM; temporary files removed"
    assert list(tmp_path.iterdir()) == []
