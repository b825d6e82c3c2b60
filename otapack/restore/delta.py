"""Streaming application of a delta-v1 patch, as the device runs it.

Every bound is checked in subtraction form (``a > limit - b``), which cannot
overflow in the device's 32-bit arithmetic (CVE-2014-9862, CVE-2020-14315).
Reads outside the old partition are errors, not zeros.  Standard library only.
"""

from __future__ import annotations

from otapack.errors import CorruptPatchError
from otapack.restore.resources import DECODE_CHUNK, TUPLE_BYTES, RamMeter

MAX_WINDOW_SIZE = 1 << 20
MAX_WINDOW_TUPLES = 1 << 16
MAX_SEEK = (1 << 32) - 1


def read_varint(stream, limit: int, what: str, where: str) -> int:
    value = 0
    for index in range(10):
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
    raise CorruptPatchError(f"{where}: {what} varint longer than 10 bytes")


def read_stream_header(stream, where: str) -> tuple[int, int]:
    window_size = read_varint(stream, MAX_WINDOW_SIZE, "window size", where)
    max_tuples = read_varint(stream, MAX_WINDOW_TUPLES, "tuples per window", where)
    if window_size < 1 or max_tuples < 1:
        raise CorruptPatchError(f"{where}: window size and tuples per window must be at least 1")
    return window_size, max_tuples


def add_bytes(old: bytes, diff: bytes) -> bytes:
    """Bytewise (old + diff) mod 256, carry-free, using wide integers."""
    n = len(diff)
    if diff.count(0) == n:
        return old
    low = int.from_bytes(b"\x7f" * n, "little")
    x = int.from_bytes(old, "little")
    y = int.from_bytes(diff, "little")
    return (((x & low) + (y & low)) ^ ((x ^ y) & ~low & ((1 << (8 * n)) - 1))).to_bytes(n, "little")


def apply_delta(stream, read_old, old_size: int, writer, target_size: int, ram: RamMeter, where: str,
                window_size: int, max_tuples: int) -> None:
    """Decode windows from ``stream`` and write exactly ``target_size`` bytes."""
    out = 0
    old_pos = 0
    window_index = 0
    while out < target_size:
        at = f"{where}: window {window_index} (output offset {out})"
        count = read_varint(stream, max_tuples, "tuple count", at)
        if count < 1:
            raise CorruptPatchError(f"{at}: empty window")
        ram.hold("control tuples", count * TUPLE_BYTES)
        tuples = []
        window_out = 0
        copy_total = 0
        for index in range(count):
            tat = f"{at}, tuple {index}"
            add = read_varint(stream, window_size, "add length", tat)
            copy = read_varint(stream, window_size, "copy length", tat)
            seek = read_varint(stream, 2 * MAX_SEEK, "seek", tat)
            seek = (seek >> 1) ^ -(seek & 1)
            if add > window_size - window_out:
                raise CorruptPatchError(f"{tat}: add length {add} overflows the {window_size}-byte window")
            window_out += add
            if copy > window_size - window_out:
                raise CorruptPatchError(f"{tat}: copy length {copy} overflows the {window_size}-byte window")
            window_out += copy
            copy_total += copy
            tuples.append((add, copy, seek))
        if window_out > target_size - out:
            raise CorruptPatchError(
                f"{at}: window writes {window_out} bytes, only {target_size - out} left of the target"
            )
        ram.hold("extra buffer", copy_total)
        extra = stream.read(copy_total)
        extra_pos = 0
        for index, (add, copy, seek) in enumerate(tuples):
            if add:
                if old_pos > old_size or add > old_size - old_pos:
                    raise CorruptPatchError(
                        f"{at}, tuple {index}: reads {add} old bytes at {old_pos}, past the {old_size}-byte old partition"
                    )
                done = 0
                while done < add:
                    piece = min(DECODE_CHUNK, add - done)
                    ram.hold("old read", piece)
                    writer.write(add_bytes(read_old(old_pos + done, piece), stream.read(piece)))
                    done += piece
                old_pos += add
            if copy:
                writer.write(extra[extra_pos : extra_pos + copy])
                extra_pos += copy
            if seek < -old_pos or seek > old_size - old_pos:
                raise CorruptPatchError(
                    f"{at}, tuple {index}: seek {seek} from {old_pos} leaves the {old_size}-byte old partition"
                )
            old_pos += seek
        ram.release("extra buffer")
        ram.release("control tuples")
        ram.release("old read")
        out += window_out
        window_index += 1
