/*
 * gemm_ref.c — the plain-C GEMM path (layouts in gemm.h): which weight types have one,
 * activation packing, panel decoding and the reference micro-kernel the SIMD variants are
 * tested against.
 *
 * The reference kernel spells out the arithmetic of gemm.h one output at a time, in the
 * same order of float operations as the SIMD kernels (isum * da, then a fused multiply-add
 * with d, then one with m * sa; for the K-quants T * d, a fused multiply-add of M with dm,
 * then one with da), so the two agree to the last bit on any input.
 */
#include <math.h>
#include <string.h>

#include "tensor/kernels/gemm.h"
#include "tensor/kernels/gemm_unpack.h"
#include "tensor/quant.h"
#include "tensor/types.h"

int tq_gemm_block_size(int type)
{
    switch (type) {
    case TQ_Q4_0: case TQ_Q4_1: case TQ_Q5_0: case TQ_Q5_1: case TQ_Q8_0:
    case TQ_Q4_K: case TQ_Q5_K:
        return 32;
    case TQ_Q2_K: case TQ_Q3_K: case TQ_Q6_K:
        return 16;
    default:
        return 0;
    }
}

int tq_gemm_max_q(int type)
{
    switch (type) {
    case TQ_Q2_K: return 3;   /* 0..3 */
    case TQ_Q3_K: return 4;   /* -4..3 */
    case TQ_Q4_0: return 8;   /* -8..7 */
    case TQ_Q4_1: case TQ_Q4_K: return 15;
    case TQ_Q5_0: return 16;  /* -16..15 */
    case TQ_Q5_1: case TQ_Q5_K: return 31;
    case TQ_Q6_K: return 32;  /* -32..31 */
    default: return 128;      /* Q8_0: any int8 */
    }
}

int tq_gemm_sub_blocks(int type)
{
    switch (type) {
    case TQ_Q4_K: case TQ_Q5_K:
        return 8;
    case TQ_Q2_K: case TQ_Q3_K: case TQ_Q6_K:
        return 16;
    default:
        return 0;
    }
}

size_t tq_gemm_record_size(int bs)
{
    return (size_t)TQ_GEMM_COLS * bs + 2 * TQ_GEMM_COLS * sizeof(float);
}

/* Quants and scale of block b (bs values) of one activation row. */
static const int8_t *act_block(int vt, int bs, const uint8_t *xrow, int b, float *da)
{
    if (vt == TQ_Q8_0) {
        const block_q8_0 *x = (const block_q8_0 *)xrow + b;
        *da = tq_f16_to_f32(x->d);
        return x->qs;
    }
    const block_q8_K *x = (const block_q8_K *)xrow + b * bs / QK_K;
    *da = x->d;
    return x->qs + b * bs % QK_K;
}

/* Sum of the quants of block b (Q8_K's bsums hold the sums of 16 values). */
static int act_sum(int vt, int bs, const uint8_t *xrow, int b)
{
    int sum = 0;
    if (vt == TQ_Q8_0) {
        const int8_t *a = ((const block_q8_0 *)xrow + b)->qs;
        for (int k = 0; k < 32; k++)
            sum += a[k];
        return sum;
    }
    const block_q8_K *x = (const block_q8_K *)xrow + b * bs / QK_K;
    const int off = b * bs % QK_K;
    for (int g = 0; g < bs / 16; g++)
        sum += x->bsums[off / 16 + g];
    return sum;
}

/* The sa slot of block b for one column: da * sum for Q8_0; for Q8_K on even blocks the
 * int16 pair of this block's sum and the next one's (gemm.h). */
static uint32_t act_sums(int vt, int bs, const uint8_t *xrow, int b, float da)
{
    if (vt == TQ_Q8_0) {
        float v = da * (float)act_sum(vt, bs, xrow, b);
        uint32_t bits;
        memcpy(&bits, &v, 4);
        return bits;
    }
    if (b % 2) /* nblk is a whole number of super-blocks, so b + 1 exists */
        return 0;
    const uint16_t lo = (uint16_t)act_sum(vt, bs, xrow, b);
    return lo | (uint32_t)(uint16_t)act_sum(vt, bs, xrow, b + 1) << 16;
}

void tq_gemm_pack_group(int vt, int bs, const void *xq, size_t x_row, int c0, int n, int nblk,
                        uint8_t *dst)
{
    const size_t rec = tq_gemm_record_size(bs);
    for (int b = 0; b < nblk; b++, dst += rec) {
        float *da = (float *)(dst + TQ_GEMM_COLS * bs);
        uint8_t *sa = (uint8_t *)(da + TQ_GEMM_COLS);
        for (int c = 0; c < TQ_GEMM_COLS; c++) {
            if (c0 + c >= n) {
                for (int g = 0; g < bs / 4; g++)
                    memset(dst + 4 * (TQ_GEMM_COLS * g + c), 0x80, 4);
                da[c] = 0.0f;
                memset(sa + 4 * c, 0, 4);
                continue;
            }
            const uint8_t *xrow = (const uint8_t *)xq + (size_t)(c0 + c) * x_row;
            const int8_t *a = act_block(vt, bs, xrow, b, &da[c]);
            const uint32_t sums = act_sums(vt, bs, xrow, b, da[c]);
            memcpy(sa + 4 * c, &sums, 4);
            for (int g = 0; g < bs / 4; g++) {
                uint32_t v;
                memcpy(&v, a + 4 * g, 4);
                v ^= 0x80808080u;
                memcpy(dst + 4 * (TQ_GEMM_COLS * g + c), &v, 4);
            }
        }
    }
}

void tq_gemm_unpack_ref(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                        tq_gemm_panel *p)
{
    gemm_unpack_rows(type, W, w_row, rows, blk0, nblk, p);
}

/* isum of panel row r, block b, with column c of the block's record ab. */
static int32_t block_isum(const tq_gemm_panel *p, const uint8_t *ab, int r, int b, int c)
{
    const int bs = p->bs;
    const int8_t *q = p->q + (size_t)r * p->nblk * bs + (size_t)b * bs;
    int32_t isum = p->corr[(size_t)r * p->nblk + b];
    for (int k = 0; k < bs; k++)
        isum += (int32_t)ab[4 * (TQ_GEMM_COLS * (k / 4) + c) + k % 4] * q[k];
    return isum;
}

/* The int16 pair in the low and high halves of v times the pair in w, summed (vpdpwssd). */
static int32_t pair_dot(uint32_t v, uint32_t w)
{
    return (int16_t)(v & 0xffff) * (int16_t)(w & 0xffff) + (int16_t)(v >> 16) * (int16_t)(w >> 16);
}

static float dot_one(const tq_gemm_panel *p, const uint8_t *act, int r, int c)
{
    const size_t rec = tq_gemm_record_size(p->bs), o = (size_t)r * p->nblk;
    float acc = 0.0f;
    for (int b = 0; b < p->nblk; b++) {
        const uint8_t *ab = act + (size_t)b * rec;
        const float *da = (const float *)(ab + TQ_GEMM_COLS * p->bs), *sa = da + TQ_GEMM_COLS;
        if (!p->sub) {
            acc = fmaf((float)block_isum(p, ab, r, b, c) * da[c], p->d[o + b], acc);
            if (p->has_min)
                acc = fmaf(p->m[o + b], sa[c], acc);
            continue;
        }
        if (b % p->sub) /* K-quants: the whole super-block on its first block */
            continue;
        int32_t T = 0, M = 0;
        for (int j = b; j < b + p->sub; j++) {
            const uint8_t *aj = act + (size_t)j * rec;
            T += p->sc[o + j] * block_isum(p, aj, r, j, c);
            if (p->has_min && j % 2 == 0) {
                uint32_t pair;
                memcpy(&pair, aj + TQ_GEMM_COLS * p->bs + TQ_GEMM_COLS * 4 + 4 * c, 4);
                M += pair_dot(pair, (uint32_t)p->mn[o + j]);
            }
        }
        float f = (float)T * p->d[o + b];
        if (p->has_min)
            f = fmaf((float)M, p->m[o + b], f);
        acc = fmaf(f, da[c], acc);
    }
    return acc;
}

void tq_gemm_ref(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                 int ldy, int rows, int cols, bool accumulate)
{
    for (int c = 0; c < cols; c++) {
        const uint8_t *ag = act + (size_t)(c / TQ_GEMM_COLS) * group_stride;
        for (int r = 0; r < rows; r++) {
            float v = dot_one(p, ag, r, c % TQ_GEMM_COLS);
            float *out = &y[(size_t)c * ldy + r];
            *out = accumulate ? *out + v : v;
        }
    }
}

/* ---- Float weights ---------------------------------------------------------------------- */

bool tq_gemmf_type(int type)
{
    return type == TQ_F32 || type == TQ_F16 || type == TQ_BF16;
}

void tq_gemmf_decode_row(int type, const void *row, int k0, int kc, float *out)
{
    if (type == TQ_F16)
        for (int k = 0; k < kc; k++)
            out[k] = tq_f16_to_f32(((const tq_f16 *)row)[k0 + k]);
    else if (type == TQ_BF16)
        for (int k = 0; k < kc; k++)
            out[k] = tq_bf16_to_f32(((const tq_bf16 *)row)[k0 + k]);
    else
        memcpy(out, (const float *)row + k0, (size_t)kc * sizeof(float));
}

void tq_gemmf_unpack_ref(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                         float *panel)
{
    const int kpad = (kc + 15) & ~15;
    float v[TQ_GEMMF_KC];
    for (int r = 0; r < TQ_GEMMF_ROWS; r++) {
        if (r < rows)
            tq_gemmf_decode_row(type, (const uint8_t *)W + (size_t)r * w_row, k0, kc, v);
        for (int k = 0; k < kpad; k++)
            panel[k * TQ_GEMMF_ROWS + r] = r < rows && k < kc ? v[k] : 0.0f;
    }
}

/* One float sum per output in k order, as each lane of the SIMD kernels keeps it (they fuse
 * the multiply-add, so the two agree to rounding, not to the bit). */
void tq_gemmf_ref(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                  int rows, int cols, bool accumulate)
{
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) {
            float s = 0.0f;
            for (int k = 0; k < kc; k++)
                s += panel[k * TQ_GEMMF_ROWS + r] * x[(size_t)c * ldx + k];
            float *out = &y[(size_t)c * ldy + r];
            *out = accumulate ? *out + s : s;
        }
}
