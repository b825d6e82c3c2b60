"""Partition-aware firmware images: layouts, embedded tables, ELF/HEX/PAC.

Public API::

    load_layout(path_or_text) -> Layout
    read_firmware(path, layout=None) -> FirmwareImage
    read_firmware_bytes(data, *, name="image", layout=None) -> FirmwareImage
    check_compatible(old, new) -> None        # IncompatibleImagesError
    compare(old, new) -> CompareReport        # .to_dict() for JSON (partitions and items)
    item_changes(old, new) -> list[str]       # non-flash items (PAC NV, loaders) that differ

Registries (extend in one place): ``INPUT_KINDS`` (input kind -> reader),
``EMBEDDED_TABLES`` (table -> finder), ``DETECTORS`` (content -> type),
``NAME_TYPES`` (well-known names -> type), ``TYPE_NAMES``/``POLICY_NAMES``,
and the layout keys ``LAYOUT_KEYS``/``PARTITION_KEYS``.  See docs/partitions.md.
"""

from otapack.core.inputs.compare import (
    CompareReport,
    ItemDiff,
    PartitionDiff,
    STATUSES,
    check_compatible,
    compare,
    item_changes,
)
from otapack.core.inputs.detect import (
    DETECTORS,
    NAME_POLICIES,
    NAME_TYPES,
    Detector,
    detect_content,
    erased_fraction,
)
from otapack.core.inputs.layout import (
    LAYOUT_KEYS,
    PARTITION_KEYS,
    POLICY_NAMES,
    TYPE_NAMES,
    Layout,
    LayoutPartition,
    load_layout,
    validate_layout,
)
from otapack.core.inputs.kinds import (
    INPUT_KINDS,
    InputKind,
    detect_kind,
    read_firmware,
    read_firmware_bytes,
)
from otapack.core.inputs.tables import EMBEDDED_TABLES

__all__ = [
    "CompareReport", "DETECTORS", "ItemDiff", "item_changes", "Detector", "EMBEDDED_TABLES", "INPUT_KINDS", "InputKind",
    "LAYOUT_KEYS", "Layout", "LayoutPartition", "NAME_POLICIES", "NAME_TYPES", "PARTITION_KEYS",
    "POLICY_NAMES", "PartitionDiff", "STATUSES", "TYPE_NAMES", "check_compatible", "compare",
    "detect_content", "detect_kind", "erased_fraction", "load_layout", "read_firmware",
    "read_firmware_bytes", "validate_layout",
]
