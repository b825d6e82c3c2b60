/* The built-in LZMA2 decoder behind struct ota_decoder (ota_decoder.h): the
 * state struct sits at the start of the workspace, the probability model
 * and dictionary after it. */
#include "ota/ota_decoder.h"
#include "ota/ota_lzma2.h"

#if OTA_WITH_LZMA2

#define STATE_BYTES ((sizeof(struct ota_lzma2) + 7u) & ~(size_t)7u)

static unsigned adapter_lclp(const void *ctx)
{
    return ctx ? ((const struct ota_lzma2_options *)ctx)->lclp_max : OTA_LZMA2_LCLP_MAX;
}

static size_t adapter_size(const void *ctx, uint32_t dict_size)
{
    unsigned lclp = adapter_lclp(ctx);
    if (dict_size > OTA_LZMA2_DICT_MAX || lclp > OTA_LZMA2_LCLP_MAX)
        return 0;
    return STATE_BYTES + OTA_LZMA2_WORKSPACE_BYTES(dict_size, lclp);
}

static enum ota_status adapter_start(const void *ctx, void *ws, size_t ws_size, uint32_t dict_size)
{
    if (!ws || ws_size < STATE_BYTES)
        return OTA_ERR_WORKSPACE;
    return ota_lzma2_init((struct ota_lzma2 *)ws, (uint8_t *)ws + STATE_BYTES, ws_size - STATE_BYTES,
                          dict_size, adapter_lclp(ctx));
}

static enum ota_status adapter_decode(const void *ctx, void *ws, const uint8_t *in, size_t *in_size,
                                      uint8_t *out, size_t *out_size)
{
    (void)ctx;
    return ota_lzma2_decode((struct ota_lzma2 *)ws, in, in_size, out, out_size);
}

const struct ota_decoder ota_lzma2_decoder = {"lzma2", NULL, adapter_size, adapter_start, adapter_decode};

#endif
