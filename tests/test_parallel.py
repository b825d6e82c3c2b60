"""``jobs`` bounds every thread a build computes in, and the bytes never depend on it.

The builders nest their parallel work (partitions, matcher settings, LZMA
passes) on one ``otapack.core.parallel.Workers`` per build; these tests
count the threads that really run the heavy calls.
"""

from __future__ import annotations

import dataclasses
import lzma
import random
import threading
import time

import pytest

import otapack.core.codecs as codecs
from otapack.core.build import PackageOptions, build_delta, build_full, plan_delta_partition
from otapack.core.model import FirmwareImage, Partition
from otapack.core.parallel import Workers
from otapack.features.release.inputs import load_inputs
from otapack.features.release.manifest import load_manifest
from otapack.features.release.plan import group_tasks, plan_jobs
from otapack.features.release.worker import run_task
from release_helpers import copy_examples


def _code_like(rng: random.Random, size: int) -> bytes:
    """Compressible, diffable bytes: words from a small vocabulary."""
    words = [rng.randbytes(4) for _ in range(64)]
    return b"".join(rng.choice(words) for _ in range(size // 4))


def _edited(data: bytes, rng: random.Random, edits: int) -> bytes:
    out = bytearray(data)
    for _ in range(edits):
        at = rng.randrange(len(out) - 64)
        out[at:at + 16] = rng.randbytes(16)
    return bytes(out)


def _images(count: int = 4, size: int = 48 << 10) -> tuple[FirmwareImage, FirmwareImage]:
    rng = random.Random(17)
    olds = [_code_like(rng, size) for _ in range(count)]
    news = [_edited(data, rng, 12) for data in olds]
    old = FirmwareImage(tuple(Partition(f"p{i}", i * size, d) for i, d in enumerate(olds)), source="layout")
    new = FirmwareImage(tuple(Partition(f"p{i}", i * size, d) for i, d in enumerate(news)), source="layout")
    return old, new


class _Concurrency:
    """Wraps a heavy call: counts how many threads are inside it at once (each stays a little while)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = self.peak = 0
        self.threads: set[int] = set()

    def wrap(self, fn):
        def counted(*args, **kwargs):
            with self.lock:
                self.inside += 1
                self.peak = max(self.peak, self.inside)
                self.threads.add(threading.get_ident())
            try:
                time.sleep(0.005)
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.inside -= 1
        return counted


@pytest.fixture
def counted_lzma(monkeypatch):
    counter = _Concurrency()
    monkeypatch.setattr(lzma, "compress", counter.wrap(lzma.compress))
    return counter


def test_workers_map_keeps_order_and_bounds_nested_maps():
    workers = Workers(2)
    counter = _Concurrency()
    leaf = counter.wrap(lambda x: x * x)
    result = workers.map(lambda outer: workers.map(lambda inner: leaf(outer * 10 + inner), range(5)), range(4))
    assert result == [[(o * 10 + i) ** 2 for i in range(5)] for o in range(4)]
    assert counter.peak == 2  # four outer tasks each mapping five: never more than two at once


def test_workers_one_job_runs_in_the_calling_thread():
    counter = _Concurrency()
    assert Workers(1).map(counter.wrap(lambda x: x + 1), range(6)) == list(range(1, 7))
    assert counter.threads == {threading.get_ident()}
    with pytest.raises(ValueError):
        Workers(0)


def test_one_job_builds_in_the_calling_thread(counted_lzma):
    old, new = _images(count=2)
    opts = PackageOptions(jobs=1)
    build_delta(old, new, opts)
    build_full(new, opts)
    assert counted_lzma.threads == {threading.get_ident()}  # no helper thread ran an LZMA pass
    assert counted_lzma.peak == 1


def test_two_jobs_never_run_more_than_two_lzma_passes_at_once(counted_lzma):
    old, new = _images(count=4)
    build_delta(old, new, PackageOptions(jobs=2))
    assert counted_lzma.peak == 2
    # a full build of the same partitions: partitions x tunings, still two at a time
    counted_lzma.peak = 0
    build_full(new, PackageOptions(jobs=2))
    assert counted_lzma.peak == 2


def test_bytes_do_not_depend_on_jobs():
    old, new = _images(count=3)
    base = PackageOptions(model="m", target_version="2", source_version="1", jobs=1)
    one = build_delta(old, new, base)
    for jobs in (2, 3, 8):
        assert build_delta(old, new, dataclasses.replace(base, jobs=jobs)) == one
    full = build_full(new, base)
    assert build_full(new, dataclasses.replace(base, jobs=2)) == full


def test_the_quick_estimate_stops_once_it_cannot_change_the_decision(monkeypatch):
    rng = random.Random(3)
    data = _code_like(rng, 1 << 20)
    whole = codecs.compress_fast_estimate(data, 1 << 20)
    cut = codecs.compress_fast_estimate(data, 1 << 20, stop_above=whole // 4)
    assert whole // 4 < cut < whole
    assert codecs.compress_fast_estimate(data, 1 << 20, stop_above=whole) == whole
    # the planner asks for no more than 4/3 of the patch: a small patch stops the pass early
    fed = []
    real = codecs.compress_fast_estimate

    def spy(payload, dict_size, stop_above=None):
        fed.append(stop_above)
        return real(payload, dict_size, stop_above)

    import otapack.core.build as build_mod

    monkeypatch.setattr(build_mod, "compress_fast_estimate", spy)
    planned = plan_delta_partition(Partition("p", 0, data), Partition("p", 0, _edited(data, rng, 4)), PackageOptions())
    assert planned.record.operation == "delta"
    assert fed == [4 * len(planned.payload) // 3]
    assert planned.candidates["full-estimate"] > fed[0]


def test_the_release_executor_builds_the_bytes_of_a_direct_build_with_any_jobs(tmp_path):
    manifest = load_manifest(copy_examples(tmp_path))
    jobs = plan_jobs(load_inputs(manifest), verify=False)
    deltas = [(job, source) for job, source in jobs if job.kind == "delta"][:2]
    assert deltas
    by_key = {out.key: out.packages for task in group_tasks(deltas) for out in run_task(task).outputs}
    for job, source in deltas:
        for count in (1, 2):
            direct = build_delta(source.image, job.new, dataclasses.replace(job.opts, jobs=count))
            assert by_key[job.key] == (direct,)


def test_a_plan_memo_plans_each_partition_pair_once_and_changes_no_byte():
    from otapack.core.build import PlanMemo

    old, new = _images(count=3)
    opts = PackageOptions(model="m", target_version="2", source_version="1")
    plain = build_delta(old, new, opts)
    memo = PlanMemo()
    assert build_delta(old, new, opts, memo=memo) == plain and memo.hits == 0
    assert build_delta(old, new, dataclasses.replace(opts, jobs=2), memo=memo) == plain
    assert memo.hits == 3  # every partition planned once
    other = dataclasses.replace(opts, window_size=4096)
    assert build_delta(old, new, other, memo=memo) == build_delta(old, new, other)
    assert memo.hits == 3  # another patch window: planned afresh


def test_a_release_task_shares_plans_between_its_delta_and_minimal_packages(tmp_path, monkeypatch):
    import otapack.features.release.worker as worker
    from otapack.features.minimal.build import build_minimal

    memos = []

    class Recorded(worker.PlanMemo):
        def __init__(self):
            super().__init__()
            memos.append(self)

    monkeypatch.setattr(worker, "PlanMemo", Recorded)
    jobs = plan_jobs(load_inputs(load_manifest(copy_examples(tmp_path))), verify=False)
    task = next(t for t in group_tasks([j for j in jobs if j[0].kind != "full"])
                if {j.kind for j in t.jobs} == {"delta", "minimal"})
    outputs = {out.key: out.packages for out in run_task(task).outputs}
    assert memos and memos[0].hits >= 1
    for job in task.jobs:
        if job.kind == "delta":
            assert outputs[job.key] == (build_delta(task.old, job.new, job.opts),)
        else:
            result = build_minimal(task.old, job.new, job.mini, job.config, job.opts, check_budget=False)
            assert outputs[job.key] == (result.stage1, result.stage2)
