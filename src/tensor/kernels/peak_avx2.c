/*
 * peak_avx2.c — compute-peak probes with AVX2 + FMA and the memory read probe with 32-byte
 * loads (see peak.h). The int8 probe counts vpmaddubsw, 32 byte products into int16 pairs:
 * the multiply of the set's int8 GEMM (which needs a vpmaddwd per two or four of them to
 * widen the sums, so it cannot reach this peak).
 */
#include "tensor/kernels/peak.h"

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#define TEN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)

uint64_t tq_peak_int8_avx2(uint64_t iters)
{
    const __m256i s = _mm256_set1_epi8(1);
#define DECL(i) __m256i a##i = _mm256_set1_epi8((char)(i + 1));
#define STEP(i) a##i = _mm256_maddubs_epi16(a##i, s);
    TEN(DECL)
    for (uint64_t n = 0; n < iters; n++) {
        TEN(STEP)
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                         "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9));
    }
    return iters * 10 * 32; /* 32 byte products per instruction */
#undef DECL
#undef STEP
}

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

uint64_t tq_read_sum_avx2(const void *buf, size_t bytes)
{
    const __m256i *p = buf;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 32; i += 4) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256(p + i));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256(p + i + 1));
        s2 = _mm256_add_epi64(s2, _mm256_load_si256(p + i + 2));
        s3 = _mm256_add_epi64(s3, _mm256_load_si256(p + i + 3));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (uint64_t)_mm_cvtsi128_si64(t) + (uint64_t)_mm_extract_epi64(t, 1);
}

#endif
