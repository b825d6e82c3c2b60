/* The flash wrappers and the simulated NOR flash: geometry checks, bounds
 * in subtraction form, NOR program rules, counters, and the power-cut and
 * hook injection the later power-loss sweeps rely on. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ota/ota_flash.h"
#include "ota_simflash.h"

static const struct ota_flash_area AREAS[] = {
    {"boot", 0x08000000u, 16384, NULL, 0},
    {"app", 0x08004000u, 65536, NULL, 0},
};
/* STM32F4's sectors from the start of an area: 4 x 16 KiB, 64 KiB, then 128 KiB */
static const uint32_t STM32F4[] = {16384, 16384, 16384, 16384, 65536, 131072};

static void test_geometry(void)
{
    struct ota_simflash sim;
    static const struct ota_flash_area odd[] = {{"x", 0, 5000, NULL, 0}};
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 256, 0xFF), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_check(&sim.port), OTA_OK);
    ota_simflash_free(&sim);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 3000, 0xFF), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 0, 1, 0xFF), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, odd, 1, 4096, 16, 0xFF), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_flash_check(NULL), OTA_ERR_ARGUMENT);
}

static void test_wrappers(void)
{
    struct ota_simflash sim;
    const struct ota_flash *f = &sim.port;
    uint8_t buf[512];
    memset(buf, 0x5A, sizeof buf);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 16, 0xFF), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_read(f, 2, 0, buf, 1), OTA_ERR_FLASH_AREA);
    CHECK_EQ_STATUS(ota_flash_read(f, 0, 16384, buf, 1), OTA_ERR_FLASH_BOUNDS);
    CHECK_EQ_STATUS(ota_flash_read(f, 0, 16384, buf, 0), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_read(f, 0, 0xFFFFFFF0u, buf, 32), OTA_ERR_FLASH_BOUNDS); /* would wrap */
    CHECK_EQ_STATUS(ota_flash_read(f, 0, 16, buf, (size_t)-1), OTA_ERR_FLASH_BOUNDS);
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 8, buf, 16), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 16, buf, 8), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_flash_erase(f, 1, 2048, 4096), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_flash_erase(f, 1, 61440, 8192), OTA_ERR_FLASH_BOUNDS);
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 16, NULL, 16), OTA_ERR_ARGUMENT);
    /* none of those reached the simulated chip */
    CHECK(sim.violations == 0 && sim.ops == 0 && sim.reads == 0);
    ota_simflash_free(&sim);
}

static void test_sector_map(void)
{
    static const struct ota_flash_area mapped[] = {
        {"mapped", 0, 0x60000u, STM32F4, 6}, /* 384 KiB: 16 x4, 64, 128, 128 cut to 64 */
        {"plain", 0, 0x4000u, NULL, 0},
    };
    static const uint32_t zero[] = {4096, 0};
    const struct ota_flash_area bad[] = {{"bad", 0, 0x4000u, zero, 2}};
    static const struct {
        uint32_t offset, start, size;
    } cases[] = {
        {0, 0, 16384},          {16383, 0, 16384},      {16384, 16384, 16384},  {49152, 49152, 16384},
        {65536, 65536, 65536},  {131071, 65536, 65536}, {131072, 131072, 131072},
        {262144, 262144, 131072}, {0x5FFFFu, 262144, 131072},
    };
    struct ota_simflash sim;
    const struct ota_flash *f = &sim.port;
    uint32_t start = 0, size = 0;
    size_t i;
    CHECK_EQ_STATUS(ota_simflash_init(&sim, mapped, 2, 4096, 16, 0xFF), OTA_OK);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ_STATUS(ota_flash_sector(f, 0, cases[i].offset, &start, &size), OTA_OK);
        CHECK(start == cases[i].start && size == cases[i].size);
    }
    CHECK_EQ_STATUS(ota_flash_sector(f, 0, 0x60000u, &start, &size), OTA_ERR_FLASH_BOUNDS);
    CHECK_EQ_STATUS(ota_flash_sector(f, 1, 8192, &start, &size), OTA_OK);
    CHECK(start == 8192 && size == 4096); /* no map: erase blocks */
    CHECK_EQ_STATUS(ota_flash_sector(f, 2, 0, &start, &size), OTA_ERR_FLASH_AREA);
    CHECK(!ota_flash_uniform(f));
    /* erases cover whole sectors */
    CHECK_EQ_STATUS(ota_flash_erase(f, 0, 0, 4096), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_flash_erase(f, 0, 65536, 16384), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_flash_erase(f, 0, 16384, 16384), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_erase(f, 0, 0, 131072), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_erase(f, 0, 262144, 131072), OTA_OK); /* the last one, cut short */
    ota_simflash_free(&sim);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, bad, 1, 4096, 16, 0xFF), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 16, 0xFF), OTA_OK);
    CHECK(ota_flash_uniform(f));
    ota_simflash_free(&sim);
}

static void test_nor_rules(void)
{
    struct ota_simflash sim;
    const struct ota_flash *f = &sim.port;
    uint8_t data[64], back[64], ff[16];
    size_t i;
    for (i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    memset(ff, 0xFF, sizeof ff);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 16, 0xFF), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_read(f, 1, 100, back, 64), OTA_OK);
    CHECK(back[0] == 0xFF && back[63] == 0xFF); /* fresh chip: erased */
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 64, data, 64), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_read(f, 1, 64, back, 64), OTA_OK);
    CHECK(!memcmp(back, data, 64));
    /* over programmed bytes */
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 64, data, 16), OTA_ERR_FLASH_NOT_ERASED);
    /* a unit programmed with 0xFF is still programmed */
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 256, ff, 16), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 256, data, 16), OTA_ERR_FLASH_NOT_ERASED);
    CHECK(sim.violations == 2);
    /* erase restores both */
    CHECK_EQ_STATUS(ota_flash_erase(f, 1, 0, 4096), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 64, data, 16), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_write(f, 1, 256, data, 16), OTA_OK);
    /* the port called directly (not through the wrappers) enforces alignment too */
    CHECK_EQ_STATUS(f->write(f->ctx, 1, 8, data, 16), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(f->erase(f->ctx, 1, 100, 4096), OTA_ERR_FLASH_ALIGN);
    CHECK_EQ_STATUS(f->read(f->ctx, 1, 65530, back, 16), OTA_ERR_FLASH_BOUNDS);
    CHECK(sim.violations == 5);
    CHECK(sim.writes == 4 && sim.erases == 1 && sim.ops == 5 && sim.bytes_written == 64 + 16 + 16 + 16);
    ota_simflash_free(&sim);
}

/* What a restore does to one area: erase a block, program it in units. */
static enum ota_status write_image(const struct ota_flash *f, unsigned area, const uint8_t *img, uint32_t len)
{
    uint32_t at;
    for (at = 0; at < len; at += f->write_align) {
        enum ota_status st;
        if (at % f->erase_block == 0 && (st = ota_flash_erase(f, area, at, f->erase_block)) != OTA_OK)
            return st;
        if ((st = ota_flash_write(f, area, at, img + at, f->write_align)) != OTA_OK)
            return st;
    }
    return OTA_OK;
}

static void test_power_cuts(void)
{
    struct ota_simflash sim;
    uint8_t img[16384];
    uint32_t total, n;
    size_t i;
    unsigned ok_prefix = 0;
    for (i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 13 + 1);
    /* a clean run counts the operations: 4 erases + 64 programs */
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 256, 0xFF), OTA_OK);
    CHECK_EQ_STATUS(write_image(&sim.port, 0, img, sizeof img), OTA_OK);
    total = sim.ops;
    CHECK(total == 4 + 64);
    CHECK(!memcmp(ota_simflash_data(&sim, 0), img, sizeof img));
    ota_simflash_free(&sim);
    /* cut before each operation: exactly n operations happened, the flash
     * holds their effect, everything after fails, and after power-on a
     * second run completes */
    for (n = 0; n < total; n++) {
        CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 256, 0xFF), OTA_OK);
        sim.cut_at = n + 1;
        CHECK_EQ_STATUS(write_image(&sim.port, 0, img, sizeof img), OTA_ERR_FLASH_POWER_CUT);
        CHECK(sim.ops == n + 1 && sim.writes + sim.erases == n);
        {
            uint8_t b;
            CHECK_EQ_STATUS(ota_flash_read(&sim.port, 0, 0, &b, 1), OTA_ERR_FLASH_POWER_CUT);
        }
        ota_simflash_power_on(&sim);
        CHECK_EQ_STATUS(write_image(&sim.port, 0, img, sizeof img), OTA_OK);
        ok_prefix += !memcmp(ota_simflash_data(&sim, 0), img, sizeof img);
        ota_simflash_free(&sim);
    }
    CHECK(ok_prefix == total);
    /* torn program: half the units land */
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 16, 0xFF), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 1, 0, img, 64), OTA_OK);
    sim.cut_at = 2;
    sim.torn = 1;
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 1, 64, img, 64), OTA_ERR_FLASH_POWER_CUT);
    CHECK(!memcmp(ota_simflash_data(&sim, 1) + 64, img, 32) && ota_simflash_data(&sim, 1)[96] == 0xFF);
    ota_simflash_power_on(&sim);
    /* the unprogrammed half may be programmed; the programmed half may not */
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 1, 96, img + 32, 32), OTA_OK);
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 1, 64, img, 16), OTA_ERR_FLASH_NOT_ERASED);
    /* torn erase: the first half of the block is erased, the rest is not */
    sim.cut_at = sim.ops + 1;
    sim.torn = 1;
    CHECK_EQ_STATUS(ota_flash_erase(&sim.port, 1, 0, 4096), OTA_ERR_FLASH_POWER_CUT);
    ota_simflash_power_on(&sim);
    CHECK(ota_simflash_data(&sim, 1)[0] == 0xFF);
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 1, 0, img, 16), OTA_OK);
    ota_simflash_free(&sim);
}

struct hook_state {
    uint32_t fail_index, seen;
};

static enum ota_status fail_one(void *user, const struct ota_sim_op *op)
{
    struct hook_state *h = user;
    h->seen++;
    return op->kind != OTA_SIM_READ && op->index == h->fail_index ? OTA_ERR_FLASH_IO : OTA_OK;
}

static void test_hook(void)
{
    struct ota_simflash sim;
    struct hook_state h = {5, 0};
    uint8_t img[8192];
    memset(img, 0x11, sizeof img);
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 256, 0xFF), OTA_OK);
    sim.hook = fail_one;
    sim.hook_user = &h;
    CHECK_EQ_STATUS(write_image(&sim.port, 1, img, sizeof img), OTA_ERR_FLASH_IO);
    CHECK(h.seen == 6 && sim.writes + sim.erases == 5);
    CHECK(sim.powered); /* an I/O error is not a power cut */
    ota_simflash_free(&sim);
    /* load: test setup bypasses the rules and counters, and marks units programmed */
    CHECK_EQ_STATUS(ota_simflash_init(&sim, AREAS, 2, 4096, 256, 0xFF), OTA_OK);
    CHECK_EQ_STATUS(ota_simflash_load(&sim, 0, 0, img, 300), OTA_OK);
    CHECK(sim.ops == 0 && ota_simflash_data(&sim, 0)[299] == 0x11);
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 0, 256, img, 256), OTA_ERR_FLASH_NOT_ERASED);
    CHECK_EQ_STATUS(ota_flash_write(&sim.port, 0, 512, img, 256), OTA_OK);
    CHECK_EQ_STATUS(ota_simflash_load(&sim, 0, 16000, img, 1000), OTA_ERR_FLASH_BOUNDS);
    ota_simflash_free(&sim);
}

int main(void)
{
    test_geometry();
    test_wrappers();
    test_sector_map();
    test_nor_rules();
    test_power_cuts();
    test_hook();
    return checks_report("test_flash");
}
