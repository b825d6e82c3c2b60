"""Where the benchmark scripts find the firmware pair corpus, and the one error
they give without it (a fresh clone has no ``../shared/corpus``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The default corpus: beside the repository, as on the machines the figures come from.
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_HELP = ("folder of firmware pairs, one <pair>/old.bin + <pair>/new.bin per subfolder "
               f"(default: {DEFAULT_CORPUS}; see bench/README.md)")


def corpus_pairs(corpus: Path) -> list[Path]:
    """The pair folders under ``corpus``, sorted; exit 2 with one error line when there are none."""
    if not corpus.is_dir():
        _fail(f"no firmware corpus at {corpus}")
    pairs = sorted(p for p in corpus.iterdir() if (p / "old.bin").is_file() and (p / "new.bin").is_file())
    if not pairs:
        _fail(f"no <pair>/old.bin and <pair>/new.bin under {corpus}")
    return pairs


def _fail(what: str) -> None:
    print(f"error: {what}: give --corpus DIR, a folder of <pair>/old.bin and <pair>/new.bin "
          f"(see bench/README.md)", file=sys.stderr)
    raise SystemExit(2)


def pair_images(pair: Path, erase_block: int = 4096):
    """OLD and NEW of a pair folder as ``FirmwareImage``s: a Unisoc PAC pair
    (``old.pac``/``new.pac``) with its partitions and XML slots, else the
    image as one partition whose slot is the larger image in erase blocks."""
    from otapack.api import load_firmware
    from otapack.core.model import FirmwareImage, Partition

    if (pair / "old.pac").is_file():
        return load_firmware(str(pair / "old.pac"), None, "old"), load_firmware(str(pair / "new.pac"), None, "new")
    old, new = (pair / "old.bin").read_bytes(), (pair / "new.bin").read_bytes()
    slot = -(-max(len(old), len(new)) // erase_block) * erase_block
    return (FirmwareImage((Partition("image", 0, old, slot_size=slot),)),
            FirmwareImage((Partition("image", 0, new, slot_size=slot),)))
