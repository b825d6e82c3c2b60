/* Target program: the restore engine on a Cortex-M under QEMU (MPS2 boards).
 *
 *   restore PKG EB OUT NAME:ADDRESS:SLOT:OLD ...
 *
 * reads the package PKG and each partition's old contents OLD ("-": erased)
 * over semihosting into a RAM flash in PSRAM (erase block EB, one area per
 * partition of SLOT bytes rounded up to EB, the package area, a staging
 * area), runs ota_restore_step() to the end and writes every partition's
 * flash, in order, to OUT. Prints "result=<status> check=<name>
 * steps=<n>". Exit: 0 installed, 1 usage, 2 I/O or memory, 100 - status
 * for a refusal (e.g. 165 = OTA_ERR_FORMAT). Addresses and sizes decimal. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/ota_restore.h"
#include "semihost.h"

extern uint8_t __psram_start[], __psram_end[];

#define MAX_PARTS 8u

struct ram_flash {
    uint8_t *mem[MAX_PARTS + 2];
};

static struct ram_flash rf;
static struct ota_flash_area areas[MAX_PARTS + 2];
static uint32_t slots[MAX_PARTS];
static char names[MAX_PARTS][64];
static struct ota_flash port;
static struct ota_restore_config cfg;
static struct ota_restore r;
static char cmd[1024];

static enum ota_status rf_read(void *ctx, unsigned area, uint32_t off, void *buf, size_t len)
{
    memcpy(buf, ((struct ram_flash *)ctx)->mem[area] + off, len);
    return OTA_OK;
}

static enum ota_status rf_write(void *ctx, unsigned area, uint32_t off, const void *buf, size_t len)
{
    memcpy(((struct ram_flash *)ctx)->mem[area] + off, buf, len);
    return OTA_OK;
}

static enum ota_status rf_erase(void *ctx, unsigned area, uint32_t off, uint32_t len)
{
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

int main(void)
{
    char *p = cmd, *pkg_path, *out_path, *w;
    const char *q;
    uint32_t eb, n = 0, i, total = 0, pkg_len, steps = 0;
    enum ota_status st;
    int h;
    heap = __psram_start;
    heap_end = __psram_end;
    if (ota_sh_cmdline(cmd, sizeof cmd) || !next_word(&p) || !(pkg_path = next_word(&p)) ||
        !(w = next_word(&p)) || !(out_path = next_word(&p)))
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
    port.ctx = &rf;
    port.areas = areas;
    port.area_count = n + 2;
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
        st = ota_restore_begin(&r, &cfg, take(room), room);
    }
    if (st == OTA_OK)
        while ((st = ota_restore_step(&r)) == OTA_OK)
            steps++;
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
