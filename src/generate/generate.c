/*
 * generate.c — see generate.h.
 *
 * The loop: reuse the longest common prefix of the new prompt and the cached tokens,
 * evaluate the rest in n_batch chunks (logits only for the last), then repeat
 * { sample; report; stop?; evaluate the sampled token }. The session's token list always
 * mirrors the KV cache, so an error or a cancel leaves it consistent for the next call.
 */
#include "generate/generate.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "generate/stopper.h"

struct gen_session {
    const llm_model *m;
    const tok_vocab *v;
    llm_ctx *ctx;
    int n_ctx, n_batch, n_vocab;
    tok_id *cached;    /* (n_ctx) tokens whose keys/values are in the cache */
    int n_cached;
    float *logits;     /* (n_vocab) */
    float *work;       /* (n_vocab) logits the sampler may modify, or log-probabilities */
    int32_t *pos;      /* (n_batch) positions of a prompt chunk */
    grm_vocab *gv;     /* token trie for grammars, built on first use */
};

hearth_status gen_model_open(gen_model **out, const char *path, llm_model_params mp,
                             hearth_error *err)
{
    *out = NULL;
    gen_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", path);
    hearth_status st = gguf_open(&m->gguf, path, err);
    if (!st)
        st = llm_model_load(&m->llm, m->gguf, mp, err);
    if (!st)
        st = tok_load(&m->vocab, m->gguf, err);
    if (!st && (size_t)llm_model_hparams(m->llm)->n_vocab < tok_n_tokens(m->vocab))
        st = err_set(err, HEARTH_ERR_FORMAT, "%s: the tokenizer has %zu tokens but the model "
                     "only %d embeddings", path, tok_n_tokens(m->vocab),
                     llm_model_hparams(m->llm)->n_vocab);
    if (st) {
        gen_model_free(m);
        return st;
    }
    m->chat_template = gguf_get_str(m->gguf, "tokenizer.chat_template");
    *out = m;
    return HEARTH_OK;
}

void gen_model_free(gen_model *m)
{
    if (!m)
        return;
    tok_free(m->vocab);
    llm_model_free(m->llm);
    gguf_close(m->gguf);
    mem_free(m);
}

gen_params gen_default_params(void)
{
    return (gen_params){ .sampling = smp_default_params(), .n_predict = -1 };
}

const char *gen_finish_name(enum gen_finish f)
{
    switch (f) {
    case GEN_FINISH_EOG: return "eog";
    case GEN_FINISH_STOP: return "stop";
    case GEN_FINISH_LENGTH: return "length";
    case GEN_FINISH_CONTEXT: return "context";
    case GEN_FINISH_CANCELLED: return "cancelled";
    }
    return "unknown";
}

hearth_status gen_session_new(gen_session **out, const llm_model *m, const tok_vocab *v,
                              llm_ctx_params cp, hearth_error *err)
{
    *out = NULL;
    gen_session *s = mem_calloc(1, sizeof *s);
    if (!s)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = llm_ctx_new(&s->ctx, m, cp, err);
    if (st) {
        mem_free(s);
        return st;
    }
    s->m = m;
    s->v = v;
    s->n_ctx = llm_ctx_n_ctx(s->ctx);
    s->n_batch = cp.n_batch > 0 ? cp.n_batch : llm_ctx_default_params().n_batch;
    s->n_vocab = llm_model_hparams(m)->n_vocab;
    s->cached = mem_calloc((size_t)s->n_ctx, sizeof *s->cached);
    s->logits = mem_calloc((size_t)s->n_vocab, sizeof(float));
    s->work = mem_calloc((size_t)s->n_vocab, sizeof(float));
    s->pos = mem_calloc((size_t)s->n_batch, sizeof *s->pos);
    if (!s->cached || !s->logits || !s->work || !s->pos) {
        gen_session_free(s);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return HEARTH_OK;
}

void gen_session_free(gen_session *s)
{
    if (!s)
        return;
    llm_ctx_free(s->ctx);
    mem_free(s->cached);
    mem_free(s->logits);
    mem_free(s->work);
    mem_free(s->pos);
    grm_vocab_free(s->gv);
    mem_free(s);
}

void gen_session_reset(gen_session *s)
{
    s->n_cached = 0;
}

int gen_session_n_ctx(const gen_session *s)
{
    return s->n_ctx;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Evaluate toks[0..n) at the end of the cache; logits of the last land in s->logits. */
static hearth_status eval(gen_session *s, const tok_id *toks, int n, hearth_error *err)
{
    for (int done = 0; done < n;) {
        int chunk = n - done < s->n_batch ? n - done : s->n_batch;
        for (int i = 0; i < chunk; i++)
            s->pos[i] = s->n_cached + i;
        hearth_status st = llm_decode(s->ctx, chunk, toks + done, s->pos, NULL, NULL,
                                      s->logits, err);
        if (st)
            return st;
        memcpy(s->cached + s->n_cached, toks + done, (size_t)chunk * sizeof *toks);
        s->n_cached += chunk;
        done += chunk;
    }
    return HEARTH_OK;
}

void gen_fill_probs(const float *logits, float *work, int n_vocab, gen_token *t, int n)
{
    smp_log_softmax(logits, work, n_vocab);
    t->logprob = work[t->id];
    t->n_top = 0;
    for (int k = 0; k < n; k++) { /* n <= GEN_MAX_PROBS: repeated selection is fine */
        int best = -1;
        for (int i = 0; i < n_vocab; i++) {
            bool taken = false;
            for (int j = 0; j < t->n_top && !taken; j++)
                taken = t->top_id[j] == i;
            if (!taken && (best < 0 || work[i] > work[best]))
                best = i;
        }
        t->top_id[t->n_top] = best;
        t->top_logprob[t->n_top++] = work[best];
    }
}

/* With a grammar whose mask for this state is cached, sample from the masked logits.
 * Otherwise the unconstrained draw is kept when the grammar allows it, and only if not is
 * the draw repeated with every disallowed token masked: without truncation (top-k/p,
 * min-p) both give exactly the masked distribution (a valid token's chance is
 * p + (1 - P(valid)) p / P(valid) = p / P(valid)), and the mask, which walks the whole
 * vocabulary, is computed only when needed. */
hearth_status gen_sample(smp_sampler *smp, grm_matcher *gm, float *logits, float *work,
                         int n_vocab, bool keep_logits, tok_id *id, hearth_error *err)
{
    bool copy = gm || keep_logits; /* the sampler modifies its input */
    if (copy)
        memcpy(work, logits, (size_t)n_vocab * sizeof(float));
    if (gm && grm_mask_cached(gm, work)) {
        *id = smp_sample(smp, work);
        return HEARTH_OK;
    }
    *id = smp_sample(smp, copy ? work : logits);
    if (!gm || grm_allows(gm, *id))
        return HEARTH_OK;
    memcpy(work, logits, (size_t)n_vocab * sizeof(float));
    hearth_status st = grm_mask(gm, work, err);
    if (!st)
        *id = smp_sample(smp, work);
    return st;
}

static hearth_status check_params(const gen_session *s, size_t n_prompt, const gen_params *p,
                                  hearth_error *err)
{
    if (n_prompt == 0)
        return err_set(err, HEARTH_ERR_INVALID, "the prompt is empty");
    if (n_prompt >= (size_t)s->n_ctx)
        return err_set(err, HEARTH_ERR_RANGE, "the prompt has %zu tokens but the context holds "
                       "%d (with room for the answer); use a longer context (--ctx) or a "
                       "shorter prompt", n_prompt, s->n_ctx);
    if (p->n_probs < 0 || p->n_probs > GEN_MAX_PROBS)
        return err_set(err, HEARTH_ERR_INVALID, "top log-probabilities: %d (allowed 0..%d)",
                       p->n_probs, GEN_MAX_PROBS);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop))
        return err_set(err, HEARTH_ERR_INVALID, "bad stop-string list");
    return HEARTH_OK;
}

hearth_status gen_run(gen_session *s, const tok_id *prompt, size_t n_prompt,
                      const gen_params *p, gen_callback cb, void *user, gen_stats *stats,
                      hearth_error *err)
{
    gen_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    hearth_status st = check_params(s, n_prompt, p, err);
    if (st)
        return st;
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= s->n_vocab)
            return err_set(err, HEARTH_ERR_RANGE, "prompt token %d is outside the vocabulary",
                           prompt[i]);
    if (p->grammar && !s->gv && (st = grm_vocab_new(&s->gv, s->v, s->n_vocab, err)))
        return st;
    grm_matcher *gm = NULL;
    if (p->grammar && (st = grm_matcher_new(&gm, p->grammar, s->gv, err)))
        return st;
    smp_sampler *smp;
    if ((st = smp_new(&smp, &p->sampling, s->n_vocab, err))) {
        grm_matcher_free(gm);
        return st;
    }

    /* reuse the cached prefix, but always evaluate at least the last prompt token */
    int keep = 0;
    while (keep < s->n_cached && (size_t)keep + 1 < n_prompt && s->cached[keep] == prompt[keep])
        keep++;
    s->n_cached = keep;
    stats->n_prompt = (int)n_prompt;
    stats->n_cached = keep;
    for (size_t i = 0; i < n_prompt; i++)
        smp_accept(smp, prompt[i]);
    double t0 = now_ms();
    st = eval(s, prompt + keep, (int)n_prompt - keep, err);
    stats->prompt_ms = now_ms() - t0;

    gen_stopper stop;
    gen_stopper_init(&stop, p->stop, p->n_stop);
    tok_stream ts;
    tok_stream_init(&ts, s->v, 0);
    tok_str text = { 0 };
    t0 = now_ms();
    while (!st) {
        if (p->n_predict >= 0 && stats->n_gen >= p->n_predict) {
            stats->finish = GEN_FINISH_LENGTH;
            break;
        }
        gen_token t = { 0 };
        if ((st = gen_sample(smp, gm, s->logits, s->work, s->n_vocab,
                             p->n_probs > 0 || p->sampling.temperature > 0, &t.id, err)))
            break;
        if (gm && (st = grm_accept(gm, t.id, err)))
            break;
        smp_accept(smp, t.id);
        stats->n_gen++;
        if (p->n_probs > 0)
            gen_fill_probs(s->logits, s->work, s->n_vocab, &t, p->n_probs);
        bool eog = !p->ignore_eog && tok_is_eog(s->v, t.id);
        text.n = 0;
        if (!eog && (st = tok_stream_push(&ts, t.id, &text, err)))
            break;
        if (eog && (st = tok_stream_flush(&ts, &text, err)))
            break;
        size_t emit = 0;
        bool hit = false;
        if (!gen_stopper_push(&stop, text.s, text.n, &emit, &hit)) {
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
            break;
        }
        /* nothing more can complete a stop string: release the rest (a finished grammar
         * leaves no partial character behind) */
        bool grammar_done = gm && grm_finished(gm);
        if (eog || (grammar_done && !hit))
            emit = stop.pending.n;
        bool go_on = cb ? cb(user, &t, stop.pending.s ? stop.pending.s : "", emit) : true;
        gen_stopper_consume(&stop, emit);
        if (hit) {
            stats->finish = GEN_FINISH_STOP;
            break;
        }
        if (eog) {
            stats->finish = GEN_FINISH_EOG;
            break;
        }
        if (grammar_done) {
            stats->finish = GEN_FINISH_STOP;
            break;
        }
        if (!go_on) {
            stats->finish = GEN_FINISH_CANCELLED;
            break;
        }
        if (s->n_cached >= s->n_ctx) {
            stats->finish = GEN_FINISH_CONTEXT;
            break;
        }
        st = eval(s, &t.id, 1, err);
    }
    stats->gen_ms = now_ms() - t0;
    /* what is still held back (a partial stop string at the limit) is shown after all */
    text.n = 0; /* the last token's text is already in the stopper */
    if (!st && stats->finish != GEN_FINISH_STOP && stats->finish != GEN_FINISH_CANCELLED &&
        tok_stream_flush(&ts, &text, NULL) == HEARTH_OK) {
        size_t emit;
        bool hit;
        if (gen_stopper_push(&stop, text.s, text.n, &emit, &hit) &&
            stop.pending.n && cb)
            cb(user, NULL, stop.pending.s, hit ? emit : stop.pending.n);
    }
    tok_str_free(&text);
    gen_stopper_free(&stop);
    smp_free(smp);
    grm_matcher_free(gm);
    return st;
}
