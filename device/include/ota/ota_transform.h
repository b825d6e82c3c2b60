/* otapack device library: the delta-v2 operand-aware add
 * (docs/formats/delta-v2-transforms.md, "Integration: C API").
 *
 * The restore's add step writes old'[p] + diff[p], where old' is the old
 * bytes with every recognised branch/literal operand or pointer re-aimed
 * through the stream's map. This module reads the stream's transform
 * section (a push parser: the restore feeds the decoded bytes it reads) and
 * rewrites old bytes in place as the restore reads them, byte for byte as
 * otapack/core/restore/transform.py's Transformer does.
 *
 * Use, per delta-v2 payload:
 *   ota_transform_init(&t, old_size);
 *   feed bytes until ota_transform_feed returns OTA_END   (the four counts)
 *   price OTA_TRANSFORM_RAM(t.map_count, t.region_count) (resources check)
 *   ota_transform_set_tables(&t, buf, OTA_TRANSFORM_TABLE_BYTES(...))
 *   feed bytes while ota_transform_stage(&t) == OTA_TSTAGE_TABLES
 *   per add piece: read old[pos, pos + n) into `old` and the next
 *   ota_transform_ahead(&t, pos, n) old bytes into `ahead`, then
 *   ota_transform_apply(&t, pos, d, old, n, ahead, ahead_len).
 *
 * RAM: the struct (fixed, sizeof(struct ota_transform)) holds the parser and
 * the carry; the tables live in the caller's buffer, 8-byte aligned, of
 * OTA_TRANSFORM_TABLE_BYTES(map_count, region_count) bytes (the wire
 * formula; a build without AARCH64 uses 8 of the 12 bytes per map entry, and
 * every build 5 of the 8 per region). No allocation, no global state.
 */
#ifndef OTA_TRANSFORM_H
#define OTA_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_config.h"
#include "ota/ota_status.h"
#include "ota_wire.h"

#if OTA_WITH_TRANSFORMS && OTA_TRANSFORM_AARCH64
typedef uint64_t ota_taddr; /* an address of the widest enabled set */
#else
typedef uint32_t ota_taddr;
#endif

/* Caller buffer for the tables: the wire formula without the 2 x MAX_UNIT
 * look-ahead and carry bytes (those are the restore's old piece and this
 * struct), so OTA_TRANSFORM_RAM(m, r) = OTA_TRANSFORM_TABLE_BYTES(m, r) + 16. */
#define OTA_TRANSFORM_TABLE_BYTES(map_count, region_count) \
    ((size_t)(map_count) * OTA_MAP_ENTRY_BYTES + (size_t)(region_count) * OTA_REGION_ENTRY_BYTES)

enum ota_transform_stage {
    OTA_TSTAGE_COUNTS = 0, /* reading arch, base, map_count, region_count */
    OTA_TSTAGE_PRICE = 1,  /* counts known: price them, then ota_transform_set_tables */
    OTA_TSTAGE_TABLES = 2, /* reading the map and region entries */
    OTA_TSTAGE_READY = 3,  /* section read: ota_transform_apply */
    OTA_TSTAGE_FAILED = 4  /* the section was refused */
};

struct ota_transform {
    /* The section (read-only for the caller once past OTA_TSTAGE_COUNTS). */
    uint64_t base;
    uint32_t old_size;
    uint32_t map_count, region_count;
    uint8_t arch; /* enum ota_transform_arch */
    uint8_t stage;
    /* Tables, in the caller's buffer; delta INT32_MIN marks a hole. */
    ota_taddr *keys;
    int32_t *deltas;
    uint32_t *starts;
    uint8_t *masks;
    /* Parser. */
    uint64_t acc, prev, prev_code;
    uint32_t index;
    uint8_t field, vbyte;
    /* Between apply calls: the rest of a unit that ran past a piece. */
    uint8_t carry_len;
    uint8_t carry[OTA_MAX_UNIT - 1u];
    uint32_t carry_at;
    uint32_t units; /* units rewritten (statistics) */
};

/* Start reading a section for an old partition of `old_size` bytes. */
void ota_transform_init(struct ota_transform *t, uint32_t old_size);

/* Feed `len` section bytes. OTA_OK: all consumed, more wanted. OTA_END: the
 * current stage ended (*used bytes consumed). OTA_ERR_CORRUPT_PATCH: a rule
 * of the section refused the byte *used - 1 (the same rules, in the same
 * order, as otapack/core/restore/transform_section.py). OTA_ERR_UNSUPPORTED: the
 * arch is compiled out. OTA_ERR_ARGUMENT: not in a reading stage. */
enum ota_status ota_transform_feed(struct ota_transform *t, const uint8_t *data, size_t len, size_t *used);

static inline enum ota_transform_stage ota_transform_stage(const struct ota_transform *t)
{
    return (enum ota_transform_stage)t->stage;
}

/* The table buffer (NULL allowed when it needs 0 bytes). OTA_ERR_WORKSPACE:
 * smaller than OTA_TRANSFORM_TABLE_BYTES or not 8-byte aligned. */
enum ota_status ota_transform_set_tables(struct ota_transform *t, void *buf, size_t size);

/* Nonzero when apply can change bytes (an arch and at least one region). */
int ota_transform_active(const struct ota_transform *t);

/* Look-ahead old bytes apply wants after old[pos, pos + n): 0 when inactive,
 * else min(OTA_MAX_UNIT - 1, old_size - pos - n). */
uint32_t ota_transform_ahead(const struct ota_transform *t, uint32_t pos, uint32_t n);

/* Rewrite old[pos, pos + n) (in `old`, in place) into old'. `ahead` holds
 * the next ahead_len >= ota_transform_ahead() old bytes (never written).
 * `d` is the add's displacement (output offset - old_pos), used modulo the
 * address width. OTA_ERR_ARGUMENT: not ready, or the range or look-ahead is
 * short. Calls continue a unit only when pos is where the last one stopped. */
enum ota_status ota_transform_apply(struct ota_transform *t, uint32_t pos, int64_t d, uint8_t *old, uint32_t n,
                                    const uint8_t *ahead, uint32_t ahead_len);

#endif
