/*
 * Tests for knowledge/hnsw.c: the exact scan against a plain full sort of all similarities
 * (a second, simpler algorithm), and the HNSW graph's recall@10 against the exact scan on
 * random unit vectors (>= 0.98, the bar) walking float and Q8_0 vectors, built on
 * one thread and on several, plus edge cases: k > n, an empty set, one vector, bad
 * parameters. The 100,000-vector measurement is bench/bench_hnsw.c, not a test.
 */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/mem.h"
#include "knowledge/hnsw.h"

static uint64_t rng_state;

static double gauss(void)
{
    /* Box-Muller from a 64-bit LCG */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((rng_state >> 11) + 1.0) / 9007199254740993.0;
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (rng_state >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static float *random_units(size_t n, int dim)
{
    float *v = mem_alloc(n * dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (int d = 0; d < dim; d++) {
            v[i * dim + d] = (float)gauss();
            ss += v[i * dim + d] * v[i * dim + d];
        }
        for (int d = 0; d < dim; d++)
            v[i * dim + d] /= (float)sqrt(ss);
    }
    return v;
}

typedef struct pair {
    double s;
    uint32_t id;
} pair;

static int by_sim(const void *a, const void *b)
{
    double x = ((const pair *)a)->s, y = ((const pair *)b)->s;
    return (x < y) - (x > y);
}

TEST(hnsw_exact_matches_full_sort)
{
    rng_state = 1;
    size_t n = 500;
    int dim = 16, k = 7;
    float *v = random_units(n, dim), *q = random_units(1, dim);
    pair *all = mem_alloc(n * sizeof *all);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < dim; d++)
            s += (double)q[d] * v[i * dim + d];
        all[i] = (pair){ s, (uint32_t)i };
    }
    qsort(all, n, sizeof *all, by_sim);
    uint32_t ids[600];
    float sims[600];
    REQUIRE(kn_exact_search(v, n, dim, q, k, ids, sims) == k);
    for (int i = 0; i < k; i++) {
        CHECK_EQ(ids[i], all[i].id);
        CHECK_NEAR(sims[i], all[i].s, 1e-5);
    }
    CHECK_EQ(kn_exact_search(v, n, dim, q, 600, ids, sims), 500);
    CHECK_EQ(kn_exact_search(v, 0, dim, q, 5, ids, sims), 0);
    mem_free(all);
    mem_free(v);
    mem_free(q);
}

/* Fails the test if recall@10 of the graph against the exact scan over 100 random queries
 * is under 0.98; also checks that the graph's similarities are the exact ones (the Q8_0
 * walk is re-scored) and in order. */
static void check_recall(size_t n, int dim, const kn_hnsw_params *p, int ef)
{
    size_t nq = 100;
    int k = 10, found = 0;
    float *v = random_units(n, dim), *q = random_units(nq, dim);
    kn_hnsw *h;
    REQUIRE(kn_hnsw_build(&h, v, n, dim, p, NULL) == HEARTH_OK);
    CHECK(kn_hnsw_bytes(h) > n * 4);
    for (size_t i = 0; i < nq; i++) {
        uint32_t ei[10], hi[10];
        float es[10], hs[10];
        REQUIRE(kn_exact_search(v, n, dim, q + i * dim, k, ei, es) == k);
        REQUIRE(kn_hnsw_search(h, q + i * dim, k, ef, hi, hs) == k);
        for (int a = 0; a < k; a++) {
            for (int b = 0; b < k; b++)
                found += ei[a] == hi[b];
            double s = 0;
            for (int d = 0; d < dim; d++)
                s += (double)q[i * dim + d] * v[(size_t)hi[a] * dim + d];
            CHECK_NEAR(hs[a], s, 1e-5);
            if (a > 0)
                CHECK(hs[a] <= hs[a - 1]);
        }
    }
    kn_hnsw_free(h);
    mem_free(v);
    mem_free(q);
    double recall = (double)found / (nq * k);
    if (recall < 0.98)
        test_fail(__FILE__, __LINE__, "recall@10 %.3f < 0.98 (n %zu, dim %d, %d threads)",
                  recall, n, dim, p->n_threads);
}

/* dim 48 is no multiple of 32: the graph walks the float vectors */
TEST(hnsw_recall_float_walk)
{
    rng_state = 42;
    kn_hnsw_params p = kn_hnsw_default_params();
    check_recall(4000, 48, &p, 128);
}

/* dim 64: the graph walks Q8_0 copies, built on one thread and on several */
TEST(hnsw_recall_q8_walk)
{
    rng_state = 43;
    kn_hnsw_params p = kn_hnsw_default_params();
    for (p.n_threads = 1; p.n_threads <= 4; p.n_threads += 3)
        check_recall(3000, 64, &p, 160);
}

TEST(hnsw_edge_cases)
{
    rng_state = 7;
    float *v = random_units(3, 8);
    kn_hnsw_params p = kn_hnsw_default_params();
    kn_hnsw *h;
    uint32_t ids[5];
    float sims[5];
    REQUIRE(kn_hnsw_build(&h, v, 1, 8, &p, NULL) == HEARTH_OK);
    CHECK_EQ(kn_hnsw_search(h, v, 5, 0, ids, sims), 1);
    CHECK_EQ(ids[0], 0);
    CHECK_NEAR(sims[0], 1.0, 1e-5);
    kn_hnsw_free(h);
    REQUIRE(kn_hnsw_build(&h, v, 3, 8, &p, NULL) == HEARTH_OK);
    CHECK_EQ(kn_hnsw_search(h, v + 16, 5, 0, ids, sims), 3);
    CHECK_EQ(ids[0], 2);
    kn_hnsw_free(h);
    REQUIRE(kn_hnsw_build(&h, v, 0, 8, &p, NULL) == HEARTH_OK);
    CHECK_EQ(kn_hnsw_search(h, v, 5, 0, ids, sims), 0);
    kn_hnsw_free(h);
    p.M = 1;
    hearth_error err;
    CHECK(kn_hnsw_build(&h, v, 3, 8, &p, &err) == HEARTH_ERR_INVALID);
    mem_free(v);
}
