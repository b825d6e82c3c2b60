/* CRC-32 with the zlib polynomial (reflected 0xEDB88320), as the package
 * trailer's crc32 field.
 *
 * Incremental in zlib's style: start with crc = 0 and pass the previous
 * result back in, so ota_crc32(ota_crc32(0, a), b) = crc of a||b, equal to
 * Python's zlib.crc32. Table driven: a 64-byte nibble table by default at
 * -Os (OTA_CRC32_SMALL, about half the speed), else a 1 KiB const table.
 */
#ifndef OTA_CRC32_H
#define OTA_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t ota_crc32(uint32_t crc, const void *data, size_t len);

#endif
