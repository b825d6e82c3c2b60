"""Intel HEX and S-record inputs: sparse address/bytes segments (bincopy),
read the same way as any other segmented image."""

from __future__ import annotations

import re

import bincopy

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


def _bincopy_segments(data: bytes, label: str, fmt: str) -> Segments:
    title = {"ihex": "Intel HEX", "srec": "Motorola S-record"}[fmt]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ImageFormatError(f"{label}: not a {title} file (non-ASCII bytes)") from None
    binfile = bincopy.BinFile()
    try:
        (binfile.add_ihex if fmt == "ihex" else binfile.add_srec)(text)
    except bincopy.Error as exc:
        raise ImageFormatError(f"{label}: invalid {title}: {exc}") from None
    segments = [(seg.minimum_address, bytes(seg.data)) for seg in binfile.segments]
    if not segments:
        raise ImageFormatError(f"{label}: {title} file has no data records")
    return segments


def read_ihex(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    return image_from_segments(_bincopy_segments(data, label, "ihex"), layout=layout, label=label, kind="ihex")


def read_srec(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    return image_from_segments(_bincopy_segments(data, label, "srec"), layout=layout, label=label, kind="srec")
