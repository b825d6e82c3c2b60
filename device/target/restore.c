/* Target program: the restore engine on a Cortex-M under QEMU (MPS2 boards).
 *
 *   restore [-j CUTS] PKG EB OUT NAME:ADDRESS:SLOT:OLD ...
 *
 * reads the package PKG and each partition's old contents OLD ("-": erased)
 * over semihosting into a RAM flash in PSRAM (erase block EB, one area per
 * partition of SLOT bytes rounded up to EB, the package area, a staging
 * area), runs ota_restore_step() to the end and writes every partition's
 * flash, in order, to OUT. Prints "result=<status> check=<name>
 * steps=<n>". Exit: 0 installed, 1 usage, 2 I/O or memory, 100 - status
 * for a refusal (e.g. 165 = OTA_ERR_FORMAT). Addresses and sizes decimal.
 *
 * -j CUTS: the journaled restore (cfg.journal; a journal area of two erase
 * blocks), with the power cut before each flash erase or program whose
 * index (from 0, counted across boots) is in CUTS (increasing, separated
 * by '+'; "-": none). After a cut every flash call fails until the boot
 * ends; the program then asks ota_journal_pending() what a bootloader
 * would and boots the restore again from the same flash, until a boot is
 * not cut. Also prints "boots=<n> ops=<flash operations> pending=<boots
 * that found a commit in progress>". */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/ota_restore.h"
#include "semihost.h"

extern uint8_t __psram_start[], __psram_end[];

#define MAX_PARTS 8u
#define MAX_CUTS 16u
#define MAX_BOOTS 64u

struct ram_flash {
    uint8_t *mem[MAX_PARTS + 3];
};

static struct ram_flash rf;
static struct ota_flash_area areas[MAX_PARTS + 3];
static struct ota_journal_config jcfg;
/* The simulated supply: flash operations done, the cuts still to come, and
 * whether this boot has lost power. */
static uint32_t ops, cuts[MAX_CUTS], cut_count, cut_next;
static int lost;
static uint32_t slots[MAX_PARTS];
static char names[MAX_PARTS][64];
static struct ota_flash port;
static struct ota_restore_config cfg;
static struct ota_restore r;
static char cmd[1024];

/* 1 when the operation about to run is cut (and every one after it this boot). */
static int power_cut(void)
{
    if (!lost && cut_next < cut_count && ops == cuts[cut_next]) {
        lost = 1;
        cut_next++;
    }
    if (lost)
        return 1;
    ops++;
    return 0;
}

static enum ota_status rf_read(void *ctx, unsigned area, uint32_t off, void *buf, size_t len)
{
    if (lost)
        return OTA_ERR_FLASH_POWER_CUT;
    memcpy(buf, ((struct ram_flash *)ctx)->mem[area] + off, len);
    return OTA_OK;
}

static enum ota_status rf_write(void *ctx, unsigned area, uint32_t off, const void *buf, size_t len)
{
    if (power_cut())
        return OTA_ERR_FLASH_POWER_CUT;
    memcpy(((struct ram_flash *)ctx)->mem[area] + off, buf, len);
    return OTA_OK;
}

static enum ota_status rf_erase(void *ctx, unsigned area, uint32_t off, uint32_t len)
{
    if (power_cut())
        return OTA_ERR_FLASH_POWER_CUT;
    memset(((struct ram_flash *)ctx)->mem[area] + off, 0xFF, len);
    return OTA_OK;
}

static uint32_t parse_u32(const char **s)
{
    uint32_t v = 0;
    while (**s >= '0' && **s <= '9')
        v = v * 10 + (uint32_t)(*(*s)++ - '0');
    return v;
}

static char *next_word(char **p)
{
    char *w = *p;
    while (*w == ' ')
        w++;
    if (!*w)
        return NULL;
    *p = w;
    while (**p && **p != ' ')
        (*p)++;
    if (**p)
        *(*p)++ = 0;
    return w;
}

static uint8_t *heap, *heap_end;

static uint8_t *take(uint32_t n)
{
    uint8_t *p = heap;
    n = (n + 7u) & ~7u;
    if ((uint32_t)(heap_end - heap) < n)
        ota_sh_exit(2);
    heap += n;
    return p;
}

/* The whole file into `dst` (at most `room` bytes); its length. */
static uint32_t load(const char *path, uint8_t *dst, uint32_t room)
{
    int h = ota_sh_open(path, OTA_SH_READ_BINARY);
    long len;
    if (h < 0)
        ota_sh_exit(2);
    len = ota_sh_flen(h);
    if (len < 0 || (unsigned long)len > room || ota_sh_read(h, dst, (size_t)len) != (size_t)len)
        ota_sh_exit(2);
    ota_sh_close(h);
    return (uint32_t)len;
}

/* CUTS: "-" or increasing decimal indices separated by '+' (semihosting splits at commas). */
static void parse_cuts(const char *q)
{
    if (q[0] == '-' && !q[1])
        return;
    for (;;) {
        if (*q < '0' || *q > '9' || cut_count == MAX_CUTS)
            ota_sh_exit(1);
        cuts[cut_count] = parse_u32(&q);
        if (cut_count && cuts[cut_count] <= cuts[cut_count - 1])
            ota_sh_exit(1);
        cut_count++;
        if (!*q)
            return;
        if (*q++ != '+')
            ota_sh_exit(1);
    }
}

int main(void)
{
    char *p = cmd, *pkg_path, *out_path, *w;
    const char *q;
    uint32_t eb, n = 0, i, total = 0, pkg_len, steps = 0, boots = 0, pending_boots = 0;
    enum ota_status st;
    int h, journaled = 0;
    heap = __psram_start;
    heap_end = __psram_end;
    if (ota_sh_cmdline(cmd, sizeof cmd) || !next_word(&p) || !(pkg_path = next_word(&p)))
        ota_sh_exit(1);
    if (pkg_path[0] == '-' && pkg_path[1] == 'j' && !pkg_path[2]) {
        if (!(w = next_word(&p)))
            ota_sh_exit(1);
        parse_cuts(w);
        journaled = 1;
        if (!(pkg_path = next_word(&p)))
            ota_sh_exit(1);
    }
    if (!(w = next_word(&p)) || !(out_path = next_word(&p)))
        ota_sh_exit(1);
    q = w;
    eb = parse_u32(&q);
    while ((w = next_word(&p)) != NULL && n < MAX_PARTS) { /* NAME:ADDRESS:SLOT:OLD */
        char *c = w, *old;
        uint32_t k = 0, size;
        while (*c && *c != ':' && k < 63)
            names[n][k++] = *c++;
        names[n][k] = 0;
        if (*c++ != ':')
            ota_sh_exit(1);
        q = c;
        areas[n].address = parse_u32(&q);
        if (*q++ != ':')
            ota_sh_exit(1);
        slots[n] = parse_u32(&q);
        if (*q++ != ':')
            ota_sh_exit(1);
        old = (char *)q;
        size = (slots[n] + eb - 1u) / eb * eb;
        areas[n].name = names[n];
        areas[n].size = size;
        rf.mem[n] = take(size);
        memset(rf.mem[n], 0xFF, size);
        if (!(old[0] == '-' && !old[1]))
            load(old, rf.mem[n], size);
        total += size;
        n++;
    }
    rf.mem[n] = take(4u << 20); /* the download area */
    pkg_len = load(pkg_path, rf.mem[n], 4u << 20);
    areas[n].name = "download";
    areas[n].size = (pkg_len + eb - 1u) / eb * eb + eb;
    areas[n + 1].name = "scratch";
    areas[n + 1].size = total ? total : eb;
    rf.mem[n + 1] = take(areas[n + 1].size);
    if (journaled) { /* two erase blocks of records, erased (a device that never ran a restore) */
        areas[n + 2].name = "journal";
        areas[n + 2].size = 2u * eb;
        rf.mem[n + 2] = take(areas[n + 2].size);
        memset(rf.mem[n + 2], 0xFF, areas[n + 2].size);
        jcfg.area = n + 2;
        jcfg.sector_size = eb;
        cfg.journal = &jcfg;
    }
    port.ctx = &rf;
    port.areas = areas;
    port.area_count = n + 2 + (journaled ? 1u : 0u);
    port.erase_block = eb;
    port.write_align = 4;
    port.erased_value = 0xFF;
    port.read = rf_read;
    port.write = rf_write;
    port.erase = rf_erase;
    cfg.flash = &port;
    cfg.partition_count = n;
    cfg.slot_sizes = slots;
    cfg.package_area = n;
    cfg.package_length = pkg_len;
    cfg.scratch_area = n + 1;
    cfg.download_capacity = cfg.minimal_download_capacity = cfg.ram_budget = OTA_RESTORE_NO_LIMIT;
    cfg.layout_known = 1;
    {
        uint32_t room = (uint32_t)(heap_end - heap) & ~7u;
        uint8_t *ws = take(room);
        /* Each boot starts from nothing but the flash, as after a reset. */
        do {
            if (++boots > MAX_BOOTS)
                ota_sh_exit(2);
            if (lost) {
                uint8_t digest[OTA_SHA256_SIZE];
                int pending = 0;
                lost = 0;
                if (ota_journal_pending(&port, &jcfg, digest, &pending) != OTA_OK)
                    ota_sh_exit(2);
                pending_boots += pending ? 1u : 0u;
            }
            memset(&r, 0, sizeof r);
            st = ota_restore_begin(&r, &cfg, ws, room);
            if (st == OTA_OK)
                while ((st = ota_restore_step(&r)) == OTA_OK)
                    steps++;
        } while (journaled && lost);
    }
    if (journaled) {
        ota_sh_puts("boots=");
        ota_sh_put_u32(boots);
        ota_sh_puts(" ops=");
        ota_sh_put_u32(ops);
        ota_sh_puts(" pending=");
        ota_sh_put_u32(pending_boots);
        ota_sh_puts("\n");
    }
    ota_sh_puts("result=");
    ota_sh_puts(ota_status_name(st));
    ota_sh_puts(" check=");
    ota_sh_puts(st == OTA_END ? "none" : ota_check_name(r.failure.check));
    ota_sh_puts(" steps=");
    ota_sh_put_u32(steps);
    ota_sh_puts("\n");
    h = ota_sh_open(out_path, OTA_SH_WRITE_BINARY);
    if (h < 0)
        ota_sh_exit(2);
    for (i = 0; i < n; i++)
        if (ota_sh_write(h, rf.mem[i], areas[i].size) != areas[i].size)
            ota_sh_exit(2);
    ota_sh_close(h);
    ota_sh_exit(st == OTA_END ? 0 : 100 - (int)st);
}
