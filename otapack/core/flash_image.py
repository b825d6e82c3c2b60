"""The flash image ``apply`` writes: every slot of the simulated device at its
address, over the bytes of ``--old`` that no partition covers.

- From a raw ``--old`` (a layout, a disk image with a GPT/MBR/ESP-IDF table,
  or one partition) the image starts where ``--old`` starts and keeps every
  byte no old partition covers (the partition table itself, gaps, a tail):
  ``old_background``.
- Without ``--old`` it starts at the layout's ``base_address`` (a blank
  device with that layout), else at the lowest slot.
- ``OUTPUT_FORMATS`` writes it as a flat binary, Intel HEX or S-record (the
  last two with the slots' absolute addresses, written with bincopy).

``expected-image`` (``otapack.core.verify``) compares the same slots with
NEW, so what ``verify --new`` proves is what this module writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from otapack.core.model import FirmwareImage, Partition
from otapack.errors import InputError, UsageError

#: A flat binary built without ``--old`` may span at most this much (hostile or
#: mistaken addresses must not make apply write gigabytes); HEX and S-record
#: are sparse and have no such limit.
MAX_BIN_SPAN = 256 * 1024 * 1024

Region = tuple[int, bytes]


@dataclass(frozen=True)
class Background:
    """The bytes of a raw ``--old`` image that no old partition covers."""

    base_address: int  # flash address of the image's byte 0
    unassigned: tuple[Region, ...]  # (address, bytes), in address order


@dataclass(frozen=True)
class FlashImage:
    """The device's slots after a restore (``data`` is the whole slot), in address order."""

    slots: tuple[Partition, ...]
    erased_value: int = 0xFF
    #: Address of byte 0 of the flat binary; None: the lowest slot.
    base_address: int | None = None
    background: Background | None = None
    #: Facts about what the image does not hold (a skipped partition with no slot).
    notes: tuple[str, ...] = ()

    def get(self, name: str) -> Partition | None:
        return next((p for p in self.slots if p.name == name), None)

    @property
    def partitions(self) -> tuple[Partition, ...]:
        return self.slots

    def regions(self) -> list[Region]:
        """Every byte the image defines, as (address, bytes), in address order."""
        pieces = [(p.address, p.data) for p in self.slots if p.data]
        if self.background is not None:
            pieces += [r for r in self.background.unassigned if r[1]]
        return sorted(pieces, key=lambda r: r[0])

    def span(self) -> tuple[int, int]:
        regions = self.regions()
        starts = [a for a, _ in regions] + ([self.base_address] if self.base_address is not None else [])
        low = min(starts, default=0)
        high = max([low] + [a + len(d) for a, d in regions])
        return low, high

    def to_bin(self) -> bytes:
        """One flat image from ``base_address``; bytes nothing defines are erased."""
        low, high = self.span()
        if self.background is None and high - low > MAX_BIN_SPAN:
            raise UsageError(
                f"the partitions span {low:#x}..{high:#x} ({high - low} bytes), more than a flat binary may "
                f"({MAX_BIN_SPAN}); write Intel HEX or S-record (they hold only the slots), or give the layout "
                f"or the old image", option="output_format")
        flat = bytearray([self.erased_value]) * (high - low)
        for address, data in self.regions():
            flat[address - low:address - low + len(data)] = data
        return bytes(flat)

    def encode(self, fmt: str) -> bytes:
        if not self.regions():
            raise InputError("nothing to write: the package restores no partition (it only lists skipped ones)")
        try:
            return OUTPUT_FORMATS[fmt].encode(self)
        except KeyError:
            raise UsageError(f"unknown output format {fmt!r} (choose from: {', '.join(OUTPUT_FORMATS)})",
                             option="output_format") from None


def _bincopy(image: FlashImage, method: str) -> bytes:
    import bincopy  # only when HEX or S-record is written

    binfile = bincopy.BinFile()
    for address, data in image.regions():
        binfile.add_binary(data, address=address)
    return getattr(binfile, method)().encode("ascii")


@dataclass(frozen=True)
class OutputFormat:
    name: str
    description: str
    encode: Callable[[FlashImage], bytes]


#: ``apply --format``: how the flash image is written.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    f.name: f for f in (
        OutputFormat("bin", "flat binary from the old image's start (or the layout's base address)",
                     FlashImage.to_bin),
        OutputFormat("hex", "Intel HEX at the absolute flash addresses", lambda image: _bincopy(image, "as_ihex")),
        OutputFormat("srec", "Motorola S-record (S3) at the absolute flash addresses",
                     lambda image: _bincopy(image, "as_srec")),
    )
}


def outside_slots(regions: tuple[Region, ...], background: Background | None, erased_value: int) -> Region | None:
    """The first of ``regions`` (bytes no partition covers in NEW) that the image
    apply writes does not hold: there it keeps ``background`` (OLD's bytes no
    partition covers), else erased.  Returns (address, NEW's bytes) or None."""
    kept = background.unassigned if background is not None else ()
    for address, data in regions:
        have = bytearray([erased_value]) * len(data)
        for k_address, k_data in kept:
            start, end = max(address, k_address), min(address + len(data), k_address + len(k_data))
            if start < end:
                have[start - address:end - address] = k_data[start - k_address:end - k_address]
        if have != data:
            first = next(i for i, (x, y) in enumerate(zip(have, data)) if x != y)
            return address + first, data
    return None


def old_background(old: FirmwareImage, raw: bytes, base_address: int) -> Background | None:
    """What of a raw ``--old`` image no partition covers, or None when ``raw`` is
    not the flash image ``old``'s partitions were cut from (ELF, HEX, PAC)."""
    if old.details.get("kind") != "raw":
        return None
    extents = []
    for p in old.partitions:
        offset = p.address - base_address
        if offset < 0 or raw[offset:offset + p.size] != p.data:
            return None
        extents.append((offset, offset + p.capacity))
    unassigned, position = [], 0
    for start, end in sorted(extents) + [(len(raw), len(raw))]:
        if start > position:
            unassigned.append((base_address + position, raw[position:start]))
        position = max(position, end)
    return Background(base_address, tuple(unassigned))


def load_flash_image(path, layout=None, what: str = "old image") -> tuple[FirmwareImage, Background | None]:
    """A firmware image (read as ``read_firmware`` reads it, from one read of
    the file) and, for a raw image, the bytes no partition covers."""
    from pathlib import Path

    from otapack.core.fileio import read_input
    from otapack.core.inputs import detect_kind, load_layout, read_firmware_bytes

    path = Path(path)
    data = read_input(path, what)
    image = read_firmware_bytes(data, layout=layout, kind=detect_kind(data, path.suffix), label=path.name or str(path))
    image.details["path"] = str(path)
    base = load_layout(layout).base_address if layout is not None and image.source == "layout" else 0
    return image, old_background(image, data, base)
