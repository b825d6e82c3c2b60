/* OpenSSL 3 implementation of the hash and signature ports. Only the
 * non-deprecated EVP interfaces are used, so -Werror builds stay clean. */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <string.h>

#include "ota_port_openssl.h"

static enum ota_status ossl_start(void *ctx, void *state)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    (void)ctx;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return OTA_ERR_HASH;
    }
    memcpy(state, &md, sizeof md);
    return OTA_OK;
}

static EVP_MD_CTX *md_of(void *state)
{
    EVP_MD_CTX *md;
    memcpy(&md, state, sizeof md);
    return md;
}

static enum ota_status ossl_update(void *ctx, void *state, const void *data, size_t len)
{
    (void)ctx;
    return EVP_DigestUpdate(md_of(state), data, len) == 1 ? OTA_OK : OTA_ERR_HASH;
}

static enum ota_status ossl_finish(void *ctx, void *state, uint8_t digest[OTA_SHA256_SIZE])
{
    EVP_MD_CTX *md = md_of(state);
    unsigned len = 0;
    int ok = EVP_DigestFinal_ex(md, digest, &len) == 1 && len == OTA_SHA256_SIZE;
    (void)ctx;
    EVP_MD_CTX_free(md);
    return ok ? OTA_OK : OTA_ERR_HASH;
}

const struct ota_hash_port ota_sha256_openssl_port = {
    "sha256-openssl", NULL, sizeof(EVP_MD_CTX *), ossl_start, ossl_update, ossl_finish,
};

/* A P-256 public key from its 65-byte SEC1 point; NULL if not on the curve. */
static EVP_PKEY *p256_key(const uint8_t *point, size_t len)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    int ok = pctx && bld &&
             OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, len) == 1 &&
             (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(pctx) == 1 &&
             EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
    if (!ok) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(pctx);
    if (key) { /* fromdata does not always check the point is on the curve */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        int on_curve = check && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!on_curve) {
            EVP_PKEY_free(key);
            key = NULL;
        }
    }
    return key;
}

/* Raw r||s to the DER ECDSA-Sig-Value OpenSSL verifies. */
static int p256_der(const uint8_t *sig, unsigned char **der)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    int len = -1;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        len = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return len;
}

static enum ota_status ossl_verify(void *ctx, unsigned algorithm, const uint8_t *public_key, size_t key_len,
                                   const uint8_t digest[OTA_SHA256_SIZE], const uint8_t *signature,
                                   size_t signature_len)
{
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *der = NULL;
    enum ota_status st = OTA_ERR_SIGNATURE_INVALID;
    int r;
    (void)ctx;
    if (algorithm == OTA_SIG_ED25519) {
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, key_len);
        if (!key)
            return OTA_ERR_KEY;
        md = EVP_MD_CTX_new();
        /* pure Ed25519: no digest given, the 32 bytes are the message */
        if (md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1) {
            r = EVP_DigestVerify(md, signature, signature_len, digest, OTA_SHA256_SIZE);
            st = r == 1 ? OTA_OK : OTA_ERR_SIGNATURE_INVALID;
        } else {
            st = OTA_ERR_INTERNAL;
        }
    } else if (algorithm == OTA_SIG_ECDSA_P256) {
        int der_len;
        if (signature_len != 64)
            return OTA_ERR_SIGNATURE_MALFORMED;
        key = p256_key(public_key, key_len);
        if (!key)
            return OTA_ERR_KEY;
        der_len = p256_der(signature, &der);
        md = EVP_MD_CTX_new();
        /* the curve sees SHA-256 of the 32 digest bytes */
        if (der_len > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1) {
            r = EVP_DigestVerify(md, der, (size_t)der_len, digest, OTA_SHA256_SIZE);
            st = r == 1 ? OTA_OK : OTA_ERR_SIGNATURE_INVALID;
        } else {
            st = der_len > 0 ? OTA_ERR_INTERNAL : OTA_ERR_SIGNATURE_MALFORMED;
        }
    } else {
        return OTA_ERR_SIGNATURE_ALGORITHM;
    }
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return st;
}

const struct ota_signature_port ota_openssl_signature_port = {"openssl", NULL, ossl_verify};
