/*
 * act.h — the feed-forward's activation behind tq_kernels.swiglu: out = silu(gate) * up,
 * n floats (out may be gate). The reference is tq_swiglu (tensor/ops.c), plain C that the
 * compiler vectorizes for SSE2 only; the variants compute the same operations in the same
 * order on wider vectors (no fused multiply-adds), so their results are bit-identical.
 */
#ifndef HEARTH_TENSOR_KERNELS_ACT_H
#define HEARTH_TENSOR_KERNELS_ACT_H

typedef void (*tq_swiglu_fn)(float *out, const float *gate, const float *up, int n);

void tq_swiglu_avx512(float *out, const float *gate, const float *up, int n);

#endif
