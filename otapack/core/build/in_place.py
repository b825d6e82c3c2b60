"""The builder of ``delta-in-place`` partitions (docs/formats/delta-in-place.md, "Builder").

From the matcher's tuples on (old, new) it writes the target in a write
order of segments, saves the old sectors whose late reads cost most, cuts
the reads still conflicting (those bytes become extra bytes), and keeps the
order whose stream compresses smallest.  ``fit_scratch`` chooses staged,
in place or full per partition from the device's scratch budget.
Deterministic: every choice breaks ties by its listed order.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from dataclasses import replace
from typing import Callable, NamedTuple

from otapack.core.formats.in_place import build_in_place_header
from otapack.core.formats.wire_numbers import (IN_PLACE_DIRECTIONS, IN_PLACE_OPERATIONS, MAX_IN_PLACE_SAVES,
                                               MAX_IN_PLACE_SEGMENTS, MIN_TUPLE_OUTPUT, STAGED_DELTA_OPERATIONS,
                                               in_place_ram)
from otapack.core.restore.resources import round_up

FORWARD, BACKWARD = IN_PLACE_DIRECTIONS["forward"], IN_PLACE_DIRECTIONS["backward"]
#: A piece's old offset when it is new bytes: -1 the matcher's own, CUT a read cut for the write order.
CUT = -2


def _adds(ctrl) -> list[tuple[int, int, int, int]]:
    """The add runs of ``ctrl``: (new offset, length, old offset, diff offset)."""
    out, new_pos, old_pos, diff_pos = [], 0, 0, 0
    for add, copy, seek in ctrl:
        if add:
            out.append((new_pos, add, old_pos, diff_pos))
        new_pos += add + copy
        old_pos += add + seek
        diff_pos += add
    return out


def _pieces(adds, lo: int, hi: int, block: int):
    """Within new [lo, hi): (new offset, length, old offset or -1, diff offset),
    adds split at old-sector boundaries, the gaps as copies."""
    starts = [a[0] for a in adds]
    at = max(0, bisect.bisect_right(starts, lo) - 1)
    pos = lo
    while at < len(adds) and adds[at][0] < hi:
        new0, n, old0, diff0 = adds[at]
        at += 1
        a0, a1 = max(new0, lo), min(new0 + n, hi)
        if a1 <= a0:
            continue
        if a0 > pos:
            yield pos, a0 - pos, -1, 0
        t, q = a0, old0 + (a0 - new0)
        while t < a1:
            m = min(a1 - t, block - q % block)
            yield t, m, q, diff0 + (t - new0)
            t += m
            q += m
        pos = a1
    if pos < hi:
        yield pos, hi - pos, -1, 0


def read_table(adds, size: int, block: int) -> dict[tuple[int, int], int]:
    """Bytes target sector k reads from old sector j, by (k, j)."""
    reads: dict[tuple[int, int], int] = defaultdict(int)
    for k in range(-(-size // block)):
        for new0, n, q, _ in _pieces(adds, k * block, min(size, (k + 1) * block), block):
            if q >= 0:
                reads[k, q // block] += n
    return reads


def candidate_orders(reads, count: int) -> list[tuple[tuple[int, int, int], ...]]:
    """Segment lists to try: forward, backward, and segments by the direction
    each sector's reads prefer (in list order and reversed)."""
    below, above = [0] * count, [0] * count
    for (k, j), n in reads.items():
        if j < k:
            below[k] += n
        elif j > k and j < count:
            above[k] += n
    runs: list[list[int]] = []  # [first, count, direction]
    for k in range(count):
        want = BACKWARD if below[k] > above[k] else FORWARD if above[k] > below[k] else None
        if runs and (want is None or want == runs[-1][2]):
            runs[-1][1] += 1
        else:
            runs.append([k, 1, FORWARD if want is None else want])
    while len(runs) > MAX_IN_PLACE_SEGMENTS:  # the shortest run joins its left (or right) neighbour
        at = min(range(len(runs)), key=lambda i: (runs[i][1], i))
        into = at - 1 if at else 1
        runs[into][1] += runs[at][1]
        runs[into][0] = min(runs[into][0], runs[at][0])
        del runs[at]
    segmented = tuple(tuple(r) for r in runs)
    out = [((0, count, FORWARD),), ((0, count, BACKWARD),), segmented, tuple(reversed(segmented))]
    return list(dict.fromkeys(out))


def _order(segments) -> list[int]:
    order: list[int] = []
    for first, count, direction in segments:
        run = range(first, first + count)
        order.extend(reversed(run) if direction == BACKWARD else run)
    return order


def choose_saves(reads, rank: list[int], max_saves: int) -> tuple[int, ...]:
    """The old sectors whose conflicting reads carry most bytes, up to ``max_saves``."""
    cost: dict[int, int] = defaultdict(int)
    for (k, j), n in reads.items():
        if j < len(rank) and rank[j] < rank[k]:
            cost[j] += n
    best = sorted(cost, key=lambda j: (-cost[j], j))[:max_saves]
    return tuple(sorted(best))


def in_place_matches(adds, diff: bytes, new: bytes, order: list[int], saves, block: int):
    """(ctrl, diff, extra) producing ``new`` in write order ``order``, every
    read legal: conflicting reads become extra bytes, and an add left
    shorter than MIN_TUPLE_OUTPUT next to them too (the work bound)."""
    size, rank = len(new), [0] * len(order)
    for index, sector in enumerate(order):
        rank[sector] = index
    saved = set(saves)
    pieces: list[tuple[int, int, int, int]] = []
    for k in order:
        for p in _pieces(adds, k * block, min(size, (k + 1) * block), block):
            new0, n, q, d = p
            if q >= 0:
                j = q // block
                if j < len(rank) and j not in saved and rank[j] < rank[k]:
                    p = (new0, n, CUT, 0)
            if pieces and pieces[-1][2] < 0 and p[2] < 0 and pieces[-1][0] + pieces[-1][1] == new0:
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + n, min(p[2], pieces[-1][2]), 0)
            else:
                pieces.append(p)
    ctrl: list[list[int]] = []
    out_diff, extra = bytearray(), bytearray()
    old_pos = 0
    for index, (new0, n, q, d) in enumerate(pieces):
        if q >= 0 and n < MIN_TUPLE_OUTPUT and any(0 <= i < len(pieces) and pieces[i][2] == CUT
                                                    for i in (index - 1, index + 1)):
            q = -1
        if q < 0:
            if ctrl:  # its seek is still 0: seeks are set just before the next add's tuple
                ctrl[-1][1] += n
            else:
                ctrl.append([0, n, 0])
            extra += new[new0 : new0 + n]
            continue
        if ctrl:
            ctrl[-1][2] += q - old_pos
        elif q:
            ctrl.append([0, 0, q])
        ctrl.append([n, 0, 0])
        out_diff += diff[d : d + n]
        old_pos = q + n
    return ctrl, bytes(out_diff), bytes(extra)


def in_place_streams(old: bytes, new: bytes, matches, block: int, max_saves: int, window_size: int,
                     max_window_tuples: int, diff_codings) -> list[tuple[bytes, object]]:
    """Every candidate stream (in-place header + delta-v1 stream) with its
    figures, for each order and diff coding; only those within the work bound."""
    from otapack.core.build.figures import stream_figures, tighten
    from otapack.core.diff import _core
    from otapack.core.diff.patch_encode import encode_patch

    ctrl, diff, _ = matches
    adds = _adds(ctrl)
    count = -(-len(new) // block)
    reads = read_table(adds, len(new), block)
    out = []
    for segments in candidate_orders(reads, count):
        order = _order(segments)
        rank = [0] * count
        for index, sector in enumerate(order):
            rank[sector] = index
        digest = hashlib.sha256(b"".join(new[k * block : (k + 1) * block] for k in order)).digest()
        # Every save the budget allows, and none: the cut bytes sometimes compress better than saved ones.
        for saves in dict.fromkeys((choose_saves(reads, rank, min(max_saves, MAX_IN_PLACE_SAVES)), ())):
            c, d, e = in_place_matches(adds, diff, new, order, saves, block)
            head = build_in_place_header(block, segments, saves, digest)
            for coding in diff_codings:
                body = encode_patch(c, d, e, window_size=window_size, max_window_tuples=max_window_tuples,
                                    diff_coding=coding, zero_run_coder=_core.zero_runs)
                fig = stream_figures(body, len(new))
                if not fig.within_work_bound:
                    continue
                fig = replace(fig, transform_ram=in_place_ram(len(segments), len(saves)), saves=len(saves))
                out.append((head + tighten(body, fig), fig))
    return out


class Tools(NamedTuple):
    """What the package builder lends (``otapack.core.build``, which imports this module)."""

    full: Callable  # (partition, reason, opts, workers) -> its replace plan
    smallest: Callable  # (streams, tunings, lzma_dict, workers) -> (stream, payload)
    planned: Callable  # PlannedPartition
    tunings: Callable  # (partition size, opts) -> the LZMA tunings a delta of it tries
    thorough_limit: int  # partitions up to this size try every matcher setting


def plan_in_place(old, new, opts, max_saves: int, block: int, workers, tools: Tools):
    """The smallest in-place payload of partition ``new`` from ``old`` (None: none within the work bound)."""
    from otapack.core.build.figures import payload_lclp
    from otapack.core.container import PartitionRecord
    from otapack.core.diff import DENSE_MIN_FILL, DENSE_MIN_LENGTH, _core, match_all

    # As the staged delta: every matcher setting on a small partition, the default on a large one.
    window = max(1, min(opts.window_size, new.size))
    streams = {}
    for matches in match_all(old.data, new.data, opts.diff_algorithm, None if new.size <= tools.thorough_limit
                             else ({},), workers):
        matches = _core.literalize_dense(*matches, new.data, DENSE_MIN_LENGTH, DENSE_MIN_FILL)
        for stream, fig in in_place_streams(old.data, new.data, matches, block, max_saves, window,
                                            opts.max_window_tuples, ("raw", "zero-run")):
            streams.setdefault(stream, fig)
    if not streams:
        return None
    stream, payload = tools.smallest(list(streams), tools.tunings(new.size, opts), opts.lzma_dict_size, workers)
    record = PartitionRecord(
        name=new.name, address=new.address, operation="delta-in-place", reason="delta-smaller", codec="lzma2",
        source_size=old.size, source_sha256=old.sha256(), target_size=new.size, target_sha256=new.sha256(),
        uncompressed_length=len(stream))
    return tools.planned(record, payload, {"delta-in-place": len(payload)}, window, lclp=payload_lclp(payload),
                         stream=streams[stream])


def scratch_needed(planned, block: int) -> int:
    """``scratch_flash``: staged partitions, in-place saves, one swap sector if any."""
    staged = sum(round_up(p.record.target_size, block) for p in planned
                 if p.record.operation in STAGED_DELTA_OPERATIONS)
    saves = [p.stream.saves for p in planned if p.record.operation in IN_PLACE_OPERATIONS]
    return staged + (sum(saves) + 1) * block if saves else staged


def fit_scratch(planned, pairs, opts, block: int, workers, tools: Tools):
    """Per staged delta in table order: staged while the budget holds it,
    else in place when its saves and the swap sector fit and it is smaller
    than the full payload, else full (reason ``no-scratch``)."""
    budget, staged, saves, in_place = opts.scratch_flash, 0, 0, False
    out = []
    for p, (old, new) in zip(planned, pairs):
        if p.record.operation not in STAGED_DELTA_OPERATIONS:
            out.append(p)
            continue
        reserved = (saves + 1) * block if in_place else 0
        need = round_up(p.record.target_size, block)
        if staged + need + reserved <= budget:
            staged += need
            out.append(p)
            continue
        room = budget - staged - (saves + 1) * block
        choice = plan_in_place(old, new, opts, room // block, block, workers, tools) if room >= 0 else None
        full = tools.full(new, "no-scratch", opts, workers)
        if choice is not None and len(choice.payload) < len(full.payload):
            saves += choice.stream.saves
            in_place = True
            choice = replace(choice, candidates={**p.candidates, **choice.candidates, "full": len(full.payload)})
            out.append(choice)
        else:
            out.append(replace(full, candidates={**p.candidates, **full.candidates}))
    return out
