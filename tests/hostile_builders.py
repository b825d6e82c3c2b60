"""Builders for hostile packages: hand-made patch streams in valid envelopes.

A hostile input only reaches the inner code (LZMA wrapper, control tuples,
table fields) if the outer integrity checks pass, so everything here ends in
``otapack.core.container.assemble`` or ``seal``: CRC32 and SHA-256 are always valid
unless a test breaks them on purpose.

Patch streams are written byte by byte (not with the construct declarations,
which refuse to build out-of-range values) so that any varint, count or
length can be put on the wire.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from pathlib import Path

from otapack.core.codecs import compress_lzma2
from otapack.core.formats import package as fmt
from otapack.core.formats.delta import MAX_WINDOW_SIZE, MAX_WINDOW_TUPLES
from otapack.core.formats.wire_numbers import DELTA_OPERATIONS, HAS_PAYLOAD, MAX_MAP_ENTRIES, MAX_REGIONS, transform_ram
from otapack.core.formats.varint import encode_varint, zigzag
from otapack.core.model import FirmwareImage
from otapack.core.container import PackageHeader, PartitionRecord, assemble, header_size, seal
from otapack.core.restore.resources import PayloadRam, ram_requirement, staged_bytes

CORPUS = Path(__file__).parent / "fixtures" / "corpus"

#: Small dictionary: hostile streams are tiny and the tests build many.
DICT = 1 << 16
#: Only raw LZMA2 with default lc/lp/pb: one compression per stream.
FAST_TUNING = ((3, 0, 2),)

MODEL = "EC600NCNLC"
#: A 4 KiB old partition whose every byte says where it is (mod 256).
OLD_FILL = bytes(range(256)) * 16
NAME = "image"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def lzma2(data: bytes, dict_size: int = DICT) -> bytes:
    return compress_lzma2(data, dict_size, FAST_TUNING)


# ------------------------------------------------------------- patch streams


def varint(value: int) -> bytes:
    return encode_varint(value)


def overlong(value: int, extra: int = 1) -> bytes:
    """``value`` as a non-canonical varint padded with ``extra`` zero groups."""
    out = bytearray(encode_varint(value))
    out[-1] |= 0x80
    out += b"\x80" * (extra - 1) + b"\x00"
    return bytes(out)


def tuple_bytes(add: int, copy: int, seek: int) -> bytes:
    return varint(add) + varint(copy) + varint(zigzag(seek))


def window(tuples, extra: bytes = b"", diff: bytes | None = None) -> bytes:
    """One window; ``diff`` defaults to zeros for every add (copy old bytes)."""
    if diff is None:
        diff = bytes(sum(t[0] for t in tuples))
    return varint(len(tuples)) + b"".join(tuple_bytes(*t) for t in tuples) + extra + diff


def stream(*windows: bytes, window_size: int = 4096, max_tuples: int = 16, diff_coding: int = 0) -> bytes:
    return varint(window_size) + varint(max_tuples) + varint(diff_coding) + b"".join(windows)


# ------------------------------------------------------------------ packages


def generous_ram(header: PackageHeader, records, *, lzma: bool, window_size: int, max_tuples: int) -> int:
    """A declaration that covers any stream within the given window bounds:
    the largest LZMA model and a whole window of extra bytes, so hand-made
    streams reach the patch rules instead of the RAM checks."""
    payloads = [PayloadRam(lzma=lzma, dictionary=min(header.lzma_dict_size, r.uncompressed_length), lclp=4,
                           window_tuples=max_tuples if r.operation in DELTA_OPERATIONS else 0,
                           max_extra=window_size if r.operation in DELTA_OPERATIONS else 0,
                           delta=r.operation in DELTA_OPERATIONS, transform=transform_ram(MAX_MAP_ENTRIES, MAX_REGIONS)
                           if r.operation == "delta-v2" else 0)
                for r in records if r.operation in HAS_PAYLOAD]
    return ram_requirement(header_length=header_size(header, records), erase_block=header.erase_block,
                           payloads=payloads)


def _header(kind: str, records, *, lzma: bool, window_size: int, max_tuples: int, **kw) -> PackageHeader:
    header = PackageHeader(kind=kind, model=MODEL, lzma_dict_size=DICT if lzma else 0, erase_block=4096)
    header = replace(header, **{k: v for k, v in kw.items() if k != "ram_required"})
    scratch = staged_bytes((r.target_size for r in records if r.operation in DELTA_OPERATIONS), header.erase_block)
    if "scratch_flash" not in kw:  # what the staged targets take (a u32 field: at most 2^32 - 1)
        header = replace(header, scratch_flash=min(scratch, (1 << 32) - 1))
    ram = generous_ram(header, records, lzma=lzma, window_size=window_size, max_tuples=max_tuples)
    return replace(header, ram_required=kw.get("ram_required", ram))


def delta_package(
    old: bytes,
    patch: bytes,
    target: bytes | None = None,
    *,
    target_size: int | None = None,
    uncompressed_length: int | None = None,
    payload: bytes | None = None,
    codec: str = "lzma2",
    source: bytes | None = None,
    address: int = 0,
    name: str = NAME,
    operation: str = "delta",
    **header_kw,
) -> bytes:
    """A delta package whose only partition is restored by ``patch`` (raw stream).

    ``target`` sets the declared target hash and size (by default: what a
    correct restore would have to produce is unknown, so 1 byte of zeros).
    ``payload`` replaces the compressed stream (bombs, trailing bytes).
    """
    target = b"" if target is None else target
    if payload is None:
        payload = lzma2(patch) if codec == "lzma2" else patch
    base = old if source is None else source
    record = PartitionRecord(
        name=name, address=address, operation=operation, reason="delta-smaller", codec=codec,
        source_size=len(base), source_sha256=sha(base),
        target_size=len(target) if target_size is None else target_size, target_sha256=sha(target),
        uncompressed_length=len(patch) if uncompressed_length is None else uncompressed_length,
    )
    header = _header("delta", [record], lzma=codec == "lzma2", window_size=MAX_WINDOW_SIZE,
                     max_tuples=MAX_WINDOW_TUPLES, **header_kw)
    return assemble(header, [(record, payload)], limits=False)


def full_package(
    data: bytes,
    *,
    payload: bytes | None = None,
    codec: str = "lzma2",
    target_size: int | None = None,
    uncompressed_length: int | None = None,
    name: str = NAME,
    address: int = 0,
    **header_kw,
) -> bytes:
    """A full package with one replace partition holding ``data``."""
    if payload is None:
        payload = lzma2(data) if codec == "lzma2" else data
    record = PartitionRecord(
        name=name, address=address, operation="replace", reason="full-package", codec=codec,
        target_size=len(data) if target_size is None else target_size, target_sha256=sha(data),
        uncompressed_length=len(data) if uncompressed_length is None else uncompressed_length,
    )
    header = _header("full", [record], lzma=codec == "lzma2", window_size=0, max_tuples=0, **header_kw)
    return assemble(header, [(record, payload)], limits=False)


# ---------------------------------------------------------- field locations

FIXED_FIELDS = {
    "format_version": (4, 2), "kind": (6, 1), "flags": (7, 1), "header_length": (8, 4),
    "body_length": (12, 4), "security_counter": (16, 4), "build_time": (20, 8), "ram_required": (28, 4),
    "scratch_flash": (32, 4), "lzma_dict_size": (36, 4), "erase_block": (40, 4),
}


def field_map(pkg: bytes) -> dict[str, tuple[int, int]]:
    """name -> (offset, size) of every header and table field of ``pkg``.

    Entry fields are ``"<index>.<field>"`` (``"0.target_size"``); strings
    and extension values map to their length prefix.
    """
    out = dict(FIXED_FIELDS)
    pos = 44
    for name in ("model", "source_version", "target_version", "tool_version"):
        out[name] = (pos, 1)
        pos += 1 + pkg[pos]
    out["extension_count"] = (pos, 1)
    count = pkg[pos]
    pos += 1
    for i in range(count):
        out[f"ext{i}.tag"] = (pos, 1)
        out[f"ext{i}.length"] = (pos + 1, 2)
        pos += 3 + int.from_bytes(pkg[pos + 1 : pos + 3], "little")
    out["partition_count"] = (pos, 1)
    count = pkg[pos]
    pos += 1
    for i in range(count):
        out[f"{i}.name"] = (pos, 1)
        pos += 1 + pkg[pos]
        out[f"{i}.address"] = (pos, 4)
        out[f"{i}.operation"] = (pos + 4, 1)
        out[f"{i}.codec"] = (pos + 5, 1)
        out[f"{i}.reason"] = (pos + 6, 1)
        op = fmt.OPERATIONS
        op_id = pkg[pos + 4]
        pos += 7
        if op_id == op["delta"]:
            out[f"{i}.source_size"] = (pos, 4)
            out[f"{i}.source_sha256"] = (pos + 4, 32)
            pos += 36
        if op_id in (op["keep"], op["replace"], op["delta"]):
            out[f"{i}.target_size"] = (pos, 4)
            out[f"{i}.target_sha256"] = (pos + 4, 32)
            pos += 36
        if op_id in (op["replace"], op["delta"]):
            out[f"{i}.payload_offset"] = (pos, 4)
            out[f"{i}.payload_length"] = (pos + 4, 4)
            out[f"{i}.uncompressed_length"] = (pos + 8, 4)
            pos += 12
    out["end"] = (pos, 0)
    return out


def body_of(pkg: bytes) -> bytes:
    """Header + table + payloads (what the SHA-256 covers)."""
    sig = int.from_bytes(pkg[-fmt.TRAILER_SIZE : -fmt.TRAILER_SIZE + 2], "little")
    return pkg[: len(pkg) - fmt.TRAILER_SIZE - sig]


def with_field(pkg: bytes, name: str, value: int | bytes) -> bytes:
    """``pkg`` with one field overwritten and CRC/SHA-256 recomputed."""
    offset, size = field_map(pkg)[name]
    body = bytearray(body_of(pkg))
    raw = value if isinstance(value, bytes) else value.to_bytes(size, "little")
    body[offset : offset + len(raw)] = raw
    return seal(bytes(body))


def field_value(pkg: bytes, name: str) -> int:
    offset, size = field_map(pkg)[name]
    return int.from_bytes(pkg[offset : offset + size], "little")


# ---------------------------------------------------------------- mutations


def mutate(rnd: random.Random, data: bytes) -> bytes:
    """One random corruption: overwrite (up to len/4), insert, delete or truncate."""
    out = bytearray(data)
    kind = rnd.randrange(6)
    if kind <= 2:  # overwrite: one byte, a few bytes, or up to a quarter
        count = (1, rnd.randint(1, 8), rnd.randint(1, max(1, len(out) // 4)))[kind]
        for _ in range(count):
            if out:
                out[rnd.randrange(len(out))] = rnd.randrange(256)
    elif kind == 3:  # insert
        at = rnd.randint(0, len(out))
        out[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    elif kind == 4:  # delete
        at = rnd.randint(0, len(out))
        del out[at : at + rnd.randint(1, 16)]
    else:  # truncate
        del out[rnd.randint(0, len(out)) :]
    return bytes(out)


def mutate_bits(rnd: random.Random, data: bytes, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        bit = rnd.randrange(8 * len(out))
        out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)


def single(data: bytes, name: str = NAME, address: int = 0) -> FirmwareImage:
    return FirmwareImage.single(data, name=name, address=address)


# ------------------------------------------------- the device's header reader


def wire_read(pkg: bytes):
    """``read_package``'s checks done with the device's stdlib reader
    (``otapack.core.restore.wire``): trailer, CRC32, header, tiling, SHA-256.

    Returns ``(header, trailer)``; raises the reader's PackageFormatError.
    """
    import zlib

    from otapack.errors import IntegrityError, PackageFormatError, TruncatedPackageError
    from otapack.core.restore import wire

    trailer = wire.parse_trailer(pkg[-wire.TRAILER_SIZE :] if len(pkg) >= wire.TRAILER_SIZE else pkg)
    if trailer.total_length != len(pkg):
        raise TruncatedPackageError("total length")
    body_length = len(pkg) - wire.TRAILER_SIZE - trailer.signature_length
    if body_length < wire.FIXED_HEADER_SIZE:
        raise PackageFormatError("no room for a header")
    if zlib.crc32(pkg[:-8]) & 0xFFFFFFFF != trailer.crc32:
        raise IntegrityError("crc32")
    _, header_length = wire.parse_fixed(pkg[: wire.FIXED_HEADER_SIZE])
    if header_length > body_length:
        raise PackageFormatError("header_length past the body")
    header = wire.parse_header(pkg[:header_length])
    if header.body_length != body_length:
        raise PackageFormatError("body_length")
    position, names = header_length, set()
    for e in header.entries:
        if e.name in names:
            raise PackageFormatError("duplicate name")
        names.add(e.name)
        if e.operation in HAS_PAYLOAD:
            if e.payload_offset != position or e.payload_length > body_length - position:
                raise PackageFormatError("tiling")
            position += e.payload_length
    if position != body_length:
        raise PackageFormatError("tiling end")
    if sha(pkg[:body_length]) != trailer.body_sha256:
        raise IntegrityError("sha256")
    return header, trailer


def compare_readers(pkg: bytes) -> bool:
    """Both header readers on ``pkg``: same verdict, same fields.  Returns accepted."""
    from otapack.errors import OtapackError
    from otapack.core.container import read_package

    try:
        parsed = read_package(pkg)
    except OtapackError as exc:
        parsed = exc
    try:
        device = wire_read(pkg)
    except OtapackError as exc:
        device = exc
    a_ok, b_ok = not isinstance(parsed, Exception), not isinstance(device, Exception)
    assert a_ok == b_ok, f"construct says {parsed!r}, device reader says {device!r}"
    if not a_ok:
        return False
    header, trailer = device
    h = parsed.header
    assert (h.format_version, h.kind, h.header_length, h.body_length, h.security_counter, h.build_time,
            h.ram_required, h.scratch_flash, h.lzma_dict_size, h.erase_block, h.model, h.source_version,
            h.target_version, h.tool_version) == (
        header.format_version, header.kind, header.header_length, header.body_length, header.security_counter,
        header.build_time, header.ram_required, header.scratch_flash, header.lzma_dict_size, header.erase_block,
        header.model, header.source_version, header.target_version, header.tool_version)
    assert dict(h.extensions) == header.extensions and len(h.extensions) == len(header.extensions)
    assert len(parsed.partitions) == len(header.entries)
    for r, e in zip(parsed.partitions, header.entries):
        assert (r.name, r.address, r.operation, r.codec, r.source_size, r.source_sha256, r.target_size,
                r.target_sha256, r.payload_offset, r.payload_length, r.uncompressed_length) == (
            e.name, e.address, e.operation, e.codec, e.source_size, e.source_sha256, e.target_size,
            e.target_sha256, e.payload_offset, e.payload_length, e.uncompressed_length)
    assert (len(parsed.signature_slot), parsed.total_length, parsed.body_sha256, parsed.crc32) == (
        trailer.signature_length, trailer.total_length, trailer.body_sha256, trailer.crc32)
    return True


# ------------------------------------------------ resource and work bounds


def tuple_flood(count: int, *, length: int = 1, window_size: int = 4096, max_tuples: int = 4096) -> bytes:
    """``count`` tuples that each add ``length`` old bytes and seek back, so
    every one re-reads old[0:length]: a valid restore of ``count * length``
    bytes whose work is one tuple per ``length`` output bytes."""
    per_window = min(max_tuples, window_size // length)
    windows, left = [], count
    while left:
        n = min(per_window, left)
        windows.append(window([(length, 0, -length)] * n))
        left -= n
    return stream(*windows, window_size=window_size, max_tuples=max_tuples)


def lzma2_chunks(data: bytes, lc: int, lp: int, pb: int, dict_size: int = DICT) -> bytes:
    """Raw LZMA2 of ``data`` with one lc/lp/pb, without its end marker."""
    import lzma

    raw = lzma.compress(data, format=lzma.FORMAT_RAW,
                        filters=[{"id": lzma.FILTER_LZMA2, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}])
    assert raw[-1] == 0  # the end marker
    return raw[:-1]


def lzma2_mixed(parts) -> bytes:
    """One raw LZMA2 stream whose pieces use different properties:
    ``parts`` is ``[(data, (lc, lp, pb)), ...]``; each piece starts with a
    dictionary reset and its own properties byte (valid LZMA2: a decoder sized
    for the first piece's model must refuse a larger one later)."""
    return b"".join(lzma2_chunks(data, *props) for data, props in parts) + b"\x00"


# ------------------------------------------- multi-partition field images

#: name -> (address, slot, type, policy): a module flash with code, data, two
#: file systems and NV (the layout of the field-edit campaigns).
FIELD_SLOTS = {
    "boot": (0x0, 0x4000, "bootloader", "delta"),
    "app": (0x4000, 0x8000, "code", "delta"),
    "data": (0xC000, 0x4000, "data", "delta"),
    "nv": (0x10000, 0x2000, "nv", "skip"),
    "customer_fs": (0x12000, 0x8000, "filesystem", "full"),
    "customer_backup_fs": (0x1A000, 0x4000, "filesystem", "full"),
}


def field_images(nv_new: bytes | None = None) -> tuple[FirmwareImage, FirmwareImage]:
    """OLD and NEW as read with a layout (every partition its whole slot): boot
    unchanged (keep), app and data changed (delta or replace), customer_fs
    changed (replace), customer_backup_fs unchanged (skip: fs-unchanged), nv
    skip (``nv_new`` in NEW, default the same calibration as OLD)."""
    from otapack.core.model import Partition, PartitionType, Policy
    from test_partitions_fixtures import littlefs_image, pad

    synth1, synth2 = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    app1, app2 = corpus("programmer-0.8.0.bin"), corpus("programmer-0.9.0.bin")
    nv = b"NVRM\x01\x00imei=860000000000001\nrf_cal=0x3c5a\n" + synth1[:1024]
    contents = [
        {"boot": synth1[:0x3000], "app": app1, "data": synth1[40000:52000], "nv": nv,
         "customer_fs": littlefs_image({"main.py": b"print('v1')\n"}),
         "customer_backup_fs": littlefs_image({"checksum.json": b"{}\n"}, block_count=4)},
        {"boot": synth1[:0x3000], "app": app2, "data": synth2[40000:52000], "nv": nv if nv_new is None else nv_new,
         "customer_fs": littlefs_image({"main.py": b"print('v2')\n", "lib/x.py": b"X = 1\n"}),
         "customer_backup_fs": littlefs_image({"checksum.json": b"{}\n"}, block_count=4)},
    ]
    return tuple(FirmwareImage(tuple(
        Partition(name, address, pad(c[name], slot), PartitionType(type_), Policy(policy), slot)
        for name, (address, slot, type_, policy) in FIELD_SLOTS.items()), source="layout") for c in contents)


def flash_bytes(image: FirmwareImage) -> bytes:
    """The flat flash ``image`` is, computed on its own (not with the code under test):
    every slot at its address from the lowest, the content then erased bytes."""
    low = min(p.address for p in image.partitions)
    high = max(p.address + p.capacity for p in image.partitions)
    flat = bytearray([image.erased_value]) * (high - low)
    for p in image.partitions:
        flat[p.address - low:p.address - low + p.size] = p.data
    return bytes(flat)


def edit_field(rnd: random.Random, pkg: bytes) -> bytes:
    """One resealed edit of a header or table field: a partition's address,
    name, operation, sizes, hashes, an extension value, a fixed field...; the
    value is random, a neighbour of the current one, or another entry's."""
    fields = field_map(pkg)
    body = bytearray(body_of(pkg))
    name = rnd.choice(sorted(n for n in fields if n != "end"))
    offset, size = fields[name]
    kind = rnd.randrange(7)
    if name.endswith(".name") or name in ("model", "source_version", "target_version", "tool_version"):
        length = body[offset]
        if kind < 5 and length:  # one character of the string itself
            body[offset + 1 + rnd.randrange(length)] = rnd.choice(b"abcdefghijklmnopqrstuvwxyz_-.0123456789")
            return seal(bytes(body))
    if name.startswith("ext") and name.endswith(".length") and kind < 4:  # a byte of the extension value
        length = int.from_bytes(body[offset:offset + 2], "little")
        if length:
            body[offset + 2 + rnd.randrange(length)] ^= 1 << rnd.randrange(8)
            return seal(bytes(body))
    current = int.from_bytes(body[offset:offset + size], "little")
    top = (1 << (8 * size)) - 1
    peers = [int.from_bytes(body[o:o + s], "little") for n, (o, s) in fields.items()
             if n.split(".")[-1] == name.split(".")[-1] and n != name and s == size]
    if kind == 0 or size > 8:
        raw = bytes(rnd.randrange(256) for _ in range(size))
    else:
        value = {1: current + 1, 2: current - 1, 3: current + 0x1000, 4: current - 0x1000,
                 5: rnd.choice(peers) if peers else 0, 6: rnd.choice((0, top, current ^ 0x8000))}[kind]
        raw = (value & top).to_bytes(size, "little")
    body[offset:offset + size] = raw
    return seal(bytes(body))
