/* The restore engine: the step loop and the checks up to `precondition`
 * (docs/verifier.md), in the order and with the error classes of
 * otapack/core/restore/engine.py. Payloads and commit: ota_restore_apply.c.
 *
 * Bounds are in subtraction form (a > limit - b), sums that could pass 32
 * bits are 64-bit. The package is read through one cached chunk of the
 * download area; the header is parsed in place, never buffered whole. */
#include <string.h>

#include "ota_restore_internal.h"
#include "ota/ota_crc32.h"

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

static const char *const check_names[OTA_CHECK_COUNT] = {
#define OTA_R_NAME(suffix, name) name,
    OTA_CHECK_LIST(OTA_R_NAME)
#undef OTA_R_NAME
};

const char *ota_check_name(enum ota_check check)
{
    return (unsigned)check < OTA_CHECK_COUNT ? check_names[check] : "none";
}

uint32_t ota_r_le(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

enum ota_status ota_r_fail(struct ota_restore *r, enum ota_status status, enum ota_status cause)
{
    if (r->failure.check == OTA_CHECK_COUNT) {
        r->failure.check = r->check;
        r->failure.status = status;
        r->failure.cause = cause;
        if (r->check == OTA_CHECK_RESTORE || r->check == OTA_CHECK_TARGET || r->check == OTA_CHECK_PRECONDITION ||
            r->check == OTA_CHECK_RESOURCES) /* at resources: an LZMA2 payload that does not decode */
            r->failure.partition = r->partition;
        if (r->check == OTA_CHECK_RESTORE && r->in_delta) {
            r->failure.window = r->window_index;
            r->failure.tuple = r->at_tuple;
            r->failure.offset = (int64_t)r->out;
        }
    }
    return status;
}

/* A port or flash status where the restore has none of its own: a flash
 * fault is a resource failure, as FlashFault is a ResourceLimitError. */
static enum ota_status fail_port(struct ota_restore *r, enum ota_status st)
{
    return ota_r_fail(r, OTA_ERR_RESOURCE, st);
}

/* The package bytes from `offset` as the copy in scratch holds them: the
 * header, then copy_entry's payload (package_copy.CopiedPackage); other
 * bytes read as zeros, never decoded. Into the chunk cache. */
static enum ota_status copy_view(struct ota_restore *r, uint32_t offset)
{
    uint32_t n = r->cfg->package_length - offset, at = 0;
    int inside = 0;
    enum ota_status st;
    if (offset < r->copy_header) {
        at = offset, n = r->copy_header - offset, inside = 1;
    } else if (r->copy_entry < r->entry_count) {
        const struct ota_restore_entry *e = &r->entries[r->copy_entry];
        if (offset >= e->payload_offset && offset - e->payload_offset < e->payload_length)
            at = r->copy_header + (offset - e->payload_offset), n = e->payload_length - (offset - e->payload_offset),
            inside = 1;
        else if (offset < e->payload_offset)
            n = e->payload_offset - offset;
    }
    if (n > OTA_PACKAGE_CHUNK)
        n = OTA_PACKAGE_CHUNK;
    r->chunk_len = 0;
    if (!inside)
        memset(r->chunk, 0, n);
    else if ((st = ota_flash_read(r->cfg->flash, r->cfg->scratch_area, r->copy_base + at, r->chunk, n)) != OTA_OK)
        return fail_port(r, st);
    r->chunk_start = offset;
    r->chunk_len = n;
    return OTA_OK;
}

enum ota_status ota_r_pkg_view(struct ota_restore *r, uint32_t offset, const uint8_t **data, uint32_t *avail)
{
    if (offset >= r->cfg->package_length)
        return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
    if (r->copy_mode && (offset < r->chunk_start || offset - r->chunk_start >= r->chunk_len)) {
        enum ota_status st = copy_view(r, offset);
        if (st != OTA_OK)
            return st;
    } else if (offset < r->chunk_start || offset - r->chunk_start >= r->chunk_len) {
        uint32_t start = offset - offset % OTA_PACKAGE_CHUNK;
        uint32_t len = r->cfg->package_length - start;
        enum ota_status st;
        if (len > OTA_PACKAGE_CHUNK)
            len = OTA_PACKAGE_CHUNK;
        r->chunk_len = 0;
        st = ota_flash_read(r->cfg->flash, r->cfg->package_area, start, r->chunk, len);
        if (st != OTA_OK)
            return fail_port(r, st);
        r->chunk_start = start;
        r->chunk_len = len;
    }
    *data = r->chunk + (offset - r->chunk_start);
    *avail = r->chunk_len - (offset - r->chunk_start);
    return OTA_OK;
}

enum ota_status ota_r_pkg(struct ota_restore *r, uint32_t offset, void *dst, uint32_t len)
{
    uint8_t *out = (uint8_t *)dst;
    if (len > r->cfg->package_length || offset > r->cfg->package_length - len)
        return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
    while (len) {
        const uint8_t *p;
        uint32_t n;
        enum ota_status st = ota_r_pkg_view(r, offset, &p, &n);
        if (st != OTA_OK)
            return st;
        if (n > len)
            n = len;
        memcpy(out, p, n);
        out += n;
        offset += n;
        len -= n;
    }
    return OTA_OK;
}

static const struct ota_hash_port *hash_port(const struct ota_restore *r)
{
    return r->cfg->hash ? r->cfg->hash : &ota_sha256_soft_port;
}

enum ota_status ota_r_hash_start(struct ota_restore *r, unsigned slot)
{
    const struct ota_hash_port *h = hash_port(r);
    enum ota_status st = h->start(h->ctx, r->hash_state[slot]);
    return st == OTA_OK ? OTA_OK : fail_port(r, st);
}

enum ota_status ota_r_hash_update(struct ota_restore *r, unsigned slot, const void *data, size_t len)
{
    const struct ota_hash_port *h = hash_port(r);
    enum ota_status st = len ? h->update(h->ctx, r->hash_state[slot], data, len) : OTA_OK;
    return st == OTA_OK ? OTA_OK : fail_port(r, st);
}

enum ota_status ota_r_hash_finish(struct ota_restore *r, unsigned slot, uint8_t digest[OTA_SHA256_SIZE])
{
    const struct ota_hash_port *h = hash_port(r);
    enum ota_status st = h->finish(h->ctx, r->hash_state[slot], digest);
    return st == OTA_OK ? OTA_OK : fail_port(r, st);
}

uint32_t ota_r_slot(const struct ota_restore *r, unsigned area)
{
    return r->cfg->slot_sizes ? r->cfg->slot_sizes[area] : r->cfg->flash->areas[area].size;
}

enum ota_status ota_r_erase(struct ota_restore *r, unsigned area, uint32_t offset)
{
    enum ota_status st = ota_flash_erase(r->cfg->flash, area, offset, r->erase_block);
    if (st != OTA_OK)
        return fail_port(r, st);
    r->blocks_erased++;
    if (area < r->cfg->partition_count)
        r->written_mask |= (uint32_t)1 << area;
    return OTA_OK;
}

enum ota_status ota_r_program(struct ota_restore *r, unsigned area, uint32_t offset, uint32_t len)
{
    const struct ota_flash *f = r->cfg->flash;
    uint32_t padded = len + (f->write_align - len % f->write_align) % f->write_align;
    enum ota_status st = ota_r_erase(r, area, offset);
    if (st != OTA_OK)
        return st;
    if (padded > len)
        memset(r->wbuf + len, f->erased_value, padded - len);
    st = ota_flash_write(f, area, offset, r->wbuf, padded);
    if (st != OTA_OK)
        return fail_port(r, st);
    r->bytes_written += len;
    return OTA_OK;
}

enum ota_status ota_r_hash_area(struct ota_restore *r, unsigned slot, unsigned area, uint32_t offset,
                                uint32_t len)
{
    uint32_t at = 0;
    enum ota_status st = ota_r_hash_start(r, slot);
    while (st == OTA_OK && at < len) {
        uint32_t n = len - at < r->erase_block ? len - at : r->erase_block;
        st = ota_flash_read(r->cfg->flash, area, offset + at, r->wbuf, n);
        if (st != OTA_OK)
            return fail_port(r, st);
        st = ota_r_hash_update(r, slot, r->wbuf, n);
        at += n;
    }
    return st;
}

/* ------------------------------------------------------------ begin */

enum ota_status ota_restore_begin(struct ota_restore *r, const struct ota_restore_config *cfg, void *workspace,
                                  size_t workspace_size)
{
    const struct ota_flash *f;
    unsigned i;
    size_t fixed;
    if (!r || !cfg || !cfg->flash)
        return OTA_ERR_ARGUMENT;
    memset(r, 0, sizeof *r);
    r->failure.check = OTA_CHECK_COUNT;
    r->failure.partition = -1;
    r->failure.window = r->failure.tuple = r->failure.offset = -1;
    r->partition = -1;
    memset(r->check_status, 0xFF, sizeof r->check_status);
    f = cfg->flash;
    if (ota_flash_check(f) != OTA_OK || cfg->partition_count > OTA_RESTORE_MAX_PARTITIONS ||
        cfg->partition_count > f->area_count || cfg->package_area >= f->area_count ||
        (cfg->scratch_area != OTA_RESTORE_NO_AREA && cfg->scratch_area >= f->area_count) ||
        f->erase_block < OTA_MIN_ERASE_BLOCK || f->erase_block > OTA_MAX_ERASE_BLOCK ||
        (cfg->disabled_checks & ~(1u << OTA_CHECK_RAM)) || (cfg->key_count && !cfg->keys) ||
        (cfg->require_signature && !cfg->signature))
        return OTA_ERR_ARGUMENT;
    for (i = 0; i < cfg->partition_count; i++)
        if (!f->areas[i].name || (cfg->slot_sizes && cfg->slot_sizes[i] > f->areas[i].size))
            return OTA_ERR_ARGUMENT;
    if (cfg->hash && cfg->hash->state_size > sizeof r->hash_state[0])
        return OTA_ERR_ARGUMENT;
    if (cfg->journal && (cfg->journal->area < cfg->partition_count || cfg->journal->area == cfg->package_area ||
                         cfg->journal->area == cfg->scratch_area ||
                         ota_journal_open(&r->journal, f, cfg->journal) != OTA_OK))
        return OTA_ERR_ARGUMENT;
    /* The package chunk and the write buffer now; the parsed table is carved
     * when the header gives its entry count (check_header), the decoder and
     * patch buffers after it at `resources`. */
    fixed = ALIGN8(OTA_PACKAGE_CHUNK) + ALIGN8(f->erase_block);
    if (!workspace || ((uintptr_t)workspace & 7u) || workspace_size < fixed)
        return OTA_ERR_WORKSPACE;
    r->cfg = cfg;
    r->ws = (uint8_t *)workspace;
    r->ws_size = workspace_size;
    r->chunk = r->ws;
    r->wbuf = r->chunk + ALIGN8(OTA_PACKAGE_CHUNK);
    r->region = r->wbuf + ALIGN8(f->erase_block);
    r->region_size = workspace_size - fixed;
    r->entries = (struct ota_restore_entry *)(void *)r->region;
    r->erase_block = f->erase_block;
    r->check = OTA_CHECK_DOWNLOAD;
    r->copy_entry = OTA_R_NO_COPY;
    return OTA_OK;
}

/* ------------------------------------------------------------ checks 1-6 */

static enum ota_status check_download(struct ota_restore *r)
{
    const struct ota_restore_config *c = r->cfg;
    uint32_t area = c->download_capacity;
    int resumed = 0;
    enum ota_status copy = c->journal ? ota_r_copy_resume(r, &resumed) : OTA_OK;
    if (copy != OTA_OK || resumed) /* the package may be overwritten: its verified copy stands in */
        return copy;
    if (c->package_length > OTA_HDR_KIND_OFFSET && c->minimal_download_capacity != OTA_RESTORE_NO_LIMIT) {
        uint8_t kind;
        enum ota_status st = ota_r_pkg(r, OTA_HDR_KIND_OFFSET, &kind, 1);
        if (st != OTA_OK)
            return st;
        if (kind == OTA_KIND_MINIMAL_STAGE2)
            area = c->minimal_download_capacity;
    }
    if (c->package_length && area != OTA_RESTORE_NO_LIMIT && c->package_length > area)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    return OTA_OK;
}

static enum ota_status check_trailer(struct ota_restore *r)
{
    uint8_t t[OTA_TRAILER_SIZE];
    uint32_t total = r->cfg->package_length, sig, declared;
    enum ota_status st;
    if (total < OTA_TRAILER_SIZE)
        return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
    st = ota_r_pkg(r, total - OTA_TRAILER_SIZE, t, OTA_TRAILER_SIZE);
    if (st != OTA_OK)
        return st;
    if (memcmp(t + OTA_TRL_MAGIC_OFFSET, OTA_TRAILER_MAGIC, OTA_TRAILER_MAGIC_SIZE))
        return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
    sig = ota_r_le(t + OTA_TRL_SIGNATURE_LENGTH_OFFSET, OTA_TRL_SIGNATURE_LENGTH_SIZE);
    declared = ota_r_le(t + OTA_TRL_TOTAL_LENGTH_OFFSET, OTA_TRL_TOTAL_LENGTH_SIZE);
    if (sig > OTA_MAX_SIGNATURE_LENGTH)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    if (declared != total)
        return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
    if (total - OTA_TRAILER_SIZE < sig || total - OTA_TRAILER_SIZE - sig < OTA_FIXED_HEADER_SIZE)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    r->signature_length = sig;
    r->body_length = total - OTA_TRAILER_SIZE - sig;
    memcpy(r->trailer_sha, t + OTA_TRL_BODY_SHA256_OFFSET, OTA_SHA256_SIZE);
    return OTA_OK;
}

/* CRC-32 over everything before the CRC field; the body's SHA-256 in the same pass. */
static enum ota_status check_crc32(struct ota_restore *r)
{
    uint32_t end = r->cfg->package_length - OTA_TRAILER_CRC_TAIL, at = 0, crc = 0;
    uint8_t stored[4];
    const struct ota_receive_result *rv = r->cfg->received;
    int prehashed = rv && rv->check == OTA_CHECK_COUNT && rv->length == r->cfg->package_length &&
                    rv->body_length == r->body_length; /* hashed on the way in (ota_receive.h) */
    enum ota_status st = ota_r_hash_start(r, 0);
    if (prehashed)
        crc = rv->crc32, at = end;
    while (st == OTA_OK && at < end) {
        const uint8_t *p;
        uint32_t n;
        st = ota_r_pkg_view(r, at, &p, &n);
        if (st != OTA_OK)
            return st;
        if (n > end - at)
            n = end - at;
        crc = ota_crc32(crc, p, n);
        if (at < r->body_length)
            st = ota_r_hash_update(r, 0, p, n < r->body_length - at ? n : r->body_length - at);
        at += n;
    }
    if (st == OTA_OK)
        st = ota_r_hash_finish(r, 0, r->body_sha256);
    if (st == OTA_OK && prehashed)
        memcpy(r->body_sha256, rv->body_sha256, OTA_SHA256_SIZE);
    if (st == OTA_OK)
        st = ota_r_pkg(r, end - (OTA_TRAILER_SIZE - OTA_TRAILER_CRC_TAIL) + OTA_TRL_CRC32_OFFSET, stored, 4);
    if (st != OTA_OK)
        return st;
    if (ota_r_le(stored, 4) != crc)
        return ota_r_fail(r, OTA_ERR_INTEGRITY, OTA_ERR_INTEGRITY);
    return OTA_OK;
}

/* A bounded cursor over [0, header_length) of the package. */
struct cursor {
    struct ota_restore *r;
    uint32_t pos, end;
};

static enum ota_status take(struct cursor *c, uint32_t n, uint32_t *at)
{
    if (n > c->end - c->pos)
        return ota_r_fail(c->r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
    *at = c->pos;
    c->pos += n;
    return OTA_OK;
}

static enum ota_status take_u(struct cursor *c, unsigned n, uint32_t *value)
{
    uint8_t b[4];
    uint32_t at;
    enum ota_status st = take(c, n, &at);
    if (st == OTA_OK)
        st = ota_r_pkg(c->r, at, b, n);
    if (st == OTA_OK)
        *value = ota_r_le(b, n);
    return st;
}

static enum ota_status take_string(struct cursor *c, uint32_t *at, uint8_t *len)
{
    uint32_t n = 0, i;
    enum ota_status st = take_u(c, OTA_STRING_LENGTH_SIZE, &n);
    if (st == OTA_OK)
        st = take(c, n, at);
    for (i = 0; st == OTA_OK && i < n; i++) {
        uint8_t b;
        st = ota_r_pkg(c->r, *at + i, &b, 1);
        if (st == OTA_OK && b >= 0x80)
            return ota_r_fail(c->r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    }
    *len = (uint8_t)n;
    return st;
}

static enum ota_status parse_entry(struct cursor *c, struct ota_restore_entry *e)
{
    uint32_t op, codec, reason;
    enum ota_status st = take_string(c, &e->name_offset, &e->name_length);
    if (st == OTA_OK)
        st = take_u(c, OTA_ENTRY_ADDRESS_SIZE, &e->address);
    if (st == OTA_OK)
        st = take_u(c, OTA_ENTRY_OPERATION_SIZE, &op);
    if (st != OTA_OK)
        return st;
    if (op > OTA_OPERATION_DELTA_IN_PLACE)
        return ota_r_fail(c->r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    st = take_u(c, OTA_ENTRY_CODEC_SIZE, &codec);
    if (st != OTA_OK)
        return st;
    if (codec > OTA_CODEC_LZMA2)
        return ota_r_fail(c->r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    st = take_u(c, OTA_ENTRY_REASON_SIZE, &reason);
    if (st != OTA_OK)
        return st;
    if (reason >= OTA_REASON_COUNT)
        return ota_r_fail(c->r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    e->operation = (uint8_t)op;
    e->codec = (uint8_t)codec;
    e->area = 0xFF;
    if (OTA_OPERATION_HAS_SOURCE(op)) {
        st = take_u(c, OTA_REF_SIZE_SIZE, &e->source_size);
        if (st == OTA_OK)
            st = take(c, OTA_SHA256_SIZE, &e->source_sha_offset);
    }
    if (st == OTA_OK && OTA_OPERATION_HAS_TARGET(op)) {
        st = take_u(c, OTA_REF_SIZE_SIZE, &e->target_size);
        if (st == OTA_OK)
            st = take(c, OTA_SHA256_SIZE, &e->target_sha_offset);
    }
    if (st == OTA_OK && OTA_OPERATION_HAS_PAYLOAD(op)) {
        st = take_u(c, OTA_PAYLOAD_OFFSET_SIZE, &e->payload_offset);
        if (st == OTA_OK)
            st = take_u(c, OTA_PAYLOAD_LENGTH_SIZE, &e->payload_length);
        if (st == OTA_OK)
            st = take_u(c, OTA_PAYLOAD_UNCOMPRESSED_LENGTH_SIZE, &e->uncompressed_length);
    }
    return st;
}

static enum ota_status check_header(struct ota_restore *r)
{
    uint8_t h[OTA_FIXED_HEADER_SIZE];
    struct cursor c;
    uint32_t count = 0, i, seen = 0, body_field, ignored;
    size_t table;
    uint8_t len;
    enum ota_status st = ota_r_pkg(r, 0, h, OTA_FIXED_HEADER_SIZE);
    if (st != OTA_OK)
        return st;
    if (memcmp(h + OTA_HDR_MAGIC_OFFSET, OTA_MAGIC, OTA_MAGIC_SIZE))
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    if (ota_r_le(h + OTA_HDR_FORMAT_VERSION_OFFSET, OTA_HDR_FORMAT_VERSION_SIZE) != OTA_FORMAT_VERSION)
        return ota_r_fail(r, OTA_ERR_VERSION, OTA_ERR_VERSION);
    r->header_length = ota_r_le(h + OTA_HDR_HEADER_LENGTH_OFFSET, OTA_HDR_HEADER_LENGTH_SIZE);
    if (r->header_length < OTA_FIXED_HEADER_SIZE || r->header_length > OTA_MAX_HEADER_LENGTH ||
        r->header_length > r->body_length)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    r->kind = h[OTA_HDR_KIND_OFFSET];
    if (r->kind < OTA_KIND_FULL || r->kind > OTA_KIND_MINIMAL_STAGE2 || h[OTA_HDR_FLAGS_OFFSET])
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    body_field = ota_r_le(h + OTA_HDR_BODY_LENGTH_OFFSET, 4);
    r->security_counter = ota_r_le(h + OTA_HDR_SECURITY_COUNTER_OFFSET, 4);
    r->ram_required = ota_r_le(h + OTA_HDR_RAM_REQUIRED_OFFSET, 4);
    r->scratch_flash = ota_r_le(h + OTA_HDR_SCRATCH_FLASH_OFFSET, 4);
    r->lzma_dict_size = ota_r_le(h + OTA_HDR_LZMA_DICT_SIZE_OFFSET, 4);
    c.r = r;
    c.pos = OTA_FIXED_HEADER_SIZE;
    c.end = r->header_length;
    st = take_string(&c, &r->model_offset, &r->model_len);
    for (i = 0; st == OTA_OK && i < 3; i++)
        st = take_string(&c, &ignored, &len); /* source, target and tool versions: informational */
    if (st == OTA_OK)
        st = take_u(&c, OTA_COUNT_SIZE, &count);
    for (i = 0; st == OTA_OK && i < count; i++) {
        uint32_t tag, length, at;
        st = take_u(&c, OTA_EXTENSION_TAG_SIZE, &tag);
        if (st != OTA_OK)
            break;
        if (tag < OTA_EXT_CHAIN_PREV_STATE || tag > OTA_EXT_IMAGE_SOURCE || (seen >> tag & 1u))
            return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
        seen |= 1u << tag;
        st = take_u(&c, OTA_EXTENSION_LENGTH_SIZE, &length);
        if (st == OTA_OK)
            st = take(&c, length, &at);
        if (st != OTA_OK)
            break;
        if (tag == OTA_EXT_HARDWARE_ID) {
            r->hw_offset = at;
            r->hw_len = (uint16_t)length;
        } else if (tag == OTA_EXT_LAYOUT_DIGEST) {
            r->layout_offset = at;
            r->layout_len = (uint16_t)length;
        } else if (tag == OTA_EXT_CHAIN_PREV_STATE) {
            r->prev_offset = at;
            r->prev_len = (uint16_t)length;
        } else if (tag == OTA_EXT_CHAIN_NEXT_PACKAGE) {
            r->next_offset = at;
            r->next_len = (uint16_t)length;
        }
    }
    if (st == OTA_OK)
        st = take_u(&c, OTA_COUNT_SIZE, &count);
    /* The table takes what its entries need, no more: a workspace without
     * room for it cannot hold this package (never so when sized by
     * OTA_RESTORE_WORKSPACE_BYTES, whose slack covers 255 entries). */
    table = ALIGN8((size_t)count * sizeof(struct ota_restore_entry));
    if (st == OTA_OK && table > r->region_size)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_WORKSPACE);
    for (i = 0; st == OTA_OK && i < count; i++)
        st = parse_entry(&c, &r->entries[i]);
    if (st != OTA_OK)
        return st;
    r->entry_count = count;
    r->region += table;
    r->region_size -= table;
    if (c.pos != r->header_length || body_field != r->body_length)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    r->header_erase_block = ota_r_le(h + OTA_HDR_ERASE_BLOCK_OFFSET, 4);
    return OTA_OK;
}

static enum ota_status check_digest(struct ota_restore *r)
{
    if (memcmp(r->body_sha256, r->trailer_sha, OTA_SHA256_SIZE))
        return ota_r_fail(r, OTA_ERR_INTEGRITY, OTA_ERR_INTEGRITY);
    return OTA_OK;
}

/* OTA_OK: verified; OTA_END: not required (reported as skipped). */
static enum ota_status check_signature(struct ota_restore *r)
{
#if OTA_WITH_SIGNATURE
    const struct ota_restore_config *c = r->cfg;
    uint8_t rec[OTA_SIG_ALGORITHM_SIZE + OTA_KEY_ID_SIZE + OTA_SIGNATURE_SIZE];
    unsigned i, candidates = 0, matching = 0;
    enum ota_status st;
    if (!c->require_signature)
        return OTA_END;
    if (r->signature_length < OTA_SIG_ALGORITHM_SIZE + OTA_KEY_ID_SIZE)
        return ota_r_fail(r, OTA_ERR_SIGNATURE, OTA_ERR_SIGNATURE);
    st = ota_r_pkg(r, r->body_length, rec, 1);
    if (st != OTA_OK)
        return st;
    if ((rec[0] != OTA_SIG_ED25519 && rec[0] != OTA_SIG_ECDSA_P256) || r->signature_length != sizeof rec)
        return ota_r_fail(r, OTA_ERR_SIGNATURE, OTA_ERR_SIGNATURE);
    st = ota_r_pkg(r, r->body_length, rec, sizeof rec);
    if (st != OTA_OK)
        return st;
    for (i = 0; i < c->key_count; i++)
        candidates += !memcmp(c->keys[i].key_id, rec + 1, OTA_KEY_ID_SIZE);
    if (!candidates)
        return ota_r_fail(r, OTA_ERR_SIGNATURE, OTA_ERR_SIGNATURE);
    for (i = 0; i < c->key_count; i++) {
        const struct ota_restore_key *k = &c->keys[i];
        if (memcmp(k->key_id, rec + 1, OTA_KEY_ID_SIZE) || k->algorithm != rec[0])
            continue;
        matching++;
        if (ota_signature_verify(c->signature, rec[0], k->key, k->key_len, r->body_sha256,
                                 rec + OTA_SIG_ALGORITHM_SIZE + OTA_KEY_ID_SIZE, OTA_SIGNATURE_SIZE) == OTA_OK)
            return OTA_OK;
    }
    (void)matching;
    return ota_r_fail(r, OTA_ERR_SIGNATURE, OTA_ERR_SIGNATURE);
#else
    if (r->cfg->require_signature)
        return ota_r_fail(r, OTA_ERR_SIGNATURE, OTA_ERR_UNSUPPORTED);
    return OTA_END;
#endif
}

/* ------------------------------------------------------------ compatibility */

static size_t c_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Package bytes [at, at + len) equal the C string s. */
static enum ota_status pkg_equals(struct ota_restore *r, uint32_t at, uint32_t len, const char *s, int *equal)
{
    uint32_t i;
    *equal = c_strlen(s) == len;
    for (i = 0; *equal && i < len; i++) {
        uint8_t b;
        enum ota_status st = ota_r_pkg(r, at + i, &b, 1);
        if (st != OTA_OK)
            return st;
        *equal = b == (uint8_t)s[i];
    }
    return OTA_OK;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Partition a sorts before b by (address, name), as extensions.layout_digest sorts. */
static int slot_before(const struct ota_flash_area *a, const struct ota_flash_area *b)
{
    size_t i = 0;
    if (a->address != b->address)
        return a->address < b->address;
    while (a->name[i] && a->name[i] == b->name[i])
        i++;
    return (uint8_t)a->name[i] < (uint8_t)b->name[i];
}

/* SHA-256 over (name, 0, u32 address, u32 slot) of every partition in (address, name) order. */
static enum ota_status layout_digest(struct ota_restore *r, uint8_t digest[OTA_SHA256_SIZE])
{
    const struct ota_flash_area *areas = r->cfg->flash->areas;
    unsigned n = r->cfg->partition_count, done, i;
    uint32_t used = 0;
    enum ota_status st = ota_r_hash_start(r, 1);
    for (done = 0; st == OTA_OK && done < n; done++) {
        unsigned best = n;
        uint8_t tail[9];
        for (i = 0; i < n; i++)
            if (!(used >> i & 1u) && (best == n || slot_before(&areas[i], &areas[best])))
                best = i;
        used |= (uint32_t)1 << best;
        tail[0] = 0;
        put_u32(tail + 1, areas[best].address);
        put_u32(tail + 5, ota_r_slot(r, best));
        st = ota_r_hash_update(r, 1, areas[best].name, c_strlen(areas[best].name));
        if (st == OTA_OK)
            st = ota_r_hash_update(r, 1, tail, sizeof tail);
    }
    return st == OTA_OK ? ota_r_hash_finish(r, 1, digest) : st;
}

/* Index of the device partition named like entry e, or partition_count. */
unsigned ota_r_find_area(struct ota_restore *r, const struct ota_restore_entry *e, enum ota_status *st)
{
    unsigned i;
    *st = OTA_OK;
    for (i = 0; i < r->cfg->partition_count; i++) {
        int equal;
        *st = pkg_equals(r, e->name_offset, e->name_length, r->cfg->flash->areas[i].name, &equal);
        if (*st != OTA_OK || equal)
            return i;
    }
    return i;
}

/* A minimal-system stage starts from the flash state chain-prev-state names (chain.check_stage). */
static enum ota_status check_stage(struct ota_restore *r)
{
    uint32_t bitmap = (r->entry_count + 7u) / 8u, i;
    uint8_t want[OTA_SHA256_SIZE], have[OTA_SHA256_SIZE];
    enum ota_status st;
    if (!r->prev_offset)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    if (r->prev_len != OTA_SHA256_SIZE + bitmap)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    st = ota_r_pkg(r, r->prev_offset, want, OTA_SHA256_SIZE);
    for (i = 0; st == OTA_OK && i < r->entry_count; i++) { /* every covered partition exists */
        uint8_t bits;
        st = ota_r_pkg(r, r->prev_offset + OTA_SHA256_SIZE + i / 8u, &bits, 1);
        if (st == OTA_OK && (bits >> (i % 8u) & 1u)) {
            unsigned area = ota_r_find_area(r, &r->entries[i], &st);
            if (st == OTA_OK && area == r->cfg->partition_count)
                return ota_r_fail(r, OTA_ERR_CHAIN_STATE, OTA_ERR_CHAIN_STATE);
        }
    }
    if (st == OTA_OK)
        st = ota_r_hash_start(r, 1);
    if (st == OTA_OK)
        st = ota_r_hash_update(r, 1, OTA_STATE_DIGEST_PREFIX, OTA_STATE_DIGEST_PREFIX_SIZE);
    for (i = 0; st == OTA_OK && i < r->entry_count; i++) {
        const struct ota_restore_entry *e = &r->entries[i];
        uint8_t bits, item[1 + 8], name[255], content[OTA_SHA256_SIZE];
        unsigned area;
        st = ota_r_pkg(r, r->prev_offset + OTA_SHA256_SIZE + i / 8u, &bits, 1);
        if (st != OTA_OK || !(bits >> (i % 8u) & 1u))
            continue;
        area = ota_r_find_area(r, e, &st);
        if (st == OTA_OK)
            st = ota_r_hash_area(r, 0, area, 0, ota_r_slot(r, area));
        if (st == OTA_OK)
            st = ota_r_hash_finish(r, 0, content);
        if (st == OTA_OK)
            st = ota_r_pkg(r, e->name_offset, name, e->name_length);
        item[0] = e->name_length;
        if (st == OTA_OK)
            st = ota_r_hash_update(r, 1, item, 1);
        if (st == OTA_OK)
            st = ota_r_hash_update(r, 1, name, e->name_length);
        put_u32(item + 1, r->cfg->flash->areas[area].address);
        put_u32(item + 5, ota_r_slot(r, area));
        if (st == OTA_OK)
            st = ota_r_hash_update(r, 1, item + 1, 8);
        if (st == OTA_OK)
            st = ota_r_hash_update(r, 1, content, OTA_SHA256_SIZE);
    }
    if (st == OTA_OK)
        st = ota_r_hash_finish(r, 1, have);
    if (st != OTA_OK)
        return st;
    if (memcmp(want, have, OTA_SHA256_SIZE))
        return ota_r_fail(r, OTA_ERR_CHAIN_STATE, OTA_ERR_CHAIN_STATE);
    if (r->kind == OTA_KIND_MINIMAL_STAGE1 && (!r->next_offset || r->next_len != OTA_SHA256_SIZE))
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    return OTA_OK;
}

static enum ota_status check_compatibility(struct ota_restore *r)
{
    const struct ota_restore_config *c = r->cfg;
    enum ota_status st;
    int equal;
    if (c->model) {
        st = pkg_equals(r, r->model_offset, r->model_len, c->model, &equal);
        if (st != OTA_OK)
            return st;
        if (!equal)
            return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
    }
    if (c->check_security_counter && r->security_counter < c->security_counter)
        return ota_r_fail(r, OTA_ERR_ROLLBACK, OTA_ERR_ROLLBACK);
    if (r->header_erase_block != c->flash->erase_block)
        return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
    if (r->hw_offset && c->hardware_id) {
        st = pkg_equals(r, r->hw_offset, r->hw_len, c->hardware_id, &equal);
        if (st != OTA_OK)
            return st;
        if (!equal)
            return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
    }
    if (r->layout_offset && c->layout_known && c->partition_count) {
        uint8_t have[OTA_SHA256_SIZE], want[OTA_SHA256_SIZE];
        if (r->layout_len != OTA_SHA256_SIZE)
            return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
        st = layout_digest(r, have);
        if (st == OTA_OK)
            st = ota_r_pkg(r, r->layout_offset, want, OTA_SHA256_SIZE);
        if (st != OTA_OK)
            return st;
        if (memcmp(have, want, OTA_SHA256_SIZE))
            return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
    }
    if (r->kind == OTA_KIND_MINIMAL_STAGE1 || r->kind == OTA_KIND_MINIMAL_STAGE2) {
        /* a stage whose commit has begun is half-way from its chain-prev-state */
        st = c->journal ? ota_r_journal_mine(r) : OTA_OK;
        if (st == OTA_OK && !(c->journal && ota_r_journal_commit_begun(r)))
            st = check_stage(r);
        if (st != OTA_OK)
            return st;
    }
    if (c->expect_next && memcmp(c->next_package, r->body_sha256, OTA_SHA256_SIZE))
        return ota_r_fail(r, OTA_ERR_CHAIN_MISMATCH, OTA_ERR_CHAIN_MISMATCH);
    return OTA_OK;
}

/* ------------------------------------------------------------ table, precondition */

/* [a, a + as) and [b, b + bs) share a byte (differences only). */
static int overlap(uint32_t a, uint32_t as, uint32_t b, uint32_t bs)
{
    if (!as || !bs)
        return 0;
    return a >= b ? a - b < bs : b - a < as;
}

static int grows(const struct ota_restore *r, unsigned area)
{
    return r->cfg->resizable && r->cfg->resizable[area];
}

/* The slot a payload entry writes: the device's, or the target for a slot that grows. */
static uint32_t written_size(const struct ota_restore *r, const struct ota_restore_entry *e)
{
    return grows(r, e->area) ? e->target_size : ota_r_slot(r, e->area);
}

/* A partition's extent after the restore: what the package writes into it, else its slot. */
static uint32_t extent_after(const struct ota_restore *r, unsigned area)
{
    unsigned k;
    for (k = 0; k < r->entry_count; k++)
        if (OTA_OPERATION_HAS_PAYLOAD(r->entries[k].operation) && r->entries[k].area == area)
            return written_size(r, &r->entries[k]);
    return ota_r_slot(r, area);
}

static enum ota_status check_table(struct ota_restore *r)
{
    const struct ota_flash_area *areas = r->cfg->flash->areas;
    uint32_t position = r->header_length;
    unsigned i, j;
    enum ota_status st;
    for (i = 0; i < r->entry_count; i++) {
        struct ota_restore_entry *e = &r->entries[i];
        unsigned area;
        for (j = 0; j < i; j++) { /* a name appears once */
            const struct ota_restore_entry *o = &r->entries[j];
            uint8_t a[255], b[255];
            if (o->name_length != e->name_length)
                continue;
            st = ota_r_pkg(r, e->name_offset, a, e->name_length);
            if (st == OTA_OK)
                st = ota_r_pkg(r, o->name_offset, b, o->name_length);
            if (st != OTA_OK)
                return st;
            if (!memcmp(a, b, e->name_length))
                return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
        }
        if (OTA_OPERATION_HAS_PAYLOAD(e->operation)) {
            if (e->payload_offset != position || e->payload_length > r->body_length - position)
                return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
            position += e->payload_length;
        }
        if (OTA_OPERATION_HAS_SOURCE(e->operation) &&
            e->uncompressed_length > OTA_MAX_STREAM_LENGTH(e->target_size) +
                                         (e->operation == OTA_OPERATION_DELTA_IN_PLACE ? OTA_IN_PLACE_HEADER_BOUND : 0u))
            return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
        if (e->operation == OTA_OPERATION_SKIP)
            continue;
        area = ota_r_find_area(r, e, &st);
        if (st != OTA_OK)
            return st;
        if (area == r->cfg->partition_count || areas[area].address != e->address ||
            (!grows(r, area) && e->target_size > ota_r_slot(r, area)))
            return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
        e->area = (uint8_t)area;
        if (OTA_OPERATION_HAS_PAYLOAD(e->operation) && written_size(r, e) > OTA_MAX_U32 - e->address + 1u &&
            e->address) /* the slot runs past 2^32 */
            return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
        if (grows(r, area) && OTA_OPERATION_HAS_PAYLOAD(e->operation) &&
            e->target_size > areas[area].size) /* more than the simulated area holds */
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_FLASH_BOUNDS);
    }
    if (position != r->body_length)
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
    for (i = 0; i < r->entry_count; i++) { /* no written slot overlaps another slot */
        const struct ota_restore_entry *e = &r->entries[i];
        if (!OTA_OPERATION_HAS_PAYLOAD(e->operation))
            continue;
        for (j = 0; j < r->cfg->partition_count; j++)
            if (j != e->area && overlap(areas[e->area].address, written_size(r, e), areas[j].address,
                                        extent_after(r, j)))
                return ota_r_fail(r, OTA_ERR_INCOMPATIBLE, OTA_ERR_INCOMPATIBLE);
    }
    return OTA_OK;
}

static enum ota_status check_precondition(struct ota_restore *r)
{
    unsigned i;
    if (r->cfg->journal) {
        enum ota_status st = ota_r_journal_precondition(r);
        if (st != OTA_OK)
            return st;
    }
    for (i = 0; i < r->entry_count; i++) {
        const struct ota_restore_entry *e = &r->entries[i];
        int delta = OTA_OPERATION_HAS_SOURCE(e->operation); /* delta or delta-v2 */
        uint32_t size = delta ? e->source_size : e->target_size;
        uint8_t have[OTA_SHA256_SIZE], want[OTA_SHA256_SIZE];
        enum ota_status st;
        if (!delta && e->operation != OTA_OPERATION_KEEP)
            continue;
        if (delta && r->cfg->journal && ota_r_journal_touched(r, i)) /* the journal stands in for it */
            continue;
        r->partition = (int32_t)i;
        if (size > ota_r_slot(r, e->area))
            return ota_r_fail(r, OTA_ERR_PRECURSOR, OTA_ERR_PRECURSOR);
        st = ota_r_hash_area(r, 0, e->area, 0, size);
        if (st == OTA_OK)
            st = ota_r_hash_finish(r, 0, have);
        if (st == OTA_OK)
            st = ota_r_pkg(r, delta ? e->source_sha_offset : e->target_sha_offset, want, OTA_SHA256_SIZE);
        if (st != OTA_OK)
            return st;
        if (memcmp(have, want, OTA_SHA256_SIZE))
            return ota_r_fail(r, OTA_ERR_PRECURSOR, OTA_ERR_PRECURSOR);
    }
    r->partition = -1;
    return OTA_OK;
}

/* ------------------------------------------------------------ the step loop */

/* A boot after the journal's `copied` (package_copy.run_from_copy): the
 * checks that needed the whole package ran on the boot that copied it; the
 * header is parsed from the copy (the table too: it places the entries). */
static enum ota_status run_from_copy(struct ota_restore *r, enum ota_check check)
{
    uint8_t b[OTA_HDR_BODY_LENGTH_SIZE];
    enum ota_status st;
    switch (check) {
    case OTA_CHECK_HEADER:
        st = ota_r_pkg(r, OTA_HDR_BODY_LENGTH_OFFSET, b, sizeof b);
        if (st != OTA_OK)
            return st;
        r->body_length = ota_r_le(b, sizeof b);
        st = check_header(r);
        if (st == OTA_OK)
            st = check_table(r);
        return st == OTA_OK ? ota_r_copy_header(r) : st;
    case OTA_CHECK_RESOURCES: return ota_r_resources(r);
    case OTA_CHECK_PRECONDITION:
        st = ota_r_journal_mine(r);
        return st == OTA_OK ? OTA_END : st;
    default: return OTA_END;
    }
}

static enum ota_status run_check(struct ota_restore *r, enum ota_check check)
{
    if (r->copy_mode == OTA_R_FROM_COPY && check != OTA_CHECK_DOWNLOAD)
        return run_from_copy(r, check);
    switch (check) {
    case OTA_CHECK_DOWNLOAD: return check_download(r);
    case OTA_CHECK_TRAILER: return check_trailer(r);
    case OTA_CHECK_CRC32: return check_crc32(r);
    case OTA_CHECK_HEADER: return check_header(r);
    case OTA_CHECK_DIGEST: return check_digest(r);
    case OTA_CHECK_SIGNATURE: return check_signature(r);
    case OTA_CHECK_COMPATIBILITY: return check_compatibility(r);
    case OTA_CHECK_TABLE: return check_table(r);
    case OTA_CHECK_RESOURCES: return ota_r_resources(r);
    case OTA_CHECK_PRECONDITION: return check_precondition(r);
    case OTA_CHECK_RAM: /* the workspace was sized and held to the declaration at resources */
        return (r->cfg->disabled_checks >> OTA_CHECK_RAM & 1u) ? OTA_END : OTA_OK;
    default: return OTA_ERR_INTERNAL;
    }
}

static enum ota_status failed(struct ota_restore *r)
{
    unsigned k;
    r->check_status[r->failure.check] = OTA_CHECK_STATUS_FAIL;
    for (k = (unsigned)r->failure.check + 1u; k < OTA_CHECK_COUNT; k++)
        if (!OTA_CHECK_PER_PARTITION(k))
            r->check_status[k] = OTA_CHECK_STATUS_SKIPPED;
    return r->failure.status;
}

enum ota_status ota_restore_step(struct ota_restore *r)
{
    enum ota_status st;
    if (!r || !r->cfg)
        return OTA_ERR_ARGUMENT;
    if (r->failure.check != OTA_CHECK_COUNT)
        return r->failure.status;
    if (r->check == OTA_CHECK_COUNT)
        return OTA_END;
    if (r->check == OTA_CHECK_RESTORE || r->check == OTA_CHECK_TARGET) {
        st = r->cfg->journal ? ota_r_journal_payload_step(r) : ota_r_payload_step(r);
        if (st == OTA_END) {
            r->check = OTA_CHECK_RAM;
            r->partition = -1;
            st = OTA_OK;
        }
    } else if (r->check == OTA_CHECK_COMMIT) {
        st = r->cfg->journal ? ota_r_journal_commit_step(r) : ota_r_commit_step(r);
        if (st == OTA_END) {
            r->check_status[OTA_CHECK_COMMIT] = OTA_CHECK_STATUS_PASS;
            r->check = OTA_CHECK_COUNT;
            return OTA_END;
        }
    } else {
        st = run_check(r, r->check);
        if (st >= 0) {
            r->check_status[r->check] = st == OTA_END ? OTA_CHECK_STATUS_SKIPPED : OTA_CHECK_STATUS_PASS;
            r->check = (enum ota_check)(r->check + 1);
            st = OTA_OK;
        }
    }
    if (st < 0) {
        if (r->failure.check == OTA_CHECK_COUNT) /* a status without a recorded class: a library bug */
            ota_r_fail(r, OTA_ERR_INTERNAL, st);
        return failed(r);
    }
    return OTA_OK;
}

enum ota_status ota_restore_run(struct ota_restore *r)
{
    enum ota_status st;
    while ((st = ota_restore_step(r)) == OTA_OK)
        ;
    return st;
}
