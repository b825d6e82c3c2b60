"""Small packages for the power-cut sweep, built from tests/fixtures/corpus."""

from __future__ import annotations

import functools
from pathlib import Path

from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.model import FirmwareImage, Partition, PartitionType, Policy

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
FAST = dict(lzma_dict_size=1 << 16)


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _image(app: bytes, data: bytes, cfg: bytes, boot: bytes, erased: int = 0xFF) -> FirmwareImage:
    return FirmwareImage((
        Partition("boot", 0, boot, policy=Policy.KEEP, slot_size=0x2000),
        Partition("app", 0x2000, app, slot_size=0x8000),
        Partition("data", 0xA000, data, type=PartitionType.DATA, slot_size=0x5000),
        Partition("cfg", 0xF000, cfg, type=PartitionType.DATA, policy=Policy.FULL, slot_size=0x1000),
    ), erased_value=erased)


@functools.lru_cache(maxsize=None)
def three_partitions(erased: int = 0xFF) -> tuple[bytes, FirmwareImage, FirmwareImage]:
    """Two deltas (app, data), a replace (cfg) and a keep (boot)."""
    s1, s2 = corpus("synthesizer-1.bin"), corpus("synthesizer-2.bin")
    p8, p9 = corpus("programmer-0.8.0.bin"), corpus("programmer-0.9.0.bin")
    old = _image(p8, s1[:16384], s1[-3000:], s1[:1024], erased)
    new = _image(p9, s2[:17000], s2[-3500:], s1[:1024], erased)
    return build_delta(old, new, PackageOptions(**FAST)), old, new


@functools.lru_cache(maxsize=None)
def full_package() -> tuple[bytes, FirmwareImage, FirmwareImage]:
    """A full package over the same layout (replace only)."""
    _, old, new = three_partitions()
    return build_full(new, PackageOptions(**FAST)), old, new

#: The layout of the images above (slots, keep/full policies).
LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "partitions" / "powercut.toml"


def flat(image: FirmwareImage, size: int = 0x10000) -> bytes:
    """``image`` as a raw flash dump for ``LAYOUT`` (erased between partitions)."""
    out = bytearray([image.erased_value]) * size
    for part in image.partitions:
        out[part.address : part.address + len(part.data)] = part.data
    return bytes(out)
