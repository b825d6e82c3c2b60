/*
 * Dense stretches of diff bytes become extra bytes (the reference, and why:
 * otapack.core.diff.literalize_dense_diffs).  Within each tuple's add bytes,
 * a dense run starts and ends on a nonzero byte and has no gap of more than
 * seven zeros (the regex [^\0](?:\0{0,7}[^\0])* taken greedily, left to
 * right); a run at least min_length long with at least min_fill of its bytes
 * nonzero becomes a tuple (add before it, copy it from NEW, seek over it).
 * One pass instead of one Python step per run: the same tuples and bytes.
 */
#include <string.h>

#include "diffcore.h"

int
diffcore_literalize(const diffcore_ctrl *in, size_t n, const uint8_t *diff,
                    const uint8_t *extra, const uint8_t *nw, int64_t min_length,
                    double min_fill, diffcore_ctrls *out, uint8_t *ndiff,
                    int64_t *ndiff_len, uint8_t *nextra, int64_t *nextra_len)
{
    int64_t new_pos = 0, dp = 0, ep = 0, odp = 0, oep = 0;
    size_t t;

    for (t = 0; t < n; t++) {
        const uint8_t *d = diff + dp;
        int64_t add = in[t].add, copy = in[t].copy, start = 0, p = 0;
        while (p < add) {
            int64_t u, v, nonzero = 1;
            while (p < add && d[p] == 0)
                p++;
            if (p == add)
                break;
            u = p;
            v = p + 1;
            for (;;) { /* extend over gaps of at most seven zeros */
                int64_t z = 0;
                while (z < 8 && v + z < add && d[v + z] == 0)
                    z++;
                if (z == 8 || v + z == add)
                    break;
                v += z + 1;
                nonzero++;
            }
            p = v;
            if (v - u < min_length || (double)nonzero < min_fill * (double)(v - u))
                continue;
            if (diffcore_ctrls_append(out, u - start, v - u, v - u) != 0)
                return -1;
            memcpy(ndiff + odp, d + start, (size_t)(u - start));
            odp += u - start;
            memcpy(nextra + oep, nw + new_pos + u, (size_t)(v - u));
            oep += v - u;
            start = v;
        }
        if (diffcore_ctrls_append(out, add - start, copy, in[t].seek) != 0)
            return -1;
        memcpy(ndiff + odp, d + start, (size_t)(add - start));
        odp += add - start;
        memcpy(nextra + oep, extra + ep, (size_t)copy);
        oep += copy;
        new_pos += add + copy;
        dp += add;
        ep += copy;
    }
    *ndiff_len = odp;
    *nextra_len = oep;
    return 0;
}
