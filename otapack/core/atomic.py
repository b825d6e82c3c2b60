"""Atomic file and directory writes (the mechanics behind ``otapack.core.fileio``).

A file is written to an anonymous ``O_TMPFILE`` inode in the target's
directory where the kernel and file system allow it.  If the process is
killed, even by SIGKILL, such an inode simply disappears.  Only when the
data is complete and fsync'ed does it get a name: it is linked under a
temporary name and renamed over the target in one step.  Otherwise (no
``O_TMPFILE``, or no ``/proc``) a ``.NAME.XXXXXXXX.tmp`` file takes its
place.  That file is removed on every error and on SIGINT/SIGTERM/SIGHUP,
but a SIGKILL during the write leaves it behind.  Names are checked
and paths resolved by the caller (``fileio``); this module only writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

#: Whether to try O_TMPFILE first (tests turn it off to exercise the named fallback).
ANONYMOUS = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
#: Errors meaning "this file system or kernel has no O_TMPFILE".
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}
_NAME_MAX = 255
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DEFERRED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_name(name: str, suffix: str = ".tmp") -> str:
    """``.NAME.XXXXXXXX.tmp``, NAME shortened so the result fits a 255-byte file name."""
    tail = f".{secrets.token_hex(4)}{suffix}"
    stem = name
    while len(os.fsencode(f".{stem}{tail}")) > _NAME_MAX:
        stem = stem[:-1]
    return f".{stem}{tail}"


@dataclass
class _Temp:
    """A file being written: an fd, and its temporary name once it has one."""

    directory: Path
    fd: int
    name: str | None = None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self.name is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / self.name)
            self.name = None


def _create(directory: Path, name: str) -> _Temp:
    if ANONYMOUS:
        try:
            return _Temp(directory, os.open(directory, os.O_TMPFILE | os.O_WRONLY | _CLOEXEC, 0o600))
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE:
                raise
    for _ in range(100):
        candidate = temp_name(name)
        try:
            fd = os.open(directory / candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                         0o600)
        except FileExistsError:
            continue
        return _Temp(directory, fd, candidate)
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(directory))


def probe(directory: Path, name: str, *, make_directory: bool = False) -> None:
    """Prove ``directory`` takes a new file (or directory) now; leaves nothing behind."""
    if make_directory:
        made = directory / temp_name(name)
        os.mkdir(made, 0o700)
        os.rmdir(made)
        return
    temp = _create(directory, name)
    temp.discard()


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[: 1 << 30])
        view = view[written:]


@dataclass(frozen=True)
class FileJob:
    path: Path  # resolved target
    data: bytes
    mode: int


class JobError(Exception):
    """An OSError while writing ``path``."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(path, error)
        self.path, self.error = path, error


def _link_anonymous(temp: _Temp, destination: Path) -> None:
    """Give an anonymous file a name: linkat(AT_SYMLINK_FOLLOW) of its /proc fd link.

    (A dir_fd argument makes os.link use linkat; plain link() would try to
    link the /proc symbolic link itself.)
    """
    directory = os.open(destination.parent, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{temp.fd}", destination.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


def _name_it(temp: _Temp, name: str) -> None:
    """Give an anonymous file a temporary name in its directory."""
    while temp.name is None:
        candidate = temp_name(name)
        try:
            _link_anonymous(temp, temp.directory / candidate)
        except FileExistsError:
            continue
        temp.name = candidate


def _publish(temp: _Temp, target: Path, overwrite: bool) -> None:
    if not overwrite:
        # link() never replaces: a file that appeared meanwhile stays
        try:
            if temp.name is None:
                _link_anonymous(temp, target)
            else:
                os.link(temp.directory / temp.name, target)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        if temp.name is not None:
            os.unlink(temp.directory / temp.name)
            temp.name = None
        return
    _name_it(temp, target.name)
    os.replace(temp.directory / temp.name, target)
    temp.name = None


def write_files(jobs: Sequence[FileJob], *, overwrite: bool = True) -> None:
    """Stage every file completely, then rename them all; JobError on failure, nothing left behind."""
    staged: list[tuple[FileJob, _Temp]] = []
    current = jobs[0].path if jobs else Path(".")
    try:
        for job in jobs:
            current = job.path
            temp = _create(job.path.parent, job.path.name)
            staged.append((job, temp))
            _write_all(temp.fd, job.data)
            os.fchmod(temp.fd, job.mode)
            os.fsync(temp.fd)
        with deferred_signals():
            for job, temp in staged:
                current = job.path
                _publish(temp, job.path, overwrite)
        for directory in sorted({job.path.parent for job in jobs}):
            _fsync_directory(directory)
    except OSError as exc:
        raise JobError(current, exc) from None
    finally:
        for _, temp in staged:
            temp.discard()


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable; best effort (some file systems refuse directory fsync)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_tree(target: Path, outputs: dict[str, bytes], dirs: Iterable[str], *, replace: bool) -> None:
    """A new directory ``target`` (replacing an existing one when ``replace``), all or nothing."""
    parent = target.parent
    tmp = parent / temp_name(target.name)
    os.mkdir(tmp, 0o700)
    old: Path | None = None
    try:
        for rel in dirs:
            (tmp / rel).mkdir(parents=True, exist_ok=True)
        for rel, data in sorted(outputs.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                         0o666 & ~umask())
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(tmp, 0o777 & ~umask())
        with deferred_signals():
            if replace:
                old = parent / temp_name(target.name, ".old")
                os.rename(target, old)
            os.rename(tmp, target)
        _fsync_directory(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists():
            with contextlib.suppress(OSError):
                os.rename(old, target)
            old = None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block ends, then deliver the first one.

    The renames that publish several outputs run inside this, so a signal
    cannot leave half of them renamed.  Only the main thread can set signal
    handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for signum in _DEFERRED_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is None or handler is signal.SIG_IGN:
            continue  # installed outside Python, or ignored: leave it alone
        previous[signum] = signal.signal(signum, lambda s, frame: pending.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])
