"""Building the two chained stages of a minimal-system upgrade."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from otapack.core.build import (
    PackageOptions, PlannedPartition, changes_on_device, check_sizes, check_structure, finish_package,
    PlanMemo, in_place_tools, keep_partition, map_partitions, plan_full_partition, plan_shared, skip_partition,
)
from otapack.core.build.in_place import fit_scratch
from otapack.core.container import read_package
from otapack.core.formats.wire_numbers import DELTA_OPERATIONS
from otapack.core.model import FirmwareImage, Partition, Policy
from otapack.core.parallel import Workers
from otapack.features.minimal.budget import StageFigures, budget_error
from otapack.features.minimal.config import MinimalConfig
from otapack.features.minimal.state import coverage, install_minimal, prev_state

#: Extension order in a stage's header.
EXTENSION_ORDER = ("chain-prev-state", "chain-next-package", "budget")


@dataclass
class MinimalResult:
    stage1: bytes
    stage2: bytes
    figures: tuple[StageFigures, StageFigures]
    intermediate: FirmwareImage
    config: MinimalConfig

    @property
    def fits(self) -> bool:
        return all(f.fits for f in self.figures)

    def to_dict(self) -> dict:
        s1, s2 = read_package(self.stage1), read_package(self.stage2)
        return {
            "minimal_partition": self.config.partition,
            "stages": [f.to_dict() for f in self.figures],
            "chain": {
                "stage1_prev_state": s1.header.extension("chain-prev-state")[:32].hex(),
                "stage1_next_package": s1.header.extension("chain-next-package").hex(),
                "stage2_prev_state": s2.header.extension("chain-prev-state")[:32].hex(),
                "stage2_body_sha256": s2.body_sha256.hex(),
            },
            "download_total": len(self.stage1) + len(self.stage2),
            "fits": self.fits,
        }

    def check_budget(self) -> None:
        """BudgetError for the first stage that misses its phase's download area."""
        for f in self.figures:
            if not f.fits:
                raise budget_error(f, self.config)


def _finish(kind: str, stage: int, planned: list[PlannedPartition], opts: PackageOptions, extensions: list,
            erase_block: int, budget: int, area: str, slots: tuple[str, ...] = ()) -> tuple[bytes, StageFigures]:
    """Assemble twice: the budget extension has a fixed size, so the package
    length found with a placeholder is the final one.  ``slots``: the
    partitions the stage is downloaded into (its scratch holds their copy)."""
    ops = {p.record.name: p.record.operation for p in planned}
    cands = {p.record.name: {k: v for k, v in p.candidates.items() if k != "full-estimate"}
             for p in planned if len(p.candidates) > 1}
    placeholder = StageFigures(stage, 0, 0, erase_block, budget, area, ops, cands)

    def build(fig: StageFigures) -> bytes:
        exts = tuple(sorted(extensions + [("budget", fig.extension())], key=lambda e: EXTENSION_ORDER.index(e[0])))
        return finish_package("delta", planned, replace(opts, kind=kind, extensions=exts, download_slots=slots),
                              erase_block)

    first = build(placeholder)
    scratch = read_package(first, check_digest=False).header.scratch_flash
    figures = replace(placeholder, package_bytes=len(first), scratch_flash=scratch)
    package = build(figures)
    assert len(package) == len(first)
    return package, figures


def _as_full(planned: PlannedPartition, new: Partition, opts: PackageOptions, workers: Workers) -> PlannedPartition:
    full = plan_full_partition(replace(new, policy=Policy.FULL), opts, workers)
    candidates = dict(planned.candidates, full=len(full.payload))
    return replace(full, record=replace(full.record, reason="full-smaller"), candidates=candidates)


def _within_budget(make: Callable[[list[PlannedPartition]], tuple[bytes, StageFigures]],
                   planned: list[PlannedPartition], news: dict[str, Partition], opts: PackageOptions,
                   workers: Workers, olds: dict[str, Partition] | None = None):
    """Per partition, delta or full by size; if the stage then misses its
    budget because delta partitions need staging, patch them in place in
    the scratch flash the package leaves (when ``opts.scratch_flash`` says
    the device can; ``olds``: their bases), else carry them in full."""
    package, figures = make(planned)
    if figures.fits or not any(p.record.operation in DELTA_OPERATIONS for p in planned):
        return package, figures
    if olds is not None and opts.scratch_flash is not None:  # the device's restore patches in place
        room = min(opts.scratch_flash, max(0, figures.download_area - (figures.flash_needed - figures.scratch_flash)))
        pairs = [(olds.get(p.record.name), news.get(p.record.name)) for p in planned]
        in_place = fit_scratch(planned, pairs, replace(opts, scratch_flash=room), figures.erase_block, workers,
                               in_place_tools())
        package3, figures3 = make(in_place)
        if figures3.fits:
            return package3, figures3
    alt = [_as_full(p, news[p.record.name], opts, workers) if p.record.operation in DELTA_OPERATIONS else p for p in planned]
    package2, figures2 = make(alt)
    if figures2.flash_needed < figures.flash_needed:
        moved = tuple(p.record.name for p in planned if p.record.operation in DELTA_OPERATIONS)
        return package2, replace(figures2, fallback=moved)
    return package, figures


def build_minimal(old: FirmwareImage, new: FirmwareImage, mini: bytes, config: MinimalConfig,
                  opts: PackageOptions = PackageOptions(), *, check_budget: bool = True,
                  memo: PlanMemo | None = None) -> MinimalResult:
    """Both stages (stage 2 first: stage 1 names its digest); BudgetError when a stage does not fit.

    ``memo``: partition plans shared with other packages built from OLD (a release task)."""
    check_sizes(old)
    check_sizes(new)
    check_structure(old, new)
    config.check(new)
    inter = install_minimal(old, mini, config.partition)
    eb = new.erase_block
    workers = Workers(opts.jobs)  # one thread budget for both stages
    dead1, dead = set(config.area_names(1)), set(config.area_names(1)) | set(config.area_names(2))

    # Stage 2: from the intermediate state to NEW.
    def plan2(p: Partition) -> PlannedPartition:
        if p.policy is Policy.SKIP:
            return skip_partition(p)
        if p.name in dead:  # its content was destroyed by a download
            planned = plan_full_partition(replace(p, policy=Policy.FULL), opts, workers)
            return replace(planned, record=replace(planned.record, reason="no-source"))
        if changes_on_device(p):  # file systems travel in full (the seed), never hash-checked
            planned = plan_full_partition(p, opts, workers)
            return replace(planned, record=replace(planned.record, reason="policy-full"))
        return plan_shared(inter.get(p.name), p, opts, workers, memo)

    # NEW's policies decide what stage 2 replaces or skips, so they decide what its start state covers.
    prev2 = prev_state(inter, coverage(new, config, 2))
    budget2, area2 = config.budget(2, new), config.describe_area(2)
    news = {p.name: p for p in new.partitions}
    stage2, fig2 = _within_budget(
        lambda planned: _finish("minimal-stage2", 2, planned, opts, [("chain-prev-state", prev2)], eb,
                                budget2, area2, config.area_names(2)),
        map_partitions(plan2, list(new.partitions), workers), news, opts, workers,
        {p.name: p for p in inter.partitions})
    next_digest = read_package(stage2).body_sha256

    # Stage 1: from OLD to the intermediate state; everything else kept or skipped.
    def plan1(p: Partition) -> PlannedPartition:
        if p.name == config.partition:
            return plan_shared(p, inter.get(p.name), opts, workers, memo)
        if p.policy is Policy.SKIP or changes_on_device(p) or p.name in dead1:
            return skip_partition(p)
        return keep_partition(p, "unchanged")

    prev1 = prev_state(old, coverage(old, config, 1))
    budget1, area1 = config.budget(1, new), config.describe_area(1)
    inter_parts = {p.name: p for p in inter.partitions}
    stage1, fig1 = _within_budget(
        lambda planned: _finish("minimal-stage1", 1, planned, opts,
                                [("chain-prev-state", prev1), ("chain-next-package", next_digest)], eb,
                                budget1, area1, config.area_names(1)),
        map_partitions(plan1, list(old.partitions), workers), inter_parts, opts, workers,
        {p.name: p for p in old.partitions})
    result = MinimalResult(stage1, stage2, (fig1, fig2), inter, config)
    if check_budget:
        result.check_budget()
    return result
