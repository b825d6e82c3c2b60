"""Regenerate old.bin, new.bin and minimal.bin of this example, byte for byte.

    python examples/minimal-system/make_example.py

Pieces (origin and licence in README.md): the code partition is a real
firmware build (examples/firmware/synthesizer-v1.bin / -v2.bin), the user file
system a littlefs image of a small QuecPython app built with otapack.features.cloud.fs, the
boot partition a real Cortex-M3 image standing in for a bootloader
(tests/fixtures/corpus/programmer-0.8.0.bin), NV a block of factory records.
The minimal system is another real build (tests/fixtures/corpus/programmer-0.9.0.bin).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from otapack.features.cloud.fs import FsOptions, build_fs_image
from otapack.core.inputs import load_layout

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIRMWARE = ROOT / "examples" / "firmware"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"

APP_V1 = {
    "/main.py": b"import utime\nfrom usr import net\n\nnet.connect()\nwhile True:\n    net.report('alive')\n"
                b"    utime.sleep(60)\n",
    "/net.py": b"import checkNet\n\ndef connect():\n    checkNet.wait_network_connected(30)\n\n"
               b"def report(msg):\n    print(msg)\n",
    "/config.json": b'{"server": "mqtt.example.com:8883", "interval": 60}\n',
}
APP_V2 = {
    "/main.py": b"import utime\nfrom usr import net\n\nnet.connect()\nwhile True:\n    net.report('alive', 2)\n"
                b"    utime.sleep(net.interval())\n",
    "/net.py": b"import checkNet, ujson\n\ndef connect():\n    checkNet.wait_network_connected(30)\n\n"
               b"def interval():\n    return ujson.load(open('/usr/config.json'))['interval']\n\n"
               b"def report(msg, version):\n    print(msg, version)\n",
    "/config.json": b'{"server": "mqtt.example.com:8883", "interval": 300}\n',
}


def nv_data() -> bytes:
    records = b"".join(f"{k}={v}\n".encode() for k, v in
                       (("imei", "860000000000001"), ("rf_cal", "0x3c5a"), ("band", "B1,B3,B5,B8")))
    cal = b"".join(hashlib.sha256(b"rf-calibration:%d" % i).digest() for i in range(64))
    return b"NVRM\x01\x00" + records + cal


def image(app: bytes, files: dict[str, bytes]) -> bytes:
    layout = load_layout(HERE / "layout.toml")
    flash = bytearray(b"\xff" * layout.flash_size)
    fs = layout.get("customer_fs")
    contents = {
        "boot": (CORPUS / "programmer-0.8.0.bin").read_bytes(),
        "app": app,
        "customer_fs": build_fs_image(files, FsOptions(block_size=layout.erase_block, lfs_version="2.0",
                                                       block_count=fs.size // layout.erase_block)),
        "nv": nv_data(),
    }
    for part in layout.partitions:
        data = contents[part.name]
        assert len(data) <= part.size, part.name
        flash[part.offset:part.offset + len(data)] = data
    return bytes(flash)


def main() -> None:
    outputs = {
        "old.bin": image((FIRMWARE / "synthesizer-v1.bin").read_bytes(), APP_V1),
        "new.bin": image((FIRMWARE / "synthesizer-v2.bin").read_bytes(), APP_V2),
        "minimal.bin": (CORPUS / "programmer-0.9.0.bin").read_bytes(),
    }
    for name, data in outputs.items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
