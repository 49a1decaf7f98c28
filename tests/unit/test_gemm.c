/* Tests for the GEMM path (tensor/kernels/gemm*.c, matmul.c's batch path) and the F16
 * attention kernels (kernels/attn*.c).
 *
 * GEMM: every output of every kernel set that has a GEMM is compared with the plain-C
 * vec_dot reference (dot_ref.c / kquant_ref.c, a different algorithm over the original
 * block layouts) on the same quantized weights and activations. Both sum exact integer
 * block products in float, only in a different order, so they agree to ~1e-6 of
 * S = sum |w * a| (the dequantized values); the tolerance is 1e-5 S, while an indexing slip
 * (wrong block, row, column or scale) is an error of order S. The SIMD kernel must also be
 * bit-identical to the plain-C GEMM, which performs the same float operations in the same
 * order. Shapes are awkward on purpose: rows not a multiple of 4 or 16, batches that fill
 * neither a 16-column group nor a pair of groups, and rows longer than one panel chunk.
 *
 * Attention: checked against softmax and weighted sums computed in double from the F16
 * values (an independent formula), for several head sizes, group sizes and lengths. */
#include "test.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/kernels/attn.h"
#include "tensor/kernels/gemm.h"
#include "tensor/matmul.h"
#include "tensor/pool.h"
#include "tensor/quant.h"

static float rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) / 16777216.0 * 2.0 - 1.0);
}

static const int gemm_types[] = { TQ_Q4_0, TQ_Q4_1, TQ_Q5_0, TQ_Q5_1, TQ_Q8_0,
                                  TQ_Q2_K, TQ_Q3_K, TQ_Q4_K, TQ_Q5_K, TQ_Q6_K };

/* A row of a type without a quantizer (Q2_K, Q3_K): random bytes, with the super-block
 * scales d (and dmin) set to small 16-bit floats so the products stay in a sane range. */
static void random_row(int type, char *row, int cols, uint32_t *seed)
{
    const size_t bsz = tq_traits_of(type)->type_size;
    for (size_t i = 0; i < tq_row_size(type, cols); i++)
        row[i] = (char)(int)(rnd(seed) * 127);
    for (int b = 0; b < cols / QK_K; b++) {
        char *x = row + (size_t)b * bsz;
        const tq_f16 d = tq_f32_to_f16(0.01f + 0.01f * rnd(seed) * rnd(seed));
        const tq_f16 dmin = tq_f32_to_f16(0.005f + 0.004f * rnd(seed));
        if (type == TQ_Q2_K) {
            memcpy(x + offsetof(block_q2_K, d), &d, sizeof d);
            memcpy(x + offsetof(block_q2_K, dmin), &dmin, sizeof dmin);
        } else {
            memcpy(x + offsetof(block_q3_K, d), &d, sizeof d);
        }
    }
}

/* Quantized operands of one product and, per output, the vec_dot reference and S. */
typedef struct gemm_case {
    int type, vt, rows, cols, batch;
    size_t w_row, x_row;
    char *W, *xq;
    float *want;    /* [batch][rows] */
    double *scale;  /* [batch][rows] S */
} gemm_case;

static void case_free(gemm_case *g)
{
    mem_free(g->W);
    mem_free(g->xq);
    mem_free(g->want);
    mem_free(g->scale);
}

static int case_make(gemm_case *g, int type, int rows, int cols, int batch, uint32_t seed)
{
    *g = (gemm_case){ .type = type, .vt = tq_vec_dot_type(type), .rows = rows, .cols = cols,
                      .batch = batch };
    g->w_row = tq_row_size(type, cols);
    g->x_row = tq_row_size(g->vt, cols);
    g->W = mem_alloc((size_t)rows * g->w_row);
    g->xq = mem_alloc((size_t)batch * g->x_row);
    g->want = mem_alloc((size_t)rows * batch * sizeof(float));
    g->scale = mem_alloc((size_t)rows * batch * sizeof(double));
    float *f = mem_alloc((size_t)cols * sizeof(float));
    float *wf = mem_alloc((size_t)rows * cols * sizeof(float));
    float *xf = mem_alloc((size_t)batch * cols * sizeof(float));
    int ok = g->W && g->xq && g->want && g->scale && f && wf && xf;
    for (int r = 0; ok && r < rows; r++) {
        for (int i = 0; i < cols; i++)
            f[i] = rnd(&seed) * (1.0f + (float)(r % 3)); /* rows of different magnitudes */
        if (tq_can_quantize(type))
            tq_quantize(type, f, g->W + (size_t)r * g->w_row, cols);
        else
            random_row(type, g->W + (size_t)r * g->w_row, cols, &seed);
        tq_dequantize(type, g->W + (size_t)r * g->w_row, wf + (size_t)r * cols, cols);
    }
    for (int b = 0; ok && b < batch; b++) {
        for (int i = 0; i < cols; i++)
            f[i] = rnd(&seed) * (b % 2 ? 4.0f : 0.25f);
        tq_kernels_ref()->from_float[g->vt](f, g->xq + (size_t)b * g->x_row, cols);
        tq_dequantize(g->vt, g->xq + (size_t)b * g->x_row, xf + (size_t)b * cols, cols);
    }
    for (int b = 0; ok && b < batch; b++)
        for (int r = 0; r < rows; r++) {
            size_t o = (size_t)b * rows + r;
            tq_kernels_ref()->vec_dot[type](cols, &g->want[o], g->W + (size_t)r * g->w_row,
                                            g->xq + (size_t)b * g->x_row);
            double s = 0;
            for (int i = 0; i < cols; i++)
                s += fabs((double)wf[(size_t)r * cols + i] * xf[(size_t)b * cols + i]);
            g->scale[o] = s;
        }
    mem_free(f);
    mem_free(wf);
    mem_free(xf);
    if (!ok)
        case_free(g);
    return ok;
}

/* Run one kernel set's GEMM over the whole case, a panel and a TQ_GEMM_KC chunk at a time
 * (as matmul.c does), into y[batch][rows]. Returns 0 when out of memory. */
static int run_gemm(const tq_kernels *k, const gemm_case *g, float *y)
{
    const int bs = tq_gemm_block_size(g->type), nblk = g->cols / bs;
    const int ngroups = (g->batch + TQ_GEMM_COLS - 1) / TQ_GEMM_COLS;
    const size_t gs = (size_t)nblk * tq_gemm_record_size(bs);
    uint8_t *act = mem_alloc((size_t)ngroups * gs);
    int8_t *q = mem_alloc((size_t)TQ_GEMM_ROWS * TQ_GEMM_KC);
    float *d = mem_alloc(TQ_GEMM_ROWS * TQ_GEMM_KC / 16 * sizeof(float));
    float *m = mem_alloc(TQ_GEMM_ROWS * TQ_GEMM_KC / 16 * sizeof(float));
    int32_t *corr = mem_alloc(TQ_GEMM_ROWS * TQ_GEMM_KC / 16 * sizeof(int32_t));
    int32_t *sc = mem_alloc(TQ_GEMM_ROWS * TQ_GEMM_KC / 16 * sizeof(int32_t));
    int32_t *mn = mem_alloc(TQ_GEMM_ROWS * TQ_GEMM_KC / 16 * sizeof(int32_t));
    int ok = act && q && d && m && corr && sc && mn;
    for (int G = 0; ok && G < ngroups; G++)
        tq_gemm_pack_group(g->vt, bs, g->xq, g->x_row, G * TQ_GEMM_COLS, g->batch, nblk,
                           act + (size_t)G * gs);
    tq_gemm_panel p = { .q = q, .d = d, .m = m, .corr = corr, .sc = sc, .mn = mn };
    for (int r0 = 0; ok && r0 < g->rows; r0 += TQ_GEMM_ROWS) {
        int nr = g->rows - r0 < TQ_GEMM_ROWS ? g->rows - r0 : TQ_GEMM_ROWS;
        for (int k0 = 0; k0 < g->cols; k0 += TQ_GEMM_KC) {
            int kc = g->cols - k0 < TQ_GEMM_KC ? g->cols - k0 : TQ_GEMM_KC;
            k->gemm_unpack(g->type, g->W + (size_t)r0 * g->w_row, g->w_row, nr, k0 / bs,
                           kc / bs, &p);
            k->gemm(&p, act + (size_t)(k0 / bs) * tq_gemm_record_size(bs), gs, y + r0, g->rows,
                    nr, g->batch, k0 > 0);
        }
    }
    mem_free(act);
    mem_free(q);
    mem_free(d);
    mem_free(m);
    mem_free(corr);
    mem_free(sc);
    mem_free(mn);
    return ok;
}

static void check_outputs(const char *set, const gemm_case *g, const float *y)
{
    int bad = 0;
    for (int i = 0; i < g->rows * g->batch && bad < 3; i++) {
        double tol = 1e-5 * g->scale[i] + 1e-30;
        if (!(fabs((double)y[i] - g->want[i]) <= tol)) {
            bad++;
            test_fail(__FILE__, __LINE__, "%s %s rows %d cols %d batch %d: out[%d][%d] = %.9g, "
                      "vec_dot ref %.9g (tol %.3g)", set, tq_type_name(g->type), g->rows,
                      g->cols, g->batch, i / g->rows, i % g->rows, y[i], g->want[i], tol);
        }
    }
}

TEST(gemm_block_sizes)
{
    CHECK_EQ(tq_gemm_block_size(TQ_Q4_0), 32);
    CHECK_EQ(tq_gemm_block_size(TQ_Q8_0), 32);
    CHECK_EQ(tq_gemm_block_size(TQ_Q4_K), 32);
    CHECK_EQ(tq_gemm_block_size(TQ_Q6_K), 16);
    CHECK_EQ(tq_gemm_block_size(TQ_F16), 0);
    CHECK_EQ(tq_gemm_block_size(TQ_Q3_K), 16);
    CHECK_EQ(tq_gemm_block_size(TQ_Q8_K), 0);
    /* 16 columns of bs quants, then 16 scales and 16 sums */
    CHECK_EQ(tq_gemm_record_size(32), 16 * 32 + 128);
    CHECK_EQ(tq_gemm_record_size(16), 16 * 16 + 128);
}

TEST(gemm_every_set_vs_vec_dot_ref)
{
    const tq_kernels *sets[] = { tq_kernels_ref(), tq_kernels_avx2(), tq_kernels_avxvnni(),
                                 tq_kernels_avx512() };
    /* rows, batch: tails of 4-row tiles, 16-row panels, 16-column groups and group pairs */
    static const int shapes[][2] = { { 1, 1 }, { 5, 7 }, { 19, 17 }, { 16, 33 }, { 7, 48 } };
    int ran_simd = 0;
    for (size_t t = 0; t < sizeof gemm_types / sizeof gemm_types[0]; t++) {
        int type = gemm_types[t];
        int cols = tq_traits_of(type)->blck == QK_K ? 512 : 96;
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
            gemm_case g;
            REQUIRE(case_make(&g, type, shapes[sh][0], cols, shapes[sh][1], 17u * (uint32_t)(t + 1) + (uint32_t)sh));
            float *y_ref = mem_alloc((size_t)g.rows * g.batch * sizeof(float));
            float *y = mem_alloc((size_t)g.rows * g.batch * sizeof(float));
            REQUIRE(y_ref && y);
            REQUIRE(run_gemm(tq_kernels_ref(), &g, y_ref));
            check_outputs("ref", &g, y_ref);
            for (size_t s = 1; s < 4; s++) {
                if (!sets[s] || !tq_kernels_gemm_int8(sets[s], type))
                    continue;
                ran_simd++;
                REQUIRE(run_gemm(sets[s], &g, y));
                check_outputs(sets[s]->name, &g, y);
                if (memcmp(y, y_ref, (size_t)g.rows * g.batch * sizeof(float)) != 0)
                    test_fail(__FILE__, __LINE__, "%s GEMM is not bit-identical to the plain-C "
                              "one for %s", sets[s]->name, tq_type_name(type));
            }
            mem_free(y_ref);
            mem_free(y);
            case_free(&g);
        }
    }
    if (!ran_simd)
        printf("  (no SIMD GEMM on this CPU: only the plain-C one was checked)\n");
}

/* Rows longer than one panel chunk (TQ_GEMM_KC), so later chunks add to the first. */
TEST(gemm_rows_longer_than_a_chunk)
{
    static const int types[] = { TQ_Q4_0, TQ_Q6_K, TQ_Q4_K };
    /* the widest set with an int8 GEMM (HEARTH_ISA=avx2 leaves the best one without) */
    const tq_kernels *k = tq_kernels_best()->gemm ? tq_kernels_best() : tq_kernels_ref();
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        gemm_case g;
        REQUIRE(case_make(&g, types[t], 6, TQ_GEMM_KC + 256, 18, 99u + (uint32_t)t));
        float *y = mem_alloc((size_t)g.rows * g.batch * sizeof(float));
        REQUIRE(y);
        REQUIRE(run_gemm(k, &g, y));
        check_outputs(k->name, &g, y);
        mem_free(y);
        case_free(&g);
    }
}

/* ---- Extremes: constant weights and activations, expected values exact in double ---- */

/* A case of rows x cols weights of type (filled by the caller) against batch activation
 * rows of vec_dot type vt: buffers allocated, activations left to the caller. */
static bool extreme_case(gemm_case *g, int type, int vt, int rows, int cols, int batch)
{
    *g = (gemm_case){ .type = type, .vt = vt, .rows = rows, .cols = cols, .batch = batch };
    g->w_row = tq_row_size(type, cols);
    g->x_row = tq_row_size(vt, cols);
    g->W = mem_alloc((size_t)rows * g->w_row);
    g->xq = mem_alloc((size_t)batch * g->x_row);
    g->want = mem_alloc((size_t)rows * batch * sizeof(float));
    g->scale = mem_alloc((size_t)rows * batch * sizeof(double));
    return g->W && g->xq && g->want && g->scale;
}

/* Activation rows that are all lo (even rows; -128, or -127 where the kernels may assume a
 * quantizer's range) or 127 (odd), times 1/64: the expected outputs from the dequantized
 * weights, summed in double; then every set's int8 GEMM that takes the type, checked
 * against them. */
static void extreme_check(gemm_case *g, const tq_kernels *const sets[4], int lo)
{
    float *wf = mem_alloc((size_t)g->cols * sizeof(float));
    float *y = mem_alloc((size_t)g->rows * g->batch * sizeof(float));
    REQUIRE(wf && y);
    for (int r = 0; r < g->rows; r++) {
        tq_dequantize(g->type, g->W + (size_t)r * g->w_row, wf, g->cols);
        for (int b = 0; b < g->batch; b++) {
            const double x = (b % 2 ? 127 : lo) / 64.0;
            double sum = 0, abs_sum = 0;
            for (int k = 0; k < g->cols; k++)
                sum += wf[k] * x, abs_sum += fabs(wf[k] * x);
            g->want[(size_t)b * g->rows + r] = (float)sum;
            g->scale[(size_t)b * g->rows + r] = abs_sum;
        }
    }
    for (size_t s = 0; s < 4; s++) {
        if (!sets[s] || !tq_kernels_gemm_int8(sets[s], g->type))
            continue;
        REQUIRE(run_gemm(sets[s], g, y));
        check_outputs(sets[s]->name, g, y);
    }
    mem_free(wf);
    mem_free(y);
}

/* K-quant weights at the ends of their integer ranges (Q2_K/Q4_K/Q5_K: every quant, scale
 * and min at its maximum; Q3_K and Q6_K: quants and scales at their most negative) against
 * activations of -128 and 127, where a super-block's integer sums come closest to
 * overflowing int32 (gemm.h gives the bounds). Expected: the dequantized weights times the
 * activations summed in double, exact for these values. */
TEST(gemm_kquant_integer_extremes)
{
    static const int types[] = { TQ_Q2_K, TQ_Q3_K, TQ_Q4_K, TQ_Q5_K, TQ_Q6_K };
    const tq_kernels *sets[] = { tq_kernels_ref(), tq_kernels_avx2(), tq_kernels_avxvnni(),
                                 tq_kernels_avx512() };
    const int rows = 5, cols = 2 * QK_K, batch = 18;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const int type = types[t];
        gemm_case g;
        REQUIRE(extreme_case(&g, type, TQ_Q8_K, rows, cols, batch));
        const tq_f16 one = 0x3c00, half = 0x3800;
        for (int i = 0; i < rows * cols / QK_K; i++) {
            if (type == TQ_Q2_K) { /* quants 3, scales and mins 15 */
                block_q2_K *x = (block_q2_K *)g.W + i;
                memset(x->qs, 0xff, sizeof x->qs);
                memset(x->scales, 0xff, sizeof x->scales);
                x->d = one, x->dmin = half;
            } else if (type == TQ_Q3_K) { /* quants -4, scales -32 */
                block_q3_K *x = (block_q3_K *)g.W + i;
                memset(x->qs, 0, sizeof x->qs);
                memset(x->hmask, 0, sizeof x->hmask);
                memset(x->scales, 0, sizeof x->scales);
                x->d = one;
            } else if (type == TQ_Q6_K) {
                block_q6_K *x = (block_q6_K *)g.W + i;
                memset(x->ql, 0, sizeof x->ql);
                memset(x->qh, 0, sizeof x->qh);
                memset(x->scales, 0x80, sizeof x->scales);
                x->d = one;
            } else if (type == TQ_Q5_K) {
                block_q5_K *x = (block_q5_K *)g.W + i;
                memset(x->qs, 0xff, sizeof x->qs);
                memset(x->qh, 0xff, sizeof x->qh);
                memset(x->scales, 0xff, sizeof x->scales);
                x->d = one, x->dmin = half;
            } else {
                block_q4_K *x = (block_q4_K *)g.W + i;
                memset(x->qs, 0xff, sizeof x->qs);
                memset(x->scales, 0xff, sizeof x->scales);
                x->d = one, x->dmin = half;
            }
        }
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < cols / QK_K; i++) {
                block_q8_K *x = (block_q8_K *)(g.xq + (size_t)b * g.x_row) + i;
                const int a = b % 2 ? 127 : -128;
                x->d = 1.0f / 64;
                memset(x->qs, a, sizeof x->qs);
                for (int j = 0; j < QK_K / 16; j++)
                    x->bsums[j] = (int16_t)(16 * a);
            }
        extreme_check(&g, sets, -128);
        case_free(&g);
    }
}

/* The legacy types' quants at their largest magnitude (Q4_0 -8, Q5_0 -16, Q4_1 15, Q5_1
 * 31, Q8_0 -128 and 127) against activations of -128 (Q8_0: -127, the most any Q8_0
 * quantizer writes) and 127: where the AVX2 kernel's int16 sums of vpmaddubsw come closest
 * to saturating (gemm_avx2.c). Expected: dequantized weights times the activations summed
 * in double, exact for these values. */
TEST(gemm_legacy_int16_extremes)
{
    static const int types[] = { TQ_Q4_0, TQ_Q5_0, TQ_Q4_1, TQ_Q5_1, TQ_Q8_0 };
    const tq_kernels *sets[] = { tq_kernels_ref(), tq_kernels_avx2(), tq_kernels_avxvnni(),
                                 tq_kernels_avx512() };
    const int rows = 3, cols = 128, batch = 20;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const int type = types[t];
        gemm_case g;
        REQUIRE(extreme_case(&g, type, TQ_Q8_0, rows, cols, batch));
        const tq_f16 one = 0x3c00, half = 0x3800;
        for (int i = 0; i < rows * cols / 32; i++) {
            if (type == TQ_Q4_0) { /* nibbles 0: -8 */
                block_q4_0 *x = (block_q4_0 *)g.W + i;
                memset(x->qs, 0, sizeof x->qs);
                x->d = one;
            } else if (type == TQ_Q5_0) { /* nibbles and fifth bits 0: -16 */
                block_q5_0 *x = (block_q5_0 *)g.W + i;
                memset(x->qs, 0, sizeof x->qs);
                memset(x->qh, 0, sizeof x->qh);
                x->d = one;
            } else if (type == TQ_Q4_1) { /* 15 */
                block_q4_1 *x = (block_q4_1 *)g.W + i;
                memset(x->qs, 0xff, sizeof x->qs);
                x->d = one, x->m = half;
            } else if (type == TQ_Q8_0) { /* -128 in even rows, 127 in odd ones */
                block_q8_0 *x = (block_q8_0 *)g.W + i;
                memset(x->qs, i / (cols / 32) % 2 ? 127 : -128, sizeof x->qs);
                x->d = one;
            } else { /* Q5_1: 31 */
                block_q5_1 *x = (block_q5_1 *)g.W + i;
                memset(x->qs, 0xff, sizeof x->qs);
                memset(x->qh, 0xff, sizeof x->qh);
                x->d = one, x->m = half;
            }
        }
        const tq_f16 da = tq_f32_to_f16(1.0f / 64);
        const int lo = type == TQ_Q8_0 ? -127 : -128;
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < cols / 32; i++) {
                block_q8_0 *x = (block_q8_0 *)(g.xq + (size_t)b * g.x_row) + i;
                x->d = da;
                memset(x->qs, b % 2 ? 127 : lo, sizeof x->qs);
            }
        extreme_check(&g, sets, lo);
        case_free(&g);
    }
}

/* tq_matmul's batch path end to end (conversion, packing, panels claimed by two threads)
 * against the vec_dot reference on the activations quantized the same way. */
TEST(gemm_through_matmul)
{
    static const int types[] = { TQ_Q8_0, TQ_Q5_K, TQ_Q6_K };
    tq_pool *pool = tq_pool_new(2);
    REQUIRE(pool);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const int type = types[t], rows = 37, cols = TQ_GEMM_KC + 512, batch = 21;
        const int vt = tq_vec_dot_type(type);
        uint32_t seed = 5u + (uint32_t)t;
        float *x = mem_alloc((size_t)batch * cols * sizeof(float));
        float *y = mem_alloc((size_t)batch * rows * sizeof(float));
        float *wf = mem_alloc((size_t)cols * sizeof(float));
        size_t w_row = tq_row_size(type, cols), x_row = tq_row_size(vt, cols);
        char *W = mem_alloc((size_t)rows * w_row), *xq = mem_alloc(x_row);
        void *scratch = mem_alloc_aligned(tq_matmul_scratch_size(type, cols, batch), 64);
        REQUIRE(x && y && wf && W && xq && scratch);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++)
                wf[i] = rnd(&seed);
            tq_quantize(type, wf, W + (size_t)r * w_row, cols);
        }
        for (int i = 0; i < batch * cols; i++)
            x[i] = rnd(&seed);
        tq_matmul(pool, tq_kernels_best(), y, W, type, rows, cols, x, batch, scratch);
        int bad = 0;
        for (int b = 0; b < batch && bad < 3; b++) {
            tq_kernels_ref()->from_float[vt](x + (size_t)b * cols, xq, cols);
            for (int r = 0; r < rows && bad < 3; r++) {
                float want;
                tq_kernels_ref()->vec_dot[type](cols, &want, W + (size_t)r * w_row, xq);
                float got = y[(size_t)b * rows + r];
                if (!(fabsf(got - want) <= 1e-4f * (1.0f + fabsf(want)))) {
                    bad++;
                    test_fail(__FILE__, __LINE__, "%s matmul[%d][%d] = %.7g, vec_dot ref %.7g",
                              tq_type_name(type), b, r, got, want);
                }
            }
        }
        mem_free(x);
        mem_free(y);
        mem_free(wf);
        mem_free(W);
        mem_free(xq);
        mem_free_aligned(scratch);
    }
    tq_pool_free(pool);
}

/* ---- Float weights (F32, F16, BF16) ------------------------------------------------------
 * Expected values: the product in double of the decoded weights (tq_dequantize, a separate
 * converter) with the activations. A float sum over k values differs from it by at most
 * about k * 2^-24 * S; the tolerance is 1e-5 S (S = sum |w * x|), while an indexing slip is
 * an error of order S. Shapes: rows 5 (part of a vector), 37 and 33 (a panel and part
 * of a vector), 50 (a panel and a vector and a part); 600 values (two whole chunks of 256
 * and 88, not a multiple of 16); batches 21 (two tiles of 8 and 5 single rows) and 8. */

static const int float_types[] = { TQ_F32, TQ_F16, TQ_BF16 };

static void check_gemmf(const tq_kernels *k, int type, int rows, int cols, int batch,
                        uint32_t seed)
{
    tq_pool *pool = tq_pool_new(2);
    size_t w_row = tq_row_size(type, cols);
    float *x = mem_alloc((size_t)batch * cols * sizeof(float));
    float *y = mem_alloc((size_t)batch * rows * sizeof(float));
    float *wf = mem_alloc((size_t)rows * cols * sizeof(float));
    char *W = mem_alloc((size_t)rows * w_row);
    REQUIRE(pool && x && y && wf && W);
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < cols; i++)
            wf[(size_t)r * cols + i] = rnd(&seed);
        tq_quantize(type, wf + (size_t)r * cols, W + (size_t)r * w_row, cols);
        tq_dequantize(type, W + (size_t)r * w_row, wf + (size_t)r * cols, cols);
    }
    for (int i = 0; i < batch * cols; i++)
        x[i] = rnd(&seed);
    /* F16 weights: the path rounds the activations to F16 first (matmul.c), so the expected
     * product uses them rounded the same way, by the plain-C converters. */
    float *xe = mem_alloc((size_t)batch * cols * sizeof(float));
    REQUIRE(xe);
    const int vt = tq_vec_dot_type(type);
    char *xq = vt != TQ_F32 ? mem_alloc(tq_row_size(vt, cols)) : NULL;
    for (int b = 0; b < batch; b++) {
        if (xq) {
            tq_quantize(vt, x + (size_t)b * cols, xq, cols);
            tq_dequantize(vt, xq, xe + (size_t)b * cols, cols);
        } else {
            memcpy(xe + (size_t)b * cols, x + (size_t)b * cols, (size_t)cols * sizeof(float));
        }
    }
    mem_free(xq);
    size_t ss = tq_matmul_scratch_size(type, cols, batch);
    void *scratch = ss ? mem_alloc_aligned(ss, 64) : NULL;
    REQUIRE(!ss || scratch);
    tq_matmul(pool, k, y, W, type, rows, cols, x, batch, scratch);
    mem_free_aligned(scratch);
    int bad = 0;
    for (int b = 0; b < batch && bad < 3; b++)
        for (int r = 0; r < rows && bad < 3; r++) {
            double want = 0, S = 0;
            for (int i = 0; i < cols; i++) {
                double p = (double)wf[(size_t)r * cols + i] * xe[(size_t)b * cols + i];
                want += p;
                S += fabs(p);
            }
            float got = y[(size_t)b * rows + r];
            if (!(fabs(got - want) <= 1e-5 * S)) {
                bad++;
                test_fail(__FILE__, __LINE__, "%s %s %dx%d batch %d: y[%d][%d] = %.7g, want %.7g",
                          k->name, tq_type_name(type), rows, cols, batch, b, r, got, want);
            }
        }
    mem_free(x);
    mem_free(xe);
    mem_free(y);
    mem_free(wf);
    mem_free(W);
    tq_pool_free(pool);
}

TEST(gemmf_every_set_vs_double)
{
    const tq_kernels *sets[] = { tq_kernels_ref(), tq_kernels_avx2(), tq_kernels_avx512() };
    static const int shapes[][3] = { { 37, 600, 21 }, { 5, 600, 8 }, { 50, 256, 9 }, { 33, 40, 16 } };
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        if (!sets[s])
            continue;
        for (size_t t = 0; t < sizeof float_types / sizeof float_types[0]; t++)
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
                check_gemmf(sets[s], float_types[t], shapes[i][0], shapes[i][1], shapes[i][2],
                            7u + (uint32_t)(t * 10 + i));
    }
}

/* The SIMD decoders' panels are the plain-C one, bit for bit, padding included. */
static void check_unpack(const tq_kernels *k, int type, int rows_in, int cols, const int cuts[][3],
                         int n_cuts);

TEST(gemmf_unpack_simd_vs_ref)
{
    static const int fcuts[][3] = { { 32, 0, 256 }, { 29, 256, 44 }, { 7, 3, 13 } };
    const tq_kernels *sets[] = { tq_kernels_avx2(), tq_kernels_avx512() };
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        if (!sets[s] || !sets[s]->gemmf_unpack)
            continue;
        for (size_t t = 0; t < sizeof float_types / sizeof float_types[0]; t++)
            check_unpack(sets[s], float_types[t], 29, 300, fcuts, 3);
    }
}

static void check_unpack(const tq_kernels *k, int type, int rows_in, int cols, const int cuts[][3],
                         int n_cuts)
{
    const size_t n = (size_t)TQ_GEMMF_ROWS * TQ_GEMMF_KC;
    const size_t w_row = tq_row_size(type, cols);
    float *a = mem_alloc(n * sizeof(float)), *b = mem_alloc(n * sizeof(float));
    float *wf = mem_alloc((size_t)cols * sizeof(float));
    char *W = mem_alloc((size_t)rows_in * w_row);
    REQUIRE(a && b && wf && W);
    uint32_t seed = 99;
    for (int r = 0; r < rows_in; r++) {
        for (int i = 0; i < cols; i++)
            wf[i] = rnd(&seed);
        tq_quantize(type, wf, W + (size_t)r * w_row, cols);
    }
    for (int c = 0; c < n_cuts; c++) {
        int rows = cuts[c][0] < rows_in ? cuts[c][0] : rows_in, k0 = cuts[c][1], kc = cuts[c][2];
        size_t used = (size_t)((kc + 15) & ~15) * TQ_GEMMF_ROWS;
        memset(a, 0x7f, n * sizeof(float));
        memset(b, 0x7f, n * sizeof(float));
        tq_gemmf_unpack_ref(type, W, w_row, rows, k0, kc, a);
        k->gemmf_unpack(type, W, w_row, rows, k0, kc, b);
        if (memcmp(a, b, used * sizeof(float)) != 0)
            test_fail(__FILE__, __LINE__, "%s %s panel rows %d k0 %d kc %d differs from ref",
                      k->name, tq_type_name(type), rows, k0, kc);
    }
    mem_free(W);
    mem_free(a);
    mem_free(b);
    mem_free(wf);
}

/* ---- Attention over an F16 cache ----------------------------------------------------- */

static void attn_expected(const tq_attn_args *a, double *out)
{
    double *s = malloc((size_t)a->n * sizeof *s);
    for (int h = 0; h < a->ng; h++) {
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < a->n; i++) {
            double d = 0;
            for (int j = 0; j < a->hd; j++)
                d += (double)tq_f16_to_f32(a->k[(size_t)i * a->stride + j]) * a->q[h * a->hd + j];
            s[i] = d * a->scale;
            mx = s[i] > mx ? s[i] : mx;
        }
        for (int i = 0; i < a->n; i++)
            sum += (s[i] = exp(s[i] - mx));
        for (int j = 0; j < a->hd; j++) {
            double o = 0;
            for (int i = 0; i < a->n; i++)
                o += s[i] / sum * tq_f16_to_f32(a->v[(size_t)i * a->stride + j]);
            out[h * a->hd + j] = o;
        }
    }
    free(s);
}

TEST(attn_f16_vs_double)
{
    const tq_kernels *sets[] = { tq_kernels_ref(), tq_kernels_avx2(), tq_kernels_avx512() };
    static const int cases[][3] = { /* hd, ng, n */
        { 64, 4, 1 }, { 64, 4, 37 }, { 64, 3, 200 }, { 128, 5, 19 }, { 32, 2, 9 }, { 64, 1, 5 },
        { 64, 4, 1000 },
    };
    uint32_t seed = 3;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int hd = cases[c][0], ng = cases[c][1], n = cases[c][2];
        const size_t stride = (size_t)hd * 3; /* rows of several heads, as in the cache */
        tq_f16 *k = mem_alloc((size_t)n * stride * sizeof *k);
        tq_f16 *v = mem_alloc((size_t)n * stride * sizeof *v);
        float *q = mem_alloc((size_t)ng * hd * sizeof *q), *out = mem_alloc((size_t)ng * hd * sizeof *out);
        float *att = mem_alloc((size_t)ng * n * sizeof *att);
        double *want = mem_alloc((size_t)ng * hd * sizeof *want);
        REQUIRE(k && v && q && out && att && want);
        for (size_t i = 0; i < (size_t)n * stride; i++) {
            k[i] = tq_f32_to_f16(rnd(&seed) * 2.0f);
            v[i] = tq_f32_to_f16(rnd(&seed));
        }
        for (int i = 0; i < ng * hd; i++)
            q[i] = rnd(&seed) * (n > 500 ? 8.0f : 1.0f); /* long rows: scores far apart */
        tq_attn_args a = { .hd = hd, .ng = ng, .n = n, .q = q, .k = k, .v = v, .stride = stride,
                           .scale = 1.0f / sqrtf((float)hd), .att = att, .out = out };
        attn_expected(&a, want);
        for (size_t s = 0; s < 3; s++) {
            if (!sets[s])
                continue;
            memset(out, 0xff, (size_t)ng * hd * sizeof *out);
            sets[s]->attn_f16(&a);
            for (int i = 0; i < ng * hd; i++)
                if (!(fabs(out[i] - want[i]) <= 1e-5)) {
                    test_fail(__FILE__, __LINE__, "%s attn hd %d ng %d n %d: out[%d] = %.7g, "
                              "want %.7g", sets[s]->name, hd, ng, n, i, out[i], want[i]);
                    break;
                }
        }
        mem_free(k);
        mem_free(v);
        mem_free(q);
        mem_free(out);
        mem_free(att);
        mem_free(want);
    }
}

/* ---- Q8_K activation quantizer ------------------------------------------------------- */

/* Every set's Q8_K from_float must give the bytes quant.c gives: rounding ties, a block of
 * zeros, negative and positive maxima of equal magnitude (the first one sets the sign). */
TEST(kernels_q8_K_from_float_bit_exact)
{
    const tq_kernels *sets[] = { tq_kernels_ref(), tq_kernels_avx2(), tq_kernels_avx512() };
    const int nb = 6, n = nb * QK_K;
    float *x = mem_alloc((size_t)n * sizeof *x);
    block_q8_K *want = mem_alloc(tq_row_size(TQ_Q8_K, n)), *got = mem_alloc(tq_row_size(TQ_Q8_K, n));
    REQUIRE(x && want && got);
    uint32_t seed = 11;
    for (int i = 0; i < n; i++)
        x[i] = rnd(&seed) * 3.0f;
    for (int i = QK_K; i < 2 * QK_K; i++)
        x[i] = 0.0f;                                  /* block 1: all zero */
    for (int i = 2 * QK_K; i < 3 * QK_K; i++)
        x[i] = (float)((i % 255) - 127) * 0.5f;      /* block 2: ties at .5 steps */
    x[3 * QK_K + 10] = -5.0f;                         /* block 3: -5 before +5 */
    x[3 * QK_K + 200] = 5.0f;
    x[4 * QK_K + 7] = 6.0f;                           /* block 4: +6 before -6 */
    x[4 * QK_K + 100] = -6.0f;
    tq_quantize(TQ_Q8_K, x, want, n);
    for (size_t s = 0; s < 3; s++) {
        if (!sets[s])
            continue;
        memset(got, 0x55, tq_row_size(TQ_Q8_K, n));
        sets[s]->from_float[TQ_Q8_K](x, got, n);
        for (int b = 0; b < nb; b++)
            if (memcmp(&got[b], &want[b], sizeof got[b]) != 0) {
                test_fail(__FILE__, __LINE__, "%s Q8_K from_float differs at block %d",
                          sets[s]->name, b);
                break;
            }
    }
    mem_free(x);
    mem_free(want);
    mem_free(got);
}

/* ---- Several products of one activation row set ------------------------------------------ */

/* tq_matmul_multi against the vec_dot reference: three K-quant matrices that share Q8_K
 * activations (fused into one run), and a Q4_0 + Q6_K pair that is not (done in turn). */
TEST(matmul_multi_vs_vec_dot_ref)
{
    static const int sets[][3] = { { TQ_Q4_K, TQ_Q6_K, TQ_Q5_K }, { TQ_Q4_0, TQ_Q6_K, -1 } };
    static const int rows[3] = { 40, 17, 9 };
    const int cols = 512;
    tq_pool *pool = tq_pool_new(2);
    REQUIRE(pool);
    for (size_t si = 0; si < 2; si++)
        for (int batch = 1; batch <= 3; batch += 2) {
            uint32_t seed = 77u + (uint32_t)si;
            tq_matmul_item items[3];
            int n = 0;
            size_t ss = 0;
            float *x = mem_alloc((size_t)batch * cols * sizeof *x);
            float *wf = mem_alloc((size_t)cols * sizeof *wf);
            REQUIRE(x && wf);
            for (int i = 0; i < batch * cols; i++)
                x[i] = rnd(&seed);
            for (int i = 0; i < 3 && sets[si][i] >= 0; i++, n++) {
                int type = sets[si][i];
                size_t w_row = tq_row_size(type, cols);
                char *W = mem_alloc((size_t)rows[i] * w_row);
                float *y = mem_alloc((size_t)batch * rows[i] * sizeof *y);
                REQUIRE(W && y);
                for (int r = 0; r < rows[i]; r++) {
                    for (int c = 0; c < cols; c++)
                        wf[c] = rnd(&seed);
                    tq_quantize(type, wf, W + (size_t)r * w_row, cols);
                }
                items[i] = (tq_matmul_item){ .y = y, .W = W, .type = type, .rows = rows[i] };
                size_t s = tq_matmul_scratch_size(type, cols, batch);
                ss = s > ss ? s : ss;
            }
            void *scratch = mem_alloc_aligned(ss, 64);
            REQUIRE(scratch);
            tq_matmul_multi(pool, tq_kernels_best(), items, n, cols, x, batch, scratch);
            for (int i = 0; i < n; i++) {
                int type = items[i].type, vt = tq_vec_dot_type(type), bad = 0;
                void *xq = mem_alloc(tq_row_size(vt, cols));
                REQUIRE(xq);
                for (int b = 0; b < batch && !bad; b++) {
                    tq_kernels_ref()->from_float[vt](x + (size_t)b * cols, xq, cols);
                    for (int r = 0; r < items[i].rows && !bad; r++) {
                        float want;
                        tq_kernels_ref()->vec_dot[type](cols, &want, (const char *)items[i].W +
                                                        (size_t)r * tq_row_size(type, cols), xq);
                        float got = items[i].y[(size_t)b * items[i].rows + r];
                        if (!(fabsf(got - want) <= 1e-4f * (1.0f + fabsf(want)))) {
                            bad = 1;
                            test_fail(__FILE__, __LINE__, "multi %s batch %d [%d][%d]: %.7g vs "
                                      "%.7g", tq_type_name(type), batch, b, r, got, want);
                        }
                    }
                }
                mem_free(xq);
                mem_free((void *)items[i].W);
                mem_free(items[i].y);
            }
            mem_free(x);
            mem_free(wf);
            mem_free_aligned(scratch);
        }
    tq_pool_free(pool);
}
