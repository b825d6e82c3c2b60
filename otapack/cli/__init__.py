"""The ``otapack`` command line: a thin layer over the Python API.

Commands live in sibling modules, each exporting ``COMMANDS``; this module
only builds the group, and maps exceptions and signals to exit codes in one
place (``main``).  stdout carries data, stderr messages and progress.

SIGINT, SIGTERM and SIGHUP become an exception that unwinds the stack, so
every cleanup runs (temporary files are removed; see otapack.core.fileio);
the exit code is then 128 + the signal number, as a shell would report it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback

import click

from otapack.version import __version__
from otapack.errors import SIGNAL_EXIT_CODES, OtapackError, OutputError, UsageError

#: Command name -> the module that defines it (each module exports
#: ``COMMANDS``).  Modules load only when their command runs, so a command
#: does not pay for the others' dependencies (cryptography, littlefs, ...);
#: a test checks this table against every module's COMMANDS.
COMMAND_MODULES: dict[str, str] = {
    "full": "otapack.cli.build",
    "diff": "otapack.cli.build",
    "info": "otapack.cli.inspect",
    "verify": "otapack.cli.verify",
    "apply": "otapack.cli.verify",
    "partitions": "otapack.cli.partitions",
    "compare": "otapack.cli.partitions",
    "minimal": "otapack.cli.minimal",
    "plan": "otapack.cli.minimal",
    "job": "otapack.cli.cloud",
    "app": "otapack.cli.cloud",
    "fs": "otapack.cli.cloud",
    "keygen": "otapack.cli.keys",
    "pubkey": "otapack.cli.keys",
    "sign": "otapack.cli.keys",
    "digest": "otapack.cli.keys",
    "release": "otapack.cli.release",
}


_BROKEN_PIPE = "standard output was closed before everything was written (broken pipe)"


class _LazyGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # click would turn this into a silent exit 1 ("verification failed"): make it an output error
            _silence_stdout()
            raise OutputError(_BROKEN_PIPE) from None

    def list_commands(self, ctx):
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx, name):
        module = COMMAND_MODULES.get(name)
        if module is None:
            return None
        for command in importlib.import_module(module).COMMANDS:
            if command.name == name:
                return command
        raise RuntimeError(f"{module} does not define command {name!r}")


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otapack")
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or messages on stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Build, inspect, verify and sign firmware OTA packages."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["quiet"] = quiet


def _flags(exc: OtapackError) -> str:
    """The flags of the command's options the error is about (set by ``common.Command``)."""
    flags = getattr(exc, "flags", ())
    if not flags:
        return ""
    return f" (option{'s' if len(flags) > 1 else ''} {', '.join(flags)})"


def _wants_debug(argv: list[str]) -> bool:
    return "--debug" in argv


class _Stopped(BaseException):
    """A signal asked otapack to stop; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _signals() -> list[signal.Signals]:
    return [getattr(signal, name) for name in SIGNAL_EXIT_CODES if hasattr(signal, name)]


def _on_signal(signum, frame) -> None:
    # A second signal (CI runners often repeat SIGTERM) must not cut the cleanup short.
    for other in _signals():
        signal.signal(other, signal.SIG_IGN)
    raise _Stopped(signal.Signals(signum).name)


def _install_signal_handlers() -> dict:
    """Turn SIGINT/SIGTERM/SIGHUP into ``_Stopped``; returns what to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in _signals():
        handler = signal.getsignal(signum)
        if handler is None or handler is signal.SIG_IGN:
            continue  # ignored on purpose (nohup, background job) or owned by C code
        previous[signum] = signal.signal(signum, _on_signal)
    return previous


def _silence_stdout() -> None:
    """After a broken pipe, keep Python's exit-time flush from printing a second error."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    previous = _install_signal_handlers()
    try:
        return _run(args)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(args: list[str]) -> int:
    debug = _wants_debug(args)
    try:
        cli.main(args=args, prog_name="otapack", standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows up here, inside the mapping below
    except _Stopped as exc:
        click.echo(f"error: stopped by {exc.name}; temporary files removed", err=True)
        return SIGNAL_EXIT_CODES[exc.name]
    except OtapackError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}{_flags(exc)}", err=True)
        return exc.exit_code
    except BrokenPipeError:  # at the final flush
        _silence_stdout()
        click.echo(f"error: {_BROKEN_PIPE}", err=True)
        return OutputError.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.UsageError as exc:
        # click's own parsing errors: keep them to one line too
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc.format_message()}", err=True)
        return UsageError.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except MemoryError:
        click.echo("error: out of memory", err=True)
        return 70
    except OSError as exc:  # an I/O failure no typed check caught: still one line, exit 6
        if debug:
            traceback.print_exc()
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: I/O error: {exc.strerror or exc}{where}", err=True)
        return OutputError.exit_code
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", err=True)
        return 70
    return 0


def entry_point() -> None:
    sys.exit(main())
