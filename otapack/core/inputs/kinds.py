"""Every firmware input turned into one ``FirmwareImage``.

``INPUT_KINDS`` is the registry of input kinds (name -> ``InputKind``): how
to recognise the kind from content or file extension, and its reader.
Content decides first (ELF magic, PAC magic, Intel HEX ``:`` records,
S-record ``S0``.. records); an extension only decides when no content
matches (so ``x.pac`` that is not a PAC gets the PAC reader's precise error);
anything else is a raw binary (``image.raw_image``).

An ELF file is firmware (read by its load segments) or a file shipped as is
(read as raw bytes) by its content alone, never by its name: see
``elf_is_firmware``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from otapack.core.fileio import STDIO, read_input
from otapack.errors import InputError
from otapack.core.model import FirmwareImage
from otapack.core.inputs.hexfile import _sniff_ihex, _sniff_srec, read_ihex, read_srec
from otapack.core.inputs.image import raw_image
from otapack.core.inputs.layout import Layout, LayoutSource, load_layout


def read_raw(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    return raw_image(data, label=label, layout=layout, name=name)


def _read_elf(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    from otapack.core.inputs.elf import read_elf  # pyelftools only when an ELF is read

    return read_elf(data, label=label, layout=layout)


def _read_pac(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    from otapack.core.inputs.pac import read_pac

    return read_pac(data, label=label, layout=layout)


ET_EXEC = 2
PT_DYNAMIC, PT_INTERP = 2, 3


def elf_is_firmware(data: bytes) -> bool | None:
    """None: not an ELF file.  True: a firmware ELF, read by its load segments:
    an executable (``ET_EXEC``) linked to fixed addresses without a program
    interpreter or dynamic section (``PT_INTERP``, ``PT_DYNAMIC``).  False: any
    other ELF (shared object, relocatable, PIE, dynamically linked program),
    which is a file a device stores as is: read as raw bytes, so the package
    restores the file byte for byte.  A header too broken to tell is True,
    so the ELF reader says what is wrong."""
    if data[:4] != b"\x7fELF":
        return None
    if len(data) < 0x34 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return True
    order = "big" if data[5] == 2 else "little"
    wide = data[4] == 2

    def field(offset: int, size: int) -> int:
        return int.from_bytes(data[offset:offset + size], order)

    if field(16, 2) != ET_EXEC:
        return False
    phoff, phentsize, phnum = (field(0x20, 8), field(0x36, 2), field(0x38, 2)) if wide else \
        (field(0x1C, 4), field(0x2A, 2), field(0x2C, 2))
    if phentsize < 4 or phoff + phnum * phentsize > len(data):
        return True
    types = {field(phoff + i * phentsize, 4) for i in range(phnum)}
    return not types & {PT_DYNAMIC, PT_INTERP}


def _sniff_pac(data: bytes) -> bool:
    from otapack.core.formats import pac

    return len(data) >= pac.HEADER_SIZE and data[pac.MAGIC_OFFSET:pac.MAGIC_OFFSET + 4] == pac.MAGIC.to_bytes(4, "little")


@dataclass(frozen=True)
class InputKind:
    name: str
    description: str
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    read: Callable[..., FirmwareImage]


#: Input kinds, sniffed in this order; ``raw`` is the fallback.
INPUT_KINDS: dict[str, InputKind] = {
    k.name: k
    for k in (
        InputKind("elf", "firmware ELF (static ET_EXEC): PT_LOAD segments at their physical addresses",
                  (".elf", ".axf", ".out"), lambda data: elf_is_firmware(data) is True, _read_elf),
        InputKind("pac", "Unisoc/Spreadtrum .pac firmware container (ECx00U/EGx15U)",
                  (".pac",), _sniff_pac, _read_pac),
        InputKind("ihex", "Intel HEX", (".hex", ".ihex", ".ihx"), _sniff_ihex, read_ihex),
        InputKind("srec", "Motorola S-record", (".srec", ".s19", ".s28", ".s37", ".mot"), _sniff_srec, read_srec),
        InputKind("raw", "raw flash image: layout, embedded table (GPT, MBR, ESP-IDF) or one partition",
                  (".bin", ".img"), lambda data: True, read_raw),
    )
}


def detect_kind(data: bytes, suffix: str = "") -> str:
    """The input kind of ``data``: content first, then the file extension."""
    if elf_is_firmware(data) is False:
        return "raw"  # an ELF file shipped as is, whatever it is called
    for kind in INPUT_KINDS.values():
        if kind.name != "raw" and kind.sniff(data):
            return kind.name
    suffix = suffix.lower()
    for kind in INPUT_KINDS.values():
        if suffix and suffix in kind.extensions:
            return kind.name
    return "raw"


# -- public entry points ---------------------------------------------------------


def _resolve_layout(layout: LayoutSource | None) -> Layout | None:
    return None if layout is None else load_layout(layout)


def _read(data: bytes, *, label: str, name: str, layout, kind: str | None, suffix: str) -> FirmwareImage:
    if not data:
        raise InputError(f"{label}: file is empty")
    layout = _resolve_layout(layout)
    if kind is None:
        kind = detect_kind(data, suffix)
    elif kind not in INPUT_KINDS:
        raise InputError(f"{label}: unknown input kind {kind!r} (choose from: {', '.join(INPUT_KINDS)})")
    image = INPUT_KINDS[kind].read(data, label=label, layout=layout, name=name)
    image.details.setdefault("kind", kind)
    return image


def read_firmware_bytes(
    data: bytes, *, name: str = "image", layout: LayoutSource | None = None,
    kind: str | None = None, label: str | None = None,
) -> FirmwareImage:
    """Split firmware bytes into partitions.

    ``name`` names the partition of a one-partition image (and, unless
    ``label`` is given, the input in error messages); ``kind`` forces an
    input kind from ``INPUT_KINDS`` instead of detecting it.
    """
    return _read(bytes(data), label=label or name, name=name, layout=layout, kind=kind, suffix="")


def read_firmware(path: str | Path, layout: LayoutSource | None = None, *, kind: str | None = None,
                  what: str = "firmware") -> FirmwareImage:
    """Read a firmware file (ELF, PAC, HEX, S-record or raw) into partitions;
    ``what`` names the input in errors ("old image", ...); the string ``-``
    is standard input (see otapack.core.fileio)."""
    if isinstance(path, str) and path == STDIO:
        image = _read(read_input(STDIO, what), label="standard input", name="image", layout=layout, kind=kind,
                      suffix="")
        image.details["path"] = STDIO
        return image
    path = Path(path)
    label = path.name or str(path)
    data = read_input(path, what)
    image = _read(data, label=label, name="image", layout=layout, kind=kind, suffix=path.suffix)
    image.details["path"] = str(path)
    return image


__all__ = [
    "INPUT_KINDS", "InputKind", "detect_kind", "elf_is_firmware", "raw_image",
    "read_firmware", "read_firmware_bytes",
]
