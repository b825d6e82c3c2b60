"""The C restore (device/) run on the simulated device, through ctypes.

The device library and its host driver (``device/port/host/ota_restore_host.c``)
are compiled once into a shared library under a cache directory
(``$OTAPACK_DEVICE_CACHE``, else ``~/.cache/otapack``), keyed by the SHA-256 of
their sources, and loaded with ctypes: no build step at ``pip install``, so a
machine without a C compiler still installs otapack and only ``--engine c``
needs one (and OpenSSL's libcrypto headers, Debian ``libssl-dev``).

``run(device, package)`` runs the C restore on ``device`` (its partitions,
geometry and what it knows about itself, exactly what the Python restore
gets), writes the flash it ends with back into the device and returns a
``RestoreResult`` with the same check list, error class and failure record
as the Python restore gives.  Standard library only.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import otapack.errors as errors
from otapack.core.formats.wire_numbers import (HAS_PAYLOAD, IN_PLACE_OPERATIONS, MAX_ERASE_BLOCK, MAX_IN_PLACE_SAVES,
                                               MIN_ERASE_BLOCK, STAGED_DELTA_OPERATIONS)
from otapack.core.restore import wire
from otapack.core.restore.checks import Check, CheckStatus, Failure, RestoreResult
from otapack.core.restore.engine import CHECKS
from otapack.core.restore import c_journal
from otapack.core.restore.flash import SimFlash

DEVICE = Path(__file__).resolve().parents[3] / "device"
_SOURCES = ("src/ota_lzma2.c", "src/ota_decoder_lzma2.c", "src/ota_sha256.c", "src/ota_crc32.c",
            "src/ota_crypto.c", "src/ota_flash.c", "src/ota_status.c", "src/ota_restore.c",
            "src/ota_restore_apply.c", "src/ota_journal.c", "src/ota_restore_journal.c", "src/ota_receive.c",
            "src/ota_transform.c", "src/ota_in_place.c", "port/host/ota_port_openssl.c",
            "port/host/ota_simflash.c", "port/host/ota_restore_host.c")
#: OTA_JOURNAL_FAULTS: the host build carries the journal's negative controls (resume.FAULTS).
_FLAGS = ("-std=c99", "-O2", "-shared", "-fPIC", "-Iinclude", "-Iport/host", "-DOTA_JOURNAL_FAULTS=1")
NO_LIMIT = 0xFFFFFFFF
#: Beyond what any package can make the C restore hold (a 64 MiB dictionary,
#: the largest model, tuple array, window and write buffer): the workspace a
#: device without a RAM budget gives a package declaring more.
_WORKSPACE_CAP = 72 << 20
_WORKSPACE_SLACK = 32768  # OTA_RESTORE_WORKSPACE_SLACK
_MAX_PARTITIONS = 32
#: The largest slot a device of unknown layout is given in host memory (the
#: Python restore's flash is lazy; the C restore's simulated flash is not).
_SIMULATED_SLOT = 64 << 20
#: C status names of the restore's error classes -> the Python classes.
ERROR_CLASSES = {
    "truncated": errors.TruncatedPackageError, "format": errors.PackageFormatError,
    "version": errors.UnsupportedVersionError, "integrity": errors.IntegrityError,
    "corrupt-patch": errors.CorruptPatchError, "signature": errors.SignatureError,
    "rollback": errors.RollbackError, "incompatible": errors.IncompatibleDeviceError,
    "chain-mismatch": errors.ChainMismatchError, "chain-state": errors.ChainStateError,
    "precursor": errors.PrecursorMismatchError, "target": errors.TargetMismatchError,
    "resource": errors.ResourceLimitError,
}
_STATUS = {0: CheckStatus.PASS, 1: CheckStatus.FAIL, 2: CheckStatus.SKIPPED}


def error_class(exc: BaseException) -> str:
    """The C name of the error class ``exc`` belongs to (a FlashFault is a resource failure)."""
    for cls in type(exc).__mro__:
        for name, known in ERROR_CLASSES.items():
            if cls is known:
                return name
    return type(exc).__name__


class _Key(ctypes.Structure):
    _fields_ = [("algorithm", ctypes.c_uint8), ("key_id", ctypes.c_uint8 * 8),
                ("key", ctypes.POINTER(ctypes.c_uint8)), ("key_len", ctypes.c_size_t)]


class _Partition(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("address", ctypes.c_uint32), ("slot_size", ctypes.c_uint32),
                ("flash_size", ctypes.c_uint32), ("data_length", ctypes.c_uint32),
                ("resizable", ctypes.c_uint32), ("data", ctypes.POINTER(ctypes.c_uint8))]


_READ = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                         ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)
_WRITE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                          ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)
_ERASE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)


class _Request(ctypes.Structure):
    _fields_ = [("package", ctypes.POINTER(ctypes.c_uint8)), ("package_length", ctypes.c_uint32),
                ("partition_count", ctypes.c_uint32), ("partitions", ctypes.POINTER(_Partition)),
                ("erase_block", ctypes.c_uint32), ("write_align", ctypes.c_uint32),
                ("erased_value", ctypes.c_uint32), ("scratch_size", ctypes.c_uint32),
                ("workspace_size", ctypes.c_uint64), ("download_capacity", ctypes.c_uint32),
                ("minimal_download_capacity", ctypes.c_uint32), ("ram_budget", ctypes.c_uint32),
                ("model", ctypes.c_char_p), ("hardware_id", ctypes.c_char_p),
                ("check_security_counter", ctypes.c_int32), ("security_counter", ctypes.c_uint32),
                ("layout_known", ctypes.c_int32), ("expect_next", ctypes.c_int32),
                ("next_package", ctypes.c_uint8 * 32), ("require_signature", ctypes.c_int32),
                ("key_count", ctypes.c_uint32), ("keys", ctypes.POINTER(_Key)),
                ("disabled_checks", ctypes.c_uint32), ("openssl_hash", ctypes.c_int32),
                ("receive", ctypes.c_int32), ("receive_piece", ctypes.c_uint32),
                ("journal", ctypes.c_int32), ("journal_size", ctypes.c_uint32), ("journal_fault", ctypes.c_uint32),
                ("flash_user", ctypes.c_void_p), ("flash_read", _READ), ("flash_write", _WRITE),
                ("flash_erase", _ERASE), ("package_partition", ctypes.c_uint32),
                ("sector_sizes", ctypes.POINTER(ctypes.c_uint32)),
                ("sector_counts", ctypes.POINTER(ctypes.c_uint32))]


class _Result(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int32), ("failure_check", ctypes.c_int32),
                ("failure_status", ctypes.c_int32), ("failure_cause", ctypes.c_int32),
                ("failure_partition", ctypes.c_int32), ("failure_window", ctypes.c_int64),
                ("failure_tuple", ctypes.c_int64), ("failure_offset", ctypes.c_int64),
                ("check_status", ctypes.c_uint8 * 14), ("written_mask", ctypes.c_uint32),
                ("blocks_erased", ctypes.c_uint32), ("bytes_written", ctypes.c_uint32),
                ("tuples", ctypes.c_uint32), ("diff_pairs", ctypes.c_uint32), ("steps", ctypes.c_uint32),
                ("has_next", ctypes.c_int32), ("next_package", ctypes.c_uint8 * 32),
                ("body_sha256", ctypes.c_uint8 * 32), ("flash_ops", ctypes.c_uint32),
                ("writes_before_restore", ctypes.c_uint32), ("writes_outside", ctypes.c_uint32),
                ("violations", ctypes.c_uint32), ("first_write_check", ctypes.c_int32),
                ("max_step_erased", ctypes.c_uint32), ("max_step_programmed", ctypes.c_uint32),
                ("package_bytes_read", ctypes.c_uint32), ("receive_check", ctypes.c_int32)]


def _engine_error(message: str) -> errors.UsageError:
    return errors.UsageError(f"--engine c: {message}", option="engine")


def library_path() -> Path:
    """The shared library, compiled on first use (UsageError when it cannot be)."""
    if not (DEVICE / _SOURCES[0]).is_file():
        raise _engine_error(f"the C restore's sources are not at {DEVICE} (a source checkout is needed)")
    digest = hashlib.sha256(" ".join(_FLAGS).encode())
    for path in sorted(DEVICE.glob("include/**/*.h")) + sorted(DEVICE.glob("port/host/*.h")) + \
            sorted(DEVICE.glob("src/*.h")) + [DEVICE / s for s in _SOURCES]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    cache = Path(os.environ.get("OTAPACK_DEVICE_CACHE") or Path.home() / ".cache" / "otapack")
    target = cache / f"libotarestore-{digest.hexdigest()[:16]}.so"
    if target.is_file():
        return target
    cc = os.environ.get("CC") or "cc"
    if shutil.which(cc) is None:
        raise _engine_error(f"no C compiler ({cc}) to build the C restore: install gcc and libssl-dev")
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".so.tmp")
    os.close(fd)
    try:
        proc = subprocess.run([cc, *_FLAGS, *_SOURCES, "-o", tmp, "-lcrypto"], cwd=DEVICE, capture_output=True,
                              text=True)
        if proc.returncode:
            raise _engine_error(f"building the C restore failed (is libssl-dev installed?): "
                                f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
        os.replace(tmp, target)  # atomic: a concurrent build loses nothing
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


_LIBRARY = None


def library() -> ctypes.CDLL:
    global _LIBRARY  # noqa: PLW0603  (one load per process)
    if _LIBRARY is None:
        lib = ctypes.CDLL(str(library_path()))
        lib.ota_host_restore.argtypes = [ctypes.POINTER(_Request), ctypes.POINTER(_Result)]
        lib.ota_host_restore.restype = ctypes.c_int
        lib.ota_host_pending.argtypes = [ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32, ctypes.c_uint32,
                                         ctypes.POINTER(ctypes.c_uint8)]
        lib.ota_host_pending.restype = ctypes.c_int
        for name in ("ota_host_status_name", "ota_host_check_name"):
            getattr(lib, name).argtypes = [ctypes.c_int]
            getattr(lib, name).restype = ctypes.c_char_p
        for struct, name in ((_Request, "ota_host_request_size"), (_Result, "ota_host_result_size")):
            getattr(lib, name).restype = ctypes.c_uint
            if getattr(lib, name)() != ctypes.sizeof(struct):
                raise RuntimeError(f"{name}: the ctypes mirror of the C struct is out of date")
        _LIBRARY = lib
    return _LIBRARY


def status_name(status: int) -> str:
    return library().ota_host_status_name(status).decode()


def check_name(check: int) -> str:
    return library().ota_host_check_name(check).decode()


def _buffer(data: bytes, size: int):
    buf = (ctypes.c_uint8 * max(size, 1)).from_buffer_copy(data.ljust(max(size, 1), b"\0")[:max(size, 1)])
    return buf


def _header(package: bytes) -> wire.Header | None:
    """The package's header when it parses (to size the device's staging area and for the report)."""
    try:
        fixed = wire.parse_fixed(package[:wire.FIXED_HEADER_SIZE])
        return wire.parse_header(package[: fixed[1]])
    except (errors.OtapackError, IndexError):
        return None


def _keys(device) -> tuple[int, list[tuple[int, bytes, bytes]]]:
    check = device.signature_check
    if check is None:
        return 0, []
    keys = getattr(check, "public_keys", None)
    if keys is None:
        raise _engine_error("the device's signature check has no public keys the C restore can use")
    return 1, list(keys)


def supports(device, package: bytes = b"") -> bool:
    """Whether the C restore can run on ``device`` (partitions, signature keys,
    slots it can simulate in host memory)."""
    try:
        _simulated(device, package)
    except errors.UsageError:
        return False
    return True


def _simulated(device, package: bytes) -> None:
    if getattr(device, "resume", None) is not None:
        c_journal.check_device(device, _engine_error)
    slots = getattr(device, "layout_slots", None)
    if slots is not None and sorted(slots) != sorted((p.name, p.address, p.size) for p in device.partitions.values()):
        raise _engine_error("the C restore knows the device's layout only as its partitions")
    block = device.erase_block
    if block & (block - 1) or not MIN_ERASE_BLOCK <= block <= MAX_ERASE_BLOCK:
        raise _engine_error(f"no device has {block}-byte erase blocks (the C restore takes "
                            f"{MIN_ERASE_BLOCK}..{MAX_ERASE_BLOCK})")
    if len(device.partitions) > _MAX_PARTITIONS:
        raise _engine_error(f"the C restore handles at most {_MAX_PARTITIONS} partitions")
    if device.signature_check is not None and not hasattr(device.signature_check, "public_keys"):
        raise _engine_error("the device's signature check has no public keys the C restore can use")
    header = _header(package)
    grows = device.create_missing or any(p.resizable for p in device.partitions.values())
    if header and grows and any((e.target_size or 0) > _SIMULATED_SLOT for e in header.entries):
        raise _engine_error(f"a slot of unknown size would grow past {_SIMULATED_SLOT} bytes of host memory")


def run(device, package: bytes, *, receive: int = 0, receive_piece: int = 1024) -> RestoreResult:
    """The C restore on ``device`` (mutated as the Python restore mutates it).

    ``receive``: 0 loads the package into the download area; 1 downloads it
    through the receive API (ota_receive.h) in ``receive_piece``-byte pieces;
    2 also hands the receive result to the restore, which then skips its rehash."""
    from otapack.core.restore.slots import DevicePartition

    _simulated(device, package)
    lib = library()
    if getattr(device, "resume", None) is not None:  # journaled: on the device's own NOR flash
        return c_journal.run(device, package, sys.modules[__name__])
    block = device.erase_block
    header = _header(package)
    entries = header.entries if header else []
    targets = {e.name: e.target_size for e in entries if e.operation in HAS_PAYLOAD}
    created = []  # a blank device of unknown layout makes the slots a full package writes
    if device.create_missing:
        for e in entries:
            if e.operation == "replace" and e.name not in device.partitions and e.name not in created:
                flash = SimFlash.holding(b"", e.target_size, block, device.erased_value, e.name)
                device.partitions[e.name] = DevicePartition(e.name, e.address, flash, 0, resizable=True)
                created.append(e.name)
    parts = list(device.partitions.values())
    sizes = {p.name: p.flash.size for p in parts}  # a slot grows only when the restore writes it
    for p in parts:  # a slot that grows to its target: flash for it, as the Python restore makes
        if p.resizable and p.name in targets and -(-targets[p.name] // block) * block > p.flash.size:
            p.flash = SimFlash.holding(p.flash.read(0, p.flash.size), targets[p.name], block, device.erased_value,
                                       p.name)
    staged = sum(-(-e.target_size // block) * block for e in entries if e.operation in STAGED_DELTA_OPERATIONS)
    room = sum(p.flash.size for p in parts)
    scratch = staged if header and staged <= min(header.scratch_flash, room) else 0
    in_place = sum(e.operation in IN_PLACE_OPERATIONS for e in entries)
    if header and in_place and staged <= room:  # the saves (old sectors: at most room) and the swap sector
        scratch = min(header.scratch_flash, staged + min(MAX_IN_PLACE_SAVES * in_place * block, room) + block)
    workspace = _workspace(device, package)

    buffers = [_buffer(p.flash.read(0, p.flash.size), p.flash.size) for p in parts]
    names = [p.name.encode("ascii", "replace") for p in parts]
    table = (_Partition * max(len(parts), 1))()
    for i, p in enumerate(parts):
        table[i] = _Partition(names[i], p.address, p.size, p.flash.size, p.flash.size, p.resizable,
                              ctypes.cast(buffers[i], ctypes.POINTER(ctypes.c_uint8)))
    pkg = _buffer(package, len(package))
    fields, _alive = _device_fields(device, layout_known=not created and device.layout_digest() is not None)
    req = _Request(
        package=ctypes.cast(pkg, ctypes.POINTER(ctypes.c_uint8)), package_length=len(package),
        partition_count=len(parts), partitions=table, erase_block=block, write_align=1,
        erased_value=device.erased_value, scratch_size=scratch, workspace_size=workspace,
        receive=receive, receive_piece=receive_piece, **fields)
    res = _Result()
    lib.ota_host_restore(ctypes.byref(req), ctypes.byref(res))
    if res.failure_check == 14 and res.status < 0:
        raise RuntimeError(f"C restore refused its configuration: {status_name(res.status)}")

    # entries whose restore began (the Python restore makes a missing slot then)
    restore_check, target_check = (CHECKS.index(s) for s in CHECKS if s.per_partition)
    reached = {entries[i].name for i in range(len(entries))
               if res.status >= 0 or res.failure_check > target_check
               or (res.failure_check in (restore_check, target_check) and i <= res.failure_partition)}
    for i, p in enumerate(parts):
        written = bool(res.written_mask >> i & 1)
        if p.name in created and not written and p.name not in reached:
            del device.partitions[p.name]  # the Python restore makes a slot only when it restores into it
            continue
        size = p.flash.size if written else sizes[p.name]
        p.flash = SimFlash.holding(bytes(buffers[i])[:size], size, block, device.erased_value, p.name)
        p.written = p.written or written
        if p.resizable and written and p.name in targets:
            p.size = targets[p.name]
    return _result(res, header, device, parts)


def journal_pending(journal) -> bytes | None:
    """The C bootloader query (ota_journal_pending) on a journal's flash, as ``resume.pending`` answers it."""
    data = journal.read(0, journal.size)
    digest = (ctypes.c_uint8 * 32)()
    sector = journal.sectors[0][1] if hasattr(journal, "sectors") else journal.erase_block
    found = library().ota_host_pending((ctypes.c_uint8 * len(data)).from_buffer_copy(data), len(data),
                                       sector, digest)
    if found < 0:
        raise RuntimeError(f"ota_journal_pending refused the journal: {status_name(found)}")
    return bytes(digest) if found else None


def _workspace(device, package: bytes) -> int:
    declared = wire.fixed_field(package, "ram_required") or 0
    budget = device.ram_budget if device.ram_budget is not None else NO_LIMIT
    return min(declared, budget, _WORKSPACE_CAP) + _WORKSPACE_SLACK


def _device_fields(device, layout_known: bool) -> tuple[dict, list]:
    """The request fields saying what the device knows about itself, and the
    ctypes buffers they point into (kept alive by the caller)."""
    required, keys = _keys(device)
    raw_keys = [(ctypes.c_uint8 * len(k[2])).from_buffer_copy(k[2]) for k in keys]
    key_table = (_Key * max(len(keys), 1))()
    for i, (alg, kid, _) in enumerate(keys):
        key_table[i] = _Key(alg, (ctypes.c_uint8 * 8)(*kid[:8]), ctypes.cast(raw_keys[i], ctypes.POINTER(ctypes.c_uint8)),
                            len(keys[i][2]))
    minimal = device.minimal_download_capacity
    fields = dict(
        download_capacity=NO_LIMIT if device.download_capacity is None else device.download_capacity,
        minimal_download_capacity=NO_LIMIT if minimal is None else minimal,
        ram_budget=device.ram_budget if device.ram_budget is not None else NO_LIMIT,
        model=None if device.model is None else device.model.encode("ascii", "replace"),
        hardware_id=None if device.hardware_id is None else device.hardware_id.encode("ascii", "replace"),
        check_security_counter=device.security_counter is not None,
        security_counter=device.security_counter or 0,
        layout_known=layout_known,
        expect_next=device.expected_next is not None,
        next_package=(ctypes.c_uint8 * 32)(*(device.expected_next or bytes(32))),
        require_signature=required, key_count=len(keys), keys=key_table,
        disabled_checks=1 << 12 if "ram" in device.disabled_checks else 0, openssl_hash=0)
    return fields, [raw_keys, key_table]


def _result(res: _Result, header: wire.Header | None, device, parts) -> RestoreResult:
    """The C outcome as the Python restore reports it."""
    result = RestoreResult(blocks_erased=res.blocks_erased, bytes_written=res.bytes_written, tuples=res.tuples,
                           diff_pairs=res.diff_pairs)
    # What the simulated flash saw (the fuzz and differential invariants) and the library status underneath.
    result.c_flash = {"operations": res.flash_ops, "before_restore": res.writes_before_restore,
                      "outside": res.writes_outside, "violations": res.violations, "steps": res.steps,
                      "max_step_erased": res.max_step_erased, "max_step_programmed": res.max_step_programmed,
                      "package_bytes_read": res.package_bytes_read, "receive_check": res.receive_check}
    result.c_cause = status_name(res.failure_cause) if res.status < 0 else None
    failed = res.status < 0
    fcheck = CHECKS[res.failure_check].name if failed else None
    entries = header.entries if header else []
    payload = [i for i, e in enumerate(entries) if e.operation in HAS_PAYLOAD]
    for index, spec in enumerate(CHECKS):
        if spec.per_partition:
            if spec.name != "restore":
                continue
            reached = not failed or res.failure_check >= index
            if not failed and res.check_status[index] not in _STATUS:
                reached = False  # a boot after the journal's `copied`: proven on the boot that copied it
            for i in payload if reached else []:
                name = entries[i].name
                if failed and fcheck in ("restore", "target") and i == res.failure_partition:
                    result.checks.append(Check(f"restore:{name}", CheckStatus.FAIL if fcheck == "restore"
                                               else CheckStatus.PASS, "C engine"))
                    if fcheck == "target":
                        result.checks.append(Check(f"target:{name}", CheckStatus.FAIL, "C engine"))
                    break
                result.checks += [Check(f"restore:{name}", CheckStatus.PASS, "C engine"),
                                  Check(f"target:{name}", CheckStatus.PASS, "C engine")]
            continue
        status = res.check_status[index]
        if status in _STATUS:
            detail = "disabled by the caller" if spec.name == "ram" and status == 2 and not failed else "C engine"
            result.checks.append(Check(spec.name, _STATUS[status], detail))
    if failed:
        part = entries[res.failure_partition].name if 0 <= res.failure_partition < len(entries) else None
        cls_name = status_name(res.failure_status)
        position = tuple(None if v < 0 else v for v in (res.failure_window, res.failure_tuple, res.failure_offset))
        where = f"{fcheck}:{part}" if part and fcheck in ("restore", "target") else fcheck
        message = f"C restore failed at {where}: {cls_name} ({status_name(res.failure_cause)})"
        if part and fcheck == "precondition":
            message += f", partition {part!r}"
        if position[0] is not None:
            message += f", window {position[0]} (output offset {position[2]})"
            if position[1] is not None:
                message += f", tuple {position[1]}"
        cls = ERROR_CLASSES.get(cls_name, errors.VerificationError)
        result.error = cls(message)
        result.failure = Failure(fcheck, cls.__name__, part, *position)
    elif res.has_next:
        device.expected_next = bytes(res.next_package)
    else:
        device.expected_next = None
    if header is not None and (not failed or res.failure_check > 3):
        result.header = header
        result.ram_declared, result.scratch_declared = header.ram_required, header.scratch_flash
    return result
