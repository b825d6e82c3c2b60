/* Signature verification through ota_signature_verify() and the OpenSSL
 * port.
 *
 *   test_port_openssl                  form checks that need no key
 *   test_port_openssl VECTORS          also every line of VECTORS:
 *       <algorithm id> <key hex> <digest hex> <signature hex> <expected status name>
 *     (written by tests/device/test_device_signature.py with otapack's own
 *     signing code, so C and Python verify the same bytes the same way)
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ota/ota_crypto.h"
#include "ota_port_openssl.h"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (s[0] && s[1] && n < max) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void test_forms(void)
{
    uint8_t key[65] = {0x04}, sig[64], dig[32] = {0};
    static const uint8_t half_n[32] = {
        0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8};
    memset(sig, 1, sizeof sig);
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 64), OTA_OK);
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 64, sig, 64), OTA_ERR_KEY);
    key[0] = 0x02; /* compressed points are not the stored form */
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 64), OTA_ERR_KEY);
    key[0] = 0x04;
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 63), OTA_ERR_SIGNATURE_MALFORMED);
    memset(sig, 0, 32); /* r = 0 */
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 64), OTA_ERR_SIGNATURE_MALFORMED);
    memset(sig, 0xFF, 32); /* r > n */
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 64), OTA_ERR_SIGNATURE_MALFORMED);
    memset(sig, 1, 32);
    memcpy(sig + 32, half_n, 32); /* s = n/2: the largest low S */
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 64), OTA_OK);
    sig[63]++; /* s = n/2 + 1 */
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ECDSA_P256, key, 65, sig, 64),
                    OTA_ERR_SIGNATURE_NOT_CANONICAL);
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ED25519, key, 32, sig, 64), OTA_OK);
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ED25519, key, 65, sig, 64), OTA_ERR_KEY);
    CHECK_EQ_STATUS(ota_signature_check_form(OTA_SIG_ED25519, key, 32, sig, 65), OTA_ERR_SIGNATURE_MALFORMED);
    CHECK_EQ_STATUS(ota_signature_check_form(3, key, 32, sig, 64), OTA_ERR_SIGNATURE_ALGORITHM);
    CHECK_EQ_STATUS(ota_signature_verify(&ota_openssl_signature_port, 0, key, 32, dig, sig, 64),
                    OTA_ERR_SIGNATURE_ALGORITHM);
    CHECK_EQ_STATUS(ota_signature_verify(NULL, 1, key, 32, dig, sig, 64), OTA_ERR_ARGUMENT);
}

static unsigned long run_vectors(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    unsigned long n = 0;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        checks_failed++;
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned alg;
        char keyh[300], digh[100], sigh[300], want[64];
        uint8_t key[150], dig[50], sig[150];
        size_t kl, dl, sl;
        enum ota_status st;
        if (line[0] == '#' || sscanf(line, "%u %299s %99s %299s %63s", &alg, keyh, digh, sigh, want) != 5)
            continue;
        kl = unhex(keyh, key, sizeof key);
        dl = unhex(digh, dig, sizeof dig);
        sl = unhex(sigh, sig, sizeof sig);
        st = dl == 32 ? ota_signature_verify(&ota_openssl_signature_port, alg, key, kl, dig, sig, sl)
                      : OTA_ERR_ARGUMENT;
        checks_run++;
        n++;
        if (strcmp(ota_status_name(st), want)) {
            checks_failed++;
            fprintf(stderr, "vector %lu (alg %u): got %s, expected %s\n", n, alg, ota_status_name(st), want);
        }
    }
    fclose(f);
    printf("vectors: %lu\n", n);
    return n;
}

int main(int argc, char **argv)
{
    test_forms();
    if (argc > 1)
        CHECK(run_vectors(argv[1]) > 0);
    return checks_report("test_port_openssl");
}
