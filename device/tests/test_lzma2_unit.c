/* API contract of ota_lzma2 and the ota_decoder adapter: argument and
 * workspace checks, the lc+lp and dictionary refusals, sticky errors, reuse
 * after reset, bytes after the end marker, and writes that stay inside the
 * caller's buffers (guard bytes around every buffer). Streams are written by
 * hand here; test_lzma2_oracle.c covers real ones. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ota/ota_decoder.h"
#include "ota/ota_lzma2.h"

/* A stored (uncompressed) chunk stream: 0x01, size-1 (BE16), data, 0x00. */
static size_t stored_stream(uint8_t *out, const uint8_t *data, size_t n)
{
    out[0] = 0x01;
    out[1] = (uint8_t)((n - 1) >> 8);
    out[2] = (uint8_t)(n - 1);
    memcpy(out + 3, data, n);
    out[3 + n] = 0x00;
    return n + 4;
}

/* An LZMA chunk header with the given props byte and an all-zero body. */
static size_t lzma_header_stream(uint8_t *out, uint8_t props)
{
    static const uint8_t h[] = {0xE0, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    memcpy(out, h, sizeof h);
    out[5] = props;
    return sizeof h;
}

static void test_init(void)
{
    static uint16_t ws[OTA_LZMA2_WORKSPACE_BYTES(4096, 4) / 2 + 8];
    struct ota_lzma2 d;
    size_t full = OTA_LZMA2_WORKSPACE_BYTES(4096, 4);
    CHECK(OTA_LZMA2_PROBS_BYTES(4) == 28268u); /* the note's figure for lc+lp = 4 */
    CHECK(OTA_LZMA2_PROBS_BYTES(1) == 6764u);
    CHECK(OTA_LZMA2_PROBS_BYTES(3) == 15980u);
    CHECK(OTA_LZMA2_DICT_BYTES(1) == 4096u && OTA_LZMA2_DICT_BYTES(4097) == 4112u &&
          OTA_LZMA2_DICT_BYTES(65536) == 65536u && OTA_LZMA2_DICT_BYTES(100000) == 100000u);
    CHECK_EQ_STATUS(ota_lzma2_init(NULL, ws, full, 4096, 4), OTA_ERR_ARGUMENT);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, NULL, full, 4096, 4), OTA_ERR_ARGUMENT);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, full, 4096, 5), OTA_ERR_ARGUMENT);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, (uint8_t *)ws + 1, full, 4096, 4), OTA_ERR_WORKSPACE);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, OTA_LZMA2_PROBS_BYTES(4) - 2, 4096, 4), OTA_ERR_WORKSPACE);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, full - 1, 4096, 4), OTA_ERR_LZMA_DICT);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, full, 8192, 4), OTA_ERR_LZMA_DICT);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, full, OTA_LZMA2_DICT_MAX + 1u, 4), OTA_ERR_LZMA_DICT);
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, full, 4096, 4), OTA_OK);
    /* a smaller model leaves room for a larger dictionary in the same bytes */
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, full, 4096 + OTA_LZMA2_PROBS_BYTES(4) - OTA_LZMA2_PROBS_BYTES(0), 0),
                    OTA_OK);
}

/* Decode in pieces of `in_piece`/`out_piece` with guard bytes checked. */
static enum ota_status decode_all(struct ota_lzma2 *d, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                                  size_t in_piece, size_t out_piece, size_t *consumed, size_t *produced)
{
    size_t ip = 0, op = 0;
    enum ota_status st = OTA_OK;
    while (st == OTA_OK) {
        size_t ci = n - ip < in_piece ? n - ip : in_piece, co = cap - op < out_piece ? cap - op : out_piece;
        const size_t room = co;
        uint8_t *guard = malloc(room + 2);
        guard[0] = guard[room + 1] = 0xA5;
        st = ota_lzma2_decode(d, in + ip, &ci, guard + 1, &co);
        CHECK(guard[0] == 0xA5 && guard[room + 1] == 0xA5 && co <= room);
        memcpy(out + op, guard + 1, co);
        free(guard);
        ip += ci;
        op += co;
        if (st == OTA_OK && ci == 0 && co == 0)
            break;
    }
    *consumed = ip;
    *produced = op;
    return st;
}

static void test_stored_and_end(void)
{
    static uint16_t ws[OTA_LZMA2_WORKSPACE_BYTES(4096, 0) / 2];
    struct ota_lzma2 d;
    uint8_t data[300], stream[400], out[400];
    size_t n, i, ci, co, consumed, produced;
    for (i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    n = stored_stream(stream, data, sizeof data);
    stream[n] = 0x42; /* trailing byte: must not be consumed */
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, sizeof ws, 4096, 0), OTA_OK);
    CHECK_EQ_STATUS(decode_all(&d, stream, n + 1, out, sizeof out, 7, 5, &consumed, &produced), OTA_END);
    CHECK(consumed == n && produced == sizeof data && !memcmp(out, data, sizeof data));
    /* after the end: nothing more, OTA_END again */
    ci = 1;
    co = sizeof out;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, stream + n, &ci, out, &co), OTA_END);
    CHECK(ci == 0 && co == 0);
    /* reset: the same decoder decodes the stream again */
    ota_lzma2_reset(&d);
    CHECK_EQ_STATUS(decode_all(&d, stream, n, out, sizeof out, 1, 1, &consumed, &produced), OTA_END);
    CHECK(consumed == n && produced == sizeof data && !memcmp(out, data, sizeof data));
    /* NULL input with zero size, NULL output with zero room: no progress, no crash */
    ota_lzma2_reset(&d);
    ci = 0;
    co = 0;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, NULL, &ci, NULL, &co), OTA_OK);
    CHECK(ci == 0 && co == 0);
    /* the empty stream */
    ota_lzma2_reset(&d);
    ci = 1;
    co = 0;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, (const uint8_t *)"\0", &ci, NULL, &co), OTA_END);
    CHECK(ci == 1);
    /* truncated: OTA_OK with everything consumed, no output beyond the data */
    ota_lzma2_reset(&d);
    CHECK_EQ_STATUS(decode_all(&d, stream, n - 1, out, sizeof out, 64, 64, &consumed, &produced), OTA_OK);
    CHECK(consumed == n - 1 && produced == sizeof data);
}

static void test_refusals(void)
{
    static uint16_t ws[OTA_LZMA2_WORKSPACE_BYTES(4096, 4) / 2];
    struct ota_lzma2 d;
    uint8_t s[32], out[64];
    size_t n, ci, co;
    /* lc=3 lp=0 pb=2 (0x5D) needs lc+lp=3: refused by a workspace for 1 */
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, OTA_LZMA2_WORKSPACE_BYTES(4096, 1), 4096, 1), OTA_OK);
    n = lzma_header_stream(s, 0x5D);
    ci = n;
    co = sizeof out;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, s, &ci, out, &co), OTA_ERR_LZMA_LCLP);
    /* sticky: later calls return the same error and consume nothing */
    ci = n;
    co = sizeof out;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, s, &ci, out, &co), OTA_ERR_LZMA_LCLP);
    CHECK(ci == 0 && co == 0);
    /* lc=1 lp=0 pb=0 (props 1) fits */
    ota_lzma2_reset(&d);
    n = lzma_header_stream(s, 0x01);
    ci = 6;
    co = sizeof out;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, s, &ci, out, &co), OTA_OK);
    /* lc+lp = 5 is corrupt, whatever the workspace */
    CHECK_EQ_STATUS(ota_lzma2_init(&d, ws, sizeof ws, 4096, 4), OTA_OK);
    n = lzma_header_stream(s, 9 * 1 + 4); /* lc=4, lp=1 */
    ci = n;
    co = sizeof out;
    CHECK_EQ_STATUS(ota_lzma2_decode(&d, s, &ci, out, &co), OTA_ERR_LZMA_DATA);
    /* control bytes 0x03..0x7F are invalid; 0x02 and 0x80 need a prior reset */
    {
        static const uint8_t bad[] = {0x03, 0x7F, 0x02, 0x80, 0xA0, 0xC0};
        size_t k;
        for (k = 0; k < sizeof bad; k++) {
            uint8_t b[8] = {0};
            b[0] = bad[k];
            ota_lzma2_reset(&d);
            ci = sizeof b;
            co = sizeof out;
            CHECK_EQ_STATUS(ota_lzma2_decode(&d, b, &ci, out, &co), OTA_ERR_LZMA_DATA);
        }
    }
}

static void test_adapter(void)
{
    const struct ota_decoder *dec = &ota_lzma2_decoder;
    struct ota_lzma2_options one = {1};
    uint8_t data[100], stream[200], out[128];
    size_t need, n, ci, co;
    void *ws;
    memset(data, 'x', sizeof data);
    n = stored_stream(stream, data, sizeof data);
    need = dec->workspace_size(dec->ctx, 65536);
    CHECK(need >= OTA_LZMA2_WORKSPACE_BYTES(65536, 4) && need < OTA_LZMA2_WORKSPACE_BYTES(65536, 4) + 512);
    CHECK(dec->workspace_size(&one, 65536) + OTA_LZMA2_PROBS_BYTES(4) - OTA_LZMA2_PROBS_BYTES(1) == need);
    CHECK(dec->workspace_size(dec->ctx, OTA_LZMA2_DICT_MAX + 1u) == 0);
    ws = malloc(need);
    CHECK_EQ_STATUS(dec->start(dec->ctx, ws, need - 1, 65536), OTA_ERR_LZMA_DICT);
    CHECK_EQ_STATUS(dec->start(dec->ctx, ws, need, 65536), OTA_OK);
    ci = n;
    co = sizeof out;
    CHECK_EQ_STATUS(dec->decode(dec->ctx, ws, stream, &ci, out, &co), OTA_END);
    CHECK(ci == n && co == sizeof data && !memcmp(out, data, sizeof data));
    CHECK(!strcmp(dec->name, "lzma2"));
    free(ws);
}

static void test_names(void)
{
    CHECK(!strcmp(ota_status_name(OTA_OK), "ok"));
    CHECK(!strcmp(ota_status_name(OTA_ERR_LZMA_DATA), "lzma-data"));
    CHECK(!strcmp(ota_status_name(OTA_ERR_LZMA_LCLP), "lzma-lclp"));
    CHECK(!strcmp(ota_status_name((enum ota_status)-99), "unknown"));
    /* the compact table: first, last and a name after each group boundary */
    CHECK(!strcmp(ota_status_name(OTA_END), "end"));
    CHECK(!strcmp(ota_status_name(OTA_ERR_FLASH_POWER_CUT), "flash-power-cut"));
    CHECK(!strcmp(ota_status_name(OTA_ERR_SIGNATURE_NOT_CANONICAL), "signature-not-canonical"));
    CHECK(!strcmp(ota_status_name(OTA_ERR_TRUNCATED), "truncated"));
    CHECK(!strcmp(ota_status_name(OTA_ERR_RESOURCE), "resource"));
    CHECK(!strcmp(ota_status_name((enum ota_status)2), "unknown"));
    CHECK(!strcmp(ota_status_name((enum ota_status)-5), "unknown"));
}

int main(void)
{
    test_init();
    test_stored_and_end();
    test_refusals();
    test_adapter();
    test_names();
    return checks_report("test_lzma2_unit");
}
