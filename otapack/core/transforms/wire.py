"""Wire numbers of the delta-v2 transform section, as this package names them.

They are defined once, in ``otapack/core/formats/wire_numbers.py`` (and so
in the generated ``device/include/ota_wire.h``); this module only re-exports
them under the prototype's names.  Standard library only.
"""

from __future__ import annotations

from otapack.core.formats.wire_numbers import (  # noqa: F401  (re-exports)
    MAP_ENTRY_BYTES,
    MAX_MAP_DELTA,
    MAX_MAP_ENTRIES,
    MAX_REGIONS,
    MAX_TRANSFORM_ADDRESS as MAX_ADDRESS,
    MAX_UNIT,
    REGION_ENTRY_BYTES,
    TRANSFORM_ARCH_IDS as ARCH_IDS,
    transform_ram,
)
