/*
 * Suffix array construction for the diff core: SA-IS (induced sorting,
 * linear time, 32-bit indices, so inputs up to 2 GiB - 1 bytes).
 *
 * The algorithm is in sais_level.h, instantiated twice: for the text (bytes,
 * 256 symbols, bucket arrays on the stack) and for the reduced strings of the
 * recursion (int32_t names).  Compared with a textbook SA-IS it keeps no L/S
 * type array (types are recomputed in sequential passes or derived where the
 * induction already holds the symbols), marks the LMS suffixes during the
 * first induction so that collecting them is a sequential pass, compares LMS
 * substrings by length and memcmp, runs the recursion's bucket arrays in the
 * unused middle of SA when they fit, and prefetches the text under the
 * suffixes a few entries ahead of each induction scan (the scans are bound
 * by those random reads).
 */
#include <stdlib.h>
#include <string.h>

#include "diffcore.h"

/* How many SA entries ahead the induction scans prefetch T[SA[i] - 1]. */
#define SAIS_PREFETCH 32

#if defined(__GNUC__) || defined(__clang__)
/* Prefetch the symbol before suffix SA[at], if at and that suffix are in
 * range (an entry not yet written holds -1 or a stale position: a wasted
 * prefetch, never a fault). */
#define PREFETCH_PRED(T, SA, at, n)                                            \
    do {                                                                       \
        if ((uint32_t)(at) < (uint32_t)(n)) {                                  \
            uint32_t q_ = (uint32_t)(SA)[at] - 1u;                             \
            if (q_ < (uint32_t)(n))                                            \
                __builtin_prefetch(&(T)[q_]);                                  \
        }                                                                      \
    } while (0)
/* Prefetch the bucket pointer of the symbol before suffix SA[at] (that symbol
 * was prefetched SAIS_PREFETCH entries earlier).  Only worth it for the
 * large alphabets of the recursion, whose bucket arrays miss the cache. */
#define PREFETCH_BUCKET(T, SA, B, at, n)                                       \
    do {                                                                       \
        if (sizeof(*(T)) > 1 && (uint32_t)(at) < (uint32_t)(n)) {              \
            uint32_t q_ = (uint32_t)(SA)[at] - 1u;                             \
            if (q_ < (uint32_t)(n))                                            \
                __builtin_prefetch(&(B)[(T)[q_]]);                             \
        }                                                                      \
    } while (0)
/* Prefetch addr when cond holds (cond guards the index that addr reads). */
#define PREFETCH_AHEAD(cond, addr)                                             \
    do {                                                                       \
        if (cond)                                                              \
            __builtin_prefetch(addr);                                          \
    } while (0)
#else
#define PREFETCH_PRED(T, SA, at, n) ((void)0)
#define PREFETCH_BUCKET(T, SA, B, at, n) ((void)0)
#define PREFETCH_AHEAD(cond, addr) ((void)0)
#endif

static int sais_i32(const int32_t *T, int32_t *SA, int32_t n, int32_t k,
                    int32_t *spare, int64_t nspare);

#define SAIS_SYM int32_t
#define SAIS_FN(name) name##_i32
#include "sais_level.h"
#undef SAIS_SYM
#undef SAIS_FN

#define SAIS_SYM uint8_t
#define SAIS_FN(name) name##_u8
#include "sais_level.h"
#undef SAIS_SYM
#undef SAIS_FN

int
diffcore_suffix_array(const uint8_t *text, int32_t *SA, int32_t n)
{
    return sais_u8(text, SA, n, 256, NULL, 0);
}
