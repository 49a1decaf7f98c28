/*
 * peak_ref.c — the portable memory read probe (see peak.h): 16-byte vectors of the
 * compiler's generic vector extension, which every target lowers to its native loads.
 */
#include "tensor/kernels/peak.h"

typedef uint64_t v2u64 __attribute__((vector_size(16)));

uint64_t tq_read_sum_ref(const void *buf, size_t bytes)
{
    const v2u64 *p = buf;
    v2u64 s0 = { 0, 0 }, s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 16; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    const v2u64 s = s0 + s1 + s2 + s3;
    return s[0] + s[1];
}
