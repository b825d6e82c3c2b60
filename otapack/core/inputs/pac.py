"""Unisoc ``.pac`` firmware (8910: ECx00U/EGx15U, Air724U): flash images
become partitions; everything else becomes a named ``ImageItem``.

Each file entry is one of (checked in this order; docs/partitions.md):

- ``operation``: no data (``file_flag`` 0 or size 0): a download step
  (``FMT_FSSYS``, ``FLASH`` erase, ``PhaseCheck``);
- ``config``: ``file_flag`` 2, the ``BMAConfig`` XML (read for each flash
  image's slot size and each file's download type);
- ``loader``: a download loader run from RAM (``FDL``, ``FDL1``, ``FDL2``,
  ``HOST_FDL``, or an XML type naming an FDL);
- ``logical``: at a logical address 0xFE0000xx (``NV``, ``PREPACK``);
- otherwise a **flash image**: a partition named by its file ID at
  ``addresses[0]``, its slot the XML block size (or the layout's).

Flash images must not overlap or wrap past 4 GiB, must fit their block,
and their IDs must be valid partition names (ASCII); every violation, and
every malformed entry, is one ``ImageFormatError`` before any build work.
A layout, when given, is matched by name: it must agree with the PAC's
address and the XML's block size, and it supplies type and policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Container

from otapack.errors import ImageFormatError, LayoutError
from otapack.core.formats import pac
from otapack.core.model import FirmwareImage, ImageItem, ItemKind
from otapack.core.inputs.binparse import parse
from otapack.core.inputs.detect import classify
from otapack.core.inputs.layout import Layout, load_layout, valid_name
from otapack.core.inputs.image import make_image
from otapack.core.inputs.pac_config import SchemeFile, read_config

#: File IDs of download loaders (case-insensitive), besides XML types naming an FDL.
LOADER_IDS = frozenset({"fdl", "fdl1", "fdl2", "host_fdl", "nand_fdl"})


@dataclass(frozen=True)
class PacEntry:
    """One file entry, bounds-checked."""

    index: int  # 1-based, as in messages
    file_id: str
    file_name: str
    flag: int
    size: int
    offset: int
    addresses: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.file_id or self.file_name or f"entry{self.index}"

    @property
    def address(self) -> int | None:
        return self.addresses[0] if self.addresses else None


def _wide(hi: int, lo: int, wide: bool) -> int:
    return (hi << 32 | lo) if wide else lo


def _id_problem(text: str) -> str | None:
    if any(ord(c) > 0x7E for c in text):
        return "is not ASCII"
    if not valid_name(text):
        return "may only contain letters, digits, '_', '-' and '.'"
    return None


def _entries(data: bytes, label: str) -> tuple[Container, list[PacEntry]]:
    header = parse(pac.PacHeader, data, 0, what=f"{label}: PAC header")
    version = header.version
    if version not in pac.VERSIONS:
        raise ImageFormatError(
            f"{label}: unknown PAC version {version[:40]!r} (known: {', '.join(pac.VERSIONS)})"
        )
    wide = pac.VERSIONS[version]
    total = _wide(header.size_hi, header.size, wide)
    if total > len(data):
        raise ImageFormatError(f"{label}: PAC header says {total:#x} bytes but the file has {len(data):#x}")
    if header.file_count == 0:
        raise ImageFormatError(f"{label}: PAC file lists no files")
    if header.file_offset < pac.HEADER_SIZE:
        raise ImageFormatError(
            f"{label}: PAC file table at {header.file_offset:#x} overlaps the header ({pac.HEADER_SIZE:#x} bytes)"
        )
    table_end = header.file_offset + header.file_count * pac.ENTRY_SIZE
    if table_end > total:
        raise ImageFormatError(
            f"{label}: PAC file table ({header.file_count} entries at {header.file_offset:#x}) "
            f"extends past the end of the file ({total:#x} bytes)"
        )
    entries, seen = [], set()
    for index in range(1, header.file_count + 1):
        pos = header.file_offset + (index - 1) * pac.ENTRY_SIZE
        raw = parse(pac.PacFileEntry, data, pos, what=f"{label}: PAC file entry #{index}")
        where = f"{label}: PAC file entry #{index}"
        if raw.entry_size != pac.ENTRY_SIZE:
            raise ImageFormatError(f"{where} at {pos:#x} has size {raw.entry_size} (expected {pac.ENTRY_SIZE})")
        if raw.file_id:
            problem = _id_problem(raw.file_id)
            if problem:
                raise ImageFormatError(f"{where}: file ID {raw.file_id[:64]!r} {problem} (IDs name partitions)")
            if raw.file_id in seen:
                raise ImageFormatError(f"{label}: PAC lists file ID {raw.file_id!r} twice")
            seen.add(raw.file_id)
        name = raw.file_id or f"#{index}"
        if raw.file_flag not in pac.FILE_FLAGS:
            known = ", ".join(f"{k} {v}" for k, v in pac.FILE_FLAGS.items())
            raise ImageFormatError(f"{label}: PAC file {name!r} has file_flag {raw.file_flag} (known: {known})")
        if raw.address_count > pac.MAX_ADDRESSES:
            raise ImageFormatError(
                f"{label}: PAC file {name!r} has address_count {raw.address_count} (at most {pac.MAX_ADDRESSES})"
            )
        size = _wide(raw.size_hi, raw.size, wide)
        offset = _wide(raw.offset_hi, raw.data_offset, wide)
        if raw.file_flag == pac.FLAG_NO_DATA:
            size = 0  # a download step: whatever the size field says, nothing is read
        if size:
            if offset < table_end:
                raise ImageFormatError(
                    f"{label}: PAC file {name!r} data at {offset:#x} lies inside the header or file table "
                    f"(which end at {table_end:#x})"
                )
            if offset + size > total:
                raise ImageFormatError(
                    f"{label}: PAC file {name!r} data ({offset:#x}..{offset + size:#x}) extends past "
                    f"the end of the file ({total:#x} bytes)"
                )
        entries.append(PacEntry(index, raw.file_id, raw.file_name, raw.file_flag, size, offset,
                                tuple(raw.addresses[:raw.address_count])))
    return header, entries


def _kind(entry: PacEntry, config: dict[str, SchemeFile]) -> ItemKind | None:
    """The item kind of ``entry``, or None for a flash image."""
    if not entry.size:
        return ItemKind.OPERATION
    if entry.flag == pac.FLAG_CONFIG:
        return ItemKind.CONFIG
    scheme = config.get(entry.file_id)
    if entry.file_id.lower() in LOADER_IDS or (scheme is not None and "FDL" in scheme.type.upper()):
        return ItemKind.LOADER
    address = entry.address
    if address is not None and address & pac.LOGICAL_MASK == pac.LOGICAL_BASE:
        return ItemKind.LOGICAL
    return None


def _config(data: bytes, entries: list[PacEntry], product: str, label: str) -> dict[str, SchemeFile]:
    configs = [e for e in entries if e.flag == pac.FLAG_CONFIG and e.size]
    if len(configs) > 1:
        raise ImageFormatError(f"{label}: PAC holds {len(configs)} configuration XML entries (at most one)")
    if not configs:
        return {}
    entry = configs[0]
    return read_config(data[entry.offset:entry.offset + entry.size], product=product, what=label)


def _slot(entry: PacEntry, scheme: SchemeFile | None, label: str) -> int | None:
    """The block the XML gives a flash image (None when it gives none)."""
    if scheme is None:
        return None
    if scheme.base is not None and scheme.base != entry.address:
        raise ImageFormatError(
            f"{label}: PAC file {entry.file_id!r} is at {entry.address:#x} but the configuration XML puts "
            f"it at {scheme.base:#x}"
        )
    if not scheme.size:
        return None
    if entry.size > scheme.size:
        raise ImageFormatError(
            f"{label}: PAC file {entry.file_id!r} ({entry.size:#x} bytes) is larger than its "
            f"{scheme.size:#x}-byte block in the configuration XML"
        )
    return scheme.size


def _check_flash(spans: list[tuple[str, int, int]], label: str) -> None:
    """No wrap past 4 GiB and no overlap, on (name, address, extent)."""
    for name, address, extent in spans:
        if address + extent > pac.ADDRESS_SPACE:
            raise ImageFormatError(
                f"{label}: PAC file {name!r} ({address:#x} + {extent:#x} bytes) wraps past the end of "
                f"the 32-bit address space"
            )
    ordered = sorted(spans, key=lambda s: (s[1], s[2]))
    for (a, start_a, size_a), (b, start_b, size_b) in zip(ordered, ordered[1:]):
        if start_b < start_a + size_a:
            raise ImageFormatError(
                f"{label}: PAC file {b!r} ({start_b:#x}..{start_b + size_b:#x}) overlaps PAC file "
                f"{a!r} ({start_a:#x}..{start_a + size_a:#x})"
            )


def read_pac(data: bytes, *, label: str, layout: Layout | None = None) -> FirmwareImage:
    header, entries = _entries(data, label)
    config = _config(data, entries, header.product_name, label)
    if layout is not None:
        layout = load_layout(layout)
    items: list[ImageItem] = []
    flash: list[tuple[PacEntry, int, int | None]] = []  # entry, address, slot
    for entry in entries:
        kind = _kind(entry, config)
        lp = layout.get(entry.file_id) if layout is not None and entry.file_id else None
        if kind is not None:
            if lp is not None:
                raise LayoutError(
                    f"{label}: PAC file {entry.name!r} is a {kind.value} item, not a flash image, but "
                    f"{layout.source} lists it as partition {lp.name!r}"
                )
            items.append(ImageItem(name=entry.name, kind=kind, address=entry.address,
                                   data=data[entry.offset:entry.offset + entry.size], file_name=entry.file_name))
            continue
        if not entry.file_id:
            raise ImageFormatError(f"{label}: PAC file entry #{entry.index} has data but an empty file ID")
        address = entry.address
        if address is None and lp is None:
            raise ImageFormatError(
                f"{label}: PAC file {entry.file_id!r} has no flash address; give a layout that places it"
            )
        slot = _slot(entry, config.get(entry.file_id), label) if address is not None else None
        if lp is not None:
            expected = layout.address(lp)
            if address is not None and address != expected:
                raise LayoutError(
                    f"{label}: PAC file {entry.file_id!r} is at {address:#x} but {layout.source} puts "
                    f"partition {lp.name!r} at {expected:#x}"
                )
            if slot is not None and slot != lp.size:
                raise LayoutError(
                    f"{label}: {layout.source} gives partition {lp.name!r} a {lp.size:#x}-byte slot but the "
                    f"PAC's configuration XML gives it {slot:#x}"
                )
            if entry.size > lp.size:
                raise LayoutError(
                    f"{label}: PAC file {entry.file_id!r} ({entry.size:#x} bytes) does not fit partition "
                    f"{lp.name!r} of {layout.source} ({lp.size:#x} bytes)"
                )
            address, slot = expected, lp.size
        flash.append((entry, address, slot))
    _check_flash([(e.file_id, a, max(e.size, s or 0)) for e, a, s in flash], label)
    if not flash:
        raise ImageFormatError(f"{label}: PAC file has no flash images (only {len(items)} non-flash items)")
    partitions, contents = [], {}
    for entry, address, slot in flash:
        lp = layout.get(entry.file_id) if layout is not None else None
        kwargs = {}
        if lp is not None:
            kwargs = dict(type=lp.type if lp.type_given else None, policy=lp.policy if lp.policy_given else None,
                          erased_value=layout.erased_value)
        part, content = classify(entry.file_id, address, data[entry.offset:entry.offset + entry.size],
                                 slot_size=slot, **kwargs)
        partitions.append(part)
        contents[entry.file_id] = content
    extra = {}
    if layout is not None:
        # the device's layout is the whole layout, not only the slots the PAC fills
        extra = dict(erase_block=layout.erase_block, erased_value=layout.erased_value, layout=layout.source,
                     layout_slots=tuple((lp.name, layout.address(lp), lp.size) for lp in layout.partitions))
    return make_image(
        partitions, contents, source="pac", kind="pac", label=label, items=items,
        pac_version=header.version, product=header.product_name, product_version=header.product_version,
        config=bool(config), **extra,
    )
