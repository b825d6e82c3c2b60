/* Checked entry points to a flash port. Bounds are tested in subtraction
 * form so no 32-bit sum can wrap. */
#include "ota/ota_flash.h"

enum ota_status ota_flash_check(const struct ota_flash *f)
{
    unsigned i;
    if (!f || !f->read || !f->write || !f->erase || (!f->areas && f->area_count))
        return OTA_ERR_ARGUMENT;
    if (!f->erase_block || !f->write_align || f->erase_block % f->write_align)
        return OTA_ERR_FLASH_ALIGN;
    for (i = 0; i < f->area_count; i++) {
        const struct ota_flash_area *a = &f->areas[i];
        unsigned k;
        if (a->size % f->erase_block || (a->sectors && !a->sector_count))
            return OTA_ERR_FLASH_ALIGN;
        for (k = 0; a->sectors && k < a->sector_count; k++)
            if (!a->sectors[k] || a->sectors[k] % f->erase_block)
                return OTA_ERR_FLASH_ALIGN;
    }
    return OTA_OK;
}

enum ota_status ota_flash_sector(const struct ota_flash *f, unsigned area, uint32_t offset, uint32_t *start,
                                 uint32_t *size)
{
    const struct ota_flash_area *a;
    uint32_t at = 0, step = f->erase_block, skip;
    unsigned k;
    if (area >= f->area_count)
        return OTA_ERR_FLASH_AREA;
    a = &f->areas[area];
    if (offset >= a->size)
        return OTA_ERR_FLASH_BOUNDS;
    for (k = 0; a->sectors && k < a->sector_count; k++) { /* the listed sectors */
        step = a->sectors[k];
        if (offset - at < step || k + 1u == a->sector_count)
            break;
        at += step;
        if (at >= a->size) /* cannot happen with offset < size; keeps the sum bounded */
            return OTA_ERR_FLASH_BOUNDS;
    }
    skip = (offset - at) / step; /* the last size repeats */
    at += skip * step;
    *start = at;
    *size = step < a->size - at ? step : a->size - at;
    return OTA_OK;
}

int ota_flash_uniform(const struct ota_flash *f)
{
    unsigned i, k;
    for (i = 0; i < f->area_count; i++)
        for (k = 0; f->areas[i].sectors && k < f->areas[i].sector_count; k++)
            if (f->areas[i].sectors[k] != f->erase_block)
                return 0;
    return 1;
}

/* offset on a sector boundary of the area (the end counts as one) */
static int sector_boundary(const struct ota_flash *f, unsigned area, uint32_t offset)
{
    uint32_t start, size;
    if (offset == f->areas[area].size)
        return 1;
    return ota_flash_sector(f, area, offset, &start, &size) == OTA_OK && start == offset;
}

static enum ota_status range(const struct ota_flash *f, unsigned area, uint32_t offset, size_t len)
{
    uint32_t size;
    if (area >= f->area_count)
        return OTA_ERR_FLASH_AREA;
    size = f->areas[area].size;
    if (offset > size || len > size - offset)
        return OTA_ERR_FLASH_BOUNDS;
    return OTA_OK;
}

enum ota_status ota_flash_read(const struct ota_flash *f, unsigned area, uint32_t offset, void *buf,
                               size_t len)
{
    enum ota_status st = range(f, area, offset, len);
    if (st != OTA_OK)
        return st;
    if (!len)
        return OTA_OK;
    return buf ? f->read(f->ctx, area, offset, buf, len) : OTA_ERR_ARGUMENT;
}

enum ota_status ota_flash_write(const struct ota_flash *f, unsigned area, uint32_t offset,
                                const void *buf, size_t len)
{
    enum ota_status st = range(f, area, offset, len);
    if (st != OTA_OK)
        return st;
    if (offset % f->write_align || len % f->write_align)
        return OTA_ERR_FLASH_ALIGN;
    if (!len)
        return OTA_OK;
    return buf ? f->write(f->ctx, area, offset, buf, len) : OTA_ERR_ARGUMENT;
}

enum ota_status ota_flash_erase(const struct ota_flash *f, unsigned area, uint32_t offset, uint32_t len)
{
    enum ota_status st = range(f, area, offset, len);
    if (st != OTA_OK)
        return st;
    if (offset % f->erase_block || len % f->erase_block)
        return OTA_ERR_FLASH_ALIGN;
    if (f->areas[area].sectors && (!sector_boundary(f, area, offset) || !sector_boundary(f, area, offset + len)))
        return OTA_ERR_FLASH_ALIGN;
    return len ? f->erase(f->ctx, area, offset, len) : OTA_OK;
}
