"""Path-level conveniences over the bytes API, used by the CLI and scripts."""

from __future__ import annotations

import os

from otapack.fileio import read_input
from otapack.model import FirmwareImage


def load_firmware(path: str | os.PathLike, layout: str | os.PathLike | None = None, what: str = "image") -> FirmwareImage:
    """Read an image of any supported kind into the partition model."""
    read_input(path, what)  # uniform errors for missing/empty/unreadable files
    try:
        from otapack.partition_table import read_firmware
    except ImportError:
        read_firmware = None
    if read_firmware is None:
        if layout is not None:
            from otapack.errors import UsageError

            raise UsageError("--layout needs the partition readers (otapack.partition_table)")
        return FirmwareImage.single(read_input(path, what))
    return read_firmware(path, layout)
