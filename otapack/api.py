"""Path-level conveniences over the bytes API, used by the CLI and scripts."""

from __future__ import annotations

import os

from otapack.core.model import FirmwareImage


def load_firmware(path: str | os.PathLike, layout: str | os.PathLike | None = None, what: str = "image") -> FirmwareImage:
    """Read an image of any supported kind into the partition model."""
    from otapack.core.inputs import read_firmware

    return read_firmware(path, layout, what=what)
