"""Shared helpers of the release tests: a private copy of examples/ with a key,
and a file-by-file digest of a release folder."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIRS = ("release", "minimal-system", "firmware")
CACHE_NAME = ".otapack-cache"


def copy_examples(where: Path) -> Path:
    """examples/{release,minimal-system,firmware} copied under ``where``, with a
    fresh signing key at the path the example manifest names; returns the manifest."""
    from otapack.features.signing import generate_key, write_private_key

    for name in EXAMPLE_DIRS:
        shutil.copytree(ROOT / "examples" / name, where / "examples" / name,
                        ignore=shutil.ignore_patterns("*.pem"))
    manifest = where / "examples" / "release" / "release.toml"
    write_private_key(manifest.parent / "keys" / "example-release.pem", generate_key("ed25519"))
    return manifest


def tree_digests(out_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of a release folder, the cache left out."""
    return {p.relative_to(out_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out_dir.rglob("*")) if p.is_file() and CACHE_NAME not in p.parts}


def edit(manifest: Path, old: str, new: str) -> None:
    text = manifest.read_text()
    assert old in text, old
    manifest.write_text(text.replace(old, new, 1))
