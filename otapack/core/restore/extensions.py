"""The device's own reader of the extension values it acts on.

Standard library only, field by field, the way device C code does it.  The
layouts are declared once with construct in ``otapack.core.formats.extensions``
(and specified in docs/formats/package-v1.md); tests check that this reader
and those declarations agree on every value.

- ``layout_digest``: what a device compares with a package's ``layout-digest``
  (``layout_difference`` names the partition when they differ);
- ``read_prev_state``: a ``chain-prev-state`` value (digest + coverage bitmap);
- ``state_digest``: the flash-state digest a minimal-system stage starts from.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from otapack.core.formats.wire_numbers import SHA256_SIZE as DIGEST_SIZE, STATE_DIGEST_PREFIX
from otapack.errors import PackageFormatError


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def layout_digest(partitions: Iterable[tuple[str, int, int]]) -> bytes:
    """SHA-256 over (name, 0 byte, u32 address, u32 slot size) of each partition, in address order."""
    sha = hashlib.sha256()
    for name, address, slot in sorted(partitions, key=lambda p: (p[1], p[0])):
        sha.update(name.encode("ascii") + b"\0" + _u32(address) + _u32(slot))
    return sha.digest()


def layout_difference(package: Iterable[tuple[str, int]], other: Iterable[tuple[str, int, int]],
                      where: str = "the device") -> str:
    """Which partition makes two layouts differ, for the message of a layout-digest
    mismatch.  A package holds only the digest of its layout, but its table names
    every partition (name, address), so a name or an address that differs is
    found; otherwise a slot size, which only the digest covers, differs."""
    ours = {name: address for name, address in package}
    theirs = {name: (address, size) for name, address, size in other}
    for name, address in sorted(ours.items(), key=lambda item: (item[1], item[0])):
        if name not in theirs:
            return f"partition {name!r} (at {address:#x}) is not in {where}'s layout"
        if theirs[name][0] != address:
            return f"partition {name!r} is at {address:#x} in the package, at {theirs[name][0]:#x} in {where}'s layout"
    extra = sorted(set(theirs) - set(ours), key=lambda name: (theirs[name][0], name))
    if extra:
        return f"{where}'s layout has partition {extra[0]!r} (at {theirs[extra[0]][0]:#x}), which the package does not"
    return (f"every partition has the same name and address, so a slot size differs ({where}'s slots: "
            + ", ".join(f"{name!r} {size:#x}" for name, (_, size) in sorted(theirs.items(), key=lambda i: i[1][0]))
            + ")")


def state_digest(entries: Iterable[tuple[str, int, int, bytes]]) -> bytes:
    """SHA-256 over the prefix, then per covered partition in table order:
    u8 name length, name, u32 address, u32 size, SHA-256 of its content."""
    sha = hashlib.sha256(STATE_DIGEST_PREFIX)
    for name, address, size, content_sha in entries:
        raw = name.encode("ascii")
        sha.update(bytes([len(raw)]) + raw + _u32(address) + _u32(size) + content_sha)
    return sha.digest()


def read_prev_state(value: bytes, entries: int) -> tuple[bytes, list[bool]]:
    """(digest, coverage) of a ``chain-prev-state`` value for a table of ``entries`` partitions."""
    bitmap_size = (entries + 7) // 8
    if len(value) != DIGEST_SIZE + bitmap_size:
        raise PackageFormatError(
            f"chain-prev-state is {len(value)} bytes; a table of {entries} partitions needs "
            f"{DIGEST_SIZE + bitmap_size} (digest + coverage bitmap)"
        )
    bits = value[DIGEST_SIZE:]
    return bytes(value[:DIGEST_SIZE]), [bool(bits[i // 8] >> (i % 8) & 1) for i in range(entries)]
