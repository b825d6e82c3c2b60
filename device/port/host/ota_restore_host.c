/* Host driver of the restore engine: one flat call that builds a simulated
 * NOR flash (the device's partitions, the download area holding the
 * package, a staging area), runs the restore step by step on it and copies
 * the partitions back. otapack's Python side loads it with ctypes
 * (otapack/core/restore/c_engine.py) to run the C restore beside the Python
 * one on the same device; the libFuzzer target drives it too.
 *
 * Host-only (malloc, OpenSSL): it is not part of the device library. */
#include <stdlib.h>
#include <string.h>

#include "ota_port_openssl.h"
#include "ota_restore_host.h"
#include "ota/ota_receive.h"
#include "ota_simflash.h"

struct watch {
    const struct ota_restore *r;
    unsigned partitions, scratch, package;
    struct ota_host_result *res;
    uint32_t step_erased, step_programmed; /* in the step running now */
};

/* Every program/erase: which check runs, and whether it targets an area a
 * restore may write (a partition, the staging area). */
static enum ota_status watch_op(void *user, const struct ota_sim_op *op)
{
    struct watch *w = (struct watch *)user;
    if (op->kind == OTA_SIM_READ) {
        if (op->area == w->package)
            w->res->package_bytes_read += (uint32_t)op->len;
        return OTA_OK;
    }
    if (op->kind == OTA_SIM_ERASE)
        w->step_erased += (uint32_t)op->len;
    else
        w->step_programmed += (uint32_t)op->len;
    if (!w->res->flash_ops++)
        w->res->first_write_check = (int32_t)w->r->check;
    if (w->r->check < OTA_CHECK_RESTORE)
        w->res->writes_before_restore++;
    if (op->area >= w->partitions && op->area != w->scratch)
        w->res->writes_outside++;
    return OTA_OK;
}

static uint32_t round_up(uint32_t n, uint32_t block)
{
    return n ? (n + block - 1u) / block * block : block;
}

/* The caller's flash (req->journal): its int callbacks behind the port's. */
static enum ota_status cb_read(void *ctx, unsigned area, uint32_t offset, void *buf, size_t len)
{
    const struct ota_host_request *req = (const struct ota_host_request *)ctx;
    return (enum ota_status)req->flash_read(req->flash_user, area, offset, (uint8_t *)buf, (uint32_t)len);
}

static enum ota_status cb_write(void *ctx, unsigned area, uint32_t offset, const void *buf, size_t len)
{
    const struct ota_host_request *req = (const struct ota_host_request *)ctx;
    return (enum ota_status)req->flash_write(req->flash_user, area, offset, (const uint8_t *)buf, (uint32_t)len);
}

static enum ota_status cb_erase(void *ctx, unsigned area, uint32_t offset, uint32_t len)
{
    const struct ota_host_request *req = (const struct ota_host_request *)ctx;
    return (enum ota_status)req->flash_erase(req->flash_user, area, offset, len);
}

/* Flash and journal configuration of a journaled run (areas: see the header). */
static enum ota_status journaled(const struct ota_host_request *req, struct ota_flash_area *areas,
                                 struct ota_flash *port, struct ota_journal_config *jcfg)
{
    unsigned i, n = req->partition_count;
    uint32_t at;
    if (!req->flash_read || !req->flash_write || !req->flash_erase || req->receive)
        return OTA_ERR_ARGUMENT;
    memset(areas, 0, (n + 3u) * sizeof *areas);
    for (i = 0; i < n; i++) {
        areas[i].name = req->partitions[i].name;
        areas[i].address = req->partitions[i].address;
        areas[i].size = req->partitions[i].flash_size;
    }
    areas[n].name = "download";
    areas[n + 1u].name = "scratch";
    areas[n + 2u].name = "journal";
    areas[n].size = round_up(req->package_length, req->erase_block);
    areas[n + 1u].size = round_up(req->scratch_size, req->erase_block);
    areas[n + 2u].size = req->journal_size;
    areas[n].address = areas[n + 1u].address = areas[n + 2u].address = 0;
    for (i = 0, at = 0; req->sector_sizes && i < n + 3u; at += req->sector_counts[i], i++) {
        areas[i].sectors = req->sector_sizes + at;
        areas[i].sector_count = req->sector_counts[i];
    }
    memset(port, 0, sizeof *port);
    port->ctx = (void *)(uintptr_t)req;
    port->areas = areas;
    port->area_count = n + 3u;
    port->erase_block = req->erase_block;
    port->write_align = req->write_align;
    port->erased_value = (uint8_t)req->erased_value;
    port->read = cb_read;
    port->write = cb_write;
    port->erase = cb_erase;
    memset(jcfg, 0, sizeof *jcfg);
    jcfg->area = n + 2u;
    jcfg->sector_size = areas[n + 2u].sectors ? areas[n + 2u].sectors[0] : req->erase_block;
#if OTA_JOURNAL_FAULTS
    jcfg->fault = req->journal_fault;
#else
    if (req->journal_fault)
        return OTA_ERR_UNSUPPORTED;
#endif
    return OTA_OK;
}

int ota_host_restore(const struct ota_host_request *req, struct ota_host_result *res)
{
    struct ota_flash_area areas[OTA_RESTORE_MAX_PARTITIONS + 3];
    struct ota_flash port;
    struct ota_journal_config jcfg;
    uint32_t slots[OTA_RESTORE_MAX_PARTITIONS];
    uint8_t resizable[OTA_RESTORE_MAX_PARTITIONS];
    struct ota_simflash sim;
    struct ota_restore_config cfg;
    struct ota_restore *r;
    struct watch w;
    struct ota_receive_result received;
    void *ws;
    unsigned i, n = req->partition_count, package_area, scratch_area = OTA_RESTORE_NO_AREA, count;
    enum ota_status st;

    memset(res, 0, sizeof *res);
    memset(areas, 0, sizeof areas);
    res->first_write_check = -1;
    if (n > OTA_RESTORE_MAX_PARTITIONS)
        return res->status = OTA_ERR_ARGUMENT;
    for (i = 0; i < n; i++) {
        areas[i].name = req->partitions[i].name;
        areas[i].address = req->partitions[i].address;
        areas[i].size = req->partitions[i].flash_size;
        slots[i] = req->partitions[i].slot_size;
        resizable[i] = req->partitions[i].resizable != 0;
    }
    package_area = n;
    areas[n].name = "download";
    areas[n].address = 0;
    areas[n].size = round_up(req->package_length, req->erase_block);
    count = n + 1;
    if (req->scratch_size) {
        scratch_area = count;
        areas[count].name = "scratch";
        areas[count].address = 0;
        areas[count].size = round_up(req->scratch_size, req->erase_block);
        count++;
    }
    if (req->journal) {
        st = journaled(req, areas, &port, &jcfg);
        if (st != OTA_OK)
            return res->status = st;
        scratch_area = n + 1u;
        count = 0; /* nothing simulated here */
        if (req->package_partition > n)
            return res->status = OTA_ERR_ARGUMENT;
        if (req->package_partition)
            package_area = req->package_partition - 1u;
    }
    st = ota_simflash_init(&sim, areas, count, req->erase_block, req->write_align, req->erased_value);
    if (st != OTA_OK)
        return res->status = st;
    for (i = 0; i < n && st == OTA_OK && !req->journal; i++)
        if (req->partitions[i].data_length)
            st = ota_simflash_load(&sim, i, 0, req->partitions[i].data, req->partitions[i].data_length);
    res->receive_check = -1;
    if (st == OTA_OK && req->package_length && !req->receive && !req->journal)
        st = ota_simflash_load(&sim, package_area, 0, req->package, req->package_length);
    if (st == OTA_OK && req->receive) {
        /* the download as a device takes it: through the receive API */
        struct ota_receive rx;
        struct ota_receive_config rcfg;
        uint8_t rbuf[512];
        uint32_t at = 0, piece = req->receive_piece ? req->receive_piece : 1024;
        memset(&rcfg, 0, sizeof rcfg);
        rcfg.flash = &sim.port;
        rcfg.area = package_area;
        rcfg.capacity = OTA_RECEIVE_WHOLE_AREA;
        st = ota_receive_begin(&rx, &rcfg, rbuf, sizeof rbuf);
        while (st == OTA_OK && at < req->package_length) {
            uint32_t k = req->package_length - at < piece ? req->package_length - at : piece;
            st = ota_receive_write(&rx, req->package + at, k);
            at += k;
        }
        if (st == OTA_OK)
            st = ota_receive_finish(&rx, &received);
        res->receive_check = (int32_t)received.check;
    }
    r = (struct ota_restore *)malloc(sizeof *r);
    ws = malloc(req->workspace_size ? req->workspace_size : 1);
    if (st != OTA_OK || !r || !ws) {
        free(r);
        free(ws);
        ota_simflash_free(&sim);
        return res->status = st != OTA_OK ? st : OTA_ERR_WORKSPACE;
    }

    memset(&cfg, 0, sizeof cfg);
    cfg.flash = req->journal ? &port : &sim.port;
    cfg.journal = req->journal ? &jcfg : NULL;
    cfg.partition_count = n;
    cfg.slot_sizes = slots;
    cfg.resizable = resizable;
    cfg.package_area = package_area;
    cfg.package_length = req->package_length;
    cfg.scratch_area = scratch_area;
    cfg.download_capacity = req->download_capacity;
    cfg.minimal_download_capacity = req->minimal_download_capacity;
    cfg.ram_budget = req->ram_budget;
    cfg.model = req->model;
    cfg.hardware_id = req->hardware_id;
    cfg.check_security_counter = req->check_security_counter;
    cfg.security_counter = req->security_counter;
    cfg.layout_known = req->layout_known;
    cfg.expect_next = req->expect_next;
    memcpy(cfg.next_package, req->next_package, sizeof cfg.next_package);
    cfg.require_signature = req->require_signature;
    cfg.keys = req->keys;
    cfg.key_count = req->key_count;
    cfg.signature = &ota_openssl_signature_port;
    cfg.hash = req->openssl_hash ? &ota_sha256_openssl_port : NULL;
    cfg.disabled_checks = req->disabled_checks;

    cfg.received = req->receive == 2 ? &received : NULL;
    w.package = package_area;
    w.r = r;
    w.partitions = n;
    w.scratch = scratch_area;
    w.res = res;
    sim.hook = watch_op;
    sim.hook_user = &w;

    st = ota_restore_begin(r, &cfg, ws, req->workspace_size);
    if (st == OTA_OK) {
        do {
            w.step_erased = w.step_programmed = 0;
            st = ota_restore_step(r);
            if (w.step_erased > res->max_step_erased)
                res->max_step_erased = w.step_erased;
            if (w.step_programmed > res->max_step_programmed)
                res->max_step_programmed = w.step_programmed;
        } while (st == OTA_OK && ++res->steps);
    }
    res->status = st;
    res->failure_check = (int32_t)r->failure.check;
    res->failure_status = r->failure.status;
    res->failure_cause = r->failure.cause;
    res->failure_partition = r->failure.partition;
    res->failure_window = r->failure.window;
    res->failure_tuple = r->failure.tuple;
    res->failure_offset = r->failure.offset;
    memcpy(res->check_status, r->check_status, sizeof res->check_status);
    res->written_mask = r->written_mask;
    res->blocks_erased = r->blocks_erased;
    res->bytes_written = r->bytes_written;
    res->tuples = r->tuples;
    res->diff_pairs = r->diff_pairs;
    res->has_next = r->has_next;
    memcpy(res->next_package, r->next_package, sizeof res->next_package);
    memcpy(res->body_sha256, r->body_sha256, sizeof res->body_sha256);
    res->violations = sim.violations;
    for (i = 0; i < n && !req->journal; i++)
        if (req->partitions[i].data)
            memcpy(req->partitions[i].data, ota_simflash_data(&sim, i), req->partitions[i].flash_size);
    free(r);
    free(ws);
    ota_simflash_free(&sim);
    return res->status;
}

int ota_host_pending(const uint8_t *journal, uint32_t size, uint32_t erase_block, uint8_t digest[32])
{
    struct ota_flash_area area;
    struct ota_simflash sim;
    struct ota_journal_config jcfg;
    int pending = 0;
    enum ota_status st;
    memset(&area, 0, sizeof area);
    area.name = "journal";
    area.address = 0;
    area.size = size;
    st = ota_simflash_init(&sim, &area, 1, erase_block, 1, 0xFF);
    if (st != OTA_OK)
        return st;
    st = ota_simflash_load(&sim, 0, 0, journal, size);
    memset(&jcfg, 0, sizeof jcfg);
    jcfg.area = 0;
    if (st == OTA_OK)
        st = ota_journal_pending(&sim.port, &jcfg, digest, &pending);
    ota_simflash_free(&sim);
    return st != OTA_OK ? st : pending;
}

const char *ota_host_status_name(int status)
{
    return ota_status_name((enum ota_status)status);
}

const char *ota_host_check_name(int check)
{
    return ota_check_name((enum ota_check)check);
}

unsigned ota_host_result_size(void)
{
    return (unsigned)sizeof(struct ota_host_result);
}

unsigned ota_host_request_size(void)
{
    return (unsigned)sizeof(struct ota_host_request);
}
