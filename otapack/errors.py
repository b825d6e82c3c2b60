"""The one exception tree raised by otapack for bad input and failed checks.

Every class carries the process exit code the CLI maps it to; the table in
docs/cli.md is generated from ``EXIT_CODES`` (a test keeps them in sync).
Programming errors stay ordinary Python exceptions (exit 70 in the CLI).
"""

from __future__ import annotations


class OtapackError(Exception):
    """Base of every error otapack raises on purpose."""

    exit_code = 70
    label = "error"

    def __init__(self, message: str, *, option: str | tuple[str, ...] | None = None):
        super().__init__(message)
        self.message = message
        #: The settings (API parameter or option-field names, e.g. ``url_base``)
        #: the error is about.  Library messages never name command-line flags;
        #: the CLI maps these names to its flags when it reports the error.
        self.options: tuple[str, ...] = (option,) if isinstance(option, str) else tuple(option or ())

    def __str__(self) -> str:  # one line, always
        return self.message.replace("\n", " ")


class UsageError(OtapackError):
    """Options that contradict each other or are missing."""

    exit_code = 2


class InputError(OtapackError):
    """An input file (image, layout, config, directory) cannot be used."""

    exit_code = 3


class LayoutError(InputError):
    """A partition layout is invalid."""


class ImageFormatError(InputError):
    """A firmware image container (ELF, HEX, PAC, ...) is malformed."""


class IncompatibleImagesError(InputError):
    """Old and new firmware do not share one partition structure."""


class PackageFormatError(OtapackError):
    """A package is malformed: truncated, corrupt, inconsistent."""

    exit_code = 4

    def __init__(self, message: str, *, offset: int | None = None, option: str | tuple[str, ...] | None = None):
        if offset is not None:
            message = f"{message} (at offset {offset})"
        super().__init__(message, option=option)
        self.offset = offset


class TruncatedPackageError(PackageFormatError):
    """The package ends before a structure it declares."""


class IntegrityError(PackageFormatError):
    """A CRC32 or SHA-256 over the package does not match."""


class UnsupportedVersionError(PackageFormatError):
    """The package declares a format version this otapack does not know."""

    exit_code = 5


class PackageLimitError(PackageFormatError):
    """A package would break a hard limit of its format (header size, counts,
    string lengths, signature slot): every reader refuses it, so the builder
    refuses to write it."""


class CorruptPatchError(PackageFormatError):
    """Delta control data points outside its buffers (bspatch CVE classes)."""


class VerificationError(OtapackError):
    """The package is well formed but does not restore what it must."""

    exit_code = 1


class PrecursorMismatchError(VerificationError):
    """The device's current partition is not the one the package was built from."""


class ChainStateError(PrecursorMismatchError):
    """A minimal-system stage was offered to a device not in the flash state it starts from."""


class TargetMismatchError(VerificationError):
    """The restored partition does not hash to the declared target."""


class ResourceLimitError(VerificationError):
    """Restoring needs more RAM or flash than declared or allowed."""


class BudgetError(OtapackError):
    """A package does not fit the flash budget of its phase."""

    exit_code = 7


class RamBudgetError(BudgetError):
    """A package needs more device RAM than the build's RAM budget allows.
    ``breakdown`` says by what (the builder's ``RamBreakdown``), ``needed``
    and ``budget`` in bytes."""

    def __init__(self, message: str, *, needed: int, budget: int, breakdown: object = None,
                 option: str | tuple[str, ...] | None = "ram_budget"):
        super().__init__(message, option=option)
        self.needed, self.budget, self.breakdown = needed, budget, breakdown


class SecurityError(OtapackError):
    """Signature, rollback or device-compatibility rejection."""

    exit_code = 8


class SignatureError(SecurityError):
    """Missing, malformed or invalid signature, or unknown key."""


class RollbackError(SecurityError):
    """The package's security counter is below the device's."""


class IncompatibleDeviceError(SecurityError):
    """The package is meant for another model or partition layout."""


class ChainMismatchError(SecurityError):
    """Stage 2 is not the package stage 1 names: a mix-and-match pair."""


class OutputError(OtapackError):
    """An output cannot be written (exists, permissions, disk full)."""

    exit_code = 6


def error_fields(exc: OtapackError | None) -> dict:
    """What a ``--json`` document says about an error: its class and the exit
    code the CLI returns for it (0 and nulls when there is none)."""
    if exc is None:
        return {"error_class": None, "exit_code": 0}
    return {"error_class": type(exc).__name__, "exit_code": exc.exit_code}


#: Exit codes by meaning, in one place; docs/cli.md shows this table.
EXIT_CODES: dict[int, str] = {
    0: "success; for verify: every check passed",
    1: "verification failed: wrong base image, hash mismatch, resource limit",
    2: "usage error: bad or missing options",
    3: "invalid input: image, layout, config or directory cannot be used",
    4: "invalid package: truncated, corrupt or inconsistent",
    5: "unsupported package format version",
    6: "output or I/O error",
    7: "budget exceeded: flash, RAM (--ram-budget) or package size (--max-size)",
    8: "security rejection: signature, rollback or device mismatch",
    70: "internal error (a bug: please report it with --debug output)",
    129: "hung up (SIGHUP): temporary files removed, outputs all written or none",
    130: "interrupted (SIGINT, Ctrl-C): temporary files removed, outputs all written or none",
    143: "terminated (SIGTERM, e.g. a cancelled CI job): temporary files removed, outputs all written or none",
}

#: Exit code of the CLI when a signal stops it: 128 + the signal number, as a shell reports it.
SIGNAL_EXIT_CODES: dict[str, int] = {"SIGHUP": 129, "SIGINT": 130, "SIGTERM": 143}
