#!/usr/bin/env python3
"""Deliberately broken copies of the LZMA2 decoder, each of which the liblzma
oracle must reject: evidence that the oracle tests what it claims.

    python3 device/scripts/decoder_mutants.py BUILD_DIR

Each mutant is one textual change to src/ota_lzma2.c (a rule dropped or
relaxed). It is compiled with the oracle and run on a short matrix; the run
must report a disagreement. A change that no longer applies (the source
moved on) is an error too, so this list is kept in step with the decoder.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEVICE = Path(__file__).resolve().parent.parent

MUTANTS = [
    ("no end-of-chunk code check", "        if (rc.code != 0)\n            bad = 1;", "        if (0)\n            bad = 1;"),
    ("no first-byte check", "    if (d->hdr[0] != 0) /* the coder's first byte is always 0 */",
     "    if (0) /* the coder's first byte is always 0 */"),
    ("distance checked against the dictionary size", "if (rep0 >= (wrapped ? dsize : pos))", "if (rep0 >= dsize)"),
    ("dictionary not rounded like liblzma", "d->dict_bytes = OTA_LZMA2_DICT_BYTES(dict_size);",
     "d->dict_bytes = dict_size < 4096 ? 4096 : dict_size;"),
    ("previous byte not reset", "    d->dict[d->dict_bytes - 1] = 0; /* the \"previous byte\" of the first literal */", ""),
    ("position not reset with the dictionary", "static void dict_reset(struct ota_lzma2 *d)\n{\n    d->pos = 0;",
     "static void dict_reset(struct ota_lzma2 *d)\n{\n"),
    ("match may run past the chunk end", "        if (d->pending)\n            bad = 1;", "        if (0)\n            bad = 1;"),
    ("0x01 chunk does not require new props", "            if (c >= 0xE0 || c == 0x01) {", "            if (c >= 0xE0) {"),
    ("packed size not enforced", "        if (d->packed_left || d->hold_len)\n            return OTA_ERR_LZMA_DATA;",
     "        if (0)\n            return OTA_ERR_LZMA_DATA;"),
]


def run_mutant(build: Path, source: str, i: int, name: str, old: str, new: str) -> str:
    if source.count(old) != 1:
        return f"STALE: {name} (its change no longer applies to src/ota_lzma2.c)"
    mutant = build / f"mutant{i}.c"
    mutant.write_text(source.replace(old, new))
    exe = build / f"oracle-mutant{i}"
    subprocess.run(["gcc", "-std=c99", "-O1", "-I", DEVICE / "include", mutant, DEVICE / "src" / "ota_status.c",
                    DEVICE / "tests" / "test_lzma2_oracle.c", "-o", exe, "-llzma"], check=True)
    workdir = build / f"run{i}"
    workdir.mkdir(exist_ok=True)
    proc = subprocess.run([exe, "--quiet", "--cases", "120"], capture_output=True, text=True, cwd=workdir,
                          timeout=600)
    caught = proc.returncode == 1 and "DISAGREE" in proc.stderr
    return f"{'caught' if caught else 'MISSED'}: {name}"


def main(argv) -> int:
    build = Path(argv[1])
    build.mkdir(parents=True, exist_ok=True)
    source = (DEVICE / "src" / "ota_lzma2.c").read_text()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda m: run_mutant(build, source, m[0], *m[1]), enumerate(MUTANTS)))
    for line in results:
        print(line)
    caught = sum(r.startswith("caught") for r in results)
    print(f"mutants: {caught} of {len(MUTANTS)} caught")
    return 0 if caught == len(MUTANTS) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
