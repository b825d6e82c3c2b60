"""The Python restore and the C restore (device/) as two implementations of one
specification: the same verdict, failing check, error class, failure record
and flash on the same simulated device.

``test_suite_agrees_under_crosscheck`` reruns the suites that build hostile,
golden, field and mutated packages with ``OTAPACK_CROSSCHECK`` set: every
restore they run is then also run by the C library on a copy of the device
and compared field by field (``otapack.core.restore.engines``), and any
disagreement fails that suite, a corrupt LZMA2 stream included (both
restores refuse it by the full decode at ``resources``, wherever their
decoders notice the corruption).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from otapack import FirmwareImage, verify_package
from otapack.core.restore import c_engine, engines
from otapack.core.restore.engine import Restore
from otapack.core.verify import DeviceOptions, make_device
from otapack.errors import CorruptPatchError, UsageError

import hostile_builders as hb
from conftest import FIXTURES

TESTS = Path(__file__).parent
#: module -> pytest arguments (the host-memory test measures one restore's allocations, not two)
SUITES = {
    "test_hostile_patch.py": [],
    "test_hostile_package.py": [],
    "test_hostile_resources.py": ["-k", "not memory_is_what_it_writes"],
    "test_golden.py": [],
    "test_field_fit.py": [],
    "test_minimal_system.py": [],
    "test_signing.py": [],
    "test_restore_checks.py": [],
    "test_mutation_stress.py": [],
    "test_hostile_fuzz.py": [],
    "test_in_place.py": ["-k", "not cut and not swap"],  # the sweeps there run the Python restore only
}


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_suite_agrees_under_crosscheck(suite, tmp_path):
    log = tmp_path / "crosscheck.log"
    env = dict(os.environ, OTAPACK_CROSSCHECK=str(log))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(TESTS / suite),
                           *SUITES[suite]], capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:]
    outcomes = Counter(log.read_text().split()) if log.exists() else Counter()
    print(suite, dict(outcomes))
    assert outcomes["agree"] > 0, outcomes  # the suite restores packages and the C restore ran on them
    assert set(outcomes) <= {"agree", "unsupported"}


def _programmer():
    old = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    new = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()
    return FirmwareImage.single(old), FirmwareImage.single(new)


@pytest.mark.parametrize("name", ["programmer-full.pack", "programmer-delta.pack"])
def test_goldens_pass_with_both_engines(name):
    old, new = _programmer()
    report = verify_package((FIXTURES / "golden" / name).read_bytes(), old, new, DeviceOptions(engine="both"))
    assert report.ok, report.error
    assert [c.status.value for c in report.checks if c.name == "engines"] == ["pass"]


def test_both_fails_when_the_engines_disagree(monkeypatch):
    """``both`` is a real comparison: a C restore that leaves other flash fails it."""
    old, new = _programmer()
    real = c_engine.run

    def wrong_flash(device, package):
        result = real(device, package)
        part = device.partitions["image"]
        data = bytearray(part.flash.read(0, part.flash.size))
        data[7] ^= 1
        part.flash = type(part.flash).holding(bytes(data), part.flash.size, device.erase_block, 0xFF, "image")
        return result

    monkeypatch.setattr(c_engine, "run", wrong_flash)
    report = verify_package((FIXTURES / "golden" / "programmer-delta.pack").read_bytes(), old, new,
                            DeviceOptions(engine="both"))
    assert not report.ok and "flash of partition 'image' differs" in str(report.error)


def test_failure_record_is_the_same_field_by_field():
    """A seek out of the old partition in window 1, tuple 2: check, class,
    partition, window, tuple and the window's output offset in both."""
    old = hb.OLD_FILL
    patch = hb.stream(hb.window([(100, 0, 0), (100, 0, 0)]), hb.window([(10, 0, 0), (10, 0, 0), (5, 0, -9000)]),
                      window_size=200)
    pkg = hb.delta_package(old, patch, old[:225])
    device = make_device(hb.single(old))
    twin = copy.deepcopy(device)
    py, c = Restore(device).run(pkg), c_engine.run(twin, pkg)
    assert py.failure == c.failure
    assert (py.failure.check, py.failure.error, py.failure.partition, py.failure.window, py.failure.tuple,
            py.failure.offset) == ("restore", "CorruptPatchError", hb.NAME, 1, 2, 200)
    assert isinstance(c.error, CorruptPatchError)
    assert c.c_flash["before_restore"] == 0 and c.c_flash["violations"] == 0
    assert engines.strict_disagreements(py, c, device, twin) == []


def test_corrupt_fixtures_fail_alike():
    """Every package of the corrupt set: the same failing check and error class."""
    old, _ = _programmer()
    seen = Counter()
    for path in sorted((FIXTURES / "corrupt").glob("*.pack")):
        pkg = path.read_bytes()
        device = make_device(old)
        twin = copy.deepcopy(device)
        py, c = Restore(device).run(pkg), c_engine.run(twin, pkg)
        assert engines.strict_disagreements(py, c, device, twin) == [], path.name
        seen[py.failure.check if py.failure else "ok"] += 1
    assert len(seen) >= 3, seen


def test_corrupt_lzma2_payloads_are_refused_alike_before_any_write():
    """Bytes of a real firmware payload's LZMA2 stream overwritten one at a
    time: liblzma and the C decoder notice a corruption at different output
    positions, yet both restores agree field by field and flash for flash,
    and a stream that does not decode is refused at resources, naming the
    partition, with nothing written (docs/verifier.md, "One point of
    refusal")."""
    data = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()[:20000]
    payload = hb.lzma2(data)
    seen = Counter()
    for at in range(7, len(payload) - 1, max(1, len(payload) // 160)):
        bad = bytearray(payload)
        bad[at] ^= 0xA5
        pkg = hb.full_package(data, payload=bytes(bad))
        device = make_device(hb.single(hb.OLD_FILL))
        twin = copy.deepcopy(device)
        py, c = Restore(device).run(pkg), c_engine.run(twin, pkg)
        assert engines.strict_disagreements(py, c, device, twin) == [], at
        where = py.failure.check if py.failure else "ok"
        seen[where] += 1
        if where == "resources":
            assert py.failure.partition == c.failure.partition == hb.NAME
            assert py.bytes_written == 0 and py.failure.offset is None
    assert seen["resources"] >= 100, seen  # most corruptions: the stream does not decode


def test_engine_option_is_validated():
    with pytest.raises(UsageError):
        DeviceOptions(engine="rust")


def test_cli_engine_both_and_c(capsys):
    from otapack.cli import main

    golden = FIXTURES / "golden" / "programmer-delta.pack"
    old = FIXTURES / "corpus" / "programmer-0.8.0.bin"
    new = FIXTURES / "corpus" / "programmer-0.9.0.bin"
    for engine in ("c", "both"):
        assert main(["verify", str(golden), "--old", str(old), "--new", str(new), "--engine", engine]) == 0
    # the wrong base: the same exit code from each engine
    codes = {engine: main(["verify", str(golden), "--old", str(new), "--engine", engine])
             for engine in ("python", "c", "both")}
    capsys.readouterr()
    assert set(codes.values()) == {1}, codes
