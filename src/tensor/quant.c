/*
 * quant.c — plain-C conversion between float32 and every weight type hearth supports.
 *
 * Dequantization follows ggml's meaning of each block layout exactly, including the order
 * of the float operations (e.g. Q4_K is (d*sc)*q - dmin*m, never fused), so results are
 * bit-identical to gguf-py's and llama.cpp's dequantizers; the unit tests check that against
 * ../shared/testdata/reference/dequant.json.
 *
 * Quantization. The legacy types (Q4_0, Q4_1, Q5_0, Q5_1) use ggml's deterministic
 * reference rule (scale from the block's extreme value, round to nearest), so they produce
 * the same bytes as llama-quantize. Q8_0 and Q8_K are also the activation quantizers of the
 * integer dot-product kernels and reproduce what llama.cpp does on x86:
 *   Q8_0: d = amax/127 stored as FP16, q = round-half-even(x * (127/amax)) — the rule of
 *         ggml's AVX quantize_row_q8_0, which produced the reference logits. (ggml's scalar
 *         quantize_row_q8_0_ref multiplies by 1/d and rounds halves away from zero; the two
 *         differ only in rare last-bit ties.)
 *   Q8_K: with m the signed value of largest magnitude, iscale = -127/m,
 *         q = min(127, round-half-even(iscale*x)), d = 1/iscale kept as float32, and
 *         bsums[j] = the sum of quants 16j..16j+15.
 * The K-quants (Q4_K, Q5_K, Q6_K) use a quantizer of our own: for each sub-block, candidate
 * steps around range/nmax (within 0.8 of a code), each followed by a least-squares fit of
 * step (and min) for the codes it gives, then re-rounding against the best fit while that
 * improves; the sub-block scales are then quantized (6 bits for Q4_K/Q5_K, signed 8 bits
 * for Q6_K, the largest taking the long end of the range as in ggml) and each sub-block
 * tries the neighbouring integer scale/min codes, keeping whichever reconstructs it best.
 * The bytes need not equal llama-quantize's; the format is the same. Speed: about 40 ns per
 * value for Q4_K/Q5_K, 20 for Q6_K, 3-7 for the rest (one core).
 *
 * Bit-exactness needs the products and sums above rounded separately: build without FP
 * contraction where the baseline ISA has FMA (e.g. -ffp-contract=off on aarch64).
 *
 * Round-trip guarantees (x input, x' = dequantize(quantize(x)), per block; d16 is the stored
 * FP16 scale, fp16 rounding moves a normal-range scale by at most 2^-11 relatively). RMS is
 * |x - x'|_rms / |x|_rms measured on N(0,1) data (scale-free), see tests/unit/test_quant.c.
 *   F16   exact for values representable in binary16, else round to nearest even:
 *         |x - x'| <= 2^-11 |x| in the normal range, <= 2^-25 below it              RMS 0.00021
 *   BF16  exact for values representable in bfloat16, else round to nearest even:
 *         |x - x'| <= 2^-8 |x|                                                       RMS 0.0017
 *   Q8_0  d = amax/127: |x - x'| <= d/2 + 127|d - d16| (+ float rounding)          RMS 0.0054
 *   Q4_0  d = max/-8:   |x - x'| <= |d| + 8|d - d16|  (|d|/2 except on the side opposite
 *         the extreme value, where +8 clips to +7)                                  RMS 0.086
 *   Q4_1  d = (max-min)/15: |x - x'| <= d/2 + 15|d - d16| + |min - m16|             RMS 0.078
 *   Q5_0  d = max/-16:  |x - x'| <= |d| + 16|d - d16|                               RMS 0.043
 *   Q5_1  d = (max-min)/31: |x - x'| <= d/2 + 31|d - d16| + |min - m16|             RMS 0.038
 *   Q8_K  d = 1/iscale (float32): |x - x'| <= |d|/2 (+ float rounding)             RMS 0.0070
 *   Q4_K  no closed-form per-value bound (scales are searched, then quantized to 6 bits);
 *         tested: |x - x'| <= 0.25 * amax of the super-block (measured <= 0.11)    RMS 0.070
 *   Q5_K  as Q4_K; tested: |x - x'| <= 0.125 * amax (measured <= 0.058)             RMS 0.035
 *   Q6_K  as Q4_K; tested: |x - x'| <= 0.05 * amax (measured <= 0.027)              RMS 0.017
 * (llama-quantize's own K-quants measure about the same: Q4_K ~0.07, Q5_K ~0.035.)
 * Re-quantizing what these quantizers produce gives the same bytes for Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, F16 and BF16, and re-quantizing llama-quantize's legacy-type tensors
 * reproduces its bytes.
 * All-zero input gives exact zeros; scales that round to zero in FP16 give zeros (never NaN).
 * Inputs must be finite; FP16 scales overflow for blocks with |x| above about 65504*nmax.
 */
#include "tensor/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5*2^23 leaves the integer part
 * in the low mantissa bits (the technique ggml's nearest_int uses). */
static inline int round_even(float v)
{
    union { float f; int32_t i; } u = { .f = v + 12582912.0f };
    return (u.i & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- Dequantization ---------------------------------------------------------------------- */

static void deq_f16(const void *src, float *y, int64_t n)
{
    const tq_f16 *x = src;
    for (int64_t i = 0; i < n; i++)
        y[i] = tq_f16_to_f32(x[i]);
}

static void deq_bf16(const void *src, float *y, int64_t n)
{
    const tq_bf16 *x = src;
    for (int64_t i = 0; i < n; i++)
        y[i] = tq_bf16_to_f32(x[i]);
}

static void deq_q4_0(const void *src, float *y, int64_t nb)
{
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK4_0) {
        float d = tq_f16_to_f32(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 0xf) - 8) * d;
            y[j + QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const void *src, float *y, int64_t nb)
{
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK4_1) {
        float d = tq_f16_to_f32(b[i].d), m = tq_f16_to_f32(b[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(b[i].qs[j] & 0xf) * d + m;
            y[j + QK4_1 / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5: bit j of the little-endian 32-bit qh is the fifth bit of value j. */
static inline uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void deq_q5_0(const void *src, float *y, int64_t nb)
{
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK5_0) {
        float d = tq_f16_to_f32(b[i].d);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (b[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(lo - 16) * d;
            y[j + QK5_0 / 2] = (float)(hi - 16) * d;
        }
    }
}

static void deq_q5_1(const void *src, float *y, int64_t nb)
{
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK5_1) {
        float d = tq_f16_to_f32(b[i].d), m = tq_f16_to_f32(b[i].m);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (b[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)lo * d + m;
            y[j + QK5_1 / 2] = (float)hi * d + m;
        }
    }
}

static void deq_q8_0(const void *src, float *y, int64_t nb)
{
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK8_0) {
        float d = tq_f16_to_f32(b[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = (float)b[i].qs[j] * d;
    }
}

/* Q2_K: sub-blocks of 16; each 128-value half uses 32 bytes of qs, and byte l holds four
 * 2-bit quants (shifts 0,2,4,6) belonging to four consecutive 32-value groups. */
static void deq_q2_k(const void *src, float *y, int64_t nb)
{
    const block_q2_K *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = tq_f16_to_f32(b[i].d), dmin = tq_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; k++) {
                    uint8_t sc = b[i].scales[is++];
                    float dl = d * (float)(sc & 0xf), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[l + 16 * k] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K's 16 six-bit scales: low 4 bits in the nibbles of bytes 0..7 (scales 0-7 low
 * nibbles, 8-15 high nibbles), high 2 bits in bytes 8..11 (scale i uses byte 8 + i%4,
 * bit pair i/4). Stored with a bias of 32. */
static int q3k_scale(const uint8_t s[12], int i)
{
    int lo = i < 8 ? s[i] & 0xf : s[i - 8] >> 4;
    int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* Q3_K quants: 2 low bits in qs laid out like Q2_K; the third bit in hmask (bit set: value
 * stays, clear: value - 4), hmask byte l bit k for group k of 32 values. */
static void deq_q3_k(const void *src, float *y, int64_t nb)
{
    const block_q3_K *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = tq_f16_to_f32(b[i].d);
        const uint8_t *q = b[i].qs;
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int k = 0; k < 2; k++) {
                    float dl = d * (float)q3k_scale(b[i].scales, is++);
                    for (int l = 0; l < 16; l++) {
                        int v = (q[l + 16 * k] >> shift) & 3;
                        if (!(b[i].hmask[l + 16 * k] & m))
                            v -= 4;
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

/* Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: entries 0..3 sit in
 * the low 6 bits of bytes 0..3 (scale) and 4..7 (min); entries 4..7 keep their low nibble
 * in bytes 8..11 (scale low, min high) and their top 2 bits in the free top bits of bytes
 * 0..3 (scale) and 4..7 (min). */
static void k4_get(const uint8_t s[12], int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void k4_pack(uint8_t s[12], const uint8_t sc[8], const uint8_t mn[8])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xf) | (mn[j + 4] & 0xf) << 4);
    }
}

/* Q4_K: 64-value chunks; byte l of a chunk's 32 bytes holds value l of the even sub-block
 * (low nibble) and value l of the odd one (high nibble). */
static void deq_q4_k(const void *src, float *y, int64_t nb)
{
    const block_q4_K *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = tq_f16_to_f32(b[i].d), dmin = tq_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            int sc0, m0, sc1, m1;
            k4_get(b[i].scales, j, &sc0, &m0);
            k4_get(b[i].scales, j + 1, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++)
                *y++ = d0 * (float)(q[l] & 0xf) - mm0;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

/* Q5_K: Q4_K's nibbles plus a fifth bit: qh[l] bit j is the high bit of value l of
 * sub-block j. */
static void deq_q5_k(const void *src, float *y, int64_t nb)
{
    const block_q5_K *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = tq_f16_to_f32(b[i].d), dmin = tq_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            int sc0, m0, sc1, m1;
            k4_get(b[i].scales, j, &sc0, &m0);
            k4_get(b[i].scales, j + 1, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++)
                *y++ = d0 * (float)((q[l] & 0xf) | ((b[i].qh[l] >> j) & 1) << 4) - mm0;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] >> 4) | ((b[i].qh[l] >> (j + 1)) & 1) << 4) - mm1;
        }
    }
}

/* Q6_K: 128-value halves; within one, value l (l < 32) of each 32-value group g takes its
 * low nibble from ql[l + 32*(g&1)] (low nibble for g < 2, high for g >= 2) and its top two
 * bits from qh[l] bits 2g..2g+1. Quants are biased by 32; one int8 scale per 16 values. */
static void deq_q6_k(const void *src, float *y, int64_t nb)
{
    const block_q6_K *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = tq_f16_to_f32(b[i].d);
        for (int half = 0; half < 2; half++, y += 128) {
            const uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
            const int8_t *sc = b[i].scales + 8 * half;
            for (int l = 0; l < 32; l++) {
                for (int g = 0; g < 4; g++) {
                    int lo = (ql[l + 32 * (g & 1)] >> (4 * (g >> 1))) & 0xf;
                    int q = (lo | ((qh[l] >> (2 * g)) & 3) << 4) - 32;
                    y[l + 32 * g] = d * (float)sc[l / 16 + 2 * g] * (float)q;
                }
            }
        }
    }
}

static void deq_q8_k(const void *src, float *y, int64_t nb)
{
    const block_q8_K *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++)
            y[j] = b[i].d * (float)b[i].qs[j];
}

typedef void (*deq_fn)(const void *src, float *dst, int64_t count);

/* Dequantizer per type; `count` is blocks, or values for the float types (block of 1). */
static deq_fn deq_of(int type)
{
    switch (type) {
    case TQ_F16: return deq_f16;
    case TQ_BF16: return deq_bf16;
    case TQ_Q4_0: return deq_q4_0;
    case TQ_Q4_1: return deq_q4_1;
    case TQ_Q5_0: return deq_q5_0;
    case TQ_Q5_1: return deq_q5_1;
    case TQ_Q8_0: return deq_q8_0;
    case TQ_Q2_K: return deq_q2_k;
    case TQ_Q3_K: return deq_q3_k;
    case TQ_Q4_K: return deq_q4_k;
    case TQ_Q5_K: return deq_q5_k;
    case TQ_Q6_K: return deq_q6_k;
    case TQ_Q8_K: return deq_q8_k;
    default: return NULL;
    }
}

bool tq_can_dequantize(int type)
{
    return type == TQ_F32 || deq_of(type) != NULL;
}

void tq_dequantize(int type, const void *src, float *dst, int64_t n)
{
    if (type == TQ_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    deq_fn f = deq_of(type);
    const tq_traits *t = tq_traits_of(type);
    if (f && t)
        f(src, dst, n / t->blck);
}

/* ---- Legacy quantizers (ggml's reference rule) -------------------------------------------- */

static void quant_f16(const float *x, void *dst, int64_t n)
{
    tq_f16 *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = tq_f32_to_f16(x[i]);
}

static void quant_bf16(const float *x, void *dst, int64_t n)
{
    tq_bf16 *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = tq_f32_to_bf16(x[i]);
}

/* The value of largest magnitude, keeping its sign (the first one on ties). */
static float signed_absmax(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = FLT_MAX;
    *mx = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        *mn = fminf(*mn, x[j]);
        *mx = fmaxf(*mx, x[j]);
    }
}

/* Symmetric legacy rule: the extreme value maps to -2^(bits-1); the others round to
 * nearest by floor(x/d + bias + 0.5), clipped to the top code. */
static void sym_codes(const float *x, int bits, uint8_t *q, tq_f16 *d16)
{
    int bias = 1 << (bits - 1);
    float d = signed_absmax(x, 32) / (float)-bias;
    float id = d != 0 ? 1.0f / d : 0.0f;
    *d16 = tq_f32_to_f16(d);
    for (int j = 0; j < 32; j++)
        q[j] = (uint8_t)clampi((int)floorf(x[j] * id + ((float)bias + 0.5f)), 0, 2 * bias - 1);
}

/* Asymmetric legacy rule: min maps to 0, max to the top code. */
static void asym_codes(const float *x, int bits, uint8_t *q, tq_f16 *d16, tq_f16 *m16)
{
    int top = (1 << bits) - 1;
    float mn, mx;
    min_max(x, 32, &mn, &mx);
    float d = (mx - mn) / (float)top;
    float id = d != 0 ? 1.0f / d : 0.0f;
    *d16 = tq_f32_to_f16(d);
    *m16 = tq_f32_to_f16(mn);
    for (int j = 0; j < 32; j++)
        q[j] = (uint8_t)clampi((int)floorf((x[j] - mn) * id + 0.5f), 0, top);
}

static void pack_nibbles(const uint8_t q[32], uint8_t qs[16])
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
}

static void pack_qh(const uint8_t q[32], uint8_t qh[4])
{
    uint32_t h = 0;
    for (int j = 0; j < 32; j++)
        h |= (uint32_t)(q[j] >> 4) << j;
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

static void quant_q4_0(const float *x, void *dst, int64_t nb)
{
    block_q4_0 *b = dst;
    uint8_t q[32];
    for (int64_t i = 0; i < nb; i++, x += 32) {
        sym_codes(x, 4, q, &b[i].d);
        pack_nibbles(q, b[i].qs);
    }
}

static void quant_q4_1(const float *x, void *dst, int64_t nb)
{
    block_q4_1 *b = dst;
    uint8_t q[32];
    for (int64_t i = 0; i < nb; i++, x += 32) {
        asym_codes(x, 4, q, &b[i].d, &b[i].m);
        pack_nibbles(q, b[i].qs);
    }
}

static void quant_q5_0(const float *x, void *dst, int64_t nb)
{
    block_q5_0 *b = dst;
    uint8_t q[32];
    for (int64_t i = 0; i < nb; i++, x += 32) {
        sym_codes(x, 5, q, &b[i].d);
        pack_nibbles(q, b[i].qs);
        pack_qh(q, b[i].qh);
    }
}

static void quant_q5_1(const float *x, void *dst, int64_t nb)
{
    block_q5_1 *b = dst;
    uint8_t q[32];
    for (int64_t i = 0; i < nb; i++, x += 32) {
        asym_codes(x, 5, q, &b[i].d, &b[i].m);
        pack_nibbles(q, b[i].qs);
        pack_qh(q, b[i].qh);
    }
}

static void quant_q8_0(const float *x, void *dst, int64_t nb)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        b[i].d = tq_f32_to_f16(amax / 127.0f);
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        for (int j = 0; j < QK8_0; j++)
            b[i].qs[j] = (int8_t)round_even(x[j] * id);
    }
}

static void quant_q8_k(const float *x, void *dst, int64_t nb)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max = signed_absmax(x, QK_K);
        memset(&b[i], 0, sizeof b[i]);
        if (max == 0)
            continue;
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = round_even(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)s;
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ---- K-quant quantizers (our own search) -------------------------------------------------- */

/* Candidate steps tried around the plain max-based scale, as a fraction of one code. */
#define K_SEARCH 4
#define K_SEARCH_STEP 0.2f

/* Squared error of a sub-block reconstructed with step S and min M (codes re-rounded). */
static float asym_err(const float *x, int n, int nmax, float S, float M)
{
    float err = 0, iS = S > 0 ? 1 / S : 0;
    for (int j = 0; j < n; j++) {
        int l = S > 0 ? clampi(round_even((x[j] + M) * iS), 0, nmax) : 0;
        float e = S * (float)l - M - x[j];
        err += e * e;
    }
    return err;
}

/* Least-squares step s and offset o (x ≈ s*l + o, o <= 0 since the format only subtracts
 * a min) for the codes of x under the current (s, o); returns the squared error of that
 * fit, from the accumulated sums. */
static float ls_refit(const float *x, int n, int nmax, float *s, float *o)
{
    float is = 1 / *s, off = *o, sl = 0, sll = 0, sx = 0, sxl = 0, sxx = 0;
    for (int j = 0; j < n; j++) {
        float l = (float)clampi(round_even((x[j] - off) * is), 0, nmax);
        sl += l;
        sll += l * l;
        sx += x[j];
        sxl += x[j] * l;
        sxx += x[j] * x[j];
    }
    float det = (float)n * sll - sl * sl, ns = 0, no = 1;
    if (det > 0) {
        ns = ((float)n * sxl - sx * sl) / det;
        no = (sll * sx - sl * sxl) / det;
    }
    if (no > 0) { /* the format cannot add (or all codes are equal): offset 0 */
        no = 0;
        ns = sll > 0 ? sxl / sll : 0;
    }
    *s = ns;
    *o = no;
    if (ns <= 0)
        return FLT_MAX;
    return ns * ns * sll + 2 * ns * no * sl + (float)n * no * no - 2 * ns * sxl - 2 * no * sx + sxx;
}

/* Fit x ≈ s*L - m with L in [0, nmax], s >= 0, m >= 0 for one sub-block of n values: try
 * candidate steps around (max-min)/nmax, each refit by least squares, then re-round against
 * the best fit and refit while that keeps improving. */
static void fit_asym(const float *x, int n, int nmax, float *s_out, float *m_out)
{
    float mn, mx;
    min_max(x, n, &mn, &mx);
    mn = fminf(mn, 0);
    if (mx <= mn) { /* constant (<= 0) sub-block: the min alone reproduces it */
        *s_out = 0;
        *m_out = -mn;
        return;
    }
    float best_err = FLT_MAX, best_s = (mx - mn) / (float)nmax, best_o = mn;
    for (int k = -K_SEARCH; k <= K_SEARCH; k++) {
        float s = (mx - mn) / ((float)nmax + K_SEARCH_STEP * (float)k), o = mn;
        float err = ls_refit(x, n, nmax, &s, &o);
        if (err < best_err) {
            best_err = err;
            best_s = s;
            best_o = o;
        }
    }
    for (int iter = 0; iter < 4; iter++) {
        float s = best_s, o = best_o;
        float err = ls_refit(x, n, nmax, &s, &o);
        if (!(err < best_err))
            break;
        best_err = err;
        best_s = s;
        best_o = o;
    }
    *s_out = best_s;
    *m_out = -best_o;
}

static uint8_t code6(float v, float inv)
{
    return (uint8_t)clampi(round_even(v * inv), 0, 63);
}

/* Shared by Q4_K and Q5_K: choose d, dmin and the 8 six-bit (scale, min) codes of one
 * 256-value super-block, and the final codes L[256] in [0, nmax]. */
static void quant_k_asym(const float *x, int nmax, tq_f16 *d16, tq_f16 *dmin16,
                         uint8_t sc[8], uint8_t mn[8], uint8_t L[QK_K])
{
    float s[8], m[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        fit_asym(x + 32 * j, 32, nmax, &s[j], &m[j]);
        smax = fmaxf(smax, s[j]);
        mmax = fmaxf(mmax, m[j]);
    }
    *d16 = tq_f32_to_f16(smax / 63);
    *dmin16 = tq_f32_to_f16(mmax / 63);
    float d = tq_f16_to_f32(*d16), dmin = tq_f16_to_f32(*dmin16);
    float id = d > 0 ? 1 / d : 0, idmin = dmin > 0 ? 1 / dmin : 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        int c0 = code6(s[j], id), m0 = code6(m[j], idmin);
        float best = FLT_MAX;
        /* the rounded codes need not be the best pair: try the neighbours too */
        for (int c = c0 - 1; c <= c0 + 1; c++) {
            for (int mm = m0 - 1; mm <= m0 + 1; mm++) {
                if (c < 0 || c > 63 || mm < 0 || mm > 63)
                    continue;
                float e = asym_err(xs, 32, nmax, d * (float)c, dmin * (float)mm);
                if (e < best) {
                    best = e;
                    sc[j] = (uint8_t)c;
                    mn[j] = (uint8_t)mm;
                }
            }
        }
        float S = d * (float)sc[j], M = dmin * (float)mn[j];
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)(S > 0 ? clampi(round_even((xs[l] + M) / S), 0, nmax) : 0);
    }
}

static void quant_q4_k(const float *x, void *dst, int64_t nb)
{
    block_q4_K *b = dst;
    uint8_t sc[8], mn[8], L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        quant_k_asym(x, 15, &b[i].d, &b[i].dmin, sc, mn, L);
        k4_pack(b[i].scales, sc, mn);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quant_q5_k(const float *x, void *dst, int64_t nb)
{
    block_q5_K *b = dst;
    uint8_t sc[8], mn[8], L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        quant_k_asym(x, 31, &b[i].d, &b[i].dmin, sc, mn, L);
        k4_pack(b[i].scales, sc, mn);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
            }
        }
    }
}

/* Symmetric fit for Q6_K: x ≈ s*l with l in [-32, 31] over n values. The extreme value
 * goes to -32 (the longer side); candidate scales around it, each refit by least squares.
 * Returns s (signed; 0 for an all-zero sub-block). */
static float fit_sym(const float *x, int n)
{
    float max = signed_absmax(x, n);
    if (max == 0)
        return 0;
    float best_s = max / -32.0f, best_q = -1;
    for (int k = -K_SEARCH; k <= K_SEARCH; k++) {
        float is = -(32.0f + K_SEARCH_STEP * (float)k) / max;
        float sxl = 0, sll = 0;
        for (int j = 0; j < n; j++) {
            float l = (float)clampi(round_even(x[j] * is), -32, 31);
            sxl += x[j] * l;
            sll += l * l;
        }
        /* least squares leaves error sum(x^2) - sxl^2/sll: maximise sxl^2/sll */
        if (sll > 0 && sxl * sxl / sll > best_q) {
            best_q = sxl * sxl / sll;
            best_s = sxl / sll;
        }
    }
    return best_s;
}

static float sym_err(const float *x, int n, float S)
{
    float err = 0;
    for (int j = 0; j < n; j++) {
        int l = S != 0 ? clampi(round_even(x[j] / S), -32, 31) : 0;
        float e = S * (float)l - x[j];
        err += e * e;
    }
    return err;
}

static void quant_q6_k(const float *x, void *dst, int64_t nb)
{
    block_q6_K *b = dst;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        /* as for the values, the largest scale takes the longer side of the int8 range */
        float s[16];
        for (int j = 0; j < 16; j++)
            s[j] = fit_sym(x + 16 * j, 16);
        b[i].d = tq_f32_to_f16(signed_absmax(s, 16) / -128);
        float d = tq_f16_to_f32(b[i].d), id = d != 0 ? 1 / d : 0;
        uint8_t L[QK_K];
        for (int j = 0; j < 16; j++) {
            const float *xs = x + 16 * j;
            int c0 = clampi(round_even(s[j] * id), -128, 127), bestc = c0;
            float best = FLT_MAX;
            for (int c = c0 - 1; c <= c0 + 1; c++) {
                float e = c >= -128 && c <= 127 ? sym_err(xs, 16, d * (float)c) : FLT_MAX;
                if (e < best) {
                    best = e;
                    bestc = c;
                }
            }
            b[i].scales[j] = (int8_t)bestc;
            float S = d * (float)bestc;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)(32 + (S != 0 ? clampi(round_even(xs[l] / S), -32, 31) : 0));
        }
        for (int half = 0; half < 2; half++) {
            const uint8_t *Lh = L + 128 * half;
            uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xf) | (Lh[l + 64] & 0xf) << 4);
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xf) | (Lh[l + 96] & 0xf) << 4);
                qh[l] = (uint8_t)(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                  (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

typedef void (*quant_fn)(const float *src, void *dst, int64_t count);

static quant_fn quant_of(int type)
{
    switch (type) {
    case TQ_F16: return quant_f16;
    case TQ_BF16: return quant_bf16;
    case TQ_Q4_0: return quant_q4_0;
    case TQ_Q4_1: return quant_q4_1;
    case TQ_Q5_0: return quant_q5_0;
    case TQ_Q5_1: return quant_q5_1;
    case TQ_Q8_0: return quant_q8_0;
    case TQ_Q4_K: return quant_q4_k;
    case TQ_Q5_K: return quant_q5_k;
    case TQ_Q6_K: return quant_q6_k;
    case TQ_Q8_K: return quant_q8_k;
    default: return NULL;
    }
}

bool tq_can_quantize(int type)
{
    return type == TQ_F32 || quant_of(type) != NULL;
}

size_t tq_quantize(int type, const float *src, void *dst, int64_t n)
{
    size_t bytes = tq_row_size(type, n);
    if (bytes == 0)
        return 0;
    if (type == TQ_F32) {
        memcpy(dst, src, bytes);
        return bytes;
    }
    quant_fn f = quant_of(type);
    if (!f)
        return 0;
    f(src, dst, n / tq_traits_of(type)->blck);
    return bytes;
}
