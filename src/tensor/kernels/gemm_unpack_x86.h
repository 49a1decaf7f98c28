/*
 * gemm_unpack_x86.h — the GEMM panel decoder (gemm.h) in 128/256-bit x86 code, shared by
 * gemm_avx2.c and gemm_avx512.c (private to those two; each compiles it with its own flags,
 * AVX2, FMA and F16C at least).
 *
 * A panel is decoded once per product and then used by every activation row of the batch,
 * but a scalar decoder still cost 10-20 % of a 512-token prompt (Q5_K through
 * gemm_unpack.h's loops reached 25-31 % of the int8 peak, against 43-50 % decoded here).
 * Every type with a GEMM has explicit code; the block sums for corr are taken with vpsadbw;
 * gemm_unpack.h's loops remain the fallback for Q2_K, Q3_K and any type added to
 * tq_gemm_block_size without code here.
 */
#ifndef HEARTH_TENSOR_KERNELS_GEMM_UNPACK_X86_H
#define HEARTH_TENSOR_KERNELS_GEMM_UNPACK_X86_H

#include <immintrin.h>
#include <string.h>

#include "tensor/kernels/gemm_unpack.h"

#define GU_INLINE static inline __attribute__((always_inline))

GU_INLINE __m256i lo_nibbles(__m256i v)
{
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

GU_INLINE __m256i hi_nibbles(__m256i v)
{
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f));
}

static void row_q4_0(const uint8_t *row, int blk0, int nblk, int8_t *q, float *d)
{
    const block_q4_0 *x = (const block_q4_0 *)row + blk0;
    for (int b = 0; b < nblk; b++, q += 32) {
        __m128i v = _mm_loadu_si128((const __m128i *)x[b].qs);
        __m128i m = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
        _mm_storeu_si128((__m128i *)q, _mm_sub_epi8(_mm_and_si128(v, m), eight));
        _mm_storeu_si128((__m128i *)(q + 16),
                         _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), eight));
        d[b] = _cvtsh_ss(x[b].d);
    }
}

static void row_q4_1(const uint8_t *row, int blk0, int nblk, int8_t *q, float *d, float *m)
{
    const block_q4_1 *x = (const block_q4_1 *)row + blk0;
    const __m128i mask = _mm_set1_epi8(0x0f);
    for (int b = 0; b < nblk; b++, q += 32) {
        __m128i v = _mm_loadu_si128((const __m128i *)x[b].qs);
        _mm_storeu_si128((__m128i *)q, _mm_and_si128(v, mask));
        _mm_storeu_si128((__m128i *)(q + 16), _mm_and_si128(_mm_srli_epi16(v, 4), mask));
        d[b] = _cvtsh_ss(x[b].d);
        m[b] = _cvtsh_ss(x[b].m);
    }
}

/* Q5_0 / Q5_1: the nibbles of qs (values 0..15 low, 16..31 high) with bit j of the 32-bit
 * qh on value j: byte j of a register gets byte j / 8 of qh (vpshufb), keeps bit j % 8 and
 * becomes 0x10 where it is set; off is 16 for Q5_0. */
GU_INLINE void q5_block(const uint8_t *qs, const uint8_t *qh, int off, int8_t *q)
{
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), mask),
                                   _mm_and_si128(v, mask));
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                             0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i hb = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread), bit);
    __m256i fifth = _mm256_and_si256(_mm256_cmpeq_epi8(hb, bit), _mm256_set1_epi8(0x10));
    _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(_mm256_or_si256(nib, fifth),
                                                      _mm256_set1_epi8((char)off)));
}

static void row_q5_0(const uint8_t *row, int blk0, int nblk, int8_t *q, float *d)
{
    const block_q5_0 *x = (const block_q5_0 *)row + blk0;
    for (int b = 0; b < nblk; b++, q += 32) {
        q5_block(x[b].qs, x[b].qh, 16, q);
        d[b] = _cvtsh_ss(x[b].d);
    }
}

static void row_q5_1(const uint8_t *row, int blk0, int nblk, int8_t *q, float *d, float *m)
{
    const block_q5_1 *x = (const block_q5_1 *)row + blk0;
    for (int b = 0; b < nblk; b++, q += 32) {
        q5_block(x[b].qs, x[b].qh, 0, q);
        d[b] = _cvtsh_ss(x[b].d);
        m[b] = _cvtsh_ss(x[b].m);
    }
}

static void row_q8_0(const uint8_t *row, int blk0, int nblk, int8_t *q, float *d)
{
    const block_q8_0 *x = (const block_q8_0 *)row + blk0;
    for (int b = 0; b < nblk; b++, q += 32) {
        _mm256_storeu_si256((__m256i *)q, _mm256_loadu_si256((const __m256i *)x[b].qs));
        d[b] = _cvtsh_ss(x[b].d);
    }
}

static void row_q4_K(const uint8_t *row, int blk0, int nblk, int8_t *q, int32_t *sc,
                     int32_t *mn, float *d, float *m)
{
    const block_q4_K *x = (const block_q4_K *)row + blk0 / 8;
    for (int b = 0; b < nblk; b += 8, x++) {
        for (int j = 0; j < 4; j++, q += 64) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
            _mm256_storeu_si256((__m256i *)q, lo_nibbles(v));
            _mm256_storeu_si256((__m256i *)(q + 32), hi_nibbles(v));
        }
        gu_k45_scales(x->scales, _cvtsh_ss(x->d), _cvtsh_ss(x->dmin), sc + b, mn + b, d + b,
                      m + b);
    }
}

/* Q4_K's nibbles with a fifth bit on top: bit 2j of qh[l] for value l of the low nibbles
 * of chunk j, bit 2j+1 for the high ones. */
static void row_q5_K(const uint8_t *row, int blk0, int nblk, int8_t *q, int32_t *sc,
                     int32_t *mn, float *d, float *m)
{
    const block_q5_K *x = (const block_q5_K *)row + blk0 / 8;
    const __m256i one = _mm256_set1_epi8(1);
    for (int b = 0; b < nblk; b += 8, x++) {
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x->qh);
        for (int j = 0; j < 4; j++, q += 64) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
            __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one);
            __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one);
            _mm256_storeu_si256((__m256i *)q,
                                _mm256_or_si256(lo_nibbles(v), _mm256_slli_epi16(b0, 4)));
            _mm256_storeu_si256((__m256i *)(q + 32),
                                _mm256_or_si256(hi_nibbles(v), _mm256_slli_epi16(b1, 4)));
        }
        gu_k45_scales(x->scales, _cvtsh_ss(x->d), _cvtsh_ss(x->dmin), sc + b, mn + b, d + b,
                      m + b);
    }
}

/* Bits 4-5 of each output byte: the two-bit pair of qh that belongs to it, moved into place. */
GU_INLINE void store_q6(int8_t *q, __m256i nib, __m256i hi2)
{
    __m256i v = _mm256_or_si256(nib, _mm256_and_si256(hi2, _mm256_set1_epi8(0x30)));
    _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(v, _mm256_set1_epi8(32)));
}

static void row_q6_K(const uint8_t *row, int blk0, int nblk, int8_t *q, int32_t *sc,
                     int32_t *mn, float *d, float *m)
{
    const block_q6_K *x = (const block_q6_K *)row + blk0 / 16;
    for (int b = 0; b < nblk; b += 16, x++) {
        for (int h = 0; h < 2; h++, q += 128) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            __m256i c = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            store_q6(q, lo_nibbles(a), _mm256_slli_epi16(hb, 4));
            store_q6(q + 32, lo_nibbles(c), _mm256_slli_epi16(hb, 2));
            store_q6(q + 64, hi_nibbles(a), hb);
            store_q6(q + 96, hi_nibbles(c), _mm256_srli_epi16(hb, 2));
        }
        gu_q6k_scales(x, _cvtsh_ss(x->d), sc + b, mn + b, d + b, m + b);
    }
}

/* corr = -128 * sum(q) per block: vpsadbw sums q + 128 (q xor 0x80) eight bytes at a time. */
static void block_corr(const int8_t *q, int bs, int nblk, int32_t *corr)
{
    for (int b = 0; b < nblk; b++, q += bs) {
        int64_t s;
        if (bs == 32) {
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)q),
                                         _mm256_set1_epi8((char)0x80));
            __m256i t = _mm256_sad_epu8(v, _mm256_setzero_si256());
            __m128i u = _mm_add_epi64(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
            s = _mm_cvtsi128_si64(u) + _mm_extract_epi64(u, 1);
        } else {
            __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)q),
                                      _mm_set1_epi8((char)0x80));
            __m128i t = _mm_sad_epu8(v, _mm_setzero_si128());
            s = _mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1);
        }
        corr[b] = -128 * (int32_t)(s - 128 * bs);
    }
}

static void gemm_unpack_x86(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                            tq_gemm_panel *p)
{
    switch (type) {
    case TQ_Q4_0: case TQ_Q4_1: case TQ_Q5_0: case TQ_Q5_1: case TQ_Q8_0:
    case TQ_Q4_K: case TQ_Q5_K: case TQ_Q6_K:
        break;
    default:
        gemm_unpack_rows(type, W, w_row, rows, blk0, nblk, p);
        return;
    }
    const int bs = tq_gemm_block_size(type), ld = nblk * bs;
    gu_panel_init(p, type, nblk);
    for (int r = 0; r < TQ_GEMM_ROWS; r++) {
        int8_t *q = p->q + (size_t)r * ld;
        const size_t o = (size_t)r * nblk;
        float *d = p->d + o, *m = p->m + o;
        int32_t *sc = p->sc + o, *mn = p->mn + o;
        if (r >= rows) {
            memset(q, 0, (size_t)ld);
            for (int b = 0; b < nblk; b++)
                d[b] = m[b] = 0.0f, p->corr[o + b] = sc[b] = mn[b] = 0;
            continue;
        }
        const uint8_t *row = (const uint8_t *)W + (size_t)r * w_row;
        switch (type) {
        case TQ_Q4_0: row_q4_0(row, blk0, nblk, q, d); break;
        case TQ_Q4_1: row_q4_1(row, blk0, nblk, q, d, m); break;
        case TQ_Q5_0: row_q5_0(row, blk0, nblk, q, d); break;
        case TQ_Q5_1: row_q5_1(row, blk0, nblk, q, d, m); break;
        case TQ_Q8_0: row_q8_0(row, blk0, nblk, q, d); break;
        case TQ_Q4_K: row_q4_K(row, blk0, nblk, q, sc, mn, d, m); break;
        case TQ_Q5_K: row_q5_K(row, blk0, nblk, q, sc, mn, d, m); break;
        default: row_q6_K(row, blk0, nblk, q, sc, mn, d, m); break; /* TQ_Q6_K */
        }
        block_corr(q, bs, nblk, p->corr + o);
    }
}

#endif
