"""The device library builds cleanly everywhere it must, and keeps its
promises about what it uses: C99 warning-free under gcc and clang, an
ASan/UBSan build, CMake for integrators (host and cross), no global
mutable state, no calls besides memcpy/memmove/memset/memcmp, no
recursion, only string.h/stdint.h/stddef.h."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from device_helpers import DEVICE, builds, otadev, toolchains  # noqa: F401 (fixtures)

LIBRARY_SOURCES = sorted((DEVICE / "src").glob("*.c"))
LIBRARY_HEADERS = sorted((DEVICE / "include" / "ota").glob("*.h"))


def test_toolchains_installed(toolchains):
    """install-toolchains.sh --check: every tool, header and libFuzzer runtime."""


@pytest.mark.parametrize("config", ["gcc", "clang", "asan", "small"])
def test_host_build_warning_free(builds, config):
    # -std=c99 -Wall -Wextra -Werror -pedantic and more: any warning fails the build
    out = builds.host(config)
    for prog in ("test_lzma2_oracle", "test_lzma2_unit", "test_hashes", "test_flash", "test_receive", "test_port_openssl",
                 "bench_lzma2"):
        assert (out / prog).is_file()


def test_library_includes_only_freestanding_headers():
    allowed = {"string.h", "stdint.h", "stddef.h"}
    for path in LIBRARY_SOURCES + LIBRARY_HEADERS:
        for name in re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', path.read_text()):
            # the library's own headers: public (ota/), the generated wire header, private ones in src/
            own = name.startswith("ota/") or name == "ota_wire.h" or (DEVICE / "src" / name).is_file()
            assert name in allowed or own, f"{path.name} includes {name}"


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m3", "cortex-m4"])
def test_library_objects_have_no_mutable_state_nor_foreign_calls(toolchains, tmp_path, cpu):
    """data and bss are empty; undefined symbols are only the four string
    functions and libgcc's helpers (__aeabi_* division, __gnu_thumb1_*
    switch tables on v6-M)."""
    otadev.make(tmp_path, "objs", CPU=cpu, ARM_OPT="-Os")
    for obj in sorted(tmp_path.glob("*.o")):
        size = otadev.run(["arm-none-eabi-size", obj]).stdout.splitlines()[1].split()
        assert (size[1], size[2]) == ("0", "0"), f"{obj.name} has data={size[1]} bss={size[2]}"
        undefined = otadev.run(["arm-none-eabi-nm", "-u", obj]).stdout.split()
        foreign = [u for u in undefined if u not in ("U", "memcpy", "memmove", "memset", "memcmp")
                   and not u.startswith(("__aeabi_", "__gnu_thumb1_", "ota_"))]
        assert not foreign, f"{obj.name} calls {foreign}"


def test_no_recursion_and_bounded_stack(toolchains, tmp_path):
    """size_report.py walks the call graph (it raises on a cycle) and sums
    the static frames; every frame is static (no alloca / VLA)."""
    proc = otadev.run([sys.executable, DEVICE / "scripts" / "size_report.py", "--build", tmp_path, "--json"])
    report = json.loads(proc.stdout)
    for cpu, r in report.items():
        assert 0 < r["stack"]["ota_lzma2_decode"] < 512, cpu
    for su in tmp_path.rglob("*.su"):
        for line in su.read_text().splitlines():
            assert line.endswith("\tstatic"), f"{su.name}: {line}"


def test_decoder_code_size_budget(toolchains, tmp_path):
    """About 2 KB was the aim; this guards against it growing unnoticed."""
    otadev.make(tmp_path, "objs", CPU="cortex-m3", ARM_OPT="-Os")
    text = int(otadev.run(["arm-none-eabi-size", tmp_path / "ota_lzma2.o"]).stdout.splitlines()[1].split()[0])
    assert text <= 2816, f"ota_lzma2.o is {text} bytes of Thumb code at -Os"


def test_tables_match_their_definitions():
    proc = subprocess.run([sys.executable, DEVICE / "scripts" / "gen_tables.py", "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("options", [
    ["-DOTA_HOST_PORT=ON"],
    ["-DOTA_WITH_LZMA2=OFF", "-DOTA_WITH_SIGNATURE=OFF", "-DOTA_WITH_DELTA=OFF"],
    ["-DOTA_LZMA2_SMALL=ON"],
], ids=["host-port", "all-off", "small"])
def test_cmake_host(toolchains, tmp_path, options):
    otadev.require("cmake")
    otadev.run(["cmake", "-S", DEVICE, "-B", tmp_path, "-DCMAKE_C_COMPILER=gcc",
                "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror -pedantic", *options])
    otadev.run(["cmake", "--build", tmp_path, "-j2"])
    symbols = otadev.run(["nm", tmp_path / "libotapack_device.a"]).stdout
    assert ("T ota_lzma2_decode" in symbols) == ("-DOTA_WITH_LZMA2=OFF" not in options)


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_cmake_cross(toolchains, tmp_path, cpu):
    otadev.run(["cmake", "-S", DEVICE, "-B", tmp_path, f"-DCMAKE_TOOLCHAIN_FILE={DEVICE / 'cmake' / 'arm-none-eabi.cmake'}",
                f"-DOTA_CPU={cpu}", "-DOTA_FREESTANDING=ON", "-DCMAKE_BUILD_TYPE=MinSizeRel",
                "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror -pedantic"])
    otadev.run(["cmake", "--build", tmp_path, "-j2"])
    assert "T ota_lzma2_decode" in otadev.run(["arm-none-eabi-nm", tmp_path / "libotapack_device.a"]).stdout


def test_a_missing_tool_fails_with_the_install_hint(monkeypatch):
    """Never a skip: the helpers raise, the fixtures turn that into a failure."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(otadev.ToolMissing, match="install-toolchains.sh"):
        otadev.require("arm-none-eabi-gcc")
    with pytest.raises(otadev.ToolMissing, match="install-toolchains.sh"):
        otadev.build_host(DEVICE / "build" / "never", cc="gcc")
