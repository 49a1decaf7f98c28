/*
 * kquant_avx512.c — AVX-512 (BW + VNNI) dot products of K-quant weight rows (Q2_K … Q6_K)
 * with Q8_K rows. Compiled with the AVX-512 flags; reached only through the dispatch tables.
 *
 * The scheme of kquant_avx2.c on 64 values per step: the packed bits are unpacked into
 * unsigned bytes u (for a 64-value step, two 32-byte halves are joined into one register,
 * the second already shifted into place, so one shift and mask serve both), vpmaddubsw
 * forms u*a pair sums in int16 (never saturating: u <= 63), and VNNI's vpdpwssd multiplies
 * those by the sub-block scales and accumulates into int32 in one instruction. The scales
 * are spread over the 16-bit words of a register by vpermw: a 16-value group fills one
 * 128-bit lane, a 32-value sub-block two. Offsets (mins, and the -4 / -32 biases of
 * Q3_K / Q6_K) come from the Q8_K bsums, once per super-block.
 */
#include <immintrin.h>

#include "tensor/kernels/dot.h"
#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

/* Word w of a 64-value step belongs to 16-value group w/8, or 32-value sub-block w/16. */
static const uint16_t group16_of_word[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
};
static const uint16_t group32_of_word[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* vpternlogd truth table for (A & B) | C. */
#define AND_OR 0xea

static inline __m512i join(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m512i zext(__m256i v)
{
    return _mm512_inserti64x4(_mm512_setzero_si512(), v, 0);
}

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

/* Moves bit `from` of every byte to bit `to`; the caller masks off the rest. 16-bit
 * shifts suffice because the wanted bit never crosses its byte. */
static inline __m512i move_bit(__m512i v, int from, int to)
{
    return from < to ? _mm512_slli_epi16(v, (unsigned)(to - from))
                     : _mm512_srli_epi16(v, (unsigned)(from - to));
}

/* Spreads the int16 scales in sc (words 0..15) over a 64-value step: word w gets scale
 * first + map[w]. */
static inline __m512i spread(__m512i map, int first, __m512i sc)
{
    return _mm512_permutexvar_epi16(_mm512_add_epi16(map, _mm512_set1_epi16((short)first)), sc);
}

/* sum_g scale_g * bsums_g over the 16 groups, as eight int32 lanes. */
static inline __m256i scaled_bsums(__m256i sc16, const int16_t *bsums)
{
    return _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)bsums));
}

static inline __m512i scaled_dot64(__m512i sumi, __m512i u, const int8_t *a, __m512i sc)
{
    return _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(u, _mm512_loadu_si512(a)), sc);
}

void tq_vec_dot_q2_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m512i map = _mm512_loadu_si512(group16_of_word);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float dall = y[i].d * _cvtsh_ss(x[i].d);
        const float dmin = y[i].d * _cvtsh_ss(x[i].dmin);
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
        const __m256i pm = scaled_bsums(mins, y[i].bsums);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), acc_m);

        const __m512i sc = zext(_mm256_cvtepu8_epi16(_mm_and_si128(packed, m4)));
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const __m512i qz = join(q, _mm256_srli_epi16(q, 2));
#pragma GCC unroll 2
            for (int p = 0; p < 2; p++) {
                const int c = 2 * h + p; /* values 64c..64c+63 */
                const __m512i u = _mm512_and_si512(_mm512_srli_epi16(qz, 4 * p), m3);
                sumi = scaled_dot64(sumi, u, y[i].qs + 64 * c, spread(map, 4 * c, sc));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dall), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_f32x8(acc_m);
}

void tq_vec_dot_q3_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m3 = _mm512_set1_epi8(3), bit2 = _mm512_set1_epi8(4);
    const __m512i map = _mm512_loadu_si512(group16_of_word);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        uint32_t w[4];
        kq_unpack_scales_q3k(x[i].scales, w);
        const __m128i raw = words(w);
        const __m256i sc16 = _mm256_cvtepi8_epi16(
            _mm_sub_epi8(raw, _mm_set1_epi8(32)));
        const __m512i sc = zext(sc16);
        /* quants are stored as u - 4 with u = low bits | high bit << 2 */
        const __m256i bias = scaled_bsums(sc16, y[i].bsums);
        __m512i sumi = zext(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 2)));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        const __m512i hz = join(hm, _mm256_srli_epi16(hm, 1));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const __m512i qz = join(q, _mm256_srli_epi16(q, 2));
#pragma GCC unroll 2
            for (int p = 0; p < 2; p++) {
                const int c = 2 * h + p;
                const __m512i hb = _mm512_and_si512(move_bit(hz, 4 * h + 2 * p, 2), bit2);
                const __m512i lo = _mm512_srli_epi16(qz, 4 * p);
                const __m512i u = _mm512_ternarylogic_epi32(lo, m3, hb, AND_OR);
                sumi = scaled_dot64(sumi, u, y[i].qs + 64 * c, spread(map, 4 * c, sc));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* Q4_K and Q5_K differ only in the fifth bit; x5 is NULL for Q4_K and x4 for Q5_K, and
 * inlining into each caller folds those tests away. */
static inline __attribute__((always_inline)) float
dot_q45_K(int nb, const block_q4_K *x4, const block_q5_K *x5, const block_q8_K *y)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    const __m512i map = _mm512_loadu_si512(group32_of_word);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const tq_f16 d16 = x4 ? x4[i].d : x5[i].d, dmin16 = x4 ? x4[i].dmin : x5[i].dmin;
        const uint8_t *qs = x4 ? x4[i].qs : x5[i].qs;
        const int8_t *a = y[i].qs;
        uint32_t w[4];
        kq_unpack_scales_q4k(x4 ? x4[i].scales : x5[i].scales, w);
        const __m256i sm16 = _mm256_cvtepu8_epi16(words(w));

        const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), bsums32(y[i].bsums));
        acc_m = _mm_fmadd_ps(_mm_set1_ps(y[i].d * _cvtsh_ss(dmin16)), _mm_cvtepi32_ps(pm), acc_m);

        const __m512i sc = zext(sm16);
        __m512i hz = _mm512_setzero_si512();
        if (x5) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)x5[i].qh);
            hz = join(qh, _mm256_srli_epi16(qh, 1));
        }
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            const __m512i raw = join(q, _mm256_srli_epi16(q, 4));
            __m512i u = _mm512_and_si512(raw, m4);
            if (x5)
                u = _mm512_or_si512(u, _mm512_and_si512(move_bit(hz, 2 * j, 4), bit4));
            sumi = scaled_dot64(sumi, u, a + 64 * j, spread(map, 2 * j, sc));
        }
        const float d = y[i].d * _cvtsh_ss(d16);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m);
}

void tq_vec_dot_q4_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, vx, NULL, vy);
}

void tq_vec_dot_q5_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, NULL, vx, vy);
}

void tq_vec_dot_q6_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0f), b45 = _mm512_set1_epi8(0x30);
    const __m512i map = _mm512_loadu_si512(group16_of_word);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc = zext(sc16);
        /* quants are stored as u - 32 with u in 0..63 */
        const __m256i bias = scaled_bsums(sc16, y[i].bsums);
        __m512i sumi = zext(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 5)));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            /* low half: qh (bit pairs 0, 2), high half: qh >> 2 (pairs 1, 3); u0 takes the
             * pair at bits 0,1 (moved up to 4,5), u1 the one already at bits 4,5 */
            const __m512i qhz = join(qh, _mm256_srli_epi16(qh, 2));
            const __m512i u0 = _mm512_ternarylogic_epi32(
                ql, m4, _mm512_and_si512(_mm512_slli_epi16(qhz, 4), b45), AND_OR);
            const __m512i u1 = _mm512_ternarylogic_epi32(
                _mm512_srli_epi16(ql, 4), m4, _mm512_and_si512(qhz, b45), AND_OR);
            sumi = scaled_dot64(sumi, u0, y[i].qs + 128 * h, spread(map, 8 * h, sc));
            sumi = scaled_dot64(sumi, u1, y[i].qs + 128 * h + 64, spread(map, 8 * h + 4, sc));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}
