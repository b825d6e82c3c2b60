#include <stdlib.h>
#include <string.h>

#include "ota_simflash.h"

static enum ota_status refuse(struct ota_simflash *s, enum ota_status st)
{
    s->violations++;
    return st;
}

static enum ota_status check_range(struct ota_simflash *s, unsigned area, uint32_t off, size_t len)
{
    uint32_t size;
    if (area >= s->port.area_count)
        return refuse(s, OTA_ERR_FLASH_AREA);
    size = s->port.areas[area].size;
    if (off > size || len > size - off)
        return refuse(s, OTA_ERR_FLASH_BOUNDS);
    return OTA_OK;
}

/* Power state, hook and cut point, in that order; counts the operation. */
static enum ota_status gate(struct ota_simflash *s, enum ota_sim_op_kind kind, unsigned area, uint32_t off,
                            size_t len, int *tear)
{
    struct ota_sim_op op;
    *tear = 0;
    if (!s->powered)
        return OTA_ERR_FLASH_POWER_CUT;
    op.kind = kind;
    op.area = area;
    op.offset = off;
    op.len = len;
    op.index = s->ops;
    if (s->hook) {
        enum ota_status st = s->hook(s->hook_user, &op);
        if (st != OTA_OK)
            return st;
    }
    if (kind == OTA_SIM_READ)
        return OTA_OK;
    s->ops++;
    if (s->cut_at && op.index + 1 == s->cut_at) {
        s->powered = 0;
        if (!s->torn)
            return OTA_ERR_FLASH_POWER_CUT;
        *tear = 1;
    }
    return OTA_OK;
}

static enum ota_status sim_read(void *ctx, unsigned area, uint32_t off, void *buf, size_t len)
{
    struct ota_simflash *s = ctx;
    enum ota_status st = check_range(s, area, off, len);
    int tear;
    if (st == OTA_OK)
        st = gate(s, OTA_SIM_READ, area, off, len, &tear);
    if (st != OTA_OK)
        return st;
    memcpy(buf, s->mem[area] + off, len);
    s->reads++;
    s->bytes_read += len;
    return OTA_OK;
}

static enum ota_status sim_write(void *ctx, unsigned area, uint32_t off, const void *buf, size_t len)
{
    struct ota_simflash *s = ctx;
    const uint32_t unit = s->port.write_align;
    enum ota_status st = check_range(s, area, off, len);
    size_t i, units;
    int tear;
    if (st != OTA_OK)
        return st;
    if (off % unit || len % unit)
        return refuse(s, OTA_ERR_FLASH_ALIGN);
    for (i = 0; i < len; i += unit) {
        size_t j;
        if (s->programmed[area][(off + i) / unit])
            return refuse(s, OTA_ERR_FLASH_NOT_ERASED);
        for (j = 0; j < unit; j++)
            if (s->mem[area][off + i + j] != s->port.erased_value)
                return refuse(s, OTA_ERR_FLASH_NOT_ERASED);
    }
    st = gate(s, OTA_SIM_WRITE, area, off, len, &tear);
    if (st != OTA_OK)
        return st;
    units = len / unit;
    if (tear)
        units /= 2;
    for (i = 0; i < units; i++)
        s->programmed[area][off / unit + i] = 1;
    memcpy(s->mem[area] + off, buf, units * unit);
    s->writes++;
    s->bytes_written += units * unit;
    return tear ? OTA_ERR_FLASH_POWER_CUT : OTA_OK;
}

static enum ota_status sim_erase(void *ctx, unsigned area, uint32_t off, uint32_t len)
{
    struct ota_simflash *s = ctx;
    const uint32_t unit = s->port.write_align, block = s->port.erase_block;
    enum ota_status st = check_range(s, area, off, len);
    uint32_t b;
    int tear;
    if (st != OTA_OK)
        return st;
    if (off % block || len % block)
        return refuse(s, OTA_ERR_FLASH_ALIGN);
    st = gate(s, OTA_SIM_ERASE, area, off, len, &tear);
    if (st != OTA_OK)
        return st;
    for (b = 0; b < len; b += block) {
        uint32_t n = tear ? block / 2 : block; /* torn: half of each block stays as it was */
        memset(s->mem[area] + off + b, s->port.erased_value, n);
        memset(s->programmed[area] + (off + b) / unit, 0, n / unit);
    }
    s->erases++;
    s->bytes_erased += len;
    return tear ? OTA_ERR_FLASH_POWER_CUT : OTA_OK;
}

enum ota_status ota_simflash_init(struct ota_simflash *sim, const struct ota_flash_area *areas, unsigned count,
                                  uint32_t erase_block, uint32_t write_align, uint8_t erased_value)
{
    unsigned i;
    enum ota_status st;
    memset(sim, 0, sizeof *sim);
    if (count > OTA_SIMFLASH_MAX_AREAS)
        return OTA_ERR_ARGUMENT;
    sim->port.ctx = sim;
    sim->port.areas = areas;
    sim->port.area_count = count;
    sim->port.erase_block = erase_block;
    sim->port.write_align = write_align;
    sim->port.erased_value = erased_value;
    sim->port.read = sim_read;
    sim->port.write = sim_write;
    sim->port.erase = sim_erase;
    sim->powered = 1;
    st = ota_flash_check(&sim->port);
    if (st != OTA_OK)
        return st;
    for (i = 0; i < count; i++) {
        sim->mem[i] = malloc(areas[i].size ? areas[i].size : 1);
        sim->programmed[i] = calloc(areas[i].size / write_align + 1, 1);
        if (!sim->mem[i] || !sim->programmed[i]) {
            ota_simflash_free(sim);
            return OTA_ERR_WORKSPACE;
        }
        memset(sim->mem[i], erased_value, areas[i].size);
    }
    return OTA_OK;
}

void ota_simflash_free(struct ota_simflash *sim)
{
    unsigned i;
    for (i = 0; i < OTA_SIMFLASH_MAX_AREAS; i++) {
        free(sim->mem[i]);
        free(sim->programmed[i]);
        sim->mem[i] = sim->programmed[i] = NULL;
    }
}

enum ota_status ota_simflash_load(struct ota_simflash *sim, unsigned area, uint32_t offset, const void *data,
                                  size_t len)
{
    const uint32_t unit = sim->port.write_align;
    size_t u;
    if (area >= sim->port.area_count || offset > sim->port.areas[area].size ||
        len > sim->port.areas[area].size - offset)
        return OTA_ERR_FLASH_BOUNDS;
    memcpy(sim->mem[area] + offset, data, len);
    for (u = offset / unit; len && u <= (offset + len - 1) / unit; u++)
        sim->programmed[area][u] = 1;
    return OTA_OK;
}

const uint8_t *ota_simflash_data(const struct ota_simflash *sim, unsigned area)
{
    return area < sim->port.area_count ? sim->mem[area] : NULL;
}

void ota_simflash_power_on(struct ota_simflash *sim)
{
    sim->powered = 1;
    sim->cut_at = 0;
}
