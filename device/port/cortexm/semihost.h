/* ARM semihosting (bkpt 0xAB on M-profile): files and the command line of
 * the host that runs the target (QEMU with -semihosting-config), so target
 * tests need no UART driver and no file system. */
#ifndef OTA_SEMIHOST_H
#define OTA_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* SYS_OPEN modes (the fopen() strings "rb" and "wb") */
#define OTA_SH_READ_BINARY 1
#define OTA_SH_WRITE_BINARY 5

int ota_sh_open(const char *path, int mode);       /* handle, or -1 */
int ota_sh_close(int handle);
size_t ota_sh_read(int handle, void *buf, size_t len);         /* bytes read; 0 at end */
size_t ota_sh_write(int handle, const void *buf, size_t len);  /* bytes written */
long ota_sh_flen(int handle);
/* The command line QEMU passes (its arg=... joined by spaces); 0 on success. */
int ota_sh_cmdline(char *buf, size_t len);
void ota_sh_puts(const char *s);                    /* SYS_WRITE0 to the host console */
void ota_sh_put_u32(uint32_t v);                    /* v in decimal to the host console */
void ota_sh_exit(int code) __attribute__((noreturn)); /* SYS_EXIT_EXTENDED: QEMU exits with `code` */

#endif
