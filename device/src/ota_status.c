#include "ota/ota_status.h"

const char *ota_status_name(enum ota_status status)
{
    switch (status) {
    case OTA_OK: return "ok";
    case OTA_END: return "end";
    case OTA_ERR_ARGUMENT: return "argument";
    case OTA_ERR_WORKSPACE: return "workspace";
    case OTA_ERR_UNSUPPORTED: return "unsupported";
    case OTA_ERR_INTERNAL: return "internal";
    case OTA_ERR_LZMA_DATA: return "lzma-data";
    case OTA_ERR_LZMA_LCLP: return "lzma-lclp";
    case OTA_ERR_LZMA_DICT: return "lzma-dict";
    case OTA_ERR_FLASH_AREA: return "flash-area";
    case OTA_ERR_FLASH_BOUNDS: return "flash-bounds";
    case OTA_ERR_FLASH_ALIGN: return "flash-align";
    case OTA_ERR_FLASH_NOT_ERASED: return "flash-not-erased";
    case OTA_ERR_FLASH_IO: return "flash-io";
    case OTA_ERR_FLASH_POWER_CUT: return "flash-power-cut";
    case OTA_ERR_HASH: return "hash";
    case OTA_ERR_SIGNATURE_INVALID: return "signature-invalid";
    case OTA_ERR_SIGNATURE_MALFORMED: return "signature-malformed";
    case OTA_ERR_SIGNATURE_ALGORITHM: return "signature-algorithm";
    case OTA_ERR_KEY: return "key";
    case OTA_ERR_SIGNATURE_NOT_CANONICAL: return "signature-not-canonical";
    case OTA_ERR_TRUNCATED: return "truncated";
    case OTA_ERR_FORMAT: return "format";
    case OTA_ERR_VERSION: return "version";
    case OTA_ERR_INTEGRITY: return "integrity";
    case OTA_ERR_CORRUPT_PATCH: return "corrupt-patch";
    case OTA_ERR_SIGNATURE: return "signature";
    case OTA_ERR_ROLLBACK: return "rollback";
    case OTA_ERR_INCOMPATIBLE: return "incompatible";
    case OTA_ERR_CHAIN_MISMATCH: return "chain-mismatch";
    case OTA_ERR_CHAIN_STATE: return "chain-state";
    case OTA_ERR_PRECURSOR: return "precursor";
    case OTA_ERR_TARGET: return "target";
    case OTA_ERR_RESOURCE: return "resource";
    }
    return "unknown";
}
