"""``otapack minimal`` and ``otapack plan``: minimal-system upgrades and flash budgets.

Thin: parse, call ``otapack.features.minimal.system``, render.  See docs/minimal-system.md.
"""

from __future__ import annotations

import os

import click

from otapack.api import load_firmware
from otapack.core.build import PackageOptions
from otapack.cli.build import (
    _FS_DIR, _FS_PARTITION, _HARDWARE_ID, _SIGN_KEY, _load_sign_key, _remember, _sign, _write, load_new_image,
    package_settings,
)
from otapack.cli.common import SIZE, check_line, emit_json, info, json_option, layout_option
from otapack.core.codecs import DEFAULT_LZMA_DICT
from otapack.core.diff import DEFAULT_ALGORITHM, DIFF_ALGORITHMS
from otapack.errors import BudgetError, UsageError, VerificationError
from otapack.core.fileio import check_output_path, read_input
from otapack.core.restore import wire
from otapack.features.minimal.system import MinimalConfig, build_minimal, chain_capacities, plan_upgrade, verify_chain
from otapack.features.signing import make_signature_check
from otapack.core.verify import DeviceOptions

#: File names ``--out-dir`` writes (stage 1 is url1, stage 2 is url2).
OUT_DIR_NAMES = ("stage1.pack", "stage2.pack")


def _budget_options(func):
    options = [
        click.option("--minimal-partition", default=None,
                     help="Partition stage 1 installs the minimal system into (overrides [minimal_system].partition)."),
        click.option("--stage1-download", type=SIZE, default=None,
                     help="Flash free for a package while OLD runs (overrides [minimal_system].stage1_download)."),
        click.option("--stage2-download", type=SIZE, default=None,
                     help="Flash free for a package while the minimal system runs (overrides stage2_download)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config(layout, minimal_partition, stage1_download, stage2_download) -> MinimalConfig:
    return MinimalConfig.from_layout(layout, partition=minimal_partition, stage1_download=stage1_download,
                                     stage2_download=stage2_download)


def _outputs(output: tuple[str, ...], out_dir: str | None) -> tuple[str, str]:
    if out_dir is not None and output:
        raise UsageError("give either -o STAGE1 -o STAGE2 or --out-dir DIR, not both")
    if out_dir is not None:
        if not os.path.isdir(out_dir):
            raise UsageError(f"--out-dir {out_dir}: no such directory")
        paths = tuple(os.path.join(out_dir, name) for name in OUT_DIR_NAMES)
    elif len(output) == 2:
        paths = tuple(output)
    else:
        raise UsageError(f"a minimal-system upgrade writes two packages: give -o STAGE1 -o STAGE2 (or --out-dir), "
                         f"got {len(output)} -o")
    if os.path.abspath(paths[0]) == os.path.abspath(paths[1]):
        raise UsageError(f"stage 1 and stage 2 would both be written to {paths[0]}")
    for path in paths:
        check_output_path(path)
    return paths  # type: ignore[return-value]


def render_figures(stages: list[dict]) -> list[str]:
    lines = [f"{'stage':<6} {'package':>10} {'scratch':>10} {'need':>10} {'budget':>10} {'spare':>10}  area"]
    for s in stages:
        spare = s["download_area"] - s["flash_needed"]
        lines.append(f"{s.get('stage', 1):<6} {s['package_bytes']:>10,} {s['scratch_flash']:>10,} "
                     f"{s['flash_needed']:>10,} {s['download_area']:>10,} {spare:>10,}  {s['area']}")
    return lines


@click.command("minimal")
@click.argument("old_image", type=click.Path(dir_okay=False, path_type=str))
@click.argument("new_image", type=click.Path(dir_okay=False, path_type=str))
@click.option("--minimal-system", "mini_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The minimal system image stage 1 installs (a small firmware that downloads and applies stage 2).")
@click.option("-o", "--output", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              help="Package file to write; give it twice: stage 1 (url1), then stage 2 (url2).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help=f"Write {' and '.join(OUT_DIR_NAMES)} into this directory instead of -o.")
@click.option("--source-version", default="", help="Version string of the firmware on the device.")
@click.option("--algorithm", type=click.Choice(sorted(DIFF_ALGORITHMS)), default=DEFAULT_ALGORITHM, show_default=True,
              help="Diff algorithm for delta partitions.")
@click.option("--model", default="", help="Product/model identifier the packages bind to, e.g. EC600MCNLE.")
@click.option("--target-version", default="", help="Version string of the new firmware (both stages).")
@click.option("--security-counter", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Monotonic anti-rollback counter.")
@click.option("--lzma-dict", type=SIZE, default=DEFAULT_LZMA_DICT, show_default=True,
              help="LZMA2 dictionary size: the device's decompression RAM.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Partitions processed in parallel; output is identical for any value.")
@click.option("--no-verify", is_flag=True, help="Skip the chained verification of the two packages.")
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=str), default=None, expose_value=False,
              callback=_load_sign_key, help="Private key to sign both packages with.")
@click.option("--fs", type=click.Path(file_okay=False, path_type=str), default=None, expose_value=False,
              callback=_remember(_FS_DIR), help="Directory to build NEW's user file system (littlefs) from.")
@click.option("--fs-partition", default=None, expose_value=False, callback=_remember(_FS_PARTITION),
              help="Partition --fs replaces (default customer_fs).")
@click.option("--hardware-id", default=None, expose_value=False, callback=_remember(_HARDWARE_ID),
              help="Board/hardware identifier both packages bind to.")
@layout_option
@_budget_options
@json_option
@click.pass_context
def minimal_cmd(ctx, old_image, new_image, mini_path, output, out_dir, source_version, algorithm, model,
                target_version, security_counter, lzma_dict, jobs, no_verify, layout, minimal_partition,
                stage1_download, stage2_download, as_json):
    """Build the two chained packages of a minimal-system upgrade from OLD_IMAGE to NEW_IMAGE."""
    paths = _outputs(output, out_dir)
    opts = package_settings(ctx, model=model, target_version=target_version, source_version=source_version,
                            security_counter=security_counter, lzma_dict_size=lzma_dict, jobs=jobs,
                            diff_algorithm=algorithm)
    config = _config(layout, minimal_partition, stage1_download, stage2_download)
    old = load_firmware(old_image, layout, "old image")
    new = load_new_image(ctx, new_image, layout)
    mini = read_input(mini_path, "minimal-system image")
    result = build_minimal(old, new, mini, config, opts, check_budget=False)
    if as_json:
        emit_json(result.to_dict())
    else:
        for line in render_figures([f.to_dict() for f in result.figures]):
            info(ctx, line)
    result.check_budget()
    stage1, stage2 = _sign(ctx, result.stage1), _sign(ctx, result.stage2)
    if not no_verify:
        key = ctx.meta.get(_SIGN_KEY)
        device = DeviceOptions(signature_check=make_signature_check([key.public])) if key else DeviceOptions()
        report = verify_chain([stage1, stage2], old, new, device, capacities=chain_capacities(config, new))
        if report.error is not None:
            raise VerificationError(f"self-check of the minimal-system chain failed: {report.error}")
        info(ctx, "verified: stage 1, reboot, stage 2 reproduce the new image")
    for path, package in zip(paths, (stage1, stage2)):
        _write(ctx, path, package)


def render_plan(plan) -> str:
    lines = []
    for c in plan.to_dict()["candidates"]:
        verdict = "fits" if c["fits"] else "does not fit"
        lines.append(f"{c['method']}: {c['download_bytes']:,} bytes to download, {verdict}")
        lines += ["  " + line for line in render_figures(c["stages"])]
    lines.append("recommendation: " + (plan.recommendation or "none") + f" ({plan.reason})")
    return "\n".join(lines)


@click.command("plan")
@click.argument("old_image", type=click.Path(dir_okay=False, path_type=str))
@click.argument("new_image", type=click.Path(dir_okay=False, path_type=str))
@click.option("--minimal-system", "mini_path", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Minimal system image: also plan a minimal-system upgrade.")
@layout_option
@_budget_options
@click.option("--lzma-dict", type=SIZE, default=DEFAULT_LZMA_DICT, show_default=True, help="LZMA2 dictionary size.")
@click.option("--algorithm", type=click.Choice(sorted(DIFF_ALGORITHMS)), default=DEFAULT_ALGORITHM, show_default=True,
              help="Diff algorithm for delta partitions.")
@json_option
def plan_cmd(old_image, new_image, mini_path, layout, minimal_partition, stage1_download, stage2_download,
             lzma_dict, algorithm, as_json):
    """Recommend a full, delta or minimal-system upgrade for a device, with the flash numbers."""
    require = ("partition", "stage1_download", "stage2_download") if mini_path else ("stage1_download",)
    config = MinimalConfig.from_layout(layout, partition=minimal_partition, stage1_download=stage1_download,
                                       stage2_download=stage2_download, require=require)
    old = load_firmware(old_image, layout, "old image")
    new = load_firmware(new_image, layout, "new image")
    mini = read_input(mini_path, "minimal-system image") if mini_path else None
    opts = PackageOptions(lzma_dict_size=lzma_dict, diff_algorithm=algorithm)
    plan = plan_upgrade(old, new, config, opts, mini)
    if as_json:
        emit_json(plan.to_dict())
    else:
        click.echo(render_plan(plan))
    if plan.recommendation is None:
        raise BudgetError(plan.reason)


COMMANDS = [minimal_cmd, plan_cmd]


# ----------------------------------------------------------------- verify (two packages)


def is_stage(data: bytes) -> bool:
    """True for a minimal-system stage (kind byte 3 or 4 after a valid magic)."""
    return data[:len(wire.MAGIC)] == wire.MAGIC and wire.kind_at(data) in ("minimal-stage1", "minimal-stage2")


def _capacities(layout, image) -> tuple[int | None, int | None]:
    """The download areas of the layout's [minimal_system] table, if it has one."""
    if layout is None or image is None:
        return (None, None)
    from otapack.core.inputs.layout import load_layout, minimal_system_table

    if minimal_system_table(load_layout(layout)) is None:
        return (None, None)
    return chain_capacities(MinimalConfig.from_layout(layout), image)



def render_chain(report) -> str:
    lines, scope = [], None
    for where, c in report.steps:
        if where != scope and where != "chain":
            lines.append(f"== {where}")
        scope = where
        lines.append(check_line(c))
    for name, stage in zip(report.names, report.stages):
        r = stage.restore
        lines.append(f"{name}: peak RAM {r.ram_peak} B of {r.ram_declared} B declared; read {r.package_bytes_read} "
                     f"package bytes; flash: {r.blocks_erased} blocks erased, {r.bytes_written} B written")
    lines.append("result: " + ("PASS" if report.ok else f"FAIL: {report.error}"))
    return "\n".join(lines)


def verify_stages(packages: list[tuple[str, bytes]], old, new, opts: DeviceOptions, layout, as_json: bool) -> None:
    """``otapack verify STAGE1 STAGE2``: the chain on one simulated device."""
    report = verify_chain([data for _, data in packages], old, new, opts,
                          capacities=_capacities(layout, new or old), names=[name for name, _ in packages])
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_chain(report))
    if report.error is not None:
        raise report.error
