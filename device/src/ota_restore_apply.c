/* The restore engine's payload side: the `resources` check (pricing every
 * payload before the first write), the decoded payload streams, `replace`
 * and delta-v1 patching into flash one erase block per step, the target
 * hash read back from flash, and `commit`.
 *
 * Mirrors otapack/core/restore/{pricing,stream,delta}.py: the same rules in
 * the same order with the same error classes (docs/formats/delta-v1.md,
 * docs/verifier.md "Validation rules of the delta-v1 patch format"). A
 * delta-v2 stream is delta-v1 with the transform section after the header
 * and the old bytes of every add re-aimed by ota_transform.c
 * (docs/formats/delta-v2-transforms.md). */
#include <string.h>

#include "ota_restore_internal.h"

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)
#define IS_DELTA(op) OTA_OPERATION_HAS_SOURCE(op) /* delta, delta-v2 or delta-in-place */
#define IS_STAGED(op) (IS_DELTA(op) && (op) != OTA_OPERATION_DELTA_IN_PLACE)

enum { P_BEGIN, P_FILL, P_ERASE, P_TARGET };
enum { D_WINDOW, D_TUPLE, D_ADD, D_COPY, D_SEEK, D_DONE };

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static uint64_t round_up(uint64_t size, uint32_t block)
{
    return (size + block - 1u) / block * block;
}

static enum ota_status format(struct ota_restore *r)
{
    return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_FORMAT);
}

#if OTA_WITH_DELTA
static enum ota_status corrupt(struct ota_restore *r)
{
    return ota_r_fail(r, OTA_ERR_CORRUPT_PATCH, OTA_ERR_CORRUPT_PATCH);
}
#endif

static enum ota_status resource(struct ota_restore *r, enum ota_status cause)
{
    return ota_r_fail(r, OTA_ERR_RESOURCE, cause);
}

/* ------------------------------------------------------------ decoder */

static const struct ota_decoder *decoder(const struct ota_restore *r)
{
#if OTA_WITH_LZMA2
    if (!r->cfg->decoder)
        return &ota_lzma2_decoder;
#endif
    return r->cfg->decoder;
}

static const void *decoder_ctx(struct ota_restore *r, unsigned lclp)
{
#if OTA_WITH_LZMA2
    if (!r->cfg->decoder) {
        r->lzma_options.lclp_max = (uint8_t)(lclp == OTA_R_NO_LCLP ? 0u : lclp);
        return &r->lzma_options;
    }
#endif
    (void)lclp;
    return r->cfg->decoder->ctx;
}

static uint32_t dictionary(const struct ota_restore *r, const struct ota_restore_entry *e)
{
    return min32(r->lzma_dict_size, e->uncompressed_length);
}

/* A decoder status inside a payload: a chunk needing a larger model than
 * priced is a resource failure (ChunkWalker's ResourceLimitError), anything
 * else a corrupt stream. */
static enum ota_status decode_failed(struct ota_restore *r, enum ota_status st)
{
    if (st == OTA_ERR_LZMA_LCLP || st == OTA_ERR_LZMA_DICT)
        return resource(r, st);
    return ota_r_fail(r, OTA_ERR_FORMAT, st);
}

/* ------------------------------------------------------------ buffers */

/* The payload's buffers from the region: decoder and decode piece (LZMA2),
 * then for a delta the tuple array, the old-read piece and the extra bytes
 * (the rest). A device that cannot hold them refuses the package. */
static enum ota_status carve_decoder(struct ota_restore *r, const struct ota_restore_entry *e, size_t *used)
{
    struct ota_restore_stream *s = &r->stream;
    *used = 0;
    s->dws = NULL;
    s->piece = NULL;
    if (e->codec != OTA_CODEC_LZMA2)
        return OTA_OK;
    {
        const struct ota_decoder *d = decoder(r);
        size_t need;
        if (!d)
            return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_UNSUPPORTED);
        need = d->workspace_size(decoder_ctx(r, r->priced_lclp[e->area]), dictionary(r, e));
        if (!need || ALIGN8(need) > r->region_size || r->region_size - ALIGN8(need) < OTA_DECODE_CHUNK)
            return resource(r, OTA_ERR_WORKSPACE);
        s->dws = r->region;
        s->dws_size = need;
        s->piece = r->region + ALIGN8(need);
        *used = ALIGN8(need) + OTA_DECODE_CHUNK;
    }
    return OTA_OK;
}

#if OTA_WITH_DELTA
static enum ota_status carve_delta(struct ota_restore *r, size_t used)
{
    size_t tuples;
    used += ota_r_ip_bytes(r); /* delta-in-place: its tables, read with the header */
    tuples = ALIGN8((size_t)r->max_tuples * OTA_TUPLE_BYTES) + ALIGN8((size_t)r->table_bytes);
    if (tuples > r->region_size - used || r->region_size - used - tuples < OTA_DECODE_CHUNK)
        return resource(r, OTA_ERR_WORKSPACE);
    r->tuple_array = r->region + used;
    r->old_piece = r->tuple_array + tuples;
    r->extra = r->old_piece + OTA_DECODE_CHUNK;
    r->extra_room = (uint32_t)min32((uint32_t)(r->region_size - used - tuples - OTA_DECODE_CHUNK),
                                    OTA_MAX_WINDOW_SIZE);
    return OTA_OK;
}
#endif

/* ------------------------------------------------------------ payload stream */

static enum ota_status stream_open(struct ota_restore *r, const struct ota_restore_entry *e)
{
    struct ota_restore_stream *s = &r->stream;
    s->in_pos = e->payload_offset;
    s->in_left = e->payload_length;
    s->out_left = s->undecoded = e->uncompressed_length;
    s->piece_len = s->piece_at = 0;
    s->ended = 0;
    s->walk_skip = s->walk_need = s->walk_ended = 0;
    s->lzma = e->codec == OTA_CODEC_LZMA2;
    if (!s->lzma)
        return e->payload_length == e->uncompressed_length ? OTA_OK : format(r);
    {
        const struct ota_decoder *d = decoder(r);
        enum ota_status st = d->start(decoder_ctx(r, r->priced_lclp[e->area]), s->dws, s->dws_size,
                                      dictionary(r, e));
        return st == OTA_OK ? OTA_OK : decode_failed(r, st);
    }
}

/* Input bytes to feed next: the control byte alone, then the rest of the
 * chunk header, then the chunk's data (lzma2.ChunkWalker.wanted). */
static uint32_t walk_wanted(const struct ota_restore_stream *s)
{
    if (s->walk_ended)
        return 0xFFFFFFFFu;
    if (s->walk_skip)
        return s->walk_skip;
    return s->walk_need ? s->walk_need : 1u;
}

static void walk_feed(struct ota_restore_stream *s, const uint8_t *p, uint32_t n)
{
    while (n && !s->walk_ended) {
        if (s->walk_skip) {
            uint32_t k = min32(s->walk_skip, n);
            s->walk_skip -= k;
            p += k;
            n -= k;
        } else if (!s->walk_need) {
            uint8_t c = *p++;
            n--;
            if (c == OTA_LZMA2_END || (c > OTA_LZMA2_STORED && c < OTA_LZMA2_LZMA)) {
                s->walk_ended = 1; /* the end, or an invalid control byte the decoder refuses */
                break;
            }
            s->walk_head[0] = c;
            s->walk_need = c < OTA_LZMA2_LZMA ? OTA_LZMA2_STORED_HEADER
                                              : OTA_LZMA2_LZMA_HEADER + (c >= OTA_LZMA2_LZMA_PROPS);
        } else {
            uint8_t c = s->walk_head[0];
            unsigned at = (c < OTA_LZMA2_LZMA ? OTA_LZMA2_STORED_HEADER
                                               : OTA_LZMA2_LZMA_HEADER + (c >= OTA_LZMA2_LZMA_PROPS)) -
                          s->walk_need + 1u;
            s->walk_head[at] = *p++;
            n--;
            if (!--s->walk_need) {
                const uint8_t *h = s->walk_head;
                s->walk_skip = (c < OTA_LZMA2_LZMA ? ((uint32_t)h[1] << 8 | h[2]) : ((uint32_t)h[3] << 8 | h[4])) + 1u;
            }
        }
    }
}

/* One decoder call on the input at in_pos; `out`/`room` as the decoder's. */
static enum ota_status decode_some(struct ota_restore *r, uint8_t *out, size_t *room, int *progress)
{
    struct ota_restore_stream *s = &r->stream;
    const struct ota_decoder *d = decoder(r);
    const uint8_t *in = r->chunk; /* never read when avail is 0 */
    uint32_t avail = 0;
    size_t in_n;
    enum ota_status st;
    if (s->in_left) {
        st = ota_r_pkg_view(r, s->in_pos, &in, &avail);
        if (st != OTA_OK)
            return st;
        avail = min32(min32(avail, s->in_left), walk_wanted(s));
    }
    in_n = avail;
    st = d->decode(decoder_ctx(r, r->priced_lclp[r->entries[r->cursor].area]), s->dws, in, &in_n, out, room);
    walk_feed(s, in, (uint32_t)in_n);
    s->in_pos += (uint32_t)in_n;
    s->in_left -= (uint32_t)in_n;
    *progress = in_n || *room;
    if (st == OTA_END)
        s->ended = 1;
    else if (st < 0)
        return decode_failed(r, st);
    return OTA_OK;
}

/* The next decode piece, as the Python restore pulls one
 * (stream.LzmaReader._feed): decoder calls asking for min(undecoded,
 * DECODE_CHUNK) bytes until one produces some. */
static enum ota_status refill(struct ota_restore *r)
{
    struct ota_restore_stream *s = &r->stream;
    uint32_t want = min32(s->undecoded, OTA_DECODE_CHUNK);
    size_t room = 0;
    s->piece_len = s->piece_at = 0;
    while (!room) {
        int progress;
        enum ota_status st;
        if (s->ended) /* ends before its declared bytes */
            return format(r);
        room = want;
        st = decode_some(r, s->piece, &room, &progress);
        if (st != OTA_OK)
            return st;
        if (!progress && !s->ended)
            return format(r); /* the payload ends before the stream does */
    }
    s->undecoded -= (uint32_t)room;
    s->piece_len = (uint32_t)room;
    return OTA_OK;
}

/* Exactly `n` decoded bytes, within the declared length. */
static enum ota_status stream_read(struct ota_restore *r, uint8_t *dst, uint32_t n)
{
    struct ota_restore_stream *s = &r->stream;
    if (n > s->out_left)
        return format(r);
    if (!s->lzma) {
        enum ota_status st = ota_r_pkg(r, s->in_pos, dst, n);
        if (st != OTA_OK)
            return st;
        s->in_pos += n;
        s->in_left -= n;
        s->out_left -= n;
        return OTA_OK;
    }
    while (n) {
        uint32_t k;
        if (s->piece_at == s->piece_len) {
            enum ota_status st = refill(r);
            if (st != OTA_OK)
                return st;
        }
        k = min32(n, s->piece_len - s->piece_at);
        memcpy(dst, s->piece + s->piece_at, k);
        s->piece_at += k;
        s->out_left -= k;
        dst += k;
        n -= k;
    }
    return OTA_OK;
}

#if OTA_WITH_DELTA
static enum ota_status stream_byte(struct ota_restore *r, uint8_t *b)
{
    struct ota_restore_stream *s = &r->stream;
    if (s->lzma && s->out_left && s->piece_at < s->piece_len) { /* the common case, without a call */
        *b = s->piece[s->piece_at++];
        s->out_left--;
        return OTA_OK;
    }
    return stream_read(r, b, 1);
}
#endif

/* The stream ends exactly here: every declared byte used, the end marker
 * next, no payload byte after it. */
static enum ota_status stream_finish(struct ota_restore *r)
{
    struct ota_restore_stream *s = &r->stream;
    if (s->out_left || s->piece_at != s->piece_len)
        return format(r);
    if (!s->lzma)
        return OTA_OK;
    while (!s->ended) {
        uint8_t extra;
        size_t room = 1;
        int progress;
        enum ota_status st = decode_some(r, &extra, &room, &progress);
        if (st != OTA_OK)
            return st;
        if (room || !progress) /* decodes to more than declared, or has no end marker */
            return format(r);
    }
    return s->in_left ? format(r) : OTA_OK;
}

#if OTA_WITH_DELTA
/* A canonical LEB128 varint of at most OTA_VARINT_MAX_BYTES bytes and at
 * most `limit`, checked after every byte (every limit is below 2^35). */
static enum ota_status varint(struct ota_restore *r, uint64_t limit, uint64_t *value)
{
    uint64_t v = 0;
    unsigned i;
    for (i = 0; i < OTA_VARINT_MAX_BYTES; i++) {
        uint8_t b;
        enum ota_status st = stream_byte(r, &b);
        if (st != OTA_OK)
            return st;
        if ((b & 0x7Fu) && 7u * i >= 40u) /* beyond every limit; the shift would lose bits */
            return corrupt(r);
        v |= (uint64_t)(b & 0x7Fu) << (7u * i);
        if (!(b & 0x80u)) {
            if ((!b && i) || v > limit)
                return corrupt(r);
            *value = v;
            return OTA_OK;
        }
        if (v > limit)
            return corrupt(r);
    }
    return corrupt(r);
}

enum ota_status ota_r_varint(struct ota_restore *r, uint64_t limit, uint64_t *value)
{
    return varint(r, limit, value);
}

enum ota_status ota_r_stream_read(struct ota_restore *r, uint8_t *dst, uint32_t n)
{
    return stream_read(r, dst, n);
}

/* window_size, max_window_tuples, diff_coding. */
static enum ota_status stream_header(struct ota_restore *r)
{
    uint64_t window, tuples, coding;
    enum ota_status st = varint(r, OTA_MAX_WINDOW_SIZE, &window);
    if (st == OTA_OK)
        st = varint(r, OTA_MAX_WINDOW_TUPLES, &tuples);
    if (st != OTA_OK)
        return st;
    if (window < OTA_MIN_WINDOW_SIZE || tuples < OTA_MIN_WINDOW_TUPLES)
        return corrupt(r);
    st = varint(r, OTA_DIFF_CODING_ZERO_RUN, &coding);
    if (st != OTA_OK)
        return st;
    r->window_size = (uint32_t)window;
    r->max_tuples = (uint32_t)tuples;
    r->zero_runs = coding == OTA_DIFF_CODING_ZERO_RUN;
    return OTA_OK;
}

/* Transform-section bytes fed while the parser is in `stage`; its refusals
 * as transform_section.py's (a compiled-out arch: unsupported). */
static enum ota_status section_read(struct ota_restore *r, enum ota_transform_stage stage)
{
    while (ota_transform_stage(&r->transform) == stage) {
        uint8_t b;
        size_t used;
        enum ota_status st = stream_byte(r, &b);
        if (st != OTA_OK)
            return st;
        st = ota_transform_feed(&r->transform, &b, 1, &used);
        if (st == OTA_ERR_CORRUPT_PATCH)
            return corrupt(r);
        if (st == OTA_ERR_UNSUPPORTED)
            return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_UNSUPPORTED);
        if (st != OTA_OK && st != OTA_END)
            return ota_r_fail(r, OTA_ERR_INTERNAL, st);
    }
    return OTA_OK;
}

/* The stream header; for delta-v2 also the section's four counts, which
 * price the tables (r->table_bytes) before any table byte is read. */
static enum ota_status patch_header(struct ota_restore *r, const struct ota_restore_entry *e, size_t used)
{
    enum ota_status st = ota_r_ip_header(r, e, used); /* delta-in-place: its header comes first */
    if (st == OTA_OK)
        st = stream_header(r);
    ota_transform_init(&r->transform, e->source_size);
    r->table_bytes = 0;
    if (st != OTA_OK || e->operation != OTA_OPERATION_DELTA_V2)
        return st;
    st = section_read(r, OTA_TSTAGE_COUNTS);
    if (st == OTA_OK && r->transform.arch)
        r->table_bytes = (uint32_t)OTA_TRANSFORM_TABLE_BYTES(r->transform.map_count, r->transform.region_count);
    return st;
}

/* The RAM the section's tables are priced at (0 without an arch). */
static uint64_t transform_ram(const struct ota_restore *r)
{
    return r->transform.arch ? OTA_TRANSFORM_RAM(r->transform.map_count, r->transform.region_count) : 0u;
}
#endif

/* ------------------------------------------------------------ resources */

/* lc + lp of the payload's first LZMA chunk (OTA_R_NO_LCLP: it has none),
 * walking the chunk headers only, as lzma2.peek_lclp. */
static enum ota_status peek_lclp(struct ota_restore *r, const struct ota_restore_entry *e, unsigned *lclp)
{
    uint32_t at = e->payload_offset, left = e->payload_length;
    for (;;) {
        uint8_t c, h[5];
        unsigned need, k;
        enum ota_status st;
        if (!left)
            return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
        st = ota_r_pkg(r, at++, &c, 1);
        if (st != OTA_OK)
            return st;
        left--;
        if (c == OTA_LZMA2_END) {
            *lclp = OTA_R_NO_LCLP;
            return OTA_OK;
        }
        if (c > OTA_LZMA2_STORED && c < OTA_LZMA2_LZMA)
            return format(r);
        need = c < OTA_LZMA2_LZMA ? OTA_LZMA2_STORED_HEADER : OTA_LZMA2_LZMA_HEADER + (c >= OTA_LZMA2_LZMA_PROPS);
        for (k = 0; k < need; k++) {
            if (!left)
                return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
            st = ota_r_pkg(r, at++, &h[k], 1);
            if (st != OTA_OK)
                return st;
            left--;
        }
        if (c < OTA_LZMA2_LZMA) { /* a stored chunk: skip its data */
            uint32_t skip = ((uint32_t)h[0] << 8 | h[1]) + 1u;
            if (skip > left)
                return ota_r_fail(r, OTA_ERR_TRUNCATED, OTA_ERR_TRUNCATED);
            at += skip;
            left -= skip;
            continue;
        }
        if (c < OTA_LZMA2_LZMA_PROPS) /* the first LZMA chunk must set properties */
            return format(r);
        if (h[4] > OTA_LZMA2_MAX_PROPS || h[4] % 9u + h[4] / 9u % 5u > OTA_LZMA2_MAX_LCLP)
            return format(r);
        *lclp = h[4] % 9u + h[4] / 9u % 5u;
        return OTA_OK;
    }
}

static uint64_t model_bytes(unsigned lclp)
{
    if (lclp == OTA_R_NO_LCLP)
        return OTA_LZMA_DECODER_STATE;
    return OTA_LZMA_MODEL_BYTES(lclp);
}

static int on_grid(uint32_t v)
{
    return OTA_LZMA_DICT_ON_GRID(v);
}

/* The stream decoded once in full, the output discarded, through the same
 * decode loop and workspace as the writing pass: it must reach exactly its
 * declared length and end marker, or it is refused here (naming the
 * partition) before any decoded byte is interpreted or written. Decoders
 * notice a corruption at different output positions; whether the stream
 * decodes does not depend on the decoder (pricing.decode_in_full). */
static enum ota_status decode_in_full(struct ota_restore *r, const struct ota_restore_entry *e)
{
    struct ota_restore_stream *s = &r->stream;
    enum ota_status st;
    r->partition = (int32_t)r->cursor;
    st = stream_open(r, e);
    while (st == OTA_OK && s->out_left) { /* whole pieces, each taken at once */
        st = refill(r);
        s->out_left -= s->piece_len;
        s->piece_at = s->piece_len;
    }
    if (st == OTA_OK)
        st = stream_finish(r);
    if (st == OTA_OK)
        r->partition = -1;
    return st;
}

static enum ota_status price(struct ota_restore *r, struct ota_restore_entry *e, uint64_t fixed)
{
    unsigned lclp = OTA_R_NO_LCLP;
    uint64_t known = fixed;
    size_t used;
    enum ota_status st;
    r->priced_lclp[e->area] = OTA_R_NO_LCLP;
    if (e->codec == OTA_CODEC_LZMA2) {
        st = peek_lclp(r, e, &lclp);
        if (st != OTA_OK)
            return st;
        r->priced_lclp[e->area] = (uint8_t)lclp;
        known += (uint64_t)dictionary(r, e) + model_bytes(lclp) + OTA_DECODE_CHUNK;
    }
    if (known > r->ram_required)
        return resource(r, OTA_ERR_RESOURCE);
    st = carve_decoder(r, e, &used);
    if (st == OTA_OK && e->codec == OTA_CODEC_LZMA2)
        st = decode_in_full(r, e);
    if (st != OTA_OK)
        return st;
    if (IS_DELTA(e->operation)) {
#if OTA_WITH_DELTA
        st = stream_open(r, e);
        if (st == OTA_OK)
            st = patch_header(r, e, used);
        if (st == OTA_OK)
            st = ota_r_ip_check(r, e);
        if (st != OTA_OK)
            return st;
        known += (uint64_t)r->max_tuples * OTA_TUPLE_BYTES + OTA_DECODE_CHUNK + transform_ram(r) + ota_r_ip_ram(r, e);
        if (known > r->ram_required)
            return resource(r, OTA_ERR_RESOURCE);
        st = carve_delta(r, used);
        if (st != OTA_OK)
            return st;
#else
        return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_UNSUPPORTED);
#endif
    }
    r->priced_extra[e->area] = (uint32_t)(r->ram_required - known);
    return OTA_OK;
}

enum ota_status ota_r_resources(struct ota_restore *r)
{
    const struct ota_restore_config *c = r->cfg;
    uint32_t eb = r->header_erase_block;
    uint64_t fixed, staged = 0;
    unsigned i;
    int uses_lzma = 0;
    for (i = 0; i < r->entry_count; i++) {
        if (OTA_OPERATION_HAS_PAYLOAD(r->entries[i].operation) && r->entries[i].codec == OTA_CODEC_LZMA2)
            uses_lzma = 1;
    }
    if ((eb & (eb - 1u)) || eb < OTA_MIN_ERASE_BLOCK || eb > OTA_MAX_ERASE_BLOCK)
        return format(r);
    if (!uses_lzma ? r->lzma_dict_size != 0
                   : (r->lzma_dict_size < OTA_MIN_LZMA_DICT || r->lzma_dict_size > OTA_MAX_LZMA_DICT ||
                      !on_grid(r->lzma_dict_size)))
        return format(r);
    if (c->ram_budget != OTA_RESTORE_NO_LIMIT && r->ram_required > c->ram_budget)
        return resource(r, OTA_ERR_RESOURCE);
    fixed = (uint64_t)OTA_PACKAGE_CHUNK + r->header_length + eb;
    if (r->ram_required < fixed)
        return resource(r, OTA_ERR_RESOURCE);
    for (i = 0; i < r->entry_count; i++)
        if (IS_STAGED(r->entries[i].operation))
            staged += round_up(r->entries[i].target_size, eb);
    if (ota_r_ip_flash(r) != OTA_OK)
        return r->failure.status;
    if (staged > r->scratch_flash)
        return resource(r, OTA_ERR_RESOURCE);
    if (staged && (c->scratch_area == OTA_RESTORE_NO_AREA || staged > c->flash->areas[c->scratch_area].size))
        return resource(r, OTA_ERR_FLASH_BOUNDS); /* the device's own staging area is smaller */
    for (i = 0; i < r->entry_count; i++) {
        struct ota_restore_entry *e = &r->entries[i];
        enum ota_status st;
        if (!OTA_OPERATION_HAS_PAYLOAD(e->operation) || (r->copy_mode == OTA_R_FROM_COPY && i != r->copy_entry))
            continue; /* a boot after `copied`: only the copied payloads are left to price */
        r->cursor = i;
        st = price(r, e, fixed);
        if (st != OTA_OK)
            return st;
    }
    if (r->copy_mode != OTA_R_FROM_COPY &&
        (ota_r_ip_scratch(r, staged) != OTA_OK || ota_r_copy_check(r) != OTA_OK))
        return r->failure.status;
    r->cursor = 0;
    r->phase = P_BEGIN;
    return OTA_OK;
}

/* ------------------------------------------------------------ delta */

#if OTA_WITH_DELTA
static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A window's tuples (into the tuple array) and extra bytes. */
static enum ota_status read_window(struct ota_restore *r, const struct ota_restore_entry *e)
{
    uint64_t count, copy_total = 0;
    uint32_t index;
    enum ota_status st = varint(r, r->max_tuples, &count);
    if (st != OTA_OK)
        return st;
    if (count < 1)
        return corrupt(r);
    r->window_out = 0;
    for (index = 0; index < count; index++) {
        uint64_t add, copy, zz, mag;
        uint8_t *t = r->tuple_array + (size_t)index * OTA_TUPLE_BYTES;
        int negative;
        r->at_tuple = index;
        st = varint(r, r->window_size, &add);
        if (st == OTA_OK)
            st = varint(r, r->window_size, &copy);
        if (st == OTA_OK)
            st = varint(r, 2u * (uint64_t)OTA_MAX_SEEK, &zz);
        if (st != OTA_OK)
            return st;
        negative = (int)(zz & 1u);
        mag = negative ? (zz >> 1) + 1u : zz >> 1; /* zig-zag: |seek| */
        r->tuples++;
        if (!add && !copy && (r->window_index || index))
            return corrupt(r); /* only the stream's first tuple may be a bare seek */
        if (add > r->window_size - r->window_out)
            return corrupt(r);
        r->window_out += add;
        if (copy > r->window_size - r->window_out)
            return corrupt(r);
        r->window_out += copy;
        if (r->tuples - r->tuples_base > OTA_TUPLE_ALLOWANCE &&
            r->tuples - r->tuples_base - OTA_TUPLE_ALLOWANCE > (r->out + r->window_out) / OTA_MIN_TUPLE_OUTPUT)
            return corrupt(r); /* the work bound */
        copy_total += copy;
        put32(t, (uint32_t)add | (negative ? 0x80000000u : 0u));
        put32(t + 4, (uint32_t)copy);
        put32(t + 8, (uint32_t)mag);
    }
    r->at_tuple = -1;
    r->count = (uint32_t)count;
    if (r->window_out > (uint64_t)e->target_size - r->out)
        return corrupt(r);
    if (copy_total > r->priced_extra[e->area])
        return resource(r, OTA_ERR_RESOURCE);
    if (copy_total > r->extra_room)
        return resource(r, OTA_ERR_WORKSPACE);
    st = stream_read(r, r->extra, (uint32_t)copy_total);
    if (st != OTA_OK)
        return st;
    r->extra_at = 0;
    r->diff_left = (uint32_t)(r->window_out - copy_total);
    r->pairs = r->zeros = r->literals = 0;
    r->tuple_index = 0;
    return OTA_OK;
}

static enum ota_status next_pair(struct ota_restore *r)
{
    uint64_t zeros, literals;
    enum ota_status st = varint(r, OTA_MAX_WINDOW_SIZE, &zeros);
    if (st == OTA_OK)
        st = varint(r, OTA_MAX_WINDOW_SIZE, &literals);
    if (st != OTA_OK)
        return st;
    if (zeros > r->diff_left || literals > r->diff_left - zeros)
        return corrupt(r);
    if (r->pairs && !zeros) /* no zeros after a literal run */
        return corrupt(r);
    if (!literals && zeros != r->diff_left) /* no literals before the end */
        return corrupt(r);
    r->diff_left -= (uint32_t)(zeros + literals);
    r->zeros = (uint32_t)zeros;
    r->literals = (uint32_t)literals;
    r->pairs++;
    r->diff_pairs++;
    return OTA_OK;
}

/* delta-v2: old[position, position + k) in `old` re-aimed into old' (the
 * look-ahead a unit running past the piece needs is read from flash, as
 * transform.py reads it); `out_at` is the output offset of `position`. */
static enum ota_status transformed(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t position,
                                   uint8_t *old, uint32_t k, uint64_t out_at)
{
#if OTA_WITH_TRANSFORMS
    uint8_t ahead[OTA_MAX_UNIT - 1u];
    uint32_t n = ota_transform_ahead(&r->transform, position, k);
    enum ota_status st;
    if (!ota_transform_active(&r->transform))
        return OTA_OK;
    st = n ? ota_flash_read(r->cfg->flash, e->area, position + k, ahead, n) : OTA_OK;
    if (st != OTA_OK)
        return resource(r, st);
    st = ota_transform_apply(&r->transform, position, (int64_t)out_at - (int64_t)position, old, k, ahead, n);
    return st == OTA_OK ? OTA_OK : ota_r_fail(r, OTA_ERR_INTERNAL, st);
#else
    (void)r, (void)e, (void)position, (void)old, (void)k, (void)out_at;
    return OTA_OK; /* a build without transforms refuses every arch at resources */
#endif
}

/* `k` bytes of the tuple's add at output offset `out_at`: old bytes (delta-v2:
 * re-aimed) plus diff bytes, into dst. */
static enum ota_status add_piece(struct ota_restore *r, const struct ota_restore_entry *e, uint8_t *dst,
                                 uint32_t *k, uint64_t out_at)
{
    uint32_t position = (uint32_t)r->old_pos + (get32(r->tuple_array + (size_t)r->tuple_index * 12u) &
                                                0x7FFFFFFFu) - r->add_left;
    int zero_run = 0;
    uint32_t i;
    enum ota_status st;
    if (r->zero_runs) {
        if (!r->zeros && !r->literals) {
            st = next_pair(r);
            if (st != OTA_OK)
                return st;
        }
        if (r->zeros) {
            *k = min32(*k, r->zeros);
            r->zeros -= *k;
            zero_run = 1;
        } else {
            *k = min32(*k, r->literals);
        }
    }
    if (e->operation == OTA_OPERATION_DELTA_IN_PLACE) { /* live, saved or skipped; the old-read rule */
        st = ota_r_ip_read(r, e, position, zero_run ? dst : r->old_piece, *k, out_at);
        if (st != OTA_OK)
            return st;
    } else if ((st = ota_flash_read(r->cfg->flash, e->area, position, zero_run ? dst : r->old_piece, *k)) != OTA_OK) {
        return resource(r, st);
    }
    st = transformed(r, e, position, zero_run ? dst : r->old_piece, *k, out_at);
    if (st != OTA_OK || zero_run)
        return st;
    st = stream_read(r, dst, *k);
    if (st != OTA_OK)
        return st;
    if (r->zero_runs) {
        for (i = 0; i < *k; i++)
            if (!dst[i])
                return corrupt(r); /* a zero byte inside a literal run */
        r->literals -= *k;
    }
    for (i = 0; i < *k; i++)
        dst[i] = (uint8_t)(dst[i] + r->old_piece[i]);
    return OTA_OK;
}

/* The next `n` target bytes into dst; after the last target byte it runs
 * on to the end of the stream's last window (its last seek is checked). */
static enum ota_status delta_fill(struct ota_restore *r, const struct ota_restore_entry *e, uint8_t *dst,
                                  uint32_t n)
{
    uint32_t produced = 0, old_size = e->source_size;
    for (;;) {
        const uint8_t *t = r->tuple_array + (size_t)r->tuple_index * OTA_TUPLE_BYTES;
        enum ota_status st;
        uint32_t k;
        switch (r->dphase) {
        case D_WINDOW:
            if (r->out == e->target_size) {
                r->dphase = D_DONE;
                r->in_delta = 0;
                break;
            }
            r->in_delta = 1;
            r->at_tuple = -1;
            st = read_window(r, e);
            if (st != OTA_OK)
                return st;
            r->dphase = D_TUPLE;
            break;
        case D_TUPLE:
            if (r->tuple_index == r->count) {
                r->out += r->window_out;
                r->window_index++;
                r->at_tuple = -1;
                r->dphase = D_WINDOW;
                break;
            }
            r->at_tuple = r->tuple_index;
            r->add_left = get32(t) & 0x7FFFFFFFu;
            r->copy_left = get32(t + 4);
            if (r->add_left && (r->old_pos > old_size || r->add_left > old_size - r->old_pos))
                return corrupt(r); /* reads outside the old partition */
            r->dphase = D_ADD;
            break;
        case D_ADD:
            if (!r->add_left) {
                r->old_pos += get32(t) & 0x7FFFFFFFu;
                r->dphase = D_COPY;
                break;
            }
            if (produced == n)
                return OTA_OK;
            k = min32(min32(r->add_left, n - produced), OTA_DECODE_CHUNK);
            st = add_piece(r, e, dst + produced, &k, (uint64_t)r->done + produced);
            if (st != OTA_OK)
                return st;
            r->add_left -= k;
            produced += k;
            break;
        case D_COPY:
            if (!r->copy_left) {
                r->dphase = D_SEEK;
                break;
            }
            if (produced == n)
                return OTA_OK;
            k = min32(r->copy_left, n - produced);
            memcpy(dst + produced, r->extra + r->extra_at, k);
            r->extra_at += k;
            r->copy_left -= k;
            produced += k;
            break;
        case D_SEEK: {
            uint64_t mag = get32(t + 8);
            if (get32(t) & 0x80000000u) {
                if (mag > r->old_pos)
                    return corrupt(r);
                r->old_pos -= mag;
            } else {
                if (mag > (uint64_t)old_size - r->old_pos)
                    return corrupt(r);
                r->old_pos += mag;
            }
            r->tuple_index++;
            r->dphase = D_TUPLE;
            break;
        }
        default:
            return produced == n ? OTA_OK : ota_r_fail(r, OTA_ERR_INTERNAL, OTA_ERR_INTERNAL);
        }
    }
}
#endif

/* ------------------------------------------------------------ restore:NAME, target:NAME */

static int next_payload(struct ota_restore *r)
{
    while (r->cursor < r->entry_count && !OTA_OPERATION_HAS_PAYLOAD(r->entries[r->cursor].operation))
        r->cursor++;
    return r->cursor < r->entry_count;
}

static enum ota_status begin_partition(struct ota_restore *r, const struct ota_restore_entry *e)
{
    size_t used;
    enum ota_status st = carve_decoder(r, e, &used);
    if (st == OTA_OK)
        st = stream_open(r, e);
    if (st != OTA_OK)
        return st;
    r->done = 0;
    if (e->operation == OTA_OPERATION_REPLACE) {
        if (e->uncompressed_length != e->target_size)
            return format(r);
        if (r->region_size - used < OTA_DECODE_CHUNK)
            return resource(r, OTA_ERR_WORKSPACE);
        r->read_piece = r->region + used;
        r->read_len = r->read_at = 0;
        r->written_mask |= (uint32_t)1 << e->area;
        return OTA_OK;
    }
#if OTA_WITH_DELTA
    r->tuples_base = 0;
    if (IS_STAGED(e->operation)) {
        r->staged_offset[e->area] = r->scratch_at;
        r->scratch_at += (uint32_t)round_up(e->target_size, r->erase_block);
    }
    st = patch_header(r, e, used); /* the header resources priced */
    if (st == OTA_OK)
        st = carve_delta(r, used);
    if (st == OTA_OK && e->operation == OTA_OPERATION_DELTA_V2) { /* the tables, before the first window */
        st = ota_transform_set_tables(&r->transform, r->tuple_array + ALIGN8((size_t)r->max_tuples * OTA_TUPLE_BYTES),
                                      r->table_bytes);
        st = st == OTA_OK ? section_read(r, OTA_TSTAGE_TABLES) : ota_r_fail(r, OTA_ERR_INTERNAL, st);
    }
    if (st != OTA_OK)
        return st;
    r->out = r->old_pos = r->window_out = 0;
    r->window_index = r->count = r->tuple_index = 0;
    r->dphase = D_WINDOW;
    return OTA_OK;
#else
    return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_UNSUPPORTED);
#endif
}

/* Where partition e's bytes go: in place (replace) or its staging area (delta). */
static unsigned dest_area(const struct ota_restore *r, const struct ota_restore_entry *e, uint32_t *base)
{
    if (e->operation == OTA_OPERATION_REPLACE) {
        *base = 0;
        return e->area;
    }
    *base = r->staged_offset[e->area];
    return r->cfg->scratch_area;
}

/* `n` replace bytes into the write buffer, from payload pieces read whole
 * (DECODE_CHUNK bytes, as the Python restore writes them: a piece that fails
 * to decode leaves nothing of itself in flash). */
static enum ota_status replace_fill(struct ota_restore *r, uint32_t n)
{
    uint32_t got = 0;
    while (got < n) {
        uint32_t k;
        if (r->read_at == r->read_len) {
            enum ota_status st;
            k = min32(OTA_DECODE_CHUNK, r->stream.out_left);
            st = stream_read(r, r->read_piece, k);
            if (st != OTA_OK)
                return st;
            r->read_len = k;
            r->read_at = 0;
        }
        k = min32(n - got, r->read_len - r->read_at);
        memcpy(r->wbuf + got, r->read_piece + r->read_at, k);
        r->read_at += k;
        got += k;
    }
    return OTA_OK;
}

/* Shared with the journaled restore (ota_restore_journal.c): the payload
 * stream of e from its start, its next n target bytes into the write
 * buffer, and its end after the last n of them. */
enum ota_status ota_r_begin_payload(struct ota_restore *r, const struct ota_restore_entry *e)
{
    return begin_partition(r, e);
}

enum ota_status ota_r_fill(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t n)
{
    if (e->operation == OTA_OPERATION_REPLACE)
        return replace_fill(r, n);
#if OTA_WITH_DELTA
    return delta_fill(r, e, r->wbuf, n);
#else
    return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_UNSUPPORTED);
#endif
}

enum ota_status ota_r_fill_end(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t n)
{
#if OTA_WITH_DELTA
    if (IS_DELTA(e->operation) && r->dphase != D_DONE) {
        enum ota_status st = delta_fill(r, e, r->wbuf + n, 0);
        if (st != OTA_OK)
            return st;
    }
#else
    (void)e;
    (void)n;
#endif
    return stream_finish(r);
}

/* One erase block of target bytes; at the end the stream must end. */
static enum ota_status fill_step(struct ota_restore *r, const struct ota_restore_entry *e)
{
    uint32_t n = min32(r->erase_block, e->target_size - r->done), base;
    unsigned area = dest_area(r, e, &base);
    enum ota_status st = OTA_OK;
    if (n) {
        if (e->operation == OTA_OPERATION_REPLACE)
            st = replace_fill(r, n);
#if OTA_WITH_DELTA
        else
            st = delta_fill(r, e, r->wbuf, n);
#endif
        if (st != OTA_OK)
            return st;
        if (n == r->erase_block) { /* a whole block is programmed as soon as it is complete */
            st = ota_r_program(r, area, base + r->done, n);
            if (st != OTA_OK)
                return st;
        }
        r->done += n;
    }
#if OTA_WITH_DELTA
    if (IS_DELTA(e->operation) && r->done == e->target_size && r->dphase != D_DONE) {
        st = delta_fill(r, e, r->wbuf + n, 0);
        if (st != OTA_OK)
            return st;
    }
#endif
    if (r->done < e->target_size)
        return OTA_OK;
    st = stream_finish(r);
    if (st == OTA_OK && n && n < r->erase_block) /* the last, partial block */
        st = ota_r_program(r, area, base + r->done - n, n);
    if (st != OTA_OK)
        return st;
    r->block = (uint32_t)(round_up(e->target_size, r->erase_block) / r->erase_block);
    r->blocks = e->operation == OTA_OPERATION_REPLACE ? r->cfg->flash->areas[e->area].size / r->erase_block
                                                     : r->block;
    r->phase = P_ERASE;
    return OTA_OK;
}

static enum ota_status target_check(struct ota_restore *r, const struct ota_restore_entry *e)
{
    uint8_t have[OTA_SHA256_SIZE], want[OTA_SHA256_SIZE];
    uint32_t base;
    unsigned area = dest_area(r, e, &base);
    enum ota_status st = ota_r_hash_area(r, 0, area, base, e->target_size); /* read back from flash */
    if (st == OTA_OK)
        st = ota_r_hash_finish(r, 0, have);
    if (st == OTA_OK)
        st = ota_r_pkg(r, e->target_sha_offset, want, OTA_SHA256_SIZE);
    if (st != OTA_OK)
        return st;
    if (memcmp(have, want, OTA_SHA256_SIZE))
        return ota_r_fail(r, OTA_ERR_TARGET, OTA_ERR_TARGET);
    return OTA_OK;
}

enum ota_status ota_r_payload_step(struct ota_restore *r)
{
    const struct ota_restore_entry *e;
    enum ota_status st;
    if (r->phase == P_BEGIN) {
        if (!next_payload(r)) {
            r->cursor = 0;
            r->phase = P_BEGIN;
            return OTA_END;
        }
        r->check = OTA_CHECK_RESTORE;
        r->partition = (int32_t)r->cursor;
        e = &r->entries[r->cursor];
        st = e->operation == OTA_OPERATION_DELTA_IN_PLACE ? ota_r_ip_stage_begin(r, e) : begin_partition(r, e);
        if (st != OTA_OK)
            return st;
        r->phase = P_FILL;
        return OTA_OK;
    }
    e = &r->entries[r->cursor];
    if (e->operation == OTA_OPERATION_DELTA_IN_PLACE) { /* saves, proving pass, target:NAME */
        int finished;
        st = ota_r_ip_stage_step(r, e, &finished);
        if (st == OTA_OK && finished) {
            r->cursor++;
            r->phase = P_BEGIN;
        }
        return st;
    }
    switch (r->phase) {
    case P_FILL:
        return fill_step(r, e);
    case P_ERASE:
        if (r->block < r->blocks) { /* the rest of the slot is left erased */
            st = ota_r_erase(r, e->area, r->block * r->erase_block);
            r->block++;
            return st;
        }
        r->check_status[OTA_CHECK_RESTORE] = OTA_CHECK_STATUS_PASS;
        r->check = OTA_CHECK_TARGET;
        r->phase = P_TARGET;
        return OTA_OK;
    default:
        st = target_check(r, e);
        if (st != OTA_OK)
            return st;
        r->check_status[OTA_CHECK_TARGET] = OTA_CHECK_STATUS_PASS;
        r->cursor++;
        r->phase = P_BEGIN;
        return OTA_OK;
    }
}

/* ------------------------------------------------------------ commit */

/* Staged delta partitions copied into place one block per step, the rest
 * of each slot erased; then each delta-in-place partition written over
 * itself (in_place.commit_unjournaled); then the chain state the device keeps. */
enum ota_status ota_r_commit_step(struct ota_restore *r)
{
    const struct ota_restore_entry *e;
    enum ota_status st;
    while (!r->ip.commit_pass && r->cursor < r->entry_count && !IS_STAGED(r->entries[r->cursor].operation))
        r->cursor++;
    if (!r->ip.commit_pass && r->cursor == r->entry_count) {
        r->ip.commit_pass = 1;
        r->cursor = 0;
        r->phase = P_BEGIN;
    }
    while (r->ip.commit_pass && r->cursor < r->entry_count &&
           r->entries[r->cursor].operation != OTA_OPERATION_DELTA_IN_PLACE)
        r->cursor++;
    if (r->ip.commit_pass && r->cursor < r->entry_count) {
        int finished;
        e = &r->entries[r->cursor];
        if (r->phase == P_BEGIN) {
            r->phase = P_FILL;
            return ota_r_ip_commit_begin(r, e, 0, 0);
        }
        st = ota_r_ip_commit_step(r, e, &finished);
        if (st == OTA_OK && finished) {
            r->cursor++;
            r->phase = P_BEGIN;
        }
        return st;
    }
    if (r->cursor == r->entry_count) {
        r->has_next = r->kind == OTA_KIND_MINIMAL_STAGE1;
        if (r->has_next)
            return ota_r_pkg(r, r->next_offset, r->next_package, OTA_SHA256_SIZE) == OTA_OK ? OTA_END
                                                                                            : r->failure.status;
        return OTA_END;
    }
    e = &r->entries[r->cursor];
    if (r->phase == P_BEGIN) {
        r->done = 0;
        r->block = (uint32_t)(round_up(e->target_size, r->erase_block) / r->erase_block);
        r->blocks = r->cfg->flash->areas[e->area].size / r->erase_block;
        r->phase = P_FILL;
    }
    if (r->done < e->target_size) {
        uint32_t n = min32(r->erase_block, e->target_size - r->done);
        st = ota_flash_read(r->cfg->flash, r->cfg->scratch_area, r->staged_offset[e->area] + r->done, r->wbuf, n);
        if (st != OTA_OK)
            return resource(r, st);
        st = ota_r_program(r, e->area, r->done, n);
        r->done += n;
        return st;
    }
    if (r->block < r->blocks) {
        st = ota_r_erase(r, e->area, r->block * r->erase_block);
        r->block++;
        return st;
    }
    r->written_mask |= (uint32_t)1 << e->area;
    r->cursor++;
    r->phase = P_BEGIN;
    return OTA_OK;
}
