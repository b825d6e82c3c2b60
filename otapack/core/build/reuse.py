"""Partition plans shared by the packages built from one source image.

A release builds several packages against the same source (the delta, the
minimal-system stages); most of their partitions are the same (old, new)
pair with the same settings, and ``plan_delta_partition`` is a pure function
of those.  A ``PlanMemo`` keeps each plan by that key, so the suffix array,
the scans and the LZMA passes of a partition run once per source image and
every package gets the very same bytes.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from otapack.core.model import Partition

if TYPE_CHECKING:
    from otapack.core.build import PackageOptions, PlannedPartition


def _partition_key(part: Partition | None):
    return None if part is None else (replace(part, data=b""), part.sha256())


class PlanMemo:
    def __init__(self) -> None:
        self._plans: dict = {}
        self._lock = threading.Lock()
        self.hits = 0

    def plan(self, old: Partition | None, new: Partition, opts: "PackageOptions",
             make: Callable[[], "PlannedPartition"]) -> "PlannedPartition":
        """``make()``'s plan, or the one made before for the same inputs."""
        # All the options but jobs (the bytes do not depend on it): a package with other settings,
        # or a retry of the RAM-budget fit with lower ones, plans afresh.
        key = (_partition_key(old), _partition_key(new), replace(opts, jobs=1))
        with self._lock:
            if key in self._plans:
                self.hits += 1
                return self._plans[key]
        planned = make()
        with self._lock:
            return self._plans.setdefault(key, planned)
