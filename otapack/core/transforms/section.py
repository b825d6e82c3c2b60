"""The transform section of a delta-v2 stream: the builder's encoder.

The layout and its rules are in ``otapack.core.restore.transform_section``,
the reader the device runs; ``encode_section`` writes exactly what it reads.
"""

from __future__ import annotations

from otapack.core.formats.varint import encode_varint
from otapack.core.formats.wire_numbers import TRANSFORM_ARCH_IDS as ARCH_IDS
from otapack.core.restore.transform import TransformParams
from otapack.core.restore.transform_kinds import ARCHES
from otapack.core.restore.transform_section import read_section  # noqa: F401  (the matching reader)


def _zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


def encode_section(params: TransformParams | None) -> bytes:
    if params is None or params.arch == "none":
        return encode_varint(0) * 4
    arch = ARCHES[params.arch]
    out = bytearray()
    out += encode_varint(ARCH_IDS[params.arch]) + encode_varint(params.base)
    out += encode_varint(len(params.map_keys)) + encode_varint(len(params.region_starts))
    prev = 0
    for i, (key, delta) in enumerate(zip(params.map_keys, params.map_deltas)):
        if key > arch.addr_mask or (i and key <= prev):
            raise ValueError(f"map key {key:#x} out of order or range")
        out += encode_varint(key - prev) + encode_varint(0 if delta is None else _zigzag(delta) + 1)
        prev = key
    prev = 0
    for i, (start, mask) in enumerate(zip(params.region_starts, params.region_masks)):
        if i and start <= prev:
            raise ValueError(f"region start {start} out of order")
        out += encode_varint(start - prev) + encode_varint(mask)
        prev = start
    return bytes(out)
