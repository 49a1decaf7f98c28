/*
 * gemm_vnni256.h — the int8 GEMM of gemm.h with 256-bit vpdpbusd, for CPUs with AVX-VNNI
 * but no AVX-512 (Intel's since Alder Lake, the N100-class mini-PCs among them), where the
 * AVX2 kernel needs vpmaddubsw, int16 adds and a vpmaddwd for what one vpdpbusd does.
 *
 * Included twice, each time with VNNI_DPBUSD (the intrinsic) and VNNI_NAME(x) defined:
 * by gemm_avxvnni.c, built with -mavxvnni (the VEX encoding those CPUs run), and by
 * gemm_avx512.c, where the same instruction exists in its AVX-512 VL encoding. CPUs with
 * AVX-512 VNNI mostly lack AVX-VNNI's encoding, so the second copy is the one the tests can
 * run on them (kernel set "avxvnni" there); the arithmetic is the same instruction's.
 *
 * Same panels, packed activations and arithmetic as the AVX-512 kernel (sums start from
 * corr, K-quant super-blocks summed in integers with one vpmulld per block, the float steps
 * in tq_gemm_ref's order: bit-identical to it), with a tile for 16 registers: 4 panel rows
 * x one group of 16 columns (two registers of 8), a block's int32 sums in 8 registers, 2 for
 * the activations, one for a broadcast; the float accumulators, and the K-quants' super-
 * block sums, in L1. With those sums in registers too, only 2 rows fit, and two loads per
 * two vpdpbusd held Q4_K and Q5_K to 1.14-1.22x the AVX2 kernel and Q6_K below it, where
 * 4 rows give 1.19-1.27x and 1.12x (pp512 on Zen 4, alternating runs).
 */
#ifndef HEARTH_TENSOR_KERNELS_GEMM_VNNI256_H
#define HEARTH_TENSOR_KERNELS_GEMM_VNNI256_H

#include <immintrin.h>

#include "tensor/kernels/gemm.h"
#include "tensor/kernels/gemm_x86.h"
#include "tensor/kernels/peak.h"
#include "tensor/quant.h"

#define VNNI_INLINE static inline __attribute__((always_inline))

/* s[r][h] = corr + the products of block b of panel rows r0 .. r0+3 with the 8 columns h
 * of record ra. */
VNNI_INLINE void vnni_block(const tq_gemm_panel *p, int r0, int b, const uint8_t *ra,
                            const int bs, __m256i s[4][2])
{
    const int nblk = p->nblk, ld = nblk * bs;
    const int8_t *qb = p->q + (size_t)r0 * ld + (size_t)b * bs;
    #pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        s[r][0] = s[r][1] = _mm256_set1_epi32(p->corr[(size_t)(r0 + r) * nblk + b]);
    #pragma GCC unroll 8
    for (int g = 0; g < bs / 4; g++) {
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(ra + 64 * g));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(ra + 64 * g + 32));
        #pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m256i w = gx_bcast_q(qb + (size_t)r * ld + 4 * g);
            s[r][0] = VNNI_DPBUSD(s[r][0], a0, w);
            s[r][1] = VNNI_DPBUSD(s[r][1], a1, w);
        }
    }
}

/* acc[r] (16 columns) += the products of panel rows r0 .. r0+3 with the group at a. */
VNNI_INLINE void vnni_tile(const tq_gemm_panel *p, int r0, const uint8_t *a, const int bs,
                           const bool has_min, float acc[4][16])
{
    const int nblk = p->nblk;
    const size_t rec = tq_gemm_record_size(bs), o = (size_t)r0 * nblk;
    for (int b = 0; b < nblk; b++) {
        const uint8_t *ra = a + (size_t)b * rec;
        __m256i s[4][2];
        vnni_block(p, r0, b, ra, bs, s);
        const float *da = (const float *)(ra + TQ_GEMM_COLS * bs);
        for (int h = 0; h < 2; h++) {
            const __m256 dav = _mm256_loadu_ps(da + 8 * h);
            for (int r = 0; r < 4; r++) {
                __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s[r][h]), dav);
                __m256 f = _mm256_fmadd_ps(v, _mm256_set1_ps(p->d[o + r * nblk + b]),
                                           _mm256_loadu_ps(acc[r] + 8 * h));
                if (has_min)
                    f = _mm256_fmadd_ps(_mm256_set1_ps(p->m[o + r * nblk + b]),
                                        _mm256_loadu_ps(da + TQ_GEMM_COLS + 8 * h), f);
                _mm256_storeu_ps(acc[r] + 8 * h, f);
            }
        }
    }
}

/* The same for K-quant panels: T = sum(sc * isum) per super-block, M = sum(mn * A) from
 * the int16 pairs, then the float steps (gemm.h). */
VNNI_INLINE void vnni_tile_k(const tq_gemm_panel *p, int r0, const uint8_t *a, const int bs,
                             const bool has_min, float acc[4][16])
{
    const int nblk = p->nblk, sub = QK_K / bs;
    const size_t rec = tq_gemm_record_size(bs), o = (size_t)r0 * nblk;
    for (int b0 = 0; b0 < nblk; b0 += sub) {
        int32_t T[4][16] = { { 0 } }; /* in L1: the registers hold the block's sums */
        for (int b = b0; b < b0 + sub; b++) {
            __m256i s[4][2];
            vnni_block(p, r0, b, a + (size_t)b * rec, bs, s);
            for (int r = 0; r < 4; r++) {
                const __m256i sc = _mm256_set1_epi32(p->sc[o + r * nblk + b]);
                for (int h = 0; h < 2; h++) {
                    __m256i *t = (__m256i *)(T[r] + 8 * h);
                    _mm256_storeu_si256(t, _mm256_add_epi32(_mm256_loadu_si256(t),
                                                            _mm256_mullo_epi32(s[r][h], sc)));
                }
            }
        }
        const uint8_t *rb = a + (size_t)b0 * rec;
        for (int h = 0; h < 2; h++) {
            const __m256 dav = _mm256_loadu_ps((const float *)(rb + TQ_GEMM_COLS * bs) + 8 * h);
            for (int r = 0; r < 4; r++) {
                const __m256i Tv = _mm256_loadu_si256((const __m256i *)(T[r] + 8 * h));
                const __m256 f = gx_kquant_f(p, o + r * nblk + b0, rb, bs, h, Tv, has_min);
                _mm256_storeu_ps(acc[r] + 8 * h,
                                 _mm256_fmadd_ps(f, dav, _mm256_loadu_ps(acc[r] + 8 * h)));
            }
        }
    }
}

VNNI_INLINE void vnni_gemm(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride,
                           float *y, int ldy, int rows, int cols, bool accumulate, const int bs,
                           const bool has_min, const bool kquant)
{
    const int ngroups = (cols + TQ_GEMM_COLS - 1) / TQ_GEMM_COLS;
    for (int G = 0; G < ngroups; G++) {
        const uint8_t *a = act + (size_t)G * group_stride;
        /* t[c][r]: the tile turned around, so each output row is written as one run */
        float t[TQ_GEMM_COLS][TQ_GEMM_ROWS];
        for (int r0 = 0; r0 < rows; r0 += 4) {
            float acc[4][16] = { { 0 } };
            if (kquant)
                vnni_tile_k(p, r0, a, bs, has_min, acc);
            else
                vnni_tile(p, r0, a, bs, has_min, acc);
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < TQ_GEMM_COLS; c++)
                    t[c][r0 + r] = acc[r][c];
        }
        gx_store_t(t, y, ldy, rows, G * TQ_GEMM_COLS, cols, accumulate);
    }
}

#define VNNI_VARIANT(name, bs, has_min, kquant)                                                \
    static __attribute__((noinline)) void VNNI_NAME(name)(const tq_gemm_panel *p,             \
                                                          const uint8_t *act, size_t gs,      \
                                                          float *y, int ldy, int rows,        \
                                                          int cols, bool accumulate)          \
    {                                                                                          \
        vnni_gemm(p, act, gs, y, ldy, rows, cols, accumulate, bs, has_min, kquant);            \
    }
VNNI_VARIANT(vnni_plain, 32, false, false)
VNNI_VARIANT(vnni_min, 32, true, false)
VNNI_VARIANT(vnni_q45k, 32, true, true)
VNNI_VARIANT(vnni_q6k, 16, false, true)
VNNI_VARIANT(vnni_q2k, 16, true, true)

void VNNI_NAME(tq_gemm)(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride,
                        float *y, int ldy, int rows, int cols, bool accumulate)
{
    if (p->sub && p->bs == 16 && p->has_min)
        VNNI_NAME(vnni_q2k)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->sub && p->bs == 16)
        VNNI_NAME(vnni_q6k)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->sub)
        VNNI_NAME(vnni_q45k)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->has_min)
        VNNI_NAME(vnni_min)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else
        VNNI_NAME(vnni_plain)(p, act, group_stride, y, ldy, rows, cols, accumulate);
}

/* The compute-peak probe of the set (peak.h): ten chains of vpdpbusd, 32 products each. */
uint64_t VNNI_NAME(tq_peak_int8)(uint64_t iters)
{
    const __m256i s = _mm256_set1_epi8(1), u = _mm256_set1_epi8(2);
#define VNNI_DECL(i) __m256i a##i = _mm256_set1_epi32(i);
#define VNNI_STEP(i) a##i = VNNI_DPBUSD(a##i, u, s);
    VNNI_DECL(0) VNNI_DECL(1) VNNI_DECL(2) VNNI_DECL(3) VNNI_DECL(4)
    VNNI_DECL(5) VNNI_DECL(6) VNNI_DECL(7) VNNI_DECL(8) VNNI_DECL(9)
    for (uint64_t n = 0; n < iters; n++) {
        VNNI_STEP(0) VNNI_STEP(1) VNNI_STEP(2) VNNI_STEP(3) VNNI_STEP(4)
        VNNI_STEP(5) VNNI_STEP(6) VNNI_STEP(7) VNNI_STEP(8) VNNI_STEP(9)
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                         "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9));
    }
    return iters * 10 * 32;
#undef VNNI_DECL
#undef VNNI_STEP
}

#endif
