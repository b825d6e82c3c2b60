"""Restore journal record v1 (docs/formats/journal-v1.md), declared once.

A fixed 64-byte record, little-endian; the numbers are in ``wire_numbers``
(``JOURNAL_*``).  The device restore reads and writes it field by field
(``otapack.core.restore.journal``); a test checks that both agree.
"""

from __future__ import annotations

import zlib

from construct import Bytes, Checksum, Const, Enum, Int8ul, Int32ul, Padding, RawCopy, Struct, this

from otapack.core.formats import wire_numbers as wn

_F = {name: field.size for name, field in wn.JOURNAL_RECORD.items()}


def _crc32(data: bytes) -> int:
    return zlib.crc32(data)


JournalRecord = Struct(
    "body" / RawCopy(Struct(
        "magic" / Const(wn.JOURNAL_MAGIC),
        "sequence" / Int32ul,
        "package_digest" / Bytes(_F["package_digest"]),
        "phase" / Enum(Int8ul, **wn.JOURNAL_PHASES),
        Padding(_F["reserved"]),
        "entry" / Int32ul,
        "done" / Int32ul,
        Padding(_F["padding"]),
    )),
    "crc32" / Checksum(Int32ul, _crc32, this.body.data),
)

_C = {name: field.size for name, field in wn.JOURNAL_COPY.items()}

#: The descriptor of the package copy a ``copied`` record stands for (at the
#: scratch area's size minus ``JOURNAL_COPY_RESERVE``).
PackageCopyDescriptor = Struct(
    "magic" / Const(wn.JOURNAL_COPY_MAGIC),
    "length" / Int32ul,
    "package_digest" / Bytes(_C["package_digest"]),
    "copy_sha256" / Bytes(_C["copy_sha256"]),
)
