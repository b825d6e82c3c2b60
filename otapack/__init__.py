"""otapack: firmware OTA packages for cellular IoT modules.

The public API works on bytes and the partition model; the ``otapack``
command is a thin layer over it (see docs/api.md)::

    from otapack import FirmwareImage, PackageOptions, build_delta, verify_package
    pkg = build_delta(FirmwareImage.single(old), FirmwareImage.single(new),
                      PackageOptions(model="EC600NCNLC", target_version="V0003"))
    assert verify_package(pkg, FirmwareImage.single(old), FirmwareImage.single(new)).ok
"""

from otapack.version import __version__

#: Public name -> defining module; resolved on first use (PEP 562), so the
#: command line and ``import otapack.x`` do not load every dependency.
_API = {
    "PackageOptions": "otapack.core.build",
    "build_delta": "otapack.core.build",
    "build_full": "otapack.core.build",
    "OtapackError": "otapack.errors",
    "FirmwareImage": "otapack.core.model",
    "Partition": "otapack.core.model",
    "PartitionType": "otapack.core.model",
    "Policy": "otapack.core.model",
    "Package": "otapack.core.container",
    "read_package": "otapack.core.container",
    "DeviceOptions": "otapack.core.verify",
    "apply_package": "otapack.core.verify",
    "verify_package": "otapack.core.verify",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'otapack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
