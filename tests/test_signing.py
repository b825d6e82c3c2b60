"""Signed packages, anti-rollback and device compatibility (issue 8): the library.

Covers reliability-checklist.md section C: corrupted signature, unknown key,
signature from another package / over another header, wrong-size slot, no
unsigned field outside the slot (every byte flipped), rollback, the equal
counter policy, wrong model, verify-before-decompress, and reproducibility.
"""

from __future__ import annotations

import hashlib
import lzma
import random

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from otapack.features import signing
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.errors import (
    IncompatibleDeviceError,
    InputError,
    IntegrityError,
    OutputError,
    PackageFormatError,
    RollbackError,
    SignatureError,
    UsageError,
)
from otapack.core.formats import package as fmt
from otapack.core.model import FirmwareImage
from otapack.core.container import build_trailer, read_package, seal
from otapack.core.verify import DeviceOptions, make_device, verify_package

ALGS = sorted(signing.ALGORITHMS)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def image(seed: int = 1, size: int = 1200) -> FirmwareImage:
    rng = random.Random(seed)
    # compressible, so the payload is LZMA2 and decompression is observable
    return FirmwareImage.single(bytes(range(256)) * (size // 512) + rng.randbytes(size // 2))


def package(counter: int = 5, model: str = "EC600N", seed: int = 1) -> bytes:
    return build_full(image(seed), PackageOptions(model=model, security_counter=counter, build_time=0))


@pytest.fixture(scope="module")
def keys():
    return {alg: signing.generate_key(alg) for alg in ALGS}


@pytest.fixture(scope="module")
def other_keys():
    return {alg: signing.generate_key(alg) for alg in ALGS}


def check(*public):
    return DeviceOptions(signature_check=signing.make_signature_check(public))


def verify(data: bytes, *public, **device):
    opts = DeviceOptions(signature_check=signing.make_signature_check(public) if public else None, **device)
    return verify_package(data, None, None, opts)


def reseal(body: bytes, slot: bytes) -> bytes:
    """What an attacker can do for free: recompute every unsigned trailer field."""
    return body + slot + build_trailer(body + slot, hashlib.sha256(body).digest(), len(slot))


def slot_of(data: bytes) -> bytes:
    return read_package(data).signature_slot


def body_of(data: bytes) -> bytes:
    return read_package(data).body


# ------------------------------------------------------------------- keys


@pytest.mark.parametrize("alg", ALGS)
def test_key_id_is_sha256_prefix_of_raw_public_key(keys, alg):
    public = keys[alg].public
    assert len(public.raw) == signing.ALGORITHMS[alg].raw_key_size
    assert public.key_id == hashlib.sha256(public.raw).digest()[:8]
    if alg == "ecdsa-p256":
        assert public.raw[0] == 0x04  # uncompressed SEC1 point


@pytest.mark.parametrize("alg", ALGS)
def test_private_key_file_round_trip(tmp_path, keys, alg):
    path = tmp_path / "key.pem"
    signing.write_private_key(path, keys[alg])
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = signing.load_private_key(path)
    assert loaded.algorithm.name == alg
    assert loaded.public.key_id == keys[alg].public.key_id
    # a private key file also yields its public half
    assert signing.load_public_key(path).key_id == keys[alg].public.key_id
    with pytest.raises(OutputError, match="refusing to overwrite"):
        signing.write_private_key(path, keys[alg])


@pytest.mark.parametrize("alg", ALGS)
def test_public_key_pem_and_der_load(tmp_path, keys, alg):
    public = keys[alg].public
    (tmp_path / "k.pem").write_bytes(public.pem())
    (tmp_path / "k.der").write_bytes(public.der())
    assert signing.load_public_key(tmp_path / "k.pem").key_id == public.key_id
    assert signing.load_public_key(tmp_path / "k.der").key_id == public.key_id
    with pytest.raises(InputError, match="holds a public key; signing needs the private key"):
        signing.load_private_key(tmp_path / "k.pem")


def test_bad_key_files_are_input_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(signing.PASSWORD_ENV, raising=False)
    with pytest.raises(InputError, match="does not exist"):
        signing.load_private_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_bytes(b"not a key\n")
    with pytest.raises(InputError, match="is not a PEM or DER private key"):
        signing.load_private_key(tmp_path / "junk.pem")
    with pytest.raises(InputError, match="is not a PEM or DER public key"):
        signing.load_public_key(tmp_path / "junk.pem")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(InputError, match="otapack signs with ed25519, ecdsa-p256"):
        signing.load_private_key(tmp_path / "rsa.pem")
    p384 = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.pem").write_bytes(p384.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(InputError, match="curve secp384r1; otapack uses P-256"):
        signing.load_public_key(tmp_path / "p384.pem")


def test_encrypted_private_key_needs_password_env(tmp_path, monkeypatch, keys):
    monkeypatch.delenv(signing.PASSWORD_ENV, raising=False)
    pem = keys["ed25519"].key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"s3cret"))
    (tmp_path / "enc.pem").write_bytes(pem)
    with pytest.raises(InputError, match=f"is encrypted; put its passphrase in \\${signing.PASSWORD_ENV}"):
        signing.load_private_key(tmp_path / "enc.pem")
    monkeypatch.setenv(signing.PASSWORD_ENV, "wrong")
    with pytest.raises(InputError, match="wrong passphrase"):
        signing.load_private_key(tmp_path / "enc.pem")
    monkeypatch.setenv(signing.PASSWORD_ENV, "s3cret")
    assert signing.load_private_key(tmp_path / "enc.pem").public.key_id == keys["ed25519"].public.key_id
    # the variable set globally does not get in the way of unencrypted keys
    signing.write_private_key(tmp_path / "plain.pem", keys["ecdsa-p256"])
    assert signing.load_private_key(tmp_path / "plain.pem").public.key_id == keys["ecdsa-p256"].public.key_id


def test_registry_matches_wire_table():
    assert {a.name: a.wire_id for a in signing.ALGORITHMS.values()} == fmt.SIGNATURE_ALGORITHMS
    with pytest.raises(UsageError, match="unknown signature algorithm 'rsa'"):
        signing.generate_key("rsa")


@pytest.mark.parametrize("alg", ALGS)
def test_c_array_embeds_raw_key_and_id(keys, alg):
    public = keys[alg].public
    text = signing.c_array(public, "boot_key")
    assert f"const uint8_t boot_key[{len(public.raw)}]" in text
    assert "const uint8_t boot_key_id[8]" in text
    body = text.split("boot_key[")[1].split("};")[0]
    assert bytes(int(x, 16) for x in body.split("{")[1].replace(",", " ").split()) == public.raw
    with pytest.raises(UsageError):
        signing.c_array(public, "not-an-identifier")


# -------------------------------------------------------------- sign/verify


@pytest.mark.parametrize("alg", ALGS)
def test_signed_package_verifies_with_its_key_only(keys, other_keys, alg):
    data = package()
    signed = signing.sign_package(data, keys[alg])
    parsed = read_package(signed)
    assert parsed.body == read_package(data).body  # signing touches only slot + trailer
    assert len(parsed.signature_slot) == signing.ALGORITHMS[alg].slot_size == 73
    assert parsed.signature_slot[0] == fmt.SIGNATURE_ALGORITHMS[alg]
    assert parsed.signature_slot[1:9] == keys[alg].public.key_id
    report = verify(signed, keys[alg].public)
    assert report.ok, report.error
    sig = next(c for c in report.checks if c.name == "signature")
    assert sig.status == "pass" and sig.detail == f"{alg} signature by key {keys[alg].public.key_id.hex()} verified"
    # several trusted keys: the key id picks the right one
    assert verify(signed, *[k.public for k in other_keys.values()], keys[alg].public).ok
    for wrong in [other_keys[a].public for a in ALGS] + [keys[a].public for a in ALGS if a != alg]:
        report = verify(signed, wrong)
        assert isinstance(report.error, SignatureError)
        assert str(report.error) == (f"package is signed with unknown key id {keys[alg].public.key_id.hex()} "
                                     f"({alg}); given keys: {wrong.key_id.hex()}")
        assert report.error.exit_code == 8


def test_signature_is_over_the_trailer_body_digest(keys):
    data = package()
    digest = signing.package_digest(data)
    assert digest == hashlib.sha256(body_of(data)).digest() == read_package(data).body_sha256
    slot = signing.sign_digest(keys["ed25519"], digest)
    keys["ed25519"].public.key.verify(slot[9:], digest)  # Ed25519 over the 32 digest bytes
    slot = signing.sign_digest(keys["ecdsa-p256"], digest)
    r, s = int.from_bytes(slot[9:41], "big"), int.from_bytes(slot[41:], "big")
    keys["ecdsa-p256"].public.key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(UsageError, match="digest is 31 bytes"):
        signing.sign_digest(keys["ed25519"], digest[:31])


def test_unsigned_package_when_a_key_is_required(keys):
    report = verify(package(), keys["ed25519"].public)
    assert isinstance(report.error, SignatureError)
    assert str(report.error) == "package is not signed but a signature is required"
    # without keys, unsigned passes and signed is only reported
    assert verify(package()).ok
    signed = signing.sign_package(package(), keys["ed25519"])
    report = verify(signed)
    assert report.ok
    assert next(c for c in report.checks if c.name == "signature").status == "skipped"
    with pytest.raises(UsageError):
        signing.make_signature_check([])


# ------------------------------------------------------- C1: signature attacks


@pytest.mark.parametrize("alg", ALGS)
def test_corrupted_signature(keys, alg):
    signed = signing.sign_package(package(), keys[alg])
    body, slot = body_of(signed), slot_of(signed)
    for position in (9, 40, 72):
        bad = bytearray(slot)
        bad[position] ^= 0x01
        report = verify(reseal(body, bytes(bad)), keys[alg].public)
        assert isinstance(report.error, SignatureError), report.error
        kid = keys[alg].public.key_id.hex()
        assert str(report.error) in (
            f"{alg} signature by key {kid} does not match the package digest",
            f"{alg} signature by key {kid} is not canonical: s is in the upper half of the group order "
            "(otapack stores low-S signatures)",
        )


@pytest.mark.parametrize("alg", ALGS)
def test_signature_from_another_package(keys, alg):
    """Right key, other header: a counter-1 signature transplanted onto a counter-9 package."""
    old = signing.sign_package(package(counter=1), keys[alg])
    new = package(counter=9)
    forged = reseal(body_of(new), slot_of(old))
    report = verify(forged, keys[alg].public)
    assert isinstance(report.error, SignatureError)
    assert str(report.error) == f"{alg} signature by key {keys[alg].public.key_id.hex()} does not match the package digest"
    other_payload = signing.sign_package(package(seed=2), keys[alg])
    assert isinstance(verify(reseal(body_of(new), slot_of(other_payload)), keys[alg].public).error, SignatureError)


@pytest.mark.parametrize("alg", ALGS)
def test_wrong_size_signature_slot(keys, alg):
    signed = signing.sign_package(package(), keys[alg])
    body, slot = body_of(signed), slot_of(signed)
    public = keys[alg].public
    cases = {
        slot[:-1]: f"{alg} signature slot is 72 bytes, expected 73 (1-byte algorithm, 8-byte key id, "
                   "64-byte signature)",
        slot + b"\x00": f"{alg} signature slot is 74 bytes, expected 73 (1-byte algorithm, 8-byte key id, "
                        "64-byte signature)",
        slot + slot: f"{alg} signature slot is 146 bytes, expected 73 (1-byte algorithm, 8-byte key id, "
                     "64-byte signature)",
        slot[:5]: "signature slot of 5 bytes is truncated: a signature record needs at least 9 "
                  "(algorithm and key id) plus the signature",
        b"": "package is not signed but a signature is required",
    }
    for bad, message in cases.items():
        report = verify(reseal(body, bad), public)
        assert isinstance(report.error, SignatureError), (len(bad), report.error)
        assert str(report.error) == message
        assert report.restore.decompress_calls == 0


def test_unknown_algorithm_and_algorithm_mismatch(keys):
    signed = signing.sign_package(package(), keys["ed25519"])
    body, slot = body_of(signed), slot_of(signed)
    for algorithm_id in (0, 3, 255):
        report = verify(reseal(body, bytes([algorithm_id]) + slot[1:]), keys["ed25519"].public)
        assert str(report.error) == (f"unknown signature algorithm id {algorithm_id} "
                                     "(expected ed25519(1), ecdsa-p256(2))")
    # both signatures are 64 bytes: relabelling the record must still fail
    relabelled = bytes([fmt.SIGNATURE_ALGORITHMS["ecdsa-p256"]]) + slot[1:]
    report = verify(reseal(body, relabelled), keys["ed25519"].public)
    assert str(report.error) == (f"signature record says ecdsa-p256 but key id "
                                 f"{keys['ed25519'].public.key_id.hex()} is an ed25519 key")


def test_ecdsa_signatures_are_stored_low_s_and_high_s_is_rejected(keys):
    key = keys["ecdsa-p256"]
    data = package()
    digest = signing.package_digest(data)
    for _ in range(8):
        slot = signing.sign_digest(key, digest)
        assert int.from_bytes(slot[41:], "big") <= P256_N // 2
    r, s = int.from_bytes(slot[9:41], "big"), int.from_bytes(slot[41:], "big")
    high = slot[:41] + (P256_N - s).to_bytes(32, "big")
    report = verify(reseal(body_of(data), high), key.public)
    assert "is not canonical: s is in the upper half" in str(report.error)
    zero = slot[:9] + bytes(64)
    assert "is malformed: r or s is zero" in str(verify(reseal(body_of(data), zero), key.public).error)
    # an external high-S DER signature is accepted and stored canonically
    signed = signing.attach_signature(data, encode_dss_signature(r, P256_N - s), key.public)
    assert slot_of(signed) == slot
    # non-strict DER (trailing garbage) and junk are refused
    with pytest.raises(SignatureError, match="not valid DER"):
        signing.attach_signature(data, encode_dss_signature(r, s) + b"\x00", key.public)
    with pytest.raises(SignatureError, match="neither DER nor 64-byte raw"):
        signing.attach_signature(data, b"\x01" * 50, key.public)


@pytest.mark.parametrize("alg", ALGS)
def test_external_signature_round_trip(keys, other_keys, alg):
    data = package()
    digest = signing.package_digest(data)
    if alg == "ed25519":
        external = keys[alg].key.sign(digest)
    else:  # what `openssl dgst -sha256 -sign` gives: DER over SHA-256(digest)
        external = keys[alg].key.sign(digest, ec.ECDSA(hashes.SHA256()))
        assert external[0] == 0x30
    signed = signing.attach_signature(data, external, keys[alg].public)
    assert verify(signed, keys[alg].public).ok
    with pytest.raises(SignatureError, match="external signature rejected: .* does not match the package digest"):
        signing.attach_signature(package(counter=6), external, keys[alg].public)
    with pytest.raises(SignatureError, match="external signature rejected"):
        signing.attach_signature(data, external, other_keys[alg].public)


def test_insert_refuses_to_replace_unless_asked(keys):
    signed = signing.sign_package(package(), keys["ed25519"])
    with pytest.raises(UsageError, match="already signed"):
        signing.sign_package(signed, keys["ecdsa-p256"])
    resigned = signing.sign_package(signed, keys["ecdsa-p256"], replace=True)
    assert verify(resigned, keys["ecdsa-p256"].public).ok
    assert not verify(resigned, keys["ed25519"].public).ok
    with pytest.raises(SignatureError, match="unknown signature algorithm id 9"):
        signing.insert_signature(package(), b"\x09" + bytes(72))
    with pytest.raises(IntegrityError):  # never signs a body that does not match its digest
        corrupt = bytearray(package())
        corrupt[200] ^= 1
        signing.sign_package(reseal_keep_digest(bytes(corrupt)), keys["ed25519"])


def reseal_keep_digest(data: bytes) -> bytes:
    """Fix only the CRC, so the digest mismatch is what remains."""
    parsed_len = len(data) - fmt.TRAILER_SIZE
    trailer = fmt.Trailer.parse(data[parsed_len:])
    body = data[: parsed_len - trailer.signature_length]
    return body + build_trailer(body, trailer.body_sha256, 0)


# --------------------------------------- C / A10: no unsigned field but the slot


@pytest.mark.parametrize("alg", ALGS)
def test_every_byte_outside_the_slot_is_covered(keys, alg):
    """Flip each byte of a signed package, recompute every re-derivable field, verify.

    Nothing may pass, nothing may be decompressed or written, and every flip
    the parser accepts must be caught by the signature.
    """
    signed = signing.sign_package(package(), keys[alg])
    parsed = read_package(signed)
    body, slot = parsed.body, parsed.signature_slot
    body_length = len(body)
    caught_by_signature = 0
    for position in range(len(signed)):
        flipped = bytearray(signed)
        flipped[position] ^= 0xFF
        flipped = bytes(flipped)
        if position < body_length:  # header, table or payload: attacker re-seals the trailer
            candidates = [flipped, reseal(flipped[:body_length], slot)]
        elif position < body_length + len(slot):  # the slot itself
            candidates = [flipped, reseal(body, flipped[body_length:body_length + len(slot)])]
        else:  # trailer fields: fix the CRC too, unless the CRC is what was flipped
            candidates = [flipped]
            if position < len(signed) - fmt.TRAILER_CRC_TAIL:
                head = flipped[: len(signed) - fmt.TRAILER_CRC_TAIL]
                crc = (__import__("zlib").crc32(head) & 0xFFFFFFFF).to_bytes(4, "little")
                candidates.append(head + crc + fmt.TRAILER_MAGIC)
        for candidate in candidates:
            report = verify(candidate, keys[alg].public)
            assert report.error is not None, f"flip at {position} accepted"
            assert report.restore.decompress_calls == 0 and report.restore.bytes_written == 0
            failed = next(c.name for c in report.checks if c.status == "fail")
            assert failed in ("trailer", "crc32", "header", "digest", "signature"), (position, failed)
        if isinstance(report.error, SignatureError):
            caught_by_signature += 1
    # every payload byte and most header bytes parse fine: the signature catches them
    assert caught_by_signature >= body_length - parsed.header.header_length + len(slot)


# ---------------------------------------------- C5: verify before decompressing


def test_bad_signature_means_zero_decompression(keys, monkeypatch):
    constructed = []
    real = lzma.LZMADecompressor

    def counting(*args, **kwargs):
        constructed.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(lzma, "LZMADecompressor", counting)
    key = keys["ed25519"]
    old = image(1)
    changed = bytearray(old.partitions[0].data)
    changed[100:140] = bytes(40)
    new = FirmwareImage.single(bytes(changed))
    delta = build_delta(old, new, PackageOptions(build_time=0))
    for data, base in ((package(), None), (delta, old)):
        assert any(p.codec == "lzma2" for p in read_package(data).partitions)
        signed = signing.sign_package(data, key)
        good = verify_package(signed, base, None, check(key.public))
        assert good.ok and good.restore.decompress_calls > 0 and constructed
        constructed.clear()
        bad = bytearray(slot_of(signed))
        bad[20] ^= 0x40
        for attempt in (reseal(body_of(signed), bytes(bad)), data):
            report = verify_package(attempt, base, None, check(key.public))
            assert isinstance(report.error, SignatureError)
            assert report.restore.decompress_calls == 0
            assert constructed == []
            assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0
            statuses = {c.name: c.status for c in report.checks}
            assert statuses["signature"] == "fail"
            assert all(statuses[n] == "skipped" for n in ("compatibility", "table", "resources", "precondition"))


# ----------------------------------------------- C2: rollback and compatibility


@pytest.mark.parametrize("alg", ALGS)
def test_rollback_and_equal_counter_policy(keys, alg):
    signed = signing.sign_package(package(counter=5), keys[alg])
    public = keys[alg].public
    report = verify(signed, public, security_counter=6)
    assert isinstance(report.error, RollbackError) and report.error.exit_code == 8
    assert str(report.error) == "package security counter 5 is below the device's 6"
    assert verify(signed, public, security_counter=5).ok  # equal: accepted (re-install)
    assert verify(signed, public, security_counter=4).ok
    assert verify(signed, public, security_counter=0).ok


def test_rejected_package_leaves_device_counter_alone(keys):
    signed = signing.sign_package(package(counter=2), keys["ed25519"])
    opts = DeviceOptions(security_counter=3, signature_check=signing.make_signature_check([keys["ed25519"].public]))
    device = make_device(None, opts, erase_block=4096)
    report = verify_package(signed, None, None, opts, device=device)
    assert isinstance(report.error, RollbackError)
    assert device.security_counter == 3 and report.restore.bytes_written == 0


def test_wrong_model(keys):
    signed = signing.sign_package(package(model="EC600N"), keys["ed25519"])
    report = verify(signed, keys["ed25519"].public, model="EC200U")
    assert isinstance(report.error, IncompatibleDeviceError) and report.error.exit_code == 8
    assert str(report.error) == "package is for model 'EC600N', device is 'EC200U'"
    assert verify(signed, keys["ed25519"].public, model="EC600N").ok


def test_signature_is_checked_before_counter_and_model(keys, other_keys):
    signed = signing.sign_package(package(counter=1, model="A"), keys["ed25519"])
    report = verify(signed, other_keys["ed25519"].public, model="B", security_counter=9)
    assert isinstance(report.error, SignatureError)


# ------------------------------------------------------ D4: reproducibility


def test_ed25519_signed_packages_are_byte_reproducible(keys):
    key = keys["ed25519"]
    first = signing.sign_package(build_full(image(3), PackageOptions(model="M", build_time=7)), key)
    second = signing.sign_package(build_full(image(3), PackageOptions(model="M", build_time=7)), key)
    assert first == second


def test_ecdsa_signed_packages_differ_only_in_the_signature(keys):
    key = keys["ecdsa-p256"]
    first = signing.sign_package(build_full(image(3), PackageOptions(build_time=7)), key)
    second = signing.sign_package(build_full(image(3), PackageOptions(build_time=7)), key)
    assert body_of(first) == body_of(second)
    assert slot_of(first)[:9] == slot_of(second)[:9]
    assert verify(first, key.public).ok and verify(second, key.public).ok


def test_seal_and_read_agree_on_signed_layout(keys):
    """The signed package is body + slot + trailer, nothing else."""
    data = package()
    signed = signing.sign_package(data, keys["ed25519"])
    parsed = read_package(signed)
    assert signed == seal(parsed.body, parsed.signature_slot)
    assert len(signed) == len(data) + 73
    with pytest.raises(SignatureError, match="slot is 1097 bytes, expected 73"):
        signing.insert_signature(data, parsed.signature_slot + bytes(1024))
    with pytest.raises(PackageFormatError, match="exceeds 1024"):
        seal(parsed.body, parsed.signature_slot + bytes(1024))
