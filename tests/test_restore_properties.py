"""Build -> restore identity (Hypothesis) and differential checking of the restore.

Every delta payload the builder makes here is restored twice: by the device
restore (``otapack.core.restore``, streaming, through the simulated flash) and by
the independent in-memory reference (``otapack.core.diff.decode_patch`` over the
same decompressed stream, ``otapack.core.codecs.decompress_lzma2``).  Both must
give NEW byte for byte.  The two header readers must agree on every package.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_builders import compare_readers, corpus, single
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.codecs import CODECS
from otapack.core.diff import decode_patch
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
from otapack.core.container import read_package
from otapack.core.verify import apply_package, verify_package

FAST = dict(lzma_dict_size=1 << 16)


def restore_both_ways(pkg: bytes, old: FirmwareImage | None, new: FirmwareImage) -> None:
    """Device restore == NEW, and for every delta partition reference == device."""
    report = verify_package(pkg, old, new)
    assert report.ok, report.error
    assert compare_readers(pkg)
    parsed = read_package(pkg)
    restored = apply_package(pkg, old)
    for record in parsed.partitions:
        if record.operation != "delta":
            continue
        stream = CODECS[record.codec].decompress(parsed.payload(record), parsed.header.lzma_dict_size,
                                                 record.uncompressed_length)
        reference = decode_patch(old.get(record.name).data, stream, record.target_size)
        assert reference == report.device.image(record.name) == restored.get(record.name).data
        assert reference == new.get(record.name).data


def _edit(rnd: random.Random, data: bytes, edits: int) -> bytes:
    out = bytearray(data)
    for _ in range(edits):
        at = rnd.randint(0, len(out))
        kind = rnd.randrange(3)
        if kind == 0:
            out[at : at + rnd.randint(1, 32)] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 32)))
        elif kind == 1:
            out[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
        else:
            del out[at : at + rnd.randint(1, 64)]
    return bytes(out)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=st.binary(min_size=1, max_size=3000), seed=st.integers(0, 2**32 - 1), edits=st.integers(0, 12),
       window=st.sampled_from([1, 7, 64, 512, 65536]), tuples=st.sampled_from([2, 3, 5, 1024]))
def test_random_images_build_restore_identity(old, seed, edits, window, tuples):
    new = _edit(random.Random(seed), old, edits) or b"\x00"
    opts = PackageOptions(window_size=window, max_window_tuples=tuples, **FAST)
    restore_both_ways(build_delta(single(old), single(new), opts), single(old), single(new))
    restore_both_ways(build_full(single(new), opts), None, single(new))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 40),
       window=st.sampled_from([256, 4096, 65536]), algorithm=st.sampled_from(["otadiff", "bsdiff4"]))
def test_real_images_build_restore_identity(seed, edits, window, algorithm):
    old = corpus("programmer-0.8.0.bin")
    new = _edit(random.Random(seed), old, edits)
    opts = PackageOptions(window_size=window, diff_algorithm=algorithm, **FAST)
    pkg = build_delta(single(old), single(new), opts)
    assert read_package(pkg).partitions[0].operation == "delta"
    restore_both_ways(pkg, single(old), single(new))


@pytest.mark.parametrize("window,tuples", [(65536, 1024), (4096, 8), (1000, 2), (1 << 20, 65536)])
@pytest.mark.parametrize("algorithm", ["otadiff", "bsdiff4"])
def test_synthesizer_pair_differential(window, tuples, algorithm):
    old, new = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    opts = PackageOptions(window_size=window, max_window_tuples=tuples, diff_algorithm=algorithm, **FAST)
    pkg = build_delta(single(old), single(new), opts)
    assert read_package(pkg).partitions[0].operation == "delta"
    restore_both_ways(pkg, single(old), single(new))
    # and back again
    restore_both_ways(build_delta(single(new), single(old), opts), single(new), single(old))


def test_multi_partition_differential():
    s1, s2 = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    prog = corpus("programmer-0.8.0.bin")

    def image(app: bytes, data: bytes) -> FirmwareImage:
        return FirmwareImage((
            Partition("boot", 0, prog[:4096], policy=Policy.KEEP),
            Partition("app", 0x10000, app),
            Partition("data", 0x40000, data, type=PartitionType.DATA),
            Partition("fs", 0x60000, data[:8192], type=PartitionType.FILESYSTEM, policy=Policy.FULL),
        ))

    old, new = image(s1[:60000], prog), image(s2[:61000], prog[::-1])
    restore_both_ways(build_delta(old, new, PackageOptions(**FAST)), old, new)
    restore_both_ways(build_full(new, PackageOptions(**FAST)), None, new)
