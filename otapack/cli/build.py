"""``otapack full`` and ``otapack diff``: write packages."""

from __future__ import annotations

import click

from otapack.api import load_firmware
from otapack.build import PackageOptions, build_delta, build_full
from otapack.cli.common import SIZE, info, layout_option, output_option, progress_bar
from otapack.codecs import DEFAULT_LZMA_DICT
from otapack.diff import DEFAULT_ALGORITHM, DIFF_ALGORITHMS
from otapack.errors import VerificationError
from otapack.fileio import write_atomic
from otapack.verify import verify_package


def package_options(func):
    """Options every package-writing command shares."""
    options = [
        click.option("--model", default="", help="Product/model identifier the package binds to, e.g. EC600NCNLC."),
        click.option("--target-version", default="", help="Version string of the new firmware."),
        click.option("--security-counter", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
                     help="Monotonic anti-rollback counter."),
        click.option("--lzma-dict", type=SIZE, default=DEFAULT_LZMA_DICT, show_default=True,
                     help="LZMA2 dictionary size: the device's decompression RAM (e.g. 256K, 1M)."),
        click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
                     help="Partitions processed in parallel; output is identical for any value."),
        click.option("--no-verify", is_flag=True, help="Skip running the device restore on the new package."),
        layout_option,
        output_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _self_check(ctx, package: bytes, old, new) -> None:
    """Run the verifier on our own output before writing it (as HDiffPatch does)."""
    report = verify_package(package, old, new)
    if report.error is not None:
        raise VerificationError(f"self-check of the new package failed: {report.error}")
    info(ctx, f"verified: restore reproduces the new image, peak RAM {report.restore.ram_peak} bytes")


def _write(ctx, path: str, package: bytes) -> None:
    write_atomic(path, package)
    info(ctx, f"wrote {path} ({len(package)} bytes)")


@click.command("full")
@click.argument("new_image", type=click.Path(dir_okay=False, path_type=str))
@package_options
@click.pass_context
def full_cmd(ctx, new_image, model, target_version, security_counter, lzma_dict, jobs, no_verify, layout, output):
    """Build a full package of NEW_IMAGE (every partition compressed in full)."""
    opts = PackageOptions(model=model, target_version=target_version, security_counter=security_counter,
                          lzma_dict_size=lzma_dict, jobs=jobs)
    new = load_firmware(new_image, layout, "new image")
    with progress_bar(ctx, len(new.partitions), "full") as bar:
        package = build_full(new, opts, progress=lambda name: bar.update(1))
    if not no_verify:
        _self_check(ctx, package, None, new)
    _write(ctx, output, package)


@click.command("diff")
@click.argument("old_image", type=click.Path(dir_okay=False, path_type=str))
@click.argument("new_image", type=click.Path(dir_okay=False, path_type=str))
@click.option("--source-version", default="", help="Version string of the firmware on the device.")
@click.option("--algorithm", type=click.Choice(sorted(DIFF_ALGORITHMS)), default=DEFAULT_ALGORITHM, show_default=True,
              help="Diff algorithm: " + "; ".join(f"{a.name}: {a.description}" for a in DIFF_ALGORITHMS.values()))
@package_options
@click.pass_context
def diff_cmd(ctx, old_image, new_image, source_version, algorithm, model, target_version, security_counter,
             lzma_dict, jobs, no_verify, layout, output):
    """Build a delta package that takes OLD_IMAGE to NEW_IMAGE."""
    opts = PackageOptions(model=model, target_version=target_version, source_version=source_version,
                          security_counter=security_counter, lzma_dict_size=lzma_dict, jobs=jobs,
                          diff_algorithm=algorithm)
    old = load_firmware(old_image, layout, "old image")
    new = load_firmware(new_image, layout, "new image")
    with progress_bar(ctx, len(new.partitions), "diff") as bar:
        package = build_delta(old, new, opts, progress=lambda name: bar.update(1))
    if not no_verify:
        _self_check(ctx, package, old, new)
    _write(ctx, output, package)


COMMANDS = [full_cmd, diff_cmd]
