/* First target program: raw LZMA2 file in, decoded file and its SHA-256 out,
 * over semihosting, on a Cortex-M under QEMU.
 *
 *   decode IN DICT OUT   stream IN through the decoder in pieces of varying
 *                        size (as a download arrives), write the output to
 *                        OUT, print "sha256=<hex> in=<consumed> out=<bytes>"
 *   icount IN DICT       (MPS2 boards) load IN whole, then time decoding and
 *                        hashing with the CMSDK timer; under qemu -icount
 *                        shift=0 the counts are exact and repeatable. Also
 *                        times a loop of known length, so the host can turn
 *                        ticks into instructions.
 *
 * Exit status: 0 ok, 1 usage, 2 I/O, 3 stream truncated, 100 - status for a
 * library status (e.g. 116 = OTA_ERR_LZMA_DATA, 118 = OTA_ERR_LZMA_DICT).
 */
#include <stddef.h>
#include <stdint.h>

#include "ota/ota_lzma2.h"
#include "ota/ota_sha256.h"
#include "semihost.h"

#if defined(OTA_BOARD_MPS2)
extern uint8_t __psram_start[], __psram_end[];
#define WORKSPACE ((void *)__psram_start)
#define WORKSPACE_BYTES ((size_t)(__psram_end - __psram_start))
#else
/* Boards without external RAM hold a fixed workspace; its size is part of
 * the 128 KiB the linker script enforces. */
#ifndef OTA_TARGET_DICT
#define OTA_TARGET_DICT 65536u
#endif
static uint16_t workspace[OTA_LZMA2_WORKSPACE_BYTES(OTA_TARGET_DICT, 4) / 2] __attribute__((section(".noinit")));
#define WORKSPACE ((void *)workspace)
#define WORKSPACE_BYTES sizeof workspace
#endif

static struct ota_lzma2 dec;
static uint8_t in_buf[1536];
static uint8_t out_buf[4096];

static uint32_t parse_u32(const char *s)
{
    uint32_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint32_t)(*s++ - '0');
    return v;
}

static int status_exit(enum ota_status st)
{
    ota_sh_puts("error: ");
    ota_sh_puts(ota_status_name(st));
    ota_sh_puts("\n");
    return 100 - (int)st;
}

static void put_digest(const uint8_t d[32])
{
    static const char hexd[] = "0123456789abcdef";
    char s[65];
    int i;
    for (i = 0; i < 32; i++) {
        s[2 * i] = hexd[d[i] >> 4];
        s[2 * i + 1] = hexd[d[i] & 15];
    }
    s[64] = 0;
    ota_sh_puts(s);
}

static int decode_file(const char *in_path, uint32_t dict, const char *out_path)
{
    /* piece sizes cycle so chunk headers and symbols straddle pieces */
    static const uint16_t in_pieces[] = {1536, 1, 7, 700, 24, 1536, 333};
    static const uint16_t out_pieces[] = {4096, 1, 333, 2048, 17};
    struct ota_sha256 sha;
    uint8_t digest[32];
    size_t have = 0, at = 0, fill = 0;
    uint32_t consumed = 0, produced = 0;
    unsigned round = 0;
    int in, out, eof = 0;
    enum ota_status st = ota_lzma2_init(&dec, WORKSPACE, WORKSPACE_BYTES, dict, 4);
    if (st != OTA_OK)
        return status_exit(st);
    in = ota_sh_open(in_path, OTA_SH_READ_BINARY);
    out = ota_sh_open(out_path, OTA_SH_WRITE_BINARY);
    if (in < 0 || out < 0)
        return 2;
    ota_sha256_init(&sha);
    for (;; round++) {
        size_t ci, co, room;
        if (at == have && !eof) {
            have = ota_sh_read(in, in_buf, in_pieces[round % 7]);
            at = 0;
            eof = have == 0;
        }
        room = out_pieces[round % 5];
        if (room > sizeof out_buf - fill)
            room = sizeof out_buf - fill;
        ci = have - at;
        co = room;
        st = ota_lzma2_decode(&dec, in_buf + at, &ci, out_buf + fill, &co);
        ota_sha256_update(&sha, out_buf + fill, co);
        at += ci;
        consumed += (uint32_t)ci;
        produced += (uint32_t)co;
        fill += co;
        if (fill == sizeof out_buf || st != OTA_OK) {
            if (ota_sh_write(out, out_buf, fill) != fill)
                return 2;
            fill = 0;
        }
        if (st == OTA_END)
            break;
        if (st != OTA_OK)
            return status_exit(st);
        if (eof && ci == 0 && co == 0) {
            ota_sh_puts("error: truncated\n");
            return 3;
        }
    }
    ota_sh_close(in);
    ota_sh_close(out);
    ota_sha256_final(&sha, digest);
    ota_sh_puts("sha256=");
    put_digest(digest);
    ota_sh_puts(" in=");
    ota_sh_put_u32(consumed);
    ota_sh_puts(" out=");
    ota_sh_put_u32(produced);
    ota_sh_puts("\n");
    return 0;
}

#if defined(OTA_BOARD_MPS2)
/* CMSDK APB timer 0: a 32-bit down counter at the 25 MHz peripheral clock. */
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

/* n iterations of a two-instruction loop: 2n instructions, known exactly. */
static void known_loop(uint32_t n)
{
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
}

static int icount(const char *in_path, uint32_t dict)
{
    uint8_t digest[32];
    size_t ws = OTA_LZMA2_WORKSPACE_BYTES(dict, 4), in_len, ci, co;
    uint8_t *input = __psram_start + ((ws + 7) & ~(size_t)7), *output;
    uint32_t t0, t1, t2, t3, t4;
    long flen;
    int in;
    enum ota_status st;
    if (ws >= WORKSPACE_BYTES)
        return status_exit(OTA_ERR_LZMA_DICT);
    st = ota_lzma2_init(&dec, WORKSPACE, ws, dict, 4);
    if (st != OTA_OK)
        return status_exit(st);
    in = ota_sh_open(in_path, OTA_SH_READ_BINARY);
    if (in < 0 || (flen = ota_sh_flen(in)) < 0 || (size_t)flen > (size_t)(__psram_end - input) / 2)
        return 2;
    in_len = (size_t)flen;
    if (ota_sh_read(in, input, in_len) != in_len)
        return 2;
    ota_sh_close(in);
    output = input + ((in_len + 7) & ~(size_t)7);
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1;
    t0 = TIMER0_VALUE;
    ci = in_len;
    co = (size_t)(__psram_end - output);
    st = ota_lzma2_decode(&dec, input, &ci, output, &co);
    t1 = TIMER0_VALUE;
    ota_sha256(output, co, digest);
    t2 = TIMER0_VALUE;
    known_loop(2000000);
    t3 = TIMER0_VALUE;
    known_loop(1);
    t4 = TIMER0_VALUE;
    if (st != OTA_END)
        return st == OTA_OK ? 3 : status_exit(st);
    ota_sh_puts("icount lzma2_ticks=");
    ota_sh_put_u32(t0 - t1);
    ota_sh_puts(" sha256_ticks=");
    ota_sh_put_u32(t1 - t2);
    /* the loop minus its own call overhead, measured with one iteration */
    ota_sh_puts(" calib_ticks=");
    ota_sh_put_u32((t2 - t3) - (t3 - t4));
    ota_sh_puts(" calib_instructions=3999998 in=");
    ota_sh_put_u32((uint32_t)ci);
    ota_sh_puts(" out=");
    ota_sh_put_u32((uint32_t)co);
    ota_sh_puts(" sha256=");
    put_digest(digest);
    ota_sh_puts("\n");
    return 0;
}
#endif

int main(void)
{
    static char cmd[512];
    char *argv[8];
    int argc = 0;
    char *p = cmd;
    if (ota_sh_cmdline(cmd, sizeof cmd - 1) != 0)
        return 1;
    while (*p && argc < 8) { /* split on spaces, in place */
        while (*p == ' ')
            *p++ = 0;
        if (!*p)
            break;
        argv[argc++] = p;
        while (*p && *p != ' ')
            p++;
    }
    if (argc == 5 && argv[1][0] == 'd')
        return decode_file(argv[2], parse_u32(argv[3]), argv[4]);
#if defined(OTA_BOARD_MPS2)
    if (argc == 4 && argv[1][0] == 'i')
        return icount(argv[2], parse_u32(argv[3]));
#endif
    ota_sh_puts("usage: prog decode IN DICT OUT | prog icount IN DICT\n");
    return 1;
}
