"""Human-readable output of every command, in one place.

The library returns data (typed objects, ``to_dict()`` documents); these
functions turn it into the text the commands print.  ``--json`` prints the
data itself (``common.emit_json``).
"""

from __future__ import annotations

import datetime


def _size(n: int) -> str:
    return f"{n:,} B"


# -- restore checks ----------------------------------------------------------------------


def check_line(check) -> str:
    """One named restore check as a report line."""
    mark = {"pass": "ok  ", "fail": "FAIL", "skipped": "skip"}[check.status]
    return f"{mark} {check.name:<18} {check.detail}"


def _restore_figures(r) -> str:
    return (f"peak RAM {r.ram_peak} B of {r.ram_declared} B declared; read {r.package_bytes_read} package bytes; "
            f"flash: {r.blocks_erased} blocks erased, {r.bytes_written} B written")


def _result(report) -> str:
    return "result: " + ("PASS" if report.ok else f"FAIL: {report.error}")


def render_report(report) -> str:
    """``otapack verify PACKAGE``: a ``VerifyReport``."""
    lines = [check_line(c) for c in report.checks]
    lines.append(_restore_figures(report.restore))
    lines.append(_result(report))
    return "\n".join(lines)


def render_power_cuts(sweep) -> str:
    """``verify --power-cuts``: a ``SweepReport``."""
    lines = [f"power cuts: {sweep.tried} cut sequences over {sweep.operations} flash operations (seed {sweep.seed}): "
             f"{sweep.survived} survived, {sweep.failures} failed"
             + (f"; the package in {', '.join(sweep.geometry.download)}" if sweep.geometry.download else "")]
    first = sweep.first_failure
    if first is not None:
        kind = "torn" if first.case.torn else "clean"
        lines.append(f"first failure: {kind} cuts before operations {', '.join(map(str, first.case.cuts))} "
                     f"(case seed {first.case.seed}, {first.boots} boots): {first.problem}")
    return "\n".join(lines)


def render_chain(report) -> str:
    """``otapack verify STAGE1 STAGE2``: a ``ChainReport``."""
    lines, scope = [], None
    for where, c in report.steps:
        if where != scope and where != "chain":
            lines.append(f"== {where}")
        scope = where
        lines.append(check_line(c))
    for name, stage in zip(report.names, report.stages):
        lines.append(f"{name}: {_restore_figures(stage.restore)}")
    lines.append(_result(report))
    return "\n".join(lines)


# -- info ---------------------------------------------------------------------------------


def minimal_system_lines(decoded: dict) -> list[str]:
    """``info`` lines for the minimal-system extensions (``decode_extensions``; empty when none)."""
    if "error" in decoded:
        return [f"chain          undecodable: {decoded['error']}"]
    lines = []
    if "stage" in decoded:
        lines.append(f"stage          {decoded['stage']} of 2 (minimal-system upgrade)")
    if "chain_prev_state" in decoded:
        c = decoded["chain_prev_state"]
        lines.append(f"chain from     flash state {c['digest']} (over {', '.join(c['covers']) or 'nothing'})")
    if "chain_next_package" in decoded:
        lines.append(f"chain to       stage 2 package {decoded['chain_next_package']} (its body SHA-256)")
    if "budget" in decoded:
        b = decoded["budget"]
        lines.append(f"flash budget   need {b['flash_needed']:,} B (package {b['package_bytes']:,} B + scratch "
                     f"{b['scratch_flash']:,} B) of {b['download_area']:,} B phase-{b['stage']} download area, "
                     f"{b['free_after']:,} B spare")
    return lines


def render_build_time(seconds: int) -> str:
    """UTC date of a build time; a value past year 9999 (another producer's) is shown as a number."""
    if not seconds:
        return "not recorded (0)"
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{seconds} s after 1970 (past year 9999)"


def render_info(package, minimal_system: dict, transforms: dict | None = None) -> str:
    """``otapack info``: a parsed ``Package``, its decoded minimal-system extensions
    and what its delta-v2 partitions re-aim (``transform_summary``)."""
    h = package.header
    built = render_build_time(h.build_time)
    lines = [
        f"package        format v{h.format_version}, {h.kind}, {_size(package.total_length)}",
        f"model          {h.model or '-'}",
        f"versions       {h.source_version or '-'} -> {h.target_version or '-'}",
        f"security ctr   {h.security_counter}",
        f"built          {built} by otapack {h.tool_version}",
        f"device needs   RAM {_size(h.ram_required)} (LZMA dict {_size(h.lzma_dict_size)}), "
        f"scratch flash {_size(h.scratch_flash)}, erase block {_size(h.erase_block)}",
    ]
    for name, value in h.to_dict()["extensions"].items():
        lines.append(f"extension      {name}: {value}")
    lines += minimal_system_lines(minimal_system)
    lines.append("")
    lines.append(f"{'partition':<16} {'address':>10} {'operation':<9} {'codec':<6} {'payload':>12} {'target':>12}  reason")
    for p in package.partitions:
        payload = _size(p.payload_length) if p.has_payload else "-"
        target = _size(p.target_size) if p.target_size is not None else "-"
        codec = p.codec if p.has_payload else "-"
        lines.append(f"{p.name:<16} {p.address:>#10x} {p.operation:<9} {codec:<6} {payload:>12} {target:>12}  {p.reason}")
        if p.source_sha256 is not None:
            lines.append(f"{'':<16} source {p.source_size} B sha256 {p.source_sha256.hex()}")
        if p.target_sha256 is not None:
            lines.append(f"{'':<16} target {p.target_size} B sha256 {p.target_sha256.hex()}")
        t = (transforms or {}).get(p.name)
        if t:
            lines.append(f"{'':<16} transform " + (t["error"] if "error" in t else
                         f"{t['arch']} base {t['base']:#x}, map {t['map_entries']}, regions {t['regions']} "
                         f"({_size(t['table_ram'])} RAM), kinds {', '.join(t['kinds']) or '-'}"))
    lines.append("")
    lines.append(f"footer         sha256 {package.body_sha256.hex()}")
    lines.append(f"               crc32 {package.crc32:08x}, signature "
                 + (f"{len(package.signature_slot)} bytes" if package.signature_slot else "none"))
    return "\n".join(lines)


# -- minimal-system budgets and plans --------------------------------------------------------


def render_figures(stages: list[dict]) -> list[str]:
    """Budget figures of each stage (``StageFigures.to_dict()``) as a table."""
    lines = [f"{'stage':<6} {'package':>10} {'scratch':>10} {'need':>10} {'budget':>10} {'spare':>10}  area"]
    for s in stages:
        spare = s["download_area"] - s["flash_needed"]
        lines.append(f"{s.get('stage', 1):<6} {s['package_bytes']:>10,} {s['scratch_flash']:>10,} "
                     f"{s['flash_needed']:>10,} {s['download_area']:>10,} {spare:>10,}  {s['area']}")
    return lines


def render_plan(plan: dict) -> str:
    """``otapack plan``: an ``UpgradePlan.to_dict()``."""
    lines = []
    for c in plan["candidates"]:
        verdict = "fits" if c["fits"] else "does not fit"
        lines.append(f"{c['method']}: {c['download_bytes']:,} bytes to download, {verdict}")
        lines += ["  " + line for line in render_figures(c["stages"])]
    lines.append("recommendation: " + (plan["recommendation"] or "none") + f" ({plan['reason']})")
    return "\n".join(lines)


# -- partitions ------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _hex(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def render_image(doc: dict) -> str:
    """``otapack partitions``: the JSON document of a split image."""
    origin = doc["source"] if doc["source"] != "layout" else f"layout {doc['layout']}"
    title = f"{doc['label']}: {len(doc['partitions'])} partition(s), {doc['kind']} input, split by {origin}"
    rows = []
    for p in doc["partitions"]:
        ptype = p["type"] + (f" ({p['content']})" if p["content"] and p["content"] != p["type"] else "")
        size = _hex(p["size"]) if p["size"] == p["slot_size"] else f"{p['size']:#x}/{p['slot_size']:#x}"
        rows.append([
            p["name"], f"{p['address']:#010x}", size, ptype, p["policy"],
            f"{p['erased_fraction'] * 100:.1f}%", p["sha256"][:16],
        ])
    text = title + "\n" + _table(["NAME", "ADDRESS", "SIZE", "TYPE", "POLICY", "ERASED", "SHA-256"], rows)
    if doc.get("items"):  # a PAC's loaders, NV, configuration, download steps
        items = [[i["name"], _hex(i["address"]), _hex(i["size"]) if i["size"] else "-", i["kind"], i["handling"],
                  (i["sha256"] or "-")[:16], i["file_name"] or "-"] for i in doc["items"]]
        text += (f"\n{len(items)} item(s) not flashed by a package (docs/partitions.md):\n"
                 + _table(["NAME", "ADDRESS", "SIZE", "KIND", "HANDLING", "SHA-256", "FILE"], items))
    return text


def render_compare(doc: dict) -> str:
    """``otapack compare``: a ``CompareReport.to_dict()``."""
    rows = []
    for d in doc["partitions"]:
        old, new = d["old"] or {}, d["new"] or {}
        rows.append([
            d["name"], d["status"], _hex(old.get("size")), _hex(new.get("size")),
            str(d["bytes_differing"]), _hex(d["first_difference"]), _hex(d["last_difference"]),
        ])
    table = _table(["NAME", "STATUS", "OLD SIZE", "NEW SIZE", "DIFFERING", "FIRST", "LAST"], rows)
    summary = ", ".join(f"{n} {s}" for s, n in doc["summary"].items())
    text = f"{doc['old']['label']} -> {doc['new']['label']}\n{table}\n{summary}"
    if doc.get("items"):
        items = [[i["name"], i["kind"], i["status"], i["handling"]] for i in doc["items"]]
        text += "\nitems not flashed by a package:\n" + _table(["NAME", "KIND", "STATUS", "HANDLING"], items)
    return text


# -- cloud -----------------------------------------------------------------------------------


def render_job_check(path: str, result) -> str:
    """``otapack job --check``: the line of a valid document."""
    return f"{path}: ok ({result.operation}, {result.files} file{'s' if result.files != 1 else ''})"


def render_fs_listing(listing) -> str:
    """``otapack fs ls``: an ``FsImage`` listing."""
    lines = [f"# littlefs {listing.lfs_version}, {listing.block_count} blocks of {listing.block_size} bytes, "
             f"{listing.used_blocks} used"]
    for entry in listing.entries:
        if entry.is_dir:
            lines.append(f"{'dir':>10}  {'':64}  {entry.path}/")
        else:
            lines.append(f"{entry.size:>10}  {entry.sha256}  {entry.path}")
    return "\n".join(lines)
