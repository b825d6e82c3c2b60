/* Decoding speed of ota_lzma2 against liblzma on the same raw LZMA2 streams.
 *
 *   bench_lzma2 [--quick] [FILE...]
 *
 * Without files it generates firmware-like, text-like and zero-heavy
 * inputs; each input is compressed with liblzma (preset 6 and 9e, plus the
 * lc=1/lp=0/pb=0 setting otapack uses for patch streams), then decoded
 * repeatedly by both decoders (4 KiB input pieces, 4 KiB output pieces for
 * ours, as a device pulls them). Reports the best of N runs as MB/s of
 * output and the ratio ours/liblzma time, and the geometric mean ratio. Outputs are compared, so a wrong
 * result fails the bench (exit 1). --quick: one small input, one repeat
 * (used by the test suite to keep this program working; its timings are
 * printed, never checked).
 */
#define _POSIX_C_SOURCE 199309L
#include <lzma.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ota/ota_lzma2.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 42;
static uint32_t rnd32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Repeated code-like blocks with small edits, literal pools and padding. */
static void firmware_like(uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = 64 + rnd32() % 2048, j;
        unsigned what = rnd32() % 4;
        if (run > n - i)
            run = n - i;
        for (j = 0; j < run; j++) {
            if (what == 0 && i + j >= 4096)
                p[i + j] = p[i + j - 4096 + (rnd32() % 64 == 0)];
            else if (what == 1)
                p[i + j] = (uint8_t)((j & 1) ? 0xF0 | (rnd32() & 7) : rnd32());
            else if (what == 2)
                p[i + j] = (j % 4 == 3) ? 0x08 : (uint8_t)(rnd32() & 0x3F);
            else
                p[i + j] = (rnd32() % 8) ? 0xFF : (uint8_t)rnd32();
        }
        i += run;
    }
}

static void text_like(uint8_t *p, size_t n)
{
    static const char *const w[] = {"partition ", "window ", "the ", "restore ", "flash ", "of ", "a ",
                                    "signature ", "delta\n", "erase ", "block ", "LZMA2 "};
    size_t i = 0;
    while (i < n) {
        const char *s = w[rnd32() % 12];
        while (*s && i < n)
            p[i++] = (uint8_t)*s++;
    }
}

static void sparse(uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = rnd32() % 16 ? 0 : (uint8_t)rnd32();
}

static size_t encode(const uint8_t *in, size_t n, uint32_t preset, int lc, int lp, int pb, uint8_t *out, size_t cap)
{
    lzma_options_lzma opt;
    lzma_filter f[2];
    size_t pos = 0;
    lzma_lzma_preset(&opt, preset);
    opt.dict_size = 1u << 20;
    if (lc >= 0) {
        opt.lc = (uint32_t)lc;
        opt.lp = (uint32_t)lp;
        opt.pb = (uint32_t)pb;
    }
    f[0].id = LZMA_FILTER_LZMA2;
    f[0].options = &opt;
    f[1].id = LZMA_VLI_UNKNOWN;
    if (lzma_raw_buffer_encode(f, NULL, in, n, out, &pos, cap) != LZMA_OK) {
        fprintf(stderr, "encode failed\n");
        exit(2);
    }
    return pos;
}

static double time_xz(const uint8_t *s, size_t n, uint8_t *out, size_t cap, size_t *produced)
{
    lzma_options_lzma opt;
    lzma_filter f[2];
    lzma_stream st = LZMA_STREAM_INIT;
    double t0;
    memset(&opt, 0, sizeof opt);
    opt.dict_size = 1u << 20;
    f[0].id = LZMA_FILTER_LZMA2;
    f[0].options = &opt;
    f[1].id = LZMA_VLI_UNKNOWN;
    t0 = now();
    if (lzma_raw_decoder(&st, f) != LZMA_OK)
        exit(2);
    st.next_in = s;
    st.avail_in = n;
    st.next_out = out;
    st.avail_out = cap;
    if (lzma_code(&st, LZMA_FINISH) != LZMA_STREAM_END) {
        fprintf(stderr, "liblzma did not finish\n");
        exit(1);
    }
    *produced = (size_t)st.total_out;
    lzma_end(&st);
    return now() - t0;
}

static double time_ota(const uint8_t *s, size_t n, uint8_t *out, size_t cap, void *ws, size_t ws_size,
                       size_t *produced)
{
    struct ota_lzma2 d;
    size_t ip = 0, op = 0;
    double t0 = now();
    enum ota_status st = ota_lzma2_init(&d, ws, ws_size, 1u << 20, 4);
    while (st == OTA_OK) {
        size_t ci = n - ip < 4096 ? n - ip : 4096, co = cap - op < 4096 ? cap - op : 4096;
        st = ota_lzma2_decode(&d, s + ip, &ci, out + op, &co);
        ip += ci;
        op += co;
        if (st == OTA_OK && ci == 0 && co == 0)
            break;
    }
    if (st != OTA_END) {
        fprintf(stderr, "ota_lzma2 did not finish: %s\n", ota_status_name(st));
        exit(1);
    }
    *produced = op;
    return now() - t0;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick"), a, reps = quick ? 1 : 7;
    size_t ws_size = OTA_LZMA2_WORKSPACE_BYTES(1u << 20, 4);
    void *ws = xmalloc(ws_size);
    double sum_log_ratio = 0;
    int measured = 0;
    struct input {
        const char *name;
        uint8_t *data;
        size_t len;
    } inputs[16];
    int ninputs = 0, i;
    static const struct {
        const char *name;
        uint32_t preset;
        int lc, lp, pb;
    } settings[] = {{"6", 6, -1, 0, 0}, {"9e", 9 | LZMA_PRESET_EXTREME, -1, 0, 0}, {"9e,lc1,pb0", 9 | LZMA_PRESET_EXTREME, 1, 0, 0}};

    for (a = 1 + quick; a < argc && ninputs < 16; a++) {
        FILE *f = fopen(argv[a], "rb");
        long len;
        if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
            fprintf(stderr, "cannot read %s\n", argv[a]);
            return 2;
        }
        inputs[ninputs].data = xmalloc((size_t)len);
        inputs[ninputs].len = fread(inputs[ninputs].data, 1, (size_t)len, f);
        inputs[ninputs++].name = argv[a];
        fclose(f);
    }
    if (!ninputs) {
        size_t n = quick ? 64u << 10 : 4u << 20;
        inputs[0].name = "firmware-like";
        inputs[0].data = xmalloc(n);
        inputs[0].len = n;
        firmware_like(inputs[0].data, n);
        ninputs = 1;
        if (!quick) {
            inputs[1].name = "text-like";
            inputs[1].data = xmalloc(n);
            inputs[1].len = n;
            text_like(inputs[1].data, n);
            inputs[2].name = "sparse";
            inputs[2].data = xmalloc(n);
            inputs[2].len = n;
            sparse(inputs[2].data, n);
            ninputs = 3;
        }
    }
    printf("%-22s %-10s %10s %10s %12s %12s %8s\n", "input", "preset", "bytes", "packed", "liblzma MB/s",
           "ota MB/s", "ota/xz");
    for (i = 0; i < ninputs; i++) {
        size_t k;
        for (k = 0; k < (quick ? 1u : sizeof settings / sizeof *settings); k++) {
            size_t n = inputs[i].len, cap = n + 1024, packed, p1, p2;
            uint8_t *s = xmalloc(n + n / 8 + 1024), *o1 = xmalloc(cap), *o2 = xmalloc(cap);
            double best_xz = 1e9, best_ota = 1e9;
            int r;
            packed = encode(inputs[i].data, n, settings[k].preset, settings[k].lc, settings[k].lp, settings[k].pb, s,
                            n + n / 8 + 1024);
            /* alternate so neither gets a warmer cache; small inputs repeat
             * until each decoder has run about 0.3 s, so the best-of is stable */
            double spent = 0;
            for (r = 0; r < reps || (!quick && spent < 0.6 && r < 400); r++) {
                double t = time_xz(s, packed, o1, cap, &p1);
                spent += t;
                if (t < best_xz)
                    best_xz = t;
                t = time_ota(s, packed, o2, cap, ws, ws_size, &p2);
                spent += t;
                if (t < best_ota)
                    best_ota = t;
            }
            if (p1 != n || p2 != n || memcmp(o1, inputs[i].data, n) || memcmp(o2, inputs[i].data, n)) {
                fprintf(stderr, "%s: decoded output differs\n", inputs[i].name);
                return 1;
            }
            printf("%-22s %-10s %10zu %10zu %12.1f %12.1f %8.2f\n", inputs[i].name, settings[k].name, n, packed,
                   (double)n / best_xz / 1e6, (double)n / best_ota / 1e6, best_ota / best_xz);
            sum_log_ratio += log(best_ota / best_xz);
            measured++;
            free(s);
            free(o1);
            free(o2);
        }
    }
    printf("geometric mean ota/liblzma time ratio: %.2f over %d streams\n", exp(sum_log_ratio / measured), measured);
    free(ws);
    return 0;
}
