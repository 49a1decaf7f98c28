/*
 * dot_ref.c — plain-C reference dot products for float weights and the legacy quants.
 *
 * These define what every SIMD variant must compute, with llama.cpp's meaning of each
 * block layout: within a block the quantized values are multiplied and summed as exact
 * integers, then scaled by d_x * d_y (and, for the types with a minimum, m_x * d_y * sum of
 * the activation's quants); blocks are summed in float. Float rows are summed in double.
 * The activation quantizers are the ones in quant.c (llama.cpp's x86 rounding rules).
 */
#include "tensor/kernels/dot.h"

#include <string.h>

#include "tensor/quant.h"
#include "tensor/types.h"

void tq_vec_dot_f32_f32_ref(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * y[i];
    *s = (float)sum;
}

void tq_vec_dot_f16_f16_ref(int n, float *s, const void *vx, const void *vy)
{
    const tq_f16 *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)tq_f16_to_f32(x[i]) * tq_f16_to_f32(y[i]);
    *s = (float)sum;
}

void tq_vec_dot_bf16_f32_ref(int n, float *s, const void *vx, const void *vy)
{
    const tq_bf16 *x = vx;
    const float *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)tq_bf16_to_f32(x[i]) * y[i];
    *s = (float)sum;
}

/* Sum of an activation block's quants: the minimum m_x of Q4_1/Q5_1 multiplies it. */
static int q8_sum(const block_q8_0 *y)
{
    int sum = 0;
    for (int j = 0; j < QK8_0; j++)
        sum += y->qs[j];
    return sum;
}

/* The 5th bit of value j of a Q5 block: bit j of the little-endian 32-bit qh. */
static uint32_t q5_high_bits(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* Value j of a 4-bit block: values 0..15 are the low nibbles of qs, 16..31 the high. */
static int nibble(const uint8_t *qs, int j)
{
    return j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
}

void tq_vec_dot_q4_0_q8_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0;
    for (int b = 0; b < n / QK8_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0; j++)
            sumi += (nibble(x[b].qs, j) - 8) * y[b].qs[j];
        sum += (float)sumi * (tq_f16_to_f32(x[b].d) * tq_f16_to_f32(y[b].d));
    }
    *s = sum;
}

void tq_vec_dot_q4_1_q8_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q4_1 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0;
    for (int b = 0; b < n / QK8_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1; j++)
            sumi += nibble(x[b].qs, j) * y[b].qs[j];
        float dy = tq_f16_to_f32(y[b].d);
        sum += (float)sumi * (tq_f16_to_f32(x[b].d) * dy) +
               tq_f16_to_f32(x[b].m) * (dy * (float)q8_sum(&y[b]));
    }
    *s = sum;
}

void tq_vec_dot_q5_0_q8_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0;
    for (int b = 0; b < n / QK8_0; b++) {
        uint32_t qh = q5_high_bits(x[b].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0; j++) {
            int q = nibble(x[b].qs, j) | (int)((qh >> j) & 1) << 4;
            sumi += (q - 16) * y[b].qs[j];
        }
        sum += (float)sumi * (tq_f16_to_f32(x[b].d) * tq_f16_to_f32(y[b].d));
    }
    *s = sum;
}

void tq_vec_dot_q5_1_q8_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q5_1 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0;
    for (int b = 0; b < n / QK8_0; b++) {
        uint32_t qh = q5_high_bits(x[b].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1; j++) {
            int q = nibble(x[b].qs, j) | (int)((qh >> j) & 1) << 4;
            sumi += q * y[b].qs[j];
        }
        float dy = tq_f16_to_f32(y[b].d);
        sum += (float)sumi * (tq_f16_to_f32(x[b].d) * dy) +
               tq_f16_to_f32(x[b].m) * (dy * (float)q8_sum(&y[b]));
    }
    *s = sum;
}

void tq_vec_dot_q8_0_q8_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0;
    for (int b = 0; b < n / QK8_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++)
            sumi += x[b].qs[j] * y[b].qs[j];
        sum += (float)sumi * (tq_f16_to_f32(x[b].d) * tq_f16_to_f32(y[b].d));
    }
    *s = sum;
}

void tq_from_float_f32_ref(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void tq_from_float_f16_ref(const float *x, void *vy, int64_t n)
{
    tq_f16 *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = tq_f32_to_f16(x[i]);
}

void tq_round_f16_ref(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tq_f16_to_f32(tq_f32_to_f16(x[i]));
}

void tq_from_float_q8_0_ref(const float *x, void *y, int64_t n)
{
    tq_quantize(TQ_Q8_0, x, y, n);
}

void tq_from_float_q8_K_ref(const float *x, void *y, int64_t n)
{
    tq_quantize(TQ_Q8_K, x, y, n);
}
