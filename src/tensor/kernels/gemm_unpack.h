/*
 * gemm_unpack.h — decoding weight rows into a GEMM panel (see gemm.h), shared by
 * gemm_ref.c and gemm_avx512.c (private to those two files).
 *
 * The decoders are plain C written as short fixed-count loops over bytes, included by each
 * kernel file so that the compiler vectorizes them with that file's instruction set: a
 * panel is decoded once per product and then used by every activation row of the batch,
 * but with a 512-row prompt a scalar decoder would still cost a third of the product.
 *
 * Per type, one weight row over blocks blk0 .. blk0+nblk-1 becomes signed int8 quants q,
 * a float scale d and (types with a minimum) a float m per block of bs values, such that
 * value = d * q + m; the K-quants keep their integer block scales and mins and one d and dm
 * per super-block (gemm.h). Bit layouts as in dot_ref.c and kquant_ref.c. The K-quants
 * decode whole super-blocks (blk0 and nblk are multiples of QK_K / bs, which TQ_GEMM_KC
 * ensures).
 */
#ifndef HEARTH_TENSOR_KERNELS_GEMM_UNPACK_H
#define HEARTH_TENSOR_KERNELS_GEMM_UNPACK_H

#include <string.h>

#include "tensor/kernels/gemm.h"
#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

/* Does the type have a minimum per block (value = d * q + m)? */
static inline bool gu_has_min(int type)
{
    return type == TQ_Q4_1 || type == TQ_Q5_1 || type == TQ_Q2_K || type == TQ_Q4_K ||
           type == TQ_Q5_K;
}

static inline void gu_nibbles(const uint8_t *qs, int8_t *q, int off)
{
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((qs[j] & 0x0f) - off);
        q[j + 16] = (int8_t)((qs[j] >> 4) - off);
    }
}

/* Q5_0/Q5_1: the fifth bit of value j is bit j of the little-endian 32-bit qh. */
static inline void gu_nibbles5(const uint8_t *qs, const uint8_t *qh, int8_t *q, int off)
{
    uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
                 (uint32_t)qh[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((qs[j] & 0x0f) | ((h >> j) & 1) << 4) - off);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4) - off);
    }
}

static void gu_row_legacy(int type, const uint8_t *row, int blk0, int nblk, int8_t *q,
                          float *d, float *m)
{
    for (int b = 0; b < nblk; b++, q += 32) {
        int i = blk0 + b;
        switch (type) {
        case TQ_Q4_0: {
            const block_q4_0 *x = (const block_q4_0 *)row + i;
            gu_nibbles(x->qs, q, 8);
            d[b] = tq_f16_to_f32(x->d);
            break;
        }
        case TQ_Q4_1: {
            const block_q4_1 *x = (const block_q4_1 *)row + i;
            gu_nibbles(x->qs, q, 0);
            d[b] = tq_f16_to_f32(x->d);
            m[b] = tq_f16_to_f32(x->m);
            break;
        }
        case TQ_Q5_0: {
            const block_q5_0 *x = (const block_q5_0 *)row + i;
            gu_nibbles5(x->qs, x->qh, q, 16);
            d[b] = tq_f16_to_f32(x->d);
            break;
        }
        case TQ_Q5_1: {
            const block_q5_1 *x = (const block_q5_1 *)row + i;
            gu_nibbles5(x->qs, x->qh, q, 0);
            d[b] = tq_f16_to_f32(x->d);
            m[b] = tq_f16_to_f32(x->m);
            break;
        }
        default: { /* TQ_Q8_0 */
            const block_q8_0 *x = (const block_q8_0 *)row + i;
            memcpy(q, x->qs, 32);
            d[b] = tq_f16_to_f32(x->d);
            break;
        }
        }
    }
}

/* The integer block scales and mins of a Q4_K / Q5_K super-block (mins as int16 pairs on
 * even blocks) and its d and -dmin on its first block, 0 on the others (also used by the
 * SIMD decoders, which unpack only the quants differently and convert d and dmin with
 * F16C: tq_f16_to_f32 cost 0.7 % of a Q4_K_M prompt). */
static inline void gu_k45_scales(const uint8_t *packed, float dv, float dminv, int32_t *sc,
                                 int32_t *mn, float *d, float *m)
{
    uint32_t w[4];
    uint8_t sm[16];
    kq_unpack_scales_q4k(packed, w);
    memcpy(sm, w, sizeof sm);
    for (int s = 0; s < 8; s++) {
        sc[s] = sm[s];
        mn[s] = s % 2 ? 0 : (int32_t)(sm[8 + s] | (uint32_t)sm[9 + s] << 16);
        d[s] = m[s] = 0.0f;
    }
    d[0] = dv;
    m[0] = -dminv;
}

/* Q4_K / Q5_K super-block (qh NULL for Q4_K): eight blocks of 32, value = d*sc*q - dmin*mn. */
static void gu_superblock_q45k(const uint8_t *qs, const uint8_t *qh, int8_t *q)
{
    for (int j = 0; j < 4; j++) {
        const uint8_t *s = qs + 32 * j;
        int8_t *lo = q + 64 * j, *hi = lo + 32;
        for (int l = 0; l < 32; l++) {
            lo[l] = (int8_t)(s[l] & 0x0f);
            hi[l] = (int8_t)(s[l] >> 4);
        }
        if (qh)
            for (int l = 0; l < 32; l++) {
                lo[l] = (int8_t)(lo[l] | ((qh[l] >> (2 * j)) & 1) << 4);
                hi[l] = (int8_t)(hi[l] | ((qh[l] >> (2 * j + 1)) & 1) << 4);
            }
    }
}

/* Q6_K super-block: sixteen blocks of 16, value = d * scale * (q - 32). */
static void gu_superblock_q6k(const block_q6_K *x, int8_t *q)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        int8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0x0f) | (qh[l] & 3) << 4) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
    }
}

/* The scales of a Q6_K super-block: sixteen signed 8-bit block scales, and d on the first
 * block. */
static inline void gu_q6k_scales(const block_q6_K *x, float dv, int32_t *sc, int32_t *mn,
                                 float *d, float *m)
{
    for (int s = 0; s < 16; s++)
        sc[s] = x->scales[s], mn[s] = 0, d[s] = m[s] = 0.0f;
    d[0] = dv;
}

/* Q2_K / Q3_K super-block: sixteen blocks of 16; value l of block 2 (4 half + s) + k is
 * bits 2s..2s+1 of qs[32 half + 16 k + l], for Q3_K less 4 where bit 4 half + s of
 * hmask[16 k + l] is clear. Q2_K: value = d * sc * q - dmin * mn with 4-bit sc, mn;
 * Q3_K: d * sc * q with a 6-bit sc biased by 32. */
static void gu_superblock_q23k(int type, const uint8_t *x, int8_t *q, int32_t *sc,
                               int32_t *mn, float *d, float *m)
{
    const block_q2_K *b2 = (const block_q2_K *)x;
    const block_q3_K *b3 = (const block_q3_K *)x;
    const uint8_t *qs = type == TQ_Q2_K ? b2->qs : b3->qs;
    for (int half = 0; half < 2; half++)
        for (int s = 0; s < 4; s++)
            for (int k = 0; k < 2; k++) {
                int8_t *o = q + 16 * (2 * (4 * half + s) + k);
                for (int l = 0; l < 16; l++) {
                    int v = (qs[32 * half + 16 * k + l] >> (2 * s)) & 3;
                    if (type == TQ_Q3_K && !(b3->hmask[16 * k + l] >> (4 * half + s) & 1))
                        v -= 4;
                    o[l] = (int8_t)v;
                }
            }
    uint32_t w[4];
    uint8_t s3[16];
    if (type == TQ_Q3_K) {
        kq_unpack_scales_q3k(b3->scales, w);
        memcpy(s3, w, sizeof s3);
    }
    for (int j = 0; j < 16; j++) {
        sc[j] = type == TQ_Q2_K ? b2->scales[j] & 0xf : s3[j] - 32;
        mn[j] = type == TQ_Q2_K && j % 2 == 0
                    ? (int32_t)((b2->scales[j] >> 4) | (uint32_t)(b2->scales[j + 1] >> 4) << 16)
                    : 0;
        d[j] = m[j] = 0.0f;
    }
    d[0] = tq_f16_to_f32(type == TQ_Q2_K ? b2->d : b3->d);
    m[0] = type == TQ_Q2_K ? -tq_f16_to_f32(b2->dmin) : 0.0f;
}

static void gu_row_kquant(int type, const uint8_t *row, int blk0, int nblk, int8_t *q,
                          int32_t *sc, int32_t *mn, float *d, float *m)
{
    const int per_sb = tq_gemm_sub_blocks(type), bs = QK_K / per_sb;
    for (int b = 0; b < nblk; b += per_sb) {
        int i = (blk0 + b) / per_sb;
        int8_t *qb = q + (size_t)b * bs;
        if (type == TQ_Q4_K) {
            const block_q4_K *x = (const block_q4_K *)row + i;
            gu_superblock_q45k(x->qs, NULL, qb);
            gu_k45_scales(x->scales, tq_f16_to_f32(x->d), tq_f16_to_f32(x->dmin), sc + b,
                          mn + b, d + b, m + b);
        } else if (type == TQ_Q5_K) {
            const block_q5_K *x = (const block_q5_K *)row + i;
            gu_superblock_q45k(x->qs, x->qh, qb);
            gu_k45_scales(x->scales, tq_f16_to_f32(x->d), tq_f16_to_f32(x->dmin), sc + b,
                          mn + b, d + b, m + b);
        } else if (type == TQ_Q6_K) {
            const block_q6_K *x = (const block_q6_K *)row + i;
            gu_superblock_q6k(x, qb);
            gu_q6k_scales(x, tq_f16_to_f32(x->d), sc + b, mn + b, d + b, m + b);
        } else {
            const size_t bsz = type == TQ_Q2_K ? sizeof(block_q2_K) : sizeof(block_q3_K);
            gu_superblock_q23k(type, row + (size_t)i * bsz, qb, sc + b, mn + b, d + b, m + b);
        }
    }
}

/* The panel's description of type, for nblk blocks per row. */
static inline void gu_panel_init(tq_gemm_panel *p, int type, int nblk)
{
    p->bs = tq_gemm_block_size(type);
    p->nblk = nblk;
    p->sub = tq_gemm_sub_blocks(type);
    p->has_min = gu_has_min(type);
    p->max_q = tq_gemm_max_q(type);
}

/* Rows past `rows` are zeroed, so the kernels can always work on whole 4-row tiles. */
static inline void gemm_unpack_rows(int type, const void *W, size_t w_row, int rows, int blk0,
                                    int nblk, tq_gemm_panel *p)
{
    const int bs = tq_gemm_block_size(type), ld = nblk * bs;
    gu_panel_init(p, type, nblk);
    for (int r = 0; r < TQ_GEMM_ROWS; r++) {
        int8_t *q = p->q + (size_t)r * ld;
        const size_t o = (size_t)r * nblk;
        if (r >= rows) {
            memset(q, 0, (size_t)ld);
            for (int b = 0; b < nblk; b++)
                p->d[o + b] = p->m[o + b] = 0.0f, p->corr[o + b] = p->sc[o + b] = p->mn[o + b] = 0;
            continue;
        }
        const uint8_t *row = (const uint8_t *)W + (size_t)r * w_row;
        if (p->sub)
            gu_row_kquant(type, row, blk0, nblk, q, p->sc + o, p->mn + o, p->d + o, p->m + o);
        else
            gu_row_legacy(type, row, blk0, nblk, q, p->d + o, p->m + o);
        for (int b = 0; b < nblk; b++) {
            int s = 0;
            for (int k = 0; k < bs; k++)
                s += q[b * bs + k];
            p->corr[o + b] = -128 * s;
        }
    }
}

#endif
