"""What a worker runs: one ``Task`` (every job against one source image).

``run_task`` is a plain function of picklable data, so every executor (the
in-process loop, a local process pool, Ray) runs the same code on the same
inputs and gets the same bytes.  It builds each job, runs the device restore
on the result when the job says so, and returns the packages with this
worker's ``tool_fingerprint``.  A library error does not escape: it comes
back as data (class name and message), so every executor reports it the same
way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from otapack.core.build import PlanMemo, build_delta, build_full
from otapack.core.model import FirmwareImage
from otapack.core.verify import verify_package
from otapack.errors import OtapackError, VerificationError
from otapack.features.minimal.build import build_minimal
from otapack.features.minimal.chain import verify_chain
from otapack.features.release.plan import Job, Task, tool_fingerprint


@dataclass(frozen=True)
class JobOutput:
    key: str
    packages: tuple[bytes, ...]


@dataclass(frozen=True)
class TaskResult:
    group: str
    fingerprint: str
    outputs: tuple[JobOutput, ...]
    #: (job key, error class name, message) of the job that failed, if one did
    error: tuple[str, str, str] | None = None
    #: CPU seconds of the worker process (all its threads), of the thread that ran the task
    #: (the rest ran in the builders' compression threads), and wall seconds, for the run report
    cpu_seconds: float = 0.0
    main_cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


def _self_check(report, what: str) -> None:
    if report.error is not None:
        raise VerificationError(f"self-check of the {what} failed: {report.error}")


def _full(old: FirmwareImage | None, job: Job, memo: PlanMemo) -> tuple[bytes, ...]:
    package = build_full(job.new, job.opts)
    if job.verify:
        _self_check(verify_package(package, None, job.new), "full package")
    return (package,)


def _delta(old: FirmwareImage | None, job: Job, memo: PlanMemo) -> tuple[bytes, ...]:
    package = build_delta(old, job.new, job.opts, memo=memo)
    if job.verify:
        _self_check(verify_package(package, old, job.new), "delta package")
    return (package,)


def _minimal(old: FirmwareImage | None, job: Job, memo: PlanMemo) -> tuple[bytes, ...]:
    # Over-budget stages are built too: the coordinator decides the route and says why.
    result = build_minimal(old, job.new, job.mini, job.config, job.opts, check_budget=False, memo=memo)
    stages = (result.stage1, result.stage2)
    if job.verify:
        # Capacities off: a stage over its phase's area is the route's business, not a defect.
        _self_check(verify_chain(list(stages), old, job.new), "minimal-system chain")
    return stages


#: Job kind -> builder (``plan.JOB_KINDS`` names the same kinds).
BUILDERS: dict[str, Callable[[FirmwareImage | None, Job, PlanMemo], tuple[bytes, ...]]] = {
    "full": _full, "delta": _delta, "minimal": _minimal,
}


def run_task(task: Task) -> TaskResult:
    """Build every job of ``task``; stops at the first library error."""
    cpu, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
    outputs, error = [], None
    # One source image, every package built from it: a partition pair they
    # share (the delta's and the minimal system's stage 2) is planned once.
    memo = PlanMemo()
    for job in task.jobs:
        try:
            outputs.append(JobOutput(job.key, BUILDERS[job.kind](task.old, job, memo)))
        except OtapackError as exc:
            error = (job.key, type(exc).__name__, str(exc))
            break
    return TaskResult(task.group, tool_fingerprint(), tuple(outputs), error, time.process_time() - cpu,
                      time.thread_time() - main, time.perf_counter() - wall)
