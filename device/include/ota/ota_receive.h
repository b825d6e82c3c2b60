/* The receive side: package bytes in as they download, into the download
 * area, with the restore's trailer, crc32 and digest checks computed on the
 * fly.
 *
 *   struct ota_receive rx;
 *   ota_receive_begin(&rx, &config, buf, sizeof buf);     -- or ota_receive_resume(), below
 *   while (more) ota_receive_write(&rx, data, n);          -- any piece sizes
 *   save(ota_receive_offset(&rx)) now and then;            -- durable prefix, for a resume
 *   ota_receive_finish(&rx, &result);                      -- result.check: OTA_CHECK_COUNT = intact
 *
 * Flash: every erase block is erased when the first byte for it is
 * programmed; bytes are collected in `buf` (the caller's, a multiple of
 * write_align) and programmed a whole buffer at a time, the last unit padded
 * with the erased value at finish; no unit is programmed twice.
 *
 * Hashes (docs/formats/package-v1.md, trailer): CRC-32 over every byte
 * before the trailer's crc32 field (kept 8 bytes behind the stream, so the
 * total need not be known in advance) and SHA-256 over [0, body_length),
 * with body_length taken from the header field at offset 12 as it passes.
 * ota_receive_finish() then runs the restore's `trailer`, `crc32` and
 * `digest` rules and reports the first failing check with the restore's
 * error class (a header body_length that disagrees with the trailer is the
 * restore's `header` failure). The restore still runs its own checks; a
 * bootloader may hand the result to it (ota_restore_config.received) to
 * skip rehashing the package, trusting that flash holds what was hashed.
 *
 * Resume: hash state cannot be stored portably, so after a reboot
 * ota_receive_resume() re-reads the stored prefix [0, offset) from flash
 * and rehashes it, one erase block per ota_receive_resume_step() call. The
 * offset is what ota_receive_offset() returned before the cut (any smaller
 * value works too). The download restarts at the start of the erase block
 * holding it, which is erased again: a program torn by the cut, or a unit
 * programmed with erased-value data, reads as erased but must not be
 * programmed twice, so the rest of that block cannot be trusted. After the
 * steps, ota_receive_offset() says where the download must restart.
 *
 * Errors are sticky. No allocation, no global state.
 */
#ifndef OTA_RECEIVE_H
#define OTA_RECEIVE_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_crypto.h"
#include "ota/ota_flash.h"
#include "ota/ota_status.h"
#include "ota_wire.h"

#define OTA_RECEIVE_WHOLE_AREA 0xFFFFFFFFu

struct ota_receive_config {
    const struct ota_flash *flash;
    unsigned area;                     /* the download area */
    uint32_t capacity;                 /* bytes accepted; OTA_RECEIVE_WHOLE_AREA: the area's size */
    const struct ota_hash_port *hash;  /* NULL: ota_sha256_soft_port */
};

/* What ota_receive_finish() found; ota_restore_config.received takes it. */
struct ota_receive_result {
    uint32_t length;                   /* bytes received (the restore's package_length) */
    uint32_t body_length;              /* digest region per the trailer (0 if the trailer is bad) */
    uint32_t crc32;                    /* over [0, length - 8) */
    uint8_t body_sha256[OTA_SHA256_SIZE]; /* over [0, body_length), valid when check passed digest */
    enum ota_check check;              /* first failing check; OTA_CHECK_COUNT: intact */
    enum ota_status status;            /* its error class (OTA_ERR_TRUNCATED, _FORMAT, _INTEGRITY); OTA_OK */
};

struct ota_receive {
    /* private */
    const struct ota_receive_config *cfg;
    uint8_t *buf;
    uint32_t buf_cap, fill;            /* buf holds bytes for [programmed, programmed + fill) */
    uint32_t programmed, received, erased_end, capacity;
    uint32_t crc, tail_len, hashed, body_field;
    uint8_t tail[OTA_TRAILER_CRC_TAIL];
    uint8_t field[4];
    uint64_t hash_state[32];
    uint32_t resume_to;
    int phase;
    enum ota_status error;
};

/* A fresh download into the area. buf: at least write_align bytes (used
 * rounded down to a multiple of it). */
enum ota_status ota_receive_begin(struct ota_receive *rx, const struct ota_receive_config *config, void *buf,
                                  size_t buf_size);
/* After a reboot: take up a download whose prefix [0, offset) is in flash.
 * Then call ota_receive_resume_step() until it returns OTA_END. */
enum ota_status ota_receive_resume(struct ota_receive *rx, const struct ota_receive_config *config, void *buf,
                                   size_t buf_size, uint32_t offset);
/* One erase block of the stored prefix checked or rehashed. OTA_OK: call
 * again; OTA_END: ready for ota_receive_write() at ota_receive_offset(). */
enum ota_status ota_receive_resume_step(struct ota_receive *rx);
/* The next len bytes of the package. A write that would pass the capacity
 * is refused whole (OTA_ERR_RESOURCE). */
enum ota_status ota_receive_write(struct ota_receive *rx, const void *data, size_t len);
/* Bytes safely in flash: where a download resumes after a reboot. */
uint32_t ota_receive_offset(const struct ota_receive *rx);
/* Program the last bytes and judge the download. OTA_OK: result filled
 * (result->check says whether it is intact); negative: a flash or hash
 * failure, or an earlier error. */
enum ota_status ota_receive_finish(struct ota_receive *rx, struct ota_receive_result *result);

#endif
