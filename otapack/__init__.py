"""otapack: firmware OTA packages for cellular IoT modules.

The public API works on bytes and the partition model; the ``otapack``
command is a thin layer over it (see docs/api.md)::

    from otapack import FirmwareImage, PackageOptions, build_delta, verify_package
    pkg = build_delta(FirmwareImage.single(old), FirmwareImage.single(new),
                      PackageOptions(model="EC600NCNLC", target_version="V0003"))
    assert verify_package(pkg, FirmwareImage.single(old), FirmwareImage.single(new)).ok
"""

__version__ = "0.1.0"

from otapack.build import PackageOptions, build_delta, build_full  # noqa: E402
from otapack.errors import OtapackError  # noqa: E402
from otapack.model import FirmwareImage, Partition, PartitionType, Policy  # noqa: E402
from otapack.package import Package, read_package  # noqa: E402
from otapack.verify import DeviceOptions, apply_package, verify_package  # noqa: E402

__all__ = [
    "DeviceOptions",
    "FirmwareImage",
    "OtapackError",
    "Package",
    "PackageOptions",
    "Partition",
    "PartitionType",
    "Policy",
    "__version__",
    "apply_package",
    "build_delta",
    "build_full",
    "read_package",
    "verify_package",
]
