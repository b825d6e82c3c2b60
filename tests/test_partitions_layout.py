"""Layout files: the format, and every validation error pinned to its message."""

from __future__ import annotations

import pytest

from otapack.errors import InputError, LayoutError
from otapack.core.model import PartitionType, Policy
from otapack.core.inputs import LAYOUT_KEYS, PARTITION_KEYS, Layout, LayoutPartition, load_layout
from otapack.core.inputs import layout as layout_module
from test_partitions_fixtures import COMPOSITE, COMPOSITE_LAYOUT, EXAMPLES

GOOD = """
base_address = 0x60000000
erase_block = 0x1000
flash_size = 0x100000

[[partitions]]
name = "boot"
offset = 0x0
size = 0x10000
type = "bootloader"

[[partitions]]
name = "app"
offset = 0x10000
size = 0x40000
type = "code"
policy = "delta"
"""


def part(name="p", offset="0x0", size="0x1000", extra=""):
    return f'\n[[partitions]]\nname = "{name}"\noffset = {offset}\nsize = {size}\n{extra}\n'


def error(text: str, exc=LayoutError) -> str:
    with pytest.raises(exc) as info:
        load_layout(text, source="layout.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_layout_parses():
    layout = load_layout(GOOD)
    assert layout.base_address == 0x60000000 and layout.erase_block == 0x1000
    assert layout.flash_size == 0x100000 and layout.erased_value == 0xFF
    assert layout.source == "layout"
    boot, app = layout.partitions
    assert boot == LayoutPartition("boot", 0, 0x10000, PartitionType.BOOTLOADER, Policy.DELTA, True, False)
    assert app.type is PartitionType.CODE and app.policy is Policy.DELTA and app.policy_given
    assert layout.address(app) == 0x60010000
    assert layout.get("app") is app and layout.get("nope") is None
    assert layout.names() == ["boot", "app"]


def test_defaults_and_detection_placeholders():
    layout = load_layout(part("fs", size="0x2000"))
    (fs,) = layout.partitions
    assert layout.base_address == 0 and layout.erase_block == 0x1000 and layout.flash_size is None
    assert fs.type is PartitionType.UNKNOWN and not fs.type_given and not fs.policy_given


def test_policy_defaults_follow_type():
    layout = load_layout(
        part("fs", extra='type = "filesystem"') + part("nv", "0x1000", extra='type = "nv"')
        + part("cal", "0x2000", extra='type = "nv"\npolicy = "keep"')
    )
    assert [p.policy for p in layout.partitions] == [Policy.FULL, Policy.SKIP, Policy.KEEP]


def test_load_from_path_uses_file_name(tmp_path):
    path = tmp_path / "my-layout.toml"
    path.write_text(GOOD + part("app", "0x20000"))
    with pytest.raises(LayoutError, match=r"^my-layout\.toml: duplicate partition name 'app'"):
        load_layout(path)
    with pytest.raises(LayoutError, match=r"^my-layout\.toml: "):
        load_layout(str(path))


def test_layout_object_is_revalidated():
    bad = Layout(partitions=(LayoutPartition("a", 0x100, 0x1000),), source="built")
    with pytest.raises(LayoutError) as info:
        load_layout(bad)
    assert str(info.value) == "built: partition 'a' offset 0x100 is not aligned to the erase block (0x1000)"


def test_composite_fixture_matches_builder():
    layout = load_layout(COMPOSITE_LAYOUT)
    assert {p.name: (p.offset, p.size) for p in layout.partitions} == COMPOSITE


@pytest.mark.parametrize("name", ["ec200u-eg915u.toml", "asr-8mb-ec600n.toml", "asr-16mb.toml"])
def test_example_layouts_are_valid_and_labelled(name):
    path = EXAMPLES / name
    layout = load_layout(path)
    assert "EXAMPLE" in path.read_text().splitlines()[0]
    assert layout.flash_size == max(p.end for p in layout.partitions)
    assert any(p.type is PartitionType.FILESYSTEM and p.policy is Policy.FULL for p in layout.partitions)


def test_ec200u_example_has_public_file_system_addresses():
    layout = load_layout(EXAMPLES / "ec200u-eg915u.toml")
    usr, bak = layout.get("PY_FS_U"), layout.get("PY_FS_B")
    assert (layout.address(usr), usr.size) == (0x604E0000, 0x60000)
    assert (layout.address(bak), bak.size) == (0x60540000, 0x20000)


def test_key_sets_are_module_constants_and_extras(monkeypatch):
    assert "partitions" in LAYOUT_KEYS and "policy" in PARTITION_KEYS
    monkeypatch.setattr(layout_module, "LAYOUT_KEYS", LAYOUT_KEYS | {"minimal_system"})
    monkeypatch.setattr(layout_module, "PARTITION_KEYS", PARTITION_KEYS | {"download_area"})
    layout = load_layout('[minimal_system]\nstage1 = "x"\n' + part("a", extra="download_area = true"))
    assert layout.extras == {"minimal_system": {"stage1": "x"}}
    assert layout.partitions[0].extras == {"download_area": True}


# -- every error, pinned -------------------------------------------------------


def test_invalid_toml():
    assert error("base_address = \n") == (
        "layout.toml: invalid TOML: Invalid value (at line 1, column 16)"
    )


def test_unknown_top_level_key_with_suggestion():
    assert error("erase_blok = 4096\n" + part()) == (
        "layout.toml: unknown key 'erase_blok' at top level (did you mean 'erase_block'?)"
    )


def test_unknown_top_level_key_lists_allowed():
    assert error("colour = 1\n" + part()) == (
        "layout.toml: unknown key 'colour' at top level (allowed: base_address, description, "
        "erase_block, erased_value, flash_size, minimal_system, partitions, scratch_flash)"
    )


def test_unknown_partition_key_names_partition():
    assert error(part("app", extra='polcy = "full"')) == (
        "layout.toml: unknown key 'polcy' in partition 'app' (did you mean 'policy'?)"
    )


def test_unknown_key_in_unnamed_partition():
    assert error(part() + '\n[[partitions]]\nofset = 0\n') == (
        "layout.toml: unknown key 'ofset' in partition #2 (did you mean 'offset'?)"
    )


def test_unknown_nested_key_lists_allowed():
    assert error(part("app", extra="[partitions.flags]\nx = 1")) == (
        "layout.toml: unknown key 'flags' in partition 'app' (allowed: arch, description, fs_block_size, "
        "fs_lfs_version, fs_prog_size, fs_read_size, name, offset, policy, size, type)"
    )


def test_missing_required_key():
    assert error('[[partitions]]\nname = "app"\noffset = 0\n') == (
        "layout.toml: partition 'app' is missing required key 'size'"
    )


def test_missing_name():
    assert error("[[partitions]]\noffset = 0\nsize = 4096\n") == (
        "layout.toml: partition #1 is missing required key 'name'"
    )


def test_wrong_value_type_in_partition():
    assert error(part("app", size='"64K"')) == (
        "layout.toml: key 'size' in partition 'app' must be an integer, not string"
    )


def test_boolean_is_not_an_integer():
    assert error("erase_block = true\n" + part()) == (
        "layout.toml: key 'erase_block' must be an integer, not boolean"
    )


def test_name_must_be_a_string():
    assert error("[[partitions]]\nname = 3\noffset = 0\nsize = 4096\n") == (
        "layout.toml: key 'name' in partition #1 must be a string, not integer"
    )


def test_description_must_be_a_string():
    assert error("description = 1\n" + part()) == (
        "layout.toml: key 'description' must be a string, not integer"
    )


def test_partitions_must_be_array_of_tables():
    assert error('[partitions]\nname = "app"\n') == (
        "layout.toml: 'partitions' must be an array of tables ([[partitions]]), not table"
    )


def test_partition_must_be_a_table():
    assert error("partitions = [1, 2]\n") == "layout.toml: partition #1 must be a table, not integer"


def test_no_partitions():
    assert error("erase_block = 4096\n") == (
        "layout.toml: no partitions (add at least one [[partitions]] table)"
    )


def test_empty_name():
    assert error(part("")) == "layout.toml: partition #1 has an empty name"


def test_name_characters():
    assert error(part("my fs")) == (
        "layout.toml: partition name 'my fs' may only contain letters, digits, '_', '-' and '.'"
    )


def test_unknown_type_with_suggestion():
    assert error(part("app", extra='type = "cod"')) == (
        "layout.toml: partition 'app' has unknown type 'cod' (did you mean 'code'?)"
    )


def test_unknown_type_lists_choices():
    assert error(part("app", extra='type = "ramdisk"')) == (
        "layout.toml: partition 'app' has unknown type 'ramdisk' (choose from: bootloader, code, "
        "data, erased, filesystem, nv, unknown)"
    )


def test_unknown_policy():
    assert error(part("app", extra='policy = "diff"')) == (
        "layout.toml: partition 'app' has unknown policy 'diff' (choose from: delta, full, keep, skip)"
    )


def test_duplicate_names():
    assert error(part("app") + part("boot", "0x1000") + part("app", "0x2000")) == (
        "layout.toml: duplicate partition name 'app' (partitions #1 and #3)"
    )


def test_negative_offset():
    assert error(part("app", "-4096")) == "layout.toml: partition 'app' offset must not be negative (-4096)"


def test_zero_size():
    assert error(part("app", size="0")) == "layout.toml: partition 'app' size must be positive (0)"


def test_misaligned_offset():
    assert error(part("app", "0x1100")) == (
        "layout.toml: partition 'app' offset 0x1100 is not aligned to the erase block (0x1000)"
    )


def test_misaligned_size():
    assert error("erase_block = 0x10000\n" + part("app", size="0x18000")) == (
        "layout.toml: partition 'app' size 0x18000 is not a multiple of the erase block (0x10000)"
    )


def test_overlap():
    assert error(part("boot", "0x0", "0x30000") + part("app", "0x20000", "0x40000")) == (
        "layout.toml: partition 'app' (0x20000..0x60000) overlaps partition 'boot' (0x0..0x30000)"
    )


def test_overlap_with_non_adjacent_partition():
    text = part("big", "0x0", "0x10000") + part("a", "0x2000") + part("b", "0x4000")
    assert error(text) == (
        "layout.toml: partition 'a' (0x2000..0x3000) overlaps partition 'big' (0x0..0x10000)"
    )


def test_past_flash_size():
    assert error("flash_size = 0x800000\n" + part("fs", "0x700000", "0x200000")) == (
        "layout.toml: partition 'fs' (0x700000..0x900000) extends past the flash size (0x800000)"
    )


def test_flash_size_multiple_of_erase_block():
    assert error("flash_size = 0x1800\n" + part()) == (
        "layout.toml: flash_size 0x1800 is not a multiple of the erase block (0x1000)"
    )


def test_flash_size_positive():
    assert error("flash_size = 0\n" + part()) == "layout.toml: flash_size must be positive (0x0)"


def test_erase_block_power_of_two():
    assert error("erase_block = 0x1001\n" + part()) == (
        "layout.toml: erase_block must be a positive power of two, not 0x1001"
    )


def test_erased_value():
    assert error("erased_value = 0x12\n" + part()) == (
        "layout.toml: erased_value must be 0x0 or 0xff, not 0x12"
    )


def test_negative_base_address():
    assert error("base_address = -1\n" + part()) == "layout.toml: base_address must not be negative (-0x1)"


def test_missing_layout_file(tmp_path):
    with pytest.raises(InputError) as info:
        load_layout(tmp_path / "absent.toml")
    assert str(info.value) == f"layout {tmp_path / 'absent.toml'} does not exist"
    assert type(info.value) is InputError and info.value.exit_code == 3


def test_layout_is_a_directory(tmp_path):
    with pytest.raises(InputError) as info:
        load_layout(tmp_path)
    assert str(info.value) == f"layout {tmp_path} is a directory, not a file"


def test_layout_not_utf8(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(LayoutError) as info:
        load_layout(path)
    assert str(info.value) == "bin.toml: not a UTF-8 text file"
