"""Declared resources against what the restore holds, and the size cost of each build profile.

    python bench/measure_resources.py                     # every corpus pair; rewrites its section of docs/benchmarks.md
    python bench/measure_resources.py --pairs synthesizer-1--2 --out /tmp/r.md

For every corpus pair (``../shared/corpus``), the full package of NEW and the
delta package OLD -> NEW are built through the API with each build profile
(``otapack.core.build.profiles.PROFILES``) and run through the device restore
(``verify_package``).  The report has two tables:

1. declared ``ram_required`` against the restore's measured RAM peak (and
   ``scratch_flash`` against the flash the staged partitions held), default
   profile; the ratio must stay within 1.10 (tests/test_resources.py holds
   the fixtures to it);
2. each profile's package size and declared RAM relative to the default
   profile, per pair and as geometric means: what an MCU-class device pays
   in download bytes for its smaller RAM.

A pair the readers refuse (or that does not restore) shows as ``n/a`` with
the reason; the run goes on, and exits 1 when a package does not restore or
declares more than 1.10 x its peak (any profile).  Only bytes are measured,
never time.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sections import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "resources"
#: declared ram_required / measured peak must stay within this (issue 12 item 7)
RATIO_BOUND = 1.10


def load_pair(pair: Path):
    from otapack import api

    for suffix in (".bin", ".pac"):
        if (pair / f"old{suffix}").exists():
            return (api.load_firmware(pair / f"old{suffix}", None, "old image"),
                    api.load_firmware(pair / f"new{suffix}", None, "new image"))
    raise FileNotFoundError(f"{pair}: no old.bin or old.pac")


def measure(kind: str, old, new, profile: str) -> dict:
    """Build one package and restore it: sizes, declared and measured figures."""
    from otapack.core.build import PackageOptions, build_delta, build_full
    from otapack.core.verify import verify_package

    opts = PackageOptions.for_profile(profile, jobs=2)
    package = build_full(new, opts) if kind == "full" else build_delta(old, new, opts)
    report = verify_package(package, None if kind == "full" else old, new)
    if report.error is not None:
        raise RuntimeError(f"{kind} package does not restore: {report.error}")
    r = report.restore
    return {"bytes": len(package), "ram_declared": r.ram_declared, "ram_peak": r.ram_peak,
            "scratch_declared": r.scratch_declared, "scratch_peak": r.scratch_peak, "tuples": r.tuples}


def run(corpus: Path, names: list[str] | None, profiles: list[str]) -> dict:
    results = {}
    for pair in sorted(p for p in corpus.iterdir() if p.is_dir()):
        if names and pair.name not in names:
            continue
        row = results[pair.name] = {}
        try:
            old, new = load_pair(pair)
        except Exception as exc:  # a reader refusing the pair is a result, not a crash
            row["na"] = f"{type(exc).__name__}: {exc}"
            print(f"{pair.name}: n/a ({row['na']})", flush=True)
            continue
        for profile in profiles:
            for kind in ("full", "delta"):
                try:
                    row[(profile, kind)] = measure(kind, old, new, profile)
                except Exception as exc:
                    row[(profile, kind)] = {"na": f"{type(exc).__name__}: {exc}"}
                print(f"{pair.name} {profile} {kind}: {row[(profile, kind)]}", flush=True)
    return results


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "n/a"


def _gmean(values: list[float]) -> str:
    values = [v for v in values if v > 0]
    return f"{math.exp(sum(map(math.log, values)) / len(values)):.3f}" if values else "n/a"


def render(results: dict, profiles: list[str], command: str) -> str:
    from otapack.core.build.profiles import PROFILES
    from otapack.version import __version__

    base = profiles[0]
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = ["## Resources: declared against measured, and the build profiles", "",
             f"Written by `{command}` on {now:%Y-%m-%d %H:%M} UTC with otapack {__version__}; bytes only "
             f"(no timing). Every package below restores byte-identically on the simulated device.", "",
             f"### Declared RAM and scratch flash against the restore's peak (profile `{base}`)", "",
             "| pair | kind | package | ram_required | RAM peak | declared / peak | scratch_flash | scratch held |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for pair, row in results.items():
        if "na" in row:
            lines.append(f"| {pair} | | n/a: {row['na']} | | | | | |")
            continue
        for kind in ("full", "delta"):
            m = row.get((base, kind), {})
            if "na" in m:
                lines.append(f"| {pair} | {kind} | n/a: {m['na']} | | | | | |")
                continue
            worst = max(worst, m["ram_declared"] / m["ram_peak"])
            lines.append(f"| {pair} | {kind} | {m['bytes']:,} | {m['ram_declared']:,} | {m['ram_peak']:,} | "
                         f"{_ratio(m['ram_declared'], m['ram_peak'])} | {m['scratch_declared']:,} | "
                         f"{m['scratch_peak']:,} |")
    lines += ["", f"Largest declared / peak: **{worst:.3f}** (bound: {RATIO_BOUND:.2f}).", ""]
    for profile in profiles[1:]:
        p = PROFILES[profile]
        lines += [f"### Profile `{profile}` against `{base}`", "",
                  f"`{profile}`: {p.description}. Ratios are {profile} / {base} (package bytes; declared RAM).", "",
                  f"| pair | delta bytes ({base}) | delta bytes ({profile}) | delta size ratio | delta RAM "
                  f"({base}) | delta RAM ({profile}) | full bytes ({base}) | full bytes ({profile}) | "
                  f"full size ratio | full RAM ({profile}) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        delta_ratios, full_ratios = [], []
        for pair, row in results.items():
            a, b = row.get((base, "delta"), {}), row.get((profile, "delta"), {})
            fa, fb = row.get((base, "full"), {}), row.get((profile, "full"), {})
            if "na" in row or any("na" in m or not m for m in (a, b, fa, fb)):
                lines.append(f"| {pair} | n/a | | | | | | | | |")
                continue
            delta_ratios.append(b["bytes"] / a["bytes"])
            full_ratios.append(fb["bytes"] / fa["bytes"])
            lines.append(f"| {pair} | {a['bytes']:,} | {b['bytes']:,} | {_ratio(b['bytes'], a['bytes'])} | "
                         f"{a['ram_declared']:,} | {b['ram_declared']:,} | {fa['bytes']:,} | {fb['bytes']:,} | "
                         f"{_ratio(fb['bytes'], fa['bytes'])} | {fb['ram_declared']:,} |")
        lines += [f"| **geometric mean** | | | **{_gmean(delta_ratios)}** | | | | | **{_gmean(full_ratios)}** | |", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from otapack.core.build.profiles import DEFAULT_PROFILE, PROFILES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                    help="markdown file whose resources section is (re)written")
    ap.add_argument("--pairs", nargs="+", help="only these pair folder names")
    args = ap.parse_args(argv)
    profiles = [DEFAULT_PROFILE] + [name for name in PROFILES if name != DEFAULT_PROFILE]
    results = run(args.corpus, args.pairs, profiles)
    shown = ["python bench/measure_resources.py"] + (["--pairs", *args.pairs] if args.pairs else [])
    text = render(results, profiles, " ".join(shown))
    document = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(document, SECTION, text))
    print(f"wrote the {SECTION} section of {args.out}")
    failed = [pair for pair, row in results.items()
              if "na" not in row and any("na" in m for m in row.values())]
    over = [f"{pair} {profile} {kind}: {m['ram_declared'] / m['ram_peak']:.3f}"
            for pair, row in results.items() if "na" not in row
            for (profile, kind), m in row.items() if "na" not in m and m["ram_declared"] > RATIO_BOUND * m["ram_peak"]]
    if over:
        print(f"declared RAM over {RATIO_BOUND} x the peak: {', '.join(over)}", file=sys.stderr)
    return 1 if failed or over else 0


if __name__ == "__main__":
    sys.exit(main())
