/* Vector table and reset code for the QEMU Cortex-M targets: no libc, no
 * CMSIS. Reset copies .data from flash, zeroes .bss (the workspace lives in
 * .noinit: the decoder does not need zeroed memory, and zeroing megabytes
 * would dominate a short run), calls main() and hands its result to the
 * host as the exit code. Any fault exits with 0x7F. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], __stack_top[];
int main(void);

void Reset_Handler(void);
void Fault_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = _sidata, *dst = _sdata;
    while (dst < _edata)
        *dst++ = *src++;
    for (dst = _sbss; dst < _ebss; dst++)
        *dst = 0;
    ota_sh_exit(main());
}

void Fault_Handler(void)
{
    ota_sh_puts("fault\n");
    ota_sh_exit(0x7F);
}

/* The architecture's layout: initial SP, then the 15 system exceptions. */
struct vector_table {
    uint32_t *stack_top;
    void (*handler[15])(void);
};

__attribute__((section(".vectors"), used)) const struct vector_table vectors = {
    __stack_top,
    {Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
     Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler},
};
