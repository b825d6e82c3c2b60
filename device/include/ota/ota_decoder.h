/* Pluggable stream decoder: the interface the restore engine decodes
 * payloads through, so an image that already carries an LZMA2 decoder (a
 * ROM routine, LZMA SDK, xz-embedded) can use it instead of ours.
 *
 * The decoder keeps all its state inside the workspace the engine gives it
 * (sized by workspace_size, taken from the package's RAM budget), so one
 * const struct serves any number of streams. Contract of decode() is that of
 * ota_lzma2_decode() (include/ota/ota_lzma2.h): consume/produce counts in
 * and out, OTA_OK / OTA_END / a negative status, never touch memory outside
 * the buffers it is given. The engine decodes every payload twice (once in
 * full at the resources check, output discarded, then to write it), so
 * where a decoder notices a corruption never changes the outcome.
 */
#ifndef OTA_DECODER_H
#define OTA_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_config.h"
#include "ota/ota_status.h"

struct ota_decoder {
    const char *name;
    const void *ctx; /* the integrator's configuration; passed back verbatim */
    /* Workspace bytes one stream needs for this dictionary size; 0 when the
     * size is not supported. */
    size_t (*workspace_size)(const void *ctx, uint32_t dict_size);
    /* Begin a stream. workspace is aligned to 8 bytes. */
    enum ota_status (*start)(const void *ctx, void *workspace, size_t workspace_size, uint32_t dict_size);
    enum ota_status (*decode)(const void *ctx, void *workspace, const uint8_t *in, size_t *in_size,
                              uint8_t *out, size_t *out_size);
};

#if OTA_WITH_LZMA2
/* The built-in decoder. ctx: NULL (model sized for lc+lp <= 4, any LZMA2
 * stream) or a pointer to a struct ota_lzma2_options. */
struct ota_lzma2_options {
    uint8_t lclp_max; /* 0 .. 4; otapack's patch streams need 1, full payloads up to 4 */
};
extern const struct ota_decoder ota_lzma2_decoder;
#endif

#endif
