/* Tests for tensor/matmul.c against a naive product computed independently of the kernels:
 * the weights are dequantized with tq_dequantize, the activations are quantized to the
 * vec_dot_type with tq_quantize and dequantized back (so the reference sees the same
 * rounded activations the kernels see), and the dot products are summed in double.
 *
 * Tolerance: relative to S = sum_k |w_k * x_k| of each output. What remains between the
 * kernels and this reference is float rounding of partial sums (~1e-6 S), at most a few
 * activation quants that land one step apart when a value sits on a rounding tie (kernels
 * round x * (1/d), tq_quantize may divide), and, for the AVX512-BF16 kernel, activations
 * rounded to bfloat16 (2^-9 relative each, random in sign, ~2^-9 / sqrt(cols) of S in
 * total). 1e-3 S covers all of these; an indexing mistake (wrong row, batch or block) is
 * an error of order S and fails. */
#include "test.h"

#include <stdint.h>

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"
#include "tensor/pool.h"
#include "tensor/quant.h"

#define GUARD 8

static float rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) / 16777216.0 * 2.0 - 1.0);
}

/* The activations as the kernels see them: F32 unchanged, else through the quantizer. */
static void as_seen(int vt, const float *x, float *out, int64_t n)
{
    if (vt == TQ_F32) {
        memcpy(out, x, (size_t)n * sizeof *x);
        return;
    }
    void *q = mem_alloc(tq_row_size(vt, n));
    tq_quantize(vt, x, q, n);
    tq_dequantize(vt, q, out, n);
    mem_free(q);
}

typedef struct {
    int type, rows, cols, batch;
    void *W;        /* rows x cols of type */
    float *x;       /* batch x cols */
    double *want;   /* batch x rows */
    double *tol;    /* batch x rows */
} problem;

/* want and tol from p's weights and activations. */
static void problem_reference(problem *p)
{
    const int rows = p->rows, cols = p->cols, batch = p->batch;
    const int vt = tq_vec_dot_type(p->type);
    const size_t wrow = tq_row_size(p->type, cols);
    float *wf = mem_alloc((size_t)rows * cols * sizeof(float));
    float *xs = mem_alloc((size_t)batch * cols * sizeof(float));
    if (!wf || !xs) {
        test_fail(__FILE__, __LINE__, "out of memory");
        mem_free(wf);
        mem_free(xs);
        return;
    }
    for (int r = 0; r < rows; r++)
        tq_dequantize(p->type, (char *)p->W + (size_t)r * wrow, wf + (size_t)r * cols, cols);
    for (int b = 0; b < batch; b++)
        as_seen(vt, p->x + (size_t)b * cols, xs + (size_t)b * cols, cols);
    for (int b = 0; b < batch; b++)
        for (int r = 0; r < rows; r++) {
            double s = 0, a = 0;
            for (int c = 0; c < cols; c++) {
                double t = (double)wf[(size_t)r * cols + c] * xs[(size_t)b * cols + c];
                s += t;
                a += fabs(t);
            }
            p->want[(size_t)b * rows + r] = s;
            p->tol[(size_t)b * rows + r] = 1e-3 * a + 1e-6;
        }
    mem_free(wf);
    mem_free(xs);
}

static int problem_make(problem *p, int type, int rows, int cols, int batch, uint32_t seed)
{
    *p = (problem){ .type = type, .rows = rows, .cols = cols, .batch = batch };
    size_t wrow = tq_row_size(type, cols);
    float *wf = mem_alloc((size_t)rows * cols * sizeof(float));
    p->W = mem_alloc((size_t)rows * wrow);
    p->x = mem_alloc((size_t)batch * cols * sizeof(float));
    p->want = mem_alloc((size_t)batch * rows * sizeof(double));
    p->tol = mem_alloc((size_t)batch * rows * sizeof(double));
    if (!wf || !p->W || !p->x || !p->want || !p->tol || tq_vec_dot_type(type) < 0) {
        mem_free(wf);
        return 0;
    }
    for (int64_t i = 0; i < (int64_t)rows * cols; i++)
        wf[i] = rnd(&seed);
    for (int64_t i = 0; i < (int64_t)batch * cols; i++)
        p->x[i] = rnd(&seed);
    for (int r = 0; r < rows; r++)
        tq_quantize(type, wf + (size_t)r * cols, (char *)p->W + (size_t)r * wrow, cols);
    mem_free(wf);
    problem_reference(p);
    return 1;
}

static void problem_free(problem *p)
{
    mem_free(p->W);
    mem_free(p->x);
    mem_free(p->want);
    mem_free(p->tol);
}

/* Run the product and compare; the guard after y and an exactly sized scratch (checked
 * under ASan) catch writes out of bounds. Returns the number of mismatches. */
static int check_product(const problem *p, tq_pool *pool, const tq_kernels *k)
{
    size_t ny = (size_t)p->batch * p->rows;
    float *y = mem_alloc((ny + GUARD) * sizeof(float));
    size_t ss = tq_matmul_scratch_size(p->type, p->cols, p->batch);
    void *scratch = ss ? mem_alloc(ss) : NULL;
    if (!y || (ss && !scratch)) {
        mem_free(y);
        mem_free(scratch);
        return -1;
    }
    for (size_t i = 0; i < ny + GUARD; i++)
        y[i] = NAN;
    tq_matmul(pool, k, y, p->W, p->type, p->rows, p->cols, p->x, p->batch, scratch);
    int bad = 0;
    for (size_t i = 0; i < ny; i++) {
        if (!(fabs(y[i] - p->want[i]) <= p->tol[i])) {
            if (bad++ == 0)
                test_fail(__FILE__, __LINE__, "%s %s rows %d cols %d batch %d threads %d: "
                          "y[%zu] = %.7g, want %.7g (tol %.3g)", tq_type_name(p->type), k->name,
                          p->rows, p->cols, p->batch, tq_pool_size(pool), i, y[i], p->want[i],
                          p->tol[i]);
        }
    }
    for (size_t i = ny; i < ny + GUARD; i++)
        if (!isnan(y[i]) && bad++ == 0)
            test_fail(__FILE__, __LINE__, "%s: wrote past the end of y", tq_type_name(p->type));
    mem_free(y);
    mem_free(scratch);
    return bad;
}

/* The distinct kernel sets this CPU offers (ref first). */
static int kernel_sets(const tq_kernels *out[3])
{
    int n = 0;
    out[n++] = tq_kernels_ref();
    const tq_kernels *cand[2] = { tq_kernels_avx2(), tq_kernels_best() };
    for (int i = 0; i < 2; i++) {
        int dup = !cand[i];
        for (int j = 0; j < n && !dup; j++)
            dup = cand[i] == out[j];
        if (!dup)
            out[n++] = cand[i];
    }
    return n;
}

static void check_type(int type, int cols)
{
    static const int batches[] = { 1, 5, 17 };
    static const int rows_for[] = { 37, 61, 3 };
    tq_pool *pools[4] = { NULL };
    for (int t = 1; t < 4; t++) {
        pools[t] = tq_pool_new(t + 1);
        if (!pools[t])
            test_fail(__FILE__, __LINE__, "tq_pool_new(%d) failed", t + 1);
    }
    const tq_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int bi = 0; bi < 3 && !test_failed(); bi++) {
        problem p;
        if (!problem_make(&p, type, rows_for[bi], cols, batches[bi], 1000u + (uint32_t)type)) {
            test_fail(__FILE__, __LINE__, "could not set up %s", tq_type_name(type));
            problem_free(&p);
            break;
        }
        for (int s = 0; s < n_sets; s++)
            for (int t = 0; t < 4; t++)
                check_product(&p, pools[t], sets[s]);
        problem_free(&p);
    }
    for (int t = 1; t < 4; t++)
        tq_pool_free(pools[t]);
}

TEST(matmul_f32)  { check_type(TQ_F32, 96); }
TEST(matmul_f16)  { check_type(TQ_F16, 200); }
TEST(matmul_bf16) { check_type(TQ_BF16, 136); }
TEST(matmul_q8_0) { check_type(TQ_Q8_0, 160); }
TEST(matmul_q4_0) { check_type(TQ_Q4_0, 256); }
TEST(matmul_q4_1) { check_type(TQ_Q4_1, 96); }
TEST(matmul_q5_0) { check_type(TQ_Q5_0, 128); }
TEST(matmul_q5_1) { check_type(TQ_Q5_1, 64); }
TEST(matmul_q4_k) { check_type(TQ_Q4_K, 512); }
TEST(matmul_q5_k) { check_type(TQ_Q5_K, 256); }
TEST(matmul_q6_k) { check_type(TQ_Q6_K, 768); }

/* tq_matmul_multi over batches: items of one type share the packed activations, a change
 * of block size (Q4_K 32, Q6_K 16), of activation type or a float product in between makes
 * them packed again; every item must equal its own product. */
TEST(matmul_multi_batch_repacks_when_needed)
{
    static const int orders[][4] = {
        { TQ_Q4_K, TQ_Q4_K, TQ_Q6_K, TQ_Q4_K },
        { TQ_Q8_0, TQ_Q4_0, TQ_F16, TQ_Q8_0 },
    };
    static const int rows[4] = { 37, 16, 50, 33 };
    const int cols = 512, batch = 20;
    tq_pool *pool = tq_pool_new(2);
    REQUIRE(pool);
    const tq_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    float *x = mem_alloc((size_t)batch * cols * sizeof(float));
    REQUIRE(x);
    uint32_t seed = 77;
    for (int i = 0; i < batch * cols; i++)
        x[i] = rnd(&seed);
    for (int o = 0; o < 2 && !test_failed(); o++) {
        problem p[4];
        tq_matmul_item items[4];
        size_t ss = 0;
        for (int i = 0; i < 4; i++) {
            REQUIRE(problem_make(&p[i], orders[o][i], rows[i], cols, batch, 500u + (uint32_t)i));
            /* the same activations for all four: recompute the reference with them */
            memcpy(p[i].x, x, (size_t)batch * cols * sizeof(float));
            problem_reference(&p[i]);
            size_t s = tq_matmul_scratch_size(orders[o][i], cols, batch);
            ss = s > ss ? s : ss;
        }
        float *y = mem_alloc(4 * (size_t)batch * 64 * sizeof(float));
        void *scratch = mem_alloc(ss);
        REQUIRE(y && scratch);
        for (int s = 0; s < n_sets; s++) {
            for (int i = 0; i < 4; i++)
                items[i] = (tq_matmul_item){ .y = y + (size_t)i * batch * 64, .W = p[i].W,
                                             .type = orders[o][i], .rows = rows[i] };
            tq_matmul_multi(pool, sets[s], items, 4, cols, x, batch, scratch);
            for (int i = 0; i < 4; i++)
                for (int e = 0; e < batch * rows[i]; e++)
                    if (!(fabs(items[i].y[e] - p[i].want[e]) <= p[i].tol[e])) {
                        test_fail(__FILE__, __LINE__, "%s item %d (%s) y[%d] = %.7g, want %.7g",
                                  sets[s]->name, i, tq_type_name(orders[o][i]), e, items[i].y[e],
                                  p[i].want[e]);
                        break;
                    }
        }
        mem_free(y);
        mem_free(scratch);
        for (int i = 0; i < 4; i++)
            problem_free(&p[i]);
    }
    mem_free(x);
    tq_pool_free(pool);
}

TEST(matmul_large_batch_and_many_chunks)
{
    /* batch x cols above the threshold where the activations are converted in parallel,
     * and enough rows for cache-line-aligned chunks. */
    tq_pool *pool = tq_pool_new(2);
    REQUIRE(pool);
    const tq_kernels *best = tq_kernels_best();
    const int cases[][4] = {
        /* type, rows, cols, batch */
        { TQ_Q8_0, 19, 4096, 17 },
        { TQ_Q4_K, 23, 4096, 17 },
        { TQ_Q8_0, 301, 256, 1 },
        { TQ_F16, 301, 64, 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        problem p;
        if (!problem_make(&p, cases[i][0], cases[i][1], cases[i][2], cases[i][3], 7u + (uint32_t)i)) {
            test_fail(__FILE__, __LINE__, "could not set up case %zu", i);
        } else {
            CHECK_EQ(check_product(&p, pool, best), 0);
            CHECK_EQ(check_product(&p, NULL, tq_kernels_ref()), 0);
        }
        problem_free(&p);
    }
    tq_pool_free(pool);
}

TEST(matmul_scratch_size)
{
    /* Q8_0 activations: 34 bytes per 32 values; Q8_K: 292 per 256; F16: 2 per value;
     * F32 and BF16 weights read the float activations themselves. */
    CHECK_EQ(tq_matmul_scratch_size(TQ_Q4_0, 64, 3), 3 * 2 * 34);
    CHECK_EQ(tq_matmul_scratch_size(TQ_Q6_K, 512, 2), 2 * 2 * 292);
    CHECK_EQ(tq_matmul_scratch_size(TQ_F16, 64, 3), 3 * 64 * 2);
    CHECK_EQ(tq_matmul_scratch_size(TQ_BF16, 64, 3), 0);
    CHECK_EQ(tq_matmul_scratch_size(TQ_F32, 64, 3), 0);
    /* a batch of F16 rows big enough for the float GEMM: the rows rounded to F16, kept as
     * floats */
    CHECK_EQ(tq_matmul_scratch_size(TQ_F16, 64, 16), 16 * 64 * 4);
}
