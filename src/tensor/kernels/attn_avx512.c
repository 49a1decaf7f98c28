/*
 * attn_avx512.c — AVX-512 attention over an F16 KV cache (see attn.h).
 *
 * The small loops over heads, positions and registers are fully unrolled (pragmas) so the
 * accumulators stay in registers. Heads are taken four at a time. Scores: four key rows are converted 16 values at a time
 * and multiplied into the four heads' partial sums, and the 16 partial-sum registers are
 * reduced together (reduce16); leftover rows and head groups go one row at a time. The
 * softmax uses a vector e^x (exp_neg) instead of libm's scalar expf. Values: the
 * output of four heads x 64 dimensions is 16 registers that stay put while the value rows
 * stream past, each 16-value piece converted once and used by the four heads; wider heads
 * take several 64-dimension passes over V (the rows are then in L1/L2). Head sizes that
 * are not a multiple of 64 use the reference.
 */
#include "tensor/kernels/attn.h"

#if defined(__AVX512F__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include <math.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m512 load_f16(const tq_f16 *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* The sums of 16 vectors as the 16 lanes of one: lane k = sum of v[k]. Adds neighbours
 * within 128-bit lanes twice (floats, then pairs), then across 128-bit lanes: 45 operations
 * where 16 separate reductions take about 130. */
INLINE __m512 reduce16(const __m512 v[16])
{
    __m512 p[8], r[4];
    #pragma GCC unroll 16
    for (int m = 0; m < 8; m++)
        p[m] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * m], v[2 * m + 1]),
                             _mm512_unpackhi_ps(v[2 * m], v[2 * m + 1]));
    #pragma GCC unroll 16
    for (int m = 0; m < 4; m++) {
        __m512d a = _mm512_castps_pd(p[2 * m]), b = _mm512_castps_pd(p[2 * m + 1]);
        r[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    __m512 t1 = _mm512_add_ps(_mm512_shuffle_f32x4(r[0], r[1], 0x44),
                              _mm512_shuffle_f32x4(r[0], r[1], 0xee));
    __m512 t2 = _mm512_add_ps(_mm512_shuffle_f32x4(r[2], r[3], 0x44),
                              _mm512_shuffle_f32x4(r[2], r[3], 0xee));
    return _mm512_add_ps(_mm512_shuffle_f32x4(t1, t2, 0x88), _mm512_shuffle_f32x4(t1, t2, 0xdd));
}

/* Four heads x four positions at a time; returns the first position left for scores(). */
static int scores4x4(const tq_attn_args *a, int h0)
{
    const int hd = a->hd;
    /* lane 4p+h of the reduction -> lane 4h+p, so each head's four scores are one quarter */
    const __m512i to_heads = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    int i = 0;
    for (; i + 4 <= a->n; i += 4) {
        __m512 s[16];
        #pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            s[k] = _mm512_setzero_ps();
        for (int j = 0; j < hd; j += 16) {
            __m512 q[4];
            #pragma GCC unroll 16
            for (int h = 0; h < 4; h++)
                q[h] = _mm512_loadu_ps(a->q + (size_t)(h0 + h) * hd + j);
            #pragma GCC unroll 16
            for (int p = 0; p < 4; p++) {
                __m512 kv = load_f16(a->k + (size_t)(i + p) * a->stride + j);
                #pragma GCC unroll 16
                for (int h = 0; h < 4; h++)
                    s[4 * p + h] = _mm512_fmadd_ps(kv, q[h], s[4 * p + h]);
            }
        }
        __m512 r = _mm512_mul_ps(_mm512_permutexvar_ps(to_heads, reduce16(s)),
                                 _mm512_set1_ps(a->scale));
        _mm_storeu_ps(a->att + (size_t)(h0 + 0) * a->n + i, _mm512_extractf32x4_ps(r, 0));
        _mm_storeu_ps(a->att + (size_t)(h0 + 1) * a->n + i, _mm512_extractf32x4_ps(r, 1));
        _mm_storeu_ps(a->att + (size_t)(h0 + 2) * a->n + i, _mm512_extractf32x4_ps(r, 2));
        _mm_storeu_ps(a->att + (size_t)(h0 + 3) * a->n + i, _mm512_extractf32x4_ps(r, 3));
    }
    return i;
}

INLINE void scores(const tq_attn_args *a, int h0, const int nh)
{
    const int hd = a->hd;
    for (int i = nh == 4 ? scores4x4(a, h0) : 0; i < a->n; i++) {
        const tq_f16 *k = a->k + (size_t)i * a->stride;
        __m512 s[4];
        #pragma GCC unroll 16
        for (int h = 0; h < nh; h++)
            s[h] = _mm512_setzero_ps();
        for (int j = 0; j < hd; j += 16) {
            __m512 kv = load_f16(k + j);
            #pragma GCC unroll 16
            for (int h = 0; h < nh; h++)
                s[h] = _mm512_fmadd_ps(kv, _mm512_loadu_ps(a->q + (size_t)(h0 + h) * hd + j), s[h]);
        }
        #pragma GCC unroll 16
        for (int h = 0; h < nh; h++)
            a->att[(size_t)(h0 + h) * a->n + i] = _mm512_reduce_add_ps(s[h]) * a->scale;
    }
}

INLINE void values(const tq_attn_args *a, int h0, const int nh)
{
    const int hd = a->hd;
    for (int j0 = 0; j0 < hd; j0 += 64) {
        __m512 o[4][4];
        #pragma GCC unroll 16
        for (int h = 0; h < nh; h++)
            #pragma GCC unroll 16
            for (int c = 0; c < 4; c++)
                o[h][c] = _mm512_setzero_ps();
        for (int i = 0; i < a->n; i++) {
            const tq_f16 *v = a->v + (size_t)i * a->stride + j0;
            __m512 vv[4];
            #pragma GCC unroll 16
            for (int c = 0; c < 4; c++)
                vv[c] = load_f16(v + 16 * c);
            #pragma GCC unroll 16
            for (int h = 0; h < nh; h++) {
                __m512 w = _mm512_set1_ps(a->att[(size_t)(h0 + h) * a->n + i]);
                #pragma GCC unroll 16
                for (int c = 0; c < 4; c++)
                    o[h][c] = _mm512_fmadd_ps(w, vv[c], o[h][c]);
            }
        }
        #pragma GCC unroll 16
        for (int h = 0; h < nh; h++)
            #pragma GCC unroll 16
            for (int c = 0; c < 4; c++)
                _mm512_storeu_ps(a->out + (size_t)(h0 + h) * hd + j0 + 16 * c, o[h][c]);
    }
}

/* e^x for x <= 0, 16 at a time: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts so
 * n ln2 is exact), e^r by a degree-7 polynomial (Cephes' coefficients, about 1 ulp), and
 * 2^n applied with vscalefps, which also takes care of underflow. x is clamped at -104
 * (e^-104 underflows to 0), so -INFINITY gives 0 rather than NaN. */
INLINE __m512 exp_neg(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* In-place softmax of n >= 1 finite scores. libm's expf, one value at a time, cost as much
 * as the rest of the attention. */
static void softmax16(float *x, int n)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
    const __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
    mx = _mm512_mask_max_ps(mx, tail, mx, _mm512_maskz_loadu_ps(tail, x + i));
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + i), max));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 e = exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), max));
    _mm512_mask_storeu_ps(x + i, tail, e);
    sum = _mm512_mask_add_ps(sum, tail, sum, e);
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    _mm512_mask_storeu_ps(x + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), inv));
}

INLINE void heads(const tq_attn_args *a, int h0, const int nh)
{
    scores(a, h0, nh);
    for (int h = 0; h < nh; h++)
        softmax16(a->att + (size_t)(h0 + h) * a->n, a->n);
    values(a, h0, nh);
}

void tq_attn_f16_avx512(const tq_attn_args *a)
{
    if (a->hd % 64) {
        tq_attn_f16_ref(a);
        return;
    }
    int h0 = 0;
    for (; h0 + 4 <= a->ng; h0 += 4)
        heads(a, h0, 4);
    switch (a->ng - h0) {
    case 3: heads(a, h0, 3); break;
    case 2: heads(a, h0, 2); break;
    case 1: heads(a, h0, 1); break;
    default: break;
    }
}

#endif /* AVX-512F, F16C */
