/*
 * embed.c — the embedding service (see embed.h): tokenize, truncate, batch, encode,
 * normalise.
 *
 * Two kinds of encoder sit behind it: the bert family (models/bert.h), which packs many
 * texts into one batch, and decoder LMs converted as embedders (Qwen3-Embedding: a qwen3
 * model whose GGUF sets ARCH.pooling_type), run through models/llama.h one text at a time
 * with their final hidden states pooled (last token, mean or first).
 */
#include "knowledge/embed.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "formats/gguf.h"
#include "models/bert.h"
#include "models/llama.h"
#include "tokenize/tokenizer.h"

/* GGUF pooling_type values */
enum { POOL_MEAN = 1, POOL_CLS = 2, POOL_LAST = 3 };

struct emb_model {
    gguf_file *g;
    bert_model *m;       /* an encoder, or */
    llm_model *lm;       /* a decoder embedder, with */
    llm_ctx *lc;
    int pooling;         /* POOL_* for the decoder */
    float *hidden;       /* (n_ctx, D) hidden states of one text */
    int32_t *pos;        /* (n_ctx) 0, 1, 2, ... */
    uint8_t *want;       /* (n_ctx) rows to return */
    bert_ctx *c;
    tok_vocab *v;
    char *query_prefix, *doc_prefix;
    char identity[256];
};

emb_params emb_default_params(void)
{
    return (emb_params){ .n_threads = 0, .n_batch = 0 };
}

static void set_identity(emb_model *e)
{
    const char *arch = e->m ? bert_model_hparams(e->m)->arch : llm_model_hparams(e->lm)->arch;
    const char *name = gguf_get_str(e->g, "general.name");
    if (!name) {
        const char *slash = strrchr(e->g->path, '/');
        name = slash ? slash + 1 : e->g->path;
    }
    snprintf(e->identity, sizeof e->identity, "%s:%.160s:%dd:%zu", arch, name, emb_dim(e),
             (size_t)e->g->size);
}

/* A decoder LM that its GGUF declares an embedder (ARCH.pooling_type). */
static hearth_status open_decoder(emb_model *e, const emb_params *p, hearth_error *err)
{
    const char *arch = gguf_get_str(e->g, "general.architecture");
    char key[96];
    snprintf(key, sizeof key, "%.40s.pooling_type", arch ? arch : "");
    uint32_t pooling = 0;
    if (!arch || !gguf_get_u32(e->g, key, &pooling) || pooling < POOL_MEAN || pooling > POOL_LAST)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: not an embedding model (a bert or "
                       "nomic-bert encoder, or a decoder whose metadata sets %s to 1, 2 or 3)",
                       e->g->path, key);
    e->pooling = (int)pooling;
    hearth_status st = llm_model_load(&e->lm, e->g, llm_model_default_params(), err);
    if (st)
        return st;
    llm_ctx_params cp = llm_ctx_default_params();
    int n_ctx = llm_model_hparams(e->lm)->n_ctx_train;
    cp.n_ctx = n_ctx < 8192 ? n_ctx : 8192;
    cp.n_batch = cp.n_ctx;
    cp.n_threads = p->n_threads;
    if ((st = llm_ctx_new(&e->lc, e->lm, cp, err)))
        return st;
    size_t T = (size_t)cp.n_ctx, D = (size_t)llm_model_hparams(e->lm)->n_embd;
    e->hidden = mem_calloc(e->pooling == POOL_LAST ? 1 : T, D * sizeof(float));
    e->pos = mem_calloc(T, sizeof *e->pos);
    e->want = mem_calloc(T, 1);
    if (!e->hidden || !e->pos || !e->want)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", e->g->path);
    for (size_t i = 0; i < T; i++)
        e->pos[i] = (int32_t)i;
    return HEARTH_OK;
}

hearth_status emb_open(emb_model **out, const char *path, const emb_params *p,
                       hearth_error *err)
{
    *out = NULL;
    emb_model *e = mem_calloc(1, sizeof *e);
    if (!e)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory opening %s", path);
    hearth_status st = gguf_open(&e->g, path, err);
    const char *arch = st ? NULL : gguf_get_str(e->g, "general.architecture");
    bool encoder = arch && (!strcmp(arch, "bert") || !strcmp(arch, "nomic-bert"));
    if (!st && encoder)
        st = bert_model_load(&e->m, e->g, err);
    else if (!st)
        st = open_decoder(e, p, err);
    if (!st)
        st = tok_load(&e->v, e->g, err);
    if (!st && encoder)
        st = bert_ctx_new(&e->c, e->m, p->n_batch, p->n_threads, err);
    if (!st) {
        bool nomic = encoder && strcmp(bert_model_hparams(e->m)->arch, "nomic-bert") == 0;
        const char *q = p->query_prefix ? p->query_prefix : nomic ? "search_query: " : "";
        const char *d = p->doc_prefix ? p->doc_prefix : nomic ? "search_document: " : "";
        e->query_prefix = mem_strdup(q);
        e->doc_prefix = mem_strdup(d);
        if (!e->query_prefix || !e->doc_prefix)
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory opening %s", path);
    }
    if (st) {
        emb_free(e);
        return st;
    }
    set_identity(e);
    *out = e;
    return HEARTH_OK;
}

void emb_free(emb_model *e)
{
    if (!e)
        return;
    bert_ctx_free(e->c);
    tok_free(e->v);
    bert_model_free(e->m);
    llm_ctx_free(e->lc);
    llm_model_free(e->lm);
    mem_free(e->hidden);
    mem_free(e->pos);
    mem_free(e->want);
    gguf_close(e->g);
    mem_free(e->query_prefix);
    mem_free(e->doc_prefix);
    mem_free(e);
}

int emb_dim(const emb_model *e)
{
    return e->m ? bert_model_hparams(e->m)->n_embd : llm_model_hparams(e->lm)->n_embd;
}

int emb_max_tokens(const emb_model *e)
{
    return e->m ? bert_model_hparams(e->m)->n_ctx_train : llm_ctx_n_ctx(e->lc);
}

/* One text through the decoder, its hidden states pooled into out (D floats). */
static hearth_status encode_decoder(emb_model *e, const int32_t *toks, int n, float *out,
                                    hearth_error *err)
{
    int D = emb_dim(e);
    for (int i = 0; i < n; i++)
        e->want[i] = e->pooling == POOL_LAST ? i == n - 1 : 1;
    hearth_status st = llm_decode_hidden(e->lc, n, toks, e->pos, NULL, e->want, e->hidden, err);
    if (st)
        return st;
    if (e->pooling == POOL_LAST) {
        memcpy(out, e->hidden, (size_t)D * sizeof(float));
    } else if (e->pooling == POOL_CLS) {
        memcpy(out, e->hidden, (size_t)D * sizeof(float));
    } else {
        for (int d = 0; d < D; d++) {
            double sum = 0;
            for (int i = 0; i < n; i++)
                sum += e->hidden[(size_t)i * D + d];
            out[d] = (float)(sum / n);
        }
    }
    return HEARTH_OK;
}

const char *emb_identity(const emb_model *e)
{
    return e->identity;
}

size_t emb_count_tokens(void *user, const char *s, size_t n)
{
    emb_model *e = user;
    tok_ids ids = { 0 };
    if (tok_encode(e->v, s, n, false, false, &ids, NULL) != HEARTH_OK)
        return (n + 3) / 4;
    size_t k = ids.n;
    tok_ids_free(&ids);
    return k;
}

/* Tokenize prefix + text with [CLS]/[SEP], cut to the context keeping the last token. */
static hearth_status tokenize(emb_model *e, const char *prefix, const char *text, size_t len,
                              tok_ids *ids, hearth_error *err)
{
    size_t pl = strlen(prefix);
    char *buf = mem_alloc(pl + len + 1);
    if (!buf)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, text, len);
    hearth_status st = tok_encode(e->v, buf, pl + len, true, false, ids, err);
    mem_free(buf);
    size_t max = (size_t)emb_max_tokens(e);
    if (!st && ids->n > max) {
        ids->v[max - 1] = ids->v[ids->n - 1];
        ids->n = max;
    }
    return st;
}

hearth_status emb_encode_raw(emb_model *e, int n, const char *const *texts,
                             const size_t *lens, enum emb_kind kind, float *out,
                             hearth_error *err)
{
    if (n <= 0)
        return HEARTH_OK;
    const char *prefix = kind == EMB_QUERY ? e->query_prefix : e->doc_prefix;
    tok_ids *ids = mem_calloc((size_t)n, sizeof *ids);
    const int32_t **toks = mem_calloc((size_t)n, sizeof *toks);
    int *tl = mem_calloc((size_t)n, sizeof *tl);
    hearth_status st = ids && toks && tl ? HEARTH_OK
                       : err_set(err, HEARTH_ERR_NOMEM, "out of memory embedding %d texts", n);
    for (int i = 0; !st && i < n; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        st = tokenize(e, prefix, texts[i], len, &ids[i], err);
        if (!st && ids[i].n == 0)
            st = err_set(err, HEARTH_ERR_INVALID, "text %d gives no tokens", i);
        if (!st) {
            toks[i] = ids[i].v;
            tl[i] = (int)ids[i].n;
        }
    }
    int D = emb_dim(e);
    for (int i = 0; !st && e->lm && i < n; i++)
        st = encode_decoder(e, toks[i], tl[i], out + (size_t)i * D, err);
    /* pack consecutive texts into batches that fit the context's buffers */
    int cap = e->m ? bert_ctx_n_batch(e->c) : 0;
    for (int i = 0; !st && e->m && i < n;) {
        int j = i, sum = 0;
        while (j < n && sum + tl[j] <= cap)
            sum += tl[j++];
        st = bert_encode(e->c, j - i, toks + i, tl + i, out + (size_t)i * D, err);
        i = j;
    }
    for (int i = 0; ids && i < n; i++)
        tok_ids_free(&ids[i]);
    mem_free(ids);
    mem_free(toks);
    mem_free(tl);
    return st;
}

hearth_status emb_encode(emb_model *e, int n, const char *const *texts, const size_t *lens,
                         enum emb_kind kind, float *out, hearth_error *err)
{
    hearth_status st = emb_encode_raw(e, n, texts, lens, kind, out, err);
    int D = emb_dim(e);
    for (int i = 0; !st && i < n; i++) {
        float *v = out + (size_t)i * D;
        double ss = 0;
        for (int d = 0; d < D; d++)
            ss += (double)v[d] * v[d];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int d = 0; d < D; d++)
            v[d] *= inv;
    }
    return st;
}
