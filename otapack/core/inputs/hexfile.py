"""Intel HEX and S-record inputs: sparse address/bytes segments (bincopy),
read the same way as any other segmented image."""

from __future__ import annotations

import re

from otapack.errors import ImageFormatError
from otapack.core.model import FirmwareImage
from otapack.core.inputs.image import Segments, image_from_segments
from otapack.core.inputs.layout import Layout

def _text_head(data: bytes) -> str:
    return data[:512].decode("ascii", "replace").lstrip()


_IHEX_RE = re.compile(r"^:[0-9A-Fa-f]{10,}\s*$")
_SREC_RE = re.compile(r"^S[0-9][0-9A-Fa-f]{6,}\s*$")


def _first_line(data: bytes) -> str:
    return _text_head(data).split("\n", 1)[0].strip()


def _sniff_ihex(data: bytes) -> bool:
    return bool(_IHEX_RE.match(_first_line(data)))


def _sniff_srec(data: bytes) -> bool:
    return bool(_SREC_RE.match(_first_line(data)))


_RECORDS = {  # fmt -> (title, record noun, one record, what a record starts with)
    "ihex": ("Intel HEX", "Intel HEX record", re.compile(r":[0-9A-Fa-f]+"), "':'"),
    "srec": ("Motorola S-record", "S-record", re.compile(r"S[0-9][0-9A-Fa-f]+"), "'S' and a digit"),
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_NAMED_RECORD = re.compile(r"record '?([:S][0-9A-Fa-f]*)'?")


def _check_records(lines: list[str], label: str, fmt: str) -> None:
    """Every non-blank line is one record of hex digits, or one exact error.

    bincopy alone lets ``bytearray.fromhex`` see the text: it accepts spaces
    inside a record and raises a bare ValueError on other characters."""
    _, noun, record, start = _RECORDS[fmt]
    head = 1 if fmt == "ihex" else 2
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or record.fullmatch(text):
            continue
        if not record.fullmatch(text[:head] + "00"):
            raise ImageFormatError(
                f"{label}: line {number}: {noun} must start with {start}, not {text[:head]!r}"
            )
        column = next((i for i, c in enumerate(text) if i >= head and c not in _HEX_DIGITS), None)
        if column is None:
            raise ImageFormatError(f"{label}: line {number}: {noun} {text!r} has no digits")
        raise ImageFormatError(
            f"{label}: line {number}: {noun} has a non-hex character {text[column]!r} at column "
            f"{line.index(text) + column + 1}"
        )


def _bincopy_segments(data: bytes, label: str, fmt: str) -> Segments:
    title = _RECORDS[fmt][0]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ImageFormatError(f"{label}: {title} file has a non-ASCII byte at offset {exc.start:#x}") from None
    lines = text.split("\n")  # as bincopy reads it
    _check_records(lines, label, fmt)
    import bincopy  # here: every command that reads images would pay for its import otherwise

    binfile = bincopy.BinFile()
    try:
        (binfile.add_ihex if fmt == "ihex" else binfile.add_srec)(text)
    except (bincopy.Error, ValueError, IndexError) as exc:
        raise ImageFormatError(f"{label}: invalid {title}: {_where(str(exc), lines)}") from None
    segments = [(seg.minimum_address, bytes(seg.data)) for seg in binfile.segments]
    if not segments:
        raise ImageFormatError(f"{label}: {title} file has no data records")
    return segments


def _where(message: str, lines: list[str]) -> str:
    """bincopy quotes the whole record: name its line instead."""
    match = _NAMED_RECORD.search(message)
    if match is None:
        return message[:200]
    stripped = [line.strip() for line in lines]
    record = match.group(1)
    where = f"line {stripped.index(record) + 1}: " if record in stripped else ""
    return where + message.replace(match.group(0), "record")[:200]


def read_ihex(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    return image_from_segments(_bincopy_segments(data, label, "ihex"), layout=layout, label=label, kind="ihex")


def read_srec(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    return image_from_segments(_bincopy_segments(data, label, "srec"), layout=layout, label=label, kind="srec")
