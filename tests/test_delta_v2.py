"""delta-v2 (operand-aware add) in packages: built by ``--arch``, kept only where
smaller, restored by the Python and the C restore alike with its tables priced
at `resources` (docs/formats/delta-v2-transforms.md)."""

from __future__ import annotations

import json

import pytest

from otapack import FirmwareImage, verify_package
from otapack.core.build import PackageOptions, build_delta, plan_delta_partition
from otapack.core.container import read_package
from otapack.core.formats.wire_numbers import transform_ram
from otapack.core.verify import DeviceOptions
from otapack.errors import ResourceLimitError, UsageError

import hostile_builders as hb
from conftest import FIXTURES, run

OPTS = dict(model="M", source_version="1", target_version="2", build_time=0)


@pytest.fixture(scope="module")
def synth():
    old = (FIXTURES / "corpus" / "synthesizer-1.bin").read_bytes()
    new = (FIXTURES / "corpus" / "synthesizer-2.bin").read_bytes()
    return FirmwareImage.single(old), FirmwareImage.single(new)


@pytest.fixture(scope="module")
def v2_package(synth):
    return build_delta(*synth, PackageOptions(transform_arch="thumb2", **OPTS))


def test_thumb2_package_is_smaller_and_restores(synth, v2_package):
    plain = build_delta(*synth, PackageOptions(**OPTS))
    pkg = read_package(v2_package)
    assert [r.operation for r in pkg.partitions] == ["delta-v2"]
    assert len(v2_package) < 0.6 * len(plain)  # measured 445 B against 1,009 B
    report = verify_package(v2_package, *synth, DeviceOptions(engine="both"))
    assert report.ok, report.error
    assert [c.status.value for c in report.checks if c.name in ("restore:image", "engines")] == ["pass", "pass"]


def test_deterministic_for_any_jobs(synth, v2_package):
    assert build_delta(*synth, PackageOptions(transform_arch="thumb2", jobs=2, **OPTS)) == v2_package


def test_tables_are_in_ram_required_and_refused_below_it(synth, v2_package):
    """The header prices the tables; a declaration one byte short of what the
    restore knows before decoding a window (decoder, tuple array, old-read
    piece, transform tables) is refused at `resources`, before any flash write."""
    planned = plan_delta_partition(synth[0].partitions[0], synth[1].partitions[0],
                                   PackageOptions(transform_arch="thumb2", **OPTS))
    assert planned.record.operation == "delta-v2" and planned.stream.transform_ram > 2 * 8
    declared = hb.field_value(v2_package, "ram_required")
    known = declared - planned.stream.max_extra  # the rest is one window's extra bytes
    both = DeviceOptions(engine="both")  # the C restore prices the tables at the same byte
    report = verify_package(hb.with_field(v2_package, "ram_required", known), *synth, both)
    assert report.restore.failure.check == "restore"  # priced; only the window's extra bytes do not fit
    assert [c.status.value for c in report.checks if c.name == "engines"] == ["pass"]
    short = hb.with_field(v2_package, "ram_required", known - 1)
    report = verify_package(short, *synth, both)
    assert isinstance(report.error, ResourceLimitError)
    assert report.restore.failure.check == "resources"
    assert report.restore.blocks_erased == 0 and report.restore.bytes_written == 0
    assert [c.status.value for c in report.checks if c.name == "engines"] == ["pass"]


def test_a_transform_that_does_not_pay_is_not_kept(synth):
    """aarch64 kinds on Thumb-2 code: whatever they find, the builder keeps v1 unless smaller."""
    pkg = build_delta(*synth, PackageOptions(transform_arch="aarch64", **OPTS))
    plain = build_delta(*synth, PackageOptions(**OPTS))
    op = read_package(pkg).partitions[0].operation
    assert (op == "delta" and pkg == plain) or (op == "delta-v2" and len(pkg) < len(plain))


def test_no_table_ram_means_delta_v1(synth):
    pkg = build_delta(*synth, PackageOptions(transform_arch="thumb2", transform_table_ram=0, **OPTS))
    assert read_package(pkg).partitions[0].operation == "delta"


def test_table_ram_cap_bounds_the_declaration(synth):
    small = build_delta(*synth, PackageOptions(transform_arch="thumb2", transform_table_ram=256, **OPTS))
    part = read_package(small).partitions[0]
    if part.operation == "delta-v2":
        assert hb.field_value(small, "ram_required") <= hb.field_value(
            build_delta(*synth, PackageOptions(**OPTS)), "ram_required") + transform_ram(12, 16)


def test_unknown_arch_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown transform arch 'mips'"):
        PackageOptions(transform_arch="mips")


def test_cli_arch_and_c_engine(tmp_path, capsys):
    old, new = FIXTURES / "corpus" / "synthesizer-1.bin", FIXTURES / "corpus" / "synthesizer-2.bin"
    out = tmp_path / "v2.pack"
    code, stdout, _ = run(capsys, "diff", old, new, "--arch", "thumb2", "--json", "-o", out)
    assert code == 0
    assert "delta-v2" in json.dumps(json.loads(stdout))
    for engine in ("c", "both"):
        code, _, err = run(capsys, "verify", out, "--old", old, "--new", new, "--engine", engine)
        assert code == 0, err
    code, _, err = run(capsys, "verify", out, "--old", new, "--engine", "c")  # the wrong base
    assert code == 1 and "precondition" in err
    code, _, err = run(capsys, "diff", old, new, "--arch", "mips", "-o", tmp_path / "x.pack")
    assert code == 2 and not (tmp_path / "x.pack").exists()


def test_info_says_what_each_partition_re_aims(tmp_path, capsys, v2_package):
    path = tmp_path / "v2.pack"
    path.write_bytes(v2_package)
    code, stdout, _ = run(capsys, "info", path, "--json")
    assert code == 0
    t = json.loads(stdout)["transforms"]["image"]
    assert t["arch"] == "thumb2" and t["base"] == 0x80000  # SAM3X flash: the builder's base guess
    assert t["table_ram"] == transform_ram(t["map_entries"], t["regions"]) and "bl" in t["kinds"]
    code, stdout, _ = run(capsys, "info", path)
    assert f"transform thumb2 base 0x80000, map {t['map_entries']}, regions {t['regions']}" in stdout


# ------------------------------------------------------------------ choosing the arch

def test_elf_machine_says_the_arch():
    from elf_builder import EM_ARM, Segment, build_elf
    from otapack.core.inputs import read_firmware_bytes
    from otapack.core.inputs.elf import elf_arch

    assert (elf_arch("EM_ARM", 0x8000101), elf_arch("EM_ARM", 0x8000100), elf_arch("EM_AARCH64", 0),
            elf_arch("EM_XTENSA", 0)) == ("thumb2", "arm32", "aarch64", None)
    code = (FIXTURES / "corpus" / "synthesizer-1.bin").read_bytes()[:4096]
    image = read_firmware_bytes(build_elf([Segment(0x80000, code, ".text", "RX")], entry=0x80101, machine=EM_ARM),
                                label="fw.elf")
    assert [p.arch for p in image.partitions] == ["thumb2"]


def test_layout_arch_key(tmp_path):
    from otapack.core.inputs.image import split_by_layout
    from otapack.core.inputs.layout import load_layout
    from otapack.errors import LayoutError

    text = '[[partitions]]\nname = "app"\noffset = 0\nsize = 0x1000\narch = "aarch64"\n'
    image = split_by_layout(b"\x00" * 4096, load_layout(text, source="l.toml"), label="fw.bin")
    assert image.partitions[0].arch == "aarch64"
    with pytest.raises(LayoutError, match="unknown arch 'mips'"):
        load_layout(text.replace("aarch64", "mips"), source="l.toml")


def test_auto_tries_the_module_families_where_the_partition_does_not_say(synth, v2_package):
    from otapack.core.build import AUTO_TRIALS, transform_arches
    from otapack.core.model import Partition, PartitionType

    assert transform_arches(synth[1].partitions[0], "auto") == AUTO_TRIALS
    assert transform_arches(Partition("fs", 0, b"", type=PartitionType.FILESYSTEM), "auto") == ()
    assert transform_arches(Partition("app", 0, b"", arch="arm32"), "auto") == ("arm32",)
    auto = build_delta(*synth, PackageOptions(transform_arch="auto", **OPTS))
    assert read_package(auto).partitions[0].operation == "delta-v2" and len(auto) <= len(v2_package)


FIXTURE_PAIRS = [("programmer-0.8.0.bin", "programmer-0.9.0.bin"), ("synthesizer-1.bin", "synthesizer-2.bin")]


@pytest.mark.parametrize("old_name,new_name", FIXTURE_PAIRS)
def test_auto_is_never_larger_than_none_and_jobs_do_not_change_it(old_name, new_name):
    """``--arch auto`` keeps a transform only where it measures smaller, so its
    package is at most ``--arch none``'s; and the trials (two matchings, map
    caps, region costs) give the same bytes whatever the thread count."""
    old, new = (FirmwareImage.single((FIXTURES / "corpus" / name).read_bytes()) for name in (old_name, new_name))
    none = build_delta(old, new, PackageOptions(transform_arch="none", **OPTS))
    auto = build_delta(old, new, PackageOptions(transform_arch="auto", jobs=1, **OPTS))
    assert len(auto) <= len(none)
    assert read_package(auto).partitions[0].operation == "delta-v2"  # both fixtures are Thumb-2 code that pays
    assert build_delta(old, new, PackageOptions(transform_arch="auto", jobs=2, **OPTS)) == auto
    report = verify_package(auto, old, new, DeviceOptions())
    assert report.ok, report.error
