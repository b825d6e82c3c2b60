/* The restore engine: installs an otapack package that is stored in a
 * flash area, running the checks of docs/verifier.md in the device's order
 * with the names of otapack/core/restore/engine.py (CHECKS, generated into
 * ota_wire.h as OTA_CHECK_*).
 *
 *   struct ota_restore r;
 *   ota_restore_begin(&r, &config, workspace, workspace_size);
 *   while ((st = ota_restore_step(&r)) == OTA_OK)
 *       kick_watchdog();                 -- one check, or one erase block, per call
 *   st == OTA_END: installed; st < 0: r.failure says where and why
 *
 * Memory: everything is the caller's. The workspace holds the buffers the
 * package header's ram_required prices (package chunk, write buffer, LZMA
 * dictionary and model, decode piece, tuple array, old-read piece, a
 * window's extra bytes) and the parsed partition table (its entries only,
 * carved once the header gives their count); OTA_RESTORE_WORKSPACE_BYTES
 * (ram_required) adds OTA_RESTORE_WORKSPACE_SLACK for what the priced model
 * leaves out (that table at its largest, the decoder's rounding of small
 * dictionaries), so a workspace of that size never runs short. A package declaring more RAM than config.ram_budget, or
 * whose buffers do not fit the workspace, is refused at `resources`, before
 * any flash is written.
 *
 * Flash: areas [0, partition_count) of config.flash are the device's
 * partitions (name and address as the package table states them); the
 * package sits in package_area, delta partitions are staged in
 * scratch_area until `commit`. Every flash write is preceded by the erase
 * of its block, blocks are programmed whole (the last one padded to the
 * program unit with the erased value), and no flash is written before
 * `precondition` has passed.
 */
#ifndef OTA_RESTORE_H
#define OTA_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_config.h"
#include "ota/ota_crypto.h"
#include "ota/ota_decoder.h"
#include "ota/ota_flash.h"
#include "ota/ota_journal.h"
#include "ota/ota_receive.h"
#include "ota/ota_status.h"
#include "ota/ota_transform.h"
#include "ota_wire.h"

#define OTA_RESTORE_MAX_PARTITIONS 32u
#define OTA_RESTORE_NO_AREA 0xFFFFu
#define OTA_RESTORE_NO_LIMIT 0xFFFFFFFFu
/* Workspace beyond ram_required: the parsed table (at most 255 entries)
 * and the decoder's own rounding, alignment included. */
#define OTA_RESTORE_WORKSPACE_SLACK 32768u
#define OTA_RESTORE_WORKSPACE_BYTES(ram_required) ((size_t)(ram_required) + OTA_RESTORE_WORKSPACE_SLACK)

/* A public key the device trusts; key_id as the signature record names it. */
struct ota_restore_key {
    uint8_t algorithm; /* enum ota_signature_algorithm */
    uint8_t key_id[OTA_KEY_ID_SIZE];
    const uint8_t *key;
    size_t key_len;
};

struct ota_restore_config {
    const struct ota_flash *flash;
    unsigned partition_count;     /* areas 0 .. partition_count-1 are partitions */
    const uint32_t *slot_sizes;   /* bytes of each partition's slot; NULL: the area sizes */
    /* Host simulation of a device that does not know its slots (otapack's
     * "resizable" partitions): a flagged slot takes the size of the target
     * the package writes into it (up to its area). NULL on a device. */
    const uint8_t *resizable;
    unsigned package_area;        /* the download area holding the package */
    uint32_t package_length;      /* bytes downloaded */
    unsigned scratch_area;        /* staging for delta partitions, or OTA_RESTORE_NO_AREA */
    uint32_t download_capacity;   /* phase-1 download area, OTA_RESTORE_NO_LIMIT: unchecked */
    uint32_t minimal_download_capacity; /* for minimal-stage2 packages; NO_LIMIT: the phase-1 figure */
    uint32_t ram_budget;          /* OTA_RESTORE_NO_LIMIT: none beyond the workspace */
    const char *model;            /* NUL-terminated; NULL: not checked */
    const char *hardware_id;      /* NULL: not checked */
    int check_security_counter;
    uint32_t security_counter;    /* packages below it are refused (when checked) */
    int layout_known;             /* the device knows all its slots: layout-digest is compared */
    int expect_next;              /* after a stage 1: only the package whose digest is next_package */
    uint8_t next_package[OTA_SHA256_SIZE];
    /* Signatures: with require_signature a valid signature by one of keys is
     * required; without it a signed package passes unchecked (`skipped`). */
    int require_signature;
    const struct ota_restore_key *keys;
    unsigned key_count;
    const struct ota_signature_port *signature;
    const struct ota_hash_port *hash;     /* NULL: ota_sha256_soft_port */
    const struct ota_decoder *decoder;    /* NULL: the built-in LZMA2 decoder */
    unsigned disabled_checks;             /* bit per enum ota_check; only OTA_CHECK_CAN_DISABLE ones */
    /* NULL (default): `crc32` reads and hashes the whole package. Else an
     * intact ota_receive_finish() result for this package_length: its CRC
     * and body SHA-256 stand in for the rehash (trusting the flash to hold
     * what was received); the stored CRC and digest are still compared. */
    const struct ota_receive_result *received;
    /* NULL: the restore above. Else the journaled, resumable restore
     * (docs/verifier.md, "Power cuts and resume"): progress records in this
     * journal area, deltas staged sector by sector in scratch_area, every
     * payload proven before the first live write, commit resumable. Run it
     * again after any reset until it ends; ota_journal_pending() tells a
     * bootloader whether a commit is in progress. */
    const struct ota_journal_config *journal;
};

/* Where a restore failed, field by field as otapack's Python RestoreResult.failure. */
struct ota_restore_failure {
    enum ota_check check;     /* OTA_CHECK_COUNT while nothing failed */
    enum ota_status status;   /* the error class (OTA_ERR_FORMAT, OTA_ERR_CORRUPT_PATCH, ...) */
    enum ota_status cause;    /* the library status underneath (flash, decoder, hash), else = status */
    int32_t partition;        /* table index for precondition/restore/target, else -1 */
    int64_t window;           /* delta window being read or applied, else -1 */
    int64_t tuple;            /* tuple of that window (from 0), else -1 */
    int64_t offset;           /* output offset of that window in the target, else -1 */
};

/* One parsed table entry (private; the type is public for sizeof). */
struct ota_restore_entry {
    uint32_t name_offset, address, source_size, target_size;
    uint32_t payload_offset, payload_length, uncompressed_length;
    uint32_t source_sha_offset, target_sha_offset; /* package offsets of the digests */
    uint8_t name_length, operation, codec, area;
};

/* A delta-in-place payload (private; ota_in_place.c): its tables, carved
 * from the payload region ahead of the tuple array, and where the write
 * order stands. */
struct ota_in_place {
    uint32_t *segments;             /* per segment: first, then count | direction << 31 */
    uint32_t *saves;                /* old sector indices, increasing */
    uint32_t segment_count, save_count, sector_size;
    uint8_t digest[OTA_SHA256_SIZE]; /* write_order_sha256 */
    uint32_t sectors, short_rank, short_bytes; /* target sectors; the short last one's chunk and shortfall */
    uint32_t chunk, skip, slot, swap; /* write-order chunk; bytes replayed without writing; scratch offsets */
    int own, step, prove, passed, resume_phase, commit_pass;
    uint32_t save_at, length, erase_at; /* saves written; the chunk in the write buffer; the next sector erased */
};

/* The decoded payload stream (private). */
struct ota_restore_stream {
    uint32_t in_pos, in_left, out_left, undecoded;
    uint8_t *piece;
    uint32_t piece_len, piece_at;
    void *dws;
    size_t dws_size;
    int lzma, ended;
    /* LZMA2 chunk walk: the decoder is fed a chunk header only after all of
     * the previous chunk, as lzma2.ChunkWalker feeds liblzma */
    uint32_t walk_skip, walk_need, walk_ended;
    uint8_t walk_head[6];
};

struct ota_restore {
    /* ---- results, readable at any time */
    struct ota_restore_failure failure;
    uint8_t check_status[OTA_CHECK_COUNT]; /* enum ota_check_status; 0xFF: not reached */
    enum ota_check check;                  /* the check running now */
    int32_t partition;                     /* the table entry being restored, or -1 */
    uint32_t written_mask;                 /* partitions erased or written (bit per area) */
    uint32_t blocks_erased, bytes_written;
    uint32_t tuples, diff_pairs;           /* work done, as RestoreResult counts it */
    int has_next;                          /* commit stored a chain-next-package */
    uint8_t next_package[OTA_SHA256_SIZE];
    uint8_t body_sha256[OTA_SHA256_SIZE];
    /* ---- private */
    const struct ota_restore_config *cfg;
    uint8_t *ws;
    size_t ws_size;
    struct ota_restore_entry *entries;
    unsigned entry_count;
    uint8_t *chunk;                 /* package chunk cache */
    uint32_t chunk_start, chunk_len;
    uint8_t *wbuf;                  /* write buffer: one erase block */
    uint8_t *region;                /* per-payload buffers start here */
    size_t region_size;
    uint32_t body_length, signature_length, header_length, ram_required, scratch_flash, lzma_dict_size;
    uint32_t erase_block, header_erase_block, security_counter;
    uint8_t kind, trailer_sha[OTA_SHA256_SIZE];
    uint32_t hw_offset, layout_offset, prev_offset, next_offset; /* extension values (0: absent) */
    uint16_t hw_len, layout_len, prev_len, next_len;
    uint32_t model_offset;
    uint8_t model_len;
    int next_check;                 /* next non-partition check to run */
    unsigned cursor;                /* restore/target: entry index; commit: entry index */
    int phase;
    uint32_t done, block, blocks, scratch_at;
    uint32_t staged_offset[OTA_RESTORE_MAX_PARTITIONS]; /* by area: where a delta is staged */
    uint8_t in_place_saves[OTA_RESTORE_MAX_PARTITIONS]; /* by area: a delta-in-place's saved sectors */
    uint32_t priced_extra[OTA_RESTORE_MAX_PARTITIONS];  /* by area: RAM left for a window's extra bytes */
    uint8_t priced_lclp[OTA_RESTORE_MAX_PARTITIONS];    /* by area: LZMA model priced (0xFF: none) */
    struct ota_restore_stream stream;
#if OTA_WITH_LZMA2
    struct ota_lzma2_options lzma_options;
#endif
    uint64_t hash_state[2][32];
    /* delta state */
    uint32_t window_size, max_tuples, zero_runs, extra_capacity;
    uint8_t *tuple_array, *old_piece, *extra;
    uint8_t *read_piece;            /* replace: the payload is read in whole DECODE_CHUNK pieces */
    uint32_t read_len, read_at;
    uint32_t extra_room;
    uint64_t out, old_pos, window_out;
    uint32_t window_index, count, tuple_index, add_left, copy_left, extra_at;
    uint32_t zeros, literals, diff_left, pairs;
    int dphase, in_delta;
    int64_t at_tuple;
    /* delta-v2: the transform section and its tables (carved after the tuple array) */
    struct ota_transform transform;
    uint32_t table_bytes;
    uint32_t tuples_base;           /* r->tuples before this pass (delta-in-place: a bound per pass) */
    struct ota_in_place ip;
    /* journaled restore (ota_restore_journal.c) */
    struct ota_journal journal;
    struct ota_journal_record jrec; /* the newest record, while jmine: it is this package's */
    int jmine, jmode, jstate;
    unsigned jarea;                 /* where the entry in progress is written */
    uint32_t jbase, jend, jskip, jsrc, jresume_at, jresume_done;
    uint32_t jsector_end;           /* end of the sector being written, from jbase (0: none open) */
    /* the package copy in scratch (package_copy.py); once copy_mode, package
     * reads come from it: the header, then the payload of copy_entry */
    int copy_mode;
    unsigned copy_entry;            /* the payload entry over the package (OTA_R_NO_COPY: none) */
    uint32_t copy_base, copy_length, copy_header;
};

/* Check the configuration, take the workspace (8-byte aligned, at least a
 * package chunk and one erase block; OTA_RESTORE_WORKSPACE_BYTES is the size
 * to give). Nothing is read yet. */
enum ota_status ota_restore_begin(struct ota_restore *r, const struct ota_restore_config *config,
                                  void *workspace, size_t workspace_size);
/* One bounded step: a whole check before `restore`, at most one erase block
 * programmed or erased after it. OTA_OK: call again; OTA_END: installed;
 * negative: failed (the same status again on later calls). */
enum ota_status ota_restore_step(struct ota_restore *r);
/* All steps. */
enum ota_status ota_restore_run(struct ota_restore *r);
/* Stable name of a check ("table") or a check status ("pass"). */
const char *ota_check_name(enum ota_check check);

#endif
