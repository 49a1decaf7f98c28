/*
 * hnsw.c — exact top-k scan and the HNSW graph (see hnsw.h).
 *
 * Layout: level-0 neighbour lists live in one array of n rows of (1 + 2M) uint32 (count,
 * then ids), so the hot level of every search reads contiguous memory; the few nodes on
 * higher levels get one small array each of level rows of (1 + M). A visited set is a
 * stamp per node: bumping the stamp clears it in O(1) between searches.
 *
 * Building inserts the nodes on several threads at once, as hnswlib does: each node has a
 * one-byte spinlock guarding its neighbour lists (a reader copies a list out under the
 * lock, a writer appends or prunes under it), and one more lock guards the entry point,
 * held for the whole insertion of the rare node that raises the top level. Each thread has
 * its own scratch (visited stamps, heaps). Levels are drawn before the threads start, so
 * every list is allocated up front and a node reached through a link always has a list
 * on that level, even if its own insertion has not begun (its count is then 0).
 *
 * The graph is built and walked on a Q8_0 copy of the vectors (blocks of 32 int8 with one
 * scale, the kernels' own format) when the dimension is a multiple of 32: a quarter of the
 * bytes to fetch per visited node, and the VNNI integer dot product. Its error (about 5e-4
 * on a cosine of unit 384-d vectors) only reorders near ties while walking; the ef best
 * nodes a search ends with are then re-scored exactly on the float vectors before the top
 * k are taken, so the similarities returned are exact.
 *
 * Searches prefetch the vectors of a node's unvisited neighbours before computing any of
 * their dot products: the vectors are scattered over memory far larger than the caches,
 * and the loads of a whole neighbour list then overlap instead of queueing one by one.
 */
#include "knowledge/hnsw.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/pool.h"

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

/* What one searching thread needs of its own. */
typedef struct scratch {
    uint32_t *visited;  /* (n) stamps */
    uint32_t stamp;
    heap cand, res;
    hitem *tmp;         /* (ef_construction + 2M + 1) sorted candidates */
    uint32_t *sel;      /* (2M + 1) */
    uint32_t *nb;       /* (1 + 2M) a neighbour list copied out under its lock */
    uint32_t *fresh;    /* (2M) its unvisited members */
    void *query;        /* (row_bytes) the query in the rows' format */
} scratch;

struct kn_hnsw {
    const float *v;     /* (n, dim) the caller's */
    size_t n;
    int dim;
    kn_hnsw_params p;
    void *q8;           /* (n, dim / 32) Q8_0 blocks, or NULL: the graph walks v itself */
    const char *rows;   /* q8 or v: what the graph's similarities are computed on */
    size_t row_bytes;
    tq_vec_dot_fn dot;  /* the CPU's best dot product for those rows */
    tq_from_float_fn from_float; /* a query into that row format */
    tq_vec_dot_fn dot_f32;  /* for the exact re-scoring of the results */
    int max_level;
    uint32_t entry;
    atomic_uchar top_lock;  /* guards entry and max_level while building */
    atomic_uchar *locks;    /* (n) one per node, guarding its lists */
    uint8_t *level;     /* (n) */
    uint32_t *l0;       /* (n, 1 + 2M) */
    uint32_t **up;      /* (n) -> (level, 1 + M) or NULL */
    scratch s;          /* for kn_hnsw_search */
};

kn_hnsw_params kn_hnsw_default_params(void)
{
    return (kn_hnsw_params){ .M = 16, .ef_construction = 200, .ef_search = 64,
                             .seed = 0x9E3779B97F4A7C15ull, .n_threads = 0 };
}

/* Locks are held for a list copy or one pruning, so spinning beats sleeping; the yield
 * keeps a waiter from burning its time slice when the holder has been descheduled (more
 * threads than free cores). */
static void lock(atomic_uchar *l)
{
    while (atomic_exchange_explicit(l, 1, memory_order_acquire))
        for (int spins = 0; atomic_load_explicit(l, memory_order_relaxed); spins++)
            if (spins > 64)
                sched_yield();
}

static void unlock(atomic_uchar *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

static const void *row(const kn_hnsw *h, uint32_t id)
{
    return h->rows + (size_t)id * h->row_bytes;
}

/* Similarity of node id to q, a row in the graph's format. */
static float sim(const kn_hnsw *h, const void *q, uint32_t id)
{
    float s;
    h->dot(h->dim, &s, row(h, id), q);
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

/* Copy node id's list on level lc into w->nb; returns its count. */
static uint32_t read_links(kn_hnsw *h, scratch *w, uint32_t id, int lc)
{
    lock(&h->locks[id]);
    const uint32_t *nb = links(h, id, lc);
    memcpy(w->nb, nb, (1 + (size_t)nb[0]) * sizeof *nb);
    unlock(&h->locks[id]);
    return w->nb[0];
}

static void new_stamp(kn_hnsw *h, scratch *w)
{
    if (++w->stamp == 0) {
        memset(w->visited, 0, h->n * sizeof *w->visited);
        w->stamp = 1;
    }
}

/* The members of w->nb (count m) not yet visited, marked visited now and prefetched. */
static uint32_t unvisited(const kn_hnsw *h, scratch *w, uint32_t m)
{
    uint32_t k = 0;
    for (uint32_t i = 1; i <= m; i++) {
        uint32_t id = w->nb[i];
        if (w->visited[id] == w->stamp)
            continue;
        w->visited[id] = w->stamp;
        w->fresh[k++] = id;
        const char *p = row(h, id);
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
    }
    return k;
}

/* Best-first search of level lc from ep; leaves up to ef results in w->res (a min-heap
 * on similarity, worst on top). */
static bool search_layer(kn_hnsw *h, scratch *w, const void *q, uint32_t ep, int ef, int lc)
{
    new_stamp(h, w);
    w->cand.n = w->res.n = 0;
    float s = sim(h, q, ep);
    w->visited[ep] = w->stamp;
    if (!heap_push(&w->cand, -s, ep) || !heap_push(&w->res, s, ep))
        return false;
    while (w->cand.n) {
        hitem c = heap_pop(&w->cand);
        if (-c.key < w->res.e[0].key && w->res.n >= (size_t)ef)
            break;
        uint32_t k = unvisited(h, w, read_links(h, w, c.id, lc));
        for (uint32_t i = 0; i < k; i++) {
            uint32_t id = w->fresh[i];
            float si = sim(h, q, id);
            if (w->res.n < (size_t)ef || si > w->res.e[0].key) {
                if (!heap_push(&w->cand, -si, id) || !heap_push(&w->res, si, id))
                    return false;
                if (w->res.n > (size_t)ef)
                    heap_pop(&w->res);
            }
        }
    }
    return true;
}

/* Greedy walk down levels top .. stop+1 from ep: returns the closest node found. */
static uint32_t descend(kn_hnsw *h, scratch *w, const void *q, uint32_t ep, int top, int stop)
{
    float s_ep = sim(h, q, ep);
    for (int lc = top; lc > stop; lc--)
        for (bool changed = true; changed;) {
            changed = false;
            uint32_t m = read_links(h, w, ep, lc);
            for (uint32_t i = 1; i <= m; i++) {
                float s = sim(h, q, w->nb[i]);
                if (s > s_ep) {
                    s_ep = s;
                    ep = w->nb[i];
                    changed = true;
                }
            }
        }
    return ep;
}

/* Drain w->res into out, best first; returns the count. */
static size_t drain_sorted(scratch *w, hitem *out)
{
    size_t n = w->res.n;
    for (size_t i = n; i > 0; i--)
        out[i - 1] = heap_pop(&w->res);
    return n;
}

/* The paper's heuristic: take candidates (best first) that are closer to the base node
 * than to any already taken, so the links point in different directions. */
static int select_neighbors(const kn_hnsw *h, const hitem *c, size_t n, int m, uint32_t *out)
{
    int k = 0;
    for (size_t i = 0; i < n && k < m; i++) {
        const void *vc = row(h, c[i].id);
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
static void add_link(kn_hnsw *h, scratch *w, uint32_t id, uint32_t to, int lc)
{
    lock(&h->locks[id]);
    uint32_t *nb = links(h, id, lc);
    int cap = max_links(h, lc);
    if ((int)nb[0] < cap) {
        nb[++nb[0]] = to;
    } else {
        const void *vb = row(h, id);
        size_t n = 0;
        for (uint32_t i = 1; i <= nb[0]; i++)
            w->tmp[n++] = (hitem){ sim(h, vb, nb[i]), nb[i] };
        w->tmp[n++] = (hitem){ sim(h, vb, to), to };
        qsort(w->tmp, n, sizeof *w->tmp, cmp_desc);
        nb[0] = (uint32_t)select_neighbors(h, w->tmp, n, cap, nb + 1);
    }
    unlock(&h->locks[id]);
}

/* Link node id into every level up to its own. */
static bool insert(kn_hnsw *h, scratch *w, uint32_t id)
{
    int L = h->level[id];
    const void *q = row(h, id);
    lock(&h->top_lock);
    int top = h->max_level;
    uint32_t ep = h->entry;
    bool raises = L > top;
    if (!raises)
        unlock(&h->top_lock);
    ep = descend(h, w, q, ep, top, L);
    bool ok = true;
    for (int lc = L < top ? L : top; ok && lc >= 0; lc--) {
        ok = search_layer(h, w, q, ep, h->p.ef_construction, lc);
        if (!ok)
            break;
        size_t n = drain_sorted(w, w->tmp);
        ep = w->tmp[0].id;
        int m = select_neighbors(h, w->tmp, n, h->p.M, w->sel);
        lock(&h->locks[id]);
        uint32_t *nb = links(h, id, lc);
        nb[0] = (uint32_t)m;
        memcpy(nb + 1, w->sel, (size_t)m * sizeof *nb);
        unlock(&h->locks[id]);
        for (int i = 0; i < m; i++)
            add_link(h, w, w->sel[i], id, lc);
    }
    if (raises) {
        h->max_level = L;
        h->entry = id;
        unlock(&h->top_lock);
    }
    return ok;
}

static bool scratch_init(scratch *w, size_t n, const kn_hnsw_params *p, size_t row_bytes)
{
    size_t row0 = 1 + 2 * (size_t)p->M;
    w->query = mem_alloc(row_bytes);
    w->visited = mem_calloc(n ? n : 1, sizeof *w->visited);
    w->tmp = mem_calloc((size_t)p->ef_construction + row0 + 1, sizeof *w->tmp);
    w->sel = mem_calloc(row0, sizeof *w->sel);
    w->nb = mem_calloc(row0, sizeof *w->nb);
    w->fresh = mem_calloc(row0, sizeof *w->fresh);
    return w->visited && w->tmp && w->sel && w->nb && w->fresh && w->query;
}

static void scratch_free(scratch *w)
{
    mem_free(w->visited);
    mem_free(w->tmp);
    mem_free(w->sel);
    mem_free(w->nb);
    mem_free(w->fresh);
    mem_free(w->query);
    mem_free(w->cand.e);
    mem_free(w->res.e);
}

/* The shared state of a threaded build: node 0 is the first entry point, the others are
 * handed out one at a time so the threads stay evenly loaded. */
typedef struct build_job {
    kn_hnsw *h;
    scratch *w;          /* (threads) */
    atomic_size_t next;
    atomic_bool failed;
} build_job;

static void build_task(void *arg, int ith, int nth)
{
    (void)nth;
    build_job *b = arg;
    scratch *w = &b->w[ith];
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->h->n || atomic_load(&b->failed))
            return;
        if (!insert(b->h, w, (uint32_t)i))
            atomic_store(&b->failed, true);
    }
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Draw every node's level (mL = 1/ln M, as in the paper) and allocate its upper lists. */
static bool draw_levels(kn_hnsw *h)
{
    uint64_t rng = h->p.seed;
    double ml = 1.0 / log((double)h->p.M);
    for (size_t i = 0; i < h->n; i++) {
        double u = ((splitmix(&rng) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
        int L = (int)(-log(u) * ml);
        h->level[i] = (uint8_t)(L > MAX_LEVEL ? MAX_LEVEL : L);
        if (h->level[i] && !(h->up[i] = mem_calloc((size_t)h->level[i] * (1 + (size_t)h->p.M),
                                                   sizeof **h->up)))
            return false;
    }
    return true;
}

/* Insert all nodes, on a pool of the parameters' thread count (1: no pool at all). */
static bool insert_all(kn_hnsw *h)
{
    if (h->n == 0)
        return true;
    h->entry = 0;
    h->max_level = h->level[0];
    int nth = h->p.n_threads;
    tq_pool *pool = nth == 1 || h->n < 1000 ? NULL : tq_pool_new(nth);
    nth = pool ? tq_pool_size(pool) : 1;
    build_job b = { .h = h, .w = &h->s, .next = 1, .failed = false };
    if (nth > 1)
        b.w = mem_calloc((size_t)nth, sizeof *b.w);
    bool ok = b.w != NULL;
    for (int t = 1; ok && t < nth; t++)
        ok = scratch_init(&b.w[t], h->n, &h->p, h->row_bytes);
    if (ok) {
        if (nth > 1)
            b.w[0] = h->s;
        tq_pool_run(pool, build_task, &b);
        ok = !atomic_load(&b.failed);
        if (nth > 1)
            h->s = b.w[0];
    }
    for (int t = 1; b.w && t < nth; t++)
        scratch_free(&b.w[t]);
    if (nth > 1)
        mem_free(b.w);
    tq_pool_free(pool);
    return ok;
}

/* Quantize the vectors to Q8_0 where the dimension allows, else walk the floats. */
static bool choose_rows(kn_hnsw *h)
{
    const tq_kernels *k = tq_kernels_best();
    h->dot_f32 = k->vec_dot[TQ_F32];
    h->rows = (const char *)h->v;
    h->row_bytes = (size_t)h->dim * sizeof(float);
    h->dot = h->dot_f32;
    h->from_float = k->from_float[TQ_F32];
    if (h->dim % QK8_0 || !k->vec_dot[TQ_Q8_0] || !k->from_float[TQ_Q8_0])
        return true;
    h->row_bytes = tq_row_size(TQ_Q8_0, h->dim);
    h->q8 = mem_alloc(h->n ? h->n * h->row_bytes : 1);
    if (!h->q8)
        return false;
    for (size_t i = 0; i < h->n; i++)
        k->from_float[TQ_Q8_0](h->v + i * h->dim, (char *)h->q8 + i * h->row_bytes, h->dim);
    h->rows = h->q8;
    h->dot = k->vec_dot[TQ_Q8_0];
    h->from_float = k->from_float[TQ_Q8_0];
    return true;
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
    size_t row0 = 1 + 2 * (size_t)p->M;
    h->level = mem_calloc(n ? n : 1, 1);
    h->l0 = mem_calloc(n ? n * row0 : 1, sizeof *h->l0);
    h->up = mem_calloc(n ? n : 1, sizeof *h->up);
    h->locks = mem_calloc(n ? n : 1, sizeof *h->locks);
    bool ok = h->level && h->l0 && h->up && h->locks && choose_rows(h) &&
              scratch_init(&h->s, n, p, h->row_bytes) && draw_levels(h) && insert_all(h);
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
    mem_free((void *)h->locks);
    mem_free(h->q8);
    scratch_free(&h->s);
    mem_free(h);
}

size_t kn_hnsw_bytes(const kn_hnsw *h)
{
    size_t b = sizeof *h + h->n * (1 + sizeof *h->up + sizeof *h->locks +
                                   sizeof *h->s.visited) +
               h->n * (1 + 2 * (size_t)h->p.M) * sizeof *h->l0 +
               (h->q8 ? h->n * h->row_bytes : 0);
    for (size_t i = 0; i < h->n; i++)
        b += (size_t)h->level[i] * (1 + (size_t)h->p.M) * sizeof **h->up;
    return b;
}

/* Replace the quantized similarities in w->res by exact ones and restore the heap order. */
static void rescore(const kn_hnsw *h, scratch *w, const float *q)
{
    size_t n = w->res.n;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = w->res.e[i].id;
        h->dot_f32(h->dim, &w->res.e[i].key, h->v + (size_t)id * h->dim, q);
    }
    w->res.n = 0;
    for (size_t i = 0; i < n; i++)
        heap_push(&w->res, w->res.e[i].key, w->res.e[i].id);
}

int kn_hnsw_search(kn_hnsw *h, const float *q, int k, int ef, uint32_t *ids, float *sims)
{
    if (h->n == 0 || k <= 0)
        return 0;
    if (ef <= 0)
        ef = h->p.ef_search;
    if (ef < k)
        ef = k;
    scratch *w = &h->s;
    h->from_float(q, w->query, h->dim);
    uint32_t ep = descend(h, w, w->query, h->entry, h->max_level, 0);
    if (!search_layer(h, w, w->query, ep, ef, 0))
        return 0;
    if (h->q8)
        rescore(h, w, q);
    while (w->res.n > (size_t)k)
        heap_pop(&w->res);
    int n = (int)w->res.n;
    for (int i = n; i > 0; i--) {
        hitem it = heap_pop(&w->res);
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
