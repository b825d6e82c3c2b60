"""The bounded-step claim of ota_restore_step(): after the read-only checks,
one call erases and programs at most one erase block (device/README.md,
"Bounded steps"), so a bootloader loop can kick its watchdog between calls.

The host driver counts the bytes the simulated flash sees erased and
programmed inside each ota_restore_step() call; here the golden full and
delta packages (replace in place; delta staged and copied at commit) run
through the C restore, and no step may exceed one erase block of either
while the restore really wrote (a whole block in some step, at least one
step per block erased)."""

import copy
from pathlib import Path

import pytest

from otapack import FirmwareImage
from otapack.core.restore import c_engine
from otapack.core.restore.engine import Restore
from otapack.core.verify import DeviceOptions, make_device

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _programmer():
    old = (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()
    return FirmwareImage.single(old)


@pytest.mark.parametrize("name", ["programmer-full.pack", "programmer-delta.pack"])
def test_one_erase_block_per_step(name):
    pkg = (FIXTURES / "golden" / name).read_bytes()
    device = make_device(_programmer())
    twin = copy.deepcopy(device)
    py, c = Restore(device).run(pkg), c_engine.run(twin, pkg)
    assert py.ok and c.ok, (py.error, c.error)
    flash = c.c_flash
    block = device.erase_block
    assert flash["violations"] == 0
    assert 0 < flash["max_step_erased"] <= block, flash
    assert 0 < flash["max_step_programmed"] <= block, flash
    # the work really is spread: at least one step per block erased
    assert flash["steps"] >= c.blocks_erased, (flash, c.blocks_erased)
