/*
 * batch.c — see batch.h.
 *
 * The worker: { admit queued jobs into free slots; drop cancelled jobs; build one batch
 * (every generating sequence's pending token, then prompt chunks); llm_decode; sample for
 * every sequence that got logits }. A job moves QUEUED -> PREFILL -> GEN -> done. Each
 * slot's token list mirrors what its KV cache holds, so prefixes can be reused and a
 * failure only has to forget that slot's cache.
 *
 * The per-token logic (sampling through gen_sample with an optional grammar,
 * log-probabilities, stop strings held back until they can no longer match, whole UTF-8
 * characters, finish reasons) follows gen_run step for step, so both give identical text
 * for identical logits.
 */
#include "generate/batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "generate/stopper.h"

#define MAX_PARALLEL 256 /* slots one scheduler may have */

enum job_state { JOB_QUEUED, JOB_PREFILL, JOB_GEN };

struct bat_job {
    atomic_int refs;
    atomic_bool cancel;
    bat_sched *s;
    bat_job *next;            /* queue link */
    tok_id *prompt;           /* (n_prompt) */
    size_t n_prompt;
    gen_params p;             /* p.stop and p.sampling.logit_bias point at the copies below */
    char **stop;              /* (p.n_stop) */
    smp_logit_bias *bias;     /* (p.sampling.n_logit_bias) */
    gen_callback on_token;
    bat_done_fn on_done;
    void *user;
    /* worker state */
    enum job_state state;
    int slot;
    int n_eval;               /* prompt tokens already in the slot's cache */
    int n_step;               /* prompt tokens in the current batch */
    tok_id next_tok;          /* GEN: the sampled token still to be evaluated */
    smp_sampler *smp;
    grm_matcher *gm;          /* with a grammar */
    tok_stream ts;
    tok_str text;             /* scratch for one token's text */
    gen_stopper stopper;      /* text held back for a possible stop string */
    gen_stats stats;
    double t_start, t_gen;
};

typedef struct slot {
    bat_job *job;             /* NULL: free */
    tok_id *cached;           /* (n_ctx) tokens whose keys/values the sequence holds */
    int n_cached;
} slot;

struct bat_sched {
    const gen_model *m;
    llm_ctx *ctx;
    int n_ctx, n_seq, n_batch, n_vocab, n_queue_max;
    slot *slots;              /* (n_seq) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool quit;
    bat_job *head, *tail;
    int n_queued, n_active;
    int32_t *tok, *pos, *seq; /* (n_batch) one decode batch */
    uint8_t *want;            /* (n_batch) */
    bat_job **owner;          /* (n_seq) the job of each logits row */
    float *logits;            /* (n_seq, n_vocab) */
    float *work;              /* (n_vocab) */
    pthread_mutex_t gv_mu;    /* guards building gv */
    grm_vocab *gv;            /* token trie for grammars, built on first use */
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

bat_params bat_default_params(void)
{
    return (bat_params){ .n_parallel = 4, .n_queue = 16, .ctx = llm_ctx_default_params() };
}

int bat_n_ctx(const bat_sched *s)
{
    return s->n_ctx;
}

size_t bat_kv_bytes(const gen_model *m, bat_params p)
{
    if (p.n_parallel < 1 || p.n_parallel > MAX_PARALLEL)
        return 0;
    p.ctx.n_seq = p.n_parallel; /* as bat_new: one sequence per slot */
    return llm_ctx_kv_bytes(m->llm, p.ctx);
}

size_t bat_kv_held(const bat_sched *s)
{
    return llm_ctx_kv_held(s->ctx);
}

/* ---- jobs --------------------------------------------------------------------------- */

static void job_free(bat_job *j)
{
    for (int i = 0; j->stop && i < j->p.n_stop; i++)
        mem_free(j->stop[i]);
    mem_free(j->stop);
    mem_free(j->bias);
    mem_free(j->prompt);
    smp_free(j->smp);
    grm_matcher_free(j->gm);
    tok_str_free(&j->text);
    gen_stopper_free(&j->stopper);
    mem_free(j);
}

void bat_job_release(bat_job *j)
{
    if (j && atomic_fetch_sub(&j->refs, 1) == 1)
        job_free(j);
}

void bat_cancel(bat_job *j)
{
    atomic_store(&j->cancel, true);
    pthread_mutex_lock(&j->s->mu);
    pthread_cond_signal(&j->s->cv);
    pthread_mutex_unlock(&j->s->mu);
}

hearth_status bat_check(const bat_sched *s, const bat_request *r, hearth_error *err)
{
    const gen_params *p = &r->params;
    if (r->n_prompt == 0)
        return err_set(err, HEARTH_ERR_INVALID, "the prompt is empty");
    if (r->n_prompt >= (size_t)s->n_ctx)
        return err_set(err, HEARTH_ERR_RANGE, "the prompt has %zu tokens but the context holds "
                       "%d (with room for the answer)", r->n_prompt, s->n_ctx);
    for (size_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= s->n_vocab)
            return err_set(err, HEARTH_ERR_RANGE, "prompt token %d is outside the vocabulary",
                           r->prompt[i]);
    if (p->n_probs < 0 || p->n_probs > GEN_MAX_PROBS)
        return err_set(err, HEARTH_ERR_INVALID, "top log-probabilities: %d (allowed 0..%d)",
                       p->n_probs, GEN_MAX_PROBS);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop))
        return err_set(err, HEARTH_ERR_INVALID, "bad stop-string list");
    if (p->sampling.n_logit_bias < 0 || (p->sampling.n_logit_bias > 0 && !p->sampling.logit_bias))
        return err_set(err, HEARTH_ERR_INVALID, "bad logit-bias list");
    smp_sampler *smp;
    hearth_status st = smp_new(&smp, &p->sampling, s->n_vocab, err);
    smp_free(smp);
    return st;
}

/* A job owning copies of everything the request points at. */
static hearth_status job_new(bat_sched *s, const bat_request *r, bat_job **out,
                             hearth_error *err)
{
    bat_job *j = mem_calloc(1, sizeof *j);
    if (!j)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    atomic_init(&j->refs, 2);
    atomic_init(&j->cancel, false);
    j->s = s;
    j->p = r->params;
    j->on_token = r->on_token;
    j->on_done = r->on_done;
    j->user = r->user;
    j->slot = -1;
    j->n_prompt = r->n_prompt;
    j->prompt = mem_realloc_array(NULL, r->n_prompt, sizeof *j->prompt);
    bool ok = j->prompt != NULL;
    if (ok)
        memcpy(j->prompt, r->prompt, r->n_prompt * sizeof *j->prompt);
    if (ok && j->p.n_stop > 0) {
        j->stop = mem_calloc((size_t)j->p.n_stop, sizeof *j->stop);
        ok = j->stop != NULL;
        for (int i = 0; ok && i < j->p.n_stop; i++)
            ok = (j->stop[i] = mem_strdup(r->params.stop[i])) != NULL;
        j->p.stop = (const char *const *)j->stop;
    }
    gen_stopper_init(&j->stopper, j->p.stop, ok ? j->p.n_stop : 0);
    int nb = j->p.sampling.n_logit_bias;
    if (ok && nb > 0) {
        j->bias = mem_realloc_array(NULL, (size_t)nb, sizeof *j->bias);
        ok = j->bias != NULL;
        if (ok)
            memcpy(j->bias, r->params.sampling.logit_bias, (size_t)nb * sizeof *j->bias);
        j->p.sampling.logit_bias = j->bias;
    }
    hearth_status st = ok ? smp_new(&j->smp, &j->p.sampling, s->n_vocab, err)
                          : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (!st && j->p.grammar) {
        pthread_mutex_lock(&s->gv_mu);
        if (!s->gv)
            st = grm_vocab_new(&s->gv, s->m->vocab, s->n_vocab, err);
        pthread_mutex_unlock(&s->gv_mu);
        if (!st)
            st = grm_matcher_new(&j->gm, j->p.grammar, s->gv, err);
    }
    if (st) {
        if (!j->stop)
            j->p.n_stop = 0;
        job_free(j);
        return st;
    }
    for (size_t i = 0; i < j->n_prompt; i++)
        smp_accept(j->smp, j->prompt[i]);
    tok_stream_init(&j->ts, s->m->vocab, 0);
    j->stats.n_prompt = (int)j->n_prompt;
    j->t_start = now_ms();
    *out = j;
    return HEARTH_OK;
}

hearth_status bat_submit(bat_sched *s, const bat_request *r, bat_job **job, bool *busy,
                         hearth_error *err)
{
    *job = NULL;
    *busy = false;
    hearth_status st = bat_check(s, r, err);
    bat_job *j = NULL;
    if (!st)
        st = job_new(s, r, &j, err);
    if (st)
        return st;
    pthread_mutex_lock(&s->mu);
    /* a request may wait only when every slot is taken */
    if (s->n_queued + s->n_active >= s->n_seq + s->n_queue_max || s->quit) {
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        *busy = true;
        return err_set(err, HEARTH_ERR_RANGE, "the server is busy: %d requests are waiting",
                       s->n_queue_max);
    }
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->n_queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    *job = j;
    return HEARTH_OK;
}

bat_load bat_get_load(bat_sched *s)
{
    pthread_mutex_lock(&s->mu);
    bat_load l = { s->n_active, s->n_queued };
    pthread_mutex_unlock(&s->mu);
    return l;
}

/* ---- the per-token logic (as in gen_run) --------------------------------------------- */

/* End a job: release held-back text where gen_run would, report, free its slot. */
static void finish(bat_sched *s, bat_job *j, hearth_status st, const hearth_error *err)
{
    enum gen_finish f = j->stats.finish;
    if (!st && j->state == JOB_GEN && f != GEN_FINISH_STOP && f != GEN_FINISH_CANCELLED) {
        j->text.n = 0;
        size_t emit;
        bool hit;
        gen_stopper *sp = &j->stopper;
        if (tok_stream_flush(&j->ts, &j->text, NULL) == HEARTH_OK &&
            gen_stopper_push(sp, j->text.s, j->text.n, &emit, &hit) && sp->pending.n &&
            j->on_token)
            j->on_token(j->user, NULL, sp->pending.s, hit ? emit : sp->pending.n);
    }
    if (j->t_gen > 0)
        j->stats.gen_ms = now_ms() - j->t_gen;
    pthread_mutex_lock(&s->mu);
    if (j->slot >= 0) {
        s->slots[j->slot].job = NULL;
        s->n_active--;
    }
    pthread_mutex_unlock(&s->mu);
    if (j->on_done)
        j->on_done(j->user, st, &j->stats, err);
    bat_job_release(j);
}

static void finish_as(bat_sched *s, bat_job *j, enum gen_finish f)
{
    j->stats.finish = f;
    finish(s, j, HEARTH_OK, NULL);
}

/* Sample the job's next token from its logits row and report it; ends the job or leaves
 * the token pending for the next batch. */
static void on_logits(bat_sched *s, bat_job *j, float *logits)
{
    const gen_params *p = &j->p;
    gen_token t = { 0 };
    hearth_error err;
    hearth_status st = gen_sample(j->smp, j->gm, logits, s->work, s->n_vocab,
                                  p->n_probs > 0 || p->sampling.temperature > 0, &t.id, &err);
    if (!st && j->gm)
        st = grm_accept(j->gm, t.id, &err);
    if (st) {
        finish(s, j, st, &err);
        return;
    }
    smp_accept(j->smp, t.id);
    j->stats.n_gen++;
    if (p->n_probs > 0)
        gen_fill_probs(logits, s->work, s->n_vocab, &t, p->n_probs);
    bool eog = !p->ignore_eog && tok_is_eog(s->m->vocab, t.id);
    j->text.n = 0;
    st = eog ? tok_stream_flush(&j->ts, &j->text, &err)
                           : tok_stream_push(&j->ts, t.id, &j->text, &err);
    size_t emit;
    bool hit;
    gen_stopper *sp = &j->stopper;
    if (!st && !gen_stopper_push(sp, j->text.s, j->text.n, &emit, &hit))
        st = err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
    if (st) {
        finish(s, j, st, &err);
        return;
    }
    /* a finished grammar leaves no partial character behind */
    bool grammar_done = j->gm && grm_finished(j->gm);
    if (eog || (grammar_done && !hit))
        emit = sp->pending.n;
    bool go_on = j->on_token ? j->on_token(j->user, &t, sp->pending.s ? sp->pending.s : "", emit)
                             : true;
    gen_stopper_consume(sp, emit);
    if (hit)
        finish_as(s, j, GEN_FINISH_STOP);
    else if (eog)
        finish_as(s, j, GEN_FINISH_EOG);
    else if (grammar_done)
        finish_as(s, j, GEN_FINISH_STOP);
    else if (!go_on || atomic_load(&j->cancel))
        finish_as(s, j, GEN_FINISH_CANCELLED);
    else if (s->slots[j->slot].n_cached >= s->n_ctx)
        finish_as(s, j, GEN_FINISH_CONTEXT);
    else if (p->n_predict >= 0 && j->stats.n_gen >= p->n_predict)
        finish_as(s, j, GEN_FINISH_LENGTH);
    else
        j->next_tok = t.id;
}

/* ---- the worker ---------------------------------------------------------------------- */

static int common_prefix(const slot *sl, const bat_job *j)
{
    int keep = 0;
    while (keep < sl->n_cached && (size_t)keep + 1 < j->n_prompt &&
           sl->cached[keep] == j->prompt[keep])
        keep++;
    return keep;
}

/* Move queued jobs into free slots (mu held). Cancelled or zero-length jobs end at once;
 * they are collected in *done to be finished without the lock. */
static void admit(bat_sched *s, bat_job **done)
{
    while (s->head) {
        int best = -1, best_keep = -1;
        for (int i = 0; i < s->n_seq; i++) {
            if (s->slots[i].job)
                continue;
            int keep = common_prefix(&s->slots[i], s->head);
            if (keep > best_keep) {
                best = i;
                best_keep = keep;
            }
        }
        bat_job *j = s->head;
        bool now = atomic_load(&j->cancel) || j->p.n_predict == 0;
        if (best < 0 && !now)
            return;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->n_queued--;
        if (now) {
            j->next = *done;
            *done = j;
            continue;
        }
        j->next = NULL;
        j->slot = best;
        j->state = JOB_PREFILL;
        s->slots[best].job = j;
        s->slots[best].n_cached = best_keep;
        j->n_eval = best_keep;
        j->stats.n_cached = best_keep;
        s->n_active++;
    }
}

/* Fill the batch; returns the number of tokens and sets *n_rows (logits rows). */
static int build_batch(bat_sched *s, int *n_rows)
{
    int n = 0, rows = 0;
    for (int i = 0; i < s->n_seq; i++) {
        bat_job *j = s->slots[i].job;
        if (!j || j->state != JOB_GEN)
            continue;
        s->tok[n] = j->next_tok;
        s->pos[n] = s->slots[i].n_cached;
        s->seq[n] = i;
        s->want[n++] = 1;
        s->owner[rows++] = j;
    }
    for (int i = 0; i < s->n_seq && n < s->n_batch; i++) {
        bat_job *j = s->slots[i].job;
        if (!j || j->state != JOB_PREFILL)
            continue;
        int left = (int)j->n_prompt - j->n_eval;
        j->n_step = left < s->n_batch - n ? left : s->n_batch - n;
        for (int k = 0; k < j->n_step; k++) {
            s->tok[n] = j->prompt[j->n_eval + k];
            s->pos[n] = j->n_eval + k;
            s->seq[n] = i;
            s->want[n] = (size_t)(j->n_eval + k) + 1 == j->n_prompt;
            if (s->want[n++])
                s->owner[rows++] = j;
        }
    }
    *n_rows = rows;
    return n;
}

/* Record what the batch put into each slot's cache. */
static void commit_batch(bat_sched *s)
{
    double t = now_ms();
    for (int i = 0; i < s->n_seq; i++) {
        slot *sl = &s->slots[i];
        bat_job *j = sl->job;
        if (!j)
            continue;
        if (j->state == JOB_GEN) {
            sl->cached[sl->n_cached++] = j->next_tok;
        } else if (j->n_step > 0) {
            memcpy(sl->cached + j->n_eval, j->prompt + j->n_eval, (size_t)j->n_step * sizeof(tok_id));
            j->n_eval += j->n_step;
            sl->n_cached = j->n_eval;
            j->n_step = 0;
            if ((size_t)j->n_eval == j->n_prompt) {
                j->state = JOB_GEN;
                j->stats.prompt_ms = t - j->t_start;
                j->t_gen = t;
            }
        }
    }
}

static void step(bat_sched *s)
{
    for (int i = 0; i < s->n_seq; i++) {
        bat_job *j = s->slots[i].job;
        if (j && atomic_load(&j->cancel))
            finish_as(s, j, GEN_FINISH_CANCELLED);
    }
    int rows;
    int n = build_batch(s, &rows);
    if (n == 0)
        return;
    hearth_error err;
    hearth_status st = llm_decode(s->ctx, n, s->tok, s->pos, s->seq, s->want, s->logits, &err);
    if (st) {
        for (int i = 0; i < s->n_seq; i++) {
            if (!s->slots[i].job)
                continue;
            s->slots[i].n_cached = 0; /* what the cache holds is no longer known */
            finish(s, s->slots[i].job, st, &err);
        }
        return;
    }
    commit_batch(s);
    for (int r = 0; r < rows; r++)
        on_logits(s, s->owner[r], s->logits + (size_t)r * s->n_vocab);
}

static void *worker(void *arg)
{
    bat_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->quit && !s->head && s->n_active == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit)
            break;
        bat_job *done = NULL;
        admit(s, &done);
        pthread_mutex_unlock(&s->mu);
        for (bat_job *j = done, *next; j; j = next) {
            next = j->next;
            finish_as(s, j, atomic_load(&j->cancel) ? GEN_FINISH_CANCELLED : GEN_FINISH_LENGTH);
        }
        step(s);
        pthread_mutex_lock(&s->mu);
    }
    bat_job *queued = s->head;
    s->head = s->tail = NULL;
    s->n_queued = 0;
    pthread_mutex_unlock(&s->mu);
    for (bat_job *j = queued, *next; j; j = next) {
        next = j->next;
        finish_as(s, j, GEN_FINISH_CANCELLED);
    }
    for (int i = 0; i < s->n_seq; i++)
        if (s->slots[i].job)
            finish_as(s, s->slots[i].job, GEN_FINISH_CANCELLED);
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void free_buffers(bat_sched *s)
{
    for (int i = 0; s->slots && i < s->n_seq; i++)
        mem_free(s->slots[i].cached);
    mem_free(s->slots);
    mem_free(s->tok);
    mem_free(s->pos);
    mem_free(s->seq);
    mem_free(s->want);
    mem_free(s->owner);
    mem_free(s->logits);
    mem_free(s->work);
    grm_vocab_free(s->gv);
    llm_ctx_free(s->ctx);
}

hearth_status bat_new(bat_sched **out, const gen_model *m, bat_params p, hearth_error *err)
{
    *out = NULL;
    if (p.n_parallel < 1 || p.n_parallel > MAX_PARALLEL || p.n_queue < 0)
        return err_set(err, HEARTH_ERR_INVALID, "parallel requests: %d (allowed 1..%d), "
                       "queue: %d", p.n_parallel, MAX_PARALLEL, p.n_queue);
    bat_sched *s = mem_calloc(1, sizeof *s);
    if (!s)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    p.ctx.n_seq = p.n_parallel;
    if (p.ctx.n_batch <= 0)
        p.ctx.n_batch = llm_ctx_default_params().n_batch;
    if (p.ctx.n_batch < p.n_parallel)
        p.ctx.n_batch = p.n_parallel;
    hearth_status st = llm_ctx_new(&s->ctx, m->llm, p.ctx, err);
    if (st) {
        mem_free(s);
        return st;
    }
    s->m = m;
    s->n_ctx = llm_ctx_n_ctx(s->ctx);
    s->n_seq = p.n_parallel;
    s->n_batch = p.ctx.n_batch;
    s->n_vocab = llm_model_hparams(m->llm)->n_vocab;
    s->n_queue_max = p.n_queue;
    s->slots = mem_calloc((size_t)s->n_seq, sizeof *s->slots);
    bool ok = s->slots != NULL;
    for (int i = 0; ok && i < s->n_seq; i++)
        ok = (s->slots[i].cached = mem_calloc((size_t)s->n_ctx, sizeof(tok_id))) != NULL;
    s->tok = mem_calloc((size_t)s->n_batch, sizeof *s->tok);
    s->pos = mem_calloc((size_t)s->n_batch, sizeof *s->pos);
    s->seq = mem_calloc((size_t)s->n_batch, sizeof *s->seq);
    s->want = mem_calloc((size_t)s->n_batch, 1);
    s->owner = mem_calloc((size_t)s->n_seq, sizeof *s->owner);
    s->logits = mem_calloc((size_t)s->n_seq * (size_t)s->n_vocab, sizeof(float));
    s->work = mem_calloc((size_t)s->n_vocab, sizeof(float));
    ok = ok && s->tok && s->pos && s->seq && s->want && s->owner && s->logits && s->work;
    if (ok && pthread_mutex_init(&s->gv_mu, NULL) != 0)
        ok = false;
    else if (ok && pthread_mutex_init(&s->mu, NULL) != 0) {
        pthread_mutex_destroy(&s->gv_mu);
        ok = false;
    }
    else if (ok && pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        ok = false;
    } else if (ok && pthread_create(&s->thread, NULL, worker, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        ok = false;
    }
    if (!ok) {
        free_buffers(s);
        mem_free(s);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory (or no thread) for the scheduler");
    }
    *out = s;
    return HEARTH_OK;
}

void bat_free(bat_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gv_mu);
    free_buffers(s);
    mem_free(s);
}
