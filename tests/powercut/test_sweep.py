"""The power-cut sweep (otapack/core/powercut.py): every single cut, torn cuts,
repeated cuts, over several flash geometries, and the negative controls that
show the sweep catches a wrong journal rule."""

from __future__ import annotations

import pytest

from powercut_fixtures import full_package, three_partitions
from otapack.core import powercut
from otapack.core.powercut import Case, Geometry
from otapack.core.restore import resume
from otapack.errors import PrecursorMismatchError, UsageError

GEOMETRIES = {
    "unit8": Geometry(program_unit=8),
    "stm32f4-unit32": Geometry(program_unit=32, sector_map="stm32f4"),
    "erased00-unit4": Geometry(program_unit=4, erased_value=0x00),
    "sectors128k-unit16": Geometry(program_unit=16, sector_map=(128 * 1024,)),
}


def _package(fixture, name):
    """The fixture; for erased-0x00 flash, the delta built from images erased to 0x00."""
    return three_partitions(0x00) if fixture is three_partitions and name == "erased00-unit4" else fixture()


def test_every_single_cut_clean_and_torn_and_sampled_repeats_survive():
    pkg, old, _ = three_partitions()
    report = powercut.sweep(pkg, old, "all", seed=0)
    assert report.operations > 0
    assert report.tried == 3 * report.operations  # clean + torn at every operation, + as many repeated cases
    assert (report.failures, report.survived, report.first_failure) == (0, report.tried, None)


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("fixture", [three_partitions, full_package], ids=["delta", "full"])
def test_sampled_cuts_survive_on_other_geometries(fixture, name):
    pkg, old, _ = _package(fixture, name)
    report = powercut.sweep(pkg, old, 40, seed=3, geometry=GEOMETRIES[name])
    assert report.tried == 40 and report.failures == 0, report.first_failure


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("fixture", [three_partitions, full_package], ids=["delta", "full"])
def test_every_cut_survives_on_other_geometries(fixture, name):
    pkg, old, _ = _package(fixture, name)
    report = powercut.sweep(pkg, old, "all", seed=4, geometry=GEOMETRIES[name])
    assert report.failures == 0, report.first_failure


@pytest.mark.parametrize("fault", resume.FAULTS)
def test_a_wrong_journal_rule_fails_the_sweep(fault):
    """The negative control: the same sweep, one rule broken, must find failures."""
    pkg, old, _ = three_partitions()
    report = powercut.sweep(pkg, old, "all", seed=0, geometry=Geometry(fault=fault), stop_at_first=True)
    assert report.failures == 1 and report.first_failure is not None
    failure = report.first_failure
    again = powercut.run_case(pkg, old, failure.case, Geometry(fault=fault))  # the report reproduces it
    assert not again.ok and again.problem == failure.problem


def test_the_restore_without_a_journal_fails_the_sweep():
    """What the journal fixes, measured by the same sweep (issue 15)."""
    pkg, old, _ = three_partitions()
    report = powercut.sweep(pkg, old, "all", seed=0, geometry=Geometry(journaled=False))
    assert report.failures > 0 and "wrong base image" in report.first_failure.problem


def test_the_sweep_is_reproducible_from_its_seed():
    pkg, old, _ = three_partitions()
    cases = list(powercut.cases(50, 30, seed=11))
    assert cases == list(powercut.cases(50, 30, seed=11)) != list(powercut.cases(50, 30, seed=12))
    assert all(1 <= len(c.cuts) <= powercut.MAX_CUTS for c in cases)
    assert list(powercut.cases(4, "single", seed=11)) == [Case((i,)) for i in range(4)]
    assert powercut.sweep(pkg, old, 5, seed=11).to_dict() == powercut.sweep(pkg, old, 5, seed=11).to_dict()


def test_repeated_cuts_land_in_resumed_runs():
    pkg, old, _ = three_partitions()
    ops = powercut.sweep(pkg, old, 1).operations
    first = ops // 3  # each resumed run redoes a sector and re-journals: a few operations in, the next cut
    outcome = powercut.run_case(pkg, old, Case((first, first + 3, first + 6, first + 9), torn=True, seed=1))
    assert outcome.ok and outcome.boots == 5, outcome


def test_a_package_for_another_base_is_refused_before_the_sweep():
    pkg, _, new = three_partitions()
    with pytest.raises(PrecursorMismatchError):
        powercut.sweep(pkg, new, 3)
    for bad in (0, -1, "some", True):
        with pytest.raises(UsageError, match="positive count"):
            powercut.sweep(pkg, three_partitions()[1], bad)
