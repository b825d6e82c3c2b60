/* The restore journal (docs/formats/journal-v1.md): progress records in two
 * erase sectors of a flash area the port provides, so a restore cut by a
 * power loss resumes where it was (docs/verifier.md, "Power cuts and
 * resume"). Mirrors otapack/core/restore/journal.py operation for
 * operation:
 *
 * - reading: every 64-byte slot of both sectors; a slot counts only with
 *   the magic, a matching CRC32, a known phase and zero reserved/padding
 *   bytes; the valid record with the highest sequence is the newest;
 * - writing: the first record of a boot goes to the sector that does not
 *   hold the newest record (sector 0 when none), erased just before; later
 *   ones follow slot by slot; a full sector moves on to the other one the
 *   same way.
 *
 * No allocation: a scan reads one slot at a time into the caller's stack. */
#ifndef OTA_JOURNAL_H
#define OTA_JOURNAL_H

#include <stdint.h>

#include "ota/ota_config.h"
#include "ota/ota_flash.h"
#include "ota/ota_status.h"
#include "ota_wire.h"

/* Deliberately wrong rules (OTA_JOURNAL_FAULTS builds only; resume.FAULTS). */
enum ota_journal_fault {
    OTA_JOURNAL_FAULT_NONE = 0,
    OTA_JOURNAL_FAULT_RECORD_BEFORE_PROGRAM = 1, /* a sector recorded finished before it is programmed */
    OTA_JOURNAL_FAULT_NO_ENTRY_RECORD = 2,       /* a partition erased before a record names it */
    OTA_JOURNAL_FAULT_SKIP_SWAP = 3,             /* an in-place chunk's own sector erased unparked */
    OTA_JOURNAL_FAULT_SKIP_COPY = 4              /* the partition over the package committed from the package */
};

/* The phases of a commit in progress (JOURNAL_LIVE_PHASES): live partitions may be mixed. */
#define OTA_JOURNAL_LIVE(phase)                                                                      \
    ((phase) == OTA_JOURNAL_PHASE_COMMIT || (phase) == OTA_JOURNAL_PHASE_SWAP || (phase) == OTA_JOURNAL_PHASE_COPIED)

/* What the port gives the journal. */
struct ota_journal_config {
    unsigned area;        /* flash area holding the two journal sectors (nothing else) */
    uint32_t sector_size; /* bytes of each sector, a multiple of erase_block; 0: one erase block */
#if OTA_JOURNAL_FAULTS
    unsigned fault;       /* enum ota_journal_fault: the sweep's negative controls */
#endif
};

struct ota_journal_record {
    uint32_t sequence;
    uint8_t package_digest[OTA_SHA256_SIZE];
    uint8_t phase; /* enum ota_journal_phase */
    uint32_t entry, done;
};

/* The writer's RAM state: dropped at every boot (ota_journal_open). */
struct ota_journal {
    const struct ota_flash *flash;
    const struct ota_journal_config *cfg;
    int sector;       /* the sector this boot writes, -1: none yet */
    uint32_t next;    /* offset of its next free slot in the area */
    int full;         /* that sector has no free slot left */
    uint32_t sequence;
};

void ota_journal_encode(const struct ota_journal_record *rec, uint8_t slot[OTA_JOURNAL_RECORD_SIZE]);
/* 1 and *rec filled when slot holds a valid record, else 0. */
int ota_journal_decode(const uint8_t slot[OTA_JOURNAL_RECORD_SIZE], struct ota_journal_record *rec);

/* Check the geometry and start a boot's writer (nothing is read or written). */
enum ota_status ota_journal_open(struct ota_journal *j, const struct ota_flash *flash,
                                 const struct ota_journal_config *cfg);
/* The newest valid record: *found 0 when there is none; *sector where it is. */
enum ota_status ota_journal_latest(const struct ota_journal *j, struct ota_journal_record *rec, int *found,
                                   int *sector);
/* Write the next record (one program of one slot; one sector erase before
 * the first record of a boot and whenever the sector in use is full). */
enum ota_status ota_journal_append(struct ota_journal *j, const uint8_t digest[OTA_SHA256_SIZE], unsigned phase,
                                   uint32_t entry, uint32_t done, struct ota_journal_record *written);

/* For the bootloader: *pending 1 and digest filled when the newest record
 * is a `commit` or a `swap` (an in-place chunk parked): the restore of that
 * package (body SHA-256) is in progress,
 * live partitions may be mixed: run the restore of it again, boot nothing.
 * 0: nothing in progress (a restore cut while staging wrote scratch only). */
enum ota_status ota_journal_pending(const struct ota_flash *flash, const struct ota_journal_config *cfg,
                                    uint8_t digest[OTA_SHA256_SIZE], int *pending);

#endif
