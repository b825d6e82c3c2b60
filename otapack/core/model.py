"""The in-memory firmware model every image input is turned into.

A ``FirmwareImage`` is an ordered list of named ``Partition`` objects, each
with its flash address, bytes, type and upgrade policy.  Readers for raw
images, layouts, embedded tables, ELF, HEX/S-record and PAC all produce it;
the package builders and the restore only ever see this model.
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

    def names(self) -> list[str]:
        return [p.name for p in self.partitions]

    def get(self, name: str) -> Partition | None:
        for p in self.partitions:
            if p.name == name:
                return p
        return None

    @classmethod
    def single(cls, data: bytes, *, name: str = "image", address: int = 0) -> "FirmwareImage":
        """A whole image as one code partition: the simple case stays simple."""
        return cls(partitions=(Partition(name=name, address=address, data=bytes(data)),))
