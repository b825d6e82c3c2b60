"""Golden packages and the corrupt set derived from them.

Regenerate after an intended format or diff change:
    pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

import pytest

from otapack import FirmwareImage, PackageOptions, build_delta, build_full, read_package, verify_package
from otapack import errors
from otapack.core.formats.package import TRAILER_SIZE
from otapack.core.container import seal

from conftest import FIXTURES

GOLDEN = FIXTURES / "golden"
CORRUPT = FIXTURES / "corrupt"

OPTIONS = PackageOptions(model="EC600NCNLC", source_version="0.8.0", target_version="0.9.0", security_counter=3)


def build_goldens(old: bytes, new: bytes) -> dict[str, bytes]:
    return {
        "programmer-full.pack": build_full(FirmwareImage.single(new), OPTIONS),
        "programmer-delta.pack": build_delta(FirmwareImage.single(old), FirmwareImage.single(new), OPTIONS),
    }


def body_of(pkg: bytes) -> bytearray:
    return bytearray(pkg[: int.from_bytes(pkg[12:16], "little")])


def resealed(pkg: bytes, edit) -> bytes:
    body = body_of(pkg)
    edit(body)
    return seal(bytes(body))


def _set(offset: int, value: bytes):
    def edit(body: bytearray) -> None:
        body[offset : offset + len(value)] = value
    return edit


def _flip_crc(pkg: bytes) -> bytes:
    out = bytearray(pkg)
    out[-8] ^= 0xFF
    return bytes(out)


def _flip_payload_keep_crc(pkg: bytes) -> bytes:
    """A payload byte changed and the CRC recomputed, the SHA-256 left stale."""
    import zlib

    out = bytearray(pkg)
    out[int.from_bytes(pkg[8:12], "little")] ^= 0x01
    crc = zlib.crc32(bytes(out[:-8])) & 0xFFFFFFFF
    out[-8:-4] = crc.to_bytes(4, "little")
    return bytes(out)


def _total_length(pkg: bytes) -> bytes:
    out = bytearray(pkg)
    pos = len(pkg) - TRAILER_SIZE + 2
    out[pos : pos + 4] = (len(pkg) + 1).to_bytes(4, "little")
    return bytes(out)


def _payload_offset_shift(pkg: bytes) -> bytes:
    parsed = read_package(pkg)
    record = parsed.partitions[0]
    offset = pkg.index(record.payload_offset.to_bytes(4, "little") + record.payload_length.to_bytes(4, "little"))
    return resealed(pkg, _set(offset, (record.payload_offset + 1).to_bytes(4, "little")))


#: defect name -> (source golden, mutation, error class, exact message)
CORRUPTIONS = {
    "truncated-trailer": ("programmer-full.pack", lambda p: p[:-10], errors.TruncatedPackageError,
                          None),
    "truncated-to-header": ("programmer-delta.pack", lambda p: p[:100], errors.TruncatedPackageError, None),
    "trailing-garbage": ("programmer-full.pack", lambda p: p + b"\0" * 7, errors.TruncatedPackageError, None),
    "bad-magic": ("programmer-full.pack", lambda p: resealed(p, _set(0, b"XXXX")), errors.PackageFormatError,
                  "not an otapack package: magic b'XXXX', expected b'OTAP'"),
    "unknown-version": ("programmer-full.pack", lambda p: resealed(p, _set(4, b"\x09\x00")),
                        errors.UnsupportedVersionError,
                        "unsupported package format version 9 (this otapack reads 1)"),
    "bad-crc": ("programmer-full.pack", _flip_crc, errors.IntegrityError, None),
    "stale-sha256": ("programmer-delta.pack", _flip_payload_keep_crc, errors.IntegrityError, None),
    "wrong-total-length": ("programmer-full.pack", _total_length, errors.TruncatedPackageError, None),
    "unknown-kind": ("programmer-full.pack", lambda p: resealed(p, _set(6, b"\x09")), errors.PackageFormatError, None),
    "flags-set": ("programmer-full.pack", lambda p: resealed(p, _set(7, b"\x01")), errors.PackageFormatError,
                  "header flags 0x01 set; v1 defines none"),
    "payload-gap": ("programmer-delta.pack", _payload_offset_shift, errors.PackageFormatError, None),
}

#: Messages of the corruptions pinned above as None are computed from the
#: fixture sizes, so they are checked here against the exact text.
def expected_message(name: str, pkg: bytes) -> str:
    n = len(pkg)
    messages = {
        "truncated-trailer": "no package trailer at the end of the file (expected magic b'OTAF', found "
                             f"{pkg[-4:]!r}): truncated or not an otapack package",
        "truncated-to-header": f"no package trailer at the end of the file (expected magic b'OTAF', found {pkg[-4:]!r}): "
                               "truncated or not an otapack package",
        "trailing-garbage": "no package trailer at the end of the file (expected magic b'OTAF', found "
                            "b'\\x00\\x00\\x00\\x00'): truncated or not an otapack package",
        "wrong-total-length": f"package is {n} bytes but its trailer declares {n + 1}",
        "unknown-kind": "malformed header: field kind: unknown value 9 (expected full(1), delta(2), "
                        "minimal_stage1(3), minimal_stage2(4)) (at offset 6)",
    }
    return messages.get(name, CORRUPTIONS[name][3])


def test_goldens_rebuild_identically(programmer_old, programmer_new, update_golden):
    built = build_goldens(programmer_old, programmer_new)
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        for name, data in built.items():
            (GOLDEN / name).write_bytes(data)
    for name, data in built.items():
        assert (GOLDEN / name).read_bytes() == data, f"{name} changed; rerun with --update-golden if intended"


def test_goldens_verify(programmer_old, programmer_new):
    full = (GOLDEN / "programmer-full.pack").read_bytes()
    delta = (GOLDEN / "programmer-delta.pack").read_bytes()
    assert verify_package(full, None, FirmwareImage.single(programmer_new)).ok
    report = verify_package(delta, FirmwareImage.single(programmer_old), FirmwareImage.single(programmer_new))
    assert report.ok, report.error


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_fixture(name, update_golden):
    source, mutate, error_class, _ = CORRUPTIONS[name]
    path = CORRUPT / f"{name}.pack"
    if update_golden:
        CORRUPT.mkdir(exist_ok=True)
        path.write_bytes(mutate((GOLDEN / source).read_bytes()))
    pkg = path.read_bytes()
    with pytest.raises(error_class) as caught:
        read_package(pkg)
    assert type(caught.value) is error_class
    message = expected_message(name, pkg)
    if message is not None:
        assert str(caught.value) == message
    # the device restore refuses it too, with the same class of error
    report = verify_package(pkg)
    assert isinstance(report.error, errors.PackageFormatError), report.error


def test_corrupt_messages_exact(programmer_new):
    pkg = (CORRUPT / "bad-crc.pack").read_bytes()
    with pytest.raises(errors.IntegrityError, match=r"^package CRC32 mismatch: trailer says [0-9a-f]{8}, file has [0-9a-f]{8}$"):
        read_package(pkg)
    pkg = (CORRUPT / "stale-sha256.pack").read_bytes()
    with pytest.raises(errors.IntegrityError, match=r"^package SHA-256 mismatch: trailer says [0-9a-f]{64}, body hashes to [0-9a-f]{64}$"):
        read_package(pkg)
    pkg = (CORRUPT / "payload-gap.pack").read_bytes()
    record = read_package((GOLDEN / "programmer-delta.pack").read_bytes()).partitions[0]
    with pytest.raises(errors.PackageFormatError) as caught:
        read_package(pkg)
    assert str(caught.value) == f"partition 'image': payload offset {record.payload_offset + 1}, expected {record.payload_offset}"


def test_truncation_at_every_offset():
    pkg = (GOLDEN / "programmer-delta.pack").read_bytes()
    for cut in range(len(pkg)):
        with pytest.raises(errors.PackageFormatError):
            read_package(pkg[:cut])
        report = verify_package(pkg[:cut])
        assert isinstance(report.error, errors.PackageFormatError), (cut, report.error)


def test_every_bit_flip_in_header_and_footer():
    pkg = (GOLDEN / "programmer-delta.pack").read_bytes()
    header_length = int.from_bytes(pkg[8:12], "little")
    positions = list(range(header_length)) + list(range(len(pkg) - TRAILER_SIZE, len(pkg)))
    for pos in positions:
        for bit in range(8):
            mutant = bytearray(pkg)
            mutant[pos] ^= 1 << bit
            with pytest.raises(errors.PackageFormatError):
                read_package(bytes(mutant))
            report = verify_package(bytes(mutant))
            assert isinstance(report.error, errors.PackageFormatError), (pos, bit, report.error)


@pytest.mark.slow
def test_resealed_header_bit_flips_never_crash(programmer_old):
    """With CRC and digest recomputed, the parser itself sees every flipped bit."""
    pkg = (GOLDEN / "programmer-delta.pack").read_bytes()
    header_length = int.from_bytes(pkg[8:12], "little")
    old = FirmwareImage.single(programmer_old)
    for pos in range(header_length):
        for bit in range(8):
            mutant = resealed(pkg, lambda body: body.__setitem__(pos, body[pos] ^ (1 << bit)))
            try:
                read_package(mutant)
            except errors.OtapackError:
                pass
            report = verify_package(mutant, old)
            assert report.error is None or isinstance(report.error, errors.OtapackError)
