"""Builder side: choose the transform's parameters and write delta-v2 streams.

From the matcher's tuples (which old bytes each new byte is added to) the
builder

1. *observes* references: every unit the arch recognises in an add range
   of OLD, decoded again at the same place in NEW, gives one pair
   ``(old target, new target - old target)``;
2. *fits the map* M: runs of equal deltas in target order (single outliers
   are dropped as noise), holes over long stretches without observations
   and after the last one, at most ``max_map`` entries;
3. *chooses regions*: per kind, where rewriting makes fewer nonzero diff
   bytes than it costs (a two-state dynamic programme with a fixed cost per
   region boundary);
4. computes the diff bytes against the transformed old bytes with the
   device's own ``Transformer`` (so builder and device agree by
   construction), and encodes the stream.

``candidate_streams`` plans twice, matching on operand-neutral images and on
the images themselves, and offers both plans' streams; the build keeps a
delta-v2 stream only where it compresses smaller than every other candidate.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from dataclasses import dataclass, replace

from otapack.core.codecs import CODECS, grid_at_least
from otapack.core.diff import DENSE_MIN_FILL, DENSE_MIN_LENGTH, _core, get_algorithm
from otapack.core.diff.patch_encode import DEFAULT_WINDOW_TUPLES, encode_patch, normalize_ctrl
from otapack.core.formats.delta import DeltaHeader, DIFF_CODINGS
from otapack.core.restore.transform import TransformParams, Transformer
from otapack.core.restore.transform_kinds import ARCHES, Arch
from otapack.core.transforms.section import encode_section
from otapack.core.formats.wire_numbers import (MAP_ENTRY_BYTES, MAX_MAP_DELTA, MAX_MAP_ENTRIES, MAX_REGIONS, MAX_UNIT,
                                               REGION_ENTRY_BYTES)


# ------------------------------------------------------------------ tuples

def adds(ctrl) -> list[tuple[int, int, int]]:
    """``(old_pos, length, out_pos)`` of every add, in stream order."""
    out, old_pos, out_pos = [], 0, 0
    for add, copy, seek in ctrl:
        if add:
            out.append((old_pos, add, out_pos))
        old_pos += add + seek
        out_pos += add + copy
    return out


def sub_bytes(new: bytes, old: bytes) -> bytes:
    """Bytewise (new - old) mod 256, carry-free (wide-integer trick)."""
    n = len(new)
    if new == old:
        return bytes(n)
    high = int.from_bytes(b"\x80" * n, "little")
    x = int.from_bytes(new, "little")
    y = int.from_bytes(old, "little")
    return (((x | high) - (y & ~high)) ^ ((x ^ ~y) & high)).to_bytes(n, "little")


def transformed_diff(old: bytes, new: bytes, ctrl, params: TransformParams | None,
                     record: list | None = None) -> bytes:
    """The diff bytes of ``ctrl`` against OLD as the device transforms it."""
    transformer = Transformer(params or TransformParams("none"))
    transformer.record = record
    read_old = lambda p, k: old[p : p + k]  # noqa: E731
    parts = []
    for pos, n, out in adds(ctrl):
        parts.append(sub_bytes(new[out : out + n], transformer.transform(read_old, len(old), pos, n, out - pos)))
    return b"".join(parts)


def extra_of(new: bytes, ctrl) -> bytes:
    parts, out = [], 0
    for add, copy, _ in ctrl:
        parts.append(new[out + add : out + add + copy])
        out += add + copy
    return b"".join(parts)


# ------------------------------------------------------------------ observe

def _units(arch: Arch, data: bytes, base: int, lo: int, hi: int, kinds: range | tuple) -> list[tuple[int, int]]:
    """Non-pointer units ``(pos, kind index)`` in data[lo, hi): first kind wins, no overlap."""
    events = []
    for index in kinds:
        kind = arch.kinds[index]
        if kind.pointer:
            continue
        last = min(hi, len(data) - kind.length + 1)
        phase = (-base) % kind.align
        events.extend((m.start(), index) for m in kind.regex.finditer(data, lo, last + kind.length - 1)
                      if m.start() < last and (m.start() - phase) % kind.align == 0)
    events.sort()
    out, skip = [], lo
    for pos, index in events:
        if pos >= skip and arch.kinds[index].match(data[pos : pos + arch.kinds[index].length]):
            out.append((pos, index))
            skip = pos + arch.kinds[index].length
    return out


@dataclass
class Observation:
    key: int  # old target
    delta: int  # new target - old target
    pointer: bool


def observe(old: bytes, new: bytes, ctrl, arch: Arch, base: int, slack: int = 1 << 20) -> list[Observation]:
    """References in OLD's add ranges and where the same place in NEW points."""
    obs: list[Observation] = []
    amask = arch.addr_mask
    # Branch targets outside the image (plus its data and bss beyond the
    # file, up to ``slack``) are data that happened to look like code.
    lo, hi = base, base + len(old) + slack
    pointer_kinds = [k for k in arch.kinds if k.pointer]
    for pos, n, out in adds(ctrl):
        d = out - pos
        covered = set()  # old offsets inside instruction units: their words are not pointers
        for p, index in _units(arch, old, base, pos, pos + n, range(len(arch.kinds))):
            kind = arch.kinds[index]
            covered.update(range(p - p % 4, p + kind.length, 4))
            q = p + d
            nb = new[q : q + kind.length]
            if len(nb) < kind.length or not kind.match(nb):
                continue
            t_old = kind.target(old[p : p + kind.length], (base + p) & amask, amask)
            if not lo <= t_old < hi:
                continue
            t_new = kind.target(nb, (base + q) & amask, amask)
            obs.append(Observation(t_old, _signed(t_new - t_old, arch.bits), False))
        for kind in pointer_kinds:
            size = kind.length
            first = pos + (-(base + pos)) % size
            count = (pos + n - first) // size
            if count <= 0 or first + d + count * size > len(new):
                continue
            fmt = "<%d%s" % (count, "I" if size == 4 else "Q")
            a = struct.unpack_from(fmt, old, first)
            b = struct.unpack_from(fmt, new, first + d)
            obs.extend(Observation(x, _signed(y - x, arch.bits), True) for i, (x, y) in enumerate(zip(a, b))
                       if x != y and first + i * size not in covered)
    return obs


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


# ------------------------------------------------------------------ fit

#: Partitions up to this size get every trial (kind sets, region costs, map sizes).
TRIAL_LIMIT = 1 << 20
#: The smaller maps the trials also try: a small edit needs few entries, and
#: every entry and region costs stream bytes (measured: pybv11's small edit
#: is 19 % smaller with 39 entries and 55 regions than with 73 and 397).
SMALL_MAPS = (96, 32)
#: Region boundary costs the trials try, in nonzero diff bytes.
REGION_COSTS = (2, 6, 24, 96)


@dataclass(frozen=True)
class FitOptions:
    max_map: int = 1024
    max_regions: int = 1024
    #: fewest observations a run of equal deltas needs to become a map entry
    min_run: int = 2
    #: a stretch of addresses this long without observations becomes a hole
    gap: int = 1 << 16
    #: a run of changed data words is taken as pointers when it has at least
    #: one word per this many bytes of address range
    pointer_density: int = 4096
    #: what one region boundary costs, in nonzero diff bytes
    region_cost: int = 6
    #: match on operand-neutral images (builder-side only)
    neutral_match: bool = True
    #: try kind sets and region costs, keep the one that compresses smallest
    trials: bool = True
    #: raise the map's fewest-observations threshold in small steps when the
    #: cap is hit (else doubling past 8); the trials try both on large partitions
    fine_steps: bool = False


def fit_map(obs: list[Observation], arch: Arch, opts: FitOptions) -> tuple[tuple[int, ...], tuple]:
    """Piecewise-constant M from observations (holes where nothing was seen)."""
    if not obs:
        return (), ()
    # Branch observations come from instruction patterns decoded in both
    # images and are trusted; a changed data word is a pointer only inside a
    # dense run of equal deltas (stray words spread over the whole address
    # space and would make every word a "pointer").
    kept = [(key, delta) for run in _runs(o for o in obs if not o.pointer) if run[3] >= opts.min_run
            for key, delta in run[4]]
    kept += [(key, delta) for run in _runs(o for o in obs if o.pointer)
             if run[3] >= max(3, opts.min_run) and run[1] - run[0] <= opts.pointer_density * run[3]
             for key, delta in run[4]]
    by_key: dict[int, Counter] = {}
    for key, delta in kept:
        by_key.setdefault(key, Counter())[delta] += 1
    runs = [r[:4] for r in _runs(Observation(k, c.most_common(1)[0][0], False) for k, c in by_key.items())]
    min_run = opts.min_run
    while True:
        kept = _merge([r for r in runs if r[3] >= min_run])
        entries = _entries(kept, arch, opts.gap)
        if len(entries) <= min(opts.max_map, MAX_MAP_ENTRIES):
            break
        # Fine steps drop only the weakest runs each time (doubling past 8
        # dropped 127 entries of 175 on libpython 3.6.6 -> 3.7.2, where 127
        # fit the 170-entry cap and made the payload 0.4 % smaller).
        min_run = min_run + max(1, min_run // 8) if opts.fine_steps else \
            min_run + 1 if min_run < 8 else min_run * 2
    return tuple(k for k, _ in entries), tuple(v for _, v in entries)


def _runs(obs) -> list[list]:
    """Runs of equal deltas in key order: [first, last, delta, count, members]."""
    runs: list[list] = []
    for key, delta in sorted((o.key, o.delta) for o in obs if abs(o.delta) <= MAX_MAP_DELTA):
        if runs and runs[-1][2] == delta:
            runs[-1][1] = key
            runs[-1][3] += 1
            runs[-1][4].append((key, delta))
        else:
            runs.append([key, key, delta, 1, [(key, delta)]])
    return runs


def _merge(runs):
    out = []
    for r in runs:
        if out and out[-1][2] == r[2]:
            out[-1] = [out[-1][0], r[1], r[2], out[-1][3] + r[3]]
        else:
            out.append(list(r))
    return out


def _entries(runs, arch: Arch, gap: int) -> list[tuple[int, int | None]]:
    entries: list[tuple[int, int | None]] = []
    for i, (first, last, delta, _) in enumerate(runs):
        if entries and entries[-1][1] == delta:
            pass
        else:
            entries.append((first, delta))
        nxt = runs[i + 1][0] if i + 1 < len(runs) else None
        if (nxt is None or nxt - last > gap) and last < arch.addr_mask:
            entries.append((last + 1, None))
    canonical: list[tuple[int, int | None]] = []  # keys increase, neighbours differ, no leading hole
    for key, delta in entries:
        if canonical and key <= canonical[-1][0]:
            canonical[-1] = (canonical[-1][0], delta)
        else:
            canonical.append((key, delta))
        while len(canonical) > 1 and canonical[-1][1] == canonical[-2][1]:
            canonical.pop()
        if canonical and canonical[0][1] is None:
            canonical.pop(0)
    return canonical


def unit_gains(old: bytes, new: bytes, ctrl, params: TransformParams, arch: Arch) -> dict[int, list]:
    """Per kind, ``(old offset, nonzero diff bytes saved)`` of every unit
    the transform would rewrite with every kind enabled everywhere."""
    everything = replace(params, region_starts=(0,), region_masks=(arch.all_mask,))
    record: list = []
    transformed_diff(old, new, ctrl, everything, record)
    per_kind: dict[int, list[tuple[int, int]]] = {}
    for pos, index, length, rewritten, out in record:
        target = new[out : out + length]
        before = sum(1 for a, b in zip(target, old[pos : pos + length]) if a != b)
        after = sum(1 for a, b in zip(target, rewritten) if a != b)
        per_kind.setdefault(index, []).append((pos, before - after))
    return per_kind


def choose_regions(gains: dict[int, list], old_size: int, kinds: int, cost: int,
                   max_regions: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per kind (of the ``kinds`` mask), the old-offset intervals where rewriting pays."""
    boundaries: dict[int, int] = {}  # old offset -> xor of kind bits switching there
    for index, units in gains.items():
        if not kinds >> index & 1:
            continue
        for start, end in _best_intervals(units, cost):
            boundaries[start] = boundaries.get(start, 0) ^ (1 << index)
            if end < old_size:
                boundaries[end] = boundaries.get(end, 0) ^ (1 << index)
    starts, masks, mask = [], [], 0
    for pos in sorted(boundaries):
        mask ^= boundaries[pos]
        if masks and masks[-1] == mask:
            continue
        if not masks and mask == 0:
            continue
        starts.append(pos)
        masks.append(mask)
    if len(starts) > min(max_regions, MAX_REGIONS):
        return choose_regions(gains, old_size, kinds, cost * 2, max_regions)
    return tuple(starts), tuple(masks)


def _best_intervals(units: list[tuple[int, int]], cost: int) -> list[tuple[int, int]]:
    """Intervals (start, end) maximising the summed benefit of the units
    inside minus ``cost`` per interval (units sorted by position)."""
    units.sort()
    # Two states, off and on; entering "on" costs ``cost``.
    off, on = 0, float("-inf")
    off_from: list = []
    on_from: list = []
    for _, gain in units:  # comparisons, not max(): this loop runs once per unit and trial
        enter = off - cost
        stayed_on = on >= enter
        stayed_off = off >= on
        on_from.append(stayed_on)
        off_from.append(stayed_off)
        if not stayed_off:
            off = on
        on = (on if stayed_on else enter) + gain
    state = on > off
    intervals, end = [], None
    for i in range(len(units) - 1, -1, -1):
        if state:
            if end is None:
                end = units[i + 1][0] if i + 1 < len(units) else 1 << 62
            if not on_from[i]:
                intervals.append((units[i][0], end))
                end = None
                state = False
        else:
            state = not off_from[i]
    intervals.reverse()
    return [(s, min(e, (1 << 62))) for s, e in intervals]


# ------------------------------------------------------------------ base

def _entry_points(arch: Arch, old: bytes) -> set[int]:
    """Offsets that look like function entries: branch targets and prologues."""
    branch = next(i for i, k in enumerate(arch.kinds) if not k.pointer)
    points = {arch.kinds[index].target(old[p : p + 4], p, arch.addr_mask)
              for p, index in _units(arch, old, 0, 0, len(old), (branch,))}
    if arch.bits == 64:  # stp x29, x30, [sp, #-n]! and paciasp
        points.update(m.start() for m in re.finditer(rb"(?s)(?=\xfd[\x7b].[\xa9])", old) if not m.start() % 4)
        points.update(m.start() for m in re.finditer(rb"\x3f\x23\x03\xd5", old) if not m.start() % 4)
    else:  # push {..., lr} (T1 and T2)
        points.update(m.start() for m in re.finditer(rb"(?s)(?=.\xb5|\x2d\xe9)", old) if not m.start() % 2)
    return points


def guess_base(old: bytes, arch: Arch, hint: int | None = None) -> int:
    """The address of old offset 0 that makes the most code pointers land on
    function entries (branch targets, prologues).

    Candidates: 0 and every 4 KiB multiple that puts the image under the
    densest 16 MiB of pointer-like words.  A base that is wrong by a little
    makes branch keys and pointer keys overlap in the map, so it matters."""
    if hint is not None:
        return hint
    size = 8 if arch.bits == 64 else 4
    words = struct.unpack_from("<%d%s" % (len(old) // size, "Q" if size == 8 else "I"), old)
    points = _entry_points(arch, old)
    # Thumb code pointers are odd; AArch64 ones are 4-aligned.
    pointers = [w & ~1 for w in words if w & 1] if arch.bits == 32 else [w for w in words if w and not w & 3]
    # distinct values: a repeated word (a fill pattern, a table of one
    # handler) would otherwise outvote the real pointers; small integers are not addresses
    pointers = sorted({w for w in pointers if w >= 0x1000})
    buckets = Counter(w >> 24 for w in pointers)
    candidates = {0}
    for w in words[:16]:  # a vector table or header points into the image
        for bits in (12, 16, 20):
            candidates.add(w & ~((1 << bits) - 1) & arch.addr_mask)
    for top, _ in buckets.most_common(3):
        near = sorted(w for w in pointers if w >> 24 == top)
        lo = max(0, near[len(near) // 10] - len(old)) & ~0xFFF
        hi = near[len(near) * 9 // 10]
        step = max(0x1000, ((hi - lo) // 512 + 0xFFF) & ~0xFFF)
        candidates.update(range(lo, hi + 1, step))
    sample = pointers[:: max(1, len(pointers) // 5000)]

    def score(b: int) -> int:
        # sample values are distinct, so the set intersection counts each hit
        # once; map/intersection run in C (this was a quarter of a build)
        return len(points.intersection(map(b.__rsub__, sample)))

    best = max(sorted(candidates), key=lambda b: (score(b), -b))
    # A handful of hits is chance (MMIO addresses, constants): keep 0.
    return best if score(best) >= max(16, 2 * score(0)) else 0


# ------------------------------------------------------------------ streams

def neutral(data: bytes, arch: Arch, base: int) -> bytes:
    """``data`` with the operand of every recognised non-pointer unit set to
    a constant: the matcher then sees moved code as equal."""
    out = bytearray(data)
    amask = arch.addr_mask
    for p, index in _units(arch, data, base, 0, len(data), range(len(arch.kinds))):
        kind = arch.kinds[index]
        addr = (base + p) & amask
        out[p : p + kind.length] = kind.rewrite(data[p : p + kind.length], addr, addr, amask)
    return bytes(out)


def stream_bytes(ctrl, diff: bytes, extra: bytes, params: TransformParams | None, window_size: int,
                 coding: str, max_window_tuples: int = DEFAULT_WINDOW_TUPLES) -> bytes:
    """A delta-v2 stream: v1 header fields, transform section, v1 windows."""
    v1 = encode_patch(ctrl, diff, extra, window_size=window_size, max_window_tuples=max_window_tuples,
                      diff_coding=coding, zero_run_coder=_core.zero_runs)
    head = len(DeltaHeader.build({"window_size": window_size, "max_window_tuples": max_window_tuples,
                                  "diff_coding": DIFF_CODINGS[coding]}))
    return v1[:head] + encode_section(params) + v1[head:]


def table_caps(max_table_ram: int) -> tuple[int, int]:
    """Map and region caps whose tables fit ``max_table_ram`` bytes of device RAM (half each)."""
    room = max(0, max_table_ram - 2 * MAX_UNIT)
    return (min(MAX_MAP_ENTRIES, room // 2 // MAP_ENTRY_BYTES), min(MAX_REGIONS, room // 2 // REGION_ENTRY_BYTES))


def candidate_streams(old: bytes, new: bytes, arch_name: str, *, base: int | None, window_size: int,
                      max_window_tuples: int, max_table_ram: int) -> list[bytes]:
    """The delta-v2 streams (both diff codings) the builder offers beside the
    v1 ones for a partition; none when the arch recognises nothing to re-aim
    (the stream would be v1's plus an empty section)."""
    max_map, max_regions = table_caps(max_table_ram)
    if max_map < 1 or max_regions < 1:
        return []
    out: list[bytes] = []
    base = guess_base(old, ARCHES[arch_name], base)  # once for both matchings
    # Matching on operand-neutral images finds moved code, matching on the
    # images themselves keeps longer matches through changed data; which one
    # compresses smaller depends on the pair (libpython 3.6.6 -> 3.7.2: the
    # plain match is 0.6 % smaller), so both go to the build's measurement.
    for neutral_match in (True, False):
        found = plan(old, new, arch_name, base=base,
                     opts=FitOptions(max_map=max_map, max_regions=max_regions, neutral_match=neutral_match))
        if not found.params.region_starts or not found.params.map_keys:
            continue
        for coding in ("raw", "zero-run"):
            stream = stream_bytes(found.ctrl, found.diff, found.extra, found.params, window_size, coding,
                                  max_window_tuples)
            if stream not in out:
                out.append(stream)
    return out


@dataclass
class Plan:
    params: TransformParams
    ctrl: list
    diff: bytes
    extra: bytes
    observations: int = 0


def plan(old: bytes, new: bytes, arch_name: str, *, base: int | None = None, opts: FitOptions = FitOptions(),
         matcher_settings: dict | None = None) -> Plan:
    """Matches, map, regions and the final transformed diff for one arch."""
    arch = ARCHES[arch_name]
    base = guess_base(old, arch, base)
    function = get_algorithm("otadiff").function
    if opts.neutral_match:
        ctrl = function(neutral(old, arch, base), neutral(new, arch, base), **(matcher_settings or {}))[0]
    else:
        ctrl = function(old, new, **(matcher_settings or {}))[0]
    ctrl = [tuple(t) for t in normalize_ctrl(ctrl)]
    obs = observe(old, new, ctrl, arch, base)
    far = sum(1 << i for i, k in enumerate(arch.kinds) if not k.local)
    small = len(new) <= TRIAL_LIMIT
    caps = tuple(dict.fromkeys(min(cap, opts.max_map) for cap in (opts.max_map,) + SMALL_MAPS)) \
        if opts.trials and small else (opts.max_map,)
    if not opts.trials:
        variants = [(far, opts.region_cost)]
    elif small:
        variants = [(kinds, cost) for kinds in (far, arch.all_mask) for cost in REGION_COSTS]
    else:
        variants = [(far, opts.region_cost), (arch.all_mask, opts.region_cost)]
    best = None
    # A cap above the map's size, or two variants choosing the same regions,
    # give the same trial again: measured once (a repeat never wins a tie).
    maps_tried, tried = set(), set()
    fits = [replace(opts, max_map=cap) for cap in caps]
    if opts.trials and not small and not opts.fine_steps:
        fits.append(replace(opts, fine_steps=True))
    for fit in fits:
        keys, deltas = fit_map(obs, arch, fit)
        if (keys, deltas) in maps_tried:
            continue
        maps_tried.add((keys, deltas))
        params = TransformParams(arch_name, base, keys, deltas)
        gains = unit_gains(old, new, ctrl, params, arch)
        for kinds, cost in variants:
            regions = choose_regions(gains, len(old), kinds, cost, opts.max_regions)
            if (keys, deltas, regions) in tried:
                continue
            tried.add((keys, deltas, regions))
            trial = _finish(old, new, ctrl, replace(params, region_starts=regions[0], region_masks=regions[1]))
            if len(variants) * len(fits) > 1:
                size = min(_packed_size(stream_bytes(trial.ctrl, trial.diff, trial.extra, trial.params,
                                                     min(len(new), 1 << 18) or 1, coding))
                           for coding in ("raw", "zero-run"))
            else:
                size = 0
            if best is None or size < best[0]:
                best = (size, trial)
    best[1].observations = len(obs)
    return best[1]


def _packed_size(stream: bytes) -> int:
    return len(CODECS["lzma2"].compress(stream, min(grid_at_least(len(stream)), 1 << 20), ((1, 0, 0),)))


def _finish(old: bytes, new: bytes, ctrl, params: TransformParams) -> Plan:
    diff = transformed_diff(old, new, ctrl, params)
    # Wholesale-replaced stretches travel as extra bytes (as in v1); the
    # tuples change there, so the diff is computed again on the final tuples.
    # (The C core's pass: literalize_dense_diffs's result, byte for byte.)
    ctrl2 = normalize_ctrl(_core.literalize_dense(ctrl, diff, extra_of(new, ctrl), new, DENSE_MIN_LENGTH,
                                                  DENSE_MIN_FILL)[0])
    ctrl2 = [tuple(t) for t in ctrl2]
    if ctrl2 != ctrl:
        ctrl = ctrl2
        diff = transformed_diff(old, new, ctrl, params)
    return Plan(params, ctrl, diff, extra_of(new, ctrl))
