"""Run many otapack command lines in one child process.

Used by tests whose conditions need a process of their own: a FIFO that
would hang the run (the parent enforces a timeout as a hang detector), or
dropped privileges (see ``drop_file_privileges``).

    python tests/cli_batch.py CASES.json PROGRESS.txt RESULTS.json

CASES.json is a list of ``{"argv": [...], "cwd": "..."}``; PROGRESS.txt
names each case before it runs, so a hang names its case; RESULTS.json gets
``[{"code": int, "stdout": str, "stderr": str}, ...]``.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import sys

#: linux/prctl.h and linux/capability.h
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def drop_file_privileges() -> None:
    """preexec_fn: make the child obey file permission bits, even as root.

    Root keeps its uid (so the interpreter under /root stays readable) but
    loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its bounding set,
    so after exec a mode-000 file is unreadable and a mode-0555 directory
    unwritable, exactly as for an ordinary user.  Not root: nothing to drop.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _run(argv: list[str]) -> tuple[int, str, str]:
    from otapack.cli import main

    saved = sys.stdout, sys.stderr
    out, err = io.TextIOWrapper(io.BytesIO(), "utf-8"), io.TextIOWrapper(io.BytesIO(), "utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        code = main(argv)
    finally:
        sys.stdout, sys.stderr = saved
    out.flush()
    err.flush()
    return code, out.buffer.getvalue().decode("utf-8", "replace"), err.buffer.getvalue().decode("utf-8", "replace")


def main() -> None:
    cases_path, progress_path, results_path = sys.argv[1:4]
    with open(cases_path) as handle:
        cases = json.load(handle)
    results = []
    with open(progress_path, "w") as progress:
        for case in cases:
            progress.write(json.dumps(case) + "\n")
            progress.flush()
            os.chdir(case["cwd"])
            code, out, err = _run(case["argv"])
            results.append({"code": code, "stdout": out, "stderr": err})
    with open(results_path, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
