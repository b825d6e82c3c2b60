#!/usr/bin/env python3
"""Constant tables of src/ota_sha256.c and src/ota_crc32.c, from their definitions.

SHA-256: K = first 32 fractional bits of the cube roots of the first 64
primes, IV = of the square roots of the first 8 (FIPS 180-4 4.2.2, 5.3.3).
CRC-32: remainders of the reflected polynomial 0xEDB88320, byte and nibble.

`gen_tables.py --check` exits 1 when a committed source does not contain
exactly these tables (the test suite runs it); without it, prints them.
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def primes(n):
    out, k = [], 2
    while len(out) < n:
        if all(k % p for p in out):
            out.append(k)
        k += 1
    return out


def iroot(x, r):
    lo, hi = 0, 1
    while hi ** r <= x:
        hi *= 2
    while lo < hi - 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if mid ** r <= x else (lo, mid)
    return lo


def crc_table():
    out = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
        out.append(c)
    return out


TABLES = {
    "sha256 K": ("ota_sha256.c", [iroot(p << 96, 3) & 0xFFFFFFFF for p in primes(64)]),
    "sha256 IV": ("ota_sha256.c", [iroot(p << 64, 2) & 0xFFFFFFFF for p in primes(8)]),
    "crc32 byte": ("ota_crc32.c", crc_table()),
    "crc32 nibble": ("ota_crc32.c", [crc_table()[i << 4] for i in range(16)]),
}


def c_rows(values):
    return "\n".join(
        "    " + ", ".join(f"0x{v:08x}u" for v in values[i:i + 4]) + "," for i in range(0, len(values), 4)
    )


def main(argv):
    if argv[1:] == ["--check"]:
        bad = 0
        for name, (fname, values) in TABLES.items():
            text = (SRC / fname).read_text()
            words = [int(w, 16) for w in re.findall(r"0x([0-9a-f]{8})u", text)]
            n = len(values)
            if not any(words[i:i + n] == values for i in range(len(words) - n + 1)):
                print(f"{fname}: table {name} differs from its definition", file=sys.stderr)
                bad = 1
        if not bad:
            print("tables: all match their definitions")
        return bad
    for name, (fname, values) in TABLES.items():
        print(f"/* {name} ({fname}) */\n{c_rows(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
