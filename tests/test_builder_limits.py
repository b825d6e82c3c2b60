"""The builder refuses every package a reader would refuse for a format limit.

A header over the 64 KiB the device buffers, more than 255 partitions or
extensions, strings over 255 bytes or not ASCII, an unknown or repeated
extension, a repeated partition name, a signature slot over 1024 bytes: each
is a ``PackageLimitError`` (exit 4), raised before any diffing or compression
where the plan allows, and never a package that only the device refuses.
"""

from __future__ import annotations

import random

import pytest

from hostile_builders import compare_readers
from otapack import errors
from otapack.core import build as build_mod
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.container import PackageHeader, PartitionRecord, assemble, header_size, read_package, seal
from otapack.core.package_limits import check_limits
from otapack.core.formats import wire_numbers as wn
from otapack.core.model import FirmwareImage, Partition, Policy
from otapack.core.verify import verify_package

OLD = bytes(random.Random(7).randrange(256) for _ in range(8192))
NEW = OLD[:4000] + b"new code" + OLD[4008:]
#: Two large extensions: 80 KB of header, more than the device buffers.
BIG = (("chain-prev-state", bytes(40_000)), ("budget", bytes(40_000)))


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the builder starts compressing or diffing."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the builder did expensive work before refusing the package")

    monkeypatch.setattr(build_mod, "_compress_full", forbidden)
    monkeypatch.setattr(build_mod, "compress_fast_estimate", forbidden)
    import otapack.core.diff as diff

    monkeypatch.setattr(diff, "make_candidates", forbidden)


def many(count: int, size: int = 16) -> FirmwareImage:
    return FirmwareImage(tuple(Partition(f"p{i}", i * 4096, bytes([i % 256]) * size) for i in range(count)),
                         source="layout")


def test_80kb_header_refused_before_any_work(no_work):
    image = FirmwareImage.single(NEW)
    with pytest.raises(errors.PackageLimitError) as info:
        build_full(image, PackageOptions(extensions=BIG))
    assert str(info.value).startswith("package header would be 80")
    assert f"readers refuse headers over {wn.MAX_HEADER_LENGTH} bytes" in str(info.value)
    assert info.value.exit_code == 4
    with pytest.raises(errors.PackageLimitError, match="package header would be 80"):
        build_delta(FirmwareImage.single(OLD), image, PackageOptions(extensions=BIG))


def _hand_sealed_80kb() -> bytes:
    """What the builder used to write: the same package, limits unchecked."""
    record = PartitionRecord(name="image", address=0, operation="replace", reason="full-package", codec="none",
                             target_size=len(NEW), target_sha256=Partition("image", 0, NEW).sha256(),
                             uncompressed_length=len(NEW))
    header = PackageHeader(kind="full", extensions=BIG, erase_block=4096, ram_required=1 << 20)
    return assemble(header, [(record, NEW)], limits=False)


def test_80kb_header_refused_identically_by_both_readers():
    pkg = _hand_sealed_80kb()
    header_length = int.from_bytes(pkg[wn.FIXED["header_length"].offset:wn.FIXED["header_length"].end], "little")
    assert header_length > wn.MAX_HEADER_LENGTH
    message = f"header_length {header_length} outside {wn.FIXED_HEADER_SIZE}..{wn.MAX_HEADER_LENGTH}"
    report = verify_package(pkg)
    assert type(report.error) is errors.PackageFormatError and str(report.error) == message
    assert [c.name for c in report.checks if c.status == "fail"] == ["header"]
    assert report.restore.bytes_written == 0
    with pytest.raises(errors.PackageFormatError) as info:
        read_package(pkg)
    assert type(info.value) is errors.PackageFormatError and str(info.value) == message
    assert compare_readers(pkg) is False


def test_largest_header_the_readers_take_is_built_and_restored():
    probe = PackageHeader(kind="full", extensions=(("budget", b""), ("chain-prev-state", b"")))
    record = PartitionRecord(name="image", address=0, operation="replace", reason="full-package",
                             target_size=0, target_sha256=bytes(32))
    room = wn.MAX_HEADER_LENGTH - header_size(probe, [record])
    exts = (("budget", bytes(room // 2)), ("chain-prev-state", bytes(room - room // 2)))
    pkg = build_full(FirmwareImage.single(NEW), PackageOptions(extensions=exts))
    assert read_package(pkg).header.header_length == wn.MAX_HEADER_LENGTH
    assert verify_package(pkg).ok and compare_readers(pkg)
    more = (exts[0], (exts[1][0], exts[1][1] + b"\0"))
    with pytest.raises(errors.PackageLimitError, match=f"would be {wn.MAX_HEADER_LENGTH + 1} bytes"):
        build_full(FirmwareImage.single(NEW), PackageOptions(extensions=more))


def test_too_many_partitions_refused_before_any_work(no_work):
    with pytest.raises(errors.PackageLimitError, match="256 partitions; package format v1 holds at most 255"):
        build_full(many(256))
    with pytest.raises(errors.PackageLimitError, match="256 partitions"):
        build_delta(many(256), many(256, 32))


def test_255_partitions_build():
    pkg = build_full(many(255))
    assert len(read_package(pkg).partitions) == 255 and verify_package(pkg).ok


def test_delta_lower_bound_refuses_before_diffing(no_work):
    """Changed partitions count as replace entries (the smaller): still too large, so no diff is made."""
    pad = wn.MAX_HEADER_LENGTH - header_size(PackageHeader(kind="delta", extensions=(("budget", b""),)), [])
    pkg_opts = PackageOptions(extensions=(("budget", bytes(pad - 50)),))
    with pytest.raises(errors.PackageLimitError, match="package header would be"):
        build_delta(many(2), many(2, 32), pkg_opts)


def test_header_only_the_final_plan_pushes_over_is_refused_at_assemble():
    """Fits with the partition as replace (preflight), not as delta (92 vs 56 bytes): refused, typed."""
    old, new = FirmwareImage.single(OLD), FirmwareImage.single(NEW)
    plain = read_package(build_delta(old, new))
    assert plain.partitions[0].operation == "delta"
    budget_probe = PackageHeader(kind="delta", extensions=(("budget", b""),))
    replace_entry = PartitionRecord(name="image", address=0, operation="replace", reason="full-smaller",
                                    target_size=0, target_sha256=bytes(32))
    room = wn.MAX_HEADER_LENGTH - header_size(budget_probe, [replace_entry])
    opts = PackageOptions(extensions=(("budget", bytes(room - 10)),))
    with pytest.raises(errors.PackageLimitError, match=f"package header would be {wn.MAX_HEADER_LENGTH + 26} bytes"):
        build_delta(old, new, opts)


@pytest.mark.parametrize("image, message", [
    (FirmwareImage((Partition("x" * 256, 0, b"a"),)), "partition name is 256 bytes; package format v1 stores at most 255"),
    (FirmwareImage((Partition("bo\u0308t", 0, b"a"),)), "partition name 'bo\u0308t' is not ASCII"),
    (FirmwareImage((Partition("a", 0, b"a"), Partition("a", 4096, b"b"))), "partition 'a' appears twice"),
])
def test_bad_partition_names_refused_before_any_work(no_work, image, message):
    with pytest.raises(errors.PackageLimitError, match=message):
        build_full(image)


@pytest.mark.parametrize("extensions, message", [
    ((("hardware-id", b"A"), ("hardware-id", b"B")), "header extension hardware-id given twice"),
    ((("budget", bytes(wn.MAX_EXTENSION_LENGTH + 1)),), "header extension budget is 65536 bytes; an extension holds at most 65535"),
    ((("resume-journal", b""),), "unknown header extension 'resume-journal'"),
])
def test_bad_extensions_refused_before_any_work(no_work, extensions, message):
    with pytest.raises(errors.PackageLimitError, match=message):
        build_full(FirmwareImage.single(NEW), PackageOptions(extensions=extensions))


def test_every_header_field_checked():
    records = [PartitionRecord(name="a", address=0, operation="keep", reason="unchanged", target_size=1,
                               target_sha256=bytes(32))]
    for header, message in [
        (PackageHeader(kind="sideways"), "unknown package kind 'sideways'"),
        (PackageHeader(kind="full", model="M" * 256), "model is 256 bytes"),
        (PackageHeader(kind="full", tool_version="v\u00e9"), "tool version 'v\u00e9' is not ASCII"),
        (PackageHeader(kind="full", ram_required=1 << 32), "ram required 4294967296 does not fit the 32-bit field"),
        (PackageHeader(kind="full", build_time=1 << 64), "build time 18446744073709551616 does not fit"),
        (PackageHeader(kind="full", format_version=2), "unknown package format version 2"),
        (PackageHeader(kind="full", extensions=(("budget", b""),) * 256), "256 header extensions"),
    ]:
        with pytest.raises(errors.PackageLimitError, match=message):
            check_limits(header, records)
    bad = [PartitionRecord(name="a", address=1 << 32, operation="skip", reason="policy-skip")]
    with pytest.raises(errors.PackageLimitError, match="partition 'a': address 4294967296 does not fit"):
        check_limits(PackageHeader(kind="full"), bad)
    no_hash = [PartitionRecord(name="a", address=0, operation="keep", reason="unchanged")]
    with pytest.raises(errors.PackageLimitError, match="keep needs a target size and 32-byte SHA-256"):
        check_limits(PackageHeader(kind="full"), no_hash)


def test_arithmetic_header_size_is_the_encoded_size():
    rnd = random.Random(3)
    for _ in range(50):
        records = [PartitionRecord(name="n" * rnd.randrange(30), address=rnd.randrange(1 << 32),
                                   operation=rnd.choice(list(wn.OPERATIONS)), reason=rnd.choice(list(wn.REASONS)),
                                   source_size=1, source_sha256=bytes(32), target_size=1, target_sha256=bytes(32))
                   for _ in range(rnd.randrange(6))]
        records = [r if i == 0 else PartitionRecord(**{**r.__dict__, "name": f"{r.name}{i}"}) for i, r in enumerate(records)]
        header = PackageHeader(kind="delta", model="m" * rnd.randrange(40), extensions=tuple(
            (tag, bytes(rnd.randrange(100))) for tag in rnd.sample(sorted(wn.EXTENSION_TAGS), rnd.randrange(4))))
        assert check_limits(header, records) == header_size(header, records)


def test_signature_slot_limit_is_typed():
    body = read_package(build_full(FirmwareImage.single(NEW))).body
    assert len(seal(body, bytes(wn.MAX_SIGNATURE_LENGTH))) == len(body) + wn.MAX_SIGNATURE_LENGTH + wn.TRAILER_SIZE
    with pytest.raises(errors.PackageLimitError, match="signature slot of 1025 bytes exceeds 1024"):
        seal(body, bytes(wn.MAX_SIGNATURE_LENGTH + 1))


def test_plan_checks_catch_what_the_restore_table_refuses():
    part = Partition("image", 0, NEW)
    good = build_mod.plan_full_partition(part, PackageOptions())
    from dataclasses import replace

    lying = replace(good, record=replace(good.record, uncompressed_length=len(NEW) + 1))
    with pytest.raises(errors.PackageLimitError, match="replace payload decodes to 8193 bytes, target is 8192"):
        build_mod.finish_package("full", [lying], PackageOptions(), 4096)
    delta = build_mod.PlannedPartition(PartitionRecord(
        name="image", address=0, operation="delta", reason="delta-smaller", codec="lzma2", source_size=1,
        source_sha256=bytes(32), target_size=1, target_sha256=bytes(32),
        uncompressed_length=wn.max_stream_length(1) + 1), b"x", {}, 1)
    with pytest.raises(errors.PackageLimitError, match="exceeds the bound 64 for a 1-byte target"):
        build_mod.finish_package("delta", [delta], PackageOptions(), 4096)


def test_skip_policy_counts_as_its_small_entry():
    """A full package of skip partitions takes 8 bytes per entry: the preflight uses the plan's real operation."""
    parts = tuple(Partition(f"nv{i}", i * 4096, b"\0", policy=Policy.SKIP) for i in range(3))
    pkg = build_full(FirmwareImage(parts + (Partition("app", 1 << 20, NEW),)))
    assert [p.operation for p in read_package(pkg).partitions] == ["skip"] * 3 + ["replace"]
