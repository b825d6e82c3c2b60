"""The package in the download area (otapack/core/restore/package_copy.py): the
minimal-system example's stage 2 is downloaded into ``customer_fs``, a slot
it rewrites; the journaled restore copies what it still needs to scratch
before the first erase over the package, and the sweep asserts the package
intact until the journal records that copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run
from otapack.core import powercut
from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.container import read_package
from otapack.core.flash_image import load_flash_image
from otapack.core.powercut import Geometry
from otapack.core.restore import package_copy, resume
from otapack.core.restore.engine import Restore
from otapack.core.restore.nor import NorFlash, Power, PowerLost
from otapack.core.verify import make_device
from otapack.errors import IntegrityError, ResourceLimitError, TargetMismatchError
from powercut_fixtures import full_package, three_partitions

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "minimal-system"
LAYOUT = EXAMPLE / "layout.toml"
STAGE1, STAGE2 = FIXTURES / "golden" / "minimal-stage1.pack", FIXTURES / "golden" / "minimal-stage2.pack"
IN_FS = Geometry(download=("customer_fs",))


@pytest.fixture(scope="module")
def stage2(tmp_path_factory):
    """The stage-2 package and the device it runs on (OLD after stage 1)."""
    mid = tmp_path_factory.mktemp("mid") / "mid.bin"
    from otapack.cli import main

    assert main(["-q", "apply", str(STAGE1), "--old", str(EXAMPLE / "old.bin"), "--layout", str(LAYOUT),
                 "-o", str(mid)]) == 0
    return STAGE2.read_bytes(), load_flash_image(mid, LAYOUT)[0], mid


def _device(package, old, geometry=IN_FS, cuts=()):
    header = Restore(make_device(old)).run(package).header
    power = Power(frozenset(cuts))
    return powercut.build_device(old, header, geometry, power, package), header, power


def _cut_after_copy(package, old):
    """A device whose power went after the first erase over the package."""
    dev, header, power = _device(package, old)
    assert Restore(dev).run(package).ok
    for cut in range(power.operations):
        dev, header, power = _device(package, old, cuts={cut})
        try:
            Restore(dev).run(package)
        except PowerLost:
            record = dev.resume.journal.latest()
            if record is not None and record.phase == "copied" and record.done and dev.partitions["customer_fs"].flash.read(0, 16) \
                    != package[:16]:
                return dev
    raise AssertionError("no cut after the first erase over the package")


def test_the_package_is_read_from_the_download_area_flash(stage2):
    package, old, _ = stage2
    dev, _, _ = _device(package, old)
    flash = dev.partitions["customer_fs"].flash
    assert flash.read(0, len(package)) == package  # downloaded over what the slot held
    flash._store(1000, bytes([package[1000] ^ 1]))  # one bit flipped in flash, the argument intact
    result = Restore(dev).run(package)
    assert result.failure.check == "crc32" and isinstance(result.error, IntegrityError)


def test_sampled_repeated_cuts_survive_with_the_package_in_customer_fs(stage2):
    package, old, _ = stage2
    report = powercut.sweep(package, old, 30, seed=4, geometry=IN_FS)
    assert report.failures == 0 and report.tried == 30, report.first_failure
    # the copy, its descriptor and the `copied` record are flash operations of their own
    assert report.operations > powercut.sweep(package, old, 1, geometry=Geometry()).operations


@pytest.mark.parametrize("geometry", [Geometry(program_unit=32, download=("customer_fs",), engine="both"),
                                      Geometry(sector_map="stm32f4", download=("customer_fs",), engine="both")],
                         ids=["unit32", "stm32f4"])
def test_sampled_cuts_survive_on_other_flash_geometries(stage2, geometry):
    package, old, _ = stage2
    report = powercut.sweep(package, old, 20, seed=9, geometry=geometry)
    assert report.failures == 0 and report.tried == 20, report.first_failure


def test_skipping_the_copy_fails_the_sweep_on_the_package_intact_assertion(stage2):
    """The negative control: committing customer_fs from the package itself
    overwrites the package while the journal still needs it."""
    package, old, _ = stage2
    geometry = Geometry(download=("customer_fs",), fault="skip-copy")
    report = powercut.sweep(package, old, "single", geometry=geometry, stop_at_first=True)
    assert report.failures == 1
    assert "the package in the download area (customer_fs) was overwritten while the journal says phase commit" \
        in report.first_failure.problem


def test_a_boot_after_the_copy_verifies_the_copy_and_resumes_from_it(stage2):
    package, old, _ = stage2
    dev = _cut_after_copy(package, old)
    assert resume.pending(dev.resume) is not None
    result = Restore(dev).run(package)
    assert result.ok, result.error
    status = {c.name: (c.status.value, c.detail) for c in result.checks}
    assert status["crc32"][0] == status["signature"][0] == "skipped"
    assert "the package may be overwritten: its 753-byte copy in scratch matches its descriptor" in status["download"][1]
    assert resume.pending(dev.resume) is None and dev.resume.journal.latest().phase == "done"


def test_a_damaged_copy_is_refused_at_download(stage2):
    package, old, _ = stage2
    dev = _cut_after_copy(package, old)
    scratch = dev.resume.scratch
    at = package_copy.copy_base(scratch, 753) + 700  # inside the copy (753 bytes: header, customer_fs payload)
    scratch._store(at, bytes([scratch.read(at, 1)[0] ^ 0x10]))
    result = Restore(dev).run(package)
    assert result.failure.check == "download" and isinstance(result.error, IntegrityError)
    assert "is damaged" in str(result.error)


def _refused(package, old, geometry, scratch_size=None):
    dev, _, power = _device(package, old, geometry)
    if scratch_size is not None:
        dev.resume.scratch = NorFlash(scratch_size, 4096, dev.erased_value, "scratch", power=power)
    before = powercut.flash_state(dev)
    result = Restore(dev).run(package)
    assert result.failure.check == "resources" and isinstance(result.error, ResourceLimitError)
    assert power.operations == 0 and powercut.flash_state(dev) == before  # before any write
    return str(result.error)


def test_a_partition_over_the_package_that_is_not_last_is_refused_at_resources():
    package, old, _ = full_package()
    error = _refused(package, old, Geometry(download=("app",)))
    assert error == "partition 'app' holds the downloaded package but comes before 'data', 'cfg': it must be " \
                    "committed last"


OVER_ALL = Geometry(download=("app", "data", "cfg"))


def test_a_copy_the_package_does_not_declare_is_refused_at_resources():
    package, old, _ = full_package()  # 25,775 bytes, each partition carried in full, built without the area
    error = _refused(package, old, OVER_ALL)
    assert error == "the package declares 0 bytes of scratch flash, its copy over its download area makes 28672: " \
                    "build it naming that area"


def test_a_copy_larger_than_the_scratch_area_is_refused_at_resources():
    _, old, new = full_package()
    package = build_full(new, PackageOptions(lzma_dict_size=1 << 16, download_slots=OVER_ALL.download))
    assert read_package(package).header.scratch_flash == 28672  # header + payloads + descriptor, in 4 KiB blocks
    error = _refused(package, old, OVER_ALL, scratch_size=2 * 4096)
    assert error.startswith("the copy of the package's header and of the payloads over its download area needs ")
    assert error.endswith("bytes of the 8192-byte scratch area")


def test_a_delta_over_the_package_is_refused_at_resources():
    package, old, _ = three_partitions()
    error = _refused(package, old, Geometry(download=("app",)))
    assert error == "partition 'app' holds the downloaded package: it can only be carried in full (replace), " \
                    "not as delta"


def test_verify_power_cuts_takes_the_download_area_from_the_layout(capsys, stage2):
    package, old, mid = stage2
    code, text, err = run(capsys, "verify", STAGE2, "--old", mid, "--layout", LAYOUT, "--power-cuts", "3",
                          "--json")
    assert code == 0, err
    report = json.loads(text)["power_cuts"]
    assert report["download_area"] == ["customer_fs"] and report["failures"] == 0
    assert report["operations"] == powercut.sweep(package, old, 1, geometry=IN_FS).operations



BOTH_IN_FS = Geometry(download=("customer_fs",), engine="both")


@pytest.mark.slow
def test_every_single_cut_clean_and_torn_runs_the_same_in_both_restores(stage2):
    """The C journaled restore copies the package out as the Python one does:
    after every boot of every case both hold the same flash, journal and checks."""
    package, old, _ = stage2  # every sweep assertion is checked on the Python device too
    report = powercut.sweep(package, old, "all", seed=3, geometry=BOTH_IN_FS)
    assert report.failures == 0 and report.tried == 3 * report.operations, report.first_failure
    assert report.operations == powercut.sweep(package, old, 1, geometry=IN_FS).operations > 150


def test_sampled_repeated_cuts_run_the_same_in_both_restores(stage2):
    package, old, _ = stage2
    report = powercut.sweep(package, old, 12, seed=5, geometry=BOTH_IN_FS)
    assert report.failures == 0 and report.tried == 12, report.first_failure


def test_skipping_the_copy_fails_the_c_sweep_too(stage2):
    """The negative control in C (OTA_JOURNAL_FAULT_SKIP_COPY).  The C restore
    keeps no header in RAM: it reads the target digest from the package after
    its first erase over it, so without the copy it fails even uncut."""
    from otapack.core.restore import c_engine

    package, old, _ = stage2
    for engine in ("c", "both"):
        geometry = Geometry(download=("customer_fs",), fault="skip-copy", engine=engine)
        with pytest.raises(TargetMismatchError, match="C restore failed at commit"):
            powercut.sweep(package, old, "single", geometry=geometry, stop_at_first=True)
    dev, _, _ = _device(package, old)
    assert c_engine.run(dev, package).ok  # the same device, the copy made


def test_the_c_restore_resumes_from_the_copy_as_python_does(stage2):
    from otapack.core.restore import c_engine

    package, old, _ = stage2
    dev = _cut_after_copy(package, old)
    assert dev.resume.journal.latest().phase == "copied"
    assert c_engine.journal_pending(dev.resume.journal.flash) == resume.pending(dev.resume) is not None
    result = c_engine.run(dev, package)
    assert result.ok, result.error
    reference = Restore(_cut_after_copy(package, old)).run(package)
    assert [(c.name, c.status.value) for c in result.checks] == [(c.name, c.status.value) for c in reference.checks]
    assert {c.name: c.status.value for c in result.checks}["crc32"] == "skipped"
    assert resume.pending(dev.resume) is None and dev.resume.journal.latest().phase == "done"


def test_a_damaged_copy_is_refused_at_download_by_the_c_restore_too(stage2):
    from otapack.core.restore import c_engine

    package, old, _ = stage2
    for flip in (700, None):  # a byte of the copy; the descriptor's digest
        dev = _cut_after_copy(package, old)
        scratch = dev.resume.scratch
        at = package_copy.copy_base(scratch, 753) + 700 if flip else scratch.size - 128 + 8
        scratch._store(at, bytes([scratch.read(at, 1)[0] ^ 0x10]))
        before = powercut.flash_state(dev)
        result = c_engine.run(dev, package)
        assert result.failure.check == "download" and isinstance(result.error, IntegrityError)
        assert powercut.flash_state(dev) == before
        python = Restore(dev).run(package)
        assert python.failure.check == "download" and isinstance(python.error, IntegrityError)


def _refused_alike(package, old, geometry, scratch_size=None):
    """Both restores refuse at resources with the same error class, before any write."""
    from otapack.core.restore import c_engine

    errors = []
    for engine in ("python", "c"):
        dev, _, power = _device(package, old, geometry)
        if scratch_size is not None:
            dev.resume.scratch = NorFlash(scratch_size, 4096, dev.erased_value, "scratch", power=power)
        before = powercut.flash_state(dev)
        result = Restore(dev).run(package) if engine == "python" else c_engine.run(dev, package)
        assert result.failure.check == "resources" and isinstance(result.error, ResourceLimitError), result.error
        assert power.operations == 0 and powercut.flash_state(dev) == before
        errors.append(str(result.error))
    return errors[0]


def test_the_refusals_at_resources_are_alike_in_both_restores():
    from powercut_fixtures import FAST

    package, old, _ = full_package()
    assert "must be committed last" in _refused_alike(package, old, Geometry(download=("app",)))
    plain, old3, new3 = three_partitions()  # app and data staged deltas, then cfg carried in full
    assert "not as delta" in _refused_alike(plain, old3, Geometry(download=("app",)))
    assert "build it naming that area" in _refused_alike(plain, old3, Geometry(download=("cfg",)))
    declared = build_delta(old3, new3, PackageOptions(**FAST, download_slots=("cfg",)))
    staged = read_package(plain).header.scratch_flash  # room for the staged deltas only
    assert "-byte scratch area" in _refused_alike(declared, old3, Geometry(download=("cfg",)), scratch_size=staged)


def test_the_copy_descriptor_matches_its_declaration(stage2):
    from otapack.core.formats.journal import PackageCopyDescriptor
    from otapack.core.formats.wire_numbers import JOURNAL_COPY_RESERVE, JOURNAL_COPY_SIZE

    package, old, _ = stage2
    dev = _cut_after_copy(package, old)
    scratch = dev.resume.scratch
    raw = scratch.read(scratch.size - JOURNAL_COPY_RESERVE, JOURNAL_COPY_SIZE)
    parsed = PackageCopyDescriptor.parse(raw)
    assert parsed.length == 753 and parsed.package_digest == dev.resume.journal.latest().package_digest
    base = package_copy.copy_base(scratch, parsed.length)
    assert scratch.read(base, 296) == package[:296]  # the header first (the app payload starts at 296)
    assert PackageCopyDescriptor.build(parsed) == raw


def test_staged_deltas_and_the_copy_share_the_scratch_area_and_survive_every_cut():
    """Two staged deltas (app, data) then cfg, carried in full and holding
    the 2,921-byte package: the copy goes after the staged partitions."""
    from powercut_fixtures import FAST

    plain, old, new = three_partitions()
    package = build_delta(old, new, PackageOptions(**FAST, download_slots=("cfg",)))
    staged = read_package(plain).header.scratch_flash
    assert read_package(package).header.scratch_flash == staged + 4096  # app and data staged, one block of copy
    geometry = Geometry(download=("cfg",), engine="both")  # the C restore in lockstep
    report = powercut.sweep(package, old, "all", seed=1, geometry=geometry)
    assert report.failures == 0 and report.tried == 3 * report.operations, report.first_failure
    wrong = powercut.sweep(package, old, "single", geometry=Geometry(download=("cfg",), fault="skip-copy"),
                           stop_at_first=True)
    assert wrong.failures == 1 and "the package in the download area (cfg) was overwritten" in \
        wrong.first_failure.problem


def test_diff_declares_the_copy_for_download_slots_named_on_the_command_line(capsys, tmp_path):
    """``--download-slots cfg``: the same delta, its scratch declaration one
    erase block larger (the copy of the header and cfg's payload); a name the
    new image does not have is a usage error (exit 2)."""
    from powercut_fixtures import LAYOUT, flat

    _, old, new = three_partitions()
    (tmp_path / "old.bin").write_bytes(flat(old))
    (tmp_path / "new.bin").write_bytes(flat(new))
    common = ["-q", "diff", tmp_path / "old.bin", tmp_path / "new.bin", "--layout", LAYOUT, "--no-verify"]
    assert run(capsys, *common, "-o", tmp_path / "plain.pack")[0] == 0
    assert run(capsys, *common, "--download-slots", "cfg", "-o", tmp_path / "copy.pack")[0] == 0
    plain, copied = (read_package((tmp_path / f"{n}.pack").read_bytes()) for n in ("plain", "copy"))
    assert [p.payload_length for p in plain.partitions] == [p.payload_length for p in copied.partitions]
    assert copied.header.scratch_flash == plain.header.scratch_flash + 4096
    code, _, err = run(capsys, *common, "--download-slots", "cfg,nvram", "-o", tmp_path / "bad.pack")
    assert code == 2 and "--download-slots: no partition 'nvram' in the new image" in err
    assert not (tmp_path / "bad.pack").exists()
