/*
 * hnsw.h — nearest-neighbour search over unit vectors: exact, and HNSW for large sets.
 *
 * Similarity is the dot product, which for the unit vectors of embed.h is the cosine.
 * kn_exact_search scans every vector: it is the reference the graph is tested against and
 * what search.c uses for small knowledge bases, where a scan is fast enough and exact.
 *
 * HNSW (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs", 2016): every vector is a node on level 0 and,
 * with probability falling by a factor M per level, on higher levels too. A search walks
 * greedily from the single top entry point down the sparse levels, then explores level 0
 * best-first keeping the ef best nodes seen. Each node keeps up to M neighbours per level
 * (2M on level 0), chosen with the paper's diversity heuristic. When dim is a multiple of
 * 32 the graph walks an int8 (Q8_0) copy of the vectors and re-scores its ef best exactly,
 * so the similarities returned are always exact dot products. The index is rebuilt from
 * the stored vectors when a knowledge base is opened (see search.c for why).
 *
 * Costs (bench/bench_hnsw.c): on real, clustered embeddings the defaults give high recall
 * at small ef. Uniformly random vectors are the worst case: 100,000 of 384 dims need M 32
 * and ef around 3,000 for recall@10 0.98, where the graph is no faster than the scan.
 *
 * The index references the vectors (not copied): they must outlive it. Building runs on
 * its own pool of threads; a built kn_hnsw is used by one thread at a time (searches
 * share a visited-set buffer).
 */
#ifndef HEARTH_KNOWLEDGE_HNSW_H
#define HEARTH_KNOWLEDGE_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct kn_hnsw_params {
    int M;               /* neighbours per node and level (default 16) */
    int ef_construction; /* candidates kept while inserting (default 200) */
    int ef_search;       /* candidates kept while searching (default 64; at least k) */
    uint64_t seed;       /* for the level draws: the same seed and one thread give the same graph */
    int n_threads;       /* building threads; <= 0: one per CPU (sets under 1,000 use one) */
} kn_hnsw_params;

kn_hnsw_params kn_hnsw_default_params(void);

typedef struct kn_hnsw kn_hnsw;

/* Build the graph over vecs[0 .. n*dim). Errors: bad parameters, out of memory. */
hearth_status kn_hnsw_build(kn_hnsw **out, const float *vecs, size_t n, int dim,
                            const kn_hnsw_params *p, hearth_error *err);
void kn_hnsw_free(kn_hnsw *h);
/* Bytes held by the graph (not counting the vectors). */
size_t kn_hnsw_bytes(const kn_hnsw *h);

/* The k most similar vectors to q, best first: their indexes and similarities. Returns how
 * many were found (min(k, n)). ef <= 0 uses the build's ef_search. */
int kn_hnsw_search(kn_hnsw *h, const float *q, int k, int ef, uint32_t *ids, float *sims);

/* The same by scanning all n vectors (exact). */
int kn_exact_search(const float *vecs, size_t n, int dim, const float *q, int k,
                    uint32_t *ids, float *sims);

#endif
