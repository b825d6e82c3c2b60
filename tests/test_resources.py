"""Honest resource figures and the build settings that fit a device (issue 12, items 7 and 8).

- ``ram_required`` is what the restore holds: within 10 % of the measured
  peak on every corpus fixture, full and delta, for every build profile;
- the builder declares the maxima it produced: the tuple array of the
  largest window, the LZMA model of its payloads' properties, every staged
  partition's flash;
- ``--ram-budget`` chooses settings that fit (or fails, exit 7, with the
  shortfall and what it tried), ``--max-size`` refuses a package that grew
  past a limit and writes nothing, ``--window-size`` and ``--profile`` set
  the window and the dictionary.
"""

from __future__ import annotations

import json
import lzma
import random
import re

import pytest

from conftest import FIXTURES, error_line, run
from otapack.core.build import PackageOptions, build_delta, build_full, plan_delta_partition
from otapack.core.build.profiles import PROFILES
from otapack.core.build.figures import payload_lclp, stream_figures
from otapack.core.container import read_package
from otapack.core.model import FirmwareImage, Partition
from otapack.core.restore.resources import lzma_model_bytes
from otapack.core.verify import DeviceOptions, verify_package
from otapack.errors import BudgetError, RamBudgetError, ResourceLimitError

CORPUS = FIXTURES / "corpus"
PAIRS = [("synthesizer-1.bin", "synthesizer-2.bin"), ("programmer-0.8.0.bin", "programmer-0.9.0.bin")]


def single(data: bytes) -> FirmwareImage:
    return FirmwareImage.single(data)


def _read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _stream(pkg: bytes) -> tuple[bytes, int]:
    """The decoded patch stream of a one-partition delta package, and its target size."""
    package = read_package(pkg)
    record = package.partitions[0]
    data = lzma.decompress(package.payload(record), format=lzma.FORMAT_RAW,
                           filters=[{"id": lzma.FILTER_LZMA2, "dict_size": package.header.lzma_dict_size}])
    return data, record.target_size


# ----------------------------------------------------- declared vs measured


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("old_name, new_name", PAIRS, ids=lambda n: n.split("-")[0])
@pytest.mark.parametrize("kind", ["full", "delta"])
def test_declared_ram_within_ten_percent_of_the_peak(kind, old_name, new_name, profile):
    """A 159 KB delta declared 220,652 B and peaked at 49,257 B: the figure
    priced a whole window and the lc+lp = 4 model.  Now it is what the
    restore holds."""
    old, new = _read(old_name), _read(new_name)
    opts = PackageOptions.for_profile(profile)
    pkg = build_full(single(new), opts) if kind == "full" else build_delta(single(old), single(new), opts)
    report = verify_package(pkg, None if kind == "full" else single(old), single(new))
    assert report.ok, report.error
    declared, peak = report.restore.ram_declared, report.restore.ram_peak
    assert peak <= declared <= 1.1 * peak, (declared, peak)
    # the restore holds a device exactly to that figure: one byte less is refused
    short = verify_package(pkg, None if kind == "full" else single(old), single(new),
                           DeviceOptions(ram_budget=declared - 1))
    assert type(short.error) is ResourceLimitError


def test_builder_declares_the_tuple_array_it_needs():
    """The stream header's max_window_tuples is the largest window's count
    (the restore allocates that many), not the 1024 requested."""
    old, new = _read("synthesizer-1.bin"), _read("synthesizer-2.bin")
    stream, target = _stream(build_delta(single(old), single(new), PackageOptions()))
    figures = stream_figures(stream, target)
    assert figures.max_window_tuples == max(2, figures.max_count) < 1024


def test_builder_prices_the_lzma_model_it_used():
    old, new = _read("synthesizer-1.bin"), _read("synthesizer-2.bin")
    pkg = build_delta(single(old), single(new), PackageOptions())
    package = read_package(pkg)
    lclp = payload_lclp(package.payload(package.partitions[0]))
    assert lclp in (0, 1, 2)  # patch streams: lp=0, lc 0..2 (THOROUGH_TUNINGS)
    report = verify_package(pkg, single(old), single(new))
    assert report.restore.ram_declared - report.restore.ram_peak < lzma_model_bytes(lclp + 1) - lzma_model_bytes(lclp)
    full = read_package(build_full(single(new), PackageOptions(max_lzma_lclp=1)))
    assert payload_lclp(full.payload(full.partitions[0])) <= 1


def test_two_delta_partitions_declare_both_staged():
    old, new = _read("synthesizer-1.bin"), _read("synthesizer-2.bin")
    image = lambda d: FirmwareImage((Partition("a", 0, d), Partition("b", 0x40000, d[::-1])))  # noqa: E731
    pkg = build_delta(image(old), image(new), PackageOptions(lzma_dict_size=1 << 16))
    report = verify_package(pkg, image(old), image(new))
    assert report.ok, report.error
    assert report.restore.scratch_peak == report.restore.scratch_declared == 2 * 159744


def test_a_patch_over_the_work_bound_travels_in_full():
    """12-byte blocks shuffled: 5,459 tuples for 65 KB, more than the restore's
    64 + one per 16 bytes.  The builder never writes such a patch."""
    rnd = random.Random(1)
    old = rnd.randbytes(1 << 16)
    blocks = [old[i : i + 12] for i in range(0, len(old) - 12, 12)]
    rnd.shuffle(blocks)
    new = b"".join(blocks)
    planned = plan_delta_partition(Partition("image", 0, old), Partition("image", 0, new), PackageOptions())
    assert planned.record.operation == "replace"
    assert planned.candidates["delta-tuples-over-work-bound"] > 64 + len(new) // 16
    pkg = build_delta(single(old), single(new))
    assert verify_package(pkg, single(old), single(new)).ok


# ------------------------------------------------------------ RAM budget


@pytest.mark.parametrize("budget", [128 << 10, 64 << 10, 40 << 10])
def test_ram_budget_chooses_settings_that_fit(budget):
    new = _read("synthesizer-2.bin")
    pkg = build_full(single(new), PackageOptions(ram_budget=budget))
    declared = read_package(pkg).header.ram_required
    assert declared <= budget
    report = verify_package(pkg, None, single(new), DeviceOptions(ram_budget=budget))
    assert report.ok, report.error
    assert build_full(single(new), PackageOptions(ram_budget=budget)) == pkg  # deterministic


def test_ram_budget_too_small_fails_with_the_shortfall_and_what_was_tried():
    new = _read("synthesizer-2.bin")
    with pytest.raises(RamBudgetError) as info:
        build_full(single(new), PackageOptions(ram_budget=16 << 10))
    err = info.value
    assert err.exit_code == 7 and err.budget == 16 << 10 and err.needed > err.budget
    message = str(err)
    assert message.startswith(f"the package needs {err.needed} bytes of device RAM, {err.needed - err.budget} more "
                              f"than the RAM budget of 16384 (partition 'image': ")
    tried = message.split("; tried: ")[1].split("; ")
    assert tried[0] == ("dictionary 1048576, window 262144, 1024 tuples per window, lc+lp <= 4 -> "
                        f"{read_package(build_full(single(new))).header.ram_required} bytes")
    assert tried[-1].endswith(f"-> {err.needed} bytes") and "dictionary 4096" in tried[-1] and "lc+lp <= 0" in tried[-1]


def test_ram_budget_delta_lowers_the_window_when_extra_bytes_dominate():
    """20 KB of new code in a 159 KB image: one window holds 14.7 KB of extra
    bytes; under a 48 KiB budget the builder cuts the window (and keeps the
    restore's extra buffer small) rather than starving the dictionary."""
    old = _read("synthesizer-1.bin")
    new = old[:60000] + _read("programmer-0.9.0.bin")[:20000] + old[60000:]
    free = build_delta(single(old), single(new))
    assert read_package(free).header.ram_required > 48 << 10
    pkg = build_delta(single(old), single(new), PackageOptions(ram_budget=48 << 10))
    assert read_package(pkg).header.ram_required <= 48 << 10
    stream, target = _stream(pkg)
    assert stream_figures(stream, target).window_size < stream_figures(*_stream(free)).window_size
    assert verify_package(pkg, single(old), single(new), DeviceOptions(ram_budget=48 << 10)).ok


def test_model_bytes_are_the_lzma_formula():
    assert [lzma_model_bytes(n) for n in range(5)] == [2 * (1846 + 768 * 2 ** n) + 256 for n in range(5)]
    assert lzma_model_bytes(1) - 256 == 6764  # the lc+lp = 1 figure in the issue


# ------------------------------------------------------------ CLI options


OLD, NEW = CORPUS / "synthesizer-1.bin", CORPUS / "synthesizer-2.bin"


def test_cli_window_size_and_profile(tmp_path, capsys):
    pkg = tmp_path / "w.pack"
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", pkg, "--window-size", "16K")
    assert code == 0, err
    stream, target = _stream(pkg.read_bytes())
    assert stream_figures(stream, target).window_size == 16384
    mcu = tmp_path / "mcu.pack"
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", mcu, "--profile", "mcu")
    assert code == 0, err
    stream, target = _stream(mcu.read_bytes())
    assert stream_figures(stream, target).window_size == PROFILES["mcu"].window_size
    full = tmp_path / "full.pack"
    assert run(capsys, "full", NEW, "-o", full, "--profile", "mcu")[0] == 0
    assert read_package(full.read_bytes()).header.lzma_dict_size == PROFILES["mcu"].lzma_dict_size
    # an explicit option overrides the profile's
    assert run(capsys, "full", NEW, "-o", tmp_path / "d.pack", "--profile", "mcu", "--lzma-dict", "32K")[0] == 0
    assert read_package((tmp_path / "d.pack").read_bytes()).header.lzma_dict_size == 32768


def test_cli_ram_budget(tmp_path, capsys):
    pkg = tmp_path / "b.pack"
    code, _, err = run(capsys, "full", NEW, "-o", pkg, "--ram-budget", "64K")
    assert code == 0, err
    assert read_package(pkg.read_bytes()).header.ram_required <= 65536
    code, _, err = run(capsys, "verify", pkg, "--new", NEW, "--ram-budget", "64K")
    assert code == 0, err
    code, _, err = run(capsys, "full", NEW, "-o", tmp_path / "no.pack", "--ram-budget", "16K")
    assert code == 7 and not (tmp_path / "no.pack").exists()
    line = error_line(err)
    assert re.fullmatch(r"error: the package needs \d+ bytes of device RAM, \d+ more than the RAM budget of 16384 "
                        r"\(.*\); tried: .* \(option --ram-budget\)", line), line


@pytest.mark.parametrize("value", ["-1", "-64K", "-0x10"])
def test_cli_negative_ram_budget_is_a_usage_error(tmp_path, capsys, value):
    code, _, err = run(capsys, "full", NEW, "-o", tmp_path / "x.pack", "--ram-budget", value)
    assert code == 2
    assert f"'{value}' is not a size: sizes cannot be negative" in error_line(err)


def test_cli_max_size(tmp_path, capsys):
    pkg = tmp_path / "m.pack"
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", pkg, "--max-size", "100")
    assert code == 7 and not pkg.exists()
    size = len(build_delta(single(OLD.read_bytes()), single(NEW.read_bytes())))
    assert error_line(err) == (f"error: package is {size} bytes, {size - 100} more than the maximum size of 100 bytes; "
                               f"it was not written (option --max-size)")
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", pkg, "--max-size", str(size))
    assert code == 0 and len(pkg.read_bytes()) == size


def test_cli_max_size_counts_the_signature(tmp_path, capsys):
    key = tmp_path / "k.pem"
    assert run(capsys, "keygen", "--type", "ed25519", "-o", key)[0] == 0
    size = len(build_delta(single(OLD.read_bytes()), single(NEW.read_bytes())))
    code, _, err = run(capsys, "diff", OLD, NEW, "-o", tmp_path / "s.pack", "--max-size", str(size), "--sign-key", key)
    assert code == 7 and "more than the maximum size" in err and not (tmp_path / "s.pack").exists()


def test_max_size_in_the_api():
    with pytest.raises(BudgetError, match="more than the maximum size of 10 bytes"):
        build_full(single(NEW.read_bytes()), PackageOptions(max_size=10))


def test_profiles_are_documented(capsys):
    doc = (FIXTURES.parent.parent / "docs" / "cli.md").read_text()
    section = doc.split("### Build profiles", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(PROFILES)
    for row, profile in zip(rows, PROFILES.values()):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1:4] == [f"{profile.lzma_dict_size:,}", f"{profile.window_size:,}", f"{profile.max_window_tuples:,}"]
    code, out, _ = run(capsys, "full", "--help")
    assert all(name in out for name in PROFILES)


def test_info_json_shows_the_declared_figures(tmp_path, capsys):
    pkg = tmp_path / "i.pack"
    assert run(capsys, "diff", OLD, NEW, "-o", pkg)[0] == 0
    code, out, _ = run(capsys, "verify", pkg, "--old", OLD, "--new", NEW, "--json")
    report = json.loads(out)
    assert code == 0 and report["ram"]["peak"] == report["ram"]["declared"]
    assert report["scratch"] == {"declared": 159744, "peak": 159744}
    assert report["work"]["tuples"] > 0
