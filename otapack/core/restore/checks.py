"""The vocabulary of the restore's report: check status, check, check spec.

The table of checks itself (``CHECKS``, in the device's order) is in
``otapack.core.restore.engine``, beside the functions it names.  Standard
library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from otapack.errors import OtapackError
from otapack.core.restore import wire


class CheckStatus(str, Enum):
    """Outcome of one check; the value is what JSON and the CLI show."""

    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass
class Check:
    """One reported check.  ``status`` is always a CheckStatus: a string is
    converted on assignment, so a misspelt status is an error, not a row."""

    name: str
    status: CheckStatus
    detail: str = ""

    def __setattr__(self, key, value):
        if key == "status":
            value = CheckStatus(value)
        super().__setattr__(key, value)

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status.value, "detail": self.detail}


@dataclass(frozen=True)
class CheckSpec:
    """One row of the restore's check table.

    ``run`` is called as ``run(restore, state, check)``, or with the table
    entry as a fourth argument when ``per_partition`` (reported as
    ``NAME:PARTITION`` for every partition that carries a payload).
    ``can_disable``: whether a caller may switch the check off
    (``DeviceOptions.skip_checks``); ``why`` says why it may or may not.
    """

    name: str
    run: Callable
    why: str
    per_partition: bool = False
    can_disable: bool = False

    @property
    def label(self) -> str:
        """The name as docs/verifier.md writes it."""
        return f"{self.name}:NAME" if self.per_partition else self.name


def at(entry: wire.Entry, exc: OtapackError) -> OtapackError:
    """``exc``, naming ``entry`` as the failure record's partition."""
    exc.restore_partition = entry.name
    return exc


@dataclass(frozen=True)
class Failure:
    """Where a restore failed, field by field as the C library's
    ``struct ota_restore_failure``, so the two restores compare exactly.

    ``check``: the check's name without the partition; ``error``: the error
    class (``otapack.errors``); ``partition``: the table entry for
    ``precondition``, ``restore`` and ``target``; ``window``, ``tuple``,
    ``offset``: for a failure inside a delta window, the window (from 0),
    the tuple of it being read or applied (from 0; None at window level)
    and the window's output offset in the target."""

    check: str
    error: str
    partition: str | None = None
    window: int | None = None
    tuple: int | None = None
    offset: int | None = None

    @classmethod
    def of(cls, checks: list[Check], exc: OtapackError) -> "Failure":
        """The failure of the last check of ``checks``, which raised ``exc``."""
        check, _, partition = checks[-1].name.partition(":") if checks else ("", "", "")
        window, tuple_, offset = getattr(exc, "restore_position", (None, None, None))
        return cls(check, type(exc).__name__, partition or getattr(exc, "restore_partition", None),
                   window, tuple_, offset)

    def to_dict(self) -> dict:
        return {"check": self.check, "error": self.error, "partition": self.partition, "window": self.window,
                "tuple": self.tuple, "offset": self.offset}


@dataclass
class RestoreResult:
    checks: list[Check] = field(default_factory=list)
    error: OtapackError | None = None
    failure: Failure | None = None
    ram_peak: int = 0
    ram_declared: int = 0
    #: Flash held for staged partitions until commit, and the header's scratch_flash.
    scratch_peak: int = 0
    scratch_declared: int = 0
    #: The work done, counted (control tuples and zero-run pairs decoded).
    tuples: int = 0
    diff_pairs: int = 0
    package_bytes_read: int = 0
    blocks_erased: int = 0
    bytes_written: int = 0
    decompress_calls: int = 0
    header: wire.Header | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "result": CheckStatus.PASS.value if self.ok else CheckStatus.FAIL.value,
            "error": str(self.error) if self.error else None,
            "failure": self.failure.to_dict() if self.failure else None,
            "checks": [c.to_dict() for c in self.checks],
            "ram": {"peak": self.ram_peak, "declared": self.ram_declared},
            "package_bytes_read": self.package_bytes_read,
            "flash": {"blocks_erased": self.blocks_erased, "bytes_written": self.bytes_written},
            "scratch": {"peak": self.scratch_peak, "declared": self.scratch_declared},
            "work": {"tuples": self.tuples, "diff_pairs": self.diff_pairs},
        }
