"""compare() and check_compatible(): per-partition differences and structure."""

from __future__ import annotations

import pytest

from otapack.errors import IncompatibleImagesError
from otapack.core.model import FirmwareImage, Partition
from otapack.core.inputs import STATUSES, check_compatible, compare, read_firmware_bytes
from otapack.core.inputs.compare import byte_differences
from test_partitions_fixtures import (
    COMPOSITE,
    COMPOSITE_LAYOUT,
    EXAMPLES,
    USER_FILES,
    blob,
    build_pac,
    composite_raw,
    littlefs_image,
    pac_files,
    pad,
)

EC200U = EXAMPLES / "ec200u-eg915u.toml"


def new_composite() -> bytes:
    """The composite with a patched application and one more user file."""
    data = bytearray(composite_raw())
    app = COMPOSITE["app"][0]
    data[app + 0x100] ^= 0xFF
    data[app + 0x102] ^= 0xFF
    data[app + 0x5000] ^= 0x01
    fs_offset, fs_size = COMPOSITE["customer_fs"]
    files = dict(USER_FILES, **{"lib/extra.py": b"VERSION = 2\n"})
    data[fs_offset:fs_offset + fs_size] = pad(littlefs_image(files), fs_size)
    return bytes(data)


def read(data: bytes, label: str, layout=COMPOSITE_LAYOUT):
    return read_firmware_bytes(data, layout=layout, label=label)


def test_compare_unchanged_and_changed():
    report = compare(read(composite_raw(), "old.bin"), read(new_composite(), "new.bin"))
    assert report.compatible and report.incompatibility is None
    statuses = {d.name: d.status for d in report.partitions}
    assert statuses == {"bootloader": "unchanged", "app": "changed", "customer_fs": "changed", "nv": "unchanged"}
    app = report.get("app")
    assert (app.bytes_differing, app.first_difference, app.last_difference) == (3, 0x100, 0x5000)
    assert report.get("nv").bytes_differing == 0 and report.get("nv").first_difference is None
    assert report.counts() == {"unchanged": 2, "changed": 2, "resized": 0, "added": 0, "removed": 0}
    assert tuple(report.counts()) == STATUSES
    check_compatible(read(composite_raw(), "old.bin"), read(new_composite(), "new.bin"))


def test_compare_to_dict():
    doc = compare(read(composite_raw(), "old.bin"), read(new_composite(), "new.bin")).to_dict()
    assert doc["old"] == {"label": "old.bin", "source": "layout"}
    assert doc["compatible"] is True and doc["incompatibility"] is None
    app = doc["partitions"][1]
    assert app["name"] == "app" and app["status"] == "changed"
    assert app["old"]["address"] == 0x4000 and app["old"]["slot_size"] == 0x8000
    assert app["old"]["sha256"] != app["new"]["sha256"]
    assert doc["partitions"][2]["new"]["content"] == "littlefs"
    assert set(app) == {"name", "status", "old", "new", "bytes_differing", "first_difference", "last_difference"}


def test_resized_within_same_slot():
    files = pac_files()
    old = read_firmware_bytes(build_pac(files), layout=EC200U, label="old.pac")
    for f in files:
        if f["file_id"] == "APPIMG":
            f["data"] = f["data"] + blob("more", 0x200)
    new = read_firmware_bytes(build_pac(files), layout=EC200U, label="new.pac")
    check_compatible(old, new)
    report = compare(old, new)
    appimg = report.get("APPIMG")
    assert appimg.status == "resized" and appimg.bytes_differing == 0x200
    assert (appimg.first_difference, appimg.last_difference) == (0x1800, 0x19FF)
    assert report.compatible


def test_added_and_removed_are_incompatible():
    files = pac_files()
    old = read_firmware_bytes(build_pac(files), label="old.pac")
    new = read_firmware_bytes(build_pac([f for f in files if f["file_id"] != "PY_FS_B"]), label="new.pac")
    report = compare(old, new)
    assert report.get("PY_FS_B").status == "removed" and not report.compatible
    message = ("old and new firmware have different partition structures: partition 'PY_FS_B' is in "
               "old (old.pac) but not in new (new.pac)")
    assert report.incompatibility == message
    with pytest.raises(IncompatibleImagesError) as info:
        check_compatible(old, new)
    assert str(info.value) == message
    reverse = compare(new, old)
    assert reverse.get("PY_FS_B").status == "added"
    assert reverse.incompatibility.endswith("partition 'PY_FS_B' is in new (old.pac) but not in old (new.pac)")


def test_moved_partition_is_incompatible():
    shifted = COMPOSITE_LAYOUT.read_text().replace("offset = 0x14000", "offset = 0x15000")
    old = read(composite_raw(), "old.bin")
    new = read(composite_raw() + b"\xff" * 0x1000, "new.bin", layout=shifted)
    with pytest.raises(IncompatibleImagesError) as info:
        check_compatible(old, new)
    assert str(info.value) == (
        "old and new firmware have different partition structures: partition 'nv' is at 0x14000 in "
        "old (old.bin) but at 0x15000 in new (new.bin)"
    )


def test_resized_slot_is_incompatible():
    grown = COMPOSITE_LAYOUT.read_text().replace("size = 0x2000", "size = 0x3000")
    old = read(composite_raw(), "old.bin")
    new = read(composite_raw() + b"\xff" * 0x1000, "new.bin", layout=grown)
    with pytest.raises(IncompatibleImagesError) as info:
        check_compatible(old, new)
    assert str(info.value) == (
        "old and new firmware have different partition structures: partition 'nv' has a 0x2000-byte "
        "slot in old (old.bin) but a 0x3000-byte slot in new (new.bin)"
    )


def test_unlabelled_images():
    old = FirmwareImage(partitions=(Partition("a", 0, b"x"),))
    new = FirmwareImage(partitions=(Partition("b", 0, b"x"),))
    with pytest.raises(IncompatibleImagesError, match=r"partition 'a' is in old but not in new$"):
        check_compatible(old, new)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (b"abc", b"abc", (0, None, None)),
        (b"abc", b"abd", (1, 2, 2)),
        (b"abc", b"abcde", (2, 3, 4)),
        (b"xbcde", b"abc", (3, 0, 4)),
        (bytes(10000), bytes(4095) + b"\x01" + bytes(5000) + b"\x02" + bytes(903), (2, 4095, 9096)),
    ],
)
def test_byte_differences(a, b, expected):
    assert byte_differences(a, b) == expected
