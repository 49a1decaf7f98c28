/*
 * Tests for tensor/quant.c.
 *
 * Dequantization is checked against gguf-py's values (../shared/testdata/reference/
 * dequant.json) for every type in the fixture models; quantization against the bounds
 * documented in quant.c (computed here from each block's own extremes), against the
 * rounding rules stated for the activation quantizers (hand-computed blocks), and against
 * llama-quantize itself: re-quantizing the dequantized weights of a fixture must give back
 * the fixture's bytes for the deterministic legacy types.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/file.h"
#include "base/mem.h"
#include "formats/gguf.h"
#include "tensor/quant.h"

/* ---- Helpers ------------------------------------------------------------------------------ */

/* Seeded standard normal values: splitmix64 bits, Box-Muller. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(void) /* in (0, 1) */
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static void fill_normal(float *x, int64_t n, float scale, uint64_t seed)
{
    rng_state = seed;
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2 * log(rng_unit())), t = 6.283185307179586 * rng_unit();
        x[i] = (float)(r * cos(t)) * scale;
        if (i + 1 < n)
            x[i + 1] = (float)(r * sin(t)) * scale;
    }
}

static const int quant_types[] = { TQ_F16, TQ_BF16, TQ_Q8_0, TQ_Q4_0, TQ_Q4_1, TQ_Q5_0,
                                   TQ_Q5_1, TQ_Q8_K, TQ_Q4_K, TQ_Q5_K, TQ_Q6_K };
#define N_QUANT_TYPES (int)(sizeof quant_types / sizeof quant_types[0])

/* Quantize x (n values) to type and back into y; returns the quantized bytes (caller
 * frees). */
static void *round_trip(int type, const float *x, float *y, int64_t n)
{
    size_t bytes = tq_row_size(type, n);
    void *q = mem_alloc(bytes);
    if (!q)
        return NULL;
    CHECK_EQ(tq_quantize(type, x, q, n), bytes);
    tq_dequantize(type, q, y, n);
    return q;
}

static double rel_rms(const float *x, const float *y, int64_t n)
{
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        s += (double)x[i] * x[i];
    }
    return sqrt(e / s);
}

static float block_absmax(const float *x, int n)
{
    float a = 0;
    for (int j = 0; j < n; j++)
        a = fmaxf(a, fabsf(x[j]));
    return a;
}

/* The largest |x - y| in block b minus the bound quant.c documents for it, from the block's
 * own values and stored scales (<= 0 means within the bound). */
static double bound_excess(int type, const float *x, const float *y, const void *q, int64_t b)
{
    const int blck = tq_traits_of(type)->blck;
    x += b * blck;
    y += b * blck;
    float mn = FLT_MAX, mx = -FLT_MAX, smax = 0, amax = block_absmax(x, blck);
    for (int j = 0; j < blck; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
        if (fabsf(x[j]) == amax && smax == 0)
            smax = x[j];
    }
    double bound;
    switch (type) {
    case TQ_Q8_0: {
        double d = amax / 127.0, d16 = tq_f16_to_f32(((const block_q8_0 *)q)[b].d);
        bound = d / 2 + 127 * fabs(d - d16);
        break;
    }
    case TQ_Q4_0: case TQ_Q5_0: {
        int half = type == TQ_Q4_0 ? 8 : 16;
        tq_f16 s = type == TQ_Q4_0 ? ((const block_q4_0 *)q)[b].d : ((const block_q5_0 *)q)[b].d;
        double d = smax / -half, d16 = tq_f16_to_f32(s);
        bound = fabs(d) + half * fabs(d - d16);
        break;
    }
    case TQ_Q4_1: case TQ_Q5_1: {
        int top = type == TQ_Q4_1 ? 15 : 31;
        tq_f16 sd = type == TQ_Q4_1 ? ((const block_q4_1 *)q)[b].d : ((const block_q5_1 *)q)[b].d;
        tq_f16 sm = type == TQ_Q4_1 ? ((const block_q4_1 *)q)[b].m : ((const block_q5_1 *)q)[b].m;
        double d = ((double)mx - mn) / top;
        bound = d / 2 + top * fabs(d - tq_f16_to_f32(sd)) + fabs(mn - tq_f16_to_f32(sm));
        break;
    }
    case TQ_Q8_K: bound = fabs(((const block_q8_K *)q)[b].d) / 2; break;
    case TQ_Q4_K: bound = 0.25 * amax; break;
    case TQ_Q5_K: bound = 0.125 * amax; break;
    case TQ_Q6_K: bound = 0.05 * amax; break;
    case TQ_F16: bound = amax * 0x1p-11 + 0x1p-25; break; /* + half a subnormal step */
    default: bound = amax * 0x1p-8; break; /* BF16 */
    }
    double worst = 0;
    for (int j = 0; j < blck; j++)
        worst = fmax(worst, fabs((double)x[j] - y[j]));
    return worst - bound - 1e-6 * amax; /* slack for float rounding of x*id */
}

/* Check every block of a round trip against its documented per-value bound. */
static void check_bounds(int type, const float *x, const float *y, const void *q, int64_t n)
{
    int64_t nb = n / tq_traits_of(type)->blck;
    for (int64_t b = 0; b < nb; b++) {
        double ex = bound_excess(type, x, y, q, b);
        if (ex > 0) {
            test_fail(__FILE__, __LINE__, "%s block %lld exceeds its bound by %g",
                      tq_type_name(type), (long long)b, ex);
            return;
        }
    }
}

/* ---- Round trips --------------------------------------------------------------------------- */

TEST(quant_support_table)
{
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        CHECK(tq_can_quantize(quant_types[i]));
        CHECK(tq_can_dequantize(quant_types[i]));
    }
    CHECK(tq_can_dequantize(TQ_Q2_K) && !tq_can_quantize(TQ_Q2_K));
    CHECK(tq_can_dequantize(TQ_Q3_K) && !tq_can_quantize(TQ_Q3_K));
    CHECK(!tq_can_dequantize(TQ_IQ2_XXS) && !tq_can_quantize(TQ_IQ4_NL));
    float x[32] = { 0 };
    uint8_t q[64];
    CHECK_EQ(tq_quantize(TQ_Q4_0, x, q, 31), 0); /* not a whole block */
    CHECK_EQ(tq_quantize(TQ_Q2_K, x, q, 256), 0);
}

/* RMS error relative to the data's RMS on N(0, scale^2) data, measured in quant.c's header
 * (the limits here are those numbers plus about 10%), and the per-value bounds. */
TEST(quant_round_trip_normal)
{
    static const struct { int type; double rms; } lim[] = {
        { TQ_F16, 3e-4 }, { TQ_BF16, 2.2e-3 }, { TQ_Q8_0, 6e-3 }, { TQ_Q4_0, 0.095 },
        { TQ_Q4_1, 0.086 }, { TQ_Q5_0, 0.047 }, { TQ_Q5_1, 0.042 }, { TQ_Q8_K, 7.7e-3 },
        { TQ_Q4_K, 0.077 }, { TQ_Q5_K, 0.038 }, { TQ_Q6_K, 0.019 },
    };
    static const float scales[] = { 0.02f, 1.0f, 300.0f };
    const int64_t n = 256 * 64;
    float *x = mem_alloc(n * sizeof *x), *y = mem_alloc(n * sizeof *y);
    REQUIRE(x && y);
    for (int s = 0; s < 3; s++) {
        fill_normal(x, n, scales[s], 1000 + s);
        for (size_t t = 0; t < sizeof lim / sizeof lim[0]; t++) {
            void *q = round_trip(lim[t].type, x, y, n);
            double r = rel_rms(x, y, n);
            if (!(r <= lim[t].rms))
                test_fail(__FILE__, __LINE__, "%s at scale %g: relative RMS %g > %g",
                          tq_type_name(lim[t].type), scales[s], r, lim[t].rms);
            check_bounds(lim[t].type, x, y, q, n);
            mem_free(q);
        }
    }
    mem_free(x);
    mem_free(y);
}

TEST(quant_edge_cases)
{
    const int64_t n = 512;
    float x[512], y[512];
    for (int t = 0; t < N_QUANT_TYPES; t++) {
        int type = quant_types[t];
        const char *name = tq_type_name(type);

        /* all zeros: exact zeros, no NaN */
        memset(x, 0, sizeof x);
        void *q = round_trip(type, x, y, n);
        for (int i = 0; i < n; i++)
            if (y[i] != 0) {
                test_fail(__FILE__, __LINE__, "%s: zeros gave y[%d] = %g", name, i, y[i]);
                break;
            }
        mem_free(q);

        /* constant rows, both signs: within the FP16 rounding of a scale (BF16: its own) */
        for (int sign = -1; sign <= 1; sign += 2) {
            for (int i = 0; i < n; i++)
                x[i] = 0.7f * (float)sign;
            q = round_trip(type, x, y, n);
            double tol = 0.7 * (type == TQ_BF16 ? 0x1p-8 : 2e-3);
            for (int i = 0; i < n; i++)
                if (!(fabs(y[i] - x[i]) <= tol)) {
                    test_fail(__FILE__, __LINE__, "%s: constant %g gave %g", name, x[i], y[i]);
                    break;
                }
            mem_free(q);
        }

        /* one large outlier: bounds still hold and the outlier itself survives */
        fill_normal(x, n, 1, 7);
        x[37] = 60;
        q = round_trip(type, x, y, n);
        check_bounds(type, x, y, q, n);
        CHECK_NEAR(y[37], 60, 60 * 0.02);
        mem_free(q);

        /* tiny values (far below FP16's range) and large ones */
        fill_normal(x, n, 1e-30f, 8);
        q = round_trip(type, x, y, n);
        for (int i = 0; i < n; i++)
            if (!isfinite(y[i]) || fabs(y[i] - x[i]) > 5e-30) {
                test_fail(__FILE__, __LINE__, "%s: tiny x=%g gave %g", name, x[i], y[i]);
                break;
            }
        mem_free(q);
        fill_normal(x, n, 1e4f, 9);
        q = round_trip(type, x, y, n);
        check_bounds(type, x, y, q, n);
        CHECK(rel_rms(x, y, n) < 0.1);
        mem_free(q);
    }
}

/* What quantization produces is already on the grid: doing it again changes nothing. */
TEST(quant_requantize_is_stable)
{
    static const int types[] = { TQ_Q8_0, TQ_Q4_0, TQ_Q4_1, TQ_Q5_0, TQ_Q5_1, TQ_F16, TQ_BF16 };
    const int64_t n = 256 * 16;
    float *x = mem_alloc(n * sizeof *x), *y = mem_alloc(n * sizeof *y);
    REQUIRE(x && y);
    fill_normal(x, n, 0.05f, 11);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        void *q1 = round_trip(types[t], x, y, n);
        size_t bytes = tq_row_size(types[t], n);
        void *q2 = mem_alloc(bytes);
        REQUIRE(q1 && q2);
        tq_quantize(types[t], y, q2, n);
        if (memcmp(q1, q2, bytes) != 0)
            test_fail(__FILE__, __LINE__, "%s: requantizing changed the bytes",
                      tq_type_name(types[t]));
        mem_free(q1);
        mem_free(q2);
    }
    mem_free(x);
    mem_free(y);
}

TEST(quant_f16_bf16_exact_on_representable)
{
    for (unsigned h = 0; h < 0x10000; h += 7) {
        if ((h & 0x7c00) == 0x7c00 || (h & 0x7f80) == 0x7f80)
            continue; /* inf/NaN in either format */
        float v[2] = { tq_f16_to_f32((tq_f16)h), tq_bf16_to_f32((tq_bf16)h) }, back;
        uint16_t q;
        tq_quantize(TQ_F16, &v[0], &q, 1);
        tq_dequantize(TQ_F16, &q, &back, 1);
        if (q != h || back != v[0]) {
            CHECK_EQ(q, h);
            return;
        }
        tq_quantize(TQ_BF16, &v[1], &q, 1);
        tq_dequantize(TQ_BF16, &q, &back, 1);
        if (q != h || back != v[1]) {
            CHECK_EQ(q, h);
            return;
        }
    }
}

/* ---- The activation quantizers' rules, on hand-computed blocks ----------------------------- */

TEST(quant_q8_0_rounding_rule)
{
    /* amax 127 makes d = 1 and x*127/amax = x: halves round to even (llama.cpp on x86). */
    float x[32] = { 2.5f, -3.5f, 0.5f, -0.5f, 1.49f, 126.5f, -127.0f, 6.5f };
    block_q8_0 b;
    tq_quantize(TQ_Q8_0, x, &b, 32);
    CHECK_EQ(b.d, 0x3c00); /* 1.0 */
    static const int want[8] = { 2, -4, 0, 0, 1, 126, -127, 6 };
    for (int j = 0; j < 8; j++)
        CHECK_EQ(b.qs[j], want[j]);
    CHECK_EQ(b.qs[8], 0);
}

TEST(quant_q8_k_rule_and_bsums)
{
    float x[256];
    for (int j = 0; j < 256; j++)
        x[j] = (float)(j - 100); /* signed max is 155: iscale = -127/155 */
    block_q8_K b;
    tq_quantize(TQ_Q8_K, x, &b, 256);
    CHECK_NEAR(b.d, -155.0 / 127.0, 1e-6);
    CHECK_EQ(b.qs[255], -127);  /* 155 */
    CHECK_EQ(b.qs[100], 0);     /* 0 */
    CHECK_EQ(b.qs[0], 82);      /* -100 * -127/155 = 81.94 */
    CHECK_EQ(b.qs[101], -1);    /* 1 * -0.819 */
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++)
            s += b.qs[16 * g + l];
        CHECK_EQ(b.bsums[g], s);
    }
    /* a negative extreme: iscale is positive and the extreme still maps to -127 */
    for (int j = 0; j < 256; j++)
        x[j] = -(float)j / 255.0f;
    tq_quantize(TQ_Q8_K, x, &b, 256);
    CHECK_NEAR(b.d, 1.0 / 127.0, 1e-9);
    CHECK_EQ(b.qs[255], -127);
    CHECK_EQ(b.qs[128], -64); /* -128/255 * 127 = -63.75 */
}

/* ---- Against the fixtures ---------------------------------------------------------------- */

static cJSON *load_dequant_json(void)
{
    char *text = NULL;
    size_t size;
    hearth_error err;
    if (file_read_all(TESTDATA "/reference/dequant.json", 64u << 20, &text, &size, &err) !=
        HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    cJSON *root = cJSON_Parse(text);
    mem_free(text);
    return root;
}

static float *dequantize_tensor(const gguf_tensor *t, int64_t *n_out)
{
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    float *y = mem_alloc((size_t)n * sizeof *y);
    if (y)
        tq_dequantize(t->type, t->data, y, n);
    *n_out = n;
    return y;
}

/* One dequant.json entry: first32 exactly, sum and sumsq to double-rounding accuracy. */
static void check_dequant_entry(const gguf_file *f, const char *file, const cJSON *e)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "tensor"));
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
    const gguf_tensor *t = name ? gguf_find_tensor(f, name) : NULL;
    if (!t || !type) {
        test_fail(__FILE__, __LINE__, "%s: tensor %s not found", file, name ? name : "?");
        return;
    }
    CHECK_STR(tq_type_name(t->type), type);
    REQUIRE(tq_can_dequantize(t->type));
    int64_t n;
    float *y = dequantize_tensor(t, &n);
    REQUIRE(y);
    CHECK_EQ(n, (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "n")));
    const cJSON *first = cJSON_GetObjectItem(e, "first32");
    for (int i = 0; i < 32 && i < n; i++) {
        float want = (float)cJSON_GetNumberValue(cJSON_GetArrayItem(first, i));
        if (y[i] != want) {
            test_fail(__FILE__, __LINE__, "%s %s [%d]: %.9g != %.9g", file, name, i, y[i], want);
            break;
        }
    }
    double sum = 0, sumsq = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += y[i];
        sumsq += (double)y[i] * y[i];
    }
    double want_sum = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "sum"));
    double want_sq = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "sumsq"));
    CHECK_NEAR(sum, want_sum, 1e-9 * (fabs(want_sum) + sqrt(want_sq)));
    CHECK_NEAR(sumsq, want_sq, 1e-9 * want_sq);
    mem_free(y);
}

TEST(quant_dequant_matches_gguf_py)
{
    cJSON *root = load_dequant_json();
    REQUIRE(root);
    const cJSON *files = cJSON_GetObjectItem(root, "files"), *fe;
    int entries = 0;
    cJSON_ArrayForEach(fe, files) {
        char path[512];
        snprintf(path, sizeof path, TESTDATA "/models/%s", fe->string);
        gguf_file *f;
        hearth_error err;
        if (gguf_open(&f, path, &err) != HEARTH_OK) {
            test_fail(__FILE__, __LINE__, "%s", err.msg);
            continue;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, fe) {
            check_dequant_entry(f, fe->string, e);
            entries++;
        }
        gguf_close(f);
    }
    CHECK(entries >= 80); /* every type: F32 F16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K..Q6_K */
    cJSON_Delete(root);
}

/* llama-quantize made the legacy-type fixtures with ggml's reference rule; its dequantized
 * weights are on that rule's grid, so quantizing them again must give the file's bytes. */
TEST(quant_requantize_fixture_bytes)
{
    static const struct { const char *file, *tensor; } cases[] = {
        { "tiny-llama-spm-q8_0.gguf", "blk.0.ffn_up.weight" },
        { "tiny-llama-spm-q4_0.gguf", "blk.1.ffn_gate.weight" },
        { "tiny-llama-spm-q4_1.gguf", "blk.0.attn_q.weight" },
        { "tiny-llama-spm-q5_0.gguf", "blk.1.ffn_down.weight" },
        { "tiny-llama-spm-q5_1.gguf", "blk.0.ffn_down.weight" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[512];
        snprintf(path, sizeof path, TESTDATA "/models/%s", cases[c].file);
        gguf_file *f;
        hearth_error err;
        if (gguf_open(&f, path, &err) != HEARTH_OK) {
            test_fail(__FILE__, __LINE__, "%s", err.msg);
            continue;
        }
        const gguf_tensor *t = gguf_find_tensor(f, cases[c].tensor);
        if (!t) {
            test_fail(__FILE__, __LINE__, "%s: no %s", cases[c].file, cases[c].tensor);
            gguf_close(f);
            continue;
        }
        int64_t n;
        float *y = dequantize_tensor(t, &n);
        void *q = mem_alloc(t->nbytes);
        if (y && q) {
            CHECK_EQ(tq_quantize(t->type, y, q, n), t->nbytes);
            if (memcmp(q, t->data, t->nbytes) != 0)
                test_fail(__FILE__, __LINE__, "%s %s: bytes differ", cases[c].file,
                          cases[c].tensor);
        }
        mem_free(y);
        mem_free(q);
        gguf_close(f);
    }
}

/* Our K-quantizers need not match llama-quantize's bits, but its output is representable
 * exactly in the format, so re-quantizing it must lose far less than quantizing raw data. */
TEST(quant_kquant_refit_fixture)
{
    static const struct { const char *file, *tensor; double lim; } cases[] = {
        { "small-llama-spm-q4_k_m.gguf", "blk.0.ffn_gate.weight", 2e-3 },
        { "small-llama-spm-q5_k_m.gguf", "blk.0.attn_q.weight", 2e-3 },
        { "small-llama-spm-q5_k_m.gguf", "blk.1.ffn_down.weight", 2e-3 },
        { "small-llama-spm-q4_k_m.gguf", "blk.1.ffn_down.weight", 2e-3 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[512];
        snprintf(path, sizeof path, TESTDATA "/models/%s", cases[c].file);
        gguf_file *f;
        hearth_error err;
        if (gguf_open(&f, path, &err) != HEARTH_OK) {
            test_fail(__FILE__, __LINE__, "%s", err.msg);
            continue;
        }
        const gguf_tensor *t = gguf_find_tensor(f, cases[c].tensor);
        int64_t n = 0;
        float *y = t ? dequantize_tensor(t, &n) : NULL, *z = mem_alloc((size_t)n * 4 + 4);
        if (y && z) {
            mem_free(round_trip(t->type, y, z, n));
            double r = rel_rms(y, z, n);
            if (!(r <= cases[c].lim))
                test_fail(__FILE__, __LINE__, "%s %s (%s): re-quantized RMS %g", cases[c].file,
                          cases[c].tensor, tq_type_name(t->type), r);
        } else {
            test_fail(__FILE__, __LINE__, "%s: no %s", cases[c].file, cases[c].tensor);
        }
        mem_free(y);
        mem_free(z);
        gguf_close(f);
    }
}
