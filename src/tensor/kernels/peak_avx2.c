/*
 * peak_avx2.c — the FP32 compute-peak probe with AVX2 + FMA (see peak.h). AVX2 has no
 * single int8 multiply-add into int32, so the set has no int8 probe.
 */
#include "tensor/kernels/peak.h"

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#define TEN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)

uint64_t tq_peak_fp32_avx2(uint64_t iters)
{
    const __m256 x = _mm256_set1_ps(1.0f), y = _mm256_set1_ps(0.5f);
#define DECL(i) __m256 f##i = _mm256_set1_ps((float)i);
#define STEP(i) f##i = _mm256_fmadd_ps(f##i, x, y);
    TEN(DECL)
    for (uint64_t n = 0; n < iters; n++) {
        TEN(STEP)
        __asm__ volatile("" : "+x"(f0), "+x"(f1), "+x"(f2), "+x"(f3), "+x"(f4), "+x"(f5),
                         "+x"(f6), "+x"(f7), "+x"(f8), "+x"(f9));
    }
    return iters * 10 * 8;
}

#endif
