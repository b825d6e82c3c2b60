"""``otapack verify`` and ``otapack apply``: run the device restore.

Both go through ``restore``: the same simulated device, the same checks
(chain rules and download areas included); ``verify`` then compares with
``--new`` and reports, ``apply`` writes the flash the device ends with."""

from __future__ import annotations

import click

from otapack import api
from otapack.cli.common import check_outputs, command, emit_json, info, write_output
from otapack.cli.options import INPUT_FILE, INPUT_OR_STDIN, OUTPUT_OR_STDOUT, SIZE, json_option, layout_option
from otapack.cli.render import render_chain, render_report


def device_options(func=None, *, stdin_package: bool = False):
    """The packages and what the simulated device knows about itself; see
    ``device_settings``.  ``stdin_package``: the first package may be ``-``."""
    if func is None:
        return lambda f: device_options(f, stdin_package=stdin_package)
    options = [
        click.argument("package", type=INPUT_OR_STDIN if stdin_package else INPUT_FILE),
        click.argument("package2", required=False, type=INPUT_FILE),
        click.option("--old", "old_image", type=INPUT_FILE, default=None,
                     help="Firmware currently on the device (needed for delta packages)."),
        layout_option,
        click.option("--model", default=None, help="The device's model: reject packages for another one."),
        click.option("--device-counter", type=click.IntRange(0, 2**32 - 1), default=None,
                     help="The device's stored security counter: reject lower package counters."),
        click.option("--ram-budget", type=SIZE, default=None, help="RAM the device can give the restore."),
        click.option("--pubkey", "pubkeys", multiple=True, type=INPUT_FILE,
                     help="Public key the device trusts (repeatable): a valid signature by one of them is required."),
        click.option("--hardware-id", default=None, help="The device's board/hardware identifier: reject packages for another."),
        click.option("--engine", type=click.Choice(api.RESTORE_ENGINES), default="python", show_default=True,
                     help="Restore to run: the Python one, the C device library (device/), or both "
                          "(fails unless verdict, failing check and flash agree)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def device_settings(model, device_counter, ram_budget, pubkeys, hardware_id, engine="python",
                    capacities=(None, None)):
    """DeviceOptions from the device_options; no --pubkey means no signature required.
    ``capacities``: the download areas of the layout's ``[minimal_system]`` table."""
    check = api.make_signature_check([api.load_public_key(path) for path in pubkeys]) if pubkeys else None
    return api.DeviceOptions(model=model, security_counter=device_counter, ram_budget=ram_budget,
                             signature_check=check, hardware_id=hardware_id, download_capacity=capacities[0],
                             minimal_download_capacity=capacities[1], engine=engine)


def restore(package, package2, old_image, layout, new_image, device):
    """The device restore both commands run: (report, background of --old)."""
    packages = [(package, api.read_input(package, "package", kind="package", allow_empty=True))]
    if package2 is not None:
        packages.append((package2, api.read_input(package2, "package", kind="package", allow_empty=True)))
    old, background = api.load_flash_image(old_image, layout) if old_image else (None, None)
    new, new_background = api.load_flash_image(new_image, layout, "new image") if new_image else (None, None)
    opts = device_settings(**device, capacities=api.layout_capacities(layout, old or new))
    blank = layout if old is None else None  # without --old, the layout gives the blank device its slots
    datas = [data for _, data in packages]
    if len(packages) > 1 or api.is_stage(datas[0]):
        report = api.verify_chain(datas, old, new, opts, names=[name for name, _ in packages], layout=blank,
                                  backgrounds=(background, new_background))
    else:
        report = api.verify_package(datas[0], old, new, opts, layout=blank, backgrounds=(background, new_background))
    return report, background


@command("verify")
@device_options(stdin_package=True)
@click.option("--new", "new_image", type=INPUT_FILE, default=None,
              help="Expected firmware after the upgrade: the flash must be byte-identical (every slot).")
@json_option
def verify_cmd(package, package2, old_image, layout, new_image, as_json, **device):
    """Run PACKAGE through the device restore on a simulated module and report every check.

    With PACKAGE2 (the stages of a minimal-system upgrade, stage 1 first),
    both run on one device with a reboot between them."""
    report, _ = restore(package, package2, old_image, layout, new_image, device)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_report(report) if isinstance(report, api.VerifyReport) else render_chain(report))
    if report.error is not None:
        raise report.error


@command("apply")
@device_options
@click.option("--format", "output_format", type=click.Choice(list(api.OUTPUT_FORMATS)), default="bin",
              show_default=True, help="Output: flat binary, or Intel HEX / S-record at the absolute flash addresses.")
@click.option("-o", "--output", required=True, type=OUTPUT_OR_STDOUT,
              help="Flash image to write (atomically); - for standard output.")
@click.pass_context
def apply_cmd(ctx, package, package2, old_image, layout, output_format, output, **device):
    """Write the flash the device holds after PACKAGE (and PACKAGE2): the checks of verify, then the image.

    From --old's bytes (its partition table and unassigned bytes kept), else a
    blank device with --layout's slots, else the slots the package writes."""
    check_outputs(ctx, output)
    report, background = restore(package, package2, old_image, layout, None, device)
    if report.error is not None:
        raise report.error
    header = report.stages[-1].restore.header if hasattr(report, "stages") else report.restore.header
    image = api.device_flash(report.device, header, base_address=api.flash_base(layout), background=background)
    data = image.encode(output_format)
    for note in image.notes:
        info(ctx, f"note: {note}")
    write_output(ctx, output, data, what="a firmware image")


COMMANDS = [verify_cmd, apply_cmd]
