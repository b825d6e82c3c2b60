/* Host driver of the restore engine (ota_restore_host.c): plain structs a
 * ctypes caller can build. Field order is mirrored in
 * otapack/core/restore/c_engine.py; ota_host_request_size() and
 * ota_host_result_size() let it check the layout. */
#ifndef OTA_RESTORE_HOST_H
#define OTA_RESTORE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_restore.h"

struct ota_host_partition {
    const char *name;
    uint32_t address;
    uint32_t slot_size;   /* bytes the device's slot has */
    uint32_t flash_size;  /* bytes of flash behind it: slot_size rounded up to erase blocks */
    uint32_t data_length; /* initial contents (the rest reads erased) */
    uint32_t resizable;   /* the slot takes the size of the target written into it */
    uint8_t *data;        /* flash_size bytes: contents in, the flash after the restore out */
};

struct ota_host_request {
    const uint8_t *package;
    uint32_t package_length;
    uint32_t partition_count;
    struct ota_host_partition *partitions;
    uint32_t erase_block, write_align, erased_value;
    uint32_t scratch_size; /* staging area bytes; 0: none */
    uint64_t workspace_size;
    uint32_t download_capacity, minimal_download_capacity, ram_budget; /* OTA_RESTORE_NO_LIMIT: none */
    const char *model, *hardware_id;
    int32_t check_security_counter;
    uint32_t security_counter;
    int32_t layout_known, expect_next;
    uint8_t next_package[32];
    int32_t require_signature;
    uint32_t key_count;
    const struct ota_restore_key *keys;
    uint32_t disabled_checks;
    int32_t openssl_hash; /* hash with the OpenSSL port instead of the software one */
    /* 0: the package is loaded into the download area; 1: it arrives through
     * ota_receive_write() in pieces of receive_piece bytes; 2: and the receive
     * result is handed to the restore (ota_restore_config.received) */
    int32_t receive;
    uint32_t receive_piece;
    /* The journaled restore on the caller's flash (journal != 0): every
     * read, program and erase goes to the flash_* callbacks (0 or an
     * enum ota_status), area by area: partitions 0..n-1, the download area
     * n (holding the package), scratch n+1 (scratch_size bytes), journal
     * n+2 (journal_size bytes, two sectors of erase_block); nothing is
     * simulated or copied back here. journal_fault: enum ota_journal_fault. */
    int32_t journal;
    uint32_t journal_size, journal_fault;
    void *flash_user;
    int (*flash_read)(void *user, uint32_t area, uint32_t offset, uint8_t *buf, uint32_t len);
    int (*flash_write)(void *user, uint32_t area, uint32_t offset, const uint8_t *buf, uint32_t len);
    int (*flash_erase)(void *user, uint32_t area, uint32_t offset, uint32_t len);
    /* Journaled: 0, the package is in the download area n; k > 0: it was
     * downloaded into the slot of partition k-1, read from that area. */
    uint32_t package_partition;
    /* Journaled runs: the erase sectors of each area (partitions, download,
     * scratch, journal), sector_counts[i] sizes each, one after the other in
     * sector_sizes; NULL: uniform erase blocks. The journal's two sectors
     * are its first two. */
    const uint32_t *sector_sizes;
    const uint32_t *sector_counts;
};

struct ota_host_result {
    int32_t status;
    int32_t failure_check, failure_status, failure_cause, failure_partition;
    int64_t failure_window, failure_tuple, failure_offset;
    uint8_t check_status[OTA_CHECK_COUNT];
    uint32_t written_mask, blocks_erased, bytes_written, tuples, diff_pairs, steps;
    int32_t has_next;
    uint8_t next_package[32], body_sha256[32];
    /* what the flash saw: program/erase operations, the check running at the
     * first of them, any before `restore`, any outside partitions and staging */
    uint32_t flash_ops, writes_before_restore, writes_outside, violations;
    int32_t first_write_check;
    /* the bounded-step claim: most bytes erased, and programmed, by one ota_restore_step() */
    uint32_t max_step_erased, max_step_programmed;
    uint32_t package_bytes_read;      /* by the restore, from the download area */
    int32_t receive_check;            /* the receiver's verdict (OTA_CHECK_COUNT: intact), -1 unused */
};

int ota_host_restore(const struct ota_host_request *req, struct ota_host_result *res);
/* The bootloader's question on a journal image of `size` bytes (two sectors
 * of erase_block): 1 and digest filled when a commit is in progress, 0 when
 * not, a negative status on a bad geometry. */
int ota_host_pending(const uint8_t *journal, uint32_t size, uint32_t erase_block, uint8_t digest[32]);
const char *ota_host_status_name(int status);
const char *ota_host_check_name(int check);
unsigned ota_host_result_size(void);
unsigned ota_host_request_size(void);

#endif
