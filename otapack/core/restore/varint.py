"""Canonical unsigned LEB128 varints as the device reads them (delta streams).

Standard library only.
"""

from __future__ import annotations

from otapack.core.formats.wire_numbers import VARINT_MAX_BYTES
from otapack.errors import CorruptPatchError


def read_varint(stream, limit: int, what: str, where: str) -> int:
    value = 0
    for index in range(VARINT_MAX_BYTES):
        byte = stream.read(1)[0]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if byte == 0 and index:
                raise CorruptPatchError(f"{where}: {what} is a non-canonical varint")
            if value > limit:
                raise CorruptPatchError(f"{where}: {what} {value} exceeds {limit}")
            return value
        if value > limit:
            raise CorruptPatchError(f"{where}: {what} exceeds {limit}")
    raise CorruptPatchError(f"{where}: {what} varint longer than {VARINT_MAX_BYTES} bytes")
