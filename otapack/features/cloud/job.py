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
``check_job_bytes`` raises ``InputError`` listing them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Sequence
from urllib.parse import quote, urlsplit

from otapack.errors import InputError, UsageError

OPERATION_FOTA = "FOTA"
OPERATION_APP = "app_fota"
OPERATIONS = (OPERATION_FOTA, OPERATION_APP)
#: Key order of the seed document; JSON output keeps it.
FILE_KEYS = ("fileName", "fileVersion", "fileSource")
INTEGRITY_KEYS = ("fileSize", "fileSha256")
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
            raise UsageError("--url-base is empty")
        parts = urlsplit(self.base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--url-base must be an http:// or https:// URL, got {self.base!r}")
        if parts.query or parts.fragment:
            raise UsageError(f"--url-base must not have a query or fragment, got {self.base!r}")
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
            f"--aws-presigned needs --url-base of the form https://BUCKET.s3.REGION.amazonaws.com[/PREFIX] "
            f"(or https://s3.REGION.amazonaws.com/BUCKET[/PREFIX]), got {self.base!r}"
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
        if not isinstance(self.name, str) or not self.name:
            raise UsageError("job file name is empty")
        if not isinstance(self.version, str) or not self.version:
            raise UsageError(f"{self.name}: file version is empty (give --file-version / --version)")
        problem = check_url(self.url)
        if problem:
            raise UsageError(f"{self.name}: URL {problem}")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 0):
            raise UsageError(f"{self.name}: size must be a non-negative integer")
        if self.sha256 is not None and not _SHA256_RE.match(self.sha256):
            raise UsageError(f"{self.name}: sha256 must be 64 lowercase hex digits")

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
        if self.operation not in OPERATIONS:
            raise UsageError(f"operation must be one of {', '.join(OPERATIONS)}, not {self.operation!r}")
        if not self.files:
            raise UsageError(f"{self.operation} job document has no files")
        if self.operation == OPERATION_FOTA and len(self.files) > MAX_FOTA_FILES:
            raise UsageError(
                f"a FOTA job carries one package or a minimal-system pair, not {len(self.files)} files"
            )
        names = [f.name for f in self.files]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UsageError(f"file {dupes[0]!r} appears twice in the job document")

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
        raise UsageError("no package given: otapack job PACKAGE... (or --check JOB.json)")
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
            raise UsageError(f"{names}: no target version in the package header; give --file-version")
        if len(versions) > 1:
            raise UsageError(
                "the two stages declare different target versions "
                f"({', '.join(sorted(versions))}); give --file-version"
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


def validate_job_document(document: Any, *, size: int | None = None) -> list[Problem]:
    """Every problem of a parsed job document (empty list: valid)."""
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, message))

    if size is not None and size > AWS_JOB_DOCUMENT_LIMIT:
        bad("", f"document is {size} bytes; AWS IoT accepts job documents up to {AWS_JOB_DOCUMENT_LIMIT}")
    if not isinstance(document, list):
        bad("$", f"must be a list of operations (the device reads jobDocument[0]), not {_json_type(document)}")
        return problems
    if not document:
        bad("$", "empty list: the device reads jobDocument[0]")
        return problems
    if len(document) > 1:
        bad("$", f"{len(document)} entries; the device reads only jobDocument[0]")
    for index, entry in enumerate(document):
        where = f"$[{index}]"
        if not isinstance(entry, dict):
            bad(where, f"must be an object, not {_json_type(entry)}")
            continue
        for key in entry:
            if key not in ("operation", "files"):
                bad(where, f"unknown key {key!r} (expected operation, files)")
        operation = entry.get("operation")
        if "operation" not in entry:
            bad(where, "missing key 'operation'")
        elif not isinstance(operation, str):
            bad(f"{where}.operation", f"must be a string, not {_json_type(operation)}")
        elif operation not in OPERATIONS:
            bad(f"{where}.operation", f"{operation!r} is not one of {', '.join(OPERATIONS)}")
        if "files" not in entry:
            bad(where, "missing key 'files'")
            continue
        files = entry["files"]
        if not isinstance(files, list):
            bad(f"{where}.files", f"must be a list, not {_json_type(files)}")
            continue
        if not files:
            bad(f"{where}.files", "is empty: the job names no file")
            continue
        if operation == OPERATION_FOTA and len(files) > MAX_FOTA_FILES:
            bad(f"{where}.files", f"FOTA takes one package or a minimal-system pair (url1, url2), "
                                  f"not {len(files)} files")
        names: dict[str, int] = {}
        first_version = None
        for findex, item in enumerate(files):
            fw = f"{where}.files[{findex}]"
            if not isinstance(item, dict):
                bad(fw, f"must be an object, not {_json_type(item)}")
                continue
            for key in item:
                if key not in FILE_KEYS + INTEGRITY_KEYS:
                    bad(fw, f"unknown key {key!r} (expected {', '.join(FILE_KEYS + INTEGRITY_KEYS)})")
            for key in FILE_KEYS:
                if key not in item:
                    bad(fw, f"missing key {key!r}")
            name = item.get("fileName")
            if "fileName" in item:
                if not isinstance(name, str):
                    bad(f"{fw}.fileName", f"must be a string, not {_json_type(name)}")
                elif not name:
                    bad(f"{fw}.fileName", "is empty")
                else:
                    if name in names:
                        bad(f"{fw}.fileName", f"{name!r} already named by files[{names[name]}]")
                    names.setdefault(name, findex)
                    if operation == OPERATION_APP:
                        reason = _check_device_path(name)
                        if reason:
                            bad(f"{fw}.fileName", reason)
            version = item.get("fileVersion")
            if "fileVersion" in item:
                if not isinstance(version, str):
                    bad(f"{fw}.fileVersion", f"must be a string, not {_json_type(version)}")
                elif not version:
                    bad(f"{fw}.fileVersion", "is empty")
                elif first_version is None:
                    first_version = version
                elif version != first_version:
                    bad(f"{fw}.fileVersion", f"{version!r} differs from files[0] ({first_version!r}); "
                                             "the device compares only files[0]")
            if "fileSource" in item:
                source = item["fileSource"]
                if not isinstance(source, dict):
                    bad(f"{fw}.fileSource", f"must be an object, not {_json_type(source)}")
                else:
                    for key in source:
                        if key != "url":
                            bad(f"{fw}.fileSource", f"unknown key {key!r} (expected url)")
                    if "url" not in source:
                        bad(f"{fw}.fileSource", "missing key 'url'")
                    else:
                        reason = check_url(source["url"])
                        if reason:
                            bad(f"{fw}.fileSource.url", reason)
            if "fileSize" in item:
                value = item["fileSize"]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    bad(f"{fw}.fileSize", f"must be a non-negative integer, not {value!r}")
            if "fileSha256" in item:
                value = item["fileSha256"]
                if not isinstance(value, str) or not _SHA256_RE.match(value):
                    bad(f"{fw}.fileSha256", "must be 64 lowercase hex digits")
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
