"""``otapack partitions`` and ``otapack compare``: firmware split by partition.

Thin layer over ``otapack.core.inputs``: parse options, call the API,
render a table (hex addresses) or one JSON document (integers).
"""

from __future__ import annotations

import click

from otapack.cli.common import emit_json, json_option
from otapack.errors import IncompatibleImagesError
from otapack.core.model import FirmwareImage
from otapack.core.inputs import (
    EMBEDDED_TABLES,
    INPUT_KINDS,
    compare,
    erased_fraction,
    read_firmware,
)

AUTO = "auto"
_KIND_HELP = (
    "Input kind: auto detects it from the content, then the file extension ("
    + ", ".join(k for k in INPUT_KINDS if k != "raw") + ", else raw); see docs/partitions.md."
)

layout_option = click.option(
    "--layout", "layout", metavar="LAYOUT.toml", default=None,
    help="Partition layout (TOML); without one: embedded table ("
    + ", ".join(EMBEDDED_TABLES) + ") or one partition 'image'.",
)
kind_option = click.option(
    "--kind", "kind", type=click.Choice([AUTO, *INPUT_KINDS]), default=AUTO, show_default=True,
    help=_KIND_HELP,
)


def _read(path: str, layout: str | None, kind: str) -> FirmwareImage:
    return read_firmware(path, layout, kind=None if kind == AUTO else kind)


def image_document(image: FirmwareImage) -> dict:
    """The JSON form of a split image (integers, full SHA-256)."""
    details = image.details or {}
    contents = details.get("content", {})
    return {
        "label": details.get("label"),
        "kind": details.get("kind"),
        "source": image.source,
        "layout": details.get("layout"),
        "erase_block": image.erase_block,
        "erased_value": image.erased_value,
        "partitions": [
            {
                "name": p.name,
                "address": p.address,
                "size": p.size,
                "slot_size": p.capacity,
                "type": p.type.value,
                "content": contents.get(p.name),
                "policy": p.policy.value,
                "sha256": p.sha256().hex(),
                "erased_fraction": round(erased_fraction(p.data, image.erased_value), 6),
            }
            for p in image.partitions
        ],
        "items": [item_document(item) for item in image.items],
    }


def item_document(item) -> dict:
    """A non-flash item (PAC loader, NV, configuration, download step)."""
    return {
        "name": item.name,
        "kind": item.kind.value,
        "address": item.address,
        "size": item.size,
        "file_name": item.file_name,
        "handling": item.handling,
        "reason": item.reason,
        "sha256": item.sha256().hex() if item.data else None,
    }


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _hex(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def render_image(doc: dict) -> str:
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
    if doc.get("items"):
        items = [[i["name"], _hex(i["address"]), _hex(i["size"]) if i["size"] else "-", i["kind"], i["handling"],
                  (i["sha256"] or "-")[:16], i["file_name"] or "-"] for i in doc["items"]]
        text += (f"\n{len(items)} item(s) not flashed by a package (docs/partitions.md):\n"
                 + _table(["NAME", "ADDRESS", "SIZE", "KIND", "HANDLING", "SHA-256", "FILE"], items))
    return text


@click.command("partitions")
@click.argument("image", metavar="IMAGE")
@layout_option
@kind_option
@json_option
def partitions_cmd(image: str, layout: str | None, kind: str, as_json: bool) -> None:
    """List the partitions of firmware IMAGE: name, address, size, type,
    policy, erased fraction and SHA-256 (SIZE is data/slot when they differ)."""
    doc = image_document(_read(image, layout, kind))
    if as_json:
        emit_json(doc)
    else:
        click.echo(render_image(doc))


def render_compare(doc: dict) -> str:
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


@click.command("compare")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@layout_option
@kind_option
@json_option
def compare_cmd(old: str, new: str, layout: str | None, kind: str, as_json: bool) -> None:
    """Compare firmware OLD and NEW partition by partition: unchanged,
    changed (bytes differing, first/last differing offset), resized, added,
    removed.  Exits 3 when their partition structures differ."""
    report = compare(_read(old, layout, kind), _read(new, layout, kind))
    doc = report.to_dict()
    if as_json:
        emit_json(doc)
    else:
        click.echo(render_compare(doc))
    if report.incompatibility is not None:
        raise IncompatibleImagesError(report.incompatibility)


COMMANDS = [partitions_cmd, compare_cmd]
