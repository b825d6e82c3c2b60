"""What starting a command costs: wall time and the modules it loads.

    python bench/cli_startup.py [--runs 7]

For each command line (``otapack --version`` and ``COMMAND --help``) a
fresh interpreter runs ``otapack.cli.main``; the table shows the best wall
time of ``--runs`` runs, how many otapack modules were loaded, and which of
the heavy dependencies (construct, cryptography, littlefs, the diff core,
tqdm) came with it.  The facade (``otapack.api``) is lazy, so a command
should load only what it uses.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

COMMANDS = [["--version"]] + [[name, "--help"] for name in (
    "info", "verify", "partitions", "job", "keygen", "full", "diff", "minimal", "plan", "app", "fs")]
HEAVY = {"construct": "construct", "cryptography": "cryptography", "littlefs": "littlefs",
         "otapack.core.diff._core": "diff core", "tqdm": "tqdm", "otapack.features.minimal": "minimal"}

PROBE = ("import sys; from otapack.cli import main; main(sys.argv[1:]); "
         "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)")


def measure(args: list[str], runs: int) -> tuple[float, list[str]]:
    best, modules = float("inf"), []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
        best = min(best, time.perf_counter() - start)
        modules = proc.stderr.splitlines()
    return best, modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    python = (time.perf_counter() - start) / runs
    print(f"python -c pass: {python * 1000:.0f} ms (mean of {runs})\n")
    print("| command | best wall (ms) | otapack modules | heavy dependencies loaded |")
    print("|---|---:|---:|---|")
    for args in COMMANDS:
        wall, modules = measure(args, runs)
        ours = [m for m in modules if m == "otapack" or m.startswith("otapack.")]
        heavy = sorted({label for prefix, label in HEAVY.items()
                        if any(m == prefix or m.startswith(prefix + ".") for m in modules)})
        print(f"| `otapack {' '.join(args)}` | {wall * 1000:.0f} | {len(ours)} | {', '.join(heavy) or '-'} |")


if __name__ == "__main__":
    main()
