"""Fleet-release benchmark: ``otapack release`` on real corpus firmware.

The release: three models with their deployed builds, from ../shared/corpus
(see its README for origin and licences):

- ``esp8266-at``: ESP8266 AT firmware 1.7.5-respin, deployed 1.7.0, 1.7.1,
  1.7.4, 1.7.5 (single images, 413-455 KB);
- ``coldcard-mk3``: Coldcard Mk3 4.0.2, deployed 3.1.8, 3.1.9, 4.0.1
  (714-784 KB; the corpus has no fourth earlier release);
- ``sam3x-board``: a two-partition flash (``boot``: programmer, ``app``:
  synthesizer) of real builds, target (0.9.0, 3), deployed (0.8.0, 1),
  (0.8.0, 2), (0.9.0, 1), (0.9.0, 2).

That is 11 deltas and 3 full packages, each self-checked on the simulated
device and signed.  Measured, in fresh output and cache folders each round:
the first run with 1 worker and with 2 workers (local pool), and a rerun
with nothing changed; optionally a local Ray instance (``--ray``).  Each run
is a separate ``otapack release`` process; wall time and the children's CPU
time are recorded, with the load average, because other work on the machine
changes wall times.  The bytes of every run are compared.

    python bench/release_bench.py [--corpus DIR] [--rounds N] [--ray] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
BOOT, APP = 0x8000, 0x30000
LAYOUT = f"""# sam3x-board: boot + app, real builds padded with 0xFF (bench/release_bench.py)
erase_block = 0x1000
[[partitions]]
name = "boot"
offset = 0x0
size = {BOOT:#x}
type = "bootloader"
[[partitions]]
name = "app"
offset = {BOOT:#x}
size = {APP:#x}
type = "code"
"""


def _pad(data: bytes, size: int) -> bytes:
    assert len(data) <= size
    return data + b"\xff" * (size - len(data))


def make_release(corpus: Path, where: Path) -> Path:
    """The manifest and its inputs under ``where``; returns the manifest path."""
    esp = {"1.7.0": "esp8266-at-1.7.0--1.7.1/old.bin", "1.7.1": "esp8266-at-1.7.0--1.7.1/new.bin",
           "1.7.4": "esp8266-at-1.7.4--1.7.5/old.bin", "1.7.5": "esp8266-at-1.7.4--1.7.5/new.bin",
           "1.7.5-respin": "esp8266-at-1.7.5--1.7.5-respin/new.bin"}
    cold = {"3.1.8": "coldcard-mk3-3.1.8--3.1.9/old.bin", "3.1.9": "coldcard-mk3-3.1.8--3.1.9/new.bin",
            "4.0.1": "coldcard-mk3-4.0.1--4.0.2/old.bin", "4.0.2": "coldcard-mk3-4.0.1--4.0.2/new.bin"}
    prog = {"0.8.0": "programmer-0.8.0--0.9.0/old.bin", "0.9.0": "programmer-0.8.0--0.9.0/new.bin"}
    synth = {"1": "synthesizer-1--2/old.bin", "2": "synthesizer-1--2/new.bin", "3": "synthesizer-1--3/new.bin"}
    (where / "layout.toml").write_text(LAYOUT)
    boards = {}
    for p, s in (("0.8.0", "1"), ("0.8.0", "2"), ("0.9.0", "1"), ("0.9.0", "2"), ("0.9.0", "3")):
        name = f"sam3x-{p}-{s}.bin"
        (where / name).write_bytes(_pad((corpus / prog[p]).read_bytes(), BOOT)
                                   + _pad((corpus / synth[s]).read_bytes(), APP))
        boards[f"{p}-{s}"] = name

    def model(name, model_id, counter, target, sources, files, extra=""):
        lines = [f'[[models]]\nname = "{name}"\nmodel = "{model_id}"\nsecurity_counter = {counter}',
                 'signing_key = "bench.pem"', extra,
                 f'target = {{ version = "{target}", image = "{files[target]}" }}', "sources = ["]
        lines += [f'    {{ version = "{v}", image = "{files[v]}" }},' for v in sources]
        return "\n".join(lines + ["]\n"])

    corpus_files = {**{k: str(corpus / v) for k, v in esp.items()}, **{k: str(corpus / v) for k, v in cold.items()}}
    text = "\n".join([
        'manifest_version = 1\n[release]\nname = "bench"\nurl_base = "https://fw.example.com/bench"\n',
        model("esp8266-at", "ESP8266-AT", 5, "1.7.5-respin", ["1.7.0", "1.7.1", "1.7.4", "1.7.5"], corpus_files),
        model("coldcard-mk3", "COLDCARD-MK3", 4, "4.0.2", ["3.1.8", "3.1.9", "4.0.1"], corpus_files),
        model("sam3x-board", "SAM3X-BOARD", 2, "0.9.0-3", ["0.8.0-1", "0.8.0-2", "0.9.0-1", "0.9.0-2"], boards,
              'layout = "layout.toml"'),
    ])
    manifest = where / "release.toml"
    manifest.write_text(text)
    if not (where / "bench.pem").exists():  # a kept work folder keeps its key
        subprocess.run([sys.executable, "-m", "otapack", "-q", "keygen", "--type", "ed25519", "-o",
                        str(where / "bench.pem")], check=True)
    return manifest


def digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and ".otapack-cache" not in p.parts}


def timed(args: list[str]) -> dict:
    """One ``otapack`` process: wall seconds, the children's CPU seconds, its --json output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "otapack", "-q", *args, "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"otapack {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    run = json.loads(proc.stdout)["run"]
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "worker_cpu": run["worker_cpu_seconds"], "task_cpu": [t["cpu_seconds"] for t in run["tasks"]],
            "task_main_cpu": [t["main_cpu_seconds"] for t in run["tasks"]],
            "load": load, "built": run["built"], "cached": run["cached"]}


def lpt_makespan(costs: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule, as the scheduler orders tasks (biggest first)."""
    loads = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        loads[loads.index(min(loads))] += cost
    return max(loads)


def one_round(manifest: Path, work: Path, ray: bool) -> tuple[dict, dict]:
    """Fresh folders: 1 worker, 2 workers, the rerun of the 2-worker folder (and Ray)."""
    figures, trees = {}, {}
    for name, extra in (("jobs1", ["--jobs", "1"]), ("jobs2", ["--jobs", "2"])) + \
            ((("ray2", ["--executor", "ray", "--jobs", "2"]),) if ray else ()):
        out = work / name
        shutil.rmtree(out, ignore_errors=True)
        figures[name] = timed(["release", str(manifest), "-o", str(out), *extra])
        trees[name] = digests(out)
    figures["rerun"] = timed(["release", str(manifest), "-o", str(work / "jobs2"), "--jobs", "2"])
    trees["rerun"] = digests(work / "jobs2")
    return figures, trees


def summary(rounds: list[dict]) -> dict:
    out = {}
    for name in rounds[0]:
        walls = [r[name]["wall"] for r in rounds]
        out[name] = {"wall_min": min(walls), "wall_median": statistics.median(walls),
                     "cpu_median": statistics.median(r[name]["cpu"] for r in rounds),
                     "worker_cpu_median": statistics.median(r[name]["worker_cpu"] for r in rounds),
                     "built": rounds[0][name]["built"], "cached": rounds[0][name]["cached"],
                     "load": [round(r[name]["load"], 2) for r in rounds]}
    one = out["jobs1"]["wall_median"]
    out["ratios"] = {"jobs2_over_jobs1": out["jobs2"]["wall_median"] / one,
                     "rerun_over_jobs1": out["rerun"]["wall_median"] / one}
    # Pair each round's 2-worker run with the same round's 1-worker run: load drifts between rounds.
    out["ratios"]["jobs2_over_jobs1_per_round"] = [r["jobs2"]["wall"] / r["jobs1"]["wall"] for r in rounds]
    # What task granularity allows: the 1-worker run's task CPU times on 2 workers, no other load.
    tasks = rounds[0]["jobs1"]["task_cpu"]
    main = rounds[0]["jobs1"]["task_main_cpu"]
    # A model of an idle 2-core machine from measured CPU times: one worker runs its task's own
    # thread (the diff core, encoding, the restore) alone, and the builders' compression threads
    # two at a time; two workers keep both cores busy, no better than the biggest-first schedule.
    one = sum(m + (c - m) / 2 for c, m in zip(tasks, main))
    two = max(sum(tasks) / 2, lpt_makespan([m + (c - m) / 2 for c, m in zip(tasks, main)], 2))
    out["tasks"] = {"count": len(tasks), "cpu_total": sum(tasks), "cpu_largest": max(tasks),
                    "main_thread_share": sum(main) / sum(tasks),
                    "lpt_2_workers_over_1": lpt_makespan(tasks, 2) / sum(tasks),
                    "idle_model": {"jobs1": one, "jobs2": two, "jobs2_over_jobs1": two / one}}
    if "ray2" in out:
        out["ratios"]["ray2_over_jobs1"] = out["ray2"]["wall_median"] / one
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ray", action="store_true", help="also a local Ray instance with 2 CPUs")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="otapack-release-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    manifest = make_release(args.corpus, work)
    rounds, reference = [], None
    for index in range(args.rounds):
        figures, trees = one_round(manifest, work, args.ray)
        for name, tree in trees.items():
            reference = reference or tree
            if tree != reference:
                raise SystemExit(f"round {index + 1}: {name} wrote other bytes than the first run")
        rounds.append(figures)
        print(f"round {index + 1}: " + ", ".join(f"{k} {v['wall']:.1f} s" for k, v in figures.items()),
              file=sys.stderr)
    result = summary(rounds)
    result["packages"] = len([p for p in reference if p.endswith(".pack")])
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print("| run | wall (median) | wall (min) | worker CPU (median) | built | cached | load avg at start |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name in [k for k in result if k in ("jobs1", "jobs2", "ray2", "rerun")]:
            r = result[name]
            print(f"| {name} | {r['wall_median']:.1f} s | {r['wall_min']:.1f} s | {r['worker_cpu_median']:.1f} s | "
                  f"{r['built']} | {r['cached']} | {', '.join(map(str, r['load']))} |")
        t = result["tasks"]
        model = t["idle_model"]
        print(f"\n{t['count']} tasks, {t['cpu_total']:.1f} CPU s in all, the largest {t['cpu_largest']:.1f} s "
              f"(serial work: 2 workers at best {t['lpt_2_workers_over_1']:.2f}); {100 * t['main_thread_share']:.0f} % "
              f"of the CPU time in the task's own thread, the rest in compression threads; idle 2-core model: "
              f"1 worker {model['jobs1']:.1f} s, 2 workers {model['jobs2']:.1f} s, ratio {model['jobs2_over_jobs1']:.2f}")
        ratios = result["ratios"]
        print(f"\n2 workers / 1 worker: {ratios['jobs2_over_jobs1']:.2f} (per round: "
              f"{', '.join(f'{x:.2f}' for x in ratios['jobs2_over_jobs1_per_round'])}); "
              f"rerun / first run: {ratios['rerun_over_jobs1']:.3f}; {result['packages']} packages, identical bytes "
              f"in every run")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
