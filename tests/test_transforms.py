"""delta-v2 operand transforms (prototype, otapack/core/transforms).

Round trips builder -> device restore on real Thumb-2 images and on
synthetic AArch64/A32 code, the device restore against the reference
applier on random tables, the encodings of every kind, and the transform
section's validation rules (each pinned to its error).
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from otapack.core.restore.resources import DECODE_CHUNK, TUPLE_BYTES, RamMeter
from otapack.core.transforms import builder
from otapack.core.restore.transform import TransformParams
from otapack.core.restore import transform_kinds as kinds
from otapack.core.restore.transform_kinds import ARCHES
from otapack.core.transforms.reference import reference_apply
from otapack.core.transforms.restore import apply_delta_v2
from otapack.core.transforms.section import encode_section, read_section
from otapack.core.formats.wire_numbers import transform_ram
from otapack.core.diff.patch_encode import DEFAULT_WINDOW_TUPLES, encode_patch
from otapack.core.formats.delta import DeltaHeader
from otapack.core.formats.varint import encode_varint
from otapack.errors import CorruptPatchError, PackageFormatError, ResourceLimitError

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"


class Sink:
    def __init__(self):
        self.data = bytearray()

    def write(self, chunk):
        self.data += chunk


def device_apply(stream: bytes, old: bytes, size: int) -> bytes:
    sink = Sink()
    apply_delta_v2(io.BytesIO(stream), lambda p, k: old[p : p + k], len(old), sink, size, RamMeter(), "app")
    return bytes(sink.data)


def nonzero(data: bytes) -> int:
    return len(data) - data.count(0)


# ------------------------------------------------------------------ real Thumb-2 pair

def test_synthesizer_round_trip_and_gain():
    old = (FIXTURES / "synthesizer-1.bin").read_bytes()
    new = (FIXTURES / "synthesizer-2.bin").read_bytes()
    plan = builder.plan(old, new, "thumb2")
    assert plan.params.base == 0x80000  # SAM3X8E flash
    plain = builder.transformed_diff(old, new, plan.ctrl, None)
    # Most diff bytes of this small edit are re-aimed branches and pointers.
    assert nonzero(plan.diff) * 5 < nonzero(plain)
    for coding in ("raw", "zero-run"):
        stream = builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, plan.params, len(new), coding)
        assert device_apply(stream, old, len(new)) == new
        assert reference_apply(stream, old, len(new)) == new


def test_small_windows_split_units_across_tuples():
    """4 KiB windows cut tuples (and so units) in many places: still NEW."""
    old = (FIXTURES / "programmer-0.8.0.bin").read_bytes()
    new = (FIXTURES / "programmer-0.9.0.bin").read_bytes()
    plan = builder.plan(old, new, "thumb2")
    stream = builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, plan.params, 4093, "zero-run")
    assert device_apply(stream, old, len(new)) == new
    assert reference_apply(stream, old, len(new)) == new


# ------------------------------------------------------------------ synthetic AArch64 and A32

def _a64_image(seed: int, functions: int, insert_at: int | None, shift_words: int) -> bytes:
    """Functions of random non-branch words with BL calls and ADRP+ADD pairs;
    ``shift_words`` words inserted into function ``insert_at`` move the rest."""
    rng = random.Random(seed)
    sizes = [rng.randrange(8, 40) for _ in range(functions)]
    if insert_at is not None:
        sizes[insert_at] += shift_words
    starts = [0]
    for s in sizes:
        starts.append(starts[-1] + 4 * s)
    data_at = starts[-1]
    words = []
    rng = random.Random(seed)  # same calls in both versions
    for f, size in enumerate(sizes):
        body = []
        for i in range(size):
            pc = starts[f] + 4 * i
            roll = rng.random()
            if roll < 0.2:
                callee = starts[rng.randrange(functions)]
                body.append(0x94000000 | ((callee - pc) >> 2) & 0x3FFFFFF)
            else:
                body.append(0xD503201F)  # nop: keeps the image free of accidental units
        words += body
    image = b"".join(struct.pack("<I", w) for w in words)
    # a table of pointers to the functions after the code
    image += b"".join(struct.pack("<Q", s) for s in starts[:-1])
    return image + bytes(-len(image) % 8) + struct.pack("<Q", data_at)


def test_aarch64_branches_and_pointers_round_trip():
    old = _a64_image(7, 60, None, 0)
    new = _a64_image(7, 60, 20, 3)
    plan = builder.plan(old, new, "aarch64", base=0)
    plain = builder.transformed_diff(old, new, plan.ctrl, None)
    assert nonzero(plan.diff) < nonzero(plain) // 4
    stream = builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, plan.params, 1 << 16, "raw")
    assert device_apply(stream, old, len(new)) == new
    assert reference_apply(stream, old, len(new)) == new


# ------------------------------------------------------------------ encodings

def _kind_cases():
    for arch in ARCHES.values():
        for kind in arch.kinds:
            if not kind.pointer:
                yield arch, kind


def _sample(kind, rng: random.Random) -> bytes:
    """Random bytes of ``kind``'s encoding."""
    if kind.name == "adrp-pair":  # too rare for rejection sampling: build it
        rd = rng.randrange(32)
        x = 0x90000000 | rng.randrange(1 << 31) & 0x60FFFFE0 | rd
        if rng.random() < 0.5:
            y = 0x91000000 | rng.randrange(1 << 12) << 10 | rd << 5 | rng.randrange(32)
        else:
            size = rng.randrange(4)
            y = 0x39400000 | size << 30 | rng.randrange(0x1000 >> size) << 10 | rd << 5 | rng.randrange(32)
        return struct.pack("<II", x, y)
    if kind.name == "ldr.w":  # 1 in 32768 random words: build it
        return struct.pack("<HH", 0xF85F | rng.randrange(2) << 7, rng.randrange(1 << 16))
    if kind.name == "ldr-lit" and kind.length == 4 and isinstance(kind, kinds.ArmLdrLit):
        return struct.pack("<I", rng.randrange(15) << 28 | 0x051F0000 | rng.randrange(2) << 23
                           | rng.randrange(16) << 12 | rng.randrange(1 << 12))
    while True:
        b = bytes(rng.randrange(256) for _ in range(kind.length))
        if kind.match(b):
            return b


#: kinds whose operand reaches at most this far from the instruction (bytes,
#: forward and back); the others reach far beyond the moves tested here
NEAR = {("thumb2", "ldr-lit"): (0, 1020), ("thumb2", "adr"): (0, 1020), ("thumb2", "ldr.w"): (-4095, 4095),
        ("arm32", "ldr-lit"): (-4095, 4095)}


@pytest.mark.parametrize("arch,kind", list(_kind_cases()), ids=lambda v: getattr(v, "name", ""))
def test_rewrite_is_identity_in_place_and_reaims_when_moved(arch, kind):
    rng = random.Random(kind.name)
    for _ in range(300):
        b = _sample(kind, rng)
        assert kind.match(b)
        addr = rng.randrange(1 << 12, 1 << 24) * kind.align
        target = kind.target(b, addr, arch.addr_mask)
        # same target from the same place: the bytes do not change
        assert kind.rewrite(b, addr, target, arch.addr_mask) == b
        # the instruction moved: it still matches and, where the field reaches, points at the target
        moved = addr + kind.align * rng.randrange(-64, 65)
        again = kind.rewrite(b, moved, target, arch.addr_mask)
        assert kind.match(again)
        lo, hi = NEAR.get((arch.name, kind.name), (-(1 << 20), 1 << 20))
        pc = (moved + 4) & ~3 if arch.name == "thumb2" else moved + (8 if arch.name == "arm32" else 0)
        if lo <= target - pc <= hi or (arch.name, kind.name) not in NEAR:
            assert kind.target(again, moved, arch.addr_mask) == target


@given(st.integers(0, (1 << 20) - 1), st.integers(-(1 << 18), 1 << 18))
def test_thumb_bl_exact_reaim(addr_half, offset_half):
    arch = ARCHES["thumb2"]
    bl = arch.kinds[1]
    addr = 0x08000000 + 2 * addr_half
    target = addr + 4 + 2 * offset_half
    encoded = bl.rewrite(b"\x00\xf0\x00\xf8", addr, target, arch.addr_mask)
    assert bl.match(encoded) and bl.target(encoded, addr, arch.addr_mask) == target


# ------------------------------------------------------------------ device restore vs reference on random tables

@settings(max_examples=60, deadline=None)
@given(st.data())
def test_device_and_reference_agree_on_random_tables(data):
    arch_name = data.draw(st.sampled_from(sorted(ARCHES)))
    arch = ARCHES[arch_name]
    rnd = random.Random(data.draw(st.integers(0, 1 << 30)))
    size = data.draw(st.integers(64, 3000))
    # code-like old image: many recognisable encodings
    old = bytearray(rnd.randrange(256) for _ in range(size))
    for p in range(0, size - 4, 4):
        if rnd.random() < 0.4:
            old[p + 3] = rnd.choice((0x94, 0x14, 0xEB, 0xF0, 0xF7, 0x90, 0x00))
    old = bytes(old)
    keys = sorted(rnd.sample(range(0, 1 << 16), rnd.randrange(1, 6)))
    deltas = [rnd.choice((None, 0, 4, -8, 2, 4096, -4096)) for _ in keys]
    deltas[0] = deltas[0] if deltas[0] is not None else 4
    keys_c, deltas_c = [], []
    for k, d in zip(keys, deltas):
        if deltas_c and deltas_c[-1] == d:
            continue
        keys_c.append(k)
        deltas_c.append(d)
    starts, masks = [], []
    for start in sorted(rnd.sample(range(size), rnd.randrange(1, 5))):
        mask = rnd.randrange(0 if masks else 1, arch.all_mask + 1)
        if not masks or masks[-1] != mask:
            starts.append(start)
            masks.append(mask)
    params = TransformParams(arch_name, rnd.randrange(0, 1 << 16) * 8, tuple(keys_c), tuple(deltas_c),
                             tuple(starts), tuple(masks))
    # random tuples over old; new = the old bytes they add plus random copies
    ctrl, pos, out = [], 0, 0
    while out < size:
        add = rnd.randrange(0, min(600, size - pos) + 1)
        copy = rnd.randrange(0 if add else 1, 20)
        seek = rnd.randrange(-pos - add, size - pos - add + 1) if rnd.random() < 0.3 else 0
        ctrl.append((add, copy, seek))
        pos += add + seek
        out += add + copy
    ctrl = [tuple(t) for t in builder.normalize_ctrl(ctrl)]
    # new: old bytes moved by the tuples, a few bytes changed
    new = bytearray()
    pos = 0
    for add, copy, seek in ctrl:
        new += old[pos : pos + add]
        new += bytes(rnd.randrange(256) for _ in range(copy))
        pos += add + seek
    new = bytes(new)
    diff = builder.transformed_diff(old, new, ctrl, params)
    window = data.draw(st.sampled_from((32, 64, 1000, 1 << 16)))  # 32: within v1's tuples-per-byte work bound
    coding = data.draw(st.sampled_from(("raw", "zero-run")))
    stream = builder.stream_bytes(ctrl, diff, builder.extra_of(new, ctrl), params, window, coding)
    assert device_apply(stream, old, len(new)) == new
    assert reference_apply(stream, old, len(new)) == new


# ------------------------------------------------------------------ validation of the section

def _section(*values: int) -> io.BytesIO:
    return io.BytesIO(b"".join(encode_varint(v) for v in values))


@pytest.mark.parametrize("values,message", [
    ((9, 0, 0, 0), "transform arch 9 exceeds 3"),
    ((0, 4, 0, 0), "transform arch none with a base or tables"),
    ((1, 1 << 32, 0, 0), "transform base 4294967296 exceeds 4294967295"),
    ((1, 0, 4097, 0), "map entries 4097 exceeds 4096"),
    ((1, 0, 0, 4097), "transform regions 4097 exceeds 4096"),
    ((1, 0, 1, 0, 16, 0), "map entry 0: non-canonical map"),  # leading hole
    ((1, 0, 2, 0, 16, 9, 0, 3), "map entry 1: key does not increase"),
    ((1, 0, 2, 0, 16, 9, 4, 9), "map entry 1: non-canonical map"),  # same delta twice
    ((1, 0, 1, 0, 1 << 32, 9), "key gap"),
    ((1, 0, 1, 0, 16, 1 << 32), "map delta"),
    ((1, 0, 0, 1, 100, 1), "region 0: region starts past the 100-byte old partition"),
    ((1, 0, 0, 1, 4, 0), "region 0: non-canonical regions"),
    ((1, 0, 0, 1, 4, 1 << 7), "region mask"),  # thumb2 has 7 kinds
    ((1, 0, 0, 2, 4, 1, 0, 2), "region 1: region start does not increase"),
    ((1, 0, 0, 2, 4, 1, 4, 1), "region 1: non-canonical regions"),
])
def test_section_rules(values, message):
    with pytest.raises(CorruptPatchError, match=message.replace("(", r"\(")):
        read_section(_section(*values), 100, "app")


def test_section_round_trip():
    params = TransformParams("aarch64", 0x80000, (0x80000, 0x81000, 0x90000), (0, -8, None), (0, 64), (3, 1))
    assert read_section(io.BytesIO(encode_section(params)), 100, "app") == params
    assert read_section(io.BytesIO(encode_section(None)), 100, "app") == TransformParams("none")


# ------------------------------------------------------------------ mutated streams: device vs reference

class ExactStream(io.BytesIO):
    """The restore's decoded-stream reader: a read past the end is an error."""

    def read(self, n=-1):
        data = super().read(n)
        if n is not None and n >= 0 and len(data) < n:
            raise PackageFormatError("stream ends early")
        return data


def test_mutated_streams_device_and_reference_agree():
    old = (FIXTURES / "programmer-0.8.0.bin").read_bytes()
    new = (FIXTURES / "programmer-0.9.0.bin").read_bytes()
    plan = builder.plan(old, new, "thumb2", opts=builder.FitOptions(trials=False))
    stream = builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, plan.params, 2048, "zero-run")
    section_end = len(stream) - len(builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, None, 2048, "zero-run")) + 7
    rng = random.Random(16)
    outcomes = {"same output": 0, "both refuse": 0}
    for trial in range(60):
        data = bytearray(stream)
        # bias half of the mutations into the header and tables
        at = rng.randrange(section_end if trial % 2 else len(data))
        data[at] = rng.randrange(256)
        data = bytes(data)
        try:
            sink = Sink()
            reader = ExactStream(data)
            apply_delta_v2(reader, lambda p, k: old[p : p + k], len(old), sink, len(new), RamMeter(), "app")
            # the restore's exact-end check: nothing may follow the last window
            device = bytes(sink.data) if reader.tell() == len(data) else None
        except (CorruptPatchError, PackageFormatError):
            device = None
        try:
            reference = reference_apply(data, old, len(new))
        except (CorruptPatchError, ValueError, IndexError):
            reference = None
        if device is None:
            # the reference checks less (it is not the validator), so it may
            # accept what the device refuses, never the other way round
            outcomes["both refuse"] += reference is None
            continue
        assert reference == device, f"mutation at {at}: device and reference disagree"
        outcomes["same output"] += 1
    assert outcomes["same output"] and outcomes["both refuse"]


# ------------------------------------------------------------------ resources and the "none" arch

def test_tables_are_priced_before_any_write():
    old = (FIXTURES / "programmer-0.8.0.bin").read_bytes()
    new = (FIXTURES / "programmer-0.9.0.bin").read_bytes()
    plan = builder.plan(old, new, "thumb2", opts=builder.FitOptions(trials=False))
    stream = builder.stream_bytes(plan.ctrl, plan.diff, plan.extra, plan.params, len(new), "raw")
    need = transform_ram(len(plan.params.map_keys), len(plan.params.region_starts))
    held = DEFAULT_WINDOW_TUPLES * TUPLE_BYTES + DECODE_CHUNK  # tuple array and old-read piece, held first
    sink = Sink()
    with pytest.raises(ResourceLimitError, match=f"transform tables: {need}"):
        apply_delta_v2(io.BytesIO(stream), lambda p, k: old[p : p + k], len(old), sink, len(new),
                       RamMeter(limit=held + need - 1), "app")
    assert not sink.data


def test_arch_none_is_delta_v1_with_an_empty_section():
    old = (FIXTURES / "programmer-0.8.0.bin").read_bytes()
    new = (FIXTURES / "programmer-0.9.0.bin").read_bytes()
    plan = builder.plan(old, new, "thumb2", opts=builder.FitOptions(trials=False))
    diff = builder.transformed_diff(old, new, plan.ctrl, None)
    v2 = builder.stream_bytes(plan.ctrl, diff, plan.extra, None, len(new), "zero-run")
    v1 = encode_patch(plan.ctrl, diff, plan.extra, window_size=len(new), diff_coding="zero-run")
    head = len(DeltaHeader.build({"window_size": len(new), "max_window_tuples": DEFAULT_WINDOW_TUPLES,
                                  "diff_coding": 1}))
    assert v2 == v1[:head] + bytes(4) + v1[head:]  # arch, base, map_count, region_count: all 0
    assert device_apply(v2, old, len(new)) == new


def test_kind_tables_are_the_wire_numbers():
    """Kind order (region-mask bits) and address widths: the prototype's kinds
    are the ones wire_numbers (and so ota_wire.h) declare."""
    from otapack.core.formats import wire_numbers as wn

    assert set(ARCHES) == set(wn.TRANSFORM_KINDS) == set(wn.TRANSFORM_ARCH_IDS) - {"none"}
    for name, arch in ARCHES.items():
        assert tuple(k.name for k in arch.kinds) == wn.TRANSFORM_KINDS[name]
        assert arch.bits == wn.TRANSFORM_ARCH_BITS[name]


# ------------------------------------------------------------------ builder trials


def _runs_of(counts_and_deltas):
    """Observations: one run per (count, delta), 1 MiB apart (so each is an entry and a hole)."""
    obs = []
    for run, (count, delta) in enumerate(counts_and_deltas):
        obs += [builder.Observation((run + 1) << 20 | 4 * i, delta, False) for i in range(count)]
    return obs


def test_fine_steps_keep_the_runs_that_fit_the_cap():
    """40 runs seen 8 times, 30 seen 12 times, 5 seen 20 times, 70 entries allowed:
    doubling the threshold past 8 keeps the 5 strongest runs only; fine steps
    stop at 9 with the 35 runs of 12 and 20 (two entries each)."""
    obs = _runs_of([(8, 4 * i + 4) for i in range(40)] + [(12, 4 * i + 400) for i in range(30)]
                   + [(20, 4 * i + 800) for i in range(5)])
    arch = ARCHES["thumb2"]
    coarse = builder.fit_map(obs, arch, builder.FitOptions(max_map=70))
    fine = builder.fit_map(obs, arch, builder.FitOptions(max_map=70, fine_steps=True))
    assert len(coarse[0]) == 10 and set(coarse[1]) == {None} | {4 * i + 800 for i in range(5)}
    assert len(fine[0]) == 70 and set(fine[1]) == {None} | {4 * i + 400 for i in range(30)} | {
        4 * i + 800 for i in range(5)}


def test_plan_measures_each_distinct_trial_once(monkeypatch):
    """The synthesizer's map is smaller than every cap tried, so the caps give the
    same trials again: each stream is compressed once."""
    old, new = (FIXTURES / "synthesizer-1.bin").read_bytes(), (FIXTURES / "synthesizer-2.bin").read_bytes()
    measured = []
    real = builder._packed_size
    monkeypatch.setattr(builder, "_packed_size", lambda stream: measured.append(stream) or real(stream))
    found = builder.plan(old, new, "thumb2")
    assert len(found.params.map_keys) < min(builder.SMALL_MAPS)
    assert measured and len(set(measured)) == len(measured)


def test_candidate_streams_offer_both_matchings(monkeypatch):
    """Neutral matching and plain matching each give a plan: which one compresses
    smaller depends on the pair, so the build measures both."""
    old, new = (FIXTURES / "synthesizer-1.bin").read_bytes(), (FIXTURES / "synthesizer-2.bin").read_bytes()
    modes = []
    real = builder.plan
    monkeypatch.setattr(builder, "plan", lambda *a, **k: modes.append(k["opts"].neutral_match) or real(*a, **k))
    streams = builder.candidate_streams(old, new, "thumb2", base=None, window_size=len(new),
                                        max_window_tuples=DEFAULT_WINDOW_TUPLES, max_table_ram=4096)
    assert modes == [True, False]
    assert 2 <= len(streams) == len(set(streams)) <= 4
    for stream in streams:
        assert device_apply(stream, old, len(new)) == new


def test_guess_base_finds_the_synthesizer_load_address():
    old = (FIXTURES / "synthesizer-1.bin").read_bytes()
    assert builder.guess_base(old, ARCHES["thumb2"]) == 0x80000
