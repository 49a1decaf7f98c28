/*
 * kquant_avx2.c — AVX2 dot products of K-quant weight rows (Q2_K … Q6_K) with Q8_K rows.
 * Compiled with -mavx2 -mfma -mf16c; reached only through the dispatch tables.
 *
 * Each super-block is unpacked 32 values at a time into unsigned bytes u (shifts and
 * masks on the packed bits; the bit layouts are described in kquant_ref.c), multiplied
 * with the int8 activations by vpmaddubsw (u8 x s8 -> pairs summed in int16; u <= 63 and
 * |a| <= 128 keep every pair below 2*63*128 = 16128, so it never saturates), then by the
 * sub-block scales with vpmaddwd into int32. The super-block's int32 sum is converted once
 * and accumulated with an FMA into float lanes; the horizontal sum happens once per row.
 *
 * Using unsigned quants everywhere turns every offset into a per-sub-block term that the
 * Q8_K bsums give for free: the mins of Q2_K/Q4_K/Q5_K, and the -4 (Q3_K) and -32 (Q6_K)
 * biases, which become  -bias * sum_g scale_g * bsums_g  (one vpmaddwd per super-block).
 */
#include <immintrin.h>

#include "tensor/kernels/dot.h"
#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

/* The four words of a kquant.h unpacker as one register (bytes in memory order). */
static inline __m128i words(const uint32_t w[4])
{
    return _mm_set_epi32((int)w[3], (int)w[2], (int)w[1], (int)w[0]);
}

/* Q8_K bsums of 16 values summed in pairs: the sums of the eight 32-value sub-blocks. */
static inline __m128i bsums32(const int16_t *bsums)
{
    const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    return _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
}

static inline float hsum_f32x8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum_f32x4(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* A vpshufb index that copies int16 word k into every word of a 128-bit lane. */
static inline __m128i word_index(int k)
{
    return _mm_set1_epi16((short)(0x0100 + 0x0202 * k));
}

/* Scale k of the int16 scales in sc (the same eight in both lanes), in every word. */
static inline __m256i word_scale(__m256i sc, int k)
{
    return _mm256_shuffle_epi8(sc, _mm256_broadcastsi128_si256(word_index(k)));
}

/* Scales of 32 values that straddle two 16-value groups: for chunk c (values 32c..32c+31)
 * the low 128-bit lane gets group 2c's scale, the high lane group 2c+1's. sc_lo holds
 * the int16 scales of groups 0..7 in both lanes, sc_hi those of groups 8..15. */
static inline __m256i pair_scales(__m256i sc_lo, __m256i sc_hi, int c)
{
    const int k = 2 * (c & 3);
    const __m256i idx = _mm256_set_m128i(word_index(k + 1), word_index(k));
    return _mm256_shuffle_epi8(c < 4 ? sc_lo : sc_hi, idx);
}

/* sum over 32 values of u*a, weighted per 16 (or 32) values by the int16 scales in sc. */
static inline __m256i scaled_dot32(__m256i u, const int8_t *a, __m256i sc)
{
    const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)a));
    return _mm256_madd_epi16(p, sc);
}

/* sum_g scale_g * bsums_g over the 16 groups, as eight int32 lanes. */
static inline __m256i scaled_bsums(__m256i sc16, const int16_t *bsums)
{
    return _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)bsums));
}

void tq_vec_dot_q2_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float dall = y[i].d * _cvtsh_ss(x[i].d);
        const float dmin = y[i].d * _cvtsh_ss(x[i].dmin);
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(scaled_bsums(mins, y[i].bsums)), acc_m);

        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, m4));
        const __m256i sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
        const __m256i sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                const int c = 4 * h + j;
                sumi = _mm256_add_epi32(sumi, scaled_dot32(u, y[i].qs + 32 * c,
                                                           pair_scales(sc_lo, sc_hi, c)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_f32x8(acc) - hsum_f32x8(acc_m);
}

/* Moves bit b of every byte to bit 2 (other bits are masked off by the caller). */
static inline __m256i bit_to_2(__m256i v, int b)
{
    return b < 2 ? _mm256_slli_epi16(v, 2 - b) : _mm256_srli_epi16(v, b - 2);
}

void tq_vec_dot_q3_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), bit2 = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        uint32_t w[4];
        kq_unpack_scales_q3k(x[i].scales, w);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_sub_epi8(words(w), _mm_set1_epi8(32)));
        const __m256i sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
        const __m256i sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
        /* quants are stored as u - 4 with u = low bits | high bit << 2 */
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(scaled_bsums(sc16, y[i].bsums), 2));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                const __m256i hi = _mm256_and_si256(bit_to_2(hm, 4 * h + j), bit2);
                const __m256i u = _mm256_or_si256(lo, hi);
                const int c = 4 * h + j;
                sumi = _mm256_add_epi32(sumi, scaled_dot32(u, y[i].qs + 32 * c,
                                                           pair_scales(sc_lo, sc_hi, c)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_f32x8(acc);
}

/* Q4_K and Q5_K differ only in the fifth bit; x5 is NULL for Q4_K and x4 for Q5_K, and
 * inlining into each caller folds those tests away. Each of the eight 32-value sub-blocks
 * has one scale, broadcast to a whole register. */
static inline __attribute__((always_inline)) float
dot_q45_K(int nb, const block_q4_K *x4, const block_q5_K *x5, const block_q8_K *y)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m1 = _mm256_set1_epi8(1), m2 = _mm256_set1_epi8(2);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const tq_f16 d16 = x4 ? x4[i].d : x5[i].d, dmin16 = x4 ? x4[i].dmin : x5[i].dmin;
        const uint8_t *qs = x4 ? x4[i].qs : x5[i].qs;
        const int8_t *a = y[i].qs;
        uint32_t w[4];
        kq_unpack_scales_q4k(x4 ? x4[i].scales : x5[i].scales, w);
        const __m256i sm16 = _mm256_cvtepu8_epi16(words(w));

        /* mins: one per 32 values, so pair up the 16-value bsums first */
        const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), bsums32(y[i].bsums));
        acc_m = _mm_fmadd_ps(_mm_set1_ps(y[i].d * _cvtsh_ss(dmin16)), _mm_cvtepi32_ps(pm), acc_m);

        const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm16));
        const __m256i hb = x5 ? _mm256_loadu_si256((const __m256i *)x5[i].qh)
                              : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(q, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (x5) {
                const __m256i h = _mm256_srli_epi16(hb, 2 * j);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(h, m1), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(h, m2), 3));
            }
            const __m256i p_lo = scaled_dot32(lo, a + 64 * j, word_scale(sc, 2 * j));
            const __m256i p_hi = scaled_dot32(hi, a + 64 * j + 32, word_scale(sc, 2 * j + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        const float d = y[i].d * _cvtsh_ss(d16);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc) - hsum_f32x4(acc_m);
}

void tq_vec_dot_q4_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, vx, NULL, vy);
}

void tq_vec_dot_q5_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, NULL, vx, vy);
}

void tq_vec_dot_q6_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i b01 = _mm256_set1_epi8(0x03), b23 = _mm256_set1_epi8(0x0c);
    const __m256i b45 = _mm256_set1_epi8(0x30), b67 = _mm256_set1_epi8((char)0xc0);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
        const __m256i sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
        /* quants are stored as u - 32 with u in 0..63 */
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(scaled_bsums(sc16, y[i].bsums), 5));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i u[4];
            u[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(qh, b01), 4));
            u[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(qh, b23), 2));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_and_si256(qh, b45));
            u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_srli_epi16(_mm256_and_si256(qh, b67), 2));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const int c = 4 * h + k;
                sumi = _mm256_add_epi32(sumi, scaled_dot32(u[k], y[i].qs + 32 * c,
                                                           pair_scales(sc_lo, sc_hi, c)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_f32x8(acc);
}
