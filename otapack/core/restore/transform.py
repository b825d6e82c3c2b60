"""The operand-aware add: old bytes as the restore reads them, re-aimed.

``Transformer.transform(read_old, old_size, pos, n, d)`` returns ``old'``
for ``old[pos, pos + n)``, the bytes the add step adds the diff bytes to
(``new = old' + diff``).  ``d`` is the current add's displacement
(output offset minus ``old_pos``, constant within an add).  At every
address a multiple of a kind's alignment inside a region that enables the
kind, the first kind (in the arch's order) whose encoding matches the old
bytes and whose target the map covers is a *unit*: its ``length`` old bytes
are replaced by the same encoding re-aimed from ``base + p + d`` at
``target + M(target)``.  Positions inside a unit start no other unit.

State between calls (bounded): the rewritten bytes of a unit that runs past
the end of a call (at most ``MAX_UNIT - 1``), used only if the next add
continues at exactly that old position.  Standard library only.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from itertools import repeat
from dataclasses import dataclass

from otapack.core.formats.wire_numbers import MAX_UNIT
from otapack.core.restore.transform_kinds import ARCHES, Arch


@dataclass(frozen=True)
class TransformParams:
    """Everything the stream carries for the transform.

    ``map_keys``/``map_deltas``: the piecewise-constant map M from an old
    address to (new address - old address); ``None`` deltas are holes (no
    reference is recognised there).  M(x) is the entry with the largest
    key <= x; below the first key, a hole.  ``region_starts``/``region_masks``:
    which kinds are recognised from each old offset on (mask bit i = the
    arch's kind i); before the first start, none.
    """

    arch: str
    base: int = 0
    map_keys: tuple[int, ...] = ()
    map_deltas: tuple[int | None, ...] = ()
    region_starts: tuple[int, ...] = ()
    region_masks: tuple[int, ...] = ()

    def lookup(self, key: int) -> int | None:
        i = bisect_right(self.map_keys, key) - 1
        return None if i < 0 else self.map_deltas[i]

    def mask_at(self, pos: int) -> int:
        i = bisect_right(self.region_starts, pos) - 1
        return 0 if i < 0 else self.region_masks[i]

    def masks_between(self, lo: int, hi: int) -> int:
        """OR of the region masks that apply somewhere in [lo, hi)."""
        i = max(0, bisect_right(self.region_starts, lo) - 1)
        out = 0
        while i < len(self.region_starts) and self.region_starts[i] < hi:
            if i + 1 >= len(self.region_starts) or self.region_starts[i + 1] > lo:
                out |= self.region_masks[i]
            i += 1
        return out


class Transformer:
    def __init__(self, params: TransformParams):
        self.params = params
        self.arch: Arch | None = ARCHES.get(params.arch)
        self.carry = b""
        self.carry_at = -1
        self.units = 0  # units rewritten (statistics)
        #: builder hook: (old offset, kind index, length, rewritten bytes, output offset) per unit
        self.record: list | None = None
        if params.map_keys:
            self._lo, self._hi = params.map_keys[0], params.map_keys[-1]
            # a word at or past a closing hole is no reference: not a candidate
            self._ptr_end = self._hi if params.map_deltas[-1] is None else 1 << 64

    @property
    def active(self) -> bool:
        return self.arch is not None and bool(self.params.region_starts)

    def transform(self, read_old, old_size: int, pos: int, n: int, d: int) -> bytes:
        if not self.active:
            return read_old(pos, n)
        if self.carry_at != pos:
            self.carry = b""
        buf = read_old(pos, min(n + MAX_UNIT - 1, old_size - pos))
        out = bytearray(buf[:n])
        start = 0
        if self.carry:
            k = min(len(self.carry), n)
            out[:k] = self.carry[:k]
            self.carry = self.carry[k:]
            start = k
        if not self.carry:
            self._scan(buf, out, pos, start, n, d)
        self.carry_at = pos + n
        return bytes(out)

    def _candidates(self, buf: bytes, pos: int, start: int, n: int) -> list[tuple[int, int]]:
        p, arch = self.params, self.arch
        enabled = p.masks_between(pos + start, pos + n)
        # Inside one region every offset has the same mask: no per-offset lookup
        # (the builder's trial passes spend most of their time here otherwise).
        one_region = bisect_right(p.region_starts, pos + start) == bisect_right(p.region_starts, pos + n - 1)
        events = []
        for index, kind in enumerate(arch.kinds):
            if not enabled >> index & 1:
                continue
            last = min(n, len(buf) - kind.length + 1)  # the unit lies inside the old partition
            if last <= start:
                continue
            phase = (-(p.base + pos)) % kind.align  # first offset whose address is aligned
            if kind.pointer:
                if not p.map_keys:
                    continue
                first = start + (phase - start) % kind.align
                count = (last - first + kind.align - 1) // kind.align
                if count <= 0:
                    continue
                fmt = "<%d%s" % (count, "I" if kind.length == 4 else "Q")
                words = struct.unpack_from(fmt, buf, first) if kind.align == kind.length else ()
                lo, end = self._lo, self._ptr_end
                offs = [first + kind.align * i for i, w in enumerate(words) if lo <= w < end]
            else:
                offs = [m.start() for m in kind.regex.finditer(buf, start, last + kind.length - 1)
                        if m.start() < last and (m.start() - phase) % kind.align == 0]
            if one_region:
                events.extend(zip(offs, repeat(index)))
            else:
                events.extend((o, index) for o in offs if p.mask_at(pos + o) >> index & 1)
        events.sort()
        return events

    def _scan(self, buf: bytes, out: bytearray, pos: int, start: int, n: int, d: int) -> None:
        p, kinds = self.params, self.arch.kinds
        amask = self.arch.addr_mask
        keys, deltas = p.map_keys, p.map_deltas  # p.lookup inlined: this loop runs once per candidate
        at = p.base + pos
        record = self.record
        skip_to = start
        for off, index in self._candidates(buf, pos, start, n):
            if off < skip_to:
                continue
            kind = kinds[index]
            end = off + kind.length
            unit = buf[off:end]
            if not kind.match(unit):
                continue
            addr = (at + off) & amask
            target = kind.target(unit, addr, amask)
            i = bisect_right(keys, target) - 1
            delta = None if i < 0 else deltas[i]
            if delta is None:
                continue
            new = kind.rewrite(unit, (addr + d) & amask, (target + delta) & amask, amask)
            if end <= n:
                out[off:end] = new
            else:
                out[off:n] = new[: n - off]
                self.carry = new[n - off :]
            skip_to = end
            self.units += 1
            if record is not None:
                record.append((pos + off, index, kind.length, new, pos + off + d))
