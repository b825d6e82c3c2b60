"""Round-trip every corpus image through the CLI: full and delta packages,
info --json, verify (with --new), apply, byte comparison.

    python bench/check_corpus.py [--corpus ../shared/corpus] [--out docs/corpus-check.md]

Exit status 0 only if every package restores byte-identically.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import CORPUS_HELP, DEFAULT_CORPUS, corpus_pairs  # noqa: E402


def otapack(*args: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "otapack", "-q", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        print(f"otapack {' '.join(args)} -> {proc.returncode}: {proc.stderr.strip()}", file=sys.stderr)
    return proc.returncode, proc.stdout, elapsed


def check_full(image: Path, work: Path) -> tuple[bool, int, float]:
    pkg = work / f"{image.parent.name}-{image.stem}-full.pack"
    out = work / "restored.bin"
    ok = otapack("full", str(image), "-o", str(pkg))[0] == 0
    ok = ok and json.loads(otapack("info", str(pkg), "--json")[1])["header"]["kind"] == "full"
    code, _, verify_time = otapack("verify", str(pkg), "--new", str(image))
    ok = ok and code == 0 and otapack("apply", str(pkg), "-o", str(out))[0] == 0
    ok = ok and out.read_bytes() == image.read_bytes()
    return ok, pkg.stat().st_size if pkg.exists() else 0, verify_time


def check_delta(pair: Path, work: Path) -> tuple[bool, int, float, float]:
    old, new = pair / "old.bin", pair / "new.bin"
    pkg = work / f"{pair.name}.pack"
    out = work / "restored.bin"
    code, _, build_time = otapack("diff", str(old), str(new), "-o", str(pkg))
    ok = code == 0
    code, _, verify_time = otapack("verify", str(pkg), "--old", str(old), "--new", str(new))
    ok = ok and code == 0 and otapack("apply", str(pkg), "--old", str(old), "-o", str(out))[0] == 0
    ok = ok and out.read_bytes() == new.read_bytes()
    return ok, pkg.stat().st_size if pkg.exists() else 0, build_time, verify_time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=CORPUS_HELP)
    ap.add_argument("--out", type=Path, default=None, help="also write the table as markdown here")
    args = ap.parse_args()
    rows = ["| pair | full old | full new | delta | delta build s (incl. self-check) | delta verify s | round trip |",
            "|---|---:|---:|---:|---:|---:|---|"]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for pair in corpus_pairs(args.corpus):
            full_old = check_full(pair / "old.bin", work)
            full_new = check_full(pair / "new.bin", work)
            delta = check_delta(pair, work)
            ok = full_old[0] and full_new[0] and delta[0]
            failures += not ok
            rows.append(f"| {pair.name} | {full_old[1]:,} | {full_new[1]:,} | {delta[1]:,} | {delta[2]:.2f} | "
                        f"{delta[3]:.2f} | {'byte-identical' if ok else 'FAILED'} |")
            print(rows[-1], flush=True)
    if args.out:
        import datetime

        from otapack.version import __version__

        head = ["# Corpus round trips through the CLI", "",
                f"Written by `python bench/check_corpus.py --out {args.out}` on "
                f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC with otapack {__version__}.",
                "For every pair: `otapack full` of old and new, `info --json`, `verify --new` and `apply` of each;",
                "`otapack diff`, `verify --old --new` and `apply --old` of the delta; every restored image is",
                "compared byte for byte with the original. Sizes in bytes; times include process start.", ""]
        args.out.write_text("\n".join(head + rows) + f"\n\n{failures} failures.\n")
    print(f"{failures} failures", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
