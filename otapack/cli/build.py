"""``otapack full`` and ``otapack diff``: write packages."""

from __future__ import annotations

import dataclasses

import click

from otapack import api
from otapack.cli.common import (
    check_json_output, check_outputs, command, emit_build_reports, info, partition_progress, progress_bar, shown,
    write_outputs,
)
from otapack.cli.options import (
    INPUT_FILE, fs_options, json_option, layout_option, no_verify_option, output_option, package_options,
    signing_options,
)
from otapack.errors import InputError, UsageError, VerificationError

#: The PackageOptions fields every package-writing command takes as options.
BUILD_FIELDS = ("model", "target_version", "security_counter", "profile", "lzma_dict_size", "ram_budget", "max_size",
                "jobs", "hardware_id")
#: The download slots: diff and full take them (minimal sets each stage's from the layout).
DOWNLOAD_FIELD = "download_slots"
#: ... and those of the commands that build deltas.
DELTA_FIELDS = ("source_version", "diff_algorithm", "window_size", "transform_arch", "transform_table_ram",
                "scratch_flash") + BUILD_FIELDS


def load_new_image(ctx, path: str, layout, fs, what: str = "new image"):
    """load_firmware, then the user file-system partition rebuilt from a directory (``fs``, if given)."""
    image = api.load_firmware(path, layout, what)
    if fs is not None:
        image = fs.apply(image, layout)
        info(ctx, f"--fs: partition {fs.fs_partition!r} rebuilt as littlefs from {fs.fs_dir}")
    return image


def with_download_slots(package, layout, new):
    """``--download-slots``, else the layout's phase-1 download partitions; each a partition of NEW."""
    slots = package.download_slots or api.layout_download_slots(layout, None)
    missing = [n for n in slots if new.get(n) is None]
    if missing:
        raise UsageError(f"--download-slots: no partition {missing[0]!r} in the new image (partitions: "
                         f"{', '.join(new.names())})", option="download_slots")
    return dataclasses.replace(package, download_slots=tuple(slots))


def warn_identical(ctx, old, new, strict: bool) -> None:
    """Old and new the same, partition for partition: most likely the wrong file
    was given (a pipeline variable not updated), so say so; refuse with --strict."""
    def parts(image):
        return [(p.name, p.address, p.data) for p in image.partitions]

    if parts(old) != parts(new):
        return
    message = "old and new images are identical: the package changes nothing on the device"
    if strict:
        raise InputError(message, option="strict")
    info(ctx, f"warning: {message}")


def sign(ctx, signing, package: bytes, max_size: int | None = None) -> bytes:
    """The package signed as ``signing`` says (unchanged without a key), within ``max_size``."""
    if signing.key is not None:
        package = signing.sign(package)
        info(ctx, f"signed with {signing.key.algorithm.name} key id {signing.key.public.key_id.hex()}")
    api.check_package_size(package, max_size)
    return package


def device_for(signing):
    """The simulated device of a self-check: it trusts the signing key, if any."""
    return api.DeviceOptions(signature_check=signing.signature_check())


def self_check(ctx, signing, package: bytes, old, new, layout=None) -> None:
    """Run the verifier on our own output before writing it (as HDiffPatch does);
    a full package on a blank device with the layout's slots, when one is given."""
    total = sum(p.size for p in new.partitions)
    with progress_bar(ctx, total, "self-check") as bar:
        def written(n: int) -> None:  # bytes the restore writes into the slots
            bar.update(min(n, max(0, bar.total - bar.n)))

        report = api.verify_package(package, old, new, device_for(signing), layout=layout if old is None else None,
                                    on_write=written)
        bar.update(max(0, bar.total - bar.n))
    if report.error is not None:
        raise VerificationError(f"self-check of the new package failed: {report.error}")
    info(ctx, f"verified: restore reproduces the new image, peak RAM {report.restore.ram_peak} bytes")


def write(ctx, items: list[tuple[str, bytes]], as_json: bool = False) -> None:
    """Write the packages all or nothing (fileio's rules: atomic, never over an input or a device;
    ``-`` is standard output); with ``as_json`` the build report on standard output."""
    write_outputs(ctx, items, what="a package")
    for path, package in items:
        info(ctx, f"wrote {shown(path)} ({len(package)} bytes)")
    if as_json:
        emit_build_reports(items)


@command("full")
@click.argument("new_image", type=INPUT_FILE)
@package_options(*BUILD_FIELDS, DOWNLOAD_FIELD)
@no_verify_option()
@signing_options()
@fs_options()
@layout_option
@output_option
@json_option
@click.pass_context
def full_cmd(ctx, new_image, package, no_verify, signing, fs, layout, output, as_json):
    """Build a full package of NEW_IMAGE (every partition compressed in full)."""
    check_json_output(as_json, output)
    check_outputs(ctx, output)
    new = load_new_image(ctx, new_image, layout, fs)
    package = with_download_slots(package, layout, new)
    with progress_bar(ctx, sum(p.size for p in new.partitions), "full") as bar:
        data = api.build_full(new, package, progress=partition_progress(bar, new))
    data = sign(ctx, signing, data, package.max_size)
    if not no_verify:
        self_check(ctx, signing, data, None, new, layout)
    write(ctx, [(output, data)], as_json)


@command("diff")
@click.argument("old_image", type=INPUT_FILE)
@click.argument("new_image", type=INPUT_FILE)
@package_options(*DELTA_FIELDS, DOWNLOAD_FIELD)
@no_verify_option()
@signing_options()
@fs_options()
@layout_option
@click.option("--strict", is_flag=True, help="Refuse (exit 3) what is only a warning otherwise: identical images.")
@output_option
@json_option
@click.pass_context
def diff_cmd(ctx, old_image, new_image, package, no_verify, signing, fs, layout, strict, output, as_json):
    """Build a delta package that takes OLD_IMAGE to NEW_IMAGE."""
    check_json_output(as_json, output)
    check_outputs(ctx, output)
    old = api.load_firmware(old_image, layout, "old image")
    new = load_new_image(ctx, new_image, layout, fs)
    warn_identical(ctx, old, new, strict)
    if package.scratch_flash is None and layout is not None:  # the layout's key, when the option is not given
        package = dataclasses.replace(package, scratch_flash=api.load_layout(layout).extras.get("scratch_flash"))
    package = with_download_slots(package, layout, new)
    with progress_bar(ctx, sum(p.size for p in new.partitions), "diff") as bar:
        data = api.build_delta(old, new, package, progress=partition_progress(bar, new))
    data = sign(ctx, signing, data, package.max_size)
    if not no_verify:
        self_check(ctx, signing, data, old, new)
    write(ctx, [(output, data)], as_json)


COMMANDS = [full_cmd, diff_cmd]
