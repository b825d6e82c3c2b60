#!/usr/bin/env python3
"""Measure delta-v1 patch streams per diff algorithm on a firmware corpus.

For every ``<pair>/old.bin,new.bin`` under the corpus folder (default
``../shared/corpus`` relative to the repository root) this makes the patch
stream with each algorithm in ``otapack.core.diff.DIFF_ALGORITHMS``, compresses
it with ``compress_lzma2(stream, DEFAULT_LZMA_DICT)`` and prints a markdown
table next to bsdiff4 (``len(bsdiff4.diff(old, new))``, bzip2 streams) and
the hdiffpatch package (raw diff compressed with its LZMA2, 1 MiB window).
Every stream is restored with ``decode_patch`` and checked.

Times are the diff (matching) alone: otadiff's C core, ``bsdiff4.diff`` and
``hdiffpatch.diff`` (best of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import lzma

import bsdiff4
import bsdiff4.core

from otapack.core.codecs import DEFAULT_LZMA_DICT, compress_lzma2
from otapack.core.diff import DIFF_ALGORITHMS, decode_patch, encode_patch

ROOT = Path(__file__).resolve().parent.parent


def best_time(fn, repeat: int):
    best = math.inf
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def hdiffpatch_size(old: bytes, new: bytes, repeat: int):
    try:
        import hdiffpatch
    except ImportError:
        return None, None
    # diff time without compression, size with LZMA2 at a 1 MiB dictionary
    t, _ = best_time(lambda: hdiffpatch.diff(old, new, "none", validate=False), repeat)
    patch = hdiffpatch.diff(old, new, hdiffpatch.Lzma2Config(level=9, window=20), validate=False)
    return len(patch), t


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--repeat", type=int, default=1, help="timing runs per diff (best of)")
    parser.add_argument("--no-verify", action="store_true", help="skip decode_patch checks")
    parser.add_argument("--pair", action="append", help="only these pairs (repeatable)")
    args = parser.parse_args(argv)

    pairs = sorted(p for p in args.corpus.iterdir() if (p / "old.bin").is_file() and (p / "new.bin").is_file())
    if args.pair:
        pairs = [p for p in pairs if p.name in args.pair]
    if not pairs:
        print(f"no pairs under {args.corpus}", file=sys.stderr)
        return 1

    rows = []
    print(
        "| pair | new size | bsdiff4 | bsdiff4 streams+xz | hdiffpatch lzma2 | otadiff+lzma2 | bsdiff4-ctrl+lzma2 "
        "| otadiff / bsdiff4 | otadiff / (b4+xz) | otadiff diff s | bsdiff4.diff s | hdiffpatch diff s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pair in pairs:
        old = (pair / "old.bin").read_bytes()
        new = (pair / "new.bin").read_bytes()
        tb, bs = best_time(lambda: bsdiff4.diff(old, new), args.repeat)
        # bsdiff4's three raw streams, each compressed with xz -9e
        b4xz = sum(
            len(lzma.compress(part, preset=9 | lzma.PRESET_EXTREME)) for part in bsdiff4.core.diff(old, new)
        )
        hsize, th = hdiffpatch_size(old, new, args.repeat)
        sizes = {}
        times = {}
        for name, algo in DIFF_ALGORITHMS.items():
            t, (ctrl, diff, extra) = best_time(lambda: algo.function(old, new), args.repeat)
            stream = encode_patch(ctrl, diff, extra)
            if not args.no_verify and decode_patch(old, stream, len(new)) != new:
                raise SystemExit(f"{pair.name}: {name} stream does not restore new.bin")
            sizes[name] = len(compress_lzma2(stream, DEFAULT_LZMA_DICT))
            times[name] = t
        row = dict(
            pair=pair.name, new=len(new), bsdiff4=len(bs), b4xz=b4xz, hdiff=hsize,
            ota=sizes["otadiff"], b4ctrl=sizes["bsdiff4"],
            t_ota=times["otadiff"], t_b4=tb, t_h=th,
        )
        rows.append(row)
        print(
            f"| {row['pair']} | {row['new']:,} | {row['bsdiff4']:,} | {row['b4xz']:,} | "
            f"{'-' if hsize is None else format(hsize, ',')} | {row['ota']:,} | {row['b4ctrl']:,} | "
            f"{row['ota'] / row['bsdiff4']:.3f} | {row['ota'] / row['b4xz']:.3f} | {row['t_ota']:.3f} | {row['t_b4']:.3f} | "
            f"{'-' if th is None else format(th, '.3f')} |",
            flush=True,
        )
    g = {k: geomean([r[k] for r in rows]) for k in ("bsdiff4", "b4xz", "ota", "b4ctrl")}
    gh = geomean([r["hdiff"] for r in rows]) if all(r["hdiff"] for r in rows) else None
    gmin = geomean([min(v for v in (r["bsdiff4"], r["hdiff"]) if v) for r in rows])
    print(
        f"| **geometric mean** | | {g['bsdiff4']:,.0f} | {g['b4xz']:,.0f} | {'-' if gh is None else format(gh, ',.0f')} | "
        f"{g['ota']:,.0f} | {g['b4ctrl']:,.0f} | {g['ota'] / g['bsdiff4']:.3f} | {g['ota'] / g['b4xz']:.3f} | "
        f"{sum(r['t_ota'] for r in rows):.2f} (sum) | {sum(r['t_b4'] for r in rows):.2f} (sum) | "
        f"{sum(r['t_h'] or 0 for r in rows):.2f} (sum) |"
    )
    print(f"\ngeometric mean of min(bsdiff4, hdiffpatch) per pair: {gmin:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
