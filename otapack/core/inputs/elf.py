"""ELF firmware (pyelftools): loadable segments placed at physical addresses.

Only ``PT_LOAD`` segments with file data count (``.bss`` is not in flash);
each is placed at its ``p_paddr`` (the load address, which is where it sits
in flash).  With a layout, the segments are cut into the layout's partitions
(gaps erased).  Without one, every loadable segment is a partition, named
after the first allocated section it holds (``.text`` -> ``text``), typed
code when executable, else by name and content.
"""

from __future__ import annotations

import io
import re

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS, SH_FLAGS
from elftools.elf.elffile import ELFFile

from otapack.errors import ImageFormatError
from otapack.core.model import FirmwareImage, PartitionType
from otapack.core.inputs.detect import NAME_TYPES, classify
from otapack.core.inputs.layout import Layout
from otapack.core.inputs.image import check_segments, image_from_segments, make_image

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def _open(data: bytes, label: str) -> ELFFile:
    try:
        return ELFFile(io.BytesIO(data))
    except (ELFError, ValueError, EOFError) as exc:
        raise ImageFormatError(f"{label}: invalid ELF file: {exc}") from None


def _loads(elf: ELFFile, label: str) -> list:
    try:
        return [
            seg for seg in elf.iter_segments()
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] > 0
        ]
    except (ELFError, ValueError, EOFError) as exc:
        raise ImageFormatError(f"{label}: invalid ELF program headers: {exc}") from None


def _segment_bytes(seg, data: bytes, label: str) -> bytes:
    start, size = seg["p_offset"], seg["p_filesz"]
    if start + size > len(data):
        raise ImageFormatError(
            f"{label}: ELF segment at {seg['p_paddr']:#x} (file offset {start:#x}, {size:#x} bytes) "
            f"extends past the end of the file ({len(data):#x} bytes)"
        )
    return data[start:start + size]


def _section_names(elf: ELFFile, seg) -> list[str]:
    names = []
    try:
        for section in elf.iter_sections():
            if (
                section["sh_flags"] & SH_FLAGS.SHF_ALLOC
                and section["sh_type"] != "SHT_NOBITS"
                and section["sh_size"] > 0
                and seg.section_in_segment(section)
            ):
                names.append(section.name)
    except (ELFError, ValueError, EOFError):
        return []  # sections only give names; a broken table is not fatal
    return names


def read_elf(data: bytes, *, label: str, layout: Layout | None = None) -> FirmwareImage:
    elf = _open(data, label)
    loads = _loads(elf, label)
    if not loads:
        raise ImageFormatError(f"{label}: ELF file has no loadable segments with data")
    segments = [(seg["p_paddr"], _segment_bytes(seg, data, label)) for seg in loads]
    check_segments(segments, label)
    entry = elf.header["e_entry"]
    machine = elf.header["e_machine"]
    if layout is not None:
        image = image_from_segments(segments, layout=layout, label=label, kind="elf")
        image.details.update(entry=entry, machine=machine)
        return image
    partitions, contents, used = [], {}, set()
    for index, seg in sorted(enumerate(loads), key=lambda item: item[1]["p_paddr"]):
        sections = _section_names(elf, seg)
        base = _UNSAFE.sub("_", sections[0].lstrip(".")) if sections else ""
        name = base or f"load{index}"
        if name in used:
            name = f"{name}-{index}"
        used.add(name)
        executable = bool(seg["p_flags"] & P_FLAGS.PF_X)
        given = PartitionType.CODE if executable and name.lower() not in NAME_TYPES else None
        part, content = classify(
            name, seg["p_paddr"], _segment_bytes(seg, data, label),
            type=given, fallback=PartitionType.DATA,
        )
        partitions.append(part)
        contents[name] = content
    return make_image(partitions, contents, source="elf", kind="elf", label=label,
                  entry=entry, machine=machine)
