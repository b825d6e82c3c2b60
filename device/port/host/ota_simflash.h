/* Simulated NOR flash for host tests: RAM-backed areas behind struct
 * ota_flash, enforcing the rules real NOR imposes and counting every
 * operation.
 *
 * Rules (each refusal is counted in `violations` and returned as a typed
 * status, so a test can assert the library never broke one):
 *   - erase: whole, aligned erase blocks, inside the area
 *   - program: aligned to write_align in offset and length, inside the area,
 *     only bytes reading as the erased value, and never a unit that was
 *     already programmed since its last erase (even with 0xFF data: flash
 *     with ECC forbids that)
 *   - read: inside the area
 *
 * Power-cut injection for the later sweeps: program and erase operations are
 * numbered 0, 1, 2 ... (`ops`). With cut_at = N + 1, operation N does not
 * happen (or, with `torn`, happens halfway: the first half of the program
 * units are programmed, or the first half of the block erased) and returns
 * OTA_ERR_FLASH_POWER_CUT; every later operation fails the same way until
 * ota_simflash_power_on() (the reboot), which keeps the flash contents.
 * `hook`, when set, sees every operation first and may fail it with any
 * status (bad blocks, I/O errors).
 */
#ifndef OTA_SIMFLASH_H
#define OTA_SIMFLASH_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_flash.h"

#define OTA_SIMFLASH_MAX_AREAS 16

enum ota_sim_op_kind { OTA_SIM_READ, OTA_SIM_WRITE, OTA_SIM_ERASE };

struct ota_sim_op {
    enum ota_sim_op_kind kind;
    unsigned area;
    uint32_t offset;
    size_t len;
    uint32_t index; /* number of the program/erase operation (reads: the next one's) */
};

struct ota_simflash {
    struct ota_flash port; /* give &sim->port to the library; port.ctx points back here */
    uint8_t *mem[OTA_SIMFLASH_MAX_AREAS];
    uint8_t *programmed[OTA_SIMFLASH_MAX_AREAS]; /* one flag per program unit */
    /* counters */
    uint32_t reads, writes, erases, violations;
    uint64_t bytes_read, bytes_written, bytes_erased;
    uint32_t ops; /* program + erase operations attempted */
    /* fault injection */
    uint32_t cut_at; /* 0: never; N + 1: cut at operation N */
    int torn;
    int powered;
    enum ota_status (*hook)(void *user, const struct ota_sim_op *op);
    void *hook_user;
};

/* areas: copied by pointer (must outlive the sim). Every byte starts erased. */
enum ota_status ota_simflash_init(struct ota_simflash *sim, const struct ota_flash_area *areas, unsigned count,
                                  uint32_t erase_block, uint32_t write_align, uint8_t erased_value);
void ota_simflash_free(struct ota_simflash *sim);
/* Test setup: raw contents, no rules, not counted; the units become programmed. */
enum ota_status ota_simflash_load(struct ota_simflash *sim, unsigned area, uint32_t offset, const void *data,
                                  size_t len);
/* The area's memory, for checks. */
const uint8_t *ota_simflash_data(const struct ota_simflash *sim, unsigned area);
/* Reboot after a cut: operations work again, contents as the cut left them. */
void ota_simflash_power_on(struct ota_simflash *sim);

#endif
