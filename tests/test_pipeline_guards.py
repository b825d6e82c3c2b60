"""Guard rails a release pipeline relies on (issue 13, items 5-8): a missing
option is a usage error that names it, never a security rejection; options
that would destroy or mislead are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from otapack.errors import InputError, SecurityError, UsageError

from conftest import FIXTURES, error_line, run

ROOT = Path(__file__).resolve().parent.parent
OLD = FIXTURES / "corpus" / "programmer-0.8.0.bin"
NEW = FIXTURES / "corpus" / "programmer-0.9.0.bin"
EC200U = ROOT / "examples" / "layouts" / "ec200u-eg915u.toml"
FLASH = 0x800000


def _flash(tmp_path: Path, name: str, fill: int) -> Path:
    """An 8 MiB raw flash image for the EC200U layout, its bytes varied by ``fill``."""
    data = bytearray(b"\xff" * FLASH)
    for offset in range(0, FLASH, 0x10000):
        if 0x180000 <= offset < 0x3C0000:
            continue  # the layout's gap: bytes no partition carries
        varied = fill if offset < 0x7E0000 else 0  # FACTORY (policy skip) is the same in both
        data[offset:offset + 64] = bytes((offset // 0x10000 + varied + i) % 251 for i in range(64))
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def layout_pair(tmp_path_factory):
    """(old, new, delta package, full package), all built with the EC200U layout."""
    tmp = tmp_path_factory.mktemp("layout")
    old, new = _flash(tmp, "old.bin", 1), _flash(tmp, "new.bin", 2)
    from otapack.cli import main

    assert main(["-q", "diff", str(old), str(new), "--layout", str(EC200U), "-o", str(tmp / "d.pack")]) == 0
    assert main(["-q", "full", str(new), "--layout", str(EC200U), "-o", str(tmp / "f.pack")]) == 0
    return old, new, tmp / "d.pack", tmp / "f.pack"


@pytest.fixture(scope="module")
def delta(tmp_path_factory):
    from otapack.cli import main

    pkg = tmp_path_factory.mktemp("delta") / "d.pack"
    assert main(["-q", "diff", str(OLD), str(NEW), "-o", str(pkg)]) == 0
    return pkg


# -- 5: what to pass, not "security rejection" ---------------------------------------------


@pytest.mark.parametrize("command", ["verify", "apply"])
def test_delta_without_old_is_a_usage_error(tmp_path, capsys, delta, command):
    args = [command, delta, "--new", NEW] if command == "verify" else [command, delta, "-o", tmp_path / "x.bin"]
    code, out, err = run(capsys, *args)
    assert code == UsageError.exit_code and code != SecurityError.exit_code
    assert error_line(err) == (f"error: {delta} is a delta package: partition 'image' starts from the device's "
                               f"current contents; give --old OLD_IMAGE (the firmware on the device) (option --old)")
    assert "no --new image given" not in out + err
    assert not (tmp_path / "x.bin").exists()


@pytest.mark.parametrize("which", ["delta", "full"])
def test_layout_package_without_layout_is_a_usage_error(tmp_path, capsys, layout_pair, which):
    old, new, delta_pack, full_pack = layout_pair
    pkg = delta_pack if which == "delta" else full_pack
    args = ["verify", pkg, "--new", new] + (["--old", old] if which == "delta" else [])
    code, _, err = run(capsys, *args)
    given = "--old and --new are" if which == "delta" else "--new is"
    assert code == UsageError.exit_code
    assert error_line(err) == (f"error: {pkg} was built from images split by a partition layout (image-source: "
                               f"layout); give --layout LAYOUT.toml so {given} split the same way (option --layout)")
    # and with it, the same run passes
    code, _, err = run(capsys, *args, "--layout", EC200U)
    assert code == 0, err


def test_layout_delta_apply_without_layout(tmp_path, capsys, layout_pair):
    old, _, delta_pack, _ = layout_pair
    code, _, err = run(capsys, "apply", delta_pack, "--old", old, "-o", tmp_path / "x.bin")
    assert code == UsageError.exit_code and "give --layout LAYOUT.toml so --old is split" in err
    assert run(capsys, "apply", delta_pack, "--old", old, "--layout", EC200U, "-o", tmp_path / "x.bin")[0] == 0


# -- 6: --fs on a partition that is not a file system ---------------------------------------


def test_fs_partition_must_be_a_file_system(tmp_path, capsys, layout_pair):
    _, new, _, _ = layout_pair
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("print('hi')\n")
    args = ["full", new, "--layout", EC200U, "--fs", app, "--fs-partition", "PS", "-o", tmp_path / "p.pack"]
    code, _, err = run(capsys, *args)
    assert code == UsageError.exit_code
    assert error_line(err) == ("error: partition 'PS' is a code partition, not a file system: rebuilding it as "
                               "littlefs would overwrite it; name the file-system partition, or force it "
                               "(options --fs-partition, --force)")
    assert not (tmp_path / "p.pack").exists()
    # --force gets past the guard (to the next rule: the layout declares no littlefs version for PS)
    code, _, err = run(capsys, *args, "--force")
    assert code == UsageError.exit_code and "not a file system" not in err and "littlefs version" in err


def test_force_without_fs_is_a_usage_error(tmp_path, capsys):
    code, _, err = run(capsys, "full", NEW, "--force", "-o", tmp_path / "p.pack")
    assert code == UsageError.exit_code and "--force goes with --fs" in error_line(err)


# -- 7: identical images, private keys as --pubkey, negative sizes, -q anywhere ---------------


def test_identical_images_warn_and_strict_refuses(tmp_path, capsys):
    code, _, err = run(capsys, "diff", OLD, OLD, "-o", tmp_path / "same.pack")
    assert code == 0
    assert "warning: old and new images are identical: the package changes nothing on the device" in err
    code, _, err = run(capsys, "diff", OLD, OLD, "--strict", "-o", tmp_path / "strict.pack")
    assert code == InputError.exit_code and "identical" in error_line(err) and "(option --strict)" in err
    assert not (tmp_path / "strict.pack").exists()
    code, _, err = run(capsys, "diff", OLD, NEW, "--strict", "-o", tmp_path / "fine.pack")
    assert code == 0 and "warning" not in err


@pytest.mark.parametrize("command", ["verify", "sign"])
def test_private_key_as_pubkey_is_refused(tmp_path, capsys, delta, command):
    key, pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    assert run(capsys, "-q", "keygen", "-o", key)[0] == 0
    assert run(capsys, "pubkey", key, "-o", pub)[0] == 0  # pubkey itself takes a private key on purpose
    if command == "verify":
        args = ["verify", delta, "--old", OLD, "--pubkey"]
    else:
        sig = tmp_path / "sig.bin"
        sig.write_bytes(b"\0" * 64)
        args = ["sign", delta, "--signature", sig, "-o", tmp_path / "s.pack", "--pubkey"]
    code, _, err = run(capsys, *args, key)
    assert code == InputError.exit_code
    assert error_line(err).startswith(f"error: public key {key} is a private key; give its public key")
    code, _, err = run(capsys, *args, pub)
    assert "is a private key" not in err


@pytest.mark.parametrize("args", [
    ["diff", OLD, NEW, "--ram-budget", "-1"],
    ["full", NEW, "--ram-budget=-64K"],
    ["verify", "DELTA", "--old", OLD, "--ram-budget", "-5"],
])
def test_negative_ram_budget_is_a_usage_error(tmp_path, capsys, delta, args):
    args = [delta if a == "DELTA" else a for a in args]
    code, _, err = run(capsys, *args, *([] if args[0] == "verify" else ["-o", tmp_path / "p.pack"]))
    assert code == UsageError.exit_code and "cannot be negative" in error_line(err)


def test_device_options_refuse_negative_numbers():
    from otapack import api

    with pytest.raises(UsageError) as info:
        api.DeviceOptions(ram_budget=-1)
    assert info.value.options == ("ram_budget",)


@pytest.mark.parametrize("before", [True, False])
def test_quiet_before_or_after_the_command(tmp_path, capsys, before):
    args = ["diff", OLD, NEW, "-o", tmp_path / "p.pack"]
    code, out, err = run(capsys, *(["-q", *args] if before else [*args, "-q"]))
    assert code == 0 and out == "" and err == ""
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("print('hi')\n")
    code, _, err = run(capsys, "fs", "build", app, "--block-count", "16",
                       "--lfs-version", "2.0", "-o", tmp_path / "fs.bin", "--quiet")
    assert code == 0 and err == ""


# -- 8: a layout mismatch names the partition ------------------------------------------------


def _edited_layout(tmp_path: Path, old: str, new: str) -> Path:
    text = EC200U.read_text()
    assert old in text
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("edit, named", [
    (('name = "FACTORY"', 'name = "CALIB"'), "partition 'FACTORY' (at 0x607e0000) is not in the device's layout"),
    (("size = 0x20000\ntype = \"nv\"", "size = 0x10000\ntype = \"nv\""),
     "every partition has the same name and address, so a slot size differs"),
])
def test_layout_mismatch_names_the_partition(tmp_path, capsys, layout_pair, edit, named):
    _, _, _, full_pack = layout_pair
    layout = _edited_layout(tmp_path, *edit)
    code, _, err = run(capsys, "verify", full_pack, "--layout", layout)
    assert code == SecurityError.exit_code
    assert named in error_line(err)
    if "slot size" in named:
        assert "'FACTORY' 0x10000" in err


def test_layout_mismatch_with_new_image_names_the_partition(tmp_path, capsys, layout_pair):
    from otapack.core.restore.extensions import layout_difference

    assert layout_difference([("A", 0), ("B", 16)], [("A", 0, 16), ("B", 32, 16)]) == (
        "partition 'B' is at 0x10 in the package, at 0x20 in the device's layout")
    assert layout_difference([("A", 0)], [("A", 0, 16), ("C", 16, 16)], "the new image") == (
        "the new image's layout has partition 'C' (at 0x10), which the package does not")
