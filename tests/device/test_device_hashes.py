"""SHA-256 and CRC-32 in C: NIST vectors (in the C program), and agreement
with hashlib and zlib on random data hashed in random pieces."""

from __future__ import annotations

import hashlib
import random
import zlib

import pytest
from device_helpers import DEVICE, builds, otadev, run_program  # noqa: F401 (fixtures)


@pytest.mark.parametrize("config", ["gcc", "clang", "asan", "small"])
def test_vectors_and_ports(builds, config):
    # "small" has the 16-entry CRC-32 table (OTA_CRC32_SMALL)
    proc = run_program(builds.host(config) / "test_hashes")
    assert ", 0 failed" in proc.stdout


def test_against_hashlib_and_zlib(builds, tmp_path):
    prog = builds.host("gcc") / "test_hashes"
    rng = random.Random(5)
    sizes = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4096, 65537, 1 << 20]
    files = [rng.randbytes(n) for n in sizes] + [bytes(70000), b"\xff" * 12345]
    files.append((DEVICE.parent / "tests" / "fixtures" / "corpus" / "synthesizer-2.bin").read_bytes())
    for i, data in enumerate(files):
        path = tmp_path / f"f{i}"
        path.write_bytes(data)
        fields = otadev.parse_fields(run_program(prog, "--file", path).stdout)
        assert fields["sha256"] == hashlib.sha256(data).hexdigest(), len(data)
        assert int(fields["crc32"], 16) == zlib.crc32(data), len(data)
