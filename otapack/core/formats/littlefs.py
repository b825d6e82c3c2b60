"""littlefs on-disk versions, by the names layouts and options use.

littlefs records its on-disk format in the superblock (``disk_version``,
major << 16 | minor).  Module families differ (docs/cloud.md): the
QuecPython notes list littlefs 1.x on most families and 2.x on a few, so a
layout declares the version per file-system partition (``fs_lfs_version``).
The writer, littlefs-python, only knows the 2.x format.
"""

from __future__ import annotations

#: 2.x versions that can be built, name -> ``disk_version``.  2.0 is readable
#: by every littlefs 2.x driver; 2.1 only by littlefs 2.6 and later.
LFS2_VERSIONS: dict[str, int] = {"2.0": 0x0002_0000, "2.1": 0x0002_0001}
#: Names that declare the 1.x on-disk format (mountable by littlefs 1.x
#: drivers only, e.g. MicroPython's ``VfsLfs1``); not buildable here.
LFS1_NAMES = frozenset({"1", "1.x", "1.0", "1.1", "1.6", "1.7"})


def is_lfs1(name: str) -> bool:
    return str(name).strip().lower() in LFS1_NAMES
