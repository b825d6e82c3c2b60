"""``otapack plan``: full, delta or minimal-system, against the flash budgets."""

from __future__ import annotations

from dataclasses import dataclass, replace

from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.core.container import read_package
from otapack.core.model import FirmwareImage
from otapack.features.minimal.budget import StageFigures
from otapack.features.minimal.build import build_minimal
from otapack.features.minimal.config import MinimalConfig


@dataclass
class UpgradePlan:
    candidates: list[dict]
    recommendation: str | None
    reason: str

    def to_dict(self) -> dict:
        return {"candidates": self.candidates, "recommendation": self.recommendation, "reason": self.reason}


def _single(method: str, package: bytes, eb: int, budget: int, area: str) -> dict:
    header = read_package(package).header
    f = StageFigures(1, len(package), header.scratch_flash, eb, budget, area)
    d = f.to_dict()
    del d["stage"], d["operations"]
    return {"method": method, "download_bytes": len(package), "stages": [d], "fits": f.fits}


def _in_place(old: FirmwareImage, new: FirmwareImage, opts: PackageOptions, staged: bytes, eb: int, budget: int,
              area: str) -> dict | None:
    """A delta whose partitions are staged, patched in place or sent in full
    by the scratch flash the budget leaves beside the package (docs/formats/
    delta-in-place.md): built for the room the staged package leaves, then
    once more for the room its own size leaves.  None: no partition went in place."""
    package, room = staged, budget - len(staged)
    for _ in range(2):
        package = build_delta(old, new, replace(opts, scratch_flash=max(0, room)))
        figures = _single("delta-in-place", package, eb, budget, area)
        if figures["fits"] or budget - len(package) >= room:
            break
        room = budget - len(package)
    in_place = any(r.operation == "delta-in-place" for r in read_package(package).partitions)
    return figures if in_place else None


def plan_upgrade(old: FirmwareImage, new: FirmwareImage, config: MinimalConfig,
                 opts: PackageOptions = PackageOptions(), mini: bytes | None = None) -> UpgradePlan:
    """Full, delta and (with MINI) minimal-system, each against the flash
    budgets; recommends the one that fits with the fewest bytes to download."""
    eb = new.erase_block
    budget1, area1 = config.budget(1, new), config.describe_area(1)
    staged = build_delta(old, new, opts)
    candidates = [_single("delta", staged, eb, budget1, area1)]
    if not candidates[0]["fits"] and opts.scratch_flash is None:
        in_place = _in_place(old, new, opts, staged, eb, budget1, area1)
        if in_place is not None:
            candidates.append(in_place)
    candidates.append(_single("full", build_full(new, opts), eb, budget1, area1))
    if mini is not None:
        result = build_minimal(old, new, mini, config, opts, check_budget=False)
        candidates.append({"method": "minimal-system", "download_bytes": len(result.stage1) + len(result.stage2),
                           "stages": [f.to_dict() for f in result.figures], "fits": result.fits})
    fitting = [c for c in candidates if c["fits"]]
    if fitting:
        best = min(fitting, key=lambda c: (c["download_bytes"], len(c["stages"])))
        return UpgradePlan(candidates, best["method"],
                           f"{best['method']} fits the flash budget with the fewest bytes to download "
                           f"({best['download_bytes']})")
    shorts = "; ".join(
        f"{c['method']}: short by " + "+".join(str(s["shortfall"]) for s in c["stages"]) + " bytes"
        for c in candidates)
    reason = f"no upgrade method fits the flash budget ({shorts})"
    if mini is None:
        reason += "; a minimal-system image was not given, so no minimal-system upgrade was planned"
    return UpgradePlan(candidates, None, reason)
