#!/usr/bin/env python3
"""Code size of the device library per Cortex-M CPU, and its worst-case stack.

    python3 device/scripts/size_report.py [--opt -Os] [--build DIR] [--json]

Compiles each library source alone with arm-none-eabi-gcc (-mthumb, the given
optimisation, -ffunction-sections) for cortex-m0, -m3, -m4 and -m33 and reads
text/data/bss with arm-none-eabi-size. data and bss must be 0: the library has
no global mutable state. Stack: the deepest call chain from each public
function, summing -fstack-usage frames along calls found in the relocations
(no recursion, so the chain is finite).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import otadev  # noqa: E402

CPUS = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m33")
ENTRY_POINTS = ("ota_lzma2_decode", "ota_sha256_update", "ota_sha256_final", "ota_crc32")


def sizes(obj_dir: Path) -> dict:
    out = {}
    for o in sorted(obj_dir.glob("*.o")):
        proc = otadev.run(["arm-none-eabi-size", o])
        text, data, bss = (int(x) for x in proc.stdout.splitlines()[1].split()[:3])
        out[o.stem] = {"text": text, "data": data, "bss": bss}
    return out


#: What an integrator calls; everything else is reached from these or dropped.
PUBLIC = ("ota_restore_begin", "ota_restore_step", "ota_restore_run", "ota_check_name", "ota_status_name")


def linked(obj_dir: Path, objects, cpu: str, entries=PUBLIC) -> dict:
    """`.text` (+ `.rodata`) per object that survives a link of `objects` with
    --gc-sections from the public entry points. Symbols outside (string.h,
    the SHA-256 and signature ports) stay unresolved: they are the
    integrator's, and are not counted. `entries` without the two name
    functions is an integrator that only logs numbers."""
    elf = obj_dir / "linked.elf"
    files = [obj_dir / f"{o}.o" for o in objects]
    cmd = ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-nostdlib", "-nostartfiles", "-Wl,--gc-sections",
           "-Wl,--print-gc-sections", f"-Wl,-e,{entries[0]}", *(f"-Wl,-u,{p}" for p in entries[1:]),
           "-Wl,--unresolved-symbols=ignore-all", *files, "-o", elf]
    removed = set(re.findall(r"removing unused section '([^']+)' in file '([^']+)'", otadev.run(cmd).stderr))
    out = {}
    for o, f in zip(objects, files):
        kept = 0
        for line in otadev.run(["arm-none-eabi-readelf", "-S", "-W", f]).stdout.splitlines():
            m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+\S+\s+\S+\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
            if m and "A" in m.group(3) and (m.group(1).startswith(".text") or m.group(1).startswith(".rodata")):
                if (m.group(1), str(f)) not in removed:
                    kept += int(m.group(2), 16)
        out[o] = kept
    return out


def stack(obj_dir: Path) -> dict:
    """Worst stack per entry point: frame sizes from .su, calls from relocations."""
    frames, calls = {}, {}
    for su in obj_dir.glob("*.su"):
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            name = parts[0].rsplit(":", 1)[-1].split(".")[0]
            frames[name] = max(frames.get(name, 0), int(parts[1]))
    for o in obj_dir.glob("*.o"):
        dump = otadev.run(["arm-none-eabi-objdump", "-dr", o]).stdout
        current = None
        for line in dump.splitlines():
            m = re.match(r"^[0-9a-f]+ <([^>]+)>:", line)
            if m:
                current = m.group(1).split(".")[0]
                calls.setdefault(current, set())
            m = re.search(r"R_ARM_THM_(?:CALL|JUMP24)\s+(\S+)", line)
            if m and current:
                callee = m.group(1).split(".")[0]
                if callee != current and not callee.startswith("."):
                    calls[current].add(callee)

    def depth(fn, seen=()):
        if fn in seen:
            raise RuntimeError(f"recursion through {fn}: {' -> '.join(seen + (fn,))}")
        return frames.get(fn, 0) + max((depth(c, seen + (fn,)) for c in calls.get(fn, ())), default=0)

    return {e: depth(e) for e in ENTRY_POINTS if e in calls}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", default="-Os")
    ap.add_argument("--build", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    otadev.require("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-objdump", "make")
    build = args.build or Path(tempfile.mkdtemp(prefix="ota-size-"))
    report = {}
    for cpu in CPUS:
        d = build / cpu
        otadev.make(d, "objs", CPU=cpu, ARM_OPT=args.opt)
        report[cpu] = {"objects": sizes(d), "stack": stack(d)}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    names = sorted(report[CPUS[0]]["objects"])

    def cell(v):
        return f"{v['text']}/{v['data']}/{v['bss']}"

    print(f"text/data/bss bytes (arm-none-eabi-size), Thumb, {args.opt}\n")
    print("| object | " + " | ".join(c.replace("cortex-", "") for c in CPUS) + " |")
    print("|---|" + "---:|" * len(CPUS))
    for n in names:
        print(f"| {n} | " + " | ".join(cell(report[c]["objects"][n]) for c in CPUS) + " |")
    totals = {c: {k: sum(v[k] for v in report[c]["objects"].values()) for k in ("text", "data", "bss")} for c in CPUS}
    print("| **total** | " + " | ".join(cell(totals[c]) for c in CPUS) + " |")
    print("\nworst-case stack (bytes, deepest call chain)\n")
    print("| entry | " + " | ".join(c.replace("cortex-", "") for c in CPUS) + " |")
    print("|---|" + "---:|" * len(CPUS))
    for e in ENTRY_POINTS:
        print(f"| {e} | " + " | ".join(str(report[c]["stack"].get(e, "-")) for c in CPUS) + " |")
    bad = [(c, n) for c in CPUS for n, v in report[c]["objects"].items() if v["data"] or v["bss"]]
    if bad:
        print(f"\nglobal mutable state found in: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
