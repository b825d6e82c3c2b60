"""Build profiles: named resource settings for a class of device.

One registry (``PROFILES``) feeds ``--profile``'s choices and help, the docs
table (docs/cli.md) and ``PackageOptions.for_profile``; an explicit setting
(``--lzma-dict``, ``--window-size``) overrides the profile's.  The size cost
of each profile on the corpus is measured by ``bench/measure_resources.py``
(docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from otapack.core.codecs import DEFAULT_LZMA_DICT
from otapack.core.formats.delta import DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_TUPLES
from otapack.errors import UsageError


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    lzma_dict_size: int
    window_size: int
    max_window_tuples: int

    def settings(self) -> dict[str, int]:
        return {"lzma_dict_size": self.lzma_dict_size, "window_size": self.window_size,
                "max_window_tuples": self.max_window_tuples}


PROFILES: dict[str, Profile] = {
    profile.name: profile for profile in (
        Profile("default", "Cat-1 cellular modules (Quectel EC600N/EC200U class, megabytes of RAM): "
                           "1 MiB dictionary, 256 KiB patch windows",
                DEFAULT_LZMA_DICT, DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_TUPLES),
        Profile("mcu", "MCU-class devices (about 128 KiB of RAM for the restore): "
                       "64 KiB dictionary, 32 KiB patch windows, 256 tuples per window",
                1 << 16, 32 * 1024, 256),
    )
}
DEFAULT_PROFILE = "default"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown build profile {name!r}; profiles: {', '.join(PROFILES)}", option="profile") from None
