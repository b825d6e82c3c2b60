"""delta-in-place (docs/formats/delta-in-place.md): the builder, both Python
restores (without and with a journal), the power-cut sweep over it, and
hand-made streams pinned to the exact error each rule gives (the C restore
against these: tests/test_in_place_c.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run
from hostile_builders import OLD_FILL, delta_package, single, stream, window
from otapack.core import powercut
from otapack.core.build import PackageOptions, build_delta
from otapack.core.container import read_package
from otapack.core.formats.in_place import InPlaceHeader, build_in_place_header, write_order
from otapack.core.formats.varint import encode_varint
from otapack.core.model import FirmwareImage, Partition
from otapack.core.restore import resume
from otapack.core.restore.engine import Restore
from otapack.core.restore.journal import Journal
from otapack.core.restore.nor import NorFlash
from otapack.core.verify import DeviceOptions, make_device, verify_package
from otapack.errors import CorruptPatchError, ResourceLimitError, TargetMismatchError

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
PAIRS = [("programmer-0.8.0.bin", "programmer-0.9.0.bin"), ("synthesizer-1.bin", "synthesizer-2.bin")]
FAST = dict(lzma_dict_size=1 << 16)
BLOCK = 4096


def _images(old_name: str, new_name: str) -> tuple[FirmwareImage, FirmwareImage]:
    a, b = (CORPUS / old_name).read_bytes(), (CORPUS / new_name).read_bytes()
    slot = -(-max(len(a), len(b)) // BLOCK) * BLOCK
    return (FirmwareImage((Partition("app", 0, a, slot_size=slot),)),
            FirmwareImage((Partition("app", 0, b, slot_size=slot),)))


def _in_place(pair, scratch: int = 2 * BLOCK, **kw) -> tuple[bytes, FirmwareImage, FirmwareImage]:
    old, new = _images(*pair)
    return build_delta(old, new, PackageOptions(**FAST, scratch_flash=scratch, **kw)), old, new


def _operations(package: bytes) -> list[str]:
    return [r.operation for r in read_package(package).partitions]


def _journaled(old: FirmwareImage, header_scratch: int):
    dev = make_device(old, DeviceOptions())
    for part in dev.partitions.values():
        part.flash = NorFlash.holding(part.flash.read(0, part.flash.size), part.flash.size, BLOCK, 0xFF, part.name)
    dev.resume = resume.ResumeArea(Journal(NorFlash(2 * BLOCK, BLOCK, 0xFF, "journal")),
                                   NorFlash(max(header_scratch, BLOCK), BLOCK, 0xFF, "scratch"))
    return dev


# ------------------------------------------------------------------ builder and round trips

@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[0].split("-")[0])
@pytest.mark.parametrize("scratch", [BLOCK, 2 * BLOCK, 5 * BLOCK])
def test_every_corpus_fixture_round_trips_in_place(pair, scratch):
    package, old, new = _in_place(pair, scratch)
    assert _operations(package) == ["delta-in-place"]
    header = read_package(package).header
    assert BLOCK <= header.scratch_flash <= scratch  # saves + the swap sector, within the budget
    report = verify_package(package, old, new)
    assert report.ok, report.error
    assert report.device.image("app")[: new.get("app").size] == new.get("app").data
    dev = _journaled(old, header.scratch_flash)
    result = Restore(dev).run(package)
    assert result.ok, result.error
    assert dev.partitions["app"].flash.read(0, new.get("app").size) == new.get("app").data
    assert resume.pending(dev.resume) is None and dev.resume.journal.latest().phase == "done"


def test_without_a_budget_the_package_is_todays_staged_delta():
    old, new = _images(*PAIRS[0])
    default = build_delta(old, new, PackageOptions(**FAST))
    assert _operations(default) == ["delta"]
    # a budget that holds the staged copy changes nothing either
    assert build_delta(old, new, PackageOptions(**FAST, scratch_flash=8 * BLOCK)) == default


def test_a_budget_below_one_sector_sends_the_partition_in_full():
    package, _, _ = _in_place(PAIRS[0], BLOCK - 1)
    assert _operations(package) == ["replace"]
    assert read_package(package).partitions[0].reason == "no-scratch"


def test_in_place_packages_are_the_same_bytes_for_any_jobs():
    assert _in_place(PAIRS[1], jobs=1)[0] == _in_place(PAIRS[1], jobs=2)[0]


def test_the_in_place_header_is_declared_once_and_parses_back():
    segments, saves = ((3, 2, 1), (0, 3, 0)), (1, 4)
    data = build_in_place_header(BLOCK, segments, saves, bytes(range(32)))
    parsed = InPlaceHeader.parse(data)
    assert [(s.first, s.count, s.direction) for s in parsed.segments] == list(segments)
    assert list(parsed.saves) == list(saves) and parsed.write_order_sha256 == bytes(range(32))
    assert write_order(segments) == [4, 3, 0, 1, 2]


# ------------------------------------------------------------------ the power-cut sweep

def test_every_single_cut_clean_and_torn_survives_in_place():
    package, old, _ = _in_place(PAIRS[0])
    report = powercut.sweep(package, old, "all")
    assert report.failures == 0 and report.tried == 3 * report.operations, report.first_failure
    assert report.operations > 20


def test_sampled_repeated_cuts_survive_in_place_on_a_larger_fixture():
    package, old, _ = _in_place(PAIRS[1])
    report = powercut.sweep(package, old, 40, seed=7)
    assert report.failures == 0 and report.tried == 40, report.first_failure


def test_skipping_the_swap_sector_fails_the_sweep():
    """The negative control: a chunk that reads its own sector, erased
    without being parked first, cannot be produced again after a cut."""
    package, old, _ = _in_place(PAIRS[0])
    report = powercut.sweep(package, old, "single", geometry=powercut.Geometry(fault="skip-swap"), stop_at_first=True)
    assert report.failures == 1
    assert "committed data hashes to" in report.first_failure.problem


def test_a_mixed_sector_map_is_refused_before_any_write():
    package, old, _ = _in_place(PAIRS[0])
    header = read_package(package).header
    dev = _journaled(old, header.scratch_flash)
    part = dev.partitions["app"]
    part.flash = NorFlash.holding(part.flash.read(0, part.flash.size), part.flash.size, BLOCK, 0xFF, "app",
                                  sector_map=(16384, 8192))
    result = Restore(dev).run(package)
    assert result.failure.check == "resources" and isinstance(result.error, ResourceLimitError)
    assert "needs erase sectors of 4096 bytes" in str(result.error)


# ------------------------------------------------------------------ corrupt streams, exact errors

OLD = OLD_FILL * 2  # two sectors
P = "partition 'image'"


def _stream(segments, saves, body: bytes, target: bytes, sector: int = BLOCK, digest: bytes | None = None) -> bytes:
    order = write_order(segments)
    wanted = b"".join(target[k * BLOCK : (k + 1) * BLOCK] for k in order)
    return build_in_place_header(sector, segments, saves, digest or hashlib.sha256(wanted).digest()) + body


def _run(patch: bytes, target: bytes, saves: int = 0):
    pkg = delta_package(OLD, patch, target, operation="delta-in-place", scratch_flash=(saves + 1) * BLOCK)
    return verify_package(pkg, single(OLD), single(target))


#: Chunk 0 (sector 0) copies old sector 0; chunk 1 (sector 1) reads old sector 0 again.
REREAD = stream(window([(4096, 0, -4096), (4096, 0, 0)]), window_size=8192)
TWICE = OLD[:4096] * 2


def test_a_valid_hand_made_stream_restores():
    report = _run(_stream(((0, 2, 0),), (0,), REREAD, TWICE), TWICE, saves=1)
    assert report.ok, report.error


#: segments, saves, body, target, sector, digest, error class, message, failing check
CORRUPT = [
    (((0, 2, 0),), (), REREAD, TWICE, BLOCK, None, CorruptPatchError,
     f"{P}: old sector 0 read after it was overwritten (write-order chunk 1)", "restore:image"),
    (((0, 2, 0), (1, 1, 0)), (), REREAD, TWICE, BLOCK, None, CorruptPatchError,
     f"{P}: in-place segments 0 and 1 overlap", "resources"),
    (((0, 1, 0),), (), REREAD, TWICE, BLOCK, None, CorruptPatchError,
     f"{P}: in-place segments cover 1 sectors, the target has 2", "resources"),
    (((1, 2, 0),), (), REREAD, TWICE, BLOCK, None, CorruptPatchError,
     f"{P}: in-place segment 0 (sectors 1+2) runs past the target's 2 sectors", "resources"),
    (((0, 2, 0),), (2,), REREAD, TWICE, BLOCK, None, CorruptPatchError,
     f"{P}: in-place save of old sector 2, the base image has 2 sectors", "resources"),
    (((0, 2, 0),), (0,), REREAD, TWICE, 8192, None, CorruptPatchError,
     f"{P}: in-place sector size 8192, the package's erase block is 4096", "resources"),
    (((0, 2, 0),), (0,), REREAD, TWICE, BLOCK, bytes(32), TargetMismatchError, None, "target:image"),
]
CORRUPT_IDS = ["read-after-overwrite", "overlap", "short-cover", "past-end", "save-past-base", "sector-size",
               "write-order-sha"]


@pytest.mark.parametrize("segments, saves, body, target, sector, digest, cls, message, check", CORRUPT,
                         ids=CORRUPT_IDS)
def test_corrupt_in_place_streams(segments, saves, body, target, sector, digest, cls, message, check):
    report = _run(_stream(segments, saves, body, target, sector, digest), target, saves=len(saves) or 1)
    assert type(report.error) is cls, (type(report.error), report.error)
    if message is not None:
        assert str(report.error) == message
    assert [c.name for c in report.checks if c.status == "fail"] == [check]
    assert report.device.image("image") == OLD  # nothing live written
    if cls is TargetMismatchError:
        assert str(report.error).endswith("(write order)")


def test_saves_must_increase():
    head = build_in_place_header(BLOCK, ((0, 2, 0),), (), bytes(32))
    # hand-made: save_count 2, sectors 1 then 1
    patch = head[:-33] + encode_varint(2) + encode_varint(1) + encode_varint(1) + bytes(32) + REREAD
    report = _run(patch, TWICE, saves=2)
    assert type(report.error) is CorruptPatchError
    assert str(report.error) == (f"{P}: in-place save 1 (old sector 1) does not follow sector 1: saves must be "
                                 "strictly increasing")
    assert report.restore.failure.check == "resources"


def test_the_scratch_declaration_must_hold_saves_and_the_swap_sector():
    pkg = delta_package(OLD, _stream(((0, 2, 0),), (0,), REREAD, TWICE), TWICE, operation="delta-in-place",
                        scratch_flash=BLOCK)
    report = verify_package(pkg, single(OLD), single(TWICE))
    assert type(report.error) is ResourceLimitError and report.restore.failure.check == "resources"
    assert "need 8192 bytes of scratch flash" in str(report.error)


# ------------------------------------------------------------------ plan on the shipped layouts

LAYOUTS = Path(__file__).parent.parent / "examples" / "layouts"
PAC = Path(__file__).parent / "fixtures" / "pac"


def _plan(capsys, old, new, layout: str, budget: str) -> dict:
    code, out, err = run(capsys, "plan", old, new, "--layout", LAYOUTS / layout, "--stage1-download", budget,
                         "--json")
    assert code == 0, err
    return json.loads(out)


def test_plan_on_the_ec200u_layout_recommends_an_in_place_delta_that_fits(capsys):
    plan = _plan(capsys, PAC / "csdk-old.pac", PAC / "csdk-new.pac", "ec200u-eg915u.toml", "16K")
    methods = {c["method"]: c for c in plan["candidates"]}
    assert not methods["delta"]["fits"] and not methods["full"]["fits"]  # staging needs 36 KiB of scratch
    assert plan["recommendation"] == "delta-in-place" and methods["delta-in-place"]["fits"]
    assert methods["delta-in-place"]["stages"][0]["scratch_flash"] <= 12 * 1024


def test_plan_on_the_asr_16mb_layout_recommends_an_in_place_delta_that_fits(capsys, tmp_path):
    """The 10 MB system partition cannot be staged in a 64 KiB download area; in place it fits."""
    dumps = []
    for name, src in (("old.bin", "synthesizer-1.bin"), ("new.bin", "synthesizer-2.bin")):
        flash = bytearray(b"\xff" * 0x1000000)
        code = (CORPUS / src).read_bytes()
        flash[0x24000 : 0x24000 + len(code)] = code
        (tmp_path / name).write_bytes(flash)
        dumps.append(tmp_path / name)
    plan = _plan(capsys, *dumps, "asr-16mb.toml", "64K")
    methods = {c["method"]: c for c in plan["candidates"]}
    assert methods["delta"]["stages"][0]["scratch_flash"] > 10_000_000 and not methods["delta"]["fits"]
    assert plan["recommendation"] == "delta-in-place"
    assert methods["delta-in-place"]["download_bytes"] < methods["full"]["download_bytes"]


def test_diff_takes_the_scratch_budget_from_the_option_or_the_layout(capsys, tmp_path):
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    for path, name in zip((old, new), PAIRS[0]):
        path.write_bytes((CORPUS / name).read_bytes().ljust(0x6000, b"\xff"))
    layout = tmp_path / "app.toml"
    layout.write_text('scratch_flash = 8192\n[[partitions]]\nname = "app"\noffset = 0\nsize = 0x6000\n')
    for args in (("--scratch-flash", "8K"), ("--layout", layout)):
        out = tmp_path / "p.pack"
        code, _, err = run(capsys, "diff", old, new, *args, "-o", out)
        assert code == 0, err
        package = read_package(out.read_bytes())
        assert [p.operation for p in package.partitions] == ["delta-in-place"]
        assert package.header.scratch_flash <= 8192
    layout.write_text('scratch_flash = -1\n[[partitions]]\nname = "app"\noffset = 0\nsize = 0x6000\n')
    code, _, err = run(capsys, "diff", old, new, "--layout", layout, "-o", tmp_path / "q.pack")
    assert code != 0 and "scratch_flash" in err


def test_the_work_bound_counts_each_pass_on_its_own():
    """The proving pass and the commit decode the same stream: its tuples are
    held to the bound once per pass, not summed (a stream near the bound restores)."""
    body = stream(window([(16, 0, 0)] * 512), window_size=8192, max_tuples=512)
    report = _run(_stream(((0, 2, 0),), (), body, OLD), OLD)
    assert report.ok, report.error
    assert report.restore.tuples == 2 * 512


def test_a_multi_partition_package_mixes_staged_in_place_and_full_and_survives_cuts():
    """The power-cut fixture's layout (two deltas, a replace, a keep) with
    scratch for one staged partition: the first delta in place, the rest as
    the budget allows; sampled cuts, clean and torn, all survive."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "powercut"))
    from powercut_fixtures import FAST as PC_FAST, three_partitions

    _, old, new = three_partitions()
    package = build_delta(old, new, PackageOptions(**PC_FAST, scratch_flash=3 * BLOCK))
    ops = {r.name: r.operation for r in read_package(package).partitions}
    assert "delta-in-place" in ops.values() and ops["boot"] == "keep" and ops["cfg"] == "replace"
    assert read_package(package).header.scratch_flash <= 3 * BLOCK
    assert verify_package(package, old, new).ok
    report = powercut.sweep(package, old, 60, seed=3)
    assert report.failures == 0, report.first_failure
