"""Flash budgets: what one stage needs against its phase's download area."""

from __future__ import annotations

from dataclasses import dataclass, field

from otapack.core.formats.extensions import encode_budget
from otapack.errors import BudgetError
from otapack.features.minimal.config import MinimalConfig


@dataclass(frozen=True)
class StageFigures:
    """One stage's flash need against its phase's download area."""

    stage: int
    package_bytes: int
    scratch_flash: int
    erase_block: int
    download_area: int
    area: str
    operations: dict = field(default_factory=dict)
    #: payload sizes of the candidates per partition (delta, full), when several were built
    candidates: dict = field(default_factory=dict)
    #: partitions carried in full because their delta's staging missed the budget
    fallback: tuple[str, ...] = ()

    @property
    def flash_needed(self) -> int:
        return -(-self.package_bytes // self.erase_block) * self.erase_block + self.scratch_flash

    @property
    def fits(self) -> bool:
        return self.flash_needed <= self.download_area

    @property
    def shortfall(self) -> int:
        return max(0, self.flash_needed - self.download_area)

    def extension(self) -> bytes:
        """The ``budget`` extension value."""
        return encode_budget(stage=self.stage, download_area=self.download_area, package_bytes=self.package_bytes,
                             scratch_flash=self.scratch_flash, flash_needed=self.flash_needed)

    def to_dict(self) -> dict:
        return {
            "stage": self.stage, "package_bytes": self.package_bytes, "scratch_flash": self.scratch_flash,
            "flash_needed": self.flash_needed, "download_area": self.download_area, "area": self.area,
            "free_after": self.download_area - self.flash_needed, "fits": self.fits,
            "shortfall": self.shortfall, "operations": dict(self.operations),
            "candidates": dict(self.candidates), "full_for_budget": list(self.fallback),
        }


def budget_error(f: StageFigures, config: MinimalConfig) -> BudgetError:
    """The error of a stage that misses its budget, with what would help."""
    return BudgetError(
        f"stage {f.stage} needs {f.flash_needed} bytes of flash for its package (the {f.package_bytes}-byte "
        f"package in {f.erase_block}-byte erase blocks + {f.scratch_flash} bytes scratch), the phase-{f.stage} "
        f"download area ({f.area}) has {f.download_area} bytes: short by {f.shortfall} bytes; "
        f"hint: {budget_hint(f, config)}"
    )


def budget_hint(f: StageFigures, config: MinimalConfig) -> str:
    parts = ["a smaller LZMA dictionary does not shrink the package (it only lowers RAM)"]
    if f.scratch_flash:
        parts.append(f"the {f.scratch_flash}-byte scratch stages delta-restored partitions")
    if f.stage == 1:
        parts.append("a smaller minimal system, or installing it where a delta against OLD is small, does; "
                     "so does more free flash in phase 1 (stage1_download)")
    else:
        parts.append(f"moving the minimal system out of {config.partition!r} (so stage 2 can patch it instead of "
                     f"carrying it in full), or a larger phase-2 download area (stage2_download), does")
    return "; ".join(parts)
