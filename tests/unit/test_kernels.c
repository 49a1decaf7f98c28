/*
 * Tests for tensor/kernels.c and kernels/dot_*.c: the dispatch, and every dot-product
 * variant the CPU offers against the plain-C reference.
 *
 * Two independent checks per case: each SIMD variant agrees with the reference within
 * float-summation rounding, and the reference agrees with a second algorithm (dequantize
 * both rows with tq_dequantize, multiply and sum in double). Sizes are awkward on purpose
 * (odd block counts, float lengths that are not multiples of any vector width). Edge cases
 * whose exact answer is an integer below 2^24 must match exactly. SIMD Q8_0 activation
 * quantizers must be bit-exact with the reference one (quant.c).
 */
#include "test.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/kernels/dot.h"
#include "tensor/quant.h"

/* ---- Helpers ------------------------------------------------------------------------------ */

static uint64_t rng;

static uint64_t rng_next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_uniform(void)
{
    return (float)((double)(rng_next() >> 40) / (double)(1ull << 23) - 1.0);
}

/* Random floats whose magnitude changes every 32 values (2^-6 .. 2^6), like activations
 * with outliers; the scale of each block then differs. */
static void fill_floats(float *v, int n)
{
    float scale = 1;
    for (int i = 0; i < n; i++) {
        if (i % 32 == 0)
            scale = ldexpf(1.0f, (int)(rng_next() % 13) - 6);
        v[i] = rng_uniform() * scale;
    }
}

static void fill_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rng_next();
}

static bool has_min(int t)
{
    return t == TQ_Q4_1 || t == TQ_Q5_1 || t == TQ_Q4_K || t == TQ_Q5_K;
}

/* A row of nb blocks of a legacy quant, or of a K-quant whose block opens with d (and
 * dmin): random quant bits (every pattern, including -128 for Q8_0) with random FP16
 * scale d (and min m) of either sign. */
static void random_quant_row(int type, void *row, int nb)
{
    size_t bs = tq_traits_of(type)->type_size;
    fill_bytes(row, bs * (size_t)nb);
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = (uint8_t *)row + bs * (size_t)b;
        tq_f16 d = tq_f32_to_f16(rng_uniform() * 0.1f), m = tq_f32_to_f16(rng_uniform());
        memcpy(blk, &d, 2); /* d comes first in every legacy block, m second */
        if (has_min(type))
            memcpy(blk + 2, &m, 2);
    }
}

/* The first instruction-set feature a kernel set needs that this CPU lacks, or NULL. */
static const char *missing_feature(bool avx512)
{
#if defined(__x86_64__) || defined(__i386__)
#define NEED(f)                          \
    do {                                 \
        if (!__builtin_cpu_supports(f))  \
            return f;                    \
    } while (0)
    NEED("avx2");
    NEED("fma");
    unsigned eax, ebx, ecx = 0, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_F16C))
        return "f16c";
    if (avx512) {
        NEED("avx512f");
        NEED("avx512bw");
        NEED("avx512vl");
        NEED("avx512dq");
        NEED("avx512vnni");
    }
#undef NEED
    return NULL;
#else
    return avx512 ? "avx512f" : "avx2";
#endif
}

/* The kernel sets this CPU offers, ref first. Prints once which sets were skipped, and why. */
static int kernel_sets(const tq_kernels *sets[3])
{
    static bool reported;
    const tq_kernels *simd[2] = { tq_kernels_avx2(), tq_kernels_avx512() };
    static const char *names[2] = { "avx2", "avx512" };
    int n = 0;
    sets[n++] = tq_kernels_ref();
    for (int i = 0; i < 2; i++) {
        if (simd[i]) {
            sets[n++] = simd[i];
            continue;
        }
        if (reported)
            continue;
        const char *lacks = missing_feature(i == 1);
        if (lacks)
            printf("  skipped: %s (cpu lacks %s)\n", names[i], lacks);
        else
            printf("  skipped: %s (the OS does not enable its registers)\n", names[i]);
    }
    reported = true;
    return n;
}

/* Every SIMD vec_dot variant for a weight type, with a label: one per available set. */
typedef struct { const char *label; tq_vec_dot_fn fn; } variant;

static int dot_variants(int type, variant out[2])
{
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets), n = 0;
    for (int i = 1; i < ns; i++)
        out[n++] = (variant){ sets[i]->name, sets[i]->vec_dot[type] };
    return n;
}

static double dot_double(const float *x, const float *y, int n, double *abs_sum)
{
    double s = 0, a = 0;
    for (int i = 0; i < n; i++) {
        s += (double)x[i] * y[i];
        a += fabs((double)x[i] * y[i]);
    }
    *abs_sum = a;
    return s;
}

/* fn(n, x, y) on copies of x and y in allocations of exactly their row sizes, so that a read
 * past either row runs off its allocation (which the ASan build reports). */
static float dot_exact(tq_vec_dot_fn fn, int n, int type, const void *x, const void *y)
{
    size_t xs = tq_row_size(type, n), ys = tq_row_size(tq_vec_dot_type(type), n);
    void *xc = mem_alloc(xs), *yc = mem_alloc(ys);
    float s = NAN;
    if (xc && yc) {
        memcpy(xc, x, xs);
        memcpy(yc, y, ys);
        fn(n, &s, xc, yc);
    }
    mem_free(xc);
    mem_free(yc);
    return s;
}

static void check_close(const char *what, const char *label, int type, int n, double got,
                        double want, double tol, int line)
{
    if (!(fabs(got - want) <= tol))
        test_fail(__FILE__, line, "%s %s %s n=%d: %.9g vs %.9g (diff %.3g, tol %.3g)", what,
                  label, tq_type_name(type), n, got, want, fabs(got - want), tol);
}

/* ---- Dispatch ------------------------------------------------------------------------------ */

TEST(kernels_vec_dot_type)
{
    CHECK_EQ(tq_vec_dot_type(TQ_F32), TQ_F32);
    CHECK_EQ(tq_vec_dot_type(TQ_F16), TQ_F16);
    CHECK_EQ(tq_vec_dot_type(TQ_BF16), TQ_F32);
    CHECK_EQ(tq_vec_dot_type(TQ_Q4_0), TQ_Q8_0);
    CHECK_EQ(tq_vec_dot_type(TQ_Q4_1), TQ_Q8_0);
    CHECK_EQ(tq_vec_dot_type(TQ_Q5_0), TQ_Q8_0);
    CHECK_EQ(tq_vec_dot_type(TQ_Q5_1), TQ_Q8_0);
    CHECK_EQ(tq_vec_dot_type(TQ_Q8_0), TQ_Q8_0);
    /* K-quants pair with Q8_K once their reference kernels exist */
    for (int t = TQ_Q2_K; t <= TQ_Q6_K; t++)
        CHECK_EQ(tq_vec_dot_type(t), tq_kernels_ref()->vec_dot[t] ? TQ_Q8_K : -1);
    CHECK_EQ(tq_vec_dot_type(TQ_IQ2_XXS), -1);
    CHECK_EQ(tq_vec_dot_type(TQ_Q8_K), -1);
    CHECK_EQ(tq_vec_dot_type(-1), -1);
    CHECK_EQ(tq_vec_dot_type(TQ_TYPE_COUNT), -1);
}

TEST(kernels_sets_complete)
{
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets);
    const tq_kernels *ref = tq_kernels_ref();
    CHECK_STR(ref->name, "ref");
    for (int i = 0; i < ns; i++) {
        /* a set lacking a kernel inherits the reference one: no hole where ref has one */
        for (int t = 0; t < TQ_TYPE_COUNT; t++) {
            CHECK(!ref->vec_dot[t] || sets[i]->vec_dot[t]);
            CHECK(!ref->from_float[t] || sets[i]->from_float[t]);
            CHECK(sets[i]->round_f16);
            int vt = tq_vec_dot_type(t);
            if (vt >= 0)
                CHECK(sets[i]->vec_dot[t] && sets[i]->from_float[vt]);
        }
    }
    CHECK(tq_kernels_avx2() == NULL || strcmp(tq_kernels_avx2()->name, "avx2") == 0);
    CHECK(tq_kernels_avx512() == NULL || strcmp(tq_kernels_avx512()->name, "avx512") == 0);
}

TEST(kernels_best_is_widest_allowed)
{
    const char *cap = getenv("HEARTH_ISA");
    const tq_kernels *want = tq_kernels_ref();
    bool ref_only = cap && strcmp(cap, "ref") == 0, upto2 = cap && strcmp(cap, "avx2") == 0;
    if (!ref_only && tq_kernels_avx2())
        want = tq_kernels_avx2();
    if (!ref_only && !upto2 && tq_kernels_avx512())
        want = tq_kernels_avx512();
    CHECK(tq_kernels_best() == want);
    CHECK(tq_kernels_best() == tq_kernels_best());
}

static void *best_in_thread(void *arg)
{
    (void)arg;
    return (void *)tq_kernels_best();
}

TEST(kernels_best_same_from_threads)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, best_in_thread, NULL) == 0);
    for (int i = 0; i < 4; i++) {
        void *got;
        pthread_join(th[i], &got);
        CHECK(got == (void *)tq_kernels_best());
    }
}

/* ---- Float weights ---------------------------------------------------------------------- */

/* Float sums: the reference sums in double, so it is off the exact value by its final
 * rounding to float (at most 2^-24 of |result| <= sum|x*y|). Each SIMD accumulator lane adds
 * about n/32 terms and then a short tree; with random signs its error stays near
 * sqrt(n/32) * 2^-24 of sum|x*y| (measured: under 4e-8 at these lengths), so 4e-7 is ten
 * times the observed error while any wrong, missing or doubled element shows. */
TEST(kernels_float_vs_ref)
{
    static const int lengths[] = { 1, 7, 15, 17, 63, 1000, 4097 };
    static const int types[] = { TQ_F32, TQ_F16, TQ_BF16 };
    const int nmax = 4097;
    float *xf = mem_alloc(nmax * sizeof(float)), *xd = mem_alloc(nmax * sizeof(float));
    float *yf = mem_alloc(nmax * sizeof(float)), *yd = mem_alloc(nmax * sizeof(float));
    void *x = mem_alloc(nmax * sizeof(float)), *y = mem_alloc(nmax * sizeof(float));
    REQUIRE(xf && xd && yf && yd && x && y);
    rng = 42;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        int t = types[ti];
        variant v[2];
        int nv = dot_variants(t, v);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            int n = lengths[li];
            fill_floats(xf, n);
            fill_floats(yf, n);
            /* the activations in the weight type's vec_dot type (F16 for F16 weights) */
            const int vt = tq_vec_dot_type(t);
            tq_kernels_ref()->from_float[vt](yf, y, n);
            if (vt == TQ_F32)
                memcpy(yd, yf, (size_t)n * sizeof(float));
            else
                tq_dequantize(vt, y, yd, n);
            for (int i = 0; i < n; i++) {
                if (t == TQ_F32)
                    ((float *)x)[i] = xf[i];
                else if (t == TQ_F16)
                    ((tq_f16 *)x)[i] = tq_f32_to_f16(xf[i]);
                else
                    ((tq_bf16 *)x)[i] = tq_f32_to_bf16(xf[i]);
            }
            if (t == TQ_F32)
                memcpy(xd, xf, (size_t)n * sizeof(float));
            else
                tq_dequantize(t, x, xd, n);
            double abs_sum, want = dot_double(xd, yd, n, &abs_sum);
            float ref = dot_exact(tq_kernels_ref()->vec_dot[t], n, t, x, y);
            check_close("ref vs double", "ref", t, n, ref, want, 1e-7 * abs_sum, __LINE__);
            for (int i = 0; i < nv; i++) {
                float got = dot_exact(v[i].fn, n, t, x, y);
                check_close("simd vs ref", v[i].label, t, n, got, ref, 4e-7 * abs_sum, __LINE__);
            }
        }
    }
    mem_free(xf);
    mem_free(xd);
    mem_free(yf);
    mem_free(yd);
    mem_free(x);
    mem_free(y);
}

/* Every set's F16 activations are tq_f32_to_f16's, bit for bit, and its round_f16 is that
 * conversion and back: the values around each rounding boundary (normal, subnormal,
 * overflow to infinity), signed zeros, infinities, NaNs with payloads, and a stride through
 * all 2^32 bit patterns; lengths with and without a tail past the vector width. */
TEST(kernels_f16_from_float_bit_exact)
{
    static const uint32_t edges[] = {
        0x00000000, 0x80000000, 0x00000001, 0x33000000, 0x33000001, 0x337fffff, 0x38800000,
        0x387fffff, 0x38fff000, 0x3f800fff, 0x3f801000, 0x3f803000, 0x477fefff, 0x477ff000,
        0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffa5a5a5, 0x7fffffff,
    };
    const int n = 4103;
    float *x = mem_alloc(n * sizeof(float)), *rounded = mem_alloc(n * sizeof(float));
    tq_f16 *got = mem_alloc(n * sizeof(tq_f16));
    REQUIRE(x && rounded && got);
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets);
    for (uint64_t start = 0; start < (1ull << 32); start += (uint64_t)n * 104729) {
        for (int i = 0; i < n; i++) {
            uint32_t u = i < (int)(sizeof edges / sizeof edges[0])
                             ? edges[i] ^ (uint32_t)(start & 0x80000000u)
                             : (uint32_t)(start + (uint64_t)i * 104729);
            memcpy(&x[i], &u, 4);
        }
        for (int s = 0; s < ns; s++)
            for (int len = n - 7; len <= n; len += 7) {
                memset(got, 0x55, n * sizeof(tq_f16));
                memset(rounded, 0x55, n * sizeof(float));
                sets[s]->from_float[TQ_F16](x, got, len);
                sets[s]->round_f16(x, rounded, len);
                for (int i = 0; i < n; i++) {
                    tq_f16 want = i < len ? tq_f32_to_f16(x[i]) : 0x5555;
                    uint32_t u, r, rwant = 0x55555555;
                    memcpy(&u, &x[i], 4);
                    memcpy(&r, &rounded[i], 4);
                    if (i < len) {
                        float f = tq_f16_to_f32(want);
                        memcpy(&rwant, &f, 4);
                    }
                    if (got[i] != want || r != rwant) {
                        test_fail(__FILE__, __LINE__,
                                  "%s F16 of 0x%08x (n=%d): 0x%04x and 0x%08x, want 0x%04x and 0x%08x",
                                  sets[s]->name, u, len, got[i], r, want, rwant);
                        goto done;
                    }
                }
            }
    }
done:
    mem_free(x);
    mem_free(rounded);
    mem_free(got);
}

/* Every set's SwiGLU is tq_swiglu's, bit for bit: around the SiLU's clamps (-88, -87, 88),
 * zeros, infinities, NaN, tiny and huge values, random gates over [-100, 100], and lengths
 * with and without a tail past the vector width; the output may be the gate. */
TEST(kernels_swiglu_bit_exact)
{
    static const float edges[] = { -88.0f, -88.00001f, -87.99999f, -87.0f, -86.99999f, 88.0f,
                                   88.00001f, 0.0f, -0.0f, 1e-30f, -1e-30f, 1e30f, -1e30f,
                                   INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 20.0f, -20.0f };
    const int n = 1000 + 13;
    float *gate = mem_alloc(n * sizeof(float)), *up = mem_alloc(n * sizeof(float));
    float *want = mem_alloc(n * sizeof(float)), *got = mem_alloc(n * sizeof(float));
    REQUIRE(gate && up && want && got);
    rng = 21;
    fill_floats(up, n);
    for (int i = 0; i < n; i++)
        gate[i] = i < (int)(sizeof edges / sizeof edges[0]) ? edges[i]
                                                            : rng_uniform() * 100.0f;
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets);
    for (int len = n - 13; len <= n; len += 13) {
        tq_swiglu(want, gate, up, len);
        for (int s = 0; s < ns; s++) {
            memcpy(got, gate, n * sizeof(float));
            sets[s]->swiglu(got, got, up, len);
            for (int i = 0; i < n; i++) {
                float w = i < len ? want[i] : gate[i];
                if (memcmp(&got[i], &w, sizeof w) != 0) {
                    test_fail(__FILE__, __LINE__, "%s swiglu(%.9g, %.9g) = %.9g, want %.9g (n=%d)",
                              sets[s]->name, gate[i], up[i], got[i], w, len);
                    break;
                }
            }
        }
    }
    mem_free(gate);
    mem_free(up);
    mem_free(want);
    mem_free(got);
}

/* ---- Legacy quants ------------------------------------------------------------------------ */

/* Per block the integer sums are exact in every variant; only the float sum over blocks
 * rounds (measured: under 4e-8 of sum|x*y| for up to 200 blocks), hence 4e-7. */
TEST(kernels_quant_vs_ref)
{
    static const int blocks[] = { 1, 3, 7, 33, 129 };
    static const int types[] = { TQ_Q4_0, TQ_Q4_1, TQ_Q5_0, TQ_Q5_1, TQ_Q8_0 };
    const int nmax = 129 * 32;
    float *xf = mem_alloc(nmax * sizeof(float)), *yf = mem_alloc(nmax * sizeof(float));
    float *xd = mem_alloc(nmax * sizeof(float)), *yd = mem_alloc(nmax * sizeof(float));
    void *x = mem_alloc(tq_row_size(TQ_Q8_0, nmax)), *y = mem_alloc(tq_row_size(TQ_Q8_0, nmax));
    REQUIRE(xf && yf && xd && yd && x && y);
    const tq_kernels *ref = tq_kernels_ref();
    rng = 7;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        int t = types[ti];
        REQUIRE(tq_vec_dot_type(t) == TQ_Q8_0);
        variant v[2];
        int nv = dot_variants(t, v);
        for (int raw = 0; raw < 2; raw++) {
            for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                int n = blocks[bi] * 32;
                if (raw) {
                    random_quant_row(t, x, blocks[bi]);
                } else { /* weights as llama-quantize would make them */
                    fill_floats(xf, n);
                    tq_quantize(t, xf, x, n);
                }
                fill_floats(yf, n);
                ref->from_float[TQ_Q8_0](yf, y, n);
                tq_dequantize(t, x, xd, n);
                tq_dequantize(TQ_Q8_0, y, yd, n);
                double abs_sum, want = dot_double(xd, yd, n, &abs_sum);
                float r = dot_exact(ref->vec_dot[t], n, t, x, y);
                check_close("ref vs dequantized", "ref", t, n, r, want, 4e-7 * abs_sum, __LINE__);
                for (int i = 0; i < nv; i++) {
                    float got = dot_exact(v[i].fn, n, t, x, y);
                    check_close("simd vs ref", v[i].label, t, n, got, r, 4e-7 * abs_sum, __LINE__);
                }
            }
        }
    }
    mem_free(xf);
    mem_free(yf);
    mem_free(xd);
    mem_free(yd);
    mem_free(x);
    mem_free(y);
}

/* Set the quant bits of block b to an extreme pattern: all bits clear, all set, or
 * alternating bytes (0x00/0xff), with scale d (and min m). */
static void extreme_block(int type, void *row, int b, int pattern, float d, float m)
{
    size_t bs = tq_traits_of(type)->type_size;
    uint8_t *blk = (uint8_t *)row + bs * (size_t)b;
    for (size_t i = 2; i < bs; i++)
        blk[i] = pattern == 0 ? 0x00 : pattern == 1 ? 0xff : (i & 1 ? 0xff : 0x00);
    tq_f16 dh = tq_f32_to_f16(d), mh = tq_f32_to_f16(m);
    memcpy(blk, &dh, 2);
    if (has_min(type))
        memcpy(blk + 2, &mh, 2);
    if (type == TQ_Q8_0) /* 0x80 = -128 and 0x7f = 127: the int8 extremes */
        for (size_t i = 2; i < bs; i++)
            blk[i] = pattern == 0 ? 0x80 : pattern == 1 ? 0x7f : (i & 1 ? 0x80 : 0x7f);
}

/* Extreme quant values, zero blocks and zero scales, with scales of 1: every partial sum is
 * an integer below 2^24, so every variant must give the exact answer. Activations reach
 * -128 except against Q8_0 weights, where from_float's range [-127, 127] is the contract
 * (see dot.h). */
TEST(kernels_quant_extremes_exact)
{
    static const int types[] = { TQ_Q4_0, TQ_Q4_1, TQ_Q5_0, TQ_Q5_1, TQ_Q8_0 };
    enum { NB = 7, N = NB * 32 };
    uint8_t x[NB * sizeof(block_q8_0)]; /* the largest legacy block */
    block_q8_0 y[NB];
    float xd[N], yd[N];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        int t = types[ti];
        int ylow = t == TQ_Q8_0 ? -127 : -128;
        for (int b = 0; b < NB; b++) {
            /* block 5: d_x = 0; block 6: everything zero; others: d = 1, m = b - 2 */
            extreme_block(t, x, b, b % 3, b == 5 ? 0.0f : 1.0f, (float)(b - 2));
            y[b].d = tq_f32_to_f16(b == 6 ? 0.0f : 1.0f);
            for (int j = 0; j < 32; j++)
                y[b].qs[j] = (int8_t)(b == 6 ? 0 : (b + j) % 3 == 0 ? ylow : (b + j) % 3 == 1 ? 127 : -1);
        }
        extreme_block(t, x, 6, 0, 0.0f, 0.0f);
        if (t == TQ_Q8_0)
            memset((uint8_t *)x + 6 * sizeof(block_q8_0) + 2, 0, 32);
        tq_dequantize(t, x, xd, N);
        tq_dequantize(TQ_Q8_0, y, yd, N);
        double abs_sum, want = dot_double(xd, yd, N, &abs_sum);
        REQUIRE(abs_sum < 16777216.0);
        float r;
        tq_kernels_ref()->vec_dot[t](N, &r, x, y);
        check_close("extremes", "ref", t, N, r, want, 0, __LINE__);
        variant v[2];
        int nv = dot_variants(t, v);
        for (int i = 0; i < nv; i++) {
            float got = -1;
            v[i].fn(N, &got, x, y);
            check_close("extremes", v[i].label, t, N, got, want, 0, __LINE__);
        }
        /* single blocks: d_x = 0 (only Q4_1/Q5_1's min term remains), and all zero */
        for (int b = 5; b <= 6; b++) {
            const uint8_t *xb = x + tq_traits_of(t)->type_size * (size_t)b;
            double one = dot_double(xd + 32 * b, yd + 32 * b, 32, &abs_sum);
            for (int i = -1; i < nv; i++) {
                float got = -1;
                (i < 0 ? tq_kernels_ref()->vec_dot[t] : v[i].fn)(32, &got, xb, &y[b]);
                check_close("one block", i < 0 ? "ref" : v[i].label, t, 32, got, one, 0, __LINE__);
            }
        }
    }
}

/* ---- Activation quantizer ----------------------------------------------------------------- */

/* Blocks that stress the rounding: random data at many scales, exact ties (amax = 127 makes
 * the multiplier 1, so k + 0.5 is a tie), all-zero blocks, a lone nonzero value, values too
 * small for an FP16 scale, and values near the FP16 limit. */
static void fill_activation_cases(float *v, int nb)
{
    fill_floats(v, nb * 32);
    for (int b = 0; b < nb; b++) {
        float *blk = v + 32 * b;
        switch (b % 7) {
        case 1:
            for (int j = 0; j < 32; j++)
                blk[j] = (float)(j - 16) + 0.5f;
            blk[31] = 127.0f;
            blk[0] = -126.5f;
            break;
        case 2:
            memset(blk, 0, 32 * sizeof(float));
            break;
        case 3:
            memset(blk, 0, 32 * sizeof(float));
            blk[b % 32] = -3.25f;
            break;
        case 4:
            for (int j = 0; j < 32; j++)
                blk[j] *= 1e-30f;
            break;
        case 5:
            for (int j = 0; j < 32; j++)
                blk[j] *= 8e6f;
            break;
        default:
            break;
        }
    }
}

TEST(kernels_q8_0_from_float_bit_exact)
{
    static const int blocks[] = { 1, 3, 7, 33, 129 };
    const int nmax = 129 * 32;
    float *xf = mem_alloc(nmax * sizeof(float));
    block_q8_0 *want = mem_alloc(tq_row_size(TQ_Q8_0, nmax));
    block_q8_0 *got = mem_alloc(tq_row_size(TQ_Q8_0, nmax));
    REQUIRE(xf && want && got);
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets);
    rng = 99;
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
        int nb = blocks[bi], n = nb * 32;
        fill_activation_cases(xf, nb);
        tq_quantize(TQ_Q8_0, xf, want, n);
        for (int i = 0; i < ns; i++) {
            memset(got, 0x55, tq_row_size(TQ_Q8_0, n));
            sets[i]->from_float[TQ_Q8_0](xf, got, n);
            for (int b = 0; b < nb; b++) {
                if (memcmp(&got[b], &want[b], sizeof(block_q8_0)) != 0) {
                    test_fail(__FILE__, __LINE__, "%s Q8_0 from_float differs at block %d of %d",
                              sets[i]->name, b, nb);
                    break;
                }
            }
        }
    }
    mem_free(xf);
    mem_free(want);
    mem_free(got);
}

/* The memory read probe of every set sums the buffer's 64-bit words (mod 2^64), as a plain
 * loop here does, for sizes of one and of many loop steps. */
TEST(kernels_read_sum_vs_plain_sum)
{
    static const size_t sizes[] = { 256, 512, 4096 + 256, 65536 };
    const size_t max = 65536;
    uint64_t *buf = mem_alloc_aligned(max, 64);
    REQUIRE(buf);
    rng = 5;
    fill_bytes(buf, max);
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t want = 0;
        for (size_t w = 0; w < sizes[i] / 8; w++)
            want += buf[w];
        for (int k = 0; k < ns; k++) {
            REQUIRE(sets[k]->read_sum);
            if (sets[k]->read_sum(buf, sizes[i]) != want)
                test_fail(__FILE__, __LINE__, "%s read_sum over %zu bytes differs",
                          sets[k]->name, sizes[i]);
        }
    }
    mem_free_aligned(buf);
}

TEST(kernels_f32_from_float_copies)
{
    float x[37], y[37];
    rng = 3;
    fill_floats(x, 37);
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets);
    for (int i = 0; i < ns; i++) {
        memset(y, 0, sizeof y);
        sets[i]->from_float[TQ_F32](x, y, 37);
        CHECK(memcmp(x, y, sizeof x) == 0);
    }
}

/* Multi-row kernels against the reference, one row at a time: five rows (exactly the
 * allocation, so ASan sees a read past the last one), block counts with and without a
 * remainder after groups of eight, and a row longer than a kernel's activation buffer. */
TEST(kernels_vec_dot_rows_vs_ref)
{
    static const int blocks[] = { 7, 33, 520 };
    const int nr = 5, nmax = 520 * 256;
    const tq_kernels *sets[3];
    int ns = kernel_sets(sets), checked = 0;
    float *yf = mem_alloc(nmax * sizeof(float)), *xd = mem_alloc(nmax * sizeof(float));
    float *yd = mem_alloc(nmax * sizeof(float));
    void *y = mem_alloc(tq_row_size(TQ_Q8_K, nmax));
    REQUIRE(yf && xd && yd && y);
    rng = 11;
    for (int t = 0; t < TQ_TYPE_COUNT; t++) {
        for (int si = 1; si < ns; si++) {
            if (!sets[si]->vec_dot_rows[t])
                continue;
            const int vt = tq_vec_dot_type(t);
            REQUIRE(vt == TQ_Q8_0 || vt == TQ_Q8_K);
            for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                int n = blocks[bi] * (int)tq_traits_of(t)->blck;
                size_t rs = tq_row_size(t, n);
                uint8_t *x = mem_alloc(rs * nr);
                REQUIRE(x);
                for (int r = 0; r < nr; r++)
                    random_quant_row(t, x + rs * r, blocks[bi]);
                fill_floats(yf, n);
                tq_kernels_ref()->from_float[vt](yf, y, n);
                tq_dequantize(vt, y, yd, n);
                float got[5];
                sets[si]->vec_dot_rows[t](n, got, x, rs, y, nr);
                for (int r = 0; r < nr; r++) {
                    float want;
                    tq_kernels_ref()->vec_dot[t](n, &want, x + rs * r, y);
                    tq_dequantize(t, x + rs * r, xd, n);
                    double abs_sum;
                    dot_double(xd, yd, n, &abs_sum);
                    check_close("rows vs ref", sets[si]->name, t, n, got[r], want,
                                4e-7 * abs_sum, __LINE__);
                }
                checked++;
                mem_free(x);
            }
        }
    }
    if (!checked)
        printf("  skipped: no kernel set on this CPU has a multi-row kernel\n");
    mem_free(yf);
    mem_free(xd);
    mem_free(yd);
    mem_free(y);
}
