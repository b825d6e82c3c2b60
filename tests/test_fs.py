"""``otapack fs`` and ``--fs``: littlefs images of the user file system, round trips, packages."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from otapack.core.build import PackageOptions, build_full
from otapack.cli import main
from otapack.errors import InputError, UsageError
from otapack.features.cloud.fs import (
    FsOptions,
    build_fs_image,
    extract_fs_image,
    fs_options_for,
    list_fs_image,
    read_fs_image,
    replace_partition_with_fs,
)
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.inputs import read_firmware_bytes
from otapack.core.verify import apply_package, verify_package

from conftest import FIXTURES, error_line, run

APP = FIXTURES / "app"

LAYOUT = """
description = "test module: code, user fs, backup fs"
erase_block = 0x1000
[[partitions]]
name = "system"
offset = 0x0
size = 0x8000
type = "code"
[[partitions]]
name = "customer_fs"
offset = 0x8000
size = 0x20000
fs_lfs_version = "2.0"
[[partitions]]
name = "customer_backup_fs"
offset = 0x28000
size = 0x8000
fs_lfs_version = "2.1"
"""




@pytest.fixture
def layout(tmp_path) -> Path:
    path = tmp_path / "module.toml"
    path.write_text(LAYOUT)
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """The fixture app plus nesting, an empty directory and binary data."""
    root = tmp_path / "usr"
    shutil.copytree(APP, root)
    (root / "lib" / "drivers").mkdir()
    (root / "lib" / "drivers" / "sensor.py").write_text("class Sensor:\n    pass\n")
    (root / "lib" / "drivers" / "blob.bin").write_bytes(hashlib.sha256(b"seed").digest() * 400)  # 12.8 KB
    (root / "log").mkdir()  # empty directory
    (root / "empty.txt").write_bytes(b"")
    return root


def same_trees(a: Path, b: Path) -> None:
    def listing(root: Path):
        return sorted((str(p.relative_to(root)), p.is_dir()) for p in root.rglob("*"))

    assert listing(a) == listing(b)
    for p in a.rglob("*"):
        if p.is_file():
            assert (b / p.relative_to(a)).read_bytes() == p.read_bytes(), p


def firmware(code: bytes) -> bytes:
    data = bytearray(b"\xff" * 0x30000)
    data[: len(code)] = code
    return bytes(data)


# -- round trip -----------------------------------------------------------------------------------


def test_round_trip_files_in_image_files_out(tmp_path, tree):
    opts = FsOptions(block_count=32, lfs_version="2.0")
    image = build_fs_image(tree, opts)
    assert len(image) == 32 * 4096
    out = tmp_path / "out"
    extracted = extract_fs_image(image, out)
    same_trees(tree, out)
    assert extracted.lfs_version == "2.0" and extracted.block_size == 4096 and extracted.block_count == 32
    entries = {e.path: e for e in list_fs_image(image)}
    assert entries["/log"].is_dir
    assert entries["/beep.wav"].sha256 == hashlib.sha256((APP / "beep.wav").read_bytes()).hexdigest()
    assert entries["/empty.txt"].size == 0


def test_image_is_deterministic_and_erased_with_ff(tree):
    opts = FsOptions(block_count=32, lfs_version="2.0")
    a, b = build_fs_image(tree, opts), build_fs_image(tree, opts)
    assert a == b
    assert a.endswith(b"\xff" * 4096)  # unused blocks stay erased


def test_mapping_source_and_lfs_2_1():
    opts = FsOptions(block_count=8, block_size=512, lfs_version="2.1")
    image = build_fs_image({"/main.py": b"print(1)\n", "lib/x.py": b"x = 1\n"}, opts)
    read = read_fs_image(image)
    assert read.lfs_version == "2.1" and read.block_size == 512
    assert read.files == {"/lib/x.py": b"x = 1\n", "/main.py": b"print(1)\n"}


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_build_ls_extract(tmp_path, capsys, tree, layout):
    img = tmp_path / "customer_fs.bin"
    code, out, err = run(capsys, "fs", "build", tree, "-o", img, "--layout", layout)
    assert code == 0, err
    assert img.stat().st_size == 0x20000  # the partition, 32 blocks of the 4 KiB erase block
    code, out, err = run(capsys, "fs", "ls", img)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("# littlefs 2.0, 32 blocks of 4096 bytes")
    net = (APP / "lib" / "net.py").read_bytes()
    assert f"{len(net):>10}  {hashlib.sha256(net).hexdigest()}  /lib/net.py" in lines
    code, out, _ = run(capsys, "fs", "ls", img, "--json")
    listing = json.loads(out)
    assert listing["block_count"] == 32 and listing["lfs_version"] == "2.0"
    files = {e["path"]: e for e in listing["entries"] if e["type"] == "file"}
    assert set(files) == {"/" + str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()}
    out_dir = tmp_path / "extracted"
    code, _, err = run(capsys, "fs", "extract", img, "-o", out_dir)
    assert code == 0, err
    same_trees(tree, out_dir)


def test_cli_build_other_partition_and_overrides(tmp_path, capsys, layout):
    src = tmp_path / "bak"
    (src).mkdir()
    (src / "checksum.json").write_text("{}")
    img = tmp_path / "bak.bin"
    code, _, err = run(capsys, "fs", "build", src, "-o", img, "--layout", layout, "--partition",
                       "customer_backup_fs", "--block-size", "512", "--lfs-version", "2.1")  # agrees with the layout
    assert code == 0, err
    assert img.stat().st_size == 0x8000
    read = read_fs_image(img.read_bytes())
    assert (read.block_size, read.block_count, read.lfs_version) == (512, 64, "2.1")


def test_cli_build_without_layout_needs_block_count(tmp_path, capsys, tree):
    code, _, err = run(capsys, "fs", "build", tree, "-o", tmp_path / "x.bin")
    assert code == UsageError.exit_code
    assert error_line(err) == "error: give --layout (and --partition), or --block-count for the image size"
    code, _, err = run(capsys, "fs", "build", tree, "-o", tmp_path / "x.bin", "--block-count", "40")
    assert code == UsageError.exit_code  # no layout declares the version: it must be given
    assert error_line(err).startswith("error: no littlefs version for the image (no layout): declare fs_lfs_version")
    assert error_line(err).endswith("(option --lfs-version)")
    code, _, err = run(capsys, "fs", "build", tree, "-o", tmp_path / "x.bin", "--block-count", "40",
                       "--lfs-version", "2.0")
    assert code == 0, err
    assert (tmp_path / "x.bin").stat().st_size == 40 * 4096


def test_lfs1_rejected_with_reason(tmp_path, capsys, tree):
    code, _, err = run(capsys, "fs", "build", tree, "-o", tmp_path / "x.bin", "--block-count", "8",
                       "--lfs-version", "1")
    assert code == UsageError.exit_code
    assert error_line(err) == (
        "error: littlefs version '1': only the littlefs 2.x on-disk format can be built (littlefs-python); "
        "a module family that mounts littlefs 1.x needs its vendor's mklfs (QPYcom), then give the firmware "
        "that holds it (choose from 2.0, 2.1) (option --lfs-version)")


def test_unknown_partition(tmp_path, capsys, tree, layout):
    code, _, err = run(capsys, "fs", "build", tree, "-o", tmp_path / "x.bin", "--layout", layout, "--partition", "usr")
    assert code == InputError.exit_code
    assert error_line(err) == (
        "error: module.toml: no partition 'usr' for the file system "
        "(partitions: system, customer_fs, customer_backup_fs) (option --partition)")


def test_files_do_not_fit(tmp_path, capsys, layout):
    src = tmp_path / "big"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(0x9000))
    code, _, err = run(capsys, "fs", "build", src, "-o", tmp_path / "x.bin", "--layout", layout,
                       "--partition", "customer_backup_fs")
    assert code == InputError.exit_code
    assert error_line(err) == (
        "error: the files (1 files, 36864 bytes) do not fit a littlefs of 8 blocks of 4096 bytes "
        "(32768 bytes); no space left at /a.bin")
    assert not (tmp_path / "x.bin").exists()


def test_unstorable_name():
    name = "n" * 256
    with pytest.raises(InputError) as info:
        build_fs_image({f"/lib/{name}": b"x"}, FsOptions(block_count=8, lfs_version="2.0"))
    assert str(info.value) == f"file-system path '/lib/{name}': name is 256 bytes long; littlefs stores at most 255"


def test_special_entries_rejected(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.py").write_text("x")
    (src / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError) as info:
        build_fs_image(src, FsOptions(block_count=8, lfs_version="2.0"))
    assert str(info.value) == f"{src / 'dangling'}: dangling symbolic link"


def test_not_a_littlefs_image(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff" * 8192)
    code, _, err = run(capsys, "fs", "ls", junk)
    assert code == InputError.exit_code
    assert error_line(err) == (
        f"error: {junk} (8192 bytes) is not a littlefs 2.x image (no superblock mounted with block sizes 128..65536)")
    v1 = bytearray(b"\xff" * 8192)
    v1[40:48] = b"littlefs"
    junk.write_bytes(bytes(v1))
    code, _, err = run(capsys, "fs", "ls", junk)
    assert error_line(err) == f"error: {junk} looks like a littlefs 1.x image, which littlefs-python cannot read"


def test_extract_refuses_non_empty_directory(tmp_path, tree):
    image = build_fs_image(tree, FsOptions(block_count=32, lfs_version="2.0"))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep").write_text("x")
    with pytest.raises(Exception, match="exists and is not empty"):
        extract_fs_image(image, dest)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"block_count": 1, "lfs_version": "2.0"}, "littlefs needs at least 2 blocks, got a block count of 1"),
        ({"block_count": 8, "lfs_version": "2.0", "block_size": 1000},
         "littlefs block size must be a power of two of at least 128, not 1000"),
        ({"block_count": 8, "lfs_version": "3.0"}, "unknown littlefs version '3.0' (choose from 2.0, 2.1)"),
        ({"block_count": 8, "lfs_version": "2.0", "prog_size": 3}, "littlefs prog size 3 must be positive and divide the block size (4096)"),
    ],
)
def test_options_validated(kwargs, message):
    with pytest.raises(UsageError) as info:
        FsOptions(**kwargs)
    assert str(info.value) == message


def test_geometry_from_layout(layout):
    opts = fs_options_for(str(layout))
    assert (opts.block_size, opts.block_count, opts.lfs_version) == (4096, 32, "2.0")
    assert fs_options_for(str(layout), block_size=2048).block_count == 64


# -- packages carrying the file system ------------------------------------------------------------------


def test_full_package_with_fs_verifies_and_restores_files(tmp_path, capsys, tree, layout, programmer_new):
    raw = tmp_path / "fw.bin"
    raw.write_bytes(firmware(programmer_new))
    pkg = tmp_path / "full.pack"
    code, _, err = run(capsys, "full", raw, "--layout", layout, "--fs", tree, "--target-version", "V2", "-o", pkg)
    assert code == 0, err
    assert "verified" in err
    code, out, err = run(capsys, "verify", pkg, "--json")
    assert code == 0, err
    # restore the package on a blank simulated module, read customer_fs back
    restored = apply_package(pkg.read_bytes())
    fs_part = restored.get("customer_fs")
    out_dir = tmp_path / "restored"
    extract_fs_image(fs_part.data, out_dir)
    same_trees(tree, out_dir)


def test_replace_partition_with_fs_library(tmp_path, tree, layout, programmer_new):
    image = read_firmware_bytes(firmware(programmer_new), layout=str(layout))
    new = replace_partition_with_fs(image, tree, "customer_fs", str(layout))
    part = new.get("customer_fs")
    assert part.type is PartitionType.FILESYSTEM and part.policy is Policy.FULL and part.size == 0x20000
    assert new.get("system").data == image.get("system").data
    package = build_full(new, PackageOptions(target_version="V2"))
    report = verify_package(package, None, new)
    assert report.ok, report.error
    assert read_fs_image(part.data).files["/main.py"] == (APP / "main.py").read_bytes()


def test_replace_partition_without_layout_uses_slot():
    image = FirmwareImage(partitions=(
        Partition("system", 0, b"\x01" * 4096),
        Partition("customer_fs", 4096, b"\xff" * 100, type=PartitionType.FILESYSTEM, slot_size=8 * 4096),
    ))
    new = replace_partition_with_fs(image, APP, lfs_version="2.0")
    assert new.get("customer_fs").size == 8 * 4096
    assert read_fs_image(new.get("customer_fs").data).block_count == 8


def test_replace_missing_partition():
    image = FirmwareImage.single(b"\x00" * 4096)
    with pytest.raises(InputError) as info:
        replace_partition_with_fs(image, APP)
    assert str(info.value) == (
        "the firmware has no partition 'customer_fs' for the file system (partitions: image); "
        "name the user file-system partition, or give a layout")
    assert info.value.options == ("fs_partition",)


def test_diff_with_fs(tmp_path, capsys, tree, layout, programmer_old, programmer_new):
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_bytes(firmware(programmer_old))
    new.write_bytes(firmware(programmer_new))
    pkg = tmp_path / "delta.pack"
    code, _, err = run(capsys, "diff", old, new, "--layout", layout, "--fs", tree, "--fs-partition", "customer_fs",
                       "-o", pkg)
    assert code == 0, err
    restored = apply_package(pkg.read_bytes(), read_firmware_bytes(old.read_bytes(), layout=str(layout)))
    assert read_fs_image(restored.get("customer_fs").data).files["/lib/net.py"] == (APP / "lib" / "net.py").read_bytes()


def test_fs_missing_partition_cli(tmp_path, capsys, tree, programmer_new):
    raw = tmp_path / "fw.bin"
    raw.write_bytes(programmer_new)
    code, _, err = run(capsys, "full", raw, "--fs", tree, "-o", tmp_path / "p.pack")
    assert code == InputError.exit_code
    assert error_line(err) == (
        "error: the firmware has no partition 'customer_fs' for the file system (partitions: image); "
        "name the user file-system partition, or give a layout (option --fs-partition)")
    assert not (tmp_path / "p.pack").exists()


def test_layout_fs_keys_set_the_geometry(tmp_path):
    from otapack.errors import InputError
    from otapack.features.cloud.fs import fs_options_for

    layout = ('erase_block = 0x1000\nflash_size = 0x20000\n[[partitions]]\nname = "customer_fs"\n'
              'offset = 0\nsize = 0x10000\ntype = "filesystem"\nfs_block_size = 0x2000\nfs_lfs_version = "2.1"\n')
    opts = fs_options_for(layout)
    assert (opts.block_size, opts.block_count, opts.lfs_version) == (0x2000, 8, "2.1")
    with pytest.raises(InputError, match=r"^layout: key 'fs_block_size' in partition 'customer_fs' must be an "
                                         r"integer, not string$"):
        fs_options_for(layout.replace("fs_block_size = 0x2000", 'fs_block_size = "4K"'))
