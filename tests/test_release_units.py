"""The release's parts on their own: routes, the cache, executors, worker errors."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import error_line, run
from otapack.errors import BudgetError, UsageError
from otapack.features.release.cache import PackageCache
from otapack.features.release.routes import Candidate, Fit, choose_route
from release_helpers import copy_examples


def single(method: str, size: int, area: int | None = 65536, scratch: int = 0, ram: int = 1000,
           ram_budget: int | None = None) -> Candidate:
    return Candidate(method, (Fit(size, 4096, scratch, ram, area, "budget.download", ram_budget),))


def test_fit_measures_erase_blocks_plus_scratch():
    f = Fit(4097, 4096, 8192, 5000, 16384, "a", 4999)
    assert f.flash_needed == 16384 and f.fits_flash and not f.fits_ram and not f.fits
    assert f.shortfall() == "declares 5000 B of RAM, the budget is 4999 B"
    assert Fit(1, 4096, 0, 1, None, "unbounded", None).fits


@pytest.mark.parametrize("delta, full, minimal, method, reason", [
    (single("delta", 1000), single("full", 10000), None, "delta", "the delta (1000 B) is 10 % of the full package"),
    (single("delta", 9000), single("full", 10000), None, "full",
     "the delta (9000 B) is 90 % of the full package (10000 B), not below the full_fallback_ratio 0.75"),
    (single("delta", 7499), single("full", 10000), None, "delta", "the delta (7499 B) is 75 % of the full package"),
    (single("delta", 7500), single("full", 10000), None, "full", "not below the full_fallback_ratio 0.75"),
    # the delta is too big for the ratio, but the full package does not fit at all
    (single("delta", 60000), single("full", 70000), None, "delta",
     "the delta (60000 B) is 86 % of the full package; the full package does not fit: it needs 73728 B"),
    (single("delta", 1000, scratch=65536), single("full", 10000), None, "full",
     "the delta needs 69632 B of flash (1000 B package in 4096-byte blocks + 65536 B scratch), the download area "
     "(budget.download) has 65536 B; the full package fits"),
    (single("delta", 1000, ram=9000, ram_budget=8000), single("full", 10000, ram_budget=8000), None, "full",
     "the delta declares 9000 B of RAM, the budget is 8000 B; the full package fits"),
    (single("delta", 1000, scratch=65536), single("full", 70000), single("minimal-system", 5000), "minimal-system",
     "neither single package fits"),
])
def test_choose_route(delta, full, minimal, method, reason):
    route = choose_route("m", "V1", delta, full, minimal, 0.75)
    assert route.method == method
    assert reason in route.reason


def test_no_route_is_a_budget_error_naming_every_shortfall():
    with pytest.raises(BudgetError) as info:
        choose_route("m", "V1", single("delta", 1000, scratch=65536), single("full", 70000), None, 0.9)
    assert info.value.exit_code == 7
    assert str(info.value) == (
        "model m, devices on V1: no upgrade fits: the delta needs 69632 B of flash (1000 B package in 4096-byte "
        "blocks + 65536 B scratch), the download area (budget.download) has 65536 B; the full package needs "
        "73728 B of flash (70000 B package in 4096-byte blocks + 0 B scratch), the download area (budget.download) "
        "has 65536 B; no minimal system is configured for the model (minimal_system)")
    short_stage = Candidate("minimal-system", (Fit(100, 4096, 0, 1, 8192, "a", None),
                                               Fit(9000, 4096, 0, 1, 8192, "b", None)))
    with pytest.raises(BudgetError, match="the minimal-system pair: stage 2 needs 12288 B"):
        choose_route("m", "V1", single("delta", 1000, scratch=65536), single("full", 70000), short_stage, 0.9)


def test_cache_round_trip_and_corruption(tmp_path):
    cache = PackageCache(tmp_path / "c").open()
    key = "ab" * 32
    assert cache.get(key, "job") is None
    cache.put(key, (b"stage one", b"stage two"))
    assert cache.get(key, "job") == (b"stage one", b"stage two")
    assert cache.stats.to_dict() == {"hits": 1, "misses": 1, "corrupt": 0, "jobs": {"job": "hit"}}
    entry = tmp_path / "c" / "v1" / "entries" / "ab" / key
    assert json.loads(entry.read_bytes())["key"] == key
    # an entry that does not parse, or names a missing object, is corrupt: a miss, and removed
    for damage in (b"{not json", json.dumps({"key": key, "objects": [{"sha256": "00" * 32, "size": 1}]}).encode()):
        entry.write_bytes(damage)
        assert cache.get(key, "job") is None and not entry.exists()
        cache.put(key, (b"stage one", b"stage two"))
    # an object whose bytes no longer match its name
    obj = next(p for p in (tmp_path / "c" / "v1" / "objects").rglob("*") if p.is_file())
    obj.write_bytes(b"tampered")
    assert cache.get(key, "job") is None
    assert cache.stats.corrupt == 3
    cache.put(key, (b"stage one", b"stage two"))  # rewrites the damaged object
    assert cache.get(key, "job") == (b"stage one", b"stage two")
    assert [p.name for p in (tmp_path / "c").rglob("*.tmp")] == []  # atomic writes leave no temporaries


def test_the_ray_executor_without_ray_is_a_usage_error(monkeypatch, tmp_path, capsys):
    manifest = copy_examples(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, _, err = run(capsys, "-q", "release", manifest, "-o", tmp_path / "out", "--executor", "ray")
    assert code == 2
    assert error_line(err) == "error: the ray executor needs Ray: pip install 'otapack[ray]' (option --executor)"


def test_a_failed_self_check_is_the_job_error_with_its_exit_code(monkeypatch, tmp_path, capsys):
    import otapack.features.release.worker as worker
    from otapack.errors import TargetMismatchError

    class Failed:
        error = TargetMismatchError("partition 'image' restores to the wrong bytes")

    manifest = copy_examples(tmp_path)
    monkeypatch.setattr(worker, "verify_package", lambda *a, **k: Failed())
    code, _, err = run(capsys, "-q", "release", manifest, "-o", tmp_path / "out")
    assert code == 1
    assert error_line(err) == ("error: sam3x-mini V2 full: self-check of the full package failed: partition "
                               "'image' restores to the wrong bytes")


def test_a_worker_of_another_build_is_refused(monkeypatch, tmp_path, capsys):
    import otapack.features.release.worker as worker

    manifest = copy_examples(tmp_path)
    monkeypatch.setattr(worker, "tool_fingerprint", lambda: "f" * 64)
    code, _, err = run(capsys, "-q", "release", manifest, "-o", tmp_path / "out")
    assert code == 1
    assert error_line(err).startswith("error: a worker runs another otapack build (fingerprint ffffffffffffffff, ")


def test_the_tool_fingerprint_covers_the_sources(monkeypatch):
    from otapack.features.release import plan

    first = plan.tool_fingerprint()
    plan.tool_fingerprint.cache_clear()
    monkeypatch.setattr(plan, "__version__", "9.9.9")
    try:
        assert plan.tool_fingerprint() != first
    finally:
        plan.tool_fingerprint.cache_clear()


def test_executor_options_refuse_bad_values():
    from otapack.features.release.executors import EXECUTORS, ExecutorOptions

    assert set(EXECUTORS) == {"local", "ray"}
    with pytest.raises(UsageError):
        ExecutorOptions("local", 257)


def test_release_help_loads_no_builder():
    """The facade stays lazy: ``release --help`` does not load the diff core, builders, crypto or Ray."""
    import subprocess

    code = ("import sys; from otapack.cli import main; main(['release', '--help']); "
            "print('--modules--'); print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = out.split("--modules--\n", 1)[1].split()
    heavy = ("otapack.core.diff", "otapack.core.build", "otapack.features.signing", "cryptography", "ray")
    assert [m for m in loaded if m.startswith(heavy)] == []
