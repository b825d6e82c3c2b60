"""Mutation stress (checklist 7E, E3, HDiffPatch style): thousands of random
corruptions of real packages, with a fixed seed.

(a) as is: the trailer or the CRC32 rejects every mutant before anything is
    decoded, or the mutant is byte-identical in effect and restores NEW;
(b) resealed (CRC32 and SHA-256 recomputed over the mutated body): the parser
    and the restore see the corruption; every mutant ends in an OtapackError
    or restores exactly NEW, and the two header readers agree on it;
(c) inner: the decompressed patch stream itself is mutated and re-wrapped;
    the device restore and the reference applier agree byte for byte;
(d) field edits of multi-partition full and delta packages (resealed): apply
    gives the verdict verify's restore gives, and whenever verify --new
    passes, the image apply writes is NEW byte for byte.

Never another exception, never a wrong accept (a restore that succeeds but
differs from NEW), and every run is bounded in time.
"""

from __future__ import annotations

import lzma
import random
from dataclasses import replace

import pytest

from hostile_builders import (
    DICT, MODEL, body_of, compare_readers, corpus, delta_package, edit_field, field_images, flash_bytes, mutate, sha,
    single,
)
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.diff import decode_patch, make_patch
from otapack.errors import CorruptPatchError, OtapackError, PackageFormatError, TargetMismatchError
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.container import read_package, seal
from otapack.core.verify import apply_package, verify_package

OPTS = PackageOptions(model=MODEL, security_counter=2, lzma_dict_size=1 << 16)

#: Thousands of mutants per test: the inner loop (pytest -m "not slow") skips them, CI runs them.
pytestmark = pytest.mark.slow


def _layout(app: bytes, data: bytes) -> FirmwareImage:
    return FirmwareImage((
        Partition("boot", 0, corpus("programmer-0.8.0.bin")[:4096], policy=Policy.KEEP),
        Partition("app", 0x10000, app),
        Partition("data", 0x40000, data, type=PartitionType.DATA),
        Partition("nvram", 0x60000, b"\x00" * 4096, type=PartitionType.NV, policy=Policy.SKIP),
    ))


@pytest.fixture(scope="module")
def seeds():
    """(name, package, old image or None, new image)."""
    s1, s2 = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    prog = corpus("programmer-0.8.0.bin")
    prog2 = bytearray(prog)
    prog2[1000:1016] = b"otapack mutation"
    prog2[9000:9004] = b"\x01\x02\x03\x04"
    prog2 = bytes(prog2)
    out = [
        ("synth-delta", build_delta(single(s1), single(s2), OPTS), single(s1), single(s2)),
        # an erased slot of the same name and address: on a blank simulated device
        # (old None) any partition name or address is taken as given, so a mutated
        # name would restore correctly into another partition
        ("programmer-full", build_full(single(prog), OPTS), single(b"\xff" * len(prog)), single(prog)),
    ]
    old, new = _layout(prog, s1[:20000]), _layout(prog2, s2[:20000])
    out.append(("layout-delta", build_delta(old, new, OPTS), old, new))
    v2 = build_delta(single(s1), single(s2), replace(OPTS, transform_arch="thumb2"))
    assert [r.operation for r in read_package(v2).partitions] == ["delta-v2"]
    out.append(("synth-delta-v2", v2, single(s1), single(s2)))
    for name, pkg, o, n in out:
        report = verify_package(pkg, o, n)
        assert report.ok, (name, report.error)
        assert compare_readers(pkg)
    return out


def _run(pkg, old, new):
    report = verify_package(pkg, old, new)  # must not raise: any exception fails the test
    # bounded work, counted not timed: no mutant decodes or writes more than
    # its package and the images it restores can justify
    written_limit = 2 * sum(p.capacity for p in new.partitions) + (1 << 20)
    assert report.restore.bytes_written <= written_limit, f"a {len(pkg)}-byte mutant wrote {report.restore.bytes_written} B"
    if report.restore.error is None:
        # the restore accepted it: the device must now hold exactly NEW
        assert report.error is None, f"wrong accept: {report.error}"
    else:
        assert isinstance(report.error, OtapackError)
    return report


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["synth-delta", "programmer-full", "layout-delta", "synth-delta-v2"])
def test_mutants_as_is_fail_integrity(seeds, index):
    name, pkg, old, new = seeds[index]
    rnd = random.Random(1000 + index)
    outcomes = {"accepted": 0, "rejected": 0}
    for _ in range(3000):
        mutant = mutate(rnd, pkg)
        report = _run(mutant, old, new)
        if report.ok:
            outcomes["accepted"] += 1
            continue
        outcomes["rejected"] += 1
        assert isinstance(report.error, PackageFormatError), (name, report.error)
        failed = [c.name for c in report.checks if c.status == "fail"]
        assert failed in (["trailer"], ["crc32"]), (name, failed, report.error)
        assert report.restore.decompress_calls == 0 and report.restore.bytes_written == 0
    assert outcomes["rejected"] > 2900


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["synth-delta", "programmer-full", "layout-delta", "synth-delta-v2"])
def test_resealed_mutants_typed_errors_only(seeds, index):
    name, pkg, old, new = seeds[index]
    body = body_of(pkg)
    rnd = random.Random(2000 + index)
    seen: dict[str, int] = {}
    for _ in range(3000):
        mutant = seal(mutate(rnd, body))
        report = _run(mutant, old, new)
        key = type(report.error).__name__ if report.error else "ok"
        seen[key] = seen.get(key, 0) + 1
        compare_readers(mutant)
    # the corruption reached the inner checks, not only the outer ones
    assert len(seen) >= 4, seen


def _fast_lzma(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_RAW,
                         filters=[{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": DICT}])


def test_inner_stream_mutants_device_equals_reference():
    """Mutate the decompressed patch stream itself; both appliers must agree."""
    s1, s2 = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    old, new = s1[30000:36000], s2[30000:36500]
    patch = make_patch(old, new, window_size=1024, max_window_tuples=8)
    rnd = random.Random(3000)
    accepted = 0
    for _ in range(2000):
        mutant = mutate(rnd, patch)
        pkg = delta_package(old, mutant, new, payload=_fast_lzma(mutant))
        report = _run(pkg, single(old), single(new))
        try:
            reference = decode_patch(old, mutant, len(new))
        except CorruptPatchError:
            reference = None
        failed = [c.name for c in report.checks if c.status == "fail"]
        if not failed:
            accepted += 1
            assert reference == new  # same bytes as the device restored
        elif failed == ["target:image"]:
            # a valid stream restoring other bytes: both appliers made the same ones
            assert reference is not None, report.error
            assert sha(reference).hex() in str(report.error)
        else:
            assert failed in (["resources"], ["restore:image"]), (failed, report.error)
            assert reference is None, f"reference accepted what the device refused: {report.error}"
    assert accepted < 2000


# ------------------------------------------------ field edits against apply's image
#
# Resealed edits of multi-partition full and delta packages (code, data, NV
# skip, a changed and an unchanged file system), each run through verify
# --new and apply on the same device.  The invariant the pipeline relies on:
# verify --new passes  =>  the image apply writes is NEW, byte for byte.

FIELD_OPTS = PackageOptions(model=MODEL, lzma_dict_size=1 << 16)


@pytest.fixture(scope="module")
def field_seeds():
    """(name, package, old, new, blank-device slots or None)."""
    old, new = field_images()
    _, blank_new = field_images(nv_new=b"")  # a blank module: the skipped NV slot stays erased
    full = build_full(blank_new, FIELD_OPTS)
    return {
        "full-blank": (full, None, blank_new, None),  # no --old, no layout: the package names the slots
        "full-layout": (full, None, blank_new, blank_new),  # no --old, the module's layout known
        "delta": (build_delta(old, new, FIELD_OPTS), old, new, None),
    }


def _apply(pkg, old, slots):
    try:
        return apply_package(pkg, old, layout=slots), None
    except OtapackError as exc:
        return None, exc


@pytest.mark.parametrize("name", ["full-blank", "full-layout", "delta"])
def test_field_edits_verify_new_implies_apply_writes_new(field_seeds, name):
    counts = _field_campaign(*field_seeds[name], random.Random(4000 + sorted(field_seeds).index(name)), name)
    if name == "full-blank":
        assert counts["restore passed, expected-image refused"] > 0, counts


@pytest.fixture(scope="module")
def pac_seeds():
    """The vendor-structured PAC pair (tests/fixtures/pac: BOOTLOADER, AP, PS
    in slots from the configuration XML, loaders / NV / pre-pack / XML
    skipped): (name, package, old, new, blank-device slots or None)."""
    from test_pac_vendor import NEW as NEW_PAC, OLD as OLD_PAC
    from otapack.core.inputs import read_firmware

    old, new = read_firmware(OLD_PAC), read_firmware(NEW_PAC)
    full = build_full(new, FIELD_OPTS)
    return {
        "pac-full-blank": (full, None, new, None),
        "pac-full-slots": (full, None, new, new),  # a blank module whose slots are the PAC's
        "pac-delta": (build_delta(old, new, FIELD_OPTS), old, new, None),
    }


@pytest.mark.parametrize("name", ["pac-full-blank", "pac-full-slots", "pac-delta"])
def test_pac_field_edits_verify_new_implies_apply_writes_new(pac_seeds, name):
    """The same campaign on multi-partition packages of the vendor PAC structure
    (slots far larger than their content, a 4 MB hole between AP and PS)."""
    _field_campaign(*pac_seeds[name], random.Random(4100 + sorted(pac_seeds).index(name)), name,
                    short_tail=name == "pac-full-blank")


def _field_campaign(pkg, old, new, slots, rnd, name, short_tail=False):
    """3,000 resealed field and body edits of ``pkg``; returns the counts.

    ``short_tail``: a blank device of unknown layout whose slots end where
    their content ends (docs/verifier.md, expected-image rule 2): apply's
    image may stop before NEW's last slot does, the flash past it erased."""
    want = flash_bytes(new)

    def written(image):
        got = image.to_bin()
        if short_tail and len(got) < len(want):
            got += bytes([new.erased_value]) * (len(want) - len(got))
        return got

    assert verify_package(pkg, old, new, layout=slots).ok
    assert written(_apply(pkg, old, slots)[0]) == want
    counts = {"mutants": 0, "verify passed": 0, "restore passed, expected-image refused": 0}
    for index in range(3000):
        body_edit = index % 3 == 2
        mutant = seal(mutate(rnd, body_of(pkg))) if body_edit else edit_field(rnd, pkg)
        report = verify_package(mutant, old, new, layout=slots)  # must not raise
        image, error = _apply(mutant, old, slots)
        counts["mutants"] += 1
        # apply runs exactly the checks of verify: same verdict, same error
        assert (error is None) == report.restore.ok, (name, index, report.restore.error, error)
        if error is not None:
            assert type(error) is type(report.restore.error) and str(error) == str(report.restore.error)
            continue
        if report.ok:
            counts["verify passed"] += 1
            assert written(image) == want, f"{name} mutant {index}: verify --new passed, apply wrote another image"
        else:
            counts["restore passed, expected-image refused"] += 1
            assert isinstance(report.error, TargetMismatchError), report.error
    # the edits reached the device-level checks
    assert counts["verify passed"] < counts["mutants"]
    return counts
