/* Flash port: how the library reads, programs and erases flash.
 *
 * Shaped like MCUboot's flash_area API: operations name an area (index into
 * `areas`) and an offset inside it. The geometry is given up front, for the
 * whole port: the restore erases before it programs, buffers to the program
 * unit and never programs a unit twice between erases, so a port is just
 * the three raw operations. Areas are whole erase blocks.
 *
 * Erase sectors: uniform erase blocks, or per area a sector map (sizes from
 * the area's start, each a multiple of erase_block, the last one repeating
 * to the end of the area, where it may be cut short), for parts such as
 * STM32F4 (16, 16, 16, 16, 64, then 128 KiB). The journaled restore then
 * works sector by sector; erase_block stays the write buffer's size.
 *
 * The library calls the port through the ota_flash_* wrappers below, which
 * refuse out-of-range and misaligned operations with a typed status before
 * the port sees them. A port returns OTA_OK or OTA_ERR_FLASH_IO (or, in the
 * test flash, the rule that was broken).
 */
#ifndef OTA_FLASH_H
#define OTA_FLASH_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_status.h"

struct ota_flash_area {
    const char *name;  /* partition name as the package table spells it */
    uint32_t address;  /* flash address the package table must state for it */
    uint32_t size;     /* bytes, a multiple of erase_block */
    const uint32_t *sectors; /* sector sizes from the start (the last repeats); NULL: erase blocks */
    unsigned sector_count;
};

struct ota_flash {
    void *ctx; /* passed back verbatim */
    const struct ota_flash_area *areas;
    unsigned area_count;
    uint32_t erase_block;  /* erase unit in bytes */
    uint32_t write_align;  /* program unit in bytes; divides erase_block */
    uint8_t erased_value;  /* what an erased byte reads as (0xFF on NOR) */
    enum ota_status (*read)(void *ctx, unsigned area, uint32_t offset, void *buf, size_t len);
    enum ota_status (*write)(void *ctx, unsigned area, uint32_t offset, const void *buf, size_t len);
    enum ota_status (*erase)(void *ctx, unsigned area, uint32_t offset, uint32_t len);
};

/* Geometry sane: units nonzero, write_align divides erase_block, every area
 * a whole number of erase blocks, every sector size a nonzero multiple of
 * erase_block, all three callbacks present. */
enum ota_status ota_flash_check(const struct ota_flash *flash);

/* The erase sector holding `offset` of `area`: its start and size. */
enum ota_status ota_flash_sector(const struct ota_flash *flash, unsigned area, uint32_t offset, uint32_t *start,
                                 uint32_t *size);
/* 1 when every sector of every area is one erase block. */
int ota_flash_uniform(const struct ota_flash *flash);

enum ota_status ota_flash_read(const struct ota_flash *flash, unsigned area, uint32_t offset, void *buf,
                               size_t len);
/* offset and len multiples of write_align */
enum ota_status ota_flash_write(const struct ota_flash *flash, unsigned area, uint32_t offset,
                                const void *buf, size_t len);
/* offset and offset + len on sector boundaries (erase blocks without a map);
 * the port erases every sector of the range */
enum ota_status ota_flash_erase(const struct ota_flash *flash, unsigned area, uint32_t offset, uint32_t len);

#endif
