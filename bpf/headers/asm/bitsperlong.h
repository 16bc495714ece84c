/* See asm/types.h: BPF is a 64-bit target everywhere. */
#include <asm-generic/bitsperlong.h>
