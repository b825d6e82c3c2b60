"""otapack: firmware OTA packages for cellular IoT modules.

The public API works on bytes and the partition model; the ``otapack``
command is a thin layer over it (see docs/api.md)::

    from otapack import FirmwareImage, PackageOptions, build_delta, verify_package
    pkg = build_delta(FirmwareImage.single(old), FirmwareImage.single(new),
                      PackageOptions(model="EC600NCNLC", target_version="V0003"))
    assert verify_package(pkg, FirmwareImage.single(old), FirmwareImage.single(new)).ok
"""

from otapack.version import __version__

#: The names ``import otapack`` offers; each resolves through the facade
#: ``otapack.api`` on first use (PEP 562), so the command line and
#: ``import otapack.x`` do not load every dependency.
_API = (
    "PackageOptions", "build_delta", "build_full", "OtapackError", "FirmwareImage", "Partition", "PartitionType",
    "Policy", "Package", "read_package", "DeviceOptions", "apply_package", "verify_package", "load_firmware",
)

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'otapack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module("otapack.api"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
