"""File input and atomic output.

Outputs go to a temporary file in the target directory, are fsync'ed, then
renamed over the target, so a failed run never leaves a partial file and
never clobbers a good one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable

from otapack.errors import InputError, OutputError


def read_input(path: str | os.PathLike, what: str = "input", *, allow_empty: bool = False) -> bytes:
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"{what} {p} is a directory, not a file")
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist") from None
    except PermissionError:
        raise InputError(f"{what} {p} is not readable (permission denied)") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if not data and not allow_empty:
        raise InputError(f"{what} {p} is empty")
    return data


def regular_file_problem(path: Path) -> tuple[str | None, os.stat_result | None]:
    """(why ``path`` cannot be read as a file, or None; its stat when it can)."""
    try:
        status = path.stat()
    except OSError:
        return "dangling symbolic link", None
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file", None
    return None, status


def check_output_path(path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """Fail before the expensive work when an output cannot be written."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"cannot write {target}: directory {directory} does not exist")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a directory")
    if not overwrite and target.exists():
        raise OutputError(f"{target} already exists; refusing to overwrite it")


def write_atomic(path: str | os.PathLike, data: bytes, *, mode: int | None = None, overwrite: bool = True) -> None:
    target = Path(path)
    if not overwrite and target.exists():
        raise OutputError(f"{target} already exists; refusing to overwrite it")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"cannot write {target}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if not overwrite:
            # link() fails if the target appeared meanwhile; never replace it
            os.link(tmp, target)
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_tree(out_dir: str | os.PathLike, outputs: dict[str, bytes], *, overwrite: bool = False,
               dirs: Iterable[str] = ()) -> None:
    """Write ``outputs`` (and empty ``dirs``) as a new directory, all or nothing (temp dir + rename)."""
    target = Path(out_dir)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: directory {parent} does not exist")
    if target.exists():
        if not target.is_dir():
            raise OutputError(f"{target} exists and is not a directory")
        if any(target.iterdir()) and not overwrite:
            raise OutputError(f"{target} exists and is not empty; refusing to overwrite it", option="overwrite")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        for rel in sorted(dirs):
            (tmp / rel).mkdir(parents=True, exist_ok=True)
        for rel, data in sorted(outputs.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        if old is not None and not target.exists():
            with contextlib.suppress(OSError):
                os.rename(old, target)
            old = None
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
