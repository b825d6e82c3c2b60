/* Compile-time switches of the device library.
 *
 * Each defaults to 1; a firmware build sets them to 0 (CMake options of the
 * same name, or -D) to leave code out. A call into a part that is compiled
 * out returns OTA_ERR_UNSUPPORTED where the API has a status.
 *
 *   OTA_WITH_LZMA2      the built-in raw LZMA2 decoder (src/ota_lzma2.c). An
 *                       integrator with a decoder of their own turns it off
 *                       and plugs theirs in through struct ota_decoder.
 *   OTA_WITH_SIGNATURE  signature checks (today: the portable signature-form
 *                       check; the verification itself is a port).
 *   OTA_WITH_DELTA      the delta-v1 patch applier (arrives with the restore
 *                       engine; the switch is fixed now so build files need
 *                       not change later).
 *   OTA_WITH_TRANSFORMS the delta-v2 operand-aware add (src/ota_transform.c,
 *                       docs/formats/delta-v2-transforms.md). Off: a delta-v2
 *                       stream with transform arch 0 still restores, any
 *                       other arch is refused with OTA_ERR_UNSUPPORTED.
 *   OTA_TRANSFORM_THUMB2, OTA_TRANSFORM_AARCH64, OTA_TRANSFORM_ARM32
 *                       one transform set each (default: OTA_WITH_TRANSFORMS).
 *                       A build without AARCH64 keeps addresses and map keys
 *                       in 32 bits.
 *   OTA_JOURNAL_FAULTS  default 0. The host/test build sets 1: the journal's
 *                       deliberately wrong rules (struct ota_journal_config
 *                       .fault), the power-cut sweep's negative controls.
 *                       Never on a device.
 */
#ifndef OTA_CONFIG_H
#define OTA_CONFIG_H

#ifndef OTA_JOURNAL_FAULTS
#define OTA_JOURNAL_FAULTS 0
#endif
#ifndef OTA_WITH_LZMA2
#define OTA_WITH_LZMA2 1
#endif
#ifndef OTA_WITH_SIGNATURE
#define OTA_WITH_SIGNATURE 1
#endif
#ifndef OTA_WITH_DELTA
#define OTA_WITH_DELTA 1
#endif
#ifndef OTA_WITH_TRANSFORMS
#define OTA_WITH_TRANSFORMS 1
#endif
#ifndef OTA_TRANSFORM_THUMB2
#define OTA_TRANSFORM_THUMB2 OTA_WITH_TRANSFORMS
#endif
#ifndef OTA_TRANSFORM_AARCH64
#define OTA_TRANSFORM_AARCH64 OTA_WITH_TRANSFORMS
#endif
#ifndef OTA_TRANSFORM_ARM32
#define OTA_TRANSFORM_ARM32 OTA_WITH_TRANSFORMS
#endif

#endif
