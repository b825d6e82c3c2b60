"""Which restore runs a package: the Python one, the C library, or both.

``both`` runs the Python restore on the device and the C restore on a copy
of it taken before, and fails (``VerificationError``) unless the two agree
on the verdict, the failing check (its name and partition) and the flash
every partition ends with (and the chain state the device keeps).  The
error class and the rest of the failure record are compared by the
differential tests, where they are deterministic.  Standard library only.
"""

from __future__ import annotations

import copy
import os

from otapack.errors import UsageError, VerificationError
from otapack.core.restore import c_engine
from otapack.core.restore.checks import Check, CheckStatus, RestoreResult
from otapack.core.restore.engine import Device, Restore

ENGINES = ("python", "c", "both")
#: Set (to anything) to make every Python restore also run the C restore on
#: a copy of the device and raise AssertionError unless the two agree field
#: by field (verdict, failure record, error class, flash): what the
#: differential tests run the hostile and mutation suites under.
CROSSCHECK = "OTAPACK_CROSSCHECK"


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise UsageError(f"unknown restore engine {engine!r} (engines: {', '.join(ENGINES)})", option="engine")
    return engine


def run(device: Device, package: bytes) -> RestoreResult:
    """The restore ``device.engine`` names, on ``device``."""
    engine = check_engine(device.engine)
    if engine == "python" and os.environ.get(CROSSCHECK):
        return _crosscheck(device, package, os.environ[CROSSCHECK])
    if engine == "python":
        return Restore(device).run(package)
    if engine == "c":
        return c_engine.run(device, package)
    twin = copy.deepcopy(device)
    result = Restore(device).run(package)
    other = c_engine.run(twin, package)
    differences = disagreements(result, other, device, twin)
    if differences:
        detail = "; ".join(differences)
        result.checks.append(Check("engines", CheckStatus.FAIL, detail))
        result.error = VerificationError(f"the Python and C restores disagree: {detail}")
    else:
        result.checks.append(Check("engines", CheckStatus.PASS, "Python and C restores agree"))
    return result


def _crosscheck(device: Device, package: bytes, log: str) -> RestoreResult:
    """The Python restore, checked field by field against the C restore; no
    difference is tolerated (a corrupt LZMA2 stream, which liblzma and our
    decoder notice at different points, is refused by the full decode at
    ``resources`` in both, docs/verifier.md)."""
    if not c_engine.supports(device, package):
        outcome = "unsupported"
        result = Restore(device).run(package)
    else:
        twin = copy.deepcopy(device)
        result = Restore(device).run(package)
        other = c_engine.run(twin, package)
        problems = strict_disagreements(result, other, device, twin)
        outcome = "agree"
        if problems:
            raise AssertionError(f"C and Python restores disagree: {'; '.join(problems)}")
    if log != "1":
        with open(log, "a", encoding="ascii") as f:
            f.write(outcome + "\n")
    return result


def _where(result: RestoreResult) -> str | None:
    if result.failure is None:
        return None
    f = result.failure
    return f"{f.check}:{f.partition}" if f.partition is not None and f.check in ("restore", "target") else f.check


def disagreements(py: RestoreResult, c: RestoreResult, py_device: Device, c_device: Device) -> list[str]:
    """What ``both`` compares, as readable differences (empty: they agree)."""
    out = []
    if py.ok != c.ok:
        out.append(f"verdict: Python {'pass' if py.ok else 'fail'}, C {'pass' if c.ok else 'fail'}")
    if _where(py) != _where(c):
        out.append(f"failing check: Python {_where(py)}, C {_where(c)}")
    for name, part in py_device.partitions.items():
        twin = c_device.partitions.get(name)
        if twin is None or part.flash.read(0, part.flash.size) != twin.flash.read(0, twin.flash.size):
            out.append(f"flash of partition {name!r} differs")
    if py_device.expected_next != c_device.expected_next:
        out.append("the chain state the device keeps differs")
    return out


def strict_disagreements(py: RestoreResult, c: RestoreResult, py_device: Device, c_device: Device) -> list[str]:
    """``disagreements`` plus the error class and the whole failure record."""
    out = disagreements(py, c, py_device, c_device)
    if py.error is not None and c.error is not None and c_engine.error_class(py.error) != c_engine.error_class(c.error):
        out.append(f"error class: Python {type(py.error).__name__} ({py.error}), C {c.error}")
    if py.failure and c.failure:
        for name in ("window", "tuple", "offset"):
            if getattr(py.failure, name) != getattr(c.failure, name):
                out.append(f"failure {name}: Python {getattr(py.failure, name)} ({py.error}), "
                           f"C {getattr(c.failure, name)}")
    return out
