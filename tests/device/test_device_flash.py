"""Flash port wrappers and the simulated NOR flash (rules, counters,
power-cut and hook injection)."""

import pytest
from device_helpers import builds, run_program  # noqa: F401 (fixtures)


@pytest.mark.parametrize("config", ["gcc", "asan"])
def test_flash(builds, config):
    proc = run_program(builds.host(config) / "test_flash")
    assert ", 0 failed" in proc.stdout
