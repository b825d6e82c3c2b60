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
import subprocess
import sys
from pathlib import Path

import pytest
from device_helpers import DEVICE, builds, fuzz_for, otadev  # noqa: F401 (fixtures)

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
    # delta-v2, thumb2 at base 0: a map of one entry (from 0, delta +4), ptr32 everywhere, so every
    # aligned old word is a pointer re-aimed by 4
    section = b"".join(hb.varint(v) for v in (1, 0, 1, 1, 0, hb.zigzag(4) + 1, 0, 1))
    v2 = hb.varint(4096) + hb.varint(16) + hb.varint(0) + section + hb.window([(4096, 0, 0)])
    re_aimed = b"".join(((int.from_bytes(OLD[i:i + 4], "little") + 4) & 0xFFFFFFFF).to_bytes(4, "little")
                        for i in range(0, 4096, 4))
    seeds["delta-v2"] = hb.delta_package(OLD, v2, re_aimed, source=OLD, operation="delta-v2")
    return seeds


def _device() -> Device:
    flash = SimFlash.holding(OLD, SLOT, 4096, 0xFF, "image")
    return Device(partitions={"image": DevicePartition("image", 0, flash, SLOT)}, erase_block=4096)


def test_seeds_restore_in_python_as_expected():
    """The seeds reach the checks they are meant for on the fuzz target's device."""
    seeds = _seeds()
    outcomes = {name: Restore(_device()).run(pkg) for name, pkg in seeds.items()}
    assert outcomes["full"].ok and outcomes["full-stored"].ok and outcomes["delta-copy"].ok
    assert outcomes["delta-extra"].ok and outcomes["delta-zero-run"].ok and outcomes["delta-v2"].ok
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
    fuzz_for(fuzzer, corpus, tmp_path, min_runs=100)


def _build(out: Path) -> Path:

    otadev.make(out, "fuzz-restore")
    return out / "fuzz_restore"


# ---------------------------------------------------------------- on the emulated Cortex-M


def _multi_partition():
    """A multi-partition delta (boot kept, app and data patched, nvram skipped) and its old slots."""
    from otapack.core.build import PackageOptions, build_delta
    from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy

    prog = hb.corpus("programmer-0.8.0.bin")
    s1, s2 = hb.corpus("synthesizer-1.bin"), hb.corpus("synthesizer-2.bin")
    prog2 = prog[:1000] + b"otapack on qemu." + prog[1016:]

    def image(app, data):
        return FirmwareImage((
            Partition("boot", 0, prog[:4096], policy=Policy.KEEP),
            Partition("app", 0x10000, app),
            Partition("data", 0x40000, data, type=PartitionType.DATA),
            Partition("nvram", 0x60000, b"\x00" * 4096, type=PartitionType.NV, policy=Policy.SKIP),
        ))

    old = image(prog, s1[:20000])
    pkg = build_delta(old, image(prog2, s2[:20000]), PackageOptions(model=hb.MODEL, lzma_dict_size=1 << 16))
    slots = {"boot": 0x10000, "app": 0x30000, "data": 0x20000, "nvram": 0x1000}
    return pkg, [(p.name, p.address, slots[p.name], p.data) for p in old.partitions]


def _delta_v2():
    """A Thumb-2 delta-v2 package of real firmware (synthesizer 1 -> 2, built with --arch thumb2)."""
    from otapack.core.build import PackageOptions, build_delta

    s1, s2 = hb.corpus("synthesizer-1.bin"), hb.corpus("synthesizer-2.bin")
    pkg = build_delta(hb.single(s1), hb.single(s2), PackageOptions(model=hb.MODEL, transform_arch="thumb2"))
    assert hb.wire_read(pkg)[0].entries[0].operation == "delta-v2"
    return pkg, [("image", 0, 0x28000, s1)]


def _cases():
    golden = hb.CORPUS.parent / "golden"
    old = hb.corpus("programmer-0.8.0.bin")
    return {
        "delta-v2": _delta_v2(),
        "full": ((golden / "programmer-full.pack").read_bytes(), [("image", 0, SLOT, old)]),
        "delta": ((golden / "programmer-delta.pack").read_bytes(), [("image", 0, SLOT, old)]),
        "multi-partition": _multi_partition(),
        "wrong-base": ((golden / "programmer-delta.pack").read_bytes(), [("image", 0, SLOT, old[::-1])]),
    }


def _python_flash(pkg, parts):
    device = Device(partitions={name: DevicePartition(name, address, SimFlash.holding(data, slot, 4096, 0xFF, name),
                                                      slot) for name, address, slot, data in parts},
                    erase_block=4096)
    result = Restore(device).run(pkg)
    return result, b"".join(device.partitions[name].flash.read(0, -(-slot // 4096) * 4096)
                            for name, _, slot, _ in parts)


@pytest.mark.parametrize("board,cpu", [("mps2-an385", "cortex-m0"), ("mps2-an385", None), ("mps2-an386", None)])
def test_restore_on_cortex_m_matches_python(builds, tmp_path, board, cpu):
    """The engine built with arm-none-eabi-gcc -Os restores real corpus packages
    (full, delta, delta-v2, a multi-partition delta) under qemu-system-arm, reading the
    package and old slots over semihosting: its flash is byte-identical with
    the Python restore's, and a wrong base image is refused at precondition
    with every slot unchanged."""
    tag = f"arm-restore-{board}-{cpu or 'default'}"

    def build():
        out = builds.root / tag
        variables = {"BOARD": board}
        if cpu:
            variables["CPU"] = cpu
        otadev.make(out, "arm-restore", **variables)
        return out / "restore.elf"


    elf = builds._once(tag, build)
    machine = otadev.BOARDS[board][0]
    for name, (pkg, parts) in _cases().items():
        (tmp_path / f"{name}.pack").write_bytes(pkg)
        args = [f"{name}.pack", "4096", f"{name}.out"]
        for part, address, slot, data in parts:
            (tmp_path / f"{name}-{part}.old").write_bytes(data)
            args.append(f"{part}:{address}:{slot}:{name}-{part}.old")
        run = otadev.run_qemu(elf, machine, args, cwd=tmp_path)
        result, flash = _python_flash(pkg, parts)
        line = run.line("result=")
        if result.ok:
            assert run.returncode == 0 and line["result"] == "end", (name, run.output)
        else:
            assert line["check"] == result.failure.check, (name, run.output, result.error)
            assert run.returncode != 0
        assert (tmp_path / f"{name}.out").read_bytes() == flash, name


def test_parsed_table_takes_only_its_entries(monkeypatch):
    """The C restore carves the parsed table by the header's entry count, not
    for 255 entries: a workspace of ram_required + 3 KiB (under the 32 KiB
    a 255-entry table and its buffers once needed) restores the golden delta;
    1 KiB less than what its buffers need is refused, at resources."""
    from otapack import DeviceOptions, FirmwareImage, read_package, verify_package
    from otapack.core.restore import c_engine

    golden = hb.CORPUS.parent / "golden"
    pkg = (golden / "programmer-delta.pack").read_bytes()
    old, new = (FirmwareImage.single(hb.corpus(f"programmer-{v}.bin")) for v in ("0.8.0", "0.9.0"))
    declared = read_package(pkg).header.ram_required
    monkeypatch.setattr(c_engine, "_WORKSPACE_SLACK", 3 << 10)
    assert declared + (3 << 10) < 32768
    result = verify_package(pkg, old, new, DeviceOptions(engine="c"))
    assert result.ok, result.error
    monkeypatch.setattr(c_engine, "_WORKSPACE_SLACK", -(1 << 10))
    result = verify_package(pkg, old, new, DeviceOptions(engine="c"))
    assert not result.ok and result.restore.failure.check == "resources"
