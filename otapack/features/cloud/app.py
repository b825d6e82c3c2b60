"""App (user file) upgrades: collect, check and publish files for ``app_fota``.

The device side (QuecPython ``app_fota``) downloads each file from its own
URL into ``/usr/.updater`` + its target path, and on the next boot copies it
to the target (an absolute path such as ``/usr/main.py``).  So an app
release is plain files, one URL each, plus the ``app_fota`` job document.

``collect_app_files`` maps sources to device paths and rejects, file by
file, what the device cannot take; ``write_app_release`` writes the upload
folder (files under their keys, ``app_fota.json``, ``manifest.json``) into a
temporary directory and renames it into place, so a failed run leaves
nothing behind.

Sources: ``DIR`` (its files keep their paths below the prefix), ``FILE``
(goes to ``PREFIX/name``), or ``SRC=TARGET`` where ``TARGET`` is a device
path (absolute, under the prefix) or relative to the prefix; a ``TARGET``
ending in ``/`` is a directory.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from otapack.features.cloud.job import AWS_JOB_DOCUMENT_LIMIT, OPERATION_APP, JobDocument, JobFile, UrlBase
from otapack.errors import InputError, UsageError
from otapack.core.fileio import read_input, regular_file_problem

JOB_FILE_NAME = "app_fota.json"
MANIFEST_FILE_NAME = "manifest.json"
DEFAULT_PREFIX = "/usr"
#: app_fota stages downloads here (relative to ``/usr``); targets inside it are lost.
UPDATER_DIR = ".updater"
DEFAULT_MAX_FILE_SIZE = 1 << 20
#: littlefs' name limit (both on-disk versions, as QuecPython builds them).
DEFAULT_NAME_MAX = 255
#: MicroPython's path buffer on the module (bytes, without the final NUL).
DEFAULT_PATH_MAX = 255
#: Host-side clutter never uploaded (matched against each path component).
DEFAULT_EXCLUDES = ("__pycache__", "*.pyc", ".git", ".svn", ".hg", ".DS_Store", "Thumbs.db")
#: Names a device file may use: they go into URLs and S3 keys unescaped.
_NAME_RE = re.compile(r"^[A-Za-z0-9._\-]+$")


def check_device_name(name: str, name_max: int = DEFAULT_NAME_MAX) -> str | None:
    """Why a device file name cannot be used, or None."""
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    if len(name.encode("utf-8", "surrogatepass")) > name_max:
        return f"name {name!r} is longer than {name_max} bytes (littlefs name limit)"
    if not _NAME_RE.match(name):
        return (
            f"name {name!r} has characters the device cannot take: use only ASCII letters, digits, "
            "'.', '_' and '-' (no spaces, non-ASCII or URL-special characters)"
        )
    return None


@dataclass(frozen=True)
class AppOptions:
    """How app files map to the device and what it can hold; validated on creation."""

    version: str
    device_prefix: str = DEFAULT_PREFIX
    #: Per-file limit in bytes; ``None`` turns it off.
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE
    name_max: int = DEFAULT_NAME_MAX
    path_max: int = DEFAULT_PATH_MAX
    excludes: tuple[str, ...] = DEFAULT_EXCLUDES
    #: Free bytes of the user file system (from a layout); ``None``: not checked.
    fs_free: int | None = None
    #: littlefs block size used to count what the files take in ``fs_free``.
    fs_block_size: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise UsageError("the file version is empty: app_fota needs a file version the device compares", option="version")
        prefix = self.device_prefix
        if not prefix.startswith("/"):
            raise UsageError(f"the device prefix must be an absolute device path like /usr, got {prefix!r}", option="device_prefix")
        if posixpath.normpath(prefix) != prefix.rstrip("/") and prefix != "/":
            raise UsageError(f"the device prefix {prefix!r} is not a normalised path (no '.', '..' or '//')",
                             option="device_prefix")
        for part in prefix.strip("/").split("/"):
            if part and check_device_name(part, self.name_max):
                raise UsageError(f"the device prefix {prefix!r}: {check_device_name(part, self.name_max)}",
                                 option="device_prefix")
        if self.max_file_size is not None and self.max_file_size <= 0:
            raise UsageError(f"the per-file size limit must be positive, got {self.max_file_size}", option="max_file_size")
        if self.fs_free is not None and self.fs_free < 0:
            raise UsageError(f"file-system free space must not be negative ({self.fs_free})")
        if self.fs_block_size <= 0:
            raise UsageError(f"file-system block size must be positive ({self.fs_block_size})")

    @property
    def prefix(self) -> str:
        return "/" + self.device_prefix.strip("/") if self.device_prefix.strip("/") else "/"


@dataclass(frozen=True)
class AppFile:
    device_path: str  # /usr/lib/x.py
    key: str  # lib/x.py: path below the prefix, also the upload key
    source: str  # the local file, for messages
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# -- collecting ------------------------------------------------------------------------


def split_source(spec: str) -> tuple[str, str | None]:
    """``SRC=TARGET`` -> (SRC, TARGET); a path that exists as written is never split."""
    if "=" in spec and not os.path.lexists(spec):
        src, _, target = spec.partition("=")
        return src, target
    return spec, None


def _excluded(rel_parts: Iterable[str], excludes: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(part, pattern) for part in rel_parts for pattern in excludes)


def _walk(base: Path, excludes: Sequence[str], problems: list[str]) -> list[tuple[str, Path]]:
    """(posix path relative to base, file) for every file under base, sorted."""
    found = []
    for current, subdirs, names in os.walk(base, followlinks=False):
        here = Path(current)
        rel_dir = here.relative_to(base).parts
        kept = []
        for d in sorted(subdirs):
            if _excluded([d], excludes):
                continue
            if (here / d).is_symlink():
                problems.append(f"{here / d}: symbolic link to a directory is not followed; copy the files instead")
                continue
            kept.append(d)
        subdirs[:] = kept
        for n in sorted(names):
            if _excluded([n], excludes):
                continue
            found.append(("/".join(rel_dir + (n,)), here / n))
    return sorted(found)


def _target_path(target: str, opts: AppOptions, what: str, problems: list[str]) -> str | None:
    """A device path for TARGET (absolute or prefix-relative), or None after a problem."""
    prefix = opts.prefix
    raw = target if target.startswith("/") else posixpath.join(prefix, target)
    parts = raw.split("/")
    if ".." in parts:
        problems.append(f"{what}: target {target!r} escapes the device prefix {prefix} ('..' is not allowed)")
        return None
    norm = posixpath.normpath(raw)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if prefix != "/" and norm != prefix and not norm.startswith(prefix + "/"):
        problems.append(f"{what}: target {target!r} is outside the device prefix {prefix}")
        return None
    return norm


def _check_target(device_path: str, what: str, opts: AppOptions, problems: list[str]) -> str | None:
    """The key (path below the prefix) of a device path, or None after a problem."""
    prefix = opts.prefix
    key = device_path[len(prefix):].lstrip("/") if prefix != "/" else device_path.lstrip("/")
    if not key:
        problems.append(f"{what}: target {device_path} is the device prefix itself, not a file")
        return None
    parts = key.split("/")
    staging = f"/usr/{UPDATER_DIR}"
    if device_path == staging or device_path.startswith(staging + "/"):
        problems.append(
            f"{what}: target {device_path} is inside /usr/{UPDATER_DIR}, where app_fota stages its downloads"
        )
        return None
    for part in parts:
        reason = check_device_name(part, opts.name_max)
        if reason:
            problems.append(f"{what}: {reason}")
            return None
    if len(device_path.encode()) > opts.path_max:
        problems.append(
            f"{what}: device path {device_path} is {len(device_path.encode())} bytes, over the "
            f"{opts.path_max}-byte path limit"
        )
        return None
    return key


def collect_app_files(sources: Sequence[str], opts: AppOptions) -> list[AppFile]:
    """Map sources to device paths and read them; ``InputError`` lists every rejected file."""
    if not sources:
        raise UsageError("no app files given", option="sources")
    problems: list[str] = []
    mapped: list[tuple[str, str, Path]] = []  # (device path, what, file)
    for spec in sources:
        src, target = split_source(spec)
        path = Path(src)
        if not path.exists():
            problems.append(f"{src}: no such file or directory")
            continue
        if path.is_dir():
            base = opts.prefix if target is None else _target_path(target.rstrip("/") or "/", opts, src, problems)
            if base is None:
                continue
            entries = _walk(path, opts.excludes, problems)
            for rel, file in entries:
                device = posixpath.join(base, rel)
                if ".." in rel.split("/"):  # pragma: no cover - os.walk never yields it
                    problems.append(f"{file}: escapes the device prefix")
                    continue
                mapped.append((device, str(file), file))
            if not entries:
                problems.append(f"{src}: directory holds no app files" + (" (all excluded)" if any(path.iterdir()) else ""))
            continue
        if target is None:
            device = posixpath.join(opts.prefix, path.name)
        elif target.endswith("/"):
            base = _target_path(target.rstrip("/") or "/", opts, src, problems)
            if base is None:
                continue
            device = posixpath.join(base, path.name)
        else:
            device = _target_path(target, opts, src, problems)
            if device is None:
                continue
        mapped.append((device, src, path))

    files: list[AppFile] = []
    by_target: dict[str, str] = {}
    too_large = False
    for device, what, file in mapped:
        key = _check_target(device, what, opts, problems)
        if key is None:
            continue
        if device in by_target:
            problems.append(f"{what}: duplicate target {device} (also from {by_target[device]})")
            continue
        by_target[device] = what
        problem, status = regular_file_problem(file)
        if problem:
            problems.append(f"{what}: {problem}")
            continue
        size = status.st_size
        if opts.max_file_size is not None and size > opts.max_file_size:
            problems.append(
                f"{what}: {size} bytes, over the per-file limit of {opts.max_file_size} bytes"
            )
            too_large = True
            continue
        try:  # bounded, and never blocks on a FIFO swapped in after the check
            data = read_input(file, "app file", allow_empty=True)
        except InputError as exc:
            problems.append(str(exc))
            continue
        files.append(AppFile(device_path=device, key=key, source=what, data=data))

    # a file and a directory cannot share a path on the device
    targets = {f.device_path for f in files}
    for f in files:
        for parent in _parents(f.device_path):
            if parent in targets:
                problems.append(f"{f.source}: target {f.device_path} needs {parent} to be a directory, "
                                f"but {by_target[parent]} is a file there")
    for f in files:
        if "/" not in f.key and f.key in (JOB_FILE_NAME, MANIFEST_FILE_NAME):
            problems.append(
                f"{f.source}: key {f.key!r} collides with the {f.key} this command writes to the upload folder"
            )
    if problems:
        raise InputError("; ".join(problems), option="max_file_size" if too_large else None)
    if not files:
        raise InputError("no app files to publish: the sources hold no files (empty set)")
    files.sort(key=lambda f: f.device_path)
    check_fs_space(files, opts)
    return files


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


# -- space ------------------------------------------------------------------------------


def staged_bytes(files: Sequence[AppFile], block_size: int) -> int:
    """What the staged copies take in littlefs: whole blocks per file, a block pair per directory.

    A lower bound: littlefs also needs room for metadata commits, and the
    old files stay on the device until the update is applied.
    """
    per_block = block_size - 8  # CTZ skip-list pointers take a few words per block
    inline_max = block_size // 8  # littlefs keeps files this small inside the directory's metadata
    blocks = sum(-(-f.size // per_block) for f in files if f.size > inline_max)
    dirs = {UPDATER_DIR}
    for f in files:
        staged = f"{UPDATER_DIR}{f.device_path}"
        dirs.update(p.lstrip("/") for p in _parents("/" + staged))
    blocks += 2 * len(dirs)
    return blocks * block_size


def check_fs_space(files: Sequence[AppFile], opts: AppOptions) -> None:
    if opts.fs_free is None:
        return
    total = sum(f.size for f in files)
    need = staged_bytes(files, opts.fs_block_size)
    if need > opts.fs_free:
        raise InputError(
            f"app files total {total} bytes and need at least {need} bytes staged under "
            f"/usr/{UPDATER_DIR} (littlefs blocks of {opts.fs_block_size}), but the file system has "
            f"only {opts.fs_free} bytes free"
        )


def fs_free_space(layout, partition_name: str = "customer_fs", *, used: int = 0,
                  block_size: int | None = None) -> tuple[int, int]:
    """(free bytes, block size) of the user file system in a layout, minus ``used`` bytes.

    The superblock pair and the root directory take two blocks.
    """
    from otapack.features.cloud.fs import fs_geometry

    _, _, size, count = fs_geometry(layout, partition_name, block_size=block_size)
    free = (count - 2) * size - used
    return max(free, 0), size


# -- job document and manifest ------------------------------------------------------------


def app_job_document(files: Sequence[AppFile], version: str, url_base: UrlBase, *,
                     include_integrity: bool = True) -> JobDocument:
    entries = tuple(
        JobFile(name=f.device_path, version=version, url=url_base.url(f.key), size=f.size, sha256=f.sha256)
        for f in files
    )
    return JobDocument(OPERATION_APP, entries, include_integrity)


def app_manifest(files: Sequence[AppFile], opts: AppOptions, url_base: UrlBase) -> dict:
    return {
        "operation": OPERATION_APP,
        "version": opts.version,
        "device_prefix": opts.prefix,
        "url_base": url_base.base,
        "aws_presigned": url_base.aws_presigned,
        "file_count": len(files),
        "total_size": sum(f.size for f in files),
        "files": [
            {"device_path": f.device_path, "key": f.key, "size": f.size, "sha256": f.sha256,
             "url": url_base.url(f.key)}
            for f in files
        ],
    }


@dataclass(frozen=True)
class AppRelease:
    files: tuple[AppFile, ...]
    job: JobDocument
    manifest: dict

    def outputs(self) -> dict[str, bytes]:
        """Relative path in the upload folder -> bytes."""
        out = {f.key: f.data for f in self.files}
        out[JOB_FILE_NAME] = self.job.to_bytes()
        out[MANIFEST_FILE_NAME] = (json.dumps(self.manifest, indent=2) + "\n").encode()
        return out


def build_app_release(sources: Sequence[str], opts: AppOptions, url_base: UrlBase, *,
                      include_integrity: bool = True) -> AppRelease:
    """Collect and check the files, then the job document and the manifest.

    For AWS (``url_base.aws_presigned``) the job document must fit AWS IoT's
    job-document limit; a release too large for one job is an ``InputError``.
    """
    files = collect_app_files(sources, opts)
    job = app_job_document(files, opts.version, url_base, include_integrity=include_integrity)
    size = len(job.to_bytes())
    if url_base.aws_presigned and size > AWS_JOB_DOCUMENT_LIMIT:
        hint = ", or leave out the integrity fields" if include_integrity else ""
        raise InputError(
            f"{JOB_FILE_NAME} for {len(files)} files would be {size} bytes; AWS IoT accepts job documents "
            f"up to {AWS_JOB_DOCUMENT_LIMIT} bytes: split the release into several jobs{hint}",
            option="include_integrity" if include_integrity else None,
        )
    return AppRelease(files=tuple(files), job=job, manifest=app_manifest(files, opts, url_base))
