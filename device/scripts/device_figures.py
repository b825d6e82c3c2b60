#!/usr/bin/env python3
"""The figures of docs/device.md: code size, workspace, instructions per byte, host speed.

    python3 device/scripts/device_figures.py [--write docs/device.md] [--build DIR] [--json]
    python3 device/scripts/device_figures.py --check       # a small subset, nothing written (the test)

Every table between the markers ``<!-- device-figures:begin -->`` and
``<!-- device-figures:end -->`` of docs/device.md is this script's output:

- code size: each library object compiled alone with arm-none-eabi-gcc -Os
  for cortex-m0/m3/m4 (``size_report.sizes``), with all switches on,
  ``OTA_WITH_DELTA=0``, ``OTA_WITH_SIGNATURE=0`` and both off,
  ``OTA_WITH_TRANSFORMS=0`` and Thumb-2 transforms only; the restore
  core (engine, decoder, flash wrappers, CRC-32, status names) apart from the
  SHA-256 and signature-form code (the ports) and the delta-v2 transform
  (``ota_transform``);
- workspace per package kind (full, delta, multi-partition): the header's
  ``ram_required``, the Python restore's peak, and the smallest workspace the
  C restore completes with (bisection through the host driver);
- instructions per byte under ``qemu-system-arm -icount shift=0``: LZMA2
  decoding and SHA-256 (``measure_icount.measure``, target/lzma2_sha256.c)
  and whole restores (target/restore_icount.c: the checks, and the apply
  phase with decoding, patching, programming and read-back); for a delta-v2
  package also its twin with the transform section emptied (arch none, the
  same windows, a target hash of what they then restore), so the difference
  is the transform's own cost;
- host decoding speed against liblzma (device/bench/bench_lzma2.c).

Counts and sizes are exact and repeat; the host speed is a timing and is only
reported, never checked.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure_icount  # noqa: E402
import otadev  # noqa: E402
import size_report  # noqa: E402

REPO = otadev.DEVICE.parent
FIXTURES = REPO / "tests" / "fixtures"
DOC = REPO / "docs" / "device.md"
BEGIN, END = "<!-- device-figures:begin -->", "<!-- device-figures:end -->"

CPUS = ("cortex-m0", "cortex-m3", "cortex-m4")
#: name -> DEFS for the library objects
VARIANTS = {
    "all switches on": "",
    "OTA_WITH_DELTA=0": "-DOTA_WITH_DELTA=0",
    "OTA_WITH_SIGNATURE=0": "-DOTA_WITH_SIGNATURE=0",
    "OTA_WITH_DELTA=0 OTA_WITH_SIGNATURE=0": "-DOTA_WITH_DELTA=0 -DOTA_WITH_SIGNATURE=0",
    "OTA_WITH_TRANSFORMS=0": "-DOTA_WITH_TRANSFORMS=0",
    "thumb2 transforms only": "-DOTA_TRANSFORM_AARCH64=0 -DOTA_TRANSFORM_ARM32=0",
}
ENGINE = ("ota_restore", "ota_restore_apply", "ota_in_place")  # the in-place hooks are always linked with deltas
DECODER = ("ota_lzma2", "ota_decoder_lzma2")
SUPPORT = ("ota_flash", "ota_crc32", "ota_status")
PORTS = ("ota_sha256", "ota_crypto")
TRANSFORM = ("ota_transform",)
DELTA_OPS = ("delta", "delta-v2")
WRITTEN_OPS = ("replace",) + DELTA_OPS
TEXT_TARGET = 8192
#: ota_restore_begin refuses a smaller workspace (a package chunk and one 4 KiB erase block).
WORKSPACE_FLOOR = 4096 + 4096
WORKSPACE_TARGET_EXTRA = 16 << 10
#: (qemu machine, CPU) for the instruction counts
ICOUNT_TARGETS = (("mps2-an385", "cortex-m0"), ("mps2-an385", "cortex-m3"), ("mps2-an386", "cortex-m4"))
#: Published figures of other appliers, quoted, not measured here.
PUBLISHED = (
    ("HPatchLite (patch core)", "662 B of code (\"compiled by Mbed Studio\"); RAM = one decompressor + an input "
     "cache of at least 3 B; no signature, no resume", "github.com/sisong/HPatchLite, README"),
    ("detools (C applier, sequential patches)", "about 9 KB of code, as issue 14 quotes it; the README describes "
     "it as an \"incremental apply patch implemented in C, suitable for memory constrained embedded devices\" "
     "and gives no size table; LZMA through liblzma with malloc", "github.com/eerimoq/detools, README; issue 14"),
)


# ------------------------------------------------------------------ code size

def code_size(build: Path, cpus=CPUS, variants=VARIANTS) -> dict:
    out = {}
    for cpu in cpus:
        for index, (name, defs) in enumerate(variants.items()):
            d = build / "size" / f"{cpu}-{index}"
            otadev.make(d, "objs", CPU=cpu, ARM_OPT="-Os", DEFS=defs)
            objs = size_report.sizes(d)
            for o, s in objs.items():
                if s["data"] or s["bss"]:
                    raise RuntimeError(f"{o} on {cpu} ({name}) has data/bss: {s}")

            def total(names):
                return sum(objs[n]["text"] for n in names)

            core = ENGINE + DECODER + SUPPORT
            link = size_report.linked(d, core, cpu)
            link_quiet = size_report.linked(d, core, cpu, size_report.PUBLIC[:3])
            link_transform = size_report.linked(d, core + TRANSFORM, cpu, size_report.PUBLIC[:3])
            out[f"{cpu}|{name}"] = {"linked": sum(link.values()), "linked_no_names": sum(link_quiet.values()),
                                    "transform": total(TRANSFORM), "linked_transform": sum(link_transform.values()),
                                    "cpu": cpu, "variant": name, "engine": total(ENGINE), "decoder": total(DECODER),
                                    "support": total(SUPPORT), "core": total(ENGINE + DECODER + SUPPORT),
                                    "sha256": objs["ota_sha256"]["text"], "crypto": objs["ota_crypto"]["text"],
                                    "data": sum(s["data"] for s in objs.values()),
                                    "bss": sum(s["bss"] for s in objs.values())}
    return out


# ------------------------------------------------------------------ packages

def packages(subset: bool = False) -> dict:
    """name -> (package, old FirmwareImage, new FirmwareImage, {partition: (address, slot, old bytes)})."""
    from otapack import FirmwareImage, PackageOptions, build_delta
    from otapack.core.model import Partition, PartitionType, Policy

    prog_old = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    prog_new = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()
    old, new = FirmwareImage.single(prog_old), FirmwareImage.single(prog_new)
    s1 = (FIXTURES / "corpus" / "synthesizer-1.bin").read_bytes()
    s2 = (FIXTURES / "corpus" / "synthesizer-2.bin").read_bytes()
    sold, snew = FirmwareImage.single(s1), FirmwareImage.single(s2)
    v2 = build_delta(sold, snew, PackageOptions(model="", lzma_dict_size=1 << 16, build_time=0,
                                                transform_arch="thumb2"))
    out = {
        "delta (programmer 0.8.0 -> 0.9.0, golden)": (
            (FIXTURES / "golden" / "programmer-delta.pack").read_bytes(), old, new, {"image": (0, 65536, prog_old)}),
        V2_PACKAGE: (v2, sold, snew, {"image": (0, 196608, s1)}),
    }
    if subset:
        return out
    out["full (programmer 0.9.0, golden)"] = (
        (FIXTURES / "golden" / "programmer-full.pack").read_bytes(), old, new, {"image": (0, 65536, prog_old)})
    out["delta (synthesizer 1 -> 2, 64 KiB dictionary)"] = (
        build_delta(sold, snew, PackageOptions(model="", lzma_dict_size=1 << 16, build_time=0)), sold, snew,
        {"image": (0, 196608, s1)})
    prog2 = prog_old[:1000] + b"otapack on qemu." + prog_old[1016:]

    def image(app, data):
        return FirmwareImage((
            Partition("boot", 0, prog_old[:4096], policy=Policy.KEEP),
            Partition("app", 0x10000, app),
            Partition("data", 0x40000, data, type=PartitionType.DATA),
            Partition("nvram", 0x60000, b"\x00" * 4096, type=PartitionType.NV, policy=Policy.SKIP),
        ))

    mold, mnew = image(prog_old, s1[:20000]), image(prog2, s2[:20000])
    slots = {"boot": 0x10000, "app": 0x30000, "data": 0x20000, "nvram": 0x1000}
    out["multi-partition delta (boot kept, app and data patched, nvram skipped)"] = (
        build_delta(mold, mnew, PackageOptions(model="", lzma_dict_size=1 << 16, build_time=0)), mold, mnew,
        {p.name: (p.address, slots[p.name], p.data) for p in mold.partitions})
    return out


V2_PACKAGE = "delta-v2 (synthesizer 1 -> 2, --arch thumb2, 64 KiB dictionary)"
V2_TWIN = "the same windows, transform section emptied (arch none)"


def _v2_streams(pkg: bytes):
    """(entry, payload stream, section end offset, windows offset) of each delta-v2 partition."""
    import io

    from otapack import read_package
    from otapack.core.codecs import decompress_lzma2
    from otapack.core.restore.delta import read_stream_header
    from otapack.core.restore.transform_section import read_tables

    p = read_package(pkg)
    for e in p.partitions:
        if e.operation != "delta-v2":
            continue
        stream = decompress_lzma2(p.payload(e), p.header.lzma_dict_size, e.uncompressed_length)
        reader = io.BytesIO(stream)
        header = read_stream_header(reader, e.name, 2)
        read_tables(reader, header.transform_counts, e.source_size, e.name)
        yield e, stream, header, reader.tell()


def table_ram(pkg: bytes) -> int:
    """OTA_TRANSFORM_RAM of the largest delta-v2 partition's tables (0: none)."""
    return max((h.transform_ram for _, _, h, _ in _v2_streams(pkg)), default=0)


def untransformed_twin(pkg: bytes, old):
    """``pkg`` with every delta-v2 stream's section replaced by arch none
    (0, 0, 0, 0) and its target hash set to what the unchanged windows then
    restore: the same decoding, patching and writing, minus the transform."""
    import hashlib
    import io
    from dataclasses import replace

    from otapack import FirmwareImage, read_package
    from otapack.core.codecs import compress_lzma2
    from otapack.core.container import assemble
    from otapack.core.formats.varint import encode_varint
    from otapack.core.restore.delta import apply_delta, read_stream_header
    from otapack.core.restore.resources import RamMeter

    p = read_package(pkg)
    twins, images = {}, {}
    for e, stream, header, windows_at in _v2_streams(pkg):
        head = b"".join(encode_varint(v) for v in (header.window_size, header.max_tuples, int(header.zero_runs)))
        twin = head + bytes(4) + stream[windows_at:]
        reader, out = io.BytesIO(twin), io.BytesIO()
        source = next(q.data for q in old.partitions if q.name == e.name)
        apply_delta(reader, lambda pos, n: source[pos:pos + n], e.source_size, out, e.target_size, RamMeter(),
                    e.name, read_stream_header(reader, e.name, 2))
        images[e.name] = out.getvalue()
        # lc + lp 0: the smallest LZMA model, within the declared RAM
        twins[e.name] = (replace(e, uncompressed_length=len(twin), target_sha256=hashlib.sha256(images[e.name]).digest()),
                         compress_lzma2(twin, p.header.lzma_dict_size, ((0, 0, 0),)))
    parts = [twins.get(r.name, (r, p.payload(r))) for r in p.partitions]
    new = FirmwareImage(tuple(replace(q, data=images.get(q.name, q.data)) for q in old.partitions))
    return assemble(p.header, parts, p.signature_slot, limits=False), new


# ------------------------------------------------------------------ workspace

def workspace(pkgs: dict) -> list[dict]:
    from otapack import DeviceOptions, read_package, verify_package
    from otapack.core.restore import c_engine

    rows = []
    for name, (pkg, old, new, _) in pkgs.items():
        header = read_package(pkg).header
        py = verify_package(pkg, old, new, DeviceOptions(engine="python"))
        if not py.ok:
            raise RuntimeError(f"{name}: the Python restore fails: {py.error}")
        declared = header.ram_required
        saved = c_engine._WORKSPACE_SLACK
        try:
            def passes(size: int) -> bool:
                # The driver gives the engine ram_required + _WORKSPACE_SLACK bytes.
                c_engine._WORKSPACE_SLACK = size - declared
                try:
                    return verify_package(pkg, old, new, DeviceOptions(engine="c")).ok
                except RuntimeError as exc:  # ota_restore_begin refuses a workspace below its floor
                    if "workspace" not in str(exc):
                        raise
                    return False

            hi = declared + saved
            if not passes(hi):
                raise RuntimeError(f"{name}: the C restore fails with the documented workspace")
            lo = 0
            while hi - lo > 8:
                mid = (lo + hi) // 2 // 8 * 8
                if mid <= lo:
                    break
                lo, hi = (lo, mid) if passes(mid) else (mid, hi)
        finally:
            c_engine._WORKSPACE_SLACK = saved
        dictionary = min(header.lzma_dict_size, max(
            (e.uncompressed_length for e in read_package(pkg).partitions if e.operation in WRITTEN_OPS),
            default=0))
        rows.append({"package": name, "kind": header.kind, "lzma_dict_size": header.lzma_dict_size,
                     "tables": table_ram(pkg),
                     "dictionary": dictionary, "ram_required": declared, "python_peak": py.restore.ram_peak,
                     "c_minimum": hi, "c_documented": declared + saved})
    return rows


# ------------------------------------------------------------------ instruction counts

def decoder_icount(build: Path, targets=ICOUNT_TARGETS, subset: bool = False) -> list[dict]:
    data = measure_icount.payloads()
    if subset:
        data = dict(list(data.items())[:1])
    files = {}
    for i, (name, (blob, _)) in enumerate(data.items()):
        files[name] = build / f"payload{i}.lzma2"
        files[name].write_bytes(blob)
    rows = []
    for machine, cpu in targets:
        elf = otadev.build_arm(build / f"lz-{cpu}", machine, cpu, "-Os")
        for name in data:
            r = measure_icount.measure(elf, machine, files[name], 65536)
            rows.append({"cpu": cpu, "payload": name, "lzma2_per_byte": r["lzma2_per_byte"],
                         "sha256_per_byte": r["sha256_per_byte"]})
    return rows


#: the library build an MCU integrator makes for Thumb-2 code (32-bit transform addresses)
THUMB2_ONLY = "-DOTA_TRANSFORM_AARCH64=0 -DOTA_TRANSFORM_ARM32=0"


def restore_icount(build: Path, pkgs: dict, targets=ICOUNT_TARGETS, defs: str = "") -> list[dict]:
    from otapack import DeviceOptions, verify_package

    from otapack.core.restore.engine import Restore
    from otapack.core.verify import make_device

    pkgs = dict(pkgs)
    if V2_PACKAGE in pkgs:
        pkg, old, _, parts = pkgs[V2_PACKAGE]
        twin, twin_new = untransformed_twin(pkg, old)
        pkgs[V2_TWIN] = (twin, old, twin_new, parts)
    rows = []
    for machine, cpu in targets:
        out = build / (f"ri-{cpu}" + ("-defs" if defs else ""))
        otadev.make(out, "arm-restore-icount", BOARD=machine, CPU=cpu, ARM_OPT="-Os", DEFS=defs)
        for i, (name, (pkg, old, new, parts)) in enumerate(pkgs.items()):
            work = out / f"case{i}"
            work.mkdir(exist_ok=True)
            (work / "pkg.pack").write_bytes(pkg)
            args = ["pkg.pack", 4096, "out.bin"]
            for pname, (address, slot, data) in parts.items():
                (work / f"{pname}.bin").write_bytes(data)
                args.append(f"{pname}:{address}:{slot}:{pname}.bin")
            res = otadev.run_qemu(out / "restore_icount.elf", machine, args, icount=True, cwd=work)
            if res.returncode:
                raise RuntimeError(f"{name} on {cpu}: exit {res.returncode}\n{res.output}")
            f = res.line("icount ")
            per_tick = int(f["calib_instructions"]) / int(f["calib_ticks"])
            report = verify_package(pkg, old, new, DeviceOptions())
            if not report.ok:
                raise RuntimeError(f"{name}: the Python restore fails: {report.error}")
            target_bytes = sum(len(p.data) for p in new.partitions
                               if any(e.name == p.name and e.operation in WRITTEN_OPS
                                      for e in report.restore.header.entries))
            restore = Restore(make_device(old))
            restore.run(pkg)
            rows.append({"cpu": cpu, "package": name, "target_bytes": target_bytes, "units": restore.work.units,
                         "check_instructions": round(int(f["check_ticks"]) * per_tick),
                         "apply_instructions": round(int(f["apply_ticks"]) * per_tick),
                         "package_bytes": len(pkg)})
    return rows


# ------------------------------------------------------------------ host speed

def host_speed(build: Path) -> dict:
    otadev.build_host(build / "host")
    proc = otadev.run([build / "host" / "bench_lzma2"], timeout=1800)
    m = re.search(r"geometric mean ota/liblzma time ratio: ([0-9.]+) over (\d+) streams", proc.stdout)
    if not m:
        raise RuntimeError(f"bench_lzma2 printed no summary:\n{proc.stdout}")
    return {"ratio": float(m.group(1)), "streams": int(m.group(2)), "table": proc.stdout.strip()}


# ------------------------------------------------------------------ report

def _n(v: float) -> str:
    return f"{v:,.0f}"


def render(fig: dict) -> str:
    lines = [BEGIN, "", "*Generated by `python3 device/scripts/device_figures.py --write docs/device.md`; "
             "do not edit by hand.*", ""]
    sizes = fig["sizes"]
    lines += ["### Code size (`.text` bytes; `.data` and `.bss` are 0 in every object)", "",
              "arm-none-eabi-gcc -Os -mthumb -ffunction-sections, each object compiled alone (before linking "
              "and `--gc-sections`, so an upper bound). *Core* = engine (`ota_restore` + `ota_restore_apply` + "
              "`ota_in_place`) + "
              "LZMA2 decoder (`ota_lzma2` + `ota_decoder_lzma2`) + `ota_flash`, `ota_crc32` (64 B nibble table "
              "at -Os), `ota_status` (names). *Linked* = what survives a link of the core objects with "
              "`--gc-sections` from the public entry points (`.text` + `.rodata`; string.h and the ports left "
              "unresolved, not counted); *no names* = the same link when the integrator never calls "
              "`ota_check_name`/`ota_status_name`. The SHA-256 and signature-form objects are the ports' side, "
              "apart. *Transform* = `ota_transform` (the delta-v2 section parser and operand rewrites of every "
              "enabled set; with `OTA_WITH_TRANSFORMS=0` only the parser, which still reads arch none); *+ "
              "transform, linked* = the no-names link of the core objects with it.", "",
              "| CPU | build | engine | decoder | flash+crc32+status | **core** | linked | linked, no names "
              "| transform | + transform, linked | SHA-256 | signature form | data+bss |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in sizes.values():
        lines.append(f"| {s['cpu'].replace('cortex-', '')} | {s['variant']} | {_n(s['engine'])} | {_n(s['decoder'])} "
                     f"| {_n(s['support'])} | **{_n(s['core'])}** | {_n(s['linked'])} | {_n(s['linked_no_names'])} "
                     f"| {_n(s['transform'])} | {_n(s['linked_transform'])} | {_n(s['sha256'])} | {_n(s['crypto'])} "
                     f"| {s['data'] + s['bss']} |")
    m4 = sizes.get("cortex-m4|all switches on")
    if m4:
        core_nostatus = m4["engine"] + m4["decoder"]
        verdict = "met" if m4["core"] <= TEXT_TARGET else "**not met**"
        lines += ["", f"Target: restore core + LZMA2 decoder <= {TEXT_TARGET:,} B of `.text` on Cortex-M4 at -Os: "
                  f"{verdict} ({_n(m4['core'])} B with flash, CRC-32 and names; {_n(m4['linked_no_names'])} B linked "
                  f"without the name functions; engine + decoder alone {_n(core_nostatus)} B)."]
        off = sizes.get("cortex-m4|OTA_WITH_TRANSFORMS=0")
        thumb = sizes.get("cortex-m4|thumb2 transforms only")
        if off and thumb:
            lines += ["", f"delta-v2 on Cortex-M4: re-aiming the add pieces costs the engine "
                      f"{_n(m4['engine'] - off['engine'])} B (engine {_n(m4['engine'])} B against "
                      f"{_n(off['engine'])} B with `OTA_WITH_TRANSFORMS=0`, which still reads and prices the section "
                      "to restore arch none), the "
                      f"transform object {_n(m4['transform'])} B with all three sets and {_n(thumb['transform'])} B "
                      f"with Thumb-2 alone (the parser alone: {_n(off['transform'])} B); linked, the Thumb-2-only "
                      f"build adds {_n(thumb['linked_transform'] - thumb['linked_no_names'])} B to the core."]
    lines += ["", "### Workspace per package kind (bytes)", "",
              "`ram_required` is what the header declares (the builder's pricing); *Python peak* what the Python "
              "restore's RAM ledger reached; *C minimum* the smallest workspace the C restore completes with "
              "(bisection to 8 B through the host driver); *C documented* = `OTA_RESTORE_WORKSPACE_BYTES("
              "ram_required)`. *Dictionary* is the decoder's window: `min(lzma_dict_size, stream length)`. *Tables*: "
              "`OTA_TRANSFORM_RAM(map entries, regions)` of a delta-v2 stream (the map and regions in the "
              "workspace, plus 16 B of look-ahead and carry), priced inside `ram_required`.", "",
              "| package | kind | lzma_dict_size | dictionary | tables | ram_required | Python peak | C minimum "
              "| C documented | C minimum - dictionary |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w in fig["workspace"]:
        lines.append(f"| {w['package']} | {w['kind']} | {_n(w['lzma_dict_size'])} | {_n(w['dictionary'])} | "
                     f"{_n(w['tables'])} | "
                     f"{_n(w['ram_required'])} | {_n(w['python_peak'])} | {_n(w['c_minimum'])} | "
                     f"{_n(w['c_documented'])} | {_n(w['c_minimum'] - w['dictionary'])} |"
                     + (" (floor)" if w["c_minimum"] <= WORKSPACE_FLOOR + 8 else ""))
    deltas = [w for w in fig["workspace"] if w["kind"] == "delta"]
    if deltas:
        worst = max(w["c_minimum"] - w["dictionary"] for w in deltas)
        verdict = "met" if worst <= WORKSPACE_TARGET_EXTRA else "**not met**"
        lines += ["", f"Target: workspace for a patch package <= LZMA dictionary + 16 KiB: {verdict} for the C "
                  f"minimum (at most dictionary + {_n(worst)} B over these packages); the documented "
                  f"`OTA_RESTORE_WORKSPACE_BYTES` adds a fixed {_n(deltas[0]['c_documented'] - deltas[0]['ram_required'])} "
                  "B of slack to `ram_required`, so a caller sizing by the macro gives more than the target. "
                  f"*(floor)*: `ota_restore_begin` refuses a workspace under {_n(WORKSPACE_FLOOR)} B "
                  "(the package chunk and one erase block), so a minimum at that floor is the floor's, not what "
                  "the buffers need. The parsed table takes its entries only (carved at `header`), so a "
                  "workspace short of the macro holds a package with a few partitions."]
    lines += ["", "### Instructions per byte (`qemu-system-arm -icount shift=0`, -Os, exact and repeatable)", "",
              "LZMA2 decoding and SHA-256 per output byte (target/lzma2_sha256.c, whole payload in RAM, 64 KiB "
              "dictionary):", "", "| CPU | payload | LZMA2 | SHA-256 |", "|---|---|---:|---:|"]
    for r in fig["decoder_icount"]:
        lines.append(f"| {r['cpu'].replace('cortex-', '')} | {r['payload']} | {r['lzma2_per_byte']:.1f} | "
                     f"{r['sha256_per_byte']:.1f} |")
    lines += ["", "Whole restores on the target (target/restore_icount.c: every engine call timed). *Checks*: "
              "`begin` and every step up to `precondition` (CRC-32 and SHA-256 over the package, parsing, "
              "compatibility, the full LZMA2 decode of every payload at `resources`, precondition hashes of the "
              "old slots); *apply*: the steps after it (LZMA2 "
              "decoding, delta patching or copying, programming, target read-back hashes, commit's copy "
              "of staged slots). Per byte of the partitions written.", "",
              "The last column takes one SHA-256 pass per target byte (the `target` read-back, at the rate "
              "measured above) off the apply phase: for a delta what is left is decoding the patch stream, "
              "applying it (old bytes + diff bytes, extra bytes), programming the staging area and commit's "
              "copy; for a full package, decoding the whole image and programming it. The library has no "
              "patcher entry point of its own to time apart from the engine.", "",
              "| CPU | package | package bytes | target bytes | units | checks instr. | apply instr. "
              "| apply / target byte | apply - read-back, / target byte |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    sha_rate = {r["cpu"]: r["sha256_per_byte"] for r in fig["decoder_icount"]}
    for r in fig["restore_icount"]:
        per = r["apply_instructions"] / r["target_bytes"]
        rest = f"{per - sha_rate[r['cpu']]:.1f}" if r["cpu"] in sha_rate else "-"
        lines.append(f"| {r['cpu'].replace('cortex-', '')} | {r['package']} | {_n(r['package_bytes'])} | "
                     f"{_n(r['target_bytes'])} | {_n(r['units'])} | {_n(r['check_instructions'])} | "
                     f"{_n(r['apply_instructions'])} | {per:.1f} | {rest} |")
    lines += _transform_cost(fig["restore_icount"], fig.get("restore_icount_thumb2", []))
    hs = fig.get("host_speed")
    if hs:
        verdict = "met" if hs["ratio"] <= 1.5 else "**not met**"
        lines += ["", "### Host decoding speed against liblzma", "",
                  f"`bench_lzma2` (gcc -O2, 4 KiB pieces for ours, one call for liblzma, best of repeated runs; "
                  f"a timing on a shared machine, reported, never tested): geometric mean time ratio "
                  f"ours/liblzma **{hs['ratio']:.2f}** over {hs['streams']} streams. Target <= 1.5x: {verdict}.",
                  "", "```text", hs["table"], "```"]
    lines += ["", "### Published figures of other appliers (quoted, not measured here; no code of theirs is used)",
              "", "| applier | published figure | source |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in PUBLISHED]
    lines += ["", END]
    return "\n".join(lines)


def _transform_cost(rows: list[dict], thumb_rows: list[dict]) -> list[str]:
    """The delta-v2 package against its twin without the transform: the same
    windows decoded, patched and written, so the difference is the transform."""
    out = []
    for build, these in (("all sets", rows), ("Thumb-2 only", thumb_rows)):
        by = {(r["cpu"], r["package"]): r for r in these}
        for (cpu, name), r in by.items():
            twin = by.get((cpu, V2_TWIN))
            if name != V2_PACKAGE or not twin:
                continue
            extra = r["apply_instructions"] - twin["apply_instructions"]
            out.append(f"| {cpu.replace('cortex-', '')} | {build} | {_n(r['target_bytes'])} | {_n(r['units'])} | "
                       f"{_n(extra)} | {extra / r['target_bytes']:.1f} | {extra / max(r['units'], 1):.0f} |")
    if not out:
        return []
    return ["", "The delta-v2 transform's own cost: the delta-v2 package's apply phase minus its twin's (*"
            f"{V2_TWIN}*: the same windows and diff bytes, a target hash of what they then restore; its LZMA "
            "stream lacks only the tables). *Units*: references re-aimed (the Python restore's count). *Build*: "
            "the library as in the table above (all three operand sets, so 64-bit transform addresses), or "
            f"with Thumb-2 alone (`{THUMB2_ONLY}`, 32-bit addresses), what a Cortex-M build would enable.", "",
            "| CPU | build | target bytes | units | transform instr. | per target byte | per unit |",
            "|---|---|---:|---:|---:|---:|---:|", *out]


def write_section(doc: Path, section: str) -> None:
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"error: {doc} has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(head + section + tail)


def collect(build: Path, subset: bool) -> dict:
    otadev.require("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-readelf", "qemu-system-arm", "make")
    pkgs = packages(subset)
    v2 = {V2_PACKAGE: pkgs[V2_PACKAGE]}
    if subset:
        return {"sizes": code_size(build, ("cortex-m4",), {k: VARIANTS[k] for k in (
                    "all switches on", "OTA_WITH_TRANSFORMS=0", "thumb2 transforms only")}),
                "workspace": workspace(pkgs),
                "decoder_icount": decoder_icount(build, (("mps2-an386", "cortex-m4"),), subset=True),
                "restore_icount": restore_icount(build, pkgs, (("mps2-an386", "cortex-m4"),)),
                "restore_icount_thumb2": restore_icount(build, v2, (("mps2-an386", "cortex-m4"),), THUMB2_ONLY)}
    return {"sizes": code_size(build), "workspace": workspace(pkgs), "decoder_icount": decoder_icount(build),
            "restore_icount": restore_icount(build, pkgs),
            "restore_icount_thumb2": restore_icount(build, v2, defs=THUMB2_ONLY), "host_speed": host_speed(build)}


def validate(fig: dict) -> None:
    """What --check holds: every figure present and plausible (no timings)."""
    assert fig["sizes"] and all(s["core"] > 0 and s["data"] == 0 and s["bss"] == 0 for s in fig["sizes"].values())
    # a link keeps at most the objects' bytes (+ alignment), and dropping the names only removes
    assert all(0 < s["linked_no_names"] < s["linked"] <= s["core"] + 16 for s in fig["sizes"].values())
    for w in fig["workspace"]:
        assert 0 < w["c_minimum"] <= w["c_documented"], w
    for r in fig["decoder_icount"]:
        assert math.isfinite(r["lzma2_per_byte"]) and r["lzma2_per_byte"] > 0, r
    for r in fig["restore_icount"]:
        assert r["apply_instructions"] > 0 and r["check_instructions"] > 0, r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, help="replace the marked section of this file (docs/device.md)")
    ap.add_argument("--check", action="store_true", help="a small subset, validated, nothing written")
    ap.add_argument("--build", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    build = args.build or Path(tempfile.mkdtemp(prefix="ota-figures-"))
    fig = collect(build, args.check)
    validate(fig)
    section = render(fig)
    if args.json:
        print(json.dumps(fig, indent=2, sort_keys=True))
    elif args.write:
        write_section(args.write, section)
        print(f"wrote the figures into {args.write}", file=sys.stderr)
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
