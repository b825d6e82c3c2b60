"""``otapack partitions`` and ``otapack compare``: firmware split by partition.

Thin layer over ``otapack.core.inputs``: parse options, call the API,
render a table (hex addresses) or one JSON document (integers).
"""

from __future__ import annotations

import click

from otapack.cli.common import INPUT_FILE, INPUT_OR_STDIN, emit_json, json_option
from otapack.errors import IncompatibleImagesError
from otapack.core.model import FirmwareImage
from otapack.core.inputs import (
    EMBEDDED_TABLES,
    INPUT_KINDS,
    compare,
    erased_fraction,
    read_firmware,
    read_firmware_bytes,
)
from otapack.core.fileio import STDIO, read_input

AUTO = "auto"
_KIND_HELP = (
    "Input kind: auto detects it from the content, then the file extension ("
    + ", ".join(k for k in INPUT_KINDS if k != "raw") + ", else raw); see docs/partitions.md."
)

layout_option = click.option(
    "--layout", "layout", metavar="LAYOUT.toml", type=INPUT_FILE, default=None,
    help="Partition layout (TOML); without one: embedded table ("
    + ", ".join(EMBEDDED_TABLES) + ") or one partition 'image'.",
)
kind_option = click.option(
    "--kind", "kind", type=click.Choice([AUTO, *INPUT_KINDS]), default=AUTO, show_default=True,
    help=_KIND_HELP,
)


def _read(path: str, layout: str | None, kind: str) -> FirmwareImage:
    kind_name = None if kind == AUTO else kind
    if path == STDIO:
        data = read_input(STDIO, "image")
        return read_firmware_bytes(data, layout=layout, kind=kind_name, label="standard input")
    return read_firmware(path, layout, kind=kind_name)


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
    return title + "\n" + _table(["NAME", "ADDRESS", "SIZE", "TYPE", "POLICY", "ERASED", "SHA-256"], rows)


@click.command("partitions")
@click.argument("image", metavar="IMAGE", type=INPUT_OR_STDIN)
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
    return f"{doc['old']['label']} -> {doc['new']['label']}\n{table}\n{summary}"


@click.command("compare")
@click.argument("old", metavar="OLD", type=INPUT_FILE)
@click.argument("new", metavar="NEW", type=INPUT_FILE)
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
