"""Field fit (issue 12, items 3, 4, 5 and 10): packages built from release
images, installed on devices as they are in the field.

3. file systems change on the device: an unchanged one is left alone
   (``skip``), never hash-checked as ``keep``;
4. the device has slots, not content sizes: a device dump padded to the
   slot accepts a package built from release images with short partitions;
5. ``verify --new`` proves the image ``apply`` writes (addresses, slots,
   partitions present, layout digest), and ``apply`` runs the same checks
   as ``verify`` (chain rules, download areas);
10. ``apply`` writes a usable image: the table and unassigned bytes of
    ``--old`` kept, ``--format bin|hex|srec`` at absolute addresses.
"""

from __future__ import annotations

import json

import bincopy
import pytest

from conftest import FIXTURES, error_line, run
from hostile_builders import body_of, field_map, with_field
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.container import read_package, seal
from otapack.core.inputs import read_firmware
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.verify import apply_package, verify_package
from otapack.errors import (
    ChainMismatchError, ChainStateError, PrecursorMismatchError, ResourceLimitError, TargetMismatchError,
)
from test_partitions_fixtures import (
    GPT_LAYOUT, GPT_SIZE, blob, build_pac, gpt_disk, littlefs_image, mbr_disk, pac_file, pad, pieces,
)

OPTS = PackageOptions(model="EC200UCNAA", lzma_dict_size=1 << 16)
APP_OLD = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
APP_NEW = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()
FS_OLD = littlefs_image({"main.py": b"print('v1')\n"}, block_count=8)
FS_NEW = littlefs_image({"main.py": b"print('v2')\n", "lib/x.py": b"X = 1\n"}, block_count=8)
#: What the device wrote into its /usr after it left the factory.
FS_FIELD = littlefs_image({"main.py": b"print('v1')\n", "log.txt": b"booted 3417 times\n"}, block_count=8)
BAK = littlefs_image({"checksum.json": b'{"main.py": "0"}\n'}, block_count=4)
BOOT = b"BOOT" + blob("boot", 0x2FFC)
NV = b"NVRM\x01\x00imei=860000000000001\n" + blob("nv", 0x400)

#: name -> (address, slot, type, policy) of the test module's flash (erase block 4 KiB).
SLOTS = {
    "boot": (0x0, 0x4000, PartitionType.BOOTLOADER, Policy.DELTA),
    "app": (0x4000, 0x8000, PartitionType.CODE, Policy.DELTA),
    "customer_fs": (0xC000, 0x8000, PartitionType.FILESYSTEM, Policy.FULL),
    "nv": (0x14000, 0x2000, PartitionType.NV, Policy.SKIP),
    "customer_backup_fs": (0x16000, 0x4000, PartitionType.FILESYSTEM, Policy.FULL),
}
FLASH_SIZE = 0x1A000
LAYOUT = "base_address = 0\nerase_block = 0x1000\nflash_size = 0x20000\n" + "".join(
    f'[[partitions]]\nname = "{name}"\noffset = {address:#x}\nsize = {slot:#x}\ntype = "{type_.value}"\n'
    f'policy = "{policy.value}"\n'
    for name, (address, slot, type_, policy) in SLOTS.items())


def release(app: bytes, fs: bytes, *, padded: bool = False) -> FirmwareImage:
    """A release image (content only, shorter than its slots) or, padded, a device dump."""
    contents = {"boot": BOOT, "app": app, "customer_fs": fs, "nv": NV, "customer_backup_fs": BAK}
    return FirmwareImage(tuple(
        Partition(name, address, pad(contents[name], slot) if padded else contents[name], type_, policy, slot)
        for name, (address, slot, type_, policy) in SLOTS.items()), source="layout")


def dump_bytes(app: bytes, fs: bytes, nv: bytes = NV) -> bytes:
    """The module's whole flash, read back with a programmer."""
    flash = bytearray(b"\xff" * FLASH_SIZE)
    for name, data in (("boot", BOOT), ("app", app), ("customer_fs", fs), ("nv", nv), ("customer_backup_fs", BAK)):
        address = SLOTS[name][0]
        flash[address:address + len(data)] = data
    return bytes(flash)


def ops(pkg: bytes) -> dict[str, tuple[str, str]]:
    return {p.name: (p.operation, p.reason) for p in read_package(pkg).partitions}


@pytest.fixture(scope="module")
def dump_delta():
    """A delta built from full-flash dumps (every slot whole) with /usr unchanged."""
    old, new = release(APP_OLD, FS_OLD, padded=True), release(APP_NEW, FS_OLD, padded=True)
    return old, new, build_delta(old, new, OPTS)


@pytest.fixture(scope="module")
def release_delta():
    old, new = release(APP_OLD, FS_OLD), release(APP_NEW, FS_OLD)  # /usr unchanged between releases
    return old, new, build_delta(old, new, OPTS)


# -- 3. file systems are never hash-checked keep ---------------------------------------------


def test_unchanged_file_system_is_left_alone_on_a_fielded_device(dump_delta):
    old, new, pkg = dump_delta
    fielded = release(APP_OLD, FS_FIELD, padded=True)  # the device wrote to /usr
    report = verify_package(pkg, fielded)
    assert report.ok, report.error
    assert report.device.image("customer_fs") == pad(FS_FIELD, 0x8000)  # the device's files survive
    assert ops(pkg)["customer_fs"] == ("skip", "fs-unchanged")
    assert ops(pkg)["customer_backup_fs"] == ("skip", "fs-unchanged")
    assert ops(pkg)["boot"] == ("keep", "unchanged")  # program images are still hash-checked


def test_changed_file_system_travels_in_full(dump_delta):
    old, _, _ = dump_delta
    new = release(APP_NEW, FS_NEW, padded=True)
    pkg = build_delta(old, new, OPTS)
    assert ops(pkg)["customer_fs"] == ("replace", "policy-full")
    report = verify_package(pkg, release(APP_OLD, FS_FIELD, padded=True), new)
    assert report.ok, report.error


def test_info_names_the_reason(dump_delta, tmp_path, capsys):
    pkg = tmp_path / "d.pack"
    pkg.write_bytes(dump_delta[2])
    code, out, err = run(capsys, "info", pkg, "--json")
    assert code == 0, err
    reasons = {p["name"]: (p["operation"], p["reason"]) for p in json.loads(out)["partitions"]}
    assert reasons["customer_fs"] == ("skip", "fs-unchanged")
    code, out, err = run(capsys, "info", pkg)
    assert "fs-unchanged" in out


def test_minimal_system_never_keeps_a_file_system(tmp_path):
    from otapack.features.minimal.build import build_minimal
    from otapack.features.minimal.chain import verify_chain
    from otapack.features.minimal.config import MinimalConfig

    old, new = release(APP_OLD, FS_OLD, padded=True), release(APP_NEW, FS_OLD, padded=True)
    result = build_minimal(old, new, APP_OLD[:0x2000], MinimalConfig("app", 0x10000, 0x10000), OPTS)
    for stage in (result.stage1, result.stage2):
        kinds = {p.name: p.operation for p in read_package(stage).partitions}
        assert kinds["customer_fs"] != "keep" and kinds["customer_backup_fs"] != "keep"
    fielded = release(APP_OLD, FS_FIELD, padded=True)
    report = verify_chain([result.stage1, result.stage2], fielded)
    assert report.ok, report.error


# -- 4. slots, not content sizes --------------------------------------------------------------


def test_device_dump_padded_to_the_slot_accepts_a_release_delta(release_delta):
    """The package names 23504 bytes of app; the device dump has a 32768-byte slot."""
    old, new, pkg = release_delta
    dump = release(APP_OLD, FS_OLD, padded=True)
    report = verify_package(pkg, dump, new)
    assert report.ok, report.error
    # the restore leaves the rest of the slot erased, so the device now equals NEW flashed on a blank chip
    assert report.device.image("app") == pad(APP_NEW, 0x8000)


def test_keep_checks_its_size_within_the_slot(release_delta):
    old, new, pkg = release_delta
    assert ops(pkg)["boot"] == ("keep", "unchanged")
    # the package names len(BOOT) bytes; what the device has past them in the slot is not checked
    odd = FirmwareImage(tuple(
        Partition(p.name, p.address, BOOT + b"\x00" * (p.capacity - len(BOOT)), p.type, p.policy, p.slot_size)
        if p.name == "boot" else p for p in release(APP_OLD, FS_OLD, padded=True).partitions), source="layout")
    report = verify_package(pkg, odd)
    assert report.ok, report.error
    # ... but the slot is then not NEW flashed on an erased chip, and verify --new says so
    report = verify_package(pkg, odd, new)
    assert str(report.error) == (
        f"partition 'boot' differs from the new image: first difference at offset {len(BOOT)} of its 16384-byte "
        f"slot (past the new image's {len(BOOT)} bytes of content: the restore leaves the rest of a slot erased; "
        f"the restore did not write this slot)")
    # ... and flipping one byte of those it names is refused before the first write
    flipped = FirmwareImage(tuple(
        Partition(p.name, p.address, b"X" + p.data[1:], p.type, p.policy, p.slot_size) if p.name == "boot" else p
        for p in odd.partitions), source="layout")
    report = verify_package(pkg, flipped)
    assert isinstance(report.error, PrecursorMismatchError) and report.restore.bytes_written == 0


def test_slot_smaller_than_the_base_is_refused(release_delta):
    old, new, pkg = release_delta
    # (a device that knows its layout refuses the package's at compatibility already: another slot size)
    small = FirmwareImage(tuple(
        Partition(p.name, p.address, p.data[:0x4000], p.type, p.policy) if p.name == "app" else p
        for p in release(APP_OLD, FS_OLD, padded=True).partitions), source="layout")
    report = verify_package(pkg, small)
    assert isinstance(report.error, PrecursorMismatchError)
    assert str(report.error) == (f"partition 'app': the device's slot has 16384 bytes, the package's base image "
                                 f"has {len(APP_OLD)}")
    assert [c.name for c in report.checks if c.status == "fail"] == ["precondition"]
    assert report.restore.bytes_written == 0


def test_restore_erases_the_rest_of_the_slot(release_delta):
    """Whatever the device had past the base (old logs, a longer old build) is erased."""
    old, new, pkg = release_delta
    parts = []
    for p in release(APP_OLD, FS_OLD, padded=True).partitions:
        if p.name == "app":
            p = Partition(p.name, p.address, APP_OLD + b"\x5a" * (0x8000 - len(APP_OLD)), p.type, p.policy, 0x8000)
        parts.append(p)
    report = verify_package(pkg, FirmwareImage(tuple(parts), source="layout"), new)
    assert report.ok, report.error
    assert report.device.image("app") == pad(APP_NEW, 0x8000)


def _pac(app: bytes, fs: bytes) -> bytes:
    base = 0x60000000
    return build_pac([
        pac_file("FDL1", blob("fdl1", 0x800), (0x008000C0,)),  # download loader: runs from RAM, never flashed
        pac_file("BOOTLOADER", BOOT, (base,)),
        pac_file("PS", app, (base + 0x4000,)),
        pac_file("PY_FS_U", fs, (base + 0xC000,)),
    ])


PAC_LAYOUT = """base_address = 0x60000000
erase_block = 0x1000
flash_size = 0x20000
[[partitions]]
name = "BOOTLOADER"
offset = 0x0
size = 0x4000
[[partitions]]
name = "PS"
offset = 0x4000
size = 0x8000
type = "code"
[[partitions]]
name = "PY_FS_U"
offset = 0xC000
size = 0x8000
type = "filesystem"
"""


def _pac_dump(app: bytes, fs: bytes) -> bytes:
    flash = bytearray(b"\xff" * 0x14000)
    for offset, data in ((0, BOOT), (0x4000, app), (0xC000, fs)):
        flash[offset:offset + len(data)] = data
    return bytes(flash)


def test_cli_release_pac_delta_on_a_device_dump(tmp_path, capsys):
    """diff two release .pac files; verify and apply on a full-flash dump read with the same layout."""
    layout = tmp_path / "ec200u.toml"
    layout.write_text(PAC_LAYOUT)
    for name, data in (("old.pac", _pac(APP_OLD, FS_OLD)), ("new.pac", _pac(APP_NEW, FS_OLD)),
                       ("dump.bin", _pac_dump(APP_OLD, FS_FIELD))):
        (tmp_path / name).write_bytes(data)
    pkg = tmp_path / "d.pack"
    code, _, err = run(capsys, "-q", "diff", tmp_path / "old.pac", tmp_path / "new.pac", "--layout", layout, "-o", pkg)
    assert code == 0, err
    code, out, err = run(capsys, "verify", pkg, "--old", tmp_path / "dump.bin", "--layout", layout)
    assert code == 0, err + out
    out_bin = tmp_path / "after.bin"
    code, _, err = run(capsys, "apply", pkg, "--old", tmp_path / "dump.bin", "--layout", layout, "-o", out_bin)
    assert code == 0, err
    assert out_bin.read_bytes() == _pac_dump(APP_NEW, FS_FIELD)  # new firmware, the device's own /usr


# -- 5. verify --new proves the image apply writes ---------------------------------------------


@pytest.fixture(scope="module")
def full_pkg():
    new = release(APP_NEW, FS_NEW, padded=True)
    return new, build_full(new, OPTS)


def test_verify_new_refuses_another_address_on_a_blank_device(full_pkg):
    new, pkg = full_pkg
    assert verify_package(pkg, None, new).ok
    moved = with_field(pkg, "1.address", 0x40000)  # app, restored at another address
    report = verify_package(moved, None, new)
    assert report.restore.ok  # a blank device takes any address
    assert isinstance(report.error, TargetMismatchError)
    assert str(report.error) == "partition 'app' is at 0x40000 on the device, the new image has it at 0x4000"


def test_verify_new_refuses_an_extra_partition(full_pkg):
    new, _ = full_pkg
    extra = FirmwareImage(new.partitions + (Partition("extra", 0x30000, b"\x01" * 4096, slot_size=0x1000),),
                          source="layout")
    report = verify_package(build_full(extra, OPTS), None, new)
    assert isinstance(report.error, TargetMismatchError)
    assert str(report.error) == "the restore wrote partition 'extra', which the new image does not have"


def test_verify_new_checks_the_layout_digest(full_pkg):
    new, pkg = full_pkg
    fields = field_map(pkg)
    header = read_package(pkg).header
    index = [tag for tag, _ in header.extensions].index("layout-digest")
    offset = fields[f"ext{index}.length"][0] + 2
    body = bytearray(body_of(pkg))
    body[offset] ^= 0xFF
    report = verify_package(seal(bytes(body)), None, new)
    assert isinstance(report.error, TargetMismatchError)
    assert str(report.error).startswith("the package is for partition layout ")
    assert "the new image's layout is " in str(report.error)


def test_verify_new_compares_the_whole_slot(full_pkg):
    new, pkg = full_pkg
    # NEW as a release image (content only): the slot past it is what the restore leaves, erased
    short = release(APP_NEW, FS_NEW)
    assert verify_package(pkg, None, short).ok
    # a NEW whose slot tail is not erased is not what apply writes
    odd = FirmwareImage(tuple(
        Partition(p.name, p.address, APP_NEW + b"\x00", p.type, p.policy, p.slot_size) if p.name == "app" else p
        for p in short.partitions), source="layout")
    report = verify_package(pkg, None, odd)
    assert isinstance(report.error, TargetMismatchError)
    assert str(report.error) == (
        f"partition 'app' differs from the new image: first difference at offset {len(APP_NEW)} of its "
        f"32768-byte slot")


def test_apply_refuses_stage2_alone(tmp_path, capsys):
    from otapack.features.minimal.build import build_minimal
    from otapack.features.minimal.config import MinimalConfig

    def full_app(image):  # stage 2 then carries the app in full: nothing but the chain rules refuses it
        return FirmwareImage(tuple(Partition(p.name, p.address, p.data, p.type, Policy.FULL, p.slot_size)
                                   if p.name == "app" else p for p in image.partitions), source="layout")

    old, new = full_app(release(APP_OLD, FS_OLD, padded=True)), full_app(release(APP_NEW, FS_NEW, padded=True))
    result = build_minimal(old, new, blob("mini", 0x2000), MinimalConfig("app", 0x10000, 0x10000), OPTS)
    assert {p.operation for p in read_package(result.stage2).partitions} <= {"replace", "keep", "skip"}
    with pytest.raises(ChainStateError):
        apply_package(result.stage2, old)
    (tmp_path / "old.bin").write_bytes(dump_bytes(APP_OLD, FS_OLD))
    (tmp_path / "layout.toml").write_text(LAYOUT)
    (tmp_path / "s2.pack").write_bytes(result.stage2)
    out = tmp_path / "out.bin"
    code, _, err = run(capsys, "apply", tmp_path / "s2.pack", "--old", tmp_path / "old.bin", "--layout",
                       tmp_path / "layout.toml", "-o", out)
    assert code == ChainStateError.exit_code, err
    assert "apply its stage 1 first" in error_line(err)
    assert not out.exists()


def test_after_stage1_only_the_stage2_it_names_is_accepted():
    from otapack.features.minimal.build import build_minimal
    from otapack.features.minimal.chain import verify_chain
    from otapack.features.minimal.config import MinimalConfig

    old, new = release(APP_OLD, FS_OLD, padded=True), release(APP_NEW, FS_NEW, padded=True)
    result = build_minimal(old, new, APP_OLD[:0x2000], MinimalConfig("app", 0x10000, 0x10000), OPTS)
    # a plain delta from the intermediate state to NEW: valid on its own, but not the named stage 2
    plain = build_delta(result.intermediate, new, OPTS)
    assert verify_package(plain, result.intermediate, new).ok
    report = verify_chain([result.stage1, plain], old, new)
    assert isinstance(report.error, ChainMismatchError), report.error
    assert str(report.error) == (
        f"stage 1 names stage 2 package {read_package(result.stage2).body_sha256.hex()}, this delta package is "
        f"{read_package(plain).body_sha256.hex()}: until that stage 2 is installed the device accepts no other "
        f"package")
    assert report.stages[1].restore.bytes_written == 0
    assert verify_chain([result.stage1, result.stage2], old, new).ok


def test_apply_enforces_the_download_area(tmp_path, capsys):
    """apply runs the checks verify runs: a stage 1 over the phase-1 download area is refused by both."""
    from otapack.features.minimal.build import build_minimal
    from otapack.features.minimal.config import MinimalConfig

    old, new = release(APP_OLD, FS_OLD, padded=True), release(APP_NEW, FS_NEW, padded=True)
    result = build_minimal(old, new, APP_OLD[:0x2000], MinimalConfig("app", 0x10000, 0x10000), OPTS)
    layout = tmp_path / "layout.toml"
    layout.write_text(LAYOUT + '[minimal_system]\npartition = "app"\nstage1_download = 0x100\n'
                               'stage2_download = 0x10000\n')
    (tmp_path / "old.bin").write_bytes(dump_bytes(APP_OLD, FS_OLD))
    (tmp_path / "s1.pack").write_bytes(result.stage1)
    outcomes = []
    for command in (("verify",), ("apply", "-o", tmp_path / "out.bin")):
        code, _, err = run(capsys, *command, tmp_path / "s1.pack", "--old", tmp_path / "old.bin", "--layout", layout)
        outcomes.append((code, error_line(err)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == (ResourceLimitError.exit_code, "error: package exceeds the 256-byte download area")
    assert not (tmp_path / "out.bin").exists()


def test_apply_full_without_old_writes_every_slot_of_the_layout(tmp_path, capsys):
    """The last slot of the flash is factory data the package skips: the image still covers it."""
    factory = Partition("factory", FLASH_SIZE, NV, PartitionType.NV, Policy.SKIP, 0x2000)
    new = FirmwareImage(release(APP_NEW, FS_NEW, padded=True).partitions + (factory,), source="layout")
    (tmp_path / "full.pack").write_bytes(build_full(new, OPTS))
    (tmp_path / "layout.toml").write_text(
        LAYOUT + f'[[partitions]]\nname = "factory"\noffset = {FLASH_SIZE:#x}\nsize = 0x2000\ntype = "nv"\n')
    out = tmp_path / "out.bin"
    code, _, err = run(capsys, "apply", tmp_path / "full.pack", "--layout", tmp_path / "layout.toml", "-o", out)
    assert code == 0, err
    # a blank module: the skipped slots stay erased, and the image covers every slot up to the last
    assert out.read_bytes() == dump_bytes(APP_NEW, FS_NEW, nv=b"") + b"\xff" * 0x2000


def test_verify_new_says_when_a_blank_device_of_unknown_layout_ends_slots_early(tmp_path, capsys):
    """A PAC's slots (from its XML) are longer than its images: without a
    layout, apply's image ends each slot at its content and says so; verify
    --new passes (the flash past it is erased) and says the same, not only
    "whole slots"."""
    pac = FIXTURES / "pac" / "csdk-new.pac"
    layout = FIXTURES.parent.parent / "examples" / "layouts" / "ec200u-eg915u.toml"
    pkg, out = tmp_path / "full.pack", tmp_path / "out.bin"
    assert run(capsys, "full", pac, "-o", pkg)[0] == 0
    code, out_text, _ = run(capsys, "verify", pkg, "--new", pac, "--json")
    assert code == 0
    assert json.loads(out_text)["checks"][-1]["detail"] == (
        "3 partitions byte-identical to the new image (whole slots); 3 slots end where their content ends on this "
        "blank device of unknown layout (erased past it; give the layout for whole slots)")
    code, _, err = run(capsys, "apply", pkg, "-o", out)
    assert code == 0 and "each partition ends where its content ends" in err


def test_pac_with_a_layout_is_bound_to_the_whole_layout(tmp_path, capsys):
    """The shipped EC200U layout has slots the PAC does not fill (APPIMG, the
    file systems, FACTORY): a package built from the PAC with it is bound to
    the whole layout, so a blank module of that layout takes it (the full
    package's self-check refused it: the digest covered only the PAC's three
    slots), a module holding OLD read with the layout takes the delta, and
    one whose layout is only OLD's PAC does not."""
    old_pac, pac = FIXTURES / "pac" / "csdk-old.pac", FIXTURES / "pac" / "csdk-new.pac"
    layout = FIXTURES.parent.parent / "examples" / "layouts" / "ec200u-eg915u.toml"
    full, delta, out = tmp_path / "full.pack", tmp_path / "delta.pack", tmp_path / "out.bin"
    code, _, err = run(capsys, "full", pac, "--layout", layout, "-o", full)
    assert code == 0, err
    code, out_text, _ = run(capsys, "verify", full, "--new", pac, "--layout", layout, "--json")
    assert code == 0
    assert json.loads(out_text)["checks"][-1]["detail"] == "3 partitions byte-identical to the new image (whole slots)"
    assert run(capsys, "apply", full, "--layout", layout, "-o", out)[0] == 0
    flat = out.read_bytes()
    assert len(flat) == 0x800000  # the layout's whole flash, from its base address
    for part in read_firmware(pac).partitions:
        at = part.address - 0x60000000
        assert flat[at:at + part.capacity] == part.padded(0xFF), part.name
    code, _, err = run(capsys, "diff", old_pac, pac, "--layout", layout, "-o", delta)
    assert code == 0, err
    assert run(capsys, "verify", delta, "--old", old_pac, "--new", pac, "--layout", layout)[0] == 0
    # OLD's PAC alone does not describe the layout the package is bound to:
    # a missing option (exit 2, naming it), not a package for another device
    code, _, err = run(capsys, "verify", delta, "--old", old_pac, "--new", pac)
    assert code == 2 and error_line(err).endswith("give --layout LAYOUT.toml (the device's partition layout) "
                                                  "(option --layout)"), err
    code, _, err = run(capsys, "apply", delta, "--old", old_pac, "-o", tmp_path / "o2.bin")
    assert code == 2 and "give --layout LAYOUT.toml" in err and not (tmp_path / "o2.bin").exists()
    # a layout of another device is still refused as one
    other = tmp_path / "other.toml"
    other.write_text(layout.read_text().replace("size = 0x20000", "size = 0x10000", 1))
    code, _, err = run(capsys, "verify", delta, "--old", old_pac, "--new", pac, "--layout", other)
    assert code == 8 and "package is for partition layout" in error_line(err), err


# -- 10. apply writes a usable image -----------------------------------------------------------


def _gpt(app: bytes) -> bytes:
    return gpt_disk(GPT_LAYOUT, dict(pieces(), app=app), GPT_SIZE)


@pytest.mark.parametrize("disk", ["gpt", "mbr"])
def test_apply_keeps_the_disk_table_and_offsets(tmp_path, capsys, disk):
    if disk == "gpt":
        old, new = _gpt(APP_OLD), _gpt(APP_NEW)
    else:
        def make(app):  # FAT-typed p1 at 1 MiB: the first partition starts past the table
            return mbr_disk([(0x83, 0x100000, 0x8000, app), (0x83, 0x108000, 0x8000, pieces()["customer_fs"])],
                            0x110000)
        old, new = make(APP_OLD), make(APP_NEW)
    (tmp_path / "old.img").write_bytes(old)
    (tmp_path / "new.img").write_bytes(new)
    pkg, out = tmp_path / "d.pack", tmp_path / "out.img"
    code, _, err = run(capsys, "-q", "diff", tmp_path / "old.img", tmp_path / "new.img", "-o", pkg)
    assert code == 0, err
    code, _, err = run(capsys, "apply", pkg, "--old", tmp_path / "old.img", "-o", out)
    assert code == 0, err
    assert out.read_bytes() == new  # same size, table kept, every partition at its offset


def test_apply_keeps_unassigned_bytes(tmp_path, capsys):
    layout = tmp_path / "layout.toml"
    layout.write_text(LAYOUT)
    tail = b"SERIAL=0042" + b"\x00" * 0x100  # bytes no partition covers, past the last slot
    old, new = dump_bytes(APP_OLD, FS_OLD) + tail, dump_bytes(APP_NEW, FS_OLD) + tail
    (tmp_path / "old.bin").write_bytes(old)
    (tmp_path / "new.bin").write_bytes(new)
    pkg, out = tmp_path / "d.pack", tmp_path / "out.bin"
    assert run(capsys, "-q", "diff", tmp_path / "old.bin", tmp_path / "new.bin", "--layout", layout, "-o", pkg)[0] == 0
    code, _, err = run(capsys, "apply", pkg, "--old", tmp_path / "old.bin", "--layout", layout, "-o", out)
    assert code == 0, err
    assert out.read_bytes() == new


@pytest.mark.parametrize("fmt", ["hex", "srec"])
def test_apply_hex_and_srec_at_absolute_addresses(tmp_path, capsys, fmt):
    layout = tmp_path / "ec200u.toml"
    layout.write_text(PAC_LAYOUT)
    (tmp_path / "old.bin").write_bytes(_pac_dump(APP_OLD, FS_OLD))
    (tmp_path / "new.bin").write_bytes(_pac_dump(APP_NEW, FS_NEW))
    pkg, out, out_bin = tmp_path / "d.pack", tmp_path / f"out.{fmt}", tmp_path / "out.bin"
    assert run(capsys, "-q", "diff", tmp_path / "old.bin", tmp_path / "new.bin", "--layout", layout, "-o", pkg)[0] == 0
    for target, extra in ((out, ("--format", fmt)), (out_bin, ())):
        code, _, err = run(capsys, "apply", pkg, "--old", tmp_path / "old.bin", "--layout", layout, *extra,
                           "-o", target)
        assert code == 0, err
    parsed = bincopy.BinFile()
    (parsed.add_ihex if fmt == "hex" else parsed.add_srec)(out.read_text())
    assert parsed.minimum_address == 0x60000000
    assert parsed.as_binary() == out_bin.read_bytes() == _pac_dump(APP_NEW, FS_NEW)


# -- the slots a restore writes ----------------------------------------------------------------


def test_blank_device_refuses_overlapping_slots(full_pkg):
    new, pkg = full_pkg
    overlapping = with_field(pkg, "1.address", 0x2000)  # app over boot's slot
    report = verify_package(overlapping, None, new)
    assert [c.name for c in report.checks if c.status == "fail"] == ["table"]
    assert str(report.error) == "partition 'boot' (0x0..0x4000) would overlap partition 'app' (0x2000..0xa000)"
    assert report.restore.bytes_written == 0


def test_slot_past_the_32_bit_address_space(full_pkg):
    new, pkg = full_pkg
    report = verify_package(with_field(pkg, "1.address", 0xFFFFC000), None, new)
    assert str(report.error) == ("partition 'app': 32768 bytes at 0xffffc000 run past the 32-bit flash "
                                 "address space")
    assert [c.name for c in report.checks if c.status == "fail"] == ["table"]


def test_slot_of_unknown_size_may_not_grow_into_the_next():
    """An image read without a layout: its partitions end where their content ends."""
    old = FirmwareImage((Partition("text", 0x0, APP_OLD[:0x1000]), Partition("data", 0x1000, BOOT[:0x1000])))
    new = FirmwareImage((Partition("text", 0x0, APP_NEW[:0x1800]), Partition("data", 0x1000, BOOT[:0x1000])))
    report = verify_package(build_delta(old, new, OPTS), old)
    assert str(report.error) == "partition 'text' (0x0..0x1800) would overlap partition 'data' (0x1000..0x2000)"
    assert report.restore.bytes_written == 0


def test_flat_binary_of_far_apart_slots_is_refused_hex_is_not(tmp_path, capsys):
    image = FirmwareImage((Partition("flash", 0x0, b"\x01" * 4096), Partition("qspi", 0x90000000, b"\x02" * 4096)))
    pkg = tmp_path / "full.pack"
    pkg.write_bytes(build_full(image, OPTS))
    code, _, err = run(capsys, "apply", pkg, "-o", tmp_path / "out.bin")
    assert code == 2
    assert error_line(err).startswith("error: the partitions span 0x0..0x90001000 (2415923200 bytes), more than")
    assert error_line(err).endswith("(option --format)")
    code, _, err = run(capsys, "apply", pkg, "--format", "hex", "-o", tmp_path / "out.hex")
    assert code == 0, err
    parsed = bincopy.BinFile()
    parsed.add_ihex((tmp_path / "out.hex").read_text())
    assert [(s.minimum_address, bytes(s.data)) for s in parsed.segments] == [(0, b"\x01" * 4096),
                                                                           (0x90000000, b"\x02" * 4096)]


def test_apply_says_what_it_could_not_place(full_pkg, tmp_path, capsys):
    """Without --old or --layout a skipped partition has no slot: apply says so."""
    new, pkg = full_pkg
    (tmp_path / "full.pack").write_bytes(pkg)
    code, _, err = run(capsys, "apply", tmp_path / "full.pack", "-o", tmp_path / "out.bin")
    assert code == 0
    assert "note: partition 'nv' is skipped by the package and has no slot on this device: not in the image" in err
    assert (tmp_path / "out.bin").read_bytes() == dump_bytes(APP_NEW, FS_NEW, nv=b"")


def test_stage2_is_downloaded_into_the_phase2_area():
    """A minimal-stage2 package is stored while the minimal system runs: the phase-2 area bounds it."""
    from otapack.core.verify import DeviceOptions
    from otapack.features.minimal.build import build_minimal
    from otapack.features.minimal.chain import verify_chain
    from otapack.features.minimal.config import MinimalConfig

    old, new = release(APP_OLD, FS_OLD, padded=True), release(APP_NEW, FS_NEW, padded=True)
    result = build_minimal(old, new, APP_OLD[:0x2000], MinimalConfig("app", 0x10000, 0x10000), OPTS)
    areas = DeviceOptions(download_capacity=len(result.stage1), minimal_download_capacity=len(result.stage2))
    assert verify_chain([result.stage1, result.stage2], old, new, areas).ok
    tight = DeviceOptions(download_capacity=len(result.stage1), minimal_download_capacity=len(result.stage2) - 1)
    report = verify_chain([result.stage1, result.stage2], old, new, tight)
    assert str(report.error) == f"package exceeds the {len(result.stage2) - 1}-byte download area"


def test_verify_new_knows_apply_cannot_write_a_table_on_a_blank_device(tmp_path, capsys):
    """A full package carries partitions, not a disk's GPT: on a blank device apply writes none, and verify says so."""
    new = tmp_path / "new.img"
    new.write_bytes(_gpt(APP_NEW))
    old = tmp_path / "old.img"
    old.write_bytes(_gpt(APP_OLD))
    pkg = tmp_path / "full.pack"
    assert run(capsys, "-q", "full", new, "-o", pkg)[0] == 0
    code, _, err = run(capsys, "verify", pkg, "--new", new)
    assert code == TargetMismatchError.exit_code
    assert error_line(err) == ("error: the new image's bytes at 0x0, outside every partition, are not what apply "
                               "writes: no package carries them and the device is blank there")
    # on the module, holding its table, the same package is NEW and apply writes exactly that
    assert run(capsys, "verify", pkg, "--old", old, "--new", new)[0] == 0
    assert run(capsys, "apply", pkg, "--old", old, "-o", tmp_path / "out.img")[0] == 0
    assert (tmp_path / "out.img").read_bytes() == new.read_bytes()


def test_verify_new_compares_the_bytes_apply_keeps(tmp_path, capsys):
    layout = tmp_path / "layout.toml"
    layout.write_text(LAYOUT)
    old, new = dump_bytes(APP_OLD, FS_OLD) + b"SERIAL=0042", dump_bytes(APP_NEW, FS_OLD) + b"SERIAL=0043"
    for name, data in (("old.bin", old), ("new.bin", new)):
        (tmp_path / name).write_bytes(data)
    pkg = tmp_path / "d.pack"
    assert run(capsys, "-q", "diff", tmp_path / "old.bin", tmp_path / "new.bin", "--layout", layout, "-o", pkg)[0] == 0
    code, _, err = run(capsys, "verify", pkg, "--old", tmp_path / "old.bin", "--new", tmp_path / "new.bin",
                       "--layout", layout)
    assert code == TargetMismatchError.exit_code
    assert error_line(err) == (f"error: the new image's bytes at {FLASH_SIZE + 10:#x}, outside every partition, are "
                               f"not what apply writes: no package carries them and the old image has other bytes "
                               f"there")


def test_apply_runs_a_minimal_system_chain(tmp_path, capsys):
    """apply STAGE1 STAGE2: the chain verify runs, then the image it ends with."""
    from otapack.features.minimal.build import build_minimal
    from otapack.features.minimal.config import MinimalConfig

    old, new = release(APP_OLD, FS_OLD, padded=True), release(APP_NEW, FS_NEW, padded=True)
    result = build_minimal(old, new, APP_OLD[:0x2000], MinimalConfig("app", 0x10000, 0x10000), OPTS)
    (tmp_path / "layout.toml").write_text(LAYOUT)
    (tmp_path / "old.bin").write_bytes(dump_bytes(APP_OLD, FS_OLD))
    for name, data in (("s1.pack", result.stage1), ("s2.pack", result.stage2)):
        (tmp_path / name).write_bytes(data)
    args = ("--old", tmp_path / "old.bin", "--layout", tmp_path / "layout.toml")
    code, _, err = run(capsys, "apply", tmp_path / "s1.pack", tmp_path / "s2.pack", *args, "-o", tmp_path / "new.bin")
    assert code == 0, err
    assert (tmp_path / "new.bin").read_bytes() == dump_bytes(APP_NEW, FS_NEW)
    code, _, err = run(capsys, "apply", tmp_path / "s2.pack", tmp_path / "s1.pack", *args, "-o", tmp_path / "x.bin")
    assert code == ChainStateError.exit_code and "apply its stage 1 first" in err
