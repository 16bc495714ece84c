/* See asm/types.h: the BPF target uses the generic definitions. */
#include <asm-generic/posix_types.h>
