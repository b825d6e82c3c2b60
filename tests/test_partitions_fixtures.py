"""Builders for the partition tests: composite firmware made from real pieces.

Pieces: a bootloader blob, a real application image (fixtures/corpus/
programmer-0.8.0.bin, see fixtures/README.md), a littlefs ``customer_fs``
with real files (littlefs-python), an NV blob.  The containers around them
(ESP-IDF table, MBR, GPT, PAC) are built with the same construct
declarations otapack parses them with; ELF with tests/elf_builder.py; HEX and
S-record with bincopy.  No test functions live here.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from functools import lru_cache
from pathlib import Path

import bincopy
from littlefs import LittleFS

from otapack.core.formats import esp_idf, gpt, mbr, pac

try:
    from tests.elf_builder import Segment, build_elf
except ImportError:  # tests/ itself on sys.path (pytest's default rootdir-less import)
    from elf_builder import Segment, build_elf

FIXTURES = Path(__file__).parent / "fixtures"
PROGRAMMER = FIXTURES / "corpus" / "programmer-0.8.0.bin"
COMPOSITE_LAYOUT = FIXTURES / "partitions" / "composite.toml"
EXAMPLES = Path(__file__).parent.parent / "examples" / "layouts"

#: name -> (offset, slot size) of the composite image (matches composite.toml).
COMPOSITE = {
    "bootloader": (0x0, 0x4000),
    "app": (0x4000, 0x8000),
    "customer_fs": (0xC000, 0x8000),
    "nv": (0x14000, 0x2000),
}
COMPOSITE_SIZE = 0x16000

USER_FILES = {
    "main.py": b"import utime\nfrom usr.lib import util\n\nwhile True:\n    util.report()\n    utime.sleep(60)\n",
    "config.json": b'{"apn": "iot.example", "interval": 60, "server": "mqtt.example.com:8883"}\n',
    "lib/util.py": b"def report():\n    print('alive')\n",
}


def blob(seed: str, size: int) -> bytes:
    """Deterministic incompressible bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def pad(data: bytes, size: int, fill: int = 0xFF) -> bytes:
    assert len(data) <= size
    return data + bytes([fill]) * (size - len(data))


def littlefs_image(files: dict[str, bytes] = USER_FILES, block_count: int = 8) -> bytes:
    fs = LittleFS(block_size=4096, block_count=block_count)
    for name, content in files.items():
        parent = name.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(name, "wb") as handle:
            handle.write(content)
    return bytes(fs.context.buffer)


def bootloader_blob() -> bytes:
    return b"BOOT" + blob("bootloader", 0x2FFC)


def nv_blob() -> bytes:
    records = b"".join(f"{k}={v}\n".encode() for k, v in
                       (("imei", "860000000000001"), ("rf_cal", "0x3c5a"), ("band", "B1,B3,B5,B8")))
    return b"NVRM\x01\x00" + records + blob("nv", 0x800)


@lru_cache(maxsize=None)
def pieces() -> dict[str, bytes]:
    """The unpadded content of each composite partition."""
    return {
        "bootloader": bootloader_blob(),
        "app": PROGRAMMER.read_bytes(),
        "customer_fs": littlefs_image(),
        "nv": nv_blob(),
    }


def expected_slots() -> dict[str, bytes]:
    """Each composite partition as its full slot (0xFF-padded)."""
    return {name: pad(pieces()[name], size) for name, (_, size) in COMPOSITE.items()}


def composite_raw() -> bytes:
    image = b"".join(expected_slots()[name] for name in COMPOSITE)
    assert len(image) == COMPOSITE_SIZE
    return image


def composite_segments() -> list[tuple[int, bytes]]:
    return [(COMPOSITE[name][0], data) for name, data in pieces().items()]


# -- HEX / S-record --------------------------------------------------------------------


def to_hex(segments: list[tuple[int, bytes]], fmt: str = "ihex") -> bytes:
    binfile = bincopy.BinFile()
    for address, data in segments:
        binfile.add_binary(data, address=address)
    text = binfile.as_ihex() if fmt == "ihex" else binfile.as_srec()
    return text.encode("ascii")


# -- ELF ---------------------------------------------------------------------------------


def composite_elf(extra: list[Segment] = ()) -> bytes:
    p = pieces()
    segments = [
        Segment(COMPOSITE["bootloader"][0], p["bootloader"], ".boot", "RX"),
        Segment(COMPOSITE["app"][0], p["app"], ".text", "RX"),
        Segment(COMPOSITE["customer_fs"][0], p["customer_fs"], ".customer_fs", "R"),
        Segment(COMPOSITE["nv"][0], p["nv"], ".nv", "R"),
        Segment(0x20000000, b"", ".bss", "RW", memsz=0x400),  # RAM only: not in flash
        *extra,
    ]
    return build_elf(segments, entry=0x4000 + 1)


# -- ESP-IDF -------------------------------------------------------------------------------


def esp_entry(label: str, ptype: int, subtype: int, offset: int, size: int, flags: int = 0) -> bytes:
    return esp_idf.PartitionEntry.build(
        dict(type=ptype, subtype=subtype, offset=offset, size=size, label=label, flags=flags)
    )


def esp_table(entries: list[bytes], md5: bool = True, md5_value: bytes | None = None) -> bytes:
    body = b"".join(entries)
    if md5:
        body += esp_idf.Md5Entry.build(dict(md5=md5_value or hashlib.md5(body).digest()))
    return pad(body, esp_idf.TABLE_MAX_SIZE)


#: name -> (offset, slot size) in the ESP-IDF composite.
ESP_LAYOUT = {
    "bootloader": (0x0, 0x8000),
    "partition-table": (0x8000, 0x1000),
    "nvs": (0x9000, 0x2000),
    "factory": (0x10000, 0x8000),
    "storage": (0x18000, 0x8000),
}


def esp_composite(table: bytes | None = None, table_offset: int = 0x8000) -> bytes:
    p = pieces()
    image = bytearray(b"\xff" * 0x20000)
    image[0x1000:0x1000 + len(p["bootloader"])] = p["bootloader"]  # ESP32 bootloader at 0x1000
    if table is None:
        table = esp_table([
            esp_entry("nvs", 0x01, 0x02, 0x9000, 0x2000),
            esp_entry("factory", 0x00, 0x00, 0x10000, 0x8000),
            esp_entry("storage", 0x01, 0x83, 0x18000, 0x8000),
        ])
    image[table_offset:table_offset + len(table)] = table
    image[0x9000:0x9000 + len(p["nv"])] = p["nv"]
    image[0x10000:0x10000 + len(p["app"])] = p["app"]
    image[0x18000:0x18000 + len(p["customer_fs"])] = p["customer_fs"]
    return bytes(image)


# -- MBR / GPT -----------------------------------------------------------------------------

_EMPTY_MBR_ENTRY = dict(status=0, chs_first=b"\0\0\0", type=0, chs_last=b"\0\0\0", lba_first=0, sectors=0)


def mbr_sector(entries: list[dict]) -> bytes:
    full = [dict(_EMPTY_MBR_ENTRY, **e) for e in entries] + [_EMPTY_MBR_ENTRY] * (4 - len(entries))
    return mbr.Mbr.build(dict(bootstrap=bytes(440), disk_signature=0x12345678, reserved=b"\0\0", entries=full))


def mbr_disk(parts: list[tuple[int, int, int, bytes]], total: int) -> bytes:
    """parts: (mbr type, offset, size, data)."""
    disk = bytearray(total)
    entries = [dict(type=t, lba_first=o // 512, sectors=s // 512) for t, o, s, _ in parts]
    disk[0:512] = mbr_sector(entries)
    for _, offset, _, data in parts:
        disk[offset:offset + len(data)] = data
    return bytes(disk)


APP_GUID = uuid.UUID("5b193300-fc78-40cd-8002-e86c45580b47")
BOOT_GUID = uuid.UUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
NV_GUID = uuid.UUID("ad3c6b5a-4e3b-4c1e-9a55-1d7c3a2b9e10")
LINUX_FS_GUID = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")

#: name -> (offset, slot size, type GUID) in the GPT composite.
GPT_LAYOUT = {
    "bootloader": (0x8000, 0x4000, BOOT_GUID),
    "app": (0xC000, 0x8000, APP_GUID),
    "customer_fs": (0x14000, 0x8000, LINUX_FS_GUID),
    "nv": (0x1C000, 0x2000, NV_GUID),
}
GPT_SIZE = 0x1E000


def gpt_disk(parts: dict[str, tuple[int, int, uuid.UUID]], contents: dict[str, bytes], total: int,
             sector: int = 512, corrupt_header: bool = False) -> bytes:
    disk = bytearray(total)
    sectors = total // sector
    disk[0:512] = mbr_sector([dict(type=mbr.TYPE_GPT_PROTECTIVE, lba_first=1,
                                   sectors=min(sectors - 1, 0xFFFFFFFF), chs_last=b"\xff\xff\xff")])
    entries = bytearray(128 * gpt.ENTRY_SIZE)
    for index, (name, (offset, size, type_guid)) in enumerate(parts.items()):
        entries[index * 128:(index + 1) * 128] = gpt.GptEntry.build(dict(
            type_guid=type_guid, unique_guid=uuid.uuid5(uuid.NAMESPACE_DNS, name),
            first_lba=offset // sector, last_lba=(offset + size) // sector - 1, attributes=0, name=name,
        ))
    header = dict(
        revision=gpt.REVISION_1_0, header_size=gpt.HEADER_SIZE, header_crc32=0, reserved=0,
        current_lba=1, backup_lba=sectors - 1, first_usable_lba=2 + len(entries) // sector,
        last_usable_lba=sectors - 2, disk_guid=uuid.UUID("11111111-2222-3333-4444-555555555555"),
        entries_lba=2, num_entries=128, entry_size=gpt.ENTRY_SIZE,
        entries_crc32=zlib.crc32(entries) & 0xFFFFFFFF,
    )
    header["header_crc32"] = zlib.crc32(gpt.GptHeader.build(header)) & 0xFFFFFFFF
    if corrupt_header:
        header["header_crc32"] ^= 1
    disk[sector:sector + gpt.HEADER_SIZE] = gpt.GptHeader.build(header)
    disk[2 * sector:2 * sector + len(entries)] = entries
    for name, (offset, _, _) in parts.items():
        data = contents[name]
        disk[offset:offset + len(data)] = data
    return bytes(disk)


def gpt_composite(**kwargs) -> bytes:
    return gpt_disk(GPT_LAYOUT, pieces(), GPT_SIZE, **kwargs)


# -- PAC ---------------------------------------------------------------------------------------


def pac_file(file_id: str, data: bytes, addresses: tuple[int, ...] = (), file_flag: int | None = None,
             file_name: str | None = None) -> dict:
    return dict(file_id=file_id, data=data, addresses=list(addresses),
                file_flag=(1 if data else 0) if file_flag is None else file_flag,
                file_name=file_id.lower() + ".bin" if file_name is None else file_name)


def build_pac(files: list[dict], version: str = pac.VERSION_R1, product: str = "EC200UCN_AA",
              declared_size: int | None = None) -> bytes:
    table_size = len(files) * pac.ENTRY_SIZE
    position = pac.HEADER_SIZE + table_size
    entries, blobs = b"", b""
    for f in files:
        data = f["data"]
        addresses = f["addresses"] + [0] * (5 - len(f["addresses"]))
        entries += pac.PacFileEntry.build(dict(
            entry_size=pac.ENTRY_SIZE, file_id=f["file_id"], file_name=f["file_name"],
            file_version="", size_hi=0, offset_hi=0, size=len(data), file_flag=f["file_flag"], check_flag=1,
            data_offset=position if data else 0, can_omit=0, address_count=len(f["addresses"]),
            addresses=addresses, reserved=bytes(996),
        ))
        blobs += data
        position += len(data)
    total = pac.HEADER_SIZE + table_size + len(blobs)
    header = pac.PacHeader.build(dict(
        version=version, size_hi=0, size=total if declared_size is None else declared_size,
        product_name=product, product_version="EC200UCNAAR03A01M08_OCPU_QPY", file_count=len(files),
        file_offset=pac.HEADER_SIZE, mode=0, flash_type=1, nand_strategy=0, is_nv_backup=1, nand_page_type=0,
        product_alias="", oma_dm_product_flag=0, is_oma_dm=0, is_preload=0, reserved=bytes(800), crc1=0, crc2=0,
    ))
    return header + entries + blobs


def bma_config(product: str, files: dict[str, tuple[str, int, int]]) -> bytes:
    """A ``BMAConfig`` download configuration: file ID -> (type, base, block size)."""
    body = "".join(
        f"<File><ID>{fid}</ID><Type>{ftype}</Type><Block><Base>{base:#x}</Base><Size>{size:#x}</Size></Block>"
        f"<Flag>1</Flag></File>"
        for fid, (ftype, base, size) in files.items()
    )
    return (f'<?xml version="1.0" encoding="utf-8"?>\r\n<BMAConfig><ProductList><Product name="{product}">'
            f"<SchemeName>{product}</SchemeName></Product></ProductList><SchemeList><Scheme name=\"{product}\">"
            f"{body}</Scheme></SchemeList></BMAConfig>\r\n").encode()


def config_file(files: dict[str, tuple[str, int, int]], product: str = "EC200UCN_AA") -> dict:
    """The configuration entry as the vendor generator writes it: last, file_flag 2, no ID."""
    return pac_file("", bma_config(product, files), (0,), file_flag=2, file_name=f"{product}.xml")


def backup_fs() -> bytes:
    return littlefs_image({"checksum.json": b'{"main.py": "0" }\n'}, block_count=4)


#: Download scheme of the composite PAC: the ec200u-eg915u.toml slots.
COMPOSITE_SCHEME = {
    "HOST_FDL": ("HOST_FDL", 0x00838000, 0x8000),
    "FDL2": ("FDL2", 0x00810000, 0x28000),
    "BOOTLOADER": ("CODE", 0x60000000, 0x10000),
    "AP": ("CODE", 0x60010000, 0x170000),
    "APPIMG": ("CODE", 0x603C0000, 0x120000),
    "PY_FS_U": ("CODE", 0x604E0000, 0x60000),
    "PY_FS_B": ("CODE", 0x60540000, 0x20000),
    "PS": ("CODE", 0x60560000, 0x280000),
    "NV": ("NV", 0xFE000003, 0x20000),
}


def pac_files() -> list[dict]:
    """An EC200U-style QuecPython PAC with the vendor structure (see
    fixtures/pac/make_csdk_pac.py): RAM loaders, a data-less step, flash
    images, NV at a logical address, and the configuration XML last."""
    p = pieces()
    return [
        pac_file("HOST_FDL", blob("fdl1", 0x800), (0x00838000,)),
        pac_file("FDL2", blob("fdl2", 0x1000), (0x00810000,)),
        pac_file("PhaseCheck", b"", (0xFE000002,)),  # a download step without data
        pac_file("BOOTLOADER", p["bootloader"], (0x60000000,)),
        pac_file("AP", p["app"], (0x60010000,)),
        pac_file("APPIMG", blob("appimg", 0x1800), (0x603C0000,)),
        pac_file("PY_FS_U", p["customer_fs"], (0x604E0000,)),
        pac_file("PY_FS_B", backup_fs(), (0x60540000,)),
        pac_file("PS", blob("ps", 0x2000), (0x60560000,)),
        pac_file("FMT_FSSYS", b"", (0xFE000006,)),
        pac_file("NV", p["nv"], (0xFE000003,)),  # logical: the modem's NV, not flash
        config_file(COMPOSITE_SCHEME),
    ]


def composite_pac(**kwargs) -> bytes:
    return build_pac(pac_files(), **kwargs)
