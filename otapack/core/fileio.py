"""What otapack reads and writes: the one place the rules for files live.

Inputs (``read_input``) are regular files, or ``-`` for standard input
where a command allows it.  A device node, FIFO, socket or directory is
refused before it is opened, the file is opened without blocking (a FIFO
swapped in cannot hang the run), and it is read with the size bound of its
kind (``INPUT_LIMITS``), so no input can exhaust memory.

Outputs (``check_output``, ``write_atomic``, ``write_files``,
``write_tree``) are regular files or directories, or new names.  A device
node, FIFO or socket is never replaced or written.  A symbolic link is
written through: its target (which must be a regular file) is replaced,
and the link stays.  An output is never one of the command's inputs (same
device and inode, or same resolved path), never inside an input directory
and never contains an input.  The data goes to an anonymous file
(``O_TMPFILE``) or a ``.NAME.XXXXXXXX.tmp`` file beside the target; the
file is written in full and fsync'ed, and only then renamed into place.
Then the directory is fsync'ed.  SIGINT, SIGTERM and SIGHUP wait until the
renames are done, so several outputs are written all together or not at
all.  The low-level writer is ``otapack.core.atomic``.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from otapack.core import atomic
from otapack.errors import InputError, OutputError

#: The command-line name for standard input / standard output.
STDIO = "-"

MiB = 1 << 20
GiB = 1 << 30
#: How far past its stat size a file is read, so one that grew since is still caught at its bound.
_READ_SLACK = 1 << 16


@dataclass(frozen=True)
class InputLimit:
    """The largest input of one kind that otapack reads."""

    kind: str
    limit: int
    covers: str


#: Input size bounds by kind; docs/cli.md shows this table (a test keeps them in sync).
INPUT_LIMITS: dict[str, InputLimit] = {
    limit.kind: limit
    for limit in (
        InputLimit("image", 2 * GiB,
                   "firmware images (old, new, minimal system), file-system images, app and file-system files"),
        InputLimit("package", (1 << 32) - 1, "packages (the format's 32-bit total length)"),  # u32 total_length
        InputLimit("document", 4 * MiB, "layouts and job documents"),
        InputLimit("key", 1 * MiB, "keys and signatures"),
    )
}

_stdin_data: bytes | None = None


def _flag(name: str) -> int:
    """An os.O_* flag, 0 where the platform has none (these only add safety)."""
    return getattr(os, name, 0)


# -- inputs --------------------------------------------------------------------------------


def file_kind(mode: int) -> str:
    """A file type for messages: 'directory', 'character device', 'FIFO', ..."""
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return name
    return "special file"


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _size(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"


def read_input(path: str | os.PathLike, what: str = "input", *, kind: str = "image",
               allow_empty: bool = False) -> bytes:
    """The bytes of an input file (``-``: standard input), at most ``INPUT_LIMITS[kind]``.

    Every failure is an ``InputError`` naming ``what`` and the path.
    """
    limit = INPUT_LIMITS[kind].limit
    name = os.fspath(path)
    if isinstance(path, str) and path == STDIO:  # a Path("-") is a file: pathlib turns "./-" into it
        label = f"{what} on standard input"
        data = _read_stdin(label, what, limit)
    else:
        label = f"{what} {name}"
        fd, size = _open_regular(name, label)
        try:
            data = _read_bounded(fd, size, label, limit)
        finally:
            os.close(fd)
    if not data and not allow_empty:
        raise InputError(f"{label} is empty")
    return data


def _open_regular(name: str, label: str) -> tuple[int, int]:
    """An fd of the regular file ``name`` (and its size); anything else is an InputError."""
    try:
        status = os.stat(name)
    except FileNotFoundError:
        if os.path.lexists(name):
            raise InputError(f"{label} is a symbolic link to a missing file") from None
        raise InputError(f"{label} does not exist") from None
    except NotADirectoryError:
        raise InputError(f"{label} does not exist (a parent is not a directory)") from None
    except PermissionError:
        raise InputError(f"{label} is not readable (permission denied)") from None
    except OSError as exc:
        raise InputError(f"cannot read {label}: {_os_reason(exc)}") from None
    _require_regular(status.st_mode, label)
    try:
        # O_NONBLOCK: a FIFO swapped in after the stat cannot block the open
        fd = os.open(name, os.O_RDONLY | _flag("O_NONBLOCK") | _flag("O_NOCTTY") | _flag("O_CLOEXEC"))
    except PermissionError:
        raise InputError(f"{label} is not readable (permission denied)") from None
    except OSError as exc:
        raise InputError(f"cannot read {label}: {_os_reason(exc)}") from None
    status = os.fstat(fd)
    try:
        _require_regular(status.st_mode, label)
    except InputError:
        os.close(fd)
        raise
    return fd, status.st_size


def _require_regular(mode: int, label: str) -> None:
    if stat.S_ISDIR(mode):
        raise InputError(f"{label} is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = file_kind(mode)
        raise InputError(f"{label} is {_article(kind)} {kind}, not a regular file")


def _too_large(label: str, limit: int, size: int | None = None) -> InputError:
    got = f"is {size:,} bytes" if size is not None else "is larger than that"
    return InputError(f"{label} {got}; otapack reads at most {_size(limit)}")


def _read_bounded(fd: int, size: int, label: str, limit: int) -> bytes:
    if size > limit:
        raise _too_large(label, limit, size)
    parts: list[bytes] = []
    total = 0
    try:
        while True:
            # one read for the whole file when its size is right; never past limit + 1
            want = min(limit + 1 - total, max(size - total, 0) + _READ_SLACK, GiB)
            chunk = os.read(fd, want)
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(label, limit)
    except OSError as exc:
        raise InputError(f"cannot read {label}: {_os_reason(exc)}") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_stdin(label: str, what: str, limit: int) -> bytes:
    """Standard input, read once (a second read gets the same bytes), bounded."""
    global _stdin_data
    if _stdin_data is not None:
        return _stdin_data
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError(f"cannot read {label}: no standard input")
    if stream.isatty():
        raise InputError(f"refusing to read {_article(what)} {what} from a terminal: pipe it in or give a file")
    parts: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = stream.read(min(limit + 1 - total, 4 * MiB))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(label, limit)
    except OSError as exc:
        raise InputError(f"cannot read {label}: {_os_reason(exc)}") from None
    _stdin_data = b"".join(parts)
    return _stdin_data


def regular_file_problem(path: Path) -> tuple[str | None, os.stat_result | None]:
    """(why ``path`` cannot be read as a file, or None; its stat when it can)."""
    try:
        status = path.stat()
    except OSError:
        return "dangling symbolic link", None
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file", None
    return None, status


# -- outputs: where a path really writes, and whether it may --------------------------------


@dataclass(frozen=True)
class _Target:
    shown: str  # as the user wrote it, for messages
    path: Path  # where the write goes: the name, or a symbolic link's final target
    status: os.stat_result | None  # the existing file or directory, None when new


def _cannot(shown: str, why: str) -> OutputError:
    return OutputError(f"cannot write {shown}: {why}")


def _short(shown: str) -> str:
    """A path with an overlong last component abbreviated, to keep messages to one readable line."""
    head, _, name = shown.rpartition("/")
    if len(name) <= 64:
        return shown
    return f"{head}/{name[:32]}...{name[-8:]}" if head else f"{name[:32]}...{name[-8:]}"


def _resolve_output(path: str | os.PathLike, directory: bool) -> _Target:
    shown = os.fspath(path)
    if not shown:
        raise OutputError("output name is empty")
    target = Path(shown)
    if not directory and (shown.endswith("/") or target.name in ("", ".", "..")):
        raise _cannot(shown, "it names a directory")
    try:
        status = os.lstat(target)
    except FileNotFoundError:
        _check_name_length(shown, target)
        _check_parent(shown, target)
        return _Target(shown, target, None)
    except NotADirectoryError:
        raise _cannot(shown, f"{_first_non_directory(target)} is not a directory") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            _check_name_length(shown, target)
        raise _cannot(_short(shown), _os_reason(exc)) from None
    if stat.S_ISLNK(status.st_mode):
        target, status = _through_link(shown, target)
    kind = file_kind(status.st_mode)
    if directory and not stat.S_ISDIR(status.st_mode):
        raise _cannot(shown, f"it exists and is {_article(kind)} {kind}, not a directory")
    if not directory:
        if stat.S_ISDIR(status.st_mode):
            raise _cannot(shown, "it is a directory")
        if not stat.S_ISREG(status.st_mode):
            hint = " (use - for standard output)" if stat.S_ISCHR(status.st_mode) or stat.S_ISFIFO(status.st_mode) else ""
            raise OutputError(f"refusing to write {shown}: it is {_article(kind)} {kind}, "
                              f"not a regular file{hint}")
    return _Target(shown, target, status)


def _through_link(shown: str, link: Path) -> tuple[Path, os.stat_result]:
    """A symbolic link's final target and its stat; a link to nothing is refused."""
    try:
        status = os.stat(link)
    except FileNotFoundError:
        raise _cannot(shown, "it is a symbolic link to a missing file; refusing to create its target") from None
    except OSError as exc:
        raise _cannot(shown, _os_reason(exc)) from None
    if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
        return link, status  # the caller refuses it by type
    real = Path(os.path.realpath(link))
    try:
        resolved = os.lstat(real)
    except OSError:
        resolved = None
    if resolved is None or (resolved.st_dev, resolved.st_ino) != (status.st_dev, status.st_ino):
        raise _cannot(shown, "its symbolic link does not resolve to a file name (use - for standard output)")
    return real, resolved


def _check_name_length(shown: str, target: Path) -> None:
    parent = target.parent
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    length = len(os.fsencode(target.name))
    if length > name_max:
        raise _cannot(_short(shown), f"file name is {length} bytes; the file system allows at most {name_max}")


def _first_non_directory(target: Path) -> Path:
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return target.parent


def _check_parent(shown: str, target: Path) -> None:
    parent = target.parent
    try:
        status = os.stat(parent)
    except FileNotFoundError:
        raise _cannot(shown, f"directory {parent} does not exist") from None
    except NotADirectoryError:
        raise _cannot(shown, f"{_first_non_directory(target)} is not a directory") from None
    except OSError as exc:
        raise _cannot(_short(shown), _os_reason(exc)) from None
    if not stat.S_ISDIR(status.st_mode):
        raise _cannot(shown, f"{parent} is not a directory")


@dataclass(frozen=True)
class _Input:
    shown: str
    real: Path
    status: os.stat_result


def _inputs(inputs: Iterable[str | os.PathLike | None], may_replace: str | os.PathLike | None) -> list[_Input]:
    """The inputs that exist (a missing one fails as an input error elsewhere)."""
    spared = _identity(may_replace) if may_replace is not None else None
    found = []
    for item in inputs:
        if item is None or os.fspath(item) == STDIO:
            continue
        try:
            status = os.stat(item)
        except (OSError, ValueError):
            continue
        if spared is not None and (status.st_dev, status.st_ino) == spared:
            continue
        found.append(_Input(os.fspath(item), Path(os.path.realpath(item)), status))
    return found


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def _within(inner: Path, outer: Path) -> bool:
    return inner != outer and outer in inner.parents


def _check_not_input(target: _Target, inputs: list[_Input], directory: bool) -> None:
    real = Path(os.path.realpath(target.path))
    for item in inputs:
        same_file = target.status is not None and (
            (target.status.st_dev, target.status.st_ino) == (item.status.st_dev, item.status.st_ino))
        if same_file or real == item.real:
            raise OutputError(f"refusing to write {target.shown}: it is the input {item.shown}")
        if stat.S_ISDIR(item.status.st_mode) and _within(real, item.real):
            raise OutputError(f"refusing to write {target.shown}: it is inside the input directory {item.shown}")
        if directory and _within(item.real, real):
            raise OutputError(f"refusing to write {target.shown}: it would replace the input {item.shown}")


def _prepare(paths: Sequence[str | os.PathLike], inputs, *, directory: bool, overwrite: bool,
             may_replace) -> list[_Target]:
    known = _inputs(inputs, may_replace)
    targets: list[_Target] = []
    for path in paths:
        target = _resolve_output(path, directory)
        if target.status is not None and not overwrite:
            what = "is not empty" if directory else "already exists"
            raise OutputError(f"{target.shown} {what}; refusing to overwrite it", option="overwrite")
        _check_not_input(target, known, directory)
        for other in targets:
            if Path(os.path.realpath(other.path)) == Path(os.path.realpath(target.path)):
                raise OutputError(f"{other.shown} and {target.shown} are the same output file")
        targets.append(target)
    return targets


def check_output(path: str | os.PathLike, *, inputs: Iterable = (), directory: bool = False,
                 overwrite: bool = True, may_replace: str | os.PathLike | None = None) -> None:
    """Fail before the expensive work when ``path`` cannot or must not be written."""
    check_outputs([path], inputs=inputs, directory=directory, overwrite=overwrite, may_replace=may_replace)


def check_outputs(paths: Sequence[str | os.PathLike], *, inputs: Iterable = (), directory: bool = False,
                  overwrite: bool = True, may_replace: str | os.PathLike | None = None) -> None:
    """``check_output`` for several outputs, which must also differ from each other.

    Besides the rules of the module docstring, this proves the directory
    takes a new file now (permissions, read-only mounts): it creates an
    anonymous or temporary file there and removes it again.
    """
    for target in _prepare(list(paths), inputs, directory=directory,
                           overwrite=overwrite or directory, may_replace=may_replace):
        if directory and target.status is not None and not overwrite and any(os.scandir(target.path)):
            raise OutputError(f"{target.shown} exists and is not empty; refusing to overwrite it", option="overwrite")
        try:
            atomic.probe(target.path.parent, target.path.name, make_directory=directory)
        except OSError as exc:
            raise _cannot(target.shown, _os_reason(exc)) from None


def write_atomic(path: str | os.PathLike, data: bytes, *, mode: int | None = None, overwrite: bool = True,
                 inputs: Iterable = (), may_replace: str | os.PathLike | None = None) -> None:
    """Write one file atomically (see the module docstring for what is refused)."""
    write_files([(path, data)], mode=mode, overwrite=overwrite, inputs=inputs, may_replace=may_replace)


def write_files(items: Sequence[tuple[str | os.PathLike, bytes]], *, mode: int | None = None,
                overwrite: bool = True, inputs: Iterable = (),
                may_replace: str | os.PathLike | None = None) -> None:
    """Write several files all or nothing: every file is complete on disk before the first rename."""
    targets = _prepare([p for p, _ in items], inputs, directory=False, overwrite=overwrite,
                       may_replace=may_replace)
    jobs = []
    for target, (_, data) in zip(targets, items):
        if mode is not None:
            file_mode = mode
        elif target.status is not None:
            file_mode = target.status.st_mode & 0o777
        else:
            file_mode = 0o666 & ~atomic.umask()
        jobs.append(atomic.FileJob(target.path, data, file_mode))
    try:
        atomic.write_files(jobs, overwrite=overwrite)
    except atomic.JobError as exc:
        shown = next((t.shown for t in targets if t.path == exc.path), str(exc.path))
        if isinstance(exc.error, FileExistsError) and not overwrite:
            raise OutputError(f"{shown} already exists; refusing to overwrite it") from None
        raise _cannot(shown, _os_reason(exc.error)) from None


def write_tree(out_dir: str | os.PathLike, outputs: dict[str, bytes], *, overwrite: bool = False,
               dirs: Iterable[str] = (), inputs: Iterable = ()) -> None:
    """Write ``outputs`` (and empty ``dirs``) as a new directory, all or nothing (temp dir + rename).

    Keys are relative POSIX paths; one that would land outside ``out_dir``
    ('..', absolute, empty parts) is refused before anything is written.
    """
    (target,) = _prepare([out_dir], inputs, directory=True, overwrite=True, may_replace=None)
    if target.status is not None and not overwrite and any(os.scandir(target.path)):
        raise OutputError(f"{target.shown} exists and is not empty; refusing to overwrite it", option="overwrite")
    for rel in list(outputs) + list(dirs):
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
            raise OutputError(f"refusing to write {rel!r}: it is not a plain path inside {target.shown}")
    try:
        atomic.write_tree(target.path, outputs, sorted(dirs), replace=target.status is not None)
    except OSError as exc:
        raise _cannot(target.shown, _os_reason(exc)) from None
