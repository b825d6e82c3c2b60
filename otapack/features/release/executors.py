"""Where the tasks of a release run: a registry of executors.

Each executor runs ``worker.run_task`` over the tasks and calls
``on_result(index, result)`` as each finishes (in any order); the results
are matched to jobs by key, so the release is the same bytes from every
executor and worker count.  Each package builds with its options' ``jobs``
(1: one thread; the builder's thread budget is
``otapack.core.parallel``), so ``jobs`` workers compute on ``jobs`` CPUs.

- ``local``: ``jobs`` 1 runs the tasks in this process, one after the other;
  more runs a process pool of that many workers (forkserver where the
  platform has it, else spawn).
- ``ray``: Ray tasks, one CPU each; ``ray_address`` joins a running cluster
  (``ray start --head`` on one machine, ``ray start --address`` on the
  others), otherwise a local Ray instance with ``jobs`` CPUs is started for
  the run.  Every worker must have the same otapack installed: a worker's
  ``tool_fingerprint`` differing from the coordinator's is an error.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from otapack.errors import UsageError

if TYPE_CHECKING:
    from otapack.features.release.plan import Task
    from otapack.features.release.worker import TaskResult

OnResult = Callable[[int, "TaskResult"], None]
#: The most workers a local pool starts.
MAX_JOBS = 256


@dataclass(frozen=True)
class ExecutorOptions:
    """Which executor runs the tasks, and how wide (validated on creation)."""

    executor: str = "local"
    jobs: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise UsageError(f"unknown executor {self.executor!r} (choose from {', '.join(EXECUTORS)})",
                             option="executor")
        if not 1 <= self.jobs <= MAX_JOBS:
            raise UsageError(f"jobs must be 1..{MAX_JOBS}, got {self.jobs}", option="jobs")
        if self.ray_address is not None and self.executor != "ray":
            raise UsageError("a Ray address needs the ray executor", option=("ray_address", "executor"))


def _run_local(tasks: list[Task], opts: ExecutorOptions, on_result: OnResult) -> None:
    from otapack.features.release.worker import run_task

    if opts.jobs == 1 or len(tasks) < 2:
        for index, task in enumerate(tasks):
            on_result(index, run_task(task))
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["otapack.features.release.worker"])
    with ProcessPoolExecutor(max_workers=min(opts.jobs, len(tasks)), mp_context=context) as pool:
        pending = {pool.submit(run_task, task): index for index, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(pending.pop(future), future.result())


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("the ray executor needs Ray: pip install 'otapack[ray]'", option="executor") from None
    return ray


def _loopback_only(ray) -> None:
    """Keep a Ray instance started for one build on the loopback address.

    On Linux Ray advertises the machine's network address even for a local
    instance; this is Ray's own switch for the single-machine mode it uses on
    macOS and Windows (read when ``ray`` is imported, and at ``ray.init``)."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False


def _run_ray(tasks: list[Task], opts: ExecutorOptions, on_result: OnResult) -> None:
    from otapack.features.release.worker import run_task

    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        if not opts.ray_address:
            _loopback_only(ray)
        where = {"address": opts.ray_address} if opts.ray_address else {"num_cpus": opts.jobs}
        try:
            ray.init(**where, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     configure_logging=True)
        except ConnectionError as exc:
            raise UsageError(f"cannot reach the Ray cluster at {opts.ray_address}: {exc}",
                             option="ray_address") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=2)(run_task)
        pending = {remote.remote(task): index for index, task in enumerate(tasks)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                on_result(pending.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()


@dataclass(frozen=True)
class Executor:
    name: str
    description: str
    run: Callable[[list["Task"], ExecutorOptions, OnResult], None]


EXECUTORS: dict[str, Executor] = {
    e.name: e for e in (
        Executor("local", "this machine: in-process with 1 job, else a process pool of that many workers", _run_local),
        Executor("ray", "a Ray cluster (its address), or a local Ray instance with one CPU per job", _run_ray),
    )
}


def run_tasks(tasks: list["Task"], opts: ExecutorOptions, on_result: OnResult) -> None:
    EXECUTORS[opts.executor].run(tasks, opts, on_result)
