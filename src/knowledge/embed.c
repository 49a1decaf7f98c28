/*
 * embed.c — the embedding service (see embed.h): tokenize, truncate, batch, encode,
 * normalise.
 */
#include "knowledge/embed.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "formats/gguf.h"
#include "models/bert.h"
#include "tokenize/tokenizer.h"

struct emb_model {
    gguf_file *g;
    bert_model *m;
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
    const bert_hparams *hp = bert_model_hparams(e->m);
    const char *name = gguf_get_str(e->g, "general.name");
    if (!name) {
        const char *slash = strrchr(e->g->path, '/');
        name = slash ? slash + 1 : e->g->path;
    }
    snprintf(e->identity, sizeof e->identity, "%s:%.160s:%dd:%zu", hp->arch, name, hp->n_embd,
             e->g->map.size);
}

hearth_status emb_open(emb_model **out, const char *path, const emb_params *p,
                       hearth_error *err)
{
    *out = NULL;
    emb_model *e = mem_calloc(1, sizeof *e);
    if (!e)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory opening %s", path);
    hearth_status st = gguf_open(&e->g, path, err);
    if (!st)
        st = bert_model_load(&e->m, e->g, err);
    if (!st)
        st = tok_load(&e->v, e->g, err);
    if (!st)
        st = bert_ctx_new(&e->c, e->m, p->n_batch, p->n_threads, err);
    if (!st) {
        bool nomic = strcmp(bert_model_hparams(e->m)->arch, "nomic-bert") == 0;
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
    gguf_close(e->g);
    mem_free(e->query_prefix);
    mem_free(e->doc_prefix);
    mem_free(e);
}

int emb_dim(const emb_model *e)
{
    return bert_model_hparams(e->m)->n_embd;
}

int emb_max_tokens(const emb_model *e)
{
    return bert_model_hparams(e->m)->n_ctx_train;
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
    /* pack consecutive texts into batches that fit the context's buffers */
    int cap = bert_ctx_n_batch(e->c), D = emb_dim(e);
    for (int i = 0; !st && i < n;) {
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
