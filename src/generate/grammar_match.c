/*
 * grammar_match.c — running a grammar over text and tokens (see grammar.h).
 *
 * Matching is a pushdown automaton run on all alternatives at once. A stack is a chain of
 * nodes (pos, parent): pos is the next element to match, the parents are return
 * positions. Nodes are hash-consed in a scratch arena, so equal stacks are one node and a
 * set of stacks is a small array of node indices with duplicates removed by identity.
 * Closure expands references until every stack's top is a character class; a reference
 * that is the last element of its alternative does not push a return position (a tail
 * call), so right-recursive repetition runs in constant stack depth. Between calls the
 * matcher keeps its stacks flattened (bottom-to-top positions), which also serves as the
 * key of the mask cache.
 *
 * Limits (hostile grammars, runaway ambiguity): stacks deeper than MAX_DEPTH, sets larger
 * than MAX_STACKS and closures longer than MAX_STEPS are cut. Cutting only removes
 * possibilities, so nothing outside the language is ever allowed.
 */
#include "generate/grammar_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

#define MAX_DEPTH 2048   /* stack nodes */
#define MAX_STACKS 512   /* stacks in one set */
#define MAX_STEPS 100000 /* closure steps for one character */
#define MAX_PIECE 512    /* longer token pieces are never allowed */
#define N_CACHE 32

/* ---- character classes ------------------------------------------------------------------ */

static bool class_has(const grm_grammar *g, int c, uint32_t cp)
{
    const cclass *k = &g->cl[c];
    const range *r = k->n ? g->rg + k->off : NULL; /* "." has no ranges (and rg may be NULL) */
    int lo = 0, hi = k->n - 1;
    bool in = false;
    while (lo <= hi && !in) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid - 1;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            in = true;
    }
    return in != k->neg;
}

/* Does class c hold any code point in [lo, hi]? Exact: ranges are sorted and merged. */
static bool class_meets(const grm_grammar *g, int c, uint32_t lo, uint32_t hi)
{
    const cclass *k = &g->cl[c];
    const range *r = k->n ? g->rg + k->off : NULL; /* "." has no ranges (and rg may be NULL) */
    for (int i = 0; i < k->n; i++) {
        if (!k->neg && r[i].lo <= hi && r[i].hi >= lo)
            return true;
        if (k->neg && r[i].lo <= lo && r[i].hi >= hi)
            return false;
    }
    return k->neg;
}

/* The code points an unfinished UTF-8 sequence u[0..n) can still become (utf8_decode said
 * "incomplete"): a contiguous range, since the second byte's limits are the only gaps. */
static void partial_range(const unsigned char *u, int n, uint32_t *lo, uint32_t *hi)
{
    int len = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : 2;
    unsigned char b1lo = u[0] == 0xE0 ? 0xA0 : u[0] == 0xF0 ? 0x90 : 0x80;
    unsigned char b1hi = u[0] == 0xED ? 0x9F : u[0] == 0xF4 ? 0x8F : 0xBF;
    uint32_t a = u[0] & (0x7F >> len), b = a;
    for (int i = 1; i < len; i++) {
        unsigned char x = i < n ? u[i] : i == 1 ? b1lo : 0x80;
        unsigned char y = i < n ? u[i] : i == 1 ? b1hi : 0xBF;
        a = (a << 6) | (x & 0x3F);
        b = (b << 6) | (y & 0x3F);
    }
    *lo = a;
    *hi = b;
}

/* ---- stacks ----------------------------------------------------------------------------- */

typedef struct node {
    int32_t pos, parent, depth;
} node;

#define NO_NODE (-2) /* intern failed: too deep or out of memory */

typedef struct scratch {
    node *nd;
    int n_nd, cap_nd;
    int32_t *slot;   /* hash table of node indices */
    uint32_t *stamp; /* a slot is in use when its stamp is the current one */
    uint32_t cur;
    int n_slot;
    int32_t *work;   /* closure worklist: (pos, parent) pairs */
    int n_work, cap_work;
    int32_t *set;    /* sets of stack tops, one after another */
    int n_set, cap_set;
    bool oom;
} scratch;

typedef struct centry {
    uint64_t hash, used;
    int32_t *key;
    int n_key, cap_key;
    uint64_t *bits; /* allowed tokens */
} centry;

typedef struct frame {
    int32_t child;       /* the next trie child to visit */
    int32_t set;         /* the set of stacks here (an index into the walk's set records) */
    unsigned char part[4];
    int np;
} frame;

/* A hash map from 64-bit keys to int32 values, emptied in O(1) by bumping a stamp. */
typedef struct map64 {
    uint64_t *key;
    int32_t *val;
    uint32_t *stamp;
    uint32_t cur;
    int cap, n;
} map64;

typedef struct setrec {
    int32_t off, n; /* in sc->set */
} setrec;

/* What one mask computation remembers: every distinct set of stacks met in the walk, and
 * for each (set, character) the set it advances to. Walking a 150k-token trie meets each
 * pair thousands of times (inside a JSON string, every character of every token maps the
 * set to itself), so the closure runs once per pair instead of once per trie node. */
typedef struct walk_memo {
    setrec *rec;
    int n_rec, cap_rec;
    map64 sets; /* hash of a set's contents -> record */
    map64 step; /* (record, code point) -> (record + 1) * 2 + accepting; record -1: empty */
} walk_memo;

static void map_free(map64 *m);

struct grm_matcher {
    const grm_grammar *g;
    const grm_vocab *gv;
    /* the state: [accepting, n partial bytes, partial bytes packed, n stacks,
     * then per stack its depth and positions bottom to top] */
    int32_t *key, *key2;
    int n_key, cap_key, cap_key2;
    bool done; /* an end-of-generation token was accepted */
    scratch sc;
    centry cache[N_CACHE];
    uint64_t tick;
    frame *fr; /* (max piece + 1) */
    walk_memo memo;
};

struct grm_vocab {
    const tok_vocab *v;
    int n_vocab, n_nodes, max_len;
    int32_t *first, *next, *head; /* trie: first child, next sibling, first token */
    unsigned char *byte;
    int32_t *tok_next;            /* (n_vocab) next token with the same bytes */
    tok_id *eog;
    int n_eog;
};

static void scratch_reset(scratch *sc)
{
    sc->n_nd = sc->n_work = sc->n_set = 0;
    if (++sc->cur == 0) {
        memset(sc->stamp, 0, (size_t)sc->n_slot * sizeof *sc->stamp);
        sc->cur = 1;
    }
}

static uint32_t hash2(int32_t a, int32_t b)
{
    uint64_t h = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32);
}

static bool rehash(scratch *sc)
{
    int n = sc->n_slot ? sc->n_slot * 2 : 4096;
    int32_t *slot = mem_calloc((size_t)n, sizeof *slot);
    uint32_t *stamp = mem_calloc((size_t)n, sizeof *stamp);
    if (!slot || !stamp) {
        mem_free(slot);
        mem_free(stamp);
        return false;
    }
    mem_free(sc->slot);
    mem_free(sc->stamp);
    sc->slot = slot;
    sc->stamp = stamp;
    sc->n_slot = n;
    sc->cur = 1;
    for (int i = 0; i < sc->n_nd; i++) {
        uint32_t h = hash2(sc->nd[i].pos, sc->nd[i].parent) & (uint32_t)(n - 1);
        while (stamp[h] == 1)
            h = (h + 1) & (uint32_t)(n - 1);
        stamp[h] = 1;
        slot[h] = i;
    }
    return true;
}

/* The one node (pos, parent); NO_NODE when too deep or out of memory. */
static int32_t intern(scratch *sc, int32_t pos, int32_t parent)
{
    if ((sc->n_nd + 1) * 2 > sc->n_slot && !rehash(sc)) {
        sc->oom = true;
        return NO_NODE;
    }
    uint32_t mask = (uint32_t)sc->n_slot - 1, h = hash2(pos, parent) & mask;
    for (; sc->stamp[h] == sc->cur; h = (h + 1) & mask) {
        const node *x = &sc->nd[sc->slot[h]];
        if (x->pos == pos && x->parent == parent)
            return sc->slot[h];
    }
    int depth = parent < 0 ? 1 : sc->nd[parent].depth + 1;
    if (depth > MAX_DEPTH)
        return NO_NODE;
    if (!grm_grow(&sc->nd, &sc->cap_nd, sc->n_nd + 1, sizeof *sc->nd)) {
        sc->oom = true;
        return NO_NODE;
    }
    sc->nd[sc->n_nd] = (node){ pos, parent, depth };
    sc->stamp[h] = sc->cur;
    sc->slot[h] = sc->n_nd;
    return sc->n_nd++;
}

static void push_work(scratch *sc, int32_t pos, int32_t parent)
{
    if (!grm_grow(&sc->work, &sc->cap_work, sc->n_work + 2, sizeof *sc->work)) {
        sc->oom = true;
        return;
    }
    sc->work[sc->n_work++] = pos;
    sc->work[sc->n_work++] = parent;
}

static void add_top(scratch *sc, int base, int32_t t)
{
    for (int i = base; i < sc->n_set; i++)
        if (sc->set[i] == t)
            return;
    if (sc->n_set - base >= MAX_STACKS)
        return;
    if (!grm_grow(&sc->set, &sc->cap_set, sc->n_set + 1, sizeof *sc->set)) {
        sc->oom = true;
        return;
    }
    sc->set[sc->n_set++] = t;
}

/* Expand the stack (pos, parent) until every top is a character class; add the tops to the
 * set starting at sc->set[base]. *acc is set when a stack empties (the text may end). */
static void closure(grm_matcher *m, int32_t pos, int32_t parent, int base, bool *acc)
{
    scratch *sc = &m->sc;
    const grm_grammar *g = m->g;
    sc->n_work = 0;
    push_work(sc, pos, parent);
    for (int steps = 0; sc->n_work > 0 && steps < MAX_STEPS; steps++) {
        parent = sc->work[--sc->n_work];
        pos = sc->work[--sc->n_work];
        const elem *e = &g->el[pos];
        if (e->type == E_CLASS) {
            int32_t t = intern(sc, pos, parent);
            if (t >= 0)
                add_top(sc, base, t);
        } else if (e->type != E_REF) { /* the alternative is complete: return */
            if (parent < 0)
                *acc = true;
            else
                push_work(sc, sc->nd[parent].pos, sc->nd[parent].parent);
        } else {
            int32_t ret = parent;
            if (g->el[pos + 1].type >= E_REF && (ret = intern(sc, pos + 1, parent)) == NO_NODE)
                continue;
            for (int a = g->alt_off[e->arg]; a < g->alt_off[e->arg + 1]; a++)
                push_work(sc, g->alt_pos[a], ret);
        }
    }
}

/* Advance the set sc->set[from..from+n) by code point cp; the new set is appended to
 * sc->set. Returns its size. */
static int advance(grm_matcher *m, int from, int n, uint32_t cp, bool *acc)
{
    scratch *sc = &m->sc;
    int base = sc->n_set;
    *acc = false;
    for (int i = 0; i < n; i++) {
        node x = sc->nd[sc->set[from + i]];
        if (class_has(m->g, m->g->el[x.pos].arg, cp))
            closure(m, x.pos + 1, x.parent, base, acc);
    }
    return sc->n_set - base;
}

/* Can the set still match a character that starts with the bytes u[0..n)? */
static bool set_meets_partial(grm_matcher *m, int from, int n, const unsigned char *u, int nu)
{
    uint32_t lo, hi;
    partial_range(u, nu, &lo, &hi);
    for (int i = 0; i < n; i++)
        if (class_meets(m->g, m->g->el[m->sc.nd[m->sc.set[from + i]].pos].arg, lo, hi))
            return true;
    return false;
}

/* ---- the matcher's state ------------------------------------------------------------------ */

/* Rebuild the stacks of m->key in the scratch arena: the set at sc->set[0..n). */
static int load_state(grm_matcher *m)
{
    scratch *sc = &m->sc;
    scratch_reset(sc);
    int k = 4;
    for (int s = 0; s < m->key[3]; s++) {
        int len = m->key[k++];
        int32_t t = -1;
        for (int i = 0; i < len && t != NO_NODE; i++)
            t = intern(sc, m->key[k + i], t);
        k += len;
        if (t >= 0)
            add_top(sc, 0, t);
    }
    return sc->n_set;
}

/* Compare two stacks, top down (any fixed order will do: it makes the key canonical). */
static int stack_cmp(const scratch *sc, int32_t a, int32_t b)
{
    if (sc->nd[a].depth != sc->nd[b].depth)
        return sc->nd[a].depth < sc->nd[b].depth ? -1 : 1;
    for (; a != b; a = sc->nd[a].parent, b = sc->nd[b].parent)
        if (sc->nd[a].pos != sc->nd[b].pos)
            return sc->nd[a].pos < sc->nd[b].pos ? -1 : 1;
    return 0;
}

/* Make the set sc->set[from..from+n) (with acc and partial bytes) the matcher's state. */
static bool store_state(grm_matcher *m, int from, int n, bool acc, const unsigned char *part,
                        int np)
{
    scratch *sc = &m->sc;
    int32_t *s = n ? sc->set + from : NULL;
    for (int i = 1; i < n; i++) /* insertion sort: sets are small */
        for (int j = i; j > 0 && stack_cmp(sc, s[j - 1], s[j]) > 0; j--) {
            int32_t t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    int need = 4;
    for (int i = 0; i < n; i++)
        need += 1 + sc->nd[s[i]].depth;
    if (!grm_grow(&m->key2, &m->cap_key2, need, sizeof *m->key2))
        return false;
    int32_t *k = m->key2;
    k[0] = acc;
    k[1] = np;
    k[2] = (np > 0 ? part[0] : 0) | (np > 1 ? part[1] << 8 : 0) | (np > 2 ? part[2] << 16 : 0);
    k[3] = n;
    int at = 4;
    for (int i = 0; i < n; i++) {
        int d = sc->nd[s[i]].depth;
        k[at] = d;
        for (int32_t t = s[i], j = d; t >= 0; t = sc->nd[t].parent)
            k[at + j--] = sc->nd[t].pos;
        at += d + 1;
    }
    int32_t *t = m->key;
    m->key = m->key2;
    m->key2 = t;
    int c = m->cap_key;
    m->cap_key = m->cap_key2;
    m->cap_key2 = c;
    m->n_key = at;
    return true;
}

static int state_partial(const grm_matcher *m, unsigned char part[4])
{
    for (int i = 0; i < 3; i++)
        part[i] = (unsigned char)(m->key[2] >> (8 * i));
    return m->key[1];
}

/* Run bytes from the stored state. On success the resulting set is sc->set[0..*n),
 * with its accepting flag and partial character. */
static bool run_bytes(grm_matcher *m, const unsigned char *b, size_t len, int *n, bool *acc,
                      unsigned char part[4], int *np)
{
    scratch *sc = &m->sc;
    *n = load_state(m);
    *acc = m->key[0];
    *np = state_partial(m, part);
    for (size_t i = 0; i < len; i++) {
        part[(*np)++] = b[i];
        uint32_t cp;
        int r = utf8_decode((const char *)part, (size_t)*np, &cp);
        if (r == UTF8_INVALID)
            return false;
        if (r == UTF8_INCOMPLETE)
            continue;
        *np = 0;
        int got = advance(m, 0, *n, cp, acc);
        if (got)
            memmove(sc->set, sc->set + *n, (size_t)got * sizeof *sc->set);
        sc->n_set = *n = got;
        if (!got && !(*acc && i + 1 == len))
            return false;
    }
    if (*np > 0) {
        *acc = false;
        return set_meets_partial(m, 0, *n, part, *np);
    }
    return true;
}

static void initial_state(grm_matcher *m)
{
    const grm_grammar *g = m->g;
    scratch_reset(&m->sc);
    bool acc = false;
    for (int a = g->alt_off[g->root]; a < g->alt_off[g->root + 1]; a++)
        closure(m, g->alt_pos[a], -1, 0, &acc);
    m->done = false;
    if (!store_state(m, 0, m->sc.n_set, acc, NULL, 0))
        m->sc.oom = true;
}

hearth_status grm_matcher_new(grm_matcher **out, const grm_grammar *g, const grm_vocab *gv,
                              hearth_error *err)
{
    *out = NULL;
    grm_matcher *m = mem_calloc(1, sizeof *m);
    if (m) {
        m->g = g;
        m->gv = gv;
        if (gv)
            m->fr = mem_calloc((size_t)gv->max_len + 2, sizeof *m->fr);
        if (!gv || m->fr)
            initial_state(m);
    }
    if (!m || (gv && !m->fr) || m->sc.oom) {
        grm_matcher_free(m);
        return err_set(err, HEARTH_ERR_NOMEM, "grammar: out of memory");
    }
    *out = m;
    return HEARTH_OK;
}

void grm_matcher_free(grm_matcher *m)
{
    if (!m)
        return;
    mem_free(m->key);
    mem_free(m->key2);
    mem_free(m->sc.nd);
    mem_free(m->sc.slot);
    mem_free(m->sc.stamp);
    mem_free(m->sc.work);
    mem_free(m->sc.set);
    for (int i = 0; i < N_CACHE; i++) {
        mem_free(m->cache[i].key);
        mem_free(m->cache[i].bits);
    }
    mem_free(m->fr);
    mem_free(m->memo.rec);
    map_free(&m->memo.sets);
    map_free(&m->memo.step);
    mem_free(m);
}

void grm_matcher_reset(grm_matcher *m)
{
    initial_state(m);
}

bool grm_accepting(const grm_matcher *m)
{
    return m->done || (m->key[0] && m->key[1] == 0);
}

bool grm_finished(const grm_matcher *m)
{
    return m->done || (m->key[0] && m->key[1] == 0 && m->key[3] == 0);
}

hearth_status grm_accept_bytes(grm_matcher *m, const char *bytes, size_t len, hearth_error *err)
{
    int n, np;
    bool acc;
    unsigned char part[4];
    m->sc.oom = false;
    if (m->done || !run_bytes(m, (const unsigned char *)bytes, len, &n, &acc, part, &np))
        return err_set(err, m->sc.oom ? HEARTH_ERR_NOMEM : HEARTH_ERR_INVALID, m->sc.oom ?
                       "grammar: out of memory" : "grammar: the text leaves the grammar");
    if (!store_state(m, 0, n, acc, part, np))
        return err_set(err, HEARTH_ERR_NOMEM, "grammar: out of memory");
    return HEARTH_OK;
}

static bool is_eog(const grm_vocab *gv, tok_id id)
{
    for (int i = 0; i < gv->n_eog; i++)
        if (gv->eog[i] == id)
            return true;
    return false;
}

/* The bytes of a token that may appear in grammar-constrained text, or NULL. */
static const char *token_bytes(const grm_vocab *gv, tok_id id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= gv->n_vocab || (size_t)id >= tok_n_tokens(gv->v) || is_eog(gv, id))
        return NULL;
    const char *s = tok_piece(gv->v, id, false, len);
    return s && *len > 0 && *len <= MAX_PIECE ? s : NULL;
}

bool grm_allows(grm_matcher *m, tok_id id)
{
    if (m->done || !m->gv)
        return false;
    if (is_eog(m->gv, id))
        return grm_accepting(m);
    size_t len;
    const char *s = token_bytes(m->gv, id, &len);
    int n, np;
    bool acc;
    unsigned char part[4];
    return s && run_bytes(m, (const unsigned char *)s, len, &n, &acc, part, &np);
}

hearth_status grm_accept(grm_matcher *m, tok_id id, hearth_error *err)
{
    if (!m->gv)
        return err_set(err, HEARTH_ERR_INVALID, "grammar: no vocabulary to accept tokens from");
    if (!m->done && is_eog(m->gv, id) && grm_accepting(m)) {
        m->done = true;
        return HEARTH_OK;
    }
    size_t len;
    const char *s = token_bytes(m->gv, id, &len);
    if (!s)
        return err_set(err, HEARTH_ERR_INVALID, "grammar: token %d cannot come next", id);
    return grm_accept_bytes(m, s, len, err);
}

/* ---- the mask ------------------------------------------------------------------------------ */

static void map_clear(map64 *m)
{
    m->n = 0;
    if (++m->cur == 0) {
        memset(m->stamp, 0, (size_t)m->cap * sizeof *m->stamp);
        m->cur = 1;
    }
}

static uint32_t map_slot(const map64 *m, uint64_t key)
{
    uint32_t mask = (uint32_t)m->cap - 1, h = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
    while (m->stamp[h] == m->cur && m->key[h] != key)
        h = (h + 1) & mask;
    return h;
}

static const int32_t *map_get(const map64 *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    uint32_t h = map_slot(m, key);
    return m->stamp[h] == m->cur ? &m->val[h] : NULL;
}

static bool map_put(map64 *m, uint64_t key, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        map64 big = { .cap = m->cap ? m->cap * 2 : 1024, .cur = 1 };
        big.key = mem_calloc((size_t)big.cap, sizeof *big.key);
        big.val = mem_calloc((size_t)big.cap, sizeof *big.val);
        big.stamp = mem_calloc((size_t)big.cap, sizeof *big.stamp);
        if (!big.key || !big.val || !big.stamp) {
            mem_free(big.key);
            mem_free(big.val);
            mem_free(big.stamp);
            return false;
        }
        for (int i = 0; i < m->cap; i++)
            if (m->stamp[i] == m->cur) {
                uint32_t h = map_slot(&big, m->key[i]);
                big.stamp[h] = 1;
                big.key[h] = m->key[i];
                big.val[h] = m->val[i];
                big.n++;
            }
        mem_free(m->key);
        mem_free(m->val);
        mem_free(m->stamp);
        *m = big;
    }
    uint32_t h = map_slot(m, key);
    if (m->stamp[h] != m->cur)
        m->n++;
    m->stamp[h] = m->cur;
    m->key[h] = key;
    m->val[h] = val;
    return true;
}

static void map_free(map64 *m)
{
    mem_free(m->key);
    mem_free(m->val);
    mem_free(m->stamp);
}

/* The record of the set just appended at sc->set[off..off+n): an existing equal one (the
 * copy is dropped) or a new one. -1 when out of memory. */
static int32_t memo_set(grm_matcher *m, int off, int n)
{
    walk_memo *w = &m->memo;
    scratch *sc = &m->sc;
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint32_t)sc->set[off + i]) * 0x100000001b3ull;
    const int32_t *hit = map_get(&w->sets, h);
    if (hit && w->rec[*hit].n == n &&
        !memcmp(sc->set + w->rec[*hit].off, sc->set + off, (size_t)n * sizeof *sc->set)) {
        sc->n_set = off;
        return *hit;
    }
    if (!grm_grow(&w->rec, &w->cap_rec, w->n_rec + 1, sizeof *w->rec))
        return -1;
    w->rec[w->n_rec] = (setrec){ off, n };
    if (!hit && !map_put(&w->sets, h, w->n_rec)) /* a colliding set just stays unshared */
        return -1;
    return w->n_rec++;
}

/* The set that set record r advances to by cp: its record (-1: none) and accepting flag.
 * Returns false when out of memory. */
static bool memo_step(grm_matcher *m, int32_t r, uint32_t cp, int32_t *to, bool *acc)
{
    walk_memo *w = &m->memo;
    uint64_t key = (uint64_t)(uint32_t)r << 32 | cp;
    const int32_t *hit = map_get(&w->step, key);
    if (hit) {
        *to = (*hit >> 1) - 1;
        *acc = *hit & 1;
        return true;
    }
    int off = m->sc.n_set;
    int n = advance(m, w->rec[r].off, w->rec[r].n, cp, acc);
    *to = n ? memo_set(m, off, n) : -1;
    if (n && *to < 0)
        return false;
    return map_put(&w->step, key, (*to + 1) * 2 + *acc);
}

/* Walk the vocabulary trie from the current state, setting the bit of every token whose
 * bytes keep the text inside the language. False when out of memory. */
static bool compute_mask(grm_matcher *m, uint64_t *bits)
{
    const grm_vocab *gv = m->gv;
    walk_memo *w = &m->memo;
    memset(bits, 0, ((size_t)gv->n_vocab + 63) / 64 * sizeof *bits);
    if (grm_accepting(m))
        for (int i = 0; i < gv->n_eog; i++)
            bits[gv->eog[i] >> 6] |= 1ull << (gv->eog[i] & 63);
    w->n_rec = 0;
    map_clear(&w->sets);
    map_clear(&w->step);
    frame *fr = m->fr;
    fr[0] = (frame){ .child = gv->first[0] };
    int n0 = load_state(m);
    if (!n0)
        return true; /* complete: nothing but an end token may follow */
    if ((fr[0].set = memo_set(m, 0, n0)) < 0)
        return false;
    fr[0].np = state_partial(m, fr[0].part);
    for (int d = 0; d >= 0;) {
        frame *f = &fr[d];
        int32_t c = f->child;
        if (c < 0) {
            d--;
            continue;
        }
        f->child = gv->next[c];
        frame *nf = &fr[d + 1];
        memcpy(nf->part, f->part, 4);
        nf->part[f->np] = gv->byte[c];
        nf->np = f->np + 1;
        uint32_t cp;
        int r = utf8_decode((const char *)nf->part, (size_t)nf->np, &cp);
        bool acc = false;
        if (r == UTF8_INVALID)
            continue;
        if (r == UTF8_INCOMPLETE) {
            if (!set_meets_partial(m, w->rec[f->set].off, w->rec[f->set].n, nf->part, nf->np))
                continue;
            nf->set = f->set;
        } else {
            nf->np = 0;
            if (!memo_step(m, f->set, cp, &nf->set, &acc))
                return false;
            if (nf->set < 0 && !acc)
                continue;
        }
        for (int32_t t = gv->head[c]; t >= 0; t = gv->tok_next[t])
            bits[t >> 6] |= 1ull << (t & 63);
        if (nf->set >= 0 && gv->first[c] >= 0) {
            nf->child = gv->first[c];
            d++;
        }
    }
    return true;
}

static uint64_t key_hash(const int32_t *k, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint32_t)k[i]) * 0x100000001b3ull;
    return h;
}

/* The cache entry holding the current state's bits, or NULL. *victim: the entry to reuse. */
static centry *cache_find(grm_matcher *m, uint64_t h, centry **victim)
{
    *victim = &m->cache[0];
    for (int i = 0; i < N_CACHE; i++) {
        centry *e = &m->cache[i];
        if (e->bits && e->hash == h && e->n_key == m->n_key &&
            !memcmp(e->key, m->key, (size_t)m->n_key * sizeof *m->key))
            return e;
        if (e->used < (*victim)->used)
            *victim = e;
    }
    return NULL;
}

/* The allowed-token bits for the current state, from the cache or computed. */
static const uint64_t *mask_bits(grm_matcher *m, bool compute)
{
    uint64_t h = key_hash(m->key, m->n_key);
    centry *victim, *hit = cache_find(m, h, &victim);
    m->tick++;
    if (hit) {
        hit->used = m->tick;
        return hit->bits;
    }
    if (!compute)
        return NULL;
    size_t words = ((size_t)m->gv->n_vocab + 63) / 64;
    if (!victim->bits && !(victim->bits = mem_calloc(words, sizeof *victim->bits)))
        return NULL;
    if (!grm_grow(&victim->key, &victim->cap_key, m->n_key, sizeof *victim->key) ||
        !compute_mask(m, victim->bits)) {
        victim->n_key = -1;
        return NULL;
    }
    memcpy(victim->key, m->key, (size_t)m->n_key * sizeof *m->key);
    victim->n_key = m->n_key;
    victim->hash = h;
    victim->used = m->tick;
    return victim->bits;
}

/* logits[i] = -INFINITY where bit i is clear; false if no bit is set. */
static bool apply_bits(const uint64_t *bits, int n, float *logits)
{
    uint64_t any = 0;
    for (int w = 0; w * 64 < n; w++) {
        uint64_t b = bits[w];
        any |= b;
        if (b == 0 && w * 64 + 64 <= n) {
            for (int i = 0; i < 64; i++)
                logits[w * 64 + i] = -INFINITY;
            continue;
        }
        if (w * 64 + 64 > n) /* the last word: bits past the vocabulary do not exist */
            b |= ~0ull << (n - w * 64);
        for (uint64_t z = ~b; z; z &= z - 1)
            logits[w * 64 + __builtin_ctzll(z)] = -INFINITY;
    }
    return any != 0;
}

hearth_status grm_mask(grm_matcher *m, float *logits, hearth_error *err)
{
    if (!m->gv || m->done)
        return err_set(err, HEARTH_ERR_INVALID, "grammar: %s", m->done ?
                       "the grammar is already complete" : "no vocabulary to mask");
    m->sc.oom = false;
    const uint64_t *bits = mask_bits(m, true);
    if (!bits || m->sc.oom)
        return err_set(err, HEARTH_ERR_NOMEM, "grammar: out of memory");
    if (!apply_bits(bits, m->gv->n_vocab, logits))
        return err_set(err, HEARTH_ERR_INVALID, "grammar: no token of the vocabulary can "
                       "continue the text");
    return HEARTH_OK;
}

bool grm_mask_cached(grm_matcher *m, float *logits)
{
    if (!m->gv || m->done)
        return false;
    const uint64_t *bits = mask_bits(m, false);
    return bits && apply_bits(bits, m->gv->n_vocab, logits);
}

/* ---- the vocabulary trie --------------------------------------------------------------------- */

typedef struct piece {
    const unsigned char *s;
    int32_t len, id;
} piece;

static int piece_cmp(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len, c = memcmp(x->s, y->s, (size_t)n);
    if (c)
        return c;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : (x->id > y->id) - (x->id < y->id);
}

/* Insert the sorted pieces: each one shares a prefix with the one before, so its new
 * nodes always go after the existing children (children stay in byte order). */
static void build_trie(grm_vocab *gv, const piece *p, int n, int32_t *path, int32_t *last)
{
    gv->n_nodes = 1;
    gv->first[0] = gv->next[0] = gv->head[0] = last[0] = -1;
    int prev_len = 0;
    for (int i = 0; i < n; i++) {
        int common = 0;
        if (i > 0)
            while (common < prev_len && common < p[i].len && p[i - 1].s[common] == p[i].s[common])
                common++;
        path[0] = 0;
        for (int k = common; k < p[i].len; k++) {
            int32_t parent = path[k], c = gv->n_nodes++;
            gv->first[c] = gv->next[c] = gv->head[c] = last[c] = -1;
            gv->byte[c] = p[i].s[k];
            if (last[parent] < 0)
                gv->first[parent] = c;
            else
                gv->next[last[parent]] = c;
            last[parent] = c;
            path[k + 1] = c;
        }
        int32_t leaf = path[p[i].len];
        gv->tok_next[p[i].id] = gv->head[leaf];
        gv->head[leaf] = p[i].id;
        prev_len = p[i].len;
    }
}

hearth_status grm_vocab_new(grm_vocab **out, const tok_vocab *v, int n_vocab, hearth_error *err)
{
    *out = NULL;
    if (n_vocab <= 0)
        return err_set(err, HEARTH_ERR_INVALID, "grammar: vocabulary size %d", n_vocab);
    grm_vocab *gv = mem_calloc(1, sizeof *gv);
    piece *p = mem_calloc((size_t)n_vocab, sizeof *p);
    int32_t *path = mem_calloc(MAX_PIECE + 1, sizeof *path);
    if (!gv || !p || !path)
        goto nomem;
    gv->v = v;
    gv->n_vocab = n_vocab;
    gv->tok_next = mem_calloc((size_t)n_vocab, sizeof *gv->tok_next);
    gv->eog = mem_calloc((size_t)n_vocab, sizeof *gv->eog);
    if (!gv->tok_next || !gv->eog)
        goto nomem;
    int n = 0;
    size_t total = 1;
    for (tok_id id = 0; id < n_vocab && (size_t)id < tok_n_tokens(v); id++) {
        if (tok_is_eog(v, id)) {
            gv->eog[gv->n_eog++] = id;
            continue;
        }
        size_t len;
        const char *s = token_bytes(gv, id, &len);
        if (!s)
            continue;
        p[n++] = (piece){ (const unsigned char *)s, (int32_t)len, id };
        total += len;
        if ((int)len > gv->max_len)
            gv->max_len = (int)len;
    }
    qsort(p, (size_t)n, sizeof *p, piece_cmp);
    gv->first = mem_calloc(total, sizeof *gv->first);
    gv->next = mem_calloc(total, sizeof *gv->next);
    gv->head = mem_calloc(total, sizeof *gv->head);
    gv->byte = mem_calloc(total, 1);
    int32_t *last = mem_calloc(total, sizeof *last);
    if (!gv->first || !gv->next || !gv->head || !gv->byte || !last) {
        mem_free(last);
        goto nomem;
    }
    build_trie(gv, p, n, path, last);
    mem_free(last);
    mem_free(p);
    mem_free(path);
    *out = gv;
    return HEARTH_OK;
nomem:
    mem_free(p);
    mem_free(path);
    grm_vocab_free(gv);
    return err_set(err, HEARTH_ERR_NOMEM, "grammar: out of memory for the token trie");
}

void grm_vocab_free(grm_vocab *gv)
{
    if (!gv)
        return;
    mem_free(gv->first);
    mem_free(gv->next);
    mem_free(gv->head);
    mem_free(gv->byte);
    mem_free(gv->tok_next);
    mem_free(gv->eog);
    mem_free(gv);
}
