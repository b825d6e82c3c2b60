"""One thread budget per build: ``jobs`` bounds every thread that computes.

The builders nest their parallel work (partitions, then matcher settings,
then LZMA passes), and the heavy calls (the diff core, liblzma) release the
GIL, so each level runs in threads.  A ``Workers`` object is made once per
build and handed down: every task holds one of ``jobs`` slots while it runs,
and a task that waits for its own sub-tasks gives its slot back meanwhile,
so at most ``jobs`` threads compute at any moment however deep the nesting,
and a nested map never waits for a slot its own parent holds (no deadlock).

Results come back in input order and no task reads another's result, so
the output does not depend on ``jobs`` or on timing.  ``jobs`` 1 runs
everything in the calling thread.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Workers:
    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self._slots = threading.Semaphore(jobs)
        self._local = threading.local()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, up to ``jobs`` at a time."""
        items = list(items)
        if self.jobs == 1 or len(items) < 2:
            return [fn(item) for item in items]
        with self._waiting(), ThreadPoolExecutor(max_workers=min(self.jobs, len(items))) as pool:
            return list(pool.map(lambda item: self._in_slot(fn, item), items))

    def _in_slot(self, fn: Callable[[T], R], item: T) -> R:
        with self._slots:
            self._local.holds = True
            try:
                return fn(item)
            finally:
                self._local.holds = False

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """The calling thread's slot, if it holds one, is free while it waits."""
        holds = getattr(self._local, "holds", False)
        if holds:
            self._local.holds = False
            self._slots.release()
        try:
            yield
        finally:
            if holds:
                self._slots.acquire()
                self._local.holds = True


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


#: The command line's default ``--jobs``: every CPU it may use (the bytes do not depend on it).
DEFAULT_JOBS = min(64, available_cpus())

#: The budget of callers that pass none: everything in the calling thread.
SERIAL = Workers(1)
