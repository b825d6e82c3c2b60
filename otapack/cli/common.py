"""Helpers shared by command modules: options, JSON output, progress."""

from __future__ import annotations

import json
import re
from typing import Any

import click


def emit_json(document: Any) -> None:
    """One stable, sorted JSON document on stdout."""
    click.echo(json.dumps(document, indent=2, sort_keys=True))


def quiet(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet"))


def info(ctx: click.Context, message: str) -> None:
    """A status message on stderr, silenced by --quiet."""
    if not quiet(ctx):
        click.echo(message, err=True)


def check_line(check) -> str:
    """One named restore check as a report line."""
    mark = {"pass": "ok  ", "fail": "FAIL", "skipped": "skip"}[check.status]
    return f"{mark} {check.name:<18} {check.detail}"


json_option = click.option("--json", "as_json", is_flag=True, help="Print one sorted JSON document on stdout.")

_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
#: A number (prefix decides its digits, so hex may end in b) and a unit; no
#: unit starts with a hex digit, so the split is unambiguous.
_SIZE = re.compile(r"(0x[0-9a-f_]+|0o[0-7_]+|0b[01_]+|[0-9_]+)\s*([a-z]*)")


class SizeType(click.ParamType):
    """Byte sizes: 65536, 0x10000, 0x1000b, 64K, 64KiB, 1M."""

    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        match = _SIZE.fullmatch(str(value).strip().lower())
        try:
            base = int(match.group(1), 0) if match else None
        except ValueError:
            base = None
        if base is None:
            self.fail(f"{value!r} is not a size (examples: 65536, 0x10000, 64K, 1M)", param, ctx)
        unit = match.group(2)
        if unit not in _UNITS:
            self.fail(f"{value!r}: unknown unit {unit!r} (use K, M or G)", param, ctx)
        return base * _UNITS[unit]


SIZE = SizeType()


def progress_bar(ctx: click.Context, total: int, desc: str):
    """tqdm on stderr; off with --quiet or when stderr is not a terminal."""
    import sys

    from tqdm import tqdm

    disable = quiet(ctx) or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="part", file=sys.stderr, disable=disable, leave=False)


layout_option = click.option(
    "--layout", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="Partition layout (TOML) of the images; see docs/partitions.md.",
)
output_option = click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
    help="Package file to write (atomically).",
)
