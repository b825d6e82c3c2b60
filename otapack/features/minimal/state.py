"""Flash states of a minimal-system upgrade: the intermediate image, which
partitions a stage's state digest covers, and that digest on both sides
(the builder's, from the model; the device's, from its flash)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from otapack.core.formats import extensions
from otapack.core.model import FirmwareImage, PartitionType, Policy
from otapack.core.build import changes_on_device
from otapack.errors import InputError
from otapack.features.minimal.config import MinimalConfig, config_partition


def install_minimal(old: FirmwareImage, mini: bytes, partition: str) -> FirmwareImage:
    """The flash after stage 1: OLD with MINI (padded to the slot) in ``partition``."""
    part = config_partition(old, partition, "partition")
    if not mini:
        raise InputError("the minimal-system image is empty")
    slot = part.capacity
    if len(mini) > slot:
        raise InputError(
            f"the minimal system ({len(mini)} bytes) does not fit partition {partition!r} ({slot}-byte slot)"
        )
    data = bytes(mini) + bytes([old.erased_value]) * (slot - len(mini))
    new_part = replace(part, data=data, type=PartitionType.CODE, slot_size=part.slot_size)
    parts = tuple(new_part if p.name == partition else p for p in old.partitions)
    return replace(old, partitions=parts, details=dict(old.details, minimal_system=partition))


def coverage(image: FirmwareImage, config: MinimalConfig, stage: int) -> list[bool]:
    """Which partitions (in table order) the state a stage starts from covers.

    Not covered: NV/factory data (skip: per device), file systems (full: they
    change at run time), and download areas of this or an earlier phase
    (their content is the downloaded package).  Always covered in phase 2:
    the minimal system itself."""
    dead = set(config.area_names(1)) | (set(config.area_names(2)) if stage == 2 else set())
    out = []
    for p in image.partitions:
        if stage == 2 and p.name == config.partition:
            out.append(True)
        else:
            out.append(p.policy is not Policy.SKIP and not changes_on_device(p) and p.name not in dead)
    return out


def image_state(image: FirmwareImage, covered: list[bool]) -> bytes:
    """The state digest of the model's partitions (what the builder writes): each
    covered slot as the device holds it, the content then erased bytes to the
    slot's end (``otapack.core.restore.chain.device_state`` on the device)."""
    items = []
    for p, c in zip(image.partitions, covered):
        if c:
            slot = p.padded(image.erased_value)
            items.append((p.name, p.address, len(slot), hashlib.sha256(slot).digest()))
    return extensions.state_digest(items)


def prev_state(state: FirmwareImage, covered: list[bool]) -> bytes:
    """The ``chain-prev-state`` value of a stage that starts from flash ``state``."""
    return extensions.encode_prev_state(image_state(state, covered), covered)
