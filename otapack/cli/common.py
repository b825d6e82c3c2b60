"""Helpers shared by command modules: the command class, JSON output, messages, progress."""

from __future__ import annotations

import functools
import json
from typing import Any

import click

from otapack.errors import OtapackError


def flag_of(param: click.Parameter) -> str:
    """The long flag of an option (``--url-base``)."""
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


class Command(click.Command):
    """A command whose library errors name the flags they are about.

    Library messages never name command-line flags; an ``OtapackError`` lists
    the settings it is about (``options``: API names such as ``url_base``),
    and this command records the flags of its parameters of those names in
    ``exc.flags``, which ``otapack.cli.main`` adds to the error line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OtapackError as exc:
            by_name = {p.name: p for p in self.params if isinstance(p, click.Option)}
            exc.flags = tuple(flag_of(by_name[name]) for name in exc.options if name in by_name)
            raise


class Group(click.Group):
    command_class = Command


#: ``@command("name")``: a click command of class ``Command``.
command = functools.partial(click.command, cls=Command)


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


def progress_bar(ctx: click.Context, total: int, desc: str):
    """tqdm on stderr; off with --quiet or when stderr is not a terminal."""
    import sys

    from tqdm import tqdm

    disable = quiet(ctx) or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="part", file=sys.stderr, disable=disable, leave=False)

