#include "semihost.h"

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_FLEN = 0x0C,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT_EXTENDED = 0x20
};
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uintptr_t call(uintptr_t op, const void *arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t length(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int ota_sh_open(const char *path, int mode)
{
    uintptr_t a[3];
    a[0] = (uintptr_t)path;
    a[1] = (uintptr_t)mode;
    a[2] = length(path);
    return (int)call(SYS_OPEN, a);
}

int ota_sh_close(int handle)
{
    uintptr_t a[1];
    a[0] = (uintptr_t)handle;
    return (int)call(SYS_CLOSE, a);
}

/* SYS_READ and SYS_WRITE return the number of bytes NOT transferred. */
size_t ota_sh_read(int handle, void *buf, size_t len)
{
    uintptr_t a[3];
    a[0] = (uintptr_t)handle;
    a[1] = (uintptr_t)buf;
    a[2] = len;
    return len - (size_t)call(SYS_READ, a);
}

size_t ota_sh_write(int handle, const void *buf, size_t len)
{
    uintptr_t a[3];
    a[0] = (uintptr_t)handle;
    a[1] = (uintptr_t)buf;
    a[2] = len;
    return len - (size_t)call(SYS_WRITE, a);
}

long ota_sh_flen(int handle)
{
    uintptr_t a[1];
    a[0] = (uintptr_t)handle;
    return (long)call(SYS_FLEN, a);
}

int ota_sh_cmdline(char *buf, size_t len)
{
    uintptr_t a[2];
    a[0] = (uintptr_t)buf;
    a[1] = len;
    return (int)call(SYS_GET_CMDLINE, a);
}

void ota_sh_puts(const char *s)
{
    call(SYS_WRITE0, s);
}

void ota_sh_exit(int code)
{
    uintptr_t a[2];
    a[0] = ADP_STOPPED_APPLICATION_EXIT;
    a[1] = (uintptr_t)code;
    call(SYS_EXIT_EXTENDED, a);
    for (;;) /* not reached under QEMU */
        ;
}

void ota_sh_put_u32(uint32_t v)
{
    char s[11];
    int i = 10;
    s[i] = 0;
    do {
        s[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ota_sh_puts(s + i);
}
