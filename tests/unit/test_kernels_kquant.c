/*
 * Tests for the K-quant dot products (kernels/kquant_ref.c, _avx2.c, _avx512.c).
 *
 * The reference kernel is checked against a second, independent algorithm: tq_dequantize
 * the weight row and the Q8_K row to floats and sum their products in double. Every SIMD
 * set the CPU offers is checked against the reference (sets it lacks are skipped with a
 * note). Weights are either quantized from random floats (Q4_K, Q5_K, Q6_K have a
 * quantizer) or random bytes with small random FP16 scales (every bit pattern of a K-quant
 * block is a valid block), on rows of 1, 2, 3, 7 and 17 super-blocks, starting at an odd
 * address (2 mod 16) so that no kernel may rely on more than the blocks' own alignment.
 */
#include "test.h"

#include <stdint.h>

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/kernels/dot.h"
#include "tensor/quant.h"
#include "tensor/types.h"

static const int ktypes[] = { TQ_Q2_K, TQ_Q3_K, TQ_Q4_K, TQ_Q5_K, TQ_Q6_K };
static const int lengths[] = { 1, 2, 3, 7, 17 };
#define MAX_NB 17

/* ---- random data ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_next(s) >> 40) / (float)(1 << 24);
}

/* Roughly normal: the sum of four uniforms, with an occasional outlier as real
 * activations have. */
static float rng_normal(uint64_t *s)
{
    float v = 0;
    for (int k = 0; k < 4; k++)
        v += rng_uniform(s, -1.0f, 1.0f);
    return (rng_next(s) % 64 == 0) ? 6.0f * v : v;
}

/* Set a block's FP16 scale and (for types that have one) min scale. */
static void set_scales(int type, void *blk, float d, float dmin)
{
    const tq_f16 hd = tq_f32_to_f16(d), hm = tq_f32_to_f16(dmin);
    switch (type) {
    case TQ_Q2_K: ((block_q2_K *)blk)->d = hd; ((block_q2_K *)blk)->dmin = hm; break;
    case TQ_Q3_K: ((block_q3_K *)blk)->d = hd; break;
    case TQ_Q4_K: ((block_q4_K *)blk)->d = hd; ((block_q4_K *)blk)->dmin = hm; break;
    case TQ_Q5_K: ((block_q5_K *)blk)->d = hd; ((block_q5_K *)blk)->dmin = hm; break;
    case TQ_Q6_K: ((block_q6_K *)blk)->d = hd; break;
    }
}

static size_t block_size(int type)
{
    return tq_traits_of(type)->type_size;
}

/* Random bytes, then small random scales of either sign. */
static void random_blocks(int type, uint8_t *w, int nb, uint64_t *s)
{
    for (size_t i = 0; i < block_size(type) * nb; i++)
        w[i] = (uint8_t)rng_next(s);
    for (int b = 0; b < nb; b++)
        set_scales(type, w + b * block_size(type), rng_uniform(s, -0.02f, 0.02f),
                   rng_uniform(s, -0.02f, 0.02f));
}

static void quantized_activations(block_q8_K *a, int nb, uint64_t *s)
{
    float x[MAX_NB * QK_K];
    for (int i = 0; i < nb * QK_K; i++)
        x[i] = rng_normal(s);
    tq_quantize(TQ_Q8_K, x, a, nb * QK_K);
}

/* A Q8_K row with every quant equal to v (bsums by their definition). */
static void constant_activations(block_q8_K *a, int nb, int v)
{
    for (int b = 0; b < nb; b++) {
        a[b].d = 0.01f;
        memset(a[b].qs, (int8_t)v, QK_K);
        for (int g = 0; g < QK_K / 16; g++)
            a[b].bsums[g] = (int16_t)(16 * v);
    }
}

/* ---- the checks ------------------------------------------------------------------------- */

/* The independent algorithm: dequantize both rows, sum in double. *mag = sum |w*a|. */
static double dequantized_dot(int type, const void *w, const block_q8_K *a, int n, double *mag)
{
    float wf[MAX_NB * QK_K], af[MAX_NB * QK_K];
    tq_dequantize(type, w, wf, n);
    tq_dequantize(TQ_Q8_K, a, af, n);
    double sum = 0, m = 0;
    for (int i = 0; i < n; i++) {
        sum += (double)wf[i] * af[i];
        m += fabs((double)wf[i] * af[i]);
    }
    *mag = m;
    return sum;
}

static const tq_kernels *simd_sets[2];

/* The SIMD sets this CPU offers; the first call prints which are skipped. */
static int available_simd_sets(void)
{
    static int count = -1;
    if (count >= 0)
        return count;
    const tq_kernels *all[2] = { tq_kernels_avx2(), tq_kernels_avx512() };
    const char *names[2] = { "avx2", "avx512" };
    count = 0;
    for (int k = 0; k < 2; k++) {
        if (all[k])
            simd_sets[count++] = all[k];
        else
            printf("  note: CPU lacks %s; its K-quant kernels are not tested\n", names[k]);
    }
    return count;
}

/* Checks one weight row against one activation row in every kernel set. The float work
 * in the kernels is a handful of roundings per super-block, so the reference must match
 * the dequantized sum to 1e-5 of the sum of |terms| (x4 for the min terms, which can be
 * larger than the weights they produce) and the SIMD sets, which compute the same
 * integers, must match the reference to 4e-6 of it, one row at a time or through a
 * multi-row kernel. */
static void check_row(int type, const void *w, const block_q8_K *a, int nb, const char *what)
{
    const int n = nb * QK_K;
    double mag;
    const double want = dequantized_dot(type, w, a, n, &mag);
    float ref = NAN;
    tq_kernels_ref()->vec_dot[type](n, &ref, w, a);
    if (!(fabs(ref - want) <= 4e-5 * mag))
        test_fail(__FILE__, __LINE__, "%s %s nb=%d: ref %.9g, dequantized %.9g (|terms| %g)",
                  tq_type_name(type), what, nb, ref, want, mag);
    for (int k = 0; k < available_simd_sets(); k++) {
        float got = NAN;
        simd_sets[k]->vec_dot[type](n, &got, w, a);
        if (!(fabs(got - ref) <= 4e-6 * mag))
            test_fail(__FILE__, __LINE__, "%s %s nb=%d: %s %.9g, ref %.9g (|terms| %g)",
                      tq_type_name(type), what, nb, simd_sets[k]->name, got, ref, mag);
        if (!simd_sets[k]->vec_dot_rows[type])
            continue;
        got = NAN;
        simd_sets[k]->vec_dot_rows[type](n, &got, w, 0, a, 1);
        if (!(fabs(got - ref) <= 4e-6 * mag))
            test_fail(__FILE__, __LINE__, "%s %s nb=%d: %s rows %.9g, ref %.9g (|terms| %g)",
                      tq_type_name(type), what, nb, simd_sets[k]->name, got, ref, mag);
    }
}

/* Every set must give exactly zero. */
static void check_zero(int type, const void *w, const block_q8_K *a, int nb, const char *what)
{
    const tq_kernels *sets[3] = { tq_kernels_ref(), NULL, NULL };
    int count = 1;
    for (int k = 0; k < available_simd_sets(); k++)
        sets[count++] = simd_sets[k];
    for (int k = 0; k < count; k++) {
        float got = NAN;
        sets[k]->vec_dot[type](nb * QK_K, &got, w, a);
        if (got != 0.0f)
            test_fail(__FILE__, __LINE__, "%s %s: %s gives %.9g, want 0", tq_type_name(type),
                      what, sets[k]->name, got);
        if (!sets[k]->vec_dot_rows[type])
            continue;
        got = NAN;
        sets[k]->vec_dot_rows[type](nb * QK_K, &got, w, 0, a, 1);
        if (got != 0.0f)
            test_fail(__FILE__, __LINE__, "%s %s: %s rows gives %.9g, want 0",
                      tq_type_name(type), what, sets[k]->name, got);
    }
}

/* Weight rows start two bytes past an aligned buffer: the alignment of the block
 * structs (FP16 fields), and no more. */
static uint8_t *weight_buffer(void)
{
    return mem_alloc(MAX_NB * sizeof(block_q8_K) + 2);
}

/* ---- tests ------------------------------------------------------------------------------ */

TEST(kquant_tables_wired)
{
    for (size_t t = 0; t < sizeof ktypes / sizeof ktypes[0]; t++) {
        CHECK_EQ(tq_vec_dot_type(ktypes[t]), TQ_Q8_K);
        CHECK(tq_kernels_ref()->vec_dot[ktypes[t]] != NULL);
    }
    CHECK(tq_kernels_ref()->vec_dot[TQ_Q4_K] == tq_vec_dot_q4_K_q8_K_ref);
    const tq_kernels *avx2 = tq_kernels_avx2(), *avx512 = tq_kernels_avx512();
    if (avx2) {
        CHECK(avx2->vec_dot[TQ_Q2_K] == tq_vec_dot_q2_K_q8_K_avx2);
        CHECK(avx2->vec_dot[TQ_Q6_K] == tq_vec_dot_q6_K_q8_K_avx2);
    }
    if (avx512) {
        CHECK(avx512->vec_dot[TQ_Q3_K] == tq_vec_dot_q3_K_q8_K_avx512);
        CHECK(avx512->vec_dot[TQ_Q5_K] == tq_vec_dot_q5_K_q8_K_avx512);
    }
}

TEST(kquant_random_bytes)
{
    uint64_t seed = 1234;
    uint8_t *buf = weight_buffer();
    block_q8_K a[MAX_NB];
    REQUIRE(buf);
    for (size_t t = 0; t < sizeof ktypes / sizeof ktypes[0]; t++)
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
            for (int rep = 0; rep < 3; rep++) {
                random_blocks(ktypes[t], buf + 2, lengths[l], &seed);
                quantized_activations(a, lengths[l], &seed);
                check_row(ktypes[t], buf + 2, a, lengths[l], "random bytes");
            }
    mem_free(buf);
}

TEST(kquant_quantized_weights)
{
    static const int quantizable[] = { TQ_Q4_K, TQ_Q5_K, TQ_Q6_K };
    uint64_t seed = 99;
    block_q8_K a[MAX_NB];
    float x[MAX_NB * QK_K];
    for (int t = 0; t < 3; t++)
        REQUIRE(tq_can_quantize(quantizable[t]));
    uint8_t *buf = weight_buffer();
    REQUIRE(buf);
    for (int t = 0; t < 3; t++) {
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            const int nb = lengths[l];
            for (int i = 0; i < nb * QK_K; i++)
                x[i] = 0.05f * rng_normal(&seed);
            tq_quantize(quantizable[t], x, buf + 2, nb * QK_K);
            quantized_activations(a, nb, &seed);
            check_row(quantizable[t], buf + 2, a, nb, "quantized");
        }
    }
    mem_free(buf);
}

/* The packed scale bytes (and, for the types with mins, nothing else) of every block. */
static void zero_scales(int type, uint8_t *blk)
{
    switch (type) {
    case TQ_Q2_K: memset(((block_q2_K *)blk)->scales, 0, QK_K / 16); break;
    case TQ_Q3_K: /* stored with a +32 bias: low nibbles 0, top bit pairs 0b10 */
        memset(((block_q3_K *)blk)->scales, 0, 8);
        memset(((block_q3_K *)blk)->scales + 8, 0xaa, 4);
        break;
    case TQ_Q4_K: memset(((block_q4_K *)blk)->scales, 0, K_SCALE_SIZE); break;
    case TQ_Q5_K: memset(((block_q5_K *)blk)->scales, 0, K_SCALE_SIZE); break;
    case TQ_Q6_K: memset(((block_q6_K *)blk)->scales, 0, QK_K / 16); break;
    }
}

TEST(kquant_edge_zero_scales_and_d)
{
    uint64_t seed = 7;
    uint8_t *buf = weight_buffer();
    block_q8_K a[MAX_NB];
    REQUIRE(buf);
    for (size_t t = 0; t < sizeof ktypes / sizeof ktypes[0]; t++) {
        const int type = ktypes[t], nb = 3;
        uint8_t *w = buf + 2;
        quantized_activations(a, nb, &seed);

        random_blocks(type, w, nb, &seed);
        for (int b = 0; b < nb; b++)
            zero_scales(type, w + b * block_size(type));
        check_zero(type, w, a, nb, "zero scales");

        random_blocks(type, w, nb, &seed);
        for (int b = 0; b < nb; b++)
            set_scales(type, w + b * block_size(type), 0.0f, 0.0f);
        check_zero(type, w, a, nb, "d = dmin = 0");

        /* only the min terms remain (types without mins give zero) */
        random_blocks(type, w, nb, &seed);
        for (int b = 0; b < nb; b++)
            set_scales(type, w + b * block_size(type), 0.0f, -0.013f);
        check_row(type, w, a, nb, "d = 0, negative dmin");

        random_blocks(type, w, nb, &seed);
        for (int b = 0; b < nb; b++)
            set_scales(type, w + b * block_size(type), 0.011f, -0.017f);
        check_row(type, w, a, nb, "negative dmin");

        /* Q2_K keeps its mins when the scale nibbles are zero */
        if (type == TQ_Q2_K) {
            random_blocks(type, w, nb, &seed);
            for (int b = 0; b < nb; b++) {
                uint8_t *sc = ((block_q2_K *)(w + b * block_size(type)))->scales;
                for (int g = 0; g < QK_K / 16; g++)
                    sc[g] &= 0xf0;
            }
            check_row(type, w, a, nb, "zero scales, mins kept");
        }
    }
    mem_free(buf);
}

TEST(kquant_edge_extreme_quants)
{
    static const uint8_t fills[] = { 0x00, 0xff, 0x80, 0x55 };
    static const int acts[] = { 127, -127, -128, 1 };
    uint8_t *buf = weight_buffer();
    block_q8_K a[MAX_NB];
    REQUIRE(buf);
    for (size_t t = 0; t < sizeof ktypes / sizeof ktypes[0]; t++) {
        const int type = ktypes[t], nb = 2;
        uint8_t *w = buf + 2;
        for (size_t f = 0; f < sizeof fills; f++) {
            /* every byte the same: all-ones quants with the largest (or most negative)
             * scales, all-zero quants, alternating bits */
            memset(w, fills[f], block_size(type) * nb);
            for (int b = 0; b < nb; b++)
                set_scales(type, w + b * block_size(type), 0.5f, -0.25f);
            for (size_t v = 0; v < sizeof acts / sizeof acts[0]; v++) {
                constant_activations(a, nb, acts[v]);
                char what[64];
                snprintf(what, sizeof what, "bytes 0x%02x, activations %d", fills[f], acts[v]);
                check_row(type, w, a, nb, what);
            }
        }
    }
    mem_free(buf);
}
