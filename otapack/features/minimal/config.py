"""The ``[minimal_system]`` configuration: where the minimal system goes and
how much flash each phase can spare (docs/minimal-system.md)."""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.model import FirmwareImage, Partition, Policy
from otapack.core.restore.chain import STAGE_KINDS
from otapack.errors import LayoutError, UsageError

__all__ = ["CONFIG_KEYS", "MinimalConfig", "STAGE_KINDS", "chain_capacities", "config_partition",
           "layout_capacities", "layout_download_slots"]
#: The keys a configuration needs (planning single-stage packages needs only ``stage1_download``).
CONFIG_KEYS = ("partition", "stage1_download", "stage2_download")


@dataclass(frozen=True)
class MinimalConfig:
    """Where the minimal system goes and how much flash each phase can spare.

    A download area is a byte count, or a tuple of partition names whose
    slots are free (their content is destroyed by the download) in that phase.
    """

    partition: str
    stage1_download: int | tuple[str, ...]
    stage2_download: int | tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("stage1_download", "stage2_download"):
            value = getattr(self, key)
            if isinstance(value, str):
                object.__setattr__(self, key, (value,))
            elif isinstance(value, list):
                object.__setattr__(self, key, tuple(value))
            elif isinstance(value, int) and (value < 0 or isinstance(value, bool)):
                raise UsageError(f"{key} must be a byte count of at least 0, not {value!r}")

    @classmethod
    def from_layout(cls, layout=None, *, partition: str | None = None, stage1_download: int | None = None,
                    stage2_download: int | None = None, require: tuple[str, ...] = CONFIG_KEYS,
                    ) -> "MinimalConfig":
        """The layout's ``[minimal_system]`` table, with explicit values overriding it.

        ``require``: the keys that must be known (planning single-stage
        packages needs only ``stage1_download``)."""
        table = None
        if layout is not None:
            from otapack.core.inputs.layout import load_layout, minimal_system_table

            table = minimal_system_table(load_layout(layout))
        table = dict(table or {})
        for key, value in (("partition", partition), ("stage1_download", stage1_download),
                           ("stage2_download", stage2_download)):
            if value is not None:
                table[key] = value
        missing = tuple(k for k in require if k not in table)
        if missing:
            raise UsageError(
                f"no {', '.join(missing)} known: add a [minimal_system] table to the layout "
                f"(docs/minimal-system.md) or give {'it' if len(missing) == 1 else 'them'} explicitly",
                option=missing,
            )
        return cls(table.get("partition", ""), table.get("stage1_download", 0), table.get("stage2_download", 0),
                   table.get("description", ""))

    def area(self, stage: int) -> int | tuple[str, ...]:
        return self.stage1_download if stage == 1 else self.stage2_download

    def area_names(self, stage: int) -> tuple[str, ...]:
        value = self.area(stage)
        return value if isinstance(value, tuple) else ()

    def budget(self, stage: int, image: FirmwareImage) -> int:
        value = self.area(stage)
        if isinstance(value, int):
            return value
        return sum(config_partition(image, name, f"stage{stage}_download").capacity for name in value)

    def describe_area(self, stage: int) -> str:
        """The download area as the budget figures name it (``area``)."""
        value = self.area(stage)
        if isinstance(value, int):
            return f"stage{stage}_download"
        return "partition" + ("s " if len(value) > 1 else " ") + ", ".join(value)

    def check(self, image: FirmwareImage) -> None:
        """The roles must make sense on this image's partitions (LayoutError)."""
        mini = config_partition(image, self.partition, "partition")
        if mini.policy in (Policy.SKIP, Policy.KEEP):
            raise LayoutError(
                f"[minimal_system] partition {self.partition!r} has policy {mini.policy.value}: it may never be "
                f"written, so it cannot receive the minimal system"
            )
        for stage in (1, 2):
            for name in self.area_names(stage):
                part = config_partition(image, name, f"stage{stage}_download")
                if name == self.partition:
                    role = "stage 1 writes it" if stage == 1 else "the minimal system runs from it"
                    raise LayoutError(
                        f"[minimal_system] stage{stage}_download names {name!r}, the minimal-system partition: "
                        f"{role}, so it cannot hold the phase-{stage} package"
                    )
                if part.policy in (Policy.SKIP, Policy.KEEP):
                    raise LayoutError(
                        f"[minimal_system] stage{stage}_download names {name!r}, which has policy "
                        f"{part.policy.value}: its content must survive, it cannot hold a downloaded package"
                    )


def config_partition(image: FirmwareImage, name: str, key: str) -> Partition:
    """The partition a ``[minimal_system]`` key names (LayoutError when the image has none)."""
    part = image.get(name)
    if part is None:
        raise LayoutError(
            f"[minimal_system] {key} names partition {name!r}, which the image does not have "
            f"(partitions: {', '.join(image.names())})"
        )
    return part


def chain_capacities(config: MinimalConfig | None, image: FirmwareImage | None) -> tuple[int | None, int | None]:
    """The download areas of the two phases in bytes (None: unknown)."""
    if config is None or image is None:
        return (None, None)
    return (config.budget(1, image), config.budget(2, image))


def layout_capacities(layout, image: FirmwareImage | None) -> tuple[int | None, int | None]:
    """The download areas of the layout's ``[minimal_system]`` table, if it has one."""
    if layout is None or image is None:
        return (None, None)
    from otapack.core.inputs.layout import load_layout, minimal_system_table

    if minimal_system_table(load_layout(layout)) is None:
        return (None, None)
    return chain_capacities(MinimalConfig.from_layout(layout), image)


def layout_download_slots(layout, kind: str | None) -> tuple[str, ...]:
    """The partitions whose slots are the download area a package of ``kind`` is
    downloaded into (phase 2 for a minimal-stage2 package, else phase 1), when
    the layout's ``[minimal_system]`` table names partitions; else ()."""
    if layout is None:
        return ()
    from otapack.core.inputs.layout import load_layout, minimal_system_table

    if minimal_system_table(load_layout(layout)) is None:
        return ()
    config = MinimalConfig.from_layout(layout, require=())
    return config.area_names(2 if kind == STAGE_KINDS[1] else 1)
