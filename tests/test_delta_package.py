"""Delta packages partition by partition: operations, reasons, fallbacks,
resizing, determinism and --jobs."""

from __future__ import annotations


import pytest

from otapack import FirmwareImage, PackageOptions, build_delta, build_full, read_package, verify_package
from otapack.cli import main
from otapack.errors import IncompatibleImagesError, PrecursorMismatchError
from otapack.core.model import Partition, PartitionType, Policy
from otapack.core.inputs import read_firmware_bytes
from otapack.core.verify import apply_package, flatten

from conftest import FIXTURES
from test_partitions_fixtures import COMPOSITE_LAYOUT, littlefs_image
from test_partitions_fixtures import blob as noise

OPTS = PackageOptions(model="EC600NCNLC", source_version="V2", target_version="V3")


def image(*parts: Partition) -> FirmwareImage:
    return FirmwareImage(tuple(parts), source="layout")


def part(name, address, data, type_=PartitionType.CODE, policy=Policy.DELTA, slot=0x10000):
    return Partition(name=name, address=address, data=data, type=type_, policy=policy, slot_size=slot)


@pytest.fixture(scope="module")
def firmware(request):
    old_app = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    new_app = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()
    boot = noise("boot", 0x3000)
    old = image(
        part("bootloader", 0x0, boot, PartitionType.BOOTLOADER),
        part("app", 0x10000, old_app),
        part("customer_fs", 0x20000, littlefs_image({"main.py": b"print('v2')\n"}), PartitionType.FILESYSTEM, Policy.FULL, 0x8000),
        part("nv", 0x28000, noise("nv-old", 0x1000), PartitionType.NV, Policy.SKIP, 0x1000),
    )
    new = image(
        part("bootloader", 0x0, boot, PartitionType.BOOTLOADER),
        part("app", 0x10000, new_app),
        part("customer_fs", 0x20000, littlefs_image({"main.py": b"print('v3')\n", "lib/x.py": b"X = 1\n"}),
             PartitionType.FILESYSTEM, Policy.FULL, 0x8000),
        part("nv", 0x28000, noise("nv-new", 0x1000), PartitionType.NV, Policy.SKIP, 0x1000),
    )
    return old, new


def ops(pkg: bytes) -> dict[str, tuple[str, str]]:
    return {p.name: (p.operation, p.reason) for p in read_package(pkg).partitions}


def test_operation_per_partition_by_policy(firmware):
    old, new = firmware
    pkg = build_delta(old, new, OPTS)
    assert ops(pkg) == {
        "bootloader": ("keep", "unchanged"),
        "app": ("delta", "delta-smaller"),
        "customer_fs": ("replace", "policy-full"),
        "nv": ("skip", "policy-skip"),
    }
    report = verify_package(pkg, old, new)
    assert report.ok, report.error
    restored = apply_package(pkg, old)
    # each slot: the new content, then erased to the end of the slot
    assert restored.get("app").data == new.get("app").padded()
    assert restored.get("customer_fs").data == new.get("customer_fs").padded()
    assert restored.get("nv").data == old.get("nv").padded()  # skip: never touched


def test_fallback_to_full_when_delta_is_not_smaller():
    old = image(part("app", 0x0, noise("a", 20000)))
    new = image(part("app", 0x0, noise("b", 20000)))
    pkg = build_delta(old, new, OPTS)
    assert ops(pkg) == {"app": ("replace", "full-smaller")}
    assert verify_package(pkg, old, new).ok


def test_completely_different_image_single():
    old = FirmwareImage.single(noise("x", 50000))
    new = FirmwareImage.single((FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes())
    pkg = build_delta(old, new, OPTS)
    # Nothing to reuse: whichever operation wins, it is no larger than a full package's payload.
    full = build_full(new, OPTS)
    assert read_package(pkg).partitions[0].payload_length <= read_package(full).partitions[0].payload_length
    assert verify_package(pkg, old, new).ok


def test_identical_images_give_a_tiny_package(firmware):
    old, _ = firmware
    pkg = build_delta(old, old, OPTS)
    assert {op for op, _ in ops(pkg).values()} == {"keep", "skip"}
    assert len(pkg) < 400
    report = verify_package(pkg, old, old)
    assert report.ok and report.restore.bytes_written == 0


def test_resized_partition_within_its_slot():
    app = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    old = image(part("app", 0x0, app))
    new = image(part("app", 0x0, app[:15000] + b"inserted" * 100 + app[15000:]))
    pkg = build_delta(old, new, OPTS)
    record = read_package(pkg).partitions[0]
    assert (record.operation, record.source_size, record.target_size) == ("delta", len(app), len(app) + 800)
    assert verify_package(pkg, old, new).ok


def test_resized_partition_beyond_its_slot_is_refused_by_the_device():
    app = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    old = image(part("app", 0x0, app, slot=len(app)))
    new = image(part("app", 0x0, app + b"more", slot=len(app)))
    report = verify_package(build_delta(old, new, OPTS), old, new)
    assert str(report.error) == f"partition 'app': target of {len(app) + 4} bytes exceeds its {len(app)}-byte slot"


@pytest.mark.parametrize("old_data, new_data, expected", [
    (b"", b"fresh contents" * 100, ("replace", "no-source")),
    (b"old contents" * 100, b"", ("replace", "full-smaller")),
    (b"", b"", ("keep", "unchanged")),
])
def test_empty_partitions(old_data, new_data, expected):
    old = image(part("data", 0x0, old_data, PartitionType.DATA))
    new = image(part("data", 0x0, new_data, PartitionType.DATA))
    pkg = build_delta(old, new, OPTS)
    assert ops(pkg)["data"] == expected
    report = verify_package(pkg, old, new)
    assert report.ok, report.error
    assert apply_package(pkg, old).get("data").data == new_data + b"\xff" * (0x10000 - len(new_data))


def test_keep_policy_must_be_identical():
    old = image(part("cal", 0x0, b"calibration A", PartitionType.NV, Policy.KEEP))
    new = image(part("cal", 0x0, b"calibration B", PartitionType.NV, Policy.KEEP))
    with pytest.raises(IncompatibleImagesError, match="^partition 'cal' has policy keep but differs"):
        build_delta(old, new, OPTS)


def test_keep_policy_checks_the_device(firmware):
    old, new = firmware
    pkg = build_delta(old, new, OPTS)
    tampered = image(*(part(p.name, p.address, b"X" + p.data[1:], p.type, p.policy, p.slot_size)
                       if p.name == "bootloader" else p for p in old.partitions))
    report = verify_package(pkg, tampered, new)
    assert isinstance(report.error, PrecursorMismatchError)
    assert str(report.error).startswith(
        "partition 'bootloader': wrong kept partition: the first 12288 bytes of the device's 65536-byte slot have ")
    assert report.restore.bytes_written == 0


def test_deterministic_and_jobs_independent(firmware):
    old, new = firmware
    one = build_delta(old, new, OPTS)
    assert build_delta(old, new, OPTS) == one
    assert build_delta(old, new, PackageOptions(**{**OPTS.__dict__, "jobs": 3})) == one


def test_cli_diff_with_layout_and_jobs(tmp_path, capsys):
    """Raw images + layout through the CLI, --jobs 1 and 2 byte-identical."""
    old_app = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    new_app = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()

    def flash(app: bytes, files: dict) -> bytes:
        out = bytearray(b"\xff" * 0x16000)
        out[0:0x3000] = noise("boot", 0x3000)
        out[0x4000 : 0x4000 + len(app)] = app
        fs = littlefs_image(files)
        out[0xC000 : 0xC000 + len(fs)] = fs
        out[0x14000:0x14800] = noise("nv", 0x800)
        return bytes(out)

    old_path, new_path = tmp_path / "old.bin", tmp_path / "new.bin"
    old_path.write_bytes(flash(old_app, {"main.py": b"v2\n"}))
    new_path.write_bytes(flash(new_app, {"main.py": b"v3\n"}))
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}.pack"
        assert main(["-q", "diff", str(old_path), str(new_path), "--layout", str(COMPOSITE_LAYOUT),
                     "--jobs", jobs, "-o", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert ops(outs[0]) == {"bootloader": ("keep", "unchanged"), "app": ("delta", "delta-smaller"),
                            "customer_fs": ("replace", "policy-full"), "nv": ("skip", "policy-skip")}
    assert dict(read_package(outs[0]).header.extensions)["image-source"] == b"layout"  # shown by `info`
    restored = tmp_path / "restored.bin"
    assert main(["apply", str(tmp_path / "j1.pack"), "--old", str(old_path), "--layout", str(COMPOSITE_LAYOUT),
                 "-o", str(restored)]) == 0
    assert restored.read_bytes() == new_path.read_bytes()
    capsys.readouterr()
    old_fw = read_firmware_bytes(old_path.read_bytes(), layout=COMPOSITE_LAYOUT)
    assert flatten(old_fw) == old_path.read_bytes()


def test_hardware_id_binds_the_package(firmware):
    from otapack.errors import IncompatibleDeviceError
    from otapack.core.verify import DeviceOptions

    old, new = firmware
    pkg = build_delta(old, new, PackageOptions(**{**OPTS.__dict__, "hardware_id": "EC600N-PCB-V1.2"}))
    assert dict(read_package(pkg).header.extensions)["hardware-id"] == b"EC600N-PCB-V1.2"
    assert verify_package(pkg, old, new, DeviceOptions(hardware_id="EC600N-PCB-V1.2")).ok
    report = verify_package(pkg, old, new, DeviceOptions(hardware_id="EC600N-PCB-V2.0"))
    assert isinstance(report.error, IncompatibleDeviceError)
    assert str(report.error) == "package is for hardware 'EC600N-PCB-V1.2', device is 'EC600N-PCB-V2.0'"
    assert report.restore.bytes_written == 0


def test_layout_digest_refuses_another_partition_layout(firmware):
    from otapack.errors import IncompatibleDeviceError

    old, new = firmware
    pkg = build_delta(old, new, OPTS)
    assert "layout-digest" in dict(read_package(pkg).header.extensions)
    # Same addresses, but the device's nv slot is twice as large: another layout.
    other = image(*(part(p.name, p.address, p.data, p.type, p.policy, 0x2000 if p.name == "nv" else p.slot_size)
                    for p in old.partitions))
    report = verify_package(pkg, other, new)
    assert isinstance(report.error, IncompatibleDeviceError)
    assert str(report.error).startswith("package is for partition layout ")
    assert [c.name for c in report.checks if c.status == "fail"] == ["compatibility"]
