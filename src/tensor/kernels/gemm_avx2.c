/*
 * gemm_avx2.c — the GEMMs of gemm.h with AVX2 and FMA: the batched path of machines without
 * AVX-512. Quantized weights go through an int8 GEMM on the same panels and packed
 * activations as the AVX-512 one (below); float weights through a float GEMM on panels
 * decoded to F32.
 *
 * The float GEMM's tile is 2 batch rows x 32 weight rows: 8 accumulators, 4 panel loads and
 * 2 broadcasts per 8 fused multiply-adds, in 13 of the 16 vector registers; eight
 * independent chains cover the FMA latency of two pipes. Before the int8 GEMM every
 * quantized type took it, decoded to F32: pp512 on the 1B-shaped Q4_0 model ran at 49
 * tokens/s, the int8 GEMM's at 97-102.
 */
#include "tensor/kernels/gemm.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "tensor/kernels/gemm_unpack_x86.h"
#include "tensor/kernels/gemm_x86.h"
#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

#define INLINE static inline __attribute__((always_inline))

/* Row values k0 .. k0+kc-1 as floats in out[0 .. kpad), zero past kc. F16 and BF16 are
 * converted here (exactly, as tq_gemmf_decode_row does), the tails and F32 there. */
static void decode_row(int type, const uint8_t *row, int k0, int kc, int kpad, float *out)
{
    int k = 0;
    if (type == TQ_F16) {
        for (; k + 8 <= kc; k += 8)
            _mm256_storeu_ps(out + k, _mm256_cvtph_ps(_mm_loadu_si128(
                                          (const __m128i *)((const tq_f16 *)row + k0 + k))));
    } else if (type == TQ_BF16) {
        for (; k + 8 <= kc; k += 8) {
            __m256i w = _mm256_cvtepu16_epi32(
                _mm_loadu_si128((const __m128i *)((const tq_bf16 *)row + k0 + k)));
            _mm256_storeu_ps(out + k, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
    }
    if (k < kc)
        tq_gemmf_decode_row(type, row, k0 + k, kc - k, out + k);
    memset(out + kc, 0, (size_t)(kpad - kc) * sizeof(float));
}

/* Rows v[0..7] (8 values each) -> out + j * stride for value j (lanes: the 8 rows). */
INLINE void transpose8_store(const float *src, int ld, float *out, int stride)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + (size_t)i * ld);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + j]: in each 128-bit lane L, rows 4i .. 4i+3 of value 4L + j */
    for (int i = 0; i < 2; i++) {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(out + (size_t)j * stride, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
        _mm256_storeu_ps(out + (size_t)(4 + j) * stride,
                         _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
    }
}

void tq_gemmf_unpack_avx2(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                          float *panel)
{
    const int kpad = (kc + 15) & ~15;
    float tmp[TQ_GEMMF_ROWS][TQ_GEMMF_KC];
    for (int r = 0; r < TQ_GEMMF_ROWS; r++) {
        if (r < rows)
            decode_row(type, (const uint8_t *)W + (size_t)r * w_row, k0, kc, kpad, tmp[r]);
        else
            memset(tmp[r], 0, (size_t)kpad * sizeof(float));
    }
    for (int r0 = 0; r0 < TQ_GEMMF_ROWS; r0 += 8)
        for (int k = 0; k < kpad; k += 8)
            transpose8_store(&tmp[r0][k], TQ_GEMMF_KC, panel + (size_t)k * TQ_GEMMF_ROWS + r0,
                             TQ_GEMMF_ROWS);
}

/* Write the 16 outputs lo, hi of one batch row to out[0 .. rows) (rows <= 16), adding
 * what is there. */
INLINE void store_half(float *out, __m256 lo, __m256 hi, int rows, bool accumulate)
{
    float l[16];
    float *dst = rows == 16 && !accumulate ? out : l;
    _mm256_storeu_ps(dst, lo);
    _mm256_storeu_ps(dst + 8, hi);
    if (dst == l)
        for (int r = 0; r < rows; r++)
            out[r] = accumulate ? out[r] + l[r] : l[r];
}

/* nc batch rows x 16 weight rows (one half of the panel, columns half*16 ..): two
 * accumulators per batch row, so five rows give ten independent FMA chains. */
INLINE void tile(const float *panel, int half, int kc, const float *x, size_t ldx, float *y,
                 int ldy, const int nc, int rows, bool accumulate)
{
    __m256 acc[5][2];
    #pragma GCC unroll 5
    for (int j = 0; j < nc; j++)
        acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    const float *p = panel + 16 * half;
    for (int k = 0; k < kc; k++, p += TQ_GEMMF_ROWS) {
        const __m256 w0 = _mm256_loadu_ps(p), w1 = _mm256_loadu_ps(p + 8);
        #pragma GCC unroll 5
        for (int j = 0; j < nc; j++) {
            __m256 b = _mm256_broadcast_ss(x + (size_t)j * ldx + k);
            acc[j][0] = _mm256_fmadd_ps(w0, b, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(w1, b, acc[j][1]);
        }
    }
    #pragma GCC unroll 5
    for (int j = 0; j < nc; j++)
        store_half(y + (size_t)j * ldy + 16 * half, acc[j][0], acc[j][1], rows, accumulate);
}

void tq_gemmf_avx2(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                   int rows, int cols, bool accumulate)
{
    for (int half = 0; half < 2 && rows > 16 * half; half++) {
        const int hr = rows - 16 * half < 16 ? rows - 16 * half : 16;
        int c = 0;
        for (; c + 5 <= cols; c += 5)
            tile(panel, half, kc, x + (size_t)c * ldx, ldx, y + (size_t)c * ldy, ldy, 5, hr,
                 accumulate);
        for (; c < cols; c++)
            tile(panel, half, kc, x + (size_t)c * ldx, ldx, y + (size_t)c * ldy, ldy, 1, hr,
                 accumulate);
    }
}

/* ---- int8 panels (layouts in gemm.h) --------------------------------------------------------
 * vpmaddubsw multiplies the packed activations (a + 128, unsigned) by a broadcast dword of
 * weight quants (signed) and adds neighbouring products into int16; n of those (n dwords)
 * are added before vpmaddwd widens them to int32, so 32 byte products cost 1 + 1/n multiply
 * instructions instead of the float path's 4 fused multiply-adds (and the panel is a
 * quarter the size). Exact as long as no int16 sum saturates: 2 products x n x 255 x |q| <=
 * 32767, so n = 4 for |q| <= 16 and n = 2 up to 32: every type but Q8_0, whose products
 * are taken the other way round (steps_q8). For the K-quants vpmaddwd multiplies by the
 * block's integer scale instead of 1, so a super-block sums in integers as in gemm.h
 * without a vpmulld, starting from sum(sc * corr); the float steps are tq_gemm_ref's, so
 * results are bit-identical to it.
 *
 * A tile is 2 panel rows x one group of 16 columns (two registers of 8 columns), each
 * activation register used by both rows and each broadcast by both halves; the 4 int32 sums
 * stay in registers for a block (a super-block for the K-quants), the float accumulators in
 * L1 for the whole row of blocks. */


/* s[r][h] += w[r] * the products of dwords g .. g + n - 1 of panel rows qb, qb + ld with the
 * 8 columns h of record ra (w: 1, or a K-quant's block scale), summed in int16 first. */
INLINE void steps(const int8_t *qb, int ld, const uint8_t *ra, int g, const int n,
                  const __m256i w[2], __m256i s[2][2])
{
    #pragma GCC unroll 2
    for (int r = 0; r < 2; r++)
        #pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i p = _mm256_setzero_si256();
            #pragma GCC unroll 8
            for (int i = 0; i < n; i++)
                p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
                        _mm256_loadu_si256((const __m256i *)(ra + 64 * (g + i) + 32 * h)),
                        gx_bcast_q(qb + (size_t)r * ld + 4 * (g + i))));
            s[r][h] = _mm256_add_epi32(s[r][h], _mm256_madd_epi16(p, w[r]));
        }
}

/* The same as steps (n = 1) for Q8_0, whose |q| up to 128 would saturate a pair of products
 * with unsigned activations (2 x 255 x 128). The unsigned operand is |q| instead, the signed
 * one a * sign(q) (the activations back without their offset: |a| <= 127, as every Q8_0
 * quantizer writes them), so a pair sums to at most 2 x 128 x 127, and no corr is needed.
 * Per 32 products: vpsignb, vpmaddubsw, vpmaddwd and an add, the float path's 4 FMAs. */
INLINE void steps_q8(const int8_t *qb, int ld, const uint8_t *ra, int g, __m256i s[2][2])
{
    const __m256i off = _mm256_set1_epi8((char)0x80), one = _mm256_set1_epi16(1);
    __m256i a[2];
    #pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
        a[h] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(ra + 64 * g + 32 * h)), off);
    #pragma GCC unroll 2
    for (int r = 0; r < 2; r++) {
        const __m256i w = gx_bcast_q(qb + (size_t)r * ld + 4 * g), aw = _mm256_abs_epi8(w);
        #pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            s[r][h] = _mm256_add_epi32(s[r][h], _mm256_madd_epi16(
                          _mm256_maddubs_epi16(aw, _mm256_sign_epi8(a[h], w)), one));
    }
}

/* acc[r][h] += the products of panel rows r0, r0 + 1 with the group at a (plain types).
 * The float accumulators live in memory (L1): in registers they left too few for the
 * integer loop, which then spilled inside it. */
INLINE void tile_i8(const tq_gemm_panel *p, int r0, const uint8_t *a, const int bs,
                    const bool has_min, const int n, float acc[2][2][8])
{
    const int nblk = p->nblk, ld = nblk * bs;
    const size_t rec = tq_gemm_record_size(bs), o = (size_t)r0 * nblk;
    const __m256i one[2] = { _mm256_set1_epi16(1), _mm256_set1_epi16(1) };
    for (int b = 0; b < nblk; b++) {
        const uint8_t *ra = a + (size_t)b * rec;
        const int8_t *qb = p->q + (size_t)r0 * ld + (size_t)b * bs;
        __m256i s[2][2];
        for (int r = 0; r < 2; r++)
            s[r][0] = s[r][1] = n ? _mm256_set1_epi32(p->corr[o + r * nblk + b])
                                  : _mm256_setzero_si256();
        if (n) {
            #pragma GCC unroll 4
            for (int g = 0; g < bs / 4; g += n)
                steps(qb, ld, ra, g, n, one, s);
        } else {
            #pragma GCC unroll 2 /* all 8: spills */
            for (int g = 0; g < bs / 4; g++)
                steps_q8(qb, ld, ra, g, s);
        }
        const float *da = (const float *)(ra + TQ_GEMM_COLS * bs);
        for (int h = 0; h < 2; h++) {
            const __m256 dav = _mm256_loadu_ps(da + 8 * h);
            for (int r = 0; r < 2; r++) {
                __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s[r][h]), dav);
                __m256 f = _mm256_fmadd_ps(v, _mm256_set1_ps(p->d[o + r * nblk + b]),
                                           _mm256_loadu_ps(acc[r][h]));
                if (has_min)
                    f = _mm256_fmadd_ps(_mm256_set1_ps(p->m[o + r * nblk + b]),
                                        _mm256_loadu_ps(da + TQ_GEMM_COLS + 8 * h), f);
                _mm256_storeu_ps(acc[r][h], f);
            }
        }
    }
}

/* The same for K-quant panels: T = sum(sc * isum) per super-block, then the float steps. */
INLINE void tile_i8_k(const tq_gemm_panel *p, int r0, const uint8_t *a, const int bs,
                      const bool has_min, const int n, const int32_t (*ksum)[TQ_GEMM_KC / QK_K],
                      float acc[2][2][8])
{
    const int nblk = p->nblk, ld = nblk * bs, sub = QK_K / bs;
    const size_t rec = tq_gemm_record_size(bs), o = (size_t)r0 * nblk;
    for (int b0 = 0; b0 < nblk; b0 += sub) {
        __m256i T[2][2];
        for (int r = 0; r < 2; r++)
            T[r][0] = T[r][1] = _mm256_set1_epi32(ksum[r0 + r][b0 / sub]);
        for (int b = b0; b < b0 + sub; b++) {
            const uint8_t *ra = a + (size_t)b * rec;
            const int8_t *qb = p->q + (size_t)r0 * ld + (size_t)b * bs;
            const __m256i sc[2] = { _mm256_set1_epi16((int16_t)p->sc[o + b]),
                                    _mm256_set1_epi16((int16_t)p->sc[o + nblk + b]) };
            #pragma GCC unroll 4
            for (int g = 0; g < bs / 4; g += n)
                steps(qb, ld, ra, g, n, sc, T);
        }
        const uint8_t *rb = a + (size_t)b0 * rec;
        for (int h = 0; h < 2; h++) {
            const __m256 dav = _mm256_loadu_ps((const float *)(rb + TQ_GEMM_COLS * bs) + 8 * h);
            for (int r = 0; r < 2; r++) {
                const __m256 f = gx_kquant_f(p, o + r * nblk + b0, rb, bs, h, T[r][h], has_min);
                _mm256_storeu_ps(acc[r][h], _mm256_fmadd_ps(f, dav, _mm256_loadu_ps(acc[r][h])));
            }
        }
    }
}

INLINE void gemm_i8(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                    int ldy, int rows, int cols, bool accumulate, const int bs,
                    const bool has_min, const bool kquant, const int n)
{
    const int ngroups = (cols + TQ_GEMM_COLS - 1) / TQ_GEMM_COLS;
    /* K-quants: each super-block's sum(sc * corr) per row, once for all the groups (summed
     * in each tile it cost 8 % of the Q4_K kernel, mostly horizontal adds) */
    int32_t ksum[TQ_GEMM_ROWS][TQ_GEMM_KC / QK_K];
    const int sub = QK_K / bs;
    for (int r = 0; kquant && r < TQ_GEMM_ROWS; r++)
        for (int b0 = 0; b0 < p->nblk; b0 += sub) {
            const size_t o = (size_t)r * p->nblk;
            int32_t t = 0;
            for (int b = b0; b < b0 + sub; b++)
                t += p->sc[o + b] * p->corr[o + b];
            ksum[r][b0 / sub] = t;
        }
    for (int G = 0; G < ngroups; G++) {
        const uint8_t *a = act + (size_t)G * group_stride;
        /* t[c][r]: the tile turned around, so each output row is written as one run */
        float t[TQ_GEMM_COLS][TQ_GEMM_ROWS];
        for (int r0 = 0; r0 < rows; r0 += 2) {
            float acc[2][2][8] = { 0 };
            if (kquant)
                tile_i8_k(p, r0, a, bs, has_min, n, (const int32_t (*)[TQ_GEMM_KC / QK_K])ksum,
                          acc);
            else
                tile_i8(p, r0, a, bs, has_min, n, acc);
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < TQ_GEMM_COLS; c++)
                    t[c][r0 + r] = acc[r][c / 8][c % 8];
        }
        gx_store_t(t, y, ldy, rows, G * TQ_GEMM_COLS, cols, accumulate);
    }
}

/* One function per variant, so that each gets its registers allocated on its own; n: dwords
 * summed in int16 (4 where |q| <= 16: 2 x 4 x 255 x 16 = 32640; 0: steps_q8). */
#define GEMM_VARIANT(name, bs, has_min, kquant, n)                                              \
    static __attribute__((noinline)) void name(const tq_gemm_panel *p, const uint8_t *act,     \
                                               size_t gs, float *y, int ldy, int rows,         \
                                               int cols, bool accumulate)                      \
    {                                                                                          \
        gemm_i8(p, act, gs, y, ldy, rows, cols, accumulate, bs, has_min, kquant, n);           \
    }
GEMM_VARIANT(gemm_plain, 32, false, false, 4)  /* Q4_0, Q5_0 */
GEMM_VARIANT(gemm_q8, 32, false, false, 0)     /* Q8_0 */
GEMM_VARIANT(gemm_min4, 32, true, false, 4)    /* Q4_1 */
GEMM_VARIANT(gemm_min2, 32, true, false, 2)    /* Q5_1 */
GEMM_VARIANT(gemm_q45k4, 32, true, true, 4)    /* Q4_K */
GEMM_VARIANT(gemm_q45k2, 32, true, true, 2)    /* Q5_K */
GEMM_VARIANT(gemm_q6k4, 16, false, true, 4)    /* Q3_K */
GEMM_VARIANT(gemm_q6k2, 16, false, true, 2)    /* Q6_K */
GEMM_VARIANT(gemm_q2k, 16, true, true, 4)

_Static_assert(2 * 4 * 255 * 16 <= 32767 && 2 * 2 * 255 * 32 <= 32767, "int16 sums overflow");

void tq_gemm_avx2(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                  int ldy, int rows, int cols, bool accumulate)
{
    const bool four = p->max_q <= 16;
    if (p->sub && p->bs == 16 && p->has_min)
        gemm_q2k(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->sub && p->bs == 16) /* Q3_K, Q6_K */
        (four ? gemm_q6k4 : gemm_q6k2)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->sub)
        (four ? gemm_q45k4 : gemm_q45k2)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->has_min)
        (four ? gemm_min4 : gemm_min2)(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->max_q > 16) /* Q8_0 */
        gemm_q8(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else /* Q4_0, Q5_0 */
        gemm_plain(p, act, group_stride, y, ldy, rows, cols, accumulate);
}

void tq_gemm_unpack_avx2(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                         tq_gemm_panel *p)
{
    gemm_unpack_x86(type, W, w_row, rows, blk0, nblk, p);
}

#endif /* AVX2, FMA, F16C */
