/*
 * types.h — weight types and their on-disk block layouts.
 *
 * The numbering and every block layout are bit-exact with ggml/GGUF, so any GGUF file a
 * user already has can be mapped and used in place. A quantized row of n values is n/blck
 * consecutive blocks; a block of `blck` values occupies `type_size` bytes. Every block
 * struct below is followed by a compile-time size check: these are file-format contracts.
 *
 * Layout legend: d = scale (FP16 unless noted), m/dmin = minimum, qs = packed quants,
 * qh = high bits, scales = packed sub-block scales.
 */
#ifndef HEARTH_TENSOR_TYPES_H
#define HEARTH_TENSOR_TYPES_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml type ids as stored in GGUF tensor infos (gaps are ids ggml retired). */
enum tq_type {
    TQ_F32 = 0,
    TQ_F16 = 1,
    TQ_Q4_0 = 2,
    TQ_Q4_1 = 3,
    TQ_Q5_0 = 6,
    TQ_Q5_1 = 7,
    TQ_Q8_0 = 8,
    TQ_Q8_1 = 9,
    TQ_Q2_K = 10,
    TQ_Q3_K = 11,
    TQ_Q4_K = 12,
    TQ_Q5_K = 13,
    TQ_Q6_K = 14,
    TQ_Q8_K = 15,
    TQ_IQ2_XXS = 16,
    TQ_IQ2_XS = 17,
    TQ_IQ3_XXS = 18,
    TQ_IQ1_S = 19,
    TQ_IQ4_NL = 20,
    TQ_IQ3_S = 21,
    TQ_IQ2_S = 22,
    TQ_IQ4_XS = 23,
    TQ_I8 = 24,
    TQ_I16 = 25,
    TQ_I32 = 26,
    TQ_I64 = 27,
    TQ_F64 = 28,
    TQ_IQ1_M = 29,
    TQ_BF16 = 30,
    TQ_TQ1_0 = 34,
    TQ_TQ2_0 = 35,
    TQ_MXFP4 = 39,
    TQ_TYPE_COUNT = 40
};

typedef struct tq_traits {
    const char *name;   /* "Q4_K", as llama.cpp spells it */
    int blck;           /* values per block */
    size_t type_size;   /* bytes per block */
    bool supported;     /* hearth can compute with it (false: known layout, no kernels) */
} tq_traits;

/* Traits of a type id, or NULL for an id that is not a known ggml type. */
const tq_traits *tq_traits_of(int type);
/* The type's name, or "unknown" for an id tq_traits_of rejects. */
const char *tq_type_name(int type);
/* Look a type up by name (case-insensitive, e.g. "q4_k"); -1 if unknown. */
int tq_type_from_name(const char *name);
/* Bytes of a row of n values; 0 if n is not a multiple of the block size or the type is
 * unknown. */
size_t tq_row_size(int type, int64_t n);

/* ---- FP16 / BF16 scalar conversion (IEEE binary16, bfloat16) ---------------------------- */
typedef uint16_t tq_f16;
typedef uint16_t tq_bf16;

float tq_f16_to_f32(tq_f16 h);
tq_f16 tq_f32_to_f16(float f);        /* round to nearest even; overflow -> inf */
static inline float tq_bf16_to_f32(tq_bf16 h)
{
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
tq_bf16 tq_f32_to_bf16(float f);      /* round to nearest even; NaN stays NaN */

/* ---- Block layouts ---------------------------------------------------------------------- */
#define QK4_0 32
typedef struct { tq_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 layout");

#define QK4_1 32
typedef struct { tq_f16 d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
static_assert(sizeof(block_q4_1) == 4 + QK4_1 / 2, "block_q4_1 layout");

#define QK5_0 32
typedef struct { tq_f16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
static_assert(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "block_q5_0 layout");

#define QK5_1 32
typedef struct { tq_f16 d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
static_assert(sizeof(block_q5_1) == 4 + 4 + QK5_1 / 2, "block_q5_1 layout");

#define QK8_0 32
typedef struct { tq_f16 d; int8_t qs[QK8_0]; } block_q8_0;
static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 layout");

#define QK8_1 32
typedef struct { tq_f16 d, s; int8_t qs[QK8_1]; } block_q8_1; /* s = d * sum(qs) */
static_assert(sizeof(block_q8_1) == 4 + QK8_1, "block_q8_1 layout");

/* K-quants: super-blocks of 256 values. */
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct {
    uint8_t scales[QK_K / 16]; /* 4-bit scale (low) and 4-bit min (high) per 16 values */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    tq_f16 d, dmin;
} block_q2_K;
static_assert(sizeof(block_q2_K) == 2 * 2 + QK_K / 16 + QK_K / 4, "block_q2_K layout");

typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit of each 3-bit quant */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 six-bit scales */
    tq_f16 d;
} block_q3_K;
static_assert(sizeof(block_q3_K) == 2 + QK_K / 4 + QK_K / 8 + 12, "block_q3_K layout");

typedef struct {
    tq_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 six-bit scales and 8 six-bit mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;
static_assert(sizeof(block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K layout");

typedef struct {
    tq_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2 + QK_K / 8, "block_q5_K layout");

typedef struct {
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* 8-bit scales */
    tq_f16 d;
} block_q6_K;
static_assert(sizeof(block_q6_K) == 2 + QK_K / 16 + 3 * QK_K / 4, "block_q6_K layout");

/* Activations for K-quant dot products: float scale, int8 quants, sums of each 16. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
static_assert(sizeof(block_q8_K) == 4 + QK_K + QK_K / 16 * 2, "block_q8_K layout");

#endif
