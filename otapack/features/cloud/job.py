"""Cloud OTA job documents (AWS IoT Jobs, as in the QuecPython seed).

The document is a JSON **list** with one entry ``{"operation", "files"}``;
each file is ``{"fileName", "fileVersion", "fileSource": {"url"}}``, in that
key order, exactly as the seed shows it, so the seed's device code::

    doc = receive_data["execution"]["jobDocument"]
    doc[0]["operation"]; doc[0]["files"][0]["fileVersion"]
    doc[0]["files"][0]["fileSource"]["url"]

works unchanged.  Operations: ``FOTA`` (firmware: one full or delta
package as ``url1``, or a minimal-system pair: ``files[0]`` = stage 1 =
``url1``, ``files[1]`` = stage 2 = ``url2``) and ``app_fota`` (user files:
``fileName`` is the absolute device path).

Integrity extras: each file entry may end with ``fileSize`` (bytes) and
``fileSha256`` (hex of the whole downloaded file), placed *after*
``fileSource``.  The seed code only indexes keys by name, never iterates a
file entry's keys or compares whole entries, so extra keys cannot change
what it does; a device that wants to check its download can read them.
``include_integrity=False`` writes the bare seed shape.

``validate_job_document`` returns every problem with a JSON path;
``check_job_bytes`` raises ``InputError`` listing them.  The rules are one
table per JSON object (``ENTRY_TABLE``, ``FILE_TABLE``, ``SOURCE_TABLE``:
key, JSON type, required, check, message); ``JobFile`` and ``JobDocument``
validate with the same tables.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import quote, urlsplit

from otapack.errors import InputError, UsageError

OPERATION_FOTA = "FOTA"
OPERATION_APP = "app_fota"
OPERATIONS = (OPERATION_FOTA, OPERATION_APP)
#: AWS IoT Jobs refuses job documents larger than this (bytes).
AWS_JOB_DOCUMENT_LIMIT = 32 * 1024
#: A FOTA job names one package, or the two stages of a minimal-system upgrade.
MAX_FOTA_FILES = 2
PRESIGNED_PREFIX = "${aws:iot:s3-presigned-url:"
#: Placeholder prefixes AWS IoT substitutes: the seed's, and the newer ``-v2`` one.
PRESIGNED_PREFIXES = (PRESIGNED_PREFIX, "${aws:iot:s3-presigned-url-v2:")
PRESIGNED_SUFFIX = "}"
MINIMAL_KINDS = ("minimal-stage1", "minimal-stage2")
SINGLE_KINDS = ("full", "delta")

_S3_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])\.s3[.\-](?P<region>[a-z0-9\-]+)\.amazonaws\.com$")
_S3_PATH_HOST = re.compile(r"^s3[.\-](?P<region>[a-z0-9\-]+)\.amazonaws\.com$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# -- URLs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UrlBase:
    """Where uploaded files are served from; ``url(key)`` gives a file's URL.

    With ``aws_presigned`` the URL is the AWS IoT placeholder
    ``${aws:iot:s3-presigned-url:https://BUCKET.s3.REGION.amazonaws.com/KEY}``,
    which AWS replaces with a time-limited presigned URL when it delivers
    the job; the base must then be an S3 https URL (virtual-hosted
    ``https://BUCKET.s3.REGION.amazonaws.com/PREFIX`` or path-style
    ``https://s3.REGION.amazonaws.com/BUCKET/PREFIX``).
    """

    base: str
    aws_presigned: bool = False

    def __post_init__(self) -> None:
        if not self.base:
            raise UsageError("the URL base is empty", option="url_base")
        parts = urlsplit(self.base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"the URL base must be an http:// or https:// URL, got {self.base!r}", option="url_base")
        if parts.query or parts.fragment:
            raise UsageError(f"the URL base must not have a query or fragment, got {self.base!r}", option="url_base")
        if self.aws_presigned:
            self.s3_location()  # raises UsageError when not an S3 URL

    def s3_location(self) -> tuple[str, str, str]:
        """(bucket, region, key prefix without slashes) of an S3 https base."""
        parts = urlsplit(self.base)
        host = parts.hostname or ""
        path = parts.path.strip("/")
        match = _S3_VHOST.match(host)
        if parts.scheme == "https" and match and not parts.port:
            return match["bucket"], match["region"], path
        match = _S3_PATH_HOST.match(host)
        if parts.scheme == "https" and match and path and not parts.port:
            bucket, _, rest = path.partition("/")
            return bucket, match["region"], rest.strip("/")
        raise UsageError(
            f"presigned S3 URLs need a URL base of the form https://BUCKET.s3.REGION.amazonaws.com[/PREFIX] "
            f"(or https://s3.REGION.amazonaws.com/BUCKET[/PREFIX]), got {self.base!r}",
            option=("aws_presigned", "url_base"),
        )

    def url(self, key: str) -> str:
        encoded = quote(key.lstrip("/"), safe="/-_.~")
        if self.aws_presigned:
            bucket, region, prefix = self.s3_location()
            full = f"{prefix}/{encoded}" if prefix else encoded
            return f"{PRESIGNED_PREFIX}https://{bucket}.s3.{region}.amazonaws.com/{full}{PRESIGNED_SUFFIX}"
        return self.base.rstrip("/") + "/" + encoded


def check_url(url: Any) -> str | None:
    """Why ``url`` cannot be a download URL, or None."""
    if not isinstance(url, str):
        return f"must be a string, not {_json_type(url)}"
    if not url:
        return "is empty"
    if url.startswith("${"):
        prefix = next((p for p in PRESIGNED_PREFIXES if url.startswith(p)), None)
        if prefix is None or not url.endswith(PRESIGNED_SUFFIX):
            return (f"is a placeholder but not {PRESIGNED_PREFIX}https://BUCKET.s3.REGION.amazonaws.com/KEY}}")
        inner = url[len(prefix):-len(PRESIGNED_SUFFIX)]
        parts = urlsplit(inner)
        host = parts.hostname or ""
        if parts.scheme != "https" or not (_S3_VHOST.match(host) or _S3_PATH_HOST.match(host)):
            return f"presigned placeholder must wrap an https S3 URL, got {inner!r}"
        if not parts.path.strip("/"):
            return f"presigned placeholder URL {inner!r} names no object key"
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"must be http(s) or a {PRESIGNED_PREFIX}...}} placeholder, got {url!r}"
    if not parts.netloc:
        return f"has no host: {url!r}"
    if any(c.isspace() for c in url):
        return f"contains white space: {url!r}"
    return None


# -- documents ----------------------------------------------------------------------


@dataclass(frozen=True)
class JobFile:
    """One ``files`` entry."""

    name: str
    version: str
    url: str
    size: int | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        # The validator's own rules (FILE_TABLE), so a document we write always passes the check.
        problems = list(check_object(FILE_TABLE, self.to_dict(), "", _Scope()))
        if problems:
            raise UsageError(f"job file {self.name!r}: {problems[0]}")

    def to_dict(self, include_integrity: bool = True) -> dict:
        out: dict[str, Any] = {
            "fileName": self.name,
            "fileVersion": self.version,
            "fileSource": {"url": self.url},
        }
        if include_integrity:
            if self.size is not None:
                out["fileSize"] = self.size
            if self.sha256 is not None:
                out["fileSha256"] = self.sha256
        return out


@dataclass(frozen=True)
class JobDocument:
    operation: str
    files: tuple[JobFile, ...]
    include_integrity: bool = True

    def __post_init__(self) -> None:
        problems = validate_job_document(self.to_json())
        if problems:
            raise UsageError("invalid job document: " + "; ".join(str(p) for p in problems))

    def to_json(self) -> list:
        return [{"operation": self.operation, "files": [f.to_dict(self.include_integrity) for f in self.files]}]

    def to_bytes(self) -> bytes:
        return dump_document(self.to_json())


def dump_document(document: Any) -> bytes:
    """Deterministic JSON: insertion key order (the seed's), 2-space indent, ASCII, final newline."""
    return (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PackageFile:
    """A package file to put in a FOTA job: its name, bytes and parsed header."""

    name: str
    data: bytes

    @property
    def package(self):
        """The parsed package (structure and digest checked)."""
        from otapack.errors import PackageFormatError
        from otapack.core.container import read_package

        try:
            return read_package(self.data)
        except PackageFormatError as exc:
            raise type(exc)(f"{self.name}: {exc}") from None


def order_packages(packages: Sequence[PackageFile]) -> list[tuple[PackageFile, Any]]:
    """Packages in ``url1``, ``url2`` order, checked: one full/delta, or stage1 + stage2."""
    if not packages:
        raise UsageError("no package given", option="packages")
    parsed = [(p, p.package) for p in packages]  # each parsed once
    kinds = [pkg.header.kind for _, pkg in parsed]
    if len(parsed) == 1:
        if kinds[0] in MINIMAL_KINDS:
            other = MINIMAL_KINDS[1 - MINIMAL_KINDS.index(kinds[0])]
            raise UsageError(
                f"{packages[0].name} is a {kinds[0]} package: a minimal-system job needs both stages "
                f"(add the {other} package)"
            )
        if kinds[0] not in SINGLE_KINDS:
            raise UsageError(f"{packages[0].name}: package kind {kinds[0]!r} cannot go in a FOTA job")
        return parsed
    if len(parsed) > MAX_FOTA_FILES:
        raise UsageError(
            f"a FOTA job takes one package or a minimal-system pair, not {len(parsed)} packages"
        )
    if sorted(kinds) != list(MINIMAL_KINDS):
        described = ", ".join(f"{p.name} ({k})" for (p, _), k in zip(parsed, kinds))
        raise UsageError(
            f"two packages must be one minimal-stage1 and one minimal-stage2, got {described}"
        )
    return sorted(parsed, key=lambda item: MINIMAL_KINDS.index(item[1].header.kind))


def fota_document(
    packages: Sequence[PackageFile],
    url_base: UrlBase,
    *,
    file_version: str | None = None,
    include_integrity: bool = True,
) -> JobDocument:
    """The FOTA job for one package or a minimal-system pair (stage 1 first)."""
    ordered = order_packages(packages)
    if file_version is None or file_version == "":
        versions = {pkg.header.target_version for _, pkg in ordered if pkg.header.target_version}
        if not versions:
            names = ", ".join(p.name for p, _ in ordered)
            raise UsageError(f"{names}: no target version in the package header; give the file version", option="file_version")
        if len(versions) > 1:
            raise UsageError(
                "the two stages declare different target versions "
                f"({', '.join(sorted(versions))}); give the file version", option="file_version"
            )
        file_version = versions.pop()
    files = []
    for pfile, _ in ordered:
        name = PurePosixPath(pfile.name.replace("\\", "/")).name
        files.append(JobFile(name=name, version=file_version, url=url_base.url(name),
                             size=len(pfile.data), sha256=sha256_hex(pfile.data)))
    return JobDocument(OPERATION_FOTA, tuple(files), include_integrity)


# -- validation ---------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _check_device_path(name: str) -> str | None:
    if not name.startswith("/"):
        return f"app_fota fileName must be an absolute device path (like /usr/a.py), got {name!r}"
    parts = name.split("/")[1:]
    if any(p in ("", ".", "..") for p in parts):
        return f"device path {name!r} has an empty, '.' or '..' component"
    return None


@dataclass
class _Scope:
    """What the rules of one ``$[i]`` entry see besides the value: the
    entry's operation and what earlier files named."""

    operation: Any = None
    file_index: int = 0
    names: dict = field(default_factory=dict)
    first_version: str | None = None


#: A key's rule: (value, its JSON path, scope) -> its problems.
Check = Callable[[Any, str, _Scope], Iterable[Problem]]


@dataclass(frozen=True)
class Key:
    """One key of a job-document object and how its value is checked.

    ``json_type`` is checked first (a wrong type is the only problem
    reported).  Then ``check``: with a ``message`` it is a predicate
    ``check(value) -> bool`` and ``message`` (``{value!r}`` filled in) is the
    problem; without one it yields the problems itself."""

    name: str
    json_type: type | None
    required: bool
    check: Callable | None = None
    message: str = ""

    def problems(self, value: Any, path: str, scope: _Scope) -> Iterator[Problem]:
        if self.json_type is not None and (not isinstance(value, self.json_type) or isinstance(value, bool)):
            yield Problem(path, f"must be {_JSON_ARTICLES[self.json_type]}, not {_json_type(value)}")
        elif self.message:
            if not self.check(value):
                yield Problem(path, self.message.format(value=value))
        elif self.check is not None:
            yield from self.check(value, path, scope)


_JSON_ARTICLES = {str: "a string", list: "a list", dict: "an object"}


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_object(table: Sequence[Key], obj: dict, path: str, scope: _Scope) -> Iterator[Problem]:
    """Unknown keys, then missing required keys, then each present key's rules, in table order."""
    known = ", ".join(k.name for k in table)
    names = {k.name for k in table}
    for key in obj:
        if key not in names:
            yield Problem(path, f"unknown key {key!r} (expected {known})")
    for k in table:
        if k.required and k.name not in obj:
            yield Problem(path, f"missing key {k.name!r}")
    for k in table:
        if k.name in obj:
            yield from k.problems(obj[k.name], _child(path, k.name), scope)


def _url(value: Any, path: str, scope: _Scope) -> Iterator[Problem]:
    reason = check_url(value)
    if reason:
        yield Problem(path, reason)


def _nested(table: Sequence[Key]) -> Check:
    return lambda value, path, scope: check_object(table, value, path, scope)


def _file_name(name: str, path: str, scope: _Scope) -> Iterator[Problem]:
    if not name:
        yield Problem(path, "is empty")
        return
    if name in scope.names:
        yield Problem(path, f"{name!r} already named by files[{scope.names[name]}]")
    scope.names.setdefault(name, scope.file_index)
    if scope.operation == OPERATION_APP:
        reason = _check_device_path(name)
        if reason:
            yield Problem(path, reason)


def _file_version(version: str, path: str, scope: _Scope) -> Iterator[Problem]:
    if not version:
        yield Problem(path, "is empty")
    elif scope.first_version is None:
        scope.first_version = version
    elif version != scope.first_version:
        yield Problem(path, f"{version!r} differs from files[0] ({scope.first_version!r}); "
                            "the device compares only files[0]")


def _operation(operation: str, path: str, scope: _Scope) -> Iterator[Problem]:
    if operation not in OPERATIONS:
        yield Problem(path, f"{operation!r} is not one of {', '.join(OPERATIONS)}")


def _files(files: list, path: str, scope: _Scope) -> Iterator[Problem]:
    if not files:
        yield Problem(path, "is empty: the job names no file")
        return
    if scope.operation == OPERATION_FOTA and len(files) > MAX_FOTA_FILES:
        yield Problem(path, f"FOTA takes one package or a minimal-system pair (url1, url2), not {len(files)} files")
    for index, item in enumerate(files):
        scope.file_index = index
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            yield Problem(where, f"must be an object, not {_json_type(item)}")
        else:
            yield from check_object(FILE_TABLE, item, where, scope)


#: ``fileSource``: where the device downloads the file.
SOURCE_TABLE = (Key("url", None, True, _url),)
#: One ``files`` entry: the seed's keys in its order (JSON output keeps it), then the optional integrity extras.
FILE_TABLE = (
    Key("fileName", str, True, _file_name),
    Key("fileVersion", str, True, _file_version),
    Key("fileSource", dict, True, _nested(SOURCE_TABLE)),
    Key("fileSize", None, False, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "must be a non-negative integer, not {value!r}"),
    Key("fileSha256", None, False, lambda v: isinstance(v, str) and bool(_SHA256_RE.match(v)),
        "must be 64 lowercase hex digits"),
)
#: One ``$[i]`` entry.
ENTRY_TABLE = (
    Key("operation", str, True, _operation),
    Key("files", list, True, _files),
)
FILE_KEYS = tuple(k.name for k in FILE_TABLE if k.required)
INTEGRITY_KEYS = tuple(k.name for k in FILE_TABLE if not k.required)


def validate_job_document(document: Any, *, size: int | None = None) -> list[Problem]:
    """Every problem of a parsed job document (empty list: valid)."""
    problems: list[Problem] = []
    if size is not None and size > AWS_JOB_DOCUMENT_LIMIT:
        problems.append(Problem("", f"document is {size} bytes; AWS IoT accepts job documents up to "
                                    f"{AWS_JOB_DOCUMENT_LIMIT}"))
    if not isinstance(document, list):
        problems.append(Problem("$", f"must be a list of operations (the device reads jobDocument[0]), "
                                     f"not {_json_type(document)}"))
        return problems
    if not document:
        problems.append(Problem("$", "empty list: the device reads jobDocument[0]"))
        return problems
    if len(document) > 1:
        problems.append(Problem("$", f"{len(document)} entries; the device reads only jobDocument[0]"))
    for index, entry in enumerate(document):
        where = f"$[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, f"must be an object, not {_json_type(entry)}"))
            continue
        problems += check_object(ENTRY_TABLE, entry, where, _Scope(operation=entry.get("operation")))
    return problems


def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_job_bytes(data: bytes, what: str = "job document") -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class CheckResult:
    operation: str
    files: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "operation": self.operation,
            "files": self.files,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
        }


def check_job_bytes(data: bytes, what: str = "job document") -> CheckResult:
    """Parse and validate; JSON errors raise ``InputError``, problems are returned."""
    document = parse_job_bytes(data, what)
    problems = validate_job_document(document, size=len(data))
    operation, count = "", 0
    if isinstance(document, list) and document and isinstance(document[0], dict):
        op = document[0].get("operation")
        operation = op if isinstance(op, str) else ""
        files = document[0].get("files")
        count = len(files) if isinstance(files, list) else 0
    return CheckResult(operation, count, tuple(problems))


def require_valid(data: bytes, what: str = "job document") -> CheckResult:
    """``check_job_bytes`` that raises ``InputError`` naming every problem."""
    result = check_job_bytes(data, what)
    if not result.ok:
        raise InputError(f"{what}: " + "; ".join(str(p) for p in result.problems))
    return result
