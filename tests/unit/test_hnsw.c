/*
 * Tests for knowledge/hnsw.c: the exact scan against a plain full sort of all similarities
 * (a second, simpler algorithm), and the HNSW graph's recall@10 against the exact scan on
 * random unit vectors (>= 0.98, the bar), plus edge cases: k > n, an empty set,
 * one vector, bad parameters.
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

TEST(hnsw_recall_against_exact)
{
    rng_state = 42;
    size_t n = 4000, nq = 100;
    int dim = 48, k = 10;
    float *v = random_units(n, dim), *q = random_units(nq, dim);
    kn_hnsw_params p = kn_hnsw_default_params();
    kn_hnsw *h;
    REQUIRE(kn_hnsw_build(&h, v, n, dim, &p, NULL) == HEARTH_OK);
    CHECK(kn_hnsw_bytes(h) > n * 4);
    int found = 0;
    for (size_t i = 0; i < nq; i++) {
        uint32_t ei[10], hi[10];
        float es[10], hs[10];
        REQUIRE(kn_exact_search(v, n, dim, q + i * dim, k, ei, es) == k);
        REQUIRE(kn_hnsw_search(h, q + i * dim, k, 128, hi, hs) == k);
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                found += ei[a] == hi[b];
        for (int a = 1; a < k; a++)
            CHECK(hs[a] <= hs[a - 1]);
    }
    double recall = (double)found / (nq * k);
    if (recall < 0.98)
        test_fail(__FILE__, __LINE__, "recall@10 %.3f < 0.98", recall);
    kn_hnsw_free(h);
    mem_free(v);
    mem_free(q);
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
