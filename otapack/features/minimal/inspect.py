"""The minimal-system extensions of a package, decoded for ``info``."""

from __future__ import annotations

from otapack.core.formats.extensions import decode_budget, decode_prev_state
from otapack.features.minimal.config import STAGE_KINDS


def decode_extensions(package) -> dict:
    """The minimal-system extensions of a parsed Package, decoded (PackageFormatError when malformed)."""
    h = package.header
    out: dict = {}
    if h.kind in STAGE_KINDS:
        out["stage"] = STAGE_KINDS.index(h.kind) + 1
    prev = h.extension("chain-prev-state")
    if prev is not None:
        digest, covered = decode_prev_state(prev, len(package.partitions))
        out["chain_prev_state"] = {"digest": digest.hex(),
                                   "covers": [p.name for p, c in zip(package.partitions, covered) if c]}
    nxt = h.extension("chain-next-package")
    if nxt is not None:
        out["chain_next_package"] = nxt.hex()
    budget = h.extension("budget")
    if budget is not None:
        out["budget"] = decode_budget(budget)
    return out
