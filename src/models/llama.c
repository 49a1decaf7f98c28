/*
 * llama.c — the forward pass of decoder-only transformers: llama, qwen2, qwen3.
 *
 * The three architectures differ only in small, named ways, so they share one forward pass:
 *   llama   RoPE on adjacent pairs; optional rope_freqs (Llama 3 scaling); no biases
 *   qwen2   RoPE NeoX-style (pairs i, i + n_rot/2); biases on q, k, v
 *   qwen3   RoPE NeoX-style; RMSNorm of each q and k head before RoPE
 *
 * The KV cache holds, per sequence, layer and position, the keys and values of all KV
 * heads as one row of kv_type (F16, or Q8_0 whose 32-value blocks never straddle heads).
 *
 * Dimension legend (comments on buffers): B = tokens in the batch, D = n_embd,
 * H = n_head, KH = n_head_kv, hd = head_dim, F = n_ff, V = n_vocab, T = n_ctx.
 *
 * Weights point into the mapped GGUF file and are used in place (with
 * dequantize_all they are expanded to F32 once, at load, for float-math checks). All
 * activation buffers are allocated by llm_ctx_new for the largest chunk of a batch
 * (LLM_CHUNK tokens: longer batches go through the layers a chunk at a time); llm_decode
 * allocates nothing.
 */
#include "models/llama.h"

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

typedef struct llm_layer {
    const float *attn_norm;          /* (D) */
    mdl_weight wq;                   /* (H*hd, D) */
    mdl_weight wk, wv;               /* (KH*hd, D) */
    mdl_weight wo;                   /* (D, H*hd) */
    const float *bq, *bk, *bv;       /* (H*hd), (KH*hd), (KH*hd): qwen2 only */
    const float *q_norm, *k_norm;    /* (hd): qwen3 only */
    const float *ffn_norm;           /* (D) */
    mdl_weight w_gate, w_up;         /* (F, D) */
    mdl_weight w_down;               /* (D, F) */
} llm_layer;

struct llm_model {
    llm_hparams hp;
    mdl_weight token_embd;           /* (V, D) */
    const float *output_norm;        /* (D) */
    mdl_weight output;               /* (V, D); token_embd when tied */
    const float *rope_freqs;         /* (n_rot/2) or NULL */
    llm_layer *layers;
    mdl_owned owned; /* F32 copies made at load (norms stored in another type, dequantize_all) */
};

struct llm_ctx {
    const llm_model *m;
    llm_ctx_params p;
    tq_pool *pool;
    const tq_kernels *kern;
    /* KV cache of kv_type: [seq][layer][pos] rows of KH*hd values */
    char *k_cache, *v_cache;
    size_t kv_row, kv_head;                /* bytes per position row, per head within it */
    size_t kv_seq_stride, kv_layer_stride; /* in bytes */
    /* activations */
    float *x;      /* (B, D) residual stream */
    float *xb;     /* (B, D) normed input of a sub-layer */
    float *xb2;    /* (B, max(D, H*hd)) */
    float *q;      /* (B, H*hd) */
    float *k, *v;  /* (B, KH*hd) */
    float *hb;     /* (B, F) */
    float *hb2;    /* (B, F) */
    float *att;    /* (threads, H/KH * T) attention scores */
    size_t att_stride;
    float *vtmp;   /* (threads, hd) a dequantized V row */
    void *qtmp;    /* (threads, hd) a query head in the K cache's dot type */
    void *scratch; /* quantized activations for matmul */
    float *rope_cs; /* [threads](n_rot) cos/sin pairs of one position */
    int32_t *seq_last; /* (n_seq) last position seen per sequence while checking a batch */
};

llm_model_params llm_model_default_params(void)
{
    return (llm_model_params){ .dequantize_all = false };
}

llm_ctx_params llm_ctx_default_params(void)
{
    return (llm_ctx_params){ .n_ctx = 0, .n_seq = 1, .n_batch = 512, .n_threads = 0,
                             .kv_type = TQ_F16 };
}

const llm_hparams *llm_model_hparams(const llm_model *m)
{
    return &m->hp;
}

static size_t weight_bytes(const mdl_weight *w)
{
    return w->data ? tq_row_size(w->type, w->cols) * (size_t)w->rows : 0;
}

size_t llm_model_step_bytes(const llm_model *m)
{
    const llm_hparams *hp = &m->hp;
    size_t vec = sizeof(float), D = (size_t)hp->n_embd;
    size_t n = weight_bytes(&m->output) + D * vec + tq_row_size(m->token_embd.type, hp->n_embd);
    for (int il = 0; il < hp->n_layer; il++) {
        const llm_layer *l = &m->layers[il];
        n += weight_bytes(&l->wq) + weight_bytes(&l->wk) + weight_bytes(&l->wv) +
             weight_bytes(&l->wo) + weight_bytes(&l->w_gate) + weight_bytes(&l->w_up) +
             weight_bytes(&l->w_down) + 2 * D * vec;
    }
    return n;
}

/* ---- loading ---------------------------------------------------------------------------- */

typedef struct loader {
    mdl_loader ml;
    llm_model *m;
    llm_model_params params;
} loader;

/* A weight matrix in place, or with dequantize_all expanded to F32 once. */
static hearth_status load_matrix(loader *L, mdl_weight *w, const char *name, int64_t cols,
                                 int64_t rows, bool required)
{
    hearth_status st = mdl_load_matrix(&L->ml, w, name, cols, rows, required, false);
    if (st || !w->data || !L->params.dequantize_all || w->type == TQ_F32)
        return st;
    float *f = mdl_own(&L->m->owned, mem_calloc((size_t)rows * (size_t)cols, sizeof(float)));
    if (!f)
        return err_set(L->ml.err, HEARTH_ERR_NOMEM, "%s: out of memory expanding %s",
                       L->ml.g->path, name);
    tq_dequantize(w->type, w->data, f, rows * cols);
    w->data = f;
    w->type = TQ_F32;
    return HEARTH_OK;
}

static hearth_status load_hparams(loader *L)
{
    llm_hparams *hp = &L->m->hp;
    const mdl_loader *ml = &L->ml;
    const char *arch = gguf_get_str(ml->g, "general.architecture");
    if (!arch)
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: missing general.architecture",
                       ml->g->path);
    if (strcmp(arch, "llama") && strcmp(arch, "qwen2") && strcmp(arch, "qwen3"))
        return err_set(ml->err, HEARTH_ERR_UNSUPPORTED, "%s: architecture '%.40s' is not "
                       "supported (hearth runs llama, qwen2 and qwen3)", ml->g->path, arch);
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);

    hearth_status st;
    if ((st = mdl_get_u32(ml, "embedding_length", true, 0, 1, &hp->n_embd)) ||
        (st = mdl_get_u32(ml, "block_count", true, 0, 1, &hp->n_layer)) ||
        (st = mdl_get_u32(ml, "feed_forward_length", true, 0, 1, &hp->n_ff)) ||
        (st = mdl_get_u32(ml, "attention.head_count", true, 0, 1, &hp->n_head)) ||
        (st = mdl_get_u32(ml, "attention.head_count_kv", false, hp->n_head, 1, &hp->n_head_kv)) ||
        (st = mdl_get_u32(ml, "context_length", false, 2048, 1, &hp->n_ctx_train)))
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: %d attention heads is not a multiple "
                       "of %d KV heads", ml->g->path, hp->n_head, hp->n_head_kv);
    int hd_default = hp->n_embd / hp->n_head;
    if ((st = mdl_get_u32(ml, "attention.key_length", false, hd_default, 1, &hp->head_dim)))
        return st;
    int v_len;
    if ((st = mdl_get_u32(ml, "attention.value_length", false, hp->head_dim, 1, &v_len)))
        return st;
    if (v_len != hp->head_dim)
        return err_set(ml->err, HEARTH_ERR_UNSUPPORTED, "%s: key length %d != value length %d "
                       "is not supported", ml->g->path, hp->head_dim, v_len);
    if ((st = mdl_get_u32(ml, "rope.dimension_count", false, hp->head_dim, 1, &hp->n_rot)))
        return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: rope.dimension_count %d does not fit "
                       "head size %d", ml->g->path, hp->n_rot, hp->head_dim);
    hp->rope_neox = strcmp(arch, "llama") != 0;

    char key[128];
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (!gguf_get_f32(ml->g, key, &hp->rope_base))
        hp->rope_base = 10000.0f;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if (!gguf_get_f32(ml->g, key, &hp->norm_eps))
        hp->norm_eps = 1e-5f;
    hp->rope_freq_scale = 1.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *scaling = gguf_get_str(ml->g, key);
    if (scaling && strcmp(scaling, "none") != 0) {
        float factor = 1.0f;
        snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
        gguf_get_f32(ml->g, key, &factor);
        if (strcmp(scaling, "linear") != 0)
            return err_set(ml->err, HEARTH_ERR_UNSUPPORTED, "%s: rope scaling '%.20s' is not "
                           "supported yet (linear is)", ml->g->path, scaling);
        if (!(factor >= 1.0f && factor <= 1024.0f))
            return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: rope scaling factor %g is out of "
                           "range", ml->g->path, factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    if (!(hp->rope_base > 0) || !(hp->norm_eps > 0))
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: rope base or norm epsilon is not "
                       "positive", ml->g->path);
    const gguf_tensor *emb = gguf_find_tensor(ml->g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > (1 << 24))
        return err_set(ml->err, HEARTH_ERR_FORMAT, "%s: missing or malformed token_embd.weight",
                       ml->g->path);
    hp->n_vocab = (int)emb->ne[1];
    return mdl_check_layers(ml, hp->n_layer);
}

static hearth_status load_layer(loader *L, int il)
{
    const llm_hparams *hp = &L->m->hp;
    llm_layer *l = &L->m->layers[il];
    const mdl_loader *ml = &L->ml;
    int64_t D = hp->n_embd, Q = (int64_t)hp->n_head * hp->head_dim;
    int64_t KV = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    char name[96];
    hearth_status st = HEARTH_OK;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
    if (!(l->attn_norm = mdl_load_vec(ml, NAME("attn_norm.weight"), D, true, &st)) ||
        !(l->ffn_norm = mdl_load_vec(ml, NAME("ffn_norm.weight"), D, true, &st)))
        return st;
    if ((st = load_matrix(L, &l->wq, NAME("attn_q.weight"), D, Q, true)) ||
        (st = load_matrix(L, &l->wk, NAME("attn_k.weight"), D, KV, true)) ||
        (st = load_matrix(L, &l->wv, NAME("attn_v.weight"), D, KV, true)) ||
        (st = load_matrix(L, &l->wo, NAME("attn_output.weight"), Q, D, true)) ||
        (st = load_matrix(L, &l->w_gate, NAME("ffn_gate.weight"), D, F, true)) ||
        (st = load_matrix(L, &l->w_up, NAME("ffn_up.weight"), D, F, true)) ||
        (st = load_matrix(L, &l->w_down, NAME("ffn_down.weight"), F, D, true)))
        return st;
    bool qwen2 = strcmp(hp->arch, "qwen2") == 0, qwen3 = strcmp(hp->arch, "qwen3") == 0;
    l->bq = mdl_load_vec(ml, NAME("attn_q.bias"), Q, qwen2, &st);
    l->bk = mdl_load_vec(ml, NAME("attn_k.bias"), KV, qwen2, &st);
    l->bv = mdl_load_vec(ml, NAME("attn_v.bias"), KV, qwen2, &st);
    l->q_norm = mdl_load_vec(ml, NAME("attn_q_norm.weight"), hp->head_dim, qwen3, &st);
    l->k_norm = mdl_load_vec(ml, NAME("attn_k_norm.weight"), hp->head_dim, qwen3, &st);
#undef NAME
    return st;
}

hearth_status llm_model_load(llm_model **out, const gguf_file *g, llm_model_params params,
                             hearth_error *err)
{
    *out = NULL;
    llm_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", g->path);
    loader L = { .ml = { .g = g, .arch = m->hp.arch, .owned = &m->owned, .err = err }, .m = m,
                 .params = params };
    const mdl_loader *ml = &L.ml;
    hearth_status st = load_hparams(&L);
    const llm_hparams *hp = &m->hp;
    if (!st && !(m->layers = mem_calloc((size_t)hp->n_layer, sizeof *m->layers)))
        st = err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", g->path);
    if (!st)
        st = load_matrix(&L, &m->token_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true);
    if (!st && !(m->output_norm = mdl_load_vec(ml, "output_norm.weight", hp->n_embd, true, &st)))
        st = st ? st : HEARTH_ERR_FORMAT;
    if (!st) {
        if (gguf_find_tensor(g, "output.weight"))
            st = load_matrix(&L, &m->output, "output.weight", hp->n_embd, hp->n_vocab, true);
        else
            m->output = m->token_embd; /* tied embeddings */
    }
    if (!st)
        m->rope_freqs = mdl_load_vec(ml, "rope_freqs.weight", hp->n_rot / 2, false, &st);
    for (int il = 0; !st && il < hp->n_layer; il++)
        st = load_layer(&L, il);
    if (st) {
        llm_model_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}

void llm_model_free(llm_model *m)
{
    if (!m)
        return;
    mdl_owned_free(&m->owned);
    mem_free(m->layers);
    mem_free(m);
}

/* ---- context ---------------------------------------------------------------------------- */

/* A batch longer than this is run through the layers this many tokens at a time, so the
 * activation buffers (about 60 KB per token for a 1B model) stay a few percent of the
 * weights: a 512-token prompt on a Llama-3.2-1B-shaped Q4_0 model peaked at 112 % of
 * weights + KV cache with whole batches, 108 % with chunks of 256 (106 % with 128), at the
 * same prompt speed (CPU time within 2 %; chunks of 128 cost 3 % more, the weight panels
 * being decoded once per chunk). */
#define LLM_CHUNK 256

static int chunk_rows(int n_batch)
{
    return n_batch < LLM_CHUNK ? n_batch : LLM_CHUNK;
}

static size_t max_scratch(const llm_model *m, int batch)
{
    const llm_hparams *hp = &m->hp;
    size_t s = tq_matmul_scratch_size(m->output.type, hp->n_embd, batch);
    for (int il = 0; il < hp->n_layer; il++) {
        const llm_layer *l = &m->layers[il];
        const mdl_weight *ws[] = { &l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up,
                                   &l->w_down };
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            size_t n = tq_matmul_scratch_size(ws[i]->type, ws[i]->cols, batch);
            if (n > s)
                s = n;
        }
    }
    return s;
}

/* Fill in p's defaults and check it for m, as llm_ctx_new and llm_ctx_kv_bytes both must. */
static hearth_status resolve_params(const llm_hparams *hp, llm_ctx_params *p,
                                    hearth_error *err)
{
    if (p->n_ctx <= 0)
        p->n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p->n_seq <= 0)
        p->n_seq = 1;
    if (p->n_batch <= 0)
        p->n_batch = 512;
    if (p->n_ctx > (1 << 22) || p->n_seq > 1024 || p->n_batch > 65536)
        return err_set(err, HEARTH_ERR_RANGE, "context of %d positions x %d sequences "
                       "(batch %d) is too large", p->n_ctx, p->n_seq, p->n_batch);
    if (p->kv_type != TQ_F16 && p->kv_type != TQ_Q8_0)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "KV cache type %s is not supported (F16 "
                       "or Q8_0)", tq_type_name(p->kv_type));
    if (hp->head_dim % tq_traits_of(p->kv_type)->blck)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "a %s KV cache needs a head size that is a "
                       "multiple of %d (this model's is %d)", tq_type_name(p->kv_type),
                       tq_traits_of(p->kv_type)->blck, hp->head_dim);
    return HEARTH_OK;
}

size_t llm_ctx_kv_bytes(const llm_model *m, llm_ctx_params p)
{
    if (resolve_params(&m->hp, &p, NULL))
        return 0;
    const llm_hparams *hp = &m->hp;
    size_t row = tq_row_size(p.kv_type, (int64_t)hp->n_head_kv * hp->head_dim);
    return 2 * row * (size_t)p.n_ctx * (size_t)hp->n_layer * (size_t)p.n_seq;
}

hearth_status llm_ctx_new(llm_ctx **out, const llm_model *m, llm_ctx_params p,
                          hearth_error *err)
{
    *out = NULL;
    const llm_hparams *hp = &m->hp;
    hearth_status st = resolve_params(hp, &p, err);
    if (st)
        return st;
    llm_ctx *c = mem_calloc(1, sizeof *c);
    if (!c)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory creating a context");
    c->m = m;
    c->p = p;
    c->kern = tq_kernels_best();
    c->pool = tq_pool_new(p.n_threads);
    int nth = c->pool ? tq_pool_size(c->pool) : 1;

    size_t B = (size_t)chunk_rows(p.n_batch), D = hp->n_embd;
    size_t Q = (size_t)hp->n_head * hp->head_dim, KV = (size_t)hp->n_head_kv * hp->head_dim;
    c->kv_row = tq_row_size(p.kv_type, (int64_t)KV);
    c->kv_head = tq_row_size(p.kv_type, hp->head_dim);
    c->kv_layer_stride = (size_t)p.n_ctx * c->kv_row;
    c->kv_seq_stride = c->kv_layer_stride * hp->n_layer;
    size_t kv_bytes = c->kv_seq_stride * p.n_seq;
    c->k_cache = mem_calloc(kv_bytes, 1);
    c->v_cache = mem_calloc(kv_bytes, 1);
    c->x = mem_calloc(B * D, sizeof(float));
    c->xb = mem_calloc(B * D, sizeof(float));
    c->xb2 = mem_calloc(B * (Q > D ? Q : D), sizeof(float));
    c->q = mem_calloc(B * Q, sizeof(float));
    c->k = mem_calloc(B * KV, sizeof(float));
    c->v = mem_calloc(B * KV, sizeof(float));
    c->hb = mem_calloc(B * hp->n_ff, sizeof(float));
    c->hb2 = mem_calloc(B * hp->n_ff, sizeof(float));
    c->att_stride = (size_t)(hp->n_head / hp->n_head_kv) * p.n_ctx;
    c->att = mem_calloc((size_t)nth * c->att_stride, sizeof(float));
    c->vtmp = mem_calloc((size_t)nth * hp->head_dim, sizeof(float));
    c->qtmp = mem_calloc((size_t)nth * hp->head_dim, sizeof(float));
    c->scratch = mem_alloc_aligned(max_scratch(m, (int)B), 64);
    c->rope_cs = mem_calloc((size_t)nth * hp->n_rot, sizeof(float));
    c->seq_last = mem_calloc((size_t)p.n_seq, sizeof(int32_t));
    if (!c->pool || !c->k_cache || !c->v_cache || !c->x || !c->xb || !c->xb2 || !c->q ||
        !c->k || !c->v || !c->hb || !c->hb2 || !c->att || !c->vtmp || !c->qtmp || !c->scratch ||
        !c->rope_cs || !c->seq_last) {
        llm_ctx_free(c);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory allocating a context of %d "
                       "positions (KV cache %.1f MiB)", p.n_ctx,
                       2.0 * kv_bytes / (1 << 20));
    }
    *out = c;
    return HEARTH_OK;
}

void llm_ctx_free(llm_ctx *c)
{
    if (!c)
        return;
    tq_pool_free(c->pool);
    mem_free(c->k_cache);
    mem_free(c->v_cache);
    mem_free(c->x);
    mem_free(c->xb);
    mem_free(c->xb2);
    mem_free(c->q);
    mem_free(c->k);
    mem_free(c->v);
    mem_free(c->hb);
    mem_free(c->hb2);
    mem_free(c->att);
    mem_free(c->vtmp);
    mem_free(c->qtmp);
    mem_free_aligned(c->scratch);
    mem_free(c->rope_cs);
    mem_free(c->seq_last);
    mem_free(c);
}

int llm_ctx_n_ctx(const llm_ctx *c)
{
    return c->p.n_ctx;
}

size_t llm_ctx_kv_held(const llm_ctx *c)
{
    return llm_ctx_kv_bytes(c->m, c->p);
}

/* ---- forward pass ----------------------------------------------------------------------- */

static void matmul(llm_ctx *c, float *y, const mdl_weight *w, const float *x, int n)
{
    tq_matmul(c->pool, c->kern, y, w->data, w->type, w->rows, w->cols, x, n, c->scratch);
}

/* Up to three products of the same activations (q/k/v, gate/up): one pool run for all of
 * them when their weight types allow (see tq_matmul_multi). w3 may be NULL. */
static void matmul3(llm_ctx *c, const float *x, int n, float *y1, const mdl_weight *w1,
                    float *y2, const mdl_weight *w2, float *y3, const mdl_weight *w3)
{
    tq_matmul_item it[3] = {
        { .y = y1, .W = w1->data, .type = w1->type, .rows = w1->rows },
        { .y = y2, .W = w2->data, .type = w2->type, .rows = w2->rows },
    };
    if (w3)
        it[2] = (tq_matmul_item){ .y = y3, .W = w3->data, .type = w3->type, .rows = w3->rows };
    tq_matmul_multi(c->pool, c->kern, it, w3 ? 3 : 2, w1->cols, x, n, c->scratch);
}

/* Attention for every (token, KV head) pair, split across threads. Reads the KV cache of
 * the token's sequence at positions 0..pos, which already holds this batch's keys and
 * values. The query heads sharing a KV head are done together, so each cached row is read
 * once per step. */
typedef struct att_job {
    llm_ctx *c;
    int layer, n;
    const int32_t *pos, *seq;
} att_job;

/* One query head over a quantized (Q8_0) cache: K rows are dotted with the query in the
 * cache type's activation format, V rows are dequantized one at a time. */
static void attend_quant(llm_ctx *c, const char *kc, const char *vc, int n, const float *q,
                         float *out, int ith)
{
    const int hd = c->m->hp.head_dim, kv_type = c->p.kv_type;
    const float scale = 1.0f / sqrtf((float)hd);
    float *att = c->att + (size_t)ith * c->att_stride;
    float *vrow = c->vtmp + (size_t)ith * hd;
    int qt = tq_vec_dot_type(kv_type);
    void *qconv = (char *)c->qtmp + (size_t)ith * hd * sizeof(float);
    tq_vec_dot_fn dot = c->kern->vec_dot[kv_type];
    c->kern->from_float[qt](q, qconv, hd);
    for (int i = 0; i < n; i++) {
        float sc;
        dot(hd, &sc, kc + (size_t)i * c->kv_row, qconv);
        att[i] = sc * scale;
    }
    tq_softmax(att, n);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int i = 0; i < n; i++) {
        tq_dequantize(kv_type, vc + (size_t)i * c->kv_row, vrow, hd);
        tq_axpy(out, att[i], vrow, hd);
    }
}

static void attention_task(void *arg, int ith, int nth)
{
    const att_job *j = arg;
    llm_ctx *c = j->c;
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;

    for (int t = ith; t < j->n * hp->n_head_kv; t += nth) {
        int b = t / hp->n_head_kv, kvh = t % hp->n_head_kv;
        int s = j->seq ? j->seq[b] : 0, n = j->pos[b] + 1;
        size_t base = (size_t)s * c->kv_seq_stride + (size_t)j->layer * c->kv_layer_stride +
                      (size_t)kvh * c->kv_head;
        const char *kc = c->k_cache + base; /* (T, KH*hd) rows of kv_type */
        const char *vc = c->v_cache + base;
        size_t h0 = (size_t)b * hp->n_head + (size_t)kvh * group;
        const float *q = c->q + h0 * hd;  /* (group, hd) */
        float *out = c->xb2 + h0 * hd;    /* (group, hd) */
        if (c->p.kv_type == TQ_F16) {
            tq_attn_args a = {
                .hd = hd, .ng = group, .n = n, .q = q, .k = (const tq_f16 *)kc,
                .v = (const tq_f16 *)vc, .stride = c->kv_row / sizeof(tq_f16),
                .scale = 1.0f / sqrtf((float)hd), .att = c->att + (size_t)ith * c->att_stride,
                .out = out,
            };
            c->kern->attn_f16(&a);
        } else {
            for (int h = 0; h < group; h++)
                attend_quant(c, kc, vc, n, q + (size_t)h * hd, out + (size_t)h * hd, ith);
        }
    }
}

/* The sines and cosines of a position are shared by all of its heads: computed once per
 * token (sinf/cosf per head cost 3 % of a 512-token prompt). */
/* Row-wise work of a batch goes to the pool from this many rows on; below, a pool round
 * trip costs more than the work. */
#define ROWS_PARALLEL_MIN 8

typedef struct rope_job {
    llm_ctx *c;
    const llm_layer *l;
    int il, n;
    const int32_t *pos, *seq;
} rope_job;

/* Rows of a batch split across the pool: RoPE (after the per-head norms of qwen3) on q
 * and k, then k and v into the cache. */
static void rope_task(void *arg, int ith, int nth)
{
    const rope_job *j = arg;
    llm_ctx *c = j->c;
    const llm_layer *l = j->l;
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, kvdim = hp->n_head_kv * hd;
    float *cs = c->rope_cs + (size_t)ith * hp->n_rot;
    tq_from_float_fn store = c->kern->from_float[c->p.kv_type];
    for (int b = j->n * ith / nth; b < j->n * (ith + 1) / nth; b++) {
        float *q = c->q + (size_t)b * hp->n_head * hd; /* (H, hd) */
        float *k = c->k + (size_t)b * kvdim;            /* (KH, hd) */
        tq_rope_cache(cs, hp->n_rot, j->pos[b], hp->rope_base, hp->rope_freq_scale,
                      c->m->rope_freqs);
        for (int h = 0; h < hp->n_head; h++) {
            if (l->q_norm)
                tq_rmsnorm(q + h * hd, q + h * hd, l->q_norm, hd, hp->norm_eps);
            tq_rope_apply(q + h * hd, hp->n_rot, cs, hp->rope_neox);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            if (l->k_norm)
                tq_rmsnorm(k + h * hd, k + h * hd, l->k_norm, hd, hp->norm_eps);
            tq_rope_apply(k + h * hd, hp->n_rot, cs, hp->rope_neox);
        }
        size_t at = (size_t)(j->seq ? j->seq[b] : 0) * c->kv_seq_stride +
                    (size_t)j->il * c->kv_layer_stride + (size_t)j->pos[b] * c->kv_row;
        store(k, c->k_cache + at, kvdim);
        store(c->v + (size_t)b * kvdim, c->v_cache + at, kvdim);
    }
}

static void rope_and_store(llm_ctx *c, const llm_layer *l, int il, int n, const int32_t *pos,
                           const int32_t *seq)
{
    rope_job j = { .c = c, .l = l, .il = il, .n = n, .pos = pos, .seq = seq };
    if (n >= ROWS_PARALLEL_MIN)
        tq_pool_run(c->pool, rope_task, &j);
    else
        rope_task(&j, 0, 1);
}

static void add_bias(float *y, const float *bias, int n, int dim)
{
    if (!bias)
        return;
    for (int b = 0; b < n; b++)
        tq_add(y + (size_t)b * dim, y + (size_t)b * dim, bias, dim);
}

static hearth_status check_batch(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                                 const int32_t *seq, hearth_error *err)
{
    if (n <= 0 || n > c->p.n_batch)
        return err_set(err, HEARTH_ERR_RANGE, "batch of %d tokens (allowed 1..%d)", n,
                       c->p.n_batch);
    for (int b = 0; b < n; b++) {
        if (tokens[b] < 0 || tokens[b] >= c->m->hp.n_vocab)
            return err_set(err, HEARTH_ERR_RANGE, "token id %d is outside the vocabulary "
                           "(0..%d)", tokens[b], c->m->hp.n_vocab - 1);
        if (pos[b] < 0 || pos[b] >= c->p.n_ctx)
            return err_set(err, HEARTH_ERR_RANGE, "context full: position %d does not fit a "
                           "context of %d tokens", pos[b], c->p.n_ctx);
        if (seq && (seq[b] < 0 || seq[b] >= c->p.n_seq))
            return err_set(err, HEARTH_ERR_RANGE, "sequence %d does not exist (0..%d)", seq[b],
                           c->p.n_seq - 1);
    }
    if (n <= LLM_CHUNK)
        return HEARTH_OK;
    /* A chunk attends to the cache as the chunks before it left it, so a sequence's tokens
     * must come in increasing position order. */
    for (int s = 0; s < c->p.n_seq; s++)
        c->seq_last[s] = -1;
    for (int b = 0; b < n; b++) {
        int s = seq ? seq[b] : 0;
        if (pos[b] <= c->seq_last[s])
            return err_set(err, HEARTH_ERR_RANGE, "a batch of more than %d tokens must give "
                           "each sequence's positions in increasing order (sequence %d: %d "
                           "after %d)", LLM_CHUNK, s, pos[b], c->seq_last[s]);
        c->seq_last[s] = pos[b];
    }
    return HEARTH_OK;
}

/* The row-wise steps between the products: the residual add and the next norm (x += add,
 * unless add is NULL; xb = rmsnorm(x) * w), or the feed-forward's SwiGLU (hb = silu(hb) *
 * hb2). For a batch they are split across the pool by rows: on one thread they were 4 % of
 * a 512-token prompt while the other thread waited. */
typedef struct rows_job {
    llm_ctx *c;
    int n;
    bool swiglu;
    const float *add, *w;
} rows_job;

static void rows_task(void *arg, int ith, int nth)
{
    const rows_job *j = arg;
    llm_ctx *c = j->c;
    const llm_hparams *hp = &c->m->hp;
    const int D = hp->n_embd, F = hp->n_ff;
    for (int b = j->n * ith / nth; b < j->n * (ith + 1) / nth; b++) {
        if (j->swiglu) {
            float *h = c->hb + (size_t)b * F;
            c->kern->swiglu(h, h, c->hb2 + (size_t)b * F, F);
            continue;
        }
        float *x = c->x + (size_t)b * D;
        if (j->add)
            tq_add(x, x, j->add + (size_t)b * D, D);
        tq_rmsnorm(c->xb + (size_t)b * D, x, j->w, D, hp->norm_eps);
    }
}

static void run_rows(llm_ctx *c, int n, bool swiglu, const float *add, const float *w)
{
    rows_job j = { .c = c, .n = n, .swiglu = swiglu, .add = add, .w = w };
    if (n >= ROWS_PARALLEL_MIN)
        tq_pool_run(c->pool, rows_task, &j);
    else
        rows_task(&j, 0, 1);
}

/* The forward pass of at most LLM_CHUNK tokens; `out` receives logits, or with `hidden` the
 * final-normed hidden states (n_embd floats per wanted row), which is what embedding models
 * pool. With want NULL only the batch's last token is wanted: the chunk's last one if
 * `last` is set. Returns the number of rows written. */
static int forward_chunk(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                         const int32_t *seq, const uint8_t *want, bool last, float *out,
                         bool hidden)
{
    const llm_model *m = c->m;
    const llm_hparams *hp = &m->hp;
    int D = hp->n_embd, Q = hp->n_head * hp->head_dim, KV = hp->n_head_kv * hp->head_dim;

    for (int b = 0; b < n; b++) {
        size_t row = tq_row_size(m->token_embd.type, D);
        tq_dequantize(m->token_embd.type, (const char *)m->token_embd.data + row * tokens[b],
                      c->x + (size_t)b * D, D);
    }

    for (int il = 0; il < hp->n_layer; il++) {
        const llm_layer *l = &m->layers[il];
        /* attention (after the previous layer's feed-forward residual, still in xb) */
        run_rows(c, n, false, il > 0 ? c->xb : NULL, l->attn_norm);
        matmul3(c, c->xb, n, c->q, &l->wq, c->k, &l->wk, c->v, &l->wv);
        add_bias(c->q, l->bq, n, Q);
        add_bias(c->k, l->bk, n, KV);
        add_bias(c->v, l->bv, n, KV);
        rope_and_store(c, l, il, n, pos, seq);
        att_job job = { .c = c, .layer = il, .n = n, .pos = pos, .seq = seq };
        tq_pool_run(c->pool, attention_task, &job);
        matmul(c, c->xb, &l->wo, c->xb2, n);

        /* feed-forward: down(silu(gate(x)) * up(x)), after the attention residual */
        run_rows(c, n, false, c->xb, l->ffn_norm);
        matmul3(c, c->xb, n, c->hb, &l->w_gate, c->hb2, &l->w_up, NULL, NULL);
        run_rows(c, n, true, NULL, NULL);
        matmul(c, c->xb, &l->w_down, c->hb, n);
    }
    tq_add(c->x, c->x, c->xb, n * D); /* the last layer's feed-forward residual */

    /* gather the wanted rows, normalise, project to the vocabulary (unless hidden) */
    int n_out = 0;
    float *rows = hidden ? out : c->xb;
    for (int b = 0; b < n; b++)
        if (want ? want[b] : last && b == n - 1)
            tq_rmsnorm(rows + (size_t)n_out++ * D, c->x + (size_t)b * D, m->output_norm, D,
                       hp->norm_eps);
    if (n_out && !hidden)
        matmul(c, out, &m->output, c->xb, n_out);
    return n_out;
}

static hearth_status forward(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                             const int32_t *seq, const uint8_t *want, float *out, bool hidden,
                             hearth_error *err)
{
    hearth_status st = check_batch(c, n, tokens, pos, seq, err);
    if (st)
        return st;
    size_t out_row = (size_t)(hidden ? c->m->hp.n_embd : c->m->hp.n_vocab);
    for (int i = 0; i < n; i += LLM_CHUNK) {
        int k = n - i < LLM_CHUNK ? n - i : LLM_CHUNK;
        int rows = forward_chunk(c, k, tokens + i, pos + i, seq ? seq + i : NULL,
                                 want ? want + i : NULL, i + k == n, out, hidden);
        out += (size_t)rows * out_row;
    }
    return HEARTH_OK;
}

hearth_status llm_decode(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                         const int32_t *seq, const uint8_t *want, float *logits,
                         hearth_error *err)
{
    return forward(c, n, tokens, pos, seq, want, logits, false, err);
}

hearth_status llm_decode_hidden(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                                const int32_t *seq, const uint8_t *want, float *hidden,
                                hearth_error *err)
{
    return forward(c, n, tokens, pos, seq, want, hidden, true, err);
}
