"""In-memory reference applier of delta-v2 streams, for differential tests.

Written from the spec, not from the streaming restore: the transformed old
image is defined unit by unit with a plain position loop (every position,
every kind in order), the carry rule is "a unit rewritten by one add may be
continued by the next add only at exactly the old position where it
stopped", and the whole stream is parsed up front.  It shares only the
encoding table (``kinds``) and the section reader with the device restore.
It checks the v1 bounds the restore checks but reports them as
``ValueError``: tests compare outputs, and accept/reject.
"""

from __future__ import annotations

import io

from otapack.core.restore.varint import read_varint
from otapack.core.restore.transform_kinds import ARCHES
from otapack.core.restore.transform_section import read_section


def _zero_runs(stream, total: int) -> bytes:
    out = bytearray()
    while len(out) < total:
        zeros = read_varint(stream, total, "zeros", "reference")
        literals = read_varint(stream, total, "literals", "reference")
        out += bytes(zeros) + stream.read(literals)
    if len(out) != total:
        raise ValueError("zero-run pairs overrun the window")
    return bytes(out)


def reference_apply(stream_bytes: bytes, old: bytes, target_size: int) -> bytes:
    stream = io.BytesIO(stream_bytes)
    window_size = read_varint(stream, 1 << 20, "window", "reference")
    max_tuples = read_varint(stream, 1 << 16, "tuples", "reference")
    coding = read_varint(stream, 1, "coding", "reference")
    params = read_section(stream, len(old), "reference")
    arch = ARCHES.get(params.arch)
    new = bytearray()
    old_pos = 0
    carry = b""
    carry_at = -1
    while len(new) < target_size:
        count = read_varint(stream, max_tuples, "count", "reference")
        tuples = []
        for _ in range(count):
            a = read_varint(stream, window_size, "add", "reference")
            c = read_varint(stream, window_size, "copy", "reference")
            s = read_varint(stream, 1 << 33, "seek", "reference")
            tuples.append((a, c, (s >> 1) ^ -(s & 1)))
        extra = io.BytesIO(stream.read(sum(t[1] for t in tuples)))
        n_add = sum(t[0] for t in tuples)
        diff = io.BytesIO(stream.read(n_add) if coding == 0 else _zero_runs(stream, n_add))
        for a, c, s in tuples:
            if a:
                if old_pos + a > len(old):
                    raise ValueError("add reads past the old image")
                d = len(new) - old_pos
                base_bytes = bytearray(old[old_pos : old_pos + a])
                i = 0
                if carry and carry_at == old_pos:
                    k = min(len(carry), a)
                    base_bytes[:k] = carry[:k]
                    carry = carry[k:]
                    i = k
                else:
                    carry = b""
                while i < a and not carry:
                    p = old_pos + i
                    unit = _unit_at(arch, params, old, p, d) if arch else None
                    if unit is None:
                        i += 1
                        continue
                    take = min(len(unit), a - i)
                    base_bytes[i : i + take] = unit[:take]
                    carry = unit[take:]
                    i += len(unit)
                carry_at = old_pos + a
                delta = diff.read(a)
                new += bytes((x + y) & 0xFF for x, y in zip(base_bytes, delta))
                old_pos += a
            new += extra.read(c)
            old_pos += s
            if not 0 <= old_pos <= len(old):
                raise ValueError("seek leaves the old image")
    if len(new) != target_size or stream.read(1):
        raise ValueError("stream and target size disagree")
    return bytes(new)


def _unit_at(arch, params, old: bytes, p: int, d: int) -> bytes | None:
    mask = params.mask_at(p)
    amask = arch.addr_mask
    addr = (params.base + p) & amask
    for index, kind in enumerate(arch.kinds):
        if not mask >> index & 1 or addr % kind.align or p + kind.length > len(old):
            continue
        b = old[p : p + kind.length]
        if not kind.match(b):
            continue
        target = kind.target(b, addr, amask)
        delta = params.lookup(target)
        if delta is None:
            continue
        return kind.rewrite(b, (addr + d) & amask, (target + delta) & amask, amask)
    return None

