"""Signing from the command line: keygen, pubkey, sign, digest, --sign-key, --pubkey.

Includes the external-signing round trip through the openssl command line:
``digest`` -> openssl -> ``sign --signature`` -> ``verify --pubkey``.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess

import pytest

from otapack.features import signing
from otapack.cli import main
from otapack.core.container import read_package
from conftest import run

ALGS = sorted(signing.ALGORITHMS)
OPENSSL = shutil.which("openssl")



def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0][len("error: "):]


@pytest.fixture
def work(tmp_path):
    rng = random.Random(7)
    old = bytes(range(256)) * 8 + rng.randbytes(1024)
    new = bytearray(old)
    new[300:340] = bytes(40)
    (tmp_path / "old.bin").write_bytes(old)
    (tmp_path / "new.bin").write_bytes(bytes(new))
    return tmp_path


@pytest.fixture
def keyfiles(work, capsys):
    out = {}
    for alg in ALGS:
        key, pub = work / f"{alg}.pem", work / f"{alg}.pub.pem"
        assert run(capsys, "keygen", "--type", alg, "-o", key)[0] == 0
        assert run(capsys, "pubkey", key, "-o", pub)[0] == 0
        out[alg] = (key, pub)
    return out


def test_keygen_owner_only_and_never_overwrites(work, capsys):
    key = work / "k.pem"
    code, _, err = run(capsys, "keygen", "--type", "ecdsa-p256", "-o", key)
    assert code == 0 and "key id" in err
    assert key.stat().st_mode & 0o777 == 0o600
    before = key.read_bytes()
    assert b"BEGIN PRIVATE KEY" in before
    code, _, err = run(capsys, "keygen", "-o", key)
    assert code == 6
    assert one_line_error(err) == f"{key} already exists; refusing to overwrite it"
    assert key.read_bytes() == before
    code, _, err = run(capsys, "keygen", "--type", "rsa", "-o", work / "r.pem")
    assert code == 2


@pytest.mark.parametrize("alg", ALGS)
def test_pubkey_formats(work, keyfiles, capsys, alg):
    key, pub = keyfiles[alg]
    public = signing.load_public_key(pub)
    assert public.key_id == signing.load_private_key(key).public.key_id
    code, out, _ = run(capsys, "pubkey", key)
    assert code == 0 and out.encode() == pub.read_bytes() == public.pem()
    assert run(capsys, "pubkey", pub, "--format", "raw", "-o", work / "k.raw")[0] == 0
    raw = (work / "k.raw").read_bytes()
    assert raw == public.raw and len(raw) == (32 if alg == "ed25519" else 65)
    assert run(capsys, "pubkey", key, "--format", "der", "-o", work / "k.der")[0] == 0
    assert signing.load_public_key(work / "k.der").key_id == public.key_id
    code, out, _ = run(capsys, "pubkey", key, "--format", "c-array", "--name", "boot_pub")
    assert code == 0 and f"const uint8_t boot_pub[{len(raw)}]" in out
    assert f"key id {hashlib.sha256(raw).digest()[:8].hex()}" in out
    code, _, err = run(capsys, "pubkey", work / "old.bin")
    assert code == 3 and "is not a PEM or DER public key" in one_line_error(err)


@pytest.mark.parametrize("alg", ALGS)
def test_build_with_sign_key_then_verify(work, keyfiles, capsys, alg):
    key, pub = keyfiles[alg]
    other = keyfiles[next(a for a in ALGS if a != alg)][1]
    pkg = work / "full.otap"
    code, _, err = run(capsys, "full", work / "new.bin", "--model", "EC600N", "--security-counter", 4,
                       "--sign-key", key, "-o", pkg)
    assert code == 0, err
    assert "signed with" in err
    assert len(read_package(pkg.read_bytes()).signature_slot) == 73
    code, out, _ = run(capsys, "verify", pkg, "--pubkey", pub, "--model", "EC600N", "--device-counter", 4)
    assert code == 0 and "result: PASS" in out
    assert f"{alg} signature by key" in out
    # several trusted keys
    assert run(capsys, "verify", pkg, "--pubkey", other, "--pubkey", pub)[0] == 0
    # any other key: exit 8, one line
    code, _, err = run(capsys, "verify", pkg, "--pubkey", other)
    assert code == 8 and "unknown key id" in one_line_error(err)
    # rollback, equal counter, wrong model
    code, _, err = run(capsys, "verify", pkg, "--pubkey", pub, "--device-counter", 5)
    assert code == 8 and one_line_error(err) == "package security counter 4 is below the device's 5"
    assert run(capsys, "verify", pkg, "--pubkey", pub, "--device-counter", 4)[0] == 0
    code, _, err = run(capsys, "verify", pkg, "--pubkey", pub, "--model", "EC200U")
    assert code == 8 and one_line_error(err) == "package is for model 'EC600N', device is 'EC200U'"
    # delta package with --sign-key, applied with --pubkey
    delta = work / "delta.otap"
    assert run(capsys, "diff", work / "old.bin", work / "new.bin", "--sign-key", key, "-o", delta)[0] == 0
    assert run(capsys, "apply", delta, "--old", work / "old.bin", "--pubkey", pub, "-o", work / "out.bin")[0] == 0
    assert (work / "out.bin").read_bytes() == (work / "new.bin").read_bytes()
    code, _, err = run(capsys, "apply", delta, "--old", work / "old.bin", "--pubkey", other, "-o", work / "x.bin")
    assert code == 8 and not (work / "x.bin").exists()


def test_unsigned_package_with_pubkey_is_refused(work, keyfiles, capsys):
    pkg = work / "u.otap"
    assert run(capsys, "full", work / "new.bin", "-o", pkg)[0] == 0
    code, out, err = run(capsys, "verify", pkg, "--pubkey", keyfiles["ed25519"][1])
    assert code == 8
    assert one_line_error(err) == "package is not signed but a signature is required"
    assert "FAIL signature" in out


def test_sign_key_errors_before_building(work, keyfiles, capsys):
    code, _, err = run(capsys, "full", work / "new.bin", "--sign-key", keyfiles["ed25519"][1], "-o", work / "p")
    assert code == 3
    assert one_line_error(err).endswith("holds a public key; signing needs the private key")
    assert not (work / "p").exists()


def test_sign_in_place_and_replace(work, keyfiles, capsys):
    pkg = work / "p.otap"
    assert run(capsys, "full", work / "new.bin", "-o", pkg)[0] == 0
    unsigned = pkg.read_bytes()
    ed_key, ed_pub = keyfiles["ed25519"]
    ec_key, ec_pub = keyfiles["ecdsa-p256"]
    assert run(capsys, "sign", pkg, "--key", ed_key)[0] == 0
    signed = pkg.read_bytes()
    assert signed[: len(unsigned) - 46] == unsigned[:-46]
    assert run(capsys, "verify", pkg, "--pubkey", ed_pub)[0] == 0
    code, _, err = run(capsys, "sign", pkg, "--key", ec_key)
    assert code == 2 and "already signed" in one_line_error(err)
    assert pkg.read_bytes() == signed
    assert run(capsys, "sign", pkg, "--key", ec_key, "--replace", "-o", work / "q.otap")[0] == 0
    assert pkg.read_bytes() == signed  # -o leaves the input alone
    assert run(capsys, "verify", work / "q.otap", "--pubkey", ec_pub)[0] == 0
    for args in (["--key", ed_key, "--signature", pkg], ["--signature", pkg], [], ["--key", ed_key, "--pubkey", ed_pub]):
        code, _, err = run(capsys, "sign", pkg, *args)
        assert code == 2, args
        one_line_error(err)


def test_digest_outputs(work, capsys):
    pkg = work / "p.otap"
    assert run(capsys, "full", work / "new.bin", "-o", pkg)[0] == 0
    digest = read_package(pkg.read_bytes()).body_sha256
    code, out, _ = run(capsys, "digest", pkg)
    assert code == 0 and out == digest.hex() + "\n"
    assert run(capsys, "digest", pkg, "--binary", "-o", work / "d.bin")[0] == 0
    assert (work / "d.bin").read_bytes() == digest
    code, _, err = run(capsys, "digest", work / "new.bin")
    assert code == 4
    one_line_error(err)


def test_ed25519_signed_cli_builds_are_reproducible(work, keyfiles, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    key = keyfiles["ed25519"][0]
    for name in ("a.otap", "b.otap"):
        assert run(capsys, "full", work / "new.bin", "--sign-key", key, "-o", work / name)[0] == 0
    assert (work / "a.otap").read_bytes() == (work / "b.otap").read_bytes()
    for name in ("c.otap", "d.otap"):
        assert run(capsys, "full", work / "new.bin", "-o", work / name)[0] == 0
        assert run(capsys, "sign", work / name, "--key", key)[0] == 0
    assert (work / "c.otap").read_bytes() == (work / "a.otap").read_bytes() == (work / "d.otap").read_bytes()


# -------------------------------------------------- external signing (openssl)


def openssl(*args):
    result = subprocess.run([OPENSSL, *map(str, args)], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed")
@pytest.mark.parametrize("alg", ALGS)
def test_external_signing_with_openssl(work, keyfiles, capsys, alg):
    key, pub = keyfiles[alg]
    other = keyfiles[next(a for a in ALGS if a != alg)][1]
    pkg = work / "ext.otap"
    assert run(capsys, "full", work / "new.bin", "--model", "EC600N", "-o", pkg)[0] == 0
    assert run(capsys, "digest", pkg, "--binary", "-o", work / "digest.bin")[0] == 0
    sig = work / "sig.bin"
    if alg == "ed25519":
        openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", work / "digest.bin", "-out", sig)
        assert len(sig.read_bytes()) == 64
    else:
        openssl("dgst", "-sha256", "-sign", key, "-out", sig, work / "digest.bin")
        assert sig.read_bytes()[0] == 0x30  # DER
    # a signature checked against the wrong public key is never inserted
    before = pkg.read_bytes()
    code, _, err = run(capsys, "sign", pkg, "--signature", sig, "--pubkey", other)
    assert code == 8 and pkg.read_bytes() == before
    one_line_error(err)
    code, _, err = run(capsys, "sign", pkg, "--signature", sig, "--pubkey", pub)
    assert code == 0, err
    code, out, err = run(capsys, "verify", pkg, "--pubkey", pub, "--model", "EC600N")
    assert code == 0, err
    assert f"{alg} signature by key {signing.load_public_key(pub).key_id.hex()} verified" in out
    code, _, err = run(capsys, "verify", pkg, "--pubkey", other)
    assert code == 8
    # and openssl agrees with our public key export and signature over the digest
    if alg == "ecdsa-p256":
        openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, work / "digest.bin")
    else:
        openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", work / "digest.bin",
                "-sigfile", sig)


@pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed")
def test_openssl_generated_keys_are_accepted(work, capsys):
    openssl("genpkey", "-algorithm", "ed25519", "-out", work / "o-ed.pem")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", work / "o-ec.pem")  # SEC1 form
    for name in ("o-ed.pem", "o-ec.pem"):
        pkg = work / f"{name}.otap"
        assert run(capsys, "full", work / "new.bin", "--sign-key", work / name, "-o", pkg)[0] == 0
        assert run(capsys, "pubkey", work / name, "-o", work / f"{name}.pub")[0] == 0
        assert run(capsys, "verify", pkg, "--pubkey", work / f"{name}.pub")[0] == 0
        # the private key itself does not belong in --pubkey (issue 13)
        assert run(capsys, "verify", pkg, "--pubkey", work / name)[0] == 3
