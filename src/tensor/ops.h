/*
 * ops.h — the element-wise and row-wise operations of a transformer forward pass.
 *
 * Plain C written so the compiler vectorizes the inner loops; they are O(n) next to the
 * O(n^2) matrix products, so they get SIMD variants only when a profile says so.
 * Row functions work on one row of n floats; out may equal x (in place) unless noted.
 */
#ifndef HEARTH_TENSOR_OPS_H
#define HEARTH_TENSOR_OPS_H

#include <stdint.h>

/* out = x / sqrt(mean(x^2) + eps) * w   (w may be NULL: no scale) */
void tq_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* out = (x - mean) / sqrt(var + eps) * w + b   (w, b may be NULL) */
void tq_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps);
/* In-place softmax over n values (numerically stable; -INFINITY entries become 0). */
void tq_softmax(float *x, int n);
/* Rotary position embedding of one head vector of size head_dim (rotating the first
 * n_rot dims) at position pos. neox=false rotates adjacent pairs (x[2i], x[2i+1]);
 * neox=true rotates (x[i], x[i + n_rot/2]). freq_factors (may be NULL) divides each
 * pair's frequency (Llama-3 rope_freqs). theta_i = pos * base^(-2i/n_rot) / factor_i. */
void tq_rope(float *x, int head_dim, int n_rot, int pos, float base, float freq_scale,
             const float *freq_factors, int neox);
/* tq_rope split in two, for the many heads of one token: tq_rope_cache fills cs with the
 * n_rot/2 (cos, sin) pairs of position pos, tq_rope_apply rotates a head with them. The
 * result is bit-identical to tq_rope; only the sines and cosines are computed once. */
void tq_rope_cache(float *cs, int n_rot, int pos, float base, float freq_scale,
                   const float *freq_factors);
void tq_rope_apply(float *x, int n_rot, const float *cs, int neox);
void tq_silu(float *out, const float *x, int n);
void tq_gelu(float *out, const float *x, int n);           /* tanh approximation */
void tq_gelu_erf(float *out, const float *x, int n);       /* exact, with erf */
void tq_add(float *out, const float *a, const float *b, int n);
void tq_mul(float *out, const float *a, const float *b, int n);
void tq_scale(float *out, const float *x, float s, int n);
/* out = silu(gate) * up — the SwiGLU of llama-family FFNs */
void tq_swiglu(float *out, const float *gate, const float *up, int n);
/* dot of two float rows and the f32 accumulate y += a * x */
float tq_dot_f32(const float *a, const float *b, int n);
void tq_axpy(float *y, float a, const float *x, int n);

#endif
