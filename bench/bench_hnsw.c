/*
 * bench_hnsw.c — the vector index against exact search: build time, memory, queries/s and
 * recall@10, on random unit vectors (the hardest case for a graph index: no clusters).
 *
 *   bench_hnsw [N [DIM [QUERIES [clustered]]]]      defaults: 100000 384 200
 *
 * "clustered" draws the vectors around 1,000 random centres instead (each a centre plus
 * noise of the same size), closer to real text embeddings, which crowd into topics.
 *
 * Exact search is the baseline in the same run: its answers are the truth for recall, and
 * its queries/s the speed to beat. HNSW is measured at several efSearch values.
 */
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "knowledge/hnsw.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 12345;

static double gauss(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((rng >> 11) + 1.0) / 9007199254740993.0;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (rng >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static float *units(size_t n, int dim, const float *centres, int n_centres)
{
    float *v = mem_alloc(n * dim * sizeof(float));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        const float *c = centres ? centres + (size_t)(rng % n_centres) * dim : NULL;
        for (int d = 0; d < dim; d++) {
            v[i * dim + d] = (float)(gauss() / sqrt(dim)) + (c ? c[d] : 0.0f);
            ss += v[i * dim + d] * v[i * dim + d];
        }
        for (int d = 0; d < dim; d++)
            v[i * dim + d] /= (float)sqrt(ss);
    }
    return v;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int dim = argc > 2 ? atoi(argv[2]) : 384, nq = argc > 3 ? atoi(argv[3]) : 200, k = 10;
    if (n < 10 || dim < 1 || nq < 1)
        return 2;
    bool clustered = argc > 4 && !strcmp(argv[4], "clustered");
    float *centres = clustered ? units(1000, dim, NULL, 0) : NULL;
    float *v = units(n, dim, centres, 1000), *q = units((size_t)nq, dim, centres, 1000);
    uint32_t *truth = mem_alloc((size_t)nq * k * sizeof *truth);
    if (!v || !q || !truth)
        return 1;
    printf("%zu %s unit vectors of %d dimensions, %d queries, k = %d\n", n,
           clustered ? "clustered" : "random", dim, nq, k);

    float sims[10];
    double t = now();
    for (int i = 0; i < nq; i++)
        kn_exact_search(v, n, dim, q + (size_t)i * dim, k, truth + (size_t)i * k, sims);
    double exact_s = now() - t;
    printf("exact:  no build, %.1f MiB of vectors, %.1f queries/s\n",
           n * dim * 4.0 / (1 << 20), nq / exact_s);

    kn_hnsw_params p = kn_hnsw_default_params();
    kn_hnsw *h;
    hearth_error err;
    t = now();
    if (kn_hnsw_build(&h, v, n, dim, &p, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("hnsw:   M = %d, efConstruction = %d: build %.1f s, graph %.1f MiB\n", p.M,
           p.ef_construction, now() - t, kn_hnsw_bytes(h) / 1048576.0);
    static const int efs[] = { 32, 64, 128, 256, 512 };
    for (size_t e = 0; e < sizeof efs / sizeof efs[0]; e++) {
        uint32_t ids[10];
        int hit = 0;
        t = now();
        for (int i = 0; i < nq; i++) {
            int m = kn_hnsw_search(h, q + (size_t)i * dim, k, efs[e], ids, sims);
            for (int a = 0; a < m; a++)
                for (int b = 0; b < k; b++)
                    hit += ids[a] == truth[(size_t)i * k + b];
        }
        double s = now() - t;
        printf("hnsw:   efSearch = %3d: recall@10 %.3f, %.0f queries/s (%.1fx exact)\n", efs[e],
               (double)hit / (nq * k), nq / s, exact_s / s);
    }
    kn_hnsw_free(h);
    mem_free(v);
    mem_free(q);
    mem_free(truth);
    mem_free(centres);
    return 0;
}
