/*
 * gemm_avx512.c — the AVX-512 VNNI GEMM micro-kernel and panel decoder (layouts in gemm.h).
 *
 * A tile is 4 weight rows x 32 columns (two packed groups of 16). Per block, each row keeps
 * two int32 accumulators (one per group, 16 columns each, starting from the row's corr);
 * for every 4 values of the block, one load of each group's packed activations (16 columns
 * x 4 bytes) is reused by the 4 rows, whose 4 weight bytes come as a broadcast dword:
 * 8 vpdpbusd per 2 vector loads. At the block's end the integer sums become float and are
 * scaled into 8 float accumulators that stay in registers for the whole row of blocks
 * (21 of the 32 vector registers in use; the loops over rows, groups and dwords are fully
 * unrolled so the accumulators can live in registers). The float steps follow
 * tq_gemm_ref's order, so results are bit-identical to it.
 *
 * Why K-quants have a tile of their own: vpdpbusd and the float multiplies and fused
 * multiply-adds share two of Zen 4's four vector pipes (conversions and integer adds take
 * the other two), so with 8 vpdpbusd per block and accumulator, a float epilogue of 2
 * (3 with a minimum, 2 per 4 vpdpbusd for Q6_K's blocks of 16) caps the kernel at 80 % (73,
 * 67 %) of the int8 peak. Summing a super-block in integers (gemm.h) costs one vpmulld per
 * block and half a vpdpwssd for the mins: measured on Zen 4, Q4_K/Q5_K GEMM 8-13 % and
 * Q6_K 8-15 % faster, Q4_K now as fast as Q4_0.
 *
 * The panel decoder (gemm_unpack_x86.h) is shared with the AVX2 GEMM.
 */
#include "tensor/kernels/gemm.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__AVX512VNNI__)

#include <immintrin.h>
#include <string.h>

#include "tensor/kernels/gemm_unpack_x86.h"

#define INLINE static inline __attribute__((always_inline))

void tq_gemm_unpack_avx512(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                           tq_gemm_panel *p)
{
    gemm_unpack_x86(type, W, w_row, rows, blk0, nblk, p);
}

INLINE __m512i bcast_dword(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* s[r][h] = isum of block b of panel rows r0..r0+3 with the records ra[h] of groups h. */
INLINE void block_isums(const tq_gemm_panel *p, int r0, int b, const uint8_t *const ra[2],
                        const int bs, const int ng, __m512i s[4][2])
{
    const int nblk = p->nblk, ld = nblk * bs;
    const int8_t *qb = p->q + (size_t)r0 * ld + (size_t)b * bs;
    #pragma GCC unroll 8
    for (int r = 0; r < 4; r++)
        #pragma GCC unroll 8
        for (int h = 0; h < ng; h++)
            s[r][h] = _mm512_set1_epi32(p->corr[(size_t)(r0 + r) * nblk + b]);
    #pragma GCC unroll 8
    for (int g = 0; g < bs / 4; g++) {
        __m512i av[2];
        #pragma GCC unroll 8
        for (int h = 0; h < ng; h++)
            av[h] = _mm512_loadu_si512(ra[h] + 64 * g);
        #pragma GCC unroll 8
        for (int r = 0; r < 4; r++) {
            __m512i w = bcast_dword(qb + (size_t)r * ld + 4 * g);
            #pragma GCC unroll 8
            for (int h = 0; h < ng; h++)
                s[r][h] = _mm512_dpbusd_epi32(s[r][h], av[h], w);
        }
    }
}

/* acc[r][h] += the products of panel rows r0..r0+3 with groups a[h] (ng of them). */
INLINE void tile(const tq_gemm_panel *p, int r0, const uint8_t *a0, const uint8_t *a1,
                 const int bs, const int ng, const bool has_min, __m512 acc[4][2])
{
    const int nblk = p->nblk;
    const size_t rec = tq_gemm_record_size(bs);
    const float *d = p->d + (size_t)r0 * nblk, *m = p->m + (size_t)r0 * nblk;
    for (int b = 0; b < nblk; b++) {
        const uint8_t *const ra[2] = { a0 + (size_t)b * rec,
                                       ng > 1 ? a1 + (size_t)b * rec : NULL };
        __m512i s[4][2];
        block_isums(p, r0, b, ra, bs, ng, s);
        #pragma GCC unroll 8
        for (int h = 0; h < ng; h++) {
            const float *da = (const float *)(ra[h] + TQ_GEMM_COLS * bs);
            __m512 dav = _mm512_loadu_ps(da);
            #pragma GCC unroll 8
            for (int r = 0; r < 4; r++) {
                __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s[r][h]), dav);
                acc[r][h] = _mm512_fmadd_ps(v, _mm512_set1_ps(d[r * nblk + b]), acc[r][h]);
            }
            if (has_min) {
                __m512 sav = _mm512_loadu_ps(da + TQ_GEMM_COLS);
                #pragma GCC unroll 8
                for (int r = 0; r < 4; r++)
                    acc[r][h] = _mm512_fmadd_ps(_mm512_set1_ps(m[r * nblk + b]), sav, acc[r][h]);
            }
        }
    }
}

/* The same tile for K-quant panels (gemm.h): per block, the integer sums are multiplied by
 * the block's integer scale and added up in T; per super-block, the mins' sum M comes from
 * sub/2 vpdpwssd on the int16 pairs, and only then does float arithmetic start (one
 * multiply and one or two fused multiply-adds per accumulator, where the plain tile spends
 * two or three per block). */
INLINE void tile_k(const tq_gemm_panel *p, int r0, const uint8_t *a0, const uint8_t *a1,
                   const int bs, const int ng, const bool has_min, __m512 acc[4][2])
{
    const int nblk = p->nblk, sub = QK_K / bs;
    const size_t rec = tq_gemm_record_size(bs), o = (size_t)r0 * nblk;
    for (int b0 = 0; b0 < nblk; b0 += sub) {
        __m512i T[4][2];
        #pragma GCC unroll 8
        for (int r = 0; r < 4; r++)
            #pragma GCC unroll 8
            for (int h = 0; h < ng; h++)
                T[r][h] = _mm512_setzero_si512();
        for (int b = b0; b < b0 + sub; b++) {
            const uint8_t *const ra[2] = { a0 + (size_t)b * rec,
                                           ng > 1 ? a1 + (size_t)b * rec : NULL };
            __m512i s[4][2];
            block_isums(p, r0, b, ra, bs, ng, s);
            #pragma GCC unroll 8
            for (int r = 0; r < 4; r++) {
                __m512i scv = _mm512_set1_epi32(p->sc[o + r * nblk + b]);
                #pragma GCC unroll 8
                for (int h = 0; h < ng; h++)
                    T[r][h] = _mm512_add_epi32(T[r][h], _mm512_mullo_epi32(s[r][h], scv));
            }
        }
        #pragma GCC unroll 8
        for (int h = 0; h < ng; h++) {
            const uint8_t *rb = (h ? a1 : a0) + (size_t)b0 * rec;
            const __m512 dav = _mm512_loadu_ps((const float *)(rb + TQ_GEMM_COLS * bs));
            #pragma GCC unroll 8
            for (int r = 0; r < 4; r++) {
                const size_t ob = o + r * nblk + b0;
                __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(T[r][h]), _mm512_set1_ps(p->d[ob]));
                if (has_min) {
                    __m512i M = _mm512_setzero_si512();
                    for (int j = 0; j < sub; j += 2) {
                        const uint8_t *sa = rb + (size_t)j * rec + TQ_GEMM_COLS * (bs + 4);
                        M = _mm512_dpwssd_epi32(M, _mm512_loadu_si512(sa),
                                                _mm512_set1_epi32(p->mn[ob + j]));
                    }
                    f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(M), _mm512_set1_ps(p->m[ob]), f);
                }
                acc[r][h] = _mm512_fmadd_ps(f, dav, acc[r][h]);
            }
        }
    }
}

/* Columns are the lanes, rows the registers: the tile is turned around in t (cols x panel
 * rows, in L1) so that each output row then gets its panel rows as one contiguous run:
 * writing lane by lane straight into y touched a different cache line per value, which
 * cost a fifth of the product. */
INLINE void tile_to_t(__m512 acc[4][2], int ng, int r0, float t[2 * TQ_GEMM_COLS][TQ_GEMM_ROWS])
{
    float l[TQ_GEMM_COLS];
    for (int r = 0; r < 4; r++)
        for (int h = 0; h < ng; h++) {
            _mm512_storeu_ps(l, acc[r][h]);
            for (int c = 0; c < TQ_GEMM_COLS; c++)
                t[16 * h + c][r0 + r] = l[c];
        }
}

_Static_assert(TQ_GEMM_ROWS == 16, "store_t writes a panel column as one register");

INLINE void store_t(float t[2 * TQ_GEMM_COLS][TQ_GEMM_ROWS], float *y, int ldy, int rows,
                    int c0, int cols, bool accumulate)
{
    const __mmask16 m = (__mmask16)((1u << rows) - 1);
    for (int c = 0; c < 2 * TQ_GEMM_COLS && c0 + c < cols; c++) {
        float *out = y + (size_t)(c0 + c) * ldy;
        __m512 v = _mm512_loadu_ps(t[c]);
        if (accumulate)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, out));
        _mm512_mask_storeu_ps(out, m, v);
    }
}

INLINE void gemm_bs(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                    int ldy, int rows, int cols, bool accumulate, const int bs,
                    const bool has_min, const bool kquant)
{
    const int ngroups = (cols + TQ_GEMM_COLS - 1) / TQ_GEMM_COLS;
    float t[2 * TQ_GEMM_COLS][TQ_GEMM_ROWS];
    for (int G = 0; G < ngroups; G += 2) {
        const uint8_t *a0 = act + (size_t)G * group_stride, *a1 = a0 + group_stride;
        const int ng = G + 1 < ngroups ? 2 : 1;
        for (int r0 = 0; r0 < rows; r0 += 4) {
            __m512 acc[4][2];
            for (int r = 0; r < 4; r++)
                acc[r][0] = acc[r][1] = _mm512_setzero_ps();
            if (kquant && ng == 2)
                tile_k(p, r0, a0, a1, bs, 2, has_min, acc);
            else if (kquant)
                tile_k(p, r0, a0, NULL, bs, 1, has_min, acc);
            else if (ng == 2)
                tile(p, r0, a0, a1, bs, 2, has_min, acc);
            else
                tile(p, r0, a0, NULL, bs, 1, has_min, acc);
            tile_to_t(acc, ng, r0, t);
        }
        store_t(t, y, ldy, rows, G * TQ_GEMM_COLS, cols, accumulate);
    }
}

/* One function per variant, so that each gets its registers allocated on its own. */
#define GEMM_VARIANT(name, bs, has_min, kquant)                                                 \
    static __attribute__((noinline)) void name(const tq_gemm_panel *p, const uint8_t *act,     \
                                               size_t gs, float *y, int ldy, int rows,         \
                                               int cols, bool accumulate)                      \
    {                                                                                          \
        gemm_bs(p, act, gs, y, ldy, rows, cols, accumulate, bs, has_min, kquant);              \
    }
GEMM_VARIANT(gemm_plain, 32, false, false)
GEMM_VARIANT(gemm_min, 32, true, false)
GEMM_VARIANT(gemm_q45k, 32, true, true)
GEMM_VARIANT(gemm_q6k, 16, false, true)
GEMM_VARIANT(gemm_q2k, 16, true, true)

void tq_gemm_avx512(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                    int ldy, int rows, int cols, bool accumulate)
{
    if (p->sub && p->bs == 16 && p->has_min)
        gemm_q2k(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->sub && p->bs == 16) /* Q3_K, Q6_K */
        gemm_q6k(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->sub)
        gemm_q45k(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else if (p->has_min)
        gemm_min(p, act, group_stride, y, ldy, rows, cols, accumulate);
    else
        gemm_plain(p, act, group_stride, y, ldy, rows, cols, accumulate);
}

/* ---- Float weights (layout in gemm.h) -------------------------------------------------------
 * The decoder turns 16 rows x 16 values into 16 vectors (one per row), then transposes them
 * in registers: three rounds of shuffles, 64 in all for 256 values, instead of 256 scalar
 * stores into the k-major panel. */

INLINE __m512 load_row16(int type, const uint8_t *row, int k, __mmask16 m)
{
    switch (type) {
    case TQ_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const tq_f16 *)row + k));
    case TQ_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const tq_bf16 *)row + k)), 16));
    default:
        return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    }
}

/* v[i] (row i, lanes = 16 values) -> out + j * stride (value j, lanes = 16 rows). */
INLINE void transpose16_store(__m512 v[16], float *out, int stride)
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    /* u[4i + j]: per 128-bit lane L, rows 4i .. 4i+3 of value 4L + j. */
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int j = 0; j < 4; j++) {
        __m512 alo = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44);
        __m512 ahi = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee);
        __m512 blo = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
        __m512 bhi = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
        _mm512_storeu_ps(out + (size_t)(0 + j) * stride, _mm512_shuffle_f32x4(alo, blo, 0x88));
        _mm512_storeu_ps(out + (size_t)(4 + j) * stride, _mm512_shuffle_f32x4(alo, blo, 0xdd));
        _mm512_storeu_ps(out + (size_t)(8 + j) * stride, _mm512_shuffle_f32x4(ahi, bhi, 0x88));
        _mm512_storeu_ps(out + (size_t)(12 + j) * stride, _mm512_shuffle_f32x4(ahi, bhi, 0xdd));
    }
}

void tq_gemmf_unpack_avx512(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                            float *panel)
{
    for (int r0 = 0; r0 < TQ_GEMMF_ROWS; r0 += 16)
        for (int k = 0; k < kc; k += 16) {
            const __mmask16 m = kc - k >= 16 ? 0xffff : (__mmask16)((1u << (kc - k)) - 1);
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] = r0 + i < rows
                           ? load_row16(type, (const uint8_t *)W + (size_t)(r0 + i) * w_row,
                                        k0 + k, m)
                           : _mm512_setzero_ps();
            transpose16_store(v, panel + (size_t)k * TQ_GEMMF_ROWS + r0, TQ_GEMMF_ROWS);
        }
}

/* nc batch rows x 32 weight rows: two accumulators per batch row, one broadcast of its
 * activation per k shared by both. */
INLINE void tilef(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                  const int nc, __mmask16 m0, __mmask16 m1, bool accumulate)
{
    __m512 acc[8][2];
    #pragma GCC unroll 8
    for (int j = 0; j < nc; j++)
        acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 w0 = _mm512_loadu_ps(panel + (size_t)k * TQ_GEMMF_ROWS);
        __m512 w1 = _mm512_loadu_ps(panel + (size_t)k * TQ_GEMMF_ROWS + 16);
        #pragma GCC unroll 8
        for (int j = 0; j < nc; j++) {
            __m512 b = _mm512_set1_ps(x[(size_t)j * ldx + k]);
            acc[j][0] = _mm512_fmadd_ps(w0, b, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(w1, b, acc[j][1]);
        }
    }
    #pragma GCC unroll 8
    for (int j = 0; j < nc; j++) {
        float *out = y + (size_t)j * ldy;
        if (accumulate) {
            acc[j][0] = _mm512_add_ps(acc[j][0], _mm512_maskz_loadu_ps(m0, out));
            acc[j][1] = _mm512_add_ps(acc[j][1], _mm512_maskz_loadu_ps(m1, out + 16));
        }
        _mm512_mask_storeu_ps(out, m0, acc[j][0]);
        _mm512_mask_storeu_ps(out + 16, m1, acc[j][1]);
    }
}

void tq_gemmf_avx512(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                     int rows, int cols, bool accumulate)
{
    const __mmask16 m0 = rows >= 16 ? 0xffff : (__mmask16)((1u << rows) - 1);
    const __mmask16 m1 = rows >= 32 ? 0xffff : rows > 16 ? (__mmask16)((1u << (rows - 16)) - 1) : 0;
    int c = 0;
    for (; c + 8 <= cols; c += 8)
        tilef(panel, kc, x + (size_t)c * ldx, ldx, y + (size_t)c * ldy, ldy, 8, m0, m1, accumulate);
    for (; c < cols; c++)
        tilef(panel, kc, x + (size_t)c * ldx, ldx, y + (size_t)c * ldy, ldy, 1, m0, m1, accumulate);
}

/* The AVX-VNNI kernel's twin, its vpdpbusd in the AVX-512 VL encoding (gemm_vnni256.h): the
 * copy the "avxvnni" kernel set runs on machines like this one. */
#define VNNI_DPBUSD _mm256_dpbusd_epi32
#define VNNI_NAME(x) x##_vnni256_avx512
#include "tensor/kernels/gemm_vnni256.h"

#endif /* AVX-512 F, BW, VL, DQ, VNNI */
