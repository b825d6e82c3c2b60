"""Hostile packages: the container, header, table and device checks (checklist 7A).

A1 truncation at every offset, A2 bit flips, A3/A7 every header and table
field at 0 / 1 / off-by-one / 2^31-1 / 2^31 / 2^32-2 / 2^32-1, unknown
kinds, operations, codecs, extension tags and versions, A5 trailing data,
A8 wrong base image (one flipped byte included: refused at ``precondition``
before the first flash write), A9 wrong model, rollback, another partition
layout.  A11 (bounded work and resources) is in test_hostile_resources.py.  Each case pins the error class, its exit code and the exact message,
and the two header readers (construct and the device's stdlib reader) must
agree on every package built here.
"""

from __future__ import annotations

import random
import re
import zlib

import pytest

from hostile_builders import (
    CORPUS, MODEL, OLD_FILL, body_of, compare_readers, corpus, delta_package, field_map, field_value, full_package,
    mutate_bits, sha, single, stream, window, with_field,
)
from otapack import errors
from otapack.core.build import PackageOptions, build_delta
from otapack.core.formats.package import TRAILER_SIZE
from otapack.core.formats.wire_numbers import REASONS
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.container import read_package, seal
from otapack.core.restore.resources import PayloadRam, fixed_ram, known_ram
from otapack.core.verify import DeviceOptions, verify_package

OLD = OLD_FILL
X = b"X" * 50
NEW = OLD[:100] + X
PATCH = stream(window([(100, 50, 0)], X))
P = "partition 'image'"
U32 = (0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 2, (1 << 32) - 1)


@pytest.fixture(scope="module")
def crafted() -> bytes:
    pkg = delta_package(OLD, PATCH, NEW)
    assert verify_package(pkg, single(OLD), single(NEW)).ok
    return pkg


@pytest.fixture(scope="module")
def synth():
    return corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")


@pytest.fixture(scope="module")
def real_delta(synth) -> bytes:
    old, new = synth
    opts = PackageOptions(model=MODEL, security_counter=3, lzma_dict_size=1 << 16)
    pkg = build_delta(single(old), single(new), opts)
    assert verify_package(pkg, single(old), single(new)).ok
    return pkg


def failed(report) -> list[str]:
    return [c.name for c in report.checks if c.status == "fail"]


def expect(report, cls, message, check=None):
    err = report.error
    assert type(err) is cls, (type(err), err)
    assert err.exit_code == cls.exit_code
    if isinstance(message, re.Pattern):
        assert message.fullmatch(str(err)), str(err)
    else:
        assert str(err) == message
    if check is not None:
        assert failed(report) == [check]


# ----------------------------------------------------------- A1 truncation


@pytest.mark.parametrize("which", ["crafted", "full"])
def test_truncation_at_every_offset(which, crafted):
    pkg = crafted if which == "crafted" else full_package(OLD[:700])
    assert pkg.count(b"OTAF") == 1  # no cut can end on a stray trailer magic
    for cut in range(len(pkg)):
        report = verify_package(pkg[:cut], single(OLD))
        if cut < TRAILER_SIZE:
            expect(report, errors.TruncatedPackageError, "package shorter than its 46-byte trailer", "trailer")
        else:
            expect(report, errors.TruncatedPackageError,
                   "no package trailer at the end: truncated or not a package", "trailer")
        assert report.restore.bytes_written == 0 and report.restore.decompress_calls == 0
        assert report.device.image("image") == OLD
        with pytest.raises(errors.TruncatedPackageError):
            read_package(pkg[:cut])


def test_resealed_truncation_at_every_body_offset(crafted):
    """Cut the body anywhere and recompute CRC/SHA: the header check refuses it."""
    body = body_of(crafted)
    header_length = field_value(crafted, "header_length")
    for cut in range(len(body)):
        pkg = seal(body[:cut])
        report = verify_package(pkg, single(OLD))
        if cut < 44:
            expect(report, errors.PackageFormatError, "signature slot of 0 bytes leaves no room for a header", "trailer")
        elif cut < header_length:
            expect(report, errors.PackageFormatError,
                   f"header_length {header_length} runs past the body ({cut})", "header")
        else:
            expect(report, errors.PackageFormatError,
                   f"header body_length {len(body)} disagrees with the trailer ({cut})", "header")
        assert report.restore.decompress_calls == 0 and report.restore.bytes_written == 0
        compare_readers(pkg)


# ------------------------------------------------------------ A2 bit flips


def test_every_bit_of_header_and_trailer(real_delta, synth):
    """Not resealed: trailer or CRC32 rejects before anything is decoded."""
    old, _ = synth
    header_length = field_value(real_delta, "header_length")
    positions = list(range(header_length)) + list(range(len(real_delta) - TRAILER_SIZE, len(real_delta)))
    for pos in positions:
        for bit in range(8):
            mutant = bytearray(real_delta)
            mutant[pos] ^= 1 << bit
            report = verify_package(bytes(mutant), single(old))
            assert isinstance(report.error, errors.PackageFormatError), (pos, bit, report.error)
            assert failed(report) in (["trailer"], ["crc32"]), (pos, bit, failed(report))
            assert report.restore.decompress_calls == 0 and report.restore.bytes_written == 0
            compare_readers(bytes(mutant))


@pytest.mark.slow
def test_random_bit_flips_fail_integrity_before_decoding(real_delta, synth):
    old, _ = synth
    rnd = random.Random(7)
    body_length = field_value(real_delta, "body_length")
    crc = re.compile(r"package CRC32 mismatch: trailer says ([0-9a-f]{8}), package has ([0-9a-f]{8})")
    for _ in range(10_000):
        flips = rnd.randint(1, 16)
        mutant = real_delta[:0] + mutate_bits(rnd, real_delta[:body_length], flips) + real_delta[body_length:]
        report = verify_package(mutant, single(old))
        expect(report, errors.IntegrityError, crc, "crc32")
        assert report.restore.decompress_calls == 0 and report.restore.blocks_erased == 0


def test_crc_fixed_but_digest_stale(real_delta, synth):
    """A payload flip with the CRC recomputed: the SHA-256 refuses it, still before decoding."""
    old, _ = synth
    header_length = field_value(real_delta, "header_length")
    for pos in range(header_length, field_value(real_delta, "body_length"), 37):
        out = bytearray(real_delta)
        out[pos] ^= 0x10
        out[-8:-4] = (zlib.crc32(bytes(out[:-8])) & 0xFFFFFFFF).to_bytes(4, "little")
        report = verify_package(bytes(out), single(old))
        expect(report, errors.IntegrityError,
               re.compile(r"package SHA-256 mismatch: trailer says [0-9a-f]{64}, package hashes to [0-9a-f]{64}"),
               "digest")
        assert report.restore.decompress_calls == 0 and report.restore.bytes_written == 0


# --------------------------------------------------- A3/A7 header and table


def _field_cases():
    """(field, value) for every numeric header/table field of the crafted package."""
    pkg = delta_package(OLD, PATCH, NEW)
    fm = field_map(pkg)
    cases = []
    for name in ("header_length", "body_length", "ram_required", "lzma_dict_size", "erase_block", "scratch_flash",
                 "security_counter", "0.address", "0.source_size", "0.target_size", "0.payload_offset",
                 "0.payload_length", "0.uncompressed_length"):
        current = field_value(pkg, name)
        for value in sorted(set(U32) | {current - 1, current + 1}):
            if value != current and 0 <= value < 1 << 32:
                cases.append((name, value))
    cases += [("build_time", v) for v in (1, (1 << 32) - 1, (1 << 64) - 1)]
    cases += [("header_length", 65536), ("header_length", 65537)]
    for name, size in (("partition_count", 1), ("extension_count", 1), ("kind", 1), ("flags", 1),
                       ("0.operation", 1), ("0.codec", 1), ("0.reason", 1), ("format_version", 2)):
        top = (1 << (8 * size)) - 1
        for value in sorted({0, 1, 2, 3, 4, 5, 7, 8, top - 1, top} - {field_value(pkg, name)}):
            cases.append((name, value))
    assert fm["0.target_size"][1] == 4
    return cases


def _expected(pkg: bytes, name: str, value: int):
    """(class, message, failing check) the restore must give; None: accepted."""
    H, B = field_value(pkg, "header_length"), field_value(pkg, "body_length")
    R, PL = field_value(pkg, "ram_required"), field_value(pkg, "0.payload_length")
    U = field_value(pkg, "0.uncompressed_length")
    fm = field_map(pkg)
    fixed = fixed_ram(H, 4096)
    # What the restore prices before the first write: LZMA2 at FAST_TUNING (lc+lp = 3), the
    # stream header's 16 tuples, the old-read piece.
    need = known_ram(fixed, PayloadRam(lzma=True, dictionary=min(field_value(pkg, "lzma_dict_size"), U), lclp=3,
                                       window_tuples=16, delta=True))
    grid = "is not an LZMA2 dictionary size (2^n or 3*2^(n-1)) within 4096..67108864 bytes"
    E = errors
    if name == "header_length":
        if not 44 <= value <= 65536:
            return E.PackageFormatError, f"header_length {value} outside 44..65536", "header"
        if value > B:
            return E.PackageFormatError, f"header_length {value} runs past the body ({B})", "header"
        if value < H:
            return E.TruncatedPackageError, f"header truncated inside image: uncompressed length (at offset {H - 4})", "header"
        return E.PackageFormatError, f"{value - H} unexplained bytes after the partition table (at offset {H})", "header"
    if name == "body_length":
        return E.PackageFormatError, f"header body_length {value} disagrees with the trailer ({B})", "header"
    if name == "ram_required":
        if value < fixed:
            return E.ResourceLimitError, f"header declares {value} bytes of RAM, the restore needs at least {fixed}", "resources"
        if value < need:
            return (E.ResourceLimitError,
                    f"{P}: its decoder and patch windows need {need} bytes of RAM, the header declares {value}",
                    "resources")
        if value - need < 50:  # window 0's 50 extra bytes: refused before they are buffered
            return (E.ResourceLimitError, f"{P}: window 0 (output offset 0): 50 extra bytes, the declared RAM "
                                          f"leaves {value - need} for them", "restore:image")
        return None
    if name == "lzma_dict_size":
        return E.PackageFormatError, f"lzma_dict_size {value} {grid}", "resources"
    if name == "erase_block":
        return E.IncompatibleDeviceError, f"package is for {value}-byte erase blocks, device has 4096", "compatibility"
    if name == "scratch_flash":
        if value < 4096:  # the staged 150-byte target takes one erase block until commit
            return (E.ResourceLimitError, f"delta partitions stage 4096 bytes of flash until commit, the header "
                                          f"declares {value} bytes of scratch flash", "resources")
        return None
    if name in ("security_counter", "build_time"):
        return None  # informational without a device counter (see the rollback tests)
    if name == "0.address":
        return (E.IncompatibleDeviceError,
                f"partition 'image' is at 0x0 on the device, the package expects {value:#x}", "table")
    if name == "0.source_size":  # the first source_size bytes of the 4096-byte slot are the base
        if value > len(OLD):
            return (E.PrecursorMismatchError,
                    f"{P}: the device's slot has {len(OLD)} bytes, the package's base image has {value}", "precondition")
        return (E.PrecursorMismatchError,
                f"{P}: wrong base image: the first {value} bytes of the device's 4096-byte slot have SHA-256 "
                f"{sha(OLD[:value]).hex()}, the package expects {sha(OLD).hex()}", "precondition")
    if name == "0.target_size":
        if U > 32 + 16 * (value + 1):
            return E.PackageFormatError, f"{P}: a {U}-byte patch stream is implausible for a {value}-byte target", "table"
        if value > 4096:  # staged in more erase blocks than the header's scratch flash
            staged = -(-value // 4096) * 4096
            return (E.ResourceLimitError, f"delta partitions stage {staged} bytes of flash until commit, the header "
                                          f"declares 4096 bytes of scratch flash", "resources")
        if value < 150:
            return (E.CorruptPatchError,
                    f"{P}: window 0 (output offset 0): window writes 150 bytes, only {value} left of the target",
                    "restore:image") if value else (
                E.PackageFormatError, re.compile(rf"{P}: {U - 3} declared decoded bytes were never used \(at offset \d+\)"),
                "restore:image")
        return E.PackageFormatError, re.compile(rf"{P}: needs 1 more decoded bytes, only 0 declared \(at offset \d+\)"), "restore:image"
    if name == "0.payload_offset":
        return E.PackageFormatError, f"{P}: payload offset {value}, expected {H}", "table"
    if name == "0.payload_length":
        if value < PL:
            return E.PackageFormatError, f"payloads end at {H + value} but body_length is {B}", "table"
        return E.PackageFormatError, f"{P}: payload runs past the end of the body", "table"
    if name == "0.uncompressed_length":
        if value > 32 + 16 * (150 + 1):
            return E.PackageFormatError, f"{P}: a {value}-byte patch stream is implausible for a 150-byte target", "table"
        # The stream no longer decodes to its declared length: refused by the
        # full decode at resources, before the stream header is read.
        if value < U:
            return E.PackageFormatError, f"{P}: LZMA2 stream decodes to more than declared", "resources"
        return E.PackageFormatError, f"{P}: LZMA2 stream ends before its {value - U} remaining declared bytes", "resources"
    if name == "partition_count":
        at = fm["partition_count"][0] + 1
        if value == 0:
            return E.PackageFormatError, f"{H - at} unexplained bytes after the partition table (at offset {at})", "header"
        return E.TruncatedPackageError, f"header truncated inside partition name (at offset {H})", "header"
    if name == "extension_count":
        at = fm["extension_count"][0]
        # the partition count byte (1) is read as tag 1, then a length runs past the header
        return E.TruncatedPackageError, f"header truncated inside extension chain-prev-state (at offset {at + 4})", "header"
    if name == "kind":
        if value in (1, 2):
            return None  # informational: the table says what is done
        if value in (3, 4):  # a minimal-system stage: the device's chain rules apply
            kind = ("minimal-stage1", "minimal-stage2")[value - 3]
            return E.PackageFormatError, f"{kind} package has no chain-prev-state extension", "compatibility"
        return E.PackageFormatError, f"unknown package kind {value} (at offset 6)", "header"
    if name == "flags":
        return E.PackageFormatError, f"header flags {value:#04x} set; v1 defines none (at offset 7)", "header"
    if name == "format_version":
        return E.UnsupportedVersionError, f"unsupported package format version {value} (this otapack reads 1)", "header"
    if name == "0.operation":
        at = fm["0.operation"][0]
        if value == 4:  # delta-v2: the v1 stream's first window is read as a transform section
            return E.CorruptPatchError, f"{P}: map entry 1: non-canonical map (repeats the previous entry or " \
                                        f"starts with a hole)", "restore:image"
        if value == 5:  # delta-in-place: the v1 stream's header and first window are read as the in-place header
            return E.CorruptPatchError, f"{P}: in-place segment 0: direction 100 exceeds 1", "resources"
        if value > 5:
            return E.PackageFormatError, f"{P}: unknown operation {value} (at offset {at})", "header"
        end = at + 3 + {0: 36, 1: 48, 3: 0}[value]
        return E.PackageFormatError, f"{H - end} unexplained bytes after the partition table (at offset {end})", "header"
    if name == "0.codec":
        if value == 0:
            return (E.PackageFormatError, "lzma_dict_size 65536 declared, but no payload uses LZMA2 (must be 0)",
                    "resources")
        return E.PackageFormatError, f"{P}: unknown codec id {value} (at offset {fm['0.codec'][0]})", "header"
    if name == "0.reason":
        if value < len(REASONS):
            return None
        return E.PackageFormatError, f"{P}: unknown reason {value} (at offset {fm['0.reason'][0]})", "header"
    raise AssertionError(name)


@pytest.mark.parametrize("name,value", _field_cases(), ids=lambda v: str(v))
def test_header_field_values(crafted, name, value):
    pkg = with_field(crafted, name, value)
    report = verify_package(pkg, single(OLD), single(NEW))
    want = _expected(crafted, name, value)
    if want is None:
        assert report.ok, report.error
    else:
        expect(report, *want)
        assert report.device.image("image") == OLD  # nothing committed
        if failed(report) != ["restore:image"]:  # every earlier check: no flash touched at all
            assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0
    compare_readers(pkg)


def test_non_ascii_strings(crafted):
    fm = field_map(crafted)
    for name in ("model", "tool_version", "0.name"):
        at = fm[name][0] + 1
        body = bytearray(body_of(crafted))
        body[at] = 0xC3
        pkg = seal(bytes(body))
        report = verify_package(pkg, single(OLD))
        what = {"model": "model", "tool_version": "tool_version", "0.name": "partition name"}[name]
        expect(report, errors.PackageFormatError,
               f"{what} is not ASCII (at offset {at + crafted[fm[name][0]]})", "header")
        compare_readers(pkg)


@pytest.fixture(scope="module")
def with_extension() -> bytes:
    return full_package(OLD[:300], extensions=(("hardware-id", b"EC600N-V2"),))


@pytest.mark.parametrize("tag", [0, 7, 127, 255])
def test_unknown_extension_tag(with_extension, tag):
    pkg = with_field(with_extension, "ext0.tag", tag)
    at = field_map(with_extension)["ext0.tag"][0]
    report = verify_package(pkg, single(OLD))
    expect(report, errors.PackageFormatError, f"unknown critical header extension tag {tag} (at offset {at})", "header")
    compare_readers(pkg)


def test_extension_length_overflow(with_extension):
    for value in (0xFFFF, 0x8000, 10):
        pkg = with_field(with_extension, "ext0.length", value)
        report = verify_package(pkg, single(OLD))
        assert isinstance(report.error, errors.PackageFormatError)
        assert failed(report) == ["header"]
        compare_readers(pkg)


def test_duplicate_extension(with_extension):
    pkg = full_package(OLD[:300], extensions=(("hardware-id", b"A"), ("hardware-id", b"B")))
    report = verify_package(pkg, single(OLD))
    at = field_map(pkg)["ext1.tag"][0]
    expect(report, errors.PackageFormatError, f"header extension hardware-id appears twice (at offset {at})", "header")
    compare_readers(pkg)


def test_valid_extension_accepted(with_extension):
    assert verify_package(with_extension, single(OLD)).ok
    assert compare_readers(with_extension)


# ------------------------------------------------------- A5 trailing data


def test_bytes_after_the_trailer(crafted):
    report = verify_package(crafted + b"\0", single(OLD))
    expect(report, errors.TruncatedPackageError, "no package trailer at the end: truncated or not a package", "trailer")
    report = verify_package(crafted + crafted[-TRAILER_SIZE:], single(OLD))
    expect(report, errors.TruncatedPackageError,
           f"downloaded {len(crafted) + TRAILER_SIZE} bytes but the trailer declares {len(crafted)}", "trailer")


def test_resealed_bytes_after_the_last_payload(crafted):
    body = body_of(crafted)
    pkg = seal(body + b"\0" * 3)
    expect(verify_package(pkg, single(OLD)), errors.PackageFormatError,
           f"header body_length {len(body)} disagrees with the trailer ({len(body) + 3})", "header")
    compare_readers(pkg)


def test_unsigned_bytes_in_the_signature_slot(crafted):
    """A slot on an unsigned device is reported, never trusted (A10)."""
    pkg = seal(body_of(crafted), b"\xAA" * 64)
    report = verify_package(pkg, single(OLD), single(NEW))
    assert report.ok
    sig = next(c for c in report.checks if c.name == "signature")
    assert sig.status == "skipped" and "no public key" in sig.detail
    assert compare_readers(pkg)


@pytest.mark.parametrize("length", [1025, 0x7FFF, 0xFFFF])
def test_signature_length_over_limit(crafted, length):
    out = bytearray(crafted)
    out[-TRAILER_SIZE : -TRAILER_SIZE + 2] = length.to_bytes(2, "little")
    out[-8:-4] = (zlib.crc32(bytes(out[:-8])) & 0xFFFFFFFF).to_bytes(4, "little")
    report = verify_package(bytes(out), single(OLD))
    expect(report, errors.PackageFormatError, f"signature slot length {length} exceeds 1024", "trailer")
    compare_readers(bytes(out))


# ------------------------------------------------- A8 wrong source image


@pytest.mark.parametrize("case", ["one-flipped-byte", "first-byte", "last-byte", "already-updated", "erased",
                                  "shorter", "other-firmware"])
def test_wrong_base_image_refused_before_first_write(real_delta, synth, case):
    old, new = synth
    base = bytearray(old)
    if case == "one-flipped-byte":
        base[len(base) // 3] ^= 0x01
    elif case == "first-byte":
        base[0] ^= 0xFF
    elif case == "last-byte":
        base[-1] ^= 0x80
    elif case == "already-updated":
        base = bytearray(new)
    elif case == "erased":
        base = bytearray(b"\xff" * len(old))
    elif case == "shorter":
        base = base[:-1]
    else:
        base = bytearray(corpus("programmer-0.8.0.bin"))
    base = bytes(base)
    report = verify_package(real_delta, single(base), single(new))
    if len(base) < len(old):
        message = f"{P}: the device's slot has {len(base)} bytes, the package's base image has {len(old)}"
    else:
        message = (f"{P}: wrong base image: the first {len(old)} bytes of the device's {len(base)}-byte slot have "
                   f"SHA-256 {sha(base).hex()}, the package expects {sha(old).hex()}")
    expect(report, errors.PrecursorMismatchError, message, "precondition")
    assert report.error.exit_code == 1
    assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0
    assert not any(c.name.startswith(("restore:", "target:")) for c in report.checks)
    assert report.device.image("image") == base


@pytest.mark.parametrize("tail", [b"\xff", b"\x00" * 100])
def test_base_is_the_start_of_a_longer_slot(real_delta, synth, tail):
    """A device read back whole (a dump longer than the base) holds the base: accepted, and
    the restore leaves exactly the target in the slot (it ends where its content ends)."""
    old, new = synth
    report = verify_package(real_delta, single(old + tail), single(new))
    assert report.ok, report.error
    assert report.device.image("image") == new


def test_wrong_kept_partition(synth):
    old, new = synth
    boot = corpus("programmer-0.8.0.bin")[:8192]
    images = [FirmwareImage((Partition("boot", 0, boot, policy=Policy.KEEP), Partition("app", 0x10000, d)))
              for d in (old, new)]
    pkg = build_delta(images[0], images[1], PackageOptions(lzma_dict_size=1 << 16))
    bad = bytearray(boot)
    bad[100] ^= 1
    device = FirmwareImage((Partition("boot", 0, bytes(bad)), Partition("app", 0x10000, old)))
    report = verify_package(pkg, device, images[1])
    expect(report, errors.PrecursorMismatchError,
           f"partition 'boot': wrong kept partition: the first 8192 bytes of the device's 8192-byte slot have "
           f"SHA-256 {sha(bytes(bad)).hex()}, the package expects {sha(boot).hex()}", "precondition")
    assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0
    assert verify_package(pkg, images[0], images[1]).ok
    assert compare_readers(pkg)


# ---------------------------------------------- A9 wrong device or layout


def test_wrong_model(real_delta, synth):
    old, new = synth
    report = verify_package(real_delta, single(old), single(new), DeviceOptions(model="EG915UEULA"))
    expect(report, errors.IncompatibleDeviceError, f"package is for model {MODEL!r}, device is 'EG915UEULA'",
           "compatibility")
    assert report.error.exit_code == 8
    assert report.restore.bytes_written == 0
    assert verify_package(real_delta, single(old), single(new), DeviceOptions(model=MODEL)).ok


def test_counter_rollback(real_delta, synth):
    old, new = synth
    report = verify_package(real_delta, single(old), single(new), DeviceOptions(security_counter=4))
    expect(report, errors.RollbackError, "package security counter 3 is below the device's 4", "compatibility")
    assert report.error.exit_code == 8 and report.restore.bytes_written == 0
    assert verify_package(real_delta, single(old), single(new), DeviceOptions(security_counter=3)).ok
    top = with_field(real_delta, "security_counter", 0)
    expect(verify_package(top, single(old), single(new), DeviceOptions(security_counter=1)),
           errors.RollbackError, "package security counter 0 is below the device's 1", "compatibility")


def test_ram_budget_and_download_area(real_delta, synth):
    old, new = synth
    declared = field_value(real_delta, "ram_required")
    expect(verify_package(real_delta, single(old), single(new), DeviceOptions(ram_budget=declared - 1)),
           errors.ResourceLimitError,
           f"package declares {declared} bytes of RAM, the device budget is {declared - 1}", "resources")
    expect(verify_package(real_delta, single(old), single(new), DeviceOptions(download_capacity=100)),
           errors.ResourceLimitError, "package exceeds the 100-byte download area", "download")


def _layout(data_app: bytes, *, app_at=0x10000, names=("boot", "app", "nvram"), slot=None):
    boot = corpus("programmer-0.8.0.bin")[:8192]
    return FirmwareImage((
        Partition(names[0], 0, boot, policy=Policy.KEEP),
        Partition(names[1], app_at, data_app, slot_size=slot),
        Partition(names[2], 0x80000, b"\x5a" * 4096, type=PartitionType.NV, policy=Policy.SKIP),
    ))


@pytest.fixture(scope="module")
def layout_delta(synth):
    old, new = synth
    pkg = build_delta(_layout(old), _layout(new), PackageOptions(lzma_dict_size=1 << 16))
    assert verify_package(pkg, _layout(old), _layout(new)).ok
    return pkg


def test_partition_at_another_address(layout_delta, synth):
    old, new = synth
    report = verify_package(layout_delta, _layout(old, app_at=0x20000), _layout(new))
    expect(report, errors.IncompatibleDeviceError,
           "partition 'app' is at 0x20000 on the device, the package expects 0x10000", "table")
    assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0


def test_partition_missing_on_the_device(layout_delta, synth):
    old, new = synth
    report = verify_package(layout_delta, _layout(old, names=("boot", "application", "nvram")), _layout(new))
    expect(report, errors.IncompatibleDeviceError,
           "package targets partition 'app', which the device does not have", "table")
    assert report.restore.bytes_written == 0


def test_slot_too_small_for_target(layout_delta, synth):
    old, new = synth
    assert verify_package(layout_delta, _layout(old, slot=len(new)), _layout(new)).ok
    report = verify_package(layout_delta, _layout(old, slot=len(new) - 1), _layout(new))
    expect(report, errors.IncompatibleDeviceError,
           f"partition 'app': target of {len(new)} bytes exceeds its {len(new) - 1}-byte slot", "table")
    assert report.restore.bytes_written == 0


def test_skip_partition_is_never_touched(layout_delta, synth):
    old, new = synth
    device_image = _layout(old)
    nv = bytes(range(256)) * 16  # device-specific NV data differs from the build's
    device_image = FirmwareImage(device_image.partitions[:2] + (
        Partition("nvram", 0x80000, nv, type=PartitionType.NV, policy=Policy.SKIP),))
    report = verify_package(layout_delta, device_image, _layout(new))
    assert report.ok, report.error
    assert report.device.image("nvram") == nv


# ------------------------------------------ the two header readers agree


FIXTURE_PACKAGES = sorted((CORPUS.parent / "golden").glob("*.pack")) + sorted((CORPUS.parent / "corrupt").glob("*.pack"))


@pytest.mark.parametrize("path", FIXTURE_PACKAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_readers_agree_on_fixture_packages(path):
    pkg = path.read_bytes()
    assert compare_readers(pkg) == (path.parent.name == "golden")
    if path.parent.name == "corrupt":
        assert isinstance(verify_package(pkg).error, errors.PackageFormatError)


def test_readers_agree_on_random_packages():
    rnd = random.Random(11)
    for _ in range(40):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 600)))
        kind = rnd.choice(["full", "delta"])
        extensions = tuple((rnd.choice(["hardware-id", "budget", "layout-digest"]), rnd.randbytes(rnd.randint(0, 40)))
                           for _ in range(rnd.randint(0, 1)))
        kw = dict(model="".join(rnd.choice("ABCXYZ019") for _ in range(rnd.randint(0, 30))),
                  security_counter=rnd.randrange(1 << 32), build_time=rnd.randrange(1 << 64),
                  extensions=extensions, name=f"p{rnd.randrange(1000)}", address=rnd.randrange(1 << 32))
        if kind == "full":
            pkg = full_package(data, codec=rnd.choice(["lzma2", "none"]), **kw)
        else:
            pkg = delta_package(OLD, stream(window([(min(100, len(data)), 0, 0)])), data, **kw)
        slot = rnd.randbytes(rnd.choice([0, 0, 64, 1024]))
        pkg = seal(body_of(pkg), slot)
        assert compare_readers(pkg)

