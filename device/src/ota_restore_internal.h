/* Private helpers shared by ota_restore.c (the checks up to precondition,
 * the step loop, commit) and ota_restore_apply.c (payload streams, pricing,
 * replace and delta). */
#ifndef OTA_RESTORE_INTERNAL_H
#define OTA_RESTORE_INTERNAL_H

#include "ota/ota_restore.h"

#define OTA_R_NO_LCLP 0xFFu
#define OTA_R_NO_COPY 0xFFFFu /* r->copy_entry: no payload partition holds the package */
enum { OTA_R_FROM_PACKAGE, OTA_R_COPIED, OTA_R_FROM_COPY }; /* r->copy_mode: copied this boot, or a boot after it */

/* Record the failure of the running check; returns `status`. */
enum ota_status ota_r_fail(struct ota_restore *r, enum ota_status status, enum ota_status cause);
/* `len` package bytes at `offset` through the package chunk cache. */
enum ota_status ota_r_pkg(struct ota_restore *r, uint32_t offset, void *dst, uint32_t len);
/* The cached chunk holding `offset` (loaded on a miss): pointer and bytes available from there. */
enum ota_status ota_r_pkg_view(struct ota_restore *r, uint32_t offset, const uint8_t **data, uint32_t *avail);
uint32_t ota_r_le(const uint8_t *p, unsigned n);
enum ota_status ota_r_hash_start(struct ota_restore *r, unsigned slot);
enum ota_status ota_r_hash_update(struct ota_restore *r, unsigned slot, const void *data, size_t len);
enum ota_status ota_r_hash_finish(struct ota_restore *r, unsigned slot, uint8_t digest[OTA_SHA256_SIZE]);
/* Slot bytes of partition area `area`. */
uint32_t ota_r_slot(const struct ota_restore *r, unsigned area);
/* Erase the block at `offset` of `area`, then program `len` bytes of the
 * write buffer there (padded to the program unit with the erased value). */
enum ota_status ota_r_program(struct ota_restore *r, unsigned area, uint32_t offset, uint32_t len);
enum ota_status ota_r_erase(struct ota_restore *r, unsigned area, uint32_t offset);
/* Hash `len` bytes of `area` from `offset` into hash `slot` (started here,
 * not finished), one erase block at a time through the write buffer. */
enum ota_status ota_r_hash_area(struct ota_restore *r, unsigned slot, unsigned area, uint32_t offset,
                                uint32_t len);

/* ota_restore_apply.c */
enum ota_status ota_r_resources(struct ota_restore *r);
enum ota_status ota_r_payload_step(struct ota_restore *r); /* OTA_OK: more, OTA_END: all payloads done */
enum ota_status ota_r_commit_step(struct ota_restore *r);  /* OTA_OK: more, OTA_END: done */
enum ota_status ota_r_begin_payload(struct ota_restore *r, const struct ota_restore_entry *e);
enum ota_status ota_r_fill(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t n);
enum ota_status ota_r_fill_end(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t n);

/* The delta stream's varints and bytes (ota_restore_apply.c), for ota_in_place.c. */
enum ota_status ota_r_varint(struct ota_restore *r, uint64_t limit, uint64_t *value);
enum ota_status ota_r_stream_read(struct ota_restore *r, uint8_t *dst, uint32_t n);

/* ota_in_place.c: delta-in-place (docs/formats/delta-in-place.md). The
 * header (tables carved at region + used; nothing for another operation),
 * the bytes and RAM its tables take, their rules against the entry; the
 * resources checks on flash and scratch; the old-read rule on an add. */
enum ota_status ota_r_ip_header(struct ota_restore *r, const struct ota_restore_entry *e, size_t used);
size_t ota_r_ip_bytes(const struct ota_restore *r);
uint64_t ota_r_ip_ram(const struct ota_restore *r, const struct ota_restore_entry *e);
enum ota_status ota_r_ip_check(struct ota_restore *r, const struct ota_restore_entry *e);
enum ota_status ota_r_ip_flash(struct ota_restore *r);
enum ota_status ota_r_ip_scratch(struct ota_restore *r, uint64_t staged);
enum ota_status ota_r_ip_read(struct ota_restore *r, const struct ota_restore_entry *e, uint32_t position,
                              uint8_t *dst, uint32_t k, uint64_t out_at);
/* restore:NAME and target:NAME (saves, proving pass); commit (resumed: the
 * swap sector `parked` or not, `skip` write-order bytes already written).
 * A step function sets *finished once the entry is done. */
enum ota_status ota_r_ip_stage_begin(struct ota_restore *r, const struct ota_restore_entry *e);
enum ota_status ota_r_ip_stage_step(struct ota_restore *r, const struct ota_restore_entry *e, int *finished);
enum ota_status ota_r_ip_commit_begin(struct ota_restore *r, const struct ota_restore_entry *e, int parked,
                                      uint32_t skip);
enum ota_status ota_r_ip_commit_step(struct ota_restore *r, const struct ota_restore_entry *e, int *finished);

/* ota_restore.c */
unsigned ota_r_find_area(struct ota_restore *r, const struct ota_restore_entry *e, enum ota_status *st);

/* ota_restore_journal.c: the journaled, resumable restore (cfg->journal) */
enum ota_status ota_r_journal_mine(struct ota_restore *r);        /* r->jmine, r->jrec from the journal */
int ota_r_journal_commit_begun(const struct ota_restore *r);       /* after ota_r_journal_mine */
enum ota_status ota_r_journal_precondition(struct ota_restore *r); /* refuses another package's commit */
int ota_r_journal_touched(const struct ota_restore *r, unsigned index);
enum ota_status ota_r_journal_payload_step(struct ota_restore *r);
enum ota_status ota_r_journal_commit_step(struct ota_restore *r);
/* the package in a partition slot it rewrites (package_copy.py) */
enum ota_status ota_r_copy_check(struct ota_restore *r);           /* resources: the rules, copy_entry */
enum ota_status ota_r_copy_resume(struct ota_restore *r, int *resumed); /* download: a boot after `copied` */
enum ota_status ota_r_copy_header(struct ota_restore *r);          /* header: the copy names its payload */

#endif
