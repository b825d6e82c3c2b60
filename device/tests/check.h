/* Minimal check macros for the host test programs: every failed CHECK
 * prints its line and the run exits 1 at the end. */
#ifndef OTA_TEST_CHECK_H
#define OTA_TEST_CHECK_H

#include <stdio.h>

static unsigned long checks_run, checks_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        checks_run++;                                                                  \
        if (!(cond)) {                                                                 \
            checks_failed++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_EQ_STATUS(got, want)                                                     \
    do {                                                                               \
        enum ota_status got_ = (got), want_ = (want);                                  \
        checks_run++;                                                                  \
        if (got_ != want_) {                                                           \
            checks_failed++;                                                           \
            fprintf(stderr, "%s:%d: %s = %s, expected %s\n", __FILE__, __LINE__, #got, \
                    ota_status_name(got_), ota_status_name(want_));                    \
        }                                                                              \
    } while (0)

static int checks_report(const char *name)
{
    printf("%s: %lu checks, %lu failed\n", name, checks_run, checks_failed);
    return checks_failed ? 1 : 0;
}

#endif
