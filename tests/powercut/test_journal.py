"""The restore journal (otapack/core/restore/journal.py, docs/formats/journal-v1.md)."""

from __future__ import annotations

import random

import pytest

from otapack.core.formats import wire_numbers as wn
from otapack.core.formats.journal import JournalRecord
from otapack.core.restore.journal import Journal, Record, parse_record
from otapack.core.restore.nor import NorFlash, Power, PowerLost

DIGEST = bytes(range(32))
OTHER = bytes(32)


def journal(power: Power | None = None, sector: int = 4096, unit: int = 8) -> Journal:
    return Journal(NorFlash(2 * sector, sector, program_unit=unit, power=power))


def test_both_readers_agree_on_the_record():
    rnd = random.Random(7)
    for _ in range(50):
        record = Record(rnd.getrandbits(32), rnd.randbytes(32), rnd.choice(list(wn.JOURNAL_PHASES)),
                        rnd.getrandbits(32), rnd.getrandbits(32))
        raw = record.to_bytes()
        assert len(raw) == wn.JOURNAL_RECORD_SIZE
        built = JournalRecord.build(dict(body=dict(value=dict(
            sequence=record.sequence, package_digest=record.package_digest, phase=record.phase,
            entry=record.entry, done=record.done))))
        assert built == raw
        parsed = JournalRecord.parse(raw).body.value
        assert (parsed.sequence, parsed.package_digest, str(parsed.phase), parsed.entry, parsed.done) == (
            record.sequence, record.package_digest, record.phase, record.entry, record.done)
        assert parse_record(raw) == record


def test_a_damaged_record_is_not_a_record():
    raw = Record(3, DIGEST, "commit", 1, 4096).to_bytes()
    assert parse_record(b"\xff" * 64) is None
    for position in range(len(raw)):
        damaged = bytearray(raw)
        damaged[position] ^= 0x10
        assert parse_record(bytes(damaged)) is None, position


def test_the_newest_record_rules_across_boots_and_sectors():
    j = journal()
    assert j.latest() is None
    slots = 4096 // wn.JOURNAL_RECORD_SIZE
    for done in range(3 * slots):  # wraps between the two sectors twice
        j.append(DIGEST, "stage", 0, done)
        assert j.latest() == Record(done, DIGEST, "stage", 0, done)
    j.boot()
    j.append(DIGEST, "commit", 2, 0)
    assert j.latest().phase == "commit" and j.latest().sequence == 3 * slots


def test_a_boot_writes_into_a_freshly_erased_sector():
    power = Power()
    j = journal(power)
    j.append(DIGEST, "stage", 0, 0)  # erase + program
    j.append(DIGEST, "stage", 0, 4096)  # program
    assert power.operations == 3
    j.boot()
    j.append(DIGEST, "stage", 0, 8192)  # the other sector: erase + program
    assert power.operations == 5
    assert j.flash.read(4096, 64) == Record(2, DIGEST, "stage", 0, 8192).to_bytes()


@pytest.mark.parametrize("seed", range(30))
def test_a_torn_record_leaves_the_one_before(seed):
    power = Power(frozenset({3}), torn=True, seed=seed)
    j = journal(power)
    j.append(DIGEST, "stage", 0, 0)
    j.append(DIGEST, "stage", 0, 4096)
    with pytest.raises(PowerLost):
        j.append(DIGEST, "stage", 0, 8192)
    assert j.latest() in (Record(1, DIGEST, "stage", 0, 4096), Record(2, DIGEST, "stage", 0, 8192))
    j.boot()
    j.append(OTHER, "done", 0, 0)  # the next boot can always write
    assert j.latest().package_digest == OTHER


@pytest.mark.parametrize("seed", range(10))
def test_a_torn_sector_erase_leaves_the_newest_record(seed):
    power = Power(frozenset({2}), torn=True, seed=seed)
    j = journal(power)
    j.append(DIGEST, "commit", 1, 4096)
    j.boot()
    with pytest.raises(PowerLost):
        j.append(DIGEST, "commit", 1, 8192)  # erasing the other sector is torn
    assert j.latest() == Record(0, DIGEST, "commit", 1, 4096)
    j.boot()
    j.append(DIGEST, "commit", 1, 8192)
    assert j.latest() == Record(1, DIGEST, "commit", 1, 8192)


def test_a_journal_needs_two_sectors():
    with pytest.raises(ValueError, match="2 sectors"):
        Journal(NorFlash(4096, 4096))
