"""The library on emulated Cortex-M: the target program decodes raw LZMA2
streamed in over semihosting, hashes the output, writes it back; results
must equal Python's lzma (liblzma) and hashlib. Also: the netduinoplus2
RAM budget, typed refusals on the target, and repeatable instruction
counts."""

from __future__ import annotations

import sys
import hashlib
import lzma
import random

import pytest
from device_helpers import DEVICE, builds, otadev, toolchains  # noqa: F401 (fixtures)

REPO = DEVICE.parent
FW = (REPO / "tests" / "fixtures" / "corpus" / "synthesizer-1.bin").read_bytes()
PROGRAMMER = (REPO / "tests" / "fixtures" / "corpus" / "programmer-0.9.0.bin").read_bytes()

TARGETS = [  # (board, cpu): the M0 build runs on the M3 model
    ("mps2-an385", "cortex-m3"),
    ("mps2-an386", "cortex-m4"),
    ("netduinoplus2", "cortex-m4"),
    ("mps2-an385", "cortex-m0"),
]


def payloads():
    rng = random.Random(9)
    text = b"".join(rng.choice([b"flash ", b"window ", b"restore ", b"delta\n", b"of "]) for _ in range(30000))
    return [  # (name, data, dict_size, encoder options)
        ("firmware 9e lc3", FW, 65536, {}),
        ("firmware lc1 lp0 pb0", FW, 65536, dict(lc=1, lp=0, pb=0)),
        ("programmer lc0 lp2 pb2 preset0", PROGRAMMER, 16384, dict(lc=0, lp=2, pb=2, preset=0, extreme=False)),
        ("text lc4 pb4", text, 32768, dict(lc=4, lp=0, pb=4, preset=6, extreme=False)),
        ("incompressible (stored chunks)", rng.randbytes(150000), 65536, {}),
        ("zeros 3 MiB (two 2 MiB chunks)", bytes(3 << 20), 4096, {}),
        ("empty", b"", 4096, {}),
    ]


def machine(board: str) -> str:
    return otadev.BOARDS[board][0]


@pytest.mark.parametrize("board,cpu", TARGETS, ids=[f"{b}-{c}" for b, c in TARGETS])
def test_decode_and_hash_on_target(builds, tmp_path, board, cpu):
    elf = builds.arm(board, cpu)
    for i, (name, data, dict_size, opts) in enumerate(payloads()):
        stream = otadev.lzma2_raw(data, dict_size, **opts)
        src, out = tmp_path / f"in{i}.lzma2", tmp_path / f"out{i}.bin"
        src.write_bytes(stream + b"trailing")  # bytes after the end marker are not consumed
        res = otadev.run_qemu(elf, machine(board), ["decode", src, dict_size, out], cwd=tmp_path)
        assert res.returncode == 0, f"{name}: exit {res.returncode}\n{res.output}"
        fields = res.line("sha256=")
        assert out.read_bytes() == data, name
        assert fields["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert int(fields["in"]) == len(stream) and int(fields["out"]) == len(data), name


@pytest.mark.parametrize("board,cpu", [("mps2-an385", "cortex-m3"), ("netduinoplus2", "cortex-m4")])
def test_corrupt_and_truncated_streams_on_target(builds, tmp_path, board, cpu):
    """The target refuses what liblzma refuses, with the typed status."""
    elf = builds.arm(board, cpu)
    stream = bytearray(otadev.lzma2_raw(PROGRAMMER, 16384))
    rng = random.Random(4)
    refused = 0
    for trial in range(12):
        bad = bytearray(stream)
        bad[rng.randrange(6, len(bad) - 1)] ^= 1 << rng.randrange(8)
        dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 16384}])
        try:
            dec.decompress(bytes(bad))
            python_ok = dec.eof
        except lzma.LZMAError:
            python_ok = False
        src = tmp_path / f"bad{trial}"
        src.write_bytes(bad)
        res = otadev.run_qemu(elf, machine(board), ["decode", src, 16384, tmp_path / "o"], cwd=tmp_path)
        if python_ok:
            assert res.returncode == 0, res.output
        else:
            refused += 1
            assert res.returncode in (otadev.target_exit_for(otadev.OTA_ERR_LZMA_DATA), 3), res.output
    assert refused >= 8
    src = tmp_path / "short"
    src.write_bytes(stream[: len(stream) // 2])
    res = otadev.run_qemu(elf, machine(board), ["decode", src, 16384, tmp_path / "o"], cwd=tmp_path)
    assert res.returncode == 3 and "truncated" in res.output


def test_netduino_refuses_a_dictionary_beyond_its_workspace(builds, tmp_path):
    elf = builds.arm("netduinoplus2")
    src = tmp_path / "s"
    src.write_bytes(otadev.lzma2_raw(PROGRAMMER, 1 << 20))
    res = otadev.run_qemu(elf, "netduinoplus2", ["decode", src, 1 << 20, tmp_path / "o"], cwd=tmp_path)
    assert res.returncode == otadev.target_exit_for(otadev.OTA_ERR_LZMA_DICT) and "lzma-dict" in res.output


def test_netduino_ram_budget_is_enforced(toolchains, tmp_path):
    """A workspace for a 64 KiB dictionary fits the 128 KiB SRAM; one for
    128 KiB cannot link."""
    with pytest.raises(otadev.BuildFailed, match=r"region .RAM' overflowed"):
        otadev.build_arm(tmp_path / "big", "netduinoplus2", extra_cflags="-DOTA_TARGET_DICT=131072")


@pytest.mark.parametrize("board,cpu", [("mps2-an385", "cortex-m3"), ("mps2-an385", "cortex-m0"),
                                       ("mps2-an386", "cortex-m4")])
def test_instruction_counts_are_exact_and_repeatable(builds, tmp_path, board, cpu):
    elf = builds.arm(board, cpu)
    src = tmp_path / "fw.lzma2"
    src.write_bytes(otadev.lzma2_raw(FW, 65536))
    runs = [otadev.run_qemu(elf, board, ["icount", src, 65536], icount=True) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.output
    first, second = (r.line("icount ") for r in runs)
    assert first == second  # bit for bit
    assert first["sha256"] == hashlib.sha256(FW).hexdigest() and int(first["out"]) == len(FW)
    # 25 MHz timer, 1 ns per instruction: 40 instructions per tick
    assert int(first["calib_instructions"]) / int(first["calib_ticks"]) == pytest.approx(40, rel=1e-4)
    per_byte = int(first["lzma2_ticks"]) * 40 / len(FW)
    print(f"{board} {cpu}: LZMA2 {per_byte:.1f} instructions/byte, "
          f"SHA-256 {int(first['sha256_ticks']) * 40 / len(FW):.1f}")


def test_size_report(toolchains, tmp_path):
    proc = otadev.run([sys.executable, DEVICE / "scripts" / "size_report.py", "--build", tmp_path])
    for cpu in ("m0", "m3", "m4", "m33"):
        assert f"| {cpu} |" in proc.stdout.splitlines()[2]
    assert "| ota_lzma2 |" in proc.stdout
