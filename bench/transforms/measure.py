#!/usr/bin/env python3
"""Measure the delta-v2 operand transform against today's packages and the peers.

For every corpus pair this prints and writes

- today: the package ``otapack diff`` makes (raw pairs of equal structure
  through the CLI, others as one raw partition through the API, as
  bench/run_bench.py does; a PAC pair as one package of its three code
  partitions BOOTLOADER/AP/PS at their addresses, built through the API);
- transformed: the same package with that partition's payload replaced by
  the smallest delta-v2 stream (prototype ``otapack.core.transforms``)
  compressed exactly as ``otapack.core.build`` compresses patch streams
  (raw LZMA2 9e, lc/lp/pb tunings, dictionary no larger than the stream),
  or today's payload where that is smaller (the builder keeps a transform
  only where it measures smaller);
- the peers: bsdiff4, detools (bsdiff), detools -a hdiffpatch, detools
  --data-format, hdiffpatch (HDiffPatch, LZMA2), zstd --patch-from, run as
  bench/peers.py runs them (a PAC pair: each peer's patches of the three
  partitions summed);
- round trip: every transformed stream applied by the device-side restore
  (``otapack.core.transforms.restore.apply_delta_v2``, the restore's applier) must give NEW byte for
  byte (the run fails otherwise);
- LZMA time of the chosen stream, today's and transformed (one compression,
  lc=1/lp=0/pb=0).

Usage: python bench/transforms/measure.py [--corpus DIR] [--pairs NAME...]
       [--json OUT.json] [--markdown OUT.md] [--no-peers] [--max-map N] [--max-regions N]
       python bench/transforms/measure.py --from-json OUT.json   (the tables again)
"""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from otapack.core.build import (  # noqa: E402
    DELTA_TUNINGS, THOROUGH_LIMIT, THOROUGH_TUNINGS, PackageOptions, _smallest_patch, build_delta, dict_for,
)
from otapack.core.codecs import CODECS  # noqa: E402
from otapack.core.container import read_package  # noqa: E402
from otapack.core.diff import DIFF_ALGORITHMS  # noqa: E402
from otapack.core.model import FirmwareImage, Partition  # noqa: E402
from otapack.core.restore.resources import RamMeter  # noqa: E402
from otapack.core.transforms import builder  # noqa: E402
from otapack.core.transforms.restore import apply_delta_v2  # noqa: E402
from otapack.core.formats.wire_numbers import transform_ram  # noqa: E402

#: corpus ``arch`` label -> transform sets tried (the smallest wins)
ARCH_TRIALS = {
    "arm-cortex-m4": ("thumb2",),
    "aarch64": ("aarch64",),
    "xtensa-lx106": (),  # no Xtensa kinds yet: today's stream
    "unisoc-8910": ("thumb2", "arm32"),
}
#: detools --data-format label per corpus arch
DETOOLS_FORMAT = {"arm-cortex-m4": "arm-cortex-m4", "aarch64": "aarch64", "xtensa-lx106": "xtensa-lx106",
                  "unisoc-8910": "arm-cortex-m4"}
PAC_PARTITIONS = ("BOOTLOADER", "AP", "PS")
ERASE_BLOCK = 4096
PEERS = ("bsdiff4", "detools", "detools-hdiffpatch", "detools-data-format", "hdiffpatch", "zstd")
PLAIN_PEERS = ("bsdiff4", "detools", "detools-hdiffpatch", "hdiffpatch", "zstd")


class Sink:
    def __init__(self):
        self.data = bytearray()

    def write(self, chunk):
        self.data += chunk


def slot_images(parts: list[dict]) -> tuple[FirmwareImage, FirmwareImage]:
    """Old and new images of ``parts`` (raw partitions at their addresses, erase-block slots)."""
    def image(which: str) -> FirmwareImage:
        partitions = []
        for part in parts:
            slot = part.get("slot") or -(-max(len(part["old"]), len(part["new"]), 1) // ERASE_BLOCK) * ERASE_BLOCK
            partitions.append(Partition(name=part["name"], address=part["address"], data=part[which],
                                        slot_size=slot))
        return FirmwareImage(partitions=tuple(partitions), erase_block=ERASE_BLOCK)

    return image("old"), image("new")


def slot_package(parts: list[dict], opts: PackageOptions = PackageOptions()) -> bytes:
    """A delta package of ``parts``, built through the API as ``otapack diff`` builds it."""
    return build_delta(*slot_images(parts), opts)


def today_package(case: dict, work: Path) -> tuple[bytes, dict[str, int]]:
    """The package and the payload length of each of its delta partitions."""
    package = None
    if case["mode"] == "cli":
        out = work / "today.pack"
        proc = subprocess.run([str(Path(sys.executable).parent / "otapack"), "-q", "diff", "--no-verify",
                               str(case["old_path"]), str(case["new_path"]), "-o", str(out)])
        if proc.returncode == 0:
            package = out.read_bytes()
    if package is None:
        package = slot_package(case["parts"])
    records = read_package(package).partitions
    deltas = {r.name: r.payload_length for r in records if r.operation == "delta"}
    if case["mode"] == "cli" and len(case["parts"]) == 1:  # the CLI names the one raw partition itself
        deltas = {case["parts"][0]["name"]: sum(deltas.values())} if deltas else {}
    return package, deltas


def transformed_payload(old: bytes, new: bytes, arches, base_hint, fit=builder.FitOptions()):
    """Smallest delta-v2 payload over arches, matcher settings, matching mode and codings."""
    thorough = len(new) <= THOROUGH_LIMIT
    window = max(1, min(256 * 1024, len(new)))
    settings = DIFF_ALGORITHMS["otadiff"].settings if thorough else ({},)
    streams, info = [], []
    for arch in arches:
        for setting in settings:
            for neutral in (True, False):
                plan = builder.plan(old, new, arch, base=base_hint,
                                    opts=replace(fit, neutral_match=neutral), matcher_settings=setting)
                for coding in ("raw", "zero-run"):
                    streams.append(builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, plan.params, window, coding))
                    info.append((arch, setting, neutral, coding, plan))
    if not streams:
        return None
    stream, packed = _smallest_patch(streams, THOROUGH_TUNINGS if thorough else DELTA_TUNINGS, 1 << 20)
    arch, setting, neutral, coding, plan = info[streams.index(stream)]
    return {"stream": stream, "payload": packed, "arch": arch, "setting": setting, "neutral": neutral,
            "coding": coding, "base": plan.params.base, "map": len(plan.params.map_keys),
            "regions": len(plan.params.region_starts)}


def lzma_seconds(stream: bytes) -> float:
    start = time.perf_counter()
    CODECS["lzma2"].compress(stream, dict_for(len(stream), 1 << 20), ((1, 0, 0),))
    return time.perf_counter() - start


def today_stream(old: bytes, new: bytes) -> bytes:
    from otapack.core.diff import make_candidates

    thorough = len(new) <= THOROUGH_LIMIT
    window = max(1, min(256 * 1024, len(new)))
    streams = [s for c in make_candidates(old, new, window_size=window, settings=None if thorough else ({},))
               for s in c.values()]
    return _smallest_patch(streams, THOROUGH_TUNINGS if thorough else DELTA_TUNINGS, 1 << 20)[0]


def run_peers(case: dict, work: Path) -> dict[str, int | None]:
    from peers import TOOL_BY_NAME, Case

    old_path, new_path = work / "old.bin", work / "new.bin"
    old_path.write_bytes(case["old"])
    new_path.write_bytes(case["new"])
    c = Case(case["name"], old_path, new_path, DETOOLS_FORMAT.get(case["arch"]), work,
             case.get("old_elf"), case.get("new_elf"))
    sizes: dict[str, int | None] = {}
    for name in PEERS:
        tool = TOOL_BY_NAME[name]
        if tool.missing():
            sizes[name] = None
            continue
        cmd = tool.create(c)
        out = open(cmd.stdout, "wb") if cmd.stdout else subprocess.DEVNULL
        try:
            proc = subprocess.run(cmd.argv, stdout=out, stderr=subprocess.PIPE, timeout=900)
        finally:
            if cmd.stdout:
                out.close()
        sizes[name] = c.patch(name).stat().st_size if proc.returncode == 0 and c.patch(name).exists() else None
    return sizes


def cases(corpus: Path, names):
    from otapack.core.inputs import read_firmware

    for pair in sorted(p for p in corpus.iterdir() if p.is_dir()):
        if names and pair.name not in names:
            continue
        meta = json.loads((pair / "meta.json").read_text())
        arch = meta.get("arch")
        if (pair / "old.pac").exists():
            old_img, new_img = read_firmware(pair / "old.pac"), read_firmware(pair / "new.pac")
            parts = []
            for name in PAC_PARTITIONS:
                o, n = old_img.get(name), new_img.get(name)
                if o is not None and n is not None:
                    parts.append({"name": name, "old": o.data, "new": n.data, "address": o.address,
                                  "base": o.address, "slot": n.slot_size})
            yield {"name": pair.name, "arch": arch, "mode": "slot", "parts": parts}
            continue
        old, new = (pair / "old.bin").read_bytes(), (pair / "new.bin").read_bytes()
        case = {"name": pair.name, "arch": arch, "old_path": pair / "old.bin", "new_path": pair / "new.bin",
                "mode": "cli" if len(old) == len(new) else "slot",
                "parts": [{"name": "image", "old": old, "new": new, "address": 0, "base": None}]}
        if (pair / "old.elf").exists() and (pair / "new.elf").exists():
            case["old_elf"], case["new_elf"] = pair / "old.elf", pair / "new.elf"
        yield case


def measure(case: dict, with_peers: bool, fit=builder.FitOptions()) -> dict:
    row = {"pair": case["name"], "arch": case["arch"], "new": sum(len(p["new"]) for p in case["parts"])}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        package, payloads = today_package(case, work)
        row["today"] = len(package)
        saved = 0
        row["partitions"] = {}
        for part in case["parts"]:
            old, new = part["old"], part["new"]
            info = {"today_payload": payloads.get(part["name"], 0)}
            row["partitions"][part["name"]] = info
            if not info["today_payload"]:
                continue  # keep / full: no patch to transform
            start = time.perf_counter()
            result = transformed_payload(old, new, ARCH_TRIALS.get(case["arch"], ()), part["base"], fit)
            info["build_seconds"] = round(time.perf_counter() - start, 2)
            if not result or len(result["payload"]) >= info["today_payload"]:
                info["arch_used"] = "none"
                continue
            stream = result["stream"]
            sink = Sink()
            start = time.perf_counter()
            work = apply_delta_v2(io.BytesIO(stream), lambda p, k: old[p : p + k], len(old), sink,
                                         len(new), RamMeter(), f"{case['name']}:{part['name']}")
            info["apply_seconds"] = round(time.perf_counter() - start, 3)
            if bytes(sink.data) != new:
                raise SystemExit(f"{case['name']}:{part['name']}: the transformed stream does not restore NEW")
            info["roundtrip"] = True
            info["units"] = work.units
            info["transformed_payload"] = len(result["payload"])
            info.update({k: result[k] for k in ("neutral", "coding", "base", "map", "regions")})
            info["arch_used"] = result["arch"]
            info["lzma_seconds_today"] = round(lzma_seconds(today_stream(old, new)), 3)
            info["lzma_seconds_transformed"] = round(lzma_seconds(stream), 3)
            saved += info["today_payload"] - len(result["payload"])
        row["transformed"] = len(package) - saved
        if with_peers:
            totals: dict[str, int | None] = {name: 0 for name in PEERS}
            for part in case["parts"]:
                sub = work / part["name"]
                sub.mkdir()
                sizes = run_peers({**case, "name": part["name"], "old": part["old"], "new": part["new"]}, sub)
                for name in PEERS:
                    totals[name] = None if totals[name] is None or sizes[name] is None else totals[name] + sizes[name]
            row["peers"] = totals
    return row


def geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _parts(row, key) -> str:
    values = [str(p.get(key, "")) for p in row["partitions"].values() if p.get(key, "") != ""]
    return "/".join(values) if values else "none"


def markdown(rows) -> str:
    head = ("| pair | today | transformed | transformed / today | best peer | detools --data-format "
            "| best plain peer | transformed / best peer | transformed / data-format | transformed / best plain "
            "| today / best peer | arch | map | regions |")
    lines = [head, "|---|" + "---:|" * 10 + "---|---:|---:|"]
    ratios = {k: [] for k in ("tt", "tb", "td", "tp", "ob")}
    for r in rows:
        peers = {k: v for k, v in (r.get("peers") or {}).items() if v}
        best = min(peers.items(), key=lambda kv: kv[1]) if peers else (None, None)
        plain = min(((k, v) for k, v in peers.items() if k in PLAIN_PEERS), key=lambda kv: kv[1], default=(None, None))
        df = peers.get("detools-data-format")
        t, o = r["transformed"], r["today"]

        def ratio(a, b, key):
            if not a or not b:
                return "n/a"
            ratios[key].append(a / b)
            return f"{a / b:.3f}"

        lines.append(
            f"| {r['pair']} | {o:,} | {t:,} | {ratio(t, o, 'tt')} | "
            f"{best[1] and f'{best[1]:,} ({best[0]})' or 'n/a'} | {df and f'{df:,}' or 'n/a'} | "
            f"{plain[1] and f'{plain[1]:,} ({plain[0]})' or 'n/a'} | {ratio(t, best[1], 'tb')} | "
            f"{ratio(t, df, 'td')} | {ratio(t, plain[1], 'tp')} | {ratio(o, best[1], 'ob')} | "
            f"{_parts(r, 'arch_used')} | {_parts(r, 'map')} | {_parts(r, 'regions')} |")
    lines.append(f"| **geometric mean** | | | **{geomean(ratios['tt']):.3f}** | | | | **{geomean(ratios['tb']):.3f}** "
                 f"| **{geomean(ratios['td']):.3f}** | **{geomean(ratios['tp']):.3f}** | **{geomean(ratios['ob']):.3f}** "
                 "| | | |")
    return "\n".join(lines) + "\n"


def partition_markdown(rows) -> str:
    """Per partition: payloads, tables, units, LZMA and restore time."""
    lines = ["| pair | partition | today payload | transformed payload | map | regions | table RAM | units "
             "| LZMA s, today's stream | LZMA s, transformed | restore s (Python) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        for name, p in sorted(r["partitions"].items()):
            if "transformed_payload" not in p:
                why = ("no patch (keep)" if not p.get("today_payload") else
                       "no Xtensa kinds" if r["arch"] == "xtensa-lx106" else "not smaller")
                lines.append(f"| {r['pair']} | {name} | {p.get('today_payload', 0):,} | {why} | | | | | | | |")
                continue
            lines.append(
                f"| {r['pair']} | {name} | {p['today_payload']:,} | {p['transformed_payload']:,} | {p['map']} "
                f"| {p['regions']} | {transform_ram(p['map'], p['regions']):,} | {p['units']:,} "
                f"| {p['lzma_seconds_today']} | {p['lzma_seconds_transformed']} | {p['apply_seconds']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--pairs", nargs="*")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--max-map", type=int, default=builder.FitOptions.max_map,
                    help="cap of the transform map (device RAM: 12 B an entry)")
    ap.add_argument("--max-regions", type=int, default=builder.FitOptions.max_regions,
                    help="cap of the region table (device RAM: 8 B an entry)")
    ap.add_argument("--from-json", type=Path, help="render the tables of an earlier --json run, measure nothing")
    args = ap.parse_args(argv)
    rows = json.loads(args.from_json.read_text()) if args.from_json else []
    for case in () if args.from_json else cases(args.corpus, args.pairs):
        row = measure(case, not args.no_peers, builder.FitOptions(max_map=args.max_map, max_regions=args.max_regions))
        print(json.dumps(row, sort_keys=True, default=str), file=sys.stderr, flush=True)
        rows.append(row)
    text = markdown(rows) + "\n" + partition_markdown(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, sort_keys=True, default=str) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
