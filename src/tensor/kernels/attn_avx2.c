/*
 * attn_avx2.c — AVX2 attention over an F16 KV cache (see attn.h).
 *
 * Key and value rows are converted eight values per vcvtph2ps. Scores: two query heads at
 * a time, each key row read once for both, four accumulator pairs over the row and one
 * horizontal sum per score. Values: two heads x 32 dimensions (eight accumulators) stay in
 * registers while the value rows stream past, each 8-value piece converted once for both
 * heads; a wider head takes several passes over V (the rows are then in L1/L2). The softmax
 * uses a vector e^x (exp_neg, as attn_avx512.c's) instead of libm's scalar expf, which
 * with the reference softmax was 2.8 % of an AVX2 prompt. Head sizes that are not a
 * multiple of 32 use the reference.
 */
#include "tensor/kernels/attn.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <math.h>


#define INLINE static inline __attribute__((always_inline))

INLINE __m256 load_f16(const tq_f16 *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

INLINE float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE void scores(const tq_attn_args *a, int h0, const int nh)
{
    const int hd = a->hd;
    const float *q0 = a->q + (size_t)h0 * hd, *q1 = q0 + hd;
    for (int i = 0; i < a->n; i++) {
        const tq_f16 *k = a->k + (size_t)i * a->stride;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
        for (int j = 0; j < hd; j += 16) {
            __m256 k0 = load_f16(k + j), k1 = load_f16(k + j + 8);
            s0 = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q0 + j), s0);
            t0 = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q0 + j + 8), t0);
            if (nh == 2) {
                s1 = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q1 + j), s1);
                t1 = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q1 + j + 8), t1);
            }
        }
        a->att[(size_t)h0 * a->n + i] = hsum(_mm256_add_ps(s0, t0)) * a->scale;
        if (nh == 2)
            a->att[(size_t)(h0 + 1) * a->n + i] = hsum(_mm256_add_ps(s1, t1)) * a->scale;
    }
}

INLINE void values(const tq_attn_args *a, int h0, const int nh)
{
    const int hd = a->hd;
    const float *w0 = a->att + (size_t)h0 * a->n, *w1 = w0 + a->n;
    for (int j0 = 0; j0 < hd; j0 += 32) {
        __m256 o[2][4];
        #pragma GCC unroll 2
        for (int h = 0; h < nh; h++)
            #pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                o[h][c] = _mm256_setzero_ps();
        for (int i = 0; i < a->n; i++) {
            const tq_f16 *v = a->v + (size_t)i * a->stride + j0;
            __m256 vv[4];
            #pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                vv[c] = load_f16(v + 8 * c);
            __m256 b0 = _mm256_broadcast_ss(w0 + i);
            #pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                o[0][c] = _mm256_fmadd_ps(b0, vv[c], o[0][c]);
            if (nh == 2) {
                __m256 b1 = _mm256_broadcast_ss(w1 + i);
                #pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    o[1][c] = _mm256_fmadd_ps(b1, vv[c], o[1][c]);
            }
        }
        #pragma GCC unroll 2
        for (int h = 0; h < nh; h++)
            #pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                _mm256_storeu_ps(a->out + (size_t)(h0 + h) * hd + j0 + 8 * c, o[h][c]);
    }
}

/* e^x for x <= 0, 8 at a time: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts so n ln2
 * is exact), e^r by attn_avx512.c's degree-7 polynomial, and 2^n put in the exponent bits.
 * AVX2 has no vscalefps, so x below -87.3 (where 2^n would leave the normal range; e^x is
 * under 1.2e-38 there) gives 0, -INFINITY included. */
INLINE __m256 exp_neg(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                  23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

/* In-place softmax of n >= 1 finite scores; the last n % 8 go through a padded copy. */
static void softmax8(float *x, int n)
{
    const int n8 = n & ~7;
    float tail[8];
    for (int i = 0; i < 8; i++)
        tail[i] = n8 + i < n ? x[n8 + i] : -INFINITY;
    __m256 mx = _mm256_loadu_ps(tail);
    for (int i = 0; i < n8; i += 8)
        mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const __m256 max = _mm256_set1_ps(_mm_cvtss_f32(m4));
    __m256 sum = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) {
        __m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + i), max));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 et = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(tail), max));
    sum = _mm256_add_ps(sum, et);
    const __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (int i = 0; i < n8; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    _mm256_storeu_ps(tail, _mm256_mul_ps(et, inv));
    for (int i = n8; i < n; i++)
        x[i] = tail[i - n8];
}

INLINE void heads(const tq_attn_args *a, int h0, const int nh)
{
    scores(a, h0, nh);
    for (int h = 0; h < nh; h++)
        softmax8(a->att + (size_t)(h0 + h) * a->n, a->n);
    values(a, h0, nh);
}

void tq_attn_f16_avx2(const tq_attn_args *a)
{
    if (a->hd % 32) {
        tq_attn_f16_ref(a);
        return;
    }
    int h0 = 0;
    for (; h0 + 2 <= a->ng; h0 += 2)
        heads(a, h0, 2);
    if (h0 < a->ng)
        heads(a, h0, 1);
}

#endif /* AVX2, FMA, F16C */
