/* The part of <string.h> the device library uses, for freestanding builds
 * without a C library (GCC ships stddef.h and stdint.h, not string.h).
 * port/cortexm/minilibc.c implements these four; a firmware with newlib or
 * picolibc uses its own string.h instead. */
#ifndef OTA_FREESTANDING_STRING_H
#define OTA_FREESTANDING_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
