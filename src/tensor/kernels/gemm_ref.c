/*
 * gemm_ref.c — the plain-C GEMM path (layouts in gemm.h): which weight types have one,
 * activation packing, panel decoding and the reference micro-kernel the SIMD variants are
 * tested against.
 *
 * The reference kernel spells out the arithmetic of gemm.h one output at a time, in the
 * same order of float operations as the SIMD kernels (isum * da, then a fused multiply-add
 * with d, then one with m * sa), so the two agree to the last bit on any input.
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
    case TQ_Q6_K:
        return 16;
    default:
        return 0;
    }
}

size_t tq_gemm_record_size(int bs)
{
    return (size_t)TQ_GEMM_COLS * bs + 2 * TQ_GEMM_COLS * sizeof(float);
}

/* Quants, scale and scaled sum of block b (bs values) of one activation row. */
static const int8_t *act_block(int vt, int bs, const uint8_t *xrow, int b, float *da, float *sa)
{
    int sum = 0;
    const int8_t *a;
    if (vt == TQ_Q8_0) {
        const block_q8_0 *x = (const block_q8_0 *)xrow + b;
        *da = tq_f16_to_f32(x->d);
        a = x->qs;
        for (int k = 0; k < 32; k++)
            sum += a[k];
    } else { /* Q8_K: bsums hold the sums of 16 values */
        const int off = b * bs % QK_K;
        const block_q8_K *x = (const block_q8_K *)xrow + b * bs / QK_K;
        *da = x->d;
        a = x->qs + off;
        for (int g = 0; g < bs / 16; g++)
            sum += x->bsums[off / 16 + g];
    }
    *sa = *da * (float)sum;
    return a;
}

void tq_gemm_pack_group(int vt, int bs, const void *xq, size_t x_row, int c0, int n, int nblk,
                        uint8_t *dst)
{
    const size_t rec = tq_gemm_record_size(bs);
    for (int b = 0; b < nblk; b++, dst += rec) {
        float *da = (float *)(dst + TQ_GEMM_COLS * bs), *sa = da + TQ_GEMM_COLS;
        for (int c = 0; c < TQ_GEMM_COLS; c++) {
            if (c0 + c >= n) {
                for (int g = 0; g < bs / 4; g++)
                    memset(dst + 4 * (TQ_GEMM_COLS * g + c), 0x80, 4);
                da[c] = sa[c] = 0.0f;
                continue;
            }
            const uint8_t *xrow = (const uint8_t *)xq + (size_t)(c0 + c) * x_row;
            const int8_t *a = act_block(vt, bs, xrow, b, &da[c], &sa[c]);
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

static float dot_one(const tq_gemm_panel *p, const uint8_t *act, int r, int c)
{
    const int bs = p->bs, ld = p->nblk * bs;
    const size_t rec = tq_gemm_record_size(bs);
    float acc = 0.0f;
    for (int b = 0; b < p->nblk; b++) {
        const uint8_t *ab = act + (size_t)b * rec;
        const int8_t *q = p->q + (size_t)r * ld + (size_t)b * bs;
        int32_t isum = p->corr[(size_t)r * p->nblk + b];
        for (int k = 0; k < bs; k++)
            isum += (int32_t)ab[4 * (TQ_GEMM_COLS * (k / 4) + c) + k % 4] * q[k];
        const float *da = (const float *)(ab + TQ_GEMM_COLS * bs), *sa = da + TQ_GEMM_COLS;
        acc = fmaf((float)isum * da[c], p->d[(size_t)r * p->nblk + b], acc);
        if (p->has_min)
            acc = fmaf(p->m[(size_t)r * p->nblk + b], sa[c], acc);
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

bool tq_gemmf_decodable(int type)
{
    if (tq_gemmf_type(type))
        return true;
    const tq_traits *t = tq_traits_of(type);
    return t && t->supported && type != TQ_Q8_K && tq_can_dequantize(type) &&
           TQ_GEMMF_KC % t->blck == 0;
}

void tq_gemmf_decode_row(int type, const void *row, int k0, int kc, float *out)
{
    const uint8_t *p = row;
    switch (type) {
    case TQ_F32:
        memcpy(out, (const float *)row + k0, (size_t)kc * sizeof(float));
        return;
    case TQ_F16:
        for (int k = 0; k < kc; k++)
            out[k] = tq_f16_to_f32(((const tq_f16 *)row)[k0 + k]);
        return;
    case TQ_BF16:
        for (int k = 0; k < kc; k++)
            out[k] = tq_bf16_to_f32(((const tq_bf16 *)row)[k0 + k]);
        return;
    default: {
        const tq_traits *t = tq_traits_of(type);
        tq_dequantize(type, p + (size_t)(k0 / t->blck) * t->type_size, out, kc);
    }
    }
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
