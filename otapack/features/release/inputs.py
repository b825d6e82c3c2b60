"""Everything a manifest refers to, opened and checked before any build work.

``load_inputs(manifest)`` reads each layout, image, signing key and minimal
system once, checks that every source can make a package with its model's
target, resolves budgets and URLs, and builds the frozen ``PackageOptions``
each package gets.  Every problem is the library's own error class (so its
exit code) with the manifest's file name and key path in front.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from otapack.core.build import PackageOptions, resolve_build_time
from otapack.core.fileio import read_input
from otapack.core.inputs import check_compatible, load_layout, read_firmware
from otapack.core.inputs.layout import Layout, minimal_system_table
from otapack.core.model import FirmwareImage
from otapack.errors import InputError, LayoutError, OtapackError
from otapack.features.cloud.job import UrlBase
from otapack.features.minimal.config import MinimalConfig
from otapack.features.release.manifest import FileRef, ModelSpec, ReleaseManifest
from otapack.features.signing import PrivateKey, load_private_key


@dataclass(frozen=True)
class ImageInput:
    """One firmware build of a model: its version, file digest and partitions."""

    version: str
    given: str
    sha256: str
    size: int
    image: FirmwareImage


@dataclass(frozen=True)
class Budget:
    """What a device of the model can spare for a single-stage package (None: unbounded)."""

    download: int | None
    area: str
    ram: int | None
    #: scratch flash for in-place deltas (None: deltas are staged)
    scratch: int | None = None

    def to_dict(self) -> dict:
        return {"download": self.download, "area": self.area, "ram": self.ram, "scratch": self.scratch}


@dataclass(frozen=True)
class ModelInput:
    spec: ModelSpec
    target: ImageInput
    sources: tuple[ImageInput, ...]
    options: PackageOptions  # the target's; a delta adds its source_version
    budget: Budget
    url_base: UrlBase
    key: PrivateKey | None = None
    minimal: bytes | None = None
    minimal_sha256: str | None = None
    minimal_config: MinimalConfig | None = None
    layout_given: str | None = None

    def delta_options(self, source: ImageInput) -> PackageOptions:
        return replace(self.options, source_version=source.version)


@dataclass(frozen=True)
class ReleaseInputs:
    manifest: ReleaseManifest
    models: tuple[ModelInput, ...]
    build_time: int

    def input_paths(self) -> set[Path]:
        """Every file the release reads (outputs must never replace one)."""
        paths = {self.manifest.path.resolve()}
        for m in self.models:
            spec = m.spec
            refs = [spec.target.image, *(s.image for s in spec.sources), spec.layout, spec.signing_key,
                    spec.minimal_system]
            paths |= {r.path.resolve() for r in refs if r is not None}
        return paths


def _at(source: str, key: str, action: Callable[[], Any]) -> Any:
    """Run ``action``; an otapack error gets the manifest key in front (same class, same exit code)."""
    try:
        return action()
    except OtapackError as exc:
        error = copy.copy(exc)
        error.message = f"{source}: {key}: {exc}"
        error.args = (error.message,)
        raise error from None


def _image(source: str, ref: FileRef, version: str, layout: Layout | None) -> ImageInput:
    data = _at(source, ref.key, lambda: read_input(ref.path, "image"))
    image = _at(source, ref.key, lambda: read_firmware(ref.path, layout, what="image"))
    return ImageInput(version, ref.given, hashlib.sha256(data).hexdigest(), len(data), image)


def _scratch(spec: ModelSpec, layout: Layout | None) -> int | None:
    """The device's scratch budget for in-place deltas: the manifest's, else the layout's ``scratch_flash``."""
    if spec.budget.scratch is not None:
        return spec.budget.scratch
    return layout.extras.get("scratch_flash") if layout is not None else None


def _budget(source: str, spec: ModelSpec, layout: Layout | None, target: FirmwareImage) -> Budget:
    download, area = spec.budget.download, "budget.download"
    if download is None and layout is not None:
        table = _at(source, spec.layout.key, lambda: minimal_system_table(layout))
        if table is not None:
            download, area = table["stage1_download"], f"stage1_download of {layout.source}"
    if isinstance(download, tuple):
        missing = [n for n in download if target.get(n) is None]
        if missing:
            raise LayoutError(f"{source}: {spec.key}.budget.download: names partition {missing[0]!r}, which the "
                              f"target image does not have (partitions: {', '.join(target.names())})")
        area = f"partition{'s' if len(download) > 1 else ''} {', '.join(download)}"
        download = sum(target.get(n).capacity for n in download)
    return Budget(download, area if download is not None else "unbounded", spec.budget.ram, _scratch(spec, layout))


def _minimal(source: str, spec: ModelSpec, layout: Layout | None, target: FirmwareImage):
    ref = spec.minimal_system
    if ref is None:
        return None, None, None
    if layout is None or minimal_system_table(layout) is None:
        raise InputError(f"{source}: {ref.key}: a minimal-system upgrade needs the model's layout with a "
                         f"[minimal_system] table (docs/minimal-system.md)")
    data = _at(source, ref.key, lambda: read_input(ref.path, "minimal-system image"))
    config = _at(source, ref.key, lambda: MinimalConfig.from_layout(layout))
    _at(source, ref.key, lambda: config.check(target))
    return data, hashlib.sha256(data).hexdigest(), config


def _model(source: str, release, spec: ModelSpec, build_time: int) -> ModelInput:
    layout = None
    if spec.layout is not None:
        layout = _at(source, spec.layout.key, lambda: load_layout(spec.layout.path))
    target = _image(source, spec.target.image, spec.target.version, layout)
    sources = []
    for s in spec.sources:
        old = _image(source, s.image, s.version, layout)
        _at(source, s.image.key, lambda: check_compatible(old.image, target.image))
        sources.append(old)
    key = None
    if spec.signing_key is not None:
        key = _at(source, spec.signing_key.key, lambda: load_private_key(spec.signing_key.path))
    options = _at(source, spec.key, lambda: PackageOptions(
        model=spec.model, target_version=spec.target.version, security_counter=spec.security_counter,
        lzma_dict_size=spec.lzma_dict_size or release.lzma_dict_size, build_time=build_time,
        diff_algorithm=release.diff_algorithm, hardware_id=spec.hardware_id, scratch_flash=_scratch(spec, layout)))
    url_base = _at(source, "release.url_base",
                   lambda: UrlBase(release.url_base.rstrip("/") + "/" + spec.name, release.aws_presigned))
    minimal, minimal_sha, config = _minimal(source, spec, layout, target.image)
    return ModelInput(
        spec=spec, target=target, sources=tuple(sources), options=options,
        budget=_budget(source, spec, layout, target.image), url_base=url_base,
        key=key, minimal=minimal, minimal_sha256=minimal_sha, minimal_config=config,
        layout_given=spec.layout.given if spec.layout else None,
    )


def load_inputs(manifest: ReleaseManifest) -> ReleaseInputs:
    """Open and check every file the manifest names; nothing is built yet."""
    source = manifest.path.name
    # SOURCE_DATE_EPOCH is read here, once: remote workers may not have it.
    build_time = resolve_build_time()
    models = tuple(_model(source, manifest.settings, spec, build_time) for spec in manifest.models)
    return ReleaseInputs(manifest, models, build_time)
