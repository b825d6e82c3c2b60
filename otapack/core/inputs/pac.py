"""Unisoc ``.pac`` firmware (ECx00U/EGx15U): file entries become partitions.

Every file entry with data (``file_flag`` != 0 and a size) is a partition
named by its file ID (FDL1, FDL2, BOOTLOADER, APPIMG, PS, NV, PY_FS_U,
PY_FS_B, ...) at ``addresses[0]`` (0 when the entry has no address), in
the PAC's own order.  Entries without data are download operations (erase,
format) and are listed in ``details["operations"]``.  A layout, when given,
is matched by name: it must agree with the PAC's address, the data must fit
the slot, and it supplies slot size, type and policy.
"""

from __future__ import annotations

from otapack.errors import ImageFormatError, LayoutError
from otapack.core.formats import pac
from otapack.core.model import FirmwareImage
from otapack.core.inputs.binparse import parse
from otapack.core.inputs.detect import classify
from otapack.core.inputs.layout import Layout, load_layout
from otapack.core.inputs.image import make_image


def _wide(hi: int, lo: int, version: str) -> int:
    return (hi << 32 | lo) if version.startswith("BP_R2") else lo


def read_pac(data: bytes, *, label: str, layout: Layout | None = None) -> FirmwareImage:
    header = parse(pac.PacHeader, data, 0, what=f"{label}: PAC header")
    version = header.version
    total = _wide(header.size_hi, header.size, version)
    if total > len(data):
        raise ImageFormatError(f"{label}: PAC header says {total:#x} bytes but the file has {len(data):#x}")
    table_end = header.file_offset + header.file_count * pac.ENTRY_SIZE
    if header.file_count == 0:
        raise ImageFormatError(f"{label}: PAC file lists no files")
    if table_end > len(data):
        raise ImageFormatError(
            f"{label}: PAC file table ({header.file_count} entries at {header.file_offset:#x}) "
            f"extends past the end of the file ({len(data):#x} bytes)"
        )
    if layout is not None:
        layout = load_layout(layout)
    partitions, contents, operations, seen = [], {}, [], set()
    for index in range(header.file_count):
        pos = header.file_offset + index * pac.ENTRY_SIZE
        entry = parse(pac.PacFileEntry, data, pos, what=f"{label}: PAC file entry #{index + 1}")
        if entry.entry_size != pac.ENTRY_SIZE:
            raise ImageFormatError(
                f"{label}: PAC file entry #{index + 1} at {pos:#x} has size {entry.entry_size} "
                f"(expected {pac.ENTRY_SIZE})"
            )
        file_id = entry.file_id
        size = _wide(entry.size_hi, entry.size, version)
        if not entry.file_flag or not size:
            operations.append(file_id)
            continue
        if not file_id:
            raise ImageFormatError(f"{label}: PAC file entry #{index + 1} has an empty file ID")
        if file_id in seen:
            raise ImageFormatError(f"{label}: PAC lists file ID {file_id!r} twice")
        seen.add(file_id)
        offset = _wide(entry.offset_hi, entry.data_offset, version)
        if offset + size > len(data):
            raise ImageFormatError(
                f"{label}: PAC file {file_id!r} data ({offset:#x}..{offset + size:#x}) extends past "
                f"the end of the file ({len(data):#x} bytes)"
            )
        has_address = entry.address_count >= 1
        address = entry.addresses[0] if has_address else 0
        chunk = data[offset:offset + size]
        kwargs = {}
        lp = layout.get(file_id) if layout is not None else None
        if lp is not None:
            expected = layout.address(lp)
            if has_address and address != expected:
                raise LayoutError(
                    f"{label}: PAC file {file_id!r} is at {address:#x} but {layout.source} puts "
                    f"partition {file_id!r} at {expected:#x}"
                )
            if size > lp.size:
                raise LayoutError(
                    f"{label}: PAC file {file_id!r} ({size:#x} bytes) does not fit partition "
                    f"{file_id!r} of {layout.source} ({lp.size:#x} bytes)"
                )
            address = expected
            kwargs = dict(
                type=lp.type if lp.type_given else None,
                policy=lp.policy if lp.policy_given else None,
                slot_size=lp.size,
                erased_value=layout.erased_value,
            )
        part, content = classify(file_id, address, chunk, **kwargs)
        partitions.append(part)
        contents[file_id] = content
    if not partitions:
        raise ImageFormatError(f"{label}: PAC file has no file entries with data")
    extra = {}
    if layout is not None:
        extra = dict(erase_block=layout.erase_block, erased_value=layout.erased_value, layout=layout.source)
    return make_image(
        partitions, contents, source="pac", kind="pac", label=label,
        pac_version=version, product=header.product_name, product_version=header.product_version,
        operations=operations, **extra,
    )
