/* The journaled, resumable restore (docs/verifier.md, "Power cuts and
 * resume"): otapack/core/restore/resume.py in C, flash operation for flash
 * operation and record for record, so a cut before any operation leaves
 * the same flash in both restores.
 *
 * - restore:NAME (phase stage): a delta is patched into its place in
 *   scratch_area, sector by sector, each finished sector journaled; a
 *   resumed run replays the payload from its start and skips the sectors
 *   recorded finished; a delta staged by an earlier boot is only re-hashed
 *   from scratch. A replace is decoded and hashed only.
 * - commit (phase commit): every payload partition in table order in
 *   place, a record naming it before its first erase, one after each
 *   sector, its target hash read back before the next; then `done`.
 *
 * A unit of work is one erase sector of where it is written (an erase
 * block, or a sector of the area's sector map: STM32F4's 16/64/128 KiB),
 * and the record after a sector says `done` = the bytes of the entry up to
 * that sector's end. Bytes go through the one-erase-block write buffer, so
 * a large sector is erased once, programmed block by block, then recorded.
 * The sector writer (put, erase_rest) and the skip of finished sectors are
 * the parts a later phase reuses. */
#include <string.h>

#include "ota_restore_internal.h"

enum { J_BEGIN, J_FILL, J_ERASE, J_TARGET, J_COPY, J_COPY_ERASE, J_COPY_SEAL };
enum { JM_HASH, JM_STAGE, JM_REHASH, JM_COMMIT };
enum { JS_IDLE, JS_WRITING, JS_FINISHED };
#define NO_ENTRY 0xFFFFFFFFu

static int faulty(const struct ota_restore *r, unsigned fault)
{
#if OTA_JOURNAL_FAULTS
    return r->cfg->journal->fault == fault;
#else
    (void)r;
    (void)fault;
    return 0;
#endif
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* A flash or journal status: a resource failure, as FlashFault is in Python
 * (a power cut keeps its own status as the cause). */
static enum ota_status jfail(struct ota_restore *r, enum ota_status st)
{
    return ota_r_fail(r, OTA_ERR_RESOURCE, st);
}

static enum ota_status record(struct ota_restore *r, unsigned phase, uint32_t entry, uint32_t done)
{
    enum ota_status st = ota_journal_append(&r->journal, r->body_sha256, phase, entry, done, &r->jrec);
    if (st != OTA_OK)
        return jfail(r, st);
    r->jmine = 1; /* the newest record is now this package's */
    return OTA_OK;
}

static enum ota_status area_digest(struct ota_restore *r, unsigned area, uint32_t offset, uint32_t len,
                                   uint8_t digest[OTA_SHA256_SIZE])
{
    enum ota_status st = ota_r_hash_area(r, 0, area, offset, len);
    return st == OTA_OK ? ota_r_hash_finish(r, 0, digest) : st;
}

static enum ota_status holds_target(struct ota_restore *r, const struct ota_restore_entry *e, unsigned area,
                                    uint32_t offset, int *equal)
{
    uint8_t have[OTA_SHA256_SIZE], want[OTA_SHA256_SIZE];
    enum ota_status st = area_digest(r, area, offset, e->target_size, have);
    if (st == OTA_OK)
        st = ota_r_pkg(r, e->target_sha_offset, want, OTA_SHA256_SIZE);
    *equal = st == OTA_OK && !memcmp(have, want, OTA_SHA256_SIZE);
    return st;
}

/* resume._mine: the newest record when it is this package's; a `done` one
 * only while every payload partition still reads back as its target. */
enum ota_status ota_r_journal_mine(struct ota_restore *r)
{
    int found, sector;
    unsigned i;
    enum ota_status st = ota_journal_latest(&r->journal, &r->jrec, &found, &sector);
    r->jmine = 0;
    if (st != OTA_OK)
        return jfail(r, st);
    if (!found || memcmp(r->jrec.package_digest, r->body_sha256, OTA_SHA256_SIZE))
        return OTA_OK;
    for (i = 0; r->jrec.phase == OTA_JOURNAL_PHASE_DONE && i < r->entry_count; i++) {
        const struct ota_restore_entry *e = &r->entries[i];
        unsigned area;
        int equal;
        if (!OTA_OPERATION_HAS_PAYLOAD(e->operation))
            continue;
        area = ota_r_find_area(r, e, &st);
        if (st != OTA_OK)
            return st;
        if (area == r->cfg->partition_count || e->target_size > r->cfg->flash->areas[area].size)
            return OTA_OK;
        st = holds_target(r, e, area, 0, &equal);
        if (st != OTA_OK)
            return st;
        if (!equal)
            return OTA_OK;
    }
    r->jmine = 1;
    return OTA_OK;
}

int ota_r_journal_commit_begun(const struct ota_restore *r)
{
    return r->jmine && r->jrec.phase != OTA_JOURNAL_PHASE_STAGE;
}

int ota_r_journal_touched(const struct ota_restore *r, unsigned index)
{
    return ota_r_journal_commit_begun(r) && (r->jrec.phase == OTA_JOURNAL_PHASE_DONE || index <= r->jrec.entry);
}

enum ota_status ota_r_journal_precondition(struct ota_restore *r)
{
    struct ota_journal_record newest;
    int found, sector;
    enum ota_status st;
    r->partition = -1;
    st = ota_journal_latest(&r->journal, &newest, &found, &sector);
    if (st != OTA_OK)
        return jfail(r, st);
    if (found && OTA_JOURNAL_LIVE(newest.phase) &&
        memcmp(newest.package_digest, r->body_sha256, OTA_SHA256_SIZE))
        return ota_r_fail(r, OTA_ERR_PRECURSOR, OTA_ERR_PRECURSOR); /* that restore must finish first */
    return ota_r_journal_mine(r);
}

/* The end of the sector holding `offset` - 1 of `area` (offset itself when
 * it is a sector boundary, the area's size at or past its end). */
static enum ota_status sector_end(struct ota_restore *r, unsigned area, uint32_t offset, uint32_t *end)
{
    uint32_t start, size;
    enum ota_status st;
    if (offset >= r->cfg->flash->areas[area].size) {
        *end = r->cfg->flash->areas[area].size;
        return OTA_OK;
    }
    st = ota_flash_sector(r->cfg->flash, area, offset, &start, &size);
    if (st != OTA_OK)
        return jfail(r, st);
    *end = start == offset ? offset : start + size;
    return OTA_OK;
}

/* Erase the sector of the area being written that starts at jbase + pos;
 * its size in *size (one erase operation, as NorFlash.erase_at). */
static enum ota_status erase_sector(struct ota_restore *r, uint32_t pos, uint32_t *size)
{
    uint32_t start;
    enum ota_status st = ota_flash_sector(r->cfg->flash, r->jarea, r->jbase + pos, &start, size);
    if (st == OTA_OK && start != r->jbase + pos)
        st = OTA_ERR_FLASH_ALIGN; /* a resume inside a sector: the journal never records one */
    if (st == OTA_OK)
        st = ota_flash_erase(r->cfg->flash, r->jarea, start, *size);
    if (st != OTA_OK)
        return jfail(r, st);
    r->blocks_erased++;
    if (r->jarea < r->cfg->partition_count)
        r->written_mask |= (uint32_t)1 << r->jarea;
    return OTA_OK;
}

/* resume._placement: delta entry `index` is staged at [*base, *end) of the
 * scratch area, each staged entry from a sector boundary, in table order. */
static enum ota_status placement(struct ota_restore *r, unsigned index, uint32_t *base, uint32_t *end)
{
    uint32_t at = 0, size;
    unsigned i;
    enum ota_status st;
    if (r->cfg->scratch_area == OTA_RESTORE_NO_AREA)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    size = r->cfg->flash->areas[r->cfg->scratch_area].size;
    for (i = 0; i < r->entry_count; i++) {
        const struct ota_restore_entry *e = &r->entries[i];
        uint32_t stop;
        if (!OTA_OPERATION_HAS_SOURCE(e->operation) || e->operation == OTA_OPERATION_DELTA_IN_PLACE)
            continue; /* staged deltas only */
        if (e->target_size > size - at)
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
        st = sector_end(r, r->cfg->scratch_area, at + e->target_size, &stop);
        if (st != OTA_OK)
            return st;
        if (i == index || index == NO_ENTRY) { /* NO_ENTRY: the end of the last one */
            *base = at;
            *end = stop;
        }
        at = stop;
    }
    return OTA_OK;
}

/* ------------------------------------------------------------ the sector writer (resume.SectorWriter) */

/* n bytes of the write buffer at jbase + pos (padded to the program unit):
 * the sector is erased first when they start it, and recorded finished
 * when they end it or are the entry's `last` bytes. */
static enum ota_status put(struct ota_restore *r, unsigned phase, uint32_t pos, uint32_t n, int last)
{
    const struct ota_flash *f = r->cfg->flash;
    uint32_t padded = n + (f->write_align - n % f->write_align) % f->write_align;
    int early = faulty(r, OTA_JOURNAL_FAULT_RECORD_BEFORE_PROGRAM);
    enum ota_status st = OTA_OK;
    if (pos >= r->jsector_end) { /* the first bytes of a sector */
        uint32_t size;
        st = erase_sector(r, pos, &size);
        if (st != OTA_OK)
            return st;
        r->jsector_end = pos + size;
        if (early && (st = record(r, phase, r->cursor, min32(r->jsector_end, r->jend - r->jbase))) != OTA_OK)
            return st;
    }
    if (padded > n)
        memset(r->wbuf + n, f->erased_value, padded - n);
    st = ota_flash_write(f, r->jarea, r->jbase + pos, r->wbuf, padded);
    if (st != OTA_OK)
        return jfail(r, st);
    r->bytes_written += n;
    if (early || (pos + n < r->jsector_end && !last))
        return OTA_OK;
    return record(r, phase, r->cursor, r->jsector_end);
}

/* One erase block of the entry's bytes per step; at the end of its data the
 * stream must end, then the sectors left up to jend are erased. */
static enum ota_status fill(struct ota_restore *r, const struct ota_restore_entry *e, unsigned phase)
{
    uint32_t pos = r->done, n = min32(r->erase_block, e->target_size - pos);
    int copy = r->jmode == JM_COMMIT && OTA_OPERATION_HAS_SOURCE(e->operation); /* from scratch */
    int writes = r->jmode != JM_HASH && pos >= r->jskip;
    enum ota_status st = OTA_OK;
    if (n) {
        if (copy) {
            if (writes && (st = ota_flash_read(r->cfg->flash, r->cfg->scratch_area, r->jsrc + pos, r->wbuf, n)) != OTA_OK)
                return jfail(r, st);
        } else if ((st = ota_r_fill(r, e, n)) != OTA_OK) {
            return st;
        }
        if (r->jmode != JM_COMMIT && (st = ota_r_hash_update(r, 0, r->wbuf, n)) != OTA_OK)
            return st;
        if (writes && n == r->erase_block && (st = put(r, phase, pos, n, pos + n == e->target_size)) != OTA_OK)
            return st; /* a whole block is programmed as soon as it is complete */
        r->done += n;
        if (r->done < e->target_size)
            return OTA_OK;
    }
    if (!copy && (st = ota_r_fill_end(r, e, n)) != OTA_OK)
        return st;
    if (writes && n && n < r->erase_block && (st = put(r, phase, pos, n, 1)) != OTA_OK)
        return st; /* the last, partial block */
    if (r->jmode == JM_HASH)
        r->block = r->jend - r->jbase;
    else if ((st = sector_end(r, r->jarea, r->jbase + e->target_size, &r->block)) != OTA_OK)
        return st;
    else
        r->block -= r->jbase;
    if (r->block < r->jskip)
        r->block = r->jskip;
    r->phase = J_ERASE;
    return OTA_OK;
}

/* The sectors after the data up to jend: erased and recorded, one per step. */
static enum ota_status erase_rest(struct ota_restore *r, unsigned phase, int *more)
{
    enum ota_status st;
    *more = r->jbase + r->block < r->jend;
    if (!*more)
        return OTA_OK;
    uint32_t size;
    st = erase_sector(r, r->block, &size);
    r->block += size;
    return st == OTA_OK ? record(r, phase, r->cursor, r->block) : st;
}

/* ------------------------------------------------------------ restore:NAME (stage), target:NAME */

static enum ota_status stage_begin(struct ota_restore *r, const struct ota_restore_entry *e)
{
    enum ota_status st;
    r->done = r->jskip = r->jsector_end = 0;
    if (e->operation == OTA_OPERATION_REPLACE) { /* decoded and hashed only; written at commit */
        uint32_t mask = r->written_mask;
        r->jmode = JM_HASH;
        r->jbase = r->jend = 0;
        st = ota_r_begin_payload(r, e);
        r->written_mask = mask;
    } else {
        st = placement(r, r->cursor, &r->jbase, &r->jend);
        if (st != OTA_OK)
            return st;
        r->jarea = r->cfg->scratch_area;
        if (r->jmine && (r->jrec.phase != OTA_JOURNAL_PHASE_STAGE || r->cursor < r->jrec.entry)) {
            r->jmode = JM_REHASH; /* staged by an earlier boot: its source may be gone */
            r->phase = J_TARGET;
            return OTA_OK;
        }
        r->jmode = JM_STAGE;
        if (r->jmine && r->cursor == r->jrec.entry)
            r->jskip = r->jrec.done;
        st = ota_r_begin_payload(r, e);
    }
    if (st == OTA_OK)
        st = ota_r_hash_start(r, 0);
    r->phase = J_FILL;
    return st;
}

static enum ota_status stage_target(struct ota_restore *r, const struct ota_restore_entry *e)
{
    uint8_t have[OTA_SHA256_SIZE], want[OTA_SHA256_SIZE];
    enum ota_status st = r->jmode == JM_REHASH ? area_digest(r, r->jarea, r->jbase, e->target_size, have)
                                               : ota_r_hash_finish(r, 0, have);
    int equal;
    if (st == OTA_OK)
        st = ota_r_pkg(r, e->target_sha_offset, want, OTA_SHA256_SIZE);
    if (st != OTA_OK)
        return st;
    equal = !memcmp(have, want, OTA_SHA256_SIZE);
    if (equal && r->jmode == JM_STAGE && (st = record(r, OTA_JOURNAL_PHASE_STAGE, r->cursor + 1u, 0)) != OTA_OK)
        return st;
    r->check_status[OTA_CHECK_RESTORE] = OTA_CHECK_STATUS_PASS;
    r->check = OTA_CHECK_TARGET;
    if (!equal)
        return ota_r_fail(r, OTA_ERR_TARGET, OTA_ERR_TARGET);
    r->check_status[OTA_CHECK_TARGET] = OTA_CHECK_STATUS_PASS;
    r->cursor++;
    r->phase = J_BEGIN;
    return OTA_OK;
}

/* A delta-in-place step's outcome: the next entry once it is finished. */
static enum ota_status in_place_step(struct ota_restore *r, enum ota_status st, int finished)
{
    if (st == OTA_OK && finished) {
        r->cursor++;
        r->phase = J_BEGIN;
    }
    return st;
}

enum ota_status ota_r_journal_payload_step(struct ota_restore *r)
{
    const struct ota_restore_entry *e;
    enum ota_status st;
    int more;
    if (r->copy_mode == OTA_R_FROM_COPY)
        return OTA_END; /* proven on the boot that copied the package; the journal stands in */
    if (r->phase == J_BEGIN) {
        while (r->cursor < r->entry_count && !OTA_OPERATION_HAS_PAYLOAD(r->entries[r->cursor].operation))
            r->cursor++;
        if (r->cursor == r->entry_count) {
            r->cursor = 0;
            return OTA_END;
        }
        r->check = OTA_CHECK_RESTORE;
        r->partition = (int32_t)r->cursor;
        e = &r->entries[r->cursor];
        if (e->operation != OTA_OPERATION_DELTA_IN_PLACE)
            return stage_begin(r, e);
        r->phase = J_FILL;
        return ota_r_ip_stage_begin(r, e); /* ota_in_place.c */
    }
    e = &r->entries[r->cursor];
    if (e->operation == OTA_OPERATION_DELTA_IN_PLACE) {
        st = ota_r_ip_stage_step(r, e, &more);
        return in_place_step(r, st, more);
    }
    switch (r->phase) {
    case J_FILL:
        return fill(r, e, OTA_JOURNAL_PHASE_STAGE);
    case J_ERASE:
        st = erase_rest(r, OTA_JOURNAL_PHASE_STAGE, &more);
        if (st == OTA_OK && !more)
            r->phase = J_TARGET;
        return st;
    default:
        return stage_target(r, e);
    }
}

/* ------------------------------------------------------------ the package copy (package_copy.py) */

static uint32_t up(uint64_t n, uint32_t unit)
{
    return (uint32_t)((n + unit - 1u) / unit * unit);
}

/* The payload entry whose slot holds the package (the port downloads it
 * into one area, so at most one), or OTA_R_NO_COPY. */
static unsigned over_package(const struct ota_restore *r)
{
    unsigned i;
    if (r->cfg->package_area >= r->cfg->partition_count)
        return OTA_R_NO_COPY;
    for (i = 0; i < r->entry_count; i++)
        if (OTA_OPERATION_HAS_PAYLOAD(r->entries[i].operation) && r->entries[i].area == r->cfg->package_area)
            return i;
    return OTA_R_NO_COPY;
}

/* package_copy.copy_base: the last sector start of scratch leaving `length`
 * bytes room before the descriptor's reserve (*fits = 0: none does). */
static enum ota_status copy_base(struct ota_restore *r, uint32_t length, uint32_t *base, int *fits)
{
    unsigned area = r->cfg->scratch_area;
    uint32_t size = r->cfg->flash->areas[area].size, at = 0, start, sector;
    *fits = 0;
    while (size >= OTA_JOURNAL_COPY_RESERVE && at < size) {
        enum ota_status st = ota_flash_sector(r->cfg->flash, area, at, &start, &sector);
        if (st != OTA_OK)
            return jfail(r, st);
        if (length <= size - OTA_JOURNAL_COPY_RESERVE - start) {
            *base = start;
            *fits = 1;
        }
        at = start + sector;
    }
    return OTA_OK;
}

/* resources (package_copy.check): the partition over the package is a
 * replace, committed last, with no in-place delta in the package; the copy
 * is declared in scratch_flash and fits the scratch area after the staged
 * partitions. */
enum ota_status ota_r_copy_check(struct ota_restore *r)
{
    unsigned k = over_package(r), i;
    uint32_t eb = r->header_erase_block, base = 0, end = 0, length;
    uint64_t declared = 0;
    int fits;
    enum ota_status st;
    if (k == OTA_R_NO_COPY)
        return OTA_OK;
    r->partition = -1;
    if (!r->cfg->journal || r->cfg->scratch_area == OTA_RESTORE_NO_AREA) /* nowhere to copy it to */
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_UNSUPPORTED);
    if (r->entries[k].operation != OTA_OPERATION_REPLACE) /* a delta's source was the download's flash */
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    for (i = k + 1u; i < r->entry_count; i++)
        if (OTA_OPERATION_HAS_PAYLOAD(r->entries[i].operation)) /* it must be committed last */
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    for (i = 0; i < r->entry_count; i++) {
        const struct ota_restore_entry *e = &r->entries[i];
        if (e->operation == OTA_OPERATION_DELTA_IN_PLACE)
            return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
        if (OTA_OPERATION_HAS_SOURCE(e->operation))
            declared += up(e->target_size, eb);
    }
    length = r->header_length + r->entries[k].payload_length;
    declared += up((uint64_t)length + OTA_JOURNAL_COPY_RESERVE, eb); /* resources.copy_scratch */
    if (r->scratch_flash < declared)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    st = placement(r, NO_ENTRY, &base, &end); /* end: the scratch the staged partitions take */
    if (st == OTA_OK)
        st = copy_base(r, length, &base, &fits);
    if (st != OTA_OK)
        return st;
    if (!fits || base < end)
        return ota_r_fail(r, OTA_ERR_RESOURCE, OTA_ERR_RESOURCE);
    r->copy_entry = k;
    r->copy_base = base;
    r->copy_length = length;
    r->copy_header = r->header_length;
    return OTA_OK;
}

static enum ota_status integrity(struct ota_restore *r)
{
    return ota_r_fail(r, OTA_ERR_INTEGRITY, OTA_ERR_INTEGRITY);
}

/* download (package_copy.open_copy): on a boot whose newest record is
 * `copied`, the copy in scratch is the package's (descriptor) and intact. */
enum ota_status ota_r_copy_resume(struct ota_restore *r, int *resumed)
{
    struct ota_journal_record newest;
    uint8_t d[OTA_JOURNAL_COPY_SIZE], have[OTA_SHA256_SIZE];
    uint32_t size, base = 0;
    int found, sector, fits;
    enum ota_status st;
    *resumed = 0;
    if (r->cfg->package_area >= r->cfg->partition_count || r->cfg->scratch_area == OTA_RESTORE_NO_AREA)
        return OTA_OK; /* the package is kept apart: it is never overwritten */
    st = ota_journal_latest(&r->journal, &newest, &found, &sector);
    if (st != OTA_OK)
        return jfail(r, st);
    if (!found || newest.phase != OTA_JOURNAL_PHASE_COPIED)
        return OTA_OK;
    *resumed = 1;
    size = r->cfg->flash->areas[r->cfg->scratch_area].size;
    if (size < OTA_JOURNAL_COPY_RESERVE)
        return integrity(r);
    st = ota_flash_read(r->cfg->flash, r->cfg->scratch_area, size - OTA_JOURNAL_COPY_RESERVE, d, sizeof d);
    if (st != OTA_OK)
        return jfail(r, st);
    if (memcmp(d + OTA_JCOPY_MAGIC_OFFSET, OTA_JOURNAL_COPY_MAGIC, OTA_JCOPY_MAGIC_SIZE) ||
        memcmp(d + OTA_JCOPY_PACKAGE_DIGEST_OFFSET, newest.package_digest, OTA_SHA256_SIZE))
        return integrity(r); /* the scratch area holds no copy of that package */
    r->copy_length = ota_r_le(d + OTA_JCOPY_LENGTH_OFFSET, OTA_JCOPY_LENGTH_SIZE);
    st = copy_base(r, r->copy_length, &base, &fits);
    if (st == OTA_OK && fits)
        st = area_digest(r, r->cfg->scratch_area, base, r->copy_length, have);
    if (st != OTA_OK)
        return st;
    if (!fits || memcmp(have, d + OTA_JCOPY_COPY_SHA256_OFFSET, OTA_SHA256_SIZE))
        return integrity(r); /* damaged */
    r->copy_mode = OTA_R_FROM_COPY;
    r->copy_base = base;
    r->copy_header = r->copy_length; /* until the header names the payload in it */
    r->copy_entry = OTA_R_NO_COPY;
    r->chunk_len = 0;
    memcpy(r->body_sha256, newest.package_digest, OTA_SHA256_SIZE);
    return OTA_OK;
}

/* header, on a boot after `copied`: the copy holds the header and the
 * payload over the package, nothing else. */
enum ota_status ota_r_copy_header(struct ota_restore *r)
{
    unsigned k = over_package(r);
    if (k == OTA_R_NO_COPY || (uint64_t)r->header_length + r->entries[k].payload_length != r->copy_length)
        return integrity(r);
    r->copy_entry = k;
    r->copy_header = r->header_length;
    r->chunk_len = 0;
    return OTA_OK;
}

/* The copy (resume.SectorWriter over scratch from copy_base, no records):
 * one erase block of the header-then-payload stream per step, each sector
 * erased before its first block; then the sectors after it to the end of
 * scratch, one per step. Hashed in slot 1 on the way. */
static enum ota_status copy_step(struct ota_restore *r, const struct ota_restore_entry *e)
{
    const struct ota_flash *f = r->cfg->flash;
    uint32_t size = f->areas[r->jarea].size, pos = r->done, n, got = 0, padded;
    enum ota_status st = OTA_OK;
    if (r->phase == J_COPY_ERASE) {
        if (r->jbase + r->block >= size) {
            r->phase = J_COPY_SEAL;
            return OTA_OK;
        }
        st = erase_sector(r, r->block, &n);
        r->block += n;
        return st;
    }
    n = min32(r->erase_block, r->copy_length - pos);
    while (st == OTA_OK && got < n) { /* the header, then the payload, from their package offsets */
        uint32_t at = pos + got, from = at, k = n - got;
        if (at < r->copy_header)
            k = min32(k, r->copy_header - at);
        else
            from = e->payload_offset + (at - r->copy_header);
        st = ota_r_pkg(r, from, r->wbuf + got, k);
        got += k;
    }
    if (st == OTA_OK)
        st = ota_r_hash_update(r, 1, r->wbuf, n);
    if (st != OTA_OK)
        return st;
    if (pos >= r->jsector_end) {
        uint32_t sector;
        st = erase_sector(r, pos, &sector);
        if (st != OTA_OK)
            return st;
        r->jsector_end = pos + sector;
    }
    padded = n + (f->write_align - n % f->write_align) % f->write_align;
    if (padded > n)
        memset(r->wbuf + n, f->erased_value, padded - n);
    st = ota_flash_write(f, r->jarea, r->jbase + pos, r->wbuf, padded);
    if (st != OTA_OK)
        return jfail(r, st);
    r->done += n;
    if (r->done == r->copy_length) {
        r->block = r->jsector_end;
        r->phase = J_COPY_ERASE;
    }
    return OTA_OK;
}

/* The copy read back and hashed, its descriptor programmed, then the record
 * `copied` (naming the entry); from here the package is read from the copy. */
static enum ota_status copy_seal(struct ota_restore *r)
{
    const struct ota_flash *f = r->cfg->flash;
    uint8_t want[OTA_SHA256_SIZE], have[OTA_SHA256_SIZE];
    uint32_t at = f->areas[r->jarea].size - OTA_JOURNAL_COPY_RESERVE, n = OTA_JOURNAL_COPY_SIZE;
    enum ota_status st = ota_r_hash_finish(r, 1, want);
    if (st == OTA_OK)
        st = area_digest(r, r->jarea, r->copy_base, r->copy_length, have);
    if (st != OTA_OK)
        return st;
    if (memcmp(want, have, OTA_SHA256_SIZE))
        return integrity(r); /* it does not read back as written */
    memset(r->wbuf, f->erased_value, r->erase_block);
    memcpy(r->wbuf + OTA_JCOPY_MAGIC_OFFSET, OTA_JOURNAL_COPY_MAGIC, OTA_JCOPY_MAGIC_SIZE);
    r->wbuf[OTA_JCOPY_LENGTH_OFFSET] = (uint8_t)r->copy_length;
    r->wbuf[OTA_JCOPY_LENGTH_OFFSET + 1u] = (uint8_t)(r->copy_length >> 8);
    r->wbuf[OTA_JCOPY_LENGTH_OFFSET + 2u] = (uint8_t)(r->copy_length >> 16);
    r->wbuf[OTA_JCOPY_LENGTH_OFFSET + 3u] = (uint8_t)(r->copy_length >> 24);
    memcpy(r->wbuf + OTA_JCOPY_PACKAGE_DIGEST_OFFSET, r->body_sha256, OTA_SHA256_SIZE);
    memcpy(r->wbuf + OTA_JCOPY_COPY_SHA256_OFFSET, want, OTA_SHA256_SIZE);
    n += (f->write_align - n % f->write_align) % f->write_align;
    st = ota_flash_write(f, r->jarea, at, r->wbuf, n);
    if (st != OTA_OK)
        return jfail(r, st);
    st = record(r, OTA_JOURNAL_PHASE_COPIED, r->cursor, 0);
    r->copy_mode = OTA_R_COPIED;
    r->chunk_len = 0;
    return st;
}

/* ------------------------------------------------------------ commit */

static enum ota_status chain_end(struct ota_restore *r)
{
    r->has_next = r->kind == OTA_KIND_MINIMAL_STAGE1;
    if (r->has_next)
        return ota_r_pkg(r, r->next_offset, r->next_package, OTA_SHA256_SIZE) == OTA_OK ? OTA_END : r->failure.status;
    return OTA_END;
}

/* The entry committed from the package's copy (none with the skip-copy fault). */
static unsigned copied_entry(const struct ota_restore *r)
{
    return faulty(r, OTA_JOURNAL_FAULT_SKIP_COPY) ? OTA_R_NO_COPY : r->copy_entry;
}

static unsigned commit_phase(const struct ota_restore *r)
{
    return r->cursor == copied_entry(r) ? OTA_JOURNAL_PHASE_COPIED : OTA_JOURNAL_PHASE_COMMIT;
}

static enum ota_status commit_setup(struct ota_restore *r, const struct ota_restore_entry *e);

static enum ota_status commit_begin(struct ota_restore *r, const struct ota_restore_entry *e)
{
    enum ota_status st = OTA_OK;
    if (r->cursor == copied_entry(r) && r->copy_mode == OTA_R_FROM_PACKAGE) {
        r->phase = J_COPY; /* before the first erase over the package (ota_r_copy_step) */
        r->done = r->jsector_end = 0;
        r->jarea = r->cfg->scratch_area;
        r->jbase = r->copy_base;
        return ota_r_hash_start(r, 1);
    }
    if (r->cursor != r->jresume_at && !faulty(r, OTA_JOURNAL_FAULT_NO_ENTRY_RECORD))
        st = record(r, commit_phase(r), r->cursor, 0); /* before the partition's first erase */
    return st == OTA_OK ? commit_setup(r, e) : st;
}

static enum ota_status commit_setup(struct ota_restore *r, const struct ota_restore_entry *e)
{
    uint32_t end;
    enum ota_status st;
    r->jskip = r->cursor == r->jresume_at ? r->jresume_done : 0;
    if (e->operation == OTA_OPERATION_DELTA_IN_PLACE) { /* over itself, from the journal's offset */
        r->phase = J_FILL;
        return ota_r_ip_commit_begin(r, e, r->cursor == r->jresume_at && r->ip.resume_phase == OTA_JOURNAL_PHASE_SWAP,
                                     r->jskip);
    }
    r->jmode = JM_COMMIT;
    r->jarea = e->area;
    r->jbase = 0;
    r->jend = r->cfg->flash->areas[e->area].size;
    r->done = r->jsector_end = 0;
    r->written_mask |= (uint32_t)1 << e->area;
    st = OTA_OPERATION_HAS_SOURCE(e->operation) ? placement(r, r->cursor, &r->jsrc, &end) : ota_r_begin_payload(r, e);
    r->phase = J_FILL;
    return st;
}

enum ota_status ota_r_journal_commit_step(struct ota_restore *r)
{
    const struct ota_restore_entry *e;
    enum ota_status st;
    int more, equal;
    if (r->jstate == JS_IDLE) {
        r->jstate = r->jmine && r->jrec.phase == OTA_JOURNAL_PHASE_DONE ? JS_FINISHED : JS_WRITING;
        r->jresume_at = r->jmine && OTA_JOURNAL_LIVE(r->jrec.phase) ? r->jrec.entry : NO_ENTRY;
        r->ip.resume_phase = r->jmine ? r->jrec.phase : 0;
        r->jresume_done = r->jmine ? r->jrec.done : 0;
        r->cursor = 0;
        r->phase = J_BEGIN;
    }
    if (r->jstate == JS_FINISHED)
        return chain_end(r);
    if (r->phase == J_BEGIN) {
        while (r->cursor < r->entry_count && (!OTA_OPERATION_HAS_PAYLOAD(r->entries[r->cursor].operation) ||
                                              (r->jresume_at != NO_ENTRY && r->cursor < r->jresume_at)))
            r->cursor++;
        if (r->cursor == r->entry_count) {
            st = record(r, OTA_JOURNAL_PHASE_DONE, r->entry_count, 0);
            if (st == OTA_OK)
                r->jstate = JS_FINISHED;
            return st;
        }
        return commit_begin(r, &r->entries[r->cursor]);
    }
    e = &r->entries[r->cursor];
    if (e->operation == OTA_OPERATION_DELTA_IN_PLACE) {
        st = ota_r_ip_commit_step(r, e, &more);
        return in_place_step(r, st, more);
    }
    switch (r->phase) {
    case J_COPY:
    case J_COPY_ERASE:
        return copy_step(r, e);
    case J_COPY_SEAL:
        st = copy_seal(r);
        return st == OTA_OK ? commit_setup(r, e) : st;
    case J_FILL:
        return fill(r, e, commit_phase(r));
    case J_ERASE:
        st = erase_rest(r, commit_phase(r), &more);
        if (st == OTA_OK && !more)
            r->phase = J_TARGET;
        return st;
    default:
        st = holds_target(r, e, e->area, 0, &equal); /* read back before the next partition */
        if (st != OTA_OK)
            return st;
        if (!equal)
            return ota_r_fail(r, OTA_ERR_TARGET, OTA_ERR_TARGET);
        r->cursor++;
        r->phase = J_BEGIN;
        return OTA_OK;
    }
}
