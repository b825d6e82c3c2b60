"""Device-side streaming restore of a delta-v2 stream (delta-v1 + transforms).

A prototype adapter: ``apply_delta_v2`` is ``otapack.core.restore.delta.apply_delta``
with the add step reading ``old'`` (the transformed old bytes) instead of
``old``, and the transform section read after the v1 header fields.  Every
v1 check is kept, in the same order, with the same messages; the transform
section's own checks are in ``section.read_section``.  When delta-v2 is
integrated the add step of ``apply_delta`` takes the transformer directly
and this module goes away.  Standard library only.
"""

from __future__ import annotations

from otapack.core.restore.delta import (
    RawDiff,
    ZeroRunDiff,
    add_bytes,
    read_stream_header,
    read_varint,
)
from otapack.core.restore.resources import DECODE_CHUNK, TUPLE_BYTES, RamMeter
from otapack.core.formats.wire_numbers import MAX_SEEK
from otapack.core.transforms.engine import Transformer
from otapack.core.transforms.section import read_section
from otapack.core.transforms.wire import MAX_UNIT, transform_ram
from otapack.errors import CorruptPatchError


def apply_delta_v2(stream, read_old, old_size: int, writer, target_size: int, ram: RamMeter, where: str) -> Transformer:
    """Decode a delta-v2 stream and write exactly ``target_size`` bytes."""
    header = read_stream_header(stream, where)
    params = read_section(stream, old_size, where)
    ram.hold("transform tables", transform_ram(len(params.map_keys), len(params.region_starts)))
    transformer = Transformer(params)
    window_size, max_tuples = header.window_size, header.max_tuples
    diff = (ZeroRunDiff if header.zero_runs else RawDiff)(stream, where)
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
            if add == 0 and copy == 0 and (window_index or index):
                raise CorruptPatchError(f"{tat}: writes nothing (only the stream's first tuple may be a bare seek)")
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
        diff.start_window(window_out - copy_total, at)
        tuple_out = out
        for index, (add, copy, seek) in enumerate(tuples):
            if add:
                if old_pos > old_size or add > old_size - old_pos:
                    raise CorruptPatchError(
                        f"{at}, tuple {index}: reads {add} old bytes at {old_pos}, past the {old_size}-byte old partition"
                    )
                displacement = tuple_out - old_pos
                position = old_pos
                for piece in diff.pieces(add):
                    k = piece if isinstance(piece, int) else len(piece)
                    while k:  # a zero run may be longer than one read piece
                        step = min(DECODE_CHUNK, k)
                        ram.hold("old read", step + MAX_UNIT - 1)  # the look-ahead a unit needs
                        old = transformer.transform(read_old, old_size, position, step, displacement)
                        if isinstance(piece, int):
                            writer.write(old)
                        else:
                            off = len(piece) - k
                            writer.write(add_bytes(old, piece[off : off + step]))
                        position += step
                        k -= step
                old_pos += add
            tuple_out += add + copy
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
    ram.release("transform tables")
    return transformer
