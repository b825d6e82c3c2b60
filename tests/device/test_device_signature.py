"""The OpenSSL signature port verifies exactly what otapack signs.

Keys and signatures come from otapack's own signing module; each vector is
also judged by otapack's Python verifier, and the C port must reach the same
verdict (and for rejects, the matching reason: malformed, not canonical,
does not match)."""

from __future__ import annotations

import importlib

from device_helpers import builds, run_program  # noqa: F401 (fixtures)

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def signing():
    """otapack's signing module (it moves to otapack.features.signing in the
    package reorganisation; either location works)."""
    for name in ("otapack.features.signing", "otapack.signing"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise AssertionError("otapack signing module not found")


def python_verdict(sg, key, digest: bytes, sig: bytes) -> str:
    alg = key.algorithm
    reason = alg.verify(key.key, digest, sig)
    if reason is None:
        return "ok"
    if "canonical" in reason:
        return "signature-not-canonical"
    if "malformed" in reason:
        return "signature-malformed"
    return "signature-invalid"


def test_signatures_agree_with_otapack(builds, tmp_path):
    sg = signing()
    lines = []
    for name, wire in (("ed25519", 1), ("ecdsa-p256", 2)):
        for k in range(3):
            priv = sg.generate_key(name)
            pub = priv.public
            other = sg.generate_key(name).public
            digest = bytes((k * 37 + i) & 0xFF for i in range(32))
            slot = sg.sign_digest(priv, digest)
            alg, kid, sig = sg.parse_record(slot)
            assert alg.wire_id == wire and kid == pub.key_id
            variants = [("valid", pub, digest, sig),
                        ("other digest", pub, bytes([digest[0] ^ 1]) + digest[1:], sig),
                        ("flipped signature", pub, digest, sig[:10] + bytes([sig[10] ^ 0x40]) + sig[11:]),
                        ("other key", other, digest, sig)]
            if name == "ecdsa-p256":
                r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
                variants += [("high S", pub, digest, sig[:32] + (P256_N - s).to_bytes(32, "big")),
                             ("r = 0", pub, digest, bytes(32) + sig[32:]),
                             ("s = 0", pub, digest, sig[:32] + bytes(32)),
                             ("r = n", pub, digest, P256_N.to_bytes(32, "big") + sig[32:]),
                             ("r = n + r", pub, digest, ((r + P256_N) % 2**256).to_bytes(32, "big") + sig[32:])]
            else:
                s = int.from_bytes(sig[32:], "little")
                if s + ED25519_L < 2**256:  # same point, S not reduced: RFC 8032 rejects it
                    variants.append(("S + L", pub, digest, sig[:32] + (s + ED25519_L).to_bytes(32, "little")))
            for label, key, dig, sgn in variants:
                verdict = python_verdict(sg, key, dig, sgn)
                if label == "valid":
                    assert verdict == "ok"
                lines.append(f"{wire} {key.raw.hex()} {dig.hex()} {sgn.hex()} {verdict}  # {name} {label}")
        # a public key that is not a curve point / not 32 bytes: the port refuses the key
        if name == "ecdsa-p256":
            raw = bytearray(pub.raw)
            raw[-1] ^= 1
            lines.append(f"2 {raw.hex()} {digest.hex()} {sig.hex()} key  # point off the curve")
        else:
            lines.append(f"1 {pub.raw.hex()[:62]} {digest.hex()} {sig.hex()} key  # short key")
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("\n".join(lines) + "\n")
    proc = run_program(builds.host("gcc") / "test_port_openssl", vectors)
    assert f"vectors: {len(lines)}" in proc.stdout
    run_program(builds.host("asan") / "test_port_openssl", vectors)
