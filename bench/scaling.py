#!/usr/bin/env python3
"""How create time and peak memory grow with image size (1, 4, 16, 64 MiB).

Images are made from real corpus data: ``old`` tiles the distinct corpus
old.bin files (sorted by pair name, de-duplicated by content) up to the size;
repetition k of the tile is XORed with the byte k, which keeps the data's
structure (matches and entropy inside a copy) but stops later copies from
matching earlier ones.  ``new`` applies deterministic "realistic" edits
(``random.Random(SEED + MiB)``): roughly every 256 KiB one edit of 0.5-8 KiB
(insert bytes taken from the corpus new.bin files XOR 0x5A, so that they are
not in ``old``; delete; replace; or a
4-16 KiB region of changed 32-bit words as after a relocation), plus one
block of size/32 (at most 1 MiB) moved from about 1/4 to about 3/4 of the
image.

Each tool runs in its own child process (bench/peers.py: run_measured).
otapack runs through bench/_worker.py ``otapack-slot-diff`` (one raw
partition, slot = max(old, new)): ``otapack diff`` refuses raw images whose
size changed.  bsdiff4 is skipped at a size whose extrapolated time (from the
previous size, n log n) exceeds ``BSDIFF4_LIMIT`` seconds.

    python bench/scaling.py                    # prints the markdown table
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import WORKER, measure  # noqa: E402

MIB = 1 << 20
SEED = 20240604
BSDIFF4_LIMIT = 300.0
TOOLS = ("otapack", "bsdiff4", "hdiffpatch")


def corpus_data(corpus: Path, name: str) -> bytes:
    seen, parts = set(), []
    for f in sorted(corpus.glob(f"*/{name}")):
        data = f.read_bytes()
        digest = hashlib.sha256(data).digest()
        if digest not in seen:
            seen.add(digest)
            parts.append(data)
    return b"".join(parts)


def tiled(base: bytes, size: int) -> bytes:
    out, k = [], 0
    while sum(map(len, out)) < size:
        table = bytes((i ^ (k & 0xFF)) for i in range(256))
        out.append(base.translate(table))
        k += 1
    return b"".join(out)[:size]


def edited(old: bytes, donor: bytes, rng: random.Random) -> bytes:
    size = len(old)
    pieces, pos = [], 0
    step = 256 * 1024
    at = rng.randrange(step // 2, step)
    while at < size:
        pieces.append(old[pos:at])
        n = rng.randrange(512, 8 * 1024)
        kind = rng.choice(("insert", "delete", "replace", "words"))
        if kind == "insert":
            start = rng.randrange(0, len(donor) - n)
            pieces.append(donor[start:start + n])
            pos = at
        elif kind == "delete":
            pos = min(size, at + n)
        elif kind == "replace":
            start = rng.randrange(0, len(donor) - n)
            pieces.append(donor[start:start + n])
            pos = min(size, at + n)
        else:  # relocated pointers: every few words of a region change
            region = bytearray(old[at:at + rng.randrange(4096, 16384)])
            for i in range(0, len(region) - 4, 4 * rng.randrange(2, 16)):
                v = int.from_bytes(region[i:i + 4], "little") + rng.choice((4, 8, 16, 0x100, 0x1000))
                region[i:i + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")
            pieces.append(bytes(region))
            pos = at + len(region)
        at = pos + rng.randrange(step // 2, step + step // 2)
    pieces.append(old[pos:])
    new = b"".join(pieces)
    # one moved block: size/32 (<= 1 MiB) from ~1/4 to ~3/4
    blen = min(MIB, len(new) // 32)
    a = len(new) // 4
    block = new[a:a + blen]
    rest = new[:a] + new[a + blen:]
    b = (3 * len(rest)) // 4
    return rest[:b] + block + rest[b:]


def make_images(corpus: Path, work: Path, mib: int) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    old_p, new_p = work / f"old-{mib}M.bin", work / f"new-{mib}M.bin"
    if not (old_p.is_file() and new_p.is_file()):
        old = tiled(corpus_data(corpus, "old.bin"), mib * MIB)
        # inserted code is new code: XOR 0x5A keeps the donor's structure but no tile
        # (XOR 0..k, k < 0x5A for any size here) contains it
        donor = corpus_data(corpus, "new.bin").translate(bytes(i ^ 0x5A for i in range(256)))
        new = edited(old, donor, random.Random(SEED + mib))
        old_p.write_bytes(old)
        new_p.write_bytes(new)
    return old_p, new_p


def commands(tool: str, old: Path, new: Path, patch: Path, out: Path):
    if tool == "otapack":
        return (WORKER + ["otapack-slot-diff", str(old), str(new), str(patch)],
                WORKER + ["otapack-slot-verify", str(patch), str(old), str(new)])
    return (WORKER + [f"{tool}-create", str(old), str(new), str(patch)],
            WORKER + [f"{tool}-apply", str(old), str(patch), str(out)])


def run(corpus: Path, work: Path, sizes: list[int], repeat: int = 1) -> list[dict]:
    rows, last_b4 = [], None
    for mib in sizes:
        old, new = make_images(corpus, work, mib)
        new_size = new.stat().st_size
        for tool in TOOLS:
            row = {"label": f"{mib} MiB", "mib": mib, "tool": tool, "new_size": new_size}
            rows.append(row)
            if tool == "bsdiff4" and last_b4:
                (pm, pt) = last_b4
                n0, n1 = pm * MIB, mib * MIB
                guess = pt * (n1 * math.log(n1)) / (n0 * math.log(n0))
                if guess > BSDIFF4_LIMIT:
                    row["skip"] = f"skipped: extrapolated {guess:.0f} s > {BSDIFF4_LIMIT:.0f} s"
                    print(f"scaling {mib:>3} MiB {tool:10} {row['skip']}", flush=True)
                    continue
            patch, out = work / f"{tool}-{mib}M.patch", work / f"{tool}-{mib}M.out"
            create_cmd, apply_cmd = commands(tool, old, new, patch, out)
            c = measure(create_cmd, repeat, timeout=1800)
            if c.rc != 0:
                row["skip"] = f"create failed (exit {c.rc}): {c.stderr[-160:]}"
                print(f"scaling {mib:>3} MiB {tool:10} {row['skip']}", flush=True)
                continue
            a = measure(apply_cmd, repeat, timeout=1800)
            ok = a.rc == 0 and (tool == "otapack" or filecmp.cmp(out, new, shallow=False))
            row.update(seconds=c.seconds, rss_kib=c.rss_kib, bytes=patch.stat().st_size,
                       apply_seconds=a.seconds, apply_rss_kib=a.rss_kib, ok=ok)
            if tool == "bsdiff4":
                last_b4 = (mib, c.seconds)
            print(f"scaling {mib:>3} MiB {tool:10} {row['bytes']:>11,} B  create {c.seconds:8.2f} s "
                  f"{c.rss_kib / 1024:8.1f} MiB  apply {a.seconds:7.2f} s {a.rss_kib / 1024:7.1f} MiB"
                  + ("" if ok else "  RESTORE FAILED"), flush=True)
            for f in (patch, out):
                f.unlink(missing_ok=True)
    return rows


def render(rows: list[dict]) -> str:
    L = ["## Scaling with image size\n",
         "Synthetic images from real corpus data (see `bench/scaling.py`: distinct corpus old.bin files tiled to "
         "the size, each repetition XORed with its index; new = an edit of 0.5-8 KiB about every 256 KiB "
         "(insert/replace with corpus new.bin data not present in old, delete, relocated words) plus one moved block of size/32, fixed seed). otapack: "
         "package through the API as one raw partition (slot = max(old, new)); apply = device restore + "
         "comparison (verify). bsdiff4: BSDIFF40. hdiffpatch: `Lzma2Config()`.\n",
         "| image | tool | patch bytes | create (s) | create peak RSS (MiB) | RSS / new size | "
         "apply (s) | apply peak RSS (MiB) | restores |",
         "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "skip" in r:
            L.append(f"| {r['label']} | {r['tool']} | {r['skip']} | | | | | | |")
            continue
        L.append(f"| {r['label']} | {r['tool']} | {r['bytes']:,} | {r['seconds']:.2f} | {r['rss_kib'] / 1024:.1f} | "
                 f"{r['rss_kib'] * 1024 / r['new_size']:.2f}× | {r['apply_seconds']:.2f} | "
                 f"{r['apply_rss_kib'] / 1024:.1f} | {'yes' if r['ok'] else 'NO'} |")
    # growth exponent between consecutive sizes: time ~ size^k
    by_tool: dict[str, list[dict]] = {}
    for r in rows:
        if "skip" not in r:
            by_tool.setdefault(r["tool"], []).append(r)
    growth = []
    for tool, rs in by_tool.items():
        steps = [f"{a['mib']}→{b['mib']} MiB: {math.log(b['seconds'] / a['seconds']) / math.log(b['mib'] / a['mib']):.2f}"
                 for a, b in zip(rs, rs[1:])]
        if steps:
            growth.append(f"- {tool}: " + ", ".join(steps))
    if growth:
        L.append("\nCreate-time growth exponent k (time ∝ size^k) between consecutive sizes:\n")
        L.extend(growth)
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    ap.add_argument("--work", type=Path, default=Path("/tmp/otapack-bench-scaling"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 64], metavar="MIB")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    print(render(run(args.corpus.resolve(), args.work, args.sizes, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
