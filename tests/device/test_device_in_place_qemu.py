"""delta-in-place on an emulated Cortex-M (device/src/ota_in_place.c built
with arm-none-eabi-gcc -Os, run by device/target/restore.c under
qemu-system-arm), uninterrupted and with power cuts (``-j CUTS``, as
test_device_journal_qemu.py): the same flash operation count as the host
build, NEW in every slot after any cut sequence, the commit reported
pending when a cut lands in it (a parked chunk's `swap` record included)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from device_helpers import builds, otadev  # noqa: F401 (fixtures)
from test_device_journal_qemu import TARGETS, _elf, _run, _slots

from otapack.core import powercut
from otapack.core.build import PackageOptions, build_delta
from otapack.core.container import read_package

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "powercut"))
from powercut_fixtures import FAST, three_partitions  # noqa: E402

BLOCK = 4096


@pytest.mark.parametrize("board,cpu", TARGETS, ids=[f"{b}-{c or 'default'}" for b, c in TARGETS])
def test_in_place_deltas_on_target_resume_after_cuts(builds, tmp_path, board, cpu):
    _, old, new = three_partitions()
    package = build_delta(old, new, PackageOptions(**FAST, scratch_flash=7 * BLOCK))  # staged, in place, full
    assert [r.operation for r in read_package(package).partitions] == ["keep", "delta", "delta-in-place", "replace"]
    elf = _elf(builds, board, cpu)
    figures, result, flash = _run(elf, board, tmp_path, package, old, [])
    assert result["result"] == "end" and flash == _slots(new)
    operations = int(figures["ops"])
    assert operations == powercut.sweep(package, old, 1, geometry=powercut.Geometry(engine="c")).operations
    cases = [[i] for i in range(operations // 2, operations, max(1, operations // 16))] + [[operations - 1]]
    cases += [[2, operations // 2, operations - 3]]
    pending_seen = 0
    for cuts in cases:
        figures, result, flash = _run(elf, board, tmp_path, package, old, cuts)
        assert result["result"] == "end", (cuts, result)
        assert flash == _slots(new), cuts
        assert int(figures["boots"]) == len(cuts) + 1, (cuts, figures)
        pending_seen += int(figures["pending"])
    assert pending_seen > 0
