/*
 * hnsw.c — exact top-k scan and the HNSW graph (see hnsw.h).
 *
 * Layout: level-0 neighbour lists live in one array of n rows of (1 + 2M) uint32 (count,
 * then ids), so the hot level of every search reads contiguous memory; the few nodes on
 * higher levels get one small array each of level rows of (1 + M). A visited set is a
 * stamp per node: bumping the stamp clears it in O(1) between searches.
 */
#include "knowledge/hnsw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tensor/kernels.h"

#define MAX_LEVEL 15

typedef struct hitem {
    float key;
    uint32_t id;
} hitem;

/* A binary min-heap on key. */
typedef struct heap {
    hitem *e;
    size_t n, cap;
} heap;

static bool heap_push(heap *h, float key, uint32_t id)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        hitem *e = mem_realloc_array(h->e, cap, sizeof *e);
        if (!e)
            return false;
        h->e = e;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && h->e[(i - 1) / 2].key > key) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = (hitem){ key, id };
    return true;
}

static hitem heap_pop(heap *h)
{
    hitem top = h->e[0], last = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->e[c + 1].key < h->e[c].key)
            c++;
        if (h->e[c].key >= last.key)
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n)
        h->e[i] = last;
    return top;
}

struct kn_hnsw {
    const float *v;
    size_t n;
    int dim;
    kn_hnsw_params p;
    tq_vec_dot_fn dot;  /* the CPU's best F32 dot product */
    int max_level;
    uint32_t entry;
    uint8_t *level;     /* (n) */
    uint32_t *l0;       /* (n, 1 + 2M) */
    uint32_t **up;      /* (n) -> (level, 1 + M) or NULL */
    uint32_t *visited;  /* (n) stamps */
    uint32_t stamp;
    heap cand, res;
    hitem *tmp;         /* (ef_construction + 2M + 1) sorted candidates */
    uint32_t *sel;      /* (2M + 1) */
};

kn_hnsw_params kn_hnsw_default_params(void)
{
    return (kn_hnsw_params){ .M = 16, .ef_construction = 200, .ef_search = 64,
                             .seed = 0x9E3779B97F4A7C15ull };
}

static float sim(const kn_hnsw *h, const float *q, uint32_t id)
{
    float s;
    h->dot(h->dim, &s, h->v + (size_t)id * h->dim, q);
    return s;
}

static uint32_t *links(const kn_hnsw *h, uint32_t id, int lc)
{
    if (lc == 0)
        return h->l0 + (size_t)id * (1 + 2 * (size_t)h->p.M);
    return h->up[id] + (size_t)(lc - 1) * (1 + (size_t)h->p.M);
}

static int max_links(const kn_hnsw *h, int lc)
{
    return lc == 0 ? 2 * h->p.M : h->p.M;
}

static void new_stamp(kn_hnsw *h)
{
    if (++h->stamp == 0) {
        memset(h->visited, 0, h->n * sizeof *h->visited);
        h->stamp = 1;
    }
}

/* Best-first search of level lc from ep; leaves up to ef results in h->res (a min-heap
 * on similarity, worst on top). */
static bool search_layer(kn_hnsw *h, const float *q, uint32_t ep, int ef, int lc)
{
    new_stamp(h);
    h->cand.n = h->res.n = 0;
    float s = sim(h, q, ep);
    h->visited[ep] = h->stamp;
    if (!heap_push(&h->cand, -s, ep) || !heap_push(&h->res, s, ep))
        return false;
    while (h->cand.n) {
        hitem c = heap_pop(&h->cand);
        if (-c.key < h->res.e[0].key && h->res.n >= (size_t)ef)
            break;
        const uint32_t *nb = links(h, c.id, lc);
        for (uint32_t i = 1; i <= nb[0]; i++) {
            uint32_t id = nb[i];
            if (h->visited[id] == h->stamp)
                continue;
            h->visited[id] = h->stamp;
            float si = sim(h, q, id);
            if (h->res.n < (size_t)ef || si > h->res.e[0].key) {
                if (!heap_push(&h->cand, -si, id) || !heap_push(&h->res, si, id))
                    return false;
                if (h->res.n > (size_t)ef)
                    heap_pop(&h->res);
            }
        }
    }
    return true;
}

/* Drain h->res into tmp, best first; returns the count. */
static size_t drain_sorted(kn_hnsw *h, hitem *out)
{
    size_t n = h->res.n;
    for (size_t i = n; i > 0; i--)
        out[i - 1] = heap_pop(&h->res);
    return n;
}

/* The paper's heuristic: take candidates (best first) that are closer to the base node
 * than to any already taken, so the links point in different directions. */
static int select_neighbors(kn_hnsw *h, const hitem *c, size_t n, int m, uint32_t *out)
{
    int k = 0;
    for (size_t i = 0; i < n && k < m; i++) {
        const float *vc = h->v + (size_t)c[i].id * h->dim;
        bool good = true;
        for (int j = 0; j < k && good; j++)
            good = sim(h, vc, out[j]) < c[i].key;
        if (good)
            out[k++] = c[i].id;
    }
    return k;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = ((const hitem *)a)->key, y = ((const hitem *)b)->key;
    return (x < y) - (x > y);
}

/* Add link id -> to on level lc, pruning id's list with the heuristic when full. */
static void add_link(kn_hnsw *h, uint32_t id, uint32_t to, int lc)
{
    uint32_t *nb = links(h, id, lc);
    int cap = max_links(h, lc);
    if ((int)nb[0] < cap) {
        nb[++nb[0]] = to;
        return;
    }
    const float *vb = h->v + (size_t)id * h->dim;
    size_t n = 0;
    for (uint32_t i = 1; i <= nb[0]; i++)
        h->tmp[n++] = (hitem){ sim(h, vb, nb[i]), nb[i] };
    h->tmp[n++] = (hitem){ sim(h, vb, to), to };
    qsort(h->tmp, n, sizeof *h->tmp, cmp_desc);
    nb[0] = (uint32_t)select_neighbors(h, h->tmp, n, cap, nb + 1);
}

static bool insert(kn_hnsw *h, uint32_t id)
{
    int L = h->level[id];
    const float *q = h->v + (size_t)id * h->dim;
    if (id == 0) {
        h->entry = 0;
        h->max_level = L;
        return true;
    }
    uint32_t ep = h->entry;
    float s_ep = sim(h, q, ep);
    for (int lc = h->max_level; lc > L; lc--)
        for (bool changed = true; changed;) {
            changed = false;
            const uint32_t *nb = links(h, ep, lc);
            for (uint32_t i = 1; i <= nb[0]; i++) {
                float s = sim(h, q, nb[i]);
                if (s > s_ep) {
                    s_ep = s;
                    ep = nb[i];
                    changed = true;
                }
            }
        }
    for (int lc = L < h->max_level ? L : h->max_level; lc >= 0; lc--) {
        if (!search_layer(h, q, ep, h->p.ef_construction, lc))
            return false;
        size_t n = drain_sorted(h, h->tmp);
        ep = h->tmp[0].id;
        uint32_t *nb = links(h, id, lc);
        nb[0] = (uint32_t)select_neighbors(h, h->tmp, n, h->p.M, h->sel);
        memcpy(nb + 1, h->sel, nb[0] * sizeof *nb);
        for (uint32_t i = 1; i <= nb[0]; i++)
            add_link(h, nb[i], id, lc);
    }
    if (L > h->max_level) {
        h->max_level = L;
        h->entry = id;
    }
    return true;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

hearth_status kn_hnsw_build(kn_hnsw **out, const float *vecs, size_t n, int dim,
                            const kn_hnsw_params *p, hearth_error *err)
{
    *out = NULL;
    if (p->M < 2 || p->M > 128 || p->ef_construction < p->M || p->ef_construction > 4096 ||
        p->ef_search < 1 || dim < 1 || n > UINT32_MAX - 1)
        return err_set(err, HEARTH_ERR_INVALID, "HNSW parameters M=%d efConstruction=%d "
                       "efSearch=%d are out of range", p->M, p->ef_construction, p->ef_search);
    kn_hnsw *h = mem_calloc(1, sizeof *h);
    if (!h)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    h->v = vecs;
    h->n = n;
    h->dim = dim;
    h->p = *p;
    h->dot = tq_kernels_best()->vec_dot[TQ_F32];
    size_t row0 = 1 + 2 * (size_t)p->M;
    h->level = mem_calloc(n ? n : 1, 1);
    h->l0 = mem_calloc(n ? n * row0 : 1, sizeof *h->l0);
    h->up = mem_calloc(n ? n : 1, sizeof *h->up);
    h->visited = mem_calloc(n ? n : 1, sizeof *h->visited);
    h->tmp = mem_calloc((size_t)p->ef_construction + row0 + 1, sizeof *h->tmp);
    h->sel = mem_calloc(row0, sizeof *h->sel);
    bool ok = h->level && h->l0 && h->up && h->visited && h->tmp && h->sel;
    uint64_t rng = p->seed;
    double ml = 1.0 / log((double)p->M);
    for (size_t i = 0; ok && i < n; i++) {
        double u = ((splitmix(&rng) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
        int L = (int)(-log(u) * ml);
        h->level[i] = (uint8_t)(L > MAX_LEVEL ? MAX_LEVEL : L);
        if (h->level[i])
            ok = (h->up[i] = mem_calloc((size_t)h->level[i] * (1 + (size_t)p->M),
                                        sizeof **h->up)) != NULL;
    }
    for (size_t i = 0; ok && i < n; i++)
        ok = insert(h, (uint32_t)i);
    if (!ok) {
        kn_hnsw_free(h);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory building a vector index of %zu "
                       "vectors", n);
    }
    *out = h;
    return HEARTH_OK;
}

void kn_hnsw_free(kn_hnsw *h)
{
    if (!h)
        return;
    for (size_t i = 0; h->up && i < h->n; i++)
        mem_free(h->up[i]);
    mem_free(h->up);
    mem_free(h->level);
    mem_free(h->l0);
    mem_free(h->visited);
    mem_free(h->tmp);
    mem_free(h->sel);
    mem_free(h->cand.e);
    mem_free(h->res.e);
    mem_free(h);
}

size_t kn_hnsw_bytes(const kn_hnsw *h)
{
    size_t b = sizeof *h + h->n * (1 + sizeof *h->up + sizeof *h->visited) +
               h->n * (1 + 2 * (size_t)h->p.M) * sizeof *h->l0;
    for (size_t i = 0; i < h->n; i++)
        b += (size_t)h->level[i] * (1 + (size_t)h->p.M) * sizeof **h->up;
    return b;
}

int kn_hnsw_search(kn_hnsw *h, const float *q, int k, int ef, uint32_t *ids, float *sims)
{
    if (h->n == 0 || k <= 0)
        return 0;
    if (ef <= 0)
        ef = h->p.ef_search;
    if (ef < k)
        ef = k;
    uint32_t ep = h->entry;
    float s_ep = sim(h, q, ep);
    for (int lc = h->max_level; lc > 0; lc--)
        for (bool changed = true; changed;) {
            changed = false;
            const uint32_t *nb = links(h, ep, lc);
            for (uint32_t i = 1; i <= nb[0]; i++) {
                float s = sim(h, q, nb[i]);
                if (s > s_ep) {
                    s_ep = s;
                    ep = nb[i];
                    changed = true;
                }
            }
        }
    if (!search_layer(h, q, ep, ef, 0))
        return 0;
    while (h->res.n > (size_t)k)
        heap_pop(&h->res);
    int n = (int)h->res.n;
    for (int i = n; i > 0; i--) {
        hitem it = heap_pop(&h->res);
        ids[i - 1] = it.id;
        sims[i - 1] = it.key;
    }
    return n;
}

int kn_exact_search(const float *vecs, size_t n, int dim, const float *q, int k,
                    uint32_t *ids, float *sims)
{
    if (k <= 0 || n == 0)
        return 0;
    /* a min-heap of the k best so far: its top is the one to beat */
    heap h = { 0 };
    tq_vec_dot_fn dot = tq_kernels_best()->vec_dot[TQ_F32];
    for (size_t i = 0; i < n; i++) {
        float s;
        dot(dim, &s, vecs + i * (size_t)dim, q);
        if (h.n < (size_t)k) {
            if (!heap_push(&h, s, (uint32_t)i))
                break;
        } else if (s > h.e[0].key) {
            heap_pop(&h);
            heap_push(&h, s, (uint32_t)i);
        }
    }
    int m = (int)h.n;
    for (int i = m; i > 0; i--) {
        hitem it = heap_pop(&h);
        ids[i - 1] = it.id;
        sims[i - 1] = it.key;
    }
    mem_free(h.e);
    return m;
}
