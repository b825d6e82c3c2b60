"""Which package a device on each deployed version gets: delta, full or minimal-system.

For every source version the release has a delta, the model's full
package and, when the model has a minimal system, the two-stage pair.  Each
candidate is measured against the model's budget (docs/minimal-system.md):
flash ``ceil(package / erase block) * erase block + scratch`` against the
download area, and the declared RAM against the RAM budget; each
minimal-system stage against its own phase's area.  The route is:

1. the delta, if it fits and is smaller than ``full_fallback_ratio`` times
   the full package (or the full package does not fit);
2. else the full package, if it fits;
3. else the minimal-system pair, if configured and both stages fit;
4. else no route: ``BudgetError`` (exit 7) with every candidate's shortfall.
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.container import read_package
from otapack.errors import BudgetError

METHODS = ("delta", "full", "minimal-system")


@dataclass(frozen=True)
class Fit:
    """One package against what the device can spare."""

    package_bytes: int
    erase_block: int
    scratch_flash: int
    ram_required: int
    download_area: int | None
    area: str
    ram_budget: int | None

    @property
    def flash_needed(self) -> int:
        return -(-self.package_bytes // self.erase_block) * self.erase_block + self.scratch_flash

    @property
    def fits_flash(self) -> bool:
        return self.download_area is None or self.flash_needed <= self.download_area

    @property
    def fits_ram(self) -> bool:
        return self.ram_budget is None or self.ram_required <= self.ram_budget

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    def shortfall(self) -> str:
        """Why it does not fit ("" when it does)."""
        out = []
        if not self.fits_flash:
            out.append(f"needs {self.flash_needed} B of flash ({self.package_bytes} B package in "
                       f"{self.erase_block}-byte blocks + {self.scratch_flash} B scratch), the download area "
                       f"({self.area}) has {self.download_area} B")
        if not self.fits_ram:
            out.append(f"declares {self.ram_required} B of RAM, the budget is {self.ram_budget} B")
        return " and ".join(out)

    def to_dict(self) -> dict:
        return {"package_bytes": self.package_bytes, "flash_needed": self.flash_needed,
                "scratch_flash": self.scratch_flash, "download_area": self.download_area, "area": self.area,
                "ram_required": self.ram_required, "ram_budget": self.ram_budget, "fits": self.fits}


def fit(package: bytes, download_area: int | None, area: str, ram_budget: int | None) -> Fit:
    header = read_package(package, check_digest=False).header
    return Fit(len(package), header.erase_block, header.scratch_flash, header.ram_required, download_area, area,
               ram_budget)


@dataclass(frozen=True)
class Candidate:
    method: str
    stages: tuple[Fit, ...]

    @property
    def download_bytes(self) -> int:
        return sum(s.package_bytes for s in self.stages)

    @property
    def fits(self) -> bool:
        return all(s.fits for s in self.stages)

    def shortfall(self) -> str:
        if len(self.stages) == 1:
            return self.stages[0].shortfall()
        return "; ".join(f"stage {i} {s.shortfall()}" for i, s in enumerate(self.stages, 1) if not s.fits)

    def to_dict(self) -> dict:
        return {"method": self.method, "download_bytes": self.download_bytes, "fits": self.fits,
                "stages": [s.to_dict() for s in self.stages]}


@dataclass(frozen=True)
class Route:
    source_version: str
    method: str
    reason: str
    candidates: tuple[Candidate, ...]

    def candidate(self, method: str) -> Candidate | None:
        return next((c for c in self.candidates if c.method == method), None)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


def choose_route(model: str, source_version: str, delta: Candidate, full: Candidate,
                 minimal: Candidate | None, ratio: float) -> Route:
    """The route for devices on ``source_version`` (BudgetError when nothing fits)."""
    candidates = tuple(c for c in (delta, full, minimal) if c is not None)
    share = _percent(delta.download_bytes, full.download_bytes)
    small_enough = delta.download_bytes < ratio * full.download_bytes
    if delta.fits and (small_enough or not full.fits):
        why = (f"the delta ({delta.download_bytes} B) is {share} of the full package"
               + ("" if small_enough else f"; the full package does not fit: it {full.shortfall()}"))
        return Route(source_version, "delta", why, candidates)
    if full.fits:
        if not delta.fits:
            why = f"the delta {delta.shortfall()}; the full package fits"
        else:
            why = (f"the delta ({delta.download_bytes} B) is {share} of the full package ({full.download_bytes} B), "
                   f"not below the full_fallback_ratio {ratio:g}")
        return Route(source_version, "full", why, candidates)
    if minimal is not None and minimal.fits:
        why = (f"neither single package fits: the delta {delta.shortfall()}; the full package "
               f"{full.shortfall()}; both minimal-system stages fit their phases")
        return Route(source_version, "minimal-system", why, candidates)
    tail = (f"the minimal-system pair: {minimal.shortfall()}" if minimal is not None
            else "no minimal system is configured for the model (minimal_system)")
    raise BudgetError(f"model {model}, devices on {source_version}: no upgrade fits: the delta {delta.shortfall()}; "
                      f"the full package {full.shortfall()}; {tail}")
