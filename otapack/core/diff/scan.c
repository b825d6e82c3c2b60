/*
 * The match index over OLD and the bsdiff-style scan of NEW.
 *
 * The scan walks NEW in the manner of bsdiff: it looks for the longest match
 * of the current position in OLD, keeps the current alignment while it still
 * explains the bytes about as well, and when a better alignment appears it
 * closes the previous one with an approximate forward extension, an
 * approximate backward extension of the new one and a split of their
 * overlap.  Every read of OLD is bounds-checked: nothing outside
 * [0, olen) is read, and every control tuple keeps old_pos inside
 * [0, olen].
 *
 * Differences from plain bsdiff (each measured on the firmware corpus):
 *   - among equally long matches the one closest to the current alignment
 *     is preferred (cheaper seeks, more zero diff bytes);
 *   - a new alignment must gain more than a tuple costs: min_gain plus
 *     seek_weight per varint byte of the seek it needs (bsdiff: a flat 8);
 *   - the approximate extensions keep going while at least ext_pct % of
 *     their bytes are equal (bsdiff: 50);
 *   - adjacent tuples are merged where that is lossless.
 * (The defaults, and why large images get their own, are in module.c.)
 *
 * The longest-match search is a binary search over the suffix array; it is
 * bound by memory latency (each step reads a random SA entry and the OLD
 * bytes it points to).  The two-byte bucket index jumps straight to the SA
 * range of the suffixes that share the first two bytes of the pattern (the
 * first three in buckets of more than DIFFCORE_REFINE_MIN suffixes), which
 * removes the first steps, and the search prefetches two steps ahead.
 * The result is the same as that of the plain binary search: see
 * diffcore_longest_match.
 *
 * Nothing here allocates per match, hashes pointers or depends on timing:
 * the output only depends on the inputs and the settings.
 */
#include <stdlib.h>
#include <string.h>

#include "diffcore.h"

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(addr) __builtin_prefetch(addr)
#else
#define PREFETCH(addr) ((void)0)
#endif

/* The third-byte tables of the large buckets (see diffcore.h), counted in
 * one pass over the text.  Within bucket c the two-byte suffix
 * old[olen-2..olen), if it is in c, comes first: it is a proper prefix of
 * the others. */
static int
refine_large_buckets(diffcore_index *X)
{
    const uint8_t *old = X->old;
    const int64_t olen = X->olen;
    const int32_t *bucket = X->bucket;
    int32_t c, t, ntables = 0, last_pair = (old[olen - 2] << 8) | old[olen - 1];
    int64_t i;

    for (c = 0; c < DIFFCORE_BUCKETS; c++)
        ntables += bucket[c + 1] - bucket[c] > DIFFCORE_REFINE_MIN;
    if (ntables == 0)
        return 0;
    X->refine_of = (int32_t *)malloc(sizeof(int32_t) * DIFFCORE_BUCKETS);
    /* one more row: the small buckets count into it while the text is
     * walked, which spares a branch per byte that no predictor gets right */
    X->refine = (int32_t *)calloc((size_t)(ntables + 1) * DIFFCORE_REFINE_WIDTH, sizeof(int32_t));
    if (X->refine_of == NULL || X->refine == NULL)
        return -1;
    for (c = 0, t = 0; c < DIFFCORE_BUCKETS; c++)
        X->refine_of[c] = bucket[c + 1] - bucket[c] > DIFFCORE_REFINE_MIN ? t++ : ntables;
    for (i = 0; i + 2 < olen; i++) {
        int32_t k = X->refine_of[(old[i] << 8) | old[i + 1]];
        X->refine[(size_t)k * DIFFCORE_REFINE_WIDTH + 1 + old[i + 2]]++;
    }
    for (c = 0; c < DIFFCORE_BUCKETS; c++)
        if (X->refine_of[c] == ntables)
            X->refine_of[c] = -1;
    for (c = 0; c < DIFFCORE_BUCKETS; c++) {
        int32_t *row, d;
        if (X->refine_of[c] < 0)
            continue;
        row = X->refine + (size_t)X->refine_of[c] * DIFFCORE_REFINE_WIDTH;
        row[0] = bucket[c] + (c == last_pair);
        for (d = 1; d < DIFFCORE_REFINE_WIDTH; d++)
            row[d] += row[d - 1];
    }
    return 0;
}

int
diffcore_index_build(diffcore_index *X, const uint8_t *old, int64_t olen,
                     int buckets)
{
    X->old = old;
    X->olen = olen;
    X->bucket = NULL;
    X->refine_of = NULL;
    X->refine = NULL;
    X->SA = (int32_t *)malloc(sizeof(int32_t) * (size_t)(olen ? olen : 1));
    if (X->SA == NULL)
        return -1;
    if (diffcore_suffix_array(old, X->SA, (int32_t)olen) != 0)
        goto fail;
    if (buckets && olen >= 2) {
        /* bucket[c] = how many suffixes sort before every string starting
         * with the two bytes c: the suffixes whose first two bytes are
         * smaller, and the one-byte suffix old[olen-1] if its byte is at
         * most c's first byte (it is a proper prefix, hence smaller). */
        int32_t *bucket = (int32_t *)calloc(DIFFCORE_BUCKETS + 1, sizeof(int32_t));
        int64_t i;
        int32_t sum = 0, last_first = (int32_t)old[olen - 1] << 8;
        int32_t c;
        if (bucket == NULL)
            goto fail;
        for (i = 0; i + 1 < olen; i++)
            bucket[(old[i] << 8) | old[i + 1]]++;
        for (c = 0; c <= DIFFCORE_BUCKETS; c++) {
            int32_t count = c < DIFFCORE_BUCKETS ? bucket[c] : 0;
            bucket[c] = sum + (c >= last_first ? 1 : 0);
            sum += count;
        }
        X->bucket = bucket;
        if (refine_large_buckets(X) != 0)
            goto fail;
    }
    return 0;
fail:
    diffcore_index_free(X);
    return -1;
}

void
diffcore_index_free(diffcore_index *X)
{
    free(X->SA);
    free(X->bucket);
    free(X->refine_of);
    free(X->refine);
    X->SA = NULL;
    X->bucket = NULL;
    X->refine_of = NULL;
    X->refine = NULL;
}

/* Length of the common prefix of a and b, known to be at least ``from``;
 * eight bytes at a time where the byte order allows. */
static inline int64_t
common_prefix(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen,
              int64_t from)
{
    int64_t m = alen < blen ? alen : blen, i = from;
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) &&    \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (i + 8 <= m) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return i + (__builtin_ctzll(x ^ y) >> 3);
        i += 8;
    }
#endif
    while (i < m && a[i] == b[i])
        i++;
    return i;
}

/* Longest match of new[at:] in old.  Among the (up to two) best candidates
 * next to the insertion point, take the longer one; on a tie the one closer
 * to ``hint`` (the old position the current alignment predicts).  Returns
 * the length, the old position in *pos.
 *
 * The search keeps l < insertion point <= r with lcp_l, lcp_r the common
 * prefix lengths of the pattern with the suffixes at l and r.  It ends on
 * the insertion point whatever range it starts from, as long as the range
 * contains it, and every lcp it keeps is exact: the first compared bytes are
 * skipped only up to min(lcp_l, lcp_r), which every suffix between l and r
 * shares with the pattern.  The bucket index starts the search on the
 * range of suffixes sharing the pattern's first two bytes (three, where a
 * large bucket has a third-byte table), with that shared length as both
 * lcps; a bound the search never moves keeps this placeholder and gets its
 * exact (smaller) lcp at the end.  So the result equals the plain binary
 * search's over the whole array. */
int64_t
diffcore_longest_match(const diffcore_index *X, const uint8_t *p, int64_t plen,
                       int64_t hint, int64_t *pos)
{
    const uint8_t *old = X->old;
    const int32_t *SA = X->SA;
    const int64_t olen = X->olen;
    int64_t l = -1, r = olen, lcp_l = 0, lcp_r = 0;
    int moved_l = 1, moved_r = 1;

    *pos = 0;
    if (olen == 0 || plen == 0)
        return 0;
    if (plen >= 2 && X->bucket != NULL) {
        int32_t c = (p[0] << 8) | p[1], t;
        l = (int64_t)X->bucket[c] - 1;
        /* the one-byte suffix old[olen-1] sorts just before the suffixes
         * starting with its byte, at the end of the range of c = (its byte
         * - 1, 0xff): it does not share two bytes with the pattern */
        r = (int64_t)X->bucket[c + 1] - ((c + 1) == ((int32_t)X->old[olen - 1] << 8));
        lcp_l = lcp_r = 2;
        if (plen >= 3 && X->refine_of != NULL && (t = X->refine_of[c]) >= 0) {
            const int32_t *row = X->refine + (size_t)t * DIFFCORE_REFINE_WIDTH;
            l = (int64_t)row[p[2]] - 1;
            r = row[p[2] + 1];
            lcp_l = lcp_r = 3;
        }
        moved_l = moved_r = 0;
    }
    while (r - l > 1) {
        int64_t m = l + (r - l) / 2;
        int64_t s = SA[m];
        int64_t slen = olen - s;
        int64_t k = lcp_l < lcp_r ? lcp_l : lcp_r;
        /* Two steps of lookahead, either way the search goes: the SA
         * entries of the four possible midpoints after next, and the OLD
         * bytes under the two possible next midpoints (their SA entries
         * were prefetched one step ago). */
        if (m - l > 1) {
            int64_t ml = l + (m - l) / 2, sl = SA[ml];
            if (ml - l > 1)
                PREFETCH(&SA[l + (ml - l) / 2]);
            if (m - ml > 1)
                PREFETCH(&SA[ml + (m - ml) / 2]);
            if (sl + k < olen)
                PREFETCH(&old[sl + k]);
        }
        if (r - m > 1) {
            int64_t mr = m + (r - m) / 2, sr = SA[mr];
            if (mr - m > 1)
                PREFETCH(&SA[m + (mr - m) / 2]);
            if (r - mr > 1)
                PREFETCH(&SA[mr + (r - mr) / 2]);
            if (sr + k < olen)
                PREFETCH(&old[sr + k]);
        }
        k = common_prefix(p, plen, old + s, slen, k);
        if (k == plen || (k < slen && old[s + k] > p[k])) {
            r = m;
            lcp_r = k;
            moved_r = 1;
        } else {
            l = m;
            lcp_l = k;
            moved_l = 1;
        }
    }
    if (!moved_l && l >= 0)
        lcp_l = common_prefix(p, plen, old + SA[l], olen - SA[l], 0);
    if (!moved_r && r < olen)
        lcp_r = common_prefix(p, plen, old + SA[r], olen - SA[r], 0);
    if (l < 0) {
        *pos = SA[r];
        return lcp_r;
    }
    if (r >= olen) {
        *pos = SA[l];
        return lcp_l;
    }
    if (lcp_l != lcp_r) {
        *pos = lcp_l > lcp_r ? SA[l] : SA[r];
        return lcp_l > lcp_r ? lcp_l : lcp_r;
    }
    {
        int64_t a = SA[l], b = SA[r];
        int64_t da = a > hint ? a - hint : hint - a;
        int64_t db = b > hint ? b - hint : hint - b;
        *pos = (db < da || (db == da && b < a)) ? b : a;
        return lcp_l;
    }
}

int
diffcore_ctrls_append(diffcore_ctrls *c, int64_t add, int64_t copy, int64_t seek)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        diffcore_ctrl *v = (diffcore_ctrl *)realloc(c->v, cap * sizeof(diffcore_ctrl));
        if (v == NULL)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n].add = add;
    c->v[c->n].copy = copy;
    c->v[c->n].seek = seek;
    c->n++;
    return 0;
}

static int
ctrl_push(diffcore_ctrls *c, int64_t add, int64_t copy, int64_t seek)
{
    if (add == 0 && copy == 0 && c->n > 0) {
        c->v[c->n - 1].seek += seek; /* only a seek: fold it back */
        return 0;
    }
    if (c->n > 0) {
        diffcore_ctrl *last = &c->v[c->n - 1];
        /* (a, c, 0) + (0, c2, s) == (a, c + c2, s) */
        if (last->seek == 0 && add == 0) {
            last->copy += copy;
            last->seek = seek;
            return 0;
        }
        /* (a, 0, 0) + (a2, c2, s) == (a + a2, c2, s) */
        if (last->seek == 0 && last->copy == 0) {
            last->add += add;
            last->copy = copy;
            last->seek = seek;
            return 0;
        }
    }
    return diffcore_ctrls_append(c, add, copy, seek);
}

/* Bytes of the zigzag varint of a seek of ``delta`` (at most 10). */
static inline int64_t
seek_cost(int64_t delta)
{
    uint64_t z = delta >= 0 ? (uint64_t)delta << 1 : ((uint64_t)(-delta) << 1) - 1;
    int64_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

int
diffcore_scan(const diffcore_index *X, const uint8_t *nw, int64_t nlen,
              const diffcore_settings *P, diffcore_ctrls *ctrl)
{
    const uint8_t *old = X->old;
    const int64_t olen = X->olen;
    int64_t scanpos = 0, len = 0, pos = 0;
    int64_t lastscan = 0, lastpos = 0, lastoffset = 0;

    while (scanpos < nlen) {
        int64_t oldscore = 0, scsc;

        scanpos += len;
        for (scsc = scanpos; scanpos < nlen; scanpos++) {
            int64_t q;
            len = diffcore_longest_match(X, nw + scanpos, nlen - scanpos,
                                         scanpos + lastoffset, &pos);
            for (; scsc < scanpos + len; scsc++) {
                q = scsc + lastoffset;
                if (q >= 0 && q < olen && old[q] == nw[scsc])
                    oldscore++;
            }
            if (len == oldscore && len != 0)
                break;
            /* bounded settings (diffcore.h): no term here can overflow */
            if (len > oldscore + P->min_gain &&
                (P->seek_weight == 0 ||
                 len > oldscore + P->min_gain +
                           P->seek_weight * seek_cost(pos - (scanpos + lastoffset))))
                break;
            q = scanpos + lastoffset;
            if (q >= 0 && q < olen && old[q] == nw[scanpos])
                oldscore--;
        }

        if (len != oldscore || scanpos == nlen) {
            int64_t s, best, i, lenf = 0, lenb = 0;

            /* forward extension of the previous alignment */
            s = 0;
            best = 0;
            for (i = 0; lastscan + i < scanpos && lastpos + i < olen;) {
                if (old[lastpos + i] == nw[lastscan + i])
                    s++;
                i++;
                if (s * 100 - i * P->ext_pct > best * 100 - lenf * P->ext_pct) {
                    best = s;
                    lenf = i;
                }
            }
            /* backward extension of the new alignment */
            if (scanpos < nlen) {
                s = 0;
                best = 0;
                for (i = 1; scanpos >= lastscan + i && pos >= i; i++) {
                    if (old[pos - i] == nw[scanpos - i])
                        s++;
                    if (s * 100 - i * P->ext_pct > best * 100 - lenb * P->ext_pct) {
                        best = s;
                        lenb = i;
                    }
                }
            }
            /* split an overlap where it serves both sides best */
            if (lastscan + lenf > scanpos - lenb) {
                int64_t overlap = (lastscan + lenf) - (scanpos - lenb);
                int64_t lens = 0;
                s = 0;
                best = 0;
                for (i = 0; i < overlap; i++) {
                    if (nw[lastscan + lenf - overlap + i] ==
                        old[lastpos + lenf - overlap + i])
                        s++;
                    if (nw[scanpos - lenb + i] == old[pos - lenb + i])
                        s--;
                    if (s > best) {
                        best = s;
                        lens = i + 1;
                    }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }

            {
                int64_t copy = (scanpos - lenb) - (lastscan + lenf);
                int64_t seek;
                if (scanpos < nlen)
                    seek = (pos - lenb) - (lastpos + lenf);
                else
                    seek = 0;
                if (ctrl_push(ctrl, lenf, copy, seek) != 0)
                    return -1;
            }
            lastscan = scanpos - lenb;
            lastpos = pos - lenb;
            lastoffset = pos - scanpos;
        }
    }
    return 0;
}

int
diffcore_ctrls_bytes(const diffcore_ctrl *c, size_t n, int64_t olen, int64_t nlen,
                     int64_t *diff_len, int64_t *extra_len)
{
    int64_t op = 0, np = 0, dl = 0, el = 0;
    size_t t;
    for (t = 0; t < n; t++) {
        const diffcore_ctrl *k = &c[t];
        /* op stays in [0, olen] (the scan only seeks to a match), so no sum
         * here can overflow */
        if (k->add < 0 || k->copy < 0 || k->add > nlen - np || k->copy > nlen - np - k->add ||
            k->add > olen - op || k->seek < -olen || k->seek > olen)
            return -1;
        dl += k->add;
        el += k->copy;
        np += k->add + k->copy;
        op += k->add + k->seek;
        if (op < 0 || op > olen)
            return -1;
    }
    *diff_len = dl;
    *extra_len = el;
    return 0;
}

void
diffcore_fill(const diffcore_ctrl *c, size_t n, const uint8_t *old, const uint8_t *nw,
              uint8_t *diff, uint8_t *extra)
{
    int64_t op = 0, np = 0;
    size_t t;
    for (t = 0; t < n; t++) {
        int64_t i, add = c[t].add, copy = c[t].copy;
        const uint8_t *o = old + op, *w = nw + np;
        for (i = 0; i < add; i++)
            diff[i] = (uint8_t)(w[i] - o[i]);
        diff += add;
        memcpy(extra, w + add, (size_t)copy);
        extra += copy;
        np += add + copy;
        op += add + c[t].seek;
    }
}
