/*
 * The zero-run diff coding (docs/formats/delta-v1.md; the reference is
 * otapack.core.formats.delta.encode_zero_runs): the bytes as (zero run,
 * literal run) pairs, each two LEB128 varints and then the literal run's
 * nonzero bytes.  Every pair but the first starts with at least one zero;
 * only the last may have no literals.  A window of diff bytes is mostly
 * zero, so the Python encoder spent its time per run; this one is a single
 * pass.
 */
#include <string.h>

#include "diffcore.h"

static uint8_t *
put_varint(uint8_t *out, uint64_t value)
{
    while (value >= 0x80) {
        *out++ = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    *out++ = (uint8_t)value;
    return out;
}

int64_t
diffcore_zero_runs(const uint8_t *in, int64_t n, uint8_t *out)
{
    const uint8_t *start = out;
    int64_t i = 0;

    while (i < n) {
        int64_t zeros = i, lit;
        while (i < n && in[i] == 0)
            i++;
        zeros = i - zeros;
        lit = i;
        while (i < n && in[i] != 0)
            i++;
        lit = i - lit;
        out = put_varint(out, (uint64_t)zeros);
        out = put_varint(out, (uint64_t)lit);
        memcpy(out, in + i - lit, (size_t)lit);
        out += lit;
    }
    return (int64_t)(out - start);
}
