"""delta-in-place in the C restore (device/src/ota_in_place.c) against the
Python one (otapack/core/restore/in_place.py): the same verdict, checks,
error class, failure record and flash, without and with a journal, on every
corpus fixture, on the hand-made corrupt streams of test_in_place.py, and
through the power-cut sweep in lockstep (``Geometry(engine="both")``)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from hostile_builders import delta_package, single
from otapack.core import powercut
from otapack.core.build import PackageOptions, build_delta
from otapack.core.container import read_package
from otapack.core.restore import c_engine, engines, resume
from otapack.core.restore.engine import Restore
from otapack.core.verify import DeviceOptions, make_device
from test_in_place import (BLOCK, CORRUPT, CORRUPT_IDS, FAST, OLD, PAIRS, REREAD, TWICE, _images, _in_place,
                           _journaled, _stream)

#: Both directions of both corpus pairs.
DIRECTIONS = PAIRS + [(new, old) for old, new in PAIRS]


def _checks(result):
    return [(c.name, c.status.value) for c in result.checks]


def _unjournaled(package: bytes, old):
    py = make_device(old, DeviceOptions())
    c = copy.deepcopy(py)
    a, b = Restore(py).run(package), c_engine.run(c, package)
    assert engines.strict_disagreements(a, b, py, c) == []
    assert _checks(a) == _checks(b)
    return a, b


def _with_journal(package: bytes, old):
    py = _journaled(old, read_package(package).header.scratch_flash)
    c = copy.deepcopy(py)
    a, b = Restore(py).run(package), c_engine.run(c, package)
    assert engines.strict_disagreements(a, b, py, c) == []
    assert _checks(a) == _checks(b)
    assert powercut.flash_state(py) == powercut.flash_state(c)  # partitions, scratch and journal
    assert resume.pending(py.resume) == c_engine.journal_pending(c.resume.journal.flash)
    return a, b


@pytest.mark.parametrize("pair", DIRECTIONS, ids=lambda p: f"{p[0]}->{p[1]}")
@pytest.mark.parametrize("scratch", [BLOCK, 2 * BLOCK, 5 * BLOCK])
def test_every_corpus_fixture_restores_alike_in_both_restores(pair, scratch):
    old, new = _images(*pair)
    package = build_delta(old, new, PackageOptions(**FAST, scratch_flash=scratch))
    assert [r.operation for r in read_package(package).partitions] == ["delta-in-place"]
    for run in (_unjournaled, _with_journal):
        py, c = run(package, old)
        assert py.ok and c.ok, (run.__name__, py.error, c.error)
        assert py.tuples == c.tuples > 0  # two passes (proving, commit), each decoded in full


def _corrupt_package(segments, saves, body, target, sector, digest):
    patch = _stream(segments, saves, body, target, sector, digest)
    return delta_package(OLD, patch, target, operation="delta-in-place", scratch_flash=((len(saves) or 1) + 1) * BLOCK)


@pytest.mark.parametrize("segments, saves, body, target, sector, digest, cls, message, check", CORRUPT,
                         ids=CORRUPT_IDS)
def test_corrupt_in_place_streams_fail_alike_in_c(segments, saves, body, target, sector, digest, cls, message, check):
    package = _corrupt_package(segments, saves, body, target, sector, digest)
    for run in (_unjournaled, _with_journal):
        py, c = run(package, single(OLD))
        assert type(py.error) is cls and c_engine.error_class(c.error) == c_engine.error_class(py.error), c.error
        assert [k.name for k in c.checks if k.status.value == "fail"] == [check]


def test_the_read_after_overwrite_failure_names_the_same_window_and_tuple():
    package = _corrupt_package(((0, 2, 0),), (), REREAD, TWICE, BLOCK, None)
    py, c = _unjournaled(package, single(OLD))
    assert (c.failure.window, c.failure.tuple, c.failure.offset) == (0, 1, 0)
    assert (py.failure.window, py.failure.tuple, py.failure.offset) == (0, 1, 0)


def test_a_hand_made_stream_with_a_save_restores_alike():
    package = _corrupt_package(((0, 2, 0),), (0,), REREAD, TWICE, BLOCK, None)
    for run in (_unjournaled, _with_journal):
        py, c = run(package, single(OLD))
        assert py.ok and c.ok, (py.error, c.error)


def test_the_c_restore_refuses_a_scratch_area_too_small_for_saves_and_swap():
    """Journaled, the saves and the swap sector must fit the device's scratch
    area: refused at restore:NAME, before anything live is written, in both."""
    package, old, _ = _in_place(PAIRS[0], 5 * BLOCK)
    header = read_package(package).header
    py = _journaled(old, header.scratch_flash - BLOCK)
    c = copy.deepcopy(py)
    a, b = Restore(py).run(package), c_engine.run(c, package)
    assert engines.strict_disagreements(a, b, py, c) == []
    assert a.failure.check == b.failure.check == "restore"
    assert c_engine.error_class(b.error) == "resource"


# ------------------------------------------------------------------ interrupted and resumed, in lockstep

def test_every_single_cut_clean_and_torn_and_repeated_same_in_both_restores():
    package, old, _ = _in_place(PAIRS[0])
    report = powercut.sweep(package, old, "all", seed=5, geometry=powercut.Geometry(engine="both"))
    assert report.operations > 20 and report.tried == 3 * report.operations
    assert (report.failures, report.survived, report.first_failure) == (0, report.tried, None)


def test_sampled_repeated_cuts_on_the_larger_fixture_same_in_both_restores():
    package, old, _ = _in_place(PAIRS[1])
    report = powercut.sweep(package, old, 40, seed=7, geometry=powercut.Geometry(engine="both"))
    assert report.operations > 200
    assert (report.tried, report.failures) == (40, 0), report.first_failure


def test_cuts_while_a_chunk_is_parked_leave_the_package_pending_in_c_as_in_python():
    """After every cut of the commit, the C bootloader query answers as
    resume.pending, a `swap` record newest included."""
    from otapack.core.restore.nor import Power, PowerLost

    package, old, _ = _in_place(PAIRS[0])
    header = Restore(make_device(old, DeviceOptions())).run(package).header
    operations = powercut.sweep(package, old, 1, geometry=powercut.Geometry(engine="c")).operations
    phases = set()
    for cut in range(operations):
        devs = [powercut.build_device(old, header, powercut.Geometry(), Power(frozenset((cut,)), False, 0))
                for _ in range(2)]
        with pytest.raises(PowerLost):
            Restore(devs[0]).run(package)
        with pytest.raises(PowerLost):
            c_engine.run(devs[1], package)
        assert powercut.flash_state(devs[0]) == powercut.flash_state(devs[1])
        assert c_engine.journal_pending(devs[1].resume.journal.flash) == resume.pending(devs[0].resume)
        latest = devs[0].resume.journal.latest()
        phases.add(latest.phase if latest else None)
    assert "swap" in phases and "commit" in phases  # the fixture parks chunks


@pytest.mark.parametrize("engine", ["c", "both"])
def test_skipping_the_swap_sector_fails_the_c_sweep_too(engine):
    package, old, _ = _in_place(PAIRS[0])
    report = powercut.sweep(package, old, "single", stop_at_first=True,
                            geometry=powercut.Geometry(fault="skip-swap", engine=engine))
    assert report.failures == 1
    assert "check commit failed" in report.first_failure.problem


@pytest.mark.parametrize("blocks, operations", [
    (3, ["keep", "delta-in-place", "delta-in-place", "replace"]),
    (7, ["keep", "delta", "delta-in-place", "replace"]),
], ids=["two-in-place", "staged-in-place-full"])
def test_multi_partition_packages_mixing_in_place_survive_cuts_in_both_restores(blocks, operations):
    """The power-cut fixture's layout with a scratch budget of `blocks`
    sectors: in-place partitions next to a staged delta and a replace (the
    staged copy, the saves and the swap sector share the scratch area)."""
    sys.path.insert(0, str(Path(__file__).parent / "powercut"))
    from powercut_fixtures import FAST as PC_FAST, three_partitions

    _, old, new = three_partitions()
    package = build_delta(old, new, PackageOptions(**PC_FAST, scratch_flash=blocks * BLOCK))
    assert [r.operation for r in read_package(package).partitions] == operations
    for run in (_unjournaled, _with_journal):
        py, c = run(package, old)
        assert py.ok and c.ok, (py.error, c.error)
    report = powercut.sweep(package, old, 60, seed=3, geometry=powercut.Geometry(engine="both"))
    assert (report.tried, report.failures) == (60, 0), report.first_failure


def test_the_in_place_tables_are_priced_alike_at_resources():
    """Two segments and a save (20 bytes of tables): at the smallest
    ram_required the Python restore takes, the C restore passes too; one
    byte less and both refuse at resources, on the patch's RAM."""
    patch = _stream(((1, 1, 0), (0, 1, 0)), (0,), REREAD, TWICE)

    def outcome(ram: int):
        package = delta_package(OLD, patch, TWICE, operation="delta-in-place", scratch_flash=2 * BLOCK,
                                ram_required=ram)
        return _unjournaled(package, single(OLD))

    low, high = 1, 1 << 20  # Python's threshold: fails at low, passes at high
    assert not outcome(low)[0].ok and outcome(high)[0].ok
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if outcome(middle)[0].ok else (middle, high)
    py, c = outcome(high)
    assert py.ok and c.ok, c.error
    py, c = outcome(low)
    assert py.failure.check == c.failure.check == "resources"
    assert "decoder and patch windows need" in str(py.error) and c_engine.error_class(c.error) == "resource"


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_every_byte_of_a_mutated_in_place_header_fails_alike_in_c(flip):
    """Each of the first 80 stream bytes (the in-place header, the delta-v1
    header and the first window) changed in turn: the C restore gives the
    Python restore's verdict, checks, error class, failure record and flash,
    with and without a journal."""
    patch = _stream(((1, 1, 1), (0, 1, 0)), (0,), REREAD, TWICE)
    verdicts = set()
    for at in range(min(80, len(patch))):
        mutated = bytearray(patch)
        mutated[at] ^= flip
        package = delta_package(OLD, bytes(mutated), TWICE, operation="delta-in-place", scratch_flash=2 * BLOCK)
        py, _ = _unjournaled(package, single(OLD))
        _with_journal(package, single(OLD))
        verdicts.add("pass" if py.ok else py.failure.check)
    assert {"resources", "restore", "target"} <= verdicts  # header rules, the old-read rule, the write-order hash


@pytest.mark.parametrize("where", ["partition", "scratch"])
def test_a_mixed_sector_map_is_refused_before_any_write_in_both_restores(where):
    """An in-place delta needs erase sectors of the package's erase block, in
    its partition and (journaled) in the scratch area: STM32F4's map is
    refused at resources by both restores, nothing erased or programmed."""
    from otapack.core.restore.nor import NorFlash

    package, old, _ = _in_place(PAIRS[0])
    py = _journaled(old, read_package(package).header.scratch_flash)
    flash = py.partitions["app"].flash if where == "partition" else py.resume.scratch
    mapped = NorFlash.holding(flash.read(0, flash.size), flash.size, BLOCK, 0xFF, flash.name,
                              sector_map=(16384, 8192))
    if where == "partition":
        py.partitions["app"].flash = mapped
    else:
        py.resume.scratch = mapped
    c = copy.deepcopy(py)
    before = powercut.flash_state(py)
    a, b = Restore(py).run(package), c_engine.run(c, package)
    assert engines.strict_disagreements(a, b, py, c) == []
    assert a.failure.check == b.failure.check == "resources"
    assert type(a.error).__name__ == type(b.error).__name__ == "ResourceLimitError"
    assert powercut.flash_state(py) == powercut.flash_state(c) == before
