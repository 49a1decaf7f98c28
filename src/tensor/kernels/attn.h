/*
 * attn.h — attention of a group of query heads over an F16 KV cache, one call per
 * (token, KV head): the kernels behind tq_kernels.attn_f16.
 *
 * With grouped-query attention, ng query heads share one KV head; doing them together
 * means each cached key and value row is read (and converted from F16) once per step
 * instead of once per query head. For query head h < ng:
 *     att[h][i] = softmax_i(scale * q_h . K_i)  (i < n),   out_h = sum_i att[h][i] * V_i
 * K and V rows are hd F16 values, `stride` elements apart; q and out are ng rows of hd
 * floats; att is scratch of ng * n floats. The reference converts each value with
 * tq_f16_to_f32 and sums in float in position order; the AVX2 and AVX-512 variants convert
 * 8 or 16 values per instruction (F16C), which changes only the order of float rounding.
 */
#ifndef HEARTH_TENSOR_KERNELS_ATTN_H
#define HEARTH_TENSOR_KERNELS_ATTN_H

#include <stddef.h>

#include "tensor/types.h"

typedef struct tq_attn_args {
    int hd, ng, n;
    const float *q;        /* (ng, hd) */
    const tq_f16 *k, *v;   /* (n, stride) rows, hd used */
    size_t stride;
    float scale;
    float *att;            /* (ng, n) scratch */
    float *out;            /* (ng, hd) */
} tq_attn_args;

typedef void (*tq_attn_fn)(const tq_attn_args *a);

void tq_attn_f16_ref(const tq_attn_args *a);
void tq_attn_f16_avx2(const tq_attn_args *a);
void tq_attn_f16_avx512(const tq_attn_args *a);

#endif
