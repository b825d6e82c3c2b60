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
 */
#ifndef OTA_CONFIG_H
#define OTA_CONFIG_H

#ifndef OTA_WITH_LZMA2
#define OTA_WITH_LZMA2 1
#endif
#ifndef OTA_WITH_SIGNATURE
#define OTA_WITH_SIGNATURE 1
#endif
#ifndef OTA_WITH_DELTA
#define OTA_WITH_DELTA 1
#endif

#endif
