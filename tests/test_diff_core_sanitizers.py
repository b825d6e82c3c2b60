"""The C diff core under AddressSanitizer and UndefinedBehaviorSanitizer.

Builds ``otapack.core.diff._core`` from the same sources as setup.py with
``-fsanitize=address,undefined -fno-sanitize-recover=all`` into a temporary
copy of the package, and runs tests/test_diff_core.py against it in a child
Python with the ASan runtime preloaded (the interpreter itself is not
instrumented).  Any sanitizer report fails the child and so this test.
Leak detection is off: CPython keeps objects alive until exit by design.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIFF_DIR = ROOT / "otapack" / "core" / "diff"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
REPORT = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: \w+Sanitizer")

# Deliberate defects, to prove that a sanitizer report fails a run here.
CANARY = r"""
#include <stdlib.h>
#include <string.h>
#include <limits.h>
int heap_overflow(int n) { char *p = malloc(16); memset(p, 1, 16); int v = p[n]; free(p); return v; }
int signed_overflow(int a) { return a + INT_MAX; }
"""


def gcc() -> str:
    path = shutil.which("gcc")
    assert path, "gcc is required to build the sanitized diff core (not skipped: install gcc)"
    return path


def sanitizer_env(pythonpath: Path) -> dict:
    libasan = subprocess.run([gcc(), "-print-file-name=libasan.so"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert os.path.isabs(libasan) and os.path.exists(libasan), f"gcc has no ASan runtime: {libasan!r}"
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
        PYTHONPATH=os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONWARNINGS", None)
    return env


def build_sanitized(out: Path) -> Path:
    """The package copied to out/otapack, with a sanitized _core built into it."""
    shutil.copytree(ROOT / "otapack", out / "otapack",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    sources = sorted(DIFF_DIR.glob("*.c"))
    setup_text = (ROOT / "setup.py").read_text()
    assert sources and all(f'"{src.name}"' in setup_text for src in sources), \
        "setup.py must build every C source of the diff core"
    target = out / "otapack" / "core" / "diff" / ("_core" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = [gcc(), "-shared", "-fPIC", "-O1", "-g", *SANITIZE, "-Wall", "-Werror",
           f"-I{sysconfig.get_paths()['include']}", f"-I{DIFF_DIR}", *map(str, sources), "-o", str(target)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return target


def test_sanitizer_reports_fail_the_run(tmp_path):
    """The harness itself: a heap overflow and a signed overflow must each fail a child."""
    source = tmp_path / "canary.c"
    source.write_text(CANARY)
    lib = tmp_path / "canary.so"
    subprocess.run([gcc(), "-shared", "-fPIC", "-O0", "-g", *SANITIZE, str(source), "-o", str(lib)], check=True)
    env = sanitizer_env(tmp_path)
    for call, report in (("heap_overflow(20)", "heap-buffer-overflow"), ("signed_overflow(5)", "runtime error:")):
        proc = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(lib)!r}).{call}"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and report in proc.stderr, (call, proc.returncode, proc.stderr[-2000:])


def test_diff_core_tests_pass_under_asan_and_ubsan(tmp_path):
    target = build_sanitized(tmp_path)
    env = sanitizer_env(tmp_path)
    # The child runs in tmp_path (the working directory comes first on
    # sys.path: the repository's own otapack must not win there) and checks,
    # in the process that runs the tests, that it imports the sanitized core.
    runner = (
        "import sys, pytest\n"
        "import otapack.core.diff._core as core\n"
        f"assert core.__file__ == {str(target)!r}, core.__file__\n"
        f"sys.exit(pytest.main([{str(ROOT / 'tests' / 'test_diff_core.py')!r}, '-q', '-x',"
        f" '-p', 'no:cacheprovider', '--rootdir', {str(ROOT)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", runner], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and not REPORT.search(output), output[-6000:]
    assert re.search(r"\d+ passed", proc.stdout), proc.stdout[-2000:]
