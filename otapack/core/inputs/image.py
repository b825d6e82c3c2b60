"""Building ``FirmwareImage`` objects: from a layout, an embedded table,
address/bytes segments, or as one partition.  Every input reader (raw,
ELF, HEX/S-record, PAC) ends here.

A raw binary is split by the layout when one is given, else by an embedded
partition table (``tables.EMBEDDED_TABLES``), else it is one partition named
``image``.
"""

from __future__ import annotations

from otapack.errors import ImageFormatError, LayoutError
from otapack.core.formats.wire_numbers import MAX_PARTITION_NAME_LENGTH
from otapack.core.model import FirmwareImage, ImageItem, Partition, PartitionType
from otapack.core.inputs.detect import DETECTORS, classify, detect_content
from otapack.core.inputs.layout import Layout, load_layout, sorted_layout
from otapack.core.inputs.tables import TableResult, find_table

#: A HEX/S-record file without a layout is flattened into one buffer; beyond
#: this span (gaps filled with the erased value) a layout is required.
MAX_FLAT_SPAN = 64 * 1024 * 1024

Segments = list[tuple[int, bytes]]
#: Package partition names are ASCII strings of at most
#: ``MAX_PARTITION_NAME_LENGTH`` bytes (wire_numbers); checked here so a bad
#: name fails before any build work, whatever reader produced it.


def check_names(partitions: list[Partition], label: str) -> None:
    for part in partitions:
        name = part.name
        if not name or any(not 0x20 <= ord(c) <= 0x7E for c in name):
            raise ImageFormatError(
                f"{label}: partition name {name[:64]!r} is not printable ASCII (package partition names are ASCII)"
            )
        if len(name) > MAX_PARTITION_NAME_LENGTH:
            raise ImageFormatError(f"{label}: partition name {name[:32]!r}... is {len(name)} bytes (at most {MAX_PARTITION_NAME_LENGTH})")


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
    items: list[ImageItem] = (),
    **details,
) -> FirmwareImage:
    check_names(partitions, label)
    info = {"label": label, "kind": kind, "content": {k: v for k, v in contents.items() if v}}
    info.update(details)
    return FirmwareImage(
        partitions=tuple(partitions),
        source=source,
        erase_block=erase_block,
        erased_value=erased_value,
        details=info,
        items=tuple(items),
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
            slot_size=lp.size, erased_value=layout.erased_value, arch=lp.extras.get("arch"),
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
                slot_size=lp.size, erased_value=fill, arch=lp.extras.get("arch"),
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
