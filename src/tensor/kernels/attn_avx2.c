/*
 * attn_avx2.c — AVX2 attention over an F16 KV cache (see attn.h).
 *
 * Key and value rows are converted eight values per vcvtph2ps. Scores: two query heads at
 * a time, each key row read once for both, four accumulator pairs over the row and one
 * horizontal sum per score. Values: two heads x 32 dimensions (eight accumulators) stay in
 * registers while the value rows stream past, each 8-value piece converted once for both
 * heads; a wider head takes several passes over V (the rows are then in L1/L2). The softmax
 * is the reference one. Head sizes that are not a multiple of 32 use the reference.
 */
#include "tensor/kernels/attn.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include "tensor/ops.h"

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

INLINE void heads(const tq_attn_args *a, int h0, const int nh)
{
    scores(a, h0, nh);
    for (int h = 0; h < nh; h++)
        tq_softmax(a->att + (size_t)(h0 + h) * a->n, a->n);
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
