"""What a release builds: one ``Job`` per package (or stage pair), its cache
key, and ``Task``s that group the jobs by source image.

A job is pure data: the images, the validated ``PackageOptions`` and what
the builder needs besides; its key is the SHA-256 of everything that decides
its bytes (the images' partition digests, the options, the minimal system
and its configuration, whether it is self-checked) and of the tool
(``tool_fingerprint``: version, sources, and the encoders' output on a fixed
probe).  Signing is not part of a job: keys never leave the coordinator.

**Grouping by source image.** Every job that diffs against the same source
image (same partition digests) goes into one task, so one worker holds that
image once, and the diff core's per-image index (one suffix array per old
partition) can be built once for all of them: the worker's loop over the
task's jobs is the one place that changes.  Full packages, which have no
source, are grouped by target image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import lzma
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from otapack.core.build import PackageOptions
from otapack.core.model import FirmwareImage
from otapack.features.minimal.config import MinimalConfig, chain_capacities
from otapack.features.release.inputs import ImageInput, ModelInput, ReleaseInputs
from otapack.version import __version__

#: Job kinds: what each builds (the worker's ``BUILDERS`` table has the same keys).
JOB_KINDS = {"full": "full package", "delta": "delta package", "minimal": "minimal-system stage pair"}
#: Bumped when the key's recipe changes, so old entries are never reused.
KEY_RECIPE = 1


def image_digest(image: FirmwareImage) -> str:
    """SHA-256 of what a builder sees of an image: geometry and every partition."""
    h = hashlib.sha256(b"otapack-release-image-v1\0")
    h.update(json.dumps([image.source, image.erase_block, image.erased_value]).encode())
    for p in image.partitions:
        h.update(json.dumps([p.name, p.address, p.type.value, p.policy.value, p.slot_size, p.size]).encode())
        h.update(p.sha256())
    return h.hexdigest()


def _probe_input() -> bytes:
    """16 KiB of deterministic, partly compressible bytes."""
    out, block = bytearray(), b"otapack-probe"
    while len(out) < 16384:
        block = hashlib.sha256(block).digest()
        out += block[:8] + bytes(24) + block
    return bytes(out[:16384])


#: The sources (relative to the otapack package) that decide a job's bytes: the
#: core, the minimal-system builder, and what a worker runs.  Not the reports,
#: the CLI or signing (signatures are made after the cache).
PACKAGE_SOURCES = ("core/**/*.py", "core/**/*.c", "features/minimal/*.py", "features/release/plan.py",
                   "features/release/worker.py")


@lru_cache(maxsize=None)
def tool_fingerprint() -> str:
    """What decides a package's bytes besides its inputs: otapack's version, the
    sources that build packages (``PACKAGE_SOURCES``), and what this machine's
    liblzma and diff core make of a probe (so a cache entry, or a remote
    worker's output, from another build is never mixed in)."""
    from otapack.core.codecs import lzma2_filters
    from otapack.core.diff import make_patch

    h = hashlib.sha256(f"otapack {__version__}\0".encode())
    package = Path(__file__).resolve().parents[2]
    for path in sorted({path for pattern in PACKAGE_SOURCES for path in package.glob(pattern)}):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    probe = _probe_input()
    h.update(lzma.compress(probe, format=lzma.FORMAT_RAW, filters=lzma2_filters(1 << 16)))
    h.update(make_patch(probe, probe[4096:] + probe[:4096]))
    return h.hexdigest()


def _options_dict(opts: PackageOptions) -> dict:
    values = dataclasses.asdict(opts)
    values.pop("jobs")  # output is the same for any value
    values["extensions"] = [[tag, value.hex()] for tag, value in opts.extensions]
    return values


@dataclass(frozen=True)
class Job:
    """One package (or the two stages of a minimal-system upgrade) to build."""

    kind: str
    model: str
    source_version: str | None
    target_version: str
    new: FirmwareImage
    opts: PackageOptions
    verify: bool
    old_digest: str | None = None
    mini: bytes | None = None
    config: MinimalConfig | None = None
    capacities: tuple[int | None, int | None] = (None, None)
    key: str = field(default="", compare=False)

    @property
    def ident(self) -> tuple[str, str, str | None]:
        """What the job is in its release: model, kind, source version (unique in a release)."""
        return (self.model, self.kind, self.source_version)

    @property
    def label(self) -> str:
        route = self.target_version if self.source_version is None else f"{self.source_version}->{self.target_version}"
        return f"{self.model} {route} {self.kind}"

    def cache_key(self) -> str:
        recipe = {
            "recipe": KEY_RECIPE, "tool": tool_fingerprint(), "kind": self.kind, "old": self.old_digest,
            "new": image_digest(self.new), "options": _options_dict(self.opts), "verify": self.verify,
            "mini": hashlib.sha256(self.mini).hexdigest() if self.mini is not None else None,
            "config": dataclasses.asdict(self.config) if self.config is not None else None,
            "capacities": list(self.capacities),
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Task:
    """The jobs one worker runs: all of them against ``old`` (None: full packages of ``group``'s target)."""

    group: str
    old: FirmwareImage | None
    jobs: tuple[Job, ...]

    @property
    def cost(self) -> int:
        """A size estimate for scheduling big tasks first (bytes of new images, deltas counted twice)."""
        return sum(sum(p.size for p in j.new.partitions) * (1 if j.kind == "full" else 2) for j in self.jobs)


def _job(kind: str, m: ModelInput, source: ImageInput | None, verify: bool, **extra) -> Job:
    opts = m.options if source is None else m.delta_options(source)
    job = Job(kind, m.spec.name, source.version if source else None, m.target.version, m.target.image, opts,
              verify, image_digest(source.image) if source else None, **extra)
    return dataclasses.replace(job, key=job.cache_key())


def plan_jobs(inputs: ReleaseInputs, verify: bool) -> list[tuple[Job, ImageInput | None]]:
    """Every job of the release, with the source image it diffs against, in manifest order."""
    jobs: list[tuple[Job, ImageInput | None]] = []
    for m in inputs.models:
        jobs.append((_job("full", m, None, verify), None))
        for source in m.sources:
            jobs.append((_job("delta", m, source, verify), source))
            if m.minimal is not None:
                caps = chain_capacities(m.minimal_config, m.target.image)
                jobs.append((_job("minimal", m, source, verify, mini=m.minimal, config=m.minimal_config,
                                  capacities=caps), source))
    return jobs


def group_tasks(jobs: list[tuple[Job, ImageInput | None]]) -> list[Task]:
    """One task per source image (full packages: per target image), biggest first.

    The order is a pure function of the jobs, so every executor and worker
    count sees the same tasks; results are matched to jobs by key, never by
    arrival order."""
    groups: dict[str, tuple[FirmwareImage | None, list[Job]]] = {}
    for job, source in jobs:
        group = f"source:{job.old_digest}" if source is not None else f"target:{image_digest(job.new)}"
        groups.setdefault(group, (source.image if source is not None else None, []))[1].append(job)
    tasks = [Task(group, old, tuple(members)) for group, (old, members) in groups.items()]
    return sorted(tasks, key=lambda t: (-t.cost, t.group))
