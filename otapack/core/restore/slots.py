"""The device's slots: one per partition, and the bounds of those a restore
writes (the ``table`` check).

Flash addresses are 32-bit, so a slot ends at or below 2^32, and no slot
the package writes may overlap another slot of the device.  Both rules are
written so a device computes them in 32-bit arithmetic without overflow.
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.restore.flash import SimFlash
from otapack.errors import IncompatibleDeviceError


@dataclass
class DevicePartition:
    """One slot of the device's flash: ``size`` bytes at ``address``, in ``flash``
    (bytes never written read as erased).  A package names how many of them
    it checks or writes; a restore leaves the rest of the slot erased."""

    name: str
    address: int
    flash: SimFlash
    size: int  # bytes of the slot
    #: The slot is not known (an image read without a layout or table): it ends
    #: where its content ends, and a restore that writes it sets it to the target.
    resizable: bool = False
    #: Erased or written by a restore on this device (``expected-image`` checks
    #: that a slot the new image does not have was not).
    written: bool = False

    def read(self) -> bytes:
        return self.flash.read(0, self.size)


#: Flash addresses are 32-bit: a slot ends at or below 2^32.
ADDRESS_SPACE = 1 << 32

Extent = tuple[str, int, int]  # (name, address, bytes)


def extent(name: str, address: int, size: int) -> Extent:
    """A slot the restore writes; refused when it would run past the address space."""
    if size > ADDRESS_SPACE - address:  # subtraction form
        raise IncompatibleDeviceError(
            f"partition {name!r}: {size} bytes at {address:#x} run past the 32-bit flash address space"
        )
    return name, address, size


def overlap(a: int, a_size: int, b: int, b_size: int) -> bool:
    """[a, a + a_size) and [b, b + b_size) share a byte (differences only: no overflow)."""
    if not a_size or not b_size:
        return False
    return a - b < b_size if a >= b else b - a < a_size


def check_overlaps(written: list[Extent], device_slots: list[Extent]) -> None:
    """No written slot overlaps another written slot or another slot of the device
    (a written slot replaces the device's extent of the same name)."""
    after = {name: (address, size) for name, address, size in device_slots}
    after.update({name: (address, size) for name, address, size in written})
    for name, address, size in written:
        for other, (o_address, o_size) in after.items():
            if other != name and overlap(address, size, o_address, o_size):
                raise IncompatibleDeviceError(
                    f"partition {name!r} ({address:#x}..{address + size:#x}) would overlap partition {other!r} "
                    f"({o_address:#x}..{o_address + o_size:#x})"
                )
