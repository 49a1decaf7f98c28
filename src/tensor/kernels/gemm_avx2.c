/*
 * gemm_avx2.c — the float GEMM (layout in gemm.h) with AVX2 and FMA: the batched path of
 * machines without AVX-512, for float and quantized weights alike.
 *
 * AVX2 has no instruction that multiplies int8 into int32 sums (vpmaddubsw saturates int16
 * for Q8_0's range, and needs two more instructions per 32 values), so quantized panels are
 * decoded to F32 as well: tq_dequantize per row into a buffer of 32 rows, then an 8 x 8
 * register transpose into the k-major panel. Without it a batch took one matrix-vector
 * product per row: pp512 on the Q4_0 1B-shaped model ran at 16 tokens/s, slower than
 * generation.
 *
 * The tile is 2 batch rows x 32 weight rows: 8 accumulators, 4 panel loads and 2 broadcasts
 * per 8 fused multiply-adds, in 13 of the 16 vector registers; eight independent chains
 * cover the FMA latency of two pipes.
 */
#include "tensor/kernels/gemm.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

#define INLINE static inline __attribute__((always_inline))

/* 32 int8 values times d, as floats in out[0 .. 32). */
INLINE void scale_store32(__m256i q, float d, float *out)
{
    const __m256 dv = _mm256_set1_ps(d);
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(out, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(
                                               _mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
    _mm256_storeu_ps(out + 16, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
    _mm256_storeu_ps(out + 24, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(
                                                _mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
}

/* 32 unsigned values u (bytes) as d * u - m in out[0 .. 32): a multiply, then a subtract,
 * as tq_dequantize rounds them (this file is built with -ffp-contract=off, so the two are
 * never fused). */
INLINE void affine_store32(__m256i u, float d, float m, float *out)
{
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    const __m128i lo = _mm256_castsi256_si128(u), hi = _mm256_extracti128_si256(u, 1);
    const __m128i part[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };
    for (int i = 0; i < 4; i++) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[i]));
        _mm256_storeu_ps(out + 8 * i, _mm256_sub_ps(_mm256_mul_ps(dv, v), mv));
    }
}

/* 32 unsigned values u as d0 * u - m0 (the first 16) and d1 * u - m1 (the last 16). */
INLINE void affine2_store32(__m256i u, float d0, float m0, float d1, float m1, float *out)
{
    const __m128i lo = _mm256_castsi256_si128(u), hi = _mm256_extracti128_si256(u, 1);
    const __m128i part[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };
    for (int i = 0; i < 4; i++) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[i]));
        __m256 dv = _mm256_set1_ps(i < 2 ? d0 : d1), mv = _mm256_set1_ps(i < 2 ? m0 : m1);
        _mm256_storeu_ps(out + 8 * i, _mm256_sub_ps(_mm256_mul_ps(dv, v), mv));
    }
}

/* 32 int8 values q as s0 * q (the first 16) and s1 * q (the last 16) in out[0 .. 32). */
INLINE void scale2_store32(__m256i q, float s0, float s1, float *out)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i part[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };
    for (int i = 0; i < 4; i++) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[i]));
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(_mm256_set1_ps(i < 2 ? s0 : s1), v));
    }
}

/* Row values k0 .. k0+kc-1 as floats in out[0 .. kpad), zero past kc. Q4_0, Q8_0, Q2_K,
 * Q3_K, Q4_K, Q5_K and Q6_K are decoded here (the plain-C decoder was a tenth of a prompt, for Q5_K
 * nearly a third); the arithmetic is tq_dequantize's, so the values are the same to the
 * bit. */
static void decode_row(int type, const uint8_t *row, int k0, int kc, int kpad, float *out)
{
    int k = 0;
    if (type == TQ_Q4_0) {
        const block_q4_0 *x = (const block_q4_0 *)row + k0 / QK4_0;
        const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
        for (; k < kc; k += QK4_0, x++) {
            __m128i v = _mm_loadu_si128((const __m128i *)x->qs);
            __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), eight);
            __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), eight);
            scale_store32(_mm256_set_m128i(hi, lo), tq_f16_to_f32(x->d), out + k);
        }
    } else if (type == TQ_Q8_0) {
        const block_q8_0 *x = (const block_q8_0 *)row + k0 / QK8_0;
        for (; k < kc; k += QK8_0, x++)
            scale_store32(_mm256_loadu_si256((const __m256i *)x->qs), tq_f16_to_f32(x->d),
                          out + k);
    } else if (type == TQ_Q4_K || type == TQ_Q5_K) {
        /* Q5_K: Q4_K's layout with qh in front of qs; bit 2j (2j + 1) of qh[l] tops the
         * low (high) nibble of qs[32 j + l] */
        const size_t bsz = type == TQ_Q4_K ? sizeof(block_q4_K) : sizeof(block_q5_K);
        const uint8_t *x = row + (size_t)(k0 / QK_K) * bsz;
        const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
        for (; k < kc; k += QK_K, x += bsz) {
            const block_q4_K *b4 = (const block_q4_K *)x;
            const block_q5_K *b5 = (const block_q5_K *)x;
            const bool q4 = type == TQ_Q4_K;
            const uint8_t *qs = q4 ? b4->qs : b5->qs;
            const __m256i qh = q4 ? _mm256_setzero_si256()
                                  : _mm256_loadu_si256((const __m256i *)b5->qh);
            const float d = tq_f16_to_f32(q4 ? b4->d : b5->d);
            const float dmin = tq_f16_to_f32(q4 ? b4->dmin : b5->dmin);
            uint32_t w[4];
            uint8_t sm[16]; /* scales of the eight sub-blocks, then their mins */
            kq_unpack_scales_q4k(q4 ? b4->scales : b5->scales, w);
            memcpy(sm, w, sizeof sm);
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
                __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one);
                __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one);
                float *o = out + k + 64 * j;
                affine_store32(_mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(h0, 4)),
                               d * (float)sm[2 * j], dmin * (float)sm[8 + 2 * j], o);
                affine_store32(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                               _mm256_slli_epi16(h1, 4)),
                               d * (float)sm[2 * j + 1], dmin * (float)sm[9 + 2 * j], o + 32);
            }
        }
    } else if (type == TQ_Q6_K) {
        /* value l + 32 g of a 128-value half: the nibble of ql[l + 32 (g & 1)] picked by
         * g >> 1, with bits 2g, 2g+1 of qh[l] on top, minus 32; scale sc[l / 16 + 2 g] */
        const block_q6_K *x = (const block_q6_K *)row + k0 / QK_K;
        const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
        const __m256i bias = _mm256_set1_epi8(32);
        for (; k < kc; k += QK_K, x++) {
            const float d = tq_f16_to_f32(x->d);
            for (int half = 0; half < 2; half++) {
                const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * half));
                const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * half + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * half));
                const int8_t *sc = x->scales + 8 * half;
                for (int g = 0; g < 4; g++) {
                    __m256i lo = g & 1 ? ql1 : ql0;
                    if (g >> 1)
                        lo = _mm256_srli_epi16(lo, 4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m3);
                    __m256i q = _mm256_sub_epi8(
                        _mm256_or_si256(_mm256_and_si256(lo, m4), _mm256_slli_epi16(hi, 4)),
                        bias);
                    scale2_store32(q, d * (float)sc[2 * g], d * (float)sc[2 * g + 1],
                                   out + k + 128 * half + 32 * g);
                }
            }
        }
    } else if (type == TQ_Q2_K || type == TQ_Q3_K) {
        /* value l + 16 k of group 2 (4 half + s) + k: bits 2s, 2s+1 of qs[32 half + 16 k + l]
         * (Q3_K: less 4 where bit 4 half + s of hmask[16 k + l] is clear) */
        const size_t bsz = type == TQ_Q2_K ? sizeof(block_q2_K) : sizeof(block_q3_K);
        const uint8_t *x = row + (size_t)(k0 / QK_K) * bsz;
        const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
        for (; k < kc; k += QK_K, x += bsz) {
            const block_q2_K *b2 = (const block_q2_K *)x;
            const block_q3_K *b3 = (const block_q3_K *)x;
            const bool q2 = type == TQ_Q2_K;
            const float d = tq_f16_to_f32(q2 ? b2->d : b3->d);
            const float dmin = q2 ? tq_f16_to_f32(b2->dmin) : 0.0f;
            uint32_t w[4] = { 0 };
            uint8_t s3[16]; /* Q3_K's scales, biased by 32 */
            if (!q2) /* a Q2_K block is shorter: b3->scales would lie past its end */
                kq_unpack_scales_q3k(b3->scales, w);
            memcpy(s3, w, sizeof s3);
            const __m256i hm = q2 ? _mm256_setzero_si256()
                                  : _mm256_loadu_si256((const __m256i *)b3->hmask);
            for (int half = 0; half < 2; half++) {
                const __m256i qs = _mm256_loadu_si256(
                    (const __m256i *)((q2 ? b2->qs : b3->qs) + 32 * half));
                for (int sh = 0; sh < 4; sh++) {
                    const int g = 2 * (4 * half + sh);
                    float *o = out + k + 16 * g;
                    __m256i v = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * sh), m3);
                    if (q2) {
                        const uint8_t a = b2->scales[g], b = b2->scales[g + 1];
                        affine2_store32(v, d * (float)(a & 0xf), dmin * (float)(a >> 4),
                                        d * (float)(b & 0xf), dmin * (float)(b >> 4), o);
                    } else {
                        __m256i h = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * half + sh), one);
                        v = _mm256_sub_epi8(_mm256_or_si256(v, _mm256_slli_epi16(h, 2)),
                                            _mm256_set1_epi8(4));
                        scale2_store32(v, d * (float)(s3[g] - 32), d * (float)(s3[g + 1] - 32), o);
                    }
                }
            }
        }
    } else if (type == TQ_F16) {
        for (; k + 8 <= kc; k += 8)
            _mm256_storeu_ps(out + k, _mm256_cvtph_ps(_mm_loadu_si128(
                                          (const __m128i *)((const tq_f16 *)row + k0 + k))));
    } else if (type == TQ_BF16) {
        for (; k + 8 <= kc; k += 8) {
            __m256i w = _mm256_cvtepu16_epi32(
                _mm_loadu_si128((const __m128i *)((const tq_bf16 *)row + k0 + k)));
            _mm256_storeu_ps(out + k, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
    }
    if (k < kc)
        tq_gemmf_decode_row(type, row, k0 + k, kc - k, out + k);
    memset(out + kc, 0, (size_t)(kpad - kc) * sizeof(float));
}

/* Rows v[0..7] (8 values each) -> out + j * stride for value j (lanes: the 8 rows). */
INLINE void transpose8_store(const float *src, int ld, float *out, int stride)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + (size_t)i * ld);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + j]: in each 128-bit lane L, rows 4i .. 4i+3 of value 4L + j */
    for (int i = 0; i < 2; i++) {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(out + (size_t)j * stride, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
        _mm256_storeu_ps(out + (size_t)(4 + j) * stride,
                         _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
    }
}

void tq_gemmf_unpack_avx2(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                          float *panel)
{
    const int kpad = (kc + 15) & ~15;
    float tmp[TQ_GEMMF_ROWS][TQ_GEMMF_KC];
    for (int r = 0; r < TQ_GEMMF_ROWS; r++) {
        if (r < rows)
            decode_row(type, (const uint8_t *)W + (size_t)r * w_row, k0, kc, kpad, tmp[r]);
        else
            memset(tmp[r], 0, (size_t)kpad * sizeof(float));
    }
    for (int r0 = 0; r0 < TQ_GEMMF_ROWS; r0 += 8)
        for (int k = 0; k < kpad; k += 8)
            transpose8_store(&tmp[r0][k], TQ_GEMMF_KC, panel + (size_t)k * TQ_GEMMF_ROWS + r0,
                             TQ_GEMMF_ROWS);
}

/* Write the 16 outputs lo, hi of one batch row to out[0 .. rows) (rows <= 16), adding
 * what is there. */
INLINE void store_half(float *out, __m256 lo, __m256 hi, int rows, bool accumulate)
{
    float l[16];
    float *dst = rows == 16 && !accumulate ? out : l;
    _mm256_storeu_ps(dst, lo);
    _mm256_storeu_ps(dst + 8, hi);
    if (dst == l)
        for (int r = 0; r < rows; r++)
            out[r] = accumulate ? out[r] + l[r] : l[r];
}

/* nc batch rows x 16 weight rows (one half of the panel, columns half*16 ..): two
 * accumulators per batch row, so five rows give ten independent FMA chains. */
INLINE void tile(const float *panel, int half, int kc, const float *x, size_t ldx, float *y,
                 int ldy, const int nc, int rows, bool accumulate)
{
    __m256 acc[5][2];
    #pragma GCC unroll 5
    for (int j = 0; j < nc; j++)
        acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    const float *p = panel + 16 * half;
    for (int k = 0; k < kc; k++, p += TQ_GEMMF_ROWS) {
        const __m256 w0 = _mm256_loadu_ps(p), w1 = _mm256_loadu_ps(p + 8);
        #pragma GCC unroll 5
        for (int j = 0; j < nc; j++) {
            __m256 b = _mm256_broadcast_ss(x + (size_t)j * ldx + k);
            acc[j][0] = _mm256_fmadd_ps(w0, b, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(w1, b, acc[j][1]);
        }
    }
    #pragma GCC unroll 5
    for (int j = 0; j < nc; j++)
        store_half(y + (size_t)j * ldy + 16 * half, acc[j][0], acc[j][1], rows, accumulate);
}

void tq_gemmf_avx2(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                   int rows, int cols, bool accumulate)
{
    for (int half = 0; half < 2 && rows > 16 * half; half++) {
        const int hr = rows - 16 * half < 16 ? rows - 16 * half : 16;
        int c = 0;
        for (; c + 5 <= cols; c += 5)
            tile(panel, half, kc, x + (size_t)c * ldx, ldx, y + (size_t)c * ldy, ldy, 5, hr,
                 accumulate);
        for (; c < cols; c++)
            tile(panel, half, kc, x + (size_t)c * ldx, ldx, y + (size_t)c * ldy, ldy, 1, hr,
                 accumulate);
    }
}

#endif /* AVX2, FMA, F16C */
