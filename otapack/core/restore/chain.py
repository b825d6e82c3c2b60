"""The device's minimal-system chain rules, run in its ``compatibility`` check.

A minimal-system upgrade is two packages (docs/minimal-system.md).  The
device enforces, before anything is written:

1. a stage (kind ``minimal-stage1`` or ``minimal-stage2``) starts from the
   flash state its ``chain-prev-state`` names: the device hashes its own
   slots over the entries the coverage bitmap marks (``device_state``);
2. after a stage 1 the device remembers its ``chain-next-package`` digest
   (``Device.expected_next``, kept across the reboot) and accepts only the
   package whose body SHA-256 is that digest, whatever its kind, until it is
   installed.

Standard library only; device/ implements the same rules.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from otapack.core.formats.wire_numbers import SHA256_SIZE
from otapack.core.restore import wire
from otapack.core.restore.extensions import read_prev_state, state_digest
from otapack.errors import ChainMismatchError, ChainStateError, PackageFormatError

if TYPE_CHECKING:
    from otapack.core.restore.engine import Device

#: Package kinds of the two stages, in chain order.
STAGE_KINDS = ("minimal-stage1", "minimal-stage2")
#: The stage-1 extension naming the stage 2 that must follow.
NEXT_PACKAGE = "chain-next-package"


def device_state(device: "Device", entries: list, covered: list[bool]) -> tuple[bytes, list[str]]:
    """The device's digest of its own flash over the covered table entries (and their names).

    Each covered partition contributes its name, address, slot size and the
    SHA-256 of the whole slot (read one erase block at a time)."""
    items, names = [], []
    for entry, cover in zip(entries, covered):
        if not cover:
            continue
        part = device.partitions.get(entry.name)
        names.append(entry.name)
        if part is None:
            items.append((entry.name, 0, 0, b"\0" * 32))
            continue
        sha = hashlib.sha256()
        for position in range(0, part.size, device.erase_block):
            sha.update(part.flash.read(position, min(device.erase_block, part.size - position)))
        items.append((entry.name, part.address, part.size, sha.digest()))
    return state_digest(items), names


def check_stage(device: "Device", header: wire.Header) -> str:
    """Rule 1 for a minimal-system stage: the device is in the state it starts from."""
    stage = STAGE_KINDS.index(header.kind) + 1
    prev = header.extensions.get("chain-prev-state")
    if prev is None:
        raise PackageFormatError(f"{header.kind} package has no chain-prev-state extension")
    want, covered = read_prev_state(prev, len(header.entries))
    missing = [e.name for e, c in zip(header.entries, covered) if c and e.name not in device.partitions]
    if missing:
        raise ChainStateError(
            f"stage {stage} starts from a flash state over partition {missing[0]!r}, which the device does not "
            f"have (device partitions: {', '.join(device.partitions) or 'none'}; was the image read without "
            f"its layout?)"
        )
    have, names = device_state(device, header.entries, covered)
    if have != want:
        pending = device.expected_next is not None
        if stage == 2:
            hint = ("the stage 1 applied before leaves another state: the pair does not belong together" if pending
                    else "apply its stage 1 first (stage 1 is url1 and comes first)")
        else:
            hint = ("stage 1 was already applied; the device expects its stage 2 (are the stages swapped?)"
                    if pending else
                    "the device is not running the firmware stage 1 was built from (wrong base image)")
        raise ChainStateError(
            f"stage {stage} starts from flash state {want.hex()}, the device is in state {have.hex()} "
            f"(over {', '.join(names) or 'no partitions'}): {hint}"
        )
    if stage == 1:
        nxt = header.extensions.get(NEXT_PACKAGE)
        if nxt is None or len(nxt) != SHA256_SIZE:
            raise PackageFormatError("minimal-stage1 package has no 32-byte chain-next-package extension")
    return f"flash state {have.hex()[:16]}… matches"


def check_expected(device: "Device", header: wire.Header, digest: bytes) -> str:
    """Rule 2: after a stage 1, only the package it names."""
    if device.expected_next is None:
        return ""
    if digest != device.expected_next:
        if header.kind == STAGE_KINDS[1]:
            why = "a stage 2 built for another upgrade (mix-and-match) is refused"
            what = "this package"
        else:
            why = "until that stage 2 is installed the device accepts no other package"
            what = f"this {header.kind} package"
        raise ChainMismatchError(
            f"stage 1 names stage 2 package {device.expected_next.hex()}, {what} is {digest.hex()}: {why}"
        )
    return "package is the one stage 1 names"


def next_expected(header: wire.Header) -> bytes | None:
    """What the device remembers after committing ``header``'s package."""
    return header.extensions.get(NEXT_PACKAGE) if header.kind == STAGE_KINDS[0] else None
