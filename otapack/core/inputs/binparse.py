"""The one place where construct parse errors become ``ImageFormatError``."""

from __future__ import annotations

import re

from construct import ConstError, Construct, ConstructError, Container

from otapack.errors import ImageFormatError


def parse(struct: Construct, data: bytes, offset: int, *, what: str) -> Container:
    """Parse ``struct`` at ``offset`` of ``data``; a malformed or truncated
    structure raises ``ImageFormatError("<what> at 0x..: <reason>")``."""
    try:
        return struct.parse(data[offset:offset + struct.sizeof()])
    except (ConstructError, UnicodeDecodeError) as exc:
        reason = _reason(exc)
        if offset + struct.sizeof() > len(data):
            reason = f"truncated ({len(data) - offset} of {struct.sizeof()} bytes)"
        raise ImageFormatError(f"{what} at {offset:#x}: {reason}") from exc


_CONST = re.compile(r"expected (.+) but parsed (.+)$")


def _show(value: str) -> str:
    return f"{int(value):#x}" if value.isdigit() else value


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    last = text.splitlines()[-1].strip() if text else type(exc).__name__
    match = _CONST.search(last)
    if isinstance(exc, ConstError) and match:
        return f"bad magic (expected {_show(match.group(1))}, found {_show(match.group(2))})"
    return last


def try_parse(struct: Construct, data: bytes, offset: int) -> Container | None:
    """Parse or return None: for sniffing whether a structure is there at all."""
    if offset < 0 or offset + struct.sizeof() > len(data):
        return None
    try:
        return struct.parse(data[offset:offset + struct.sizeof()])
    except (ConstructError, UnicodeDecodeError):
        return None
