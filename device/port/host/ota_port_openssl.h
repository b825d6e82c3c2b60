/* Host port on OpenSSL libcrypto (3.x): SHA-256 and signature verification
 * for the test suite and for host tools that run the C restore. Device
 * images use ota_sha256_soft_port or their own engine instead. */
#ifndef OTA_PORT_OPENSSL_H
#define OTA_PORT_OPENSSL_H

#include "ota/ota_crypto.h"

/* state_size is one pointer: the EVP_MD_CTX lives on OpenSSL's heap from
 * start() to finish(). */
extern const struct ota_hash_port ota_sha256_openssl_port;
/* Ed25519 and ECDSA P-256 exactly as otapack signs (ota_crypto.h). */
extern const struct ota_signature_port ota_openssl_signature_port;

#endif
