"""Helpers shared by command modules: options, JSON output, progress."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable, Sequence

import click
from click.shell_completion import CompletionItem

from otapack.core import fileio
from otapack.errors import UsageError


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


class SizeType(click.ParamType):
    """Byte sizes: 65536, 0x10000, 64K, 64KiB, 1M."""

    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        number = text.rstrip("kmgib")
        unit = text[len(number):]
        try:
            base = int(number, 0)
        except ValueError:
            self.fail(f"{value!r} is not a size (examples: 65536, 64K, 1M)", param, ctx)
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


# -- paths: what a command reads and writes -------------------------------------------------
#
# The types only name and record paths; every check (regular file, size bound,
# output not an input, ...) is otapack.core.fileio's, so a directory or an
# unreadable file is an input error (exit 3), never a click usage error.

#: ctx.meta key: every input path the command line named, in order.
_INPUTS = "otapack.inputs"


class InputPath(click.ParamType):
    """A file (or directory) the command reads; ``-`` is standard input only where ``stdin``."""

    name = "path"

    def __init__(self, *, directory: bool = False, stdin: bool = False):
        self.directory, self.stdin = directory, stdin

    def convert(self, value, param, ctx):
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if text == fileio.STDIO and not self.stdin:
            self.fail("'-' (standard input) is not accepted here; write ./- for a file named '-'", param, ctx)
        if ctx is not None:
            ctx.meta.setdefault(_INPUTS, []).append(text)
        return text

    def shell_complete(self, ctx, param, incomplete):
        return [CompletionItem(incomplete, type="dir" if self.directory else "file")]


class OutputPath(click.ParamType):
    """A file or directory the command writes; ``-`` is standard output only where ``stdout``."""

    name = "path"

    def __init__(self, *, directory: bool = False, stdout: bool = False):
        self.directory, self.stdout = directory, stdout

    def convert(self, value, param, ctx):
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if text == fileio.STDIO and not self.stdout:
            what = "a directory" if self.directory else "files only"
            self.fail(f"'-' (standard output) is not accepted here: this command writes {what}; "
                      f"write ./- for a file named '-'", param, ctx)
        return text

    def shell_complete(self, ctx, param, incomplete):
        return [CompletionItem(incomplete, type="dir" if self.directory else "file")]


INPUT_FILE = InputPath()
INPUT_DIR = InputPath(directory=True)
#: An input that may be ``-`` (commands with one input that makes sense as a stream).
INPUT_OR_STDIN = InputPath(stdin=True)
OUTPUT_FILE = OutputPath()
OUTPUT_DIR = OutputPath(directory=True)
#: An output that may be ``-`` (standard output).
OUTPUT_OR_STDOUT = OutputPath(stdout=True)


def add_inputs(ctx: click.Context, paths: Iterable[str]) -> None:
    """Record inputs named other than through an InputPath (``app`` sources)."""
    ctx.meta.setdefault(_INPUTS, []).extend(paths)


def inputs(ctx: click.Context) -> tuple[str, ...]:
    return tuple(ctx.meta.get(_INPUTS, ()))


def shown(path: str) -> str:
    return "standard output" if path == fileio.STDIO else path


def check_outputs(ctx: click.Context, *paths: str, directory: bool = False, overwrite: bool = True,
                  may_replace: str | None = None) -> None:
    """Before the work: every output can be written and is none of the inputs."""
    fileio.check_outputs([p for p in paths if p != fileio.STDIO], inputs=inputs(ctx), directory=directory,
                         overwrite=overwrite, may_replace=may_replace)


def write_stdout(data: bytes, what: str, *, binary: bool = True) -> None:
    """Data on standard output; binary data never goes to a terminal."""
    if binary and sys.stdout.isatty():
        raise UsageError(f"refusing to write {what} (binary) to a terminal; use -o FILE or a pipe")
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        raise UsageError(f"standard output takes no binary data here; use -o FILE for {what}")
    sys.stdout.flush()
    stream.write(data)
    stream.flush()


def write_outputs(ctx: click.Context, items: Sequence[tuple[str, bytes]], *, what: str = "the output",
                  may_replace: str | None = None, **options) -> None:
    """Write outputs (``-``: standard output) by the rules of otapack.core.fileio, all or nothing."""
    files = [(path, data) for path, data in items if path != fileio.STDIO]
    fileio.write_files(files, inputs=inputs(ctx), may_replace=may_replace, **options)
    for path, data in items:
        if path == fileio.STDIO:
            write_stdout(data, what)


def write_output(ctx: click.Context, path: str, data: bytes, *, what: str = "the output",
                 may_replace: str | None = None, **options) -> None:
    write_outputs(ctx, [(path, data)], what=what, may_replace=may_replace, **options)


def write_directory(ctx: click.Context, path: str, files: dict[str, bytes], *, overwrite: bool = False,
                    dirs: Iterable[str] = ()) -> None:
    fileio.write_tree(path, files, overwrite=overwrite, dirs=dirs, inputs=inputs(ctx))


def image_option(name: str, help_text: str):
    return click.argument(name, type=INPUT_FILE)


layout_option = click.option(
    "--layout", type=INPUT_FILE, default=None,
    help="Partition layout (TOML) of the images; see docs/partitions.md.",
)
output_option = click.option(
    "-o", "--output", required=True, type=OUTPUT_OR_STDOUT,
    help="Package file to write (atomically); - for standard output.",
)
