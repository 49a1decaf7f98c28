/*
 * search.h — finding the chunks of a knowledge base that answer a query.
 *
 * Three modes: bm25 (SQLite FTS5's BM25 over the words), dense (cosine similarity of the
 * query's embedding to every chunk's), and hybrid, which merges the two ranked lists by
 * reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): a chunk scores
 * sum over lists of 1 / (60 + its rank there), so agreement between the lists wins and
 * neither list's raw scores need to be comparable.
 *
 * Dense search scans every vector exactly unless the caller asks for the HNSW graph
 * (hnsw.h) and the base holds more than KN_EXACT_MAX chunks. Measured on this project's
 * 2-core machine with 384-wide vectors: a scan of 20,000 takes about 2 ms, while building
 * the graph over them takes about 20 s. So a one-shot command (`hearth search`, `ask`)
 * always scans — it would need thousands of queries to earn the build back — and only a
 * long-running process that answers many queries (the server) should ask for the graph.
 * The graph is derived data rebuilt from the stored vectors, never stored itself: it
 * could go stale after any indexing run, and the vectors are the one copy of the truth.
 */
#ifndef HEARTH_KNOWLEDGE_SEARCH_H
#define HEARTH_KNOWLEDGE_SEARCH_H

#include "knowledge/embed.h"
#include "knowledge/hnsw.h"
#include "knowledge/store.h"

#define KN_EXACT_MAX 50000
#define KN_RRF_K 60

enum kn_mode { KN_HYBRID, KN_DENSE, KN_BM25 };

/* Parse "hybrid" | "dense" | "bm25"; false if none. */
bool kn_mode_parse(const char *s, enum kn_mode *mode);

typedef struct kn_result {
    kn_chunk_info chunk;   /* path, lines, heading, text */
    double score;          /* the mode's score: RRF, cosine or -bm25 */
    int bm25_rank;         /* 1-based rank in the BM25 list, 0 if not in it */
    int dense_rank;        /* 1-based rank in the dense list, 0 if not in it */
    float similarity;      /* cosine to the query (when a model is given) */
} kn_result;

typedef struct kn_searcher kn_searcher;

/* Load the vectors of s for dense search; e (may be NULL: BM25 only) must be the model the
 * base was built with. graph_min > 0: build the HNSW graph when there are at least that
 * many vectors (KN_EXACT_MAX for a process that will answer many queries); 0: always scan. */
hearth_status kn_searcher_open(kn_searcher **out, kn_store *s, emb_model *e, size_t graph_min,
                               hearth_error *err);
void kn_searcher_free(kn_searcher *x);

/* The k best chunks for query, best first. *out holds *n results (kn_results_free). */
hearth_status kn_search(kn_searcher *x, const char *query, int k, enum kn_mode mode,
                        kn_result **out, int *n, hearth_error *err);
void kn_results_free(kn_result *r, int n);

/* Reciprocal rank fusion of two ranked lists of chunk ids (best first) into at most k
 * ids with their fused scores, best first; ties go to the smaller chunk id. Exposed for
 * tests. Returns the count. */
int kn_rrf(const int64_t *a, int na, const int64_t *b, int nb, int k, int64_t *out,
           double *scores);

#endif
