#include "ota/ota_status.h"

/* One string of NUL-terminated names and the codes in the same order: about
 * 300 B less than a switch, which the compiler turns into a pointer per value
 * of the -76..1 range. Not a hot path (logging only). */
static const signed char codes[] = {
    OTA_OK, OTA_END, OTA_ERR_ARGUMENT, OTA_ERR_WORKSPACE, OTA_ERR_UNSUPPORTED, OTA_ERR_INTERNAL,
    OTA_ERR_LZMA_DATA, OTA_ERR_LZMA_LCLP, OTA_ERR_LZMA_DICT,
    OTA_ERR_FLASH_AREA, OTA_ERR_FLASH_BOUNDS, OTA_ERR_FLASH_ALIGN, OTA_ERR_FLASH_NOT_ERASED, OTA_ERR_FLASH_IO,
    OTA_ERR_FLASH_POWER_CUT,
    OTA_ERR_HASH, OTA_ERR_SIGNATURE_INVALID, OTA_ERR_SIGNATURE_MALFORMED, OTA_ERR_SIGNATURE_ALGORITHM, OTA_ERR_KEY,
    OTA_ERR_SIGNATURE_NOT_CANONICAL,
    OTA_ERR_TRUNCATED, OTA_ERR_FORMAT, OTA_ERR_VERSION, OTA_ERR_INTEGRITY, OTA_ERR_CORRUPT_PATCH, OTA_ERR_SIGNATURE,
    OTA_ERR_ROLLBACK, OTA_ERR_INCOMPATIBLE, OTA_ERR_CHAIN_MISMATCH, OTA_ERR_CHAIN_STATE, OTA_ERR_PRECURSOR,
    OTA_ERR_TARGET, OTA_ERR_RESOURCE,
};

static const char names[] =
    "ok\0end\0argument\0workspace\0unsupported\0internal\0"
    "lzma-data\0lzma-lclp\0lzma-dict\0"
    "flash-area\0flash-bounds\0flash-align\0flash-not-erased\0flash-io\0flash-power-cut\0"
    "hash\0signature-invalid\0signature-malformed\0signature-algorithm\0key\0signature-not-canonical\0"
    "truncated\0format\0version\0integrity\0corrupt-patch\0signature\0"
    "rollback\0incompatible\0chain-mismatch\0chain-state\0precursor\0target\0resource\0"
    "unknown";

const char *ota_status_name(enum ota_status status)
{
    const char *p = names;
    unsigned i;
    for (i = 0; i < sizeof codes && codes[i] != (int)status; i++)
        while (*p++)
            ;
    return p;
}
