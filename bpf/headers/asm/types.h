/* Shim so that <linux/types.h> resolves without a multiarch include directory: the BPF target has
 * one integer model on every host, the asm-generic one. */
#include <asm-generic/types.h>
