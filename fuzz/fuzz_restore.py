#!/usr/bin/env python3
"""Fuzz target for the package parsers and the device restore (checklist 7E, E1).

One input drives one of four modes (first byte):

0  raw package bytes, unsealed: verify_package, read_package and the device's
   header reader; all must end in an OtapackError or success;
1  a real seed package (synthesizer delta, programmer full, 3-partition
   delta) whose body is overwritten at fuzzer-chosen offsets and resealed
   (CRC32/SHA-256 valid): typed error or exactly NEW, readers agree;
2  a delta-v1 patch stream, wrapped in a valid package against a 4 KiB old
   image: the device restore and ``otapack.core.diff.decode_patch`` must agree on
   accept/reject and on the bytes;
3  the input as a package *body*, resealed: same rules as 0.

Any other exception, a wrong accept or a disagreement raises AssertionError,
which the fuzzer reports as a crash.

Run (coverage-guided, needs ``pip install atheris``)::

    python fuzz/fuzz_restore.py -atheris_runs=100000

or without atheris (Hypothesis, random but not coverage-guided)::

    python fuzz/fuzz_restore.py --hypothesis --examples 2000

Extra arguments go to libFuzzer (``-max_total_time=60``, a corpus directory).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

MAX_INPUT = 1 << 16


def _load() -> None:
    """Import the code under test (inside atheris' instrumentation when fuzzing)."""
    global MODEL, OLD_FILL, body_of, compare_readers, corpus, delta_package, single
    global PackageOptions, build_delta, build_full, decode_patch, CorruptPatchError, OtapackError
    global FirmwareImage, Partition, PartitionType, Policy, seal, verify_package, SEEDS
    from hostile_builders import MODEL, OLD_FILL, body_of, compare_readers, corpus, delta_package, single
    from otapack.core.build import PackageOptions, build_delta, build_full
    from otapack.core.diff import decode_patch
    from otapack.errors import CorruptPatchError, OtapackError
    from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy
    from otapack.core.container import seal
    from otapack.core.verify import verify_package

    SEEDS = _seeds()


def _layout(app: bytes, data: bytes):
    return FirmwareImage((
        Partition("boot", 0, corpus("programmer-0.8.0.bin")[:4096], policy=Policy.KEEP),
        Partition("app", 0x10000, app),
        Partition("data", 0x40000, data, type=PartitionType.DATA),
        Partition("nvram", 0x60000, b"\x00" * 4096, type=PartitionType.NV, policy=Policy.SKIP),
    ))


def _seeds():
    opts = PackageOptions(model=MODEL, lzma_dict_size=1 << 16)
    s1, s2 = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    prog = corpus("programmer-0.8.0.bin")
    prog2 = bytearray(prog)
    prog2[2000:2010] = b"fuzz-patch"
    old, new = _layout(prog, s1[:12000]), _layout(bytes(prog2), s2[:12000])
    return [
        (build_delta(single(s1), single(s2), opts), single(s1), single(s2)),
        (build_full(single(prog), opts), single(b"\xff" * len(prog)), single(prog)),  # erased slot
        (build_delta(old, new, opts), old, new),
    ]


SEEDS: list = []


def _checked(pkg: bytes, old, new) -> None:
    report = verify_package(pkg, old, new)  # must never raise
    if report.restore.error is None:
        if new is not None:
            assert report.error is None, f"wrong accept: restore passed but {report.error}"
    else:
        assert isinstance(report.error, OtapackError), repr(report.error)
    compare_readers(pkg)


def one_input(data: bytes) -> None:
    if not data:
        return
    data = data[:MAX_INPUT]
    mode, rest = data[0] & 3, data[1:]
    if mode == 0:
        _checked(rest, single(OLD_FILL), None)
    elif mode == 3:
        _checked(seal(rest), single(OLD_FILL), None)
    elif mode == 1:
        if not rest:
            return
        pkg, old, new = SEEDS[rest[0] % len(SEEDS)]
        body = bytearray(body_of(pkg))
        edits = rest[1:]
        for i in range(0, len(edits) - 2, 3):  # (offset lo, offset hi, value) triples
            body[(edits[i] | edits[i + 1] << 8) % len(body)] = edits[i + 2]
        if len(edits) % 3 == 1:  # one leftover byte: truncate there
            del body[edits[-1] * len(body) // 256 :]
        _checked(seal(bytes(body)), old, new)
    else:
        _differential(rest)


def _differential(patch: bytes) -> None:
    old = OLD_FILL
    target_size = 300
    try:
        reference = decode_patch(old, patch, target_size)
    except CorruptPatchError:
        reference = None
    new = reference if reference is not None else b"\x00" * target_size
    pkg = delta_package(old, patch, new)
    report = verify_package(pkg, single(old), single(new))
    failed = [c.name for c in report.checks if c.status == "fail"]
    if reference is None:
        assert failed in (["resources"], ["restore:image"]), (failed, report.error)
        assert isinstance(report.error, OtapackError)
    else:
        assert report.ok, f"device refused what the reference restored: {report.error}"
        assert report.device.image("image") == reference


def _hypothesis(examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(
        st.binary(max_size=2048),
        st.tuples(st.sampled_from([1]), st.integers(0, 2), st.binary(max_size=96)).map(
            lambda t: bytes([t[0], t[1]]) + t[2]),
        st.tuples(st.sampled_from([2]), st.binary(max_size=64)).map(
            lambda t: bytes([t[0]]) + b"\x80\x02\x04" + t[1]),
    ))
    def run(data: bytes) -> None:
        one_input(data)

    run()
    print(f"hypothesis: {examples} examples, no failure")


def main(argv: list[str]) -> None:
    if "--hypothesis" in argv:
        examples = 2000
        if "--examples" in argv:
            examples = int(argv[argv.index("--examples") + 1])
        _load()
        _hypothesis(examples)
        return
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris, or run with --hypothesis --examples N")
    with atheris.instrument_imports(include=["otapack", "hostile_builders"]):
        _load()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
