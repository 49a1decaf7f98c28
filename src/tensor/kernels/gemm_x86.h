/*
 * gemm_x86.h — what the two 256-bit int8 GEMMs (gemm_avx2.c, gemm_vnni256.h) share: the
 * broadcast of a panel row's 4 quants, the K-quants' float steps at the end of a super-
 * block, and the store of a tile turned around. Static inline, compiled with each
 * includer's flags (AVX2 and FMA at least).
 */
#ifndef HEARTH_TENSOR_KERNELS_GEMM_X86_H
#define HEARTH_TENSOR_KERNELS_GEMM_X86_H

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/kernels/gemm.h"

#define GX_INLINE static inline __attribute__((always_inline))

/* The dword of 4 quants at p in every lane. */
GX_INLINE __m256i gx_bcast_q(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* A K-quant super-block's float value for 8 columns (h: which 8 of the group), from its
 * integer sum T of panel row offset ob (gemm.h): T * d, plus M * dm with the mins' sum M
 * taken from the int16 pairs of the activation records at rb. */
GX_INLINE __m256 gx_kquant_f(const tq_gemm_panel *p, size_t ob, const uint8_t *rb, int bs,
                             int h, __m256i T, bool has_min)
{
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(T), _mm256_set1_ps(p->d[ob]));
    if (!has_min)
        return f;
    const size_t rec = tq_gemm_record_size(bs);
    __m256i M = _mm256_setzero_si256();
    for (int j = 0; j < p->sub; j += 2) {
        const uint8_t *sa = rb + (size_t)j * rec + TQ_GEMM_COLS * (bs + 4) + 32 * h;
        M = _mm256_add_epi32(M, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)sa),
                                                  _mm256_set1_epi32(p->mn[ob + j])));
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(M), _mm256_set1_ps(p->m[ob]), f);
}

/* y[(c0 + c) * ldy + r] (+)= t[c][r] for r < rows, c0 + c < cols: each output row one run.
 * Plain stores: vmaskmovps stores are microcoded and slow on AMD cores. */
GX_INLINE void gx_store_t(float t[TQ_GEMM_COLS][TQ_GEMM_ROWS], float *y, int ldy,
                          int rows, int c0, int cols, bool accumulate)
{
    for (int c = 0; c < TQ_GEMM_COLS && c0 + c < cols; c++) {
        float *out = y + (size_t)(c0 + c) * ldy;
        if (rows < TQ_GEMM_ROWS) {
            for (int r = 0; r < rows; r++)
                out[r] = accumulate ? out[r] + t[c][r] : t[c][r];
            continue;
        }
        __m256 v0 = _mm256_loadu_ps(t[c]), v1 = _mm256_loadu_ps(t[c] + 8);
        if (accumulate) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(out));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(out + 8));
        }
        _mm256_storeu_ps(out, v0);
        _mm256_storeu_ps(out + 8, v1);
    }
}

#endif
