/* Instruction counts of the restore on the target, without touching the
 * restore program: target/restore.c linked with
 * -Wl,--wrap=ota_restore_begin -Wl,--wrap=ota_restore_step, so every call
 * of the engine is timed with the CMSDK timer (MPS2 boards). Under
 * `qemu -icount shift=0` one instruction is 1 ns of virtual time, so the
 * 25 MHz timer's ticks are a fixed multiple of the instructions executed;
 * a loop of known length gives that multiple (as target/lzma2_sha256.c).
 *
 * Printed once the restore ends: the ticks spent in begin and in the checks
 * up to precondition ("check"), and in the steps after precondition passed
 * ("apply": decoding, patching, programming, read-back hashes, commit). */
#include "ota/ota_restore.h"
#include "semihost.h"

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

enum ota_status __real_ota_restore_begin(struct ota_restore *r, const struct ota_restore_config *config,
                                         void *workspace, size_t workspace_size);
enum ota_status __real_ota_restore_step(struct ota_restore *r);
enum ota_status __wrap_ota_restore_begin(struct ota_restore *r, const struct ota_restore_config *config,
                                         void *workspace, size_t workspace_size);
enum ota_status __wrap_ota_restore_step(struct ota_restore *r);

/* Per-run counters: this program restores one package and exits, so the
 * target (not the library, which keeps no state) holds them. */
static uint32_t check_ticks, apply_ticks;

static void known_loop(uint32_t n)
{
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
}

static void report(void)
{
    uint32_t t2, t3, t4;
    t2 = TIMER0_VALUE;
    known_loop(2000000);
    t3 = TIMER0_VALUE;
    known_loop(1);
    t4 = TIMER0_VALUE;
    ota_sh_puts("icount check_ticks=");
    ota_sh_put_u32(check_ticks);
    ota_sh_puts(" apply_ticks=");
    ota_sh_put_u32(apply_ticks);
    ota_sh_puts(" calib_ticks=");
    ota_sh_put_u32((t2 - t3) - (t3 - t4));
    ota_sh_puts(" calib_instructions=3999998\n");
}

enum ota_status __wrap_ota_restore_begin(struct ota_restore *r, const struct ota_restore_config *config,
                                         void *workspace, size_t workspace_size)
{
    uint32_t t0;
    enum ota_status st;
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1;
    t0 = TIMER0_VALUE;
    st = __real_ota_restore_begin(r, config, workspace, workspace_size);
    check_ticks += t0 - TIMER0_VALUE;
    if (st != OTA_OK)
        report();
    return st;
}

enum ota_status __wrap_ota_restore_step(struct ota_restore *r)
{
    int applying = r->check_status[OTA_CHECK_PRECONDITION] == OTA_CHECK_STATUS_PASS;
    uint32_t t0 = TIMER0_VALUE;
    enum ota_status st = __real_ota_restore_step(r);
    uint32_t spent = t0 - TIMER0_VALUE;
    if (applying)
        apply_ticks += spent;
    else
        check_ticks += spent;
    if (st != OTA_OK)
        report();
    return st;
}
