/* Receive API: package bytes into the download area with the trailer's
 * CRC-32 and SHA-256 computed as they pass (see ota/ota_receive.h). */
#include <string.h>

#include "ota/ota_crc32.h"
#include "ota/ota_receive.h"

enum { PH_NONE, PH_REHASH, PH_RECEIVE, PH_DONE };

static const struct ota_hash_port *port_of(const struct ota_receive *rx)
{
    return rx->cfg->hash ? rx->cfg->hash : &ota_sha256_soft_port;
}

static enum ota_status fail(struct ota_receive *rx, enum ota_status st)
{
    if (rx->error == OTA_OK)
        rx->error = st;
    return rx->error;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The hashes see byte `received` onwards: CRC 8 bytes behind (the crc32
 * field and magic are not covered), SHA-256 up to the header's body_length. */
static enum ota_status absorb(struct ota_receive *rx, const uint8_t *p, size_t n)
{
    const struct ota_hash_port *h = port_of(rx);
    size_t i;
    while (n) {
        uint32_t at = rx->received;
        size_t k = n;
        enum ota_status st;
        if (at < OTA_HDR_BODY_LENGTH_OFFSET + 4u) {
            /* the fixed header is always digested; capture body_length on the way */
            if (k > OTA_HDR_BODY_LENGTH_OFFSET + 4u - at)
                k = OTA_HDR_BODY_LENGTH_OFFSET + 4u - at;
            for (i = 0; i < k; i++)
                if (at + i >= OTA_HDR_BODY_LENGTH_OFFSET)
                    rx->field[at + i - OTA_HDR_BODY_LENGTH_OFFSET] = p[i];
            if (at + k == OTA_HDR_BODY_LENGTH_OFFSET + 4u)
                rx->body_field = le32(rx->field);
            st = h->update(h->ctx, rx->hash_state, p, k);
            if (st != OTA_OK)
                return fail(rx, OTA_ERR_HASH);
            rx->hashed += (uint32_t)k;
        } else if (at < rx->body_field) {
            if (k > rx->body_field - at)
                k = rx->body_field - at;
            st = h->update(h->ctx, rx->hash_state, p, k);
            if (st != OTA_OK)
                return fail(rx, OTA_ERR_HASH);
            rx->hashed += (uint32_t)k;
        }
        /* CRC: everything but the last 8 bytes seen */
        if (k >= OTA_TRAILER_CRC_TAIL) {
            rx->crc = ota_crc32(rx->crc, rx->tail, rx->tail_len);
            rx->crc = ota_crc32(rx->crc, p, k - OTA_TRAILER_CRC_TAIL);
            memcpy(rx->tail, p + k - OTA_TRAILER_CRC_TAIL, OTA_TRAILER_CRC_TAIL);
            rx->tail_len = OTA_TRAILER_CRC_TAIL;
        } else {
            size_t over = rx->tail_len + k > OTA_TRAILER_CRC_TAIL ? rx->tail_len + k - OTA_TRAILER_CRC_TAIL : 0;
            rx->crc = ota_crc32(rx->crc, rx->tail, over);
            memmove(rx->tail, rx->tail + over, rx->tail_len - over);
            memcpy(rx->tail + rx->tail_len - over, p, k);
            rx->tail_len = (uint32_t)(rx->tail_len - over + k);
        }
        rx->received += (uint32_t)k;
        p += k;
        n -= k;
    }
    return OTA_OK;
}

static enum ota_status setup(struct ota_receive *rx, const struct ota_receive_config *cfg, void *buf,
                             size_t buf_size)
{
    const struct ota_flash *f;
    const struct ota_hash_port *h;
    uint32_t size;
    if (!rx || !cfg || !cfg->flash || !buf)
        return OTA_ERR_ARGUMENT;
    memset(rx, 0, sizeof *rx);
    f = cfg->flash;
    if (ota_flash_check(f) != OTA_OK || cfg->area >= f->area_count)
        return OTA_ERR_ARGUMENT;
    h = cfg->hash ? cfg->hash : &ota_sha256_soft_port;
    if (h->state_size > sizeof rx->hash_state)
        return OTA_ERR_ARGUMENT;
    if (buf_size < f->write_align)
        return OTA_ERR_WORKSPACE;
    size = f->areas[cfg->area].size;
    rx->cfg = cfg;
    rx->buf = (uint8_t *)buf;
    rx->buf_cap = (uint32_t)(buf_size > f->erase_block ? f->erase_block : buf_size);
    rx->buf_cap -= rx->buf_cap % f->write_align;
    rx->capacity = cfg->capacity < size ? cfg->capacity : size;
    rx->body_field = 0xFFFFFFFFu;
    if (h->start(h->ctx, rx->hash_state) != OTA_OK)
        return fail(rx, OTA_ERR_HASH);
    return OTA_OK;
}

enum ota_status ota_receive_begin(struct ota_receive *rx, const struct ota_receive_config *config, void *buf,
                                  size_t buf_size)
{
    enum ota_status st = setup(rx, config, buf, buf_size);
    if (st == OTA_OK)
        rx->phase = PH_RECEIVE;
    return st;
}

enum ota_status ota_receive_resume(struct ota_receive *rx, const struct ota_receive_config *config, void *buf,
                                   size_t buf_size, uint32_t offset)
{
    enum ota_status st = setup(rx, config, buf, buf_size);
    if (st != OTA_OK)
        return st;
    if (offset > rx->capacity)
        return fail(rx, OTA_ERR_ARGUMENT);
    /* Restart at the erase block holding the offset, and erase it again: the
     * cut may have torn a program there, and a unit programmed with erased-
     * value data reads as erased yet must not be programmed again (ECC
     * flash), so no read-back can prove the rest of the block usable. */
    rx->resume_to = offset - offset % config->flash->erase_block;
    rx->phase = rx->resume_to ? PH_REHASH : PH_RECEIVE;
    return OTA_OK;
}

enum ota_status ota_receive_resume_step(struct ota_receive *rx)
{
    const struct ota_flash *f;
    uint32_t end;
    if (!rx || !rx->cfg)
        return OTA_ERR_ARGUMENT;
    if (rx->error != OTA_OK)
        return rx->error;
    if (rx->phase != PH_REHASH)
        return rx->phase == PH_RECEIVE ? OTA_END : OTA_ERR_ARGUMENT;
    f = rx->cfg->flash;
    /* one erase block of the prefix, through the same path as downloaded bytes */
    end = rx->received + f->erase_block;
    if (end > rx->resume_to)
        end = rx->resume_to;
    while (rx->received < end) {
        uint32_t n = end - rx->received < rx->buf_cap ? end - rx->received : rx->buf_cap;
        enum ota_status st = ota_flash_read(f, rx->cfg->area, rx->received, rx->buf, n);
        if (st != OTA_OK)
            return fail(rx, st);
        st = absorb(rx, rx->buf, n);
        if (st != OTA_OK)
            return st;
    }
    rx->programmed = rx->erased_end = rx->received;
    if (rx->received < rx->resume_to)
        return OTA_OK;
    rx->phase = PH_RECEIVE;
    return OTA_END;
}

/* Program buf (len bytes, a multiple of the unit) at `programmed`, erasing
 * each block first time it is entered. */
static enum ota_status program(struct ota_receive *rx, uint32_t len)
{
    const struct ota_flash *f = rx->cfg->flash;
    enum ota_status st;
    while (rx->erased_end < rx->programmed + len) {
        st = ota_flash_erase(f, rx->cfg->area, rx->erased_end, f->erase_block);
        if (st != OTA_OK)
            return fail(rx, st);
        rx->erased_end += f->erase_block;
    }
    st = ota_flash_write(f, rx->cfg->area, rx->programmed, rx->buf, len);
    if (st != OTA_OK)
        return fail(rx, st);
    rx->programmed += len;
    rx->fill = 0;
    return OTA_OK;
}

enum ota_status ota_receive_write(struct ota_receive *rx, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    if (!rx || !rx->cfg || (!data && len))
        return OTA_ERR_ARGUMENT;
    if (rx->error != OTA_OK)
        return rx->error;
    if (rx->phase != PH_RECEIVE)
        return fail(rx, OTA_ERR_ARGUMENT);
    if (len > rx->capacity - rx->received)
        return fail(rx, OTA_ERR_RESOURCE);
    while (len) {
        uint32_t n = rx->buf_cap - rx->fill;
        enum ota_status st;
        if (n > len)
            n = (uint32_t)len;
        memcpy(rx->buf + rx->fill, p, n);
        st = absorb(rx, p, n);
        if (st != OTA_OK)
            return st;
        rx->fill += n;
        p += n;
        len -= n;
        if (rx->fill == rx->buf_cap && (st = program(rx, rx->fill)) != OTA_OK)
            return st;
    }
    return OTA_OK;
}

uint32_t ota_receive_offset(const struct ota_receive *rx)
{
    return rx ? rx->programmed : 0;
}

static void judge(struct ota_receive *rx, const uint8_t *t, const uint8_t *sha, struct ota_receive_result *res)
{
    uint32_t total = rx->received, sig, declared;
    /* trailer: the same rules and classes as the restore's check_trailer */
    res->check = OTA_CHECK_TRAILER;
    res->status = OTA_ERR_TRUNCATED;
    if (total < OTA_TRAILER_SIZE || memcmp(t + OTA_TRL_MAGIC_OFFSET, OTA_TRAILER_MAGIC, OTA_TRAILER_MAGIC_SIZE))
        return;
    sig = (uint32_t)t[OTA_TRL_SIGNATURE_LENGTH_OFFSET] | (uint32_t)t[OTA_TRL_SIGNATURE_LENGTH_OFFSET + 1] << 8;
    declared = le32(t + OTA_TRL_TOTAL_LENGTH_OFFSET);
    res->status = OTA_ERR_FORMAT;
    if (sig > OTA_MAX_SIGNATURE_LENGTH)
        return;
    res->status = OTA_ERR_TRUNCATED;
    if (declared != total)
        return;
    res->status = OTA_ERR_FORMAT;
    if (total - OTA_TRAILER_SIZE < sig || total - OTA_TRAILER_SIZE - sig < OTA_FIXED_HEADER_SIZE)
        return;
    res->body_length = total - OTA_TRAILER_SIZE - sig;
    res->check = OTA_CHECK_CRC32;
    res->status = OTA_ERR_INTEGRITY;
    if (le32(t + OTA_TRL_CRC32_OFFSET) != rx->crc)
        return;
    /* the restore refuses at `header` when the header's body_length differs */
    res->check = OTA_CHECK_HEADER;
    res->status = OTA_ERR_FORMAT;
    if (rx->body_field != res->body_length || rx->hashed != res->body_length)
        return;
    res->check = OTA_CHECK_DIGEST;
    res->status = OTA_ERR_INTEGRITY;
    if (memcmp(sha, t + OTA_TRL_BODY_SHA256_OFFSET, OTA_SHA256_SIZE))
        return;
    memcpy(res->body_sha256, sha, OTA_SHA256_SIZE);
    res->check = OTA_CHECK_COUNT;
    res->status = OTA_OK;
}

enum ota_status ota_receive_finish(struct ota_receive *rx, struct ota_receive_result *res)
{
    const struct ota_flash *f;
    const struct ota_hash_port *h;
    uint8_t t[OTA_TRAILER_SIZE], sha[OTA_SHA256_SIZE];
    enum ota_status st;
    if (!rx || !rx->cfg || !res)
        return OTA_ERR_ARGUMENT;
    if (rx->error != OTA_OK)
        return rx->error;
    if (rx->phase != PH_RECEIVE)
        return fail(rx, OTA_ERR_ARGUMENT);
    f = rx->cfg->flash;
    h = port_of(rx);
    if (rx->fill) {
        uint32_t padded = rx->fill + (f->write_align - rx->fill % f->write_align) % f->write_align;
        memset(rx->buf + rx->fill, f->erased_value, padded - rx->fill);
        if ((st = program(rx, padded)) != OTA_OK)
            return st;
        rx->programmed = rx->received;
    }
    rx->phase = PH_DONE;
    memset(res, 0, sizeof *res);
    res->length = rx->received;
    res->crc32 = rx->crc;
    if (h->finish(h->ctx, rx->hash_state, sha) != OTA_OK)
        return fail(rx, OTA_ERR_HASH);
    memset(t, 0, sizeof t);
    if (rx->received >= OTA_TRAILER_SIZE) {
        /* the trailer as the restore reads it: back from flash */
        st = ota_flash_read(f, rx->cfg->area, rx->received - OTA_TRAILER_SIZE, t, OTA_TRAILER_SIZE);
        if (st != OTA_OK)
            return fail(rx, st);
    }
    judge(rx, t, sha, res);
    return OTA_OK;
}
