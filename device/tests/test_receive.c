/* The receive API on the simulated NOR flash: any piece sizes give the same
 * flash as one write; resume after a reboot at a unit boundary, mid-unit,
 * mid-erase-block and after a torn program; the trailer/crc32/header/digest
 * verdicts; the capacity refusal; NOR rules never broken. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ota/ota_crc32.h"
#include "ota/ota_receive.h"
#include "ota/ota_restore.h"
#include "ota/ota_sha256.h"
#include "ota_simflash.h"

#define EB 4096u
#define UNIT 16u
#define AREA 65536u
#define PKG_LEN 23011u

static const struct ota_flash_area AREAS[] = {{"download", 0x08100000u, AREA, NULL, 0}};
static uint8_t pkg[PKG_LEN], ref[AREA];
static uint32_t seed = 12345;

static uint32_t rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* A package-shaped byte string: body with its body_length field, a
 * signature slot of sig bytes, the trailer. */
static void seal(uint8_t *p, uint32_t len, uint32_t sig, int fix_sha, int fix_crc)
{
    uint8_t *t = p + len - OTA_TRAILER_SIZE;
    uint32_t body = len - OTA_TRAILER_SIZE - sig;
    put32(p + OTA_HDR_BODY_LENGTH_OFFSET, body);
    t[0] = (uint8_t)sig, t[1] = (uint8_t)(sig >> 8);
    put32(t + OTA_TRL_TOTAL_LENGTH_OFFSET, len);
    if (fix_sha)
        ota_sha256(p, body, t + OTA_TRL_BODY_SHA256_OFFSET);
    if (fix_crc)
        put32(t + OTA_TRL_CRC32_OFFSET, ota_crc32(0, p, len - OTA_TRAILER_CRC_TAIL));
    memcpy(t + OTA_TRL_MAGIC_OFFSET, OTA_TRAILER_MAGIC, 4);
}

static void sim_new(struct ota_simflash *sim)
{
    CHECK_EQ_STATUS(ota_simflash_init(sim, AREAS, 1, EB, UNIT, 0xFF), OTA_OK);
}

/* Feed [from, to) in pieces of 1..max bytes (max 0: one piece). */
static enum ota_status feed(struct ota_receive *rx, const uint8_t *p, uint32_t from, uint32_t to, uint32_t max)
{
    while (from < to) {
        uint32_t n = max ? 1 + rnd() % max : to - from;
        enum ota_status st;
        if (n > to - from)
            n = to - from;
        st = ota_receive_write(rx, p + from, n);
        if (st != OTA_OK)
            return st;
        from += n;
    }
    return OTA_OK;
}

static void whole(const uint8_t *p, uint32_t len, size_t buf_size, uint32_t max, struct ota_simflash *sim,
                  struct ota_receive_result *res)
{
    struct ota_receive rx;
    struct ota_receive_config cfg = {0};
    static uint8_t buf[EB];
    cfg.flash = &sim->port;
    cfg.capacity = OTA_RECEIVE_WHOLE_AREA;
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, buf_size), OTA_OK);
    CHECK_EQ_STATUS(feed(&rx, p, 0, len, max), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_finish(&rx, res), OTA_OK);
    CHECK(ota_receive_offset(&rx) == len);
}

static void test_pieces(void)
{
    static const size_t bufs[] = {UNIT, 48, 256, EB, EB + 100};
    static const uint32_t maxes[] = {0, 1, 7, 100, 5000};
    struct ota_simflash sim;
    struct ota_receive_result res;
    unsigned b, m;
    uint8_t want[OTA_SHA256_SIZE];
    sim_new(&sim);
    whole(pkg, PKG_LEN, EB, 0, &sim, &res);
    memcpy(ref, ota_simflash_data(&sim, 0), AREA);
    CHECK(res.check == OTA_CHECK_COUNT && res.status == OTA_OK && res.length == PKG_LEN);
    CHECK(res.body_length == PKG_LEN - OTA_TRAILER_SIZE - 70);
    ota_sha256(pkg, res.body_length, want);
    CHECK(!memcmp(res.body_sha256, want, 32) && res.crc32 == ota_crc32(0, pkg, PKG_LEN - 8));
    CHECK(!memcmp(ref, pkg, PKG_LEN));
    CHECK(sim.violations == 0 && sim.erases == (PKG_LEN + EB - 1) / EB);
    ota_simflash_free(&sim);
    for (b = 0; b < sizeof bufs / sizeof bufs[0]; b++)
        for (m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
            sim_new(&sim);
            whole(pkg, PKG_LEN, bufs[b], maxes[m], &sim, &res);
            CHECK(res.check == OTA_CHECK_COUNT);
            CHECK(!memcmp(ota_simflash_data(&sim, 0), ref, AREA));
            CHECK(sim.violations == 0);
            ota_simflash_free(&sim);
        }
}

/* Download to `cut`, lose power (what is only in RAM is gone), resume from
 * `saved` (or from the receiver's own offset when saved is ~0), finish. */
static void resume_case(uint32_t cut, uint32_t saved, uint32_t cut_op, int torn)
{
    struct ota_simflash sim;
    struct ota_receive rx;
    struct ota_receive_config cfg = {0};
    struct ota_receive_result res;
    static uint8_t buf[256];
    enum ota_status st;
    uint32_t at, steps = 0;
    unsigned long failed = checks_failed;
    sim_new(&sim);
    cfg.flash = &sim.port;
    cfg.capacity = OTA_RECEIVE_WHOLE_AREA;
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, sizeof buf), OTA_OK);
    sim.cut_at = cut_op;
    sim.torn = torn;
    st = feed(&rx, pkg, 0, cut, 300);
    CHECK(cut_op ? st == OTA_ERR_FLASH_POWER_CUT : st == OTA_OK);
    if (saved == 0xFFFFFFFFu)
        saved = ota_receive_offset(&rx);
    else if (saved > ota_receive_offset(&rx))
        saved = ota_receive_offset(&rx) > 9 ? ota_receive_offset(&rx) - 9 : 0; /* mid-unit, below it */
    ota_simflash_power_on(&sim);
    sim.cut_at = 0;
    memset(&rx, 0xA5, sizeof rx); /* the reboot: nothing of the old state survives */
    CHECK_EQ_STATUS(ota_receive_resume(&rx, &cfg, buf, sizeof buf, saved), OTA_OK);
    do {
        uint64_t before = sim.bytes_read;
        st = ota_receive_resume_step(&rx);
        CHECK(sim.bytes_read - before <= EB); /* bounded: one erase block a call */
        steps++;
    } while (st == OTA_OK && steps < 100);
    CHECK_EQ_STATUS(st, OTA_END);
    at = ota_receive_offset(&rx);
    CHECK(at <= saved && at % EB == 0 && saved - at < EB);
    CHECK_EQ_STATUS(feed(&rx, pkg, at, PKG_LEN, 999), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_finish(&rx, &res), OTA_OK);
    CHECK(res.check == OTA_CHECK_COUNT && res.status == OTA_OK);
    CHECK(!memcmp(ota_simflash_data(&sim, 0), ref, AREA));
    CHECK(sim.violations == 0);
    if (checks_failed != failed)
        fprintf(stderr, "  resume case cut=%u saved=%u op=%u torn=%d\n", cut, saved, cut_op, torn);
    ota_simflash_free(&sim);
}

static void test_resume(void)
{
    uint32_t op;
    uint32_t cut;
    resume_case(0, 0, 0, 0);
    /* the cut lands at every offset class: erase-block and unit boundaries,
     * mid-unit, mid-block; resumed from the reported offset, from a
     * mid-unit value below it, from a stale one */
    for (cut = 0; cut <= PKG_LEN; cut += cut < 3 * EB ? 1 + rnd() % 700 : 2311) {
        resume_case(cut, 0xFFFFFFFFu, 0, 0);
        resume_case(cut, 0xFFFFFFF0u, 0, 0);
        resume_case(cut, cut / 3, 0, 0);
    }
    resume_case(3 * EB, 0xFFFFFFFFu, 0, 0);
    resume_case(3 * EB + UNIT, 0xFFFFFFFFu, 0, 0);
    resume_case(3 * EB + UNIT + 5, 0xFFFFFFFFu, 0, 0);
    resume_case(PKG_LEN, 0xFFFFFFFFu, 0, 0);         /* everything but the RAM tail */
    /* a power cut at every program/erase operation before finish (95), clean and torn */
    for (op = 1; op <= 95; op++) {
        resume_case(PKG_LEN, 0xFFFFFFFFu, op, 0);
        resume_case(PKG_LEN, 0xFFFFFFFFu, op, 1);
    }
}

static void verdict(const uint8_t *p, uint32_t len, enum ota_check check, enum ota_status status)
{
    struct ota_simflash sim;
    struct ota_receive_result res;
    sim_new(&sim);
    whole(p, len, 64, 333, &sim, &res);
    CHECK(res.check == check && res.status == status);
    if (res.check != check || res.status != status)
        fprintf(stderr, "  verdict len=%u: check %d status %s\n", len, (int)res.check, ota_status_name(res.status));
    ota_simflash_free(&sim);
}

static void test_verdicts(void)
{
    static uint8_t p[PKG_LEN];
    memcpy(p, pkg, PKG_LEN);
    p[5000] ^= 0x10; /* a corrupted byte: the CRC catches it first */
    verdict(p, PKG_LEN, OTA_CHECK_CRC32, OTA_ERR_INTEGRITY);
    seal(p, PKG_LEN, 70, 0, 1); /* CRC redone, digest stale */
    verdict(p, PKG_LEN, OTA_CHECK_DIGEST, OTA_ERR_INTEGRITY);
    memcpy(p, pkg, PKG_LEN);
    p[PKG_LEN - OTA_TRAILER_SIZE + OTA_TRL_CRC32_OFFSET] ^= 1; /* the stored CRC itself */
    verdict(p, PKG_LEN, OTA_CHECK_CRC32, OTA_ERR_INTEGRITY);
    verdict(pkg, PKG_LEN - 1, OTA_CHECK_TRAILER, OTA_ERR_TRUNCATED); /* truncated download */
    verdict(pkg, 10, OTA_CHECK_TRAILER, OTA_ERR_TRUNCATED);
    verdict(pkg, 0, OTA_CHECK_TRAILER, OTA_ERR_TRUNCATED);
    memcpy(p, pkg, PKG_LEN);
    put32(p + PKG_LEN - OTA_TRAILER_SIZE + OTA_TRL_TOTAL_LENGTH_OFFSET, PKG_LEN + 1);
    verdict(p, PKG_LEN, OTA_CHECK_TRAILER, OTA_ERR_TRUNCATED);
    memcpy(p, pkg, PKG_LEN);
    p[PKG_LEN - OTA_TRAILER_SIZE + 1] = 0x08; /* signature length 2118 > 1024 */
    seal(p, PKG_LEN, 70, 1, 1);
    p[PKG_LEN - OTA_TRAILER_SIZE + 1] = 0x08;
    put32(p + PKG_LEN - OTA_TRAILER_SIZE + OTA_TRL_CRC32_OFFSET, ota_crc32(0, p, PKG_LEN - 8));
    verdict(p, PKG_LEN, OTA_CHECK_TRAILER, OTA_ERR_FORMAT);
    memcpy(p, pkg, PKG_LEN);
    put32(p + OTA_HDR_BODY_LENGTH_OFFSET, 1234); /* header disagrees with the trailer */
    put32(p + PKG_LEN - OTA_TRAILER_SIZE + OTA_TRL_CRC32_OFFSET, ota_crc32(0, p, PKG_LEN - 8));
    verdict(p, PKG_LEN, OTA_CHECK_HEADER, OTA_ERR_FORMAT);
}

static void test_capacity(void)
{
    struct ota_simflash sim;
    struct ota_receive rx;
    struct ota_receive_config cfg = {0};
    struct ota_receive_result res;
    static uint8_t buf[64], big[AREA + 1];
    sim_new(&sim);
    cfg.flash = &sim.port;
    cfg.capacity = PKG_LEN - 1;
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, sizeof buf), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_write(&rx, pkg, PKG_LEN - 10), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_write(&rx, pkg + PKG_LEN - 10, 10), OTA_ERR_RESOURCE);
    CHECK_EQ_STATUS(ota_receive_write(&rx, pkg, 1), OTA_ERR_RESOURCE);      /* sticky */
    CHECK_EQ_STATUS(ota_receive_finish(&rx, &res), OTA_ERR_RESOURCE);
    ota_simflash_free(&sim);
    sim_new(&sim);
    cfg.capacity = OTA_RECEIVE_WHOLE_AREA; /* the area's size bounds it */
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, sizeof buf), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_write(&rx, big, AREA + 1), OTA_ERR_RESOURCE);
    CHECK(sim.ops == 0); /* refused whole: nothing written */
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, sizeof buf), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_write(&rx, big, AREA), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_finish(&rx, &res), OTA_OK);
    CHECK(res.check == OTA_CHECK_TRAILER && sim.violations == 0);
    /* argument checks */
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, UNIT - 1), OTA_ERR_WORKSPACE);
    cfg.area = 1;
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, sizeof buf), OTA_ERR_ARGUMENT);
    cfg.area = 0;
    CHECK_EQ_STATUS(ota_receive_resume(&rx, &cfg, buf, sizeof buf, AREA + 1), OTA_ERR_ARGUMENT);
    ota_simflash_free(&sim);
}

/* argv: FILE ...: each fed in random pieces into a 4 MiB area, the verdict
 * printed as "receive FILE check=NAME status=NAME" for the caller to
 * compare with the Python restore. */
static int run_file(const char *path)
{
    static const struct ota_flash_area big[] = {{"download", 0, 4u << 20, NULL, 0}};
    static uint8_t data[4u << 20], buf[512];
    struct ota_simflash sim;
    struct ota_receive rx;
    struct ota_receive_config cfg = {0};
    struct ota_receive_result res;
    FILE *fp = fopen(path, "rb");
    size_t n;
    if (!fp)
        return 1;
    n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, big, 1, EB, UNIT, 0xFF), OTA_OK);
    cfg.flash = &sim.port;
    cfg.capacity = OTA_RECEIVE_WHOLE_AREA;
    CHECK_EQ_STATUS(ota_receive_begin(&rx, &cfg, buf, sizeof buf), OTA_OK);
    CHECK_EQ_STATUS(feed(&rx, data, 0, (uint32_t)n, 1500), OTA_OK);
    CHECK_EQ_STATUS(ota_receive_finish(&rx, &res), OTA_OK);
    CHECK(!memcmp(ota_simflash_data(&sim, 0), data, n) && sim.violations == 0);
    printf("receive %s check=%s status=%s\n", path, res.check == OTA_CHECK_COUNT ? "none" : ota_check_name(res.check),
           res.status == OTA_OK ? "none" : ota_status_name(res.status));
    ota_simflash_free(&sim);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t i;
    if (argc > 1) {
        int k;
        for (k = 1; k < argc; k++)
            if (run_file(argv[k]))
                return 2;
        return checks_report("test_receive files");
    }
    for (i = 0; i < PKG_LEN; i++)
        pkg[i] = (uint8_t)(i % 7 == 0 ? 0xFF : rnd()); /* erased-looking bytes too */
    memset(pkg + 9000, 0xFF, 3 * EB);                  /* whole erased-looking blocks */
    seal(pkg, PKG_LEN, 70, 1, 1);
    test_pieces();
    test_resume();
    test_verdicts();
    test_capacity();
    return checks_report("test_receive");
}
