"""Tool registry and child-process measurement for bench/run_bench.py.

Every tool is one ``Tool`` in ``TOOLS``: a create command (OLD, NEW -> patch
file) and an apply command (OLD, patch -> restored file), each run as its own
child process.  ``run_measured`` times the child with the wall clock and reads
its peak RSS from ``os.wait4`` (Linux ``ru_maxrss``, KiB), so the numbers are
per tool and include the process start (Python interpreter for the
Python-based tools).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent
WORKER = [PY, str(HERE / "_worker.py")]


def _exe(name: str) -> str:
    """A console script next to this Python (the venv) or on PATH."""
    local = BIN / name
    return str(local) if local.exists() else (shutil.which(name) or name)


@dataclass
class Run:
    seconds: float
    rss_kib: int
    rc: int
    stderr: str = ""


GNU_TIME = "/usr/bin/time"
#: Environment of every measured child; set_child_env() gives Python children
#: a bytecode cache outside the repository (the way an installed tool runs).
CHILD_ENV: Optional[dict] = None


def set_child_env(pycache: Path) -> None:
    global CHILD_ENV
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    CHILD_ENV = env


def run_measured(argv: list[str], *, stdout_path: Optional[Path] = None, timeout: float = 900.0) -> Run:
    """One child process: wall time and its own peak RSS.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``) when present:
    Linux's ``ru_maxrss`` keeps the high-water mark of the process image
    *before* ``exec``, so ``wait4`` on a child forked from this (large) Python
    would report at least this process's RSS.  GNU time is small (about 2 MiB,
    the remaining bias).  Without it, ``wait4`` is used and the parent's RSS
    is a floor.
    """
    import tempfile
    import threading

    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", rss.name, *argv] if os.path.exists(GNU_TIME) else argv
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=CHILD_ENV)
            killer = threading.Timer(timeout, proc.kill)
            killer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            killer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if stdout_path:
                out.close()
        err.seek(0)
        text = err.read().decode(errors="replace").strip()
        kib = int(usage.ru_maxrss)
        if wrapped is not argv:
            lines = [ln for ln in rss.read().split() if ln.isdigit()]
            kib = int(lines[-1]) if lines else 0
    if proc.returncode < 0:
        text = f"killed (signal {-proc.returncode}; timeout {timeout:.0f} s) {text}"
    return Run(seconds, kib, proc.returncode, text)


def measure(argv: list[str], repeat: int, **kw) -> Run:
    """Best (minimum) time and RSS over ``repeat`` runs; the first failure is returned."""
    best: Optional[Run] = None
    for _ in range(max(1, repeat)):
        r = run_measured(argv, **kw)
        if r.rc != 0:
            return r
        if best is None:
            best = r
        else:
            best = Run(min(best.seconds, r.seconds), min(best.rss_kib, r.rss_kib), 0)
    return best


@dataclass
class Case:
    """One pair in one working directory."""

    name: str
    old: Path
    new: Path
    arch: Optional[str]
    work: Path
    old_elf: Optional[Path] = None
    new_elf: Optional[Path] = None
    otapack_mode: str = "cli"  # "cli" or "slot" (see otapack_mode())
    notes: dict = field(default_factory=dict)

    def patch(self, tool: str) -> Path:
        return self.work / f"{tool}.patch"

    def restored(self, tool: str) -> Path:
        return self.work / f"{tool}.restored"


@dataclass
class Cmd:
    argv: list[str]
    stdout: Optional[Path] = None  # the child's stdout goes to this file


class NotApplicable(Exception):
    """The tool cannot handle this pair; the message is shown as n/a reason."""


@dataclass
class Tool:
    name: str
    create: Callable[[Case], Cmd]
    apply: Callable[[Case], Cmd]
    version: Callable[[], str]
    #: "self" (otapack), "delta" (a peer delta tool) or "full" (whole new image)
    kind: str = "delta"
    #: counts for the size target (smallest of bsdiff4, detools bsdiff/hdiffpatch, HDiffPatch)
    target_peer: bool = False
    #: None when usable, else why not (missing binary/module)
    missing: Callable[[], Optional[str]] = lambda: None
    description: str = ""


def _pkg_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cmd_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except OSError:
        return "not installed"
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


def _needs_module(mod: str) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        try:
            __import__(mod)
        except ImportError:
            return f"Python module {mod} not installed (pip install -e '.[bench]')"
        return None
    return check


def _needs_exe(exe: str, hint: str) -> Callable[[], Optional[str]]:
    return lambda: None if shutil.which(exe) else f"{exe} not found ({hint})"


# ---------------------------------------------------------------- otapack

def otapack_mode(case: Case) -> str:
    """``cli`` when ``otapack compare`` says the two images share one partition
    structure (the CLI can diff them), else ``slot``: the pair is diffed by
    bench/_worker.py as one raw partition in a slot of max(old, new) bytes,
    because ``otapack diff`` refuses raw images of different sizes."""
    p = subprocess.run([_exe("otapack"), "-q", "compare", "--json", str(case.old), str(case.new)],
                       capture_output=True, text=True, env=CHILD_ENV)
    try:
        return "cli" if json.loads(p.stdout).get("compatible") else "slot"
    except ValueError:
        return "slot"


def _otapack_create(c: Case) -> Cmd:
    if c.otapack_mode == "cli":
        return Cmd([_exe("otapack"), "-q", "diff", "--no-verify", str(c.old), str(c.new), "-o", str(c.patch("otapack"))])
    return Cmd(WORKER + ["otapack-slot-diff", str(c.old), str(c.new), str(c.patch("otapack"))])


def otapack_verify_cmd(c: Case) -> Cmd:
    """Timed as otapack's apply: the device restore plus the NEW comparison."""
    if c.otapack_mode == "cli":
        return Cmd([_exe("otapack"), "-q", "verify", str(c.patch("otapack")), "--old", str(c.old), "--new", str(c.new)])
    return Cmd(WORKER + ["otapack-slot-verify", str(c.patch("otapack")), str(c.old), str(c.new)])


def _otapack_apply(c: Case) -> Cmd:
    """Untimed independent check: write the restored image and compare it."""
    out = str(c.restored("otapack"))
    if c.otapack_mode == "cli":
        return Cmd([_exe("otapack"), "-q", "apply", str(c.patch("otapack")), "--old", str(c.old), "-o", out])
    return Cmd(WORKER + ["otapack-slot-apply", str(c.patch("otapack")), str(c.old), str(c.new), out])


def _otapack_version() -> str:
    v = _pkg_version("otapack")
    root = HERE.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = ""
    import hashlib

    digest = hashlib.sha256()  # the working tree may differ from the commit
    for f in sorted((root / "otapack").rglob("*")):
        if f.is_file() and f.suffix in (".c", ".h", ".py", ".so") and "__pycache__" not in f.parts:
            digest.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return f"{v} (git {rev or '?'}; otapack/ sources + built core sha256 {digest.hexdigest()[:12]})"


# ---------------------------------------------------------------- peers

def _worker_tool(name: str, op: str) -> tuple[Callable[[Case], Cmd], Callable[[Case], Cmd]]:
    return (
        lambda c: Cmd(WORKER + [f"{op}-create", str(c.old), str(c.new), str(c.patch(name))]),
        lambda c: Cmd(WORKER + [f"{op}-apply", str(c.old), str(c.patch(name)), str(c.restored(name))]),
    )


def _detools(name: str, extra: Callable[[Case], list[str]]) -> tuple[Callable[[Case], Cmd], Callable[[Case], Cmd]]:
    def create(c: Case) -> Cmd:
        return Cmd([_exe("detools"), "create_patch", *extra(c), str(c.old), str(c.new), str(c.patch(name))])

    def apply(c: Case) -> Cmd:
        return Cmd([_exe("detools"), "apply_patch", str(c.old), str(c.patch(name)), str(c.restored(name))])
    return create, apply


def _data_format_args(c: Case) -> list[str]:
    if not c.arch:
        raise NotApplicable("no arch label in meta.json")
    args = ["--data-format", c.arch]
    if c.old_elf and c.new_elf:
        args += ["--from-elf-file", str(c.old_elf), "--to-elf-file", str(c.new_elf)]
    return args


def _shell(argv_of: Callable[[Case], list[str]], out_of: Callable[[Case], Path]) -> Callable[[Case], Cmd]:
    return lambda c: Cmd(argv_of(c), stdout=out_of(c))


_b4c, _b4a = _worker_tool("bsdiff4", "bsdiff4")
_bxc, _bxa = _worker_tool("bsdiff4+xz", "bsdiff4xz")
_hdc, _hda = _worker_tool("hdiffpatch", "hdiffpatch")
_dtc, _dta = _detools("detools", lambda c: [])
_dhc, _dha = _detools("detools-hdiffpatch", lambda c: ["-a", "hdiffpatch", "-t", "hdiffpatch"])
_dfc, _dfa = _detools("detools-data-format", _data_format_args)

TOOLS: list[Tool] = [
    Tool("otapack", _otapack_create, _otapack_apply, _otapack_version, kind="self",
         description="`otapack diff --no-verify -q` (package: header, hashes, footer included); "
                     "apply time = `otapack verify --old --new` (device restore in Python)"),
    Tool("bsdiff4", _b4c, _b4a, lambda: _pkg_version("bsdiff4"), target_peer=True,
         missing=_needs_module("bsdiff4"), description="`bsdiff4.diff` (BSDIFF40, bzip2 streams)"),
    Tool("bsdiff4+xz", _bxc, _bxa, lambda: _pkg_version("bsdiff4") + " + liblzma " + liblzma_version(),
         missing=_needs_module("bsdiff4"),
         description="bsdiff4.core.diff control/diff/extra streams, each `xz -9e` (lzma preset 9|EXTREME), "
                     "+ 32-byte header"),
    Tool("detools", _dtc, _dta, lambda: _pkg_version("detools"), target_peer=True,
         missing=_needs_module("detools"), description="`detools create_patch` (sequential, bsdiff, lzma)"),
    Tool("detools-hdiffpatch", _dhc, _dha, lambda: _pkg_version("detools"), target_peer=True,
         missing=_needs_module("detools"), description="`detools create_patch -a hdiffpatch -t hdiffpatch`"),
    Tool("detools-data-format", _dfc, _dfa, lambda: _pkg_version("detools"),
         missing=_needs_module("detools"),
         description="`detools create_patch --data-format <arch>` (+ `--from/--to-elf-file` where the pair has ELFs)"),
    Tool("hdiffpatch", _hdc, _hda, lambda: _pkg_version("hdiffpatch"), target_peer=True,
         missing=_needs_module("hdiffpatch"),
         description="`hdiffpatch.diff(old, new, Lzma2Config())` (LZMA2 level 9, 8 MiB window)"),
    Tool("xdelta3", lambda c: Cmd(["xdelta3", "-9", "-e", "-f", "-s", str(c.old), str(c.new), str(c.patch("xdelta3"))]),
         lambda c: Cmd(["xdelta3", "-d", "-f", "-s", str(c.old), str(c.patch("xdelta3")), str(c.restored("xdelta3"))]),
         lambda: _cmd_version(["xdelta3", "-V"]).split(",")[0], missing=_needs_exe("xdelta3", "apt-get install xdelta3"),
         description="`xdelta3 -9 -e -s OLD NEW`"),
    Tool("zstd", lambda c: Cmd(["zstd", "-q", "-f", f"--patch-from={c.old}", "--ultra", "-22", "--long",
                                str(c.new), "-o", str(c.patch("zstd"))]),
         lambda c: Cmd(["zstd", "-q", "-d", "-f", f"--patch-from={c.old}", "--long=31", str(c.patch("zstd")),
                        "-o", str(c.restored("zstd"))]),
         lambda: _cmd_version(["zstd", "--version"]).strip("* "), missing=_needs_exe("zstd", "apt-get install zstd"),
         description="`zstd --patch-from=OLD --ultra -22 --long NEW`"),
    Tool("xz-full", _shell(lambda c: ["xz", "-9e", "-k", "-c", str(c.new)], lambda c: c.patch("xz-full")),
         _shell(lambda c: ["xz", "-d", "-c", str(c.patch("xz-full"))], lambda c: c.restored("xz-full")),
         lambda: _cmd_version(["xz", "--version"]), kind="full", missing=_needs_exe("xz", "apt-get install xz-utils"),
         description="`xz -9e` of the new image (what a full package costs)"),
]

TOOL_BY_NAME = {t.name: t for t in TOOLS}


def liblzma_version() -> str:
    """Version of the liblzma the lzma module uses (via ctypes; '?' if unknown)."""
    try:
        import ctypes
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("lzma") or "liblzma.so.5")
        lib.lzma_version_string.restype = ctypes.c_char_p
        return lib.lzma_version_string().decode()
    except (OSError, AttributeError):
        return "?"
