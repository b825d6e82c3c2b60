"""The C diff core, its pure-Python reference, and the delta-v1 encoder/decoder."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otapack.core.diff import (
    DEFAULT_ALGORITHM,
    DIFF_ALGORITHMS,
    decode_patch,
    encode_patch,
    get_algorithm,
    make_patch,
)
from otapack.core.diff import _core
from otapack.core.diff import reference_matcher as reference
from otapack.core.diff.patch_encode import normalize_ctrl, split_windows
from otapack.errors import CorruptPatchError, UsageError
from otapack.core.formats.delta import DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_TUPLES, DIFF_CODINGS, DeltaHeader, Window
from otapack.core.formats.wire_numbers import MIN_TUPLE_OUTPUT

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"


@pytest.fixture(scope="module")
def synth():
    return (FIXTURES / "synthesizer-1.bin").read_bytes(), (FIXTURES / "synthesizer-2.bin").read_bytes()


def apply_ctrl(old: bytes, ctrl, diff: bytes, extra: bytes) -> bytes:
    """Apply (ctrl, diff, extra) directly, asserting every old read is in range."""
    out = bytearray()
    old_pos = dp = ep = 0
    for add, copy, seek in ctrl:
        assert add >= 0 and copy >= 0
        assert 0 <= old_pos and old_pos + add <= len(old)
        out += bytes((old[old_pos + i] + diff[dp + i]) & 0xFF for i in range(add))
        old_pos += add
        dp += add
        out += extra[ep : ep + copy]
        ep += copy
        old_pos += seek
        assert 0 <= old_pos <= len(old)
    assert dp == len(diff) and ep == len(extra)
    return bytes(out)


def windows_of(stream: bytes):
    """(header, [raw window bytes]) of a stream, parsed with the declarations."""
    f = io.BytesIO(stream)
    header = DeltaHeader.parse_stream(f)
    raws = []
    while f.tell() < len(stream):
        start = f.tell()
        Window.parse_stream(f)
        raws.append(stream[start : f.tell()])
    return header, raws


def mutate(rnd: random.Random, data: bytes, edits: int) -> bytes:
    out = bytearray(data)
    for _ in range(edits):
        at = rnd.randint(0, len(out))
        out[at : at + rnd.randint(0, 6)] = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 8)))
    return bytes(out)


# --------------------------------------------------------------------------
# suffix array and matcher: C against the reference


def test_suffix_array_matches_sorting():
    rnd = random.Random(1)
    for _ in range(500):
        data = bytes(rnd.randrange(rnd.choice([1, 2, 3, 256])) for _ in range(rnd.randint(0, 80)))
        assert _core.suffix_array(data) == reference.suffix_array(data)


def test_suffix_array_repetitive_inputs():
    for data in (b"", b"a", b"\0" * 1000, b"ab" * 500, b"abc" * 333 + b"ab", bytes(range(256)) * 4):
        assert _core.suffix_array(data) == reference.suffix_array(data)


def assert_is_suffix_array(sa: list[int], data: bytes) -> None:
    """sa is the suffix array of data: a permutation, adjacent suffixes increasing."""
    assert sorted(sa) == list(range(len(data)))
    for a, b in zip(sa, sa[1:]):
        assert data[a:] < data[b:]


def test_suffix_array_large_structured_inputs():
    # Longer than the blocks the LMS scan works in (2048 positions), deep
    # recursion, and reduced strings whose alphabet exceeds 256 names with no
    # spare room in the array (every other symbol an LMS position).
    rnd = random.Random(8)
    cases = [
        bytes(rnd.randrange(256) for _ in range(9000)),
        bytes(rnd.randrange(2) for _ in range(9000)),
        bytes(x for _ in range(6000) for x in (255, rnd.randrange(255))),
        bytes(x for i in range(5000) for x in (200, i % 199, 7)),
        b"abracadabra" * 700 + bytes(rnd.randrange(3) for _ in range(700)),
        (FIXTURES / "synthesizer-1.bin").read_bytes()[30_000:50_000],
    ]
    for data in cases:
        assert_is_suffix_array(_core.suffix_array(data), data)


def test_c_scan_equals_reference_on_random_edits():
    rnd = random.Random(2)
    for _ in range(300):
        k = rnd.choice([2, 4, 256])
        old = bytes(rnd.randrange(k) for _ in range(rnd.randint(0, 300)))
        new = mutate(rnd, old, rnd.randint(0, 12))
        assert _core.diff(old, new) == reference.diff(old, new)


@pytest.mark.parametrize(
    "params",
    [dict(min_gain=8, ext_pct=50, seek_weight=0), dict(min_gain=0, ext_pct=30, seek_weight=1), dict(min_gain=3, ext_pct=60, seek_weight=3)],
)
def test_c_scan_equals_reference_with_tuning_parameters(params):
    rnd = random.Random(4)
    for _ in range(100):
        old = bytes(rnd.randrange(rnd.choice([2, 256])) for _ in range(rnd.randint(0, 300)))
        new = mutate(rnd, old, rnd.randint(0, 12))
        result = _core.diff(old, new, **params)
        assert result == reference.diff(old, new, **params)
        assert apply_ctrl(old, *result) == new


def test_c_scan_rejects_bad_parameters():
    with pytest.raises(ValueError):
        _core.diff(b"a", b"b", ext_pct=0)
    with pytest.raises(ValueError):
        _core.diff(b"a", b"b", min_gain=-1)


SETTING_LIMITS = {"min_gain": (0, 2**31 - 1), "ext_pct": (1, 99), "seek_weight": (0, 2**31 - 1)}


def test_setting_ranges_have_one_source():
    assert _core.SETTING_RANGES == SETTING_LIMITS == reference.SETTING_RANGES


@pytest.mark.parametrize("name", sorted(SETTING_LIMITS))
@pytest.mark.parametrize("where", ["low", "high", "huge", "negative-huge"])
def test_settings_out_of_range_raise_value_error(name, where):
    # A huge seek_weight used to overflow a signed 64-bit product in the scan.
    low, high = SETTING_LIMITS[name]
    value = {"low": low - 1, "high": high + 1, "huge": 2**64 + 5, "negative-huge": -(2**70)}[where]
    message = rf"^{name} must be in {low}\.\.{high}, got {value}$"
    with pytest.raises(ValueError, match=message):
        _core.diff(b"abc", b"abd", **{name: value})
    with pytest.raises(ValueError, match=message):
        _core.Index(b"abc").diff(b"abd", **{name: value})
    with pytest.raises(ValueError, match=message):
        reference.diff(b"abc", b"abd", **{name: value})


@pytest.mark.parametrize("value", [True, 1.5, "2", b"2"])
def test_settings_must_be_ints(value):
    for call in (lambda: _core.diff(b"abc", b"abd", min_gain=value),
                 lambda: _core.Index(b"abc").diff(b"abd", seek_weight=value),
                 lambda: reference.diff(b"abc", b"abd", ext_pct=value)):
        with pytest.raises(TypeError, match=r"must be an int, not "):
            call()


def test_settings_at_their_bounds_agree_with_the_reference():
    rnd = random.Random(6)
    for _ in range(60):
        old = bytes(rnd.randrange(rnd.choice([2, 256])) for _ in range(rnd.randint(0, 300)))
        new = mutate(rnd, old, rnd.randint(0, 12))
        for name, (low, high) in SETTING_LIMITS.items():
            for value in (low, high):
                result = _core.diff(old, new, **{name: value})
                assert result == reference.diff(old, new, **{name: value})
                assert apply_ctrl(old, *result) == new
    # the extremes together, on firmware: still a valid patch
    old, new = (FIXTURES / "synthesizer-1.bin").read_bytes(), (FIXTURES / "synthesizer-2.bin").read_bytes()
    top = {name: high for name, (_, high) in SETTING_LIMITS.items()}
    assert apply_ctrl(old, *_core.diff(old, new, **top)) == new


def test_none_settings_take_the_defaults(synth):
    old, new = synth
    assert _core.diff(old, new, min_gain=None, ext_pct=None, seek_weight=None) == _core.diff(old, new)
    assert _core.Index(old).diff(new, seek_weight=None) == _core.diff(old, new)


@pytest.mark.parametrize(
    "setting,message",
    [
        ({"min_gain": -1}, r"^otadiff setting min_gain must be in 0\.\.2147483647, got -1$"),
        ({"seek_weight": 2**31}, r"^otadiff setting seek_weight must be in 0\.\.2147483647, got 2147483648$"),
        ({"ext_pct": 100}, r"^otadiff setting ext_pct must be in 1\.\.99, got 100$"),
        ({"ext_pct": True}, r"^otadiff setting ext_pct must be an integer, got True$"),
        ({"seek": 1}, r"^unknown otadiff setting 'seek'; valid: ext_pct, min_gain, seek_weight$"),
    ],
)
def test_bad_settings_are_usage_errors_at_the_python_layer(setting, message):
    from otapack.core.diff import make_candidates, match_all

    with pytest.raises(UsageError, match=message):
        DIFF_ALGORITHMS["otadiff"].function(b"abc", b"abd", **setting)
    # checked before any work, also when other settings share one index
    with pytest.raises(UsageError, match=message):
        match_all(b"abc", b"abd", settings=({}, setting))
    with pytest.raises(UsageError, match=message):
        make_candidates(b"abc", b"abd", settings=(setting,))


def test_bsdiff4_takes_no_settings():
    from otapack.core.diff import match_all

    with pytest.raises(UsageError, match=r"^this diff algorithm takes no settings, got min_gain$"):
        match_all(b"abc", b"abd", "bsdiff4", settings=({"min_gain": 1},))


def test_core_value_errors_become_usage_errors(monkeypatch):
    # The Python checks read the C bounds; should they ever miss a case, the
    # core's own ValueError still arrives as a UsageError, not a traceback.
    from otapack.core import diff as diff_module

    monkeypatch.setattr(diff_module, "_check_otadiff_setting", lambda setting: None)
    with pytest.raises(UsageError, match=r"^otadiff: min_gain must be in 0\.\.2147483647, got -1$"):
        DIFF_ALGORITHMS["otadiff"].function(b"abc", b"abd", min_gain=-1)
    with pytest.raises(UsageError, match=r"^otadiff: ext_pct must be in 1\.\.99, got 0$"):
        DIFF_ALGORITHMS["otadiff"].prepare(b"abc")(b"abd", ext_pct=0)


def test_inputs_of_2_gib_are_refused_before_any_copy():
    import mmap

    from otapack.errors import InputError

    huge = mmap.mmap(-1, 2**31)  # address space only: nothing is touched
    try:
        for call in (lambda: _core.diff(huge, b""), lambda: _core.diff(b"", huge),
                     lambda: _core.Index(memoryview(huge)), lambda: _core.suffix_array(huge)):
            with pytest.raises(OverflowError, match=r"is limited to 2 GiB - 1 bytes$"):
                call()
        with pytest.raises(InputError, match=r"^otadiff: old is limited to 2 GiB - 1 bytes$"):
            DIFF_ALGORITHMS["otadiff"].function(huge, b"")
    finally:
        huge.close()


def test_c_scan_equals_reference_on_firmware_slices(synth):
    old, new = synth
    for start, size in ((0, 1500), (40_000, 2000), (150_000, 1200)):
        o, n = old[start : start + size], new[start + 7 : start + 7 + size]
        assert _core.diff(o, n) == reference.diff(o, n)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_c_equals_reference_hypothesis(old, new):
    result = _core.diff(old, new)
    assert result == reference.diff(old, new)
    assert apply_ctrl(old, *result) == new


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=400), st.data())
def test_related_inputs_restore(old, data):
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    new = mutate(rnd, old, data.draw(st.integers(0, 10)))
    ws = data.draw(st.sampled_from([1, 2, 7, 64, 65536]))
    mt = data.draw(st.sampled_from([2, 3, 1024]))
    for name in DIFF_ALGORITHMS:
        for coding in DIFF_CODINGS:
            stream = make_patch(old, new, name, window_size=ws, max_window_tuples=mt, diff_coding=coding)
            assert decode_patch(old, stream, len(new)) == new


# --------------------------------------------------------------------------
# edge cases


@pytest.mark.parametrize(
    "old,new",
    [(b"", b""), (b"", b"new bytes"), (b"old bytes", b""), (b"x", b"x"), (b"x", b"y")],
)
def test_empty_and_tiny_inputs(old, new):
    for name in DIFF_ALGORITHMS:
        ctrl, diff, extra = DIFF_ALGORITHMS[name].function(old, new)
        assert apply_ctrl(old, ctrl, diff, extra) == new
        assert decode_patch(old, make_patch(old, new, name), len(new)) == new
    assert _core.diff(old, new) == reference.diff(old, new)


def test_empty_new_is_header_only():
    stream = make_patch(b"some old image", b"")
    assert stream == DeltaHeader.build({"window_size": DEFAULT_WINDOW_SIZE, "max_window_tuples": DEFAULT_WINDOW_TUPLES})
    assert decode_patch(b"some old image", stream, 0) == b""


def test_empty_old_is_all_extra():
    ctrl, diff, extra = _core.diff(b"", b"abc" * 100)
    assert ctrl == [(0, 300, 0)] and diff == b"" and extra == b"abc" * 100


def test_identical_inputs(synth):
    old, _ = synth
    ctrl, diff, extra = _core.diff(old, old)
    assert ctrl == [(len(old), 0, 0)]
    assert diff == bytes(len(old)) and extra == b""
    assert decode_patch(old, make_patch(old, old), len(old)) == old


def test_completely_different_inputs():
    rnd = random.Random(3)
    old = bytes(rnd.randrange(256) for _ in range(5000))
    new = bytes(rnd.randrange(256) for _ in range(6000))
    ctrl, diff, extra = _core.diff(old, new)
    assert apply_ctrl(old, ctrl, diff, extra) == new
    assert len(extra) > 5000  # next to nothing matches
    assert decode_patch(old, make_patch(old, new), len(new)) == new


def test_bsdiff_out_of_range_reads_never_happen():
    # new longer than old with matches at old's end: a scan that treated
    # reads past the end as 0 would produce adds running off old.
    old = b"\x01\x02\x03" * 50
    new = old + b"\x00" * 40 + old[-20:] + b"\x00" * 10
    ctrl, diff, extra = _core.diff(old, new)
    assert apply_ctrl(old, ctrl, diff, extra) == new


# --------------------------------------------------------------------------
# real firmware, determinism, threads


@pytest.mark.parametrize("name", sorted(DIFF_ALGORITHMS))
@pytest.mark.parametrize("coding", sorted(DIFF_CODINGS))
@pytest.mark.parametrize("ws,mt", [(65536, 1024), (4096, 4), (1 << 20, 1 << 16), (1000, 2)])
def test_firmware_round_trip(synth, name, ws, mt, coding):
    old, new = synth
    kw = dict(window_size=ws, max_window_tuples=mt, diff_coding=coding)
    assert decode_patch(old, make_patch(old, new, name, **kw), len(new)) == new
    assert decode_patch(new, make_patch(new, old, name, **kw), len(old)) == old


def test_firmware_patch_is_small(synth):
    old, new = synth
    ctrl, diff, extra = _core.diff(old, new)
    assert len(extra) < 200 and len(ctrl) < 20


def test_deterministic(synth):
    old, new = synth
    assert _core.diff(old, new) == _core.diff(old, new)
    assert make_patch(old, new) == make_patch(old, new)


def test_parallel_threads_give_the_same_result(synth):
    old, new = synth
    expected = _core.diff(old, new)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _core.diff(old, new), range(8)))
    assert all(r == expected for r in results)


def test_accepts_bytes_like(synth):
    import array

    old, new = synth
    expected = _core.diff(old, new)
    assert _core.diff(bytearray(old), memoryview(new)) == expected
    assert _core.diff(array.array("B", old), bytearray(new)) == expected
    # a non-contiguous view is gathered in order
    spread = bytes(b for pair in zip(old, bytes(len(old))) for b in pair)
    assert _core.diff(memoryview(spread)[::2], new) == expected
    assert _core.suffix_array(memoryview(spread)[::2][:3000]) == _core.suffix_array(old[:3000])


@pytest.mark.parametrize("bad", ["text", 12, None, [1, 2]])
def test_refuses_non_bytes(bad):
    with pytest.raises(TypeError, match=r"must be a bytes-like object, not "):
        _core.diff(bad, b"x")
    with pytest.raises(TypeError, match=r"must be a bytes-like object, not "):
        _core.Index(b"x").diff(bad)
    with pytest.raises(TypeError, match=r"must be a bytes-like object, not "):
        _core.suffix_array(bad)


def test_mutable_buffers_changed_by_another_thread():
    # Reported: a bytearray rewritten by another thread while the core ran
    # without the GIL corrupted the heap (ASan: heap overflow in the suffix
    # array construction; "double free or corruption" in a normal build).
    # The core now copies any buffer that is not bytes before it releases
    # the GIL; every result is the result on one state of the buffer.
    script = Path(__file__).parent / "mutable_buffer_race.py"
    proc = subprocess.run([sys.executable, str(script), "20"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().endswith("ok")


def test_bytes_are_used_in_place_and_other_buffers_copied(synth):
    # An Index keeps a bytes object alive (no copy) and needs nothing from a
    # bytearray after construction: it may change or be resized at once.
    old, new = synth
    expected = _core.diff(old, new)
    before = sys.getrefcount(old)
    index = _core.Index(old)
    assert sys.getrefcount(old) == before + 1
    del index
    assert sys.getrefcount(old) == before
    mutable = bytearray(old)
    index = _core.Index(mutable)
    mutable[:] = bytes(len(mutable))
    mutable += b"grown after the index was built"
    assert index.diff(new) == expected


# --------------------------------------------------------------------------
# Index: one suffix array, many scans


def test_index_gives_the_same_results_as_diff():
    rnd = random.Random(7)
    for _ in range(150):
        old = bytes(rnd.randrange(rnd.choice([1, 2, 4, 256])) for _ in range(rnd.randint(0, 400)))
        index = _core.Index(old)
        assert len(index) == len(old)
        assert index.suffix_array() == reference.suffix_array(old)
        for _ in range(3):
            new = mutate(rnd, old, rnd.randint(0, 12))
            params = rnd.choice([{}, {"min_gain": 1, "ext_pct": 30}, {"min_gain": 4, "seek_weight": 1},
                                 {"min_gain": 0, "ext_pct": 45, "seek_weight": 8}])
            assert index.diff(new, **params) == _core.diff(old, new, **params) == reference.diff(old, new, **params)


def spliced(rnd: random.Random, old: bytes, size: int) -> bytes:
    """New data from random pieces of old (some shifted), noise and runs."""
    out = bytearray()
    while len(out) < size:
        kind = rnd.random()
        n = rnd.randint(1, 300)
        if kind < 0.6 and old:
            at = rnd.randrange(len(old))
            out += old[at : at + n]
        elif kind < 0.8:
            out += bytes(rnd.randrange(256) for _ in range(n % 40))
        else:
            out += bytes([rnd.choice([0, 0xFF, old[0] if old else 1])]) * n
    return bytes(out[:size])


def test_bucket_index_search_equals_the_plain_binary_search(synth):
    # Inputs with buckets of far more than 4096 suffixes sharing two bytes
    # (so the third-byte tables are used), searched both ways.
    rnd = random.Random(9)
    firmware = synth[0]
    olds = [
        bytes(rnd.choice([0, 0, 0, 0, 1, 2, 0xFF]) for _ in range(60_000)),
        bytes(rnd.randrange(3) for _ in range(40_000)),
        firmware[:80_000] + bytes(20_000) + firmware[100_000:],
        bytes(rnd.randrange(256) for _ in range(30_000)),
    ]
    for old in olds:
        fast, plain = _core.Index(old), _core.Index(old, bucket_index=False)
        for _ in range(2):
            new = spliced(rnd, old, rnd.randint(5_000, 60_000))
            for params in ({}, {"min_gain": 1, "ext_pct": 30}, {"min_gain": 0, "ext_pct": 45, "seek_weight": 8}):
                result = fast.diff(new, **params)
                assert result == plain.diff(new, **params)
                assert apply_ctrl(old, *result) == new


def test_bucket_index_matches_at_every_bucket_edge():
    # Patterns just inside and just outside each two- and three-byte bucket,
    # so every bucket and third-byte table bound decides a result: the bucket
    # search, the plain binary search and the reference must agree exactly.
    rnd = random.Random(10)
    for old in (bytes(rnd.choice([0, 0, 0, 1, 7, 0xFF]) for _ in range(30_000)) + b"\0\0",
                bytes(rnd.choice([0, 0, 1, 2]) for _ in range(20_000)) + b"\x01\x02",
                bytes(rnd.randrange(256) for _ in range(9_000)) + bytes(6_000)):
        fast, plain = _core.Index(old), _core.Index(old, bucket_index=False)
        sa = plain.suffix_array()
        prefixes = {old[i : i + 3] for i in range(0, len(old) - 3, 53)} | {old[-3:], old[-2:], old[-1:]}
        patterns = {b"", b"\0", b"\xff" * 5}
        for prefix in prefixes:
            for tail in (b"", b"\x00", b"\xff\xff\xff", bytes([rnd.randrange(256)])):
                patterns |= {prefix + tail, prefix[:2] + tail, prefix[:1] + tail}
        for pattern in sorted(patterns):
            for hint in (0, len(old) // 2, len(old) + 5, rnd.randrange(len(old))):
                got = fast.match(pattern, hint)
                assert got == plain.match(pattern, hint), (pattern, hint)
                assert got == reference.longest_match(sa, old, pattern, 0, hint), (pattern, hint)


def test_match_hints_far_outside_old_are_safe():
    # "abc2" sorts between "abc1abc3" (at 0) and "abc3" (at 4): a tie the hint decides
    old = b"abc1abc3"
    index = _core.Index(old)
    sa = index.suffix_array()
    for hint, expected in ((-(2**63), (3, 0)), (-1, (3, 0)), (1, (3, 0)), (3, (3, 4)), (2**63 - 1, (3, 4))):
        assert index.match(b"abc2", hint) == expected == reference.longest_match(sa, old, b"abc2", 0, hint)
    with pytest.raises(OverflowError):
        index.match(b"abc2", 2**63)


def test_index_settings_are_keyword_only():
    with pytest.raises(TypeError):
        _core.Index(b"abc").diff(b"abd", 2)


def test_index_concurrent_scans(synth):
    old, new = synth
    variants = [new, new[::-1], new[:50_000], old, bytes(1000), new[7:] + new[:7]]
    settings_list = [dict(s) for s in DIFF_ALGORITHMS["otadiff"].settings]
    jobs = [(v, s) for v in variants for s in settings_list] * 2
    expected = [_core.diff(old, v, **s) for v, s in jobs]
    index = _core.Index(old)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: index.diff(job[0], **job[1]), jobs))
    assert results == expected


def test_make_candidates_builds_one_index_for_all_settings(synth, monkeypatch):
    import dataclasses

    from otapack.core.diff import _encode_all, literalize_dense_diffs, make_candidates

    old, new = synth
    algorithm = DIFF_ALGORITHMS["otadiff"]
    prepared = []

    def counting_prepare(data):
        prepared.append(len(data))
        return algorithm.prepare(data)

    monkeypatch.setitem(DIFF_ALGORITHMS, "otadiff", dataclasses.replace(algorithm, prepare=counting_prepare))
    candidates = make_candidates(old, new)
    assert prepared == [len(old)]
    # the same streams as one full diff per setting
    separate = [_encode_all(literalize_dense_diffs(_core.diff(old, new, **s), new), DEFAULT_WINDOW_SIZE,
                            DEFAULT_WINDOW_TUPLES, tuple(DIFF_CODINGS))
                for s in algorithm.settings]
    assert candidates == separate
    assert len(candidates) == len(algorithm.settings) == 3


# --------------------------------------------------------------------------
# encoder: windows


@pytest.mark.parametrize("ws,mt", [(65536, 1024), (5000, 3), pytest.param(1, 2, marks=pytest.mark.slow), (777, 2)])
def test_windows_within_bounds_and_round_trip(synth, ws, mt):
    old, new = synth
    new = new[:20000]
    stream = make_patch(old, new, window_size=ws, max_window_tuples=mt)
    header, raws = windows_of(stream)
    assert (header.window_size, header.max_window_tuples) == (ws, mt)
    total = 0
    for raw in raws:
        window = Window.parse(raw)
        assert Window.build(window) == raw
        count = window.head.count
        output = sum(t["add"] + t["copy"] for t in window.head.tuples)
        assert 1 <= count <= mt
        assert output <= ws
        total += output
    assert total == len(new)
    if ws < MIN_TUPLE_OUTPUT:
        # tuples of fewer than 16 bytes each break the restore's work bound:
        # the reference applier refuses such a stream as the device does
        # (the builder sends such a partition in full instead).
        with pytest.raises(CorruptPatchError, match="above the work bound"):
            decode_patch(old, stream, len(new))
    else:
        assert decode_patch(old, stream, len(new)) == new


def test_windows_are_full_except_when_tuple_count_closes_them():
    ctrl = [(10, 5, 3), (0, 0, -2), (7, 0, 1), (3, 20, 0)]
    diff, extra = bytes(20), bytes(25)
    windows = split_windows(normalize_ctrl(ctrl), 8, 1024)
    assert [sum(a + c for a, c, _ in w) for w in windows] == [8, 8, 8, 8, 8, 5]
    # split pieces carry no seek; the seek stays on the last piece
    assert windows[0] == [(8, 0, 0)]
    assert windows[1] == [(2, 5, 1), (1, 0, 0)]
    stream = encode_patch(ctrl, diff, extra, window_size=8)
    assert len(windows_of(stream)[1]) == 6


def test_normalize_folds_and_merges():
    assert normalize_ctrl([(0, 0, 5), (0, 3, 2), (4, 0, 0), (0, 0, 7), (2, 1, 9)]) == [
        [0, 3, 7], [4, 0, 7], [2, 1, 0]
    ]
    assert normalize_ctrl([(3, 0, 0), (2, 4, 0), (0, 2, -3), (1, 0, 5)]) == [[5, 6, -3], [1, 0, 0]]
    assert normalize_ctrl([(0, 0, 9), (4, 1, 2)]) == [[0, 0, 9], [4, 1, 0]]


def test_encoder_rejects_bad_limits_and_mismatched_buffers():
    with pytest.raises(UsageError):
        encode_patch([(1, 0, 0)], b"\0", b"", window_size=0)
    with pytest.raises(UsageError):
        encode_patch([(1, 0, 0)], b"\0", b"", window_size=(1 << 20) + 1)
    with pytest.raises(UsageError):
        encode_patch([(1, 0, 0)], b"\0", b"", max_window_tuples=(1 << 16) + 1)
    with pytest.raises(ValueError):
        encode_patch([(2, 0, 0)], b"\0", b"")


def test_unknown_algorithm_lists_valid_names():
    with pytest.raises(UsageError, match=r"unknown diff algorithm 'nope'; valid: bsdiff4, otadiff"):
        make_patch(b"a", b"b", "nope")
    assert get_algorithm(DEFAULT_ALGORITHM).name == "otadiff"


# --------------------------------------------------------------------------
# decode_patch: every corruption class, exact messages


def stream_of(windows, window_size=16, max_window_tuples=4) -> bytes:
    out = DeltaHeader.build({"window_size": window_size, "max_window_tuples": max_window_tuples})
    for tuples, extra, diff in windows:
        out += Window.build(
            {
                "head": {"count": len(tuples), "tuples": [{"add": a, "copy": c, "seek": s} for a, c, s in tuples]},
                "extra": extra,
                "diff": diff,
            }
        )
    return out


OLD = b"abcdef"


def corrupt(message: str, stream: bytes, new_size: int, old: bytes = OLD):
    with pytest.raises(CorruptPatchError) as info:
        decode_patch(old, stream, new_size)
    assert str(info.value) == message


def test_decode_valid_hand_made_stream():
    # "cd" from old[2:4] after a seek of 2, then "XY" from extra, then "a"
    stream = stream_of([([(0, 0, 2), (2, 2, -4), (1, 0, 0)], b"XY", b"\0\0\0")])
    assert decode_patch(OLD, stream, 5) == b"cdXYa"


def test_decode_add_past_new_size():
    corrupt(
        "window 0 tuple 0: add of 4 bytes at output offset 0 runs past the new size of 3 bytes (at offset 4)",
        stream_of([([(4, 0, 0)], b"", bytes(4))]),
        3,
    )


def test_decode_copy_past_new_size():
    corrupt(
        "window 0 tuple 1: copy of 5 bytes at output offset 1 runs past the new size of 4 bytes (at offset 7)",
        stream_of([([(1, 0, 0), (0, 5, 0)], b"12345", b"\0")]),
        4,
    )


def test_decode_old_read_outside_old():
    corrupt(
        "window 0 tuple 1: add of 3 bytes at old offset 5 reads outside the old partition of 6 bytes (at offset 7)",
        stream_of([([(2, 0, 3), (3, 0, 0)], b"", bytes(5))]),
        5,
    )


@pytest.mark.parametrize(
    "seek,message",
    [
        (-3, "window 0 tuple 0: seek of -3 from old offset 2 leaves the old partition of 6 bytes (at offset 4)"),
        (5, "window 0 tuple 0: seek of 5 from old offset 2 leaves the old partition of 6 bytes (at offset 4)"),
    ],
)
def test_decode_seek_outside_old(seek, message):
    corrupt(message, stream_of([([(2, 0, seek), (1, 0, 0)], b"", bytes(3))]), 3)


def test_decode_seek_to_the_very_end_is_allowed():
    assert decode_patch(OLD, stream_of([([(2, 0, 4), (0, 1, 0)], b"z", b"\0\0")]), 3) == b"abz"


def test_decode_window_over_tuple_bound():
    corrupt(
        "window 0: 3 tuples, above the declared maximum of 2 (at offset 3)",
        stream_of([([(1, 0, 0), (1, 0, 0), (1, 0, 0)], b"", b"\0\0\0")], max_window_tuples=2),
        3,
    )


def test_decode_window_over_size_bound():
    corrupt(
        "window 0 tuple 1: window output exceeds the declared window size of 4 bytes (at offset 7)",
        stream_of([([(2, 0, 0), (1, 2, 0)], b"zz", b"\0\0\0")], window_size=4),
        5,
    )


def test_decode_missing_window():
    corrupt(
        "stream ends after 1 windows with 3 of 5 bytes restored (at offset 10)",
        stream_of([([(3, 0, 0)], b"", b"\0\0\0")]),
        5,
    )


def test_decode_missing_diff_bytes():
    stream = stream_of([([(3, 1, 0)], b"e", b"\0\0\0")])
    corrupt("window 0: 3 diff bytes declared, 2 left in the stream (at offset 8)", stream[:-1], 4)


def test_decode_missing_extra_bytes():
    stream = stream_of([([(0, 3, 0)], b"xyz", b"")])
    corrupt("window 0: 3 extra bytes declared, 1 left in the stream (at offset 7)", stream[:-2], 3)


def test_decode_truncated_tuple():
    stream = stream_of([([(1, 0, 0), (1, 0, 0)], b"", b"\0\0")])
    with pytest.raises(CorruptPatchError, match=r"^window 0 tuple 1: malformed: .* \(at offset 7\)$"):
        decode_patch(OLD, stream[:8], 2)


def test_decode_trailing_bytes():
    stream = stream_of([([(2, 0, 0)], b"", b"\0\0")])
    corrupt("1 trailing bytes after the last window (at offset 9)", stream + b"\0", 2)


def test_decode_bad_header_and_overlong_varint():
    with pytest.raises(CorruptPatchError, match=r"^malformed delta header: .* \(at offset 0\)$"):
        decode_patch(OLD, b"", 0)
    with pytest.raises(CorruptPatchError, match=r"^malformed delta header: .* \(at offset 0\)$"):
        decode_patch(OLD, b"\x00\x01", 0)  # window size 0
    good = stream_of([([(1, 0, 0)], b"", b"\0")])
    overlong = good[:3] + b"\x81\x00" + good[4:]  # count 1 written in two bytes
    with pytest.raises(CorruptPatchError, match=r"^window 0: malformed tuple count: .* \(at offset 3\)$"):
        decode_patch(OLD, overlong, 1)


def test_decode_rejects_bsdiff4_stream_for_wrong_old(synth):
    old, new = synth
    stream = make_patch(old, new, "bsdiff4")
    with pytest.raises(CorruptPatchError):
        decode_patch(old[:1000], stream, len(new))


@pytest.mark.slow
def test_large_inputs_get_their_own_defaults():
    # Left-out settings depend on len(new) (a large new image gets a heavy
    # seek weight: short far-away matches stay extra); C core and reference
    # agree on them.
    assert reference.default_settings(1 << 20) == (2, 40, 2)
    assert reference.default_settings((1 << 20) + 1) == (0, 45, 8)
    rnd = random.Random(5)
    old = rnd.randbytes(1 << 20)
    new = bytearray(old)
    for at in range(0, len(new) - 200, 4096):  # 16-byte snippets from far away
        src = rnd.randrange(len(old) - 16)
        new[at : at + 40] = rnd.randbytes(12) + old[src : src + 16] + rnd.randbytes(12)
    small, large = bytes(new[: 1 << 20]), bytes(new) + b"tail"
    for data in (small, large):
        mg, ext, sw = reference.default_settings(len(data))
        result = _core.diff(old, data)
        assert result == _core.diff(old, data, min_gain=mg, ext_pct=ext, seek_weight=sw)
        assert apply_ctrl(old, *result) == data
    assert len(_core.diff(old, small)[0]) > 2 * len(_core.diff(old, large)[0])


def test_replaced_region_travels_as_extra_bytes(synth):
    """A region replaced in place is carried as new bytes, not as noisy diffs."""
    from otapack.core.diff import literalize_dense_diffs

    old, _ = synth
    old = old[:60000]
    replacement = bytes(range(256)) * 8  # 2 KiB of compressible "new code"
    new = old[:20000] + replacement + old[20000 + len(replacement):]
    matches = get_algorithm(DEFAULT_ALGORITHM).function(old, new)
    ctrl, diff, extra = literalize_dense_diffs(matches, new)
    assert replacement in extra
    assert len(diff) - diff.count(0) < 64  # the noise is gone from the diff bytes
    for coding in DIFF_CODINGS:
        stream = encode_patch(ctrl, diff, extra, diff_coding=coding)
        assert decode_patch(old, stream, len(new)) == new
    assert len(make_patch(old, new)) < len(encode_patch(*matches)) + 64


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.data())
def test_literalized_matches_restore(old, data):
    from otapack.core.diff import literalize_dense_diffs

    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    new = bytearray(mutate(rnd, old, data.draw(st.integers(0, 5))))
    start = data.draw(st.integers(0, len(new)))
    new[start : start + 300] = bytes(rnd.randrange(1, 256) for _ in range(len(new[start : start + 300])))
    new = bytes(new)
    ctrl, diff, extra = literalize_dense_diffs(get_algorithm(DEFAULT_ALGORITHM).function(old, new), new)
    assert decode_patch(old, encode_patch(ctrl, diff, extra), len(new)) == new


def test_the_c_zero_run_coder_gives_the_reference_bytes():
    from otapack.core.formats.delta import encode_zero_runs

    rng = random.Random(2)
    cases = [b"", b"\0", b"\1", bytes(300), b"\1" * 300, bytes(20_000) + b"\5", b"\5" + bytes(20_000),
             bytearray(b"\0\0\7\0"), memoryview(b"\3\0\0\0\4")]
    for _ in range(400):
        fill = rng.random()
        cases.append(bytes(rng.randrange(1, 256) if rng.random() < fill else 0 for _ in range(rng.randrange(600))))
    for data in cases:
        assert _core.zero_runs(data) == encode_zero_runs(bytes(data)), bytes(data)[:40]


def _random_matches(rng: random.Random):
    """Consistent (ctrl, diff, extra) and the NEW they rebuild, with dense and sparse diff stretches."""
    ctrl, diff, extra, new = [], bytearray(), bytearray(), bytearray()
    for _ in range(rng.randrange(6)):
        add = rng.choice([0, 1, 5, 255, 256, 257, 300, 1000, 3000]) + rng.randrange(3)
        fill, longest_gap = rng.random(), rng.choice([1, 7, 8, 9, 20])
        stretch = bytearray()
        while len(stretch) < add:
            if rng.random() < fill:
                stretch.append(rng.randrange(1, 256))
            else:
                stretch += bytes(min(rng.randrange(1, longest_gap + 1), add - len(stretch)))
        copied = rng.randbytes(rng.randrange(50))
        ctrl.append((add, len(copied), rng.randrange(-1000, 1000)))
        diff += stretch
        extra += copied
        new += rng.randbytes(add) + copied
    return (ctrl, bytes(diff), bytes(extra)), bytes(new)


def test_the_c_dense_pass_gives_literalize_dense_diffs_result():
    from otapack.core.diff import DENSE_MIN_FILL, DENSE_MIN_LENGTH, literalize_dense_diffs

    rng = random.Random(4)
    moved = 0
    for _ in range(300):
        matches, new = _random_matches(rng)
        want = literalize_dense_diffs(matches, new)
        assert _core.literalize_dense(*matches, new, DENSE_MIN_LENGTH, DENSE_MIN_FILL) == want
        moved += len(want[0]) > len(matches[0])
    assert moved > 30  # many cases did turn stretches into extra bytes


def test_the_c_dense_pass_refuses_tuples_that_do_not_fit():
    for ctrl in ([(5, 0, 0)], [(0, 3, 0)], [(-1, 0, 0)], [(2, 2, 0)], [(1, 2)], [(2, 1, 0), (0, 0, 0), (0, 1, 0)]):
        with pytest.raises((ValueError, TypeError)):
            _core.literalize_dense(ctrl, b"\1\2", b"\3", b"\0\0\3", 256, 0.6)
