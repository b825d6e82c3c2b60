"""Partition layout files (TOML): where each partition of a flash lives.

A layout gives the flash base address, erase-block size, optional flash size
and erased value, and an array of ``[[partitions]]`` tables with ``name``,
``offset`` (from the base address), ``size``, and optionally ``type``,
``policy`` and ``description``.  ``type`` omitted means "detect from the
bytes"; ``policy`` omitted means ``DEFAULT_POLICY[type]``.

Every mistake is a one-line ``LayoutError`` naming the file, the partition
and the key; unknown keys are errors, never ignored.  The allowed keys are
the module constants ``LAYOUT_KEYS`` and ``PARTITION_KEYS``: to add a key,
add it there; keys beyond the core ones land in ``extras``.  See
docs/partitions.md.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

from otapack.core.fileio import read_input
from otapack.core.formats import littlefs
from otapack.core.formats.wire_numbers import MAX_PARTITION_NAME_LENGTH, MAX_PARTITIONS, TRANSFORM_KINDS
from otapack.errors import InputError, LayoutError
from otapack.core.model import DEFAULT_POLICY, PartitionType, Policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Allowed top-level keys.  Extend here; non-core keys go to ``Layout.extras``.
LAYOUT_KEYS: frozenset[str] = frozenset(
    {"description", "base_address", "erase_block", "flash_size", "erased_value", "partitions",
     "minimal_system", "scratch_flash"}
)
#: Allowed keys of the optional ``[minimal_system]`` table (docs/minimal-system.md):
#: the partition stage 1 installs the minimal system into, and the flash free
#: for a downloaded package in each phase (bytes, or partition name(s)).
#: The raw table stays in ``Layout.extras``; ``minimal_system_table`` validates it
#: (every user of the table calls it, so a typo is always a precise LayoutError).
MINIMAL_SYSTEM_KEYS: frozenset[str] = frozenset(
    {"partition", "stage1_download", "stage2_download", "description"}
)
MINIMAL_DOWNLOAD_KEYS = ("stage1_download", "stage2_download")
#: Allowed keys of one ``[[partitions]]`` table; non-core keys go to
#: ``LayoutPartition.extras``.
#: Per-partition littlefs geometry, read by otapack.features.cloud.fs (``fs build``, ``--fs``).
FS_PARTITION_KEYS = ("fs_block_size", "fs_lfs_version", "fs_read_size", "fs_prog_size")
PARTITION_KEYS: frozenset[str] = frozenset(
    {"name", "offset", "size", "type", "policy", "description", "arch", *FS_PARTITION_KEYS}
)
#: The keys this module itself interprets.
CORE_LAYOUT_KEYS = frozenset(
    {"description", "base_address", "erase_block", "flash_size", "erased_value", "partitions"}
)
CORE_PARTITION_KEYS = frozenset({"name", "offset", "size", "type", "policy", "description"})
REQUIRED_PARTITION_KEYS = ("name", "offset", "size")

#: Registry of partition type and policy names accepted in layouts (and by the CLI).
TYPE_NAMES: dict[str, PartitionType] = {t.value: t for t in PartitionType}
POLICY_NAMES: dict[str, Policy] = {p.value: p for p in Policy}

DEFAULT_ERASE_BLOCK = 0x1000
ERASED_VALUES = (0x00, 0xFF)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")

LayoutSource = Union["Layout", str, os.PathLike]


def valid_name(name: str) -> bool:
    """A partition name a layout (and a PAC file ID) may use."""
    return bool(_NAME_RE.match(name))


@dataclass(frozen=True)
class LayoutPartition:
    name: str
    offset: int
    size: int
    type: PartitionType = PartitionType.UNKNOWN
    policy: Policy = Policy.DELTA
    #: False when the layout left the type to detection.
    type_given: bool = True
    #: False when the policy follows the (possibly detected) type.
    policy_given: bool = True
    description: str = ""
    extras: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Layout:
    base_address: int = 0
    erase_block: int = DEFAULT_ERASE_BLOCK
    flash_size: int | None = None
    erased_value: int = 0xFF
    partitions: tuple[LayoutPartition, ...] = ()
    #: Values of keys in LAYOUT_KEYS that this module does not interpret.
    extras: dict = field(default_factory=dict, compare=False, hash=False)
    description: str = ""
    #: Name used in messages (the file name, or "layout" for text).
    source: str = "layout"

    def address(self, partition: LayoutPartition) -> int:
        return self.base_address + partition.offset

    def get(self, name: str) -> LayoutPartition | None:
        for p in self.partitions:
            if p.name == name:
                return p
        return None

    def names(self) -> list[str]:
        return [p.name for p in self.partitions]


# -- loading -------------------------------------------------------------------


def _looks_like_text(value: str) -> bool:
    return "\n" in value or "=" in value or value.lstrip().startswith("[")


def load_layout(path_or_text: LayoutSource, *, source: str | None = None) -> Layout:
    """Read and validate a layout from a path, TOML text, or a ``Layout``."""
    if isinstance(path_or_text, Layout):
        return validate_layout(path_or_text)
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and not _looks_like_text(path_or_text)
    ):
        path = Path(path_or_text)
        src = source or path.name
        raw = read_input(path, "layout", kind="document", allow_empty=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LayoutError(f"{src}: not a UTF-8 text file") from None
    elif isinstance(path_or_text, str):
        text, src = path_or_text, source or "layout"
    else:
        raise InputError(f"layout must be a path, TOML text or Layout, not {type(path_or_text).__name__}")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"{src}: invalid TOML: {exc}") from None
    return validate_layout(layout_from_dict(document, source=src))


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _suggest(value: str, choices, label: str) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.75)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{label}: {', '.join(sorted(choices))}"


def _check_keys(src: str, table: dict, allowed: frozenset[str], where: str) -> None:
    for key in table:  # TOML order: the first unknown key is reported
        if key not in allowed:
            raise LayoutError(
                f"{src}: unknown key {key!r} {where} ({_suggest(key, allowed, 'allowed')})"
            )


def _int(src: str, table: dict, key: str, where: str, default: Any = None) -> Any:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        place = f" {where}" if where else ""
        raise LayoutError(f"{src}: key {key!r}{place} must be an integer, not {_toml_type(value)}")
    return value


def _str(src: str, table: dict, key: str, where: str, default: str = "") -> str:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, str):
        place = f" {where}" if where else ""
        raise LayoutError(f"{src}: key {key!r}{place} must be a string, not {_toml_type(value)}")
    return value


def layout_from_dict(document: dict, *, source: str = "layout") -> Layout:
    """Build a ``Layout`` from parsed TOML, checking keys and value types."""
    src = source
    _check_keys(src, document, LAYOUT_KEYS, "at top level")
    base = _int(src, document, "base_address", "", 0)
    erase_block = _int(src, document, "erase_block", "", DEFAULT_ERASE_BLOCK)
    flash_size = _int(src, document, "flash_size", "", None)
    erased_value = _int(src, document, "erased_value", "", 0xFF)
    description = _str(src, document, "description", "")
    scratch = _int(src, document, "scratch_flash", "", 0)  # flash the restore may use for deltas (docs/partitions.md)
    if not 0 <= scratch <= 0xFFFFFFFF:
        raise LayoutError(f"{src}: key 'scratch_flash' must be 0..{0xFFFFFFFF} bytes, not {scratch}")
    entries = document.get("partitions", [])
    if not isinstance(entries, list):
        raise LayoutError(
            f"{src}: 'partitions' must be an array of tables ([[partitions]]), not {_toml_type(entries)}"
        )
    partitions = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise LayoutError(f"{src}: partition #{index} must be a table, not {_toml_type(entry)}")
        partitions.append(_partition_from_dict(src, entry, index))
    extras = {k: v for k, v in document.items() if k not in CORE_LAYOUT_KEYS}
    return Layout(
        base_address=base,
        erase_block=erase_block,
        flash_size=flash_size,
        erased_value=erased_value,
        partitions=tuple(partitions),
        extras=extras,
        description=description,
        source=src,
    )


def _partition_from_dict(src: str, entry: dict, index: int) -> LayoutPartition:
    name = entry.get("name")
    where = f"in partition {name!r}" if isinstance(name, str) and name else f"in partition #{index}"
    _check_keys(src, entry, PARTITION_KEYS, where)
    label = where[3:]  # "partition 'x'" / "partition #n"
    for key in REQUIRED_PARTITION_KEYS:
        if key not in entry:
            raise LayoutError(f"{src}: {label} is missing required key {key!r}")
    name = _str(src, entry, "name", where)
    if not name:
        raise LayoutError(f"{src}: partition #{index} has an empty name")
    if not _NAME_RE.match(name):
        raise LayoutError(
            f"{src}: partition name {name!r} may only contain letters, digits, '_', '-' and '.'"
        )
    offset = _int(src, entry, "offset", where)
    size = _int(src, entry, "size", where)
    type_given = "type" in entry
    ptype = PartitionType.UNKNOWN
    if type_given:
        text = _str(src, entry, "type", where)
        if text not in TYPE_NAMES:
            raise LayoutError(
                f"{src}: {label} has unknown type {text!r} ({_suggest(text, TYPE_NAMES, 'choose from')})"
            )
        ptype = TYPE_NAMES[text]
    policy_given = "policy" in entry
    policy = DEFAULT_POLICY[ptype]
    if policy_given:
        text = _str(src, entry, "policy", where)
        if text not in POLICY_NAMES:
            raise LayoutError(
                f"{src}: {label} has unknown policy {text!r} ({_suggest(text, POLICY_NAMES, 'choose from')})"
            )
        policy = POLICY_NAMES[text]
    _check_fs_keys(src, entry, where, label)
    if "arch" in entry and _str(src, entry, "arch", where) not in TRANSFORM_KINDS:
        raise LayoutError(f"{src}: {label} has unknown arch {entry['arch']!r} "
                          f"(choose from: {', '.join(TRANSFORM_KINDS)})")
    return LayoutPartition(
        name=name,
        offset=offset,
        size=size,
        type=ptype,
        policy=policy,
        type_given=type_given,
        policy_given=policy_given,
        description=_str(src, entry, "description", where),
        extras={k: v for k, v in entry.items() if k not in CORE_PARTITION_KEYS},
    )


def _check_fs_keys(src: str, entry: dict, where: str, label: str) -> None:
    """The littlefs keys (FS_PARTITION_KEYS): sizes are positive integers; the
    version is one a module family can mount (docs/cloud.md)."""
    for key in ("fs_block_size", "fs_read_size", "fs_prog_size"):
        value = _int(src, entry, key, where)
        if value is not None and value <= 0:
            raise LayoutError(f"{src}: key {key!r} {where} must be positive ({value})")
    if "fs_lfs_version" in entry:
        text = _str(src, entry, "fs_lfs_version", where)
        if not littlefs.is_lfs1(text) and text not in littlefs.LFS2_VERSIONS:
            raise LayoutError(
                f"{src}: {label} has unknown fs_lfs_version {text!r} "
                f"(choose from: 1 (littlefs 1.x), {', '.join(littlefs.LFS2_VERSIONS)})"
            )


def minimal_system_table(layout: Layout) -> dict | None:
    """The layout's ``[minimal_system]`` table, validated, or None when absent.

    Returns ``{"partition": str, "stage1_download": int | tuple[str, ...],
    "stage2_download": ..., "description": str}``; unknown keys, wrong types
    and names of partitions the layout lacks are LayoutErrors.
    """
    table = layout.extras.get("minimal_system")
    if table is None:
        return None
    src, names = layout.source, layout.names()
    if not isinstance(table, dict):
        raise LayoutError(f"{src}: 'minimal_system' must be a table ([minimal_system]), not {_toml_type(table)}")
    where = "in [minimal_system]"
    _check_keys(src, table, MINIMAL_SYSTEM_KEYS, where)
    out: dict[str, Any] = {"description": _str(src, table, "description", where)}
    if "partition" not in table:
        raise LayoutError(f"{src}: [minimal_system] is missing required key 'partition' "
                          f"(the partition stage 1 installs the minimal system into)")
    out["partition"] = _str(src, table, "partition", where)
    refs = [("partition", out["partition"])]
    for key in MINIMAL_DOWNLOAD_KEYS:
        if key not in table:
            raise LayoutError(f"{src}: [minimal_system] is missing required key {key!r} "
                              f"(free bytes, or the partition name(s) free in that phase)")
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if isinstance(value, bool):
            raise LayoutError(f"{src}: key {key!r} {where} must be a byte count or partition name(s), not boolean")
        if isinstance(value, int):
            if value < 0:
                raise LayoutError(f"{src}: key {key!r} {where} must not be negative ({value})")
            out[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            out[key] = tuple(value)
            refs += [(key, name) for name in value]
        else:
            raise LayoutError(
                f"{src}: key {key!r} {where} must be a byte count, a partition name or an array of names, "
                f"not {_toml_type(value)}"
            )
    for key, name in refs:
        if name not in names:
            raise LayoutError(
                f"{src}: [minimal_system] {key} names partition {name!r}, which the layout does not have "
                f"({_suggest(name, names, 'partitions')})"
            )
    return out


# -- validation ------------------------------------------------------------------


def _span(p: LayoutPartition) -> str:
    return f"({p.offset:#x}..{p.end:#x})"


def validate_layout(layout: Layout) -> Layout:
    """Check a layout's numbers; returns it unchanged or raises LayoutError."""
    src = layout.source
    if layout.base_address < 0:
        raise LayoutError(f"{src}: base_address must not be negative ({layout.base_address:#x})")
    eb = layout.erase_block
    if eb <= 0 or eb & (eb - 1):
        raise LayoutError(f"{src}: erase_block must be a positive power of two, not {eb:#x}")
    if layout.erased_value not in ERASED_VALUES:
        raise LayoutError(f"{src}: erased_value must be 0x0 or 0xff, not {layout.erased_value:#x}")
    if layout.flash_size is not None:
        if layout.flash_size <= 0:
            raise LayoutError(f"{src}: flash_size must be positive ({layout.flash_size:#x})")
        if layout.flash_size % eb:
            raise LayoutError(
                f"{src}: flash_size {layout.flash_size:#x} is not a multiple of the erase block ({eb:#x})"
            )
    if not layout.partitions:
        raise LayoutError(f"{src}: no partitions (add at least one [[partitions]] table)")
    if len(layout.partitions) > MAX_PARTITIONS:  # what a package can carry: refuse before any build work
        raise LayoutError(f"{src}: {len(layout.partitions)} partitions; a package carries at most {MAX_PARTITIONS}")
    seen: dict[str, int] = {}
    for index, p in enumerate(layout.partitions, start=1):
        if len(p.name.encode("utf-8")) > MAX_PARTITION_NAME_LENGTH:
            raise LayoutError(f"{src}: partition #{index} name {p.name[:24]!r}... is {len(p.name.encode('utf-8'))} "
                              f"bytes; a package stores at most {MAX_PARTITION_NAME_LENGTH}")
        if p.name in seen:
            raise LayoutError(
                f"{src}: duplicate partition name {p.name!r} (partitions #{seen[p.name]} and #{index})"
            )
        seen[p.name] = index
        if p.offset < 0:
            raise LayoutError(f"{src}: partition {p.name!r} offset must not be negative ({p.offset})")
        if p.size <= 0:
            raise LayoutError(f"{src}: partition {p.name!r} size must be positive ({p.size})")
        if p.offset % eb:
            raise LayoutError(
                f"{src}: partition {p.name!r} offset {p.offset:#x} is not aligned to the erase block ({eb:#x})"
            )
        if p.size % eb:
            raise LayoutError(
                f"{src}: partition {p.name!r} size {p.size:#x} is not a multiple of the erase block ({eb:#x})"
            )
        if layout.flash_size is not None and p.end > layout.flash_size:
            raise LayoutError(
                f"{src}: partition {p.name!r} {_span(p)} extends past the flash size ({layout.flash_size:#x})"
            )
    furthest: LayoutPartition | None = None
    for p in sorted(layout.partitions, key=lambda q: (q.offset, q.end)):
        if furthest is not None and p.offset < furthest.end:
            raise LayoutError(
                f"{src}: partition {p.name!r} {_span(p)} overlaps partition {furthest.name!r} {_span(furthest)}"
            )
        if furthest is None or p.end > furthest.end:
            furthest = p
    return layout


def sorted_layout(layout: Layout) -> Layout:
    """The same layout with partitions in address order."""
    return replace(layout, partitions=tuple(sorted(layout.partitions, key=lambda p: p.offset)))
