/* The delta-v2 operand-aware add: the section parser and the streaming
 * rewrite of old bytes (docs/formats/delta-v2-transforms.md).
 *
 * Mirrors otapack/core/restore/transform{,_section,_kinds}.py byte for byte:
 * the same varint and table rules in the same order, and at every aligned
 * old offset the first enabled kind (in the arch's order) whose encoding
 * matches and whose target the map covers becomes a unit. Python finds the
 * candidates with one regular expression per kind; here every aligned
 * position is tested directly (the regexes are necessary conditions of the
 * same matches), which gives the same units in one linear pass.
 *
 * Arithmetic is unsigned and masked to the arch's width (ota_taddr), so it
 * wraps exactly as the Python integers masked with addr_mask do. */
#include <string.h>

#include "ota/ota_transform.h"

#define ON_THUMB2 (OTA_WITH_TRANSFORMS && OTA_TRANSFORM_THUMB2)
#define ON_AARCH64 (OTA_WITH_TRANSFORMS && OTA_TRANSFORM_AARCH64)
#define ON_ARM32 (OTA_WITH_TRANSFORMS && OTA_TRANSFORM_ARM32)
#define ARCH_MAX OTA_TRANSFORM_ARCH_ARM32 /* the highest arch id of the wire table */
#define HOLE INT32_MIN                    /* |delta| <= 2^31 - 1, so never a delta */
#define AHEAD (OTA_MAX_UNIT - 1u)

/* Kinds, one id per encoding (a set lists its kinds in match order). */
enum {
    K_PTR32, K_PTR64,
    K_T_BL, K_T_BW, K_T_BCOND, K_T_LDRW, K_T_LDRLIT, K_T_ADR,
    K_A_B, K_A_PAIR, K_A_ADRP, K_A_ADR, K_A_LDRLIT,
    K_R_B, K_R_LDRLIT
};

static const uint8_t thumb2_kinds[OTA_TK_THUMB2_COUNT] = {K_PTR32, K_T_BL, K_T_BW, K_T_BCOND, K_T_LDRW,
                                                          K_T_LDRLIT, K_T_ADR};
static const uint8_t aarch64_kinds[OTA_TK_AARCH64_COUNT] = {K_PTR64, K_A_B, K_A_PAIR, K_A_ADRP, K_A_ADR,
                                                            K_A_LDRLIT};
static const uint8_t arm32_kinds[OTA_TK_ARM32_COUNT] = {K_PTR32, K_R_B, K_R_LDRLIT};
/* align and length of each kind (bits 0..3: align, 4..7: length) */
static const uint8_t kind_shape[] = {0x44, 0x88, 0x42, 0x42, 0x42, 0x42, 0x22, 0x22,
                                     0x44, 0x84, 0x44, 0x44, 0x44, 0x44, 0x44};
/* A necessary condition of each kind's pattern on one halfword (Thumb-2: the
 * first, A64/A32: the high half of the word), tested before kind_target so
 * most positions cost a load and a compare per enabled kind. */
static const uint16_t pre_mask[] = {0, 0, 0xF800u, 0xF800u, 0xF800u, 0xFF7Fu, 0xF800u, 0xF800u,
                                    0x7C00u, 0x9F00u, 0x9F00u, 0x9F00u, 0x3B00u, 0x0E00u, 0x0F7Fu};
static const uint16_t pre_value[] = {0, 0, 0xF000u, 0xF000u, 0xF000u, 0xF85Fu, 0x4800u, 0xA000u,
                                     0x1400u, 0x9000u, 0x9000u, 0x1000u, 0x1800u, 0x0A00u, 0x051Fu};

struct arch_info {
    const uint8_t *kinds;
    uint8_t count, bits, step; /* step: the smallest alignment of the set */
};

static int arch_enabled(unsigned arch)
{
    return (arch == OTA_TRANSFORM_ARCH_THUMB2 && ON_THUMB2) || (arch == OTA_TRANSFORM_ARCH_AARCH64 && ON_AARCH64) ||
           (arch == OTA_TRANSFORM_ARCH_ARM32 && ON_ARM32);
}

static struct arch_info arch_info(unsigned arch)
{
    struct arch_info a;
    if (arch == OTA_TRANSFORM_ARCH_AARCH64) {
        a.kinds = aarch64_kinds;
        a.count = OTA_TK_AARCH64_COUNT;
        a.bits = OTA_TRANSFORM_BITS_AARCH64;
        a.step = 4;
    } else if (arch == OTA_TRANSFORM_ARCH_ARM32) {
        a.kinds = arm32_kinds;
        a.count = OTA_TK_ARM32_COUNT;
        a.bits = OTA_TRANSFORM_BITS_ARM32;
        a.step = 4;
    } else {
        a.kinds = thumb2_kinds;
        a.count = OTA_TK_THUMB2_COUNT;
        a.bits = OTA_TRANSFORM_BITS_THUMB2;
        a.step = 2;
    }
    return a;
}

static uint64_t bits_mask(unsigned bits)
{
    return bits >= 64u ? UINT64_MAX : ((uint64_t)1 << bits) - 1u;
}

/* ------------------------------------------------------------ section */

void ota_transform_init(struct ota_transform *t, uint32_t old_size)
{
    memset(t, 0, sizeof *t);
    t->old_size = old_size;
    t->stage = OTA_TSTAGE_COUNTS;
}

static uint64_t field_limit(const struct ota_transform *t)
{
    uint64_t addr_mask = bits_mask(t->arch ? arch_info(t->arch).bits : 64u);
    if (t->stage == OTA_TSTAGE_COUNTS) {
        static const uint64_t counts[4] = {ARCH_MAX, 0, OTA_MAX_MAP_ENTRIES, OTA_MAX_REGIONS};
        return t->field == 1 ? addr_mask : counts[t->field];
    }
    if (t->index < t->map_count) /* key gap, then code = zigzag(delta) + 1 */
        return t->field ? 2u * (uint64_t)OTA_MAX_MAP_DELTA + 1u : addr_mask;
    return t->field ? ((uint64_t)1 << arch_info(t->arch).count) - 1u : UINT64_MAX; /* start gap, mask */
}

/* One field value: OTA_OK (next field), OTA_END (stage done) or an error. */
static enum ota_status field_done(struct ota_transform *t, uint64_t v)
{
    if (t->stage == OTA_TSTAGE_COUNTS) {
        switch (t->field++) {
        case 0:
            t->arch = (uint8_t)v;
            return v && !arch_enabled((unsigned)v) ? OTA_ERR_UNSUPPORTED : OTA_OK;
        case 1:
            t->base = v;
            return OTA_OK;
        case 2:
            t->map_count = (uint32_t)v;
            return OTA_OK;
        default:
            t->region_count = (uint32_t)v;
            if (!t->arch && (t->base || t->map_count || t->region_count))
                return OTA_ERR_CORRUPT_PATCH; /* arch none with a base or tables */
            t->field = 0;
            t->stage = OTA_TSTAGE_PRICE;
            return OTA_END;
        }
    }
    if (t->index < t->map_count) {
        uint32_t i = t->index;
        if (!t->field) {
            if (i && !v)
                return OTA_ERR_CORRUPT_PATCH; /* keys strictly increase */
            if (v > bits_mask(arch_info(t->arch).bits) - t->prev)
                return OTA_ERR_CORRUPT_PATCH; /* a key past the address space */
            t->prev += v;
            t->field = 1;
            return OTA_OK;
        }
        if ((i && v == t->prev_code) || (!i && !v))
            return OTA_ERR_CORRUPT_PATCH; /* repeats the previous entry or starts with a hole */
        t->prev_code = v;
        t->keys[i] = (ota_taddr)t->prev;
        /* zigzag(delta) = v - 1 <= 2^32 - 2, so the delta is in int32 without INT32_MIN */
        t->deltas[i] = !v ? HOLE
                          : ((v - 1u) & 1u) ? -(int32_t)((v - 1u) >> 1) - 1 : (int32_t)((v - 1u) >> 1);
        t->field = 0;
        if (++t->index == t->map_count) {
            t->prev = 0;
            t->prev_code = 0;
        }
    } else {
        uint32_t j = t->index - t->map_count;
        if (!t->field) {
            if (j && !v)
                return OTA_ERR_CORRUPT_PATCH; /* region starts strictly increase */
            if (v >= (uint64_t)t->old_size - t->prev)
                return OTA_ERR_CORRUPT_PATCH; /* starts past the old partition */
            t->prev += v;
            t->field = 1;
            return OTA_OK;
        }
        if ((j && v == t->prev_code) || (!j && !v))
            return OTA_ERR_CORRUPT_PATCH; /* repeats the previous mask or starts empty */
        t->prev_code = v;
        t->starts[j] = (uint32_t)t->prev;
        t->masks[j] = (uint8_t)v;
        t->field = 0;
        t->index++;
    }
    if (t->index == t->map_count + t->region_count) {
        t->stage = OTA_TSTAGE_READY;
        return OTA_END;
    }
    return OTA_OK;
}

/* One byte of a canonical LEB128 varint, refused at the same byte as
 * otapack.core.restore.varint.read_varint: a value over the limit at any
 * byte, a final zero byte after the first, an 11th byte. */
static enum ota_status varint_byte(struct ota_transform *t, uint8_t b)
{
    uint64_t limit = field_limit(t);
    unsigned i = t->vbyte;
    if (i == OTA_VARINT_MAX_BYTES - 1u && (b & 0x7Eu))
        return OTA_ERR_CORRUPT_PATCH; /* bits above 2^64: over every limit */
    t->acc |= (uint64_t)(b & 0x7Fu) << (7u * i);
    if (!(b & 0x80u)) {
        uint64_t v = t->acc;
        if ((!b && i) || v > limit)
            return OTA_ERR_CORRUPT_PATCH;
        t->acc = 0;
        t->vbyte = 0;
        return field_done(t, v);
    }
    if (t->acc > limit || i + 1u == OTA_VARINT_MAX_BYTES)
        return OTA_ERR_CORRUPT_PATCH;
    t->vbyte = (uint8_t)(i + 1u);
    return OTA_OK;
}

enum ota_status ota_transform_feed(struct ota_transform *t, const uint8_t *data, size_t len, size_t *used)
{
    size_t k = 0;
    enum ota_status st = OTA_OK;
    if (t->stage != OTA_TSTAGE_COUNTS && t->stage != OTA_TSTAGE_TABLES) {
        *used = 0;
        return t->stage == OTA_TSTAGE_FAILED ? OTA_ERR_CORRUPT_PATCH : OTA_ERR_ARGUMENT;
    }
    while (k < len && st == OTA_OK)
        st = varint_byte(t, data[k++]);
    *used = k;
    if (st != OTA_OK && st != OTA_END)
        t->stage = OTA_TSTAGE_FAILED;
    return st;
}

enum ota_status ota_transform_set_tables(struct ota_transform *t, void *buf, size_t size)
{
    size_t m = t->map_count, r = t->region_count;
    if (t->stage != OTA_TSTAGE_PRICE)
        return OTA_ERR_ARGUMENT;
    if (m + r) {
        if (!buf || ((uintptr_t)buf & 7u) || size < OTA_TRANSFORM_TABLE_BYTES(m, r))
            return OTA_ERR_WORKSPACE;
        t->keys = buf;
        t->deltas = (int32_t *)(void *)(t->keys + m);
        t->starts = (uint32_t *)(void *)(t->deltas + m);
        t->masks = (uint8_t *)(t->starts + r);
    }
    t->index = 0;
    t->stage = m + r ? OTA_TSTAGE_TABLES : OTA_TSTAGE_READY;
    return OTA_OK;
}

/* ------------------------------------------------------------ kinds */

#if ON_AARCH64
static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
#endif

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

#if ON_THUMB2 || ON_AARCH64 || ON_ARM32
/* v's low `bits` bits sign-extended, modulo the address width */
static ota_taddr sext(uint32_t v, unsigned bits)
{
    ota_taddr x = (ota_taddr)(v & (((uint32_t)1 << bits) - 1u));
    return x >> (bits - 1u) ? x - ((ota_taddr)1 << bits) : x;
}
#endif

#if ON_AARCH64
static uint32_t adr_imm(uint32_t x)
{
    return (x >> 5 & 0x7FFFFu) << 2 | (x >> 29 & 3u);
}

static uint32_t with_adr_imm(uint32_t x, ota_taddr v)
{
    return (x & 0x9F00001Fu) | (uint32_t)(v & 3u) << 29 | (uint32_t)(v >> 2 & 0x7FFFFu) << 5;
}

/* Byte scale of the low-12 instruction y paired with ADRP X(rd), or -1. */
static int a64_lo12(uint32_t y, uint32_t rd)
{
    if ((y >> 5 & 31u) != rd)
        return -1;
    if ((y & 0xFFC00000u) == 0x91000000u) /* ADD Xd, Xn, #imm12 */
        return 0;
    if ((y & 0x3F000000u) == 0x39000000u && ((y >> 10 & 0xFFFu) << (y >> 30)) <= 0xFFFu)
        return (int)(y >> 30); /* LDR/STR (unsigned offset), a :lo12: offset */
    return -1;
}
#endif

/* Whether b (the kind's length bytes) is kind k; its target from addr. */
static int kind_target(unsigned k, const uint8_t *b, ota_taddr addr, ota_taddr mask, ota_taddr *target)
{
    uint32_t hw1 = (uint32_t)b[0] | (uint32_t)b[1] << 8, hw2 = (uint32_t)b[2] | (uint32_t)b[3] << 8;
    uint32_t x = hw1 | hw2 << 16;
    ota_taddr t;
    (void)addr; /* unused when only pointers are compiled in */
    switch (k) {
    case K_PTR32:
        t = x;
        break;
#if ON_AARCH64
    case K_PTR64:
        t = (ota_taddr)x | (ota_taddr)le32(b + 4) << 32;
        break;
#endif
#if ON_THUMB2
    case K_T_BL:
    case K_T_BW: {
        uint32_t s = hw1 >> 10 & 1u, i1, i2;
        if ((hw1 & 0xF800u) != 0xF000u || (hw2 & 0xD000u) != (k == K_T_BL ? 0xD000u : 0x9000u))
            return 0;
        i1 = 1u ^ (hw2 >> 13 & 1u) ^ s;
        i2 = 1u ^ (hw2 >> 11 & 1u) ^ s;
        t = addr + 4u + sext(s << 24 | i1 << 23 | i2 << 22 | (hw1 & 0x3FFu) << 12 | (hw2 & 0x7FFu) << 1, 25);
        break;
    }
    case K_T_BCOND:
        if ((hw1 & 0xF800u) != 0xF000u || (hw2 & 0xD000u) != 0x8000u || (hw1 >> 7 & 7u) == 7u)
            return 0;
        t = addr + 4u + sext((hw1 >> 10 & 1u) << 20 | (hw2 >> 11 & 1u) << 19 | (hw2 >> 13 & 1u) << 18 |
                             (hw1 & 0x3Fu) << 12 | (hw2 & 0x7FFu) << 1, 21);
        break;
    case K_T_LDRW:
        if ((hw1 & 0xFF7Fu) != 0xF85Fu)
            return 0;
        t = ((addr + 4u) & ~(ota_taddr)3) + ((hw1 & 0x80u) ? (ota_taddr)(hw2 & 0xFFFu) : (ota_taddr)0 - (hw2 & 0xFFFu));
        break;
    case K_T_LDRLIT:
    case K_T_ADR:
        if ((uint32_t)(b[1] >> 3) != (k == K_T_LDRLIT ? 0x09u : 0x14u))
            return 0;
        t = ((addr + 4u) & ~(ota_taddr)3) + 4u * (ota_taddr)b[0];
        break;
#endif
#if ON_AARCH64
    case K_A_B:
        if ((x & 0x7C000000u) != 0x14000000u)
            return 0;
        t = addr + (sext(x, 26) << 2);
        break;
    case K_A_PAIR: {
        uint32_t y = le32(b + 4);
        int scale;
        if ((x & 0x9F000000u) != 0x90000000u || (scale = a64_lo12(y, x & 31u)) < 0)
            return 0;
        t = (addr & ~(ota_taddr)0xFFF) + (sext(adr_imm(x), 21) << 12) + ((ota_taddr)(y >> 10 & 0xFFFu) << scale);
        break;
    }
    case K_A_ADRP:
        if ((x & 0x9F000000u) != 0x90000000u)
            return 0;
        t = (addr & ~(ota_taddr)0xFFF) + (sext(adr_imm(x), 21) << 12);
        break;
    case K_A_ADR:
        if ((x & 0x9F000000u) != 0x10000000u)
            return 0;
        t = addr + sext(adr_imm(x), 21);
        break;
    case K_A_LDRLIT:
        if ((x & 0x3B000000u) != 0x18000000u)
            return 0;
        t = addr + (sext(x >> 5, 19) << 2);
        break;
#endif
#if ON_ARM32
    case K_R_B:
        if ((x & 0x0E000000u) != 0x0A000000u || x >> 28 == 0xFu)
            return 0;
        t = addr + 8u + (sext(x, 24) << 2);
        break;
    case K_R_LDRLIT:
        if ((x & 0x0F7F0000u) != 0x051F0000u || x >> 28 == 0xFu)
            return 0;
        t = addr + 8u + ((x >> 23 & 1u) ? (ota_taddr)(x & 0xFFFu) : (ota_taddr)0 - (x & 0xFFFu));
        break;
#endif
    default:
        return 0;
    }
    *target = t & mask;
    return 1;
}

#if ON_THUMB2 || ON_ARM32
/* A literal offset field: U bit and magnitude of the 32-bit offset off
 * ("#-0" keeps its U bit). */
static uint32_t lit_field(uint32_t off, int u_was, uint32_t u_bit)
{
    int up = (off && !(off >> 31)) || (!off && u_was);
    return (up ? u_bit : 0u) | ((up ? off : 0u - off) & 0xFFFu);
}
#endif

/* b re-aimed at target from addr (both masked) into out. */
static void kind_rewrite(unsigned k, const uint8_t *b, ota_taddr addr, ota_taddr target, uint8_t *out)
{
    uint32_t hw1 = (uint32_t)b[0] | (uint32_t)b[1] << 8, hw2 = (uint32_t)b[2] | (uint32_t)b[3] << 8;
    uint32_t x = hw1 | hw2 << 16, v = 0;
    (void)addr, (void)v; /* unused when only pointers are compiled in */
    switch (k) {
#if ON_AARCH64
    case K_PTR64:
        put_le32(out + 4, (uint32_t)((uint64_t)target >> 32));
        put_le32(out, (uint32_t)target);
        return;
#endif
#if ON_THUMB2
    case K_T_BL:
    case K_T_BW: {
        uint32_t s, i1, i2;
        v = (uint32_t)((target - addr - 4u) >> 1) & 0xFFFFFFu;
        s = v >> 23;
        i1 = v >> 22 & 1u;
        i2 = v >> 21 & 1u;
        hw1 = (hw1 & 0xF800u) | s << 10 | (v >> 11 & 0x3FFu);
        hw2 = (hw2 & 0xD000u) | (1u ^ i1 ^ s) << 13 | (1u ^ i2 ^ s) << 11 | (v & 0x7FFu);
        break;
    }
    case K_T_BCOND:
        v = (uint32_t)((target - addr - 4u) >> 1) & 0xFFFFFu;
        hw1 = (hw1 & 0xFBC0u) | (v >> 19) << 10 | (v >> 11 & 0x3Fu);
        hw2 = (hw2 & 0xD000u) | (v >> 18 & 1u) << 11 | (v >> 17 & 1u) << 13 | (v & 0x7FFu);
        break;
    case K_T_LDRW:
        v = lit_field((uint32_t)(target - ((addr + 4u) & ~(ota_taddr)3)), (hw1 & 0x80u) != 0, 0x80000u);
        hw1 = (hw1 & 0xFF7Fu) | (v >> 12);
        hw2 = (hw2 & 0xF000u) | (v & 0xFFFu);
        break;
    case K_T_LDRLIT:
    case K_T_ADR:
        out[0] = (uint8_t)((target - ((addr + 4u) & ~(ota_taddr)3)) >> 2);
        out[1] = b[1];
        return;
#endif
#if ON_AARCH64
    case K_A_B:
        x = (x & 0xFC000000u) | ((uint32_t)((target - addr) >> 2) & 0x3FFFFFFu);
        break;
    case K_A_PAIR: {
        uint32_t y = le32(b + 4);
        int scale = a64_lo12(y, x & 31u);
        x = with_adr_imm(x, (target >> 12) - (addr >> 12));
        y = (y & 0xFFC003FFu) | (((uint32_t)target & 0xFFFu) >> scale) << 10;
        put_le32(out + 4, y);
        break;
    }
    case K_A_ADRP:
        x = with_adr_imm(x, (target >> 12) - (addr >> 12));
        break;
    case K_A_ADR:
        x = with_adr_imm(x, target - addr);
        break;
    case K_A_LDRLIT:
        x = (x & 0xFF00001Fu) | ((uint32_t)((target - addr) >> 2) & 0x7FFFFu) << 5;
        break;
#endif
#if ON_ARM32
    case K_R_B:
        x = (x & 0xFF000000u) | ((uint32_t)((target - addr - 8u) >> 2) & 0xFFFFFFu);
        break;
    case K_R_LDRLIT:
        x = (x & 0xFF7FF000u) | lit_field((uint32_t)(target - addr - 8u), (x >> 23 & 1u) != 0, 0x800000u);
        break;
#endif
    default: /* K_PTR32 */
        x = (uint32_t)target;
        break;
    }
#if ON_THUMB2
    if (k >= K_T_BL && k <= K_T_LDRW)
        x = hw1 | hw2 << 16;
#endif
    put_le32(out, x);
}

/* ------------------------------------------------------------ apply */

int ota_transform_active(const struct ota_transform *t)
{
    return t->stage == OTA_TSTAGE_READY && t->arch && t->region_count;
}

uint32_t ota_transform_ahead(const struct ota_transform *t, uint32_t pos, uint32_t n)
{
    uint32_t left;
    if (!ota_transform_active(t) || pos > t->old_size || n > t->old_size - pos)
        return 0;
    left = t->old_size - pos - n;
    return left < AHEAD ? left : AHEAD;
}

/* The last index with starts[i] <= p, or -1. */
static int32_t region_at(const struct ota_transform *t, uint32_t p)
{
    uint32_t lo = 0, hi = t->region_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (t->starts[mid] <= p)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return (int32_t)lo - 1;
}

/* M(target): the delta of the last key <= target, or HOLE. */
static int32_t map_at(const struct ota_transform *t, ota_taddr target)
{
    uint32_t lo = 0, hi = t->map_count;
    if (!hi || target < t->keys[0])
        return HOLE;
    if (target >= t->keys[hi - 1u]) /* past the last key (usually a hole): no search */
        return t->deltas[hi - 1u];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (t->keys[mid] <= target)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return t->deltas[lo - 1u];
}

/* Units in old[start, n) (look-ahead in ahead[0, avail - n)). */
static void scan(struct ota_transform *t, uint32_t pos, ota_taddr d, uint8_t *old, uint32_t start, uint32_t n,
                 const uint8_t *ahead, uint32_t avail)
{
    struct arch_info a = arch_info(t->arch);
    ota_taddr mask = (ota_taddr)bits_mask(a.bits);
    uint32_t o = start + (uint32_t)((0u - (t->base + pos + start)) & (a.step - 1u));
    int32_t ri = region_at(t, pos + o);
    while (o < n) {
        uint32_t p = pos + o, mbits;
        unsigned i;
        while (ri + 1 < (int32_t)t->region_count && t->starts[ri + 1] <= p)
            ri++;
        mbits = ri < 0 ? 0u : t->masks[ri];
        if (!mbits) { /* nothing enabled up to the next region start */
            uint32_t next;
            if (ri + 1 >= (int32_t)t->region_count || t->starts[ri + 1] - pos >= n)
                return;
            next = t->starts[ri + 1] - pos;
            o += (next - o + a.step - 1u) / a.step * a.step;
            continue;
        }
        { /* the first halfword and the high half of the word at o: each enabled kind's prefilter */
            uint8_t q[4];
            const uint8_t *h = old + o;
            uint32_t lo16, hi16, m, j, found = 0;
            if (o + 4u > n) { /* the piece's end: look-ahead, then zeros (no unit reaches them) */
                for (j = 0; j < 4u; j++)
                    q[j] = o + j < n ? old[o + j] : o + j < avail ? ahead[o + j - n] : 0u;
                h = q;
            }
            lo16 = (uint32_t)h[0] | (uint32_t)h[1] << 8;
            hi16 = (uint32_t)h[2] | (uint32_t)h[3] << 8;
            for (i = 0, m = mbits; m && !found; i++, m >>= 1) {
                unsigned k = a.kinds[i], align = kind_shape[k] & 15u, len = kind_shape[k] >> 4;
                uint8_t tmp[OTA_MAX_UNIT], out[OTA_MAX_UNIT];
                const uint8_t *b = old + o;
                ota_taddr addr, target;
                int32_t delta;
                if (!(m & 1u) || ((k > K_T_ADR ? hi16 : lo16) & pre_mask[k]) != pre_value[k] ||
                    ((t->base + p) & (align - 1u)) || len > avail - o)
                    continue;
                if (len > n - o) { /* the unit runs into the look-ahead */
                    memcpy(tmp, b, n - o);
                    memcpy(tmp + (n - o), ahead, len - (n - o));
                    b = tmp;
                }
                addr = (ota_taddr)(t->base + p) & mask;
                if (!kind_target(k, b, addr, mask, &target) || (delta = map_at(t, target)) == HOLE)
                    continue;
                kind_rewrite(k, b, (addr + d) & mask, (target + (ota_taddr)delta) & mask, out);
                t->units++;
                if (len <= n - o) {
                    memcpy(old + o, out, len);
                } else {
                    memcpy(old + o, out, n - o);
                    t->carry_len = (uint8_t)(len - (n - o));
                    memcpy(t->carry, out + (n - o), t->carry_len);
                }
                o += len;
                found = 1;
            }
            if (!found)
                o += a.step;
        }
    }
}

enum ota_status ota_transform_apply(struct ota_transform *t, uint32_t pos, int64_t d, uint8_t *old, uint32_t n,
                                    const uint8_t *ahead, uint32_t ahead_len)
{
    uint32_t start = 0, want;
    if (t->stage != OTA_TSTAGE_READY || pos > t->old_size || n > t->old_size - pos)
        return OTA_ERR_ARGUMENT;
    if (!ota_transform_active(t))
        return OTA_OK;
    want = ota_transform_ahead(t, pos, n);
    if (ahead_len < want || (n && !old) || (want && !ahead))
        return OTA_ERR_ARGUMENT;
    if (t->carry_len && t->carry_at != pos)
        t->carry_len = 0; /* the next add does not continue the unit */
    if (t->carry_len) {
        start = t->carry_len < n ? t->carry_len : n;
        memcpy(old, t->carry, start);
        t->carry_len = (uint8_t)(t->carry_len - start);
        memmove(t->carry, t->carry + start, t->carry_len);
    }
    if (!t->carry_len)
        scan(t, pos, (ota_taddr)d, old, start, n, ahead, n + want);
    t->carry_at = pos + n;
    return OTA_OK;
}
