"""Minimal-system upgrades: two chained stages, flash budgets, chain refusals.

The composite images are built from real pieces: a real code image
(fixtures/corpus/programmer-0.8.0/0.9.0.bin) in ``app``, a littlefs
``customer_fs`` with real files (otapack.features.cloud.fs), NV records; the minimal system
is a slice of another real build (fixtures/corpus/synthesizer-1.bin).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest

from otapack.core.build import PackageOptions
from otapack.cli import main
from otapack.core.formats.extensions import decode_budget
from otapack.errors import BudgetError, ChainMismatchError, ChainStateError, LayoutError, UsageError
from otapack.features.cloud.fs import FsOptions, build_fs_image
from otapack.features.minimal.build import build_minimal
from otapack.features.minimal.chain import verify_chain
from otapack.features.minimal.config import MinimalConfig, chain_capacities
from otapack.features.minimal.plan import plan_upgrade
from otapack.features.minimal.state import install_minimal
from otapack.core.container import read_package
from otapack.core.inputs import load_layout, read_firmware_bytes

from conftest import FIXTURES

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "minimal-system"

PARTITIONS = '''
base_address = 0
erase_block = 0x1000
flash_size = 0x16000
[[partitions]]
name = "bootloader"
offset = 0
size = 0x4000
type = "bootloader"
[[partitions]]
name = "app"
offset = 0x4000
size = 0x8000
type = "code"
[[partitions]]
name = "customer_fs"
offset = 0xC000
size = 0x8000
type = "filesystem"
[[partitions]]
name = "nv"
offset = 0x14000
size = 0x2000
type = "nv"
'''
MINIMAL_TABLE = '''
[minimal_system]
partition = "app"
stage1_download = {stage1}
stage2_download = {stage2}
'''
LAYOUT = PARTITIONS + MINIMAL_TABLE.format(stage1="0x3000", stage2='"customer_fs"')

OLD_FILES = {"/main.py": b"import utime\nprint('v1')\n", "/lib/util.py": b"def report():\n    print('alive')\n"}
NEW_FILES = {"/main.py": b"import utime\nprint('v2')\n", "/lib/util.py": b"def report():\n    print('ok')\n",
             "/config.json": b'{"interval": 60}\n'}


def _pad(data: bytes, size: int) -> bytes:
    assert len(data) <= size
    return data + b"\xff" * (size - len(data))


def composite(app: bytes, files: dict[str, bytes]) -> bytes:
    boot = _pad(b"BOOT" + hashlib.sha256(b"boot").digest() * 64, 0x4000)
    nv = _pad(b"NVRM\x01\x00imei=860000000000001\nrf_cal=0x3c5a\n", 0x2000)
    fs = build_fs_image(files, FsOptions(block_count=8, lfs_version="2.0"))
    return boot + _pad(app, 0x8000) + fs + nv


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    corpus = FIXTURES / "corpus"
    old = composite((corpus / "programmer-0.8.0.bin").read_bytes(), OLD_FILES)
    new = composite((corpus / "programmer-0.9.0.bin").read_bytes(), NEW_FILES)
    other = composite((corpus / "programmer-0.9.0.bin").read_bytes(), dict(NEW_FILES, **{"/x.py": b"x = 1\n"}))
    mini = (corpus / "synthesizer-1.bin").read_bytes()[:0x2000]
    d = tmp_path_factory.mktemp("minimal")
    for name, data in (("old.bin", old), ("new.bin", new), ("other.bin", other), ("mini.bin", mini)):
        (d / name).write_bytes(data)
    (d / "layout.toml").write_text(LAYOUT)
    return d


def _load(d: Path, name: str, layout: str = LAYOUT):
    return read_firmware_bytes((d / name).read_bytes(), layout=load_layout(layout))


@pytest.fixture(scope="module")
def built(images):
    old, new = _load(images, "old.bin"), _load(images, "new.bin")
    config = MinimalConfig.from_layout(load_layout(LAYOUT))
    result = build_minimal(old, new, (images / "mini.bin").read_bytes(), config, PackageOptions(lzma_dict_size=1 << 16))
    return old, new, config, result


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# -- API ---------------------------------------------------------------------------


def test_chain_restores_new_byte_identical_within_budgets(built):
    old, new, config, result = built
    assert result.fits
    for figures in result.figures:
        assert figures.flash_needed <= figures.download_area
    assert [f.download_area for f in result.figures] == [0x3000, 0x8000]
    s1, s2 = read_package(result.stage1), read_package(result.stage2)
    assert (s1.header.kind, s2.header.kind) == ("minimal-stage1", "minimal-stage2")
    assert {p.name: p.operation for p in s1.partitions} == {
        "bootloader": "keep", "app": "replace", "customer_fs": "skip", "nv": "skip"}
    assert {p.name: p.operation for p in s2.partitions} == {
        "bootloader": "keep", "app": "replace", "customer_fs": "replace", "nv": "skip"}
    # the chain: stage 1 names stage 2's body digest
    assert s1.header.extension("chain-next-package") == s2.body_sha256
    report = verify_chain([result.stage1, result.stage2], old, new, capacities=chain_capacities(config, new))
    assert report.ok, report.error
    assert [c.name for c in report.checks] == ["intermediate-state", "reboot", "expected-image"]
    assert all(c.status == "pass" for c in report.checks)
    for name in new.names():
        if name != "nv":
            assert report.device.image(name) == new.get(name).data


def test_intermediate_state_is_the_minimal_system(built, images):
    old, new, config, result = built
    report = verify_chain([result.stage1], old)
    assert report.ok
    inter = install_minimal(old, (images / "mini.bin").read_bytes(), "app")
    assert report.device.image("app") == inter.get("app").data
    assert report.device.image("customer_fs") == old.get("customer_fs").data
    assert report.checks[-1].status == "skipped" and "intermediate state" in report.checks[-1].detail


def test_budget_extension_records_the_figures(built):
    _, _, _, result = built
    for stage, (package, figures) in enumerate(zip((result.stage1, result.stage2), result.figures), start=1):
        budget = decode_budget(read_package(package).header.extension("budget"))
        assert budget == {"stage": stage, "download_area": figures.download_area, "package_bytes": len(package),
                          "scratch_flash": figures.scratch_flash, "flash_needed": figures.flash_needed,
                          "free_after": figures.download_area - figures.flash_needed}


def test_builds_are_deterministic(built, images):
    old, new, config, result = built
    again = build_minimal(old, new, (images / "mini.bin").read_bytes(), config, PackageOptions(lzma_dict_size=1 << 16))
    assert (again.stage1, again.stage2) == (result.stage1, result.stage2)
    parallel = build_minimal(old, new, (images / "mini.bin").read_bytes(), config,
                             PackageOptions(lzma_dict_size=1 << 16, jobs=3))
    assert (parallel.stage1, parallel.stage2) == (result.stage1, result.stage2)


def test_stage2_alone_against_old_is_refused(built):
    old, new, _, result = built
    report = verify_chain([result.stage2], old, new)
    assert isinstance(report.error, ChainStateError)
    want = read_package(result.stage2).header.extension("chain-prev-state")[:32].hex()
    assert str(report.error).startswith(f"stage 2 starts from flash state {want}, the device is in state ")
    assert "apply its stage 1 first" in str(report.error)
    assert report.stages[0].restore.bytes_written == 0


def test_swapped_stages_are_refused(built):
    old, new, _, result = built
    report = verify_chain([result.stage2, result.stage1], old, new)
    assert isinstance(report.error, ChainStateError) and len(report.stages) == 1


def test_foreign_stage2_is_refused(built, images):
    old, _, config, result = built
    other = _load(images, "other.bin")
    foreign = build_minimal(old, other, (images / "mini.bin").read_bytes(), config,
                            PackageOptions(lzma_dict_size=1 << 16))
    # same intermediate state, so only the chain-next-package digest tells them apart
    assert (read_package(foreign.stage2).header.extension("chain-prev-state")
            == read_package(result.stage2).header.extension("chain-prev-state"))
    report = verify_chain([result.stage1, foreign.stage2], old, other)
    assert isinstance(report.error, ChainMismatchError)
    assert str(report.error) == (
        f"stage 1 names stage 2 package {read_package(result.stage2).body_sha256.hex()}, this package is "
        f"{read_package(foreign.stage2).body_sha256.hex()}: a stage 2 built for another upgrade (mix-and-match) "
        f"is refused")
    assert report.error.exit_code == 8


def test_wrong_base_is_refused(built, images):
    _, new, _, result = built
    report = verify_chain([result.stage1, result.stage2], new, new)
    assert isinstance(report.error, ChainStateError) and report.error.exit_code == 1
    assert "wrong base image" in str(report.error)


def test_over_budget_names_stage_need_budget_shortfall(built, images):
    old, new, _, _ = built
    config = MinimalConfig("app", 0x3000, 0x2000)
    with pytest.raises(BudgetError) as exc:
        build_minimal(old, new, (images / "mini.bin").read_bytes(), config, PackageOptions(lzma_dict_size=1 << 16))
    message = str(exc.value)
    assert message.startswith("stage 2 needs ")
    assert "the phase-2 download area (stage2_download) has 8192 bytes: short by " in message
    assert "hint: a smaller LZMA dictionary does not shrink the package" in message
    assert exc.value.exit_code == 7


def test_delta_chosen_when_its_staging_fits(built, images):
    old, new, _, _ = built
    roomy = MinimalConfig("app", 0x40000, "customer_fs")
    mini = (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()  # a close relative of OLD's app
    result = build_minimal(old, new, mini, roomy, PackageOptions(lzma_dict_size=1 << 16))
    s1 = read_package(result.stage1)
    assert s1.partition("app").operation == "delta"
    assert result.figures[0].scratch_flash == 0x8000
    tight = build_minimal(old, new, mini, replace(roomy, stage1_download=0x5000), PackageOptions(lzma_dict_size=1 << 16))
    assert read_package(tight.stage1).partition("app").operation == "replace"
    assert tight.figures[0].fallback == ("app",)
    assert verify_chain([tight.stage1, tight.stage2], old, new).ok


def test_plan_recommends_what_fits_with_the_fewest_bytes(built, images):
    old, new, config, _ = built
    plan = plan_upgrade(old, new, config, PackageOptions(lzma_dict_size=1 << 16), (images / "mini.bin").read_bytes())
    methods = {c["method"]: c for c in plan.candidates}
    assert not methods["delta"]["fits"] and methods["delta"]["stages"][0]["scratch_flash"] == 0x8000
    assert not methods["full"]["fits"]
    assert methods["minimal-system"]["fits"]
    # patched in place (docs/formats/delta-in-place.md) the delta fits too, with fewer bytes than two stages
    assert methods["delta-in-place"]["fits"] and plan.recommendation == "delta-in-place"
    assert methods["delta-in-place"]["download_bytes"] < methods["minimal-system"]["download_bytes"]


def test_layout_minimal_system_table_errors(images):
    bad = LAYOUT + 'stage3_download = 1\n'
    with pytest.raises(LayoutError, match=r"unknown key 'stage3_download' in \[minimal_system\]"):
        MinimalConfig.from_layout(load_layout(bad))
    bad = PARTITIONS + MINIMAL_TABLE.format(stage1="0x3000", stage2='"usr"')
    with pytest.raises(LayoutError, match="stage2_download names partition 'usr', which the layout does not have"):
        MinimalConfig.from_layout(load_layout(bad))
    with pytest.raises(UsageError, match=r"no partition, stage1_download, stage2_download known"):
        MinimalConfig.from_layout(load_layout(PARTITIONS))
    old, new = _load(images, "old.bin"), _load(images, "new.bin")
    with pytest.raises(LayoutError, match="names 'app', the minimal-system partition"):
        build_minimal(old, new, b"x", MinimalConfig("app", 0x3000, "app"))
    with pytest.raises(LayoutError, match="'nv', which has policy skip"):
        build_minimal(old, new, b"x", MinimalConfig("app", 0x3000, "nv"))


# -- CLI ---------------------------------------------------------------------------


def test_cli_minimal_verify_info(images, tmp_path, capsys):
    d = images
    s1, s2 = tmp_path / "stage1.pack", tmp_path / "stage2.pack"
    code, _, err = cli(capsys, "minimal", d / "old.bin", d / "new.bin", "--minimal-system", d / "mini.bin",
                       "--layout", d / "layout.toml", "--lzma-dict", "64K", "-o", s1, "-o", s2)
    assert code == 0, err
    assert "verified: stage 1, reboot, stage 2 reproduce the new image" in err
    code, out, err = cli(capsys, "verify", s1, s2, "--old", d / "old.bin", "--new", d / "new.bin",
                         "--layout", d / "layout.toml")
    assert code == 0, err
    assert "ok   intermediate-state" in out and "ok   reboot" in out and out.rstrip().endswith("result: PASS")
    code, out, _ = cli(capsys, "info", s1)
    assert "stage          1 of 2 (minimal-system upgrade)" in out
    assert f"chain to       stage 2 package {read_package(s2.read_bytes()).body_sha256.hex()}" in out
    assert "flash budget   need " in out and "phase-1 download area" in out
    code, out, _ = cli(capsys, "info", s2, "--json")
    doc = json.loads(out)["minimal_system"]
    assert doc["stage"] == 2 and doc["chain_prev_state"]["covers"] == ["bootloader", "app"]
    assert doc["budget"]["download_area"] == 0x8000
    # determinism through the CLI
    d2 = tmp_path / "again"
    d2.mkdir()
    assert cli(capsys, "minimal", d / "old.bin", d / "new.bin", "--minimal-system", d / "mini.bin",
               "--layout", d / "layout.toml", "--lzma-dict", "64K", "--out-dir", d2)[0] == 0
    assert (d2 / "stage1.pack").read_bytes() == s1.read_bytes()
    assert (d2 / "stage2.pack").read_bytes() == s2.read_bytes()
    # refusals, with their exit codes
    code, _, err = cli(capsys, "verify", s2, s1, "--old", d / "old.bin", "--new", d / "new.bin", "--layout",
                       d / "layout.toml")
    assert code == 1 and "error: stage 2 starts from flash state" in err
    code, _, err = cli(capsys, "verify", s2, "--old", d / "old.bin", "--new", d / "new.bin", "--layout",
                       d / "layout.toml")
    assert code == 1 and "apply its stage 1 first" in err
    code, _, err = cli(capsys, "verify", s1, s2, "--old", d / "new.bin", "--new", d / "new.bin", "--layout",
                       d / "layout.toml")
    assert code == 1 and "wrong base image" in err
    code, _, err = cli(capsys, "verify", s1, s2, "--old", d / "old.bin", "--new", d / "new.bin")
    assert code == 1 and "which the device does not have" in err and "without its layout?" in err


def test_cli_over_budget_exit_7_writes_nothing(images, tmp_path, capsys):
    d = images
    s1, s2 = tmp_path / "s1.pack", tmp_path / "s2.pack"
    code, _, err = cli(capsys, "minimal", d / "old.bin", d / "new.bin", "--minimal-system", d / "mini.bin",
                       "--layout", d / "layout.toml", "--stage1-download", "4K", "-o", s1, "-o", s2)
    assert code == 7
    assert "error: stage 1 needs 8192 bytes of flash for its package" in err
    assert "the phase-1 download area (stage1_download) has 4096 bytes: short by 4096 bytes; hint: " in err
    assert not s1.exists() and not s2.exists()
    code, _, err = cli(capsys, "minimal", d / "old.bin", d / "new.bin", "--minimal-system", d / "mini.bin",
                       "--layout", d / "layout.toml", "-o", s1)
    assert code == 2 and "give -o STAGE1 -o STAGE2" in err


def test_cli_foreign_stage2_exit_8(images, tmp_path, capsys):
    d = images
    args = ["--minimal-system", d / "mini.bin", "--layout", d / "layout.toml", "--lzma-dict", "64K", "--no-verify"]
    assert cli(capsys, "minimal", d / "old.bin", d / "new.bin", *args, "--out-dir", tmp_path)[0] == 0
    (tmp_path / "other").mkdir()
    assert cli(capsys, "minimal", d / "old.bin", d / "other.bin", *args, "--out-dir", tmp_path / "other")[0] == 0
    code, out, err = cli(capsys, "verify", tmp_path / "stage1.pack", tmp_path / "other" / "stage2.pack",
                         "--old", d / "old.bin", "--new", d / "other.bin", "--layout", d / "layout.toml", "--json")
    assert code == 8 and "mix-and-match" in err
    assert json.loads(out)["result"] == "fail"


def test_cli_plan_json(images, capsys):
    d = images
    code, out, _ = cli(capsys, "plan", d / "old.bin", d / "new.bin", "--layout", d / "layout.toml",
                       "--minimal-system", d / "mini.bin", "--lzma-dict", "64K", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["recommendation"] == "delta-in-place"  # fewer bytes than the two stages
    assert [c["method"] for c in doc["candidates"]] == ["delta", "delta-in-place", "full", "minimal-system"]
    code, out, err = cli(capsys, "plan", d / "old.bin", d / "new.bin", "--layout", d / "layout.toml",
                         "--stage1-download", "4K")  # a package sector and a swap sector do not fit
    assert code == 7 and "no upgrade method fits the flash budget" in err
    code, out, _ = cli(capsys, "plan", d / "old.bin", d / "new.bin", "--layout", d / "layout.toml",
                       "--stage1-download", "1M", "--json")
    assert code == 0 and json.loads(out)["recommendation"] == "delta"


# -- the example -----------------------------------------------------------------------


def test_example_regenerates_and_runs(tmp_path, capsys, monkeypatch, update_golden):
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    corpus = FIXTURES / "corpus"
    firmware = ROOT / "examples" / "firmware"
    assert module.image((firmware / "synthesizer-v1.bin").read_bytes(), module.APP_V1) == (EXAMPLE / "old.bin").read_bytes()
    assert module.image((firmware / "synthesizer-v2.bin").read_bytes(), module.APP_V2) == (EXAMPLE / "new.bin").read_bytes()
    assert (corpus / "programmer-0.9.0.bin").read_bytes() == (EXAMPLE / "minimal.bin").read_bytes()
    assert sum(p.stat().st_size for p in EXAMPLE.iterdir()) < 2_000_000
    monkeypatch.chdir(ROOT)
    s1, s2 = tmp_path / "stage1.pack", tmp_path / "stage2.pack"
    e = "examples/minimal-system/"
    assert cli(capsys, "minimal", e + "old.bin", e + "new.bin", "--minimal-system", e + "minimal.bin",
               "--layout", e + "layout.toml", "-o", s1, "-o", s2)[0] == 0
    code, out, err = cli(capsys, "verify", s1, s2, "--old", e + "old.bin", "--new", e + "new.bin",
                         "--layout", e + "layout.toml")
    assert code == 0, err
    assert [len(s1.read_bytes()), len(s2.read_bytes())] == [14066, 53536]  # docs/minimal-system.md
    # byte for byte: the stages, their chain and budget extensions (tests/fixtures/README.md)
    for name, built in (("minimal-stage1.pack", s1), ("minimal-stage2.pack", s2)):
        golden = FIXTURES / "golden" / name
        if update_golden:
            golden.write_bytes(built.read_bytes())
        assert golden.read_bytes() == built.read_bytes(), f"{name} changed; rerun with --update-golden if intended"


def test_a_stage_patches_in_place_only_when_given_a_scratch_budget(built, images):
    """Without ``scratch_flash`` the stages are today's (no delta-in-place: a
    device may not restore it); with it, a delta that missed the budget staged
    may be patched in place, and the chain still restores NEW."""
    old, new, config, result = built
    ops = [p.operation for s in (result.stage1, result.stage2) for p in read_package(s).partitions]
    assert "delta-in-place" not in ops
    again = build_minimal(old, new, (images / "mini.bin").read_bytes(), config,
                          PackageOptions(lzma_dict_size=1 << 16, scratch_flash=0x8000))
    assert again.fits
    report = verify_chain([again.stage1, again.stage2], old, new, capacities=chain_capacities(config, new))
    assert report.ok, report.error
