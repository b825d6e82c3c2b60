#!/usr/bin/env python3
"""Side-by-side benchmark: otapack delta packages against the tools users would pick instead.

For every ``<pair>/old.bin,new.bin`` of a corpus folder (default
``../shared/corpus`` from the repository root) this builds the otapack delta
package and the patch of every tool in ``bench/peers.py:TOOLS`` (bsdiff4,
bsdiff4 streams + xz, detools default / hdiffpatch / --data-format, the
hdiffpatch package, xdelta3, zstd --patch-from, xz -9e of the new image),
checks that each restores ``new.bin`` byte for byte, and writes a markdown
report (default docs/benchmarks.md): patch bytes, create time, create peak
RSS and apply time per tool, otapack / best peer per pair with geometric
means, the issue's targets evaluated from the numbers, and (unless
``--skip-scaling``) how create time and memory grow with image size
(bench/scaling.py).

Every create and apply runs in its own child process (see peers.run_measured).

    python bench/run_bench.py                  # everything, writes docs/benchmarks.md
    python bench/run_bench.py --pairs programmer-0.8.0--0.9.0 --skip-scaling --out /tmp/b.md
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from _corpus import CORPUS_HELP, DEFAULT_CORPUS, corpus_pairs  # noqa: E402
from peers import TOOLS, Case, NotApplicable, Run, Tool, measure, run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
SMALL_PAIR = 100_000  # "larger than 100 KB" (new image bytes)
BIG_PAIR = MIB        # "larger than 1 MiB"

# Known detools 0.53.0 sizes (corpus README) for the harness sanity check:
# (pair, variant, expected bytes); variant "df-noelf" = --data-format without ELF files.
REFERENCE = [
    ("pybv11-v1.10--1f5d945af-dirty", "detools", 36417),
    ("pybv11-v1.10--1f5d945af-dirty", "df-noelf", 31812),
    ("programmer-0.8.0--0.9.0", "detools", 1341),
    ("programmer-0.8.0--0.9.0", "df-noelf", 1314),
]


def geomean(values):
    values = [v for v in values if v is not None]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


# ---------------------------------------------------------------- running

def find_pairs(corpus: Path, only: list[str] | None) -> list[Path]:
    pairs = corpus_pairs(corpus)
    if only:
        missing = set(only) - {p.name for p in pairs}
        if missing:
            raise SystemExit(f"no such pair(s) under {corpus}: {', '.join(sorted(missing))}")
        pairs = [p for p in pairs if p.name in only]
    return pairs


def make_case(pair: Path, work: Path) -> Case:
    meta = {}
    if (pair / "meta.json").is_file():
        meta = json.loads((pair / "meta.json").read_text())
    elf = lambda n: pair / n if (pair / n).is_file() else None  # noqa: E731
    case = Case(name=pair.name, old=pair / "old.bin", new=pair / "new.bin", arch=meta.get("arch"),
                work=work / pair.name, old_elf=elf("old.elf"), new_elf=elf("new.elf"))
    case.work.mkdir(parents=True, exist_ok=True)
    case.otapack_mode = peers.otapack_mode(case)
    return case


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "no message")[:160]


def run_tool(tool: Tool, case: Case, repeat: int) -> dict:
    """{'bytes', 'create': Run, 'apply': Run, 'ok': bool} or {'na': reason}."""
    reason = tool.missing()
    if reason:
        return {"na": reason}
    try:
        cmd = tool.create(case)
    except NotApplicable as exc:
        return {"na": str(exc)}
    patch = case.patch(tool.name)
    patch.unlink(missing_ok=True)
    create = measure(cmd.argv, repeat, stdout_path=cmd.stdout)
    if create.rc != 0 or not patch.is_file():
        return {"na": f"create failed (exit {create.rc}): {first_line(create.stderr)}"}
    result = {"bytes": patch.stat().st_size, "create": create}
    restored = case.restored(tool.name)
    restored.unlink(missing_ok=True)
    if tool.kind == "self":
        verify = peers.otapack_verify_cmd(case)
        result["apply"] = measure(verify.argv, repeat)
        chk = tool.apply(case)
        check = run_measured(chk.argv, stdout_path=chk.stdout)
        ok = result["apply"].rc == 0 and check.rc == 0
        why = first_line(result["apply"].stderr if result["apply"].rc else check.stderr)
    else:
        chk = tool.apply(case)
        result["apply"] = measure(chk.argv, repeat, stdout_path=chk.stdout)
        ok = result["apply"].rc == 0
        why = first_line(result["apply"].stderr)
    if ok:
        ok = restored.is_file() and filecmp.cmp(restored, case.new, shallow=False)
        why = "restored image differs from new.bin"
    result["ok"] = ok
    if not ok:
        result["fail"] = why
    patch.unlink(missing_ok=True)
    restored.unlink(missing_ok=True)
    return result


def sanity_checks(cases: dict[str, Case], results: dict) -> list[tuple[str, str, int, int | None]]:
    """(pair, variant, expected, got) for the corpus README's detools reference sizes."""
    out = []
    for pair, variant, expected in REFERENCE:
        case = cases.get(pair)
        if case is None:
            continue
        if variant == "detools":
            got = results[pair]["detools"].get("bytes")
        else:
            patch = case.work / "detools-df-noelf.patch"
            r = run_measured([peers._exe("detools"), "create_patch", "--data-format", case.arch,
                              str(case.old), str(case.new), str(patch)])
            got = patch.stat().st_size if r.rc == 0 and patch.is_file() else None
        out.append((pair, variant, expected, got))
    return out


def baselines() -> list[tuple[str, Run]]:
    """Process start cost (time, peak RSS) of each launcher, to read small-pair numbers against."""
    items = [
        ("python (bench/_worker.py launcher, `python -c pass`)", [peers.PY, "-c", "pass"]),
        ("otapack CLI (`otapack --version`)", [peers._exe("otapack"), "--version"]),
        ("otapack API (`python -c 'import otapack.core.build, otapack.core.verify'`)",
         [peers.PY, "-c", "import otapack.core.build, otapack.core.verify"]),
        ("detools CLI (`detools --version`)", [peers._exe("detools"), "--version"]),
    ]
    for _, argv in items:  # warm-up: fills the bytecode cache (PYTHONPYCACHEPREFIX)
        run_measured(argv)
    run_measured([peers.PY, "-c", "import otapack.cli.build, otapack.cli.verify, bsdiff4, hdiffpatch, detools"])
    return [(label, measure(argv, 3)) for label, argv in items]


# ---------------------------------------------------------------- report

def fmt_bytes(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "n/a"


def cell(res: dict, what: str) -> str:
    if "na" in res:
        return "n/a"
    if what == "bytes":
        text = f"{res['bytes']:,}"
    elif what == "create":
        text = f"{res['create'].seconds:.3f}"
    elif what == "rss":
        text = f"{res['create'].rss_kib / 1024:.1f}"
    else:
        text = f"{res['apply'].seconds:.3f}" if res["apply"].rc == 0 else "fail"
    return text if res.get("ok") else text + " ✗"


def usable(res: dict) -> bool:
    return "na" not in res and res.get("ok", False)


def best_peer(row: dict, names: list[str]) -> tuple[str, int] | None:
    cands = [(row[n]["bytes"], n) for n in names if n in row and usable(row[n])]
    if not cands:
        return None
    size, name = min(cands)
    return name, size


def machine_info() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        ram = f"{kb / MIB:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {ram} RAM, {platform.system()} {platform.release()}"


def render(args, pairs, cases, results, tools, sanity, base, scaling_md, started, elapsed) -> str:
    names = [t.name for t in tools]
    target_peers = [t.name for t in tools if t.target_peer]
    delta_peers = [t.name for t in tools if t.kind == "delta"]
    L = []
    add = L.append
    add("# otapack benchmarks: delta package size and speed against other tools\n")
    add("Written by `bench/run_bench.py` (see bench/README.md); do not edit by hand, rerun it.\n")
    add(f"- Command: `{args.command_line}`")
    add(f"- Date: {started:%Y-%m-%d %H:%M} UTC; benchmark run time {elapsed / 60:.1f} min")
    add(f"- Machine: {machine_info()}")
    add(f"- Python {platform.python_version()} ({sys.executable}); liblzma {peers.liblzma_version()} (lzma module)")
    add(f"- Corpus: `{args.corpus}` ({len(pairs)} pairs); timing: best of {args.repeat} run(s)")
    add(f"- 1-minute load average at start / end: {args.load[0]:.2f} / {args.load[-1]:.2f} "
        "(other work on the machine inflates times)")
    add("")
    add("| tool | version | what is run |")
    add("|---|---|---|")
    for t in tools:
        add(f"| {t.name} | {t.version()} | {t.description} |")
    add("")
    add("Method: every create and every apply is a separate child process; time is its wall clock "
        "(process start included), peak RSS is the child's own maximum resident set (GNU time `%M`). "
        "Every patch is applied and compared byte for byte with new.bin (✗ = did not restore). "
        "otapack's size is the whole package (header, hashes, footer). otapack's apply time is "
        "`otapack verify --old --new` (the device restore in Python plus the comparison). Python children "
        "run with a warm bytecode cache (`PYTHONPYCACHEPREFIX` in the work folder), as an installed tool would.")
    slot = [c.name for c in cases.values() if c.otapack_mode == "slot"]
    if slot:
        add("")
        add(f"**otapack CLI limitation.** `otapack diff` refuses {len(slot)} of {len(cases)} pairs "
            "(\"old and new firmware have different partition structures\": a raw image whose size "
            "changed, or ELF files whose sections changed size). For those pairs (marked † below) the "
            "package is built by `bench/_worker.py otapack-slot-diff` through the Python API, as one raw "
            "partition in a slot of max(old, new) bytes rounded up to 4 KiB, and restored with "
            "`otapack.core.verify.verify_package`: same format and builder, no CLI. † pairs: "
            + ", ".join(f"`{n}`" for n in slot) + ".")
    add("")

    def pair_label(name):
        return name + (" †" if cases[name].otapack_mode == "slot" else "")

    # sizes
    add("## Patch size (bytes)\n")
    add("best target peer = smallest of " + ", ".join(target_peers) + "; best delta peer = smallest of every "
        "delta tool (" + ", ".join(delta_peers) + ").\n")
    add("| pair | arch | new | " + " | ".join(names) + " | otapack / best target peer | otapack / best delta peer |")
    add("|---|---|---:|" + "---:|" * len(names) + "---:|---:|")
    ratios_t, ratios_all = [], []
    for p in pairs:
        row = results[p.name]
        ota = row.get("otapack", {})
        bt, ba = best_peer(row, target_peers), best_peer(row, delta_peers)
        rt = ota["bytes"] / bt[1] if usable(ota) and bt else None
        ra = ota["bytes"] / ba[1] if usable(ota) and ba else None
        ratios_t.append(rt)
        ratios_all.append(ra)
        add(f"| {pair_label(p.name)} | {cases[p.name].arch or '?'} | {p.joinpath('new.bin').stat().st_size:,} | "
            + " | ".join(cell(row[n], "bytes") for n in names)
            + f" | {'n/a' if rt is None else f'{rt:.3f} ({bt[0]})'} | {'n/a' if ra is None else f'{ra:.3f} ({ba[0]})'} |")
    gm = {n: geomean([results[p.name][n]["bytes"] for p in pairs if usable(results[p.name][n])]) for n in names}
    complete = {n: all(usable(results[p.name][n]) for p in pairs) for n in names}
    add("| **geometric mean** | | | " + " | ".join(
        (f"{gm[n]:,.0f}" + ("" if complete[n] else " (partial)")) if gm[n] else "n/a" for n in names)
        + f" | **{geomean(ratios_t) or float('nan'):.3f}** | **{geomean(ratios_all) or float('nan'):.3f}** |")
    add("")
    # ratio per peer
    add("### otapack / peer, per pair (size)\n")
    peer_names = [n for n in names if n != "otapack"]
    add("| pair | " + " | ".join(peer_names) + " |")
    add("|---|" + "---:|" * len(peer_names))
    per_peer = {n: [] for n in peer_names}
    for p in pairs:
        row = results[p.name]
        cells = []
        for n in peer_names:
            if usable(row["otapack"]) and usable(row[n]):
                r = row["otapack"]["bytes"] / row[n]["bytes"]
                per_peer[n].append(r)
                cells.append(f"{r:.3f}")
            else:
                cells.append("n/a")
        add(f"| {pair_label(p.name)} | " + " | ".join(cells) + " |")
    add("| **geometric mean** | " + " | ".join(
        f"**{geomean(per_peer[n]):.3f}**" if per_peer[n] else "n/a" for n in peer_names) + " |")
    add("")
    for title, what, unit in (("Create time", "create", "s"), ("Create peak RSS", "rss", "MiB"),
                              ("Apply time", "apply", "s")):
        add(f"## {title} ({unit})\n")
        add("| pair | new | " + " | ".join(names) + " |")
        add("|---|---:|" + "---:|" * len(names))
        for p in pairs:
            row = results[p.name]
            add(f"| {pair_label(p.name)} | {p.joinpath('new.bin').stat().st_size:,} | "
                + " | ".join(cell(row[n], what) for n in names) + " |")
        if what != "rss":
            tot = {n: sum(results[p.name][n][what].seconds for p in pairs if "na" not in results[p.name][n])
                   for n in names}
            add("| **sum** | | " + " | ".join(f"{tot[n]:.2f}" for n in names) + " |")
        add("")
    # n/a and failures
    notes = [(p.name, n, results[p.name][n].get("na") or results[p.name][n].get("fail"))
             for p in pairs for n in names
             if "na" in results[p.name][n] or not results[p.name][n].get("ok", True)]
    if notes:
        add("### n/a and failures\n")
        for pair, n, why in notes:
            add(f"- {pair} / {n}: {why}")
        add("")
    add("### Process start baselines\n")
    add("What a do-nothing run of each launcher costs (best of 3); small pairs' times and RSS are mostly this.\n")
    add("| launcher | time (s) | peak RSS (MiB) |")
    add("|---|---:|---:|")
    for label, r in base:
        add(f"| {label} | {r.seconds:.3f} | {r.rss_kib / 1024:.1f} |")
    add("")
    add(targets_section(pairs, results, target_peers, ratios_t, per_peer, base, args))
    if sanity:
        add("## Harness sanity check (detools reference sizes from the corpus README)\n")
        add("| pair | variant | expected | measured | |")
        add("|---|---|---:|---:|---|")
        for pair, variant, expected, got in sanity:
            label = {"detools": "detools default", "df-noelf": "detools --data-format (no ELF)"}[variant]
            add(f"| {pair} | {label} | {expected:,} | {fmt_bytes(got)} | {'ok' if got == expected else 'MISMATCH'} |")
        add("")
    if scaling_md:
        add(scaling_md)
    return "\n".join(L) + "\n"


def targets_section(pairs, results, target_peers, ratios_t, per_peer, base, args) -> str:
    L = ["## Targets (issue 4), evaluated from the tables above\n"]
    status = lambda ok: "**met**" if ok else "**NOT met**"  # noqa: E731
    size = {p.name: p.joinpath("new.bin").stat().st_size for p in pairs}
    ota = {p.name: results[p.name]["otapack"] for p in pairs}
    # 1. size vs the target peers
    g = geomean(ratios_t)
    worst = max(((r, p.name) for r, p in zip(ratios_t, pairs) if r is not None), default=None)
    if g is not None:
        L.append(f"1. Size, geometric mean of otapack / smallest of ({', '.join(target_peers)}) ≤ 1.00: "
                 f"{status(g <= 1.0)}: {g:.3f} over {sum(r is not None for r in ratios_t)} pairs "
                 f"(worst pair {worst[1]}: {worst[0]:.3f}).")
    else:
        L.append("1. Size vs bsdiff4/detools/HDiffPatch: not evaluated (no target peer ran).")
    # 2. vs bsdiff4+xz on pairs > 100 KB
    rows = []
    for p in pairs:
        b = results[p.name].get("bsdiff4+xz", {})
        if size[p.name] > SMALL_PAIR and usable(ota[p.name]) and usable(b):
            rows.append((ota[p.name]["bytes"] / b["bytes"], p.name))
    if rows:
        bad = [f"{n} {r:.3f}" for r, n in rows if r > 0.95]
        L.append(f"2. Size ≤ 0.95 × bsdiff4+xz on every pair > 100 KB ({len(rows)} pairs): {status(not bad)}: "
                 f"worst {max(rows)[0]:.3f} ({max(rows)[1]}), best {min(rows)[0]:.3f}"
                 + (f"; over 0.95: {', '.join(bad)}." if bad else "."))
    else:
        L.append("2. Size ≤ 0.95 × bsdiff4+xz: not evaluated (bsdiff4+xz not run or no pair > 100 KB).")
    info = ", ".join(f"{n} {geomean(v):.3f}" for n, v in per_peer.items() if v)
    L.append(f"   - Not a target (report only), geometric mean of otapack / each peer: {info}.")
    # 3. create time vs bsdiff4 and hdiffpatch on pairs > 1 MiB
    big = [p.name for p in pairs if size[p.name] > BIG_PAIR and usable(ota[p.name])]
    for peer, factor, label in (("bsdiff4", 1.0, "at most bsdiff4's"), ("hdiffpatch", 1.5, "within 1.5× of HDiffPatch's")):
        rows = [(ota[n]["create"].seconds / results[n][peer]["create"].seconds, n) for n in big
                if usable(results[n].get(peer, {}))]
        allrows = [(ota[p.name]["create"].seconds / results[p.name][peer]["create"].seconds, p.name) for p in pairs
                   if usable(ota[p.name]) and usable(results[p.name].get(peer, {}))]
        if rows:
            bad = [f"{n} {r:.2f}×" for r, n in rows if r > factor]
            L.append(f"{3 if peer == 'bsdiff4' else 4}. Create time {label} on every pair > 1 MiB "
                     f"({len(rows)} pairs): {status(not bad)}: otapack / {peer} = "
                     + ", ".join(f"{n} {r:.2f}× ({ota[n]['create'].seconds:.2f} s vs "
                                 f"{results[n][peer]['create'].seconds:.2f} s)" for r, n in rows)
                     + (f"; all pairs: geometric mean {geomean([r for r, _ in allrows]):.2f}×, "
                        f"worst {max(allrows)[0]:.2f}× ({max(allrows)[1]})" if allrows else "") + ".")
        else:
            L.append(f"{3 if peer == 'bsdiff4' else 4}. Create time {label}: not evaluated (no pair > 1 MiB).")
        sc = {(r["mib"], r["tool"]): r for r in getattr(args, "scaling_rows", []) if r.get("ok")}
        steps = [f"{m} MiB {sc[(m, 'otapack')]['seconds'] / sc[(m, peer)]['seconds']:.2f}×"
                 for m in sorted({m for m, _ in sc}) if (m, "otapack") in sc and (m, peer) in sc]
        if steps:
            L.append(f"   - Scaling images (not corpus pairs, report only): otapack / {peer} create time: "
                     + ", ".join(steps) + ".")
    # 5. memory
    floors = {label.split(" ")[1]: r.rss_kib * 1024 for label, r in base if label.startswith("otapack ")}
    floor_of = lambda mode: floors.get("CLI" if mode == "cli" else "API", 0)  # noqa: E731
    rows = [(ota[n]["create"].rss_kib * 1024 / size[n], n) for n in big]
    rows += [(r["rss_kib"] * 1024 / r["new_size"], f"scaling {r['label']}") for r in getattr(args, "scaling_rows", [])
             if r.get("tool") == "otapack" and r.get("ok") and r["mib"] > 1]
    net = [((ota[n]["create"].rss_kib * 1024 - floor_of(args.modes[n])) / size[n], n) for n in big]
    net += [((r["rss_kib"] * 1024 - floors.get("API", 0)) / r["new_size"], f"scaling {r['label']}")
            for r in getattr(args, "scaling_rows", []) if r.get("tool") == "otapack" and r.get("ok")]
    if rows:
        bad = [f"{n} {r:.1f}×" for r, n in rows if r > 10]
        judged = {n for _, n in rows}
        net = [x for x in net if x[1] in judged]
        L.append(f"5. Create peak RSS ≤ 10 × new image size, judged on corpus pairs > 1 MiB and scaling "
                 f"images of 4 MiB and up (smaller images are below the Python process floor, "
                 f"{min(floors.values(), default=0) / MIB:.0f}-{max(floors.values(), default=0) / MIB:.0f} MiB): "
                 f"whole process: {status(not bad)}: worst {max(rows)[0]:.1f}× ({max(rows)[1]})"
                 + (f"; over 10×: {', '.join(bad)}" if bad else "")
                 + (f". Net of the do-nothing otapack process (CLI or API import): {status(max(net)[0] <= 10)}: "
                    f"worst {max(net)[0]:.1f}× ({max(net)[1]})" if net else "") + ".")
    else:
        L.append("5. Create peak RSS ≤ 10 × new image size: not evaluated (no image > 1 MiB; run the scaling part).")
    # 6. restore of the largest pair
    largest = max((p for p in pairs), key=lambda p: size[p.name])
    o = ota[largest.name]
    if usable(o):
        t = o["apply"].seconds
        L.append(f"6. Restore (verify) of the largest corpus pair ({largest.name}, {size[largest.name]:,} B) "
                 f"< 2 s in pure Python: {status(t < 2.0)}: {t:.2f} s (whole `verify` process, start included; "
                 f"otapack/core/restore uses the standard library only: lzma, hashlib, zlib).")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=CORPUS_HELP)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="markdown report to write")
    ap.add_argument("--pairs", nargs="+", help="only these pair folder names")
    ap.add_argument("--tools", nargs="+", choices=[t.name for t in TOOLS],
                    help="only these tools (otapack is always run)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the minimum time is kept")
    ap.add_argument("--skip-scaling", action="store_true", help="skip the 1..64 MiB image-size curve")
    ap.add_argument("--scaling-sizes", type=int, nargs="+", default=[1, 4, 16, 64], metavar="MIB")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    args.command_line = "python bench/run_bench.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    args.corpus = args.corpus.resolve()

    pairs = find_pairs(args.corpus, args.pairs)
    if not pairs:
        print(f"no pairs under {args.corpus}", file=sys.stderr)
        return 1
    tools = [t for t in TOOLS if not args.tools or t.name in args.tools or t.kind == "self"]
    work = args.work or Path(tempfile.mkdtemp(prefix="otapack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    peers.set_child_env(work / "pycache")
    args.load = [os.getloadavg()[0]]
    try:
        base = baselines()  # also warms the bytecode cache and the page cache
        cases, results = {}, {}
        for pair in pairs:
            case = cases[pair.name] = make_case(pair, work)
            row = results[pair.name] = {}
            for tool in tools:
                res = row[tool.name] = run_tool(tool, case, args.repeat)
                show = (f"n/a: {res['na']}" if "na" in res else
                        f"{res['bytes']:>9,} B  create {res['create'].seconds:7.3f} s "
                        f"{res['create'].rss_kib / 1024:7.1f} MiB  apply {res['apply'].seconds:6.3f} s"
                        + ("" if res["ok"] else f"  RESTORE FAILED: {res.get('fail')}"))
                print(f"{pair.name:40} {tool.name:20} {show}", flush=True)
        sanity = sanity_checks(cases, results) if "detools" in [t.name for t in tools] else []
        for pair, variant, expected, got in sanity:
            print(f"sanity {pair} {variant}: expected {expected}, got {got}", flush=True)
        scaling_md = ""
        args.scaling_rows = []
        if not args.skip_scaling:
            import scaling

            args.scaling_rows = scaling.run(args.corpus, work / "scaling", args.scaling_sizes, args.repeat)
            scaling_md = scaling.render(args.scaling_rows)
        elapsed = time.perf_counter() - t0
        args.modes = {n: c.otapack_mode for n, c in cases.items()}
        args.load.append(os.getloadavg()[0])
        text = render(args, pairs, cases, results, tools, sanity, base, scaling_md, started, elapsed)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        from _sections import keep_sections  # the sections other bench scripts own (measure_resources.py)

        args.out.write_text(keep_sections(args.out.read_text() if args.out.exists() else "", text))
        print(f"wrote {args.out} ({elapsed / 60:.1f} min)")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
