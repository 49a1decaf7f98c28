/*
 * kernels.h — dot products of weight rows with activation rows, dispatched by CPU.
 *
 * A matrix product on weights of type T first converts the float activations to
 * tq_vec_dot_type(T) (Q8_0 blocks of 32 for the legacy quants, Q8_K blocks of 256 for the
 * K-quants, F16 for F16 weights, plain F32 for F32/BF16 weights), then takes one vec_dot per
 * output element.
 * Every kernel exists as a plain-C reference (the source of truth, kernels/dot_ref.c and
 * friends) and as AVX2 and AVX-512 variants (kernels/NAME_avx2.c, NAME_avx512.c, each
 * compiled with its own ISA flags; the avxvnni set is the AVX2 one with the GEMM of
 * kernels/gemm_vnni256.h). tq_kernels_best() picks, once, the widest set the CPU supports;
 * a variant that lacks a kernel inherits the reference one. Tests run every available set against the
 * reference on awkward sizes.
 *
 * Batches of activation rows may instead go through the GEMM path of kernels/gemm.h (weights
 * decoded once per product into int8 panels, multiplied with register-tiled kernels).
 */
#ifndef HEARTH_TENSOR_KERNELS_H
#define HEARTH_TENSOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/kernels/act.h"
#include "tensor/kernels/attn.h"
#include "tensor/kernels/gemm.h"
#include "tensor/kernels/peak.h"
#include "tensor/types.h"

/* *s = dot(x, y) over n values: x is a row of the weight type, y a row of its
 * vec_dot_type. n is a multiple of both block sizes. */
typedef void (*tq_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* Convert n floats into a row of an activation type (F32 copy, F16, Q8_0, Q8_K). */
typedef void (*tq_from_float_fn)(const float *x, void *y, int64_t n);
/* y = x rounded to the nearest F16 value (n floats, y may be x): the values F16 activations
 * hold, kept as floats. */
typedef void (*tq_round_f16_fn)(const float *x, float *y, int64_t n);
/* s[r] = dot(row r of x, y) for r < nr, the rows x_stride bytes apart: one activation row
 * against several weight rows, so the work that depends only on the activations (arranging,
 * offsets, scales) is done once for all of them. */
typedef void (*tq_vec_dot_rows_fn)(int n, float *s, const void *x, size_t x_stride,
                                   const void *y, int nr);

typedef struct tq_kernels {
    const char *name;                              /* "ref", "avx2", "avxvnni", "avx512" */
    tq_vec_dot_fn vec_dot[TQ_TYPE_COUNT];          /* indexed by weight type */
    /* Several rows per call, where a set has such a kernel (NULL: one vec_dot per row). */
    tq_vec_dot_rows_fn vec_dot_rows[TQ_TYPE_COUNT];
    tq_from_float_fn from_float[TQ_TYPE_COUNT];    /* indexed by activation type */
    tq_round_f16_fn round_f16;
    /* Matrix-matrix products for batches (kernels/gemm.h), for the weight types with
     * tq_gemm_block_size > 0; see tq_kernels_gemm_int8. */
    tq_gemm_unpack_fn gemm_unpack;
    tq_gemm_fn gemm;
    /* The same for float weights (tq_gemmf_type), with float activations. */
    tq_gemmf_unpack_fn gemmf_unpack;
    tq_gemmf_fn gemmf;
    /* The feed-forward's SwiGLU (kernels/act.h). */
    tq_swiglu_fn swiglu;
    /* Attention of the query heads sharing one KV head over an F16 cache (kernels/attn.h). */
    tq_attn_fn attn_f16;
    /* Compute-peak probes of one core (kernels/peak.h); NULL where the set has none. */
    tq_peak_fn peak_int8, peak_fp32;
    /* The memory read probe (kernels/peak.h), in every set. */
    tq_read_fn read_sum;
} tq_kernels;

/* The activation type paired with a weight type, or -1 if there is no kernel for it. */
int tq_vec_dot_type(int weight_type);

/* Kernel sets. ref is always available; avx2/avxvnni/avx512 return NULL when the CPU (or
 * the build) lacks the instructions (avxvnni: AVX-VNNI or AVX-512 VNNI, see kernels.c). best
 * is chosen once from CPUID and cached; the environment variable
 * HEARTH_ISA=ref|avx2|avxvnni|avx512 caps it (for benchmarks and bug hunts). */
/* Does k multiply batches on weights of this type with its int8 GEMM? */
bool tq_kernels_gemm_int8(const tq_kernels *k, int type);

const tq_kernels *tq_kernels_ref(void);
const tq_kernels *tq_kernels_avx2(void);
const tq_kernels *tq_kernels_avxvnni(void);
const tq_kernels *tq_kernels_avx512(void);
const tq_kernels *tq_kernels_best(void);

#endif
