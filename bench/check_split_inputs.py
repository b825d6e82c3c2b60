"""End-to-end check of the container inputs on the real corpus: the Unisoc
8910 PAC pairs and the ELF pairs, through the CLI as a user runs it.

    python bench/check_split_inputs.py [--corpus ../shared/corpus] [--out report.md]

PAC pairs: ``partitions --json`` of both (flash partitions and items),
``diff``, ``verify --old --new``, ``apply`` (the flash partitions of the
restored image must equal the new PAC's, byte for byte), and ``full`` of
the new PAC through ``verify --new``.  ELF pairs (``old.elf``/``new.elf``,
no layout): ``diff``, ``verify``, ``apply``; beside the ``.bin`` package of
the same pair for size.  Exit status 0 only if every check passes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otapack.core.inputs import read_firmware  # noqa: E402


def otapack(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "otapack", "-q", *map(str, args)], capture_output=True, text=True)
    if proc.returncode:
        print(f"otapack {' '.join(map(str, args))} -> {proc.returncode}: {proc.stderr.strip()}", file=sys.stderr)
    return proc


def flash_identical(restored: Path, new: Path) -> bool:
    """Every flash partition of NEW at its address in the flat restored image."""
    image = read_firmware(new)
    data = restored.read_bytes()
    base = min(p.address for p in image.partitions)
    return all(data[p.address - base:p.address - base + p.size] == p.data for p in image.partitions)


def check_pac(pair: Path, work: Path) -> tuple[bool, dict]:
    old, new = pair / "old.pac", pair / "new.pac"
    docs = {}
    for side, path in (("old", old), ("new", new)):
        proc = otapack("partitions", path, "--json")
        docs[side] = json.loads(proc.stdout) if proc.returncode == 0 else None
    delta, full, flat = work / f"{pair.name}.pack", work / f"{pair.name}-full.pack", work / "restored.bin"
    ok = all(docs.values())
    ok = ok and otapack("diff", old, new, "-o", delta).returncode == 0
    ok = ok and otapack("verify", delta, "--old", old, "--new", new).returncode == 0
    ok = ok and otapack("apply", delta, "--old", old, "-o", flat).returncode == 0 and flash_identical(flat, new)
    ok = ok and otapack("full", new, "-o", full).returncode == 0
    ok = ok and otapack("verify", full, "--new", new).returncode == 0
    changed = json.loads(otapack("compare", old, new, "--json").stdout)
    return ok, {
        "partitions": {side: doc and [(p["name"], p["address"], p["size"], p["slot_size"]) for p in doc["partitions"]]
                       for side, doc in docs.items()},
        "items": docs["new"] and [(i["name"], i["kind"], i["address"], i["size"]) for i in docs["new"]["items"]],
        "items_changed": [i["name"] for i in changed.get("items", []) if i["status"] != "unchanged"],
        "delta": delta.stat().st_size if delta.exists() else 0,
        "full": full.stat().st_size if full.exists() else 0,
    }


def check_elf(pair: Path, work: Path) -> tuple[bool, dict]:
    old, new = pair / "old.elf", pair / "new.elf"
    pkg, bin_pkg, flat = work / f"{pair.name}-elf.pack", work / f"{pair.name}-bin.pack", work / "restored.bin"
    ok = otapack("diff", old, new, "-o", pkg).returncode == 0
    ok = ok and otapack("verify", pkg, "--old", old, "--new", new).returncode == 0
    ok = ok and otapack("apply", pkg, "--old", old, "-o", flat).returncode == 0
    ok = ok and flat.read_bytes() == read_firmware(new).partitions[0].data
    otapack("diff", pair / "old.bin", pair / "new.bin", "-o", bin_pkg)
    return ok, {"elf": pkg.stat().st_size if pkg.exists() else 0,
                "bin": bin_pkg.stat().st_size if bin_pkg.exists() else 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables as markdown here")
    args = ap.parse_args()
    lines = ["| PAC pair | flash partitions (new) | items changed | delta B | full B | round trip |",
             "|---|---|---|---:|---:|---|"]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for pair in sorted(p for p in args.corpus.iterdir() if (p / "old.pac").exists()):
            ok, info = check_pac(pair, work)
            failed += not ok
            parts = ", ".join(f"{n} {a:#x} {s:#x}/{slot:#x}" for n, a, s, slot in info["partitions"]["new"] or [])
            lines.append(f"| {pair.name} | {parts} | {', '.join(info['items_changed']) or '-'} | "
                         f"{info['delta']:,} | {info['full']:,} | {'ok' if ok else 'FAIL'} |")
        lines += ["", "| ELF pair (no layout) | delta from .elf B | delta from .bin B | round trip |",
                  "|---|---:|---:|---|"]
        for pair in sorted(p for p in args.corpus.iterdir() if (p / "old.elf").exists()):
            ok, info = check_elf(pair, work)
            failed += not ok
            lines.append(f"| {pair.name} | {info['elf']:,} | {info['bin']:,} | {'ok' if ok else 'FAIL'} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
