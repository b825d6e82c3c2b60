/* delta-in-place (docs/formats/delta-in-place.md): the in-place header
 * read ahead of the delta-v1 fields and held to its entry at `resources`,
 * the old-read rule on every add, and the flash sequence of
 * otapack/core/restore/in_place.py, with and without a journal:
 *
 * - restore:NAME (phase stage, nothing live written): each saved old
 *   sector copied to its scratch slot, then the proving pass decodes the
 *   whole stream and hashes its write-order output; target:NAME compares
 *   that hash with write_order_sha256;
 * - commit: the stream decoded again, each write-order chunk programmed
 *   over its own sector, parked in the swap sector first when it read that
 *   sector (record `swap`); a resumed run replays the stream in skip mode
 *   up to the journal's offset.
 *
 * The write order is walked from the segment table (at most 64 entries)
 * instead of held as lists: chunk -> sector and sector -> rank are O(segments).
 * One step does at most one erase and one program. */
#include <string.h>

#include "ota_restore_internal.h"

#if OTA_WITH_DELTA

#define DIRECTION_BIT 0x80000000u
#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

enum { S_SAVES = 1, S_PROVE, S_TARGET };
enum { C_UNPARK = 1, C_FILL, C_LIVE, C_ERASE, C_VERIFY };

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static uint32_t sectors_of(uint32_t size, uint32_t block)
{
    return (uint32_t)(((uint64_t)size + block - 1u) / block);
}

static enum ota_status corrupt(struct ota_restore *r)
{
    return ota_r_fail(r, OTA_ERR_CORRUPT_PATCH, OTA_ERR_CORRUPT_PATCH);
}

static int skip_swap_fault(const struct ota_restore *r)
{
#if OTA_JOURNAL_FAULTS
    return r->cfg->journal && r->cfg->journal->fault == OTA_JOURNAL_FAULT_SKIP_SWAP;
#else
    (void)r;
    return 0;
#endif
}

/* A journal record for the entry in progress (none without a journal). */
static enum ota_status record(struct ota_restore *r, unsigned phase, uint32_t entry, uint32_t done)
{
    enum ota_status st;
    if (!r->cfg->journal)
        return OTA_OK;
    st = ota_journal_append(&r->journal, r->body_sha256, phase, entry, done, &r->jrec);
    if (st != OTA_OK)
        return ota_r_fail(r, OTA_ERR_RESOURCE, st);
    r->jmine = 1;
    return OTA_OK;
}

/* ------------------------------------------------------------ the header */

enum ota_status ota_r_ip_header(struct ota_restore *r, const struct ota_restore_entry *e, size_t used)
{
    struct ota_in_place *ip = &r->ip;
    size_t room = r->region_size - used;
    uint64_t v, count, first, length, direction;
    uint32_t i;
    enum ota_status st;
    ip->segment_count = ip->save_count = 0;
    if (e->operation != OTA_OPERATION_DELTA_IN_PLACE)
        return OTA_OK;
    ip->segments = (uint32_t *)(void *)(r->region + used); /* the region and `used` are 8-byte aligned */
    if ((st = ota_r_varint(r, OTA_MAX_ERASE_BLOCK, &v)) != OTA_OK)
        return st;
    ip->sector_size = (uint32_t)v;
    if ((st = ota_r_varint(r, OTA_MAX_IN_PLACE_SEGMENTS, &count)) != OTA_OK)
        return st;
    if (count < 1)
        return corrupt(r);
    if (count * 2u * sizeof(uint32_t) > room)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_WORKSPACE);
    for (i = 0; i < count; i++) {
        st = ota_r_varint(r, OTA_MAX_U32, &first);
        if (st == OTA_OK)
            st = ota_r_varint(r, OTA_MAX_U32, &length);
        if (st == OTA_OK)
            st = ota_r_varint(r, OTA_IN_PLACE_BACKWARD, &direction);
        if (st != OTA_OK)
            return st;
        if (length < 1)
            return corrupt(r);
        /* a count above 2^31 - 1 runs past every target (< 2^23 sectors) either way */
        ip->segments[2u * i] = (uint32_t)first;
        ip->segments[2u * i + 1u] = (uint32_t)(length < DIRECTION_BIT ? length : DIRECTION_BIT - 1u) |
                                    (direction ? DIRECTION_BIT : 0u);
    }
    ip->segment_count = (uint32_t)count;
    ip->saves = ip->segments + 2u * count;
    if ((st = ota_r_varint(r, OTA_MAX_IN_PLACE_SAVES, &v)) != OTA_OK)
        return st;
    if ((count * 2u + v) * sizeof(uint32_t) > room)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_WORKSPACE);
    for (i = 0; i < v; i++) {
        uint64_t sector;
        if ((st = ota_r_varint(r, OTA_MAX_U32, &sector)) != OTA_OK)
            return st;
        if (i && sector <= ip->saves[i - 1u])
            return corrupt(r); /* saves must be strictly increasing */
        ip->saves[i] = (uint32_t)sector;
        ip->save_count = i + 1u;
    }
    return ota_r_stream_read(r, ip->digest, OTA_SHA256_SIZE);
}

size_t ota_r_ip_bytes(const struct ota_restore *r)
{
    return ALIGN8(((size_t)r->ip.segment_count * 2u + r->ip.save_count) * sizeof(uint32_t));
}

uint64_t ota_r_ip_ram(const struct ota_restore *r, const struct ota_restore_entry *e)
{
    if (e->operation != OTA_OPERATION_DELTA_IN_PLACE)
        return 0;
    return (uint64_t)r->ip.segment_count * OTA_IN_PLACE_SEGMENT_RAM + (uint64_t)r->ip.save_count * OTA_IN_PLACE_SAVE_RAM;
}

static uint32_t seg_first(const struct ota_in_place *ip, uint32_t i)
{
    return ip->segments[2u * i];
}

static uint32_t seg_count(const struct ota_in_place *ip, uint32_t i)
{
    return ip->segments[2u * i + 1u] & ~DIRECTION_BIT;
}

static int seg_backward(const struct ota_in_place *ip, uint32_t i)
{
    return (ip->segments[2u * i + 1u] & DIRECTION_BIT) != 0;
}

/* in_place_tables.check_tables, in its order. */
enum ota_status ota_r_ip_check(struct ota_restore *r, const struct ota_restore_entry *e)
{
    const struct ota_in_place *ip = &r->ip;
    uint32_t block = r->header_erase_block, n, i, j;
    uint64_t total = 0;
    if (e->operation != OTA_OPERATION_DELTA_IN_PLACE)
        return OTA_OK;
    if (ip->sector_size != block)
        return corrupt(r);
    n = sectors_of(e->target_size, block);
    for (i = 0; i < ip->segment_count; i++) {
        uint32_t first = seg_first(ip, i), count = seg_count(ip, i);
        if (count > n || first > n - count)
            return corrupt(r); /* runs past the target */
        for (j = 0; j < i; j++)
            if (first < seg_first(ip, j) + seg_count(ip, j) && seg_first(ip, j) < first + count)
                return corrupt(r); /* overlaps an earlier segment */
        total += count;
    }
    if (total != n)
        return corrupt(r);
    if (ip->save_count && ip->saves[ip->save_count - 1u] >= sectors_of(e->source_size, block))
        return corrupt(r);
    r->in_place_saves[e->area] = (uint8_t)ip->save_count;
    return OTA_OK;
}

/* 1 when every erase sector of the area is `block` bytes (an area without a
 * sector map has the port's erase blocks). */
static int uniform_area(const struct ota_flash *f, unsigned area, uint32_t block)
{
    const struct ota_flash_area *a = &f->areas[area];
    unsigned k;
    if (!a->sectors)
        return f->erase_block == block;
    for (k = 0; k < a->sector_count; k++)
        if (a->sectors[k] != block)
            return 0;
    return 1;
}

/* pricing.in_place_flash: the partition (and a journaled restore's scratch
 * area) has erase sectors of the package's erase block, and the target fits
 * its slot. */
enum ota_status ota_r_ip_flash(struct ota_restore *r)
{
    const struct ota_flash *f = r->cfg->flash;
    unsigned i;
    for (i = 0; i < r->entry_count; i++) {
        const struct ota_restore_entry *e = &r->entries[i];
        if (e->operation != OTA_OPERATION_DELTA_IN_PLACE || e->area >= r->cfg->partition_count)
            continue;
        if (!uniform_area(f, e->area, r->header_erase_block) ||
            (r->cfg->journal && r->cfg->scratch_area != OTA_RESTORE_NO_AREA &&
             !uniform_area(f, r->cfg->scratch_area, r->header_erase_block)))
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
        if (e->target_size > f->areas[e->area].size)
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    }
    return OTA_OK;
}

/* pricing.check_scratch, once every payload is priced: staged partitions,
 * saves and one swap sector within scratch_flash; without a journal also
 * within the device's scratch area (the saves follow the staged copies). */
enum ota_status ota_r_ip_scratch(struct ota_restore *r, uint64_t staged)
{
    uint64_t saves = 0;
    unsigned i;
    int any = 0;
    for (i = 0; i < r->entry_count; i++)
        if (r->entries[i].operation == OTA_OPERATION_DELTA_IN_PLACE) {
            saves += r->in_place_saves[r->entries[i].area];
            any = 1;
        }
    if (!any)
        return OTA_OK;
    staged += (saves + 1u) * r->header_erase_block;
    if (staged > r->scratch_flash)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    if (!r->cfg->journal && (r->cfg->scratch_area == OTA_RESTORE_NO_AREA ||
                             staged > r->cfg->flash->areas[r->cfg->scratch_area].size))
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_FLASH_BOUNDS);
    return OTA_OK;
}

/* ------------------------------------------------------------ the write order (in_place_tables.WriteOrder) */

static uint32_t sector_of(const struct ota_in_place *ip, uint32_t chunk)
{
    uint32_t i, at = 0;
    for (i = 0; i < ip->segment_count; i++) {
        uint32_t count = seg_count(ip, i);
        if (chunk - at < count)
            return seg_backward(ip, i) ? seg_first(ip, i) + count - 1u - (chunk - at) : seg_first(ip, i) + (chunk - at);
        at += count;
    }
    return 0; /* unreachable: the segments cover every chunk */
}

/* The chunk that writes target sector `sector` (< ip->sectors). */
static uint32_t rank_of(const struct ota_in_place *ip, uint32_t sector)
{
    uint32_t i, at = 0;
    for (i = 0; i < ip->segment_count; i++) {
        uint32_t first = seg_first(ip, i), count = seg_count(ip, i);
        if (sector - first < count)
            return at + (seg_backward(ip, i) ? first + count - 1u - sector : sector - first);
        at += count;
    }
    return 0;
}

static uint32_t chunk_length(const struct ota_restore *r, const struct ota_restore_entry *e, uint32_t chunk)
{
    return min32(r->erase_block, e->target_size - sector_of(&r->ip, chunk) * r->erase_block);
}

static uint32_t chunk_start(const struct ota_restore *r, uint32_t chunk)
{
    return chunk * r->erase_block - (chunk > r->ip.short_rank ? r->ip.short_bytes : 0u);
}

/* The chunk holding write-order offset `offset` (< the target size). */
static uint32_t chunk_at(const struct ota_restore *r, const struct ota_restore_entry *e, uint64_t offset)
{
    uint64_t boundary = (uint64_t)r->ip.short_rank * r->erase_block + chunk_length(r, e, r->ip.short_rank);
    if (offset < boundary)
        return (uint32_t)(offset / r->erase_block);
    return r->ip.short_rank + 1u + (uint32_t)((offset - boundary) / r->erase_block);
}

static void order_start(struct ota_restore *r, const struct ota_restore_entry *e)
{
    struct ota_in_place *ip = &r->ip;
    ip->sectors = sectors_of(e->target_size, r->erase_block);
    ip->short_rank = rank_of(ip, ip->sectors - 1u);
    ip->short_bytes = (uint32_t)((uint64_t)ip->sectors * r->erase_block - e->target_size);
    ip->chunk = 0;
    ip->own = 0;
    r->done = 0;
    r->tuples_base = r->tuples; /* the work bound counts each pass on its own */
}

/* ------------------------------------------------------------ old reads (in_place.InPlaceSink.read_old) */

static int save_index(const struct ota_in_place *ip, uint32_t sector)
{
    uint32_t i;
    for (i = 0; i < ip->save_count; i++)
        if (ip->saves[i] == sector)
            return (int)i;
    return -1;
}

enum ota_status ota_r_ip_read(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t position,
                              uint8_t *dst, uint32_t k, uint64_t out_at)
{
    struct ota_in_place *ip = &r->ip;
    uint32_t block = r->erase_block, at = 0;
    while (at < k) {
        uint64_t offset = out_at + at;
        uint32_t chunk = chunk_at(r, e, offset), sector = (position + at) / block, within = (position + at) % block;
        uint32_t n = min32(min32(k - at, (uint32_t)(chunk_start(r, chunk) + chunk_length(r, e, chunk) - offset)),
                           block - within);
        int skipping = offset < ip->skip, saved = save_index(ip, sector);
        enum ota_status st = OTA_OK;
        if (saved < 0 && sector < ip->sectors) {
            uint32_t rank = rank_of(ip, sector);
            if (rank < chunk)
                return corrupt(r); /* old sector read after it was overwritten */
            if (rank == chunk)
                ip->own = 1;
        }
        if (skipping)
            memset(dst + at, 0, n);
        else if (saved >= 0)
            st = ota_flash_read(r->cfg->flash, r->cfg->scratch_area, ip->slot + (uint32_t)saved * block + within,
                                dst + at, n);
        else
            st = ota_flash_read(r->cfg->flash, e->area, position + at, dst + at, n);
        if (st != OTA_OK)
            return ota_r_fail(r, OTA_ERR_RESOURCE, st);
        at += n;
    }
    return OTA_OK;
}

/* ------------------------------------------------------------ scratch layout (in_place.layout) */

/* This entry's first save slot and the swap sector: after the staged
 * partitions (journaled: placed as resume._placement places them), the
 * in-place partitions' saves in table order, then the swap sector. */
static enum ota_status layout(struct ota_restore *r, const struct ota_restore_entry *e)
{
    uint64_t at = 0, size = 0, block = r->erase_block;
    unsigned i;
    int journaled = r->cfg->journal != NULL;
    if (r->cfg->scratch_area == OTA_RESTORE_NO_AREA)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    size = r->cfg->flash->areas[r->cfg->scratch_area].size;
    for (i = 0; i < r->entry_count; i++) {
        const struct ota_restore_entry *s = &r->entries[i];
        if (!OTA_OPERATION_HAS_SOURCE(s->operation) || s->operation == OTA_OPERATION_DELTA_IN_PLACE)
            continue;
        if (journaled && s->target_size > size - at)
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
        at = (at + s->target_size + block - 1u) / block * block;
        if (journaled && at > size)
            at = size;
    }
    for (i = 0; i < r->entry_count; i++) {
        const struct ota_restore_entry *s = &r->entries[i];
        if (s->operation != OTA_OPERATION_DELTA_IN_PLACE)
            continue;
        if (s == e)
            r->ip.slot = (uint32_t)at;
        at += (uint64_t)r->in_place_saves[s->area] * block;
    }
    r->ip.swap = (uint32_t)at;
    if (at + block > size)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    return OTA_OK;
}

/* ------------------------------------------------------------ restore:NAME, target:NAME (in_place.stage) */

enum ota_status ota_r_ip_stage_begin(struct ota_restore *r, const struct ota_restore_entry *e)
{
    struct ota_in_place *ip = &r->ip;
    enum ota_status st = layout(r, e);
    if (st != OTA_OK)
        return st;
    ip->prove = !(r->cfg->journal && r->jmine && r->jrec.phase != OTA_JOURNAL_PHASE_STAGE);
    if (!ip->prove) { /* the journal reached commit: saved and proven by an earlier run */
        ip->step = S_TARGET;
        return OTA_OK;
    }
    ip->passed = r->cfg->journal && r->jmine && r->cursor < r->jrec.entry; /* the saves are in scratch */
    st = ota_r_begin_payload(r, e); /* the tables again: pricing's are gone */
    if (st == OTA_OK)
        st = ota_r_hash_start(r, 0);
    if (st != OTA_OK)
        return st;
    order_start(r, e);
    ip->skip = 0;
    ip->save_at = ip->passed ? ip->save_count : 0u;
    ip->step = S_SAVES;
    return OTA_OK;
}

static enum ota_status stage_target(struct ota_restore *r)
{
    struct ota_in_place *ip = &r->ip;
    int equal = 1;
    if (ip->prove) {
        uint8_t have[OTA_SHA256_SIZE];
        enum ota_status st = ota_r_hash_finish(r, 0, have);
        if (st != OTA_OK)
            return st;
        equal = !memcmp(have, ip->digest, OTA_SHA256_SIZE);
        if (equal && !ip->passed && (st = record(r, OTA_JOURNAL_PHASE_STAGE, r->cursor + 1u, 0)) != OTA_OK)
            return st;
    }
    r->check_status[OTA_CHECK_RESTORE] = OTA_CHECK_STATUS_PASS;
    r->check = OTA_CHECK_TARGET;
    if (!equal)
        return ota_r_fail(r, OTA_ERR_TARGET, OTA_ERR_TARGET);
    r->check_status[OTA_CHECK_TARGET] = OTA_CHECK_STATUS_PASS;
    return OTA_OK;
}

enum ota_status ota_r_ip_stage_step(struct ota_restore *r, const struct ota_restore_entry *e, int *finished)
{
    struct ota_in_place *ip = &r->ip;
    uint32_t block = r->erase_block, n;
    enum ota_status st;
    *finished = 0;
    switch (ip->step) {
    case S_SAVES:
        if (ip->save_at == ip->save_count) {
            ip->step = S_PROVE;
            return OTA_OK;
        }
        n = min32(block, r->cfg->flash->areas[e->area].size - ip->saves[ip->save_at] * block);
        st = ota_flash_read(r->cfg->flash, e->area, ip->saves[ip->save_at] * block, r->wbuf, n);
        if (st != OTA_OK)
            return ota_r_fail(r, OTA_ERR_RESOURCE, st);
        st = ota_r_program(r, r->cfg->scratch_area, ip->slot + ip->save_at * block, n);
        ip->save_at++;
        return st;
    case S_PROVE:
        n = chunk_length(r, e, ip->chunk);
        if ((st = ota_r_fill(r, e, n)) != OTA_OK || (st = ota_r_hash_update(r, 0, r->wbuf, n)) != OTA_OK)
            return st;
        r->done += n;
        ip->chunk++;
        ip->own = 0;
        if (r->done < e->target_size)
            return OTA_OK;
        if ((st = ota_r_fill_end(r, e, n)) != OTA_OK)
            return st;
        ip->step = S_TARGET;
        return OTA_OK;
    default:
        st = stage_target(r);
        *finished = st == OTA_OK;
        return st;
    }
}

/* ------------------------------------------------------------ commit (in_place.commit_entry) */

enum ota_status ota_r_ip_commit_begin(struct ota_restore *r, const struct ota_restore_entry *e, int parked,
                                      uint32_t skip)
{
    struct ota_in_place *ip = &r->ip;
    enum ota_status st = layout(r, e);
    r->written_mask |= (uint32_t)1 << e->area;
    if (st == OTA_OK)
        st = ota_r_begin_payload(r, e); /* the tables; the stream is decoded only while skip < target */
    if (st != OTA_OK)
        return st;
    order_start(r, e);
    ip->skip = skip;
    ip->erase_at = ip->sectors; /* the sectors after the target, erased at the end */
    ip->step = parked ? C_UNPARK : skip < e->target_size ? C_FILL : C_ERASE;
    return OTA_OK;
}

/* Erase the chunk's live sector, program the write buffer there, journal it. */
static enum ota_status program_live(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t chunk,
                                    uint32_t done, uint32_t n)
{
    enum ota_status st = ota_r_program(r, e->area, sector_of(&r->ip, chunk) * r->erase_block, n);
    return st == OTA_OK ? record(r, OTA_JOURNAL_PHASE_COMMIT, r->cursor, done + n) : st;
}

static enum ota_status next_chunk(struct ota_restore *r, const struct ota_restore_entry *e)
{
    struct ota_in_place *ip = &r->ip;
    r->done += ip->length;
    ip->chunk++;
    ip->own = 0;
    ip->step = C_FILL;
    if (r->done < e->target_size)
        return OTA_OK;
    ip->step = C_ERASE;
    return ota_r_fill_end(r, e, ip->length);
}

enum ota_status ota_r_ip_commit_step(struct ota_restore *r, const struct ota_restore_entry *e, int *finished)
{
    struct ota_in_place *ip = &r->ip;
    uint32_t block = r->erase_block, chunk, n;
    enum ota_status st;
    *finished = 0;
    switch (ip->step) {
    case C_UNPARK: /* the parked chunk: its live sector may be half-erased */
        chunk = chunk_at(r, e, ip->skip);
        n = chunk_length(r, e, chunk);
        st = ota_flash_read(r->cfg->flash, r->cfg->scratch_area, ip->swap, r->wbuf, n);
        if (st != OTA_OK)
            return ota_r_fail(r, OTA_ERR_RESOURCE, st);
        st = program_live(r, e, chunk, ip->skip, n);
        ip->skip += n;
        ip->step = ip->skip < e->target_size ? C_FILL : C_ERASE;
        return st;
    case C_FILL:
        ip->length = n = chunk_length(r, e, ip->chunk);
        if ((st = ota_r_fill(r, e, n)) != OTA_OK)
            return st;
        if (r->done < ip->skip) /* written before the cut */
            return next_chunk(r, e);
        if (ip->own && !skip_swap_fault(r)) { /* it read its own sector: parked first */
            st = ota_r_program(r, r->cfg->scratch_area, ip->swap, n);
            if (st == OTA_OK)
                st = record(r, OTA_JOURNAL_PHASE_SWAP, r->cursor, r->done);
            ip->step = C_LIVE;
            return st;
        }
        /* fall through */
    case C_LIVE:
        st = program_live(r, e, ip->chunk, r->done, ip->length);
        return st == OTA_OK ? next_chunk(r, e) : st;
    case C_ERASE: /* the slot after the target: erased, as a staged commit leaves it */
        if (ip->erase_at < r->cfg->flash->areas[e->area].size / block)
            return ota_r_erase(r, e->area, ip->erase_at++ * block);
        ip->step = C_VERIFY;
        return OTA_OK;
    default: {
        uint8_t have[OTA_SHA256_SIZE], want[OTA_SHA256_SIZE];
        st = ota_r_hash_area(r, 0, e->area, 0, e->target_size);
        if (st == OTA_OK)
            st = ota_r_hash_finish(r, 0, have);
        if (st == OTA_OK)
            st = ota_r_pkg(r, e->target_sha_offset, want, OTA_SHA256_SIZE);
        if (st != OTA_OK)
            return st;
        if (memcmp(have, want, OTA_SHA256_SIZE))
            return ota_r_fail(r, OTA_ERR_TARGET, OTA_ERR_TARGET);
        *finished = 1;
        return OTA_OK;
    }
    }
}

#else /* a build without deltas refuses every delta at resources: nothing here is reached */

enum ota_status ota_r_ip_flash(struct ota_restore *r)
{
    (void)r;
    return OTA_OK;
}

enum ota_status ota_r_ip_scratch(struct ota_restore *r, uint64_t staged)
{
    (void)r, (void)staged;
    return OTA_OK;
}

enum ota_status ota_r_ip_stage_begin(struct ota_restore *r, const struct ota_restore_entry *e)
{
    (void)e;
    return ota_r_fail(r, OTA_ERR_FORMAT, OTA_ERR_UNSUPPORTED);
}

enum ota_status ota_r_ip_stage_step(struct ota_restore *r, const struct ota_restore_entry *e, int *finished)
{
    *finished = 0;
    return ota_r_ip_stage_begin(r, e);
}

enum ota_status ota_r_ip_commit_begin(struct ota_restore *r, const struct ota_restore_entry *e, int parked,
                                      uint32_t skip)
{
    (void)parked, (void)skip;
    return ota_r_ip_stage_begin(r, e);
}

enum ota_status ota_r_ip_commit_step(struct ota_restore *r, const struct ota_restore_entry *e, int *finished)
{
    return ota_r_ip_stage_step(r, e, finished);
}
#endif
