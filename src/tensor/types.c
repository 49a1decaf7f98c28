/*
 * types.c — the table of ggml weight types and scalar FP16/BF16 conversion.
 *
 * Every type id ggml has ever written into a GGUF file is listed with its block size and
 * bytes per block, so a reader can size any tensor, and refuse by name the ones hearth
 * cannot compute with (the IQ and ternary families for now).
 */
#include "tensor/types.h"

#include <string.h>
#include <strings.h>

static const tq_traits traits[TQ_TYPE_COUNT] = {
    [TQ_F32]     = { "F32", 1, 4, true },
    [TQ_F16]     = { "F16", 1, 2, true },
    [TQ_Q4_0]    = { "Q4_0", QK4_0, sizeof(block_q4_0), true },
    [TQ_Q4_1]    = { "Q4_1", QK4_1, sizeof(block_q4_1), true },
    [TQ_Q5_0]    = { "Q5_0", QK5_0, sizeof(block_q5_0), true },
    [TQ_Q5_1]    = { "Q5_1", QK5_1, sizeof(block_q5_1), true },
    [TQ_Q8_0]    = { "Q8_0", QK8_0, sizeof(block_q8_0), true },
    [TQ_Q8_1]    = { "Q8_1", QK8_1, sizeof(block_q8_1), false },
    [TQ_Q2_K]    = { "Q2_K", QK_K, sizeof(block_q2_K), true },
    [TQ_Q3_K]    = { "Q3_K", QK_K, sizeof(block_q3_K), true },
    [TQ_Q4_K]    = { "Q4_K", QK_K, sizeof(block_q4_K), true },
    [TQ_Q5_K]    = { "Q5_K", QK_K, sizeof(block_q5_K), true },
    [TQ_Q6_K]    = { "Q6_K", QK_K, sizeof(block_q6_K), true },
    [TQ_Q8_K]    = { "Q8_K", QK_K, sizeof(block_q8_K), true },
    [TQ_IQ2_XXS] = { "IQ2_XXS", QK_K, 66, false },
    [TQ_IQ2_XS]  = { "IQ2_XS", QK_K, 74, false },
    [TQ_IQ3_XXS] = { "IQ3_XXS", QK_K, 98, false },
    [TQ_IQ1_S]   = { "IQ1_S", QK_K, 50, false },
    [TQ_IQ4_NL]  = { "IQ4_NL", 32, 18, false },
    [TQ_IQ3_S]   = { "IQ3_S", QK_K, 110, false },
    [TQ_IQ2_S]   = { "IQ2_S", QK_K, 82, false },
    [TQ_IQ4_XS]  = { "IQ4_XS", QK_K, 136, false },
    [TQ_I8]      = { "I8", 1, 1, false },
    [TQ_I16]     = { "I16", 1, 2, false },
    [TQ_I32]     = { "I32", 1, 4, false },
    [TQ_I64]     = { "I64", 1, 8, false },
    [TQ_F64]     = { "F64", 1, 8, false },
    [TQ_IQ1_M]   = { "IQ1_M", QK_K, 56, false },
    [TQ_BF16]    = { "BF16", 1, 2, true },
    [TQ_TQ1_0]   = { "TQ1_0", QK_K, 54, false },
    [TQ_TQ2_0]   = { "TQ2_0", QK_K, 66, false },
    [TQ_MXFP4]   = { "MXFP4", 32, 17, false },
};

const tq_traits *tq_traits_of(int type)
{
    if (type < 0 || type >= TQ_TYPE_COUNT || !traits[type].name)
        return NULL;
    return &traits[type];
}

const char *tq_type_name(int type)
{
    const tq_traits *t = tq_traits_of(type);
    return t ? t->name : "unknown";
}

int tq_type_from_name(const char *name)
{
    for (int i = 0; i < TQ_TYPE_COUNT; i++)
        if (traits[i].name && strcasecmp(traits[i].name, name) == 0)
            return i;
    return -1;
}

size_t tq_row_size(int type, int64_t n)
{
    const tq_traits *t = tq_traits_of(type);
    if (!t || n < 0 || n % t->blck != 0)
        return 0;
    return (size_t)(n / t->blck) * t->type_size;
}

/* IEEE binary16 <-> binary32 by bit manipulation, so results do not depend on the
 * compiler's or the CPU's F16C support (the SIMD kernels use F16C and are tested against
 * these). */
float tq_f16_to_f32(tq_f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v = { .u = bits };
    return v.f;
}

tq_f16 tq_f32_to_f16(float f)
{
    union { float f; uint32_t u; } v = { .f = f };
    uint32_t x = v.u;
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx > 0x7f800000) /* NaN: keep it a quiet NaN */
        return (tq_f16)(sign | 0x7e00 | ((absx >> 13) & 0x3ff));
    if (absx >= 0x477ff000) /* rounds to >= 65520: infinity */
        return (tq_f16)(sign | 0x7c00);
    if (absx < 0x38800000) { /* below the smallest normal half: subnormal or zero */
        if (absx < 0x33000000) /* < 2^-25 rounds to zero */
            return (tq_f16)sign;
        uint32_t e = absx >> 23;
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (tq_f16)(sign | half);
    }
    uint32_t r = absx + 0xfff + ((absx >> 13) & 1); /* round to nearest even */
    return (tq_f16)(sign | ((r - 0x38000000) >> 13));
}

tq_bf16 tq_f32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = { .f = f };
    if ((v.u & 0x7fffffff) > 0x7f800000)
        return (tq_bf16)((v.u >> 16) | 64); /* quiet NaN */
    return (tq_bf16)((v.u + 0x7fff + ((v.u >> 16) & 1)) >> 16);
}
