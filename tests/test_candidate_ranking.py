"""The builder ranks the raw-coded patch candidates by a fast LZMA pass and runs
9e only on those that can still win (otapack.core.build._smallest_patch)."""

from __future__ import annotations

import lzma
import random

import otapack.core.build as build_mod
from otapack.core.build import THOROUGH_TUNINGS, PackageOptions, _smallest_patch, plan_delta_partition
from otapack.core.codecs import compress_rank_size
from otapack.core.formats.delta import DIFF_CODINGS, DeltaHeader
from otapack.core.model import Partition


def _sparse(rng: random.Random, size: int, fill: float) -> bytes:
    """Mostly zero, like a raw-coded patch stream's diff bytes."""
    return bytes(rng.randrange(1, 256) if rng.random() < fill else 0 for _ in range(size))


def _count_9e(monkeypatch) -> list[bytes]:
    """The inputs of every preset-9e pass from now on."""
    seen: list[bytes] = []
    real = lzma.compress

    def spy(data, *args, **kwargs):
        filters = kwargs.get("filters") or []
        if filters and filters[0].get("preset") == 9 | lzma.PRESET_EXTREME and "mode" not in filters[0]:
            seen.append(bytes(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(lzma, "compress", spy)
    return seen


def test_the_fast_pass_ranks_a_noisier_stream_below_its_siblings():
    rng = random.Random(5)
    quiet = _sparse(rng, 60_000, 0.01)
    noisy = bytes(b or (rng.randrange(1, 256) if rng.random() < 0.02 else 0) for b in quiet)
    assert compress_rank_size(noisy, 1 << 16, (1, 0, 0)) > compress_rank_size(quiet, 1 << 16, (1, 0, 0))


def test_similar_streams_far_behind_get_no_9e_pass_and_the_choice_is_unchanged(monkeypatch):
    rng = random.Random(11)
    quiet = _sparse(rng, 60_000, 0.01)
    noisy = bytes(b or (rng.randrange(1, 256) if rng.random() < 0.02 else 0) for b in quiet)
    short = _sparse(rng, 3_000, 0.9)  # a zero-run-coded one: never ranked out
    streams = [noisy, short, quiet]
    plain = _smallest_patch(streams, THOROUGH_TUNINGS, 1 << 20)
    seen = _count_9e(monkeypatch)
    ranked = _smallest_patch(streams, THOROUGH_TUNINGS, 1 << 20, similar=(0, 2))
    assert ranked == plain
    assert noisy not in seen  # the noisy one was ranked out before any 9e pass
    assert seen.count(quiet) == len(THOROUGH_TUNINGS)


def test_streams_within_the_margin_all_get_9e_passes(monkeypatch):
    rng = random.Random(12)
    one = _sparse(rng, 40_000, 0.02)
    two = one[:-1] + b"\x01"  # the same size to a few bytes: both stay
    seen = _count_9e(monkeypatch)
    _smallest_patch([one, two], THOROUGH_TUNINGS[:1], 1 << 20, similar=(0, 1))
    assert sorted(seen) == sorted([one, two])


def test_a_thorough_plan_ranks_its_raw_coded_candidates_and_matches_the_unranked_plan(
        monkeypatch, programmer_old, programmer_new):
    parts = Partition("p", 0, programmer_old), Partition("p", 0, programmer_new)
    ranked_sets = []
    real = build_mod._smallest_patch

    def spy(streams, tunings, lzma_dict, workers=build_mod.SERIAL, similar=()):
        ranked_sets.append([DeltaHeader.parse(streams[at]).diff_coding for at in similar])
        return real(streams, tunings, lzma_dict, workers, similar)

    monkeypatch.setattr(build_mod, "_smallest_patch", spy)
    seen = _count_9e(monkeypatch)
    ranked = plan_delta_partition(*parts, PackageOptions())
    ranked_passes = len(seen)
    assert ranked.record.operation == "delta"
    assert len(ranked_sets[0]) == 3 and set(ranked_sets[0]) == {DIFF_CODINGS["raw"]}  # one per matcher setting
    monkeypatch.setattr(build_mod, "RANK_MARGIN_PER_MILLE", 10 ** 9)  # rank nothing out
    seen.clear()
    assert plan_delta_partition(*parts, PackageOptions()).payload == ranked.payload
    assert ranked_passes < len(seen)

