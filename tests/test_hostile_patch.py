"""Hostile delta-v1 patch streams in valid envelopes (checklist 7A: A3-A7, A12).

Every stream is written by hand, compressed, and wrapped in a package whose
CRC32 and SHA-256 are correct, so the control-tuple, varint and LZMA checks
of the device restore are what rejects it.  Each case pins the exact error
class and message, checks that nothing reached the device's partition, and
runs the same stream through the independent reference applier
(``otapack.core.diff.decode_patch``): both must reject, or both must restore the
same bytes.
"""

from __future__ import annotations

import lzma
import re
import tracemalloc

import pytest

from hostile_builders import (
    DICT, OLD_FILL, delta_package, full_package, lzma2, overlong, single, stream, tuple_bytes, varint, window,
)
from otapack.core.codecs import decompress_lzma2
from otapack.core.diff import decode_patch
from otapack.errors import CorruptPatchError, PackageFormatError, ResourceLimitError
from otapack.core.formats.delta import MAX_WINDOW_SIZE, MAX_WINDOW_TUPLES
from otapack.core.verify import DeviceOptions, verify_package

OLD = OLD_FILL  # 4096 bytes: 0..255 repeated
X = b"X" * 50
W = "partition 'image': window 0 (output offset 0)"
T0 = f"{W}, tuple 0"
T1 = f"{W}, tuple 1"
P = "partition 'image'"


def restore(patch: bytes, target: bytes, *, target_size: int | None = None, **kw):
    """Run the device restore on ``patch``; return (report, reference result)."""
    pkg = delta_package(OLD, patch, target, target_size=target_size, **kw)
    report = verify_package(pkg, single(OLD), single(target))
    try:
        reference = decode_patch(OLD, patch, len(target) if target_size is None else target_size)
    except CorruptPatchError as exc:
        reference = exc
    return report, reference


def assert_rejected(report, reference, cls, message, check="restore:image"):
    err = report.error
    assert type(err) is cls, (type(err), err)
    if isinstance(message, re.Pattern):
        assert message.fullmatch(str(err)), str(err)
    else:
        assert str(err) == message
    failed = [c.name for c in report.checks if c.status == "fail"]
    assert failed == [check]
    # nothing reached the partition: the old image is intact
    assert report.device.image("image") == OLD
    assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0
    if reference is not None:
        assert isinstance(reference, CorruptPatchError), "the reference applier accepted what the device refused"


# (id, stream, target, extra kwargs, error class, exact message or regex, failing check)
CASES = [
    # A4: control tuples outside their buffers -------------------------------
    ("add-over-window", stream(window([(4097, 0, 0)])), OLD + b"\0", {},
     CorruptPatchError, f"{T0}: add length 4097 exceeds 4096", None),
    ("add-u32-minus-1", stream(window([((1 << 32) - 1, 0, 0)], diff=b"")), OLD, {},
     CorruptPatchError, f"{T0}: add length exceeds 4096", None),
    ("add-u64-minus-1", stream(window([((1 << 64) - 1, 0, 0)], diff=b"")), OLD, {},
     CorruptPatchError, f"{T0}: add length exceeds 4096", None),
    ("copy-u32-minus-1", stream(window([(0, (1 << 32) - 1, 0)])), OLD, {},
     CorruptPatchError, f"{T0}: copy length exceeds 4096", None),
    ("copy-2p31", stream(window([(0, 1 << 31, 0)])), OLD, {},
     CorruptPatchError, f"{T0}: copy length 2147483648 exceeds 4096", None),
    ("add-past-old-end", stream(window([(4097, 0, 0)]), window_size=8192), OLD + b"\0", {},
     CorruptPatchError, f"{T0}: reads 4097 old bytes at 0, past the 4096-byte old partition", None),
    ("add-sum-over-window", stream(window([(3000, 0, 0), (3000, 0, 0)])), OLD + OLD, {},
     CorruptPatchError, f"{T1}: add length 3000 overflows the 4096-byte window", None),
    ("copy-sum-over-window", stream(window([(3000, 2000, 0)], b"E" * 2000)), OLD, {},
     CorruptPatchError, f"{T0}: copy length 2000 overflows the 4096-byte window", None),
    ("seek-before-0", stream(window([(10, 0, -11), (5, 0, 0)])), OLD[:15], {},
     CorruptPatchError, f"{T0}: seek -11 from 10 leaves the 4096-byte old partition", None),
    ("seek-minus-u32", stream(window([(10, 0, -((1 << 32) - 1)), (5, 0, 0)])), OLD[:15], {},
     CorruptPatchError, f"{T0}: seek -4294967295 from 10 leaves the 4096-byte old partition", None),
    ("seek-minus-2p32", stream(window([(10, 0, -(1 << 32)), (5, 0, 0)])), OLD[:15], {},
     CorruptPatchError, f"{T0}: seek 8589934591 exceeds 8589934590", None),
    ("seek-past-old-end", stream(window([(10, 0, 4087), (5, 0, 0)])), OLD[:15], {},
     CorruptPatchError, f"{T0}: seek 4087 from 10 leaves the 4096-byte old partition", None),
    ("add-at-old-end", stream(window([(10, 0, 4086), (1, 0, 0)])), OLD[:11], {},
     CorruptPatchError, f"{T1}: reads 1 old bytes at 4096, past the 4096-byte old partition", None),
    ("add-straddles-old-end", stream(window([(10, 0, 4080), (10, 0, 0)])), OLD[:20], {},
     CorruptPatchError, f"{T1}: reads 10 old bytes at 4090, past the 4096-byte old partition", None),
    ("window-over-target", stream(window([(100, 0, 0)])), OLD[:50], {},
     CorruptPatchError, f"{W}: window writes 100 bytes, only 50 left of the target", None),
    ("window-over-target-2p32", stream(window([(100, 0, 0)])), OLD[:100], {"target_size": (1 << 32) - 4096},
     PackageFormatError, re.compile(rf"{P}: needs 1 more decoded bytes, only 0 declared \(at offset \d+\)"), None),
    # a 2^32 - 1 target stages 2^32 bytes: more than the u32 scratch_flash can declare
    ("target-2p32-staged", stream(window([(100, 0, 0)])), OLD[:100], {"target_size": (1 << 32) - 1},
     ResourceLimitError, "delta partitions stage 4294967296 bytes of flash until commit, the header declares "
                         "4294967295 bytes of scratch flash", "resources"),
    # tuple counts ------------------------------------------------------------
    ("count-0", stream(b"\x00"), OLD[:50], {},
     CorruptPatchError, f"{W}: empty window", None),
    ("count-over-max", stream(window([(1, 0, 0)] * 17)), OLD[:17], {},
     CorruptPatchError, f"{W}: tuple count 17 exceeds 16", None),
    ("count-u32-minus-1", stream(varint((1 << 32) - 1)), OLD[:17], {},
     CorruptPatchError, f"{W}: tuple count exceeds 16", None),
    # A12: varints --------------------------------------------------------------
    ("overlong-count", stream(overlong(1) + tuple_bytes(5, 0, 0) + bytes(5)), OLD[:5], {},
     CorruptPatchError, f"{W}: tuple count is a non-canonical varint", None),
    ("overlong-add", stream(b"\x01" + overlong(5) + varint(0) + varint(0) + bytes(5)), OLD[:5], {},
     CorruptPatchError, f"{T0}: add length is a non-canonical varint", None),
    ("overlong-copy", stream(b"\x01" + varint(0) + overlong(5, 2) + varint(0) + b"E" * 5), b"E" * 5, {},
     CorruptPatchError, f"{T0}: copy length is a non-canonical varint", None),
    ("overlong-zero-seek", stream(b"\x01" + varint(5) + varint(0) + overlong(0) + bytes(5)), OLD[:5], {},
     CorruptPatchError, f"{T0}: seek is a non-canonical varint", None),
    ("varint-11-bytes", stream(b"\x01" + varint(5) + varint(0) + b"\x80" * 10 + b"\x00" + bytes(5)), OLD[:5], {},
     CorruptPatchError, f"{T0}: seek varint longer than 10 bytes", None),
    # stream header: read at the resources check, before any write -------------
    ("window-size-0", varint(0) + varint(16) + window([(5, 0, 0)]), OLD[:5], {},
     CorruptPatchError, f"{P}: window size must be at least 1 and tuples per window at least 2", "resources"),
    ("window-size-over-max", varint(MAX_WINDOW_SIZE + 1) + varint(16) + window([(5, 0, 0)]), OLD[:5], {},
     CorruptPatchError, f"{P}: window size 1048577 exceeds 1048576", "resources"),
    ("tuples-0", varint(4096) + varint(0) + window([(5, 0, 0)]), OLD[:5], {},
     CorruptPatchError, f"{P}: window size must be at least 1 and tuples per window at least 2", "resources"),
    ("tuples-over-max", varint(4096) + varint(MAX_WINDOW_TUPLES + 1) + window([(5, 0, 0)]), OLD[:5], {},
     CorruptPatchError, f"{P}: tuples per window 65537 exceeds 65536", "resources"),
    ("overlong-window-size", overlong(4096) + varint(16) + window([(5, 0, 0)]), OLD[:5], {},
     CorruptPatchError, f"{P}: window size is a non-canonical varint", "resources"),
    ("empty-stream", b"", OLD[:5], {},
     PackageFormatError, re.compile(rf"{P}: needs 1 more decoded bytes, only 0 declared \(at offset \d+\)"), "resources"),
    # A5: missing and trailing data ---------------------------------------------
    ("stream-ends-in-diff", stream(window([(5, 0, 0)]))[:-2], OLD[:5], {},
     PackageFormatError, re.compile(rf"{P}: needs 5 more decoded bytes, only 3 declared \(at offset \d+\)"), None),
    ("stream-ends-in-tuple", stream(b"\x02" + tuple_bytes(5, 0, 0)), OLD[:5], {},
     PackageFormatError, re.compile(rf"{P}: needs 1 more decoded bytes, only 0 declared \(at offset \d+\)"), None),
    ("byte-after-last-window", stream(window([(5, 0, 0)])) + b"\x00", OLD[:5], {},
     PackageFormatError, re.compile(rf"{P}: 1 declared decoded bytes were never used \(at offset \d+\)"), None),
    ("window-after-last-window", stream(window([(5, 0, 0)]), window([(5, 0, 0)])), OLD[:5], {},
     PackageFormatError, re.compile(rf"{P}: 9 declared decoded bytes were never used \(at offset \d+\)"), None),
]


@pytest.mark.parametrize("name,patch,target,kw,cls,message,check", CASES, ids=[c[0] for c in CASES])
def test_hostile_stream(name, patch, target, kw, cls, message, check):
    report, reference = restore(patch, target, **kw)
    assert_rejected(report, reference, cls, message, check or "restore:image")


def test_valid_baseline_and_reference_agree():
    patch = stream(window([(100, 50, 0)], X))
    report, reference = restore(patch, OLD[:100] + X)
    assert report.ok, report.error
    assert reference == OLD[:100] + X == report.device.image("image")


def test_leading_bare_seek_is_valid():
    """The first match need not start at old offset 0: one leading bare seek."""
    patch = stream(window([(0, 0, 2), (5, 0, 0)]))
    report, reference = restore(patch, OLD[2:7])
    assert report.ok, report.error
    assert reference == OLD[2:7] == report.device.image("image")


@pytest.mark.parametrize("windows, where", [
    ((window([(0, 0, 1)]), window([(0, 0, 1)]), window([(5, 0, 0)])), "window 1 (output offset 0), tuple 0"),
    ((window([(1, 0, 0), (0, 0, 1), (4, 0, 0)]),), "window 0 (output offset 0), tuple 1"),
])
def test_tuples_that_write_nothing_are_refused(windows, where):
    """Only the stream's first tuple may be a bare seek: the work a stream
    causes stays bounded by the target size (no endless seek-only windows)."""
    report, reference = restore(stream(*windows), OLD[1:6])
    assert_rejected(report, reference, CorruptPatchError,
                    f"{P}: {where}: writes nothing (only the stream's first tuple may be a bare seek)",
                    "restore:image")


def test_seek_to_exact_old_end_is_valid():
    patch = stream(window([(10, 0, 4086), (0, 3, 0)], b"end"))
    report, reference = restore(patch, OLD[:10] + b"end")
    assert report.ok, report.error
    assert reference == OLD[:10] + b"end"


def test_declared_window_needs_more_ram_than_declared():
    patch = stream(window([(5, 0, 0)]), window_size=MAX_WINDOW_SIZE, max_tuples=MAX_WINDOW_TUPLES)
    # RAM for everything but the patch window: header + chunk + LZMA + write buffer
    pkg = delta_package(OLD, patch, OLD[:5])
    small = delta_package(OLD, patch, OLD[:5], ram_required=200_000)
    report = verify_package(small, single(OLD), single(OLD[:5]))
    assert type(report.error) is ResourceLimitError
    assert re.fullmatch(
        r"partition 'image': its decoder and patch windows need (\d+) bytes of RAM, the header declares 200000",
        str(report.error)
    )
    assert report.restore.bytes_written == 0
    assert verify_package(pkg, single(OLD), single(OLD[:5])).ok


# ------------------------------------------------------------------ LZMA layer


def test_lzma_decodes_to_more_than_declared():
    patch = stream(window([(5, 0, 0)]))
    report, _ = restore(patch + b"\x00" * 100, OLD[:5], uncompressed_length=len(patch))
    # Refused by the full decode at resources, naming the partition, with no
    # decoder-dependent offset; nothing written.
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream decodes to more than declared"
    assert (report.restore.failure.check, report.restore.failure.partition) == ("resources", "image")
    assert report.device.image("image") == OLD and report.restore.bytes_written == 0


def test_lzma_decodes_to_less_than_declared():
    patch = stream(window([(5, 0, 0)]))
    report, _ = restore(patch, OLD[:5], uncompressed_length=len(patch) + 10)
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream ends before its 10 remaining declared bytes"
    assert report.restore.failure.check == "resources"


def test_lzma_less_than_declared_replace():
    data = OLD[:300]
    pkg = full_package(data, target_size=400, uncompressed_length=400)
    report = verify_package(pkg, single(OLD))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream ends before its 100 remaining declared bytes"
    assert report.restore.failure.check == "resources" and report.restore.bytes_written == 0


def test_trailing_bytes_after_lzma_stream():
    patch = stream(window([(5, 0, 0)]))
    report, _ = restore(patch, OLD[:5], payload=lzma2(patch) + b"junk")
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: 4 payload bytes after the end of the LZMA2 stream"
    assert report.restore.failure.check == "resources"


def test_corrupt_lzma_stream():
    patch = stream(window([(5, 0, 0)]))
    payload = bytearray(lzma2(patch))
    payload[0] = 0x07  # not a valid LZMA2 control byte
    report, _ = restore(patch, OLD[:5], payload=bytes(payload))
    assert type(report.error) is PackageFormatError
    # Found by the chunk-header peek that prices the payload's LZMA model, before any decoding.
    assert str(report.error) == f"{P}: LZMA2 stream is corrupt (chunk 0: invalid control byte 0x07)"
    assert [c.name for c in report.checks if c.status == "fail"] == ["resources"]
    assert report.restore.decompress_calls == 0


def test_stored_delta_payload_length_mismatch():
    patch = stream(window([(5, 0, 0)]))
    report, _ = restore(patch, OLD[:5], codec="none", uncompressed_length=len(patch) + 1)
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: stored payload is {len(patch)} bytes, {len(patch) + 1} declared"


@pytest.fixture(scope="module")
def bomb():
    """50 MiB of zeros as raw LZMA2: about 7 KiB."""
    return lzma.compress(bytes(50 << 20), format=lzma.FORMAT_RAW,
                         filters=[{"id": lzma.FILTER_LZMA2, "preset": 1, "dict_size": DICT}])


def _bounded(fn):
    """(result, peak bytes allocated, decompressor calls).  Work is judged by what
    was decoded, never by wall time."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    restore = getattr(result, "restore", None)
    return result, peak, getattr(restore, "decompress_calls", 0)


def test_bomb_in_replace_payload_stops_at_declared_size(bomb):
    pkg = full_package(bytes(100), payload=bomb)
    report, peak, calls = _bounded(lambda: verify_package(pkg, single(OLD)))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream decodes to more than declared"
    assert report.restore.failure.check == "resources"
    assert peak < 4 << 20, f"{peak} bytes allocated decoding a 100-byte payload"
    assert calls <= 64
    assert report.restore.decompress_calls <= 4


def test_bomb_in_delta_payload_stops_at_declared_size(bomb):
    # a valid patch for 5 bytes, followed by the 50 MiB of zeros in one stream
    patch = stream(window([(5, 0, 0)]))
    payload = lzma.compress(patch + bytes(50 << 20), format=lzma.FORMAT_RAW,
                            filters=[{"id": lzma.FILTER_LZMA2, "preset": 1, "dict_size": DICT}])
    pkg = delta_package(OLD, patch, OLD[:5], payload=payload)
    report, peak, calls = _bounded(lambda: verify_package(pkg, single(OLD), single(OLD[:5])))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream decodes to more than declared"
    assert report.restore.failure.check == "resources"
    assert peak < 4 << 20
    assert calls <= 64


def test_bomb_header_declared_small_zeros_stream(bomb):
    """A stream of 50 MiB zeros declared as 100 bytes: the full decode at
    resources stops at the bound, before the stream header is read."""
    pkg = delta_package(OLD, bytes(100), OLD[:5], payload=bomb, uncompressed_length=100)
    report, peak, _ = _bounded(lambda: verify_package(pkg, single(OLD), single(OLD[:5])))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream decodes to more than declared"
    assert report.restore.failure.check == "resources"
    assert peak < 4 << 20


def test_reference_decompressor_is_bounded(bomb):
    (result, peak, _) = _bounded(lambda: _raises(lambda: decompress_lzma2(bomb, DICT, 100)))
    assert type(result) is PackageFormatError
    assert str(result) == "LZMA2 stream decodes to more than the 100 bytes declared"
    assert peak < 4 << 20


def _raises(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - returned for inspection
        return exc
    return None


@pytest.mark.parametrize("size", [(1 << 31) - 1, 1 << 31, (1 << 32) - 1])
def test_huge_declared_target_allocates_nothing(size):
    """A7: a 4 GiB target on a device with unbounded slots costs no host RAM."""
    patch = stream(window([(5, 0, 0)]))
    pkg = delta_package(OLD, patch, OLD[:5], target_size=size)
    report, peak, calls = _bounded(lambda: verify_package(pkg, single(OLD)))
    if size == (1 << 32) - 1:  # 2^32 staged bytes cannot be declared in the u32 scratch_flash
        assert type(report.error) is ResourceLimitError
        assert str(report.error).startswith("delta partitions stage 4294967296 bytes of flash until commit")
    else:
        assert type(report.error) is PackageFormatError
        assert re.fullmatch(rf"{P}: needs 1 more decoded bytes, only 0 declared \(at offset \d+\)", str(report.error))
    assert peak < 4 << 20 and calls <= 64


@pytest.mark.parametrize("size", [(1 << 31) - 1, (1 << 32) - 1])
def test_huge_declared_replace_allocates_nothing(size):
    pkg = full_package(OLD[:300], target_size=size, uncompressed_length=size)
    for old in (single(OLD), None):  # existing slot, and a blank device creating it
        report, peak, calls = _bounded(lambda: verify_package(pkg, old))
        assert type(report.error) is PackageFormatError
        assert str(report.error) == f"{P}: LZMA2 stream ends before its {size - 300} remaining declared bytes"
        assert report.restore.failure.check == "resources"
        assert peak < 4 << 20 and calls <= 64


@pytest.mark.parametrize("size", [(1 << 31) - 1, (1 << 32) - 1])
def test_huge_uncompressed_length_replace(size):
    """The stream does not decode to the declared length: refused by the full
    decode at resources (before restore's replace-length rule is reached)."""
    pkg = full_package(OLD[:300], uncompressed_length=size)
    report = verify_package(pkg, single(OLD))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: LZMA2 stream ends before its {size - 300} remaining declared bytes"
    assert report.restore.failure.check == "resources"


def test_replace_payload_decoding_to_other_than_the_target_size():
    """A stream that does decode to its declared length, but that length is
    not the target's: the replace rule at restore."""
    pkg = full_package(OLD[:300], target_size=200, uncompressed_length=300)
    report = verify_package(pkg, single(OLD))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"{P}: replace payload decodes to 300 bytes, target is 200"
    assert report.restore.failure.check == "restore"


@pytest.mark.parametrize("erase_block", [1 << 31, (1 << 32) - 1 - 200_000, 1, 128, 3 * 4096, 512 * 1024])
def test_erase_block_outside_the_limits_on_blank_device(erase_block):
    """With no old image the simulated device takes the package's erase block:
    the resources check refuses one outside 256 B..256 KiB or not a power of
    two, before anything is sized from it (an erase block of 1 made the
    restore 25x slower)."""
    pkg = full_package(OLD[:300], erase_block=erase_block, ram_required=(1 << 32) - 1)
    report, peak, calls = _bounded(lambda: verify_package(pkg, None, single(OLD[:300])))
    assert type(report.error) is PackageFormatError
    assert str(report.error) == f"erase block {erase_block} is not a power of two within 256..262144 bytes"
    assert [c.name for c in report.checks if c.status == "fail"] == ["resources"]
    assert report.restore.bytes_written == 0 and report.restore.blocks_erased == 0
    assert report.restore.decompress_calls == 0 and peak < 4 << 20


# ------------------------------------------------------------------ delta-v2: the transform section in a package

def _v2(*section: int, windows=(window([(5, 0, 0)]),)) -> bytes:
    """A delta-v2 stream: v1's header fields, the section's varints, the windows."""
    return varint(4096) + varint(16) + varint(0) + b"".join(varint(v) for v in section) + b"".join(windows)


def restore_v2(patch: bytes, target: bytes, engine: str = "python"):
    return verify_package(delta_package(OLD, patch, target, operation="delta-v2"), single(OLD), single(target),
                          DeviceOptions(engine=engine))


def assert_engines_agree(report) -> None:
    """``--engine both``: the C restore refused (or restored) alike."""
    assert [c.status.value for c in report.checks if c.name == "engines"] == ["pass"], report.error


V2_CASES = [
    ("v2-unknown-arch", _v2(9, 0, 0, 0), f"{P}: transform arch 9 exceeds 3", "resources"),
    ("v2-none-with-tables", _v2(0, 0, 1, 0), f"{P}: transform arch none with a base or tables", "resources"),
    ("v2-base-past-32-bits", _v2(1, 1 << 32, 0, 0), f"{P}: transform base 4294967296 exceeds 4294967295", "resources"),
    ("v2-map-over-limit", _v2(1, 0, 4097, 0), f"{P}: map entries 4097 exceeds 4096", "resources"),
    ("v2-regions-over-limit", _v2(1, 0, 0, 4097), f"{P}: transform regions 4097 exceeds 4096", "resources"),
    ("v2-leading-hole", _v2(1, 0, 1, 0, 16, 0),
     f"{P}: map entry 0: non-canonical map (repeats the previous entry or starts with a hole)", "restore:image"),
    ("v2-key-repeats", _v2(1, 0, 2, 0, 16, 9, 0, 3), f"{P}: map entry 1: key does not increase", "restore:image"),
    ("v2-region-outside-old", _v2(1, 0, 1, 1, 16, 3, 5000, 1),
     f"{P}: region 0: region starts past the 4096-byte old partition", "restore:image"),
    ("v2-mask-past-kinds", _v2(1, 0, 1, 1, 16, 3, 4, 1 << 7), f"{P}: region 0: region mask 128 exceeds 127",
     "restore:image"),
]


@pytest.mark.parametrize("name,patch,message,check", V2_CASES, ids=[c[0] for c in V2_CASES])
def test_hostile_v2_section(name, patch, message, check):
    """Every section rule through the package restore: the exact error, the
    check it fails at, and nothing written to the partition."""
    assert_rejected(restore_v2(patch, OLD[:5]), None, CorruptPatchError, message, check)
    assert_engines_agree(restore_v2(patch, OLD[:5], "both"))


def test_v2_with_arch_none_restores_as_v1():
    report = restore_v2(_v2(0, 0, 0, 0), OLD[:5], "both")
    assert report.ok, report.error
    assert_engines_agree(report)


def test_v2_tables_that_match_nothing_restore_the_old_bytes():
    """A valid section whose map covers no target in OLD: old' = old."""
    report = restore_v2(_v2(1, 0, 1, 1, 1 << 30, 3, 0, 1), OLD[:5], "both")
    assert report.ok, report.error
    assert_engines_agree(report)
