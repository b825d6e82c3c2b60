"""Canonical LEB128 varints, shared by the delta stream and its restore.

construct's own ``VarInt`` accepts overlong encodings (``0x80 0x00`` for 0),
so ``build(parse(b)) != b`` and a hostile patch can hide bytes in them.  This
one rejects non-canonical encodings and values above ``max_value``.
"""

from __future__ import annotations

from construct import Construct, SizeofError, stream_read, stream_write
from construct.core import IntegerError

from otapack.core.formats.wire_numbers import VARINT_MAX_VALUE


class CanonicalVarInt(Construct):
    """Unsigned LEB128, shortest form only, bounded by ``max_value``."""

    def __init__(self, max_value: int = VARINT_MAX_VALUE):
        super().__init__()
        self.max_value = max_value
        self.max_bytes = max(1, (max_value.bit_length() + 6) // 7)

    def _parse(self, stream, context, path):
        value = 0
        for index in range(self.max_bytes):
            byte = stream_read(stream, 1, path)[0]
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if byte == 0 and index > 0:
                    raise IntegerError("non-canonical (overlong) varint", path=path)
                if value > self.max_value:
                    raise IntegerError(f"varint {value} above limit {self.max_value}", path=path)
                return value
        raise IntegerError(f"varint longer than {self.max_bytes} bytes", path=path)

    def _build(self, obj, stream, context, path):
        if not isinstance(obj, int) or obj < 0 or obj > self.max_value:
            raise IntegerError(f"varint value {obj!r} outside 0..{self.max_value}", path=path)
        stream_write(stream, encode_varint(obj), len(encode_varint(obj)), path)
        return obj

    def _sizeof(self, context, path):
        raise SizeofError("varint has no fixed size", path=path)


class ZigZagVarInt(CanonicalVarInt):
    """Signed values mapped 0,-1,1,-2,... onto canonical varints."""

    def __init__(self, max_magnitude: int = (1 << 62)):
        super().__init__(max_value=2 * max_magnitude)
        self.max_magnitude = max_magnitude

    def _parse(self, stream, context, path):
        raw = super()._parse(stream, context, path)
        return (raw >> 1) ^ -(raw & 1)

    def _build(self, obj, stream, context, path):
        if not isinstance(obj, int) or abs(obj) > self.max_magnitude:
            raise IntegerError(f"signed varint {obj!r} outside +-{self.max_magnitude}", path=path)
        super()._build(zigzag(obj), stream, context, path)
        return obj


def encode_varint(value: int) -> bytes:
    # A patch stream writes 10^5 of these, mostly one or two bytes long.
    if 0 <= value < 0x80:
        return ONE_BYTE[value]
    if 0x80 <= value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    return _encode_varint(value)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


#: The one-byte encodings, made once.
ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))


def zigzag(value: int) -> int:
    return (value << 1) if value >= 0 else ((-value) << 1) - 1
