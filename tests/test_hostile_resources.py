"""Hostile packages against the restore's resource and work bounds (checklist 7A, A11; issue 12).

Each limit docs/verifier.md lists ("RAM accounting", "The header's
figures", "Scratch flash", "The work bound", "Host memory of the verifier")
has a package here that breaks it, pinned to its exact error and failing
check, with what was (not) written; the work is measured as counts
(``RestoreResult.tuples``) and memory with ``tracemalloc``, never time.
"""

from __future__ import annotations

import pytest

from hostile_builders import (
    OLD_FILL, corpus, delta_package, field_value, full_package, lzma2_mixed, single, stream, tuple_flood, window,
    with_field,
)
from otapack import errors
from otapack.core.build import PackageOptions, build_delta
from otapack.core.container import read_package
from otapack.core.model import FirmwareImage, Partition
from otapack.core.restore.resources import PayloadRam, fixed_ram, known_ram
from otapack.core.verify import verify_package

OLD = OLD_FILL
X = b"X" * 50
NEW = OLD[:100] + X
P = "partition 'image'"
NAME_IMAGE = "image"


@pytest.fixture(scope="module")
def crafted() -> bytes:
    """A valid one-window delta package (the one test_hostile_package.py mutates)."""
    pkg = delta_package(OLD, stream(window([(100, 50, 0)], X)), NEW)
    assert verify_package(pkg, single(OLD), single(NEW)).ok
    return pkg


def expect(report, cls, message, check):
    err = report.error
    assert type(err) is cls, (type(err), err)
    assert err.exit_code == cls.exit_code
    assert str(err) == message
    assert [c.name for c in report.checks if c.status == "fail"] == [check]




def _tracemalloc_peak(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_one_byte_tuples_are_refused_after_the_allowance():
    """A stream of 1-byte tuples (154 s of CPU for a 10 KB delta before the
    bound) is refused at the first tuple over 64 + one per 16 output bytes:
    the work done is counted, not timed."""
    patch = tuple_flood(16384)
    target = OLD[:1] * 16384
    pkg = delta_package(OLD, patch, target)
    report = verify_package(pkg, single(OLD), single(target))
    # tuple 69 (index 68 of window 0) ends at output 69: 69 - 64 = 5 > 69 // 16 = 4
    expect(report, errors.CorruptPatchError,
           f"{P}: window 0 (output offset 0), tuple 68: 69 tuples for 69 output bytes: above the work bound of "
           f"64 tuples plus one per 16 bytes", "restore:image")
    assert report.restore.tuples == 69 and report.restore.bytes_written == 0
    assert report.device.image("image") == OLD
    from otapack.core.diff import decode_patch

    with pytest.raises(errors.CorruptPatchError, match="above the work bound"):
        decode_patch(OLD, patch, len(target))  # the reference applier refuses it too


@pytest.mark.parametrize("count, ok", [(128, True), (129, False)])
def test_tuple_work_bound_boundary(count, ok):
    """8-byte tuples: tuple t ends at output 8t, refused when t - 64 > 8t // 16, i.e. from t = 129."""
    patch = tuple_flood(count, length=8)
    target = OLD[:8] * count
    report = verify_package(delta_package(OLD, patch, target), single(OLD), single(target))
    if ok:
        assert report.ok, report.error
        assert report.restore.tuples == count
    else:
        expect(report, errors.CorruptPatchError,
               f"{P}: window 0 (output offset 0), tuple 128: 129 tuples for 1032 output bytes: above the work "
               f"bound of 64 tuples plus one per 16 bytes", "restore:image")


def test_work_is_linear_in_the_output():
    """16-byte tuples never reach the bound: the work is one tuple per 16 bytes written."""
    patch = tuple_flood(4096, length=16)
    target = OLD[:16] * 4096
    report = verify_package(delta_package(OLD, patch, target), single(OLD), single(target))
    assert report.ok, report.error
    assert report.restore.tuples == len(target) // 16 == 4096


@pytest.mark.parametrize("value, ok", [
    (0, False), (1, False), (4095, False), (4096, True), (6144, True), (8192, True), (100 * 1024, False),
    (96 * 1024, True), (64 << 20, True), (96 << 20, False), (0x80000000, False), (0xFFFF0000, False),
])
def test_lzma_dict_size_on_the_grid_and_in_range(crafted, value, ok):
    """lzma_dict_size: 2^n or 3*2^(n-1) within 4 KiB..64 MiB, refused before a
    decoder is sized from it.  With RAM declared to the maximum, 0xFFFF0000
    used to pass and make the verifier allocate a 4 GiB dictionary."""
    pkg = with_field(with_field(crafted, "ram_required", (1 << 32) - 1), "lzma_dict_size", value)
    report, peak = _tracemalloc_peak(lambda: verify_package(pkg, single(OLD), single(NEW)))
    if ok:
        assert report.ok, report.error
    else:
        expect(report, errors.PackageFormatError,
               f"lzma_dict_size {value} is not an LZMA2 dictionary size (2^n or 3*2^(n-1)) within "
               f"4096..67108864 bytes", "resources")
        assert report.restore.decompress_calls == 0 and report.restore.bytes_written == 0
    assert peak < 1 << 20  # the dictionary is at most the stream's own 150 bytes


def test_dictionary_size_without_lzma_payloads_must_be_zero():
    pkg = full_package(OLD[:300], codec="none", lzma_dict_size=1 << 16)
    expect(verify_package(pkg, single(OLD)), errors.PackageFormatError,
           "lzma_dict_size 65536 declared, but no payload uses LZMA2 (must be 0)", "resources")
    assert verify_package(full_package(OLD[:300], codec="none", lzma_dict_size=0), single(OLD)).ok


@pytest.mark.parametrize("block, ok", [(128, False), (256, True), (6144, False), (1 << 18, True), (1 << 19, False)])
def test_erase_block_limits_on_a_device_of_that_geometry(block, ok):
    """The device's own geometry matches the package's, yet the resources
    check holds the header to a power of two within 256 B..256 KiB."""
    image = FirmwareImage((Partition(NAME_IMAGE, 0, OLD[:300]),), erase_block=block)
    pkg = full_package(OLD[:300], erase_block=block)
    report = verify_package(pkg, image, image)
    if ok:
        assert report.ok, report.error
    else:
        expect(report, errors.PackageFormatError,
               f"erase block {block} is not a power of two within 256..262144 bytes", "resources")
        assert report.restore.bytes_written == 0



def test_later_lzma2_chunk_needing_a_larger_model_is_refused():
    """Priced for its first chunk's lc+lp = 1, a payload whose later chunk
    sets lc+lp = 4 is refused when that chunk's header is read, before the
    decoder decodes it: in the full decode at resources, before any write."""
    patch = stream(window([(100, 50, 0)], X))
    payload = lzma2_mixed([(patch[:60], (1, 0, 0)), (patch[60:], (4, 0, 2))])
    pkg = delta_package(OLD, patch, NEW, payload=payload)
    report = verify_package(pkg, single(OLD), single(NEW))
    expect(report, errors.ResourceLimitError,
           f"{P}: LZMA2 chunk 1 needs the lc+lp=4 model, the payload was priced for lc+lp=1 (its first chunk's)",
           "resources")
    assert report.restore.failure.partition == NAME_IMAGE
    assert report.device.image("image") == OLD and report.restore.bytes_written == 0
    # The other way round decodes: the first chunk's model is the larger one.
    ok = delta_package(OLD, patch, NEW, payload=lzma2_mixed([(patch[:60], (4, 0, 2)), (patch[60:], (1, 0, 0))]))
    assert verify_package(ok, single(OLD), single(NEW)).ok


def test_invalid_lzma2_properties_byte_is_refused():
    patch = stream(window([(100, 50, 0)], X))
    payload = bytearray(lzma2_mixed([(patch, (1, 0, 0))]))
    assert payload[0] == 0xE0
    payload[5] = 225  # (pb=5): outside LZMA2's properties
    report = verify_package(delta_package(OLD, patch, NEW, payload=bytes(payload)), single(OLD))
    expect(report, errors.PackageFormatError, f"{P}: LZMA2 stream is corrupt (chunk 0: invalid properties byte 0xe1)",
           "resources")


def test_ram_priced_from_the_first_chunk_model():
    """A declaration sized for lc+lp = 1 does not cover a payload whose
    first chunk sets lc+lp = 4: refused at resources, before any write."""
    patch = stream(window([(100, 50, 0)], X))
    fixed = fixed_ram(field_value(delta_package(OLD, patch, NEW), "header_length"), 4096)
    small = known_ram(fixed, PayloadRam(lzma=True, dictionary=len(patch), lclp=1, window_tuples=16, delta=True)) + 50
    fits = delta_package(OLD, patch, NEW, payload=lzma2_mixed([(patch, (1, 0, 0))]), ram_required=small)
    assert verify_package(fits, single(OLD), single(NEW)).ok
    big = delta_package(OLD, patch, NEW, payload=lzma2_mixed([(patch, (4, 0, 2))]), ram_required=small)
    need = known_ram(fixed, PayloadRam(lzma=True, dictionary=len(patch), lclp=4))
    report = verify_package(big, single(OLD), single(NEW))
    expect(report, errors.ResourceLimitError,
           f"{P}: its decoder needs {need} bytes of RAM, the header declares {small}", "resources")
    assert report.restore.bytes_written == 0 and report.restore.decompress_calls == 0


def test_window_extra_bytes_over_the_declaration_refused_before_that_window_writes():
    """Window 0 (50 extra bytes) fits what the declaration leaves; window 1
    (100) does not: refused after its tuples are read, before its extra
    bytes are buffered or any of its bytes written.  Window 0 went to the
    staging area, so the live partition is untouched."""
    patch = stream(window([(100, 50, 0)], X), window([(0, 100, 0)], b"Y" * 100), window_size=150)
    target = NEW + b"Y" * 100
    header_length = field_value(delta_package(OLD, patch, target), "header_length")
    known = known_ram(fixed_ram(header_length, 4096),
                      PayloadRam(lzma=True, dictionary=len(patch), lclp=3, window_tuples=16, delta=True))
    pkg = delta_package(OLD, patch, target, ram_required=known + 60)
    report = verify_package(pkg, single(OLD), single(target))
    expect(report, errors.ResourceLimitError,
           f"{P}: window 1 (output offset 150): 100 extra bytes, the declared RAM leaves 60 for them", "restore:image")
    assert report.restore.tuples == 2  # window 1's tuple was read, then refused
    assert report.device.image("image") == OLD  # window 0 was staged, nothing committed
    assert report.restore.ram_peak <= known + 60
    assert verify_package(delta_package(OLD, patch, target, ram_required=known + 100), single(OLD), single(target)).ok


def _two_deltas():
    parts = lambda data: FirmwareImage((Partition("a", 0, data), Partition("b", 0x40000, data[::-1])))  # noqa: E731
    old, new = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    return parts(old), parts(new)


def test_scratch_flash_declares_every_staged_partition():
    """Both delta partitions stay staged until commit: the header declares
    their sum (it declared the largest), and the restore holds no more."""
    old, new = _two_deltas()
    pkg = build_delta(old, new, PackageOptions(lzma_dict_size=1 << 16))
    staged = 2 * (-(-len(new.partitions[0].data) // 4096) * 4096)
    assert read_package(pkg).header.scratch_flash == staged
    report = verify_package(pkg, old, new)
    assert report.ok, report.error
    assert report.restore.scratch_peak == report.restore.scratch_declared == staged
    # the old declaration (the largest partition only) is refused before the first write
    short = with_field(pkg, "scratch_flash", staged // 2)
    report = verify_package(short, old, new)
    expect(report, errors.ResourceLimitError,
           f"delta partitions stage {staged} bytes of flash until commit, the header declares {staged // 2} bytes "
           f"of scratch flash", "resources")
    assert report.restore.bytes_written == 0


def test_restore_memory_is_what_it_writes_plus_the_declaration():
    """A 3 KB full package writing 16 MiB: the verifier's host memory is the
    simulated flash (what was written) plus the declared RAM, and apply adds
    the returned image.  (A 156 KB package writing 1 GB made verify use
    1.06 GB and apply 3.0 GB: bytearray growth and triple-copying reads.)"""
    import lzma

    size = 16 << 20
    payload = lzma.compress(bytes(size), format=lzma.FORMAT_RAW,
                            filters=[{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": 1 << 16}])
    pkg = full_package(bytes(size), payload=payload)
    declared = field_value(pkg, "ram_required")
    slack = 256 << 10  # interpreter bookkeeping, the package itself
    report, peak = _tracemalloc_peak(lambda: verify_package(pkg))
    assert report.ok and report.restore.bytes_written == size
    assert peak <= size + declared + slack, (peak, size, declared)
    from otapack.core.verify import apply_package

    image, peak = _tracemalloc_peak(lambda: apply_package(pkg))
    assert image.partitions[0].data == bytes(size)
    assert peak <= 2 * size + declared + slack, (peak, size, declared)


def test_huge_declarations_cost_only_what_is_declared():
    """Declared sizes (a 2 GiB target, a 64 MiB dictionary, 1 MiB windows,
    65536 tuples) cost the host no more than the declared RAM plus what is
    written, when the package turns out to be short."""
    patch = stream(window([(5, 0, 0)]), window_size=1 << 20, max_tuples=1 << 16)
    pkg = delta_package(OLD, patch, OLD[:5], target_size=1 << 31, uncompressed_length=1 << 30,
                        lzma_dict_size=64 << 20)
    report, peak = _tracemalloc_peak(lambda: verify_package(pkg, single(OLD)))
    assert isinstance(report.error, errors.PackageFormatError)
    assert peak <= field_value(pkg, "ram_required") + report.restore.bytes_written + (256 << 10)
