"""ELF firmware (pyelftools): loadable segments placed at physical addresses.

Only ``PT_LOAD`` segments with file data count (``.bss`` is not in flash);
each is placed at its ``p_paddr`` (the load address, which is where it sits
in flash).  With a layout, the segments are cut into the layout's partitions
(gaps erased).  Without one they are flattened into one image from the
lowest load address, gaps erased, exactly as HEX and S-record data are: a
typical MCU build stores ``.data``'s initialisers right after ``.text``, so
when ``.text`` grows ``.data`` moves, and one image keeps the partition
structure of old and new the same.  Which ELF files are firmware at all is
decided by ``kinds.elf_is_firmware`` (content only).
"""

from __future__ import annotations

import io
from dataclasses import replace

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from otapack.errors import ImageFormatError
from otapack.core.model import FirmwareImage, PartitionType
from otapack.core.inputs.layout import Layout
from otapack.core.inputs.image import check_segments, image_from_segments


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


def read_elf(data: bytes, *, label: str, layout: Layout | None = None) -> FirmwareImage:
    elf = _open(data, label)
    loads = _loads(elf, label)
    if not loads:
        raise ImageFormatError(f"{label}: ELF file has no loadable segments with data")
    segments = [(seg["p_paddr"], _segment_bytes(seg, data, label)) for seg in loads]
    check_segments(segments, label)
    image = image_from_segments(segments, layout=layout, label=label, kind="elf")
    image.details.update(entry=elf.header["e_entry"], machine=elf.header["e_machine"],
                         segments=[[address, len(chunk)] for address, chunk in sorted(segments)])
    arch = elf_arch(elf.header["e_machine"], elf.header["e_entry"])
    if arch is None:
        return image
    return replace(image, partitions=tuple(
        replace(p, arch=p.arch or arch) if p.type in (PartitionType.CODE, PartitionType.BOOTLOADER) else p
        for p in image.partitions))


def elf_arch(machine: str, entry: int) -> str | None:
    """The delta-v2 transform set of an ELF's code: ARM with a Thumb entry
    point (bit 0 set) is Thumb-2, else A32; AArch64; None for the rest."""
    if machine == "EM_ARM":
        return "thumb2" if entry & 1 else "arm32"
    return "aarch64" if machine == "EM_AARCH64" else None
