"""Operand kinds: which old bytes are a reference, where it points, how to re-aim it.

A *kind* recognises one instruction or data encoding from the OLD bytes
alone (and the address alignment), computes the address it refers to (the
*target*), and rewrites the same bytes so they refer to another target from
another address.  Every field keeps the encoding's bits outside the operand;
operand arithmetic wraps modulo the field width, so every rewrite is defined
for every input.  ``docs/formats/delta-v2-transforms.md`` lists the encodings.

Standard library only: the device restore uses these.
"""

from __future__ import annotations

import re
import struct


def _sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class Kind:
    """One recognisable encoding.  ``length`` bytes starting at an address
    that is a multiple of ``align``."""

    name = ""
    align = 4
    length = 4
    pointer = False  # an absolute value (the target is the value itself)
    #: a reference that rarely leaves its function (literal pools, short
    #: branches): the builder tries the arch with and without these
    local = False
    #: a necessary byte pattern (regex over ``length`` bytes), for fast scans
    prefix = rb"(?s)(?=" + b"." * 4 + rb")"

    def match(self, b: bytes) -> bool:
        return True

    def target(self, b: bytes, addr: int, mask: int) -> int:
        raise NotImplementedError

    def rewrite(self, b: bytes, addr: int, target: int, mask: int) -> bytes:
        raise NotImplementedError


# ------------------------------------------------------------------ pointers

class Pointer(Kind):
    """An aligned little-endian word whose value is an address the map covers."""

    pointer = True

    def __init__(self, size: int):
        self.name = f"ptr{8 * size}"
        self.align = self.length = size
        self.prefix = rb"(?s)(?=" + b"." * size + rb")"

    def target(self, b, addr, mask):
        return int.from_bytes(b, "little")

    def rewrite(self, b, addr, target, mask):
        return (target & ((1 << 8 * self.length) - 1)).to_bytes(self.length, "little")


# ------------------------------------------------------------------ Thumb-2

def _hw(b: bytes) -> tuple[int, int]:
    return b[0] | b[1] << 8, b[2] | b[3] << 8


class ThumbBranch24(Kind):
    """BL (T1) and B.W (T4): S:I1:I2:imm10:imm11:0, target = addr + 4 + offset."""

    align, length = 2, 4

    def __init__(self, name: str, hw2_bits: int, hw2_class: bytes):
        self.name = name
        self.hw2_bits = hw2_bits  # hw2 & 0xD000
        self.prefix = rb"(?s)(?=.[\xf0-\xf7]." + hw2_class + rb")"

    def match(self, b):
        hw1, hw2 = _hw(b)
        return hw1 & 0xF800 == 0xF000 and hw2 & 0xD000 == self.hw2_bits

    def target(self, b, addr, mask):
        hw1, hw2 = _hw(b)
        s = hw1 >> 10 & 1
        i1 = 1 ^ (hw2 >> 13 & 1) ^ s
        i2 = 1 ^ (hw2 >> 11 & 1) ^ s
        off = s << 24 | i1 << 23 | i2 << 22 | (hw1 & 0x3FF) << 12 | (hw2 & 0x7FF) << 1
        return (addr + 4 + _sext(off, 25)) & mask

    def rewrite(self, b, addr, target, mask):
        hw1, hw2 = _hw(b)
        v = ((target - addr - 4) >> 1) & 0xFFFFFF
        s, i1, i2 = v >> 23, v >> 22 & 1, v >> 21 & 1
        hw1 = hw1 & 0xF800 | s << 10 | v >> 11 & 0x3FF
        hw2 = hw2 & 0xD000 | (1 ^ i1 ^ s) << 13 | (1 ^ i2 ^ s) << 11 | v & 0x7FF
        return struct.pack("<HH", hw1, hw2)


class ThumbBcondW(Kind):
    """B<c>.W (T3): S:J2:J1:imm6:imm11:0, cond not 111x."""

    name, align, length = "bcond.w", 2, 4
    prefix = rb"(?s)(?=.[\xf0-\xf7].[\x80-\x8f\xa0-\xaf])"

    def match(self, b):
        hw1, hw2 = _hw(b)
        return hw1 & 0xF800 == 0xF000 and hw2 & 0xD000 == 0x8000 and hw1 >> 7 & 0x7 != 0x7

    def target(self, b, addr, mask):
        hw1, hw2 = _hw(b)
        off = (hw1 >> 10 & 1) << 20 | (hw2 >> 11 & 1) << 19 | (hw2 >> 13 & 1) << 18 | (hw1 & 0x3F) << 12 \
            | (hw2 & 0x7FF) << 1
        return (addr + 4 + _sext(off, 21)) & mask

    def rewrite(self, b, addr, target, mask):
        hw1, hw2 = _hw(b)
        v = ((target - addr - 4) >> 1) & 0xFFFFF
        hw1 = hw1 & 0xFBC0 | (v >> 19) << 10 | v >> 11 & 0x3F
        hw2 = hw2 & 0xD000 | (v >> 18 & 1) << 11 | (v >> 17 & 1) << 13 | v & 0x7FF
        return struct.pack("<HH", hw1, hw2)


class ThumbLiteral8(Kind):
    """LDR Rt,[PC,#imm8*4] (T1) and ADR Rd,#imm8*4 (T1): target = Align(addr+4, 4) + imm8*4."""

    local = True

    align, length = 2, 2

    def __init__(self, name: str, top5: int):
        self.name = name
        self.top5 = top5
        lo, hi = top5 << 3, (top5 << 3) | 7
        self.prefix = rb"(?s)(?=.[" + re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi])) + rb"])"

    def match(self, b):
        return b[1] >> 3 == self.top5

    def target(self, b, addr, mask):
        return (((addr + 4) & ~3) + 4 * b[0]) & mask

    def rewrite(self, b, addr, target, mask):
        return bytes((((target - ((addr + 4) & ~3)) >> 2) & 0xFF, b[1]))


class ThumbLdrW(Kind):
    """LDR.W Rt,[PC,#+-imm12] (T2): target = Align(addr+4, 4) +- imm12."""

    local = True

    name, align, length = "ldr.w", 2, 4
    prefix = rb"(?s)(?=[\x5f\xdf]\xf8..)"

    def match(self, b):
        return (b[0] | b[1] << 8) & 0xFF7F == 0xF85F

    def target(self, b, addr, mask):
        hw1, hw2 = _hw(b)
        imm = hw2 & 0xFFF
        return (((addr + 4) & ~3) + (imm if hw1 & 0x80 else -imm)) & mask

    def rewrite(self, b, addr, target, mask):
        hw1, hw2 = _hw(b)
        off = _sext(target - ((addr + 4) & ~3), 32)
        up = off > 0 or (off == 0 and hw1 & 0x80)  # keeps "#-0" as it is
        hw1 = hw1 & 0xFF7F | (0x80 if up else 0)
        hw2 = hw2 & 0xF000 | (off if up else -off) & 0xFFF
        return struct.pack("<HH", hw1, hw2)


# ------------------------------------------------------------------ AArch64

def _w(b: bytes, at: int = 0) -> int:
    return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24


class A64Imm26(Kind):
    """B and BL: imm26*4, target = addr + offset."""

    name = "b/bl"
    prefix = rb"(?s)(?=...[\x14-\x17\x94-\x97])"

    def match(self, b):
        return _w(b) & 0x7C000000 == 0x14000000

    def target(self, b, addr, mask):
        return (addr + 4 * _sext(_w(b), 26)) & mask

    def rewrite(self, b, addr, target, mask):
        x = _w(b) & 0xFC000000 | ((target - addr) >> 2) & 0x3FFFFFF
        return x.to_bytes(4, "little")


class A64Imm19(Kind):
    """LDR (literal), all widths and SIMD: imm19*4 at bits 5..23."""

    local = True

    name = "ldr-lit"
    prefix = rb"(?s)(?=...[\x18\x1c\x58\x5c\x98\x9c\xd8\xdc])"

    def match(self, b):
        return _w(b) & 0x3B000000 == 0x18000000

    def target(self, b, addr, mask):
        return (addr + 4 * _sext(_w(b) >> 5, 19)) & mask

    def rewrite(self, b, addr, target, mask):
        x = _w(b) & 0xFF00001F | (((target - addr) >> 2) & 0x7FFFF) << 5
        return x.to_bytes(4, "little")


def _adr_imm(x: int) -> int:
    return (x >> 5 & 0x7FFFF) << 2 | x >> 29 & 3


def _with_adr_imm(x: int, v: int) -> int:
    return x & 0x9F00001F | (v & 3) << 29 | (v >> 2 & 0x7FFFF) << 5


class A64Adr(Kind):
    """ADR: immhi:immlo bytes, target = addr + offset."""

    local = True

    name = "adr"
    prefix = rb"(?s)(?=...[\x10\x30\x50\x70])"

    def match(self, b):
        return _w(b) & 0x9F000000 == 0x10000000

    def target(self, b, addr, mask):
        return (addr + _sext(_adr_imm(_w(b)), 21)) & mask

    def rewrite(self, b, addr, target, mask):
        return _with_adr_imm(_w(b), target - addr).to_bytes(4, "little")


def _a64_lo12(y: int, rd: int) -> int | None:
    """Byte scale of the low-12 instruction paired with ADRP Xrd, or None."""
    if y >> 5 & 31 != rd:
        return None
    if y & 0xFFC00000 == 0x91000000:  # ADD Xd, Xn, #imm12 (no shift)
        return 0
    if y & 0x3F000000 == 0x39000000 and (y >> 10 & 0xFFF) << (y >> 30) <= 0xFFF:
        return y >> 30  # LDR/STR (unsigned offset), general registers, a :lo12: offset
    return None


class A64AdrpPair(Kind):
    """ADRP Xd then, in the next word, ADD or LDR/STR (unsigned offset) on Xd:
    the pair's full target = page(addr) + imm21 pages + low 12 bits."""

    name, length = "adrp-pair", 8
    prefix = rb"(?s)(?=...[\x90\xb0\xd0\xf0]...[\x39\x79\xb9\xf9\x91])"

    def match(self, b):
        x, y = _w(b), _w(b, 4)
        return x & 0x9F000000 == 0x90000000 and _a64_lo12(y, x & 31) is not None

    def target(self, b, addr, mask):
        x, y = _w(b), _w(b, 4)
        scale = _a64_lo12(y, x & 31)
        return ((addr & ~0xFFF) + (_sext(_adr_imm(x), 21) << 12) + ((y >> 10 & 0xFFF) << scale)) & mask

    def rewrite(self, b, addr, target, mask):
        x, y = _w(b), _w(b, 4)
        scale = _a64_lo12(y, x & 31)
        x = _with_adr_imm(x, (target >> 12) - (addr >> 12))
        y = y & 0xFFC003FF | ((target & 0xFFF) >> scale) << 10
        return x.to_bytes(4, "little") + y.to_bytes(4, "little")


class A64Adrp(Kind):
    """ADRP alone: target = page(addr) + imm21 pages."""

    name = "adrp"
    prefix = rb"(?s)(?=...[\x90\xb0\xd0\xf0])"

    def match(self, b):
        return _w(b) & 0x9F000000 == 0x90000000

    def target(self, b, addr, mask):
        return ((addr & ~0xFFF) + (_sext(_adr_imm(_w(b)), 21) << 12)) & mask

    def rewrite(self, b, addr, target, mask):
        return _with_adr_imm(_w(b), (target >> 12) - (addr >> 12)).to_bytes(4, "little")


# ------------------------------------------------------------------ ARM A32

class ArmBranch(Kind):
    """B/BL<c> (cond != 1111): imm24*4, target = addr + 8 + offset."""

    name = "b/bl"
    prefix = rb"(?s)(?=...[\x0a\x0b\x1a\x1b\x2a\x2b\x3a\x3b\x4a\x4b\x5a\x5b\x6a\x6b\x7a\x7b"
    prefix += rb"\x8a\x8b\x9a\x9b\xaa\xab\xba\xbb\xca\xcb\xda\xdb\xea\xeb])"

    def match(self, b):
        x = _w(b)
        return x & 0x0E000000 == 0x0A000000 and x >> 28 != 0xF

    def target(self, b, addr, mask):
        return (addr + 8 + 4 * _sext(_w(b), 24)) & mask

    def rewrite(self, b, addr, target, mask):
        return (_w(b) & 0xFF000000 | ((target - addr - 8) >> 2) & 0xFFFFFF).to_bytes(4, "little")


class ArmLdrLit(Kind):
    """LDR Rt,[PC,#+-imm12] (A1): target = addr + 8 +- imm12."""

    local = True

    name = "ldr-lit"
    prefix = rb"(?s)(?=..[\x1f\x9f][\x05\x15\x25\x35\x45\x55\x65\x75\x85\x95\xa5\xb5\xc5\xd5\xe5])"

    def match(self, b):
        x = _w(b)
        return x & 0x0F7F0000 == 0x051F0000 and x >> 28 != 0xF

    def target(self, b, addr, mask):
        x = _w(b)
        imm = x & 0xFFF
        return (addr + 8 + (imm if x >> 23 & 1 else -imm)) & mask

    def rewrite(self, b, addr, target, mask):
        off = _sext(target - addr - 8, 32)
        up = off > 0 or (off == 0 and _w(b) >> 23 & 1)  # keeps "#-0" as it is
        x = _w(b) & 0xFF7FF000 | (1 << 23 if up else 0) | (off if up else -off) & 0xFFF
        return x.to_bytes(4, "little")


# ------------------------------------------------------------------ sets

class Arch:
    """An ordered kind list: at a position the first kind that matches wins."""

    def __init__(self, name: str, bits: int, kinds: list[Kind]):
        self.name = name
        self.bits = bits
        self.addr_mask = (1 << bits) - 1
        self.kinds = tuple(kinds)
        self.all_mask = (1 << len(kinds)) - 1
        for kind in kinds:
            kind.regex = re.compile(kind.prefix)

    def kind_names(self, mask: int) -> list[str]:
        return [k.name for i, k in enumerate(self.kinds) if mask >> i & 1]


ARCHES: dict[str, Arch] = {
    "thumb2": Arch("thumb2", 32, [
        Pointer(4),
        ThumbBranch24("bl", 0xD000, rb"[\xd0-\xdf\xf0-\xff]"),
        ThumbBranch24("b.w", 0x9000, rb"[\x90-\x9f\xb0-\xbf]"),
        ThumbBcondW(),
        ThumbLdrW(),
        ThumbLiteral8("ldr-lit", 0b01001),
        ThumbLiteral8("adr", 0b10100),
    ]),
    "aarch64": Arch("aarch64", 64, [
        Pointer(8), A64Imm26(), A64AdrpPair(), A64Adrp(), A64Adr(), A64Imm19(),
    ]),
    "arm32": Arch("arm32", 32, [Pointer(4), ArmBranch(), ArmLdrLit()]),
}
