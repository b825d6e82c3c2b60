"""The ``otapack`` command line: a thin layer over the Python API.

Commands live in sibling modules, each exporting ``COMMANDS``; this module
only builds the group, and maps exceptions to exit codes in one place
(``run``).  stdout carries data, stderr messages and progress.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from otapack.version import __version__
from otapack.errors import OtapackError, UsageError

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


class _LazyGroup(click.Group):
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args)
    try:
        cli.main(args=args, prog_name="otapack", standalone_mode=False)
    except OtapackError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}{_flags(exc)}", err=True)
        return exc.exit_code
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
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", err=True)
        return 70
    return 0


def entry_point() -> None:
    sys.exit(main())
