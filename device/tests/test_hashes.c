/* SHA-256 and CRC-32: the NIST/FIPS 180 example vectors and CAVP short
 * messages, incremental hashing over every split, and agreement between the
 * software hash and the OpenSSL port on random data.
 *
 *   test_hashes                 the checks
 *   test_hashes --long          also the FIPS "extreme" 1 GiB message
 *   test_hashes --file PATH     print "sha256=<hex> crc32=<hex>" of a file,
 *                               hashed in random pieces by both ports (the
 *                               pytest side compares with hashlib / zlib)
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ota/ota_crc32.h"
#include "ota/ota_crypto.h"
#include "ota/ota_sha256.h"
#include "ota_port_openssl.h"

static uint64_t rng = 7;
static uint32_t rnd32(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = 0;
}

static int sha_is(const void *msg, size_t len, const char *want)
{
    uint8_t d[32];
    char h[65];
    ota_sha256(msg, len, d);
    hex(d, 32, h);
    if (strcmp(h, want))
        fprintf(stderr, "sha256 of %zu bytes = %s, expected %s\n", len, h, want);
    return !strcmp(h, want);
}

/* A port, fed in random pieces. */
static enum ota_status port_hash(const struct ota_hash_port *p, const uint8_t *data, size_t len, uint8_t out[32])
{
    uint64_t state[64];
    size_t at = 0;
    enum ota_status st;
    if (p->state_size > sizeof state)
        return OTA_ERR_WORKSPACE;
    st = p->start(p->ctx, state);
    while (st == OTA_OK && at < len) {
        size_t k = 1 + rnd32() % (rnd32() % 2 ? 100 : 70000);
        if (k > len - at)
            k = len - at;
        st = p->update(p->ctx, state, data + at, k);
        at += k;
    }
    return st == OTA_OK ? p->finish(p->ctx, state, out) : st;
}

static void test_vectors(int longrun)
{
    static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    static const uint8_t cavp1[] = {0xd3}, cavp2[] = {0x11, 0xaf}, cavp3[] = {0xb4, 0x19, 0x0e},
                         cavp4[] = {0x74, 0xba, 0x25, 0x21};
    uint8_t *million = malloc(1000000);
    struct ota_sha256 s;
    uint8_t d[32];
    char h[65];
    size_t i;
    /* FIPS 180-2 appendix B and the NIST example values */
    CHECK(sha_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(sha_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(sha_is(m448, 56, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    CHECK(sha_is(m896, 112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
    memset(million, 'a', 1000000);
    CHECK(sha_is(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* the million 'a' in 1000-byte updates, as the NIST text describes it */
    ota_sha256_init(&s);
    for (i = 0; i < 1000; i++)
        ota_sha256_update(&s, million, 1000);
    ota_sha256_final(&s, d);
    hex(d, 32, h);
    CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    free(million);
    /* CAVP SHA256ShortMsg, the first byte-length messages */
    CHECK(sha_is(cavp1, 1, "28969cdfa74a12c82f3bad960b0b000aca2ac329deea5c2328ebc6f2ba9802c1"));
    CHECK(sha_is(cavp2, 2, "5ca7133fa735326081558ac312c620eeca9970d1e70a4b95533d956f072d1f98"));
    CHECK(sha_is(cavp3, 3, "dff2e73091f6c05e528896c4c831b9448653dc2ff043528f6769437bc7b975c2"));
    CHECK(sha_is(cavp4, 4, "b16aa56be3880d18cd41e68384cf1ec8c17680c45a02b1575dc1518923ae8b0e"));
    if (longrun) { /* FIPS 180 "extreme": the 64-byte pattern repeated 2^24 times */
        static const char pat[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno";
        ota_sha256_init(&s);
        for (i = 0; i < 16777216; i++)
            ota_sha256_update(&s, pat, 64);
        ota_sha256_final(&s, d);
        hex(d, 32, h);
        CHECK(!strcmp(h, "50e72a0e26442fe2552dc3938ac58658228c0cbfb1d2ca872ae435266fcd055e"));
    }
    /* CRC-32 check value of the catalogue ("123456789") */
    CHECK(ota_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(ota_crc32(0, "", 0) == 0);
    CHECK(ota_crc32(ota_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u);
}

/* Every length 0..300 at every split point: incremental = one shot, and the
 * OpenSSL port agrees. Around the 55/56/64-byte padding edges this is where
 * length-handling bugs live. */
static void test_splits(void)
{
    uint8_t buf[300], d1[32], d2[32], d3[32];
    size_t len, cut;
    unsigned bad = 0;
    for (len = 0; len < sizeof buf; len++)
        buf[len] = (uint8_t)rnd32();
    for (len = 0; len <= sizeof buf; len++) {
        ota_sha256(buf, len, d1);
        CHECK_EQ_STATUS(port_hash(&ota_sha256_openssl_port, buf, len, d3), OTA_OK);
        bad += memcmp(d1, d3, 32) != 0;
        for (cut = 0; cut <= len; cut += (len > 140 ? 7 : 1)) {
            struct ota_sha256 s;
            ota_sha256_init(&s);
            ota_sha256_update(&s, buf, cut);
            ota_sha256_update(&s, buf + cut, len - cut);
            ota_sha256_final(&s, d2);
            bad += memcmp(d1, d2, 32) != 0;
            bad += ota_crc32(ota_crc32(0, buf, cut), buf + cut, len - cut) != ota_crc32(0, buf, len);
        }
    }
    CHECK(bad == 0);
}

/* Random data up to 3 MB through both ports. */
static void test_random_ports(void)
{
    size_t round;
    for (round = 0; round < 24; round++) {
        size_t len = round < 12 ? rnd32() % 5000 : rnd32() % 3000000, i;
        uint8_t *buf = malloc(len + 1), d1[32], d2[32];
        for (i = 0; i < len; i++)
            buf[i] = (uint8_t)rnd32();
        CHECK_EQ_STATUS(port_hash(&ota_sha256_soft_port, buf, len, d1), OTA_OK);
        CHECK_EQ_STATUS(port_hash(&ota_sha256_openssl_port, buf, len, d2), OTA_OK);
        CHECK(!memcmp(d1, d2, 32));
        free(buf);
    }
}

static int hash_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf, d1[32], d2[32];
    long len;
    char h[65];
    if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    buf = malloc((size_t)len + 1);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len)
        return 2;
    fclose(f);
    if (port_hash(&ota_sha256_soft_port, buf, (size_t)len, d1) != OTA_OK ||
        port_hash(&ota_sha256_openssl_port, buf, (size_t)len, d2) != OTA_OK || memcmp(d1, d2, 32)) {
        fprintf(stderr, "software and OpenSSL SHA-256 disagree on %s\n", path);
        return 1;
    }
    {
        uint32_t crc = 0;
        size_t at = 0;
        while (at < (size_t)len) { /* random pieces here too */
            size_t k = 1 + rnd32() % 5000;
            if (k > (size_t)len - at)
                k = (size_t)len - at;
            crc = ota_crc32(crc, buf + at, k);
            at += k;
        }
        hex(d1, 32, h);
        printf("sha256=%s crc32=%08lx\n", h, (unsigned long)crc);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--file"))
        return hash_file(argv[2]);
    test_vectors(argc == 2 && !strcmp(argv[1], "--long"));
    test_splits();
    test_random_ports();
    return checks_report("test_hashes");
}
