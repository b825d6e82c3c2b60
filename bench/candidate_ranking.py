#!/usr/bin/env python3
"""Does ranking the raw-coded candidates by a fast LZMA pass change any package? (issue 17)

The builder runs preset-9e passes only on the raw-coded patch streams whose
fast-pass size is within ``RANK_MARGIN_PER_MILLE`` of the smallest
(``otapack.core.build._smallest_patch``).  For every corpus pair (and the
pairs in tests/fixtures/corpus) this builds the package twice in this
process, as ``otapack diff --no-verify`` does (PAC and other containers
through the CLI; a raw pair of different sizes as bench/_worker.py's slot
build): ranked (the default) and unranked (every candidate gets 9e, as
before), and reports per pair:

- whether the two packages are byte-identical, and their sizes;
- the CPU seconds of the 9e passes of each build (thread CPU time);
- per candidate set with two or more raw-coded streams, the margin the
  fast pass needed to keep the 9e-smallest of them (the largest over the
  corpus must stay under the builder's margin for the choice to be safe).

    python bench/candidate_ranking.py                 # table on stdout
    python bench/candidate_ranking.py --json out.json

Exit status 1 if any package differs.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import otapack.core.build as build  # noqa: E402
from otapack.core.codecs import compress_rank_size, lzma2_filters  # noqa: E402
from otapack.core.formats.delta import DIFF_CODINGS, DeltaHeader  # noqa: E402

FIXTURE_PAIRS = (("fixture-programmer-0.8.0--0.9.0", "programmer-0.8.0.bin", "programmer-0.9.0.bin"),
                 ("fixture-synthesizer-1--2", "synthesizer-1.bin", "synthesizer-2.bin"))


def pairs(corpus: Path):
    for pair in sorted(p for p in corpus.iterdir() if p.is_dir()):
        for old, new in (("old.pac", "new.pac"), ("old.bin", "new.bin")):
            if (pair / old).is_file() and (pair / new).is_file():
                yield pair.name, pair / old, pair / new
                break
    fixtures = HERE.parent / "tests" / "fixtures" / "corpus"
    for name, old, new in FIXTURE_PAIRS:
        yield name, fixtures / old, fixtures / new


class NineECost:
    """Thread CPU seconds spent in preset-9e ``lzma.compress`` calls while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.lock = threading.Lock()
        self.real = lzma.compress

    def __enter__(self):
        def timed(data, *args, **kwargs):
            start = time.thread_time()
            try:
                return self.real(data, *args, **kwargs)
            finally:
                filters = kwargs.get("filters") or [{}]
                if filters[0].get("preset") == 9 | lzma.PRESET_EXTREME and "mode" not in filters[0]:
                    with self.lock:
                        self.seconds += time.thread_time() - start
        lzma.compress = timed
        return self

    def __exit__(self, *exc) -> None:
        lzma.compress = self.real


def build_once(old: Path, new: Path, out: Path, mode: str) -> bytes:
    if mode == "cli":
        from otapack.cli import main as cli_main

        if cli_main(["-q", "diff", "--no-verify", str(old), str(new), "-o", str(out)]) != 0:
            raise SystemExit(f"otapack diff failed on {old.parent.name}")
    else:
        import _worker

        if _worker.main(["otapack-slot-diff", str(old), str(new), str(out)]) != 0:
            raise SystemExit(f"slot build failed on {old.parent.name}")
    return out.read_bytes()


def margins_needed(calls: list) -> list[float]:
    """Per candidate set with 2+ raw-coded streams: how far (fraction) above the
    smallest fast-pass size the 9e-smallest raw stream's fast size was."""
    out = []
    for streams, tunings, lzma_dict in calls:
        raw = [s for s in streams if DeltaHeader.parse(s).diff_coding == DIFF_CODINGS["raw"]]
        if len(raw) < 2:
            continue
        sizes = []
        for s in raw:
            dict_size = build.dict_for(len(s), lzma_dict)
            full = len(lzma.compress(s, format=lzma.FORMAT_RAW, filters=lzma2_filters(dict_size, *tunings[0])))
            sizes.append((full, compress_rank_size(s, dict_size, tunings[0])))
        least_fast = min(fast for _, fast in sizes)
        best_fast = min(sizes)[1]
        out.append(best_fast / least_fast - 1)
    return out


def measure(corpus: Path, only: list[str]) -> list[dict]:
    from peers import Case, otapack_mode

    rows = []
    real_smallest = build._smallest_patch
    real_margin = build.RANK_MARGIN_PER_MILLE
    work = Path(tempfile.mkdtemp(prefix="otapack-ranking-"))
    for name, old, new in pairs(corpus):
        if only and name not in only:
            continue
        mode = otapack_mode(Case(name, old, new, None, work))
        calls: list = []

        def spy(streams, tunings, lzma_dict, workers=build.SERIAL, similar=()):
            calls.append((list(streams), tunings, lzma_dict))
            return real_smallest(streams, tunings, lzma_dict, workers, similar)

        build._smallest_patch = spy
        try:
            with NineECost() as ranked_cost:
                ranked = build_once(old, new, work / "ranked.pkg", mode)
            ranked_calls, calls[:] = list(calls), []
            build.RANK_MARGIN_PER_MILLE = 10 ** 9  # no candidate ranked out: the builder before ranking
            with NineECost() as plain_cost:
                plain = build_once(old, new, work / "plain.pkg", mode)
        finally:
            build._smallest_patch = real_smallest
            build.RANK_MARGIN_PER_MILLE = real_margin
        needed = margins_needed(ranked_calls)
        rows.append({"name": name, "identical": ranked == plain, "ranked_size": len(ranked),
                     "unranked_size": len(plain), "ranked_9e_cpu": round(ranked_cost.seconds, 3),
                     "unranked_9e_cpu": round(plain_cost.seconds, 3),
                     "margin_needed": round(max(needed), 5) if needed else None})
        print(json.dumps(rows[-1], sort_keys=True), file=sys.stderr, flush=True)
    return rows


def render(rows: list[dict]) -> str:
    lines = [f"Margin in the builder: {build.RANK_MARGIN_PER_MILLE / 10:.1f} %.", "",
             "| input | package (B) | byte-identical to unranked | 9e CPU s ranked | 9e CPU s unranked "
             "| fast-pass margin needed |", "|---|---:|---|---:|---:|---:|"]
    for r in rows:
        needed = "-" if r["margin_needed"] is None else f"{100 * r['margin_needed']:.2f} %"
        lines.append(f"| {r['name']} | {r['ranked_size']:,} | {'yes' if r['identical'] else 'NO'} | "
                     f"{r['ranked_9e_cpu']:.2f} | {r['unranked_9e_cpu']:.2f} | {needed} |")
    ranked = sum(r["ranked_9e_cpu"] for r in rows)
    plain = sum(r["unranked_9e_cpu"] for r in rows)
    lines.append(f"| all | | {sum(r['identical'] for r in rows)} of {len(rows)} | {ranked:.2f} | {plain:.2f} | "
                 f"{100 * max((r['margin_needed'] or 0) for r in rows):.2f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=HERE.parent.parent / "shared" / "corpus")
    parser.add_argument("--pairs", nargs="*", default=[], help="only these pairs")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    rows = measure(args.corpus, args.pairs)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    print(render(rows))
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
