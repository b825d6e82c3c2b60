"""``otapack job``, ``otapack app`` and ``otapack fs``: what goes to the cloud and the user file system."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from otapack import api
from otapack.cli.common import (
    STDIO, Group, add_inputs, check_outputs, command, emit_json, info, inputs, shown, write_directory, write_output,
    write_stdout,
)
from otapack.cli.options import INPUT_DIR, INPUT_FILE, INPUT_OR_STDIN, OUTPUT_DIR, OUTPUT_OR_STDOUT, SIZE, json_option
from otapack.cli.render import render_fs_listing, render_job_check
from otapack.errors import InputError, UsageError
from otapack.version import __version__

_LFS_CHOICES = click.Choice(sorted(api.LFS_VERSIONS) + ["1"])

url_base_option = click.option(
    "--url-base", default=None, metavar="URL",
    help="Where the files are served: http(s)://HOST/PREFIX, or for --aws-presigned "
         "https://BUCKET.s3.REGION.amazonaws.com/PREFIX.",
)
presigned_option = click.option(
    "--aws-presigned", is_flag=True,
    help="Write ${aws:iot:s3-presigned-url:...} placeholders; AWS IoT turns them into presigned URLs.",
)
no_integrity_option = click.option(
    "--no-integrity", "include_integrity", is_flag=True, flag_value=False, default=True,
    help="Leave out fileSize/fileSha256 and write the bare seed shape.",
)


# -- job ----------------------------------------------------------------------------------


def _check(ctx, path: str, as_json: bool) -> None:
    result = api.check_job_bytes(api.read_input(path, "job document", kind="document"), path)
    if as_json:
        emit_json({"path": path, **result.to_dict()})
    if result.ok:
        if not as_json:
            click.echo(render_job_check(path, result))
        return
    if not as_json:
        for problem in result.problems:
            click.echo(f"{path}: {problem}", err=True)
    count = len(result.problems)
    raise InputError(f"{path}: invalid job document ({count} problem{'s' if count != 1 else ''})")


@command("job")
@click.argument("packages", nargs=-1, type=INPUT_FILE)
@url_base_option
@presigned_option
@click.option("--file-version", default=None, metavar="V",
              help="fileVersion the device compares after the upgrade (default: the package's target version).")
@no_integrity_option
@click.option("--check", "check_path", default=None, type=INPUT_FILE,
              metavar="JOB.json", help="Validate a job document (FOTA or app_fota) instead of writing one.")
@click.option("-o", "--output", default=None, type=OUTPUT_OR_STDOUT,
              help="Job document to write (atomically); default (or -): standard output.")
@json_option
@click.pass_context
def job_cmd(ctx, packages, url_base, aws_presigned, file_version, include_integrity, check_path, output, as_json):
    """Write the FOTA job document for PACKAGE (or a minimal-system stage pair), or --check one.

    One full or delta package gives one file (url1); a minimal-system pair
    gives stage 1 then stage 2 (url1, url2), whatever order they are named in.
    """
    if check_path is not None:
        if packages or url_base or output or file_version or aws_presigned:
            raise UsageError("--check takes only the job document (no packages, --url-base, -o, ...)")
        _check(ctx, check_path, as_json)
        return
    if not packages:
        raise UsageError("no package given: otapack job PACKAGE... --url-base URL (or --check JOB.json)")
    if not url_base:
        raise UsageError("--url-base is required to write a job document")
    base = api.UrlBase(url_base, aws_presigned)
    check_outputs(ctx, output or STDIO)
    files = [api.PackageFile(name=Path(p).name, data=api.read_input(p, "package", kind="package")) for p in packages]
    document = api.fota_document(files, base, file_version=file_version, include_integrity=include_integrity)
    data = document.to_bytes()
    if output is None or output == STDIO:
        if as_json:  # the document itself, keys sorted like every --json (the file keeps the seed's order)
            emit_json(document.to_json())
            return
        write_stdout(data, "a job document", binary=False)
        return
    write_output(ctx, output, data)
    if as_json:
        emit_json({"output": output, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                   "files": [f.name for f in document.files], "document": document.to_json()})
    names = ", ".join(f.name for f in document.files)
    info(ctx, f"wrote {output} (FOTA: {names}; fileVersion {document.files[0].version})")


# -- app ----------------------------------------------------------------------------------


@command("app")
@click.argument("sources", nargs=-1, metavar="FILE_OR_DIR...")
@click.option("--device-prefix", default="/usr", show_default=True,
              help="Device directory the files live under (the user file system).")
@click.option("--version", "version", required=True, metavar="V",
              help="fileVersion of the release (the device compares it with its app version).")
@url_base_option
@presigned_option
@click.option("--max-file-size", type=SIZE, default=api.DEFAULT_MAX_FILE_SIZE, show_default=True,
              help="Reject files larger than this (0: no limit).")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help=f"Skip files/directories whose name matches (repeatable; always: {', '.join(api.DEFAULT_EXCLUDES)}).")
@click.option("--layout", type=INPUT_FILE, default=None,
              help="Partition layout: check the files fit the user file system's free space.")
@click.option("--partition", default=api.DEFAULT_FS_PARTITION, show_default=True,
              help="User file-system partition in --layout.")
@click.option("--fs-used", type=SIZE, default=0, show_default=True,
              help="Bytes already used on the device's file system (with --layout).")
@no_integrity_option
@click.option("--force", "overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
@click.option("-o", "--output", required=True, type=OUTPUT_DIR,
              metavar="OUT_DIR", help="Upload folder to create (files under their keys, app_fota.json, manifest.json).")
@json_option
@click.pass_context
def app_cmd(ctx, sources, device_prefix, version, url_base, aws_presigned, max_file_size, exclude, layout,
            partition, fs_used, include_integrity, overwrite, output, as_json):
    """Publish app files for app_fota: upload folder, app_fota.json and manifest.json.

    FILE_OR_DIR is a file (goes to PREFIX/NAME), a directory (its tree goes
    under PREFIX) or SRC=TARGET (TARGET a device path under PREFIX, or
    relative to it; end it with / for a directory).
    """
    if not url_base:
        raise UsageError("--url-base is required (where the uploaded files will be served)")
    if not sources:
        raise UsageError("no app files given: otapack app FILE_OR_DIR... (empty file set)")
    base = api.UrlBase(url_base, aws_presigned)
    add_inputs(ctx, [api.split_app_source(spec)[0] for spec in sources])
    check_outputs(ctx, output, directory=True, overwrite=overwrite)
    fs_free, block_size = None, api.DEFAULT_FS_BLOCK_SIZE
    if layout is not None:
        fs_free, block_size = api.fs_free_space(layout, partition, used=fs_used)
    elif fs_used:
        raise UsageError("--fs-used needs --layout")
    opts = api.AppOptions(
        version=version, device_prefix=device_prefix, max_file_size=max_file_size or None,
        excludes=api.DEFAULT_EXCLUDES + tuple(exclude), fs_free=fs_free, fs_block_size=block_size,
    )
    release = api.build_app_release(sources, opts, base, include_integrity=include_integrity)
    write_directory(ctx, output, release.outputs(), overwrite=overwrite)
    if as_json:  # manifest.json, and where it went and what wrote it (the build report of app)
        emit_json({**release.manifest, "output": output, "tool_version": __version__})
    total = sum(f.size for f in release.files)
    info(ctx, f"wrote {output}: {len(release.files)} files ({total} bytes), app_fota.json, manifest.json")


# -- fs ------------------------------------------------------------------------------------


@click.group("fs", cls=Group)
def fs_group():
    """Build, list and extract the littlefs image of the user file system (customer_fs)."""


@fs_group.command("build")
@click.argument("directory", type=INPUT_DIR)
@click.option("--layout", type=INPUT_FILE, default=None,
              help="Partition layout: block size = erase block, block count = partition size / block size.")
@click.option("--partition", default=api.DEFAULT_FS_PARTITION, show_default=True,
              help="File-system partition in --layout.")
@click.option("--block-size", type=SIZE, default=None,
              help=f"littlefs block size (default: the layout's erase block, else {api.DEFAULT_FS_BLOCK_SIZE}).")
@click.option("--block-count", type=click.IntRange(2), default=None, help="littlefs block count (default: from the layout; required without one).")
@click.option("--lfs-version", type=_LFS_CHOICES, default=None,
              help="littlefs on-disk version the module mounts; required unless the layout partition declares "
                   "fs_lfs_version (and then it must agree); 1.x cannot be built, see docs/cloud.md.")
@click.option("-o", "--output", required=True, type=OUTPUT_OR_STDOUT,
              help="Image to write (atomically); - for standard output.")
@json_option
@click.pass_context
def fs_build_cmd(ctx, directory, layout, partition, block_size, block_count, lfs_version, output, as_json):
    """Build the littlefs image of DIRECTORY for the user file-system partition."""
    if as_json and output == STDIO:
        raise UsageError("--json and -o - would both write to standard output")
    check_outputs(ctx, output)
    if layout is not None:
        opts = api.fs_options_for(layout, partition, block_size=block_size, block_count=block_count,
                              lfs_version=lfs_version)
    else:
        if block_count is None:
            raise UsageError("give --layout (and --partition), or --block-count for the image size")
        version = api.resolve_lfs_version(None, lfs_version, "the image (no layout)")
        opts = api.FsOptions(block_count=block_count, block_size=block_size or api.DEFAULT_FS_BLOCK_SIZE,
                             lfs_version=version)
    image = api.build_fs_image(directory, opts)
    listing = api.read_fs_image(image, block_size=opts.block_size, what=shown(output))
    write_output(ctx, output, image, what="a file-system image")
    if as_json:
        emit_json({"output": output, **opts.to_dict(), "used_blocks": listing.used_blocks,
                   "sha256": hashlib.sha256(image).hexdigest(), "tool_version": __version__,
                   "entries": [e.to_dict() for e in listing.entries]})
    files = sum(1 for e in listing.entries if not e.is_dir)
    info(ctx, f"wrote {shown(output)} ({opts.size} bytes: {opts.block_count} blocks of {opts.block_size}, "
              f"littlefs {opts.lfs_version}; {files} files, {listing.used_blocks} blocks used)")


_fs_in_firmware = [
    click.option("--layout", type=INPUT_FILE, default=None,
                 help="IMAGE is firmware split by this layout; read its --partition."),
    click.option("--partition", default=None,
                 help=f"IMAGE is firmware: read this file-system partition (default with --layout: "
                      f"{api.DEFAULT_FS_PARTITION})."),
]


def _with_fs_in_firmware(func):
    for option in reversed(_fs_in_firmware):
        func = option(func)
    return func


def _fs_source(image: str, layout: str | None, partition: str | None, block_size: int | None):
    """(bytes, block size, name): a bare littlefs IMAGE, or a partition of firmware IMAGE."""
    if layout is None and partition is None:
        return api.read_input(image, "file-system image"), block_size, image
    data, layout_block, what = api.fs_partition_data(image, layout, partition)
    return data, block_size or layout_block, what


@fs_group.command("ls")
@click.argument("image", type=INPUT_OR_STDIN)
@_with_fs_in_firmware
@click.option("--block-size", type=SIZE, default=None, help="littlefs block size (default: the layout's, else detected).")
@json_option
def fs_ls_cmd(image, layout, partition, block_size, as_json):
    """List the files of a littlefs IMAGE, or of a file-system partition of
    firmware IMAGE (--layout/--partition): size and SHA-256 of each."""
    data, block_size, what = _fs_source(image, layout, partition, block_size)
    listing = api.read_fs_image(data, block_size=block_size, what=what)
    if as_json:
        emit_json(listing.to_dict())
        return
    click.echo(render_fs_listing(listing))


@fs_group.command("extract")
@click.argument("image", type=INPUT_FILE)
@_with_fs_in_firmware
@click.option("--block-size", type=SIZE, default=None, help="littlefs block size (default: the layout's, else detected).")
@click.option("-o", "--output", required=True, type=OUTPUT_DIR,
              help="Directory to create (must not exist or be empty).")
@click.pass_context
def fs_extract_cmd(ctx, image, layout, partition, block_size, output):
    """Extract every file of a littlefs IMAGE, or of a file-system partition
    of firmware IMAGE (--layout/--partition), into a directory."""
    check_outputs(ctx, output, directory=True, overwrite=False)
    data, block_size, what = _fs_source(image, layout, partition, block_size)
    listing = api.extract_fs_image(data, output, block_size=block_size, what=what, inputs=inputs(ctx))
    files = sum(1 for e in listing.entries if not e.is_dir)
    info(ctx, f"extracted {files} files into {output}")


COMMANDS = [job_cmd, app_cmd, fs_group]
