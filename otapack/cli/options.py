"""Options shared by commands, and option groups.

An option group adds its click options to a command and hands the command
function one validated, frozen option object built from them, as an
explicit parameter: ``package_options`` gives ``package`` (``PackageOptions``),
``signing_options`` gives ``signing`` (``SigningOptions``), ``fs_options``
gives ``fs`` (``FsReplacement`` or None).  Click parameter names are the
option objects' field names, so a library error about a field
(``OtapackError.options``) names the right flag (``common.Command``).
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Callable

import click
from click.shell_completion import CompletionItem

from otapack import api
from otapack.cli.common import STDIO, add_inputs
from otapack.errors import UsageError

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
        if str(value).strip().startswith("-"):
            self.fail(f"{value!r} is not a size: sizes cannot be negative", param, ctx)
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


# -- paths: what a command reads and writes -------------------------------------------------
#
# The types only name and record paths; every check (regular file, size bound,
# output not an input, ...) is otapack.core.fileio's, so a directory or an
# unreadable file is an input error (exit 3), never a click usage error.


class InputPath(click.ParamType):
    """A file (or directory) the command reads; ``-`` is standard input only where ``stdin``."""

    name = "path"

    def __init__(self, *, directory: bool = False, stdin: bool = False):
        self.directory, self.stdin = directory, stdin

    def convert(self, value, param, ctx):
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if text == STDIO and not self.stdin:
            self.fail("'-' (standard input) is not accepted here; write ./- for a file named '-'", param, ctx)
        if ctx is not None:
            add_inputs(ctx, [text])
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
        if text == STDIO and not self.stdout:
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


class PrivateKeyFile(InputPath):
    """A private key file, loaded while the command line is parsed, so a bad
    key fails before any build work (missing, a directory, unreadable: exit 3)."""

    def convert(self, value, param, ctx):
        if value is None or not isinstance(value, (str, os.PathLike)):
            return value
        path = super().convert(value, param, ctx)
        return api.load_private_key(path, param.opts[-1] if param else "signing key")


class _PowerCuts(click.ParamType):
    """``all``, ``single`` or a positive count."""

    name = "all|single|N"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("all", "single"):
            return value
        if isinstance(value, str) and value.isdigit() and int(value) > 0:
            return int(value)
        self.fail(f"{value!r} is not 'all', 'single' or a positive count", param, ctx)


POWER_CUTS = _PowerCuts()

json_option = click.option("--json", "as_json", is_flag=True, help="Print one sorted JSON document on stdout.")
layout_option = click.option(
    "--layout", type=INPUT_FILE, default=None, help="Partition layout (TOML) of the images; see docs/partitions.md.",
)
output_option = click.option("-o", "--output", required=True, type=OUTPUT_OR_STDOUT,
                             help="Package file to write (atomically); - for standard output.")


def no_verify_option(help: str = "Skip running the device restore on the new package."):
    return click.option("--no-verify", is_flag=True, help=help)


Spec = tuple[tuple[str, ...], dict]


def option_group(parameter: str, build: Callable[..., Any], specs: list[Spec]):
    """A decorator adding the options of ``specs`` to a command; the command
    function receives ``build(**their values)`` as ``parameter`` instead."""
    names = [click.Option(list(decls)).name for decls, _ in specs]

    def decorate(func):
        @functools.wraps(func)
        def command(*args, **kwargs):
            kwargs[parameter] = build(**{name: kwargs.pop(name) for name in names})
            return func(*args, **kwargs)

        for decls, attrs in reversed(specs):
            command = click.option(*decls, **attrs)(command)
        return command

    return decorate


def _size(value: int) -> str:
    for unit, scale in (("M", 1 << 20), ("K", 1024)):
        if value % scale == 0:
            return f"{value // scale}{unit}"
    return str(value)


def _package_specs() -> dict[str, Spec]:
    algorithms = api.DIFF_ALGORITHMS
    profiles = api.BUILD_PROFILES
    default = profiles[api.DEFAULT_BUILD_PROFILE]
    return {
        "source_version": (("--source-version", "source_version"),
                           dict(default="", help="Version string of the firmware on the device.")),
        "diff_algorithm": (("--algorithm", "diff_algorithm"), dict(
            type=click.Choice(sorted(algorithms)), default=api.DEFAULT_ALGORITHM, show_default=True,
            help="Diff algorithm: " + "; ".join(f"{a.name}: {a.description}" for a in algorithms.values()))),
        "model": (("--model", "model"),
                  dict(default="", help="Product/model identifier the package binds to, e.g. EC600NCNLC.")),
        "target_version": (("--target-version", "target_version"),
                           dict(default="", help="Version string of the new firmware.")),
        "security_counter": (("--security-counter", "security_counter"), dict(
            type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Monotonic anti-rollback counter.")),
        "profile": (("--profile", "profile"), dict(
            type=click.Choice(list(profiles)), default=None,
            help=f"Resource settings for a class of device (default: {api.DEFAULT_BUILD_PROFILE!r}): "
                 + "; ".join(f"{p.name}: {p.description}" for p in profiles.values()))),
        "lzma_dict_size": (("--lzma-dict", "lzma_dict_size"), dict(
            type=SIZE, default=None,
            help="LZMA2 dictionary size, 2^n or 3*2^(n-1) bytes: the device's decompression RAM (e.g. 64K, 1M; "
                 f"default {_size(default.lzma_dict_size)}, or the --profile's).")),
        "window_size": (("--window-size", "window_size"), dict(
            type=SIZE, default=None,
            help="Patch window: the most output bytes one window of a delta restores, and so the most extra bytes "
                 f"the device holds at once (default {_size(default.window_size)}, or the --profile's).")),
        "ram_budget": (("--ram-budget", "ram_budget"), dict(
            type=SIZE, default=None,
            help="RAM the device gives the restore: lower the dictionary, window, tuples per window and LZMA model "
                 "until the package declares no more, or fail (exit 7) with the shortfall.")),
        "max_size": (("--max-size", "max_size"), dict(
            type=SIZE, default=None,
            help="Largest package allowed, signature included: a larger one fails (exit 7) and is not written.")),
        "jobs": (("--jobs", "jobs"), dict(
            type=click.IntRange(1, 64), default=api.DEFAULT_JOBS, show_default=True,
            help="Threads the build may compute in at once (partitions, matcher settings, LZMA passes; default: "
                 "the CPUs this process may use); output is identical for any value.")),
        "transform_arch": (("--arch", "transform_arch"), dict(
            type=click.Choice(list(api.TRANSFORM_CHOICES)), default=None,
            help="Instruction set of the code partitions (delta-v2): the patch re-aims its branch and pointer "
                 "operands, kept per partition only where the package is smaller; auto: each partition's "
                 "arch (layout key, ELF e_machine), else a trial of thumb2 and aarch64. The device's restore "
                 "must support delta-v2 (default: none, delta-v1 only).")),
        "transform_table_ram": (("--transform-ram", "transform_table_ram"), dict(
            type=SIZE, default=None,
            help="Device RAM the delta-v2 tables of one partition may take (default 4K).")),
        "download_slots": (("--download-slots", "download_slots"), dict(
            default="", callback=lambda _ctx, _param, value: tuple(n for n in value.split(",") if n),
            metavar="NAME[,NAME...]",
            help="Partitions whose slots the device downloads the package into (it rewrites them): the package "
                 "declares the scratch flash to copy what it still needs out first (docs/verifier.md, \"The "
                 "package in the download area\"; default: the layout's [minimal_system].stage1_download "
                 "partitions).")),
        "scratch_flash": (("--scratch-flash", "scratch_flash"), dict(
            type=SIZE, default=None,
            help="Scratch flash the device has for deltas: a delta whose staged copy does not fit is patched in "
                 "place (a few erase blocks; the restore must support delta-in-place) or sent in full (default: "
                 "the layout's scratch_flash key, else every delta staged).")),
        "hardware_id": (("--hardware-id", "hardware_id"), dict(
            default="", help="Board/hardware identifier the package binds to; the device refuses another.")),
    }


def _with_help(spec: Spec, text: str | None) -> Spec:
    decls, attrs = spec
    return (decls, dict(attrs, help=text)) if text is not None else spec


def package_options(*fields: str, help: dict[str, str] | None = None):
    """The ``PackageOptions`` fields ``fields`` as options; the command gets ``package``."""
    specs = _package_specs()
    unknown = set(fields) - set(specs)
    if unknown:
        raise ValueError(f"no package option for {sorted(unknown)}")
    chosen = [_with_help(specs[f], (help or {}).get(f)) for f in fields]
    return option_group("package", lambda **values: api.PackageOptions.for_profile(**values), chosen)


def signing_options(help: str = "Private key (ed25519 or ecdsa-p256 PEM) to sign the package with; "
                                "see `otapack keygen`."):
    """``--sign-key``; the command gets ``signing`` (``SigningOptions``)."""
    spec = (("--sign-key", "key"), dict(type=PrivateKeyFile(), default=None, help=help))
    return option_group("signing", lambda key: api.SigningOptions(key), [spec])


def fs_options(help: str = "Directory to build the user file system (littlefs) from, replacing --fs-partition."):
    """``--fs`` and ``--fs-partition``; the command gets ``fs`` (``FsReplacement``, or None without ``--fs``)."""
    specs = [
        (("--fs", "fs_dir"), dict(type=INPUT_DIR, default=None, help=help)),
        (("--fs-partition", "fs_partition"), dict(default=None, help="Partition --fs replaces (default customer_fs).")),
        (("--force", "force"), dict(is_flag=True, help="Let --fs replace a partition that is not a file system.")),
    ]

    def build(fs_dir, fs_partition, force):
        if fs_dir is None:
            if force:
                raise UsageError("--force goes with --fs: it lets --fs replace a partition that is not a "
                                     "file system", option="force")
            return None
        return api.FsReplacement(fs_dir, fs_partition or api.DEFAULT_FS_PARTITION, force=force)

    return option_group("fs", build, specs)
