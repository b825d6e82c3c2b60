"""The C restore engine (device/src/ota_restore*.c) under ASan/UBSan and libFuzzer.

The fuzz target (device/tests/fuzz_restore.c) runs the whole restore through
the host driver on a fixed simulated device: no crash, no sanitizer report,
no flash erased or programmed before the `restore` check, none outside the
partition and the staging area, no NOR rule broken. It first runs every seed
once (golden packages, full and delta packages for the fuzz device, hostile
patch streams), then fuzzes for a short bounded time. Longer runs:
``make -C device fuzz-restore O=build/fz && build/fz/fuzz_restore -max_total_time=3600 CORPUS``.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from device_helpers import DEVICE, builds  # noqa: F401 (fixtures)

from otapack.core.restore.engine import Device, Restore
from otapack.core.restore.flash import SimFlash
from otapack.core.restore.slots import DevicePartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile_builders as hb  # noqa: E402

SLOT = 65536
#: The fuzz target's partition: every byte says where it is (mod 256).
OLD = bytes(i & 0xFF for i in range(SLOT))


def _seeds() -> dict[str, bytes]:
    new = bytearray(OLD)
    new[100:120] = b"otapack fuzz seed 01"
    new[40000:40004] = b"\x00\x01\x02\x03"
    new = bytes(new)
    seeds = {f"golden-{p.stem}": p.read_bytes() for p in sorted((hb.CORPUS.parent / "golden").glob("*.pack"))}
    seeds["full"] = hb.full_package(new[:30000])
    seeds["full-stored"] = hb.full_package(new[:5000], codec="none")
    seeds["delta-copy"] = hb.delta_package(OLD, hb.stream(hb.window([(4096, 0, 0)])), OLD[:4096], source=OLD)
    seeds["delta-extra"] = hb.delta_package(OLD, hb.stream(hb.window([(10, 5, 3)], extra=b"abcde")),
                                            OLD[:10] + b"abcde", source=OLD)
    zero_run = hb.stream(hb.window([(16, 0, 0)], diff=hb.varint(8) + hb.varint(2) + b"\x01\x02" + hb.varint(6)
                                   + hb.varint(0)), diff_coding=1)
    patched = bytearray(OLD[:16])
    patched[8] += 1
    patched[9] += 2
    seeds["delta-zero-run"] = hb.delta_package(OLD, zero_run, bytes(patched), source=OLD)
    seeds["delta-bad-seek"] = hb.delta_package(OLD, hb.stream(hb.window([(4, 0, -9)])), OLD[:4], source=OLD)
    seeds["flood"] = hb.delta_package(OLD, hb.tuple_flood(80), OLD[:1] * 80, source=OLD)
    return seeds


def _device() -> Device:
    flash = SimFlash.holding(OLD, SLOT, 4096, 0xFF, "image")
    return Device(partitions={"image": DevicePartition("image", 0, flash, SLOT)}, erase_block=4096)


def test_seeds_restore_in_python_as_expected():
    """The seeds reach the checks they are meant for on the fuzz target's device."""
    seeds = _seeds()
    outcomes = {name: Restore(_device()).run(pkg) for name, pkg in seeds.items()}
    assert outcomes["full"].ok and outcomes["full-stored"].ok and outcomes["delta-copy"].ok
    assert outcomes["delta-extra"].ok and outcomes["delta-zero-run"].ok
    assert (outcomes["flood"].failure.check, outcomes["flood"].failure.tuple) == ("restore", 68)  # the work bound
    assert outcomes["delta-bad-seek"].failure.check == "restore"
    assert outcomes["delta-bad-seek"].failure.error == "CorruptPatchError"


def test_fuzz_whole_restore(builds, tmp_path):
    fuzzer = builds._once("fuzz-restore", lambda: _build(builds.root / "fuzz-restore"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, pkg in _seeds().items():
        (corpus / name).write_bytes(pkg)
    rnd = random.Random(14)
    for name, pkg in list(_seeds().items())[:6]:  # resealed body edits reach the inner checks
        for i in range(8):
            (corpus / f"{name}-mut{i}").write_bytes(hb.seal(hb.mutate(rnd, hb.body_of(pkg))))
    # every seed once under ASan/UBSan: the sanitizer run of the restore on known packages
    once = subprocess.run([fuzzer, "-runs=0", f"-artifact_prefix={tmp_path}/", corpus], capture_output=True,
                          text=True, timeout=600)
    if once.returncode != 0:
        pytest.fail(f"fuzz_restore failed on a seed (exit {once.returncode})\n{once.stderr[-5000:]}", pytrace=False)
    proc = subprocess.run([fuzzer, "-seed=1", "-max_total_time=30", "-rss_limit_mb=2048", "-print_final_stats=1",
                           f"-artifact_prefix={tmp_path}/", corpus], capture_output=True, text=True, timeout=600)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    if proc.returncode != 0:
        pytest.fail(f"fuzz_restore found a failure (exit {proc.returncode}); artefacts in {tmp_path}\n"
                    f"{proc.stderr[-5000:]}", pytrace=False)
    assert runs and int(runs.group(1)) > 100, proc.stderr[-2000:]
    print(f"fuzz_restore: {runs.group(1)} executions")


def _build(out: Path) -> Path:
    from device_helpers import otadev

    otadev.make(out, "fuzz-restore")
    return out / "fuzz_restore"
