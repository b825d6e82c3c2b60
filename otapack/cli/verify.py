"""``otapack verify`` and ``otapack apply``: run the device restore."""

from __future__ import annotations

import click

from otapack import api
from otapack.cli.common import check_outputs, command, emit_json, write_output
from otapack.cli.options import INPUT_FILE, INPUT_OR_STDIN, OUTPUT_OR_STDOUT, SIZE, json_option, layout_option
from otapack.cli.render import render_report


def device_options(func):
    """What the simulated device knows about itself; see ``device_settings``."""
    options = [
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
    ]
    for option in reversed(options):
        func = option(func)
    return func


def device_settings(model, device_counter, ram_budget, pubkeys, hardware_id):
    """DeviceOptions from the device_options; no --pubkey means no signature required."""
    check = api.make_signature_check([api.load_public_key(path) for path in pubkeys]) if pubkeys else None
    return api.DeviceOptions(model=model, security_counter=device_counter, ram_budget=ram_budget,
                             signature_check=check, hardware_id=hardware_id)


@command("verify")
@click.argument("package", type=INPUT_OR_STDIN)
@click.argument("package2", required=False, type=INPUT_FILE)
@device_options
@click.option("--new", "new_image", type=INPUT_FILE, default=None,
              help="Expected firmware after the upgrade: the result must be byte-identical.")
@json_option
def verify_cmd(package, package2, old_image, layout, new_image, as_json, **device):
    """Run PACKAGE through the device restore on a simulated module and report every check.

    With PACKAGE2 (the stages of a minimal-system upgrade, stage 1 first),
    both run on one device with a reboot between them."""
    data = api.read_input(package, "package", kind="package", allow_empty=True)
    old = api.load_firmware(old_image, layout, "old image") if old_image else None
    new = api.load_firmware(new_image, layout, "new image") if new_image else None
    opts = device_settings(**device)
    if package2 is not None or api.is_stage(data):
        from otapack.cli.minimal import verify_stages

        second = (api.read_input(package2, "package", kind="package", allow_empty=True)
                  if package2 is not None else None)
        verify_stages([(package, data)] + ([(package2, second)] if package2 is not None else []),
                      old, new, opts, layout, as_json)
        return
    report = api.verify_package(data, old, new, opts)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_report(report))
    if report.error is not None:
        raise report.error


@command("apply")
@click.argument("package", type=INPUT_FILE)
@device_options
@click.option("-o", "--output", required=True, type=OUTPUT_OR_STDOUT,
              help="Restored firmware image to write (atomically); - for standard output.")
@click.pass_context
def apply_cmd(ctx, package, old_image, layout, output, **device):
    """Restore the firmware PACKAGE produces (from --old for delta packages)."""
    check_outputs(ctx, output)
    data = api.read_input(package, "package", kind="package", allow_empty=True)
    old = api.load_firmware(old_image, layout, "old image") if old_image else None
    image = api.apply_package(data, old, device_settings(**device))
    write_output(ctx, output, api.flatten(image), what="a firmware image")


COMMANDS = [verify_cmd, apply_cmd]
