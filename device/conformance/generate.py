#!/usr/bin/env python3
"""Conformance vectors for device implementations of the otapack restore.

    python3 device/conformance/generate.py [--out DIR] [--check]

Writes, into DIR (default: device/conformance/vectors), a set of small
packages with the old image each is installed over and ``manifest.json``:
per vector the package, the old image, the device settings (model, hardware
id, security counter, RAM budget, signature keys), the expected verdict
("pass" or "fail"), the failing check (docs/verifier.md names), its error
class and the SHA-256 of every partition's flash after the run.  The
expectations come from otapack's Python restore, and the generator refuses
to write a vector that does not fail at the check it was built to hit.
``--check`` regenerates into a temporary directory and compares it with DIR
byte for byte (the committed vectors are what this script writes).

Everything is deterministic: fixed images, fixed build time, and an Ed25519
test key whose seed is written below (a *test* key: never provision it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path

from otapack import DeviceOptions, FirmwareImage, PackageOptions, build_delta, build_full, verify_package
from otapack.core.model import Partition
from otapack.core.container import PackageHeader, assemble, read_package, seal
from otapack.core.formats import package as fmt

HERE = Path(__file__).resolve().parent
MODEL = "OTA-CONFORM"
HWID = "board-rev-b"
DICT = 1 << 16
BUILD_TIME = 1_700_000_000
#: Seed of the Ed25519 test key the signed vectors are signed with.
TEST_KEY_SEED = bytes(range(32))


def images() -> tuple[bytes, bytes]:
    """An old and a new 12 KiB 'firmware': code-like words with an edit, an
    insertion and a tail change, so the delta has copies, adds and extra bytes."""
    rnd = random.Random(14)
    words = [rnd.getrandbits(32).to_bytes(4, "little") for _ in range(64)]
    old = b"".join(words[rnd.randrange(64)] for _ in range(3072))
    new = bytearray(old)
    new[100:140] = bytes(40)
    new[5000:5000] = b"inserted-by-version-2" * 8
    new[-600:] = bytes(rnd.getrandbits(8) for _ in range(600))
    return old, bytes(new[: len(old)])


def thumb2_images() -> tuple[bytes, bytes]:
    """12 KiB of real Cortex-M3 firmware (the synthesizer fixture, versions 1
    and 2), where code moved: the delta-v2 transform keeps the package smaller."""
    corpus = HERE.parents[1] / "tests" / "fixtures" / "corpus"
    return tuple((corpus / f"synthesizer-{v}.bin").read_bytes()[:12288] for v in (1, 2))


def _opts(**kw) -> PackageOptions:
    base = dict(model=MODEL, hardware_id=HWID, security_counter=5, lzma_dict_size=DICT, build_time=BUILD_TIME,
                window_size=4096, max_window_tuples=64)
    base.update(kw)
    return PackageOptions(**base)


def _reseal(pkg: bytes, edit) -> bytes:
    """``pkg`` with its body edited by ``edit(bytearray)`` and CRC/SHA-256 redone."""
    p = read_package(pkg)
    body = bytearray(p.body)
    edit(body)
    return seal(bytes(body), p.signature_slot)


def _reassemble(pkg: bytes, header_edit=None, records_edit=None) -> bytes:
    p = read_package(pkg)
    parts = [(r, p.payload(r)) for r in p.partitions]
    header = p.header if header_edit is None else header_edit(p.header)
    if records_edit is not None:
        parts = records_edit(parts)
    return assemble(header, parts, p.signature_slot, limits=False)


def _fix_crc(data: bytes) -> bytes:
    """Recompute only the trailer's CRC-32 (the SHA-256 is left as it is)."""
    out = bytearray(data)
    crc = zlib.crc32(bytes(out[: -fmt.TRAILER_CRC_TAIL])) & 0xFFFFFFFF
    # The CRC is the last 4 bytes before the trailer's tail (the magic).
    pos = len(out) - fmt.TRAILER_CRC_TAIL
    out[pos : pos + 4] = crc.to_bytes(4, "little")
    return bytes(out)


def vectors():
    """(name, package, old image or None, device settings, intended failing check or None)."""
    old, new = images()
    o, n = FirmwareImage.single(old), FirmwareImage.single(new)
    full = build_full(n, _opts())
    delta = build_delta(o, n, _opts())
    dev = dict(model=MODEL, hardware_id=HWID, security_counter=5)
    yield "pass-full", full, old, dev, None
    yield "pass-delta", delta, old, dev, None
    yield "pass-full-blank", full, None, dev, None

    yield "trailer-truncated", full[:-3], old, dev, "trailer"
    yield "crc32-flipped-payload-byte", full[:200] + bytes([full[200] ^ 1]) + full[201:], old, dev, "crc32"
    flipped = bytearray(delta)
    flipped[150] ^= 0x40
    yield "digest-body-edited-crc-redone", _fix_crc(bytes(flipped)), old, dev, "digest"
    yield "header-format-version", _reseal(full, lambda b: b.__setitem__(slice(4, 6), (99).to_bytes(2, "little"))), \
        old, dev, "header"
    yield "compatibility-model", full, old, dict(dev, model="OTHER-MODEL"), "compatibility"
    yield "compatibility-hardware-id", full, old, dict(dev, hardware_id="board-rev-a"), "compatibility"
    yield "compatibility-security-counter", full, old, dict(dev, security_counter=6), "compatibility"
    # built for 8 KiB erase blocks, installed on a device with 4 KiB ones: refused before any write
    yield "compatibility-erase-block", _reassemble(full, header_edit=lambda h: replace(h, erase_block=8192)), old, \
        dev, "compatibility"
    # A device that knows its slots compares the package's layout-digest with its own.
    slot = 16384
    lo, ln = _slotted(old, slot), _slotted(new, slot)
    laid = build_delta(lo, ln, _opts())
    yield "pass-delta-layout", laid, old, dict(dev, slot_size=slot), None
    yield "compatibility-layout", laid, old, dict(dev, slot_size=2 * slot), "compatibility"
    yield "table-duplicate-partition", _reassemble(full, records_edit=lambda parts: parts + parts), old, dev, "table"
    yield "resources-ram-budget", delta, old, dict(dev, ram_budget=read_package(delta).header.ram_required - 1), "resources"
    other_old = bytes(b ^ 0x5A for b in old[:64]) + old[64:]
    yield "precondition-wrong-old-image", delta, other_old, dev, "precondition"
    # The record declares the bad stream's own length: a stream that decodes to another length is
    # refused at resources, before its patch rules are reached.
    bad_stream, bad_payload = _bad_delta_payload()
    yield "delta-validation-bad-stream", _reassemble(delta, records_edit=lambda parts: [
        (replace(r, uncompressed_length=len(bad_stream)), bad_payload) if r.operation == "delta" else (r, pl)
        for r, pl in parts]), old, dev, "restore"
    yield "target-hash-mismatch", _reassemble(full, records_edit=lambda parts: [
        (replace(r, target_sha256=hashlib.sha256(b"not the image").digest()), pl) for r, pl in parts]), \
        old, dev, "target"

    # two partitions: a boot kept as it is, an app patched (the old image is both, concatenated)
    parts = [["boot", 0, 4096], ["app", 4096, 12288]]
    mo, mn = _multi(old[:4096] + old, parts), _multi(old[:4096] + new, parts)
    multi = build_delta(mo, mn, _opts())
    yield "pass-delta-multi-partition", multi, old[:4096] + old, dict(dev, partitions=parts), None
    yield "precondition-multi-partition-wrong-app", multi, old[:4096] + other_old, dict(dev, partitions=parts), \
        "precondition"

    from otapack.features import signing
    key = _signing_key()
    signed = signing.sign_package(full, key)
    sdev = dict(dev, keys=["test-key.pem"])
    yield from _delta_v2_vectors(dev)
    yield from _in_place_vectors(o, n, old, dev)

    yield "pass-signed", signed, old, sdev, None
    bad = bytearray(signed)
    sig_len = len(read_package(signed).signature_slot)
    bad[len(signed) - fmt.TRAILER_SIZE - sig_len + sig_len // 2] ^= 1
    yield "signature-flipped", _fix_crc(bytes(bad)), old, sdev, "signature"


def _delta_v2_vectors(dev: dict):
    """delta-v2 (docs/formats/delta-v2-transforms.md): one that installs, a
    transform section refused at `resources` (its counts, read while pricing)
    and one refused at `restore` (its tables, read before the first window)."""
    old, new = thumb2_images()
    v2 = build_delta(FirmwareImage.single(old), FirmwareImage.single(new), _opts(transform_arch="thumb2"))
    if [r.operation for r in read_package(v2).partitions] != ["delta-v2"]:
        raise SystemExit("the thumb2 images no longer make a delta-v2 package")
    yield "pass-delta-v2", v2, old, dev, None
    # arch 9 (there are 3) | thumb2, map entries 2 whose second key does not increase
    for name, section, check in (("delta-v2-section-unknown-arch", (9, 0, 0, 0), "resources"),
                                 ("delta-v2-validation-bad-map", (1, 0, 2, 0, 16, 9, 0, 3), "restore")):
        yield name, _reassemble(v2, records_edit=lambda parts, section=section: [
            _with_stream(r, _v2_stream(section)) for r, _ in parts]), old, dev, check


def _in_place_vectors(o: FirmwareImage, n: FirmwareImage, old: bytes, dev: dict):
    """delta-in-place (docs/formats/delta-in-place.md): one that installs over
    itself (a saved sector and the swap sector in 8 KiB of scratch), and the
    same package declaring scratch for the swap sector only: refused at
    `resources`, before any write."""
    in_place = build_delta(o, n, _opts(scratch_flash=8192))
    if [r.operation for r in read_package(in_place).partitions] != ["delta-in-place"]:
        raise SystemExit("the images no longer make a delta-in-place package in 8 KiB of scratch")
    yield "pass-delta-in-place", in_place, old, dev, None
    yield "resources-in-place-scratch", _reassemble(in_place, header_edit=lambda h: replace(h, scratch_flash=4096)), \
        old, dev, "resources"


def _v2_stream(section) -> bytes:
    """A delta-v2 stream: window 4096, 4 tuples, raw diff, ``section``, one window of 16 old bytes."""
    from otapack.core.formats.varint import encode_varint

    fields = (4096, 4, 0, *section, 1, 16, 0, 0)
    return b"".join(encode_varint(v) for v in fields) + bytes(16)


def _with_stream(record, stream: bytes):
    from otapack.core.codecs import compress_lzma2

    # lc + lp 0: the smallest LZMA model, within what the package declares
    return replace(record, uncompressed_length=len(stream)), compress_lzma2(stream, DICT, ((0, 0, 0),))


def _slotted(data: bytes, slot: int) -> FirmwareImage:
    return FirmwareImage((Partition("image", 0, data, slot_size=slot),))


def _multi(data: bytes, parts) -> FirmwareImage:
    """``data`` cut into the partitions [name, address, slot size], each partition a whole slot."""
    return FirmwareImage(tuple(Partition(name, address, data[address:address + size], slot_size=size)
                               for name, address, size in parts))


def _bad_delta_payload() -> tuple[bytes, bytes]:
    """A delta-v1 stream whose first tuple copies past the window's end
    (window size 4096, one tuple: add 0, copy 8192), and it LZMA2-compressed."""
    from otapack.core.codecs import compress_lzma2
    from otapack.core.formats.varint import encode_varint

    stream = encode_varint(4096) + encode_varint(64) + encode_varint(0) + encode_varint(1) \
        + encode_varint(0) + encode_varint(8192) + encode_varint(0)
    return stream, compress_lzma2(stream, DICT, ((3, 0, 2),))


def _signing_key():
    """The Ed25519 test key from TEST_KEY_SEED (Ed25519 signing is deterministic)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from otapack.features import signing

    return signing.PrivateKey(signing.get_algorithm("ed25519"), Ed25519PrivateKey.from_private_bytes(TEST_KEY_SEED),
                              "conformance test key")


def device_options(settings: dict, directory: Path, engine: str) -> DeviceOptions:
    from otapack.features import signing

    check = None
    if settings.get("keys"):
        check = signing.make_signature_check(
            [signing.load_public_key(directory / k) for k in settings["keys"]])
    return DeviceOptions(model=settings.get("model"), hardware_id=settings.get("hardware_id"),
                         security_counter=settings.get("security_counter"), ram_budget=settings.get("ram_budget"),
                         signature_check=check, engine=engine)


def run_vector(package: bytes, old: bytes | None, settings: dict, directory: Path, engine: str) -> dict:
    """Outcome of one restore: verdict, failing check and error class, flash SHA-256 per partition."""
    if old is None:
        image = None
    elif settings.get("partitions"):
        image = _multi(old, settings["partitions"])
    elif settings.get("slot_size"):
        image = _slotted(old, settings["slot_size"])
    else:
        image = FirmwareImage.single(old)
    report = verify_package(package, image, None, device_options(settings, directory, engine))
    failure = report.restore.failure
    flash = {}
    if report.device is not None:
        flash = {name: hashlib.sha256(p.read()).hexdigest() for name, p in sorted(report.device.partitions.items())}
    return {"verdict": "pass" if report.ok else "fail", "check": failure.check if failure else None,
            "error": failure.error if failure else None, "flash_sha256": flash}


def generate(out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "test-key.pem").write_bytes(_signing_key().pem())
    manifest, olds = [], {}
    for name, package, old, settings, intended in vectors():
        (out / f"{name}.pack").write_bytes(package)
        old_name = None
        if old is not None:
            old_name = olds.setdefault(hashlib.sha256(old).hexdigest(), f"old-{len(olds)}.bin")
            (out / old_name).write_bytes(old)
        outcome = run_vector(package, old, settings, out, "python")
        if outcome["check"] != intended:
            raise SystemExit(f"vector {name}: meant to fail at {intended}, the Python restore says {outcome}")
        manifest.append({"name": name, "package": f"{name}.pack", "old_image": old_name,
                         "device": {k: v for k, v in sorted(settings.items())}, "expected": outcome})
    (out / "manifest.json").write_text(json.dumps({"vectors": manifest}, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "vectors")
    ap.add_argument("--check", action="store_true", help="regenerate and compare with --out")
    args = ap.parse_args(argv)
    if not args.check:
        manifest = generate(args.out)
        print(f"{len(manifest)} vectors in {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        want = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
        have = {p.name: p.read_bytes() for p in args.out.iterdir()} if args.out.is_dir() else {}
        if want != have:
            differ = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            print(f"error: {args.out} differs from what generate.py writes: {', '.join(differ)}", file=sys.stderr)
            return 1
    print(f"{args.out}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
