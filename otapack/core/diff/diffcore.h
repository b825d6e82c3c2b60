/*
 * Private interface between the parts of otapack's C diff core
 * (otapack.core.diff._core):
 *
 *   sais.c    suffix array construction (SA-IS)
 *   scan.c    the match index over OLD and the bsdiff-style scan of NEW
 *   dense.c   dense stretches of diff bytes as extra bytes
 *   zerorun.c the zero-run coding of diff bytes
 *   module.c  the CPython module: argument checks, buffer ownership, GIL
 *
 * Nothing here touches Python objects: sais.c and scan.c run without the
 * GIL, on memory that nobody else can change while they run (module.c
 * guarantees that).
 */
#ifndef OTAPACK_DIFFCORE_H
#define OTAPACK_DIFFCORE_H

#include <stddef.h>
#include <stdint.h>

/* Inputs are indexed with int32_t: at most 2 GiB - 1 bytes. */
#define DIFFCORE_MAX_INPUT INT32_MAX

/* ---- sais.c ---------------------------------------------------------- */

/* The suffix array of text[0..n) into SA[0..n).  Returns 0, or -1 when out
 * of memory.  The result is unique, so any correct construction gives the
 * same array. */
int diffcore_suffix_array(const uint8_t *text, int32_t *SA, int32_t n);

/* ---- scan.c ---------------------------------------------------------- */

/* First rank of each two-byte prefix in the suffix array: the suffixes
 * starting with bytes c = (a, b) hold ranks [bucket[c], bucket[c + 1]),
 * except that the one-byte suffix old[olen-1] = L has the last rank of the
 * range of c = (L - 1, 0xff) (it sorts before every suffix starting with L). */
#define DIFFCORE_BUCKETS (1 << 16)

/* Buckets holding more suffixes than this get a table of their own for the
 * third byte: refine[t][d] is the first rank of the suffixes of bucket c
 * (t = refine_of[c]) whose third byte is d, refine[t][256] the bucket's
 * end.  At most olen / DIFFCORE_REFINE_MIN tables of 1 KiB each. */
#define DIFFCORE_REFINE_MIN 4096
#define DIFFCORE_REFINE_WIDTH 257

/* Everything a scan needs to know about OLD; read-only once built, so any
 * number of scans may share it at the same time. */
typedef struct {
    const uint8_t *old;
    int64_t olen;
    int32_t *SA;        /* olen entries */
    int32_t *bucket;    /* DIFFCORE_BUCKETS + 1 entries, or NULL if olen < 2 */
    int32_t *refine_of; /* DIFFCORE_BUCKETS entries (-1: none), or NULL */
    int32_t *refine;    /* DIFFCORE_REFINE_WIDTH entries per refined bucket, and a scratch row */
} diffcore_index;

/* Builds SA and, with buckets set, the bucket tables for old[0..olen) (the
 * memory is the caller's to free with diffcore_index_free; without them the
 * search is the plain binary search, for cross-checks).  Returns 0, or -1
 * when out of memory. */
int diffcore_index_build(diffcore_index *X, const uint8_t *old, int64_t olen,
                         int buckets);
void diffcore_index_free(diffcore_index *X);

/* The longest match of p[0..plen) in OLD: its length, and its position in
 * *pos; among equally long candidates next to the insertion point, the one
 * nearest hint (then the lower position).  What the scan asks at each step. */
int64_t diffcore_longest_match(const diffcore_index *X, const uint8_t *p,
                               int64_t plen, int64_t hint, int64_t *pos);

/* Matcher settings; module.c checks them against the bounds below, which
 * keep every sum and product in scan.c far inside int64_t. */
typedef struct {
    int64_t min_gain;    /* a new alignment must beat the old one by this */
    int64_t ext_pct;     /* extensions keep at least this % of bytes equal */
    int64_t seek_weight; /* extra gain needed per varint byte of the seek */
} diffcore_settings;

#define DIFFCORE_MIN_GAIN_MAX INT32_MAX
#define DIFFCORE_EXT_PCT_MIN 1
#define DIFFCORE_EXT_PCT_MAX 99
#define DIFFCORE_SEEK_WEIGHT_MAX INT32_MAX

typedef struct {
    int64_t add, copy, seek;
} diffcore_ctrl;

/* A growing list of control tuples; free v when done. */
typedef struct {
    diffcore_ctrl *v;
    size_t n, cap;
} diffcore_ctrls;

/* Appends one control tuple as it is (no merging); -1 when out of memory. */
int diffcore_ctrls_append(diffcore_ctrls *c, int64_t add, int64_t copy, int64_t seek);

/* Scans new[0..nlen) against the index: control tuples into ctrl.  Returns
 * 0, or -1 when out of memory.  The diff and extra bytes follow from the
 * tuples, OLD and NEW alone (diffcore_fill), so the caller can free the
 * index (the suffix array: 4 bytes per byte of OLD) before it makes room
 * for them. */
int diffcore_scan(const diffcore_index *X, const uint8_t *new_, int64_t nlen,
                  const diffcore_settings *S, diffcore_ctrls *ctrl);

/* The diff and extra byte counts of c[0..n) into *diff_len, *extra_len;
 * -1 unless every tuple stays inside old[0..olen) and new[0..nlen). */
int diffcore_ctrls_bytes(const diffcore_ctrl *c, size_t n, int64_t olen, int64_t nlen,
                         int64_t *diff_len, int64_t *extra_len);

/* The diff bytes (new - old, mod 256, over each add) and extra bytes (new,
 * over each copy) of c[0..n) into diff and extra, which have the room
 * diffcore_ctrls_bytes counted (it must have accepted the tuples). */
void diffcore_fill(const diffcore_ctrl *c, size_t n, const uint8_t *old, const uint8_t *new_,
                   uint8_t *diff, uint8_t *extra);

/* ---- zerorun.c ------------------------------------------------------- */

/* The zero-run coding of in[0..n) into out (room for
 * DIFFCORE_ZERO_RUNS_BOUND(n) bytes); returns the bytes written. */
#define DIFFCORE_ZERO_RUNS_BOUND(n) ((n) + (n) / 2 + 24)
int64_t diffcore_zero_runs(const uint8_t *in, int64_t n, uint8_t *out);

/* ---- dense.c ---------------------------------------------------------- */

/* Dense stretches of the scan's diff bytes as extra bytes (see dense.c):
 * in[0..n) with diff, extra and NEW (the bytes they rebuild) into out;
 * ndiff needs room for the diff bytes, nextra for the extra plus the diff
 * bytes.  The caller checks that the tuples fit the three buffers.  Returns
 * 0, or -1 when out of memory. */
int diffcore_literalize(const diffcore_ctrl *in, size_t n, const uint8_t *diff,
                        const uint8_t *extra, const uint8_t *nw, int64_t min_length,
                        double min_fill, diffcore_ctrls *out, uint8_t *ndiff,
                        int64_t *ndiff_len, uint8_t *nextra, int64_t *nextra_len);

#endif
