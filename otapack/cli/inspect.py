"""``otapack info``: everything in a package's header, table and footer."""

from __future__ import annotations

import click

from otapack import api
from otapack.cli.common import command, emit_json
from otapack.cli.options import INPUT_OR_STDIN, json_option
from otapack.cli.render import render_info
from otapack.errors import OtapackError, error_fields


def _minimal_system(parsed) -> dict:
    """The decoded minimal-system extensions, or ``{"error": ...}`` when they do not decode."""
    try:
        return api.decode_extensions(parsed)
    except OtapackError as exc:
        return {"error": str(exc)}


@command("info")
@click.argument("package", type=INPUT_OR_STDIN)
@json_option
def info_cmd(package, as_json):
    """Show the header, partition table and footer of PACKAGE.

    With --json a package that cannot be read gives a JSON error object on
    stdout (class, exit code, message) as well as the error line."""
    try:
        parsed = api.read_package(api.read_input(package, "package", kind="package"))
    except OtapackError as exc:
        if as_json:
            emit_json({"path": package, "error": str(exc), **error_fields(exc)})
        raise
    if as_json:
        document = parsed.to_dict()
        if parsed.header.kind in api.STAGE_KINDS:
            document["minimal_system"] = _minimal_system(parsed)
        transforms = api.transform_summary(parsed)
        if transforms:
            document["transforms"] = transforms
        emit_json(document)
    else:
        click.echo(render_info(parsed, _minimal_system(parsed), api.transform_summary(parsed)))


COMMANDS = [info_cmd]
