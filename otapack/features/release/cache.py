"""A content-addressed cache of built packages, keyed by ``Job.cache_key``.

Layout (``FORMAT`` is the folder name, so another layout never reads this one)::

    CACHE/v1/objects/ab/ab12...   package bytes, named by their SHA-256
    CACHE/v1/entries/cd/cd34...   one JSON entry per job key: the objects it built

Every file is written atomically (temporary file, fsync, rename), objects
before the entry that names them, so a crash leaves at worst an unused
object.  A lookup re-hashes each object: an entry whose JSON does not parse,
names a missing object, or whose object's digest differs from its name is
*corrupt*; it counts as a miss, is deleted and rebuilt.  Several runs may
share a cache: renames are atomic and equal keys have equal bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from otapack.core.fileio import write_atomic
from otapack.errors import OutputError

FORMAT = "v1"
#: The cache's folder inside the release folder when no other is given.
DEFAULT_CACHE_NAME = ".otapack-cache"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    #: job label -> "hit" | "miss" | "corrupt" (a corrupt entry is also a miss)
    jobs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "corrupt": self.corrupt, "jobs": dict(self.jobs)}


class PackageCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.base = self.root / FORMAT
        self.stats = CacheStats()

    def open(self) -> "PackageCache":
        """Create the folders (OutputError when the place cannot hold a cache)."""
        try:
            (self.base / "objects").mkdir(parents=True, exist_ok=True)
            (self.base / "entries").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot use cache directory {self.root}: {exc.strerror or exc}",
                              option="cache_dir") from None
        return self

    def _entry_path(self, key: str) -> Path:
        return self.base / "entries" / key[:2] / key

    def _object_path(self, digest: str) -> Path:
        return self.base / "objects" / digest[:2] / digest

    def _read(self, key: str) -> tuple[bytes, ...] | None:
        """The packages of ``key``; None when absent; ValueError when corrupt."""
        try:
            raw = self._entry_path(key).read_bytes()
        except FileNotFoundError:
            return None
        try:
            entry = json.loads(raw)
            if entry.get("key") != key:
                raise ValueError("entry names another key")
            packages = []
            for obj in entry["objects"]:
                data = self._object_path(obj["sha256"]).read_bytes()
                if hashlib.sha256(data).hexdigest() != obj["sha256"] or len(data) != obj["size"]:
                    raise ValueError(f"object {obj['sha256']} does not match its digest")
                packages.append(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(str(exc)) from None
        return tuple(packages)

    def get(self, key: str, label: str) -> tuple[bytes, ...] | None:
        """The cached packages of ``key``, or None (a miss; corrupt entries are removed)."""
        try:
            packages = self._read(key)
        except ValueError:
            self.stats.corrupt += 1
            self.stats.misses += 1
            self.stats.jobs[label] = "corrupt"
            with contextlib.suppress(OSError):
                self._entry_path(key).unlink()
            return None
        if packages is None:
            self.stats.misses += 1
            self.stats.jobs[label] = "miss"
            return None
        self.stats.hits += 1
        self.stats.jobs[label] = "hit"
        return packages

    def put(self, key: str, packages: tuple[bytes, ...]) -> None:
        objects = []
        for data in packages:
            digest = hashlib.sha256(data).hexdigest()
            path = self._object_path(digest)
            if not _intact(path, digest):
                path.parent.mkdir(exist_ok=True)
                write_atomic(path, data)
            objects.append({"sha256": digest, "size": len(data)})
        entry = self._entry_path(key)
        entry.parent.mkdir(exist_ok=True)
        write_atomic(entry, json.dumps({"key": key, "objects": objects}, sort_keys=True).encode() + b"\n")


def _intact(path: Path, digest: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False
