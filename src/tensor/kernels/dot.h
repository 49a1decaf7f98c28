/*
 * dot.h — internal declarations of every kernel variant behind tensor/kernels.h.
 *
 * Each kernel has a plain-C reference (suffix _ref, the source of truth) and may have
 * SIMD variants (_avx2, _avx512, ...) compiled with their own ISA flags. Only kernels.c
 * (which builds the dispatch tables) and the tests include this header; everything else
 * goes through tq_kernels.
 *
 * Naming: tq_vec_dot_<weight>_<activation>_<isa> has the tq_vec_dot_fn signature,
 * tq_from_float_<activation>_<isa> the tq_from_float_fn one.
 *
 * Activation range: Q8_0 activations made by from_float lie in [-127, 127]. The AVX2
 * Q8_0·Q8_0 kernel relies on that (a -128 activation facing a negative weight would come
 * out wrong); every other kernel is exact for any int8 values.
 */
#ifndef HEARTH_TENSOR_KERNELS_DOT_H
#define HEARTH_TENSOR_KERNELS_DOT_H

#include <stddef.h>
#include <stdint.h>

#define TQ_DOT_FN(name) void name(int n, float *s, const void *x, const void *y)
#define TQ_FROM_FLOAT_FN(name) void name(const float *x, void *y, int64_t n)

/* ---- Float weights and legacy quants (dot_ref.c, dot_avx2.c, dot_avx512.c) ------------- */
TQ_DOT_FN(tq_vec_dot_f32_f32_ref);
TQ_DOT_FN(tq_vec_dot_f16_f16_ref);
TQ_DOT_FN(tq_vec_dot_bf16_f32_ref);
TQ_DOT_FN(tq_vec_dot_q4_0_q8_0_ref);
TQ_DOT_FN(tq_vec_dot_q4_1_q8_0_ref);
TQ_DOT_FN(tq_vec_dot_q5_0_q8_0_ref);
TQ_DOT_FN(tq_vec_dot_q5_1_q8_0_ref);
TQ_DOT_FN(tq_vec_dot_q8_0_q8_0_ref);
TQ_FROM_FLOAT_FN(tq_from_float_f32_ref);
TQ_FROM_FLOAT_FN(tq_from_float_f16_ref);
void tq_round_f16_ref(const float *x, float *y, int64_t n);
TQ_FROM_FLOAT_FN(tq_from_float_q8_0_ref);
TQ_FROM_FLOAT_FN(tq_from_float_q8_K_ref);

TQ_DOT_FN(tq_vec_dot_f32_f32_avx2);
TQ_DOT_FN(tq_vec_dot_f16_f16_avx2);
TQ_DOT_FN(tq_vec_dot_bf16_f32_avx2);
TQ_DOT_FN(tq_vec_dot_q4_0_q8_0_avx2);
TQ_DOT_FN(tq_vec_dot_q4_1_q8_0_avx2);
TQ_DOT_FN(tq_vec_dot_q5_0_q8_0_avx2);
TQ_DOT_FN(tq_vec_dot_q5_1_q8_0_avx2);
TQ_DOT_FN(tq_vec_dot_q8_0_q8_0_avx2);
TQ_FROM_FLOAT_FN(tq_from_float_f16_avx2);
void tq_round_f16_avx2(const float *x, float *y, int64_t n);
TQ_FROM_FLOAT_FN(tq_from_float_q8_0_avx2);

TQ_DOT_FN(tq_vec_dot_f32_f32_avx512);
TQ_DOT_FN(tq_vec_dot_f16_f16_avx512);
TQ_DOT_FN(tq_vec_dot_bf16_f32_avx512);
TQ_DOT_FN(tq_vec_dot_q4_0_q8_0_avx512);
TQ_DOT_FN(tq_vec_dot_q4_1_q8_0_avx512);
TQ_DOT_FN(tq_vec_dot_q5_0_q8_0_avx512);
TQ_DOT_FN(tq_vec_dot_q5_1_q8_0_avx512);
TQ_DOT_FN(tq_vec_dot_q8_0_q8_0_avx512);
TQ_FROM_FLOAT_FN(tq_from_float_f16_avx512);
void tq_round_f16_avx512(const float *x, float *y, int64_t n);
TQ_FROM_FLOAT_FN(tq_from_float_q8_0_avx512);
void tq_vec_dot_rows_q4_0_q8_0_avx2(int n, float *s, const void *x, size_t x_stride,
                                    const void *y, int nr);
void tq_vec_dot_rows_q4_0_q8_0_avx512(int n, float *s, const void *x, size_t x_stride,
                                      const void *y, int nr);
TQ_FROM_FLOAT_FN(tq_from_float_q8_K_avx2);
TQ_FROM_FLOAT_FN(tq_from_float_q8_K_avx512);

/* ---- K-quants × Q8_K (kquant_ref.c, kquant_avx2.c, kquant_avx512.c) -------------------- */
/* Q8_K rows must carry correct bsums: the min terms (Q2_K, Q4_K, Q5_K) and, in the SIMD
 * variants, the offsets of Q3_K and Q6_K are taken from them. */
TQ_DOT_FN(tq_vec_dot_q2_K_q8_K_ref);
TQ_DOT_FN(tq_vec_dot_q3_K_q8_K_ref);
TQ_DOT_FN(tq_vec_dot_q4_K_q8_K_ref);
TQ_DOT_FN(tq_vec_dot_q5_K_q8_K_ref);
TQ_DOT_FN(tq_vec_dot_q6_K_q8_K_ref);
TQ_DOT_FN(tq_vec_dot_q2_K_q8_K_avx2);
TQ_DOT_FN(tq_vec_dot_q3_K_q8_K_avx2);
TQ_DOT_FN(tq_vec_dot_q4_K_q8_K_avx2);
TQ_DOT_FN(tq_vec_dot_q5_K_q8_K_avx2);
TQ_DOT_FN(tq_vec_dot_q6_K_q8_K_avx2);
TQ_DOT_FN(tq_vec_dot_q2_K_q8_K_avx512);
TQ_DOT_FN(tq_vec_dot_q3_K_q8_K_avx512);
TQ_DOT_FN(tq_vec_dot_q4_K_q8_K_avx512);
TQ_DOT_FN(tq_vec_dot_q5_K_q8_K_avx512);
TQ_DOT_FN(tq_vec_dot_q6_K_q8_K_avx512);
void tq_vec_dot_rows_q4_K_q8_K_avx512(int n, float *s, const void *x, size_t x_stride,
                                      const void *y, int nr);
void tq_vec_dot_rows_q5_K_q8_K_avx512(int n, float *s, const void *x, size_t x_stride,
                                      const void *y, int nr);

#endif
