#!/usr/bin/env python3
"""Issue 16's size targets, measured on otapack's own packages: ``otapack diff
--arch auto`` (delta-v2 where it pays, everything in the package included)
against the smallest patch of every peer, in the same run.

Per corpus pair (``measure.cases``: raw pairs through the CLI, others and the
Unisoc PAC pairs as raw partitions at their addresses through the API):

- today: ``otapack diff`` with its defaults (delta-v1 only);
- v2: the same with ``--arch auto`` (each partition's arch, else a trial of
  thumb2 and aarch64; kept only where smaller), run through the Python
  restore, which must give NEW byte for byte (the run fails otherwise);
- the peers as ``measure.run_peers`` runs them (bsdiff4, detools, detools -a
  hdiffpatch, detools --data-format, hdiffpatch, zstd --patch-from).

Usage: python bench/transforms/packages.py [--corpus DIR] [--pairs NAME...]
           [--json OUT.json] [--docs docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure as m  # noqa: E402  (puts the repository and bench/ on the path)

from _sections import replace_section  # noqa: E402
from otapack.core.build import PackageOptions  # noqa: E402
from otapack.core.container import read_package  # noqa: E402
from otapack.core.model import FirmwareImage  # noqa: E402
from otapack.core.transforms.summary import transform_summary  # noqa: E402
from otapack.core.verify import verify_package  # noqa: E402

SECTION = "transform-packages"
TARGET_BEST = 0.80  # geometric mean of package / smallest patch of any peer
TARGET_PLAIN = 1.00  # no pair above the best plain peer


def v2_package(case: dict, work: Path) -> tuple[bytes, FirmwareImage, FirmwareImage]:
    if case["mode"] == "cli":
        out = work / "v2.pack"
        subprocess.run([str(Path(sys.executable).parent / "otapack"), "-q", "diff", "--no-verify", "--arch", "auto",
                        str(case["old_path"]), str(case["new_path"]), "-o", str(out)], check=True)
        old, new = (FirmwareImage.single(p.read_bytes()) for p in (case["old_path"], case["new_path"]))
        return out.read_bytes(), old, new
    old, new = m.slot_images(case["parts"])
    return m.slot_package(case["parts"], PackageOptions(transform_arch="auto")), old, new


def measure(case: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.process_time()
        today, _ = m.today_package(case, work)
        today_cpu = time.process_time() - start
        start = time.perf_counter()
        package, old, new = v2_package(case, work)
        build_s = time.perf_counter() - start
        report = verify_package(package, old, new)
        if not report.ok:
            raise SystemExit(f"{case['name']}: the --arch auto package does not restore NEW: {report.error}")
        parsed = read_package(package)
        peers: dict[str, int | None] = {name: 0 for name in m.PEERS}
        for part in case["parts"]:
            sub = work / part["name"]
            sub.mkdir()
            sizes = m.run_peers({**case, "name": part["name"], "old": part["old"], "new": part["new"]}, sub)
            for name in m.PEERS:
                peers[name] = None if peers[name] is None or sizes[name] is None else peers[name] + sizes[name]
    return {"pair": case["name"], "arch": case["arch"], "today": len(today), "v2": len(package),
            "operations": {r.name: r.operation for r in parsed.partitions},
            "transforms": transform_summary(parsed), "peers": peers, "build_seconds": round(build_s, 1),
            "ram_required": parsed.header.ram_required, "today_seconds_cpu": round(today_cpu, 1)}


def table(rows: list[dict]) -> str:
    lines = ["| pair | today | `--arch auto` | / today | best peer | / best peer | best plain peer | / best plain "
             "| detools --data-format | / data-format | delta-v2 partitions (arch, map, regions) | build s |",
             "|---|---:|---:|---:|---|---:|---|---:|---:|---:|---|---:|"]
    ratios: dict[str, list[float]] = {"today": [], "best": [], "plain": [], "df": []}
    for r in rows:
        peers = {k: v for k, v in r["peers"].items() if v}
        best = min(peers.items(), key=lambda kv: kv[1])
        plain = min(((k, v) for k, v in peers.items() if k in m.PLAIN_PEERS), key=lambda kv: kv[1])
        df = peers.get("detools-data-format")
        v2 = r["v2"]
        for key, base in (("today", r["today"]), ("best", best[1]), ("plain", plain[1]), ("df", df)):
            if base:
                ratios[key].append(v2 / base)
        parts = ", ".join(f"{n} ({t.get('arch')}, {t.get('map_entries')}, {t.get('regions')})"
                          for n, t in sorted(r["transforms"].items())) or "none"
        lines.append(f"| {r['pair']} | {r['today']:,} | {v2:,} | {v2 / r['today']:.3f} | {best[1]:,} ({best[0]}) | "
                     f"{v2 / best[1]:.3f} | {plain[1]:,} ({plain[0]}) | {v2 / plain[1]:.3f} | "
                     f"{f'{df:,}' if df else 'n/a'} | {f'{v2 / df:.3f}' if df else 'n/a'} | {parts} | "
                     f"{r['build_seconds']} |")
    g = {k: m.geomean(v) for k, v in ratios.items()}
    lines.append(f"| **geometric mean** | | | **{g['today']:.3f}** | | **{g['best']:.3f}** | | **{g['plain']:.3f}** "
                 f"| | **{g['df']:.3f}** | | |")
    worst = max(ratios["plain"]) if ratios["plain"] else float("nan")
    lines += ["", f"- package / smallest patch of any peer, geometric mean: {g['best']:.3f} "
              f"(target <= {TARGET_BEST:.2f}: {'met' if g['best'] <= TARGET_BEST else 'not met'})",
              f"- highest package / best plain peer: {worst:.3f} "
              f"(target <= {TARGET_PLAIN:.2f} on every pair: {'met' if worst <= TARGET_PLAIN else 'not met'})",
              f"- against otapack without transforms: {g['today']:.3f} (geometric mean)"]
    by_arch: dict[str, list[float]] = {}
    for r in rows:  # the pair's real architecture (the corpus README), not the transform chosen
        by_arch.setdefault(r.get("arch") or "unknown", []).append(r["v2"] / r["today"])
    lines += ["- per architecture, against otapack without transforms (geometric mean, pairs): "
              + "; ".join(f"{a} {m.geomean(v):.3f} ({len(v)})" for a, v in sorted(by_arch.items()))]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=m.ROOT.parent / "shared" / "corpus")
    ap.add_argument("--pairs", nargs="*")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--docs", type=Path, help="rewrite this file's transform-packages section")
    ap.add_argument("--from-json", type=Path, help="render an earlier --json run, measure nothing")
    args = ap.parse_args(argv)
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
    else:
        rows = []
        for case in m.cases(args.corpus, set(args.pairs or ())):
            rows.append(measure(case))
            print(f"{case['name']}: today {rows[-1]['today']}, --arch auto {rows[-1]['v2']}", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    text = ("## Executable-aware deltas: `otapack diff --arch auto` against the peers (issue 16)\n\n"
            "`python bench/transforms/packages.py --json bench/transforms/packages.json --docs docs/benchmarks.md`: "
            "whole packages (header, table, hashes, trailer included) against each peer's patch, same run; "
            "every `--arch auto` package restored by the Python restore to NEW. The C restore applies them too: "
            "`bench/engines_bench.py` runs every corpus pair's `--arch auto` package through "
            "`otapack verify --engine both` (the engines-bench table of docs/device.md).\n\n" + table(rows))
    print(text)
    if args.docs:
        args.docs.write_text(replace_section(args.docs.read_text(), SECTION, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
