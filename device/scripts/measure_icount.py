#!/usr/bin/env python3
"""Instructions per byte of LZMA2 decoding and SHA-256 on emulated Cortex-M.

    python3 device/scripts/measure_icount.py [--opt -Os] [--opt -O2] [--build DIR] [--json]

Builds target/lzma2_sha256.c for the M0 and M3 (on mps2-an385) and the M4
(mps2-an386), compresses a few payloads with Python's lzma (the same liblzma
the builder uses), and runs the target's `icount` mode under
`qemu-system-arm -icount shift=0`. There every guest instruction advances
virtual time by 1 ns, so the CMSDK timer's ticks are a fixed multiple of
the instructions executed; the target times a loop of known length to give
that multiple (40 at the 25 MHz timer clock). Counts are exact and repeat
bit for bit from run to run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import otadev  # noqa: E402

REPO = otadev.DEVICE.parent
TARGETS = (("cortex-m0", "mps2-an385"), ("cortex-m3", "mps2-an385"), ("cortex-m4", "mps2-an386"))


def payloads() -> dict:
    fw = (REPO / "tests" / "fixtures" / "corpus" / "synthesizer-1.bin").read_bytes()
    words = b"partition window restore flash erase block signature delta LZMA2 the of a ".split()
    text = b" ".join(words[(i * 7 + i // 3) % len(words)] for i in range(40000))[:200000]
    return {
        "firmware-159K (9e, lc3 lp0 pb2)": (otadev.lzma2_raw(fw, 65536), len(fw)),
        "firmware-159K (9e, lc1 lp0 pb0)": (otadev.lzma2_raw(fw, 65536, lc=1, lp=0, pb=0), len(fw)),
        "text-200K (6)": (otadev.lzma2_raw(text, 65536, preset=6, extreme=False), len(text)),
    }


def measure(elf: Path, machine: str, payload: Path, dict_size: int) -> dict:
    res = otadev.run_qemu(elf, machine, ["icount", payload, dict_size], icount=True)
    if res.returncode:
        raise RuntimeError(f"{elf} on {machine}: exit {res.returncode}\n{res.output}")
    f = res.line("icount ")
    per_tick = int(f["calib_instructions"]) / int(f["calib_ticks"])
    out = int(f["out"])
    return {
        "instructions_per_tick": per_tick,
        "lzma2_instructions": round(int(f["lzma2_ticks"]) * per_tick),
        "sha256_instructions": round(int(f["sha256_ticks"]) * per_tick),
        "lzma2_per_byte": int(f["lzma2_ticks"]) * per_tick / out,
        "sha256_per_byte": int(f["sha256_ticks"]) * per_tick / out,
        "out": out,
        "sha256": f["sha256"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", action="append")
    ap.add_argument("--build", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    opts = args.opt or ["-Os", "-O2"]
    build = args.build or Path(tempfile.mkdtemp(prefix="ota-icount-"))
    data = payloads()
    files = {}
    for i, (name, (blob, _)) in enumerate(data.items()):
        files[name] = build / f"payload{i}.lzma2"
        files[name].write_bytes(blob)
    report = []
    for opt in opts:
        for cpu, board in TARGETS:
            elf = otadev.build_arm(build / f"{cpu}{opt}", board, cpu, opt)
            for name in data:
                r = measure(elf, board, files[name], 65536)
                r.update(cpu=cpu, opt=opt, payload=name)
                report.append(r)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("| CPU | opt | payload | LZMA2 instr/byte | SHA-256 instr/byte |")
    print("|---|---|---|---:|---:|")
    for r in report:
        print(f"| {r['cpu'].replace('cortex-', '')} | {r['opt']} | {r['payload']} | "
              f"{r['lzma2_per_byte']:.1f} | {r['sha256_per_byte']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
