"""Every firmware input turned into one ``FirmwareImage``.

``INPUT_KINDS`` is the registry of input kinds (name -> ``InputKind``): how
to recognise the kind from content or file extension, and its reader.
Content decides first (ELF magic, PAC magic, Intel HEX ``:`` records,
S-record ``S0``.. records); an extension only decides when no content
matches (so ``x.pac`` that is not a PAC gets the PAC reader's precise error);
anything else is a raw binary.

A raw binary is split by the layout when one is given, else by an embedded
partition table (``tables.EMBEDDED_TABLES``), else it is one partition named
``image``.  HEX and S-record files are raw bytes at addresses: they are read
the same way, as sparse segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import bincopy

from otapack.fileio import read_input
from otapack.errors import ImageFormatError, InputError, LayoutError
from otapack.model import FirmwareImage, Partition, PartitionType
from otapack.partition_table.detect import DETECTORS, classify, detect_content
from otapack.partition_table.layout import Layout, LayoutSource, load_layout, sorted_layout
from otapack.partition_table.tables import Slot, TableResult, find_table

#: A HEX/S-record file without a layout is flattened into one buffer; beyond
#: this span (gaps filled with the erased value) a layout is required.
MAX_FLAT_SPAN = 64 * 1024 * 1024

Segments = list[tuple[int, bytes]]


# -- building images ---------------------------------------------------------------


def make_image(
    partitions: list[Partition],
    contents: dict[str, str | None],
    *,
    source: str,
    kind: str,
    label: str,
    erase_block: int = 4096,
    erased_value: int = 0xFF,
    **details,
) -> FirmwareImage:
    info = {"label": label, "kind": kind, "content": {k: v for k, v in contents.items() if v}}
    info.update(details)
    return FirmwareImage(
        partitions=tuple(partitions),
        source=source,
        erase_block=erase_block,
        erased_value=erased_value,
        details=info,
    )


def single_image(data: bytes, *, name: str = "image", address: int = 0, label: str, kind: str) -> FirmwareImage:
    """One partition; its type is code unless its bytes are a known file system."""
    base = FirmwareImage.single(data, name=name, address=address)
    content = detect_content(data)
    contents = {name: content}
    partitions = list(base.partitions)
    if content and DETECTORS[content].type is PartitionType.FILESYSTEM:
        partitions = [classify(name, address, data, type=PartitionType.FILESYSTEM)[0]]
    return make_image(partitions, contents, source="single", kind=kind, label=label)


def image_from_table(data: bytes, table: TableResult, *, base_address: int, label: str, kind: str) -> FirmwareImage:
    partitions, contents, truncated = [], {}, []
    for slot in table.slots:
        chunk = data[slot.offset:slot.end]
        if len(chunk) < slot.size:
            truncated.append(slot.name)
        part, content = classify(
            slot.name, base_address + slot.offset, chunk, type=slot.type, policy=slot.policy,
            slot_size=slot.size,
        )
        partitions.append(part)
        contents[slot.name] = content
    return make_image(partitions, contents, source=table.source, kind=kind, label=label,
                  truncated=truncated, table=dict(table.details),
                  entries={s.name: dict(s.info) for s in table.slots if s.info})


def split_by_layout(data: bytes, layout: Layout, *, label: str, kind: str = "raw") -> FirmwareImage:
    """Cut a raw image (byte 0 = ``layout.base_address``) into the layout's partitions."""
    layout = sorted_layout(load_layout(layout))
    size = len(data)
    if layout.flash_size is not None and size > layout.flash_size:
        raise LayoutError(
            f"{label} ({size:#x} bytes) is larger than the flash size in {layout.source} ({layout.flash_size:#x})"
        )
    partitions, contents = [], {}
    covered = 0
    gaps = []
    for lp in layout.partitions:
        if lp.end > size:
            raise LayoutError(
                f"{label}: partition {lp.name!r} ({lp.offset:#x}..{lp.end:#x}) of {layout.source} "
                f"extends past the end of the image ({size:#x} bytes)"
            )
        if lp.offset > covered:
            gaps.append([covered, lp.offset - covered])
        covered = max(covered, lp.end)
        part, content = classify(
            lp.name, layout.address(lp), data[lp.offset:lp.end],
            type=lp.type if lp.type_given else None,
            policy=lp.policy if lp.policy_given else None,
            slot_size=lp.size, erased_value=layout.erased_value,
        )
        partitions.append(part)
        contents[lp.name] = content
    if size > covered:
        gaps.append([covered, size - covered])
    return make_image(partitions, contents, source="layout", kind=kind, label=label,
                  erase_block=layout.erase_block, erased_value=layout.erased_value,
                  layout=layout.source, unassigned=gaps)


def check_segments(segments: Segments, label: str) -> Segments:
    """Sorted by address and not overlapping, or ImageFormatError."""
    ordered = sorted(((a, bytes(d)) for a, d in segments if d), key=lambda s: s[0])
    for (a, d), (b, e) in zip(ordered, ordered[1:]):
        if b < a + len(d):
            raise ImageFormatError(
                f"{label}: data at {b:#x} ({len(e):#x} bytes) overlaps data at {a:#x} ({len(d):#x} bytes)"
            )
    return ordered


def image_from_segments(
    segments: Segments, *, layout: Layout | None, label: str, kind: str, erased_value: int = 0xFF
) -> FirmwareImage:
    """Sparse (address, bytes) data, as from ELF/HEX/S-record.

    With a layout every partition is its full slot, erased where no segment
    writes, and every byte must fall inside some partition.  Without one the
    segments are flattened (gaps erased) and read like a raw image at the
    lowest address: embedded table, else one partition ``image``.
    """
    segments = check_segments(segments, label)
    if not segments:
        raise ImageFormatError(f"{label}: no data")
    if layout is not None:
        layout = sorted_layout(load_layout(layout))
        fill = layout.erased_value
        buffers = {lp.name: bytearray([fill]) * lp.size for lp in layout.partitions}
        for address, data in segments:
            pos, end = address, address + len(data)
            while pos < end:
                lp = next(
                    (p for p in layout.partitions if layout.address(p) <= pos < layout.address(p) + p.size),
                    None,
                )
                if lp is None:
                    nxt = min((layout.address(p) for p in layout.partitions if layout.address(p) > pos),
                              default=end)
                    stop = min(end, nxt)
                    raise LayoutError(
                        f"{label}: {stop - pos:#x} bytes at {pos:#x} lie outside every partition of {layout.source}"
                    )
                start = layout.address(lp)
                stop = min(end, start + lp.size)
                buffers[lp.name][pos - start:stop - start] = data[pos - address:stop - address]
                pos = stop
        partitions, contents = [], {}
        for lp in layout.partitions:
            part, content = classify(
                lp.name, layout.address(lp), bytes(buffers[lp.name]),
                type=lp.type if lp.type_given else None,
                policy=lp.policy if lp.policy_given else None,
                slot_size=lp.size, erased_value=fill,
            )
            partitions.append(part)
            contents[lp.name] = content
        return make_image(partitions, contents, source="layout", kind=kind, label=label,
                      erase_block=layout.erase_block, erased_value=fill, layout=layout.source)
    low = segments[0][0]
    high = max(a + len(d) for a, d in segments)
    if high - low > MAX_FLAT_SPAN:
        raise ImageFormatError(
            f"{label}: data spans {low:#x}..{high:#x} ({high - low:#x} bytes); give a layout to split it"
        )
    flat = bytearray([erased_value]) * (high - low)
    for address, data in segments:
        flat[address - low:address - low + len(data)] = data
    return raw_image(bytes(flat), label=label, kind=kind, base_address=low)


def raw_image(
    data: bytes, *, label: str, kind: str = "raw", layout: Layout | None = None,
    base_address: int = 0, name: str = "image",
) -> FirmwareImage:
    if layout is not None:
        return split_by_layout(data, layout, label=label, kind=kind)
    table = find_table(data, label)
    if table is not None:
        return image_from_table(data, table, base_address=base_address, label=label, kind=kind)
    return single_image(data, name=name, address=base_address, label=label, kind=kind)


# -- input kinds -----------------------------------------------------------------------


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


def read_raw(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    return raw_image(data, label=label, layout=layout, name=name)


def _read_elf(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    from otapack.partition_table.elf import read_elf

    return read_elf(data, label=label, layout=layout)


def _read_pac(data: bytes, *, label: str, layout: Layout | None, name: str = "image") -> FirmwareImage:
    from otapack.partition_table.pac import read_pac

    return read_pac(data, label=label, layout=layout)


def _sniff_elf(data: bytes) -> bool:
    """ELF *executables* are firmware images; a shared object or relocatable
    file (e.g. a Linux library shipped as is) is a file to diff byte for byte."""
    if data[:4] != b"\x7fELF":
        return False
    if len(data) < 18 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return True  # malformed: let the ELF reader say what is wrong
    e_type = int.from_bytes(data[16:18], "big" if data[5] == 2 else "little")
    return e_type not in (1, 3)  # ET_REL, ET_DYN


def _sniff_pac(data: bytes) -> bool:
    from otapack.formats import pac

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
        InputKind("elf", "ELF executable: PT_LOAD segments at their physical addresses",
                  (".elf", ".axf", ".out"), _sniff_elf, _read_elf),
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
    ``what`` names the input in errors ("old image", ...)."""
    path = Path(path)
    label = path.name or str(path)
    data = read_input(path, what)
    image = _read(data, label=label, name="image", layout=layout, kind=kind, suffix=path.suffix)
    image.details["path"] = str(path)
    return image


__all__ = [
    "INPUT_KINDS", "InputKind", "Slot", "detect_kind", "image_from_segments", "raw_image",
    "read_firmware", "read_firmware_bytes", "split_by_layout",
]
