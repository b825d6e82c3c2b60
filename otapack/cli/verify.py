"""``otapack verify`` and ``otapack apply``: run the device restore."""

from __future__ import annotations

import click

from otapack.api import load_firmware
from otapack.cli.common import (
    INPUT_FILE, INPUT_OR_STDIN, OUTPUT_OR_STDOUT, SIZE, check_line, check_outputs, emit_json, json_option,
    layout_option, write_output,
)
from otapack.core.fileio import read_input
from otapack.features.signing import load_public_key, make_signature_check
from otapack.core.verify import DeviceOptions, VerifyReport, apply_package, flatten, verify_package



def render_report(report: VerifyReport) -> str:
    lines = [check_line(c) for c in report.checks]
    r = report.restore
    lines.append(
        f"peak RAM {r.ram_peak} B of {r.ram_declared} B declared; read {r.package_bytes_read} package bytes; "
        f"flash: {r.blocks_erased} blocks erased, {r.bytes_written} B written"
    )
    lines.append("result: " + ("PASS" if report.ok else f"FAIL: {report.error}"))
    return "\n".join(lines)


def device_options(func):
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


def device_settings(model, device_counter, ram_budget, pubkeys, hardware_id) -> DeviceOptions:
    """DeviceOptions from the device_options; no --pubkey means no signature required."""
    check = make_signature_check([load_public_key(path) for path in pubkeys]) if pubkeys else None
    return DeviceOptions(model=model, security_counter=device_counter, ram_budget=ram_budget,
                         signature_check=check, hardware_id=hardware_id)


@click.command("verify")
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
    data = read_input(package, "package", kind="package", allow_empty=True)
    old = load_firmware(old_image, layout, "old image") if old_image else None
    new = load_firmware(new_image, layout, "new image") if new_image else None
    opts = device_settings(**device)
    from otapack.cli.minimal import is_stage, verify_stages

    if package2 is not None or is_stage(data):
        second = read_input(package2, "package", kind="package", allow_empty=True) if package2 is not None else None
        verify_stages([(package, data)] + ([(package2, second)] if package2 is not None else []),
                      old, new, opts, layout, as_json)
        return
    report = verify_package(data, old, new, opts)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_report(report))
    if report.error is not None:
        raise report.error


@click.command("apply")
@click.argument("package", type=INPUT_FILE)
@device_options
@click.option("-o", "--output", required=True, type=OUTPUT_OR_STDOUT,
              help="Restored firmware image to write (atomically); - for standard output.")
@click.pass_context
def apply_cmd(ctx, package, old_image, layout, output, **device):
    """Restore the firmware PACKAGE produces (from --old for delta packages)."""
    check_outputs(ctx, output)
    data = read_input(package, "package", kind="package", allow_empty=True)
    old = load_firmware(old_image, layout, "old image") if old_image else None
    image = apply_package(data, old, device_settings(**device))
    write_output(ctx, output, flatten(image), what="a firmware image")


COMMANDS = [verify_cmd, apply_cmd]
