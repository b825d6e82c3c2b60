"""delta-v2 through both restores: the C restore (device/src/ota_transform.c
hooked into ota_restore_apply.c) re-aims the same units as the Python restore
and writes the same bytes, on every arch, diff coding, piece split and carry.

Each case is a seeded random old image dense in every kind's encodings, a
random map and regions, and random windows of (add, copy, seek) tuples. The
target is what the Python transform gives (``apply_delta``); the package
then passes both restores only if the C restore wrote those very bytes, and
the hostile mutations of the same streams fail both at the same check with
the same failure record.
"""

from __future__ import annotations

import copy
import io
import random

import pytest

from otapack.core.formats.delta import encode_zero_runs
from otapack.core.formats.wire_numbers import TRANSFORM_ARCH_IDS
from otapack.core.restore import c_engine, engines
from otapack.core.restore.delta import Work, apply_delta, read_stream_header
from otapack.core.restore.engine import Restore
from otapack.core.restore.resources import RamMeter
from otapack.core.restore.transform_kinds import ARCHES
from otapack.core.verify import make_device

import hostile_builders as hb

pytestmark = pytest.mark.skipif(not c_engine.supports(make_device(hb.single(b"\0" * 16))), reason="no C restore")

#: (template, mask of the bits the template fixes) per arch: halfwords (thumb2) or words
TEMPLATES = {
    "thumb2": [(0xF000, 0xF800), (0xD000, 0xD000), (0x9000, 0xD000), (0x8000, 0xD000), (0xF85F, 0xFF7F),
               (0x4800, 0xF800), (0xA000, 0xF800)],
    "aarch64": [(0x94000000, 0xFC000000), (0x14000000, 0xFC000000), (0x90000000, 0x9F000000),
                (0x91000000, 0xFFC00000), (0x39400000, 0x3FC00000), (0x10000000, 0x9F000000),
                (0x18000000, 0x3B000000)],
    "arm32": [(0xEB000000, 0xFF000000), (0x0A000000, 0x0E000000), (0xE59F0000, 0xFFFF0000),
              (0xE51F0000, 0xFFFF0000)],
}


def old_image(rnd: random.Random, arch: str, size: int) -> bytes:
    """Random bytes where about half the halfwords/words follow an encoding."""
    unit = 2 if arch == "thumb2" else 4
    out = bytearray()
    while len(out) < size:
        value = rnd.getrandbits(8 * unit)
        if rnd.random() < 0.5:
            template, mask = rnd.choice(TEMPLATES[arch])
            value = template | (value & ~mask & ((1 << 8 * unit) - 1))
        out += value.to_bytes(unit, "little")
    if rnd.random() < 0.5:  # odd-aligned code too
        out = out[1:] + out[:1]
    return bytes(out[:size])


def section(rnd: random.Random, arch: str, old_size: int) -> bytes:
    """arch, base, map and regions (canonical), as varints."""
    a = ARCHES[arch]
    base = rnd.choice([0, 0x80000, 0x8000000 + rnd.randrange(0, 1 << 12) * 2, rnd.getrandbits(a.bits) & ~1])
    keys = sorted({rnd.getrandbits(a.bits) if rnd.random() < 0.2 else (base + rnd.randrange(-4096, old_size + 65536))
                   & a.addr_mask for _ in range(rnd.randrange(1, 24))})
    if rnd.random() < 0.3:
        keys = sorted(set(keys) | {0})
    codes, prev = [], None
    for i, _ in enumerate(keys):
        code = 0 if i and rnd.random() < 0.25 else 1 + hb.zigzag(rnd.choice([rnd.randrange(-64, 64) * 2,
                                                                              rnd.randrange(-(1 << 31) + 1, 1 << 31)]))
        if code == prev:
            code = prev + 2
        codes.append(code)
        prev = code
    starts = sorted(rnd.sample(range(old_size), rnd.randrange(1, min(12, old_size))))
    masks, prev = [], None
    for i in range(len(starts)):
        mask = rnd.randrange(1 if i == 0 else 0, a.all_mask + 1)
        if mask == prev:
            mask = (mask + 1) % (a.all_mask + 1) or 1
        masks.append(mask)
        prev = mask
    out = [TRANSFORM_ARCH_IDS[arch], base, len(keys), len(starts)]
    key = start = 0
    for k, code in zip(keys, codes):
        out += [k - key, code]
        key = k
    for s, m in zip(starts, masks):
        out += [s - start, m]
        start = s
    return b"".join(hb.varint(v) for v in out)


def windows(rnd: random.Random, old_size: int, target_size: int, window_size: int, coding: int) -> bytes:
    """Windows of tuples over the old image: short seeks (0 often, so adds
    continue where the last stopped and a carried unit is used), copies, and
    diff bytes that are mostly zero."""
    out, done, old_pos = [], 0, 0
    while done < target_size:
        tuples, extra, diff, used = [], b"", b"", 0
        while used < window_size and done + used < target_size and len(tuples) < 16:
            room = min(window_size - used, target_size - done - used)
            add = min(rnd.choice([0, 1, 3, 7, 64, 333, 4096]), room, old_size - old_pos)
            copy = min(rnd.choice([0, 0, 0, 1, 5]), room - add)
            if not add and not copy:
                add = min(room, old_size - old_pos)
                copy = room - add if not add else 0
            diff += bytes(rnd.randrange(256) if rnd.random() < 0.05 else 0 for _ in range(add))
            extra += rnd.randbytes(copy)
            old_pos += add
            seek = rnd.choice([0, 0, 0, -rnd.randrange(0, old_pos + 1), rnd.randrange(0, old_size - old_pos + 1)])
            old_pos += seek
            tuples.append((add, copy, seek))
            used += add + copy
        out.append(hb.varint(len(tuples)) + b"".join(hb.tuple_bytes(*t) for t in tuples) + extra +
                   (encode_zero_runs(diff) if coding else diff))
        done += used
    return b"".join(out)


def case(seed: int):
    """(old, patch stream, Python target, units re-aimed)."""
    rnd = random.Random(seed)
    arch = ("thumb2", "aarch64", "arm32")[seed % 3]
    old = old_image(rnd, arch, rnd.choice([600, 5000, 9000]))
    target_size = rnd.choice([len(old), len(old) // 2 + 7, len(old) + 300])
    window_size, coding = rnd.choice([256, 1000, 4096]), seed // 3 % 2
    patch = (hb.varint(window_size) + hb.varint(16) + hb.varint(coding) + section(rnd, arch, len(old)) +
             windows(rnd, len(old), target_size, window_size, coding))
    stream, out, work = io.BytesIO(patch), io.BytesIO(), Work()
    apply_delta(stream, lambda pos, n: old[pos:pos + n], len(old), out, target_size, RamMeter(), "p",
                read_stream_header(stream, "p", 2), work=work)
    assert stream.read() == b""
    return old, patch, out.getvalue(), work.units


def both(old: bytes, patch: bytes, target: bytes, **kw):
    pkg = hb.delta_package(old, patch, target, operation="delta-v2", **kw)
    device = make_device(hb.single(old))
    twin = copy.deepcopy(device)
    py, c = Restore(device).run(pkg), c_engine.run(twin, pkg)
    return py, c, engines.strict_disagreements(py, c, device, twin)


@pytest.mark.parametrize("seed", range(24))
def test_random_streams_restore_identically(seed):
    old, patch, target, units = case(seed)
    assert units > 0  # the transform re-aimed something: a C restore without it would write other bytes
    for codec in ("lzma2", "none"):
        py, c, problems = both(old, patch, target, codec=codec)
        assert problems == [] and py.ok and c.ok, (problems, py.error, c.error)


@pytest.mark.parametrize("seed", range(0, 24, 5))
def test_wrong_target_fails_both_at_target(seed):
    """A target one unit short of the Python transform's: both refuse at `target`."""
    old, patch, target, _ = case(seed)
    wrong = bytearray(target)
    wrong[len(wrong) // 2] ^= 1
    py, c, problems = both(old, patch, bytes(wrong))
    assert problems == [] and py.failure.check == c.failure.check == "target"


@pytest.mark.parametrize("seed", range(12))
def test_mutated_streams_fail_or_pass_alike(seed):
    """Bytes of the section and the first windows mutated: the same verdict,
    check, error class and failure record from both restores."""
    old, patch, target, _ = case(seed)
    rnd = random.Random(1000 + seed)
    for _ in range(12):
        data = bytearray(patch)
        for _ in range(rnd.randrange(1, 4)):
            data[rnd.randrange(min(len(data), 200))] = rnd.randrange(256)
        py, c, problems = both(old, bytes(data), target, codec="none")
        assert problems == [], problems


def test_a_device_build_without_the_set_refuses_it_before_any_write(tmp_path, monkeypatch):
    """The library built with OTA_TRANSFORM_THUMB2=0: a thumb2 stream is refused
    at `resources` (format, cause unsupported) with nothing written, while a
    stream of another set and arch none still restore."""
    import ctypes
    import subprocess

    lib_path = tmp_path / "libota-nothumb.so"
    subprocess.run(["cc", *c_engine._FLAGS, "-DOTA_TRANSFORM_THUMB2=0", *c_engine._SOURCES, "-o", lib_path, "-lcrypto"],
                   cwd=c_engine.DEVICE, check=True, capture_output=True)
    real = c_engine.library()
    lib = ctypes.CDLL(str(lib_path))
    for name in ("ota_host_restore", "ota_host_status_name", "ota_host_check_name"):
        fn, model = getattr(lib, name), getattr(real, name)
        fn.argtypes, fn.restype = model.argtypes, model.restype
    monkeypatch.setattr(c_engine, "_LIBRARY", lib)
    thumb = next(case(seed) for seed in range(0, 24, 3))  # seed % 3 == 0: thumb2
    old, patch, target, _ = thumb
    pkg = hb.delta_package(old, patch, target, operation="delta-v2")
    c = c_engine.run(make_device(hb.single(old)), pkg)
    assert (c.failure.check, c.failure.error, c.c_cause) == ("resources", "PackageFormatError", "unsupported")
    assert c.bytes_written == 0 and c.blocks_erased == 0
    for seed in (1, 2):  # aarch64, arm32
        old, patch, target, _ = case(seed)
        assert both(old, patch, target)[2] == []
    none = hb.varint(4096) + hb.varint(16) + hb.varint(0) + bytes(4) + hb.window([(16, 0, 0)])
    py, c, problems = both(hb.OLD_FILL, none, hb.OLD_FILL[:16])
    assert problems == [] and c.ok
