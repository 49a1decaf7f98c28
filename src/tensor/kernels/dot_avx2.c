/*
 * dot_avx2.c — AVX2 + FMA + F16C dot products for float weights and the legacy quants.
 *
 * Compiled with -mavx2 -mfma -mf16c and reached only through the dispatch in kernels.c
 * after a CPU check. Each quant block of 32 values becomes one 256-bit register of bytes
 * in natural order (values 0..15 from the low nibbles, 16..31 from the high ones). The
 * integer products use maddubs (unsigned × signed bytes -> int16 pairs) and madd (-> int32
 * lanes); the weight's offset (-8 for Q4_0, -16 for Q5_0) is folded in as a second maddubs
 * against the offset so the unsigned operand never needs a sign, which keeps the sum exact
 * for every int8 activation (Q8_0 weights, signed already, use the sign trick: see dot.h).
 * Each block's int32 lanes are converted to float and accumulated with one FMA against
 * d_x*d_y; four accumulators hide the FMA latency.
 */
#include "tensor/kernels/dot.h"

#ifdef __AVX2__

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/types.h"

#define INLINE static inline __attribute__((always_inline))

INLINE float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float hmax_ps(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float f16(tq_f16 h)
{
    return _cvtsh_ss(h);
}

/* ---- Float weights ----------------------------------------------------------------------
 * One driver for F32, F16 and BF16 weights against F32 activations, and for F16 against
 * F16: load8 turns 8 values at element i of a row into floats. The last n % 8 values of
 * both rows are copied into zero-padded buffers so no load crosses a row. */

typedef __m256 (*load8_fn)(const void *x, int i);

INLINE __m256 load8_f32(const void *x, int i)
{
    return _mm256_loadu_ps((const float *)x + i);
}

INLINE __m256 load8_f16(const void *x, int i)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const tq_f16 *)x + i)));
}

/* bfloat16 is the top half of a float32: widen and shift. */
INLINE __m256 load8_bf16(const void *x, int i)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const tq_bf16 *)x + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

INLINE float dot_float_row(int n, const void *x, size_t xelem, load8_fn loadx, const void *y,
                           size_t yelem, load8_fn loady)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(loadx(x, i), loady(y, i), a0);
        a1 = _mm256_fmadd_ps(loadx(x, i + 8), loady(y, i + 8), a1);
        a2 = _mm256_fmadd_ps(loadx(x, i + 16), loady(y, i + 16), a2);
        a3 = _mm256_fmadd_ps(loadx(x, i + 24), loady(y, i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(loadx(x, i), loady(y, i), a0);
    if (i < n) {
        float xt[8] = { 0 }, yt[8] = { 0 };
        memcpy(xt, (const char *)x + (size_t)i * xelem, (size_t)(n - i) * xelem);
        memcpy(yt, (const char *)y + (size_t)i * yelem, (size_t)(n - i) * yelem);
        a1 = _mm256_fmadd_ps(loadx(xt, 0), loady(yt, 0), a1);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

void tq_vec_dot_f32_f32_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, sizeof(float), load8_f32, y, sizeof(float), load8_f32);
}

void tq_vec_dot_f16_f16_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, sizeof(tq_f16), load8_f16, y, sizeof(tq_f16), load8_f16);
}

void tq_vec_dot_bf16_f32_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_float_row(n, x, sizeof(tq_bf16), load8_bf16, y, sizeof(float), load8_f32);
}

/* F16C rounds to nearest even, as tq_f32_to_f16 does, including subnormals, infinities and
 * NaN payloads: the two agree bit for bit. */
void tq_from_float_f16_avx2(const float *x, void *vy, int64_t n)
{
    tq_f16 *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = tq_f32_to_f16(x[i]);
}

void tq_round_f16_avx2(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++)
        y[i] = tq_f16_to_f32(tq_f32_to_f16(x[i]));
}

/* ---- Quant blocks ----------------------------------------------------------------------- */

/* The 32 4-bit values of a block as 32 bytes in value order (low nibbles, then high): the
 * 16 bytes in both lanes (vbroadcasti128 is a load alone), the high lane's qwords shifted
 * right by 4, then masked: two ALU instructions where an insert of a shifted copy took
 * three, one of them crossing lanes. */
INLINE __m256i unpack_nibbles(const uint8_t *qs)
{
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Byte j = 0x10 where bit j of the little-endian qh is set, else 0: the Q5 fifth bits. */
INLINE __m256i expand_high_bits(const uint8_t qh[4])
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    /* byte j gets qh byte j/8, then is tested against bit j%8 */
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202,
                                              0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

INLINE __m256i load_q8(const int8_t *qs)
{
    return _mm256_loadu_si256((const __m256i *)qs);
}

/* Sums of u*s over groups of 4 bytes -> 8 int32. u <= 31 here, so the int16 pair sums of
 * maddubs (at most 2*31*128) never saturate. */
INLINE __m256i dot_u8_s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Sums of (u - off)*s, folding the offset in as a second product with s. */
INLINE __m256i dot_u8_s8_offset(__m256i u, __m256i s, int off)
{
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(u, s),
                                 _mm256_maddubs_epi16(_mm256_set1_epi8((char)off), s));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* A block function returns the integer sums of block b of row x times block b of y, per
 * int32 lane: sumi of the quant products and, for the types with a minimum, sumy of the
 * activations. */
typedef struct { __m256i sumi, sumy; } block_sums;
typedef block_sums (*block_fn)(const void *x, const block_q8_0 *y, int b);

INLINE block_sums block_q4_0_q8_0(const void *vx, const block_q8_0 *y, int b)
{
    const block_q4_0 *x = (const block_q4_0 *)vx + b;
    __m256i sumi = dot_u8_s8_offset(unpack_nibbles(x->qs), load_q8(y[b].qs), 8);
    return (block_sums){ sumi, _mm256_setzero_si256() };
}

INLINE block_sums block_q4_1_q8_0(const void *vx, const block_q8_0 *y, int b)
{
    const block_q4_1 *x = (const block_q4_1 *)vx + b;
    __m256i yv = load_q8(y[b].qs);
    return (block_sums){ dot_u8_s8(unpack_nibbles(x->qs), yv), dot_u8_s8(_mm256_set1_epi8(1), yv) };
}

INLINE block_sums block_q5_0_q8_0(const void *vx, const block_q8_0 *y, int b)
{
    const block_q5_0 *x = (const block_q5_0 *)vx + b;
    __m256i q = _mm256_or_si256(unpack_nibbles(x->qs), expand_high_bits(x->qh));
    return (block_sums){ dot_u8_s8_offset(q, load_q8(y[b].qs), 16), _mm256_setzero_si256() };
}

INLINE block_sums block_q5_1_q8_0(const void *vx, const block_q8_0 *y, int b)
{
    const block_q5_1 *x = (const block_q5_1 *)vx + b;
    __m256i yv = load_q8(y[b].qs);
    __m256i q = _mm256_or_si256(unpack_nibbles(x->qs), expand_high_bits(x->qh));
    return (block_sums){ dot_u8_s8(q, yv), dot_u8_s8(_mm256_set1_epi8(1), yv) };
}

/* Signed × signed: move x's sign onto y so maddubs sees |x| (unsigned, up to 128) and
 * sign(x)*y. Exact while y > -128, which from_float guarantees (see dot.h). */
INLINE block_sums block_q8_0_q8_0(const void *vx, const block_q8_0 *y, int b)
{
    const block_q8_0 *x = (const block_q8_0 *)vx + b;
    __m256i xv = load_q8(x->qs), yv = load_q8(y[b].qs);
    __m256i sumi = dot_u8_s8(_mm256_abs_epi8(xv), _mm256_sign_epi8(yv, xv));
    return (block_sums){ sumi, _mm256_setzero_si256() };
}

/* ---- Scales ---------------------------------------------------------------------------------
 * Converting each block's FP16 scales one at a time costs a good part of the integer work,
 * so the main loop converts eight blocks' scales with one vcvtph2ps and broadcasts each with
 * a permute. A legacy block starts with d; Q4_1/Q5_1 follow it with m. */

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

INLINE __m256 lane(__m256 v, int i)
{
    return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(i));
}

INLINE __m256 accumulate(block_sums s, __m256 d, __m256 m, bool with_min, __m256 acc)
{
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s.sumi), d, acc);
    if (with_min)
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s.sumy), m, acc);
    return acc;
}

INLINE float dot_blocks(int n, const void *vx, const block_q8_0 *y, size_t bsize, bool with_min,
                        block_fn block)
{
    const uint8_t *x = vx;
    const int nb = n / QK8_0;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *xb = x + bsize * (size_t)b;
        __m256 dy = halves8((const uint8_t *)&y[b].d, sizeof(block_q8_0));
        __m256 d8 = _mm256_mul_ps(halves8(xb, bsize), dy);
        __m256 m8 = with_min ? _mm256_mul_ps(halves8(xb + 2, bsize), dy) : d8;
        a0 = accumulate(block(x, y, b), lane(d8, 0), lane(m8, 0), with_min, a0);
        a1 = accumulate(block(x, y, b + 1), lane(d8, 1), lane(m8, 1), with_min, a1);
        a2 = accumulate(block(x, y, b + 2), lane(d8, 2), lane(m8, 2), with_min, a2);
        a3 = accumulate(block(x, y, b + 3), lane(d8, 3), lane(m8, 3), with_min, a3);
        a0 = accumulate(block(x, y, b + 4), lane(d8, 4), lane(m8, 4), with_min, a0);
        a1 = accumulate(block(x, y, b + 5), lane(d8, 5), lane(m8, 5), with_min, a1);
        a2 = accumulate(block(x, y, b + 6), lane(d8, 6), lane(m8, 6), with_min, a2);
        a3 = accumulate(block(x, y, b + 7), lane(d8, 7), lane(m8, 7), with_min, a3);
    }
    for (; b < nb; b++) {
        const uint8_t *xb = x + bsize * (size_t)b;
        float dy = f16(y[b].d);
        __m256 d = _mm256_set1_ps(f16(half_at(xb)) * dy);
        __m256 m = with_min ? _mm256_set1_ps(f16(half_at(xb + 2)) * dy) : d;
        a0 = accumulate(block(x, y, b), d, m, with_min, a0);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

void tq_vec_dot_q4_0_q8_0_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q4_0), false, block_q4_0_q8_0);
}

/* ---- Q4_0 rows -----------------------------------------------------------------------------
 * One activation row against several weight rows (generation's matrix-vector products):
 * what depends only on the activations is done once, so that each weight block costs one
 * maddubs instead of two: per block, the lanes' sums of 8 * a (the nibbles' offset, folded
 * in by subtraction) and the activation scale as a float. Rows go one after another, their
 * weights fetched 8 KB ahead into L2 as in the AVX-512 kernel; one core in cache measured
 * 10.9 GB/s for the one-row kernel, which left two threads at 41 % of the read bandwidth. */
#define Q4R_MAX_BLOCKS 512 /* rows up to 16384 values; longer ones take the one-row kernel */
#define Q4R_PREFETCH 8192

INLINE float q4_0_row_avx2(int nb, const uint8_t *x, const __m256i *off, const float *dy,
                           const block_q8_0 *y)
{
    const size_t bsize = sizeof(block_q4_0);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *xb = x + bsize * (size_t)b;
        #pragma GCC unroll 3
        for (int l = 0; l < 144; l += 64)
            _mm_prefetch((const char *)xb + Q4R_PREFETCH + l, _MM_HINT_T1);
        const __m256 d8 = _mm256_mul_ps(halves8(xb, bsize), _mm256_loadu_ps(dy + b));
        __m256 acc[4] = { a0, a1, a2, a3 };
        #pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const block_q4_0 *xk = (const block_q4_0 *)xb + k;
            __m256i p = _mm256_maddubs_epi16(unpack_nibbles(xk->qs), load_q8(y[b + k].qs));
            __m256i sumi = _mm256_sub_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)),
                                            off[b + k]);
            acc[k % 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), lane(d8, k), acc[k % 4]);
        }
        a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    }
    for (; b < nb; b++) {
        const block_q4_0 *xk = (const block_q4_0 *)(x + bsize * (size_t)b);
        __m256i p = _mm256_maddubs_epi16(unpack_nibbles(xk->qs), load_q8(y[b].qs));
        __m256i sumi = _mm256_sub_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), off[b]);
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(f16(xk->d) * dy[b]), a0);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

void tq_vec_dot_rows_q4_0_q8_0_avx2(int n, float *s, const void *x, size_t x_stride,
                                    const void *vy, int nr)
{
    const block_q8_0 *y = vy;
    const int nb = n / QK8_0;
    const uint8_t *xr = x;
    if (nb > Q4R_MAX_BLOCKS) {
        for (int r = 0; r < nr; r++)
            tq_vec_dot_q4_0_q8_0_avx2(n, &s[r], xr + (size_t)r * x_stride, vy);
        return;
    }
    __m256i off[Q4R_MAX_BLOCKS];
    float dy[Q4R_MAX_BLOCKS];
    for (int b = 0; b < nb; b++) {
        off[b] = dot_u8_s8(_mm256_set1_epi8(8), load_q8(y[b].qs));
        dy[b] = f16(y[b].d);
    }
    for (int r = 0; r < nr; r++)
        s[r] = q4_0_row_avx2(nb, xr + (size_t)r * x_stride, off, dy, y);
}

void tq_vec_dot_q4_1_q8_0_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q4_1), true, block_q4_1_q8_0);
}

void tq_vec_dot_q5_0_q8_0_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q5_0), false, block_q5_0_q8_0);
}

void tq_vec_dot_q5_1_q8_0_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q5_1), true, block_q5_1_q8_0);
}

void tq_vec_dot_q8_0_q8_0_avx2(int n, float *s, const void *x, const void *y)
{
    *s = dot_blocks(n, x, y, sizeof(block_q8_0), false, block_q8_0_q8_0);
}

/* ---- Activation quantizer ----------------------------------------------------------------
 * Bit-exact with quant.c's Q8_0 (llama.cpp's x86 rule): d = amax/127 stored as FP16,
 * q = x * (127/amax) rounded to nearest even, which is what cvtps does in the default
 * rounding mode. |q| <= 127, so the saturating packs never clip. */

void tq_from_float_q8_0_avx2(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        float amax = hmax_ps(m);
        y[b].d = tq_f32_to_f16(amax / 127.0f);
        __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        __m256i q01 = _mm256_packs_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v0, id)),
                                         _mm256_cvtps_epi32(_mm256_mul_ps(v1, id)));
        __m256i q23 = _mm256_packs_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v2, id)),
                                         _mm256_cvtps_epi32(_mm256_mul_ps(v3, id)));
        /* the packs work per 128-bit lane: put the 4-byte groups back in order */
        __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23),
                                                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, q);
    }
}

/* Q8_K, bit-exact with quant.c as the AVX-512 one is (dot_avx512.c): the signed value of
 * largest magnitude (the first, on ties) sets iscale = -127 / max, q = round-to-even(iscale
 * * x) capped at 127, d = 1 / iscale, one bsum per 16 quants. The scalar quantizer was
 * 2.6 % of an AVX2 prompt on the Q4_K_M model. */
void tq_from_float_q8_K_avx2(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 am = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8)
            am = _mm256_max_ps(am, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        const float amax = hmax_ps(am);
        float max = 0.0f;
        for (int j = 0; j < QK_K && amax != 0.0f; j += 8) {
            int eq = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)),
                                                      _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (eq) {
                max = x[j + __builtin_ctz((unsigned)eq)];
                break;
            }
        }
        memset(&y[b], 0, sizeof y[b]);
        if (max == 0.0f)
            continue;
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i cap = _mm256_set1_epi32(127);
        for (int j = 0; j < QK_K / 16; j++) {
            __m256i q0 = _mm256_min_epi32(
                _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * j), is)), cap);
            __m256i q1 = _mm256_min_epi32(
                _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * j + 8), is)), cap);
            /* packs work per 128-bit lane: 64-bit groups 0, 2, 1, 3 are q0 then q1 */
            __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xd8);
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * j),
                             _mm_packs_epi16(_mm256_castsi256_si128(w),
                                             _mm256_extracti128_si256(w, 1)));
            __m256i s = _mm256_add_epi32(q0, q1);
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
            y[b].bsums[j] = (int16_t)_mm_cvtsi128_si32(t);
        }
        y[b].d = 1.0f / iscale;
    }
}

#endif /* __AVX2__ */
