"""Helpers and fixtures of the device C library tests: builds cached per session.

There is deliberately no conftest.py in tests/device: the repository's tests
import names from tests/conftest.py as `conftest`, which a second conftest
module would shadow. Test modules import the fixtures below by name.

Every build lands in one session temp directory and is made once, whatever
number of tests or modules use it (the cache is this module's, so it holds
even though each test module registers the fixtures itself). A missing compiler, QEMU or library fails the test
that needs it with a message pointing at device/scripts/install-toolchains.sh
(these tests never skip).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

DEVICE = Path(__file__).resolve().parents[2] / "device"
sys.path.insert(0, str(DEVICE / "scripts"))

import otadev  # noqa: E402


class Builds:
    """Lazily built, cached artefacts under one directory."""

    def __init__(self, root: Path):
        self.root = root
        self._done: dict = {}

    def _once(self, key, build):
        if key not in self._done:
            try:
                self._done[key] = build()
            except otadev.ToolMissing as exc:
                self._done[key] = exc
            except otadev.BuildFailed as exc:
                self._done[key] = exc
        value = self._done[key]
        if isinstance(value, otadev.ToolMissing):
            pytest.fail(str(value), pytrace=False)
        if isinstance(value, otadev.BuildFailed):
            pytest.fail(f"build of {key} failed:\n{value}", pytrace=False)
        return value

    def host(self, name: str = "gcc") -> Path:
        """gcc, clang, asan (clang ASan+UBSan), small (gcc, OTA_LZMA2_SMALL=1, OTA_CRC32_SMALL)."""
        configs = {
            "gcc": dict(cc="gcc"),
            "clang": dict(cc="clang"),
            "asan": dict(cc="clang", san=True),
            # the size variants: small LZMA2 decoder, nibble-table CRC-32
            "small": dict(cc="gcc", extra_cflags="-DOTA_LZMA2_SMALL=1 -DOTA_CRC32_SMALL"),
        }
        return self._once(("host", name), lambda: otadev.build_host(self.root / f"host-{name}", **configs[name]))

    def fuzz(self) -> Path:
        return self._once("fuzz", lambda: otadev.build_fuzz(self.root / "fuzz"))

    def arm(self, board: str, cpu: str | None = None, opt: str = "-Os") -> Path:
        tag = f"arm-{board}-{cpu or 'default'}{opt}"
        return self._once(tag, lambda: otadev.build_arm(self.root / tag, board, cpu, opt))


_BUILDS: "Builds | None" = None


@pytest.fixture(scope="session")
def builds(tmp_path_factory) -> Builds:
    global _BUILDS
    if _BUILDS is None:
        _BUILDS = Builds(tmp_path_factory.mktemp("device-build"))
    return _BUILDS


@pytest.fixture(scope="session")
def toolchains():
    """All of install-toolchains.sh's tools and headers are present."""
    try:
        otadev.check_toolchains()
    except otadev.ToolMissing as exc:
        pytest.fail(str(exc), pytrace=False)


def run_program(path: Path, *args, timeout=600, cwd=None):
    """A host test program; fails the test with its output when it exits non-zero."""
    proc = otadev.run([path, *args], check=False, timeout=timeout, cwd=cwd)
    if proc.returncode:
        pytest.fail(f"{path.name} {' '.join(map(str, args))} exited {proc.returncode}\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}", pytrace=False)
    return proc


def run_parallel(commands, *, timeout=900, cwd=None):
    """Several host programs at once (one per core); fails on any non-zero exit.
    Returns their stdouts in order."""
    import subprocess

    procs = [subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=cwd) for cmd in commands]
    outs = []
    for cmd, p in zip(commands, procs):
        out, err = p.communicate(timeout=timeout)
        if p.returncode:
            for other in procs:
                other.kill()
            pytest.fail(f"{' '.join(map(str, cmd))} exited {p.returncode}\n{out[-4000:]}\n{err[-4000:]}",
                        pytrace=False)
        outs.append(out)
    return outs


def fuzz_for(fuzzer, corpus, tmp_path, *, seconds=30, min_runs, timeout=600) -> int:
    """A seeded, time-bounded libFuzzer run over ``corpus``; fails the test on
    any finding (artefacts kept in ``tmp_path``) or when it ran fewer than
    ``min_runs`` inputs.  -seed fixes libFuzzer's own randomness; the count
    of executions varies with the machine, what is checked does not."""
    import re
    import subprocess

    proc = subprocess.run([fuzzer, "-seed=1", f"-max_total_time={seconds}", "-rss_limit_mb=2048",
                           "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", corpus],
                          capture_output=True, text=True, timeout=timeout)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    name = Path(fuzzer).name
    if proc.returncode != 0:
        pytest.fail(f"{name} found a failure (exit {proc.returncode}); artefacts in {tmp_path}\n"
                    f"{proc.stderr[-5000:]}", pytrace=False)
    assert runs and int(runs.group(1)) > min_runs, proc.stderr[-2000:]
    print(f"{name}: {runs.group(1)} executions")
    return int(runs.group(1))
