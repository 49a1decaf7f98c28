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

#include "tensor/types.h"

#define INLINE static inline __attribute__((always_inline))

INLINE float f16(tq_f16 h)
{
    return _cvtsh_ss(h);
}

/* ---- Float weights ----------------------------------------------------------------------
 * One driver for F32, F16 and BF16: load16 turns the weights at element i selected by the
 * mask m (all 16 except in the row's tail) into floats; unselected lanes are zero. */

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

INLINE float dot_float_row(int n, const void *x, const float *y, load16_fn load16)
{
    const __mmask16 all = 0xffff;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load16(x, i, all), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(load16(x, i + 16, all), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(load16(x, i + 32, all), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(load16(x, i + 48, all), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(load16(x, i, all), _mm512_loadu_ps(y + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(load16(x, i, m), _mm512_maskz_loadu_ps(m, y + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void tq_vec_dot_f32_f32_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, y, load16_f32);
}

void tq_vec_dot_f16_f32_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, y, load16_f16);
}

void tq_vec_dot_bf16_f32_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, y, load16_bf16);
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

void tq_vec_dot_q4_0_q8_0_avx512(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q4_0), false, pair_q4_0_q8_0);
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
