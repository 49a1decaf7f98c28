/*
 * attn_ref.c — plain-C attention over an F16 KV cache (see attn.h): the reference the
 * SIMD variants are tested against.
 */
#include <string.h>

#include "tensor/kernels/attn.h"
#include "tensor/ops.h"

void tq_attn_f16_ref(const tq_attn_args *a)
{
    for (int h = 0; h < a->ng; h++) {
        const float *q = a->q + (size_t)h * a->hd;
        float *att = a->att + (size_t)h * a->n, *out = a->out + (size_t)h * a->hd;
        for (int i = 0; i < a->n; i++) {
            const tq_f16 *k = a->k + (size_t)i * a->stride;
            float s = 0.0f;
            for (int j = 0; j < a->hd; j++)
                s += tq_f16_to_f32(k[j]) * q[j];
            att[i] = s * a->scale;
        }
        tq_softmax(att, a->n);
        memset(out, 0, (size_t)a->hd * sizeof *out);
        for (int i = 0; i < a->n; i++) {
            const tq_f16 *v = a->v + (size_t)i * a->stride;
            for (int j = 0; j < a->hd; j++)
                out[j] += att[i] * tq_f16_to_f32(v[j]);
        }
    }
}
