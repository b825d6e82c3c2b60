/* Shared by the liblzma oracle and the fuzz target: decode one stream with
 * liblzma and with ota_lzma2 (fed in pieces chosen by `mode` from a
 * deterministic generator) and report what each did. */
#ifndef OTA_TEST_LZMA2_COMPARE_H
#define OTA_TEST_LZMA2_COMPARE_H

#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota/ota_lzma2.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

struct result {
    int accepted;  /* reached the end marker */
    int capped;    /* output limit hit before the end */
    size_t consumed, produced;
};

static struct result xz_decode(const uint8_t *in, size_t n, uint32_t dict, uint8_t *out, size_t cap,
                               int pieces)
{
    lzma_options_lzma opt;
    lzma_filter filters[2];
    lzma_stream s = LZMA_STREAM_INIT;
    struct result res = {0, 0, 0, 0};
    size_t fed = 0;
    memset(&opt, 0, sizeof opt);
    opt.dict_size = dict;
    filters[0].id = LZMA_FILTER_LZMA2;
    filters[0].options = &opt;
    filters[1].id = LZMA_VLI_UNKNOWN;
    filters[1].options = NULL;
    if (lzma_raw_decoder(&s, filters) != LZMA_OK) {
        fprintf(stderr, "lzma_raw_decoder failed\n");
        exit(2);
    }
    s.next_out = out;
    s.avail_out = cap;
    for (;;) {
        lzma_ret r;
        if (s.avail_in == 0 && fed < n) {
            size_t k = pieces ? 1 + rnd_below(pieces) : n - fed;
            if (k > n - fed)
                k = n - fed;
            s.next_in = in + fed;
            s.avail_in = k;
            fed += k;
        }
        r = lzma_code(&s, fed == n ? LZMA_FINISH : LZMA_RUN);
        if (r == LZMA_STREAM_END) {
            res.accepted = 1;
            break;
        }
        if (r != LZMA_OK) {
            if (r == LZMA_BUF_ERROR && s.avail_out == 0)
                res.capped = 1;
            break;
        }
        if (s.avail_out == 0) {
            res.capped = 1;
            break;
        }
    }
    res.consumed = (size_t)s.total_in;
    res.produced = (size_t)s.total_out;
    lzma_end(&s);
    return res;
}

/* ------------------------------------------------------------- ours */

static size_t clamp(size_t v, size_t max)
{
    return v < max ? v : max;
}

static struct result ota_decode(const uint8_t *in, size_t n, uint32_t dict, uint8_t *out, size_t cap,
                                int mode, enum ota_status *status)
{
    struct ota_lzma2 d;
    struct result res = {0, 0, 0, 0};
    size_t ws_size = OTA_LZMA2_WORKSPACE_BYTES(dict, 4);
    void *ws = xmalloc(ws_size);
    size_t ip = 0, op = 0;
    enum ota_status st = ota_lzma2_init(&d, ws, ws_size, dict, 4);
    if (st != OTA_OK) {
        fprintf(stderr, "ota_lzma2_init: %d\n", (int)st);
        exit(2);
    }
    for (;;) {
        size_t in_piece = n - ip, out_room = cap - op;
        switch (mode) {
        case 1: /* tiny pieces */
            in_piece = clamp(in_piece, 1 + (size_t)(rnd() & 3));
            out_room = clamp(out_room, 1 + (size_t)(rnd() & 7));
            break;
        case 2: /* random pieces around the hold size */
            in_piece = clamp(in_piece, 1 + rnd_below(2 * OTA_LZMA2_HOLD + 8));
            out_room = clamp(out_room, 1 + rnd_below(700));
            break;
        case 3: /* larger pieces */
            in_piece = clamp(in_piece, 1 + rnd_below(9000));
            out_room = clamp(out_room, 1 + rnd_below(70000));
            break;
        default:
            break;
        }
        if (out_room == 0) { /* at the cap: only an end marker may still follow */
            size_t ci = n - ip, co = 0;
            st = ota_lzma2_decode(&d, in + ip, &ci, out + op, &co);
            ip += ci;
            if (st == OTA_END)
                res.accepted = 1;
            else if (st == OTA_OK && ci)
                continue;
            else if (st == OTA_OK)
                res.capped = 1;
            break;
        }
        {
            size_t ci = in_piece, co = out_room;
            st = ota_lzma2_decode(&d, in + ip, &ci, out + op, &co);
            if (ci > in_piece || co > out_room) {
                fprintf(stderr, "decoder reported more than it was given\n");
                abort();
            }
            ip += ci;
            op += co;
            if (st == OTA_END) {
                res.accepted = 1;
                break;
            }
            if (st != OTA_OK)
                break;
            if (ci == 0 && co == 0) {
                if (ip == n)
                    break; /* truncated: needs input that does not exist */
                fprintf(stderr, "decoder stalled with input and output room\n");
                abort();
            }
        }
    }
    res.consumed = ip;
    res.produced = op;
    *status = st;
    free(ws);
    return res;
}

#endif
