"""``build_release``: a whole fleet release from a manifest (docs/release.md).

1. The output folder is checked, then every file the manifest names is opened
   and checked (``inputs.load_inputs``), before any build work.
2. Every job (``plan.plan_jobs``) is looked up in the cache; the misses are
   grouped per source image into tasks and run on the executor.  Each result
   goes into the cache as it arrives, so a failed release keeps what it built.
3. The coordinator signs (keys never go to workers), picks each source's
   route (``routes.choose_route``), writes the job documents, ``release.json``
   and ``release.html``.
4. Outputs are written atomically file by file, ``release.json`` last; files a
   previous release in the folder listed and this one does not are removed.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import otapack.errors as error_classes
from otapack.core.fileio import write_atomic
from otapack.errors import OtapackError, OutputError, VerificationError
from otapack.features.cloud.job import PackageFile, fota_document
from otapack.features.release import report
from otapack.features.release.cache import DEFAULT_CACHE_NAME, CacheStats, PackageCache
from otapack.features.release.executors import ExecutorOptions, run_tasks
from otapack.features.release.html import render_html
from otapack.features.release.inputs import ImageInput, ModelInput, ReleaseInputs, load_inputs
from otapack.features.release.manifest import ReleaseManifest
from otapack.features.release.plan import Job, group_tasks, plan_jobs, tool_fingerprint
from otapack.features.release.routes import Candidate, choose_route, fit
from otapack.features.release.worker import TaskResult
from otapack.features.signing import sign_package

REPORT_NAME, HTML_NAME = "release.json", "release.html"


@dataclass(frozen=True)
class ReleaseOptions:
    """Where a release goes and how it is built (validated on creation)."""

    out_dir: Path
    cache_dir: Path | None = None
    executor: ExecutorOptions = ExecutorOptions()
    #: None: the manifest's ``release.verify``
    verify: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    @property
    def cache(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.out_dir / DEFAULT_CACHE_NAME


@dataclass(frozen=True)
class ProgressEvent:
    """One job finished: from the cache (``hit``) or built."""

    done: int
    total: int
    label: str
    state: str
    sizes: tuple[int, ...]


@dataclass
class ReleaseResult:
    out_dir: Path
    document: dict
    files: dict[str, bytes]
    cache: CacheStats
    executor: ExecutorOptions
    removed: list[str] = field(default_factory=list)
    #: per task run: its jobs, worker CPU and wall seconds (not part of release.json: they vary)
    tasks: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        tasks = sorted(self.tasks, key=lambda t: t["jobs"])
        return {"out_dir": str(self.out_dir), "release": self.document, "removed": self.removed,
                "run": {"cache": self.cache.to_dict(), "executor": self.executor.executor,
                        "jobs": self.executor.jobs, "built": self.cache.misses, "cached": self.cache.hits,
                        "tasks": tasks, "worker_cpu_seconds": sum(t["cpu_seconds"] for t in tasks)}}


def _previous(out_dir: Path) -> dict | None:
    try:
        document = json.loads((out_dir / REPORT_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("format") == report.REPORT_FORMAT else None


def check_out_dir(out_dir: Path, cache_dir: Path | None = None) -> None:
    """The folder is new, empty (but for the cache), or holds an earlier release (its release.json);
    else OutputError."""
    if not out_dir.exists():
        parent = out_dir.parent if str(out_dir.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"cannot write {out_dir}: directory {parent} does not exist", option="out_dir")
        return
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory", option="out_dir")
    cache = (cache_dir or out_dir / DEFAULT_CACHE_NAME).resolve()
    if _previous(out_dir) is None and any(p.resolve() != cache for p in out_dir.iterdir()):
        raise OutputError(f"{out_dir} is not empty and holds no otapack release ({REPORT_NAME}): "
                          f"refusing to write a release into it", option="out_dir")


def package_name(job: Job, stage: int | None = None) -> str:
    """``MODEL/MODEL_SRC-TGT.pack``, ``MODEL/MODEL_TGT_full.pack``, ``..._stage1.pack``."""
    base = f"{job.model}_{job.target_version}_full" if job.source_version is None else \
        f"{job.model}_{job.source_version}-{job.target_version}"
    return f"{job.model}/{base}{'' if stage is None else f'_stage{stage}'}.pack"


def job_name(job: Job) -> str:
    return f"{job.model}/jobs/{Path(package_name(job)).stem}.json"


def _raise_first(errors_by_key: dict[str, tuple[str, str]], jobs: list[Job]) -> None:
    """The error of the first failed job in manifest order, as its own class (so its exit code)."""
    for job in jobs:
        if job.key in errors_by_key:
            name, message = errors_by_key[job.key]
            cls = getattr(error_classes, name, None)
            if not (isinstance(cls, type) and issubclass(cls, OtapackError)):
                cls = OtapackError
            raise cls(f"{job.label}: {message}")


def _build(jobs: list[Job], tasks_of, cache: PackageCache, opts: ExecutorOptions,
           finish: Callable[[Job, tuple[bytes, ...]], tuple[bytes, ...]],
           progress: Callable[[ProgressEvent], None] | None, timings: list[dict]) -> dict[tuple, tuple[bytes, ...]]:
    """Every job's packages (by ``Job.ident``) through ``finish`` (signing): from
    the cache, which holds them unsigned, else built on the executor.  Jobs
    with equal keys are built once."""
    built: dict[tuple, tuple[bytes, ...]] = {}
    waiting: dict[str, list[Job]] = {}
    for job in jobs:
        waiting.setdefault(job.key, []).append(job)

    def arrived(key: str, packages: tuple[bytes, ...], state: str) -> None:
        for job in waiting.pop(key):
            built[job.ident] = finish(job, packages)
            if progress is not None:
                progress(ProgressEvent(len(built), len(jobs), job.label, state,
                                       tuple(len(p) for p in built[job.ident])))

    for key, same in list(waiting.items()):
        hit = cache.get(key, same[0].label)
        if hit is not None:
            arrived(key, hit, "hit")
    missing = [same[0] for same in waiting.values()]
    by_key = {job.key: job for job in missing}
    failures: dict[str, tuple[str, str]] = {}
    fingerprint = tool_fingerprint()

    def on_result(index: int, result: TaskResult) -> None:
        if result.fingerprint != fingerprint:
            raise VerificationError(f"a worker runs another otapack build (fingerprint {result.fingerprint[:16]}, "
                                    f"this one {fingerprint[:16]}): install the same otapack on every worker")
        timings.append({"jobs": [by_key[o.key].label for o in result.outputs], "cpu_seconds": result.cpu_seconds,
                        "main_cpu_seconds": result.main_cpu_seconds, "wall_seconds": result.wall_seconds})
        for output in result.outputs:
            cache.put(output.key, output.packages)
            arrived(output.key, output.packages, "built")
        if result.error is not None:
            key, name, message = result.error
            failures[key] = (name, message)

    tasks = tasks_of(missing)
    if tasks:
        run_tasks(tasks, opts, on_result)
    _raise_first(failures, missing)
    return built


def _candidate(method: str, packages: tuple[bytes, ...], m: ModelInput) -> Candidate:
    if method == "minimal-system":
        config = m.minimal_config
        return Candidate(method, tuple(
            fit(p, config.budget(stage, m.target.image), config.describe_area(stage), m.budget.ram)
            for stage, p in enumerate(packages, 1)))
    return Candidate(method, (fit(packages[0], m.budget.download, m.budget.area, m.budget.ram),))


def _job_document(m: ModelInput, names: list[str], packages: tuple[bytes, ...], integrity: bool):
    files = [PackageFile(Path(name).name, data) for name, data in zip(names, packages)]
    return fota_document(files, m.url_base, file_version=m.spec.target.file_version or None,
                         include_integrity=integrity)


class _Outputs:
    """Files to write and their report entries."""

    def __init__(self, integrity: bool):
        self.files: dict[str, bytes] = {}
        self.packages: list[dict] = []
        self.jobs: list[dict] = []
        self.integrity = integrity

    def add_packages(self, model: str, names: list[str], candidate: Candidate, packages: tuple[bytes, ...],
                     roles: list[str]) -> None:
        for name, data, role, fits in zip(names, packages, roles, candidate.stages):
            if name not in self.files:
                self.files[name] = data
                self.packages.append(dict(report.package_entry(name, data, model, role), fit=fits.to_dict()))

    def add_job(self, m: ModelInput, name: str, names: list[str], packages: tuple[bytes, ...]) -> str:
        document = _job_document(m, names, packages, self.integrity)
        data = document.to_bytes()
        self.files[name] = data
        self.jobs.append(report.job_entry(name, data, document))
        return name


def _model_outputs(m: ModelInput, jobs: list[tuple[Job, ImageInput | None]], built, out: _Outputs,
                   ratio: float) -> dict:
    mine = [(job, source) for job, source in jobs if job.model == m.spec.name]
    full_job = next(job for job, _ in mine if job.kind == "full")
    full, full_name = built[full_job.ident], package_name(full_job)
    full_candidate = _candidate("full", full, m)
    out.add_packages(m.spec.name, [full_name], full_candidate, full, ["full"])
    full_entry = {"package": full_name, "job": None}
    if full_candidate.fits:  # a job only for a package the devices can store
        full_entry["job"] = out.add_job(m, job_name(full_job), [full_name], full)
    routes = []
    for source in m.sources:
        delta_job = next(j for j, s in mine if s is source and j.kind == "delta")
        minimal_job = next((j for j, s in mine if s is source and j.kind == "minimal"), None)
        delta = _candidate("delta", built[delta_job.ident], m)
        minimal = _candidate("minimal-system", built[minimal_job.ident], m) if minimal_job is not None else None
        route = choose_route(m.spec.name, source.version, delta, full_candidate, minimal, ratio)
        if route.method == "delta":
            names, packages = [package_name(delta_job)], built[delta_job.ident]
            out.add_packages(m.spec.name, names, delta, packages, ["delta"])
        elif route.method == "full":
            names, packages = [full_name], full
        else:
            names, packages = [package_name(minimal_job, 1), package_name(minimal_job, 2)], built[minimal_job.ident]
            out.add_packages(m.spec.name, names, minimal, packages, ["stage1", "stage2"])
        job = out.add_job(m, job_name(delta_job), names, packages)
        routes.append(report.route_entry(route, source, m.target, names, job))
    return report.model_entry(m, full_entry, full_candidate.stages[0], routes)


def _write(out_dir: Path, files: dict[str, bytes], previous: dict | None) -> list[str]:
    """Every file atomically, release.json last; then what only the previous release listed goes.
    A file that already holds its bytes is left alone (a rerun costs no fsync)."""
    try:
        out_dir.mkdir(exist_ok=True)
        for name in sorted(files, key=lambda n: (n == REPORT_NAME, n)):
            path = out_dir / name
            if _holds(path, files[name]):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, files[name])
    except OSError as exc:
        raise OutputError(f"cannot write {out_dir}: {exc.strerror or exc}", option="out_dir") from None
    removed = []
    if previous is not None:
        listed = {e.get("path") for key in ("packages", "jobs") for e in previous.get(key, []) if isinstance(e, dict)}
        for name in sorted(n for n in listed if isinstance(n, str) and n not in files):
            path = (out_dir / name).resolve()
            if out_dir.resolve() in path.parents and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(name)
                for parent in (path.parent, path.parent.parent):
                    with contextlib.suppress(OSError):
                        if parent != out_dir.resolve():
                            parent.rmdir()  # only when empty
    return removed


def _holds(path: Path, data: bytes) -> bool:
    """True when ``path`` is a regular file (not a link) with exactly ``data``."""
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size == len(data) \
            and path.read_bytes() == data
    except OSError:
        return False


def _names_of(job: Job) -> list[str]:
    """Every file a job can put in the release."""
    stages = [package_name(job, 1), package_name(job, 2)] if job.kind == "minimal" else [package_name(job)]
    return stages + [job_name(job)]


def _check_clobber(inputs: ReleaseInputs, out_dir: Path, names, cache_dir: Path) -> None:
    reads = inputs.input_paths()
    for name in names:
        if (out_dir / name).resolve() in reads:
            raise OutputError(f"{out_dir / name} would replace an input of the release", option="out_dir")
    if cache_dir.resolve() in reads:
        raise OutputError(f"cache directory {cache_dir} is an input of the release", option="cache_dir")


def build_release(manifest: ReleaseManifest, options: ReleaseOptions,
                  progress: Callable[[ProgressEvent], None] | None = None) -> ReleaseResult:
    """Build, sign, route, report and write a release (see the module docstring)."""
    out_dir = options.out_dir
    check_out_dir(out_dir, options.cache)
    inputs = load_inputs(manifest)
    verify = manifest.settings.verify if options.verify is None else options.verify
    jobs = plan_jobs(inputs, verify)
    names = [REPORT_NAME, HTML_NAME] + [name for job, _ in jobs for name in _names_of(job)]
    _check_clobber(inputs, out_dir, names, options.cache)
    cache = PackageCache(options.cache).open()
    sources = {job.key: source for job, source in jobs}
    keys = {m.spec.name: m.key for m in inputs.models}

    def sign(job: Job, packages: tuple[bytes, ...]) -> tuple[bytes, ...]:
        key = keys[job.model]
        return packages if key is None else tuple(sign_package(p, key) for p in packages)

    timings: list[dict] = []
    built = _build([job for job, _ in jobs], lambda missing: group_tasks([(j, sources[j.key]) for j in missing]),
                   cache, options.executor, sign, progress, timings)
    out = _Outputs(manifest.settings.job_integrity)
    models = [_model_outputs(m, jobs, built, out, manifest.settings.full_fallback_ratio) for m in inputs.models]
    document = report.release_document(inputs, models, out.packages, out.jobs, verify)
    out.files[HTML_NAME] = render_html(document)
    out.files[REPORT_NAME] = report.dump_json(document)
    removed = _write(out_dir, out.files, _previous(out_dir) if out_dir.exists() else None)
    return ReleaseResult(out_dir, document, out.files, cache.stats, options.executor, removed, timings)

