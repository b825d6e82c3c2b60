"""The receive API (device/include/ota/ota_receive.h): package bytes into
the download area as they arrive, CRC-32 and SHA-256 on the fly, resumable.

The C program (device/tests/test_receive.c) holds the unit tests: random
piece sizes give the same flash as one write; resume after a reboot at every
offset class and after a power cut (clean and torn) at every flash operation;
the trailer/crc32/header/digest verdicts; the capacity refusal; the NOR rules
of the simulated flash never broken. Here it also runs the golden and
corrupt fixture packages, whose verdict must be the Python restore's when
the Python restore fails at one of the checks the receiver computes.
"""

from pathlib import Path

import pytest
from device_helpers import builds, run_program  # noqa: F401 (fixtures)

from otapack.core.restore.engine import Device, Restore
from otapack.core.restore.flash import SimFlash
from otapack.core.restore.slots import DevicePartition

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECEIVER_CHECKS = ("trailer", "crc32", "digest")
C_CLASS = {"TruncatedPackageError": "truncated", "PackageFormatError": "format", "IntegrityError": "integrity"}


@pytest.mark.parametrize("config", ["gcc", "asan"])
def test_receive_unit(builds, config):
    proc = run_program(builds.host(config) / "test_receive")
    assert ", 0 failed" in proc.stdout


def _python_failure(pkg: Path):
    flash = SimFlash.holding(b"", 65536, 4096, 0xFF, "image")
    device = Device(partitions={"image": DevicePartition("image", 0, flash, 65536)}, erase_block=4096)
    return Restore(device).run(pkg.read_bytes()).failure


def test_receive_verdicts_match_python_restore(builds):
    packages = sorted((FIXTURES / "golden").glob("*.pack")) + sorted((FIXTURES / "corrupt").glob("*.pack"))
    assert len(packages) >= 10
    proc = run_program(builds.host("gcc") / "test_receive", *map(str, packages))
    assert ", 0 failed" in proc.stdout
    got = {}
    for line in proc.stdout.splitlines():
        if line.startswith("receive "):
            path, check, status = line[len("receive "):].rsplit(" ", 2)
            got[path] = (check.split("=")[1], status.split("=")[1])
    compared = 0
    for pkg in packages:
        check, status = got[str(pkg)]
        failure = _python_failure(pkg)
        if pkg.parent.name == "golden":
            assert (check, status) == ("none", "none"), pkg.name
        elif failure is not None and failure.check in RECEIVER_CHECKS:
            assert (check, status) == (failure.check, C_CLASS[failure.error]), pkg.name
            compared += 1
        elif failure is not None and failure.check == "header":
            # the receiver judges only the header's body_length, not the rest of the header
            assert (check, status) in {("none", "none"), ("header", "format")}, pkg.name
        else:
            # the Python restore fails later (or not at all): trailer, CRC and digest are intact
            assert (check, status) == ("none", "none"), (pkg.name, failure)
    assert compared >= 4
