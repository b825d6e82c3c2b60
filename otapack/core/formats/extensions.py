"""Extension values of package container v1, declared once (docs/formats/package-v1.md).

The container (``otapack.core.formats.package``) frames each extension as
tag + length + value; this module declares what is inside the values that
have a byte layout, and the records two of them are digests over:

- ``budget``: the flash budget figures of a minimal-system stage (``Budget``);
- ``chain-prev-state``: a flash-state digest and its coverage bitmap
  (``ChainPrevState``); the digest is SHA-256 over ``STATE_DIGEST_PREFIX``
  and one ``StateRecord`` per covered partition;
- ``layout-digest``: SHA-256 over one ``LayoutRecord`` per slot of the
  device layout (``FirmwareImage.slot_records``), in address order;
- ``chain-next-package``: a bare SHA-256 (``Digest``).

The builder and ``info`` use these declarations; the device restore, which is
standard library only, reads the same bytes field by field
(``otapack.core.restore.extensions``) and a test checks that both agree.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from construct import Adapter, Bytes, Const, ConstructError, CString, Int8ul, Int32ul, PascalString, Struct, Terminated

from otapack.core.formats.wire_numbers import BUDGET_FIELD_MAX, BUDGET_VERSION, SHA256_SIZE as DIGEST_SIZE, STATE_DIGEST_PREFIX
from otapack.errors import PackageFormatError

Digest = Bytes(DIGEST_SIZE)

Budget = Struct(
    "version" / Const(BUDGET_VERSION, Int8ul),
    "stage" / Int8ul,  # 1 or 2
    "download_area" / Int32ul,  # bytes of the phase's download area
    "package_bytes" / Int32ul,
    "scratch_flash" / Int32ul,  # the header's scratch_flash
    "flash_needed" / Int32ul,  # package rounded up to the erase block + scratch
)
BUDGET_SIZE = Budget.sizeof()


def _bitmap_bytes(ctx) -> int:
    return (ctx._params.entries + 7) // 8


class CoverageBitmap(Adapter):
    """One bit per partition-table entry, LSB first: set = the entry is in the digest.

    Parse and build take the table's entry count: ``parse(value, entries=n)``."""

    def _decode(self, obj, context, path):
        return [bool(obj[i // 8] >> (i % 8) & 1) for i in range(context._params.entries)]

    def _encode(self, obj, context, path):
        bitmap = bytearray((len(obj) + 7) // 8)
        for i, covered in enumerate(obj):
            if covered:
                bitmap[i // 8] |= 1 << (i % 8)
        return bytes(bitmap)


ChainPrevState = Struct(
    "digest" / Digest,  # state digest over the covered entries
    "coverage" / CoverageBitmap(Bytes(_bitmap_bytes)),
    Terminated,
)

#: One covered partition in the state digest, in table order.
StateRecord = Struct(
    "name" / PascalString(Int8ul, "ascii"),
    "address" / Int32ul,
    "size" / Int32ul,  # bytes of content (not the slot)
    "sha256" / Digest,  # of the content
)

#: One partition in the layout digest, in address order.
LayoutRecord = Struct(
    "name" / CString("ascii"),
    "address" / Int32ul,
    "slot_size" / Int32ul,
)


def prev_state_size(entries: int) -> int:
    return DIGEST_SIZE + (entries + 7) // 8


# --------------------------------------------------------------------- budget


def encode_budget(*, stage: int, download_area: int, package_bytes: int, scratch_flash: int,
                  flash_needed: int) -> bytes:
    """The ``budget`` value; figures above the u32 range are stored as its maximum."""
    figures = dict(download_area=download_area, package_bytes=package_bytes, scratch_flash=scratch_flash,
                   flash_needed=flash_needed)
    return Budget.build(dict(stage=stage, **{k: min(v, BUDGET_FIELD_MAX) for k, v in figures.items()}))


def decode_budget(value: bytes) -> dict:
    """The ``budget`` figures as a dict (plus ``free_after``)."""
    try:
        if len(value) != BUDGET_SIZE:
            raise ConstructError("budget value size")
        parsed = Budget.parse(value)
    except ConstructError:
        raise PackageFormatError(
            f"budget extension: expected {BUDGET_SIZE} bytes of version {BUDGET_VERSION}"
        ) from None
    return {"stage": parsed.stage, "download_area": parsed.download_area, "package_bytes": parsed.package_bytes,
            "scratch_flash": parsed.scratch_flash, "flash_needed": parsed.flash_needed,
            "free_after": parsed.download_area - parsed.flash_needed}


# --------------------------------------------------------------------- chain-prev-state


def encode_prev_state(digest: bytes, covered: list[bool]) -> bytes:
    """``chain-prev-state``: the state digest + coverage bitmap (bit i = table entry i)."""
    return ChainPrevState.build(dict(digest=digest, coverage=list(covered)), entries=len(covered))


def decode_prev_state(value: bytes, entries: int) -> tuple[bytes, list[bool]]:
    """(digest, coverage) of a ``chain-prev-state`` value for a table of ``entries`` partitions."""
    if len(value) != prev_state_size(entries):
        raise PackageFormatError(
            f"chain-prev-state is {len(value)} bytes; a table of {entries} partitions needs "
            f"{prev_state_size(entries)} (digest + coverage bitmap)"
        )
    parsed = ChainPrevState.parse(value, entries=entries)
    return parsed.digest, list(parsed.coverage)


def state_digest(entries: Iterable[tuple[str, int, int, bytes]]) -> bytes:
    """SHA-256 over the prefix, then a ``StateRecord`` per (name, address, size, content SHA-256)."""
    sha = hashlib.sha256(STATE_DIGEST_PREFIX)
    for name, address, size, content_sha in entries:
        sha.update(StateRecord.build(dict(name=name, address=address, size=size, sha256=content_sha)))
    return sha.digest()


# --------------------------------------------------------------------- layout-digest


def layout_digest(partitions: Iterable[tuple[str, int, int]]) -> bytes:
    """SHA-256 over a ``LayoutRecord`` per (name, address, slot size), in address order."""
    sha = hashlib.sha256()
    for name, address, slot in sorted(partitions, key=lambda p: (p[1], p[0])):
        sha.update(LayoutRecord.build(dict(name=name, address=address, slot_size=slot)))
    return sha.digest()
