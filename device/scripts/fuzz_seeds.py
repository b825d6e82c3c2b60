#!/usr/bin/env python3
"""Seed inputs for tests/fuzz_lzma2.c: valid raw LZMA2 streams (Python's lzma,
i.e. liblzma) over several data kinds and lc/lp/pb settings, each with the
two control bytes the target reads first (dictionary choice, feeding mode).

    python3 device/scripts/fuzz_seeds.py DIR [COUNT]
"""
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import otadev  # noqa: E402


def main(argv):
    out = Path(argv[1])
    count = int(argv[2]) if len(argv) > 2 else 48
    out.mkdir(parents=True, exist_ok=True)
    r = random.Random(20261201)
    for i in range(count):
        n = r.randrange(1, 12000)
        kind = i % 4
        if kind == 0:
            data = bytes(97 + r.randrange(4) for _ in range(n))
        elif kind == 1:
            data = r.randbytes(max(1, n // 8)) * 8
        elif kind == 2:
            data = bytes(n)
        else:
            data = r.randbytes(n)
        lc, lp, pb = r.choice([(3, 0, 2), (1, 0, 0), (0, 2, 2), (0, 4, 0), (4, 0, 4), (2, 2, 2)])
        stream = otadev.lzma2_raw(data, 65536, preset=r.randrange(10), extreme=bool(r.randrange(2)), lc=lc, lp=lp, pb=pb)
        # byte 0: 4 selects the 64 KiB dictionary (the stream's); byte 1: feeding mode
        (out / f"seed{i:03d}").write_bytes(bytes([4, r.randrange(256)]) + stream)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
