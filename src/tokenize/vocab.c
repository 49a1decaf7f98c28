/*
 * vocab.c — loading a tokenizer from GGUF metadata (tok_load) and the small shared
 * pieces of the tokenizers: the interned-string and merge hash tables, growable arrays
 * and the candidate-merge heap.
 *
 * Keys read (all under tokenizer.ggml.): model, pre, tokens (required), scores,
 * token_type, merges (required for gpt2), bos/eos/eot/eom/unknown/seperator/padding/cls/
 * mask _token_id, add_bos_token, add_eos_token, add_sep_token, add_space_prefix, and
 * tokenizer.ggml.normalizer.lowercase / strip_accents for WordPiece. Defaults for absent
 * keys follow llama.cpp, with one deliberate difference: a BPE vocabulary without
 * bos/eos ids gets none (llama.cpp assumes id 11, which in most BPE vocabularies is an
 * ordinary word piece and would end generation).
 *
 * Everything is validated: metadata comes from a file a stranger may have written.
 */
#include "tokenize/vocab.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

#define KEY(k) "tokenizer.ggml." k

/* ---- growable arrays ---------------------------------------------------------------- */

hearth_status tok_ids_push(tok_ids *ids, tok_id id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        tok_id *p = mem_realloc_array(ids->v, cap, sizeof *p);
        if (!p)
            return HEARTH_ERR_NOMEM;
        ids->v = p;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return HEARTH_OK;
}

void tok_ids_free(tok_ids *ids)
{
    if (!ids)
        return;
    mem_free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

hearth_status tok_str_append(tok_str *s, const char *bytes, size_t n)
{
    if (s->cap - s->n <= n) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap - s->n <= n) {
            if (cap > SIZE_MAX / 2)
                return HEARTH_ERR_NOMEM;
            cap *= 2;
        }
        char *p = mem_realloc(s->s, cap);
        if (!p)
            return HEARTH_ERR_NOMEM;
        s->s = p;
        s->cap = cap;
    }
    if (n)
        memcpy(s->s + s->n, bytes, n);
    s->n += n;
    s->s[s->n] = '\0';
    return HEARTH_OK;
}

void tok_str_free(tok_str *s)
{
    if (!s)
        return;
    mem_free(s->s);
    s->s = NULL;
    s->n = s->cap = 0;
}

/* ---- candidate heap ----------------------------------------------------------------- */

static bool cand_before(const struct tok_cand *x, const struct tok_cand *y)
{
    return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}

hearth_status tok_heap_push(struct tok_heap *h, struct tok_cand c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct tok_cand *p = mem_realloc_array(h->e, cap, sizeof *p);
        if (!p)
            return HEARTH_ERR_NOMEM;
        h->e = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_before(&c, &h->e[parent]))
            break;
        h->e[i] = h->e[parent];
        i = parent;
    }
    h->e[i] = c;
    return HEARTH_OK;
}

struct tok_cand tok_heap_pop(struct tok_heap *h)
{
    struct tok_cand top = h->e[0];
    struct tok_cand last = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t kid = 2 * i + 1;
        if (kid >= h->n)
            break;
        if (kid + 1 < h->n && cand_before(&h->e[kid + 1], &h->e[kid]))
            kid++;
        if (!cand_before(&h->e[kid], &last))
            break;
        h->e[i] = h->e[kid];
        i = kid;
    }
    if (h->n > 0)
        h->e[i] = last;
    return top;
}

void tok_heap_free(struct tok_heap *h)
{
    mem_free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}

/* ---- interned strings --------------------------------------------------------------- */

/* FNV-1a with a final mix (FNV's low bits are weak and the table index uses them). */
static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

int32_t tok_sym_find(const tok_vocab *v, const char *s, size_t len)
{
    uint32_t h = hash_bytes(s, len);
    for (size_t i = h & v->slot_mask;; i = (i + 1) & v->slot_mask) {
        uint64_t e = v->slots[i];
        if (!e)
            return -1;
        uint32_t id = (uint32_t)e - 1;
        if ((uint32_t)(e >> 32) == h && v->str_len[id] == len &&
            memcmp(v->pool + v->str_off[id], s, len) == 0)
            return (int32_t)id;
    }
}

static void slot_put(tok_vocab *v, uint32_t h, uint32_t id)
{
    size_t i = h & v->slot_mask;
    while (v->slots[i])
        i = (i + 1) & v->slot_mask;
    v->slots[i] = ((uint64_t)h << 32) | (id + 1);
}

static hearth_status slots_init(tok_vocab *v, size_t cap)
{
    uint64_t *slots = mem_calloc(cap, sizeof *slots);
    if (!slots)
        return HEARTH_ERR_NOMEM;
    mem_free(v->slots);
    v->slots = slots;
    v->slot_mask = cap - 1;
    return HEARTH_OK;
}

static hearth_status slots_grow(tok_vocab *v)
{
    if (slots_init(v, (v->slot_mask + 1) * 2) != HEARTH_OK)
        return HEARTH_ERR_NOMEM;
    for (uint32_t id = 0; id < v->n_strs; id++)
        if (v->str_len[id] > 0 || id >= v->n_tokens)
            slot_put(v, hash_bytes(v->pool + v->str_off[id], v->str_len[id]), id);
    return HEARTH_OK;
}

/* Add s as a new interned string (the caller checked it is not there) and return its
 * id, or -1 on out-of-memory. Empty token strings are stored but not hashed: an empty
 * token can never be matched. */
static int32_t sym_add(tok_vocab *v, const char *s, size_t len)
{
    if (v->n_strs == v->cap_strs) {
        size_t cap = v->cap_strs ? (size_t)v->cap_strs * 2 : 1024;
        if (cap > INT32_MAX)
            return -1;
        uint64_t *off = mem_realloc_array(v->str_off, cap, sizeof *off);
        if (!off)
            return -1;
        v->str_off = off;
        uint32_t *lens = mem_realloc_array(v->str_len, cap, sizeof *lens);
        if (!lens)
            return -1;
        v->str_len = lens;
        v->cap_strs = (uint32_t)cap;
    }
    if (v->pool_cap - v->pool_len <= len) {
        size_t cap = v->pool_cap ? v->pool_cap : 4096;
        while (cap - v->pool_len <= len)
            cap *= 2;
        char *p = mem_realloc(v->pool, cap);
        if (!p)
            return -1;
        v->pool = p;
        v->pool_cap = cap;
    }
    uint32_t id = v->n_strs;
    if ((size_t)(id + 1) * 2 > v->slot_mask + 1 && slots_grow(v) != HEARTH_OK)
        return -1;
    memcpy(v->pool + v->pool_len, s, len);
    v->pool[v->pool_len + len] = '\0';
    v->str_off[id] = v->pool_len;
    v->str_len[id] = (uint32_t)len;
    v->pool_len += len + 1;
    v->n_strs++;
    if (len > 0 || id >= v->n_tokens)
        slot_put(v, hash_bytes(s, len), id);
    return (int32_t)id;
}

static int32_t sym_intern(tok_vocab *v, const char *s, size_t len)
{
    int32_t id = tok_sym_find(v, s, len);
    return id >= 0 ? id : sym_add(v, s, len);
}

/* ---- merges ------------------------------------------------------------------------- */

static size_t pair_hash(int32_t a, int32_t b)
{
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k ^ (k >> 29));
}

const struct tok_merge *tok_merge_find(const tok_vocab *v, int32_t left, int32_t right)
{
    if (!v->merge_mask || left < 0 || right < 0)
        return NULL;
    for (size_t i = pair_hash(left, right) & v->merge_mask;; i = (i + 1) & v->merge_mask) {
        const struct tok_merge *m = &v->merges[i];
        if (m->left < 0)
            return NULL;
        if (m->left == left && m->right == right)
            return m;
    }
}

/* ---- loading helpers ---------------------------------------------------------------- */

struct loader {
    tok_vocab *v;
    const gguf_file *f;
    const char *path;
    hearth_error *err;
};

static hearth_status bad(struct loader *L, hearth_status st, const char *what)
{
    return err_set(L->err, st, "%s: %s", L->path, what);
}

static hearth_status oom(struct loader *L)
{
    return err_set(L->err, HEARTH_ERR_NOMEM, "%s: out of memory loading the tokenizer",
                   L->path);
}

/* An array of element type elem under key: *arr NULL if the key is absent; an error if
 * it is present with another type. */
static hearth_status get_array(struct loader *L, const char *key, enum gguf_vtype elem,
                               const gguf_value **arr, uint64_t *n)
{
    *arr = NULL;
    *n = 0;
    const gguf_kv *kv = gguf_find(L->f, key);
    if (!kv)
        return HEARTH_OK;
    if (kv->val.type != GGUF_ARRAY || kv->val.v.arr.type != elem)
        return err_set(L->err, HEARTH_ERR_FORMAT, "%s: %s is a %s%s%s, expected an array of %s",
                       L->path, key, gguf_vtype_name(kv->val.type),
                       kv->val.type == GGUF_ARRAY ? " of " : "",
                       kv->val.type == GGUF_ARRAY ? gguf_vtype_name(kv->val.v.arr.type) : "",
                       gguf_vtype_name(elem));
    *arr = &kv->val;
    *n = kv->val.v.arr.n;
    return HEARTH_OK;
}

static hearth_status get_flag(struct loader *L, const char *key, bool *out)
{
    const gguf_kv *kv = gguf_find(L->f, key);
    if (!kv)
        return HEARTH_OK;
    if (!gguf_get_bool(L->f, key, out))
        return err_set(L->err, HEARTH_ERR_FORMAT, "%s: %s is a %s, expected a bool", L->path,
                       key, gguf_vtype_name(kv->val.type));
    return HEARTH_OK;
}

/* A token id under key, checked against the vocabulary size; *id unchanged if absent. */
static hearth_status get_id(struct loader *L, const char *key, tok_id *id)
{
    const gguf_kv *kv = gguf_find(L->f, key);
    if (!kv)
        return HEARTH_OK;
    int64_t x;
    if (!gguf_get_i64(L->f, key, &x))
        return err_set(L->err, HEARTH_ERR_FORMAT, "%s: %s is a %s, expected an integer",
                       L->path, key, gguf_vtype_name(kv->val.type));
    if (x < 0 || x >= (int64_t)L->v->n_tokens)
        return err_set(L->err, HEARTH_ERR_FORMAT,
                       "%s: %s = %lld is out of range (the vocabulary has %u tokens)", L->path,
                       key, (long long)x, L->v->n_tokens);
    *id = (tok_id)x;
    return HEARTH_OK;
}

/* ---- model and pre-tokenizer -------------------------------------------------------- */

static const struct pre_alias {
    const char *name;
    enum tok_pre pre;
    bool ignore_merges, add_bos;
} pre_aliases[] = {
    { "default", TOK_PRE_DEFAULT, false, false },
    { "llama3", TOK_PRE_LLAMA3, true, true },
    { "llama-v3", TOK_PRE_LLAMA3, true, true },
    { "llama-bpe", TOK_PRE_LLAMA3, true, true },
    { "falcon3", TOK_PRE_LLAMA3, true, true },
    { "pixtral", TOK_PRE_LLAMA3, true, true },
    { "dbrx", TOK_PRE_LLAMA3, false, false },
    { "smaug-bpe", TOK_PRE_LLAMA3, false, false },
    { "gpt-2", TOK_PRE_GPT2, false, false },
    { "phi-2", TOK_PRE_GPT2, false, false },
    { "mpt", TOK_PRE_GPT2, false, false },
    { "olmo", TOK_PRE_GPT2, false, false },
    { "jais", TOK_PRE_GPT2, false, false },
    { "jina-es", TOK_PRE_GPT2, false, false },
    { "jina-de", TOK_PRE_GPT2, false, false },
    { "qwen2", TOK_PRE_QWEN2, false, false },
    { "deepseek-r1-qwen", TOK_PRE_QWEN2, false, false },
    { "stablelm2", TOK_PRE_QWEN2, false, false },
    { "megrez", TOK_PRE_QWEN2, false, false },
    { "deepseek-coder", TOK_PRE_DEEPSEEK_CODER, false, false },
    { "smollm", TOK_PRE_SMOLLM, false, false },
    { "starcoder", TOK_PRE_SMOLLM, false, false },
    { "refact", TOK_PRE_SMOLLM, false, false },
    { "command-r", TOK_PRE_SMOLLM, false, false },
    { "codeshell", TOK_PRE_SMOLLM, false, false },
    { "exaone", TOK_PRE_SMOLLM, false, false },
    { "minerva-7b", TOK_PRE_SMOLLM, false, false },
};

static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static hearth_status load_model(struct loader *L)
{
    tok_vocab *v = L->v;
    const gguf_kv *kv = gguf_find(L->f, KEY("model"));
    if (!kv)
        return bad(L, HEARTH_ERR_FORMAT, "no tokenizer (tokenizer.ggml.model is missing)");
    const char *model = gguf_get_str(L->f, KEY("model"));
    if (!model)
        return bad(L, HEARTH_ERR_FORMAT, "tokenizer.ggml.model is not a string");
    if (strcmp(model, "llama") == 0)
        v->model = TOK_MODEL_SPM;
    else if (strcmp(model, "gpt2") == 0)
        v->model = TOK_MODEL_BPE;
    else if (strcmp(model, "bert") == 0)
        v->model = TOK_MODEL_WPM;
    else
        return err_set(L->err, HEARTH_ERR_UNSUPPORTED,
                       "%s: tokenizer model '%.64s' is not supported (llama, gpt2 and bert are)",
                       L->path, model);
    copy_name(v->model_name, sizeof v->model_name, model);

    kv = gguf_find(L->f, KEY("pre"));
    const char *pre = gguf_get_str(L->f, KEY("pre"));
    if (kv && !pre)
        return bad(L, HEARTH_ERR_FORMAT, "tokenizer.ggml.pre is not a string");
    copy_name(v->pre_name, sizeof v->pre_name, pre ? pre : "default");
    if (v->model != TOK_MODEL_BPE)
        return HEARTH_OK; /* only byte-level BPE has pre-tokenizers */
    /* An unknown pre-tokenizer is refused, as llama.cpp does: guessing would silently
     * produce different tokens than the model was trained on. A missing one means
     * "default" (old conversions). */
    for (size_t i = 0; i < sizeof pre_aliases / sizeof pre_aliases[0]; i++) {
        if (strcmp(v->pre_name, pre_aliases[i].name) == 0) {
            v->pre = pre_aliases[i].pre;
            v->ignore_merges = pre_aliases[i].ignore_merges;
            v->add_bos = pre_aliases[i].add_bos;
            return HEARTH_OK;
        }
    }
    return err_set(L->err, HEARTH_ERR_UNSUPPORTED,
                   "%s: pre-tokenizer '%.64s' (tokenizer.ggml.pre) is not supported", L->path,
                   pre);
}

/* ---- tokens ------------------------------------------------------------------------- */

static hearth_status load_tokens(struct loader *L)
{
    tok_vocab *v = L->v;
    const gguf_value *toks, *scores, *types;
    uint64_t n, n_scores, n_types;
    hearth_status st = get_array(L, KEY("tokens"), GGUF_STRING, &toks, &n);
    if (st != HEARTH_OK)
        return st;
    if (!toks)
        return bad(L, HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens is missing");
    if (n == 0 || n > INT32_MAX / 2)
        return err_set(L->err, HEARTH_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu tokens",
                       L->path, (unsigned long long)n);
    v->n_tokens = (uint32_t)n;

    const gguf_kv *skv = gguf_find(L->f, KEY("scores"));
    bool int_scores = skv && skv->val.type == GGUF_ARRAY && skv->val.v.arr.type == GGUF_I32;
    st = get_array(L, KEY("scores"), int_scores ? GGUF_I32 : GGUF_F32, &scores, &n_scores);
    if (st != HEARTH_OK)
        return st;
    if (scores && n_scores != n)
        return err_set(L->err, HEARTH_ERR_FORMAT,
                       "%s: tokenizer.ggml.scores has %llu entries for %llu tokens", L->path,
                       (unsigned long long)n_scores, (unsigned long long)n);
    if ((st = get_array(L, KEY("token_type"), GGUF_I32, &types, &n_types)) != HEARTH_OK)
        return st;
    if (types && n_types != n)
        return err_set(L->err, HEARTH_ERR_FORMAT,
                       "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", L->path,
                       (unsigned long long)n_types, (unsigned long long)n);

    v->score = mem_calloc(n, sizeof *v->score);
    v->type = mem_calloc(n, 1);
    v->attr = mem_calloc(n, 1);
    if (!v->score || !v->type || !v->attr ||
        slots_init(v, pow2_at_least((size_t)n * 2 + 64)) != HEARTH_OK)
        return oom(L);
    for (uint64_t i = 0; i < n; i++) {
        const gguf_str *s = &toks->v.arr.strs[i];
        if (s->len > TOK_MAX_STR_LEN)
            return err_set(L->err, HEARTH_ERR_FORMAT, "%s: token %llu is too long", L->path,
                           (unsigned long long)i);
        int32_t dup = s->len ? tok_sym_find(v, s->s, s->len) : -1;
        if (dup >= 0)
            return err_set(L->err, HEARTH_ERR_FORMAT,
                           "%s: tokenizer.ggml.tokens: token %llu repeats token %d ('%.40s')",
                           L->path, (unsigned long long)i, dup, s->s);
        if (sym_add(v, s->s, s->len) < 0)
            return oom(L);
        if (s->len > v->max_token_len)
            v->max_token_len = (uint32_t)s->len;
        v->score[i] = scores ? (float)gguf_arr_f64(scores, i) : 0.0f;
        int64_t t = types ? gguf_arr_i64(types, i) : TOK_TYPE_NORMAL;
        if (t < TOK_TYPE_UNDEFINED || t > TOK_TYPE_BYTE)
            return err_set(L->err, HEARTH_ERR_FORMAT,
                           "%s: tokenizer.ggml.token_type[%llu] = %lld is not a token type",
                           L->path, (unsigned long long)i, (long long)t);
        v->type[i] = (uint8_t)t;
    }
    return HEARTH_OK;
}

/* Merges are "left right" strings, lowest rank first. The split is at the first space
 * after the first byte (so a left half may itself be a space, as llama.cpp allows). */
static hearth_status load_merges(struct loader *L)
{
    tok_vocab *v = L->v;
    const gguf_value *arr;
    uint64_t n;
    hearth_status st = get_array(L, KEY("merges"), GGUF_STRING, &arr, &n);
    if (st != HEARTH_OK)
        return st;
    if (!arr)
        return bad(L, HEARTH_ERR_FORMAT, "tokenizer.ggml.merges is missing (needed by gpt2)");
    if (n == 0)
        return HEARTH_OK;
    if (n > INT32_MAX / 4)
        return bad(L, HEARTH_ERR_FORMAT, "tokenizer.ggml.merges is too long");
    size_t cap = pow2_at_least((size_t)n * 2);
    v->merges = mem_alloc(cap * sizeof *v->merges);
    if (!v->merges)
        return oom(L);
    for (size_t i = 0; i < cap; i++)
        v->merges[i].left = -1;
    v->merge_mask = cap - 1;

    char *both = NULL;
    size_t both_cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        const gguf_str *s = &arr->v.arr.strs[i];
        const char *sp = s->len > 1 ? memchr(s->s + 1, ' ', s->len - 1) : NULL;
        if (!sp || (size_t)(sp - s->s) + 1 == s->len) {
            mem_free(both);
            return err_set(L->err, HEARTH_ERR_FORMAT,
                           "%s: tokenizer.ggml.merges[%llu] ('%.40s') is not \"left right\"",
                           L->path, (unsigned long long)i, s->s);
        }
        size_t ln = (size_t)(sp - s->s), rn = s->len - ln - 1;
        if (ln + rn > both_cap) {
            both_cap = (ln + rn) * 2;
            char *p = mem_realloc(both, both_cap);
            if (!p) {
                mem_free(both);
                return oom(L);
            }
            both = p;
        }
        memcpy(both, s->s, ln);
        memcpy(both + ln, sp + 1, rn);
        int32_t a = sym_intern(v, s->s, ln);
        int32_t b = a < 0 ? -1 : sym_intern(v, sp + 1, rn);
        int32_t r = b < 0 ? -1 : sym_intern(v, both, ln + rn);
        if (r < 0) {
            mem_free(both);
            return oom(L);
        }
        size_t j = pair_hash(a, b) & v->merge_mask;
        while (v->merges[j].left >= 0 && !(v->merges[j].left == a && v->merges[j].right == b))
            j = (j + 1) & v->merge_mask;
        if (v->merges[j].left < 0) /* a repeated pair keeps its first (lowest) rank */
            v->merges[j] = (struct tok_merge){ a, b, (int32_t)i, r };
    }
    mem_free(both);
    return HEARTH_OK;
}

/* ---- special tokens ----------------------------------------------------------------- */

static void set_defaults(tok_vocab *v)
{
    tok_specials none = { TOK_NONE, TOK_NONE, TOK_NONE, TOK_NONE, TOK_NONE,
                          TOK_NONE, TOK_NONE, TOK_NONE, TOK_NONE };
    v->sp = none;
    switch (v->model) {
    case TOK_MODEL_SPM:
        v->sp.bos = 1, v->sp.eos = 2, v->sp.unk = 0;
        v->add_bos = true;
        v->add_space_prefix = true;
        break;
    case TOK_MODEL_WPM:
        v->sp.cls = 101, v->sp.unk = 100, v->sp.sep = 102, v->sp.pad = 0, v->sp.mask = 103;
        v->add_bos = true;
        v->add_sep = true;
        break;
    case TOK_MODEL_BPE:
        break; /* add_bos was set by the pre-tokenizer */
    }
    tok_id *all = &v->sp.bos;
    for (size_t i = 0; i < sizeof v->sp / sizeof(tok_id); i++)
        if (all[i] >= (tok_id)v->n_tokens)
            all[i] = TOK_NONE;
}

static hearth_status load_specials(struct loader *L)
{
    tok_vocab *v = L->v;
    static const struct { const char *key; size_t off; } ids[] = {
        { KEY("bos_token_id"), offsetof(tok_specials, bos) },
        { KEY("eos_token_id"), offsetof(tok_specials, eos) },
        { KEY("eot_token_id"), offsetof(tok_specials, eot) },
        { KEY("eom_token_id"), offsetof(tok_specials, eom) },
        { KEY("unknown_token_id"), offsetof(tok_specials, unk) },
        { KEY("seperator_token_id"), offsetof(tok_specials, sep) },
        { KEY("padding_token_id"), offsetof(tok_specials, pad) },
        { KEY("cls_token_id"), offsetof(tok_specials, cls) },
        { KEY("mask_token_id"), offsetof(tok_specials, mask) },
    };
    hearth_status st;
    set_defaults(v);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if ((st = get_id(L, ids[i].key, (tok_id *)((char *)&v->sp + ids[i].off))) != HEARTH_OK)
            return st;
    if (v->model == TOK_MODEL_WPM && v->sp.cls == TOK_NONE)
        v->sp.cls = v->sp.bos;
    if ((st = get_flag(L, KEY("add_bos_token"), &v->add_bos)) != HEARTH_OK ||
        (st = get_flag(L, KEY("add_eos_token"), &v->add_eos)) != HEARTH_OK ||
        (st = get_flag(L, KEY("add_sep_token"), &v->add_sep)) != HEARTH_OK ||
        (st = get_flag(L, KEY("add_space_prefix"), &v->add_space_prefix)) != HEARTH_OK)
        return st;
    if (v->model == TOK_MODEL_BPE)
        v->add_space_prefix = false;
    v->lowercase = true;
    if ((st = get_flag(L, KEY("normalizer.lowercase"), &v->lowercase)) != HEARTH_OK)
        return st;
    v->strip_accents = v->lowercase;
    if ((st = get_flag(L, KEY("normalizer.strip_accents"), &v->strip_accents)) != HEARTH_OK)
        return st;

    tok_id first = v->model == TOK_MODEL_WPM ? v->sp.cls : v->sp.bos;
    if (v->add_bos && first == TOK_NONE)
        return bad(L, HEARTH_ERR_FORMAT, "add_bos_token is set but there is no BOS/CLS token");
    if (v->add_eos && v->sp.eos == TOK_NONE)
        return bad(L, HEARTH_ERR_FORMAT, "add_eos_token is set but there is no EOS token");
    if (v->add_sep && v->sp.sep == TOK_NONE)
        return bad(L, HEARTH_ERR_FORMAT, "add_sep_token is set but there is no SEP token");
    return HEARTH_OK;
}

/* Control-looking tokens found by their text, as llama.cpp does (conversions often do
 * not record EOT/EOM ids). A match that is not typed CONTROL is made CONTROL so that
 * its text in user input is not turned into the token. */
static void mark_control(tok_vocab *v, tok_id id)
{
    v->type[id] = TOK_TYPE_CONTROL;
}

static void detect_end_tokens(tok_vocab *v)
{
    static const char *const eot_texts[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>",
        ("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"), /* DeepSeek */
        "<end_of_utterance>",
    };
    static const char *const eog_texts[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
        "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    };
    for (size_t i = 0; v->sp.eot == TOK_NONE && i < sizeof eot_texts / sizeof *eot_texts; i++) {
        tok_id id = tok_find(v, eot_texts[i], strlen(eot_texts[i]));
        if (id != TOK_NONE) {
            v->sp.eot = id;
            mark_control(v, id);
        }
    }
    if (v->sp.eom == TOK_NONE) {
        tok_id id = tok_find(v, "<|eom_id|>", 10);
        if (id != TOK_NONE) {
            v->sp.eom = id;
            mark_control(v, id);
        }
    }
    for (size_t i = 0; i < sizeof eog_texts / sizeof *eog_texts; i++) {
        tok_id id = tok_find(v, eog_texts[i], strlen(eog_texts[i]));
        if (id != TOK_NONE) {
            v->attr[id] |= TOK_ATTR_EOG;
            mark_control(v, id);
        }
    }
    tok_id ends[] = { v->sp.eos, v->sp.eot, v->sp.eom };
    for (size_t i = 0; i < 3; i++)
        if (ends[i] != TOK_NONE)
            v->attr[ends[i]] |= TOK_ATTR_EOG;
}

/* Sort key of a special token: length in the high half so a plain comparison orders
 * longest first, then by id (qsort has no context argument to look lengths up). */
static int by_length_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool name_has_phi3(const gguf_file *f)
{
    const char *name = gguf_get_str(f, "general.name");
    if (!name)
        return false;
    char low[128];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)name[n]);
    low[n] = '\0';
    return strstr(low, "phi-3") || strstr(low, "phi3");
}

static hearth_status collect_specials(struct loader *L)
{
    tok_vocab *v = L->v;
    size_t n = 0;
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        uint8_t t = v->type[id];
        if ((t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED || t == TOK_TYPE_UNKNOWN) &&
            v->str_len[id] > 0)
            n++;
    }
    v->specials = mem_calloc(n ? n : 1, sizeof *v->specials);
    uint64_t *keys = mem_calloc(n ? n : 1, sizeof *keys);
    if (!v->specials || !keys) {
        mem_free(keys);
        return oom(L);
    }
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        uint8_t t = v->type[id];
        if ((t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED || t == TOK_TYPE_UNKNOWN) &&
            v->str_len[id] > 0)
            keys[v->n_specials++] = ((uint64_t)(UINT32_MAX - v->str_len[id]) << 32) | id;
    }
    qsort(keys, v->n_specials, sizeof *keys, by_length_desc);
    for (size_t i = 0; i < v->n_specials; i++)
        v->specials[i] = (tok_id)(uint32_t)keys[i];
    mem_free(keys);
    /* Phi-3's chat tokens swallow the white space after them (llama.cpp applies this by
     * model name, since GGUF has no per-token strip flags). */
    if (name_has_phi3(L->f)) {
        for (size_t i = 0; i < v->n_specials; i++)
            v->attr[v->specials[i]] |= TOK_ATTR_RSTRIP;
        static const char *const keep[] = { "<unk>", "<s>", "<|endoftext|>" };
        tok_id eos_text = tok_find(v, "</s>", 4);
        if (eos_text != TOK_NONE)
            v->attr[eos_text] |= TOK_ATTR_RSTRIP;
        for (size_t i = 0; i < 3; i++) {
            tok_id id = tok_find(v, keep[i], strlen(keep[i]));
            if (id != TOK_NONE)
                v->attr[id] &= (uint8_t)~TOK_ATTR_RSTRIP;
        }
    }
    return HEARTH_OK;
}

/* ---- byte tokens and pieces --------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte of a "<0xHH>" token, or -1. */
static int byte_token_value(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static void find_byte_syms(tok_vocab *v)
{
    for (int b = 0; b < 256; b++) {
        char buf[8];
        v->byte_sym[b] = TOK_NONE;
        if (v->model == TOK_MODEL_SPM) {
            static const char hex[] = "0123456789ABCDEF";
            char name[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
            tok_id id = tok_find(v, name, 6);
            buf[0] = (char)b;
            v->byte_sym[b] = id != TOK_NONE ? id : tok_find(v, buf, 1);
        } else if (v->model == TOK_MODEL_BPE) {
            size_t n = utf8_encode(tok_bpe_byte_to_cp((unsigned char)b), buf);
            v->byte_sym[b] = tok_sym_find(v, buf, n);
        }
    }
}

/* The piece of a NORMAL token: SPM and WordPiece turn "▁" into a space, byte-level BPE
 * maps its characters back to bytes (a character outside the mapping is kept as is). */
static size_t normal_piece(const tok_vocab *v, const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (v->model != TOK_MODEL_BPE) {
            if (n - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                out[k++] = ' ';
                i += 3;
            } else {
                out[k++] = s[i++];
            }
            continue;
        }
        uint32_t cp;
        int len = utf8_decode(s + i, n - i, &cp);
        int b = len > 0 ? tok_bpe_cp_to_byte(cp) : -1;
        if (b >= 0) {
            out[k++] = (char)b;
            i += (size_t)len;
        } else {
            size_t m = len > 0 ? (size_t)len : 1;
            memcpy(out + k, s + i, m);
            k += m;
            i += m;
        }
    }
    return k;
}

static hearth_status build_pieces(struct loader *L)
{
    tok_vocab *v = L->v;
    size_t total = 0;
    for (uint32_t id = 0; id < v->n_tokens; id++)
        total += v->str_len[id];
    v->piece_off = mem_calloc(v->n_tokens, sizeof *v->piece_off);
    v->piece_len = mem_calloc(v->n_tokens, sizeof *v->piece_len);
    v->piece_pool = mem_alloc(total + 1);
    if (!v->piece_off || !v->piece_len || !v->piece_pool)
        return oom(L);
    size_t k = 0;
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        const char *s = tok_sym_str(v, (int32_t)id);
        size_t n = v->str_len[id], len = 0;
        char *out = v->piece_pool + k;
        switch (v->type[id]) {
        case TOK_TYPE_NORMAL:
            len = normal_piece(v, s, n, out);
            break;
        case TOK_TYPE_USER_DEFINED:
            memcpy(out, s, n);
            len = n;
            break;
        case TOK_TYPE_BYTE: {
            int b = byte_token_value(s, n);
            if (b >= 0) {
                out[0] = (char)b;
                len = 1;
            } else {
                memcpy(out, s, n);
                len = n;
            }
            break;
        }
        default: /* control and unknown render only on request; unused never */
            break;
        }
        v->piece_off[id] = k;
        v->piece_len[id] = (uint32_t)len;
        k += len;
    }
    return HEARTH_OK;
}

/* ---- the public entry points -------------------------------------------------------- */

hearth_status tok_load(tok_vocab **out, const gguf_file *f, hearth_error *err)
{
    *out = NULL;
    tok_vocab *v = mem_calloc(1, sizeof *v);
    if (!v)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory loading the tokenizer");
    struct loader L = { v, f, f->path ? f->path : "(gguf)", err };
    hearth_status st;
    if ((st = load_model(&L)) != HEARTH_OK || (st = load_tokens(&L)) != HEARTH_OK ||
        (v->model == TOK_MODEL_BPE && (st = load_merges(&L)) != HEARTH_OK) ||
        (st = load_specials(&L)) != HEARTH_OK) {
        tok_free(v);
        return st;
    }
    detect_end_tokens(v);
    if ((st = collect_specials(&L)) != HEARTH_OK || (st = build_pieces(&L)) != HEARTH_OK) {
        tok_free(v);
        return st;
    }
    find_byte_syms(v);
    *out = v;
    return HEARTH_OK;
}

void tok_free(tok_vocab *v)
{
    if (!v)
        return;
    mem_free(v->str_off);
    mem_free(v->str_len);
    mem_free(v->pool);
    mem_free(v->slots);
    mem_free(v->score);
    mem_free(v->type);
    mem_free(v->attr);
    mem_free(v->merges);
    mem_free(v->specials);
    mem_free(v->piece_off);
    mem_free(v->piece_len);
    mem_free(v->piece_pool);
    mem_free(v);
}

size_t tok_n_tokens(const tok_vocab *v) { return v->n_tokens; }
enum tok_model tok_model_of(const tok_vocab *v) { return v->model; }
enum tok_pre tok_pre_of(const tok_vocab *v) { return v->pre; }
const char *tok_model_name(const tok_vocab *v) { return v->model_name; }
const char *tok_pre_name(const tok_vocab *v) { return v->pre_name; }
const tok_specials *tok_special(const tok_vocab *v) { return &v->sp; }
bool tok_adds_bos(const tok_vocab *v) { return v->add_bos; }
bool tok_adds_eos(const tok_vocab *v) { return v->add_eos; }

bool tok_is_eog(const tok_vocab *v, tok_id id)
{
    return id >= 0 && (uint32_t)id < v->n_tokens && (v->attr[id] & TOK_ATTR_EOG);
}

enum tok_type tok_type_of(const tok_vocab *v, tok_id id)
{
    return id >= 0 && (uint32_t)id < v->n_tokens ? (enum tok_type)v->type[id]
                                                   : TOK_TYPE_UNDEFINED;
}

const char *tok_text(const tok_vocab *v, tok_id id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= v->n_tokens) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->str_len[id];
    return tok_sym_str(v, id);
}

tok_id tok_find(const tok_vocab *v, const char *text, size_t len)
{
    if (len == 0)
        return TOK_NONE;
    int32_t id = tok_sym_find(v, text, len);
    return id >= 0 && (uint32_t)id < v->n_tokens ? id : TOK_NONE;
}

const char *tok_piece(const tok_vocab *v, tok_id id, bool special, size_t *len)
{
    if (id < 0 || (uint32_t)id >= v->n_tokens) {
        *len = 0;
        return NULL;
    }
    uint8_t t = v->type[id];
    if (special && (t == TOK_TYPE_CONTROL || t == TOK_TYPE_UNKNOWN)) {
        *len = v->str_len[id];
        return tok_sym_str(v, id);
    }
    *len = v->piece_len[id];
    return v->piece_pool + v->piece_off[id];
}
