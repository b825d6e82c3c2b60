"""In-place deltas against staged ones, per corpus pair (docs/in-place-deltas.md,
"Measured: in-place against staged"; docs/formats/delta-in-place.md).

    python bench/inplace.py                                  # every pair under ../shared/corpus, 16 KiB scratch
    python bench/inplace.py --pairs synthesizer-1--2 --budget 8192 --budget 16384 --json out.json

For each pair (one partition, slot = the larger image rounded up to 4 KiB
sectors; a Unisoc PAC pair: its partitions and XML slots, summed): the default (staged) delta package, then the package built with
``scratch_flash`` = each budget, which the builder makes in place (its
staged copy needs the whole partition).  Printed: both sizes, their ratio,
the scratch the in-place package declares (saves + the swap sector, in
sectors) against the partition's sectors, and whether the Python restore
(without a journal) reproduces NEW from it.  Last: the geometric mean of
in-place / staged per budget (the issue's target: <= 1.03).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import CORPUS_HELP, DEFAULT_CORPUS, corpus_pairs, pair_images  # noqa: E402

from otapack.core.build import PackageOptions, build_delta  # noqa: E402
from otapack.core.container import read_package  # noqa: E402
from otapack.core.verify import verify_package  # noqa: E402

SECTOR = 4096


def measure(pair: Path, budgets: list[int], verify: bool) -> dict:
    old, new = pair_images(pair, SECTOR)
    started = time.perf_counter()
    staged = build_delta(old, new, PackageOptions())
    row = {"pair": pair.name, "sectors": sum(-(-p.size // SECTOR) for p in new.partitions), "staged": len(staged),
           "staged_seconds": round(time.perf_counter() - started, 2), "budgets": {}}
    for budget in budgets:
        started = time.perf_counter()
        package = build_delta(old, new, PackageOptions(scratch_flash=budget))
        seconds = time.perf_counter() - started
        parsed = read_package(package)
        operation = ",".join(sorted({r.operation for r in parsed.partitions if r.operation in ("delta", "delta-v2",
                                                                                            "delta-in-place")}))
        cell = {"bytes": len(package), "ratio": round(len(package) / len(staged), 4), "operation": operation or "-",
                "scratch_sectors": parsed.header.scratch_flash // SECTOR, "seconds": round(seconds, 2)}
        if verify:
            report = verify_package(package, old, new)
            cell["restores"] = report.ok
        row["budgets"][budget] = cell
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=CORPUS_HELP)
    parser.add_argument("--pairs", nargs="*")
    parser.add_argument("--budget", type=int, action="append", help="scratch budget in bytes (default 16384)")
    parser.add_argument("--no-verify", action="store_true", help="skip the Python restore of each package")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    budgets = args.budget or [4 * SECTOR]
    rows = []
    head = " | ".join(f"in place @{b // SECTOR} sectors: bytes (x staged), scratch sectors, restores" for b in budgets)
    print(f"| pair | sectors | staged bytes | {head} |")
    print("|---|---|---|" + "---|" * len(budgets))
    pacs = sorted(p for p in args.corpus.iterdir() if (p / "old.pac").is_file()) if args.corpus.is_dir() else []
    for pair in corpus_pairs(args.corpus) + pacs:
        if args.pairs and pair.name not in args.pairs:
            continue
        row = measure(pair, budgets, not args.no_verify)
        rows.append(row)
        cells = []
        for b in budgets:
            c = row["budgets"][b]
            what = "" if c["operation"] == "delta-in-place" else f" ({c['operation']})"
            cells.append(f"{c['bytes']} ({c['ratio']:.3f}){what}, {c['scratch_sectors']} of {row['sectors']}, "
                         f"{'yes' if c.get('restores', True) else 'NO'}")
        print(f"| {row['pair']} | {row['sectors']} | {row['staged']} | " + " | ".join(cells) + " |", flush=True)
    for b in budgets:
        ratios = [r["budgets"][b]["ratio"] for r in rows]
        if ratios:
            mean = math.exp(sum(map(math.log, ratios)) / len(ratios))
            print(f"geometric mean in place / staged at {b} bytes of scratch: {mean:.4f} over {len(ratios)} pairs")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
