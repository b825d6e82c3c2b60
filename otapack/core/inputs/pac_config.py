"""The download configuration inside a Unisoc ``.pac``: the ``BMAConfig`` XML.

The vendor generator stores it as the last file entry (``file_flag`` 2, no
file ID).  Its ``SchemeList/Scheme/File`` elements give, per file ID, the
download type (``HOST_FDL``, ``FDL2``, ``CODE``, ``NV``, ``EraseFlash``, ...)
and the block it may fill (``Block/Base``, ``Block/Size``): the slot size
of each flash image.  The scheme used is the one the product named in the
PAC header points to (``ProductList/Product[@name]/SchemeName``), else the
only scheme.

Hostile XML: at most ``MAX_CONFIG_SIZE`` bytes, and no DTD (so no entity
expansion); anything malformed is one ``ImageFormatError``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from otapack.errors import ImageFormatError

#: The real configuration is about 4 KiB; a megabyte is no configuration.
MAX_CONFIG_SIZE = 1 << 20
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class SchemeFile:
    """One ``<File>`` of the download scheme."""

    file_id: str
    type: str = ""
    base: int | None = None
    size: int | None = None


def _text(element: ET.Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def _number(text: str, what: str, where: str) -> int | None:
    if not text:
        return None
    try:
        value = int(text, 0)
    except ValueError:
        raise ImageFormatError(f"{what}: configuration XML: {where} is {text!r}, not a number") from None
    if value < 0:
        raise ImageFormatError(f"{what}: configuration XML: {where} is negative ({text})")
    return value


def _scheme(root: ET.Element, product: str) -> ET.Element | None:
    schemes = root.findall("./SchemeList/Scheme")
    wanted = None
    for element in root.findall("./ProductList/Product"):
        if element.get("name") == product:
            wanted = _text(element, "SchemeName") or product
            break
    if wanted is not None:
        for scheme in schemes:
            if scheme.get("name") == wanted:
                return scheme
    return schemes[0] if len(schemes) == 1 else None


def read_config(data: bytes, *, product: str, what: str) -> dict[str, SchemeFile]:
    """File ID -> ``SchemeFile`` of the scheme for ``product`` ({} when no scheme matches)."""
    if len(data) > MAX_CONFIG_SIZE:
        raise ImageFormatError(
            f"{what}: configuration XML is {len(data)} bytes (at most {MAX_CONFIG_SIZE})"
        )
    if b"\0" in data:  # UTF-16/32: the DTD check below needs ASCII-compatible text
        raise ImageFormatError(f"{what}: configuration XML is not 8-bit text (NUL bytes)")
    if _DTD.search(data):
        raise ImageFormatError(f"{what}: configuration XML declares a DTD or entities (refused)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ImageFormatError(f"{what}: configuration XML is malformed: {exc}") from None
    except (ValueError, LookupError) as exc:  # expat: an encoding it cannot decode (gbk, ...)
        raise ImageFormatError(f"{what}: configuration XML cannot be decoded: {exc}") from None
    if root.tag != "BMAConfig":
        raise ImageFormatError(f"{what}: configuration XML has root <{root.tag[:40]}>, expected <BMAConfig>")
    scheme = _scheme(root, product)
    files: dict[str, SchemeFile] = {}
    for element in scheme.findall("./File") if scheme is not None else ():
        file_id = _text(element, "ID")
        if not file_id or file_id in files:
            continue  # the PAC's own entries are what is checked for names
        where = f"file {file_id[:40]!r}"
        files[file_id] = SchemeFile(
            file_id=file_id,
            type=_text(element, "Type"),
            base=_number(_text(element, "Block/Base"), what, f"{where} Base"),
            size=_number(_text(element, "Block/Size"), what, f"{where} Size"),
        )
    return files
