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
 * Q3_K / Q6_K) come from the Q8_K bsums, once per super-block. Q4_K and Q5_K, whose
 * sub-blocks are 32 values, go one better (packed_scaled_sum: vpdpbusd per step, two steps
 * scaled by one vpdpwssd) and have a multi-row kernel that arranges the activations once.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/kernels/dot.h"
#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

/* Word w of a 64-value step belongs to 16-value group w/8. */
static const uint16_t group16_of_word[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
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

/* The scales (int16 words of sc, 16 at most) laid out once per super-block (one vpermw)
 * for in-lane shuffles to pick from: dword l of the result holds, in both its words, scale
 * idx[2l]. A vpermw per 64-value step (spread) measured 8 % slower for Q4_K. */
static inline __m512i step_scales(__m512i sc, const uint16_t idx[32])
{
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(idx), sc);
}

/* Bytes ahead of the loads that the row loops streaming weights from memory prefetch, into
 * L2 (as Q4_0's, dot_avx512.c): the hardware prefetcher alone leaves one core short of the
 * DRAM bandwidth. always_inline matters: as a function of its own, GCC's interprocedural
 * analysis found it free of side effects and dropped every call, so the optimized builds
 * had no prefetch here at all until the Q4_K_M model's generation was measured with one
 * (tg128, alternating runs: 4 KB into L1 +2-6 %, 8 KB into L2 +4-7 % in tokens/s). The
 * Q6_K kernel takes it too: Q6_K model tg128 pairwise medians 1.09 and 1.15 (into L1 it
 * had cost 10-15 %). */
#define PREFETCH_AHEAD 8192

static inline __attribute__((always_inline)) void prefetch_block(const void *blk, int bytes)
{
    for (int l = 0; l < bytes; l += 64)
        _mm_prefetch((const char *)blk + PREFETCH_AHEAD + l, _MM_HINT_T1);
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

/* Scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K or Q5_K block, from its first 16
 * bytes (d, dmin, the 12 packed bytes): kq_unpack_scales_q4k's word arithmetic on one
 * vector. With B = words [a0, a2, a1, a2] and C = [-, a0, -, a1] of the packed bytes,
 * the low parts are B >> [0, 0, 0, 4] masked to six or four bits, and the top two bits of
 * scales and mins 4..7 are C >> 2 masked to bits 4 and 5. */
static inline __m128i q45k_scales(__m128i head)
{
    const __m128i b = _mm_shuffle_epi8(
        head, _mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m128i c = _mm_shuffle_epi8(
        head, _mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
    const __m128i low = _mm_and_si128(_mm_srlv_epi32(b, _mm_setr_epi32(0, 0, 0, 4)),
                                      _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f,
                                                     0x0f0f0f0f));
    return _mm_ternarylogic_epi32(_mm_srli_epi32(c, 2), _mm_set1_epi32(0x30303030), low,
                                  AND_OR);
}

/* Q4_K / Q5_K steps take 64 values at a time, two 32-value sub-blocks, with one vpdpbusd
 * into 16 int32 lanes of 4 products each (|sum| <= 4 * 31 * 128 < 2^15); two steps are
 * then packed into int16 words (vpackssdw, per 128-bit lane: the first step's four lanes,
 * then the second's) and multiplied by their sub-block scales with one vpdpwssd. That is
 * three multiply-unit instructions per 128 values, where vpmaddubsw + vpdpwssd per step
 * took four: Q4_K, one core in cache, 21.5 -> 22.5 GB/s for a single row and 27.1 -> 29.4
 * for the multi-row kernel. sc: the scales laid out by step_scales so that pair k (steps 2k, 2k + 1) takes
 * dwords 2k, 2k, 2k + 1, 2k + 1 of each 128-bit lane. */
static inline __m512i packed_scaled_sum(__m512i sumi, __m512i p0, __m512i p1, __m512i sc,
                                        int k)
{
    /* two literal immediates: an unoptimized build (the sanitizer one) does not fold k */
    const __m512i s = k ? _mm512_shuffle_epi32(sc, (_MM_PERM_ENUM)0xfa)
                        : _mm512_shuffle_epi32(sc, (_MM_PERM_ENUM)0x50);
    return _mm512_dpwssd_epi32(sumi, _mm512_packs_epi32(p0, p1), s);
}

/* Sub-blocks of dot_q45_K's steps: pair 0 is steps 0 and 1 (sub-blocks 0 | 1 and 2 | 3 in
 * words 0..15 | 16..31), pair 1 steps 2 and 3. 128-bit lanes 0 and 1 of a packed pair
 * hold sub-blocks 0 and 2 (4 and 6), lanes 2 and 3 sub-blocks 1 and 3 (5 and 7). */
static const uint16_t q45k_join_order[32] = {
    0, 0, 2, 2, 4, 4, 6, 6, 0, 0, 2, 2, 4, 4, 6, 6,
    1, 1, 3, 3, 5, 5, 7, 7, 1, 1, 3, 3, 5, 5, 7, 7,
};

/* min term of a Q4_K / Q5_K super-block: dmin * d_y * sum of min_k * bsums32_k, four
 * lanes of partial sums added into acc_m. */
static inline __m128 q45k_mins(__m256i sm16, __m128i bs32, __m128 dd, __m128 acc_m)
{
    const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), bs32);
    return _mm_fmadd_ps(_mm_permute_ps(dd, 0x55), _mm_cvtepi32_ps(pm), acc_m);
}

static inline float q45k_total(__m512 acc, __m128 acc_m)
{
    __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m);
}

/* Q4_K and Q5_K differ only in the fifth bit; x5 is NULL for Q4_K and x4 for Q5_K, and
 * inlining into each caller folds those tests away. Both block types start with d, dmin
 * and the packed scales. */
static inline __attribute__((always_inline)) float
dot_q45_K(int nb, const block_q4_K *x4, const block_q5_K *x5, const block_q8_K *y)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m128i head = _mm_loadu_si128(x4 ? (const void *)&x4[i] : (const void *)&x5[i]);
        const uint8_t *qs = x4 ? x4[i].qs : x5[i].qs;
        const int8_t *a = y[i].qs;
        const __m256i sm16 = _mm256_cvtepu8_epi16(q45k_scales(head));
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(head), _mm_set1_ps(y[i].d)); /* d, dmin */
        acc_m = q45k_mins(sm16, bsums32(y[i].bsums), dd, acc_m);

        const __m512i sc = step_scales(zext(sm16), q45k_join_order);
        __m512i hz = _mm512_setzero_si512();
        if (x5) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)x5[i].qh);
            hz = join(qh, _mm256_srli_epi16(qh, 1));
        }
        __m512i sumi = _mm512_setzero_si512(), p[2];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            const __m512i raw = join(q, _mm256_srli_epi16(q, 4));
            __m512i u = _mm512_and_si512(raw, m4);
            if (x5)
                u = _mm512_or_si512(u, _mm512_and_si512(move_bit(hz, 2 * j, 4), bit4));
            p[j % 2] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u,
                                           _mm512_loadu_si512(a + 64 * j));
            if (j % 2)
                sumi = packed_scaled_sum(sumi, p[0], p[1], sc, j / 2);
        }
        acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(sumi), acc);
    }
    return q45k_total(acc, acc_m);
}

void tq_vec_dot_q4_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, vx, NULL, vy);
}

void tq_vec_dot_q5_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, NULL, vx, vy);
}

/* ---- Q4_K / Q5_K rows ---------------------------------------------------------------------
 * One activation row against several weight rows. A 64-byte load of a half super-block's
 * quants gives, in its low nibbles, sub-blocks 4h (bytes 0..31) and 4h + 2 (bytes
 * 32..63) and in its high nibbles 4h + 1 and 4h + 3; arranging the activations once in that
 * order saves each row the 32-byte loads, shifts and inserts of dot_q45_K (four shuffles
 * per super-block). One core in cache: 19.8 -> 27.3 GB/s for Q4_K on Zen 4. */

typedef struct {
    int8_t lo[2][64]; /* half h: values 128h + 0..31, then 128h + 64..95 */
    int8_t hi[2][64]; /* half h: values 128h + 32..63, then 128h + 96..127 */
    __m128i bs32;     /* sums of the eight 32-value sub-blocks */
} q45k_act;

/* Rows longer than this take dot_q45_K row by row (the arranged activations live on the
 * stack: 272 bytes per 256 values). */
#define Q45K_ACT_MAX 16384

static void q45k_arrange(const block_q8_K *y, q45k_act *a)
{
    for (int h = 0; h < 2; h++) {
        const int8_t *q = y->qs + 128 * h;
        memcpy(a->lo[h], q, 32);
        memcpy(a->lo[h] + 32, q + 64, 32);
        memcpy(a->hi[h], q + 32, 32);
        memcpy(a->hi[h] + 32, q + 96, 32);
    }
    a->bs32 = bsums32(y->bsums);
}

/* Pairs of q45k_row: half h's low nibbles (sub-blocks 4h | 4h + 2) and high nibbles
 * (4h + 1 | 4h + 3); 128-bit lanes 0 and 1 of a packed pair hold sub-blocks 4h and 4h + 1,
 * lanes 2 and 3 sub-blocks 4h + 2 and 4h + 3. */
static const uint16_t q45k_rows_order[32] = {
    0, 0, 1, 1, 4, 4, 5, 5, 0, 0, 1, 1, 4, 4, 5, 5,
    2, 2, 3, 3, 6, 6, 7, 7, 2, 2, 3, 3, 6, 6, 7, 7,
};

static inline __attribute__((always_inline)) float
q45k_row(int nb, const block_q4_K *x4, const block_q5_K *x5, const q45k_act *act,
         const block_q8_K *y)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const void *blk = x4 ? (const void *)&x4[i] : (const void *)&x5[i];
        prefetch_block(blk, x4 ? sizeof *x4 : sizeof *x5);
        const __m128i head = _mm_loadu_si128(blk);
        const uint8_t *qs = x4 ? x4[i].qs : x5[i].qs;
        const __m256i sm16 = _mm256_cvtepu8_epi16(q45k_scales(head));
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(head), _mm_set1_ps(y[i].d));
        acc_m = q45k_mins(sm16, act[i].bs32, dd, acc_m);

        const __m512i sc = step_scales(zext(sm16), q45k_rows_order);
        __m512i hz = _mm512_setzero_si512();
        if (x5) { /* fifth bit of sub-block k, value l: bit k of qh[l] */
            const __m256i qh = _mm256_loadu_si256((const __m256i *)x5[i].qh);
            hz = join(qh, _mm256_srli_epi16(qh, 2));
        }
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i q = _mm512_loadu_si512(qs + 64 * h);
            __m512i lo = _mm512_and_si512(q, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if (x5) {
                lo = _mm512_or_si512(lo, _mm512_and_si512(move_bit(hz, 4 * h, 4), bit4));
                hi = _mm512_or_si512(hi, _mm512_and_si512(move_bit(hz, 4 * h + 1, 4), bit4));
            }
            const __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo,
                                                    _mm512_loadu_si512(act[i].lo[h]));
            const __m512i phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi,
                                                    _mm512_loadu_si512(act[i].hi[h]));
            sumi = packed_scaled_sum(sumi, plo, phi, sc, h);
        }
        acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(sumi), acc);
    }
    return q45k_total(acc, acc_m);
}

static inline __attribute__((always_inline)) void
rows_q45_K(int n, float *s, const uint8_t *x, size_t x_stride, const block_q8_K *y, int nr,
           bool five)
{
    const int nb = n / QK_K;
    if (n > Q45K_ACT_MAX) {
        for (int r = 0; r < nr; r++, x += x_stride)
            s[r] = five ? dot_q45_K(nb, NULL, (const void *)x, y)
                        : dot_q45_K(nb, (const void *)x, NULL, y);
        return;
    }
    q45k_act act[Q45K_ACT_MAX / QK_K];
    for (int i = 0; i < nb; i++)
        q45k_arrange(y + i, &act[i]);
    for (int r = 0; r < nr; r++, x += x_stride)
        s[r] = five ? q45k_row(nb, NULL, (const void *)x, act, y)
                    : q45k_row(nb, (const void *)x, NULL, act, y);
}

void tq_vec_dot_rows_q4_K_q8_K_avx512(int n, float *s, const void *x, size_t x_stride,
                                      const void *y, int nr)
{
    rows_q45_K(n, s, x, x_stride, y, nr, false);
}

void tq_vec_dot_rows_q5_K_q8_K_avx512(int n, float *s, const void *x, size_t x_stride,
                                      const void *y, int nr)
{
    rows_q45_K(n, s, x, x_stride, y, nr, true);
}

void tq_vec_dot_q6_K_q8_K_avx512(int n, float *s, const void *vx, const void *vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0f), b45 = _mm512_set1_epi8(0x30);
    const __m512i map = _mm512_loadu_si512(group16_of_word);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_block(&x[i], sizeof x[i]);
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
