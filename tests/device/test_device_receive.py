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


def _programmer():
    from otapack import FirmwareImage
    return FirmwareImage.single((FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes())


@pytest.mark.parametrize("piece", [1, 777, 1 << 20])
def test_download_then_restore(piece):
    """A package downloaded through the receive API (host driver, ctypes) and
    then restored: the same outcome and flash as a package loaded whole; with
    the receive result handed over (`received`), the same outcome while the
    restore reads less of the package (its crc32 rehash skipped)."""
    import copy

    from otapack.core.restore import c_engine
    from otapack.core.verify import make_device
    packages = sorted((FIXTURES / "golden").glob("programmer-*.pack")) + sorted((FIXTURES / "corrupt").glob("*.pack"))
    skipped_rehash = 0
    for pkg in packages:
        data = pkg.read_bytes()
        base = make_device(_programmer())
        runs = []
        for mode in (0, 1, 2):
            device = copy.deepcopy(base)
            result = c_engine.run(device, data, receive=mode, receive_piece=piece)
            flash = {n: p.flash.read(0, p.flash.size) for n, p in device.partitions.items()}
            runs.append((result, flash))
        (r0, f0), (r1, f1), (r2, f2) = runs
        assert r0.failure == r1.failure == r2.failure, pkg.name
        assert f0 == f1 == f2, pkg.name
        assert r1.c_flash["package_bytes_read"] == r0.c_flash["package_bytes_read"], pkg.name
        if r1.c_flash["receive_check"] == 14:  # OTA_CHECK_COUNT: the receiver found it intact
            # a package inside the restore's chunk cache (the delta, 1,246 B) is read once either way
            assert r2.c_flash["package_bytes_read"] <= r0.c_flash["package_bytes_read"], pkg.name
            skipped_rehash += r2.c_flash["package_bytes_read"] < r0.c_flash["package_bytes_read"]
        else:
            assert r2.c_flash["package_bytes_read"] == r0.c_flash["package_bytes_read"], pkg.name
    assert skipped_rehash >= 1  # programmer-full: 19,458 package bytes read instead of 33,283
