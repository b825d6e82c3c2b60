"""Helpers shared by command modules: the command class, JSON output, messages,
progress, and writing outputs by the rules of ``otapack.core.fileio``."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Iterable, Sequence

import click

from otapack import api
from otapack.errors import OtapackError, UsageError


def flag_of(param: click.Parameter) -> str:
    """The long flag of an option (``--url-base``)."""
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        root = ctx.find_root()
        root.ensure_object(dict)
        root.obj["quiet"] = True


class Command(click.Command):
    """A command whose library errors name the flags they are about, and that
    takes ``-q/--quiet`` after its name as well as before it.

    Library messages never name command-line flags; an ``OtapackError`` lists
    the settings it is about (``options``: API names such as ``url_base``),
    and this command records the flags of its parameters of those names in
    ``exc.flags``, which ``otapack.cli.main`` adds to the error line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, is_eager=True,
                                        callback=_set_quiet, help="No progress bars or messages on stderr "
                                                                  "(the same as otapack -q COMMAND)."))

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


def check_json_output(as_json: bool, *outputs: str | None) -> None:
    """``--json`` owns standard output: refuse it with ``-o -`` (or no ``-o``,
    where that means standard output)."""
    if as_json and any(o is None or o == STDIO for o in outputs):
        raise UsageError("--json prints its report on standard output: give -o FILE for the data")


def emit_build_reports(items: Sequence[tuple[str, bytes]], **extra: Any) -> None:
    """``--json`` of a build command: one report per package written (``api.package_report``)."""
    reports = [{**api.package_report(data, path), "signature": api.signature_info(data)} for path, data in items]
    emit_json({**(reports[0] if len(reports) == 1 else {"packages": reports}), **extra})


def quiet(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet"))


def info(ctx: click.Context, message: str) -> None:
    """A status message on stderr, silenced by --quiet."""
    if not quiet(ctx):
        click.echo(message, err=True)


class _NoBar:
    """What the commands use of a tqdm bar, drawing nothing: a disabled bar
    without importing tqdm (about 40 ms of every run's start)."""

    def __init__(self, total: int) -> None:
        self.total, self.n = total, 0

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.n += n


def progress_bar(ctx: click.Context, total: int, desc: str):
    """A tqdm bar counting bytes on stderr; off with --quiet or when stderr is not a terminal."""
    if quiet(ctx) or not sys.stderr.isatty():
        return _NoBar(total)
    from tqdm import tqdm

    disable = False
    # updates are few (steps of a partition, erase blocks): draw every one, the last included
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                disable=disable, leave=False, mininterval=0, miniters=1)


def partition_progress(bar, image):
    """A builder's ``progress(name, fraction)`` callback advancing ``bar`` by
    that partition's bytes as its work goes (the build threads call it, so
    under a lock).  A --ram-budget build may run the partitions again: the
    bar never goes back and stops at its total."""
    import threading

    sizes = {p.name: p.size for p in image.partitions}
    shown: dict[str, int] = {}
    lock = threading.Lock()

    def done(name: str, fraction: float = 1.0) -> None:
        with lock:
            want = int(sizes.get(name, 0) * min(1.0, max(0.0, fraction)))
            grow = max(0, want - shown.get(name, 0))
            shown[name] = shown.get(name, 0) + grow
            bar.update(min(grow, max(0, bar.total - bar.n)))

    return done


# -- outputs: every check is otapack.core.fileio's --------------------------------------------
#
# The path types (options.InputPath) record every input the command line
# names in ctx.meta, so an output is checked against all of them: never an
# input, never inside an input directory.  ``-`` is standard output.

#: The command-line name for standard input / standard output (fileio's).
STDIO = api.STDIO
#: ctx.meta key: every input path the command line named, in order.
INPUTS_KEY = "otapack.inputs"


def add_inputs(ctx: click.Context, paths: Iterable[str]) -> None:
    """Record inputs named other than through an InputPath (``app`` sources)."""
    ctx.meta.setdefault(INPUTS_KEY, []).extend(paths)


def inputs(ctx: click.Context) -> tuple[str, ...]:
    return tuple(ctx.meta.get(INPUTS_KEY, ()))


def shown(path: str) -> str:
    return "standard output" if path == STDIO else path


def check_outputs(ctx: click.Context, *paths: str, directory: bool = False, overwrite: bool = True,
                  may_replace: str | None = None) -> None:
    """Before the work: every output can be written and is none of the inputs."""
    api.check_outputs([p for p in paths if p != STDIO], inputs=inputs(ctx), directory=directory,
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
    files = [(path, data) for path, data in items if path != STDIO]
    api.write_files(files, inputs=inputs(ctx), may_replace=may_replace, **options)
    for path, data in items:
        if path == STDIO:
            write_stdout(data, what)


def write_output(ctx: click.Context, path: str, data: bytes, *, what: str = "the output",
                 may_replace: str | None = None, **options) -> None:
    write_outputs(ctx, [(path, data)], what=what, may_replace=may_replace, **options)


def write_directory(ctx: click.Context, path: str, files: dict[str, bytes], *, overwrite: bool = False,
                    dirs: Iterable[str] = ()) -> None:
    api.write_tree(path, files, overwrite=overwrite, dirs=dirs, inputs=inputs(ctx))
