"""``otapack verify`` and ``otapack apply``: run the device restore.

Both go through ``restore``: the same simulated device, the same checks
(chain rules and download areas included); ``verify`` then compares with
``--new`` and reports, ``apply`` writes the flash the device ends with."""

from __future__ import annotations

import click

from otapack import api
from otapack.cli.common import check_outputs, command, emit_json, info, write_output
from otapack.cli.options import (INPUT_FILE, INPUT_OR_STDIN, OUTPUT_OR_STDOUT, POWER_CUTS, SIZE, json_option,
                                 layout_option)
from otapack.cli.render import render_chain, render_power_cuts, render_report
from otapack.errors import OtapackError, UsageError, VerificationError, error_fields


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
    check = api.make_signature_check([api.load_public_key(path, private_ok=False) for path in pubkeys]) if pubkeys else None
    return api.DeviceOptions(model=model, security_counter=device_counter, ram_budget=ram_budget,
                             signature_check=check, hardware_id=hardware_id, download_capacity=capacities[0],
                             minimal_download_capacity=capacities[1], engine=engine)


#: Image sources that do not carry the device's whole layout: a single
#: image, or a container holding only the slots it fills.
_PARTIAL_LAYOUT = ("single", "pac", "elf", "ihex", "srec")

#: Operations the device can only run on the partition it holds: they need --old.
_NEEDS_OLD = ("delta", "delta-v2", "keep")


def _header(data: bytes):
    try:
        return api.read_package(data)
    except OtapackError:
        return None  # a malformed package: the restore's own checks report it


def require_old(name: str, parsed, old_image) -> None:
    """A delta without --old is a usage error: the simulated device would
    otherwise refuse the package as if it were an attack (exit 8)."""
    patched = [r.name for r in parsed.partitions if r.operation in _NEEDS_OLD] if parsed and not old_image else []
    if patched:
        raise UsageError(f"{name} is a {parsed.header.kind} package: partition{'s' if len(patched) > 1 else ''} "
                         f"{', '.join(repr(n) for n in patched)} start{'' if len(patched) > 1 else 's'} from the "
                         f"device's current contents; give --old OLD_IMAGE (the firmware on the device)",
                         option="old_image")


def require_layout(name: str, parsed, images: dict) -> None:
    """A package built from layout-split images (its image-source says so),
    given images that, without --layout, read as one partition: the wrong
    partitions would be compared, so ask for the layout."""
    if parsed is None:
        return
    if parsed.header.extension("image-source") == b"layout":
        flat = [flag for flag, image in images.items() if image is not None and image.source == "single"]
        if flat:
            raise UsageError(f"{name} was built from images split by a partition layout (image-source: layout); "
                             f"give --layout LAYOUT.toml so {' and '.join(flat)} {'are' if len(flat) > 1 else 'is'} "
                             f"split the same way", option="layout")
    wanted = parsed.header.extension("layout-digest")
    partial = [flag for flag, image in images.items() if image is not None and image.source in _PARTIAL_LAYOUT
               and (image.slot_records() is None or api.layout_digest(image.slot_records()) != wanted)]
    if wanted is not None and partial:
        # The device always knows its whole layout; a container file alone
        # (a .pac holds only the slots it fills) does not, so this is a
        # missing option, not a package for another device.
        raise UsageError(f"{name} is bound to a whole partition layout (layout-digest {wanted.hex()[:16]}) that "
                         f"{' and '.join(partial)} {'do' if len(partial) > 1 else 'does'} not describe on "
                         f"{'their' if len(partial) > 1 else 'its'} own; give --layout LAYOUT.toml (the device's "
                         f"partition layout)", option="layout")


def restore(package, package2, old_image, layout, new_image, device):
    """The device restore both commands run: (report, background of --old)."""
    packages = [(package, api.read_input(package, "package", kind="package", allow_empty=True))]
    if package2 is not None:
        packages.append((package2, api.read_input(package2, "package", kind="package", allow_empty=True)))
    first = _header(packages[0][1])
    require_old(packages[0][0], first, old_image)
    old, background = api.load_flash_image(old_image, layout) if old_image else (None, None)
    new, new_background = api.load_flash_image(new_image, layout, "new image") if new_image else (None, None)
    if layout is None:
        require_layout(packages[0][0], first, {"--old": old, "--new": new})
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
@click.option("--power-cuts", type=POWER_CUTS, default=None,
              help="Then cut the power at every flash operation of the journaled restore, clean and torn, plus "
                   "sampled repeated cuts (all), clean only (single), or in N sampled sequences of up to 5 cuts; "
                   "resume after each. With --engine c the C restore is swept, with both each case runs on both "
                   "and every boot must end with identical flash.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Seed of the sampled power cuts and torn bytes (the report names the failing case).")
@click.option("--program-unit", type=click.Choice(["1", "2", "4", "8", "16", "32"]), default="1", show_default=True,
              help="Program unit of the simulated NOR flash for --power-cuts, in bytes.")
@click.option("--sector-map", type=click.Choice(sorted(api.SECTOR_MAPS)), default=None,
              help="Mixed erase sectors for --power-cuts (default: uniform erase blocks of the package's size).")
@json_option
@click.pass_context
def verify_cmd(ctx, package, package2, old_image, layout, new_image, power_cuts, seed, program_unit, sector_map,
               as_json, **device):
    """Run PACKAGE through the device restore on a simulated module and report every check.

    With PACKAGE2 (the stages of a minimal-system upgrade, stage 1 first),
    both run on one device with a reboot between them.  With --power-cuts,
    the journaled restore is then swept with power cuts (docs/verifier.md)."""
    cut_options = None
    try:
        if power_cuts is not None:
            if package2 is not None:
                raise UsageError("--power-cuts sweeps one package; give the stages one at a time")
            header = _header(api.read_input(package, "package", kind="package"))
            cut_options = api.PowerCutOptions(power_cuts, seed, int(program_unit), sector_map,
                                              device.get("engine") or "python",
                                              api.layout_download_slots(layout, header and header.header.kind))
        report, _ = restore(package, package2, old_image, layout, new_image, device)
    except OtapackError as exc:  # before the restore ran: its inputs, or options the package needs
        if as_json:
            emit_json({"result": "fail", "error": str(exc), **error_fields(exc), "checks": []})
        raise
    sweep = None
    if cut_options is not None and report.error is None:
        old = api.load_flash_image(old_image, layout)[0] if old_image else None
        info(ctx, f"power cuts: sweeping {power_cuts} (seed {seed})")
        sweep = api.sweep_power_cuts(api.read_input(package, "package", kind="package"), old, cut_options.cuts,
                                     cut_options.seed, cut_options.geometry)
    if as_json:
        out = report.to_dict()
        if sweep is not None:
            out["power_cuts"] = sweep.to_dict()
        emit_json(out)
    else:
        click.echo(render_report(report) if isinstance(report, api.VerifyReport) else render_chain(report))
        if sweep is not None:
            click.echo(render_power_cuts(sweep))
    if report.error is not None:
        raise report.error
    if sweep is not None and not sweep.ok:
        raise VerificationError(f"{sweep.failures} of {sweep.tried} power-cut sequences end badly "
                                f"(first: {sweep.first_failure.problem})")


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
