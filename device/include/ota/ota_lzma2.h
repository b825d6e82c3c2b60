/* Raw LZMA2 decoder: streaming, no allocation, caller-provided memory.
 *
 * A raw LZMA2 stream is a sequence of chunks (control byte, sizes, optional
 * properties byte, data) ending with a 0x00 control byte; there is no .xz
 * framing and no integrity check (the package's SHA-256 is the check).
 *
 * Memory: the caller passes one workspace holding the probability model and
 * the dictionary, sized with OTA_LZMA2_WORKSPACE_BYTES(dict_size, lclp_max),
 * aligned for uint16_t. The state struct itself is small (160 bytes on Cortex-M)
 * and may live anywhere. Nothing else is used: no globals, no recursion,
 * no malloc; the library calls only memcpy/memmove/memset.
 *
 * Dictionary size: the decoder behaves exactly as liblzma does for the same
 * declared size, which rounds it up to a multiple of 16 and to at least
 * 4 KiB (OTA_LZMA2_DICT_BYTES). A decoder holding exactly dict_size bytes
 * would refuse some corrupt-but-liblzma-accepted streams; matching liblzma
 * keeps the C and Python restores in agreement on every input.
 */
#ifndef OTA_LZMA2_H
#define OTA_LZMA2_H

#include <stddef.h>
#include <stdint.h>

#include "ota/ota_status.h"

/* LZMA2 allows lc + lp <= 4; the model grows 4x per step. */
#define OTA_LZMA2_LCLP_MAX 4u
#define OTA_LZMA2_DICT_MIN 4096u
/* Largest dict_size accepted; keeps every size computation in 32 bits. */
#define OTA_LZMA2_DICT_MAX (1u << 30)

/* Bytes of dictionary the decoder holds for a declared size. */
#define OTA_LZMA2_DICT_BYTES(dict_size)                                          \
    ((uint32_t)(dict_size) <= OTA_LZMA2_DICT_MIN ? OTA_LZMA2_DICT_MIN             \
                                                 : (((uint32_t)(dict_size) + 15u) & ~(uint32_t)15u))
/* Probability model: 1846 fixed 16-bit probabilities + 768 per literal context. */
#define OTA_LZMA2_PROBS_BYTES(lclp_max) (2u * (1846u + (768u << (lclp_max))))
#define OTA_LZMA2_WORKSPACE_BYTES(dict_size, lclp_max)                           \
    ((size_t)OTA_LZMA2_PROBS_BYTES(lclp_max) + OTA_LZMA2_DICT_BYTES(dict_size))

/* Input bytes held back when a piece ends in the middle of a symbol: one
 * LZMA symbol reads at most 20 bytes, plus margin for the final
 * normalisation of a chunk. */
#define OTA_LZMA2_HOLD 24u

/* Decoder state. All fields are private; the struct is public only so the
 * caller can place it (stack, static, inside an engine workspace). */
struct ota_lzma2 {
    uint16_t *probs;
    uint8_t *dict;
    uint32_t dict_bytes;     /* D: circular dictionary size */
    uint32_t pos;            /* next write position in dict, 0 .. D-1 */
    uint32_t full;           /* valid bytes behind pos (D once it wrapped) */
    uint32_t range, code;    /* range decoder */
    uint32_t rep[4];         /* last four match distances (minus one) */
    uint32_t pending;        /* bytes of the current match not yet copied */
    uint32_t unpacked_left;  /* output bytes left in the current chunk */
    uint32_t packed_left;    /* input bytes of the chunk not yet taken */
    int32_t error;           /* sticky status once an error is seen */
    uint32_t state;          /* LZMA state machine, 0 .. 11 */
    uint32_t lc, lp, pb, lclp_max;
    uint32_t seq;            /* where in the chunk structure we are */
    uint32_t flags;
    uint32_t control;        /* control byte of the current chunk */
    uint32_t hdr_len, hdr_need;
    uint32_t hold_len;
    uint8_t hdr[5];
    uint8_t hold[2 * OTA_LZMA2_HOLD];
};

/* Prepare a decoder for one stream.
 *   workspace       OTA_LZMA2_WORKSPACE_BYTES(dict_size, lclp_max) bytes,
 *                   2-byte aligned, need not be zeroed
 *   dict_size       the stream's declared dictionary size, 1 .. OTA_LZMA2_DICT_MAX
 *   lclp_max        largest lc+lp the workspace is sized for (0 .. 4); a chunk
 *                   with more is refused with OTA_ERR_LZMA_LCLP
 * Returns OTA_OK, OTA_ERR_ARGUMENT, OTA_ERR_WORKSPACE (misaligned) or
 * OTA_ERR_LZMA_DICT (the dictionary does not fit the workspace). */
enum ota_status ota_lzma2_init(struct ota_lzma2 *d, void *workspace, size_t workspace_size,
                               uint32_t dict_size, unsigned lclp_max);

/* Start a new stream with the buffers and sizes given to ota_lzma2_init. */
void ota_lzma2_reset(struct ota_lzma2 *d);

/* Decode some of the stream.
 *   in, *in_size    input available; on return *in_size = bytes consumed
 *   out, *out_size  room for output; on return *out_size = bytes produced
 * Returns
 *   OTA_OK          progress possible with more input (all of it consumed) or
 *                   more output room (out is full); call again
 *   OTA_END         the end marker was consumed and all output delivered;
 *                   bytes after it are not consumed
 *   OTA_ERR_LZMA_DATA, OTA_ERR_LZMA_LCLP  the stream cannot be decoded; the
 *                   error is sticky and output of this call is unusable
 * The decoder never reads outside in[0, *in_size) nor writes outside
 * out[0, *out_size) and its workspace, whatever the input. A stream that ends
 * early shows as OTA_OK with all input consumed: the caller, which knows the
 * payload length, calls that truncation. Input bytes the decoder holds back
 * (at most 2 * OTA_LZMA2_HOLD) count as consumed. */
enum ota_status ota_lzma2_decode(struct ota_lzma2 *d, const uint8_t *in, size_t *in_size,
                                 uint8_t *out, size_t *out_size);

#endif
