"""The in-memory firmware model every image input is turned into.

A ``FirmwareImage`` is an ordered list of named ``Partition`` objects, each
with its flash address, bytes, type and upgrade policy.  Readers for raw
images, layouts, embedded tables, ELF, HEX/S-record and PAC all produce it;
the package builders and the restore only ever see this model.

Some containers (Unisoc ``.pac``) also carry things that are not flash
images: download loaders, items for logical targets (NV, file-system
pre-pack), their own configuration, and data-less download steps.  They are
``ImageItem`` objects in ``FirmwareImage.items``: named and reported, never
partitions, handled by ``ITEM_HANDLING`` (docs/partitions.md).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field


class PartitionType(enum.Enum):
    """What a partition holds; decides the default upgrade policy."""

    CODE = "code"
    BOOTLOADER = "bootloader"
    DATA = "data"
    FILESYSTEM = "filesystem"
    NV = "nv"
    ERASED = "erased"
    UNKNOWN = "unknown"


class Policy(enum.Enum):
    """How a partition is upgraded (seed: file systems only in full)."""

    DELTA = "delta"  # patch against the old partition when smaller
    FULL = "full"  # always carried in full
    KEEP = "keep"  # must be identical in old and new; only checked
    SKIP = "skip"  # never touched (factory calibration, NV)


#: Default policy by type, following the seed: program images never change on
#: the device so they can be patched; file systems change after boot so they
#: travel in full; factory/NV data is left alone.
DEFAULT_POLICY: dict[PartitionType, Policy] = {
    PartitionType.CODE: Policy.DELTA,
    PartitionType.BOOTLOADER: Policy.DELTA,
    PartitionType.DATA: Policy.DELTA,
    PartitionType.FILESYSTEM: Policy.FULL,
    PartitionType.NV: Policy.SKIP,
    PartitionType.ERASED: Policy.DELTA,
    PartitionType.UNKNOWN: Policy.DELTA,
}


@dataclass(frozen=True)
class Partition:
    name: str
    address: int
    data: bytes
    type: PartitionType = PartitionType.CODE
    policy: Policy = Policy.DELTA
    #: Size of the partition slot in flash; the data may be shorter.
    slot_size: int | None = None
    #: Instruction set of the code, when known (a layout's ``arch`` key, an
    #: ELF's e_machine): what ``--arch auto`` re-aims in a delta-v2 patch.
    arch: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def capacity(self) -> int:
        return self.slot_size if self.slot_size is not None else len(self.data)

    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()

    def padded(self, erased_value: int = 0xFF) -> bytes:
        """The whole slot as flash holds it: the data, then erased bytes to the slot's end."""
        return self.data + bytes([erased_value]) * (self.capacity - self.size)


class ItemKind(enum.Enum):
    """What a non-flash item of a firmware container is."""

    LOADER = "loader"  # run from RAM by the cable download tool (FDL): never flashed
    LOGICAL = "logical"  # written by the download tool to a logical target (NV, pre-pack)
    CONFIG = "config"  # the container's own configuration (download scheme)
    OPERATION = "operation"  # a download step without data (erase, format, phase check)


#: What a package does with each kind of item, and why (docs/partitions.md):
#: an OTA package runs on the module's own firmware, not through the cable
#: download tool, so none of them is written by it.
ITEM_HANDLING: dict[ItemKind, tuple[str, str]] = {
    ItemKind.LOADER: ("skip", "download loader: runs from RAM during a cable download, never flashed"),
    ItemKind.LOGICAL: ("skip", "logical target written by the download tool (NV merges the device's "
                               "calibration; a pre-pack fills the file system), not a flash address"),
    ItemKind.CONFIG: ("skip", "download configuration: read for slot sizes and types, not flashed"),
    ItemKind.OPERATION: ("skip", "cable-download step without data (erase, format): an OTA never "
                                 "erases NV or formats the file system"),
}


@dataclass(frozen=True)
class ImageItem:
    """A named part of a firmware container that is not a flash image."""

    name: str
    kind: ItemKind
    #: Where the container says it goes (a RAM or logical address), if anywhere.
    address: int | None = None
    data: bytes = b""
    #: The file it was made from, as the container records it.
    file_name: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def handling(self) -> str:
        return ITEM_HANDLING[self.kind][0]

    @property
    def reason(self) -> str:
        return ITEM_HANDLING[self.kind][1]

    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


@dataclass(frozen=True)
class FirmwareImage:
    """A firmware split into partitions, plus where the split came from."""

    partitions: tuple[Partition, ...]
    #: How the partitions were found: "single", "layout", "esp-idf", "gpt",
    #: "mbr", "elf", "ihex", "srec", "pac", ...
    source: str = "single"
    erase_block: int = 4096
    erased_value: int = 0xFF
    details: dict = field(default_factory=dict, compare=False)
    #: Non-flash items of the container (PAC loaders, NV, configuration, ...).
    items: tuple[ImageItem, ...] = ()

    def names(self) -> list[str]:
        return [p.name for p in self.partitions]

    def slot_records(self) -> tuple[tuple[str, int, int], ...] | None:
        """(name, address, slot size) of the device layout this image was read
        with, which a ``layout-digest`` covers: the layout's every slot when a
        container holds only some of them (a PAC read with a layout), else
        every partition's slot; None when a slot is unknown."""
        layout = self.details.get("layout_slots")
        if layout is not None:
            return tuple(layout)
        if self.partitions and all(p.slot_size is not None for p in self.partitions):
            return tuple((p.name, p.address, p.slot_size) for p in self.partitions)
        return None

    def get(self, name: str) -> Partition | None:
        for p in self.partitions:
            if p.name == name:
                return p
        return None

    @classmethod
    def single(cls, data: bytes, *, name: str = "image", address: int = 0) -> "FirmwareImage":
        """A whole image as one code partition: the simple case stays simple."""
        return cls(partitions=(Partition(name=name, address=address, data=bytes(data)),))
