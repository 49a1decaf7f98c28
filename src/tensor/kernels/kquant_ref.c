/*
 * kquant_ref.c — plain-C dot products of K-quant weight rows (Q2_K … Q6_K) with Q8_K
 * activation rows: the source of truth the SIMD variants are tested against.
 *
 * Every K-quant super-block holds 256 values split into sub-blocks (16 values for Q2_K,
 * Q3_K, Q6_K; 32 for Q4_K, Q5_K), each with an integer scale. A weight is
 *     w = d * scale * q            (Q3_K, Q6_K: q signed)
 *     w = d * scale * q - dmin * m (Q2_K, Q4_K, Q5_K: q unsigned, m the sub-block's min)
 * so a super-block's dot product with Q8_K values a (scale ya) is
 *     ya*d * sum_sub scale * sum(q*a)  -  ya*dmin * sum_sub m * sum(a).
 * The integer part is exact; sum(a) per 16 values is Q8_K's bsums, which the min term
 * uses (as ggml does), so a Q8_K row must come with correct bsums.
 *
 * Bit layout of the quants, which the loops below spell out: Q2_K and Q3_K store each
 * half (128 values) as 32 bytes whose bit pairs 0..3 hold values 0-31, 32-63, 64-95,
 * 96-127 of the half; Q3_K's third bit of value 32*j+l of half h is bit 4h+j of hmask[l].
 * Q4_K and Q5_K store each 64 values as 32 bytes: low nibbles values 0-31, high nibbles
 * 32-63; Q5_K's fifth bit of value 64*j+l (l < 32) is bit 2j of qh[l], of value 64*j+32+l
 * bit 2j+1. Q6_K stores each half as 64 bytes of nibbles (low: values 0-63, high: 64-127)
 * and 32 bytes of bit pairs (pairs 0..3: values 0-31, 32-63, 64-95, 96-127), offset by 32.
 */
#include <string.h>

#include "tensor/kernels/dot.h"
#include "tensor/kernels/kquant.h"
#include "tensor/types.h"

void tq_vec_dot_q2_K_q8_K_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *a = y[i].qs;
        int sumi = 0, summ = 0;
        for (int g = 0; g < QK_K / 16; g++)
            summ += (x[i].scales[g] >> 4) * y[i].bsums[g];
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 2; k++) {
                    const int g = h * 8 + j * 2 + k; /* 16-value group */
                    int dot = 0;
                    for (int l = 0; l < 16; l++)
                        dot += ((q[h * 32 + k * 16 + l] >> (2 * j)) & 3) * a[g * 16 + l];
                    sumi += (x[i].scales[g] & 0xf) * dot;
                }
        const float dall = y[i].d * tq_f16_to_f32(x[i].d);
        const float dmin = y[i].d * tq_f16_to_f32(x[i].dmin);
        sum += dall * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

void tq_vec_dot_q3_K_q8_K_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *a = y[i].qs;
        uint32_t w[4];
        uint8_t sc[16];
        kq_unpack_scales_q3k(x[i].scales, w);
        memcpy(sc, w, sizeof sc);
        int sumi = 0;
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 2; k++) {
                    const int g = h * 8 + j * 2 + k;
                    int dot = 0;
                    for (int l = k * 16; l < k * 16 + 16; l++) {
                        const int lo = (q[h * 32 + l] >> (2 * j)) & 3;
                        const int hi = (x[i].hmask[l] >> (4 * h + j)) & 1;
                        dot += (lo + 4 * hi - 4) * a[g * 16 + l - k * 16];
                    }
                    sumi += (sc[g] - 32) * dot;
                }
        sum += y[i].d * tq_f16_to_f32(x[i].d) * (float)sumi;
    }
    *s = sum;
}

/* Shared by Q4_K and Q5_K: qh is NULL for Q4_K. */
static float dot_q45_K(int nb, const block_q4_K *x4, const block_q5_K *x5,
                       const block_q8_K *y)
{
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        const uint8_t *packed = x4 ? x4[i].scales : x5[i].scales;
        const uint8_t *q = x4 ? x4[i].qs : x5[i].qs;
        const uint8_t *qh = x4 ? NULL : x5[i].qh;
        const int8_t *a = y[i].qs;
        uint32_t w[4];
        uint8_t sm[16]; /* 8 scales, 8 mins */
        kq_unpack_scales_q4k(packed, w);
        memcpy(sm, w, sizeof sm);
        int sumi = 0, summ = 0;
        for (int sb = 0; sb < 8; sb++)
            summ += sm[8 + sb] * (y[i].bsums[2 * sb] + y[i].bsums[2 * sb + 1]);
        for (int j = 0; j < 4; j++) {
            int dot_lo = 0, dot_hi = 0;
            for (int l = 0; l < 32; l++) {
                int lo = q[32 * j + l] & 0xf, hi = q[32 * j + l] >> 4;
                if (qh) {
                    lo += ((qh[l] >> (2 * j)) & 1) << 4;
                    hi += ((qh[l] >> (2 * j + 1)) & 1) << 4;
                }
                dot_lo += lo * a[64 * j + l];
                dot_hi += hi * a[64 * j + 32 + l];
            }
            sumi += sm[2 * j] * dot_lo + sm[2 * j + 1] * dot_hi;
        }
        const tq_f16 d = x4 ? x4[i].d : x5[i].d, dmin = x4 ? x4[i].dmin : x5[i].dmin;
        sum += y[i].d * tq_f16_to_f32(d) * (float)sumi
             - y[i].d * tq_f16_to_f32(dmin) * (float)summ;
    }
    return sum;
}

void tq_vec_dot_q4_K_q8_K_ref(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, vx, NULL, vy);
}

void tq_vec_dot_q5_K_q8_K_ref(int n, float *s, const void *vx, const void *vy)
{
    *s = dot_q45_K(n / QK_K, NULL, vx, vy);
}

void tq_vec_dot_q6_K_q8_K_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *a = y[i].qs + 128 * h;
            for (int g = 0; g < 8; g++) { /* 16-value group within the half */
                const int quarter = g / 2; /* which 32 values: bit pair and nibble */
                int dot = 0;
                for (int l = (g & 1) * 16; l < (g & 1) * 16 + 16; l++) {
                    const uint8_t b = ql[l + 32 * (quarter & 1)];
                    const int lo = quarter < 2 ? b & 0xf : b >> 4;
                    const int q = (lo | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
                    dot += q * a[32 * quarter + l];
                }
                sumi += x[i].scales[8 * h + g] * dot;
            }
        }
        sum += y[i].d * tq_f16_to_f32(x[i].d) * (float)sumi;
    }
    *s = sum;
}
