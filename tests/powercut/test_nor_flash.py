"""The simulated NOR flash of the power-cut sweep (otapack/core/restore/nor.py)."""

from __future__ import annotations

import pytest

from otapack.core.restore.flash import FlashFault
from otapack.core.restore.nor import SECTOR_MAPS, NorFlash, Power, PowerLost, sector_sizes

KIB = 1024


def test_a_unit_is_programmed_once_per_erase():
    flash = NorFlash(8 * KIB, 4096, program_unit=8)
    flash.write(0, b"\x12" * 8)
    with pytest.raises(FlashFault, match="already programmed"):
        flash.write(0, b"\xff" * 8)  # even bytes that read as erased: once per erase
    with pytest.raises(FlashFault, match="already programmed"):
        flash.write(0, b"\x00" * 3)
    flash.write(8, b"\x34" * 3)  # a partial unit counts as programmed, the rest stays erased
    assert flash.read(8, 8) == b"\x34" * 3 + b"\xff" * 5
    with pytest.raises(FlashFault, match="already programmed"):
        flash.write(8, b"\x00")
    flash.erase_at(0)
    flash.write(0, b"\x56" * 16)
    assert flash.read(0, 16) == b"\x56" * 16


def test_a_program_starts_on_a_unit_boundary():
    flash = NorFlash(4096, 4096, program_unit=32)
    with pytest.raises(FlashFault, match="program unit"):
        flash.write(16, b"\0")
    with pytest.raises(ValueError, match="power of two"):
        NorFlash(4096, 4096, program_unit=3)
    with pytest.raises(ValueError, match="power of two"):
        NorFlash(4096, 4096, program_unit=64)


def test_holding_marks_the_old_bytes_programmed():
    flash = NorFlash.holding(b"\xff" * 8 + b"\x01", 4096, 4096, 0xFF, "old", program_unit=8)
    flash.write(0, b"\x02" * 8)  # that unit read erased
    with pytest.raises(FlashFault):
        flash.write(8, b"\x02")


def test_mixed_sector_map_erases_whole_sectors():
    assert sector_sizes(160 * KIB, SECTOR_MAPS["stm32f4"]) == [16 * KIB] * 4 + [64 * KIB, 32 * KIB]
    assert sector_sizes(300 * KIB, SECTOR_MAPS["stm32f4"]) == [16 * KIB] * 4 + [64 * KIB, 128 * KIB, 44 * KIB]
    flash = NorFlash.holding(b"\x00" * (160 * KIB), 160 * KIB, 4096, 0xFF, "f4", sector_map=SECTOR_MAPS["stm32f4"])
    assert flash.sector_at(70 * KIB) == (64 * KIB, 64 * KIB)
    flash.erase(20)  # erase block 20 is inside the 64 KiB sector: all of it goes
    assert flash.read(64 * KIB, 64 * KIB) == b"\xff" * (64 * KIB)
    assert flash.read(0, 64 * KIB) == b"\x00" * (64 * KIB)
    assert flash.read(128 * KIB, 32 * KIB) == b"\x00" * (32 * KIB)


def test_a_cut_before_an_operation_changes_nothing():
    power = Power(frozenset({1}))
    flash = NorFlash.holding(b"\x11" * 4096, 8192, 4096, 0xFF, "f", power=power)
    flash.erase_at(4096)  # operation 0
    with pytest.raises(PowerLost):
        flash.erase_at(0)  # operation 1: cut
    assert flash.read(0, 4096) == b"\x11" * 4096
    flash.erase_at(0)  # the counter runs on: operation 2 is not cut
    assert power.operations == 3 and power.cuts_taken == [1]
    assert flash.blocks_erased == 2


@pytest.mark.parametrize("erased", [0xFF, 0x00])
def test_a_torn_program_lands_a_prefix_and_part_of_a_unit(erased):
    data = bytes(range(256)) * 4
    for seed in range(20):
        flash = NorFlash(4096, 4096, erased, program_unit=8, power=Power(frozenset({0}), torn=True, seed=seed))
        with pytest.raises(PowerLost):
            flash.write(0, data)
        got = flash.read(0, len(data))
        for have, want in zip(got, data):
            # Programming only moves bits away from the erased value: a torn byte
            # holds a subset of the moves (bits ANDed for 0xFF, ORed for 0x00).
            assert (have & want == want) if erased == 0xFF else (have | want == want)
        landed = next((i for i, (h, w) in enumerate(zip(got, data)) if h != w), len(data))
        assert got[(landed // 8 + 1) * 8 :] == bytes([erased]) * (len(data) - (landed // 8 + 1) * 8)
        if landed < len(data):  # the torn unit cannot be programmed again before an erase
            with pytest.raises(FlashFault, match="already programmed"):
                flash.write(landed // 8 * 8, data[:8])


def test_a_torn_erase_leaves_random_bytes_nothing_may_program():
    flash = NorFlash.holding(b"\x00" * 4096, 4096, 4096, 0xFF, "f", program_unit=4,
                             power=Power(frozenset({0}), torn=True, seed=5))
    with pytest.raises(PowerLost):
        flash.erase_at(0)
    got = flash.read(0, 4096)
    assert got != b"\x00" * 4096 and got != b"\xff" * 4096
    with pytest.raises(FlashFault, match="already programmed"):
        flash.write(1024, b"\x01" * 4)
    flash.erase_at(0)
    flash.write(1024, b"\x01" * 4)


def test_one_power_counts_every_flash_of_a_device():
    power = Power(frozenset({2}))
    a, b = NorFlash(4096, power=power), NorFlash(4096, power=power)
    a.erase_at(0)
    b.erase_at(0)
    with pytest.raises(PowerLost):
        a.write(0, b"x")
