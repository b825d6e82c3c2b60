"""littlefs versions are declared, never picked; ``fs ls``/``fs extract``
read a file-system partition inside firmware (``--layout``, ``--partition``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otapack.core.inputs import load_layout
from otapack.errors import InputError, LayoutError, UsageError
from otapack.features.cloud.fs import fs_options_for, resolve_lfs_version
from test_partitions_fixtures import COMPOSITE_LAYOUT, USER_FILES, composite_pac, composite_raw
from conftest import FIXTURES, error_line, run

EXAMPLES = Path(__file__).parent.parent / "examples" / "layouts"
APP = FIXTURES / "app"
LFS1_REASON = ("only the littlefs 2.x on-disk format can be built (littlefs-python); a module family that mounts "
               "littlefs 1.x needs its vendor's mklfs (QPYcom), then give the firmware that holds it")
BARE = ('erase_block = 0x1000\n[[partitions]]\nname = "customer_fs"\noffset = 0\nsize = 0x10000\n'
        'type = "filesystem"\n')


# -- the shipped layouts declare what their family mounts ----------------------------------


@pytest.mark.parametrize("name, partitions", [
    ("ec200u-eg915u.toml", ["PY_FS_U", "PY_FS_B"]),          # ECxxxU: littlefs 1.x
    ("asr-8mb-ec600n.toml", ["customer_fs", "customer_backup_fs"]),  # ECxxxN: 1.x
    ("asr-16mb.toml", ["customer_fs", "customer_backup_fs"]),
])
def test_shipped_layouts_declare_littlefs_1(name, partitions):
    layout = load_layout(EXAMPLES / name)
    file_systems = [p.name for p in layout.partitions if p.type.value == "filesystem"]
    assert file_systems == partitions
    assert all(layout.get(n).extras["fs_lfs_version"] == "1" for n in partitions)


@pytest.mark.parametrize("name, partition", [
    ("ec200u-eg915u.toml", "PY_FS_U"), ("asr-8mb-ec600n.toml", "customer_fs"), ("asr-16mb.toml", "customer_fs"),
])
def test_fs_build_refuses_a_declared_1x(tmp_path, capsys, name, partition):
    out = tmp_path / "fs.bin"
    code, stdout, err = run(capsys, "fs", "build", APP, "-o", out, "--layout", EXAMPLES / name,
                            "--partition", partition)
    assert (code, stdout) == (InputError.exit_code, "") and not out.exists()
    assert error_line(err) == (
        f"error: partition {partition!r} of {name} declares littlefs 1 (fs_lfs_version): {LFS1_REASON}")
    # asking for 2.0 anyway contradicts the layout
    code, _, err = run(capsys, "fs", "build", APP, "-o", out, "--layout", EXAMPLES / name, "--partition",
                       partition, "--lfs-version", "2.0")
    assert code == UsageError.exit_code and not out.exists()
    assert error_line(err) == (
        f"error: littlefs version 2.0 contradicts partition {partition!r} of {name}, which declares littlefs 1 "
        f"(fs_lfs_version) (option --lfs-version)")


def test_fs_option_refuses_a_declared_1x(tmp_path, capsys):
    pac = tmp_path / "fw.pac"
    pac.write_bytes(composite_pac())
    out = tmp_path / "full.pack"
    code, _, err = run(capsys, "full", pac, "--layout", EXAMPLES / "ec200u-eg915u.toml", "--fs", APP,
                       "--fs-partition", "PY_FS_U", "-o", out)
    assert code == InputError.exit_code and not out.exists()
    assert error_line(err) == (
        f"error: partition 'PY_FS_U' of ec200u-eg915u.toml declares littlefs 1 (fs_lfs_version): {LFS1_REASON}")


def test_no_declared_version_is_not_guessed(tmp_path, capsys):
    layout = tmp_path / "l.toml"
    layout.write_text(BARE)
    out = tmp_path / "fs.bin"
    code, _, err = run(capsys, "fs", "build", APP, "-o", out, "--layout", layout)
    assert code == UsageError.exit_code and not out.exists()
    assert error_line(err) == (
        "error: no littlefs version for partition 'customer_fs' of l.toml: declare fs_lfs_version in the layout "
        "or give the version the module's firmware mounts (most QuecPython families mount 1.x, see "
        "docs/cloud.md) (option --lfs-version)")
    code, _, err = run(capsys, "fs", "build", APP, "-o", out, "--layout", layout, "--lfs-version", "2.1")
    assert code == 0, err
    code, stdout, _ = run(capsys, "fs", "ls", out, "--json")
    assert json.loads(stdout)["lfs_version"] == "2.1"


def test_fs_option_without_layout_needs_a_version(tmp_path, capsys):
    raw = tmp_path / "fw.bin"
    raw.write_bytes(composite_raw())
    code, _, err = run(capsys, "full", raw, "--fs", APP, "--fs-partition", "image", "--force", "-o", tmp_path / "x.pack")
    assert code == UsageError.exit_code
    assert error_line(err).startswith(
        "error: no littlefs version for file-system partition 'image' (no layout): declare fs_lfs_version")


def test_resolve_rules():
    assert resolve_lfs_version("2.1", None, "p") == "2.1"
    assert resolve_lfs_version(None, "2.0", "p") == "2.0"
    assert resolve_lfs_version("2.0", "2.0", "p") == "2.0"
    with pytest.raises(InputError):
        resolve_lfs_version("1.x", "1", "p")  # they agree, and it is still not buildable
    with pytest.raises(UsageError, match=r"^littlefs version 2\.1 contradicts p, which declares littlefs 2\.0"):
        resolve_lfs_version("2.0", "2.1", "p")


def test_layout_value_checked_on_load():
    with pytest.raises(LayoutError) as info:
        load_layout(BARE + 'fs_lfs_version = "2.2"\n')
    assert str(info.value) == (
        "layout: partition 'customer_fs' has unknown fs_lfs_version '2.2' (choose from: 1 (littlefs 1.x), 2.0, 2.1)")
    with pytest.raises(LayoutError) as info:
        load_layout(BARE + "fs_lfs_version = 2\n")
    assert str(info.value) == "layout: key 'fs_lfs_version' in partition 'customer_fs' must be a string, not integer"
    with pytest.raises(LayoutError) as info:
        load_layout(BARE + "fs_block_size = 0\n")
    assert str(info.value) == "layout: key 'fs_block_size' in partition 'customer_fs' must be positive (0)"
    assert fs_options_for(BARE + 'fs_lfs_version = "2.0"\n').lfs_version == "2.0"


# -- fs ls / fs extract on a partition of firmware ------------------------------------------


def _files(listing: dict) -> set[str]:
    return {e["path"] for e in listing["entries"] if e["type"] == "file"}


def test_fs_ls_and_extract_in_a_pac(tmp_path, capsys):
    pac = tmp_path / "fw.pac"
    pac.write_bytes(composite_pac())
    code, out, err = run(capsys, "fs", "ls", pac, "--partition", "PY_FS_U", "--json")
    assert code == 0, err
    assert _files(json.loads(out)) == {"/" + name for name in USER_FILES}
    code, out, err = run(capsys, "fs", "ls", pac, "--partition", "PY_FS_B")
    assert code == 0 and out.splitlines()[-1].endswith("/checksum.json")
    dest = tmp_path / "usr"
    code, _, err = run(capsys, "fs", "extract", pac, "--layout", EXAMPLES / "ec200u-eg915u.toml",
                       "--partition", "PY_FS_U", "-o", dest)
    assert code == 0, err
    assert {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == USER_FILES


def test_fs_ls_in_a_raw_image_by_layout(tmp_path, capsys):
    raw = tmp_path / "fw.bin"
    raw.write_bytes(composite_raw())
    code, out, err = run(capsys, "fs", "ls", raw, "--layout", COMPOSITE_LAYOUT, "--json")  # default customer_fs
    assert code == 0, err
    listing = json.loads(out)
    assert _files(listing) == {"/" + name for name in USER_FILES} and listing["block_count"] == 8


def test_fs_ls_partition_errors(tmp_path, capsys):
    raw = tmp_path / "fw.bin"
    raw.write_bytes(composite_raw())
    code, _, err = run(capsys, "fs", "ls", raw, "--layout", COMPOSITE_LAYOUT, "--partition", "usr")
    assert code == InputError.exit_code
    assert error_line(err) == (
        "error: fw.bin: no partition 'usr' (partitions: bootloader, app, customer_fs, nv) (option --partition)")
    code, _, err = run(capsys, "fs", "ls", raw, "--layout", COMPOSITE_LAYOUT, "--partition", "app")
    assert code == InputError.exit_code
    assert error_line(err).startswith("error: fw.bin partition 'app' (32768 bytes) is not a littlefs 2.x image")
