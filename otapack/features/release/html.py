"""``release.html``: the release report for a person, from ``release.json`` alone.

One static page, no external assets and no script: per model the routes
(which package a device on each deployed version gets, and why), a size
chart (inline SVG: each package's bytes, its flash need and the download
area), each package's per-partition breakdown (operation, reason, payload
bytes, with a stacked bar), and what changed between each deployed build and
the target.  Deterministic: the same document gives the same bytes.
"""

from __future__ import annotations

from html import escape

#: Bar colours by package role, and by partition operation.
ROLE_COLOURS = {"full": "#7a5195", "delta": "#2f7ed8", "stage1": "#ef5675", "stage2": "#ffa600"}
OPERATION_COLOURS = {"delta": "#2f7ed8", "replace": "#7a5195", "keep": "#9e9e9e", "skip": "#d0d0d0"}
METHOD_LABELS = {"delta": "delta", "full": "full (fallback)", "minimal-system": "minimal-system (2 stages)"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fits { color: #1b7d2b; } .nofit { color: #b00020; font-weight: bold; }
.muted { color: #777; } code { font-size: 0.95em; }
details { margin: 0.4em 0 0.8em; } summary { cursor: pointer; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; }
"""


def _n(value) -> str:
    """A byte count with thousands separators ("-" for none)."""
    return "-" if value is None else f"{value:,}"


def _e(value) -> str:
    return escape("-" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def size_chart(packages: list[dict], title: str) -> str:
    """Horizontal bars: package bytes (solid), flash needed (dashed outline: the
    package in erase blocks plus staging) and each package's download area (red tick)."""
    label_w, bar_w, row_h, top = 290, 420, 24, 28
    areas = [p["fit"]["download_area"] or 0 for p in packages]
    scale_max = max([p["flash_needed"] for p in packages] + areas) or 1
    height = top + row_h * len(packages) + 26
    width = label_w + bar_w + 130
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="size-chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" data-packages="{len(packages)}">',
             f"<title>{_e(title)}</title>",
             f'<text x="0" y="16" font-weight="bold">{_e(title)}</text>']
    for i, p in enumerate(packages):
        y = top + i * row_h
        size_w = max(1, round(bar_w * p["size"] / scale_max))
        need_w = max(1, round(bar_w * p["flash_needed"] / scale_max))
        colour = ROLE_COLOURS.get(p["role"], "#555")
        name = p["path"].rsplit("/", 1)[-1]
        parts += [
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>',
            f'<rect class="need" x="{label_w}" y="{y + 3}" width="{need_w}" height="16" fill="none" '
            f'stroke="{colour}" stroke-dasharray="3,2"/>',
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{size_w}" height="16" fill="{colour}" '
            f'data-bytes="{p["size"]}"><title>{_e(name)}: {p["size"]:,} B, needs {p["flash_needed"]:,} B of '
            f"flash</title></rect>",
        ]
        end = need_w
        if areas[i]:
            x = label_w + round(bar_w * areas[i] / scale_max)
            end = max(end, x - label_w)
            parts.append(f'<line class="area" x1="{x}" y1="{y}" x2="{x}" y2="{y + 22}" stroke="#b00020" '
                         f'stroke-width="2"><title>download area {areas[i]:,} B</title></line>')
        parts.append(f'<text x="{label_w + end + 6}" y="{y + 15}">{p["size"]:,} B</text>')
    legend_y = top + row_h * len(packages) + 16
    parts += [f'<text x="0" y="{legend_y}" fill="#555">solid: package bytes; dashed: flash needed '
              f"(erase blocks + staging); red tick: download area</text>", "</svg>"]
    return "".join(parts)


def partition_bar(package: dict) -> str:
    """One stacked bar: the package's payload bytes per partition."""
    total = sum(p["payload_bytes"] for p in package["partitions"]) or 1
    width, x, parts = 420, 0.0, []
    for p in package["partitions"]:
        if not p["payload_bytes"]:
            continue
        w = width * p["payload_bytes"] / total
        parts.append(f'<rect x="{x:.1f}" y="0" width="{max(w, 1):.1f}" height="14" '
                     f'fill="{OPERATION_COLOURS.get(p["operation"], "#555")}" stroke="#fff">'
                     f'<title>{_e(p["name"])}: {p["operation"]}, {p["payload_bytes"]:,} B</title></rect>')
        x += w
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="partition-bar" width="{width}" height="14" '
            f'viewBox="0 0 {width} 14">{"".join(parts)}</svg>')


def _fit(candidate: dict) -> str:
    stages = candidate["stages"]
    needs = " + ".join(_n(s["flash_needed"]) for s in stages)
    areas = " / ".join(_n(s["download_area"]) if s["download_area"] is not None else "unbounded" for s in stages)
    verdict = '<span class="fits">fits</span>' if candidate["fits"] else '<span class="nofit">does not fit</span>'
    return f"{needs} of {areas} B: {verdict}"


def _routes(model: dict) -> str:
    rows = []
    for r in model["routes"]:
        chosen = next(c for c in r["candidates"] if c["method"] == r["method"])
        others = "; ".join(f"{c['method']} {_n(c['download_bytes'])} B" for c in r["candidates"]
                           if c["method"] != r["method"])
        rows.append([f"<code>{_e(r['source_version'])}</code>", f"<strong>{_e(METHOD_LABELS[r['method']])}</strong>",
                     _n(r["download_bytes"]), _fit(chosen), _e(others), _e(r["reason"]),
                     "<br>".join(f"<code>{_e(p)}</code>" for p in r["packages"]), f"<code>{_e(r['job'])}</code>"])
    if not rows:
        return '<p class="muted">No deployed source versions: only the full package.</p>'
    return _table(["from", "route", "bytes", "flash need / area", "other candidates", "why", "packages", "job"],
                  rows, {2})


def _changes(model: dict) -> str:
    out = []
    for r in model["routes"]:
        rows = [[f"<code>{_e(c['partition'])}</code>", _e(c["status"]), _n(c["bytes_differing"]),
                 _n(c["old_size"]), _n(c["new_size"])] for c in r["changes"]]
        out.append(f"<h4>{_e(r['source_version'])} &rarr; {_e(model['target']['version'])}</h4>"
                   + _table(["partition", "status", "bytes differing", "old size", "new size"], rows, {2, 3, 4}))
    return "".join(out)


def _package(p: dict) -> str:
    rows = [[f"<code>{_e(q['name'])}</code>", _e(q["operation"]), _e(q["reason"]), _e(q["codec"]),
             _n(q["payload_bytes"]), _n(q["source_size"]), _n(q["target_size"])] for q in p["partitions"]]
    signature = p["signature"]
    signed = f"{signature['algorithm']} key {signature['key_id']}" if signature else "unsigned"
    route = _e(p["target_version"]) if p["source_version"] is None else \
        f"{_e(p['source_version'])} &rarr; {_e(p['target_version'])}"
    return (f'<details class="package" data-path="{_e(p["path"])}"><summary><code>{_e(p["path"])}</code>: '
            f"{_e(p['role'])}, {route}, {_n(p['size'])} B</summary>"
            f"<p>SHA-256 <code>{_e(p['sha256'])}</code>; {_e(signed)}; RAM {_n(p['ram_required'])} B "
            f"(LZMA dictionary {_n(p['lzma_dict_size'])} B); flash needed {_n(p['flash_needed'])} B "
            f"(scratch {_n(p['scratch_flash'])} B)</p>{partition_bar(p)}"
            + _table(["partition", "operation", "reason", "codec", "payload bytes", "source size", "target size"],
                     rows, {4, 5, 6}) + "</details>")


def _model(model: dict, packages: list[dict]) -> str:
    mine = [p for p in packages if p["model"] == model["name"]]
    target, budget = model["target"], model["budget"]
    signing = model["signing"]
    facts = _table(["model id", "hardware id", "security counter", "target", "download area", "RAM budget",
                    "signing key", "full package"], [[
        _e(model["model_id"]), _e(model["hardware_id"]), _e(model["security_counter"]),
        f"<code>{_e(target['version'])}</code> ({_n(target['size'])} B, {len(target['partitions'])} partitions)",
        f"{_n(budget['download'])} B ({_e(budget['area'])})" if budget["download"] is not None else "unbounded",
        f"{_n(budget['ram'])} B" if budget["ram"] is not None else "unbounded",
        f"{_e(signing['algorithm'])} <code>{_e(signing['key_id'])}</code>" if signing else "unsigned",
        f"<code>{_e(model['full']['package'])}</code>, "
        + ('<span class="fits">fits</span>' if model["full"]["fit"]["fits"] else
           '<span class="nofit">does not fit the download area: no job</span>')]])
    return (f'<section class="model" id="model-{_e(model["name"])}"><h2>{_e(model["name"])}</h2>{facts}'
            f"<h3>Routes</h3>{_routes(model)}<h3>Package sizes</h3>"
            + size_chart(mine, f"{model['name']}: package bytes and flash needed")
            + "<h3>Packages, per partition</h3>" + "".join(_package(p) for p in mine)
            + "<h3>What changed</h3>" + (_changes(model) or '<p class="muted">No deployed source versions.</p>')
            + "</section>")


def render_html(document: dict) -> bytes:
    totals = document["totals"]
    methods = ", ".join(f"{count} {method}" for method, count in totals["methods"].items()) or "none"
    packages = document["packages"]
    rows = [[f"<code>{_e(p['path'])}</code>", _e(p["role"]), _e(p["source_version"]), _e(p["target_version"]),
             _n(p["size"]), _n(p["ram_required"]), _n(p["flash_needed"]),
             _e(", ".join(f"{k} {v}" for k, v in p["operations"].items()))] for p in packages]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Release {_e(document['release'])}</title><style>{STYLE}</style></head><body>"
        f'<h1>Release <span id="release-name">{_e(document["release"])}</span></h1>'
        f'<p class="muted">otapack {_e(document["tool_version"])}, build time {_e(document["build_time"])}, '
        f"manifest {_e(document['manifest']['name'])} (SHA-256 {_e(document['manifest']['sha256'][:16])}&hellip;); "
        f"{'every package verified on a simulated device' if document['settings']['verified'] else 'not verified'}"
        f"</p><p id=\"summary\">{totals['models']} models, {totals['routes']} upgrade routes ({_e(methods)}), "
        f"{totals['packages']} packages, {_n(totals['package_bytes'])} bytes, {totals['jobs']} job documents.</p>"
        "<h2>All packages</h2>"
        + _table(["package", "role", "from", "to", "bytes", "RAM", "flash needed", "operations"], rows, {4, 5, 6})
        + "".join(_model(m, packages) for m in document["models"])
        + "</body></html>\n"
    )
    return page.encode("utf-8")
