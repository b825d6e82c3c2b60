/* Hash and signature ports.
 *
 * Both are structs of callbacks (chosen over link-time functions so one
 * image can carry two engines, e.g. a hardware SHA for the package digest
 * and software for a small region, and so tests can swap them per case).
 * The library never allocates: a running hash lives in caller memory of
 * `state_size` bytes, which the restore engine takes from its workspace.
 *
 * Signatures (docs/formats/package-v1.md, otapack signing):
 *   OTA_SIG_ED25519     pure Ed25519 (RFC 8032) over the 32 bytes of
 *                       body_sha256; public key 32 bytes. The verifier needs
 *                       SHA-512 internally; that stays inside the port.
 *   OTA_SIG_ECDSA_P256  ECDSA P-256 whose curve input is SHA-256(body_sha256)
 *                       (i.e. the 32-byte digest is the message, hashed once
 *                       more); signature raw r||s, 32 bytes each, big
 *                       endian, low-S required; public key the 65-byte
 *                       uncompressed SEC1 point 04||X||Y.
 * Ports verify; they must not be trusted to police the encoding, so
 * ota_signature_verify() checks sizes, r/s ranges and low-S itself first
 * (plain comparisons with the group order: no cryptography).
 */
#ifndef OTA_CRYPTO_H
#define OTA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_config.h"
#include "ota/ota_sha256.h"
#include "ota/ota_status.h"
#include "ota_wire.h"

struct ota_hash_port {
    const char *name;
    void *ctx;          /* the engine's handle, passed back verbatim */
    size_t state_size;  /* caller memory for one running hash, 8-byte aligned */
    enum ota_status (*start)(void *ctx, void *state);
    enum ota_status (*update)(void *ctx, void *state, const void *data, size_t len);
    enum ota_status (*finish)(void *ctx, void *state, uint8_t digest[OTA_SHA256_SIZE]);
};

/* SHA-256 through src/ota_sha256.c. */
extern const struct ota_hash_port ota_sha256_soft_port;

/* enum ota_signature_algorithm (OTA_SIG_ED25519, OTA_SIG_ECDSA_P256) comes from the generated wire header. */

#define OTA_SIGNATURE_SIZE 64u
#define OTA_ED25519_KEY_SIZE 32u
#define OTA_P256_KEY_SIZE 65u

struct ota_signature_port {
    const char *name;
    void *ctx;
    /* OTA_OK when the signature verifies; OTA_ERR_SIGNATURE_INVALID when it
     * does not; OTA_ERR_SIGNATURE_ALGORITHM when the port lacks the
     * algorithm; OTA_ERR_KEY for an unusable key. */
    enum ota_status (*verify)(void *ctx, unsigned algorithm, const uint8_t *public_key, size_t key_len,
                              const uint8_t digest[OTA_SHA256_SIZE], const uint8_t *signature,
                              size_t signature_len);
};

/* Sizes, and for ECDSA 0 < r < n and 0 < s <= n/2. No cryptography. */
enum ota_status ota_signature_check_form(unsigned algorithm, const uint8_t *public_key, size_t key_len,
                                         const uint8_t *signature, size_t signature_len);
/* ota_signature_check_form(), then the port. OTA_ERR_UNSUPPORTED when
 * built with OTA_WITH_SIGNATURE=0. */
enum ota_status ota_signature_verify(const struct ota_signature_port *port, unsigned algorithm,
                                     const uint8_t *public_key, size_t key_len,
                                     const uint8_t digest[OTA_SHA256_SIZE], const uint8_t *signature,
                                     size_t signature_len);

#endif
