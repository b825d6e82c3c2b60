/* Journal records: encode, decode, scan, append (docs/formats/journal-v1.md). */
#include <string.h>

#include "ota/ota_crc32.h"
#include "ota/ota_journal.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void ota_journal_encode(const struct ota_journal_record *rec, uint8_t slot[OTA_JOURNAL_RECORD_SIZE])
{
    memset(slot, 0, OTA_JOURNAL_RECORD_SIZE);
    memcpy(slot + OTA_JREC_MAGIC_OFFSET, OTA_JOURNAL_MAGIC, OTA_JREC_MAGIC_SIZE);
    put32(slot + OTA_JREC_SEQUENCE_OFFSET, rec->sequence);
    memcpy(slot + OTA_JREC_PACKAGE_DIGEST_OFFSET, rec->package_digest, OTA_JREC_PACKAGE_DIGEST_SIZE);
    slot[OTA_JREC_PHASE_OFFSET] = rec->phase;
    put32(slot + OTA_JREC_ENTRY_OFFSET, rec->entry);
    put32(slot + OTA_JREC_DONE_OFFSET, rec->done);
    put32(slot + OTA_JREC_CRC32_OFFSET, ota_crc32(0, slot, OTA_JOURNAL_CRC_SPAN));
}

static int all_zero(const uint8_t *p, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int ota_journal_decode(const uint8_t slot[OTA_JOURNAL_RECORD_SIZE], struct ota_journal_record *rec)
{
    uint8_t phase = slot[OTA_JREC_PHASE_OFFSET];
    if (memcmp(slot + OTA_JREC_MAGIC_OFFSET, OTA_JOURNAL_MAGIC, OTA_JREC_MAGIC_SIZE) ||
        get32(slot + OTA_JREC_CRC32_OFFSET) != ota_crc32(0, slot, OTA_JOURNAL_CRC_SPAN))
        return 0;
    if (phase < OTA_JOURNAL_PHASE_STAGE || phase > OTA_JOURNAL_PHASE_COPIED ||
        !all_zero(slot + OTA_JREC_RESERVED_OFFSET, OTA_JREC_RESERVED_SIZE) ||
        !all_zero(slot + OTA_JREC_PADDING_OFFSET, OTA_JREC_PADDING_SIZE))
        return 0;
    rec->sequence = get32(slot + OTA_JREC_SEQUENCE_OFFSET);
    memcpy(rec->package_digest, slot + OTA_JREC_PACKAGE_DIGEST_OFFSET, OTA_JREC_PACKAGE_DIGEST_SIZE);
    rec->phase = phase;
    rec->entry = get32(slot + OTA_JREC_ENTRY_OFFSET);
    rec->done = get32(slot + OTA_JREC_DONE_OFFSET);
    return 1;
}

static uint32_t sector_size(const struct ota_journal *j)
{
    return j->cfg->sector_size ? j->cfg->sector_size : j->flash->erase_block;
}

enum ota_status ota_journal_open(struct ota_journal *j, const struct ota_flash *flash,
                                 const struct ota_journal_config *cfg)
{
    uint32_t size;
    if (!j || !flash || !cfg || cfg->area >= flash->area_count)
        return OTA_ERR_ARGUMENT;
    memset(j, 0, sizeof *j);
    j->flash = flash;
    j->cfg = cfg;
    j->sector = -1;
    size = sector_size(j);
    if (size < OTA_JOURNAL_RECORD_SIZE || size % flash->erase_block || size % flash->write_align ||
        flash->areas[cfg->area].size / OTA_JOURNAL_AREAS < size)
        return OTA_ERR_ARGUMENT;
    return OTA_OK;
}

enum ota_status ota_journal_latest(const struct ota_journal *j, struct ota_journal_record *rec, int *found,
                                   int *sector)
{
    uint32_t size = sector_size(j), at;
    unsigned s;
    *found = 0;
    *sector = -1;
    for (s = 0; s < OTA_JOURNAL_AREAS; s++)
        for (at = 0; at + OTA_JOURNAL_RECORD_SIZE <= size; at += OTA_JOURNAL_RECORD_SIZE) {
            uint8_t slot[OTA_JOURNAL_RECORD_SIZE];
            struct ota_journal_record one;
            enum ota_status st = ota_flash_read(j->flash, j->cfg->area, s * size + at, slot, sizeof slot);
            if (st != OTA_OK)
                return st;
            if (ota_journal_decode(slot, &one) && (!*found || one.sequence > rec->sequence)) {
                *rec = one;
                *found = 1;
                *sector = (int)s;
            }
        }
    return OTA_OK;
}

static enum ota_status start_sector(struct ota_journal *j, int s)
{
    uint32_t size = sector_size(j);
    enum ota_status st = ota_flash_erase(j->flash, j->cfg->area, (uint32_t)s * size, size);
    if (st != OTA_OK)
        return st;
    j->sector = s;
    j->next = (uint32_t)s * size;
    j->full = 0;
    return OTA_OK;
}

enum ota_status ota_journal_append(struct ota_journal *j, const uint8_t digest[OTA_SHA256_SIZE], unsigned phase,
                                   uint32_t entry, uint32_t done, struct ota_journal_record *written)
{
    struct ota_journal_record rec;
    uint8_t slot[OTA_JOURNAL_RECORD_SIZE];
    uint32_t size = sector_size(j), end;
    enum ota_status st = OTA_OK;
    if (j->sector < 0) { /* the first record of this boot */
        struct ota_journal_record newest;
        int found, where;
        st = ota_journal_latest(j, &newest, &found, &where);
        if (st != OTA_OK)
            return st;
        j->sequence = found ? newest.sequence + 1u : 0u;
        st = start_sector(j, found ? 1 - where : 0);
    } else if (j->full) {
        st = start_sector(j, 1 - j->sector);
    }
    if (st != OTA_OK)
        return st;
    rec.sequence = j->sequence;
    memcpy(rec.package_digest, digest, OTA_SHA256_SIZE);
    rec.phase = (uint8_t)phase;
    rec.entry = entry;
    rec.done = done;
    ota_journal_encode(&rec, slot);
    st = ota_flash_write(j->flash, j->cfg->area, j->next, slot, sizeof slot);
    if (st != OTA_OK)
        return st;
    j->sequence++;
    j->next += OTA_JOURNAL_RECORD_SIZE;
    end = ((uint32_t)j->sector + 1u) * size;
    j->full = j->next + OTA_JOURNAL_RECORD_SIZE > end;
    if (written)
        *written = rec;
    return OTA_OK;
}

enum ota_status ota_journal_pending(const struct ota_flash *flash, const struct ota_journal_config *cfg,
                                    uint8_t digest[OTA_SHA256_SIZE], int *pending)
{
    struct ota_journal j;
    struct ota_journal_record rec;
    int found, sector;
    enum ota_status st = ota_journal_open(&j, flash, cfg);
    *pending = 0;
    if (st == OTA_OK)
        st = ota_journal_latest(&j, &rec, &found, &sector);
    if (st == OTA_OK && found && OTA_JOURNAL_LIVE(rec.phase)) {
        memcpy(digest, rec.package_digest, OTA_SHA256_SIZE);
        *pending = 1;
    }
    return st;
}
