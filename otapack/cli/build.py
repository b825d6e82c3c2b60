"""``otapack full`` and ``otapack diff``: write packages."""

from __future__ import annotations

import click

from otapack.api import load_firmware
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.cli.common import (
    INPUT_DIR, INPUT_FILE, SIZE, check_outputs, info, layout_option, output_option, progress_bar, shown,
    write_outputs,
)
from otapack.core.codecs import DEFAULT_LZMA_DICT
from otapack.core.diff import DEFAULT_ALGORITHM, DIFF_ALGORITHMS
from otapack.errors import UsageError, VerificationError
from otapack.features.signing import load_private_key, make_signature_check, sign_package
from otapack.core.verify import DeviceOptions, verify_package

#: ctx.meta key of the private key --sign-key loaded (see _sign).
_SIGN_KEY = "otapack.sign_key"
#: ctx.meta keys of --fs / --fs-partition (see load_new_image) and of "--fs was applied".
_FS_DIR, _FS_PARTITION, _FS_DONE = "otapack.fs_dir", "otapack.fs_partition", "otapack.fs_done"
#: ctx.meta key of --hardware-id (see package_settings).
_HARDWARE_ID = "otapack.hardware_id"


def _remember(key):
    """Store an option in ctx.meta (expose_value=False), like --sign-key."""
    def callback(ctx, param, value):
        if value is not None:
            ctx.meta[key] = value
        return value
    return callback


def load_new_image(ctx, path: str, layout, what: str = "new image"):
    """load_firmware, then --fs: the user file-system partition rebuilt from a directory."""
    image = load_firmware(path, layout, what)
    fs_dir = ctx.meta.get(_FS_DIR)
    if fs_dir is not None:
        from otapack.features.cloud.fs import DEFAULT_PARTITION, replace_partition_with_fs

        partition = ctx.meta.get(_FS_PARTITION, DEFAULT_PARTITION)
        image = replace_partition_with_fs(image, fs_dir, partition, layout)
        ctx.meta[_FS_DONE] = True
        info(ctx, f"--fs: partition {partition!r} rebuilt as littlefs from {fs_dir}")
    return image


def _load_sign_key(ctx, param, value):
    """Load --sign-key while parsing, so a bad key fails before any build work.

    Not passed to the command function (expose_value=False): ``_sign`` and
    ``_write`` pick it up from ctx.meta, so every command using
    ``package_options`` signs without a new parameter.
    """
    if value is not None:
        ctx.meta[_SIGN_KEY] = load_private_key(value, "--sign-key")
    return value


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
        click.option("--sign-key", type=INPUT_FILE, default=None,
                     expose_value=False, callback=_load_sign_key,
                     help="Private key (ed25519 or ecdsa-p256 PEM) to sign the package with; see `otapack keygen`."),
        click.option("--fs", type=INPUT_DIR, default=None,
                     expose_value=False, callback=_remember(_FS_DIR),
                     help="Directory to build the user file system (littlefs) from, replacing --fs-partition."),
        click.option("--fs-partition", default=None, expose_value=False, callback=_remember(_FS_PARTITION),
                     help="Partition --fs replaces (default customer_fs)."),
        click.option("--hardware-id", default=None, expose_value=False, callback=_remember(_HARDWARE_ID),
                     help="Board/hardware identifier the package binds to; the device refuses another."),
        layout_option,
        output_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _sign(ctx, package: bytes) -> bytes:
    """Sign with --sign-key, if given."""
    key = ctx.meta.get(_SIGN_KEY)
    if key is None:
        return package
    package = sign_package(package, key)
    info(ctx, f"signed with {key.algorithm.name} key id {key.public.key_id.hex()}")
    return package


def _self_check(ctx, package: bytes, old, new) -> None:
    """Run the verifier on our own output before writing it (as HDiffPatch does)."""
    key = ctx.meta.get(_SIGN_KEY)
    opts = DeviceOptions(signature_check=make_signature_check([key.public])) if key else DeviceOptions()
    report = verify_package(package, old, new, opts)
    if report.error is not None:
        raise VerificationError(f"self-check of the new package failed: {report.error}")
    info(ctx, f"verified: restore reproduces the new image, peak RAM {report.restore.ram_peak} bytes")


def _write(ctx, path: str, package: bytes) -> None:
    _write_all(ctx, [(path, package)])


def _write_all(ctx, items: list[tuple[str, bytes]]) -> None:
    """Write the packages all or nothing (fileio's rules: atomic, never over an input or a device)."""
    if ctx.meta.get(_FS_DIR) is not None and not ctx.meta.get(_FS_DONE):
        raise UsageError(f"otapack {ctx.info_name} does not support --fs")
    write_outputs(ctx, items, what="a package")
    for path, package in items:
        info(ctx, f"wrote {shown(path)} ({len(package)} bytes)")


def package_settings(ctx, **fields) -> PackageOptions:
    """PackageOptions from a command's own options plus the shared ones kept in ctx.meta."""
    return PackageOptions(hardware_id=ctx.meta.get(_HARDWARE_ID) or "", **fields)


@click.command("full")
@click.argument("new_image", type=INPUT_FILE)
@package_options
@click.pass_context
def full_cmd(ctx, new_image, model, target_version, security_counter, lzma_dict, jobs, no_verify, layout, output):
    """Build a full package of NEW_IMAGE (every partition compressed in full)."""
    opts = package_settings(ctx, model=model, target_version=target_version, security_counter=security_counter,
                            lzma_dict_size=lzma_dict, jobs=jobs)
    check_outputs(ctx, output)
    new = load_new_image(ctx, new_image, layout)
    with progress_bar(ctx, len(new.partitions), "full") as bar:
        package = build_full(new, opts, progress=lambda name: bar.update(1))
    package = _sign(ctx, package)
    if not no_verify:
        _self_check(ctx, package, None, new)
    _write(ctx, output, package)


@click.command("diff")
@click.argument("old_image", type=INPUT_FILE)
@click.argument("new_image", type=INPUT_FILE)
@click.option("--source-version", default="", help="Version string of the firmware on the device.")
@click.option("--algorithm", type=click.Choice(sorted(DIFF_ALGORITHMS)), default=DEFAULT_ALGORITHM, show_default=True,
              help="Diff algorithm: " + "; ".join(f"{a.name}: {a.description}" for a in DIFF_ALGORITHMS.values()))
@package_options
@click.pass_context
def diff_cmd(ctx, old_image, new_image, source_version, algorithm, model, target_version, security_counter,
             lzma_dict, jobs, no_verify, layout, output):
    """Build a delta package that takes OLD_IMAGE to NEW_IMAGE."""
    opts = package_settings(ctx, model=model, target_version=target_version, source_version=source_version,
                            security_counter=security_counter, lzma_dict_size=lzma_dict, jobs=jobs,
                            diff_algorithm=algorithm)
    check_outputs(ctx, output)
    old = load_firmware(old_image, layout, "old image")
    new = load_new_image(ctx, new_image, layout)
    with progress_bar(ctx, len(new.partitions), "diff") as bar:
        package = build_delta(old, new, opts, progress=lambda name: bar.update(1))
    package = _sign(ctx, package)
    if not no_verify:
        _self_check(ctx, package, old, new)
    _write(ctx, output, package)


COMMANDS = [full_cmd, diff_cmd]
