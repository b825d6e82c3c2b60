/* otapack device library: one status type for every call.
 *
 * Values are grouped in ranges so the list can grow without renumbering:
 *   0, 1          success (OTA_END: a stream reached its end marker)
 *   -1 .. -15     caller or configuration errors (an integration bug, never bad input)
 *   -16 .. -31    LZMA2 stream
 *   -32 .. -47    flash port
 *   -48 .. -63    hash and signature ports
 *   -64 .. -127   the restore engine's error classes: one per exception class
 *                 of otapack/errors.py the Python restore raises, so C and
 *                 Python results compare by name (the check that failed is
 *                 reported beside it, struct ota_restore_failure)
 * Numbers are ABI: never reuse one. ota_status_name() gives a stable name.
 */
#ifndef OTA_STATUS_H
#define OTA_STATUS_H

enum ota_status {
    OTA_OK = 0,
    OTA_END = 1,

    OTA_ERR_ARGUMENT = -1,     /* NULL pointer, value out of range */
    OTA_ERR_WORKSPACE = -2,    /* workspace missing, misaligned or too small */
    OTA_ERR_UNSUPPORTED = -3,  /* compiled out (OTA_WITH_*) or not provided by the port */
    OTA_ERR_INTERNAL = -4,     /* an invariant failed: a library bug */

    OTA_ERR_LZMA_DATA = -16,   /* corrupt or truncated-and-finished LZMA2 stream */
    OTA_ERR_LZMA_LCLP = -17,   /* chunk needs lc+lp above what the workspace was sized for */
    OTA_ERR_LZMA_DICT = -18,   /* dictionary does not fit the workspace, or is out of range */

    OTA_ERR_FLASH_AREA = -32,      /* unknown area id */
    OTA_ERR_FLASH_BOUNDS = -33,    /* operation outside the area */
    OTA_ERR_FLASH_ALIGN = -34,     /* offset or length not a multiple of the unit */
    OTA_ERR_FLASH_NOT_ERASED = -35,/* program over bytes that are not erased */
    OTA_ERR_FLASH_IO = -36,        /* the port reports a device failure */
    OTA_ERR_FLASH_POWER_CUT = -37, /* simulated power loss (test flash only) */

    OTA_ERR_HASH = -48,                /* hash engine failure */
    OTA_ERR_SIGNATURE_INVALID = -49,   /* well formed, does not verify */
    OTA_ERR_SIGNATURE_MALFORMED = -50, /* wrong length, r/s out of range, high S */
    OTA_ERR_SIGNATURE_ALGORITHM = -51, /* algorithm id unknown or not supported by the port */
    OTA_ERR_KEY = -52,                 /* public key of the wrong size or not on the curve */
    OTA_ERR_SIGNATURE_NOT_CANONICAL = -53, /* ECDSA s in the upper half: otapack stores low-S */

    /* Restore error classes (Python class in brackets). */
    OTA_ERR_TRUNCATED = -64,      /* [TruncatedPackageError] */
    OTA_ERR_FORMAT = -65,         /* [PackageFormatError] */
    OTA_ERR_VERSION = -66,        /* [UnsupportedVersionError] */
    OTA_ERR_INTEGRITY = -67,      /* [IntegrityError] CRC-32 or SHA-256 of the package */
    OTA_ERR_CORRUPT_PATCH = -68,  /* [CorruptPatchError] a delta-v1 rule */
    OTA_ERR_SIGNATURE = -69,      /* [SignatureError] */
    OTA_ERR_ROLLBACK = -70,       /* [RollbackError] */
    OTA_ERR_INCOMPATIBLE = -71,   /* [IncompatibleDeviceError] */
    OTA_ERR_CHAIN_MISMATCH = -72, /* [ChainMismatchError] */
    OTA_ERR_CHAIN_STATE = -73,    /* [ChainStateError] */
    OTA_ERR_PRECURSOR = -74,      /* [PrecursorMismatchError] */
    OTA_ERR_TARGET = -75,         /* [TargetMismatchError] */
    OTA_ERR_RESOURCE = -76        /* [ResourceLimitError] RAM, scratch, download area, flash faults */
};

/* Stable lower-case name, e.g. "lzma-data"; "unknown" for other values. */
const char *ota_status_name(enum ota_status status);

#endif
