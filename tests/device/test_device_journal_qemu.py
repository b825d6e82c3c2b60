"""The journaled restore on an emulated Cortex-M, with power cuts.

device/target/restore.c ``-j CUTS`` runs the library's journaled restore
(cfg.journal) built with arm-none-eabi-gcc -Os under qemu-system-arm, cuts
the power before the flash operations CUTS names (every flash call of that
boot then fails), asks ``ota_journal_pending()`` as a bootloader would, and
boots again from the same flash until a boot is not cut. The host sweep
(tests/powercut) covers torn operations and every cut point; this checks
that the code built for the target resumes the same way: the same flash
operation count as the host build of the same sources, NEW in every slot
after any cut sequence, and a commit reported pending exactly when a cut
lands in it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from device_helpers import builds, otadev  # noqa: F401 (fixtures)

from otapack.core import powercut

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "powercut"))
from powercut_fixtures import three_partitions  # noqa: E402

BLOCK = 4096
#: (board, cpu): the M0 build runs on the M3 model, as in test_device_restore.py
TARGETS = [("mps2-an386", None), ("mps2-an385", "cortex-m0")]


def _elf(builds, board: str, cpu: str | None) -> Path:
    tag = f"arm-restore-{board}-{cpu or 'default'}"  # shared with test_device_restore.py's build

    def build():
        out = builds.root / tag
        otadev.make(out, "arm-restore", BOARD=board, **({"CPU": cpu} if cpu else {}))
        return out / "restore.elf"

    return builds._once(tag, build)


def _slots(image) -> bytes:
    """Every partition's slot as the target writes them (in erase blocks, erased after the data)."""
    out = b""
    for p in image.partitions:
        size = -(-p.slot_size // BLOCK) * BLOCK
        out += p.data + b"\xff" * (size - len(p.data))
    return out


def _run(elf, board, tmp_path, package, old, cuts):
    (tmp_path / "p.pack").write_bytes(package)
    args = ["-j", "+".join(map(str, cuts)) or "-", "p.pack", str(BLOCK), "out.bin"]
    for p in old.partitions:
        (tmp_path / f"{p.name}.old").write_bytes(p.data)
        args.append(f"{p.name}:{p.address}:{p.slot_size}:{p.name}.old")
    run = otadev.run_qemu(elf, otadev.BOARDS[board][0], args, cwd=tmp_path)
    assert run.returncode == 0, run.output
    return run.line("boots="), run.line("result="), (tmp_path / "out.bin").read_bytes()


@pytest.mark.parametrize("board,cpu", TARGETS, ids=[f"{b}-{c or 'default'}" for b, c in TARGETS])
def test_the_journaled_restore_on_target_resumes_after_cuts(builds, tmp_path, board, cpu):
    package, old, new = three_partitions()  # two deltas, a replace and a keep
    elf = _elf(builds, board, cpu)
    figures, result, flash = _run(elf, board, tmp_path, package, old, [])
    assert result["result"] == "end" and flash == _slots(new)
    operations = int(figures["ops"])
    # the host build of the same sources on the same geometry counts the same operations
    host = powercut.sweep(package, old, 1, geometry=powercut.Geometry(engine="c")).operations
    assert operations == host and (figures["boots"], figures["pending"]) == ("1", "0")
    # the commit starts after every payload is proven; the last quarter of the operations is in it
    cases = [[i] for i in range(0, operations, max(1, operations // 9))] + [[operations - 1]]
    cases += [[3, operations // 2, operations // 2 + 1, operations - 2]]
    pending_seen = 0
    for cuts in cases:
        figures, result, flash = _run(elf, board, tmp_path, package, old, cuts)
        assert result["result"] == "end", (cuts, result)
        assert flash == _slots(new), cuts
        assert int(figures["boots"]) == len(cuts) + 1, (cuts, figures)
        assert int(figures["ops"]) >= operations, (cuts, figures)
        pending_seen += int(figures["pending"])
    assert pending_seen > 0  # some cut landed in a commit, and the bootloader was told
