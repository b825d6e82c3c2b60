/* libFuzzer target: the whole restore on package bytes (ASan + UBSan).
 *
 * The device: one 64 KiB partition "image" at address 0 holding a known
 * pattern, 4 KiB erase blocks, 4-byte program units, a staging area. The
 * invariants, beyond "no crash, no sanitizer report": nothing is erased or
 * programmed before the `restore` check (every check that authenticates and
 * prices the package comes first), nothing outside the partition and the
 * staging area, no NOR rule broken (programming a unit twice, unaligned or
 * unerased), and a restore that reports success leaves the partition's
 * target hashing as declared (checked by the engine itself). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_restore_host.h"

#define SLOT 65536u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t flash[SLOT];
    struct ota_host_partition part;
    struct ota_host_request req;
    struct ota_host_result res;
    unsigned i;
    if (size > 1u << 20)
        return 0;
    for (i = 0; i < SLOT; i++)
        flash[i] = (uint8_t)i; /* the hostile builders' old partition: every byte says where it is */
    memset(&part, 0, sizeof part);
    part.name = "image";
    part.slot_size = part.flash_size = part.data_length = SLOT;
    part.data = flash;
    memset(&req, 0, sizeof req);
    req.package = data;
    req.package_length = (uint32_t)size;
    req.partition_count = 1;
    req.partitions = &part;
    req.erase_block = 4096;
    req.write_align = 4;
    req.erased_value = 0xFF;
    req.scratch_size = SLOT;
    req.ram_budget = 1u << 20;
    req.workspace_size = OTA_RESTORE_WORKSPACE_BYTES(1u << 20);
    req.download_capacity = req.minimal_download_capacity = req.ram_budget = OTA_RESTORE_NO_LIMIT;
    req.ram_budget = 1u << 20;
    ota_host_restore(&req, &res);
    if (res.writes_before_restore || res.writes_outside || res.violations)
        abort();
    if (res.status == OTA_END && res.failure_check != OTA_CHECK_COUNT)
        abort();
    return 0;
}
