#!/usr/bin/env python3
"""Create speed side by side (issue 17): otapack against bsdiff4.diff and HDiffPatch (LZMA2).

For every corpus pair whose new image is over ``--min-size`` bytes (default
100 KB) and for synthetic images of ``--synthetic`` MiB (``scaling.py``'s
``make_images``: corpus data tiled, deterministic edits), each tool creates
its patch in its own child process under GNU time, which reports the
child's wall time, CPU time (user + system, all threads) and peak RSS:

- ``otapack``: ``otapack -q diff OLD NEW -o PKG`` with its defaults (every
  CPU, the self-check on), or for a pair the CLI refuses (a raw image whose
  size changed) the same build through ``bench/_worker.py otapack-slot-diff
  --verify`` (marked †);
- ``bsdiff4``: ``bsdiff4.diff`` (BSDIFF40, bzip2);
- ``hdiffpatch``: ``hdiffpatch.diff(old, new, Lzma2Config())`` (level 9,
  8 MiB window, one thread, no validation), the ``bench`` extra's package;
- with ``--base-tree DIR`` (a checkout with its extension built in place),
  also ``otapack-base``: the same otapack commands with DIR first on
  ``PYTHONPATH``, for before/after figures and a check that the package
  bytes did not change (the run fails if any differ).

Times are the minimum over ``--repeat`` runs (``--synthetic-repeat`` for the
synthetic images), runs of the tools interleaved; peak RSS the minimum too.
The load average is recorded beside the figures: on a machine shared with
other work the wall times are inflated, the CPU times much less.

    python bench/speed_bench.py --json /tmp/speed.json          # table on stdout
    python bench/speed_bench.py --docs docs/benchmarks.md        # and its section there
    python bench/speed_bench.py --from-json /tmp/speed.json --docs docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _sections import replace_section  # noqa: E402
from peers import WORKER, Case, otapack_mode  # noqa: E402
from scaling import MIB, make_images  # noqa: E402

GNU_TIME = "/usr/bin/time"
TOOLS = ("otapack", "bsdiff4", "hdiffpatch")
SECTION = "speed"
PAIR_FILES = (("old.pac", "new.pac"), ("old.bin", "new.bin"))


def otapack_cmd(mode: str, old: Path, new: Path, out: Path) -> list[str]:
    if mode == "cli":
        return [sys.executable, "-m", "otapack", "-q", "diff", str(old), str(new), "-o", str(out)]
    return WORKER + ["otapack-slot-diff", str(old), str(new), str(out), "--verify"]


def tool_cmd(tool: str, mode: str, old: Path, new: Path, out: Path) -> list[str]:
    if tool in ("otapack", "otapack-base"):
        return otapack_cmd(mode, old, new, out)
    return WORKER + [f"{tool}-create", str(old), str(new), str(out)]


def run_timed(argv: list[str], env: dict, timeout: float, cwd: Path) -> dict:
    """One child under GNU time: wall, CPU (user + sys) seconds and peak RSS (KiB).

    It runs in ``cwd``, outside the repository: ``python -m`` puts the current
    directory first on ``sys.path``, before ``PYTHONPATH`` (the base tree)."""
    with tempfile.NamedTemporaryFile("r") as report:
        load = os.getloadavg()[0]
        proc = subprocess.run([GNU_TIME, "-q", "-f", "%e %U %S %M", "-o", report.name, *argv], env=env, cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout)
        fields = report.read().split()
    if proc.returncode != 0 or len(fields) < 4:
        return {"error": proc.stderr.decode(errors="replace").strip()[-300:] or f"exit {proc.returncode}"}
    wall, user, system, rss = (float(v) for v in fields[-4:])
    return {"wall": wall, "cpu": user + system, "rss_kib": int(rss), "load": load}


def measure(tools: list[str], mode: str, old: Path, new: Path, work: Path, repeat: int, envs: dict,
            timeout: float) -> dict:
    """Every tool ``repeat`` times, interleaved; per tool the minima and the patch size and digest."""
    rows: dict[str, dict] = {t: {} for t in tools}
    for _ in range(repeat):
        for tool in tools:
            row = rows[tool]
            if "error" in row:
                continue
            out = work / f"{tool}.patch"
            run = run_timed(tool_cmd(tool, mode, old, new, out), envs[tool], timeout, work)
            if "error" in run:
                rows[tool] = run
                continue
            data = out.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if row.get("sha256", digest) != digest:
                raise SystemExit(f"{tool} made different bytes on a rerun of {old.parent.name}")
            row.update(size=len(data), sha256=digest, loads=row.get("loads", []) + [run["load"]])
            for key in ("wall", "cpu", "rss_kib"):
                row[key] = min(row.get(key, run[key]), run[key])
    return rows


def corpus_inputs(corpus: Path, min_size: int):
    for pair in sorted(p for p in corpus.iterdir() if p.is_dir()):
        for old_name, new_name in PAIR_FILES:
            old, new = pair / old_name, pair / new_name
            if old.is_file() and new.is_file():
                if new.stat().st_size > min_size:
                    yield pair.name, old, new
                break


def run(args) -> dict:
    tools = list(TOOLS) + (["otapack-base"] if args.base_tree else [])
    # Children may write bytecode caches, as an installed otapack has them:
    # with PYTHONDONTWRITEBYTECODE set (some shells and CI images) every run
    # compiled ~70 modules from source, ~0.3 s that no user pays.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {t: env for t in tools}
    if args.base_tree:
        envs["otapack-base"] = dict(env, PYTHONPATH=os.pathsep.join(
            [str(Path(args.base_tree).resolve())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])))
    work = Path(args.work or tempfile.mkdtemp(prefix="otapack-speed-"))
    inputs = [(name, old, new, args.repeat) for name, old, new in corpus_inputs(args.corpus, args.min_size)]
    inputs = [i for i in inputs if not args.pairs or i[0] in args.pairs]
    for mib in args.synthetic:
        old, new = make_images(args.corpus, work / "synthetic", mib)
        inputs.append((f"synthetic {mib} MiB", old, new, args.synthetic_repeat))
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()}, "inputs": []}
    for name, old, new, repeat in inputs:
        mode = otapack_mode(Case(name, old, new, None, work))
        where = work / name.replace(" ", "-")
        where.mkdir(parents=True, exist_ok=True)
        rows = measure(tools, mode, old, new, where, repeat, envs, args.timeout)
        entry = {"name": name, "mode": mode, "new_size": new.stat().st_size, "old_size": old.stat().st_size,
                 "tools": rows}
        result["inputs"].append(entry)
        print(line(entry), file=sys.stderr, flush=True)
    return result


def line(entry: dict) -> str:
    cells = []
    for tool, row in entry["tools"].items():
        cells.append(f"{tool} " + (f"{row['wall']:.2f}s/{row['cpu']:.2f}cpu {row['size']}B" if "wall" in row
                                   else "n/a"))
    return f"{entry['name']}: " + "; ".join(cells)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def render(result: dict) -> str:
    inputs = result["inputs"]
    present = {t for e in inputs for t in e["tools"]}
    tools = [t for t in ("otapack", "otapack-base", "bsdiff4", "hdiffpatch") if t in present]
    head = ["input", "new (B)"] + [f"{t} {k}" for t in tools for k in ("wall s", "CPU s")]
    out = ["## Create speed against the peers (issue 17)", "",
           "`python bench/speed_bench.py --docs docs/benchmarks.md`: each tool's whole create process (otapack "
           "with its defaults: every CPU, the self-check on" + ("; † through `bench/_worker.py otapack-slot-diff "
           "--verify`, a pair the CLI refuses" if any(e["mode"] == "slot" for e in inputs) else "") +
           "; `otapack-base`: the same command from the base tree), minimum of the runs; HDiffPatch is "
           "`hdiffpatch.diff` with "
           "`Lzma2Config()` (level 9, 8 MiB window, one thread), bsdiff4 is `bsdiff4.diff`. "
           f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}, Python "
           f"{result['machine']['python']}.", ""]
    loads = [v for e in inputs for r in e["tools"].values() for v in r.get("loads", [])]
    if loads:
        out += [f"1-minute load average when the runs started: {min(loads):.1f} to {max(loads):.1f} on "
                f"{result['machine']['cpus']} CPUs (other jobs shared the machine: wall times are inflated, "
                "CPU times much less).", ""]
    out += ["### Time", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in inputs:
        cells = [e["name"] + (" †" if e["mode"] == "slot" else ""), f"{e['new_size']:,}"]
        for t in tools:
            r = e["tools"].get(t, {})
            cells += [f"{r['wall']:.2f}", f"{r['cpu']:.2f}"] if "wall" in r else ["n/a", "n/a"]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "### Size (B) and peak RSS (MiB)", "",
            "| input | " + " | ".join(f"{t} size | {t} RSS" for t in tools) + " |",
            "|---|" + "---|---|" * len(tools)]
    for e in inputs:
        cells = [e["name"]]
        for t in tools:
            r = e["tools"].get(t, {})
            cells += [f"{r['size']:,}", _mib(r["rss_kib"])] if "wall" in r else ["n/a", "n/a"]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "### Targets", ""] + [f"- {t}" for t in targets(result)]
    return "\n".join(out) + "\n"


def targets(result: dict) -> list[str]:
    """The issue-17 targets, each met / not met with the figures that decide it."""
    lines = []

    def check(label: str, pick, bound_tool: str, key: str) -> None:
        rows = [(e["name"], e["tools"]["otapack"], e["tools"].get(bound_tool, {})) for e in result["inputs"] if pick(e)]
        rows = [(n, o, b) for n, o, b in rows if key in o and key in b]
        if not rows:
            return
        missed = [f"{n} ({o[key]:.2f} vs {b[key]:.2f})" for n, o, b in rows if o[key] > b[key]]
        lines.append(f"{label}: {'met' if not missed else 'not met'} ({len(rows) - len(missed)} of {len(rows)} within)"
                     + (f"; missed: {', '.join(missed)}" if missed else ""))

    corpus = lambda e: not e["name"].startswith("synthetic")  # noqa: E731
    check("create wall time <= HDiffPatch's, pairs over 1 MiB", lambda e: corpus(e) and e["new_size"] > MIB,
          "hdiffpatch", "wall")
    check("create CPU time <= HDiffPatch's, pairs over 1 MiB", lambda e: corpus(e) and e["new_size"] > MIB,
          "hdiffpatch", "cpu")
    check("create wall time <= bsdiff4.diff's, pairs over 100 KB", corpus, "bsdiff4", "wall")
    check("create CPU time <= bsdiff4.diff's, pairs over 100 KB", corpus, "bsdiff4", "cpu")
    for e in result["inputs"]:
        if corpus(e) or "wall" not in e["tools"]["otapack"]:
            continue
        o, h = e["tools"]["otapack"], e["tools"].get("hdiffpatch", {})
        if "wall" in h:
            lines.append(f"{e['name']}: package {o['size']:,} B vs HDiffPatch {h['size']:,} B "
                         f"({'met' if o['size'] <= h['size'] else 'not met'}); wall {o['wall']:.2f} s vs "
                         f"{h['wall']:.2f} s ({'met' if o['wall'] <= h['wall'] else 'not met'}); CPU "
                         f"{o['cpu']:.2f} s vs {h['cpu']:.2f} s")
        ratio = o["rss_kib"] * 1024 / e["new_size"]
        lines.append(f"{e['name']}: peak RSS {ratio:.1f}x the new image ({'met' if ratio <= 6 else 'not met'}, "
                     "target 6x)")
    base = [(e["name"], e["tools"]["otapack"], e["tools"]["otapack-base"]) for e in result["inputs"]
            if "otapack-base" in e["tools"] and "sha256" in e["tools"]["otapack-base"]]
    if base:
        same = all(o.get("sha256") == b["sha256"] for _, o, b in base)
        lines.append(f"package bytes against the base tree: {'identical' if same else 'DIFFERENT'} on "
                     f"{len(base)} inputs; CPU time {sum(o['cpu'] for _, o, _ in base):.1f} s vs "
                     f"{sum(b['cpu'] for _, _, b in base):.1f} s, wall {sum(o['wall'] for _, o, _ in base):.1f} s "
                     f"vs {sum(b['wall'] for _, _, b in base):.1f} s (this tree vs base, all inputs)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=HERE.parent.parent / "shared" / "corpus")
    parser.add_argument("--min-size", type=int, default=100_000, help="new images over this many bytes")
    parser.add_argument("--pairs", nargs="*", default=[], help="only these corpus pairs")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[64], help="synthetic image sizes, MiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic-repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--base-tree", help="also time otapack from this checkout, and compare its bytes")
    parser.add_argument("--work", help="working directory (kept)")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument("--from-json", type=Path, help="render figures measured before instead of measuring")
    parser.add_argument("--merge-json", type=Path,
                        help="figures measured before: the inputs measured now replace theirs, the rest are kept")
    parser.add_argument("--docs", type=Path, help="rewrite this file's speed section")
    args = parser.parse_args(argv)
    result = json.loads(args.from_json.read_text()) if args.from_json else run(args)
    if args.merge_json and not args.from_json:
        new = {e["name"]: e for e in result["inputs"]}
        before = json.loads(args.merge_json.read_text())
        result["inputs"] = [new.pop(e["name"], e) for e in before["inputs"]] + list(new.values())
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    text = render(result)
    print(text)
    if args.docs:
        args.docs.write_text(replace_section(args.docs.read_text(), SECTION, text))
    base = [e for e in result["inputs"] if "sha256" in e["tools"].get("otapack-base", {})]
    return 1 if any(e["tools"]["otapack"].get("sha256") != e["tools"]["otapack-base"]["sha256"] for e in base) else 0


if __name__ == "__main__":
    sys.exit(main())
