/*
 * dot_avx512.c — AVX-512 (F, BW, VL, DQ, VNNI) dot products for float weights and the
 * legacy quants.
 *
 * Compiled with the AVX-512 flags and reached only through kernels.c after a CPU and OS
 * check. Quant kernels take two blocks per 512-bit register, in value order: block b in
 * bytes 0..31, block b+1 in bytes 32..63, so the scale vector is d_b in the low eight
 * float lanes and d_b+1 in the high eight. The int8 products use VNNI dpbusd (unsigned ×
 * signed bytes summed in fours into int32 lanes, without saturation). Signed weights are
 * made unsigned by an offset (+8 for Q4_0, +16 for Q5_0, +128 for Q8_0) whose product with
 * the activations is subtracted again, so every sum is exact for any int8 input. Row tails
 * use masked loads, never reading past the row.
 *
 * BF16 weights are widened to float with a shift rather than multiplied with AVX512_BF16's
 * dot-product instruction: that instruction needs the activations in bf16 too, and
 * rounding them would cost 2^-9 of every product. Splitting each activation into two bf16
 * parts keeps the accuracy but measured about half the speed of the shift (24 vs 45 GB/s
 * of weights in cache on Zen 4), so the instruction is not used while activations are F32.
 */
#include "tensor/kernels/dot.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__AVX512VNNI__)

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/types.h"

#define INLINE static inline __attribute__((always_inline))

INLINE float f16(tq_f16 h)
{
    return _cvtsh_ss(h);
}

/* ---- Float weights ----------------------------------------------------------------------
 * One driver for F32, F16 and BF16 weights against F32 activations, and for F16 against
 * F16: load16 turns the values at element i of a row selected by the mask m (all 16 except
 * in the row's tail) into floats; unselected lanes are zero. */

typedef __m512 (*load16_fn)(const void *x, int i, __mmask16 m);

INLINE __m512 load16_f32(const void *x, int i, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, (const float *)x + i);
}

INLINE __m512 load16_f16(const void *x, int i, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const tq_f16 *)x + i));
}

/* bfloat16 is the top half of a float32: widen and shift. */
INLINE __m512 load16_bf16(const void *x, int i, __mmask16 m)
{
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const tq_bf16 *)x + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

INLINE float dot_float_row(int n, const void *x, load16_fn loadx, const void *y,
                           load16_fn loady)
{
    const __mmask16 all = 0xffff;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(loadx(x, i, all), loady(y, i, all), a0);
        a1 = _mm512_fmadd_ps(loadx(x, i + 16, all), loady(y, i + 16, all), a1);
        a2 = _mm512_fmadd_ps(loadx(x, i + 32, all), loady(y, i + 32, all), a2);
        a3 = _mm512_fmadd_ps(loadx(x, i + 48, all), loady(y, i + 48, all), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(loadx(x, i, all), loady(y, i, all), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(loadx(x, i, m), loady(y, i, m), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void tq_vec_dot_f32_f32_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, load16_f32, y, load16_f32);
}

/* F16 activations for F16 weights (as ggml pairs them): F32 ones were two thirds of the
 * bytes loaded (64 per 32 bytes of weights), and with the load ports that busy two threads
 * streamed weights from memory at 82-88 % of the read probe's rate; with F16 activations,
 * 95-100 %. */
void tq_vec_dot_f16_f16_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, load16_f16, y, load16_f16);
}

void tq_vec_dot_bf16_f32_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, load16_bf16, y, load16_f32);
}

/* Rounds to nearest even, as tq_f32_to_f16 does (see dot_avx2.c). */
void tq_from_float_f16_avx512(const float *x, void *vy, int64_t n)
{
    tq_f16 *y = vy;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}

void tq_round_f16_avx512(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(h));
    }
}

/* ---- Quant blocks, two at a time ----------------------------------------------------------
 * A pair function returns the integer sums of blocks b and b+1 of row x times those of y
 * (sumi: the quant products, 8 lanes per block; sumy: the activation sums, for the types
 * with a minimum). With single set, only block b is real: the second half repeats block b's
 * weights (staying inside the row) against zero activations, so its sums are zero. */

typedef struct { __m512i sumi, sumy; } pair_sums;
typedef pair_sums (*pair_fn)(const void *x, const block_q8_0 *y, int b, bool single);

/* The 4-bit values of two blocks as bytes in value order: each block's 16 bytes are
 * broadcast to two 128-bit lanes, the second shifted right by 4 (64-bit shifts leak bits
 * across bytes, but the mask keeps only each byte's own nibble). */
INLINE __m512i unpack_nibbles2(const uint8_t *qs0, const uint8_t *qs1)
{
    __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

INLINE __m512i load_q8_pair(const int8_t *qs0, const int8_t *qs1, bool single)
{
    __m512i v = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)qs0));
    if (single)
        return _mm512_inserti64x4(v, _mm256_setzero_si256(), 1);
    return _mm512_inserti64x4(v, _mm256_loadu_si256((const __m256i *)qs1), 1);
}

/* The Q5 fifth bits of two blocks as a byte mask: bit j of block b's little-endian qh. */
INLINE __mmask64 high_bits2(const uint8_t *qh0, const uint8_t *qh1, bool single)
{
    uint32_t h0, h1 = 0;
    memcpy(&h0, qh0, 4);
    if (!single)
        memcpy(&h1, qh1, 4);
    return (__mmask64)h0 | (__mmask64)h1 << 32;
}

INLINE __m512i dot_u8_s8(__m512i u, __m512i s)
{
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
}

/* Sums of (u - off)*s over groups of four bytes. */
INLINE __m512i dot_u8_s8_offset(__m512i u, __m512i s, int off)
{
    return _mm512_sub_epi32(dot_u8_s8(u, s), dot_u8_s8(_mm512_set1_epi8((char)off), s));
}

INLINE pair_sums pair_q4_0_q8_0(const void *vx, const block_q8_0 *y, int b, bool single)
{
    const block_q4_0 *x = (const block_q4_0 *)vx + b;
    y += b;
    __m512i q = unpack_nibbles2(x[0].qs, x[single ? 0 : 1].qs);
    __m512i yv = load_q8_pair(y[0].qs, y[1].qs, single);
    return (pair_sums){ dot_u8_s8_offset(q, yv, 8), _mm512_setzero_si512() };
}

INLINE pair_sums pair_q4_1_q8_0(const void *vx, const block_q8_0 *y, int b, bool single)
{
    const block_q4_1 *x = (const block_q4_1 *)vx + b;
    y += b;
    __m512i q = unpack_nibbles2(x[0].qs, x[single ? 0 : 1].qs);
    __m512i yv = load_q8_pair(y[0].qs, y[1].qs, single);
    return (pair_sums){ dot_u8_s8(q, yv), dot_u8_s8(_mm512_set1_epi8(1), yv) };
}

INLINE pair_sums pair_q5_0_q8_0(const void *vx, const block_q8_0 *y, int b, bool single)
{
    const block_q5_0 *x = (const block_q5_0 *)vx + b;
    y += b;
    const block_q5_0 *x1 = &x[single ? 0 : 1];
    __m512i q = unpack_nibbles2(x[0].qs, x1->qs);
    q = _mm512_mask_add_epi8(q, high_bits2(x[0].qh, x1->qh, single), q, _mm512_set1_epi8(16));
    __m512i yv = load_q8_pair(y[0].qs, y[1].qs, single);
    return (pair_sums){ dot_u8_s8_offset(q, yv, 16), _mm512_setzero_si512() };
}

INLINE pair_sums pair_q5_1_q8_0(const void *vx, const block_q8_0 *y, int b, bool single)
{
    const block_q5_1 *x = (const block_q5_1 *)vx + b;
    y += b;
    const block_q5_1 *x1 = &x[single ? 0 : 1];
    __m512i q = unpack_nibbles2(x[0].qs, x1->qs);
    q = _mm512_mask_add_epi8(q, high_bits2(x[0].qh, x1->qh, single), q, _mm512_set1_epi8(16));
    __m512i yv = load_q8_pair(y[0].qs, y[1].qs, single);
    return (pair_sums){ dot_u8_s8(q, yv), dot_u8_s8(_mm512_set1_epi8(1), yv) };
}

/* x + 128 is unsigned; subtracting 128 * sum(y) again keeps -128 weights and activations exact. */
INLINE pair_sums pair_q8_0_q8_0(const void *vx, const block_q8_0 *y, int b, bool single)
{
    const block_q8_0 *x = (const block_q8_0 *)vx + b;
    y += b;
    __m512i xv = load_q8_pair(x[0].qs, x[single ? 0 : 1].qs, false);
    __m512i xu = _mm512_xor_si512(xv, _mm512_set1_epi8((char)0x80));
    __m512i yv = load_q8_pair(y[0].qs, y[1].qs, single);
    return (pair_sums){ dot_u8_s8_offset(xu, yv, 128), _mm512_setzero_si512() };
}

/* ---- Scales ---------------------------------------------------------------------------------
 * Converting each block's FP16 scales one at a time costs as much as the integer work, so
 * the main loop converts eight blocks' scales with one vcvtph2ps and hands each pair its
 * two values with a permute. A legacy block starts with d; Q4_1/Q5_1 follow it with m. */

INLINE uint16_t half_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* Eight FP16 values, stride bytes apart, as floats. */
INLINE __m256 halves8(const uint8_t *p, size_t stride)
{
    __m128i h = _mm_cvtsi32_si128(half_at(p));
    h = _mm_insert_epi16(h, half_at(p + stride), 1);
    h = _mm_insert_epi16(h, half_at(p + 2 * stride), 2);
    h = _mm_insert_epi16(h, half_at(p + 3 * stride), 3);
    h = _mm_insert_epi16(h, half_at(p + 4 * stride), 4);
    h = _mm_insert_epi16(h, half_at(p + 5 * stride), 5);
    h = _mm_insert_epi16(h, half_at(p + 6 * stride), 6);
    h = _mm_insert_epi16(h, half_at(p + 7 * stride), 7);
    return _mm256_cvtph_ps(h);
}

/* Lanes 0..7 = s[2p], lanes 8..15 = s[2p+1]: the scales of pair p of eight blocks. */
INLINE __m512 pair_scale(__m512 s8, int p)
{
    __m512i idx = _mm512_set1_epi32(2 * p);
    idx = _mm512_mask_add_epi32(idx, 0xff00, idx, _mm512_set1_epi32(1));
    return _mm512_permutexvar_ps(idx, s8);
}

INLINE __m512 scale2(float d0, float d1)
{
    return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

INLINE __m512 accumulate(pair_sums s, __m512 d, __m512 m, bool with_min, __m512 acc)
{
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s.sumi), d, acc);
    if (with_min)
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s.sumy), m, acc);
    return acc;
}

/* Blocks b and b+1 (or b alone) with scales converted one by one: the row's tail. */
INLINE __m512 tail_pair(const uint8_t *x, size_t bsize, const block_q8_0 *y, int b, bool single,
                        pair_fn pair, bool with_min, __m512 acc)
{
    const uint8_t *x0 = x + bsize * (size_t)b, *x1 = x0 + bsize;
    float dy0 = f16(y[b].d), dy1 = single ? 0.0f : f16(y[b + 1].d);
    __m512 d = scale2(f16(half_at(x0)) * dy0, single ? 0.0f : f16(half_at(x1)) * dy1);
    __m512 m = with_min ? scale2(f16(half_at(x0 + 2)) * dy0, single ? 0.0f : f16(half_at(x1 + 2)) * dy1)
                        : d;
    return accumulate(pair(x, y, b, single), d, m, with_min, acc);
}

INLINE float dot_blocks(int n, const void *vx, const block_q8_0 *y, size_t bsize, bool with_min,
                        pair_fn pair)
{
    const uint8_t *x = vx;
    const int nb = n / QK8_0;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *xb = x + bsize * (size_t)b;
        __m256 dy = halves8((const uint8_t *)&y[b].d, sizeof(block_q8_0));
        __m512 d8 = _mm512_castps256_ps512(_mm256_mul_ps(halves8(xb, bsize), dy));
        __m512 m8 = with_min ? _mm512_castps256_ps512(_mm256_mul_ps(halves8(xb + 2, bsize), dy)) : d8;
        a0 = accumulate(pair(x, y, b, false), pair_scale(d8, 0), pair_scale(m8, 0), with_min, a0);
        a1 = accumulate(pair(x, y, b + 2, false), pair_scale(d8, 1), pair_scale(m8, 1), with_min, a1);
        a2 = accumulate(pair(x, y, b + 4, false), pair_scale(d8, 2), pair_scale(m8, 2), with_min, a2);
        a3 = accumulate(pair(x, y, b + 6, false), pair_scale(d8, 3), pair_scale(m8, 3), with_min, a3);
    }
    for (; b + 2 <= nb; b += 2)
        a0 = tail_pair(x, bsize, y, b, false, pair, with_min, a0);
    if (b < nb)
        a1 = tail_pair(x, bsize, y, b, true, pair, with_min, a1);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* ---- Q4_0 rows sharing one activation row --------------------------------------------------
 * The generic loop above spends most of its instructions on shuffles: two inserts per pair
 * of blocks, eight word inserts per eight scales, for the weights and again for the
 * activations. Here eight Q4_0 blocks (144 bytes) are read with three plain loads and
 * sorted with three word permutes (every field of a Q4_0 block starts at an even byte):
 * one gathers the eight FP16 scales, two gather the quants of blocks 0..3 and 4..7, one
 * block per 128-bit lane. The low nibbles of a lane are then a block's values 0..15 and the
 * high nibbles its values 16..31, so the activations are arranged to match (lo: values
 * 0..15 of four blocks, hi: values 16..31), and each block's four int32 sums share its
 * 128-bit lane, where a permute puts its scale.
 *
 * In a matrix-vector product the activations are the same for every weight row, so the
 * rows kernel arranges them (with their offset sums and scales) once, into a buffer on the
 * stack, and then streams the rows past them. The -8 offset of the weights is folded into
 * the start value: dpbusd(-8 * sum(y), q, y) = sum((q - 8) * y), exact for any int8 y. */

typedef struct q4_act {
    __m512i lo[2], hi[2], neg[2]; /* blocks 0..3 and 4..7 of an eight-block group */
    __m256 dy;
} q4_act;

/* Values v .. v+15 of four consecutive Q8_0 blocks, one block per 128-bit lane. */
INLINE __m512i q8_quarters(const block_q8_0 *y, int v)
{
    __m512i r = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(y[0].qs + v)));
    r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)(y[1].qs + v)), 1);
    r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)(y[2].qs + v)), 2);
    return _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)(y[3].qs + v)), 3);
}

INLINE q4_act q4_arrange_act(const block_q8_0 *y)
{
    q4_act a;
    const __m512i eight = _mm512_set1_epi8(8);
    for (int h = 0; h < 2; h++) {
        a.lo[h] = q8_quarters(y + 4 * h, 0);
        a.hi[h] = q8_quarters(y + 4 * h, 16);
        __m512i off = _mm512_dpbusd_epi32(dot_u8_s8(eight, a.lo[h]), eight, a.hi[h]);
        a.neg[h] = _mm512_sub_epi32(_mm512_setzero_si512(), off);
    }
    a.dy = halves8((const uint8_t *)&y[0].d, sizeof(block_q8_0));
    return a;
}

/* Word indices into two concatenated 64-byte loads (32 words each) of an eight-block group. */
INLINE __m512i q4_quant_index(int first_word)
{
    int16_t idx[32];
    for (int j = 0; j < 32; j++)
        idx[j] = (int16_t)(first_word + 9 * (j / 8) + j % 8);
    return _mm512_loadu_si512(idx);
}

/* One row's eight blocks at x (144 bytes, nothing past them is read) against a. */
INLINE __m512 q4_group(const uint8_t *x, const q4_act *a, __m512 acc)
{
    const __m512i w0 = _mm512_loadu_si512(x), w1 = _mm512_loadu_si512(x + 64);
    const __m512i w2 = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(x + 128)));
    static const int16_t scale_words[32] = { 0, 9, 18, 27, 36, 45, 54, 63 };
    const __m512i didx = _mm512_loadu_si512(scale_words);
    __m128i dh = _mm512_castsi512_si128(_mm512_permutex2var_epi16(w0, didx, w1));
    __m512 s8 = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtph_ps(dh), a->dy));
    __m512i q[2] = { _mm512_permutex2var_epi16(w0, q4_quant_index(1), w1),
                     _mm512_permutex2var_epi16(w1, q4_quant_index(37 - 32), w2) };
    const __m512i mask = _mm512_set1_epi8(0x0f);
    for (int h = 0; h < 2; h++) {
        __m512i lo = _mm512_and_si512(q[h], mask);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q[h], 4), mask);
        __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(a->neg[h], lo, a->lo[h]), hi,
                                           a->hi[h]);
        __m512i sidx = _mm512_srli_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2);
        sidx = _mm512_add_epi32(sidx, _mm512_set1_epi32(4 * h));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(sidx, s8), acc);
    }
    return acc;
}

/* Bytes ahead of the loads that the row loop prefetches, into L2 (T1): the hardware
 * prefetcher alone left one core at 19 GB/s from DRAM; 4 KB ahead into L1 measured 21.7 GB/s
 * (1 KB 19.7, 2 KB 20.6), and two threads on a 230 MB matrix 34.5 against 32 GB/s. In
 * generation (Q4_0 model, tg128, alternating runs on the Zen 4 host) 8 KB into L2 beat 4 KB
 * into L1 by 10-12 % in tokens/s (3 sets of 7-8 pairs; 4 KB into L2 5-8 %, 16 KB or into
 * L3 about the same as 8 KB): fetching into L1 evicted the arranged activations and the
 * lines still being read. */
#define Q4_PREFETCH 8192

/* One row against activations arranged per group of eight blocks (a: nb / 8 groups); the
 * remaining nb % 8 blocks take the pair loop. */
INLINE float q4_0_row(int nb, const uint8_t *x, const q4_act *a, const block_q8_0 *y)
{
    const size_t bsize = sizeof(block_q4_0);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    int b = 0;
    for (; b + 16 <= nb; b += 16) {
        for (int l = 0; l < 288; l += 64)
            _mm_prefetch((const char *)x + bsize * (size_t)b + Q4_PREFETCH + l, _MM_HINT_T1);
        acc0 = q4_group(x + bsize * (size_t)b, &a[b / 8], acc0);
        acc1 = q4_group(x + bsize * (size_t)(b + 8), &a[b / 8 + 1], acc1);
    }
    if (b + 8 <= nb) {
        acc0 = q4_group(x + bsize * (size_t)b, &a[b / 8], acc0);
        b += 8;
    }
    for (; b + 2 <= nb; b += 2)
        acc0 = tail_pair(x, bsize, y, b, false, pair_q4_0_q8_0, false, acc0);
    if (b < nb)
        acc1 = tail_pair(x, bsize, y, b, true, pair_q4_0_q8_0, false, acc1);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* Rows are taken one after another, so the weights stream through memory in order: taking
 * eight rows side by side ran at 27-31 GB/s on one core in cache but 6-9 GB/s from DRAM,
 * where one row at a time keeps the single-row speed. Rows longer than Q4_ACT_MAX values
 * fall back to arranging the activations per row (a buffer on the stack of 448 bytes per
 * 256 values). */
#define Q4_ACT_MAX 16384

void tq_vec_dot_rows_q4_0_q8_0_avx512(int n, float *s, const void *x, size_t x_stride,
                                      const void *vy, int nr)
{
    const block_q8_0 *y = vy;
    const int nb = n / QK8_0;
    const uint8_t *xr = x;
    if (n > Q4_ACT_MAX) {
        for (int r = 0; r < nr; r++)
            tq_vec_dot_q4_0_q8_0_avx512(n, &s[r], xr + (size_t)r * x_stride, vy);
        return;
    }
    q4_act a[Q4_ACT_MAX / 256];
    for (int g = 0; g < nb / 8; g++)
        a[g] = q4_arrange_act(y + 8 * g);
    for (int r = 0; r < nr; r++)
        s[r] = q4_0_row(nb, xr + (size_t)r * x_stride, a, y);
}

void tq_vec_dot_q4_0_q8_0_avx512(int n, float *s, const void *x, const void *vy)
{
    const block_q8_0 *y = vy;
    const int nb = n / QK8_0;
    const size_t bsize = sizeof(block_q4_0);
    __m512 acc = _mm512_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        const q4_act a = q4_arrange_act(y + b);
        acc = q4_group((const uint8_t *)x + bsize * (size_t)b, &a, acc);
    }
    for (; b + 2 <= nb; b += 2)
        acc = tail_pair(x, bsize, y, b, false, pair_q4_0_q8_0, false, acc);
    if (b < nb)
        acc = tail_pair(x, bsize, y, b, true, pair_q4_0_q8_0, false, acc);
    *s = _mm512_reduce_add_ps(acc);
}

void tq_vec_dot_q4_1_q8_0_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q4_1), true, pair_q4_1_q8_0);
}

void tq_vec_dot_q5_0_q8_0_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q5_0), false, pair_q5_0_q8_0);
}

void tq_vec_dot_q5_1_q8_0_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q5_1), true, pair_q5_1_q8_0);
}

void tq_vec_dot_q8_0_q8_0_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q8_0), false, pair_q8_0_q8_0);
}

/* ---- Activation quantizer ----------------------------------------------------------------
 * Bit-exact with quant.c's Q8_0 (see dot_avx2.c): d = amax/127 as FP16, q = x * (127/amax)
 * rounded to nearest even (explicitly, whatever the MXCSR mode). */

INLINE __m128i quant16(__m512 v, __m512 id)
{
    __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v, id),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvtepi32_epi8(q);
}

void tq_from_float_q8_0_avx512(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        y[b].d = tq_f32_to_f16(amax / 127.0f);
        __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        _mm_storeu_si128((__m128i *)y[b].qs, quant16(v0, id));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), quant16(v1, id));
    }
}

/* Q8_K, bit-exact with quant.c: the scale comes from the signed value of largest magnitude
 * (the first one, on ties), iscale = -127 / max, q = round-to-even(iscale * x) capped at 127,
 * d = 1 / iscale; each 16 quants (one register) give one bsum. K-quant products quantize
 * every activation row this way, so it sits on both the prompt and the generation path. */
void tq_from_float_q8_K_avx512(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m512 v[QK_K / 16], am = _mm512_setzero_ps();
        for (int j = 0; j < QK_K / 16; j++) {
            v[j] = _mm512_loadu_ps(x + 16 * j);
            am = _mm512_max_ps(am, _mm512_abs_ps(v[j]));
        }
        const float amax = _mm512_reduce_max_ps(am);
        float max = 0.0f;
        for (int j = 0; j < QK_K / 16 && amax != 0.0f; j++) {
            __mmask16 eq = _mm512_cmp_ps_mask(_mm512_abs_ps(v[j]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (eq) {
                max = x[16 * j + __builtin_ctz(eq)];
                break;
            }
        }
        memset(&y[b], 0, sizeof y[b]);
        if (max == 0.0f)
            continue;
        const float iscale = -127.0f / max;
        const __m512 is = _mm512_set1_ps(iscale);
        for (int j = 0; j < QK_K / 16; j++) {
            __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v[j], is),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * j), _mm512_cvtepi32_epi8(q));
            y[b].bsums[j] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[b].d = 1.0f / iscale;
    }
}

#endif /* AVX-512 F, BW, VL, DQ, VNNI */
