"""``otapack partitions`` and ``otapack compare``: firmware split by partition.

Thin layer over ``otapack.core.inputs`` (through ``otapack.api``): parse
options, call the API, render a table (hex addresses) or one JSON document
(integers).
"""

from __future__ import annotations

import click

from otapack import api
from otapack.cli.common import command, emit_json
from otapack.cli.options import INPUT_FILE, INPUT_OR_STDIN, json_option
from otapack.cli.render import render_compare, render_image
from otapack.errors import IncompatibleImagesError

AUTO = "auto"
_KIND_HELP = (
    "Input kind: auto detects it from the content, then the file extension ("
    + ", ".join(k for k in api.INPUT_KINDS if k != "raw") + ", else raw); see docs/partitions.md."
)

layout_option = click.option(
    "--layout", "layout", metavar="LAYOUT.toml", type=INPUT_FILE, default=None,
    help="Partition layout (TOML); without one: embedded table ("
    + ", ".join(api.EMBEDDED_TABLES) + ") or one partition 'image'.",
)
kind_option = click.option(
    "--kind", "kind", type=click.Choice([AUTO, *api.INPUT_KINDS]), default=AUTO, show_default=True,
    help=_KIND_HELP,
)


def _read(path: str, layout: str | None, kind: str):
    """The split image (``-``: firmware on standard input)."""
    return api.read_firmware(path, layout, kind=None if kind == AUTO else kind)


def image_document(image) -> dict:
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
                "erased_fraction": round(api.erased_fraction(p.data, image.erased_value), 6),
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


@command("partitions")
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


@command("compare")
@click.argument("old", metavar="OLD", type=INPUT_FILE)
@click.argument("new", metavar="NEW", type=INPUT_FILE)
@layout_option
@kind_option
@json_option
def compare_cmd(old: str, new: str, layout: str | None, kind: str, as_json: bool) -> None:
    """Compare firmware OLD and NEW partition by partition: unchanged,
    changed (bytes differing, first/last differing offset), resized, added,
    removed.  Exits 3 when their partition structures differ."""
    report = api.compare_images(_read(old, layout, kind), _read(new, layout, kind))
    doc = report.to_dict()
    if as_json:
        emit_json(doc)
    else:
        click.echo(render_compare(doc))
    if report.incompatibility is not None:
        raise IncompatibleImagesError(report.incompatibility)


COMMANDS = [partitions_cmd, compare_cmd]
