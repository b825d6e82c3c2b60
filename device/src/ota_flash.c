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
    for (i = 0; i < f->area_count; i++)
        if (f->areas[i].size % f->erase_block)
            return OTA_ERR_FLASH_ALIGN;
    return OTA_OK;
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
    return len ? f->erase(f->ctx, area, offset, len) : OTA_OK;
}
