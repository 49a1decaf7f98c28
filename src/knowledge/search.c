/*
 * search.c — BM25, dense and hybrid retrieval (see search.h).
 *
 * Each list is cut at max(4k, 50) candidates before fusion: deep enough that a chunk
 * ranked modestly by both lists can still rise to the top k, short enough to stay cheap.
 */
#include "knowledge/search.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tensor/ops.h"

struct kn_searcher {
    kn_store *s;
    emb_model *e;
    int64_t *ids;   /* (n) chunk ids, ascending */
    float *vecs;    /* (n, dim) */
    size_t n;
    int dim;
    kn_hnsw *h;     /* NULL: exact scan */
};

bool kn_mode_parse(const char *s, enum kn_mode *mode)
{
    static const char *const names[] = { "hybrid", "dense", "bm25" };
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *mode = (enum kn_mode)i;
            return true;
        }
    return false;
}

hearth_status kn_searcher_open(kn_searcher **out, kn_store *s, emb_model *e, size_t graph_min,
                               hearth_error *err)
{
    *out = NULL;
    if (e && kn_store_model(s)[0] &&
        (strcmp(kn_store_model(s), emb_identity(e)) != 0 || kn_store_dim(s) != emb_dim(e)))
        return err_set(err, HEARTH_ERR_INVALID, "this knowledge base was built with the "
                       "embedding model %s, not %s: search it with the same model",
                       kn_store_model(s), emb_identity(e));
    kn_searcher *x = mem_calloc(1, sizeof *x);
    if (!x)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    x->s = s;
    x->e = e;
    x->dim = kn_store_dim(s);
    hearth_status st = e ? kn_store_vectors(s, &x->ids, &x->vecs, &x->n, err) : HEARTH_OK;
    if (!st && graph_min && x->n >= graph_min) {
        kn_hnsw_params p = kn_hnsw_default_params();
        st = kn_hnsw_build(&x->h, x->vecs, x->n, x->dim, &p, err);
    }
    if (st) {
        kn_searcher_free(x);
        return st;
    }
    *out = x;
    return HEARTH_OK;
}

void kn_searcher_free(kn_searcher *x)
{
    if (!x)
        return;
    kn_hnsw_free(x->h);
    mem_free(x->ids);
    mem_free(x->vecs);
    mem_free(x);
}

int kn_rrf(const int64_t *a, int na, const int64_t *b, int nb, int k, int64_t *out,
           double *scores)
{
    int n = 0, cap = na + nb;
    int64_t *id = mem_alloc((size_t)(cap ? cap : 1) * sizeof *id);
    double *sc = mem_alloc((size_t)(cap ? cap : 1) * sizeof *sc);
    if (!id || !sc) {
        mem_free(id);
        mem_free(sc);
        return 0;
    }
    const int64_t *lists[2] = { a, b };
    int lens[2] = { na, nb };
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < lens[l]; r++) {
            int j = 0;
            while (j < n && id[j] != lists[l][r])
                j++;
            if (j == n) {
                id[n] = lists[l][r];
                sc[n++] = 0;
            }
            sc[j] += 1.0 / (KN_RRF_K + r + 1);
        }
    /* selection of the k best: small lists, so a simple pass per output slot */
    int m = 0;
    for (; m < k && m < n; m++) {
        int best = m;
        for (int j = m + 1; j < n; j++)
            if (sc[j] > sc[best] || (sc[j] == sc[best] && id[j] < id[best]))
                best = j;
        int64_t ti = id[m];
        double ts = sc[m];
        id[m] = id[best];
        sc[m] = sc[best];
        id[best] = ti;
        sc[best] = ts;
        out[m] = id[m];
        scores[m] = sc[m];
    }
    mem_free(id);
    mem_free(sc);
    return m;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Cosine of chunk id's vector to q, or 0 if it has none. */
static float similarity(const kn_searcher *x, const float *q, int64_t id)
{
    const int64_t *p = x->n ? bsearch(&id, x->ids, x->n, sizeof *x->ids, cmp_i64) : NULL;
    return p ? tq_dot_f32(q, x->vecs + (size_t)(p - x->ids) * x->dim, x->dim) : 0.0f;
}

/* The dense candidate list: chunk ids and similarities, best first. */
static int dense_list(kn_searcher *x, const float *q, int nc, int64_t *ids, double *sims)
{
    uint32_t *idx = mem_alloc((size_t)nc * sizeof *idx);
    float *s = mem_alloc((size_t)nc * sizeof *s);
    int n = 0;
    if (idx && s)
        n = x->h ? kn_hnsw_search(x->h, q, nc, nc, idx, s)
                 : kn_exact_search(x->vecs, x->n, x->dim, q, nc, idx, s);
    for (int i = 0; i < n; i++) {
        ids[i] = x->ids[idx[i]];
        sims[i] = s[i];
    }
    mem_free(idx);
    mem_free(s);
    return n;
}

static int rank_in(const int64_t *list, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (list[i] == id)
            return i + 1;
    return 0;
}

hearth_status kn_search(kn_searcher *x, const char *query, int k, enum kn_mode mode,
                        kn_result **out, int *n, hearth_error *err)
{
    *out = NULL;
    *n = 0;
    if (k <= 0 || k > 1000)
        return err_set(err, HEARTH_ERR_RANGE, "k = %d is out of range (1..1000)", k);
    if (mode != KN_BM25 && !x->e)
        return err_set(err, HEARTH_ERR_INVALID, "dense and hybrid search need the embedding "
                       "model");
    int nc = k * 4 > 50 ? k * 4 : 50;
    kn_hit *hits = mem_alloc((size_t)nc * sizeof *hits);
    int64_t *bl = mem_alloc((size_t)nc * sizeof *bl), *dl = mem_alloc((size_t)nc * sizeof *dl);
    int64_t *fused = mem_alloc((size_t)nc * 2 * sizeof *fused);
    double *ds = mem_alloc((size_t)nc * sizeof *ds), *fs = mem_alloc((size_t)nc * 2 * sizeof *fs);
    float *q = x->e ? mem_alloc((size_t)x->dim * sizeof *q) : NULL;
    hearth_status st = hits && bl && dl && fused && ds && fs && (q || !x->e)
                       ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    int nb = 0, nd = 0, nf = 0;
    if (!st && mode != KN_DENSE)
        st = kn_store_bm25(x->s, query, nc, hits, &nb, err);
    for (int i = 0; i < nb; i++)
        bl[i] = hits[i].chunk;
    if (!st && x->e)
        st = emb_encode(x->e, 1, &query, NULL, EMB_QUERY, q, err);
    if (!st && mode != KN_BM25)
        nd = dense_list(x, q, nc, dl, ds);
    if (!st) {
        if (mode == KN_HYBRID) {
            nf = kn_rrf(bl, nb, dl, nd, k, fused, fs);
        } else {
            nf = mode == KN_DENSE ? nd : nb;
            nf = nf < k ? nf : k;
            for (int i = 0; i < nf; i++) {
                fused[i] = mode == KN_DENSE ? dl[i] : bl[i];
                fs[i] = mode == KN_DENSE ? ds[i] : hits[i].score;
            }
        }
    }
    kn_result *r = !st && nf ? mem_calloc((size_t)nf, sizeof *r) : NULL;
    if (!st && nf && !r)
        st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    int got = 0;
    for (; !st && got < nf; got++) {
        st = kn_store_chunk(x->s, fused[got], &r[got].chunk, err);
        if (st)
            break;
        r[got].score = fs[got];
        r[got].bm25_rank = rank_in(bl, nb, fused[got]);
        r[got].dense_rank = rank_in(dl, nd, fused[got]);
        r[got].similarity = q ? similarity(x, q, fused[got]) : 0.0f;
    }
    if (st) {
        kn_results_free(r, got);
    } else {
        *out = r;
        *n = nf;
    }
    mem_free(hits);
    mem_free(bl);
    mem_free(dl);
    mem_free(fused);
    mem_free(ds);
    mem_free(fs);
    mem_free(q);
    return st;
}

void kn_results_free(kn_result *r, int n)
{
    for (int i = 0; r && i < n; i++)
        kn_chunk_info_free(&r[i].chunk);
    mem_free(r);
}
