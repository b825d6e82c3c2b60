"""The C journaled restore (device/src/ota_restore_journal.c) on the device's own NOR flash.

``c_engine.run`` hands a device with a ``ResumeArea`` here: the C library's
flash port calls back into Python (ctypes) for every read, program and
erase, on the very ``NorFlash`` objects and ``Power`` the Python restore
and the power-cut sweep use: partitions, the scratch area and the journal.
So a cut, a torn program or erase and the operation counter are the same
for both restores.  A ``PowerLost`` raised inside a callback returns
``OTA_ERR_FLASH_POWER_CUT`` to the C library, which stops at once; it is
raised again here, as a device loses its supply whichever restore runs.

Each area's erase sectors (uniform, or a map such as ``nor.SECTOR_MAPS``'
``stm32f4``) are handed to the C port as they are, so both restores work
sector by sector on the same flash.  Standard library only.
"""

from __future__ import annotations

import ctypes

from otapack.core.formats.wire_numbers import HAS_PAYLOAD, JOURNAL_AREAS
from otapack.core.restore import resume
from otapack.core.restore.flash import FlashFault
from otapack.core.restore.nor import NorFlash, PowerLost

#: C statuses the callbacks return (ota_status.h).
_FLASH_IO, _POWER_CUT = -36, -37
#: resume.FAULTS, IN_PLACE_FAULTS and DOWNLOAD_FAULTS -> enum ota_journal_fault.
FAULT_CODES = {None: 0, "record-before-program": 1, "no-entry-record": 2, "skip-swap": 3, "skip-copy": 4}
assert set(FAULT_CODES) - {None} == set(resume.FAULTS + resume.IN_PLACE_FAULTS + resume.DOWNLOAD_FAULTS)


def _nor(flash) -> bool:
    return isinstance(flash, NorFlash)


def check_device(device, error) -> None:
    """The journaled devices the C restore runs on (``error(message)`` makes the UsageError)."""
    area = device.resume
    flashes = [p.flash for p in device.partitions.values()] + [area.scratch, area.journal.flash]
    if not all(_nor(f) for f in flashes):
        raise error("the C journaled restore runs on NOR flash (otapack.core.restore.nor)")
    sectors = area.journal.flash.sectors
    if len(sectors) < JOURNAL_AREAS or len({size for _, size in sectors[:JOURNAL_AREAS]}) != 1:
        raise error(f"the journal needs {JOURNAL_AREAS} sectors of one size")


def _sector_tables(flashes: list, block: int):
    """Every area's sector sizes, one after the other, and their counts (ota_host_request)."""
    sizes, counts = [], []
    for flash in flashes:
        own = [size for _, size in flash.sectors] if flash is not None else [block]
        sizes += own
        counts.append(len(own))
    return (ctypes.c_uint32 * len(sizes))(*sizes), (ctypes.c_uint32 * len(counts))(*counts)


class _Port:
    """The callbacks: area i < n a partition, n the download area, n+1 scratch, n+2 journal."""

    def __init__(self, ce, flashes: list, package: bytes, download: int, erased: int, block: int):
        self.flashes, self.package, self.download, self.erased, self.block = flashes, package, download, erased, block
        self.lost: PowerLost | None = None
        self.error: BaseException | None = None
        self.fault: str | None = None
        self.read, self.write, self.erase = ce._READ(self._read), ce._WRITE(self._write), ce._ERASE(self._erase)

    def _guard(self, operation) -> int:
        if self.lost is not None or self.error is not None:  # the supply is gone: nothing more happens
            return _POWER_CUT
        try:
            operation()
        except PowerLost as exc:
            self.lost = exc
            return _POWER_CUT
        except FlashFault as exc:  # a flash rule broken: a resource failure in both restores
            self.fault = str(exc)
            return _FLASH_IO
        except BaseException as exc:  # noqa: BLE001 - re-raised after the C call returns
            self.error = exc
            return _FLASH_IO
        return 0

    def _read(self, _user, area, offset, buf, length) -> int:
        def go():
            if area == self.download:
                data = self.package[offset : offset + length]
                data += bytes([self.erased]) * (length - len(data))
            else:
                data = self.flashes[area].read(offset, length)
            ctypes.memmove(buf, data, length)
        return self._guard(go)

    def _write(self, _user, area, offset, buf, length) -> int:
        return self._guard(lambda: self.flashes[area].write(offset, ctypes.string_at(buf, length)))

    def _erase(self, _user, area, offset, length) -> int:
        def go():  # one erase per sector of the range, as the port's chip does it
            at = offset
            while at < offset + length:
                start, size = self.flashes[area].sector_at(at)
                self.flashes[area].erase_at(at)
                at = start + size
        return self._guard(go)


def run(device, package: bytes, ce):
    """One boot of the C journaled restore on ``device``: a ``RestoreResult``, or
    ``PowerLost``.  ``ce`` is ``c_engine`` (its library and structs; passed in,
    so the modules import one way only)."""
    lib = ce.library()
    area, block = device.resume, device.erase_block
    header = ce._header(package)
    entries = header.entries if header else []
    missing = sorted({e.name for e in entries if e.name not in device.partitions})
    if missing and device.create_missing:
        raise ce._engine_error(f"the C journaled restore needs every slot on the device ({', '.join(missing)} "
                               f"missing)")
    parts = list(device.partitions.values())
    names = [p.name.encode("ascii", "replace") for p in parts]
    table = (ce._Partition * max(len(parts), 1))()
    for i, p in enumerate(parts):
        table[i] = ce._Partition(names[i], p.address, p.size, p.flash.size, 0, p.resizable, None)
    n = len(parts)
    download = [i for i, p in enumerate(parts) if p.name in area.download]
    if len(area.download) > 1 or len(download) < len(area.download):
        raise ce._engine_error("the C journaled restore takes a download area of one partition slot")
    port = _Port(ce, [p.flash for p in parts] + [None, area.scratch, area.journal.flash], package, n,
                 device.erased_value, block)
    pkg = ce._buffer(package, len(package))
    sector_sizes, sector_counts = _sector_tables(port.flashes, block)
    fields, _alive = ce._device_fields(device, layout_known=device.layout_digest() is not None)
    req = ce._Request(
        package=ctypes.cast(pkg, ctypes.POINTER(ctypes.c_uint8)), package_length=len(package),
        partition_count=n, partitions=table, erase_block=block, write_align=1,
        erased_value=device.erased_value, scratch_size=area.scratch.size,
        workspace_size=ce._workspace(device, package), receive=0, receive_piece=0, journal=1,
        journal_size=area.journal.flash.size, journal_fault=FAULT_CODES[area.fault],
        flash_read=port.read, flash_write=port.write, flash_erase=port.erase,
        package_partition=download[0] + 1 if download else 0,
        sector_sizes=ctypes.cast(sector_sizes, ctypes.POINTER(ctypes.c_uint32)),
        sector_counts=ctypes.cast(sector_counts, ctypes.POINTER(ctypes.c_uint32)), **fields)
    res = ce._Result()
    lib.ota_host_restore(ctypes.byref(req), ctypes.byref(res))
    if port.error is not None:
        raise port.error
    if port.lost is not None:
        raise port.lost
    if res.failure_check == 14 and res.status < 0:
        raise RuntimeError(f"C restore refused its configuration: {ce.status_name(res.status)}")
    targets = {e.name: e.target_size for e in entries if e.operation in HAS_PAYLOAD}
    for i, p in enumerate(parts):
        if res.written_mask >> i & 1:
            p.written = True
            if p.resizable and p.name in targets:
                p.size = targets[p.name]
    result = ce._result(res, header, device, parts)
    if port.fault and result.error is not None:
        result.error = type(result.error)(f"{result.error}: {port.fault}")
    return result

