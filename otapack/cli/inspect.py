"""``otapack info``: everything in a package's header, table and footer."""

from __future__ import annotations

import datetime

import click

from otapack.cli.common import INPUT_OR_STDIN, emit_json, json_option
from otapack.errors import OtapackError
from otapack.core.fileio import read_input
from otapack.core.container import Package, read_package


def _size(n: int) -> str:
    return f"{n:,} B"


def render_build_time(seconds: int) -> str:
    """UTC date of a build time; a value past year 9999 (another producer's) is shown as a number."""
    if not seconds:
        return "not recorded (0)"
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{seconds} s after 1970 (past year 9999)"


def render_info(package: Package) -> str:
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
    from otapack.features.minimal.system import describe_extensions

    lines += describe_extensions(package)
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
    lines.append("")
    lines.append(f"footer         sha256 {package.body_sha256.hex()}")
    lines.append(f"               crc32 {package.crc32:08x}, signature "
                 + (f"{len(package.signature_slot)} bytes" if package.signature_slot else "none"))
    return "\n".join(lines)


@click.command("info")
@click.argument("package", type=INPUT_OR_STDIN)
@json_option
def info_cmd(package, as_json):
    """Show the header, partition table and footer of PACKAGE."""
    parsed = read_package(read_input(package, "package", kind="package"))
    if as_json:
        from otapack.features.minimal.system import STAGE_KINDS, decode_extensions

        document = parsed.to_dict()
        if parsed.header.kind in STAGE_KINDS:
            try:
                document["minimal_system"] = decode_extensions(parsed)
            except OtapackError as exc:
                document["minimal_system"] = {"error": str(exc)}
        emit_json(document)
    else:
        click.echo(render_info(parsed))


COMMANDS = [info_cmd]
