"""Pure-Python reference of the otadiff matcher (slow: small inputs, tests).

The same algorithm as the C core (``otapack/core/diff/scan.c`` and
``module.c``), step for step, so tests can assert that the C core returns
*identical* tuples and bytes on small inputs: the suffix array by plain
sorting (the C core's SA-IS must give the same array: it is unique), the
longest-match binary search over the whole array with the same tie-break
(the C core starts from a two-byte bucket index, which must not change the
result), the bsdiff-style scan and the same lossless tuple merges.
"""

from __future__ import annotations

DEFAULT_MIN_GAIN = 2
DEFAULT_EXT_PCT = 40
DEFAULT_SEEK_WEIGHT = 2
#: New images above LARGE_INPUT bytes get these defaults instead (see module.c).
LARGE_INPUT = 1 << 20
LARGE_MIN_GAIN = 0
LARGE_EXT_PCT = 45
LARGE_SEEK_WEIGHT = 8


#: Bounds of each setting, as the C core checks them (its ``SETTING_RANGES``).
SETTING_RANGES = {"min_gain": (0, 2**31 - 1), "ext_pct": (1, 99), "seek_weight": (0, 2**31 - 1)}


def check_setting(name: str, value: int) -> None:
    """TypeError or ValueError as the C core raises them."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    low, high = SETTING_RANGES[name]
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value!r}")


def default_settings(new_len: int) -> tuple[int, int, int]:
    """(min_gain, ext_pct, seek_weight) used where a setting is left out."""
    if new_len > LARGE_INPUT:
        return LARGE_MIN_GAIN, LARGE_EXT_PCT, LARGE_SEEK_WEIGHT
    return DEFAULT_MIN_GAIN, DEFAULT_EXT_PCT, DEFAULT_SEEK_WEIGHT


def seek_cost(delta: int) -> int:
    """Bytes of the zigzag varint of a seek of ``delta``."""
    z = delta << 1 if delta >= 0 else ((-delta) << 1) - 1
    n = 1
    while z >= 0x80:
        z >>= 7
        n += 1
    return n


def suffix_array(data: bytes) -> list[int]:
    """Suffix array by sorting the suffixes (quadratic memory: tests only)."""
    data = bytes(data)
    return sorted(range(len(data)), key=lambda i: data[i:])


def _common_prefix(a: bytes, a_at: int, b: bytes, b_at: int, start: int) -> int:
    m = min(len(a) - a_at, len(b) - b_at)
    i = start
    while i < m and a[a_at + i] == b[b_at + i]:
        i += 1
    return i


def longest_match(sa: list[int], old: bytes, new: bytes, at: int, hint: int) -> tuple[int, int]:
    """(length, old position) of the longest match of new[at:] in old."""
    plen = len(new) - at
    if not old or plen == 0:
        return 0, 0
    lo, hi, lcp_lo, lcp_hi = -1, len(old), 0, 0
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2
        s = sa[mid]
        k = _common_prefix(new, at, old, s, min(lcp_lo, lcp_hi))
        if k == plen or (k < len(old) - s and old[s + k] > new[at + k]):
            hi, lcp_hi = mid, k
        else:
            lo, lcp_lo = mid, k
    if lo < 0:
        return lcp_hi, sa[hi]
    if hi >= len(old):
        return lcp_lo, sa[lo]
    if lcp_lo != lcp_hi:
        return (lcp_lo, sa[lo]) if lcp_lo > lcp_hi else (lcp_hi, sa[hi])
    a, b = sa[lo], sa[hi]
    da, db = abs(a - hint), abs(b - hint)
    return lcp_lo, (b if db < da or (db == da and b < a) else a)


def _push(ctrl: list[list[int]], add: int, copy: int, seek: int) -> None:
    if ctrl:
        last = ctrl[-1]
        if add == 0 and copy == 0:
            last[2] += seek
            return
        if last[2] == 0 and add == 0:
            last[1] += copy
            last[2] = seek
            return
        if last[2] == 0 and last[1] == 0:
            last[0] += add
            last[1] = copy
            last[2] = seek
            return
    ctrl.append([add, copy, seek])


def diff(
    old: bytes,
    new: bytes,
    min_gain: int | None = None,
    ext_pct: int | None = None,
    seek_weight: int | None = None,
):
    """(ctrl, diff, extra) exactly as ``otapack.core.diff._core.diff`` returns them."""
    old, new = bytes(old), bytes(new)
    defaults = default_settings(len(new))
    min_gain = defaults[0] if min_gain is None else min_gain
    ext_pct = defaults[1] if ext_pct is None else ext_pct
    seek_weight = defaults[2] if seek_weight is None else seek_weight
    check_setting("min_gain", min_gain)
    check_setting("ext_pct", ext_pct)
    check_setting("seek_weight", seek_weight)
    olen, nlen = len(old), len(new)
    sa = suffix_array(old)
    ctrl: list[list[int]] = []
    dbuf = bytearray()
    ebuf = bytearray()
    scan = length = pos = 0
    lastscan = lastpos = lastoffset = 0

    def same(n_at: int, o_at: int) -> bool:
        return 0 <= o_at < olen and old[o_at] == new[n_at]

    while scan < nlen:
        oldscore = 0
        scan += length
        scsc = scan
        while scan < nlen:
            length, pos = longest_match(sa, old, new, scan, scan + lastoffset)
            while scsc < scan + length:
                if same(scsc, scsc + lastoffset):
                    oldscore += 1
                scsc += 1
            if length == oldscore and length != 0:
                break
            if length > oldscore + min_gain and (
                seek_weight == 0
                or length > oldscore + min_gain + seek_weight * seek_cost(pos - (scan + lastoffset))
            ):
                break
            if same(scan, scan + lastoffset):
                oldscore -= 1
            scan += 1

        if length != oldscore or scan == nlen:
            # forward extension of the previous alignment
            s = best = lenf = 0
            i = 0
            while lastscan + i < scan and lastpos + i < olen:
                if old[lastpos + i] == new[lastscan + i]:
                    s += 1
                i += 1
                if s * 100 - i * ext_pct > best * 100 - lenf * ext_pct:
                    best, lenf = s, i
            # backward extension of the new alignment
            lenb = 0
            if scan < nlen:
                s = best = 0
                i = 1
                while scan >= lastscan + i and pos >= i:
                    if old[pos - i] == new[scan - i]:
                        s += 1
                    if s * 100 - i * ext_pct > best * 100 - lenb * ext_pct:
                        best, lenb = s, i
                    i += 1
            # overlap split
            if lastscan + lenf > scan - lenb:
                overlap = (lastscan + lenf) - (scan - lenb)
                s = best = lens = 0
                for i in range(overlap):
                    if new[lastscan + lenf - overlap + i] == old[lastpos + lenf - overlap + i]:
                        s += 1
                    if new[scan - lenb + i] == old[pos - lenb + i]:
                        s -= 1
                    if s > best:
                        best, lens = s, i + 1
                lenf += lens - overlap
                lenb -= lens

            dbuf += bytes((new[lastscan + i] - old[lastpos + i]) & 0xFF for i in range(lenf))
            copy = (scan - lenb) - (lastscan + lenf)
            ebuf += new[lastscan + lenf : lastscan + lenf + copy]
            seek = (pos - lenb) - (lastpos + lenf) if scan < nlen else 0
            _push(ctrl, lenf, copy, seek)
            lastscan = scan - lenb
            lastpos = pos - lenb
            lastoffset = pos - scan
    return [tuple(t) for t in ctrl], bytes(dbuf), bytes(ebuf)
