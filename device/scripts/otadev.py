"""Build and run the device library from Python: one place for the commands.

Used by tests/device/*.py and the scripts beside this file. Every build goes
to a directory the caller names (nothing is written inside the source tree);
a missing tool raises ToolMissing, whose message points at
device/scripts/install-toolchains.sh, so a test fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEVICE = Path(__file__).resolve().parent.parent
INSTALL = DEVICE / "scripts" / "install-toolchains.sh"

#: Boards the QEMU tests and measurements use: name -> (qemu machine, default CPU).
BOARDS = {
    "mps2-an385": ("mps2-an385", "cortex-m3"),
    "mps2-an386": ("mps2-an386", "cortex-m4"),
    "netduinoplus2": ("netduinoplus2", "cortex-m4"),
}
#: Exit status of the target program for a library status (target/lzma2_sha256.c).
def target_exit_for(status: int) -> int:
    return 100 - status


OTA_ERR_LZMA_DATA = -16
OTA_ERR_LZMA_LCLP = -17
OTA_ERR_LZMA_DICT = -18


class ToolMissing(RuntimeError):
    pass


class BuildFailed(RuntimeError):
    pass


def require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ToolMissing(
            f"missing {', '.join(missing)}: run device/scripts/install-toolchains.sh (as root; "
            "it installs the Debian packages the device tests need)"
        )


def check_toolchains() -> None:
    """Everything install-toolchains.sh provides, headers and libFuzzer included."""
    require("bash")
    proc = subprocess.run(["bash", str(INSTALL), "--check"], capture_output=True, text=True)
    if proc.returncode:
        raise ToolMissing(f"{proc.stderr.strip()}\nrun device/scripts/install-toolchains.sh to install them")


def run(cmd, *, cwd=None, timeout=600, check=True, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)
    if check and proc.returncode:
        raise BuildFailed(
            f"command failed ({proc.returncode}): {' '.join(str(c) for c in cmd)}\n"
            f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def make(out: Path, *targets: str, **variables) -> subprocess.CompletedProcess:
    require("make")
    args = ["make", "-C", DEVICE, f"-j{min(os.cpu_count() or 1, 4)}", f"O={out}"]
    args += [f"{k}={v}" for k, v in variables.items()]
    return run(args + list(targets))


def build_host(out: Path, cc: str = "gcc", san: bool = False, extra_cflags: str = "") -> Path:
    """The host test programs, -std=c99 -Wall -Wextra -Werror -pedantic."""
    require(cc, "make")
    variables = {"CC": cc, "SAN": "1" if san else "0"}
    if extra_cflags:
        variables["EXTRA_CFLAGS"] = extra_cflags
    make(out, "host", **variables)
    return out


def build_fuzz(out: Path) -> Path:
    require("clang", "make")
    make(out, "fuzz")
    return out / "fuzz_lzma2"


def build_arm(out: Path, board: str, cpu: str | None = None, opt: str = "-Os", extra_cflags: str = "") -> Path:
    require("arm-none-eabi-gcc", "make")
    variables = {"BOARD": board, "ARM_OPT": opt}
    if cpu:
        variables["CPU"] = cpu
    if extra_cflags:
        variables["EXTRA_CFLAGS"] = extra_cflags
    make(out, "arm", **variables)
    return out / "lzma2_sha256.elf"


@dataclass
class QemuResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """The target's console (SYS_WRITE0 goes to QEMU's stderr) and QEMU's own messages."""
        return self.stdout + self.stderr

    def line(self, prefix: str) -> dict:
        """Fields of the first console line starting with `prefix`."""
        for text in self.output.splitlines():
            if text.startswith(prefix):
                return parse_fields(text)
        raise AssertionError(f"no line starting {prefix!r} in target output (exit {self.returncode}):\n{self.output}")


def run_qemu(elf: Path, machine: str, args: list, *, icount: bool = False, cwd=None, timeout=120) -> QemuResult:
    """The target program under qemu-system-arm with semihosting; `args`
    become its command line (argv[0] is "prog")."""
    require("qemu-system-arm")
    for a in args:
        if " " in str(a) or "," in str(a):
            raise ValueError(f"semihosting arguments cannot contain spaces or commas: {a!r}")
    config = "enable=on,target=native," + ",".join(f"arg={a}" for a in ["prog", *args])
    cmd = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none"]
    if icount:
        cmd += ["-icount", "shift=0"]
    cmd += ["-semihosting-config", config, "-kernel", str(elf)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return QemuResult(proc.returncode, proc.stdout, proc.stderr)


def parse_fields(line: str) -> dict:
    """'a=1 b=xyz' -> {'a': '1', 'b': 'xyz'} (the target's result lines)."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def lzma2_raw(data: bytes, dict_size: int, preset: int = 9, extreme: bool = True, lc=None, lp=None, pb=None) -> bytes:
    import lzma

    f = {"id": lzma.FILTER_LZMA2, "preset": preset | (lzma.PRESET_EXTREME if extreme else 0), "dict_size": dict_size}
    for k, v in (("lc", lc), ("lp", lp), ("pb", pb)):
        if v is not None:
            f[k] = v
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=[f])
