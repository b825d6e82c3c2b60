"""Every corpus pair, staged and in place, through both restores, interrupted and not.

    python bench/corpus_cuts.py                                # every pair, 12 sampled cut cases each
    python bench/corpus_cuts.py --cases 40 --seed 3 --pairs synthesizer-1--2
    python bench/corpus_cuts.py --json bench/corpus_cuts.json --docs docs/verifier.md

For each pair of the corpus (``<pair>/old.bin``, ``<pair>/new.bin``) the
image goes into one partition whose slot is the larger image rounded up to
the 4 KiB erase block (a Unisoc PAC pair, ``old.pac``/``new.pac``: its
partitions and XML slots), and two packages are built: the staged delta
(``otapack diff``) and the in-place delta (``--scratch-flash``, default 16 KiB;
a partition the builder sends in full instead is reported as such).  Each
package is restored

- uninterrupted by the Python restore and the C library (``engine="both"``:
  the same verdict, checks and flash), compared with NEW;
- interrupted: ``powercut.sweep`` with ``--cases`` sampled cases of 1 to 5
  clean or torn cuts (the seed is printed), both restores in lockstep on
  their own simulated NOR flash, every boot compared byte for byte, every
  sweep assertion checked (docs/verifier.md, "The power-cut sweep").

Only outcomes are counted, never time.  Exit status 1 when any restore or
any cut case fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _corpus import CORPUS_HELP, DEFAULT_CORPUS, corpus_pairs, pair_images  # noqa: E402
from _sections import replace_section  # noqa: E402

from otapack.core import powercut  # noqa: E402
from otapack.core.build import PackageOptions, build_delta  # noqa: E402
from otapack.core.container import read_package  # noqa: E402
from otapack.core.verify import DeviceOptions, verify_package  # noqa: E402
from otapack.errors import OtapackError  # noqa: E402

SECTION = "corpus-cuts"
BLOCK = 0x1000


def measure(pair: Path, scratch: int, cases: int, seed: int) -> list[dict]:
    old, new = pair_images(pair, BLOCK)
    rows = []
    for kind, options in (("staged", PackageOptions()), ("in-place", PackageOptions(scratch_flash=scratch))):
        package = build_delta(old, new, options)
        header = read_package(package, check_digest=False)
        report = verify_package(package, old, new, DeviceOptions(engine="both"))
        try:
            cut = powercut.sweep(package, old, cases, seed=seed, geometry=powercut.Geometry(engine="both"))
            first = None if cut.first_failure is None else cut.first_failure.problem
        except OtapackError as exc:  # the uninterrupted reference run failed: no case could run
            cut = powercut.SweepReport(0, seed=seed)
            cut.tried, cut.failures, first = cases, cases, f"reference run: {exc}"
        rows.append({
            "pair": pair.name, "kind": kind, "new_size": sum(len(p.data) for p in new.partitions),
            "package_bytes": len(package),
            "operation": ", ".join(sorted({p.operation for p in header.partitions if p.operation != "keep"})), "scratch_flash": header.header.scratch_flash,
            "restored": report.ok, "restore_error": None if report.ok else str(report.error),
            "flash_operations": cut.operations, "cases": cut.tried, "survived": cut.survived,
            "failures": cut.failures, "first_failure": first,
        })
        print(f"{pair.name} {kind}: {rows[-1]['operation']} {len(package):,} B, restored "
              f"{'ok' if report.ok else 'FAILED'}, cuts {cut.survived}/{cut.tried} over {cut.operations} ops",
              file=sys.stderr, flush=True)
    return rows


def render(result: dict) -> str:
    rows = result["rows"]
    bad = [r for r in rows if not r["restored"] or r["failures"]]
    out = ["## Every corpus pair through both restores, interrupted and not", "",
           f"`python bench/corpus_cuts.py --cases {result['cases']} --seed {result['seed']} --scratch "
           f"{result['scratch']} --docs docs/verifier.md`: each pair of the corpus as one partition (slot: the "
           "larger image in 4 KiB erase blocks), the staged delta and the in-place delta "
           f"(`--scratch-flash {result['scratch']}`; a Unisoc PAC pair: its partitions, the operations other than keep listed), each restored by the Python restore and the C library "
           "(the same verdict, checks and flash, compared with NEW), then swept with sampled power cuts (1 to 5 "
           "clean or torn cuts per case, both restores in lockstep, every boot compared byte for byte).", "",
           "| pair | new (B) | delta | operation | package (B) | scratch (B) | both restores | flash ops | "
           "cut cases survived |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['pair']} | {r['new_size']:,} | {r['kind']} | {r['operation']} | {r['package_bytes']:,} | "
                   f"{r['scratch_flash']:,} | {'NEW' if r['restored'] else 'FAILED'} | {r['flash_operations']:,} | "
                   f"{r['survived']}/{r['cases']} |")
    cases = sum(r["cases"] for r in rows)
    out += ["", f"{len(rows)} packages, {cases:,} cut cases: "
            + ("every package restored to NEW by both restores and every case survived."
               if not bad else f"{len(bad)} packages FAILED: "
               + "; ".join(f"{r['pair']} {r['kind']}: {r['restore_error'] or r['first_failure']}" for r in bad))]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=CORPUS_HELP)
    parser.add_argument("--pairs", nargs="*", default=[], help="only these pairs")
    parser.add_argument("--cases", type=int, default=12, help="sampled cut cases per package")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scratch", type=int, default=16384, help="the in-place delta's scratch budget (bytes)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--from-json", type=Path, help="render figures measured before")
    parser.add_argument("--docs", type=Path, help="rewrite this file's corpus-cuts section")
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        pacs = sorted(p for p in args.corpus.iterdir() if (p / "old.pac").is_file())
        pairs = [p for p in corpus_pairs(args.corpus) + pacs if not args.pairs or p.name in args.pairs]
        result = {"cases": args.cases, "seed": args.seed, "scratch": args.scratch, "rows": []}
        for pair in pairs:
            result["rows"] += measure(pair, args.scratch, args.cases, args.seed)
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    text = render(result)
    print(text)
    if args.docs:
        args.docs.write_text(replace_section(args.docs.read_text(), SECTION, text))
    return 1 if any(not r["restored"] or r["failures"] for r in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
