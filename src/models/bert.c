/*
 * bert.c — the forward pass of the bert and nomic-bert encoders (see bert.h).
 *
 * One layer, with x the residual stream of all packed tokens:
 *   q, k, v = x Wq + bq, x Wk + bk, x Wv + bv      (nomic-bert: one fused Wqkv, no biases,
 *                                                  then RoPE on q and k)
 *   a = softmax(q k^T / sqrt(hd)) v                over the tokens of the same text only
 *   x = LayerNorm(x + a Wo + bo)                   (post-norm, as in the original BERT)
 *   x = LayerNorm(x + FFN(x))                      bert: GELU(x W1 + b1) W2 + b2
 *                                                  nomic-bert: (SiLU(x Wg) * x Wu) Wd
 * The input is LayerNorm(token + token-type 0 + position embedding (bert only)).
 * GELU is the tanh form, which is what llama.cpp computes for these models.
 *
 * Dimension legend: B = tokens in the batch, D = n_embd, hd = head size, F = n_ff,
 * V = n_vocab, P = n_ctx_train. All buffers are allocated by bert_ctx_new.
 */
#include "models/bert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "models/loader.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/pool.h"
#include "tensor/quant.h"

typedef struct bert_layer {
    mdl_weight wqkv;                  /* (3D, D) nomic-bert */
    mdl_weight wq, wk, wv;            /* (D, D) bert */
    const float *bq, *bk, *bv;         /* (D) bert */
    mdl_weight wo;                    /* (D, D) */
    const float *bo;                   /* (D) or NULL */
    const float *attn_norm, *attn_norm_b;   /* (D) */
    mdl_weight w_up;                  /* (F, D) */
    const float *b_up;                 /* (F) or NULL */
    mdl_weight w_gate;                /* (F, D) nomic-bert */
    mdl_weight w_down;                /* (D, F) */
    const float *b_down;               /* (D) or NULL */
    const float *out_norm, *out_norm_b;     /* (D) */
} bert_layer;

struct bert_model {
    bert_hparams hp;
    mdl_weight token_embd;            /* (V, D) */
    mdl_weight type_embd;             /* (types, D) or absent */
    mdl_weight pos_embd;              /* (P, D) bert only */
    const float *embd_norm, *embd_norm_b;   /* (D) */
    bert_layer *layers;
    mdl_owned owned;                   /* F32 copies of vectors stored in other types */
};

struct bert_ctx {
    const bert_model *m;
    int n_batch;
    tq_pool *pool;
    const tq_kernels *kern;
    float *x;       /* (B, D) residual stream */
    float *xb;      /* (B, D) */
    float *xb2;     /* (B, D) attention output */
    float *q, *k, *v;   /* (B, D) */
    float *qkv;     /* (B, 3D) fused projection */
    float *hb, *hb2;    /* (B, F) */
    float *att;     /* (threads, P) */
    int *seq_start, *seq_len, *pos;   /* (B) per token: its text's first token, length, position */
    void *scratch;
};

const bert_hparams *bert_model_hparams(const bert_model *m)
{
    return &m->hp;
}

/* ---- loading ---------------------------------------------------------------------------- */

typedef struct loader {
    mdl_loader ml;
    bert_model *m;
} loader;

static hearth_status load_hparams(loader *L)
{
    bert_hparams *hp = &L->m->hp;
    const mdl_loader *ml = &L->ml;
    const char *arch = gguf_get_str(ml->g, "general.architecture");
    if (!arch)
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: missing general.architecture",
                       ml->g->path);
    if (strcmp(arch, "bert") && strcmp(arch, "nomic-bert"))
        return err_set(ml->err, HEARTH_ERR_UNSUPPORTED, "%s: architecture '%.40s' is not an "
                       "embedding encoder hearth runs (bert, nomic-bert)", ml->g->path, arch);
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);
    hp->rope = strcmp(arch, "nomic-bert") == 0;
    hearth_status st;
    int head_kv;
    if ((st = mdl_get_u32(ml, "embedding_length", true, 0, 0, &hp->n_embd)) ||
        (st = mdl_get_u32(ml, "block_count", true, 0, 0, &hp->n_layer)) ||
        (st = mdl_get_u32(ml, "feed_forward_length", true, 0, 0, &hp->n_ff)) ||
        (st = mdl_get_u32(ml, "attention.head_count", true, 0, 0, &hp->n_head)) ||
        (st = mdl_get_u32(ml, "attention.head_count_kv", false, hp->n_head, 0, &head_kv)) ||
        (st = mdl_get_u32(ml, "context_length", false, 512, 0, &hp->n_ctx_train)) ||
        (st = mdl_get_u32(ml, "pooling_type", false, BERT_POOL_MEAN, 0, &hp->pooling)))
        return st;
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0 || hp->n_head == 0 ||
        hp->n_ctx_train == 0 || hp->n_embd % hp->n_head || head_kv != hp->n_head)
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: inconsistent sizes (embedding %d, "
                       "%d heads, %d KV heads)", ml->g->path, hp->n_embd, hp->n_head, head_kv);
    if (hp->pooling == BERT_POOL_NONE)
        hp->pooling = BERT_POOL_MEAN;
    if (hp->pooling > BERT_POOL_LAST)
        return err_set(ml->err, HEARTH_ERR_UNSUPPORTED, "%s: pooling type %d is not supported "
                       "(mean, CLS, last)", ml->g->path, hp->pooling);
    char key[128];
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", arch);
    if (!gguf_get_f32(ml->g, key, &hp->norm_eps))
        hp->norm_eps = 1e-12f;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (!gguf_get_f32(ml->g, key, &hp->rope_base))
        hp->rope_base = 10000.0f;
    if (!(hp->norm_eps > 0) || !(hp->rope_base > 0))
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: layer-norm epsilon or rope base is not "
                       "positive", ml->g->path);
    const gguf_tensor *emb = gguf_find_tensor(ml->g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] < 1 || emb->ne[1] > (1 << 24))
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: missing or malformed token_embd.weight",
                       ml->g->path);
    hp->n_vocab = (int)emb->ne[1];
    const gguf_tensor *types = gguf_find_tensor(ml->g, "token_types.weight");
    hp->n_token_types = types && types->ne[1] >= 1 && types->ne[1] <= 16 ? (int)types->ne[1] : 0;
    return mdl_check_layers(ml, hp->n_layer);
}

static hearth_status load_layer(loader *L, int il)
{
    const bert_hparams *hp = &L->m->hp;
    bert_layer *l = &L->m->layers[il];
    const mdl_loader *ml = &L->ml;
    int64_t D = hp->n_embd, F = hp->n_ff;
    bool nomic = hp->rope;
    char name[96];
    hearth_status st = HEARTH_OK;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
    if ((st = mdl_load_matrix(ml, &l->wqkv, NAME("attn_qkv.weight"), D, 3 * D, nomic, false)) ||
        (!l->wqkv.data &&
         ((st = mdl_load_matrix(ml, &l->wq, NAME("attn_q.weight"), D, D, true, false)) ||
          (st = mdl_load_matrix(ml, &l->wk, NAME("attn_k.weight"), D, D, true, false)) ||
          (st = mdl_load_matrix(ml, &l->wv, NAME("attn_v.weight"), D, D, true, false)))) ||
        (st = mdl_load_matrix(ml, &l->wo, NAME("attn_output.weight"), D, D, true, false)) ||
        (st = mdl_load_matrix(ml, &l->w_up, NAME("ffn_up.weight"), D, F, true, false)) ||
        (st = mdl_load_matrix(ml, &l->w_gate, NAME("ffn_gate.weight"), D, F, nomic, false)) ||
        (st = mdl_load_matrix(ml, &l->w_down, NAME("ffn_down.weight"), F, D, true, false)))
        return st;
    if (!(l->attn_norm = mdl_load_vec(ml, NAME("attn_output_norm.weight"), D, true, &st)) ||
        !(l->attn_norm_b = mdl_load_vec(ml, NAME("attn_output_norm.bias"), D, true, &st)) ||
        !(l->out_norm = mdl_load_vec(ml, NAME("layer_output_norm.weight"), D, true, &st)) ||
        !(l->out_norm_b = mdl_load_vec(ml, NAME("layer_output_norm.bias"), D, true, &st)))
        return st;
    /* biases: required by bert, absent in nomic-bert */
    if (!l->wqkv.data) {
        l->bq = mdl_load_vec(ml, NAME("attn_q.bias"), D, !nomic, &st);
        l->bk = mdl_load_vec(ml, NAME("attn_k.bias"), D, !nomic, &st);
        l->bv = mdl_load_vec(ml, NAME("attn_v.bias"), D, !nomic, &st);
    }
    l->bo = mdl_load_vec(ml, NAME("attn_output.bias"), D, !nomic, &st);
    l->b_up = mdl_load_vec(ml, NAME("ffn_up.bias"), F, !nomic, &st);
    l->b_down = mdl_load_vec(ml, NAME("ffn_down.bias"), D, !nomic, &st);
#undef NAME
    return st;
}

hearth_status bert_model_load(bert_model **out, const gguf_file *g, hearth_error *err)
{
    *out = NULL;
    bert_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", g->path);
    loader L = { .ml = { .g = g, .arch = m->hp.arch, .owned = &m->owned, .err = err }, .m = m };
    const mdl_loader *ml = &L.ml;
    hearth_status st = load_hparams(&L);
    const bert_hparams *hp = &m->hp;
    if (!st && !(m->layers = mem_calloc((size_t)hp->n_layer, sizeof *m->layers)))
        st = err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", g->path);
    if (!st)
        st = mdl_load_matrix(ml, &m->token_embd, "token_embd.weight", hp->n_embd, hp->n_vocab,
                             true, true);
    if (!st && hp->n_token_types)
        st = mdl_load_matrix(ml, &m->type_embd, "token_types.weight", hp->n_embd,
                             hp->n_token_types, true, true);
    if (!st && !hp->rope)
        st = mdl_load_matrix(ml, &m->pos_embd, "position_embd.weight", hp->n_embd,
                             hp->n_ctx_train, true, true);
    if (!st && (!(m->embd_norm = mdl_load_vec(ml, "token_embd_norm.weight", hp->n_embd, true,
                                              &st)) ||
                !(m->embd_norm_b = mdl_load_vec(ml, "token_embd_norm.bias", hp->n_embd, true,
                                                &st))))
        st = st ? st : HEARTH_ERR_FORMAT;
    for (int il = 0; !st && il < hp->n_layer; il++)
        st = load_layer(&L, il);
    if (st) {
        bert_model_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}

void bert_model_free(bert_model *m)
{
    if (!m)
        return;
    mdl_owned_free(&m->owned);
    mem_free(m->layers);
    mem_free(m);
}

/* ---- context ---------------------------------------------------------------------------- */

static size_t scratch_size(const bert_model *m, int batch)
{
    size_t s = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const bert_layer *l = &m->layers[il];
        const mdl_weight *ws[] = { &l->wqkv, &l->wq, &l->wk, &l->wv, &l->wo, &l->w_up,
                                    &l->w_gate, &l->w_down };
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            if (!ws[i]->data)
                continue;
            size_t n = tq_matmul_scratch_size(ws[i]->type, ws[i]->cols, batch);
            if (n > s)
                s = n;
        }
    }
    return s;
}

hearth_status bert_ctx_new(bert_ctx **out, const bert_model *m, int n_batch, int n_threads,
                           hearth_error *err)
{
    *out = NULL;
    const bert_hparams *hp = &m->hp;
    if (n_batch <= 0)
        n_batch = 2048;
    if (n_batch < hp->n_ctx_train)
        n_batch = hp->n_ctx_train;
    if (n_batch > (1 << 20))
        return err_set(err, HEARTH_ERR_RANGE, "batch of %d tokens is too large", n_batch);
    bert_ctx *c = mem_calloc(1, sizeof *c);
    if (!c)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory creating an encoder context");
    c->m = m;
    c->n_batch = n_batch;
    c->kern = tq_kernels_best();
    c->pool = tq_pool_new(n_threads);
    int nth = c->pool ? tq_pool_size(c->pool) : 1;
    size_t B = (size_t)n_batch, D = hp->n_embd, F = hp->n_ff;
    c->x = mem_calloc(B * D, sizeof(float));
    c->xb = mem_calloc(B * D, sizeof(float));
    c->xb2 = mem_calloc(B * D, sizeof(float));
    c->q = mem_calloc(B * D, sizeof(float));
    c->k = mem_calloc(B * D, sizeof(float));
    c->v = mem_calloc(B * D, sizeof(float));
    c->qkv = mem_calloc(B * 3 * D, sizeof(float));
    c->hb = mem_calloc(B * F, sizeof(float));
    c->hb2 = mem_calloc(B * F, sizeof(float));
    c->att = mem_calloc((size_t)nth * hp->n_ctx_train, sizeof(float));
    c->seq_start = mem_calloc(B, sizeof(int));
    c->seq_len = mem_calloc(B, sizeof(int));
    c->pos = mem_calloc(B, sizeof(int));
    c->scratch = mem_alloc_aligned(scratch_size(m, n_batch) + 64, 64);
    if (!c->pool || !c->x || !c->xb || !c->xb2 || !c->q || !c->k || !c->v || !c->qkv ||
        !c->hb || !c->hb2 || !c->att || !c->seq_start || !c->seq_len || !c->pos ||
        !c->scratch) {
        bert_ctx_free(c);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory allocating an encoder context "
                       "for %d tokens", n_batch);
    }
    *out = c;
    return HEARTH_OK;
}

void bert_ctx_free(bert_ctx *c)
{
    if (!c)
        return;
    tq_pool_free(c->pool);
    float *bufs[] = { c->x, c->xb, c->xb2, c->q, c->k, c->v, c->qkv, c->hb, c->hb2, c->att };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        mem_free(bufs[i]);
    mem_free(c->seq_start);
    mem_free(c->seq_len);
    mem_free(c->pos);
    mem_free_aligned(c->scratch);
    mem_free(c);
}

int bert_ctx_n_batch(const bert_ctx *c)
{
    return c->n_batch;
}

/* ---- forward pass ----------------------------------------------------------------------- */

static void matmul(bert_ctx *c, float *y, const mdl_weight *w, const float *bias,
                   const float *x, int n)
{
    tq_matmul(c->pool, c->kern, y, w->data, w->type, w->rows, w->cols, x, n, c->scratch);
    if (bias)
        for (int b = 0; b < n; b++)
            tq_add(y + (size_t)b * w->rows, y + (size_t)b * w->rows, bias, w->rows);
}

static void layernorm_rows(float *out, const float *x, const float *w, const float *b, int n,
                           int dim, float eps)
{
    for (int i = 0; i < n; i++)
        tq_layernorm(out + (size_t)i * dim, x + (size_t)i * dim, w, b, dim, eps);
}

/* Embedding lookup of one table row, dequantized and added to out. */
static void add_row(float *out, const mdl_weight *w, int row, float *tmp)
{
    size_t rs = tq_row_size(w->type, w->cols);
    tq_dequantize(w->type, (const char *)w->data + rs * (size_t)row, tmp, w->cols);
    tq_add(out, out, tmp, w->cols);
}

typedef struct att_job {
    bert_ctx *c;
    int n;
} att_job;

/* Every (token, head) pair attends to the tokens of its own text. */
static void attention_task(void *arg, int ith, int nth)
{
    const att_job *j = arg;
    bert_ctx *c = j->c;
    const bert_hparams *hp = &c->m->hp;
    int D = hp->n_embd, H = hp->n_head, hd = D / H;
    float scale = 1.0f / sqrtf((float)hd);
    float *att = c->att + (size_t)ith * hp->n_ctx_train;
    for (int t = ith; t < j->n * H; t += nth) {
        int b = t / H, h = t % H, s0 = c->seq_start[b], len = c->seq_len[b];
        const float *q = c->q + (size_t)b * D + h * hd;
        for (int i = 0; i < len; i++)
            att[i] = tq_dot_f32(q, c->k + (size_t)(s0 + i) * D + h * hd, hd) * scale;
        tq_softmax(att, len);
        float *o = c->xb2 + (size_t)b * D + h * hd;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int i = 0; i < len; i++)
            tq_axpy(o, att[i], c->v + (size_t)(s0 + i) * D + h * hd, hd);
    }
}

static void attention(bert_ctx *c, const bert_layer *l, int n)
{
    const bert_hparams *hp = &c->m->hp;
    int D = hp->n_embd, hd = D / hp->n_head;
    if (l->wqkv.data) {
        matmul(c, c->qkv, &l->wqkv, NULL, c->x, n);
        for (int b = 0; b < n; b++) {
            const float *r = c->qkv + (size_t)b * 3 * D;
            memcpy(c->q + (size_t)b * D, r, (size_t)D * sizeof(float));
            memcpy(c->k + (size_t)b * D, r + D, (size_t)D * sizeof(float));
            memcpy(c->v + (size_t)b * D, r + 2 * D, (size_t)D * sizeof(float));
        }
    } else {
        matmul(c, c->q, &l->wq, l->bq, c->x, n);
        matmul(c, c->k, &l->wk, l->bk, c->x, n);
        matmul(c, c->v, &l->wv, l->bv, c->x, n);
    }
    if (hp->rope)
        for (int b = 0; b < n; b++)
            for (int h = 0; h < hp->n_head; h++) {
                tq_rope(c->q + (size_t)b * D + h * hd, hd, hd, c->pos[b], hp->rope_base, 1.0f,
                        NULL, 1);
                tq_rope(c->k + (size_t)b * D + h * hd, hd, hd, c->pos[b], hp->rope_base, 1.0f,
                        NULL, 1);
            }
    att_job job = { .c = c, .n = n };
    tq_pool_run(c->pool, attention_task, &job);
    matmul(c, c->xb, &l->wo, l->bo, c->xb2, n);
    tq_add(c->xb, c->xb, c->x, n * D);
    layernorm_rows(c->x, c->xb, l->attn_norm, l->attn_norm_b, n, D, hp->norm_eps);
}

static void feed_forward(bert_ctx *c, const bert_layer *l, int n)
{
    const bert_hparams *hp = &c->m->hp;
    int D = hp->n_embd, F = hp->n_ff;
    matmul(c, c->hb, &l->w_up, l->b_up, c->x, n);
    if (l->w_gate.data) {
        matmul(c, c->hb2, &l->w_gate, NULL, c->x, n);
        c->kern->swiglu(c->hb, c->hb2, c->hb, n * F);
    } else {
        tq_gelu(c->hb, c->hb, n * F);
    }
    matmul(c, c->xb, &l->w_down, l->b_down, c->hb, n);
    tq_add(c->xb, c->xb, c->x, n * D);
    layernorm_rows(c->x, c->xb, l->out_norm, l->out_norm_b, n, D, hp->norm_eps);
}

static void pool_text(const bert_ctx *c, int start, int len, float *out)
{
    const bert_hparams *hp = &c->m->hp;
    int D = hp->n_embd;
    const float *x = c->x + (size_t)start * D;
    if (hp->pooling == BERT_POOL_CLS || hp->pooling == BERT_POOL_LAST) {
        int row = hp->pooling == BERT_POOL_CLS ? 0 : len - 1;
        memcpy(out, x + (size_t)row * D, (size_t)D * sizeof(float));
        return;
    }
    memset(out, 0, (size_t)D * sizeof(float));
    for (int i = 0; i < len; i++)
        tq_axpy(out, 1.0f / (float)len, x + (size_t)i * D, D);
}

static hearth_status check_batch(bert_ctx *c, int n, const int32_t *const *tokens,
                                 const int *len, int *total, hearth_error *err)
{
    const bert_hparams *hp = &c->m->hp;
    long sum = 0;
    for (int i = 0; i < n; i++) {
        if (len[i] < 1 || len[i] > hp->n_ctx_train)
            return err_set(err, HEARTH_ERR_RANGE, "text %d has %d tokens (the encoder takes "
                           "1..%d)", i, len[i], hp->n_ctx_train);
        for (int t = 0; t < len[i]; t++)
            if (tokens[i][t] < 0 || tokens[i][t] >= hp->n_vocab)
                return err_set(err, HEARTH_ERR_RANGE, "token id %d is outside the vocabulary "
                               "(0..%d)", tokens[i][t], hp->n_vocab - 1);
        sum += len[i];
        if (sum > c->n_batch)
            return err_set(err, HEARTH_ERR_RANGE, "batch of more than %d tokens", c->n_batch);
    }
    *total = (int)sum;
    return HEARTH_OK;
}

hearth_status bert_encode(bert_ctx *c, int n, const int32_t *const *tokens, const int *len,
                          float *out, hearth_error *err)
{
    int total = 0;
    hearth_status st = check_batch(c, n, tokens, len, &total, err);
    if (st || n == 0)
        return st;
    const bert_model *m = c->m;
    const bert_hparams *hp = &m->hp;
    int D = hp->n_embd;
    for (int i = 0, b = 0; i < n; i++)
        for (int t = 0; t < len[i]; t++, b++) {
            c->seq_start[b] = b - t;
            c->seq_len[b] = len[i];
            c->pos[b] = t;
            float *x = c->x + (size_t)b * D;
            memset(x, 0, (size_t)D * sizeof(float));
            add_row(x, &m->token_embd, tokens[i][t], c->xb);
            if (m->type_embd.data)
                add_row(x, &m->type_embd, 0, c->xb);
            if (m->pos_embd.data)
                add_row(x, &m->pos_embd, t, c->xb);
        }
    layernorm_rows(c->x, c->x, m->embd_norm, m->embd_norm_b, total, D, hp->norm_eps);
    for (int il = 0; il < hp->n_layer; il++) {
        attention(c, &m->layers[il], total);
        feed_forward(c, &m->layers[il], total);
    }
    for (int i = 0, start = 0; i < n; start += len[i], i++)
        pool_text(c, start, len[i], out + (size_t)i * D);
    return HEARTH_OK;
}
