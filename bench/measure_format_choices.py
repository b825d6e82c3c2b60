"""Measure the delta-v1 layout choices: interleaved vs three streams vs windows,
fixed-width vs varint control, and LZMA lc/lp/pb.  Results go into
docs/formats/delta-v1.md.

    python bench/measure_format_choices.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import lzma
import math
import struct
from pathlib import Path

from otapack.core.codecs import DEFAULT_LZMA_DICT, lzma2_filters
from otapack.core.diff import DIFF_ALGORITHMS, make_patch
from otapack.core.formats.varint import encode_varint, zigzag

ROOT = Path(__file__).resolve().parent.parent
TUNINGS = ((3, 0, 2), (1, 0, 0), (0, 0, 0))


def raw(data: bytes, lc: int, lp: int, pb: int) -> int:
    return len(lzma.compress(data, format=lzma.FORMAT_RAW, filters=lzma2_filters(DEFAULT_LZMA_DICT, lc, lp, pb)))


def fixed(t) -> bytes:
    return struct.pack("<IIi", *t)


def var(t) -> bytes:
    return encode_varint(t[0]) + encode_varint(t[1]) + encode_varint(zigzag(t[2]))


def layouts(ctrl, diff, extra):
    """Each candidate layout as a function of (control encoder) -> list of streams."""
    def interleaved(enc):
        parts, d, e = [], 0, 0
        for t in ctrl:
            parts += [enc(t), diff[d : d + t[0]], extra[e : e + t[1]]]
            d, e = d + t[0], e + t[1]
        return [b"".join(parts)]

    def three(enc):
        return [b"".join(enc(t) for t in ctrl), diff, extra]

    return {"interleaved": interleaved, "three streams": three}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    args = ap.parse_args()
    results: dict[str, list[float]] = {}
    rows = []
    for pair in sorted(Path(args.corpus).iterdir()):
        if not (pair / "old.bin").exists():
            continue
        old, new = (pair / "old.bin").read_bytes(), (pair / "new.bin").read_bytes()
        ctrl, diff, extra = DIFF_ALGORITHMS["otadiff"].function(old, new)
        sizes = {}
        for name, layout in layouts(ctrl, diff, extra).items():
            for enc_name, enc in (("fixed", fixed), ("varint", var)):
                streams = layout(enc)
                for lc, lp, pb in TUNINGS:
                    sizes[f"{name}, {enc_name}, lc{lc} lp{lp} pb{pb}"] = sum(raw(s, lc, lp, pb) for s in streams)
        stream = make_patch(old, new)
        for lc, lp, pb in TUNINGS:
            sizes[f"delta-v1 64 KiB windows, varint, lc{lc} lp{lp} pb{pb}"] = raw(stream, lc, lp, pb)
        base = sizes["interleaved, fixed, lc3 lp0 pb2"]
        for key, value in sizes.items():
            results.setdefault(key, []).append(value / base)
        best = min(sizes, key=sizes.get)
        rows.append((pair.name, base, sizes["three streams, varint, lc1 lp0 pb0"],
                     min(v for k, v in sizes.items() if k.startswith("delta-v1")), best))
    print("| pair | interleaved fixed lc3/lp0/pb2 | three streams varint lc1/lp0/pb0 | delta-v1 (best lc/lp/pb) | best layout |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]:,} | {row[2]:,} | {row[3]:,} | {row[4]} |")
    print()
    print("| layout | geometric mean size vs interleaved fixed lc3/lp0/pb2 |")
    print("|---|---:|")
    for key, ratios in sorted(results.items(), key=lambda kv: math.prod(kv[1]) ** (1 / len(kv[1]))):
        print(f"| {key} | {math.prod(ratios) ** (1 / len(ratios)):.4f} |")


if __name__ == "__main__":
    main()
