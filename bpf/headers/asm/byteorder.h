/* See asm/types.h: BPF objects are generated for little-endian targets only (bpfel). */
#include <linux/byteorder/little_endian.h>
