"""The journaled restore's rules (otapack/core/restore/resume.py), one at a time."""

from __future__ import annotations

import hashlib

from hostile_builders import with_field
from powercut_fixtures import three_partitions
from otapack.core import powercut
from otapack.core.restore import resume
from otapack.core.restore.engine import Restore
from otapack.core.restore.nor import Power, PowerLost
from otapack.core.verify import make_device


def _device(pkg, old, cuts=frozenset()):
    header = Restore(make_device(old)).run(pkg).header
    power = Power(frozenset(cuts))
    return powercut.build_device(old, header, powercut.Geometry(), power), header, power


def _digest(pkg: bytes, header) -> bytes:
    return hashlib.sha256(pkg[: header.body_length]).digest()


def _cut_in_commit(pkg, old):
    """A device whose power went during the commit of the first delta partition."""
    dev, header, power = _device(pkg, old)
    result = Restore(dev).run(pkg)
    assert result.ok
    total = power.operations
    for cut in range(total - 1, 0, -1):
        dev, header, power = _device(pkg, old, {cut})
        try:
            Restore(dev).run(pkg)
        except PowerLost:
            record = dev.resume.journal.latest()
            if record.phase == "commit" and record.entry == 1 and record.done:
                return dev, header
    raise AssertionError("no cut in the commit of entry 1")


def test_the_bootloader_asks_which_restore_is_in_progress():
    pkg, old, _ = three_partitions()
    dev, header, _ = _device(pkg, old)
    assert resume.pending(dev.resume) is None
    dev, header = _cut_in_commit(pkg, old)
    assert resume.pending(dev.resume) == _digest(pkg, header)
    assert resume.pending(None) is None
    assert Restore(dev).run(pkg).ok
    assert resume.pending(dev.resume) is None


def test_the_journal_stands_in_for_the_source_hash_once_written():
    pkg, old, _ = three_partitions()
    dev, header = _cut_in_commit(pkg, old)
    result = Restore(dev).run(pkg)
    assert result.ok, result.error
    detail = next(c.detail for c in result.checks if c.name == "precondition")
    assert "the journal stands in for 1 partitions" in detail and "resuming phase commit at entry 1" in detail


def test_another_package_is_refused_while_a_restore_is_in_progress():
    pkg, old, _ = three_partitions()
    dev, header = _cut_in_commit(pkg, old)
    other = with_field(pkg, "security_counter", 9)
    result = Restore(dev).run(other)
    assert not result.ok and "is in progress; it must finish" in str(result.error)
    assert [c.name for c in result.checks if c.status == "fail"] == ["precondition"]
    assert Restore(dev).run(pkg).ok  # the one in progress still finishes


def test_no_live_partition_is_written_before_every_payload_is_proven():
    """The replace partition (last in the table) is refused at target:cfg: nothing
    live was written, the deltas were only staged."""
    pkg, old, _ = three_partitions()
    bad = with_field(pkg, "3.target_sha256", bytes(32))
    dev, header, power = _device(pkg, old)
    before = {n: p.flash.read(0, p.flash.size) for n, p in dev.partitions.items()}
    result = Restore(dev).run(bad)
    assert not result.ok and [c.name for c in result.checks if c.status == "fail"] == ["target:cfg"]
    assert {n: p.flash.read(0, p.flash.size) for n, p in dev.partitions.items()} == before
    assert dev.partitions["cfg"].flash.bytes_written == 0
    assert resume.pending(dev.resume) is None  # only scratch was written: the device boots OLD
    assert Restore(dev).run(pkg).ok  # and takes another package


def test_without_a_journal_the_same_package_writes_cfg_in_place_first():
    """The baseline the journal fixes: the replace is written before it is proven."""
    pkg, old, _ = three_partitions()
    bad = with_field(pkg, "3.target_sha256", bytes(32))
    dev = make_device(old)
    result = Restore(dev).run(bad)
    assert not result.ok and dev.partitions["cfg"].flash.bytes_written > 0


def _written(dev) -> int:
    flashes = [p.flash for p in dev.partitions.values()] + [dev.resume.scratch]
    return sum(f.bytes_written for f in flashes)


def test_a_cut_redoes_at_most_one_sector():
    """Over every clean single cut: the bytes programmed by both boots together
    exceed an uninterrupted restore's by at most one erase sector."""
    pkg, old, _ = three_partitions()
    dev, header, power = _device(pkg, old)
    assert Restore(dev).run(pkg).ok
    reference, operations = _written(dev), power.operations
    worst = 0
    for cut in range(operations):
        dev, _, _ = _device(pkg, old, {cut})
        try:
            Restore(dev).run(pkg)
        except PowerLost:
            assert Restore(dev).run(pkg).ok
        worst = max(worst, _written(dev) - reference)
    assert 0 < worst <= dev.erase_block
