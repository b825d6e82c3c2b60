/* Differential test: device/src/ota_lzma2.c against liblzma.
 *
 * For a deterministic matrix of generated inputs (kinds x sizes x dictionary
 * sizes x lc/lp/pb x presets 0..9 and extreme), encode raw LZMA2 with
 * liblzma, then decode the stream and many corrupted variants of it with
 * both decoders. They must agree on accept/reject; when they accept, on the
 * output bytes and on the input consumed. Our decoder is fed in random
 * pieces with random output room, liblzma in random pieces too.
 *
 *   test_lzma2_oracle [--cases N] [--first K] [--mutations M] [--seed S] [--long] [--quiet]
 *
 * Cases are numbered; --first K --cases N runs cases K .. K+N-1 (the fixed
 * edge cases run with K = 0), so a matrix splits over processes.
 *
 * Prints one summary line "oracle: ..." and exits 0 when every case agrees,
 * 1 on the first disagreement (with the case and the variant written to
 * oracle-fail-*.bin for replay by `--replay FILE DICT`).
 */
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lzma2_compare.h"

/* ------------------------------------------------------------- inputs */

enum { K_ALPHABET, K_TEXT, K_FIRMWARE, K_ZEROS, K_INCOMPRESSIBLE, K_MIXED, K_FAR, K_COUNT };
static const char *const kind_names[K_COUNT] = {"alphabet", "text",  "firmware", "zeros",
                                                "incompressible", "mixed", "far-repeats"};

static void gen_kind(int kind, uint8_t *p, size_t n)
{
    size_t i = 0;
    switch (kind) {
    case K_ALPHABET: { /* random over a small alphabet: literals with short matches */
        unsigned a = 2 + (unsigned)rnd_below(30);
        for (; i < n; i++)
            p[i] = (uint8_t)('a' + rnd_below(a));
        break;
    }
    case K_TEXT: {
        static const char *const words[] = {"the ", "flash ", "partition ", "restore ", "delta ", "window ",
                                            "of ", "and ", "package ", "LZMA2 ", "erase ", "block ",
                                            "signature ", "\n", "0x1f3a, ", "device "};
        while (i < n) {
            const char *w = words[rnd_below(sizeof words / sizeof *words)];
            while (*w && i < n)
                p[i++] = (uint8_t)*w++;
        }
        break;
    }
    case K_FIRMWARE: { /* Thumb-ish code, pointer tables, strings, padding, repeats */
        while (i < n) {
            size_t run = 16 + rnd_below(512), j;
            unsigned what = (unsigned)rnd_below(6);
            if (run > n - i)
                run = n - i;
            for (j = 0; j < run; j++) {
                uint8_t b;
                switch (what) {
                case 0: b = (uint8_t)((j & 1) ? 0xF0 | rnd_below(16) : rnd()); break; /* BL-like pairs */
                case 1: b = (uint8_t)(((i + j) & 3) == 0 ? (0x08 + (j >> 4)) : ((i + j) & 3) == 3 ? 0x08 : rnd_below(4)); break;
                case 2: b = 0xFF; break;
                case 3: b = (uint8_t)("abcdefghijklmnopqrstuvwxyz_ %d\n"[rnd_below(31)]); break;
                case 4: b = i + j >= 64 ? p[i + j - 64 + rnd_below(2)] : 0; break; /* near repeat */
                default: b = (uint8_t)rnd(); break;
                }
                p[i + j] = b;
            }
            i += run;
        }
        break;
    }
    case K_ZEROS:
        memset(p, 0, n);
        break;
    case K_INCOMPRESSIBLE:
        for (; i < n; i++)
            p[i] = (uint8_t)rnd();
        break;
    case K_MIXED:
        while (i < n) {
            size_t run = 1 + rnd_below(n / 4 + 64);
            if (run > n - i)
                run = n - i;
            gen_kind((int)rnd_below(K_MIXED), p + i, run);
            i += run;
        }
        break;
    default: { /* K_FAR: blocks copied from far back (large distances) */
        size_t block = 256 + rnd_below(4096);
        gen_kind(K_INCOMPRESSIBLE, p, n < block ? n : block);
        for (i = block; i < n; i += block) {
            size_t len = block < n - i ? block : n - i, src = rnd_below(i - len + 1);
            memcpy(p + i, p + src, len);
            if (len > 8)
                p[i + rnd_below(len)] ^= (uint8_t)(1u << rnd_below(8));
        }
        break;
    }
    }
}

/* ------------------------------------------------------------- liblzma */

static const uint8_t *preset_dict;
static size_t preset_dict_len;

static int encode(const uint8_t *in, size_t n, uint32_t dict, int lc, int lp, int pb, unsigned preset,
                  uint8_t **out, size_t *out_len)
{
    lzma_options_lzma opt;
    lzma_filter filters[2];
    size_t cap = n + n / 16 + 1024, pos = 0;
    lzma_ret r;
    if (lzma_lzma_preset(&opt, preset))
        return -1;
    opt.dict_size = dict;
    opt.lc = (uint32_t)lc;
    opt.lp = (uint32_t)lp;
    opt.pb = (uint32_t)pb;
    opt.preset_dict = preset_dict;
    opt.preset_dict_size = (uint32_t)preset_dict_len;
    filters[0].id = LZMA_FILTER_LZMA2;
    filters[0].options = &opt;
    filters[1].id = LZMA_VLI_UNKNOWN;
    filters[1].options = NULL;
    *out = xmalloc(cap);
    r = lzma_raw_buffer_encode(filters, NULL, in, n, *out, &pos, cap);
    if (r != LZMA_OK) {
        fprintf(stderr, "liblzma encode failed: %d\n", (int)r);
        return -1;
    }
    *out_len = pos;
    return 0;
}

/* ------------------------------------------------------------- matrix */

struct stats {
    unsigned long valid, corrupt, both_accept, both_reject, capped, bytes_in, bytes_out, lclp_refused;
};

static const char *current_case = "";

static void dump(const char *what, const uint8_t *p, size_t n)
{
    char name[64];
    FILE *f;
    snprintf(name, sizeof name, "oracle-fail-%s.bin", what);
    f = fopen(name, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* Decode `s` with both; returns 0 on agreement. */
static int compare(const uint8_t *s, size_t n, uint32_t dict, size_t cap, uint8_t *o1, uint8_t *o2,
                   struct stats *st, const char *variant, const uint8_t *expect, size_t expect_len)
{
    struct result a, b;
    enum ota_status status;
    int mode = (int)rnd_below(4);
    if (mode == 1 && n > 20000)
        mode = 2;
    a = xz_decode(s, n, dict, o1, cap, rnd_below(3) == 0 ? (int)(1 + rnd_below(300)) : 0);
    b = ota_decode(s, n, dict, o2, cap, mode, &status);
    if (a.accepted != b.accepted || a.capped != b.capped ||
        ((a.accepted || a.capped) && (a.produced != b.produced || memcmp(o1, o2, a.produced) != 0)) ||
        (a.accepted && a.consumed != b.consumed)) {
        fprintf(stderr,
                "DISAGREE %s [%s] dict=%u len=%zu mode=%d: liblzma accepted=%d capped=%d in=%zu out=%zu; "
                "ota accepted=%d capped=%d in=%zu out=%zu status=%s\n",
                current_case, variant, dict, n, mode, a.accepted, a.capped, a.consumed, a.produced, b.accepted,
                b.capped, b.consumed, b.produced, ota_status_name(status));
        dump("stream", s, n);
        return 1;
    }
    if (expect && (!a.accepted || a.produced != expect_len || memcmp(o1, expect, expect_len) != 0 ||
                   a.consumed != n)) {
        fprintf(stderr, "VALID STREAM NOT DECODED %s dict=%u\n", current_case, dict);
        dump("stream", s, n);
        return 1;
    }
    if (a.capped)
        st->capped++;
    else if (a.accepted)
        st->both_accept++;
    else
        st->both_reject++;
    if (status == OTA_ERR_LZMA_LCLP)
        st->lclp_refused++;
    return 0;
}

/* Offsets of chunk headers in a valid stream. */
static size_t chunks(const uint8_t *s, size_t n, size_t *at, size_t max)
{
    size_t i = 0, k = 0;
    while (i < n && k < max) {
        uint8_t c = s[i];
        at[k++] = i;
        if (c == 0)
            break;
        if (c >= 0x80) {
            size_t packed = ((size_t)s[i + 3] << 8 | s[i + 4]) + 1;
            i += (c >= 0xC0 ? 6 : 5) + packed;
        } else {
            i += 3 + (((size_t)s[i + 1] << 8 | s[i + 2]) + 1);
        }
    }
    return k;
}

static void mutate(const uint8_t *s, size_t n, uint8_t *m, size_t *mn, char *what, size_t what_len)
{
    size_t at[4096], nc = chunks(s, n, at, 4096), i, k;
    unsigned kind = (unsigned)rnd_below(12);
    memcpy(m, s, n);
    *mn = n;
    switch (kind) {
    case 0: /* bit flips */
    case 1:
        k = 1 + rnd_below(3);
        for (i = 0; i < k; i++)
            m[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
        snprintf(what, what_len, "flip%zu", k);
        break;
    case 2:
        i = rnd_below(n);
        m[i] = (uint8_t)rnd();
        snprintf(what, what_len, "byte@%zu", i);
        break;
    case 3:
        *mn = rnd_below(n);
        snprintf(what, what_len, "truncate@%zu", *mn);
        break;
    case 4: /* trailing garbage: must be left unconsumed */
        k = 1 + rnd_below(64);
        for (i = 0; i < k; i++)
            m[n + i] = (uint8_t)rnd();
        *mn = n + k;
        snprintf(what, what_len, "append%zu", k);
        break;
    case 5: /* garbage range */
        i = rnd_below(n);
        k = 1 + rnd_below(n - i < 32 ? n - i : 32);
        while (k--)
            m[i + k] = (uint8_t)rnd();
        snprintf(what, what_len, "garbage@%zu", i);
        break;
    case 6:
    case 7: { /* a dictionary reset inserted before a later chunk: symbols decode
               * as before, so only matches reaching back across it (and the
               * reset position and previous byte) decide */
        size_t j, c, props_at = 0;
        for (j = 0; j < nc; j++)
            if (s[at[j]] >= 0xC0) {
                props_at = at[j] + 5;
                break;
            }
        if (nc < 3 || !props_at) {
            m[rnd_below(n)] ^= 1;
            snprintf(what, what_len, "flip1");
            break;
        }
        j = 1 + rnd_below(nc - 2);
        c = at[j];
        if (s[c] >= 0xC0) {
            m[c] = (uint8_t)(0xE0 | (s[c] & 0x1F));
        } else if (s[c] >= 0x80) { /* needs a props byte: insert the stream's */
            m[c] = (uint8_t)(0xE0 | (s[c] & 0x1F));
            memmove(m + c + 6, s + c + 5, n - c - 5);
            m[c + 5] = s[props_at];
            *mn = n + 1;
        } else {
            m[c] = 0x01;
        }
        snprintf(what, what_len, "dict-reset-chunk%zu(%02x)", j, s[c]);
        break;
    }
    default: { /* chunk header edits */
        size_t c = at[rnd_below(nc)];
        unsigned field = (unsigned)rnd_below(7);
        if (m[c] == 0 || field == 0) {
            static const uint8_t ctl[] = {0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xDF, 0xE0, 0xFF};
            m[c] = rnd_below(2) ? ctl[rnd_below(sizeof ctl)] : (uint8_t)(m[c] ^ (0x20u << rnd_below(3)));
            snprintf(what, what_len, "control@%zu=%02x", c, m[c]);
        } else if (field == 1 && c + 2 < n) { /* size field +-1 or random */
            size_t f = c + 1 + rnd_below(m[c] >= 0x80 ? 4 : 2);
            m[f] = (uint8_t)(rnd_below(2) ? (uint64_t)m[f] + (rnd_below(2) ? 1u : 0xFFu) : rnd());
            snprintf(what, what_len, "size@%zu", f);
        } else if (field == 2 && m[c] >= 0xC0 && c + 5 < n) {
            static const uint8_t props[] = {0, 4, 8, 9, 0x2D, 0x5D, 0xE0, 0xE1, 0xFF, 0x24, 0x5E, 0x12, 0x51};
            m[c + 5] = rnd_below(2) ? props[rnd_below(sizeof props)] : (uint8_t)rnd();
            snprintf(what, what_len, "props@%zu=%02x", c + 5, m[c + 5]);
        } else if (field == 3 && m[c] >= 0x80) { /* first range coder byte */
            size_t f = c + (m[c] >= 0xC0 ? 6 : 5);
            if (f < n)
                m[f] = (uint8_t)(1 + rnd_below(255));
            snprintf(what, what_len, "rcinit@%zu", f);
        } else if (field == 4 && nc > 2) { /* drop a chunk */
            size_t j = rnd_below(nc - 1), a = at[j], b = at[j + 1];
            memmove(m + a, m + b, n - b);
            *mn = n - (b - a);
            snprintf(what, what_len, "drop-chunk%zu", j);
        } else if (field == 5 && nc > 1) { /* duplicate a chunk */
            size_t j = rnd_below(nc - 1), a = at[j], b = at[j + 1];
            memmove(m + b + (b - a), m + b, n - b);
            memcpy(m + b, s + a, b - a);
            *mn = n + (b - a);
            snprintf(what, what_len, "dup-chunk%zu", j);
        } else { /* the end marker moved or removed */
            size_t e = at[nc - 1];
            *mn = e + (rnd_below(2) ? 0 : 1);
            if (*mn == e + 1)
                m[e] = (uint8_t)rnd();
            snprintf(what, what_len, "end-marker");
        }
        break;
    }
    }
}

/* Streams whose outcome hangs on one rule, each decoded with dictionary
 * sizes on both sides of the boundary. */
static int edge_cases(struct stats *st)
{
    static uint8_t data[20000];
    uint8_t *stream, *o1 = xmalloc(1 << 20), *o2 = xmalloc(1 << 20);
    size_t n, len, k;
    int bad = 0;
    /* one repeat at distance exactly 4100: liblzma rounds 4097 up to 4112
     * and accepts, rounds 4084 to 4096 and rejects; so must we */
    static const uint32_t around[] = {4084, 4096, 4097, 4099, 4100, 4101, 4112, 8192};
    current_case = "edge: repeat at distance 4100";
    gen_kind(K_INCOMPRESSIBLE, data, 4100);
    memcpy(data + 4100, data, 300);
    n = 4400;
    if (encode(data, n, 1 << 16, 0, 0, 0, 6, &stream, &len))
        return 1;
    for (k = 0; k < sizeof around / sizeof *around && !bad; k++)
        bad |= compare(stream, len, around[k], 1 << 20, o1, o2, st, "dict-rounding", NULL, 0);
    free(stream);
    /* distances reaching past a dictionary that wrapped */
    current_case = "edge: far repeats over wrapped dictionaries";
    gen_kind(K_FAR, data, sizeof data);
    if (encode(data, sizeof data, 1 << 16, 1, 0, 0, 9, &stream, &len))
        return 1;
    for (k = 0; k < sizeof around / sizeof *around && !bad; k++)
        bad |= compare(stream, len, around[k] + (uint32_t)(k * 1500), 1 << 20, o1, o2, st, "wrap", NULL, 0);
    free(stream);
    /* matches into a preset dictionary the decoder does not have: encoded
     * with liblzma's preset_dict, first chunk turned into a dictionary reset
     * so decoding starts; every match reaching before the stream start must
     * be refused (distance >= bytes decoded), at every dictionary size */
    current_case = "edge: matches before the stream start";
    gen_kind(K_INCOMPRESSIBLE, data, 3000);
    for (k = 0; k < 8; k++) {
        size_t off = 3000 + k * 600;
        gen_kind(K_INCOMPRESSIBLE, data + off, 300);
        memcpy(data + off + 300, data + rnd_below(2700), 300);
    }
    preset_dict = data;
    preset_dict_len = 3000;
    bad |= encode(data + 3000, 8 * 600, 1 << 16, 3, 0, 2, 6, &stream, &len);
    preset_dict = NULL;
    preset_dict_len = 0;
    if (bad || stream[0] < 0xC0)
        return 1;
    stream[0] |= 0x20;
    for (k = 0; k < sizeof around / sizeof *around && !bad; k++)
        bad |= compare(stream, len, around[k] * 4, 1 << 20, o1, o2, st, "before-start", NULL, 0);
    free(stream);
    /* The same after a full dictionary: stream A fills a 16 KiB dictionary
     * exactly, then a reset, then stream B encoded with A as its preset
     * dictionary. A decoder that checked distances against the dictionary
     * size instead of the bytes since the reset would find A's bytes still
     * in place and accept; liblzma refuses. lc=lp=pb=0 so position and
     * previous byte do not matter. */
    current_case = "edge: matches across a mid-stream dictionary reset";
    {
        uint8_t *sa, *joined;
        size_t la, lb;
        gen_kind(K_ALPHABET, data, 16384);
        for (k = 0; k < 8; k++)
            memcpy(data + 16384 + k * 400, data + rnd_below(16000), 400);
        if (encode(data, 16384, 16384, 0, 0, 0, 6, &sa, &la))
            return 1;
        preset_dict = data;
        preset_dict_len = 16384;
        bad |= encode(data + 16384, 3200, 16384, 0, 0, 0, 6, &stream, &lb);
        preset_dict = NULL;
        preset_dict_len = 0;
        if (bad || stream[0] < 0xC0)
            return 1;
        stream[0] |= 0x20;
        joined = xmalloc(la + lb);
        memcpy(joined, sa, la - 1);
        memcpy(joined + la - 1, stream, lb);
        bad |= compare(joined, la - 1 + lb, 16384, 1 << 20, o1, o2, st, "across-reset", NULL, 0);
        free(sa);
        free(joined);
        free(stream);
    }
    /* hand-made chunk sequences: empty stream, uncompressed only, a 0x02 or
     * 0x80 first, props with lc+lp = 5, 0x01 then 0xA0 (props required) */
    {
        static const struct { const char *name; size_t len; uint8_t b[16]; } hand[] = {
            {"empty", 1, {0x00}},
            {"stored", 6, {0x01, 0x00, 0x01, 'h', 'i', 0x00}},
            {"stored-twice", 9, {0x01, 0x00, 0x00, 'a', 0x02, 0x00, 0x00, 'b', 0x00}},
            {"stored-no-reset", 5, {0x02, 0x00, 0x00, 'a', 0x00}},
            {"lzma-no-reset", 11, {0x80, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
            {"stored-then-lzma-no-props", 15, {0x01, 0x00, 0x00, 'a', 0xA0, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
            {"control-03", 1, {0x03}},
            {"props-lclp5", 12, {0xE0, 0x00, 0x00, 0x00, 0x05, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
            {"props-225", 12, {0xE0, 0x00, 0x00, 0x00, 0x05, 225, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
            {"packed-too-short", 10, {0xE0, 0x00, 0x00, 0x00, 0x02, 0x5D, 0x00, 0x00, 0x00, 0x00}},
        };
        for (k = 0; k < sizeof hand / sizeof *hand && !bad; k++) {
            current_case = hand[k].name;
            bad |= compare(hand[k].b, hand[k].len, 4096, 1 << 20, o1, o2, st, "hand-made", NULL, 0);
        }
    }
    free(o1);
    free(o2);
    return bad;
}

static const uint32_t dicts[] = {4096,    4097,        6144,   8192,      12288,   65536,  98304,
                                 100000,  1u << 20,    3u << 20, 8u << 20, 196608, 24576};
static const int lclppb[][3] = {{3, 0, 2}, {0, 0, 0}, {1, 0, 0}, {0, 2, 2}, {4, 0, 4},
                                {2, 2, 2}, {1, 3, 1}, {0, 4, 0}, {3, 1, 0}, {2, 1, 3}};

int main(int argc, char **argv)
{
    unsigned long cases = 360, mutations = 14, seed = 1, first = 0, i;
    int quiet = 0, longrun = 0, a;
    struct stats st;
    memset(&st, 0, sizeof st);
    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--cases") && a + 1 < argc)
            cases = strtoul(argv[++a], NULL, 0);
        else if (!strcmp(argv[a], "--mutations") && a + 1 < argc)
            mutations = strtoul(argv[++a], NULL, 0);
        else if (!strcmp(argv[a], "--first") && a + 1 < argc)
            first = strtoul(argv[++a], NULL, 0);
        else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
            seed = strtoul(argv[++a], NULL, 0);
        else if (!strcmp(argv[a], "--long"))
            longrun = 1;
        else if (!strcmp(argv[a], "--quiet"))
            quiet = 1;
        else if (!strcmp(argv[a], "--replay") && a + 2 < argc) {
            FILE *f = fopen(argv[a + 1], "rb");
            uint32_t dict = (uint32_t)strtoul(argv[a + 2], NULL, 0);
            static uint8_t buf[1 << 24];
            size_t n = f ? fread(buf, 1, sizeof buf, f) : 0, cap = 64u << 20;
            uint8_t *o1 = xmalloc(cap), *o2 = xmalloc(cap);
            int m, bad = 0;
            if (f)
                fclose(f);
            for (m = 0; m < 20; m++)
                bad |= compare(buf, n, dict, cap, o1, o2, &st, "replay", NULL, 0);
            printf("replay: %s\n", bad ? "DISAGREE" : "agree");
            return bad;
        } else {
            fprintf(stderr, "usage: %s [--cases N] [--first K] [--mutations M] [--seed S] [--long] [--quiet]\n", argv[0]);
            return 2;
        }
    }
    if (longrun) {
        cases *= 10;
        mutations *= 3;
    }
    rng_state = seed;
    if (first == 0 && edge_cases(&st))
        return 1;
    /* each case draws from its own seed, so --first/--cases can split the
     * matrix over processes and any case replays alone */
    for (i = first; i < first + cases; i++) {
        int kind = (int)(i % K_COUNT);
        uint32_t dict = dicts[(i / 3) % (sizeof dicts / sizeof *dicts)];
        const int *t = lclppb[(i / 2 + i / 7) % (sizeof lclppb / sizeof *lclppb)];
        unsigned preset = (unsigned)((i / 5 + i) % 11), enc_preset;
        size_t n, stream_len, cap;
        uint8_t *data, *stream = NULL, *m, *o1, *o2;
        char name[160];
        unsigned long j;
        rng_state = seed * 0x100000001B3ull + i;
        /* sizes: mostly small, some across chunk limits (64 KiB packed,
         * 2 MiB unpacked); slow presets stay smaller to keep the run short */
        unsigned r = (unsigned)rnd_below(100);
        if (r < 8)
            n = rnd_below(64);
        else if (r < 70)
            n = 64 + rnd_below(24 * 1024);
        else if (r < 93)
            n = 24 * 1024 + rnd_below(200 * 1024);
        else
            n = (longrun ? 1u << 20 : 256u << 10) + rnd_below(longrun ? 3u << 20 : 768u << 10);
        if (kind == K_ZEROS && r >= 93)
            n = (2u << 20) + 4096 + rnd_below(4u << 20); /* several 2 MiB LZMA chunks */
        if (preset >= 6 && n > (512u << 10) && kind != K_ZEROS && !longrun)
            preset = (unsigned)rnd_below(4);
        enc_preset = preset == 10 ? (9u | LZMA_PRESET_EXTREME) : preset;
        data = xmalloc(n);
        gen_kind(kind, data, n);
        if (encode(data, n, dict, t[0], t[1], t[2], enc_preset, &stream, &stream_len)) {
            fprintf(stderr, "encode failed for case %lu\n", i);
            return 2;
        }
        snprintf(name, sizeof name, "case %lu: %s n=%zu dict=%u lc=%d lp=%d pb=%d preset=%u%s", i,
                 kind_names[kind], n, dict, t[0], t[1], t[2], preset > 9 ? 9 : preset,
                 preset > 9 ? "e" : "");
        current_case = name;
        cap = n + (8u << 20);
        o1 = xmalloc(cap);
        o2 = xmalloc(cap);
        m = xmalloc(2 * stream_len + 128);
        if (compare(stream, stream_len, dict, cap, o1, o2, &st, "valid", data, n))
            return 1;
        /* a larger declared dictionary must change nothing */
        if (compare(stream, stream_len, dict * 2 + 16, cap, o1, o2, &st, "valid-bigger-dict", data, n))
            return 1;
        /* two streams joined: a dictionary reset mid-stream, where position
         * (pos_state, literal position) and previous byte restart from 0 */
        if (n < (1u << 20)) {
            size_t n2 = 1 + rnd_below(5000), len2, joined_len;
            uint8_t *second, *joined, *both = xmalloc(n + n2);
            memcpy(both, data, n);
            gen_kind((int)rnd_below(K_COUNT), both + n, n2);
            if (encode(both + n, n2, dict, t[0], t[1], t[2], enc_preset, &second, &len2))
                return 2;
            joined = xmalloc(stream_len + len2);
            memcpy(joined, stream, stream_len - 1);
            memcpy(joined + stream_len - 1, second, len2);
            joined_len = stream_len - 1 + len2;
            if (compare(joined, joined_len, dict, cap, o1, o2, &st, "joined", both, n + n2))
                return 1;
            free(second);
            free(joined);
            free(both);
        }
        st.valid++;
        st.bytes_in += stream_len;
        st.bytes_out += n;
        for (j = 0; j < mutations; j++) {
            char what[64];
            size_t mn;
            uint32_t ddict = dict;
            mutate(stream, stream_len, m, &mn, what, sizeof what);
            if (j == 0 && n > 4096) { /* decoding with a smaller dictionary than encoded */
                memcpy(m, stream, stream_len);
                mn = stream_len;
                ddict = 4096 + (uint32_t)rnd_below(dict > 4096 ? dict - 4096 : 1);
                snprintf(what, sizeof what, "small-dict=%u", ddict);
            }
            if (compare(m, mn, ddict, cap, o1, o2, &st, what, NULL, 0))
                return 1;
            st.corrupt++;
        }
        if (!quiet && (i % 50 == 0))
            fprintf(stderr, "%s (%zu bytes stream)\n", name, stream_len);
        free(data);
        free(stream);
        free(m);
        free(o1);
        free(o2);
    }
    printf("oracle: valid=%lu corrupt=%lu both_accept=%lu both_reject=%lu capped=%lu lclp_refused=%lu "
           "in_bytes=%lu out_bytes=%lu disagreements=0\n",
           st.valid, st.corrupt, st.both_accept, st.both_reject, st.capped, st.lclp_refused, st.bytes_in,
           st.bytes_out);
    return 0;
}
