"""Package signatures: keys, signing, external signing and verification.

What is signed is the package's body digest: the trailer's ``body_sha256``,
SHA-256 over header + partition table + payloads, i.e. every byte the device
acts on.  The only unsigned bytes are the signature slot itself and the
trailer fields that describe it (signature_length, total_length, crc32 and
the digest), all of which the restore re-derives and cross-checks.

The signature slot holds exactly one ``SignatureRecord``::

    algorithm (1 B) | key_id (8 B) | signature (fixed size per algorithm)

* ``ed25519`` (id 1): the 64-byte pure Ed25519 signature (RFC 8032) of the
  32 digest bytes.  Deterministic, so signed packages are byte-reproducible.
* ``ecdsa-p256`` (id 2): ECDSA over P-256 with SHA-256 of the 32 digest bytes
  (what ``openssl dgst -sha256 -sign`` produces), stored as 64 bytes
  ``r || s`` (big-endian, 32 bytes each, IEEE P1363) in *low-S* form
  (``s <= n/2``).  DER signatures from openssl are converted on insertion;
  high-S signatures are normalised when inserted and rejected when verified.

The key id is the first 8 bytes of SHA-256 of the raw public key: the 32-byte
Ed25519 key, or the 65-byte uncompressed SEC1 point ``04 || X || Y`` of a
P-256 key.  It is a hint for choosing among several keys; the signature is
what is trusted.

All cryptography comes from the ``cryptography`` package.  This module raises
only ``otapack.errors`` exceptions.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable, Iterable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from otapack.errors import InputError, SignatureError, UsageError
from otapack.core.fileio import read_input, write_atomic
from otapack.core.formats import package as fmt
from otapack.core.formats.wire_numbers import KEY_ID_SIZE, SHA256_SIZE as DIGEST_SIZE, SIGNATURE_ALGORITHM_SIZE
from otapack.core.container import Package, read_package, seal

#: Algorithm byte + key id: the part of a record before the signature.
RECORD_PREFIX_SIZE = SIGNATURE_ALGORITHM_SIZE + KEY_ID_SIZE
#: Environment variable holding the passphrase of an encrypted private key.
PASSWORD_ENV = "OTAPACK_KEY_PASSWORD"

#: Order of the P-256 group (SEC 2, FIPS 186-4 D.1.2.3), for range and low-S checks.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# ---------------------------------------------------------------- algorithms


@dataclass(frozen=True)
class SignatureAlgorithm:
    """One row of the registry: name -> wire id -> implementation."""

    name: str
    wire_id: int
    signature_size: int
    raw_key_size: int
    description: str
    private_type: type
    public_type: type
    generate: Callable[[], object]
    raw_public: Callable[[object], bytes]
    #: Sign the 32-byte digest; returns the stored (canonical) signature.
    sign: Callable[[object, bytes], bytes]
    #: None when valid, else why not ("does not match the package digest").
    verify: Callable[[object, bytes, bytes], "str | None"]
    #: An externally made signature in any accepted encoding -> stored form.
    canonical: Callable[[bytes], bytes]

    @property
    def slot_size(self) -> int:
        return RECORD_PREFIX_SIZE + self.signature_size


def _ed25519_verify(key, digest: bytes, signature: bytes) -> str | None:
    try:
        key.verify(signature, digest)
    except InvalidSignature:
        return "does not match the package digest"
    return None


def _ed25519_canonical(signature: bytes) -> bytes:
    if len(signature) != 64:
        raise SignatureError(f"ed25519 signature is {len(signature)} bytes, expected 64 (raw RFC 8032 signature)")
    return signature


def _p256_raw(r: int, s: int) -> bytes:
    if s > _P256_N // 2:  # low-S: (r, n - s) is the same signature
        s = _P256_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _p256_sign(key, digest: bytes) -> bytes:
    return _p256_raw(*decode_dss_signature(key.sign(digest, ec.ECDSA(hashes.SHA256()))))


def _p256_verify(key, digest: bytes, signature: bytes) -> str | None:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _P256_N and 0 < s < _P256_N):
        return "is malformed: r or s is zero or not below the P-256 group order"
    if s > _P256_N // 2:
        return "is not canonical: s is in the upper half of the group order (otapack stores low-S signatures)"
    try:
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "does not match the package digest"
    return None


def _p256_canonical(signature: bytes) -> bytes:
    """DER (openssl) or raw 64-byte r||s -> low-S r||s."""
    if len(signature) == 64:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    elif signature[:1] == b"\x30":
        try:
            r, s = decode_dss_signature(signature)
        except ValueError:
            raise SignatureError("ecdsa-p256 signature is not valid DER (expected an ECDSA-Sig-Value)") from None
        if encode_dss_signature(r, s) != signature:
            raise SignatureError("ecdsa-p256 signature is not strict DER (trailing or non-minimal bytes)")
    else:
        raise SignatureError(
            f"ecdsa-p256 signature of {len(signature)} bytes is neither DER nor 64-byte raw r||s"
        )
    if not (0 < r < _P256_N and 0 < s < _P256_N):
        raise SignatureError("ecdsa-p256 signature is malformed: r or s is zero or not below the group order")
    return _p256_raw(r, s)


ALGORITHMS: dict[str, SignatureAlgorithm] = {
    a.name: a
    for a in (
        SignatureAlgorithm(
            name="ed25519",
            wire_id=fmt.SIGNATURE_ALGORITHMS["ed25519"],
            signature_size=64,
            raw_key_size=32,
            description="Ed25519 (RFC 8032), deterministic signatures",
            private_type=ed25519.Ed25519PrivateKey,
            public_type=ed25519.Ed25519PublicKey,
            generate=ed25519.Ed25519PrivateKey.generate,
            raw_public=lambda k: k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
            sign=lambda k, digest: k.sign(digest),
            verify=_ed25519_verify,
            canonical=_ed25519_canonical,
        ),
        SignatureAlgorithm(
            name="ecdsa-p256",
            wire_id=fmt.SIGNATURE_ALGORITHMS["ecdsa-p256"],
            signature_size=64,
            raw_key_size=65,
            description="ECDSA P-256 with SHA-256, stored as low-S r||s",
            private_type=ec.EllipticCurvePrivateKey,
            public_type=ec.EllipticCurvePublicKey,
            generate=lambda: ec.generate_private_key(ec.SECP256R1()),
            raw_public=lambda k: k.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            ),
            sign=_p256_sign,
            verify=_p256_verify,
            canonical=_p256_canonical,
        ),
    )
}
ALGORITHM_BY_ID: dict[int, SignatureAlgorithm] = {a.wire_id: a for a in ALGORITHMS.values()}
assert set(ALGORITHMS) == set(fmt.SIGNATURE_ALGORITHMS), "registry and wire table disagree"


def _known_algorithms() -> str:
    return ", ".join(f"{a.name}({a.wire_id})" for a in ALGORITHMS.values())


def get_algorithm(name: str) -> SignatureAlgorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UsageError(f"unknown signature algorithm {name!r} (expected {_known_algorithms()})") from None


def _algorithm_of(key: object, what: str) -> SignatureAlgorithm:
    for alg in ALGORITHMS.values():
        if isinstance(key, (alg.private_type, alg.public_type)):
            if alg.name == "ecdsa-p256" and not isinstance(key.curve, ec.SECP256R1):
                raise InputError(f"{what} is an ECDSA key on curve {key.curve.name}; otapack uses P-256 (secp256r1)")
            return alg
    raise InputError(
        f"{what} is a {type(key).__name__.lstrip('_')} key; otapack signs with {', '.join(ALGORITHMS)}"
    )


# ---------------------------------------------------------------------- keys


@dataclass(frozen=True)
class PublicKey:
    algorithm: SignatureAlgorithm
    key: object
    source: str = ""

    @property
    def raw(self) -> bytes:
        """The raw key bytes a bootloader embeds (32 B Ed25519, 65 B SEC1 point)."""
        return self.algorithm.raw_public(self.key)

    @property
    def key_id(self) -> bytes:
        return key_id(self.raw)

    def pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def der(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class PrivateKey:
    algorithm: SignatureAlgorithm
    key: object
    source: str = ""

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.algorithm, self.key.public_key(), self.source)

    def pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM (what openssl reads)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def key_id(raw_public_key: bytes) -> bytes:
    """First 8 bytes of SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public_key).digest()[:KEY_ID_SIZE]


def generate_key(algorithm: str = "ed25519") -> PrivateKey:
    alg = get_algorithm(algorithm)
    return PrivateKey(alg, alg.generate())


def write_private_key(path: str | os.PathLike, key: PrivateKey) -> None:
    """PKCS#8 PEM, owner-only permissions (0600); never overwrites a file."""
    write_atomic(path, key.pem(), mode=0o600, overwrite=False)


def _password() -> bytes | None:
    value = os.environ.get(PASSWORD_ENV)
    return value.encode() if value else None


def _is_private(data: bytes, label: str) -> bool:
    try:
        _load(data, label, private=True)
    except (ValueError, InputError):
        return False
    return True


def _load(data: bytes, what: str, private: bool):
    pem = data.lstrip().startswith(b"-----BEGIN")
    if private:
        loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
        kwargs = {"password": _password()}
    else:
        loader = serialization.load_pem_public_key if pem else serialization.load_der_public_key
        kwargs = {}
    try:
        return loader(data, **kwargs)
    except TypeError:  # password missing, or given for an unencrypted key
        if _password() is None:
            raise InputError(f"{what} is encrypted; put its passphrase in ${PASSWORD_ENV}") from None
        return loader(data, password=None)
    except UnsupportedAlgorithm as exc:
        raise InputError(f"{what} uses an unsupported key type: {exc}") from None
    except ValueError as exc:  # not this kind of key (the callers try the other kind)
        if private and _password() is not None and "password" in str(exc).lower():
            raise InputError(f"{what}: wrong passphrase in ${PASSWORD_ENV}") from None
        raise


def load_private_key(path: str | os.PathLike, what: str = "signing key") -> PrivateKey:
    """A PEM or DER private key file (PKCS#8 or SEC1/traditional)."""
    label = f"{what} {path}"
    data = read_input(path, what, kind="key")
    try:
        key = _load(data, label, private=True)
    except ValueError:
        try:
            _load(data, label, private=False)
        except ValueError:
            raise InputError(f"{label} is not a PEM or DER private key") from None
        raise InputError(f"{label} holds a public key; signing needs the private key") from None
    return PrivateKey(_algorithm_of(key, label), key, str(path))


def load_public_key(path: str | os.PathLike, what: str = "public key", *, private_ok: bool = True) -> PublicKey:
    """A PEM or DER public key file; a private key file gives its public half,
    unless ``private_ok`` is false: where only a public key belongs (a device's
    trusted keys), a private key there is a leak waiting to happen, so refuse it."""
    label = f"{what} {path}"
    data = read_input(path, what, kind="key")
    try:
        key = _load(data, label, private=False)
    except ValueError:
        if not private_ok and (b"PRIVATE KEY" in data or _is_private(data, label)):
            raise InputError(f"{label} is a private key; give its public key (otapack pubkey KEY -o PUB.pem): "
                             f"verifying needs no secret") from None
        try:
            key = _load(data, label, private=True).public_key()
        except ValueError:
            raise InputError(f"{label} is not a PEM or DER public key") from None
    return PublicKey(_algorithm_of(key, label), key, str(path))


def c_array(public: PublicKey, name: str = "otapack_pubkey") -> str:
    """C source embedding the raw public key and its key id."""
    if not name.isidentifier() or not name.isascii():
        raise UsageError(f"{name!r} is not a C identifier")

    def rows(data: bytes) -> str:
        lines = []
        for i in range(0, len(data), 12):
            lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i : i + 12]) + ",")
        return "\n".join(lines)

    alg = public.algorithm
    layout = ("32-byte Ed25519 public key (RFC 8032)" if alg.name == "ed25519"
              else "65-byte uncompressed SEC1 point 0x04 || X || Y")
    raw = public.raw
    return (
        f"/* otapack {alg.name} public key (signature algorithm id {alg.wire_id}), "
        f"key id {public.key_id.hex()}\n"
        f" * {name}: {layout}\n"
        f" * {name}_id: first 8 bytes of SHA-256 of {name} */\n"
        "#include <stdint.h>\n\n"
        f"const uint8_t {name}[{len(raw)}] = {{\n{rows(raw)}\n}};\n\n"
        f"const uint8_t {name}_id[{KEY_ID_SIZE}] = {{\n{rows(public.key_id)}\n}};\n"
    )


# ---------------------------------------------------------------- records


def build_record(public: PublicKey, signature: bytes) -> bytes:
    """The signature slot for a stored-form ``signature`` made by ``public``."""
    return fmt.SignatureRecord.build(
        dict(algorithm=public.algorithm.name.replace("-", "_"), key_id=public.key_id, signature=signature)
    )


def parse_record(slot: bytes) -> tuple[SignatureAlgorithm, bytes, bytes]:
    """(algorithm, key id, signature) of a slot, with exact-size checks."""
    if not slot:
        raise SignatureError("package is not signed but a signature is required")
    if len(slot) < RECORD_PREFIX_SIZE:
        raise SignatureError(
            f"signature slot of {len(slot)} bytes is truncated: a signature record needs at least "
            f"{RECORD_PREFIX_SIZE} (algorithm and key id) plus the signature"
        )
    alg = ALGORITHM_BY_ID.get(slot[0])
    if alg is None:
        raise SignatureError(f"unknown signature algorithm id {slot[0]} (expected {_known_algorithms()})")
    if len(slot) != alg.slot_size:
        raise SignatureError(
            f"{alg.name} signature slot is {len(slot)} bytes, expected {alg.slot_size} "
            f"(1-byte algorithm, {KEY_ID_SIZE}-byte key id, {alg.signature_size}-byte signature)"
        )
    record = fmt.SignatureRecord.parse(slot)
    return alg, bytes(record.key_id), bytes(record.signature)


def signature_info(package: bytes) -> dict | None:
    """The signature a package carries, for reports: algorithm and key id
    (``error`` when the slot does not parse), or None when it is unsigned.
    It says who signed, not that the signature is valid (``verify`` checks that)."""
    slot = read_package(package, check_digest=False).signature_slot
    if not slot:
        return None
    try:
        alg, key, _ = parse_record(slot)
    except SignatureError as exc:
        return {"error": str(exc)}
    return {"algorithm": alg.name, "key_id": key.hex()}


# ------------------------------------------------------------ sign / verify


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """Sign a 32-byte body digest; returns the signature slot (record bytes)."""
    if len(digest) != DIGEST_SIZE:
        raise UsageError(f"digest is {len(digest)} bytes, expected {DIGEST_SIZE} (SHA-256)")
    return build_record(key.public, key.algorithm.sign(key.key, digest))


def verify_slot(slot: bytes, digest: bytes, public_keys: Iterable[PublicKey]) -> str:
    """Check a signature slot against the body digest; returns a one-line detail."""
    keys = list(public_keys)
    alg, kid, signature = parse_record(slot)
    candidates = [k for k in keys if k.key_id == kid]
    if not candidates:
        known = ", ".join(k.key_id.hex() for k in keys) or "none"
        raise SignatureError(
            f"package is signed with unknown key id {kid.hex()} ({alg.name}); given keys: {known}"
        )
    matching = [k for k in candidates if k.algorithm is alg]
    if not matching:
        raise SignatureError(
            f"signature record says {alg.name} but key id {kid.hex()} is an {candidates[0].algorithm.name} key"
        )
    reason = "does not match the package digest"
    for key in matching:
        reason = alg.verify(key.key, digest, signature)
        if reason is None:
            return f"{alg.name} signature by key {kid.hex()} verified"
    raise SignatureError(f"{alg.name} signature by key {kid.hex()} {reason}")


def make_signature_check(public_keys: Iterable[PublicKey]) -> Callable[[bytes, bytes], str]:
    """``DeviceOptions.signature_check``: a signature by one of the keys is required."""
    keys = tuple(public_keys)
    if not keys:
        raise UsageError("a signature check needs at least one public key")

    def check(slot: bytes, digest: bytes) -> str:
        return verify_slot(slot, digest, keys)

    # What a device embeds, for the C restore (otapack.core.restore.c_engine).
    check.public_keys = tuple((k.algorithm.wire_id, k.key_id, k.raw) for k in keys)
    return check


# ---------------------------------------------------------------- packages


def package_digest(package: bytes) -> bytes:
    """What must be signed: the trailer's body SHA-256 (checked against the body)."""
    return read_package(package).body_sha256


def insert_signature(package, slot: bytes, *, replace: bool = False) -> bytes:
    """The package (bytes, or one already parsed) with ``slot`` in its
    signature slot (trailer re-derived)."""
    parsed = package if isinstance(package, Package) else read_package(package)
    parse_record(slot)
    if parsed.signature_slot and not replace:
        raise UsageError(
            f"package is already signed ({len(parsed.signature_slot)}-byte signature slot); "
            "replacing the signature must be asked for explicitly",
            option="replace",
        )
    return seal(parsed.body, slot)


def sign_package(package: bytes, key: PrivateKey, *, replace: bool = False) -> bytes:
    """Sign a package with a private key; the new signature is verified before use."""
    parsed = read_package(package)
    slot = sign_digest(key, parsed.body_sha256)
    verify_slot(slot, parsed.body_sha256, [key.public])
    return insert_signature(parsed, slot, replace=replace)


def attach_signature(package: bytes, signature: bytes, public: PublicKey, *, replace: bool = False) -> bytes:
    """Insert an externally made signature (raw, or DER for ECDSA) after checking it."""
    parsed = read_package(package)
    slot = build_record(public, public.algorithm.canonical(bytes(signature)))
    try:
        verify_slot(slot, parsed.body_sha256, [public])
    except SignatureError as exc:
        raise SignatureError(f"external signature rejected: {exc} (was it made over `otapack digest` output?)") from None
    return insert_signature(parsed, slot, replace=replace)
