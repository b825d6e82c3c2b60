"""The C journaled restore (device/src/ota_restore_journal.c) against the Python
one (otapack/core/restore/resume.py), interrupted and resumed.

``Geometry(engine="both")`` runs every case of a sweep on both restores in
lockstep, on their own NOR flash with the same cuts and torn bytes, and fails
a case when a boot ends differently: one cut and the other not, other checks
or error class, or any byte of a partition, the scratch area or the journal.
Exhaustive (clean + torn single cuts and as many repeated cases) on the small
fixtures, sampled on the larger ones; the negative controls compiled into
the host build (OTA_JOURNAL_FAULTS) must fail the sweep in C as in Python."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run
from otapack.core import powercut
from otapack.core.model import FirmwareImage
from otapack.core.powercut import Case, Geometry
from otapack.core.restore import c_engine, resume
from otapack.core.restore.engine import Restore
from otapack.core.restore.nor import Power, PowerLost
from otapack.core.verify import DeviceOptions, make_device
from otapack.errors import UsageError
from powercut_fixtures import LAYOUT, corpus, flat, full_package, three_partitions

GOLDEN = FIXTURES / "golden"


def _golden(name):
    old = FirmwareImage.single(corpus("programmer-0.8.0.bin"))
    return (GOLDEN / name).read_bytes(), old, None


def two_deltas():
    """bench/powercut.py's larger package: synthesizer (159 KB) and programmer deltas."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from powercut import two_deltas as build  # bench/powercut.py

    return build()


def _devices(pkg, old, geometry=Geometry(), cuts=(), torn=False, seed=0):
    header = Restore(make_device(old, DeviceOptions())).run(pkg).header
    return [powercut.build_device(old, header, geometry, Power(frozenset(cuts), torn, seed)) for _ in range(2)]


@pytest.mark.parametrize("fixture", [three_partitions, full_package], ids=["multi-partition-delta", "full"])
def test_uninterrupted_restores_write_identical_flash(fixture):
    pkg, old, _ = fixture()
    py, c = _devices(pkg, old)
    result_py, result_c = Restore(py).run(pkg), c_engine.run(c, pkg)
    assert result_py.ok and result_c.ok, (result_py.error, result_c.error)
    assert [(k.name, k.status) for k in result_py.checks] == [(k.name, k.status) for k in result_c.checks]
    assert py.resume.scratch.power.operations == c.resume.scratch.power.operations > 0
    assert powercut.flash_state(py) == powercut.flash_state(c)
    assert resume.pending(py.resume) is None and c_engine.journal_pending(c.resume.journal.flash) is None


@pytest.mark.parametrize("fixture", [three_partitions, full_package, lambda: _golden("programmer-delta.pack"),
                                     lambda: _golden("programmer-full.pack")],
                         ids=["multi-partition-delta", "full", "golden-delta", "golden-full"])
def test_every_single_cut_clean_torn_and_repeated_same_in_both_restores(fixture):
    pkg, old, _ = fixture()
    report = powercut.sweep(pkg, old, "all", seed=5, geometry=Geometry(engine="both"))
    assert report.operations > 0 and report.tried == 3 * report.operations
    assert (report.failures, report.survived, report.first_failure) == (0, report.tried, None)


@pytest.mark.parametrize("geometry", [Geometry(program_unit=8, engine="both"),
                                      Geometry(program_unit=4, erased_value=0x00, engine="both")],
                         ids=["unit8", "erased00-unit4"])
def test_sampled_cuts_on_other_program_units_same_in_both_restores(geometry):
    pkg, old, _ = three_partitions(0x00 if geometry.erased_value == 0x00 else 0xFF)
    report = powercut.sweep(pkg, old, 30, seed=11, geometry=geometry)
    assert (report.tried, report.failures) == (30, 0), report.first_failure


def test_sampled_cuts_on_the_larger_two_delta_package_same_in_both_restores():
    pkg, old, _ = two_deltas()
    report = powercut.sweep(pkg, old, 40, seed=7, geometry=Geometry(engine="both"))
    assert report.operations > 200
    assert (report.tried, report.failures) == (40, 0), report.first_failure


def test_the_pending_query_answers_as_python_after_every_cut_clean_and_torn():
    pkg, old, _ = three_partitions()
    operations = powercut.sweep(pkg, old, 1, geometry=Geometry(engine="c")).operations
    answers = set()
    for cut, torn in [(cut, torn) for cut in range(operations) for torn in (False, True)]:
        py, c = _devices(pkg, old, cuts=(cut,), torn=torn, seed=cut)
        with pytest.raises(PowerLost):
            Restore(py).run(pkg)
        with pytest.raises(PowerLost):
            c_engine.run(c, pkg)
        assert powercut.flash_state(py) == powercut.flash_state(c)
        want = resume.pending(py.resume)
        assert c_engine.journal_pending(c.resume.journal.flash) == want
        answers.add(want is not None)
    assert answers == {False, True}  # cuts while staging and while committing


@pytest.mark.parametrize("fault", resume.FAULTS)
def test_negative_controls_fail_the_c_sweep_as_the_python_one(fault):
    pkg, old, _ = three_partitions()
    reports = {engine: powercut.sweep(pkg, old, "single", geometry=Geometry(fault=fault, engine=engine))
               for engine in ("python", "c")}
    assert reports["c"].failures > 0

    def outcome(report):  # the problem's wording is each restore's own
        out = report.to_dict()
        return out, out["first_failure"].pop("problem")

    (c, problem), (py, _) = outcome(reports["c"]), outcome(reports["python"])
    assert c == py and problem
    # and in lockstep the two faulty restores never differ: the failures are the journal rule's
    both = powercut.sweep(pkg, old, "single", geometry=Geometry(fault=fault, engine="both"))
    assert both.failures == reports["c"].failures and "differ" not in both.first_failure.problem


def test_a_difference_between_the_restores_fails_the_case():
    """The lockstep comparison can fail: a C restore with a wrong rule beside a right Python one."""
    pkg, old, _ = three_partitions()
    problems = set()
    for cut in range(0, 80, 3):
        py, c = _devices(pkg, old, cuts=(cut,))
        c.resume.fault = "record-before-program"
        outcomes = []
        for boot in (Restore(py).run, lambda p, dev=c: c_engine.run(dev, p)):
            try:
                outcomes.append(boot(pkg))
            except PowerLost as lost:
                outcomes.append(lost)
        problems.add(powercut._differs([powercut._outcome(d, o) for d, o in zip((py, c), outcomes)]))
    assert any(p.startswith("flash differs in") and "(journal)" in p for p in problems), problems


def test_the_c_sweep_refuses_the_unjournaled_baseline():
    pkg, old, _ = three_partitions()
    with pytest.raises(UsageError, match="journaled only"):
        powercut.sweep(pkg, old, 1, geometry=Geometry(journaled=False, engine="c"))
    with pytest.raises(UsageError, match="engine"):
        powercut.PowerCutOptions(1, engine="rust")
    assert powercut.PowerCutOptions(1, sector_map="stm32f4", engine="both").geometry.sector_map == "stm32f4"


@pytest.mark.parametrize("fixture", [three_partitions, full_package], ids=["multi-partition-delta", "full"])
def test_a_mixed_sector_map_every_cut_clean_torn_and_repeated_same_in_both_restores(fixture):
    """STM32F4's 16/64/128 KiB sectors from the start of every area (cut short at
    its end): the C port gets each area's sectors and works sector by sector,
    one erase per sector, one record per finished sector, as the Python one."""
    pkg, old, _ = fixture()
    geometry = Geometry(sector_map="stm32f4", engine="both")
    report = powercut.sweep(pkg, old, "all", seed=5, geometry=geometry)
    uniform = powercut.sweep(pkg, old, 1, geometry=Geometry(engine="c")).operations
    assert 0 < report.operations < uniform  # fewer, larger sectors
    assert (report.tried, report.failures, report.first_failure) == (3 * report.operations, 0, None)


def test_a_mixed_sector_map_with_its_64_and_128_kib_sectors_same_in_both_restores():
    pkg, old, _ = two_deltas()  # a 160 KiB slot: 4 x 16 KiB, 64 KiB, then 32 of a 128 KiB sector
    geometry = Geometry(sector_map="stm32f4", program_unit=8, engine="both")
    report = powercut.sweep(pkg, old, 30, seed=7, geometry=geometry)
    assert (report.tried, report.failures) == (30, 0), report.first_failure


@pytest.mark.parametrize("fault", resume.FAULTS)
def test_the_negative_controls_fail_on_a_sector_map_in_c_too(fault):
    pkg, old, _ = three_partitions()
    report = powercut.sweep(pkg, old, "single", geometry=Geometry(sector_map="stm32f4", fault=fault, engine="c"))
    assert report.failures > 0


def test_cli_sweeps_the_c_restore(capsys, tmp_path):
    pkg, old, _ = three_partitions()
    (tmp_path / "p.pack").write_bytes(pkg)
    (tmp_path / "old.bin").write_bytes(flat(old))
    code, text, err = run(capsys, "verify", tmp_path / "p.pack", "--old", tmp_path / "old.bin", "--layout", LAYOUT,
                          "--power-cuts", "single", "--engine", "both", "--json")
    assert code == 0, err
    report = json.loads(text)["power_cuts"]
    assert report["tried"] == report["survived"] == report["operations"] == 80 and report["failures"] == 0
    code, text, err = run(capsys, "verify", tmp_path / "p.pack", "--old", tmp_path / "old.bin", "--layout", LAYOUT,
                          "--power-cuts", "single", "--engine", "both", "--sector-map", "stm32f4", "--json")
    assert code == 0, err
    report = json.loads(text)["power_cuts"]  # fewer, larger sectors: fewer operations
    assert report["tried"] == report["survived"] == report["operations"] == 48 and report["failures"] == 0


def test_minimal_system_stages_cut_the_same_in_both_restores(capsys, tmp_path):
    """Both golden stages of examples/minimal-system: the journal stands in for
    chain-prev-state once a commit has begun, in C as in Python.  Stage 2 is
    downloaded into customer_fs, which it rewrites: both restores copy the
    package out to scratch first (phase copied), in lockstep; and with the
    package kept apart too."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "minimal-system"
    layout, old = example / "layout.toml", example / "old.bin"
    stages = [GOLDEN / "minimal-stage1.pack", GOLDEN / "minimal-stage2.pack"]
    code, _, err = run(capsys, "apply", stages[0], "--old", old, "--layout", layout, "-o", tmp_path / "mid.bin")
    assert code == 0, err
    code, text, err = run(capsys, "verify", stages[0], "--old", old, "--layout", layout, "--power-cuts", "16",
                          "--seed", "4", "--engine", "both", "--json")
    assert code == 0, err
    report = json.loads(text)["power_cuts"]
    assert report["tried"] == report["survived"] == 16 and report["failures"] == 0
    code, text, err = run(capsys, "verify", stages[1], "--old", tmp_path / "mid.bin", "--layout", layout,
                          "--power-cuts", "16", "--seed", "4", "--engine", "both", "--json")
    assert code == 0, err
    report = json.loads(text)["power_cuts"]
    assert report["download_area"] == ["customer_fs"]
    assert report["tried"] == report["survived"] == 16 and report["failures"] == 0
    from otapack.core.flash_image import load_flash_image

    mid = load_flash_image(tmp_path / "mid.bin", layout)[0]
    report = powercut.sweep(stages[1].read_bytes(), mid, 16, seed=4, geometry=Geometry(engine="both"))
    assert report.tried == report.survived == 16 and report.failures == 0, report.first_failure
