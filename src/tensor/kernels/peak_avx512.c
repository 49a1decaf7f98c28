/*
 * peak_avx512.c — compute-peak probes and the memory read probe (64-byte loads) with
 * AVX-512 (see peak.h). The empty asm statement
 * after each round tells the compiler the registers are used, so it keeps the ten chains
 * in registers and does not fold the loop away.
 */
#include "tensor/kernels/peak.h"

#if defined(__AVX512F__) && defined(__AVX512VNNI__)

#include <immintrin.h>

#define TEN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#define KEEP(v) __asm__ volatile("" : "+v"(v##0), "+v"(v##1), "+v"(v##2), "+v"(v##3), \
                                 "+v"(v##4), "+v"(v##5), "+v"(v##6), "+v"(v##7), "+v"(v##8), \
                                 "+v"(v##9))

uint64_t tq_peak_int8_avx512(uint64_t iters)
{
    const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-5);
#define DECL(i) __m512i a##i = _mm512_set1_epi32(i);
#define STEP(i) a##i = _mm512_dpbusd_epi32(a##i, u, s);
    TEN(DECL)
    for (uint64_t n = 0; n < iters; n++) {
        TEN(STEP)
        KEEP(a);
    }
    return iters * 10 * 64; /* 64 byte products per instruction */
#undef DECL
#undef STEP
}

uint64_t tq_peak_fp32_avx512(uint64_t iters)
{
    const __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(0.5f);
#define DECL(i) __m512 f##i = _mm512_set1_ps((float)i);
#define STEP(i) f##i = _mm512_fmadd_ps(f##i, x, y);
    TEN(DECL)
    for (uint64_t n = 0; n < iters; n++) {
        TEN(STEP)
        KEEP(f);
    }
    return iters * 10 * 16;
#undef DECL
#undef STEP
}

uint64_t tq_read_sum_avx512(const void *buf, size_t bytes)
{
    const __m512i *p = buf;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 64; i += 4) {
        s0 = _mm512_add_epi64(s0, _mm512_load_si512(p + i));
        s1 = _mm512_add_epi64(s1, _mm512_load_si512(p + i + 1));
        s2 = _mm512_add_epi64(s2, _mm512_load_si512(p + i + 2));
        s3 = _mm512_add_epi64(s3, _mm512_load_si512(p + i + 3));
    }
    /* summed as unsigned words: _mm512_reduce_add_epi64 adds signed ones, which overflow */
    uint64_t w[8], total = 0;
    _mm512_storeu_si512(w, _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
    for (int i = 0; i < 8; i++)
        total += w[i];
    return total;
}

#endif
