/* SHA-256 (FIPS 180-4) in plain C, for ports without a hash engine.
 *
 * Incremental: the state struct (112 bytes) can be kept across calls and
 * across package pieces as they download; no allocation, no globals. Ports
 * with hardware SHA plug in through struct ota_hash_port (ota_crypto.h).
 */
#ifndef OTA_SHA256_H
#define OTA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define OTA_SHA256_SIZE 32u

struct ota_sha256 {
    uint32_t h[8];
    uint64_t bytes;      /* message length so far */
    uint8_t block[64];
    uint32_t block_len;  /* bytes buffered in block */
};

void ota_sha256_init(struct ota_sha256 *s);
void ota_sha256_update(struct ota_sha256 *s, const void *data, size_t len);
/* Writes the digest; the struct must be initialised again before reuse. */
void ota_sha256_final(struct ota_sha256 *s, uint8_t digest[OTA_SHA256_SIZE]);
/* One-shot convenience. */
void ota_sha256(const void *data, size_t len, uint8_t digest[OTA_SHA256_SIZE]);

#endif
