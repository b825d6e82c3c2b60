"""``otapack minimal`` and ``otapack plan``: minimal-system upgrades and flash budgets.

Thin: parse, call ``otapack.features.minimal`` (through ``otapack.api``), render.
See docs/minimal-system.md.
"""

from __future__ import annotations

import os

import click

from otapack import api
from otapack.cli.build import DELTA_FIELDS, device_for, load_new_image, sign, write
from otapack.cli.common import check_outputs, command, emit_build_reports, emit_json, info, progress_bar
from otapack.cli.options import (
    INPUT_FILE, OUTPUT_DIR, OUTPUT_FILE, SIZE, fs_options, json_option, layout_option, no_verify_option,
    package_options, signing_options,
)
from otapack.cli.render import render_figures, render_plan
from otapack.errors import BudgetError, UsageError, VerificationError

#: File names ``--out-dir`` writes (stage 1 is url1, stage 2 is url2).
OUT_DIR_NAMES = ("stage1.pack", "stage2.pack")


def _budget_options(func):
    """The ``[minimal_system]`` overrides; parameter names are ``MinimalConfig``'s."""
    options = [
        click.option("--minimal-partition", "partition", default=None,
                     help="Partition stage 1 installs the minimal system into (overrides [minimal_system].partition)."),
        click.option("--stage1-download", type=SIZE, default=None,
                     help="Flash free for a package while OLD runs (overrides [minimal_system].stage1_download)."),
        click.option("--stage2-download", type=SIZE, default=None,
                     help="Flash free for a package while the minimal system runs (overrides stage2_download)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _outputs(ctx, output: tuple[str, ...], out_dir: str | None) -> tuple[str, str]:
    if out_dir is not None and output:
        raise UsageError("give either -o STAGE1 -o STAGE2 or --out-dir DIR, not both")
    if out_dir is not None:
        paths = tuple(os.path.join(out_dir, name) for name in OUT_DIR_NAMES)
    elif len(output) == 2:
        paths = tuple(output)
    else:
        raise UsageError(f"a minimal-system upgrade writes two packages: give -o STAGE1 -o STAGE2 (or --out-dir), "
                         f"got {len(output)} -o")
    if os.path.abspath(paths[0]) == os.path.abspath(paths[1]):
        raise UsageError(f"stage 1 and stage 2 would both be written to {paths[0]}")
    check_outputs(ctx, *paths)  # also refuses two names of one file (a link)
    return paths  # type: ignore[return-value]


@command("minimal")
@click.argument("old_image", type=INPUT_FILE)
@click.argument("new_image", type=INPUT_FILE)
@click.option("--minimal-system", "mini", required=True, type=INPUT_FILE,
              help="The minimal system image stage 1 installs (a small firmware that downloads and applies stage 2).")
@click.option("-o", "--output", multiple=True, type=OUTPUT_FILE,
              help="Package file to write; give it twice: stage 1 (url1), then stage 2 (url2).")
@click.option("--out-dir", type=OUTPUT_DIR, default=None,
              help=f"Write {' and '.join(OUT_DIR_NAMES)} into this directory instead of -o.")
@package_options(*DELTA_FIELDS, help={
    "diff_algorithm": "Diff algorithm for delta partitions.",
    "model": "Product/model identifier the packages bind to, e.g. EC600MCNLE.",
    "target_version": "Version string of the new firmware (both stages).",
    "lzma_dict_size": "LZMA2 dictionary size: the device's decompression RAM.",
    "hardware_id": "Board/hardware identifier both packages bind to.",
})
@no_verify_option("Skip the chained verification of the two packages.")
@signing_options("Private key to sign both packages with.")
@fs_options("Directory to build NEW's user file system (littlefs) from.")
@layout_option
@_budget_options
@json_option
@click.pass_context
def minimal_cmd(ctx, old_image, new_image, mini, output, out_dir, package, no_verify, signing, fs, layout,
                partition, stage1_download, stage2_download, as_json):
    """Build the two chained packages of a minimal-system upgrade from OLD_IMAGE to NEW_IMAGE."""
    paths = _outputs(ctx, output, out_dir)
    config = api.MinimalConfig.from_layout(layout, partition=partition, stage1_download=stage1_download,
                                           stage2_download=stage2_download)
    old = api.load_firmware(old_image, layout, "old image")
    new = load_new_image(ctx, new_image, layout, fs)
    mini_image = api.read_input(mini, "minimal-system image")
    result = api.fit_ram_budget(lambda opts: api.build_minimal(old, new, mini_image, config, opts, check_budget=False),
                                package)
    document = result.to_dict()
    if not as_json:
        for line in render_figures([f.to_dict() for f in result.figures]):
            info(ctx, line)
    elif not result.fits:
        emit_json(document)  # the plan says which stage misses its budget, and by how much
    result.check_budget()
    stage1, stage2 = (sign(ctx, signing, result.stage1, package.max_size),
                      sign(ctx, signing, result.stage2, package.max_size))
    if not no_verify:
        total = sum(p.size for p in new.partitions)
        with progress_bar(ctx, total, "self-check") as bar:
            report = api.verify_chain([stage1, stage2], old, new, device_for(signing),
                                      capacities=api.chain_capacities(config, new))
            bar.update(total)
        if report.error is not None:
            raise VerificationError(f"self-check of the minimal-system chain failed: {report.error}")
        info(ctx, "verified: stage 1, reboot, stage 2 reproduce the new image")
    write(ctx, list(zip(paths, (stage1, stage2))))  # both or neither
    if as_json:
        emit_build_reports(list(zip(paths, (stage1, stage2))), **document)


@command("plan")
@click.argument("old_image", type=INPUT_FILE)
@click.argument("new_image", type=INPUT_FILE)
@click.option("--minimal-system", "mini", default=None, type=INPUT_FILE,
              help="Minimal system image: also plan a minimal-system upgrade.")
@layout_option
@_budget_options
@package_options("lzma_dict_size", "diff_algorithm", help={
    "lzma_dict_size": "LZMA2 dictionary size.", "diff_algorithm": "Diff algorithm for delta partitions."})
@json_option
def plan_cmd(old_image, new_image, mini, layout, partition, stage1_download, stage2_download, package, as_json):
    """Recommend a full, delta or minimal-system upgrade for a device, with the flash numbers."""
    require = ("partition", "stage1_download", "stage2_download") if mini else ("stage1_download",)
    config = api.MinimalConfig.from_layout(layout, partition=partition, stage1_download=stage1_download,
                                           stage2_download=stage2_download, require=require)
    old = api.load_firmware(old_image, layout, "old image")
    new = api.load_firmware(new_image, layout, "new image")
    mini_image = api.read_input(mini, "minimal-system image") if mini else None
    plan = api.plan_upgrade(old, new, config, package, mini_image)
    if as_json:
        emit_json(plan.to_dict())
    else:
        click.echo(render_plan(plan.to_dict()))
    if plan.recommendation is None:
        raise BudgetError(plan.reason, option=None if mini else "mini")


COMMANDS = [minimal_cmd, plan_cmd]

