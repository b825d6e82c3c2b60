"""Every staged and in-place delta of the fixture corpus through both restores,
interrupted and not (issue 15's "Done when"; bench/corpus_cuts.py runs the
same on the whole corpus).

Each pair of tests/fixtures/corpus goes into one partition; the staged delta
and the in-place delta (two scratch budgets) are restored uninterrupted by
the Python restore and the C library (``engine="both"``: the same verdict,
checks and flash) and compared with NEW, then swept with sampled cuts (1 to 5
clean or torn, both restores in lockstep) and with every single clean cut
on the smaller pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from otapack.core import powercut
from otapack.core.build import PackageOptions, build_delta
from otapack.core.container import read_package
from otapack.core.model import FirmwareImage, Partition
from otapack.core.verify import DeviceOptions, verify_package

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
PAIRS = {"programmer": ("programmer-0.8.0.bin", "programmer-0.9.0.bin"),
         "synthesizer": ("synthesizer-1.bin", "synthesizer-2.bin")}
BLOCK = 4096
#: staged (no scratch budget) and in place within 2 and 4 erase blocks
KINDS = {"staged": None, "in-place-8k": 2 * BLOCK, "in-place-16k": 4 * BLOCK}
BOTH = powercut.Geometry(engine="both")


def _package(pair: str, kind: str) -> tuple[bytes, FirmwareImage, FirmwareImage]:
    a, b = ((CORPUS / name).read_bytes() for name in PAIRS[pair])
    slot = -(-max(len(a), len(b)) // BLOCK) * BLOCK
    old = FirmwareImage((Partition("app", 0, a, slot_size=slot),))
    new = FirmwareImage((Partition("app", 0, b, slot_size=slot),))
    return build_delta(old, new, PackageOptions(lzma_dict_size=1 << 16, scratch_flash=KINDS[kind])), old, new


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pair", PAIRS)
def test_the_delta_restores_to_new_in_both_restores_interrupted_and_not(pair, kind):
    package, old, new = _package(pair, kind)
    operation = read_package(package).partitions[0].operation
    assert operation == ("delta" if kind == "staged" else "delta-in-place")
    report = verify_package(package, old, new, DeviceOptions(engine="both"))
    assert report.ok, report.error
    cuts = powercut.sweep(package, old, 12, seed=3, geometry=BOTH)
    assert cuts.operations > 0
    assert (cuts.tried, cuts.failures) == (12, 0), cuts.first_failure


@pytest.mark.parametrize("kind", KINDS)
def test_every_single_clean_cut_survives_in_both_restores(kind):
    package, old, _ = _package("programmer", kind)
    cuts = powercut.sweep(package, old, "single", geometry=BOTH)
    assert cuts.tried == cuts.operations > 0
    assert (cuts.failures, cuts.first_failure) == (0, None)
