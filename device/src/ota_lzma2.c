/* Raw LZMA2 decoder (see include/ota/ota_lzma2.h for the contract).
 *
 * Written from the public descriptions of the formats: the LZMA2 chunk
 * structure and the LZMA range coder with its literal / match / rep coding.
 * Where a corrupt stream could be read two ways, this decoder does what
 * liblzma does (the oracle in device/tests/test_lzma2_oracle.c holds it to
 * that): the dictionary is rounded like liblzma's, a dictionary reset also
 * resets the position used for pos_state and literal context, and a chunk
 * must end with the range coder at code 0 having used exactly its packed
 * bytes.
 *
 * Structure: ota_lzma2_decode() walks the chunk headers byte by byte (any
 * split of the input works); LZMA data is decoded by lzma_run(), which keeps
 * the range coder in locals and writes into the circular dictionary, and the
 * new dictionary bytes are then copied to the caller. lzma_run() only starts
 * a symbol when OTA_LZMA2_HOLD input bytes are available (or all of the
 * chunk's remaining bytes), so it never has to suspend inside a symbol; a
 * short tail of input is copied into d->hold and decoded from there once
 * enough has arrived.
 */
#include <string.h>

#include "ota/ota_config.h"
#include "ota/ota_lzma2.h"

#if OTA_WITH_LZMA2

/* OTA_LZMA2_SMALL trades speed for code size: one loop for both literal
 * kinds and one byte loop for match copies (about 0.5 KB less Thumb code).
 * Default: on when the compiler optimises for size (-Os). Both variants run
 * the liblzma oracle. */
#ifndef OTA_LZMA2_SMALL
#if defined(__OPTIMIZE_SIZE__)
#define OTA_LZMA2_SMALL 1
#else
#define OTA_LZMA2_SMALL 0
#endif
#endif

/* Hot helpers are forced inline except in the small variant, where the
 * compiler's own choice is smaller. */
#if defined(__GNUC__) && !OTA_LZMA2_SMALL
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* Offsets into the probability array (16-bit entries). */
enum {
    P_IS_MATCH = 0,                    /* [state][pos_state] */
    P_IS_REP = P_IS_MATCH + 12 * 16,   /* [state] */
    P_IS_REP0 = P_IS_REP + 12,
    P_IS_REP1 = P_IS_REP0 + 12,
    P_IS_REP2 = P_IS_REP1 + 12,
    P_IS_REP0_LONG = P_IS_REP2 + 12,   /* [state][pos_state] */
    P_DIST_SLOT = P_IS_REP0_LONG + 12 * 16, /* [len_state][64] */
    P_DIST_SPECIAL = P_DIST_SLOT + 4 * 64,  /* reverse trees of slots 4..13 */
    P_DIST_ALIGN = P_DIST_SPECIAL + 114,
    P_MATCH_LEN = P_DIST_ALIGN + 16,   /* length coder: see L_* */
    P_REP_LEN = P_MATCH_LEN + 514,
    P_LITERAL = P_REP_LEN + 514        /* 0x300 per literal context */
};
/* Length coder: choice, choice2, low[16][8], mid[16][8], high[256]. */
enum { L_CHOICE = 0, L_CHOICE2 = 1, L_LOW = 2, L_MID = L_LOW + 128, L_HIGH = L_MID + 128 };

typedef char p_literal_matches_formula[(P_LITERAL == 1846) ? 1 : -1];

enum { S_CONTROL, S_HEADER, S_RCINIT, S_LZMA, S_COPY, S_END, S_ERROR };
enum { F_NEED_DICT_RESET = 1, F_NEED_PROPS = 2 };
enum { STEP_CONTINUE = 0, STEP_STOP = 1 };

#define RC_TOP (1u << 24)

struct rc {
    uint32_t range, code;
    const uint8_t *in, *end;
    uint32_t overrun; /* a byte past `end` was needed: fed as 0, checked by the caller */
};

HOT void rc_norm(struct rc *rc)
{
    if (rc->range < RC_TOP) {
        rc->range <<= 8;
        rc->code <<= 8;
        if (rc->in < rc->end)
            rc->code |= *rc->in++;
        else
            rc->overrun = 1;
    }
}

HOT uint32_t rc_bit(struct rc *rc, uint16_t *p)
{
    uint32_t prob = *p, bound;
    rc_norm(rc);
    bound = (rc->range >> 11) * prob;
    if (rc->code < bound) {
        rc->range = bound;
        *p = (uint16_t)(prob + ((2048u - prob) >> 5));
        return 0;
    }
    rc->range -= bound;
    rc->code -= bound;
    *p = (uint16_t)(prob - (prob >> 5));
    return 1;
}

/* Bit tree, most significant bit first; limit = 1 << bits. */
HOT uint32_t rc_tree(struct rc *rc, uint16_t *p, uint32_t limit)
{
    uint32_t s = 1;
    do
        s = (s << 1) | rc_bit(rc, p + s);
    while (s < limit);
    return s - limit;
}

/* Bit tree, least significant bit first. */
HOT uint32_t rc_rtree(struct rc *rc, uint16_t *p, uint32_t bits)
{
    uint32_t s = 1, r = 0, i;
    for (i = 0; i < bits; i++) {
        uint32_t b = rc_bit(rc, p + s);
        s = (s << 1) | b;
        r |= b << i;
    }
    return r;
}

/* Fixed-probability bits. The subtract-and-test-sign form is the format's
 * definition; it differs from "code >= range" when code is already out of
 * range, which only corrupt streams reach, and there it must agree with
 * every other decoder. */
HOT uint32_t rc_direct(struct rc *rc, uint32_t n)
{
    uint32_t v = 0;
    do {
        uint32_t t;
        rc_norm(rc);
        rc->range >>= 1;
        rc->code -= rc->range;
        t = 0u - (rc->code >> 31);
        rc->code += rc->range & t;
        v = (v << 1) + (t + 1u);
    } while (--n);
    return v;
}

/* Match length minus 2 (0 .. 271). */
HOT uint32_t len_decode(struct rc *rc, uint16_t *p, uint32_t pos_state)
{
    if (!rc_bit(rc, p + L_CHOICE))
        return rc_tree(rc, p + L_LOW + (pos_state << 3), 8);
    if (!rc_bit(rc, p + L_CHOICE2))
        return 8 + rc_tree(rc, p + L_MID + (pos_state << 3), 8);
    return 16 + rc_tree(rc, p + L_HIGH, 256);
}

/* Match distance minus 1; 0xFFFFFFFF is the end marker, which LZMA2 chunks
 * may not contain (it fails the distance check like any too-far match). */
HOT uint32_t dist_decode(struct rc *rc, uint16_t *probs, uint32_t len)
{
    uint32_t slot = rc_tree(rc, probs + P_DIST_SLOT + ((len < 3 ? len : 3) << 6), 64);
    uint32_t nd, dist;
    if (slot < 4)
        return slot;
    nd = (slot >> 1) - 1;
    dist = (2u | (slot & 1u)) << nd;
    if (slot < 14) { /* the reverse tree's node 1 is entry dist - slot of the 114 */
        probs += P_DIST_SPECIAL + dist - slot - 1;
    } else { /* high bits direct, the low four through the align tree */
        dist += rc_direct(rc, nd - 4) << 4;
        probs += P_DIST_ALIGN;
        nd = 4;
    }
    return dist + rc_rtree(rc, probs, nd);
}

/* Decode symbols into the dictionary until it reaches `limit` (<= D) or the
 * input passes `stop`. A match cut by `limit` leaves d->pending. Returns
 * nonzero on a distance beyond the valid dictionary. */
static int lzma_run(struct ota_lzma2 *d, struct rc *rcp, const uint8_t *stop, uint32_t limit)
{
    struct rc rc = *rcp;
    uint16_t *const probs = d->probs;
    uint8_t *const dict = d->dict;
    const uint32_t dsize = d->dict_bytes;
    const uint32_t wrapped = d->full == dsize;
    const uint32_t pb_mask = (1u << d->pb) - 1u, lp_mask = (1u << d->lp) - 1u;
    const uint32_t lc = d->lc;
    uint32_t pos = d->pos, state = d->state, len = d->pending;
    uint32_t rep0 = d->rep[0], rep1 = d->rep[1], rep2 = d->rep[2], rep3 = d->rep[3];
    int bad = 0;

    if (len)
        goto copy;
    while (pos < limit && rc.in <= stop && !rc.overrun) {
        const uint32_t ps = pos & pb_mask;
        if (!rc_bit(&rc, probs + P_IS_MATCH + (state << 4) + ps)) {
            /* pos == 0: dict[D-1] is the last byte, or the 0 dict_reset() left */
            uint32_t prev = dict[(pos ? pos : dsize) - 1];
            uint16_t *lit = probs + P_LITERAL + 0x300u * (((pos & lp_mask) << lc) + (prev >> (8 - lc)));
            uint32_t s = 1;
#if OTA_LZMA2_SMALL
            /* offs stays 0x100 while decoded bits follow the match byte's
             * (selecting its probabilities), and drops to 0, the plain
             * literal's, at the first difference; after a literal it is 0 */
            uint32_t offs = state < 7 ? 0 : 0x100, mb = 0;
            if (offs) {
                uint32_t src = pos - rep0 - 1;
                if (pos <= rep0)
                    src += dsize;
                mb = dict[src];
            }
            do {
                uint32_t mbit, b;
                mb <<= 1;
                mbit = mb & offs;
                b = rc_bit(&rc, lit + offs + mbit + s);
                s = (s << 1) | b;
                offs &= b ? mbit : ~mbit;
            } while (s < 0x100);
#else
            if (state < 7) {
                do
                    s = (s << 1) | rc_bit(&rc, lit + s);
                while (s < 0x100);
            } else {
                /* after a match: the byte at rep0 steers the first bits */
                uint32_t src = pos - rep0 - 1, mb;
                if (pos <= rep0)
                    src += dsize;
                mb = dict[src];
                do {
                    uint32_t mbit = (mb >> 7) & 1u, b;
                    mb <<= 1;
                    b = rc_bit(&rc, lit + 0x100 + (mbit << 8) + s);
                    s = (s << 1) | b;
                    if (mbit != b)
                        break;
                } while (s < 0x100);
                while (s < 0x100)
                    s = (s << 1) | rc_bit(&rc, lit + s);
            }
#endif
            dict[pos++] = (uint8_t)s;
            state = state < 4 ? 0 : (state < 10 ? state - 3 : state - 6);
            continue;
        }
        if (!rc_bit(&rc, probs + P_IS_REP + state)) {
            len = len_decode(&rc, probs + P_MATCH_LEN, ps);
            state = state < 7 ? 7 : 10;
            rep3 = rep2;
            rep2 = rep1;
            rep1 = rep0;
            rep0 = dist_decode(&rc, probs, len);
        } else {
            if (!rc_bit(&rc, probs + P_IS_REP0 + state)) {
                if (!rc_bit(&rc, probs + P_IS_REP0_LONG + (state << 4) + ps)) {
                    state = state < 7 ? 9 : 11; /* short rep: one byte at rep0 */
                    len = 1;
                    goto check;
                }
            } else {
                uint32_t dist;
                if (!rc_bit(&rc, probs + P_IS_REP1 + state)) {
                    dist = rep1;
                } else {
                    if (!rc_bit(&rc, probs + P_IS_REP2 + state)) {
                        dist = rep2;
                    } else {
                        dist = rep3;
                        rep3 = rep2;
                    }
                    rep2 = rep1;
                }
                rep1 = rep0;
                rep0 = dist;
            }
            len = len_decode(&rc, probs + P_REP_LEN, ps);
            state = state < 7 ? 8 : 11;
        }
        len += 2;
    check:
        /* rep distances were checked when they were set, except right after
         * a dictionary reset, so one check covers every kind of match */
        if (rep0 >= (wrapped ? dsize : pos)) {
            bad = 1;
            break;
        }
    copy: {
        uint32_t room = limit - pos, n = len < room ? len : room;
        uint32_t src = pos - rep0 - 1;
        if (pos <= rep0)
            src += dsize;
        len -= n;
#if OTA_LZMA2_SMALL
        do {
            dict[pos++] = dict[src++];
            if (src == dsize)
                src = 0;
        } while (--n);
#else
        if (src < pos) {
            if (n <= pos - src) {
                memcpy(dict + pos, dict + src, n);
                pos += n;
            } else { /* overlapping: the match repeats its own output */
                do
                    dict[pos++] = dict[src++];
                while (--n);
            }
        } else if (n <= dsize - src) {
            /* source ahead of pos (older data): read before it is overwritten */
            memmove(dict + pos, dict + src, n);
            pos += n;
        } else {
            do {
                dict[pos++] = dict[src++];
                if (src == dsize)
                    src = 0;
            } while (--n);
        }
#endif
        if (len)
            break; /* limit reached inside the match */
    }
    }
    d->pos = pos;
    d->state = state;
    d->pending = len;
    d->rep[0] = rep0;
    d->rep[1] = rep1;
    d->rep[2] = rep2;
    d->rep[3] = rep3;
    *rcp = rc;
    return bad;
}

static void dict_reset(struct ota_lzma2 *d)
{
    d->pos = 0;
    d->full = 0;
    d->dict[d->dict_bytes - 1] = 0; /* the "previous byte" of the first literal */
}

/* d->pos moved n bytes forward (at most to the end of the buffer). */
static void dict_advanced(struct ota_lzma2 *d, uint32_t n)
{
    d->unpacked_left -= n;
    if (d->pos == d->dict_bytes) {
        d->pos = 0;
        d->full = d->dict_bytes;
    } else if (d->full < d->pos) {
        d->full = d->pos;
    }
}

static void state_reset(struct ota_lzma2 *d)
{
    uint32_t n = P_LITERAL + (0x300u << (d->lc + d->lp)), i;
    for (i = 0; i < n; i++)
        d->probs[i] = 1024; /* probability 1/2 */
    d->state = 0;
    d->rep[0] = d->rep[1] = d->rep[2] = d->rep[3] = 0;
    d->pending = 0;
}

/* The chunk header is complete in d->hdr. */
static enum ota_status start_chunk(struct ota_lzma2 *d)
{
    const uint32_t c = d->control, size = ((uint32_t)d->hdr[0] << 8 | d->hdr[1]) + 1u;
    if (c < 0x80) {
        d->unpacked_left = size;
        d->seq = S_COPY;
        return OTA_OK;
    }
    d->unpacked_left = ((c & 0x1Fu) << 16) + size;
    d->packed_left = ((uint32_t)d->hdr[2] << 8 | d->hdr[3]) + 1u;
    if (c >= 0xC0) {
        uint32_t b = d->hdr[4], lp = 0, pb = 0;
        if (b >= 9 * 5 * 5)
            return OTA_ERR_LZMA_DATA;
        while (b >= 45) { /* props = (pb * 5 + lp) * 9 + lc, without division */
            b -= 45;
            pb++;
        }
        while (b >= 9) {
            b -= 9;
            lp++;
        }
        if (b + lp > OTA_LZMA2_LCLP_MAX)
            return OTA_ERR_LZMA_DATA;
        if (b + lp > d->lclp_max)
            return OTA_ERR_LZMA_LCLP;
        d->lc = b;
        d->lp = lp;
        d->pb = pb;
        d->flags &= ~(uint32_t)F_NEED_PROPS;
    }
    if (c >= 0xA0)
        state_reset(d);
    d->hdr_len = 0;
    d->hold_len = 0;
    d->seq = S_RCINIT;
    return OTA_OK;
}

/* One round of LZMA data: returns STEP_CONTINUE after progress, STEP_STOP
 * when more input or output room is needed, or a negative status. */
static int lzma_step(struct ota_lzma2 *d, const uint8_t *in, size_t in_len, size_t *ipp,
                     uint8_t *out, size_t out_len, size_t *opp)
{
    const uint32_t dsize = d->dict_bytes, start = d->pos, old_hold = d->hold_len;
    size_t ip = *ipp, avail, room = out_len - *opp;
    uint32_t n, produced, used;
    const uint8_t *base, *stop;
    struct rc rc;
    int final, bad;

    if (room == 0)
        return STEP_STOP;
    n = d->unpacked_left;
    if (n > dsize - start)
        n = dsize - start;
    if (n > room)
        n = (uint32_t)room;

    avail = in_len - ip;
    if (avail > d->packed_left)
        avail = d->packed_left;
    if (old_hold == 0 && (avail >= OTA_LZMA2_HOLD || avail == d->packed_left)) {
        base = in + ip; /* decode straight from the caller's buffer */
        rc.end = base + avail;
        final = avail == d->packed_left;
    } else {
        size_t k = sizeof d->hold - old_hold;
        if (k > avail)
            k = avail;
        if (k)
            memcpy(d->hold + old_hold, in + ip, k);
        d->hold_len = old_hold + (uint32_t)k;
        ip += k;
        d->packed_left -= (uint32_t)k;
        final = d->packed_left == 0;
        if (!final && d->hold_len < OTA_LZMA2_HOLD) {
            *ipp = ip;
            return STEP_STOP;
        }
        base = d->hold;
        rc.end = base + d->hold_len;
    }
    stop = final ? rc.end : rc.end - OTA_LZMA2_HOLD;
    rc.in = base;
    rc.range = d->range;
    rc.code = d->code;
    rc.overrun = 0;

    bad = lzma_run(d, &rc, stop, start + n);
    produced = d->pos - start;
    if (!bad && produced == d->unpacked_left) {
        /* end of chunk: no match may run on, and the coder must be flushed */
        if (d->pending)
            bad = 1;
        rc_norm(&rc);
        if (rc.code != 0)
            bad = 1;
    }
    if (rc.overrun && !final)
        return OTA_ERR_INTERNAL; /* OTA_LZMA2_HOLD would be too small */
    if (rc.overrun)
        bad = 1;

    used = (uint32_t)(rc.in - base);
    if (base != d->hold) {
        ip += used;
        d->packed_left -= used;
    } else if (used >= old_hold) {
        /* decoding ran into the bytes just copied: give the unused ones back
         * and continue from the caller's buffer */
        uint32_t back = d->hold_len - used;
        ip -= back;
        d->packed_left += back;
        d->hold_len = 0;
    } else {
        memmove(d->hold, d->hold + used, d->hold_len - used);
        d->hold_len -= used;
    }
    *ipp = ip;

    if (produced) {
        memcpy(out + *opp, d->dict + start, produced);
        *opp += produced;
    }
    dict_advanced(d, produced);
    d->range = rc.range;
    d->code = rc.code;
    if (bad)
        return OTA_ERR_LZMA_DATA;
    if (d->unpacked_left == 0) {
        if (d->packed_left || d->hold_len)
            return OTA_ERR_LZMA_DATA; /* packed size larger than the data */
        d->seq = S_CONTROL;
    }
    return STEP_CONTINUE;
}

enum ota_status ota_lzma2_init(struct ota_lzma2 *d, void *workspace, size_t workspace_size,
                               uint32_t dict_size, unsigned lclp_max)
{
    uint32_t probs_bytes;
    if (!d || !workspace || lclp_max > OTA_LZMA2_LCLP_MAX)
        return OTA_ERR_ARGUMENT;
    if (dict_size > OTA_LZMA2_DICT_MAX)
        return OTA_ERR_LZMA_DICT;
    if ((uintptr_t)workspace & 1u)
        return OTA_ERR_WORKSPACE;
    probs_bytes = OTA_LZMA2_PROBS_BYTES(lclp_max);
    if (workspace_size < probs_bytes)
        return OTA_ERR_WORKSPACE;
    if (workspace_size - probs_bytes < OTA_LZMA2_DICT_BYTES(dict_size))
        return OTA_ERR_LZMA_DICT;
    memset(d, 0, sizeof *d);
    d->probs = (uint16_t *)workspace;
    d->dict = (uint8_t *)workspace + probs_bytes;
    d->dict_bytes = OTA_LZMA2_DICT_BYTES(dict_size);
    d->lclp_max = lclp_max;
    ota_lzma2_reset(d);
    return OTA_OK;
}

void ota_lzma2_reset(struct ota_lzma2 *d)
{
    d->seq = S_CONTROL;
    d->flags = F_NEED_DICT_RESET | F_NEED_PROPS;
    d->error = 0;
    d->hold_len = 0;
    d->pending = 0;
    d->unpacked_left = 0;
    d->packed_left = 0;
    d->pos = 0;
    d->full = 0;
}

enum ota_status ota_lzma2_decode(struct ota_lzma2 *d, const uint8_t *in, size_t *in_size,
                                 uint8_t *out, size_t *out_size)
{
    size_t in_len = *in_size, out_len = *out_size, ip = 0, op = 0;
    enum ota_status st = OTA_OK;
    int r;

    if (!in) { /* no pointer arithmetic on NULL */
        in = d->hold;
        in_len = 0;
    }
    if (!out)
        out_len = 0;
    for (;;) {
        switch (d->seq) {
        case S_CONTROL: {
            uint32_t c;
            if (ip == in_len)
                goto done;
            c = in[ip++];
            if (c == 0x00) {
                d->seq = S_END;
                break;
            }
            if (c >= 0xE0 || c == 0x01) { /* dictionary reset; new props must follow */
                d->flags = F_NEED_PROPS;
                dict_reset(d);
            } else if (d->flags & F_NEED_DICT_RESET) {
                goto corrupt;
            }
            if (c >= 0x80) {
                if (c < 0xC0 && (d->flags & F_NEED_PROPS))
                    goto corrupt;
                d->hdr_need = c >= 0xC0 ? 5 : 4;
            } else if (c > 0x02) {
                goto corrupt;
            } else {
                d->hdr_need = 2;
            }
            d->control = c;
            d->hdr_len = 0;
            d->seq = S_HEADER;
            break;
        }
        case S_HEADER:
            while (d->hdr_len < d->hdr_need) {
                if (ip == in_len)
                    goto done;
                d->hdr[d->hdr_len++] = in[ip++];
            }
            st = start_chunk(d);
            if (st != OTA_OK)
                goto fail;
            break;
        case S_RCINIT:
            while (d->hdr_len < 5) {
                if (d->packed_left == 0)
                    goto corrupt;
                if (ip == in_len)
                    goto done;
                d->hdr[d->hdr_len++] = in[ip++];
                d->packed_left--;
            }
            if (d->hdr[0] != 0) /* the coder's first byte is always 0 */
                goto corrupt;
            d->code = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 | (uint32_t)d->hdr[3] << 8 | d->hdr[4];
            d->range = 0xFFFFFFFFu;
            d->seq = S_LZMA;
            break;
        case S_LZMA:
            r = lzma_step(d, in, in_len, &ip, out, out_len, &op);
            if (r == STEP_STOP)
                goto done;
            if (r < 0) {
                st = (enum ota_status)r;
                goto fail;
            }
            break;
        case S_COPY: {
            size_t n = d->unpacked_left;
            if (n == 0) {
                d->seq = S_CONTROL;
                break;
            }
            if (n > in_len - ip)
                n = in_len - ip;
            if (n > out_len - op)
                n = out_len - op;
            if (n > d->dict_bytes - d->pos)
                n = d->dict_bytes - d->pos;
            if (n == 0)
                goto done;
            memcpy(d->dict + d->pos, in + ip, n);
            memcpy(out + op, in + ip, n);
            ip += n;
            op += n;
            d->pos += (uint32_t)n;
            dict_advanced(d, (uint32_t)n);
            break;
        }
        case S_END:
            st = OTA_END;
            goto done;
        default: /* S_ERROR */
            st = (enum ota_status)d->error;
            goto done;
        }
    }
corrupt:
    st = OTA_ERR_LZMA_DATA;
fail:
    d->seq = S_ERROR;
    d->error = st;
done:
    *in_size = ip;
    *out_size = op;
    return st;
}

#endif /* OTA_WITH_LZMA2 */
