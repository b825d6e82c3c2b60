/*
 * Private interface between the parts of otapack's C diff core
 * (otapack.core.diff._core):
 *
 *   sais.c    suffix array construction (SA-IS)
 *   scan.c    the match index over OLD and the bsdiff-style scan of NEW
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

/* First rank of each two-byte prefix in the suffix array: suffixes starting
 * with bytes (a, b) hold ranks [bucket[a<<8|b], bucket[(a<<8|b) + 1]). */
#define DIFFCORE_BUCKETS (1 << 16)

/* Everything a scan needs to know about OLD; read-only once built, so any
 * number of scans may share it at the same time. */
typedef struct {
    const uint8_t *old;
    int64_t olen;
    int32_t *SA;     /* olen entries */
    int32_t *bucket; /* DIFFCORE_BUCKETS + 1 entries, or NULL if olen < 2 */
} diffcore_index;

/* Builds SA and bucket for old[0..olen) (the memory is the caller's to
 * free with diffcore_index_free).  Returns 0, or -1 when out of memory. */
int diffcore_index_build(diffcore_index *X, const uint8_t *old, int64_t olen);
void diffcore_index_free(diffcore_index *X);

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

/* Scans new[0..nlen) against the index: control tuples into ctrl, the diff
 * and extra bytes into diff and extra (room for nlen bytes each; their used
 * lengths into *diff_len, *extra_len).  Returns 0, or -1 when out of
 * memory. */
int diffcore_scan(const diffcore_index *X, const uint8_t *new_, int64_t nlen,
                  const diffcore_settings *S, diffcore_ctrls *ctrl,
                  uint8_t *diff, int64_t *diff_len, uint8_t *extra,
                  int64_t *extra_len);

#endif
