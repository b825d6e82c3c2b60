#!/usr/bin/env python3
"""Where `otapack diff` spends its time in the C diff core, and proof that a
change of the core leaves every package byte-identical.

For each corpus pair (``old.bin``/``new.bin``, ``old.pac``/``new.pac``,
``old.elf``/``new.elf``) and each synthetic image of ``--sizes`` MiB (built by
``bench/scaling.py``'s ``make_images``, fixed seed) it measures, in this
process, with the ``otapack.core.diff._core`` found on ``sys.path``:

- ``sa``: building the suffix array of OLD, timed as ``_core.diff(old, b"")``
  (SA construction plus an empty scan), so that the figure means the same for
  every version of the core;
- ``diff``: ``_core.diff(old, new)`` with the default setting; ``scan`` is
  ``diff - sa`` (with the cores that have them, it includes building the
  bucket tables of the search, which an empty NEW skips);
- ``cand``: ``make_candidates(old, new)`` with every matcher setting (what a
  build does for partitions up to 1 MiB; the settings share one suffix array
  and scan side by side where the core has ``Index``), wall time and CPU
  time of all threads;

and, in a child process, the whole ``otapack -q diff OLD NEW -o PKG`` command
(wall time and the child's CPU time, including interpreter start, LZMA, the
self-check) and the sha256 of its output.  Pairs the CLI refuses (a raw
image whose size changed) go through ``bench/_worker.py otapack-slot-diff``
instead, marked †.

``sa``, ``scan`` and ``diff`` are CPU seconds of the calling thread (the core
runs there, GIL released), which other load on the machine disturbs far
less than wall time; each figure is the minimum over ``--repeat`` runs
(``--synthetic-repeat`` for the synthetic images), the command's over
``--cli-repeat`` runs.

    python bench/profile_diff.py --json after.json            # this tree
    PYTHONPATH=/tmp/base python bench/profile_diff.py --json before.json
    python bench/profile_diff.py --compare before.json after.json

``--compare`` prints the before/after table (ratios after/before) and exits
1 if any package's sha256 differs.  On a shared machine, whose load drifts
over the minutes a whole run takes, ``--ab BASE_TREE`` is fairer: it
measures input by input, first with BASE_TREE (a checkout with its
extension built in place, e.g. ``git archive`` of the old commit plus
``python setup.py build_ext --inplace``) first on ``PYTHONPATH``, then with
this tree, each in its own child process, and writes
``--json``-named ``.before.json``/``.after.json`` files and the comparison:

    python bench/profile_diff.py --ab /tmp/base --json /tmp/prof/ab

``--paired BASE_TREE`` loads both cores into this process and alternates
their calls, SA and diff, input by input: the SA and scan ratios least
disturbed by other load (no command, no package), plus a check that both
cores return the same result for every matcher setting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE))

from scaling import MIB, make_images  # noqa: E402

PAIR_FILES = (("old.bin", "new.bin"), ("old.pac", "new.pac"), ("old.elf", "new.elf"))
#: The CLI's exit code for "different partition structures".
EXIT_INCOMPATIBLE = 3


def best_of(repeat: int, fn, clock=time.thread_time) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def core_times(old: bytes, new: bytes, repeat: int, thorough: bool) -> dict:
    from otapack.core.diff import _core, make_candidates

    row = {"sa": best_of(repeat, lambda: _core.diff(old, b"")),
           "diff": best_of(repeat, lambda: _core.diff(old, new))}
    row["scan"] = max(0.0, row["diff"] - row["sa"])
    if thorough:
        row["cand"] = best_of(repeat, lambda: make_candidates(old, new), time.perf_counter)
        row["cand_cpu"] = best_of(repeat, lambda: make_candidates(old, new), time.process_time)
    return row


def run_child(argv: list[str], env: dict) -> tuple[int, float, float, str]:
    """(exit status, wall seconds, child CPU seconds, stderr)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime, stderr


def command_time(old: Path, new: Path, out: Path, repeat: int) -> dict:
    """Wall and CPU seconds of the diff command, the package's sha256, and
    whether it went through the slot worker."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    cli = [sys.executable, "-m", "otapack", "-q", "diff", str(old), str(new), "-o", str(out)]
    slot = [sys.executable, str(HERE / "_worker.py"), "otapack-slot-diff", str(old), str(new), str(out)]
    argv, via_slot = cli, False
    wall = cpu = float("inf")
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        rc, w, c, err = run_child(argv, env)
        if rc == EXIT_INCOMPATIBLE and not via_slot:
            argv, via_slot = slot, True
            rc, w, c, err = run_child(argv, env)
        if rc:
            raise SystemExit(f"{' '.join(argv)} -> exit {rc}: {err.strip()}")
        wall, cpu = min(wall, w), min(cpu, c)
    return {"command": wall, "command_cpu": cpu, "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
            "slot": via_slot}


def inputs(corpus: Path, work: Path, sizes: list[int]):
    for pair in sorted(p for p in corpus.iterdir() if p.is_dir()):
        for old_name, new_name in PAIR_FILES:
            if (pair / old_name).is_file() and (pair / new_name).is_file():
                suffix = "" if old_name == "old.bin" else f" ({old_name.split('.')[1]})"
                yield pair.name + suffix, pair / old_name, pair / new_name, False
    for mib in sizes:
        old, new = make_images(corpus, work, mib)
        yield f"synthetic {mib} MiB", old, new, True


def run(args) -> dict:
    from otapack.core.diff import _core
    from otapack.core.build import THOROUGH_LIMIT

    rows = []
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    for name, old_p, new_p, synthetic in inputs(args.corpus.resolve(), work, args.sizes):
        if args.pairs and not any(p in name for p in args.pairs):
            continue
        if args.only is not None and name != args.only:
            continue
        old, new = old_p.read_bytes(), new_p.read_bytes()
        repeat = args.synthetic_repeat if synthetic else args.repeat
        row = {"name": name, "old": len(old), "new": len(new)}
        row.update(core_times(old, new, repeat, thorough=len(new) <= THOROUGH_LIMIT and not synthetic))
        if not args.skip_cli:
            with tempfile.TemporaryDirectory() as tmp:
                row.update(command_time(old_p, new_p, Path(tmp) / "out.pack",
                                        args.synthetic_repeat if synthetic else args.cli_repeat))
        rows.append(row)
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
              file=sys.stderr, flush=True)
    return {"core": _core.__file__, "has_index": hasattr(_core, "Index"), "load": os.getloadavg(),
            "rows": rows}


def fmt(v, unit="") -> str:
    return "" if v is None else f"{v:.3f}{unit}"


def render(result: dict) -> str:
    lines = [f"core: `{result['core']}`, load average {result['load'][0]:.2f}; CPU seconds unless marked wall\n",
             "| input | old → new bytes | SA | scan | diff | candidates wall / CPU | `otapack diff` wall / CPU "
             "| sha256 |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        cand = f"{fmt(r.get('cand'))} / {fmt(r.get('cand_cpu'))}" if "cand" in r else ""
        command = f"{fmt(r.get('command'))} / {fmt(r.get('command_cpu'))}" if "command" in r else ""
        lines.append(f"| {r['name']}{' †' if r.get('slot') else ''} | {r['old']:,} → {r['new']:,} | {fmt(r['sa'])} | "
                     f"{fmt(r['scan'])} | {fmt(r['diff'])} | {cand} | {command} | {r.get('sha256', '')[:16]} |")
    return "\n".join(lines) + "\n"


#: Below this many seconds a before/after ratio is timer noise: not shown.
RATIO_FLOOR = 0.002


def pair(before: float, after: float) -> str:
    ratio = f" ({after / before:.2f}×)" if before >= RATIO_FLOOR else ""
    return f"{before:.3f} → {after:.3f}{ratio}"


def compare(before: dict, after: dict) -> tuple[str, bool]:
    after_rows = {r["name"]: r for r in after["rows"]}

    def cell(b, a, key):
        if b.get(key) is None or a.get(key) is None:
            return ""
        return pair(b[key], a[key])

    lines = [f"before: `{before['core']}` (load {before['load'][0]:.2f}); "
             f"after: `{after['core']}` (load {after['load'][0]:.2f}).  Seconds before → after "
             "(after/before); SA, scan, diff: CPU of the calling thread; candidates: wall; command: wall and the "
             "child's CPU\n",
             "| input | SA | scan | diff (default setting) | candidates (3 settings, wall) | `otapack diff` wall | "
             "`otapack diff` CPU | package sha256 |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    identical = True
    for b in before["rows"]:
        a = after_rows.get(b["name"])
        if a is None:
            continue
        same = b.get("sha256") == a.get("sha256")
        identical &= same or "sha256" not in b
        lines.append(f"| {b['name']}{' †' if b.get('slot') else ''} | {cell(b, a, 'sa')} | {cell(b, a, 'scan')} | "
                     f"{cell(b, a, 'diff')} | {cell(b, a, 'cand')} | {cell(b, a, 'command')} | "
                     f"{cell(b, a, 'command_cpu')} | {'identical' if same else 'DIFFERENT'} "
                     f"`{a.get('sha256', '')[:12]}` |")
    return "\n".join(lines) + "\n", identical


def input_names(args) -> list[str]:
    names = []
    for name, _, _, _ in inputs(args.corpus.resolve(), args.work, args.sizes):
        if not args.pairs or any(p in name for p in args.pairs):
            names.append(name)
    return names


def run_ab(args, base_tree: Path) -> int:
    """Input by input: the base tree, then this tree, each in a child."""
    results = {"before": None, "after": None}
    common = ["--corpus", str(args.corpus), "--work", str(args.work), "--repeat", str(args.repeat),
              "--cli-repeat", str(args.cli_repeat), "--synthetic-repeat", str(args.synthetic_repeat),
              "--sizes", *map(str, args.sizes)]
    if args.skip_cli:
        common.append("--skip-cli")
    with tempfile.TemporaryDirectory() as tmp:
        for name in input_names(args):
            for side, path in (("before", str(base_tree)), ("after", "")):
                env = dict(os.environ)
                env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH", "")) if p)
                out = Path(tmp) / f"{side}.json"
                subprocess.run([sys.executable, __file__, *common, "--only", name, "--json", str(out)],
                               env=env, check=True, stdout=subprocess.DEVNULL)
                part = json.loads(out.read_text())
                if results[side] is None:
                    results[side] = part
                else:
                    results[side]["rows"] += part["rows"]
                    results[side]["load"] = max(results[side]["load"], part["load"])
    for side, result in results.items():
        Path(f"{args.json}.{side}.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    table, identical = compare(results["before"], results["after"])
    print(table)
    if not identical:
        print("error: packages differ", file=sys.stderr)
    return 0 if identical else 1


def load_core(tree: Path):
    """The _core extension of another tree, loaded beside this tree's."""
    import importlib.util

    from otapack.core.diff import _core  # this tree's first: the name is then taken

    paths = sorted((tree / "otapack" / "core" / "diff").glob("_core*.so"))
    if not paths:
        raise SystemExit(f"no built _core extension under {tree}")
    spec = importlib.util.spec_from_file_location("otapack.core.diff._core", paths[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.__file__ == _core.__file__:
        raise SystemExit("the base tree's core is this tree's")
    return module, _core


def run_paired(args, base_tree: Path) -> int:
    """Both cores in this process, calls alternating: the fairest SA and scan
    ratios on a loaded machine.  Also checks that both give the same result
    for every setting a build uses."""
    from otapack.core.diff import DIFF_ALGORITHMS

    base, this = load_core(base_tree)
    settings = [dict(s) for s in DIFF_ALGORITHMS["otadiff"].settings] + [
        {"min_gain": 0, "ext_pct": 45, "seek_weight": 8}]
    lines = [f"paired, CPU seconds of this thread, min of {args.repeat} alternating runs "
             f"(synthetic: {args.synthetic_repeat}); load {os.getloadavg()[0]:.2f}\n",
             "| input | SA before → after | scan before → after | diff before → after | same result |",
             "|---|---:|---:|---:|---|"]
    same_everywhere = True
    for name, old_p, new_p, synthetic in inputs(args.corpus.resolve(), args.work, args.sizes):
        if args.pairs and not any(p in name for p in args.pairs):
            continue
        old, new = old_p.read_bytes(), new_p.read_bytes()
        best = {key: float("inf") for key in ("sa0", "sa1", "d0", "d1")}
        for _ in range(args.synthetic_repeat if synthetic else args.repeat):
            for key, fn in (("sa0", lambda: base.diff(old, b"")), ("sa1", lambda: this.diff(old, b"")),
                            ("d0", lambda: base.diff(old, new)), ("d1", lambda: this.diff(old, new))):
                start = time.thread_time()
                fn()
                best[key] = min(best[key], time.thread_time() - start)
        same = all(base.diff(old, new, **s) == this.diff(old, new, **s)
                   for s in (settings if len(new) <= (1 << 22) else settings[:1]))
        same_everywhere &= same
        scan0, scan1 = max(best["d0"] - best["sa0"], 0.0), max(best["d1"] - best["sa1"], 0.0)
        lines.append(f"| {name} | {pair(best['sa0'], best['sa1'])} | {pair(scan0, scan1)} | "
                     f"{pair(best['d0'], best['d1'])} | {'yes' if same else 'NO'} |")
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0 if same_everywhere else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=HERE.parents[1] / "shared" / "corpus")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "otapack-bench-scaling")
    ap.add_argument("--sizes", type=int, nargs="*", default=[16, 64], metavar="MIB")
    ap.add_argument("--pairs", nargs="*", default=[], metavar="NAME", help="only inputs whose name contains one")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli-repeat", type=int, default=1)
    ap.add_argument("--synthetic-repeat", type=int, default=1, help="runs of everything on the synthetic images")
    ap.add_argument("--skip-cli", action="store_true", help="core timings only (no command, no sha256)")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--ab", type=Path, metavar="BASE_TREE", help="interleaved before/after run (needs --json)")
    ap.add_argument("--paired", type=Path, metavar="BASE_TREE",
                    help="both cores in one process, alternating calls (core figures only)")
    ap.add_argument("--only", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.paired:
        return run_paired(args, args.paired.resolve())
    if args.ab:
        if not args.json:
            ap.error("--ab needs --json PREFIX")
        return run_ab(args, args.ab.resolve())
    if args.compare:
        table, identical = compare(*(json.loads(p.read_text()) for p in args.compare))
        print(table)
        if not identical:
            print("error: packages differ", file=sys.stderr)
        return 0 if identical else 1
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
