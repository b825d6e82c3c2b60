#!/usr/bin/env python3
"""Unisoc PAC pairs end to end, and their package sizes against the peer tools on the same flash partitions.

    python bench/pac_bench.py                         # ../shared/corpus; rewrites its section of docs/benchmarks.md
    python bench/pac_bench.py --corpus DIR --out /tmp/p.md --tools bsdiff4 hdiffpatch

For every ``<pair>/old.pac,new.pac`` of the corpus:

1. the CLI as a user runs it: ``partitions --json`` of both PACs (and of
   new.pac with the shipped EC200U/EG915U example layout), ``diff``,
   ``verify --old --new``, ``apply --old`` and ``full`` + ``verify --new``;
   each a child process (wall time, peak RSS);
2. the image ``apply`` wrote is checked against NEW without otapack's PAC
   reader: each flash partition ``partitions`` names is read from new.pac's
   own file entry (``data_offset``/``size``, ``addresses[0]``) through the
   container declaration, must sit at its address in the flat image, and the
   rest of its slot must be erased; loader / logical / configuration items
   must be reported and none of them inside the image;
3. the same flash partitions otapack diffs (``otapack.api.load_firmware``)
   are written out one file per partition, and every peer in
   ``bench/peers.py:TOOLS`` is run on each (create, apply, byte-for-byte
   check); a peer's figure is the sum over the partitions, so it carries no
   container, table or hashes (otapack's figure is the whole package).

Exit status: 0 when every otapack step and check passes; 1 when one fails;
2 when the corpus or its PAC pairs are missing.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from _sections import replace_section  # noqa: E402
from peers import TOOLS, Case, run_measured  # noqa: E402

from otapack.errors import OtapackError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "pac"
EC200U_LAYOUT = ROOT / "examples" / "layouts" / "ec200u-eg915u.toml"
#: detools' --data-format knows arm-cortex-m4, aarch64 and xtensa-lx106, not the 8910's Cortex-A5 + modem.
NO_DATA_FORMAT = "detools --data-format has no format for the Unisoc 8910 (Cortex-A5 application core + modem)"


def usage_error(message: str) -> SystemExit:
    """Exit status 2 with one ``error:`` line (the corpus or an argument is wrong)."""
    print(f"error: {message}", file=sys.stderr)
    return SystemExit(2)


def find_pac_pairs(corpus: Path, only: list[str] | None) -> list[Path]:
    """The pair folders holding old.pac and new.pac; SystemExit(2) with the reason when there are none."""
    if not corpus.is_dir():
        raise usage_error(f"corpus folder {corpus} not found (pass --corpus DIR: a folder of "
                         f"<pair>/old.pac,new.pac, e.g. the shared corpus ../shared/corpus)")
    pairs = sorted(p for p in corpus.iterdir() if (p / "old.pac").is_file() and (p / "new.pac").is_file())
    if only:
        missing = sorted(set(only) - {p.name for p in pairs})
        if missing:
            raise usage_error(f"no PAC pair {', '.join(missing)} under {corpus}")
        pairs = [p for p in pairs if p.name in only]
    if not pairs:
        raise usage_error(f"no PAC pairs under {corpus} (a pair is a folder with old.pac and new.pac)")
    return pairs


# ---------------------------------------------------------------- otapack through the CLI

def cli(argv: list, stdout: Path | None = None):
    return run_measured([peers._exe("otapack"), "-q", *map(str, argv)], stdout_path=stdout)


def pac_entries(path: Path) -> dict[str, tuple[int, bytes]]:
    """file ID -> (first address, data) straight from the PAC's file table (no otapack reader)."""
    from otapack.core.formats import pac

    data = path.read_bytes()
    header = pac.PacHeader.parse(data[:pac.HEADER_SIZE])
    wide = pac.VERSIONS[header.version]
    out = {}
    for index in range(header.file_count):
        at = header.file_offset + index * pac.ENTRY_SIZE
        e = pac.PacFileEntry.parse(data[at:at + pac.ENTRY_SIZE])
        size = e.size + ((e.size_hi << 32) if wide else 0)
        offset = e.data_offset + ((e.offset_hi << 32) if wide else 0)
        if e.file_id and size:
            out[e.file_id] = (e.addresses[0] if e.address_count else 0, data[offset:offset + size])
    return out


def check_applied(flat: Path, new_pac: Path, doc: dict) -> list[str]:
    """What is wrong with the image ``apply`` wrote, against new.pac's own entries ([] when nothing)."""
    entries = pac_entries(new_pac)
    image = flat.read_bytes()
    parts = doc["partitions"]
    base = min(p["address"] for p in parts)
    top = max(p["address"] + p["slot_size"] for p in parts)
    problems = []
    if len(image) != top - base:
        problems.append(f"image is {len(image)} bytes, the flash partitions span {top - base}")
    for p in parts:
        address, data = entries.get(p["name"], (None, b""))
        if address != p["address"] or len(data) != p["size"]:
            problems.append(f"{p['name']}: partitions says {p['address']:#x}+{p['size']:#x}, "
                            f"the PAC entry {address}+{len(data):#x}")
            continue
        at = p["address"] - base
        if image[at:at + len(data)] != data:
            problems.append(f"{p['name']}: bytes differ from new.pac's entry")
        if image[at + len(data):at + p["slot_size"]].strip(bytes([doc["erased_value"]])):
            problems.append(f"{p['name']}: rest of the slot not erased")
    for item in doc["items"]:
        if item["handling"] != "skip" or item["name"] in {p["name"] for p in parts}:
            problems.append(f"item {item['name']}: handled as {item['handling']}")
        data = entries.get(item["name"], (0, b""))[1]
        if len(data) >= 64 and data in image:  # a loader or NV blob copied into flash
            problems.append(f"item {item['name']} found in the written image")
    return problems


def run_otapack(pair: Path, work: Path) -> dict:
    old, new = pair / "old.pac", pair / "new.pac"
    r: dict = {"steps": {}, "problems": []}

    def step(name: str, argv: list, stdout: Path | None = None):
        run = cli(argv, stdout)
        r["steps"][name] = run
        if run.rc:
            r["problems"].append(f"`{name}` exit {run.rc}: {run.stderr.strip()[-200:]}")
        return run.rc == 0

    docs = {}
    for side, path in (("old", old), ("new", new)):
        out = work / f"partitions-{side}.json"
        if step(f"partitions {side}.pac", ["partitions", "--json", path], out):
            docs[side] = json.loads(out.read_text())
    # the shipped EC200U/EG915U layout must agree with the vendor PAC (IDs, addresses, XML blocks)
    step("partitions --layout ec200u", ["partitions", "--layout", EC200U_LAYOUT, new], work / "layout.txt")
    delta, full, flat = work / "delta.pack", work / "full.pack", work / "applied.bin"
    verify_out = work / "verify.txt"
    ok = len(docs) == 2 and step("diff", ["diff", "--no-verify", old, new, "-o", delta])
    ok = ok and step("verify --old --new", ["verify", delta, "--old", old, "--new", new], verify_out)
    ok = ok and step("apply --old", ["apply", delta, "--old", old, "-o", flat])
    if ok:
        r["problems"] += check_applied(flat, new, docs["new"])
        r["applied_sha256"] = hashlib.sha256(flat.read_bytes()).hexdigest()
        r["applied_bytes"] = flat.stat().st_size
        info = json.loads(cli_output(["info", "--json", delta], work / "info.json"))
        r["ram_required"] = info["header"]["resources"]["ram_required"]
        r["ops"] = {p["name"]: f"{p['operation']} ({p['reason']})" for p in info["partitions"]}
        verify_json = json.loads(cli_output(["verify", delta, "--old", old, "--new", new, "--json"],
                                            work / "verify.json"))
        r["ram_peak"] = verify_json["ram"]["peak"]
    if step("full", ["full", "--no-verify", new, "-o", full]):
        step("verify --new (full)", ["verify", full, "--new", new])
        r["full"] = full.stat().st_size
    r["delta"] = delta.stat().st_size if delta.exists() else None
    r["docs"] = docs
    return r


def cli_output(argv: list, out: Path) -> str:
    cli(argv, out)
    return out.read_text()


# ---------------------------------------------------------------- peers on the same flash partitions

def write_partitions(pair: Path, work: Path) -> list[tuple[str, Path, Path]]:
    """(name, old file, new file) of every flash partition, as otapack reads them (no padding)."""
    from otapack import api

    old = api.load_firmware(pair / "old.pac", None, "old image")
    new = api.load_firmware(pair / "new.pac", None, "new image")
    if old.names() != new.names():
        raise usage_error(f"{pair.name}: flash partitions differ: {old.names()} / {new.names()}")
    out = []
    for p_old, p_new in zip(old.partitions, new.partitions):
        a, b = work / f"{p_old.name}.old", work / f"{p_new.name}.new"
        a.write_bytes(p_old.data)
        b.write_bytes(p_new.data)
        out.append((p_new.name, a, b))
    return out


def run_peer(tool, parts, work: Path) -> dict:
    """Sum over the partitions of one peer's patch bytes and times; {'na': why} when it cannot run."""
    from run_bench import run_tool

    if tool.name == "detools-data-format":
        return {"na": NO_DATA_FORMAT}
    total = {"bytes": 0, "create": 0.0, "apply": 0.0, "rss_kib": 0, "per": {}}
    for name, old, new in parts:
        case = Case(name=name, old=old, new=new, arch=None, work=work / tool.name / name)
        case.work.mkdir(parents=True, exist_ok=True)
        res = run_tool(tool, case, 1)
        if "na" in res:
            return {"na": f"{name}: {res['na']}"}
        if not res["ok"]:
            return {"na": f"{name}: {res.get('fail', 'did not restore')}"}
        total["bytes"] += res["bytes"]
        total["create"] += res["create"].seconds
        total["apply"] += res["apply"].seconds
        total["rss_kib"] = max(total["rss_kib"], res["create"].rss_kib)
        total["per"][name] = res["bytes"]
    return total


# ---------------------------------------------------------------- report

def render(pairs, results, tools, command: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    L = ["## Unisoc PAC pairs: the CLI end to end, and package size against the peers", "",
         f"Written by `{command}` on {now:%Y-%m-%d %H:%M} UTC (Python {platform.python_version()}, "
         f"{os.cpu_count()} cores, one run; other work on the machine inflates times). "
         "Inputs: the vendor `.pac` files of the corpus (`<pair>/old.pac,new.pac`).", "",
         "**otapack** runs as a user runs it: `otapack partitions --json` of both PACs (and `--layout "
         "examples/layouts/ec200u-eg915u.toml` of new.pac: the example layout agrees with the vendor PAC), "
         "`diff --no-verify`, `verify --old --new`, `apply --old`, `full` + `verify --new`. "
         "The image `apply` writes is checked without otapack's PAC reader: each flash partition's bytes "
         "are read from new.pac's own file "
         "entry and must sit at its address, the rest of its slot erased, and no loader, logical or "
         "configuration item may be in the image. **Peers** run on the same flash partitions otapack "
         "diffs (content bytes, one file per partition, OLD -> NEW), every patch applied and compared "
         "byte for byte; a peer's size is the **sum over the partitions** of bare patches (no container, "
         "table or hashes; otapack's is the whole package).", ""]
    L += ["### Round trip", "",
          "| pair | flash partitions (new: address, content/slot) | operations | items (reported, skipped) | "
          "applied image | round trip |", "|---|---|---|---|---|---|"]
    for p in pairs:
        r = results[p.name]["otapack"]
        doc = r["docs"].get("new", {})
        parts = ", ".join(f"{x['name']} {x['address']:#x} {x['size']:#x}/{x['slot_size']:#x}"
                          for x in doc.get("partitions", []))
        items = ", ".join(f"{i['name']} ({i['kind']})" for i in doc.get("items", []))
        ops = ", ".join(f"{k}: {v}" for k, v in r.get("ops", {}).items())
        image = f"{r['applied_bytes']:,} B, sha256 {r['applied_sha256'][:16]}" if "applied_bytes" in r else "n/a"
        verdict = "**byte-identical**" if not r["problems"] else "FAIL: " + "; ".join(r["problems"])
        L.append(f"| {p.name} | {parts} | {ops} | {items} | {image} | {verdict} |")
    L += ["", "### CLI steps: wall time (s) / peak RSS (MiB)", ""]
    steps = list(results[pairs[0].name]["otapack"]["steps"])
    L += ["| pair | " + " | ".join(f"`{s}`" for s in steps) + " |", "|---|" + "---:|" * len(steps)]
    for p in pairs:
        st = results[p.name]["otapack"]["steps"]
        L.append(f"| {p.name} | " + " | ".join(
            f"{st[s].seconds:.2f} / {st[s].rss_kib / 1024:.0f}" if s in st else "n/a" for s in steps) + " |")
    L += ["", "### Declared RAM (`otapack info`) against the restore's peak (`verify --json`)", "",
          "| pair | delta package | ram_required | RAM peak | declared / peak |", "|---|---:|---:|---:|---:|"]
    for p in pairs:
        r = results[p.name]["otapack"]
        if r.get("ram_peak"):
            L.append(f"| {p.name} | {r['delta']:,} | {r['ram_required']:,} | {r['ram_peak']:,} | "
                     f"{r['ram_required'] / r['ram_peak']:.3f} |")
        else:
            L.append(f"| {p.name} | n/a | | | |")
    names = [t.name for t in tools]
    L += ["", "### Package / patch size (bytes), flash partitions summed", "",
          "| pair | new flash bytes | otapack delta | " + " | ".join(names) + " | otapack full |",
          "|---|---:|---:|" + "---:|" * len(names) + "---:|"]
    notes = []
    for p in pairs:
        row = results[p.name]
        cells = []
        for n in names:
            if "na" in row[n]:
                cells.append("n/a")
                notes.append(f"- {p.name} / {n}: {row[n]['na']}")
            else:
                cells.append(f"{row[n]['bytes']:,}")
        ota = row["otapack"]
        delta = f"**{ota['delta']:,}**" if ota["delta"] else "n/a"
        full = f"{ota['full']:,}" if "full" in ota else "n/a"
        L.append(f"| {p.name} | {row['new_bytes']:,} | {delta} | " + " | ".join(cells) + f" | {full} |")
    L += ["", "### otapack delta / peer (size; below 1 = otapack smaller)", "",
          "| pair | " + " | ".join(n for n in names if n != "xz-full") + " |",
          "|---|" + "---:|" * len([n for n in names if n != "xz-full"])]
    for p in pairs:
        row = results[p.name]
        L.append(f"| {p.name} | " + " | ".join(
            "n/a" if "na" in row[n] or not row["otapack"]["delta"]
            else f"{row['otapack']['delta'] / row[n]['bytes']:.3f}"
            for n in names if n != "xz-full") + " |")
    L += ["", "### Per partition (bytes)", "",
          "| pair | partition | new content | otapack operation | " + " | ".join(names) + " |",
          "|---|---|---:|---|" + "---:|" * len(names)]
    for p in pairs:
        row = results[p.name]
        for name, size in row["part_sizes"].items():
            L.append(f"| {p.name} | {name} | {size:,} | {row['otapack'].get('ops', {}).get(name, '?')} | "
                     + " | ".join("n/a" if "na" in row[n] else f"{row[n]['per'][name]:,}" for n in names) + " |")
    L += ["", "### Peer create / apply time (s), summed over the partitions", "",
          "| pair | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for p in pairs:
        row = results[p.name]
        L.append(f"| {p.name} | " + " | ".join(
            "n/a" if "na" in row[n] else f"{row[n]['create']:.2f} / {row[n]['apply']:.2f}" for n in names) + " |")
    if notes:
        L += ["", "n/a:", "", *sorted(set(notes))]
    L += ["", "Peers: " + "; ".join(f"{t.name} {t.version()}" for t in tools) + "."]
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                    help="markdown file whose pac section is (re)written")
    ap.add_argument("--pairs", nargs="+", help="only these pair folder names")
    ap.add_argument("--tools", nargs="+", help="only these peers (names in bench/peers.py)")
    args = ap.parse_args(argv)
    pairs = find_pac_pairs(args.corpus, args.pairs)
    tools = [t for t in TOOLS if t.kind != "self" and (not args.tools or t.name in args.tools)]
    if args.tools and len(tools) != len(set(args.tools)):
        raise usage_error(f"unknown tool(s) {sorted(set(args.tools) - {t.name for t in tools})}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="pac-bench-") as tmp:
        peers.set_child_env(Path(tmp) / "pycache")
        for pair in pairs:
            work = Path(tmp) / pair.name
            work.mkdir()
            row = results[pair.name] = {"otapack": run_otapack(pair, work)}
            print(f"{pair.name}: otapack delta {row['otapack']['delta']} B, problems {row['otapack']['problems']}",
                  flush=True)
            (work / "parts").mkdir()
            try:
                parts = write_partitions(pair, work / "parts")
            except OtapackError as exc:  # the readers refuse the pair: peers have nothing to run on
                row["otapack"]["problems"].append(f"reading the flash partitions: {exc}")
                parts = []
            row["new_bytes"] = sum(new.stat().st_size for _, _, new in parts)
            row["part_sizes"] = {name: new.stat().st_size for name, _, new in parts}
            for tool in tools:
                if not parts:
                    row[tool.name] = {"na": "no flash partitions read"}
                    continue
                row[tool.name] = {"na": tool.missing()} if tool.missing() else run_peer(tool, parts, work / "peers")
                print(f"  {tool.name}: {row[tool.name].get('bytes', row[tool.name].get('na'))}", flush=True)
    shown = ["python bench/pac_bench.py"] + (["--pairs", *args.pairs] if args.pairs else []) \
        + (["--tools", *args.tools] if args.tools else [])
    text = render(pairs, results, tools, " ".join(shown))
    document = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(document, SECTION, text))
    print(f"wrote the {SECTION} section of {args.out}")
    return 1 if any(results[p.name]["otapack"]["problems"] for p in pairs) else 0


if __name__ == "__main__":
    sys.exit(main())
