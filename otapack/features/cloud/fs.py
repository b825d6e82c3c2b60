"""The user file system (``customer_fs``, mounted at ``/usr``) as a littlefs image.

``build_fs_image`` turns a directory (or a path -> bytes mapping) into the
littlefs image of a partition; ``list_fs_image`` and ``extract_fs_image``
read one back; ``replace_partition_with_fs`` swaps a freshly built image into
a ``FirmwareImage`` so a full package, or the second stage of a
minimal-system upgrade, carries the user's application.

littlefs versions: the QuecPython notes list littlefs **1.x** on most module
families and **2.x** on a few (EC800M-CNLC/CNLF/CNGC, ECxxxE).  The writer
here is littlefs-python, which only knows the 2.x on-disk format.  So the
version is never picked here: it is declared, by the layout partition's
``fs_lfs_version`` or by the caller (``lfs_version``), and the two must
agree (``resolve_lfs_version``).  A 1.x declaration is refused with the
reason rather than written as an image the device cannot mount.

Geometry comes from the layout: block size = the layout's erase block,
block count = partition size / block size.  Per-partition layout keys
(``FS_PARTITION_KEYS`` of the layout, in ``LayoutPartition.extras``)
override that; explicit arguments override everything.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping

from otapack.errors import InputError, OutputError, UsageError
from otapack.core.fileio import read_input, regular_file_problem
from otapack.core.formats.littlefs import LFS2_VERSIONS, is_lfs1

#: littlefs on-disk versions littlefs-python can write, by name.
LFS_VERSIONS: dict[str, int] = LFS2_VERSIONS
_LFS1_REASON = ("only the littlefs 2.x on-disk format can be built (littlefs-python); a module family that "
                "mounts littlefs 1.x needs its vendor's mklfs (QPYcom), then give the firmware that holds it")
DEFAULT_PARTITION = "customer_fs"
DEFAULT_BLOCK_SIZE = 4096
#: littlefs' own default, and the limit of the QuecPython builds.
DEFAULT_NAME_MAX = 255

#: Littlefs v2 needs at least this block size (two tags, a CRC, a superblock entry).
MIN_BLOCK_SIZE = 128
#: Block sizes ``list_fs_image`` tries when none is given, most common first.
PROBE_BLOCK_SIZES = (4096,) + tuple(1 << n for n in range(7, 17) if 1 << n != 4096)


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def lfs_version_name(value: int) -> str:
    return f"{value >> 16}.{value & 0xFFFF}"


@dataclass(frozen=True)
class FsOptions:
    """Geometry and format of one littlefs image; validated on creation."""

    block_count: int
    #: Always given: the version the module's firmware mounts (no default).
    lfs_version: str
    block_size: int = DEFAULT_BLOCK_SIZE
    #: Read/program granularity; ``None`` means the block size (as ``mklfs`` builds it).
    read_size: int | None = None
    prog_size: int | None = None
    name_max: int = DEFAULT_NAME_MAX

    def __post_init__(self) -> None:
        if is_lfs1(self.lfs_version):
            raise UsageError(f"littlefs version {self.lfs_version!r}: {_LFS1_REASON} (choose from "
                             f"{', '.join(LFS_VERSIONS)})", option="lfs_version")
        if self.lfs_version not in LFS_VERSIONS:
            raise UsageError(
                f"unknown littlefs version {self.lfs_version!r} (choose from {', '.join(LFS_VERSIONS)})"
            )
        if not _power_of_two(self.block_size) or self.block_size < MIN_BLOCK_SIZE:
            raise UsageError(
                f"littlefs block size must be a power of two of at least {MIN_BLOCK_SIZE}, not {self.block_size}"
            )
        if self.block_count < 2:
            raise UsageError(f"littlefs needs at least 2 blocks, got a block count of {self.block_count}")
        for name in ("read_size", "prog_size"):
            value = getattr(self, name)
            if value is not None and (value <= 0 or self.block_size % value):
                raise UsageError(
                    f"littlefs {name.replace('_', ' ')} {value} must be positive and divide the block size "
                    f"({self.block_size})"
                )
        if not 1 <= self.name_max <= 1022:
            raise UsageError(f"littlefs name_max must be in 1..1022, not {self.name_max}")

    @property
    def size(self) -> int:
        return self.block_size * self.block_count

    @property
    def disk_version(self) -> int:
        return LFS_VERSIONS[self.lfs_version]

    def to_dict(self) -> dict:
        return {
            "block_size": self.block_size,
            "block_count": self.block_count,
            "size": self.size,
            "lfs_version": self.lfs_version,
            "read_size": self.read_size or self.block_size,
            "prog_size": self.prog_size or self.block_size,
            "name_max": self.name_max,
        }


@dataclass(frozen=True)
class FsEntry:
    """One file or directory of an image; ``path`` is absolute inside it."""

    path: str
    is_dir: bool
    size: int = 0
    sha256: str = ""

    def to_dict(self) -> dict:
        out = {"path": self.path, "type": "dir" if self.is_dir else "file"}
        if not self.is_dir:
            out["size"] = self.size
            out["sha256"] = self.sha256
        return out


# -- geometry ----------------------------------------------------------------------


def _extra(partition, key: str, kind: type):
    """A per-partition ``fs_*`` layout key (FS_PARTITION_KEYS), type-checked."""
    value = (getattr(partition, "extras", None) or {}).get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InputError(f"layout: partition {partition.name!r}: {key} must be {kind.__name__}, got {value!r}")
    return value


def resolve_lfs_version(declared: str | None, requested: str | None, where: str) -> str:
    """The littlefs version to write: the one declared (layout ``fs_lfs_version``)
    or requested (``lfs_version``); they must agree, one must be given, and
    1.x is refused with the reason (``where`` names the partition)."""
    if declared is not None and requested is not None and \
            (is_lfs1(declared) != is_lfs1(requested) or (not is_lfs1(declared) and declared != requested)):
        raise UsageError(
            f"littlefs version {requested} contradicts {where}, which declares littlefs {declared} "
            f"(fs_lfs_version)", option="lfs_version"
        )
    version = declared if declared is not None else requested
    if version is None:
        raise UsageError(
            f"no littlefs version for {where}: declare fs_lfs_version in the layout or give the version the "
            f"module's firmware mounts (most QuecPython families mount 1.x, see docs/cloud.md)",
            option="lfs_version",
        )
    if is_lfs1(version):
        if declared is None:  # the setting itself asks for what cannot be built
            raise UsageError(f"littlefs version {version!r}: {_LFS1_REASON} (choose from "
                             f"{', '.join(LFS_VERSIONS)})", option="lfs_version")
        raise InputError(f"{where} declares littlefs {declared} (fs_lfs_version): {_LFS1_REASON}")
    return version


def fs_geometry(layout, partition: str = DEFAULT_PARTITION, *, block_size: int | None = None,
                block_count: int | None = None):
    """(layout, its partition, block size, block count) of a file-system
    partition; explicit arguments win over the partition's ``fs_*`` keys,
    which win over the layout (erase block, partition size / block size)."""
    from otapack.core.inputs import load_layout

    loaded = load_layout(layout)
    part = loaded.get(partition)
    if part is None:
        raise InputError(
            f"{loaded.source}: no partition {partition!r} for the file system "
            f"(partitions: {', '.join(loaded.names())})", option="partition"
        )
    bs = block_size or _extra(part, "fs_block_size", int) or loaded.erase_block
    if part.size % bs:
        raise InputError(
            f"{loaded.source}: partition {partition!r} size {part.size:#x} is not a multiple of the "
            f"littlefs block size {bs:#x}"
        )
    count = block_count or part.size // bs
    if count * bs > part.size:
        raise InputError(
            f"{loaded.source}: {count} blocks of {bs} bytes ({count * bs:#x}) do not fit partition "
            f"{partition!r} ({part.size:#x} bytes)"
        )
    return loaded, part, bs, count


def fs_options_for(
    layout,
    partition: str = DEFAULT_PARTITION,
    *,
    block_size: int | None = None,
    block_count: int | None = None,
    lfs_version: str | None = None,
) -> FsOptions:
    """Geometry and version of ``partition`` in ``layout`` (a path, TOML text or ``Layout``).

    The version is the partition's ``fs_lfs_version`` or ``lfs_version``
    (``resolve_lfs_version``); never a default."""
    loaded, part, bs, count = fs_geometry(layout, partition, block_size=block_size, block_count=block_count)
    where = f"partition {partition!r} of {loaded.source}"
    return FsOptions(
        block_size=bs,
        block_count=count,
        lfs_version=resolve_lfs_version(_extra(part, "fs_lfs_version", str), lfs_version, where),
        read_size=_extra(part, "fs_read_size", int),
        prog_size=_extra(part, "fs_prog_size", int),
    )


# -- collecting a directory ----------------------------------------------------------


def check_fs_name(name: str, name_max: int = DEFAULT_NAME_MAX) -> str | None:
    """Why littlefs (as the device mounts it) cannot store ``name``, or None."""
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "contains a control character"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if len(encoded) > name_max:
        return f"is {len(encoded)} bytes long; littlefs stores at most {name_max}"
    return None


def collect_tree(root: str | os.PathLike, *, name_max: int = DEFAULT_NAME_MAX) -> tuple[list[str], dict[str, bytes]]:
    """Directories and files under ``root`` as image paths (``/a/b``), sorted.

    Symlinks to files are followed; anything else that is not a regular file
    or a directory (sockets, devices, dangling or directory links) is an error.
    """
    base = Path(root)
    if not base.exists():
        raise InputError(f"file-system directory {base} does not exist")
    if not base.is_dir():
        raise InputError(f"file-system source {base} is not a directory")
    dirs: list[str] = []
    files: dict[str, bytes] = {}
    problems: list[str] = []
    for current, subdirs, names in os.walk(base, followlinks=False):
        rel = Path(current).relative_to(base)
        prefix = "" if str(rel) == "." else "/" + rel.as_posix()
        for d in sorted(subdirs):
            full = Path(current, d)
            if full.is_symlink():
                problems.append(f"{full}: symbolic link to a directory (not followed)")
                continue
            reason = check_fs_name(d, name_max)
            if reason:
                problems.append(f"{full}: name {reason}")
            dirs.append(f"{prefix}/{d}")
        subdirs[:] = [d for d in subdirs if not Path(current, d).is_symlink()]
        for n in sorted(names):
            full = Path(current, n)
            reason = check_fs_name(n, name_max)
            if reason:
                problems.append(f"{full}: name {reason}")
                continue
            problem, _ = regular_file_problem(full)
            if problem:
                problems.append(f"{full}: {problem}")
                continue
            try:  # bounded, and never blocks on a FIFO swapped in after the check
                files[f"{prefix}/{n}"] = read_input(full, "file", allow_empty=True)
            except InputError as exc:
                problems.append(str(exc))
    if problems:
        raise InputError("; ".join(problems))
    return sorted(dirs), dict(sorted(files.items()))


# -- building ----------------------------------------------------------------------


def _lfs(context, opts: FsOptions, *, mount: bool = False):
    from littlefs import LittleFS

    return LittleFS(
        context=context,
        mount=mount,
        block_size=opts.block_size,
        block_count=opts.block_count,
        read_size=opts.read_size or opts.block_size,
        prog_size=opts.prog_size or opts.block_size,
        name_max=opts.name_max,
        disk_version=opts.disk_version,
    )


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def build_fs_image(
    source: str | os.PathLike | Mapping[str, bytes],
    opts: FsOptions,
    *,
    dirs: Iterable[str] = (),
) -> bytes:
    """A littlefs image of exactly ``opts.size`` bytes holding ``source``.

    ``source`` is a directory, or a mapping of image paths (``/lib/x.py``)
    to contents; ``dirs`` adds (empty) directories.  The output depends only
    on the inputs: entries are written in sorted order and littlefs records
    no timestamps.
    """
    from littlefs import UserContext
    from littlefs.errors import LittleFSError

    if isinstance(source, (str, os.PathLike)):
        tree_dirs, files = collect_tree(source, name_max=opts.name_max)
        dirs = list(dirs) + tree_dirs
    else:
        files = {}
        for path, data in source.items():
            clean = "/" + "/".join(p for p in str(path).split("/") if p)
            for part in clean.strip("/").split("/"):
                reason = check_fs_name(part, opts.name_max)
                if reason:
                    raise InputError(f"file-system path {path!r}: name {reason}")
            files[clean] = bytes(data)
    all_dirs = set(dirs)
    for path in files:
        all_dirs.update(_parents(path))
    clash = sorted(all_dirs & set(files))
    if clash:
        raise InputError(f"file-system path {clash[0]} is both a file and a directory")
    context = UserContext(buffsize=opts.size)
    fs = _lfs(context, opts)
    current = ""
    try:
        fs.format()
        fs.mount()
        for current in sorted(all_dirs, key=lambda d: (d.count("/"), d)):
            fs.mkdir(current)
        for current, data in sorted(files.items()):
            with fs.open(current, "wb") as handle:
                handle.write(data)
        fs.unmount()
    except LittleFSError as exc:
        if exc.code == LittleFSError.Error.LFS_ERR_NOSPC:
            total = sum(len(d) for d in files.values())
            raise InputError(
                f"the files ({len(files)} files, {total} bytes) do not fit a littlefs of {opts.block_count} "
                f"blocks of {opts.block_size} bytes ({opts.size} bytes); no space left at {current or '/'}"
            ) from None
        raise InputError(f"littlefs refused {current or 'the image'}: {exc.name}") from None
    image = bytes(context.buffer)
    if len(image) != opts.size:  # pragma: no cover - littlefs writes in place
        raise OutputError(f"littlefs image is {len(image)} bytes, expected {opts.size}")
    return image


# -- reading -----------------------------------------------------------------------


@dataclass(frozen=True)
class FsImage:
    """A mounted-and-read image: its geometry and every entry."""

    block_size: int
    block_count: int
    lfs_version: str
    used_blocks: int
    entries: tuple[FsEntry, ...]
    files: Mapping[str, bytes]

    def to_dict(self) -> dict:
        return {
            "block_size": self.block_size,
            "block_count": self.block_count,
            "lfs_version": self.lfs_version,
            "used_blocks": self.used_blocks,
            "entries": [e.to_dict() for e in self.entries],
        }


def _looks_like_lfs1(data: bytes) -> bool:
    # v1 superblock entry: magic at offset 40 of block 0 or 1 (see partition_table.detect)
    return any(data[s + 40 : s + 48] == b"littlefs" for s in (0,) + PROBE_BLOCK_SIZES)


def read_fs_image(data: bytes, *, block_size: int | None = None, what: str = "image") -> FsImage:
    """Mount ``data`` read-only (in memory) and read every entry."""
    from littlefs import LittleFS, UserContext
    from littlefs.errors import LittleFSError

    data = bytes(data)
    sizes = (block_size,) if block_size else PROBE_BLOCK_SIZES
    fs = None
    for bs in sizes:
        if bs < MIN_BLOCK_SIZE or len(data) % bs or len(data) < 2 * bs:
            continue
        candidate = LittleFS(
            context=UserContext(buffer=bytearray(data)), mount=False, block_size=bs, block_count=0,
            read_size=bs, prog_size=bs,
        )
        try:
            candidate.mount()
        except LittleFSError:
            continue
        fs = candidate
        break
    if fs is None:
        if _looks_like_lfs1(data):
            raise InputError(
                f"{what} looks like a littlefs 1.x image, which littlefs-python cannot read"
            )
        tried = f"block size {block_size}" if block_size else "block sizes 128..65536"
        raise InputError(
            f"{what} ({len(data)} bytes) is not a littlefs 2.x image (no superblock mounted with {tried})"
        )
    stat = fs.fs_stat()
    entries: list[FsEntry] = []
    files: dict[str, bytes] = {}
    try:
        for top, subdirs, names in fs.walk("/"):
            top = "/" + top.strip("/") if top.strip("/") else ""
            for d in subdirs:
                entries.append(FsEntry(path=f"{top}/{d}", is_dir=True))
            for n in names:
                path = f"{top}/{n}"
                with fs.open(path, "rb") as handle:
                    content = handle.read()
                files[path] = content
                entries.append(FsEntry(path=path, is_dir=False, size=len(content),
                                       sha256=hashlib.sha256(content).hexdigest()))
        used = fs.used_block_count
    except LittleFSError as exc:
        raise InputError(f"{what}: littlefs error while reading: {exc.name}") from None
    finally:
        try:
            fs.unmount()
        except LittleFSError:
            pass
    entries.sort(key=lambda e: e.path)
    return FsImage(
        block_size=stat.block_size,
        block_count=stat.block_count,
        lfs_version=lfs_version_name(stat.disk_version),
        used_blocks=used,
        entries=tuple(entries),
        files=dict(sorted(files.items())),
    )


def fs_partition_data(path, layout=None, partition: str | None = None) -> tuple[bytes, int | None, str]:
    """The file-system partition ``partition`` (default ``customer_fs``) of the
    firmware at ``path`` (any input kind, split by ``layout`` or by itself):
    (its slot's bytes, erased past the data, as the device holds them; the
    littlefs block size the layout gives, or None to detect it; a name for
    messages)."""
    from otapack.core.inputs import load_layout, read_firmware

    name = partition or DEFAULT_PARTITION
    loaded = load_layout(layout) if layout is not None else None
    image = read_firmware(path, loaded, what="firmware")
    label = image.details.get("label", str(path))
    part = image.get(name)
    if part is None:
        raise InputError(f"{label}: no partition {name!r} (partitions: {', '.join(image.names())})",
                         option="partition")
    data = part.data + bytes([image.erased_value]) * (part.capacity - part.size)
    block_size = None
    if loaded is not None and loaded.get(name) is not None:
        block_size = _extra(loaded.get(name), "fs_block_size", int) or loaded.erase_block
    return data, block_size, f"{label} partition {name!r}"


def list_fs_image(data: bytes, *, block_size: int | None = None) -> list[FsEntry]:
    return list(read_fs_image(data, block_size=block_size).entries)


def extract_fs_image(data: bytes, dest: str | os.PathLike, *, block_size: int | None = None,
                     what: str = "image", inputs: Iterable = ()) -> FsImage:
    """Write every directory and file of the image as the new directory ``dest`` (all or nothing);
    ``inputs`` are paths ``dest`` must not replace or be inside (see otapack.core.fileio)."""
    from otapack.core.fileio import write_tree

    image = read_fs_image(data, block_size=block_size, what=what)
    outputs = {e.path.lstrip("/"): image.files[e.path] for e in image.entries if not e.is_dir}
    empty_dirs = [e.path.lstrip("/") for e in image.entries
                  if e.is_dir and not any(p.startswith(e.path + "/") for p in image.files)]
    write_tree(dest, outputs, dirs=empty_dirs, inputs=inputs)
    return image


# -- firmware integration ----------------------------------------------------------------


def replace_partition_with_fs(
    image,
    fs_dir: str | os.PathLike,
    fs_partition: str = DEFAULT_PARTITION,
    layout=None,
    *,
    lfs_version: str | None = None,
    force: bool = False,
):
    """``image`` with ``fs_partition`` replaced by a littlefs image of ``fs_dir``.

    Geometry and littlefs version come from ``layout`` when given, else
    from the image itself (its erase block, the partition's slot size) and
    ``lfs_version``, which must then be given.  The new partition is a
    file system upgraded in full (the seed: file systems change on the
    device, so they are never patched).  A partition that is not a file
    system (a typo could name the modem's code) is refused unless ``force``.
    """
    from otapack.core.model import PartitionType, Policy

    part = image.get(fs_partition)
    if part is None:
        raise InputError(
            f"the firmware has no partition {fs_partition!r} for the file system "
            f"(partitions: {', '.join(image.names())}); name the user file-system partition, or give a layout",
            option="fs_partition",
        )
    if part.type is not PartitionType.FILESYSTEM and not force:
        raise UsageError(f"partition {fs_partition!r} is a {part.type.value} partition, not a file system: "
                         f"rebuilding it as littlefs would overwrite it; name the file-system partition, "
                         f"or force it", option=("fs_partition", "force"))
    if layout is not None:
        try:
            opts = fs_options_for(layout, fs_partition, lfs_version=lfs_version)
        except InputError as exc:
            if exc.options != ("partition",):
                raise
            raise InputError(exc.message, option="fs_partition") from None  # the setting is ours
    else:
        bs = image.erase_block or DEFAULT_BLOCK_SIZE
        if part.capacity % bs:
            raise InputError(
                f"file-system partition {fs_partition!r} ({part.capacity} bytes) is not a multiple of the "
                f"erase block ({bs}); give a layout", option="fs_dir"
            )
        where = f"file-system partition {fs_partition!r} (no layout)"
        opts = FsOptions(block_size=bs, block_count=part.capacity // bs,
                         lfs_version=resolve_lfs_version(None, lfs_version, where))
    if opts.size > part.capacity:
        raise InputError(
            f"a {opts.size}-byte file system does not fit partition {fs_partition!r} "
            f"({part.capacity} bytes)", option="fs_dir"
        )
    data = build_fs_image(fs_dir, opts)
    new_part = replace(part, data=data, type=PartitionType.FILESYSTEM, policy=Policy.FULL,
                       slot_size=part.capacity)
    partitions = tuple(new_part if p.name == fs_partition else p for p in image.partitions)
    details = dict(image.details)
    details["fs"] = {"partition": fs_partition, "source": str(fs_dir), **opts.to_dict()}
    return replace(image, partitions=partitions, details=details)


@dataclass(frozen=True)
class FsReplacement:
    """Rebuild a firmware's user file-system partition from a directory before packaging."""

    fs_dir: str
    fs_partition: str = DEFAULT_PARTITION
    #: The littlefs version, when the layout does not declare it (``resolve_lfs_version``).
    lfs_version: str | None = None
    #: Replace the partition even when it is not a file system.
    force: bool = False

    def __post_init__(self) -> None:
        if not self.fs_dir:
            raise UsageError("the file-system directory is empty", option="fs_dir")
        if not self.fs_partition:
            raise UsageError("the file-system partition name is empty", option="fs_partition")

    def apply(self, image, layout=None):
        """``image`` with the partition rebuilt as littlefs (``replace_partition_with_fs``)."""
        return replace_partition_with_fs(image, self.fs_dir, self.fs_partition, layout,
                                         lfs_version=self.lfs_version, force=self.force)
