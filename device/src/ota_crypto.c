/* The software SHA-256 port and the portable part of signature checking. */
#include <string.h>

#include "ota/ota_crypto.h"

static enum ota_status soft_start(void *ctx, void *state)
{
    (void)ctx;
    ota_sha256_init((struct ota_sha256 *)state);
    return OTA_OK;
}

static enum ota_status soft_update(void *ctx, void *state, const void *data, size_t len)
{
    (void)ctx;
    ota_sha256_update((struct ota_sha256 *)state, data, len);
    return OTA_OK;
}

static enum ota_status soft_finish(void *ctx, void *state, uint8_t digest[OTA_SHA256_SIZE])
{
    (void)ctx;
    ota_sha256_final((struct ota_sha256 *)state, digest);
    return OTA_OK;
}

const struct ota_hash_port ota_sha256_soft_port = {
    "sha256-soft", NULL, sizeof(struct ota_sha256), soft_start, soft_update, soft_finish,
};

#if OTA_WITH_SIGNATURE
/* Order n of the P-256 group and floor(n/2) (SEC 2, FIPS 186-4 D.1.2.3). */
static const uint8_t P256_N[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
};
static const uint8_t P256_HALF_N[32] = {
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
};

/* Big-endian 256-bit comparison: <0, 0, >0. Public data, so no need for
 * constant time. */
static int cmp256(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, 32);
}

static int is_zero256(const uint8_t *a)
{
    unsigned i, acc = 0;
    for (i = 0; i < 32; i++)
        acc |= a[i];
    return acc == 0;
}

enum ota_status ota_signature_check_form(unsigned algorithm, const uint8_t *public_key, size_t key_len,
                                         const uint8_t *signature, size_t signature_len)
{
    if (!public_key || !signature)
        return OTA_ERR_ARGUMENT;
    switch (algorithm) {
    case OTA_SIG_ED25519:
        if (key_len != OTA_ED25519_KEY_SIZE)
            return OTA_ERR_KEY;
        return signature_len == OTA_SIGNATURE_SIZE ? OTA_OK : OTA_ERR_SIGNATURE_MALFORMED;
    case OTA_SIG_ECDSA_P256:
        if (key_len != OTA_P256_KEY_SIZE || public_key[0] != 0x04)
            return OTA_ERR_KEY;
        if (signature_len != OTA_SIGNATURE_SIZE)
            return OTA_ERR_SIGNATURE_MALFORMED;
        if (is_zero256(signature) || cmp256(signature, P256_N) >= 0 || is_zero256(signature + 32) ||
            cmp256(signature + 32, P256_N) >= 0)
            return OTA_ERR_SIGNATURE_MALFORMED;
        if (cmp256(signature + 32, P256_HALF_N) > 0)
            return OTA_ERR_SIGNATURE_NOT_CANONICAL;
        return OTA_OK;
    default:
        return OTA_ERR_SIGNATURE_ALGORITHM;
    }
}

enum ota_status ota_signature_verify(const struct ota_signature_port *port, unsigned algorithm,
                                     const uint8_t *public_key, size_t key_len,
                                     const uint8_t digest[OTA_SHA256_SIZE], const uint8_t *signature,
                                     size_t signature_len)
{
    enum ota_status st;
    if (!port || !port->verify || !digest)
        return OTA_ERR_ARGUMENT;
    st = ota_signature_check_form(algorithm, public_key, key_len, signature, signature_len);
    if (st != OTA_OK)
        return st;
    return port->verify(port->ctx, algorithm, public_key, key_len, digest, signature, signature_len);
}
#else
enum ota_status ota_signature_check_form(unsigned algorithm, const uint8_t *public_key, size_t key_len,
                                         const uint8_t *signature, size_t signature_len)
{
    (void)algorithm, (void)public_key, (void)key_len, (void)signature, (void)signature_len;
    return OTA_ERR_UNSUPPORTED;
}

enum ota_status ota_signature_verify(const struct ota_signature_port *port, unsigned algorithm,
                                     const uint8_t *public_key, size_t key_len,
                                     const uint8_t digest[OTA_SHA256_SIZE], const uint8_t *signature,
                                     size_t signature_len)
{
    (void)port, (void)algorithm, (void)public_key, (void)key_len, (void)digest, (void)signature,
        (void)signature_len;
    return OTA_ERR_UNSUPPORTED;
}
#endif
