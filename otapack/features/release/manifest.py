"""The release manifest (TOML): which models, which target, which deployed sources.

``load_manifest(path)`` reads and validates the file into frozen dataclasses
(``ReleaseManifest``, ``ReleaseSettings``, ``ModelSpec``, ``BuildSpec``,
``BudgetSpec``).  Every key is declared in one schema table per TOML table
(``RELEASE_FIELDS``, ``MODEL_FIELDS``, ``BUDGET_FIELDS``, ``BUILD_FIELDS``);
an unknown key, a wrong type or a bad value is one ``InputError`` (exit 3)
naming the file and the key path (``models[1].sources[0].image``).  Relative
paths are relative to the manifest's directory.  This module reads only the
manifest: ``inputs.load_inputs`` opens what it refers to.  docs/release.md
specifies the format.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from otapack.core.codecs import DEFAULT_LZMA_DICT
from otapack.core.diff import DEFAULT_ALGORITHM, DIFF_ALGORITHMS
from otapack.core.fileio import read_input
from otapack.core.formats.wire_numbers import MAX_U32
from otapack.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Manifest versions this otapack reads (``manifest_version``); one entry per version.
MANIFEST_VERSIONS = (1,)
#: Names that become parts of file names and URLs: model names and versions.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_RULE = "1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
#: The default of ``full_fallback_ratio``: a delta must save at least 10 % over the full package.
DEFAULT_FALLBACK_RATIO = 0.9


@dataclass(frozen=True)
class Field:
    """One key of a manifest table: its TOML type and how its value is checked.

    ``kind``: ``str``, ``int``, ``bool``, ``float``, ``path``, ``area`` (a byte
    count, or partition name(s)), ``table`` or ``tables`` (an array of tables).
    ``check(value)`` returns why the value is wrong, or None."""

    name: str
    kind: str
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None
    help: str = ""


def _name(value: str) -> str | None:
    return None if NAME_RE.match(value) else f"{value!r} is not a name: use {NAME_RULE}"


def _ascii(value: str) -> str | None:
    if not value.isascii():
        return f"{value!r} must be ASCII"
    return None if len(value) <= 255 else f"is {len(value)} characters, at most 255"


def _u32(value: int) -> str | None:
    return None if 0 <= value <= MAX_U32 else f"{value} is outside 0..{MAX_U32}"


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be positive, got {value}"


def _ratio(value: float) -> str | None:
    return None if 0 < value <= 1 else f"must be above 0 and at most 1, got {value}"


def _algorithm(value: str) -> str | None:
    return None if value in DIFF_ALGORITHMS else f"unknown diff algorithm {value!r} ({', '.join(DIFF_ALGORITHMS)})"


def _area(value: Any) -> str | None:
    if isinstance(value, int):
        return None if value >= 0 else f"must not be negative, got {value}"
    return None  # names are checked against the layout by inputs.load_inputs


#: ``[release]``: what applies to every package.
RELEASE_FIELDS = (
    Field("name", "str", True, check=_name, help="release name, in the report"),
    Field("url_base", "str", True, help="where the model folders are served (job URLs)"),
    Field("aws_presigned", "bool", default=False, help="AWS IoT presigned-URL placeholders in job documents"),
    Field("job_integrity", "bool", default=True, help="fileSize/fileSha256 in job documents"),
    Field("full_fallback_ratio", "float", default=DEFAULT_FALLBACK_RATIO, check=_ratio,
          help="ship the full package when the delta is at least this fraction of it"),
    Field("lzma_dict_size", "int", default=DEFAULT_LZMA_DICT, check=_positive, help="LZMA2 dictionary (device RAM)"),
    Field("diff_algorithm", "str", default=DEFAULT_ALGORITHM, check=_algorithm),
    Field("verify", "bool", default=True, help="run the device restore on every package before it is written"),
)
#: ``[models.budget]``: what the device can spare for a single-stage package.
BUDGET_FIELDS = (
    Field("download", "area", check=_area, help="flash for the downloaded package and its staging"),
    Field("ram", "int", check=_positive, help="RAM the restore may use"),
    Field("scratch", "int", check=_u32, help="scratch flash the restore may use: deltas are patched in place "
          "within it (default: the layout's scratch_flash key; neither: staged deltas)"),
)
#: ``[models.target]`` and ``[[models.sources]]``: one firmware build.
BUILD_FIELDS = (
    Field("version", "str", True, check=_name, help="version string: package headers and file names"),
    Field("image", "path", True, help="the firmware file"),
    Field("file_version", "str", check=_ascii, help="fileVersion of job documents (target only)"),
)
#: ``[[models]]``: one device model.
MODEL_FIELDS = (
    Field("name", "str", True, check=_name, help="folder and file-name prefix"),
    Field("model", "str", True, check=_ascii, help="model id in the package header"),
    Field("hardware_id", "str", default="", check=_ascii),
    Field("security_counter", "int", True, check=_u32),
    Field("layout", "path"),
    Field("signing_key", "path"),
    Field("lzma_dict_size", "int", check=_positive),
    Field("minimal_system", "path", help="minimal-system image: build the two stages for each source"),
    Field("budget", "table", default={}),
    Field("target", "table", True),
    Field("sources", "tables", default=[]),
)
#: The top level.
TOP_FIELDS = (
    Field("manifest_version", "int", True),
    Field("release", "table", True),
    Field("models", "tables", True),
)


@dataclass(frozen=True)
class FileRef:
    """A file the manifest names: as written, and resolved against the manifest's folder."""

    given: str
    path: Path
    key: str  # key path in the manifest, for messages


@dataclass(frozen=True)
class BuildSpec:
    version: str
    image: FileRef
    file_version: str = ""
    key: str = ""


@dataclass(frozen=True)
class BudgetSpec:
    #: bytes, partition names, or None (from the layout's [minimal_system].stage1_download, else unbounded)
    download: int | tuple[str, ...] | None = None
    ram: int | None = None
    #: bytes, or None (the layout's ``scratch_flash`` key, else deltas are staged)
    scratch: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model: str
    security_counter: int
    target: BuildSpec
    sources: tuple[BuildSpec, ...]
    hardware_id: str = ""
    layout: FileRef | None = None
    signing_key: FileRef | None = None
    lzma_dict_size: int | None = None
    minimal_system: FileRef | None = None
    budget: BudgetSpec = BudgetSpec()
    key: str = ""


@dataclass(frozen=True)
class ReleaseSettings:
    name: str
    url_base: str
    aws_presigned: bool = False
    job_integrity: bool = True
    full_fallback_ratio: float = DEFAULT_FALLBACK_RATIO
    lzma_dict_size: int = DEFAULT_LZMA_DICT
    diff_algorithm: str = DEFAULT_ALGORITHM
    verify: bool = True


@dataclass(frozen=True)
class ReleaseManifest:
    path: Path
    sha256: str
    settings: ReleaseSettings
    models: tuple[ModelSpec, ...]


# -- parsing ---------------------------------------------------------------------


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__)


_KIND_NAMES = {"str": "a string", "int": "an integer", "bool": "a boolean (true/false)", "float": "a number",
               "path": "a path (string)", "table": "a table", "tables": "an array of tables",
               "area": "a byte count, a partition name or an array of names"}


class _Reader:
    def __init__(self, source: str, base: Path):
        self.source, self.base = source, base

    def fail(self, key: str, message: str) -> InputError:
        return InputError(f"{self.source}: {key}: {message}" if key else f"{self.source}: {message}")

    def table(self, obj: Any, fields: tuple[Field, ...], key: str) -> dict[str, Any]:
        """The table's values by field name (defaults filled in), every key checked."""
        if not isinstance(obj, dict):
            raise self.fail(key, f"must be a table, not {_toml_type(obj)}")
        names = [f.name for f in fields]
        for name in obj:  # TOML order: the first unknown key is reported
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.7)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(names)}"
                raise self.fail(_join(key, name), f"unknown key ({hint})")
        out = {}
        for f in fields:
            where = _join(key, f.name)
            if f.name not in obj:
                if f.required:
                    raise self.fail(where, "missing required key" + (f" ({f.help})" if f.help else ""))
                out[f.name] = f.default
                continue
            out[f.name] = self.value(obj[f.name], f, where)
        return out

    def value(self, value: Any, f: Field, key: str) -> Any:
        ok = {"str": isinstance(value, str), "path": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "table": isinstance(value, dict),
              "tables": isinstance(value, list) and all(isinstance(v, dict) for v in value),
              "area": (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
              or (isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value))}[f.kind]
        if not ok:
            raise self.fail(key, f"must be {_KIND_NAMES[f.kind]}, not {_toml_type(value)}")
        if f.kind == "float":
            value = float(value)
        if f.kind == "area" and not isinstance(value, int):
            value = (value,) if isinstance(value, str) else tuple(value)
        problem = f.check(value) if f.check else None
        if problem:
            raise self.fail(key, problem)
        if f.kind == "path":
            if not value:
                raise self.fail(key, "is empty")
            return FileRef(value, (self.base / value), key)
        return value


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _build(reader: _Reader, obj: Any, key: str, target: bool) -> BuildSpec:
    values = reader.table(obj, BUILD_FIELDS, key)
    if not target and values["file_version"] is not None:
        raise reader.fail(_join(key, "file_version"), "only the target has a file_version (the job's fileVersion "
                                                      "is the version the device runs after the upgrade)")
    return BuildSpec(values["version"], values["image"], values["file_version"] or "", key)


def _model(reader: _Reader, obj: Any, key: str) -> ModelSpec:
    values = reader.table(obj, MODEL_FIELDS, key)
    budget = reader.table(values["budget"], BUDGET_FIELDS, _join(key, "budget"))
    target = _build(reader, values["target"], _join(key, "target"), True)
    sources = tuple(_build(reader, entry, f"{key}.sources[{i}]", False) for i, entry in enumerate(values["sources"]))
    seen: dict[str, str] = {target.version: target.key}
    for source in sources:
        if source.version in seen:
            other = seen[source.version]
            why = "is the target version" if other == target.key else f"is also {other}.version"
            raise reader.fail(_join(source.key, "version"), f"{source.version!r} {why}: each deployed version once, "
                                                            "and never the target")
        seen[source.version] = source.key
    return ModelSpec(
        name=values["name"], model=values["model"], security_counter=values["security_counter"], target=target,
        sources=sources, hardware_id=values["hardware_id"], layout=values["layout"],
        signing_key=values["signing_key"], lzma_dict_size=values["lzma_dict_size"],
        minimal_system=values["minimal_system"], budget=BudgetSpec(budget["download"], budget["ram"], budget["scratch"]), key=key,
    )


def parse_manifest(text: str, *, source: str = "manifest", base: Path = Path(".")) -> ReleaseManifest:
    """A manifest from TOML text; relative paths resolve against ``base``."""
    reader = _Reader(source, base)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from None
    top = reader.table(document, TOP_FIELDS, "")
    if top["manifest_version"] not in MANIFEST_VERSIONS:
        raise reader.fail("manifest_version", f"version {top['manifest_version']} is not supported (this otapack "
                                              f"reads {', '.join(map(str, MANIFEST_VERSIONS))})")
    settings = ReleaseSettings(**reader.table(top["release"], RELEASE_FIELDS, "release"))
    if not top["models"]:
        raise reader.fail("models", "names no model")
    models = tuple(_model(reader, entry, f"models[{i}]") for i, entry in enumerate(top["models"]))
    names: dict[str, str] = {}
    for m in models:
        if m.name.lower() in names:  # folders must not collide on case-insensitive file systems
            raise reader.fail(_join(m.key, "name"), f"{m.name!r} is also {names[m.name.lower()]}.name")
        names[m.name.lower()] = m.key
    return ReleaseManifest(Path(source), hashlib.sha256(text.encode()).hexdigest(), settings, models)


def load_manifest(path: str | Path) -> ReleaseManifest:
    """Read and validate a manifest file (InputError, exit 3, naming the key)."""
    path = Path(path)
    data = read_input(path, "release manifest")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not a UTF-8 text file") from None
    manifest = parse_manifest(text, source=path.name, base=path.parent)
    return ReleaseManifest(path, hashlib.sha256(data).hexdigest(), manifest.settings, manifest.models)
