"""The facade the command line goes through: every library name a command uses.

``otapack.cli`` imports library code only from here (plus ``otapack.errors``
and ``otapack.version``; a test checks it), so this table is the whole
surface the CLI depends on, and ``otapack/__init__.py`` re-exports the core
of it.  Names resolve on first use (PEP 562): importing this module loads
nothing else, and a command loads only the modules of the names it imports,
so ``otapack --version`` and ``otapack info`` do not pay for the diff core,
littlefs or cryptography.  Where the code lives: docs/architecture.md.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otapack.core.model import FirmwareImage


def _names(module: str, *names: str, **aliases: str) -> dict[str, tuple[str, str]]:
    """Public name -> (module, attribute); ``alias="attribute"`` renames one."""
    table = {name: (module, name) for name in names}
    table.update({alias: (module, attribute) for alias, attribute in aliases.items()})
    return table


#: Public name -> (defining module, attribute), by layer and concern.
EXPORTS: dict[str, tuple[str, str]] = {
    **_names("otapack.errors", "OtapackError"),
    # core: the partition model and image readers (docs/partitions.md)
    **_names("otapack.core.model", "FirmwareImage", "Partition", "PartitionType", "Policy"),
    **_names("otapack.core.inputs", "EMBEDDED_TABLES", "INPUT_KINDS", "erased_fraction", "read_firmware",
             "read_firmware_bytes", "load_layout", "check_compatible", compare_images="compare"),
    # core: files
    **_names("otapack.core.fileio", "STDIO", "check_output", "check_outputs", "read_input",
             "write_atomic", "write_files", "write_tree"),
    # core: building, reading, diffing
    **_names("otapack.core.build", "PackageOptions", "build_delta", "build_full", "check_package_size"),
    **_names("otapack.core.build.budget", "fit_ram_budget"),
    **_names("otapack.core.build.profiles", BUILD_PROFILES="PROFILES", DEFAULT_BUILD_PROFILE="DEFAULT_PROFILE"),
    **_names("otapack.core.codecs", "DEFAULT_LZMA_DICT"),
    **_names("otapack.core.parallel", "DEFAULT_JOBS"),
    **_names("otapack.core.diff", "DEFAULT_ALGORITHM", "DIFF_ALGORITHMS"),
    **_names("otapack.core.formats.wire_numbers", "TRANSFORM_ARCH_IDS"),
    **_names("otapack.core.build", "TRANSFORM_CHOICES"),
    **_names("otapack.core.transforms.summary", "transform_summary"),
    **_names("otapack.core.container", "Package", "package_report", "read_package"),
    **_names("otapack.core.formats.extensions", "layout_digest"),
    # core: verifying on a simulated device (docs/verifier.md)
    **_names("otapack.core.verify", "DeviceOptions", "VerifyReport", "apply_package", "device_flash", "flash_base",
             "flatten", "verify_package"),
    **_names("otapack.core.restore.engines", RESTORE_ENGINES="ENGINES"),
    **_names("otapack.core.flash_image", "OUTPUT_FORMATS", "FlashImage", "load_flash_image"),
    # core: the power-cut sweep of the journaled restore (docs/verifier.md, "Power cuts")
    **_names("otapack.core.powercut", "PowerCutOptions", "SweepReport", sweep_power_cuts="sweep"),
    **_names("otapack.core.restore.nor", SECTOR_MAPS="SECTOR_MAPS"),
    # features: signing (docs/security.md)
    **_names("otapack.features.signing_options", "SigningOptions"),  # without cryptography: unsigned builds
    **_names("otapack.features.signing", "attach_signature", "c_array", "generate_key",
             "load_private_key", "load_public_key", "make_signature_check", "package_digest", "sign_package",
             "signature_info", "write_private_key", SIGNATURE_ALGORITHMS="ALGORITHMS"),
    # features: minimal-system upgrades (docs/minimal-system.md)
    **_names("otapack.features.minimal.config", "MinimalConfig", "STAGE_KINDS", "chain_capacities",
             "layout_capacities", "layout_download_slots"),
    **_names("otapack.features.minimal.build", "MinimalResult", "build_minimal"),
    **_names("otapack.features.minimal.plan", "UpgradePlan", "plan_upgrade"),
    **_names("otapack.features.minimal.chain", "ChainReport", "is_stage", "verify_chain"),
    **_names("otapack.features.minimal.inspect", "decode_extensions"),
    # features: the cloud side (docs/cloud.md)
    **_names("otapack.features.cloud.app", "DEFAULT_EXCLUDES", "DEFAULT_MAX_FILE_SIZE", "AppOptions",
             "build_app_release", "fs_free_space", split_app_source="split_source"),
    **_names("otapack.features.cloud.job", "PackageFile", "UrlBase", "check_job_bytes", "fota_document",
             "validate_job_document"),
    **_names("otapack.features.cloud.fs", "LFS_VERSIONS", "FsOptions", "FsReplacement", "build_fs_image",
             "extract_fs_image", "fs_options_for", "fs_partition_data", "read_fs_image",
             "replace_partition_with_fs", "resolve_lfs_version",
             DEFAULT_FS_BLOCK_SIZE="DEFAULT_BLOCK_SIZE", DEFAULT_FS_PARTITION="DEFAULT_PARTITION"),
    # features: fleet releases (docs/release.md)
    **_names("otapack.features.release.manifest", "ReleaseManifest", load_release_manifest="load_manifest"),
    **_names("otapack.features.release.executors", "ExecutorOptions", RELEASE_EXECUTORS="EXECUTORS"),
    **_names("otapack.features.release.build", "ReleaseOptions", "ReleaseResult", "build_release"),
    **_names("otapack.features.release.cache", RELEASE_CACHE_NAME="DEFAULT_CACHE_NAME"),
}


def load_firmware(path: str | os.PathLike, layout: str | os.PathLike | None = None,
                  what: str = "image") -> FirmwareImage:
    """Read an image of any supported kind into the partition model."""
    from otapack.core.inputs import read_firmware

    return read_firmware(path, layout, what=what)


__all__ = sorted([*EXPORTS, "load_firmware"])


def __getattr__(name: str):
    try:
        module, attribute = EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'otapack.api' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return __all__
