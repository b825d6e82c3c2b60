/*
 * One level of SA-IS (Nong, Zhang and Chan, "Two efficient algorithms for
 * linear time suffix array construction", 2011) over symbols of type
 * SAIS_SYM.  sais.c includes this file once per symbol type (bytes for the
 * text, int32_t names for the reduced strings), with SAIS_FN naming the
 * functions, so every inner loop reads its symbols directly.
 *
 * No L/S type array is kept: the type of a position is recomputed by a
 * right-to-left pass where it is needed in text order, and the induction
 * passes derive the type of each predecessor from the symbols and bucket
 * pointers they already hold (see induce_L and induce_S).  Suffixes are
 * compared as if a sentinel smaller than every symbol followed the text.
 */

/* Bucket starts (ends == 0) or ends (ends == 1) into B, from the symbol
 * counts C, or, when C is NULL, by counting T. */
static void
SAIS_FN(buckets)(const SAIS_SYM *T, int32_t n, const int32_t *C, int32_t *B,
                 int32_t k, int ends)
{
    int32_t c, sum = 0;
    if (C == NULL) {
        int32_t i;
        memset(B, 0, sizeof(int32_t) * (size_t)k);
        for (i = 0; i < n; i++)
            B[T[i]]++;
        C = B; /* the prefix sums below read each count before overwriting it */
    }
    for (c = 0; c < k; c++) {
        int32_t count = C[c];
        sum += count;
        B[c] = ends ? sum : sum - count;
    }
}

/* The count of each symbol into C.  Small alphabets use four interleaved
 * tables: runs of one byte (padding, erased flash) would otherwise make
 * every increment wait for the previous one. */
static void
SAIS_FN(count)(const SAIS_SYM *T, int32_t n, int32_t *C, int32_t k)
{
    int32_t i;
    memset(C, 0, sizeof(int32_t) * (size_t)k);
    if (k <= 256) {
        int32_t part[3][256];
        memset(part, 0, sizeof(part));
        for (i = 0; i + 4 <= n; i += 4) {
            C[T[i]]++;
            part[0][T[i + 1]]++;
            part[1][T[i + 2]]++;
            part[2][T[i + 3]]++;
        }
        for (; i < n; i++)
            C[T[i]]++;
        for (i = 0; i < k; i++)
            C[i] += part[0][i] + part[1][i] + part[2][i];
    } else {
        for (i = 0; i < n; i++)
            C[T[i]]++;
    }
}

/* Left-to-right pass: every L-type suffix j is placed at the front of its
 * bucket when j + 1 is met.  Only L-type suffixes and LMS seeds are in SA
 * during this pass, and for those p, p - 1 is L-type exactly when
 * T[p - 1] >= T[p] (an L-type p passes its type to an equal predecessor; an
 * LMS p has an L-type predecessor, which is strictly greater).  The sentinel
 * comes first; its predecessor n - 1 is always L-type. */
static void
SAIS_FN(induce_L)(const SAIS_SYM *T, int32_t *SA, int32_t n, int32_t *B)
{
    int32_t i;
    SA[B[T[n - 1]]++] = n - 1;
    for (i = 0; i < n; i++) {
        int32_t p = SA[i];
        PREFETCH_PRED(T, SA, i + 2 * SAIS_PREFETCH, n);
        PREFETCH_BUCKET(T, SA, B, i + SAIS_PREFETCH, n);
        if (p > 0) {
            SAIS_SYM c0 = T[p - 1];
            if (c0 >= T[p])
                SA[B[c0]++] = p - 1;
        }
    }
}

/* Right-to-left pass: every S-type suffix j is placed at the back of its
 * bucket when j + 1 is met.  p - 1 is S-type when T[p - 1] < T[p], or when
 * they are equal and p is S-type itself; the S-type entries of bucket c are
 * exactly those at or after the bucket's current end pointer B[c] (L-type
 * entries lie before it).  With mark_lms, each LMS suffix is stored
 * complemented (~j) so that the caller can pick them out in one sequential
 * pass; an LMS suffix's predecessor is L-type, so skipping negative entries
 * loses nothing. */
static void
SAIS_FN(induce_S)(const SAIS_SYM *T, int32_t *SA, int32_t n, int32_t *B,
                  int mark_lms)
{
    int32_t i;
    for (i = n - 1; i >= 0; i--) {
        int32_t p = SA[i];
        PREFETCH_PRED(T, SA, i - 2 * SAIS_PREFETCH, n);
        PREFETCH_BUCKET(T, SA, B, i - SAIS_PREFETCH, n);
        if (p > 0) {
            SAIS_SYM c0 = T[p - 1], c1 = T[p];
            if (c0 < c1 || (c0 == c1 && i >= B[c1])) {
                int32_t j = p - 1;
                SA[--B[c0]] = (mark_lms && j > 0 && T[j - 1] > c0) ? ~j : j;
            }
        }
    }
}

/* The LMS positions of T, found right to left a block of text at a time:
 * each call of lms_block() appends to buf, in decreasing order, the LMS
 * positions among the next SAIS_LMS_BLOCK positions and returns how many,
 * or -1 when the text is done.  The type of each position follows from the
 * next one without a branch (LMS positions come at random: a branch would be
 * mispredicted about every third symbol), and the callers then act on a
 * list of positions that are all LMS. */
#ifndef SAIS_LMS_BLOCK
#define SAIS_LMS_BLOCK 512 /* 2 KiB of stack per level of the recursion */
#endif

typedef struct {
    int32_t q;          /* next position to classify is q - 1 */
    int s_next;         /* type of position q: 1 = S */
    SAIS_SYM c_next;    /* T[q] */
} SAIS_FN(lms_walk);

static void
SAIS_FN(lms_start)(const SAIS_SYM *T, int32_t n, SAIS_FN(lms_walk) *w)
{
    w->q = n - 1; /* n - 1 is L-type: the sentinel follows it */
    w->s_next = 0;
    w->c_next = T[n - 1];
}

static int32_t
SAIS_FN(lms_block)(const SAIS_SYM *T, SAIS_FN(lms_walk) *w, int32_t *buf)
{
    int32_t q = w->q, stop = q > SAIS_LMS_BLOCK ? q - SAIS_LMS_BLOCK : 0, m = 0;
    int s_next = w->s_next;
    SAIS_SYM c_next = w->c_next;
    if (q < 1)
        return -1;
    for (; q > stop; q--) {
        SAIS_SYM c = T[q - 1];
        int s = (c < c_next) | ((c == c_next) & s_next);
        buf[m] = q;            /* kept when q is LMS: S-type after L-type */
        m += s_next & (s ^ 1);
        s_next = s;
        c_next = c;
    }
    w->q = q;
    w->s_next = s_next;
    w->c_next = c_next;
    return m;
}

/* Runs BODY with q set to each LMS position of T, in decreasing order. */
#define SAIS_FOR_EACH_LMS_DESC(T, n, q, BODY)                                  \
    do {                                                                       \
        int32_t buf_[SAIS_LMS_BLOCK], m_, r_;                                  \
        SAIS_FN(lms_walk) w_;                                                  \
        SAIS_FN(lms_start)((T), (n), &w_);                                     \
        while ((m_ = SAIS_FN(lms_block)((T), &w_, buf_)) >= 0)                 \
            for (r_ = 0; r_ < m_; r_++) {                                      \
                int32_t q = buf_[r_];                                          \
                BODY;                                                          \
            }                                                                  \
    } while (0)

/* Whether a[0..len) and b[0..len) are equal.  LMS substrings are a few
 * symbols long on average: a loop beats the call of memcmp for those. */
static int
SAIS_FN(equal)(const SAIS_SYM *a, const SAIS_SYM *b, int32_t len)
{
    int32_t i;
    if (len > 16)
        return memcmp(a, b, sizeof(SAIS_SYM) * (size_t)len) == 0;
    for (i = 0; i < len; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* The suffix array of T[0..n) over the alphabet [0, k) into SA.  spare is
 * scratch memory of nspare entries the caller does not need meanwhile (it
 * may be NULL).  Returns 0, or -1 when out of memory. */
static int
SAIS_FN(sais)(const SAIS_SYM *T, int32_t *SA, int32_t n, int32_t k,
              int32_t *spare, int64_t nspare)
{
    int32_t small_C[256], small_B[256];
    int32_t *C, *B, *owned = NULL;
    int32_t i, n1, names;
    int rc = 0;

    if (n <= 1) {
        if (n == 1)
            SA[0] = 0;
        return 0;
    }
    /* Bucket arrays: on the stack for bytes; in the caller's spare memory
     * when it has room (counts kept, or recounted when only B fits);
     * allocated (and recounted) otherwise. */
    if (k <= 256) {
        C = small_C;
        B = small_B;
    } else if (nspare >= 2 * (int64_t)k) {
        C = spare;
        B = spare + k;
    } else if (nspare >= k) {
        C = NULL;
        B = spare;
    } else {
        C = NULL;
        B = owned = (int32_t *)malloc(sizeof(int32_t) * (size_t)k);
        if (B == NULL)
            return -1;
    }
    if (C != NULL)
        SAIS_FN(count)(T, n, C, k);

    /* stage 1: sort the LMS substrings by inducing from unsorted seeds */
    memset(SA, 0xFF, sizeof(int32_t) * (size_t)n); /* every entry -1: empty */
    SAIS_FN(buckets)(T, n, C, B, k, 1);
    SAIS_FOR_EACH_LMS_DESC(T, n, q, SA[--B[T[q]]] = q);
    SAIS_FN(buckets)(T, n, C, B, k, 0);
    SAIS_FN(induce_L)(T, SA, n, B);
    SAIS_FN(buckets)(T, n, C, B, k, 1);
    SAIS_FN(induce_S)(T, SA, n, B, 1);

    /* the LMS positions, now in LMS-substring order, into SA[0..n1) */
    n1 = 0;
    for (i = 0; i < n; i++) {
        int32_t v = SA[i];
        if (v < 0)
            SA[n1++] = ~v;
    }

    /* Name the LMS substrings.  Two are equal when they have the same length
     * and the same symbols (their types follow from the symbols, both ending
     * on an S-type symbol).  The length of the substring at q (up to and
     * including the next LMS symbol, or the sentinel) is kept at
     * SA[n1 + q / 2]: LMS positions are at least two apart and n1 <= n / 2,
     * so these slots are distinct and free.  The name then replaces it. */
    memset(SA + n1, 0xFF, sizeof(int32_t) * (size_t)(n - n1));
    {
        int32_t next = n;
        SAIS_FOR_EACH_LMS_DESC(T, n, q, {
            SA[n1 + (q >> 1)] = next - q + 1;
            next = q;
        });
    }
    names = 0;
    {
        int32_t prev = -1, prev_len = 0;
        for (i = 0; i < n1; i++) {
            int32_t p = SA[i], len;
            PREFETCH_AHEAD(i + SAIS_PREFETCH < n1, &SA[n1 + (SA[i + SAIS_PREFETCH] >> 1)]);
            PREFETCH_AHEAD(i + SAIS_PREFETCH < n1, &T[SA[i + SAIS_PREFETCH]]);
            len = SA[n1 + (p >> 1)];
            /* the substring that runs into the sentinel is unlike any other */
            if (prev < 0 || len != prev_len || len > n - p || len > n - prev ||
                !SAIS_FN(equal)(T + p, T + prev, len)) {
                names++;
                prev = p;
                prev_len = len;
            }
            SA[n1 + (p >> 1)] = names - 1;
        }
    }
    /* the names, in text order, to the end of SA: the reduced string s1 */
    {
        int32_t j = n - 1;
        for (i = n - 1; i >= n1; i--)
            if (SA[i] >= 0)
                SA[j--] = SA[i];
    }

    /* stage 2: the suffix array of s1 into SA[0..n1); the gap between it and
     * s1 is the recursion's spare memory */
    {
        int32_t *s1 = SA + n - n1;
        if (names < n1) {
            if (owned != NULL) { /* the recursion may need the memory */
                free(owned);
                owned = B = NULL;
            }
            rc = sais_i32(s1, SA, n1, names, SA + n1, (int64_t)n - 2 * (int64_t)n1);
            if (rc != 0)
                goto done;
            if (B == NULL) {
                B = owned = (int32_t *)malloc(sizeof(int32_t) * (size_t)k);
                if (B == NULL) {
                    rc = -1;
                    goto done;
                }
            }
        } else {
            for (i = 0; i < n1; i++)
                SA[s1[i]] = i;
        }

        /* stage 3: the sorted LMS suffixes seed the final induction */
        {
            int32_t j = n - 1;
            SAIS_FOR_EACH_LMS_DESC(T, n, q, SA[j--] = q);
        }
        for (i = 0; i < n1; i++) {
            PREFETCH_AHEAD(i + SAIS_PREFETCH < n1, &s1[SA[i + SAIS_PREFETCH]]);
            SA[i] = s1[SA[i]];
        }
    }
    memset(SA + n1, 0xFF, sizeof(int32_t) * (size_t)(n - n1));
    SAIS_FN(buckets)(T, n, C, B, k, 1);
    for (i = n1 - 1; i >= 0; i--) {
        int32_t j = SA[i];
        PREFETCH_AHEAD(i >= SAIS_PREFETCH, &T[SA[i - SAIS_PREFETCH]]);
        SA[i] = -1;
        SA[--B[T[j]]] = j;
    }
    SAIS_FN(buckets)(T, n, C, B, k, 0);
    SAIS_FN(induce_L)(T, SA, n, B);
    SAIS_FN(buckets)(T, n, C, B, k, 1);
    SAIS_FN(induce_S)(T, SA, n, B, 0);
done:
    free(owned);
    return rc;
}

#undef SAIS_FOR_EACH_LMS_DESC
