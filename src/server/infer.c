/*
 * infer.c — one generation request between an HTTP connection and a model's scheduler.
 *
 * Waiting: the connection thread sleeps on a condition in 100 ms slices and looks at its
 * socket in between, so a client that hangs up has its job cancelled at once. Streaming:
 * the scheduler's callbacks format chunks straight into the response stream; the stream's
 * gone-hook cancels the job, and the job's end closes the stream and releases the model.
 */
#include "server/server_int.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"

void srv_result_free(srv_result *res)
{
    tok_str_free(&res->text);
    mem_free(res->toks);
    memset(res, 0, sizeof *res);
}

typedef struct waiter {
    srv *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool keep_tokens;
    srv_result *res;
} waiter;

static bool wait_token(void *user, const gen_token *t, const char *text, size_t len)
{
    waiter *w = user;
    srv_result *res = w->res;
    if (tok_str_append(&res->text, text, len))
        return false;
    if (t && w->keep_tokens) {
        if (res->n_toks == res->cap_toks) {
            int cap = res->cap_toks ? res->cap_toks * 2 : 64;
            gen_token *nt = mem_realloc_array(res->toks, (size_t)cap, sizeof *nt);
            if (!nt)
                return false;
            res->toks = nt;
            res->cap_toks = cap;
        }
        res->toks[res->n_toks++] = *t;
    }
    return true;
}

static void wait_end(void *user, hearth_status st, const gen_stats *stats, const hearth_error *err)
{
    waiter *w = user;
    pthread_mutex_lock(&w->mu);
    w->res->st = st;
    w->res->stats = *stats;
    if (!st)
        srv_count_generation(w->s, stats);
    if (st && err)
        w->res->err = *err;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int submit_status(hearth_status st, bool busy)
{
    return busy ? 503 : st == HEARTH_ERR_NOMEM ? 500 : 400;
}

int srv_generate(srv *s, http_req *r, const srv_gen_req *g, srv_result *res, hearth_error *err)
{
    memset(res, 0, sizeof *res);
    waiter w = { .s = s, .keep_tokens = g->keep_tokens, .res = res };
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    bat_request br = { .prompt = g->prompt, .n_prompt = g->n_prompt, .params = g->params,
                       .on_token = wait_token, .on_done = wait_end, .user = &w };
    bat_job *j;
    bool busy;
    hearth_status st = bat_submit(g->m->sched, &br, &j, &busy, err);
    int status = 200;
    if (st) {
        status = submit_status(st, busy);
    } else {
        bool cancelled = false;
        pthread_mutex_lock(&w.mu);
        while (!w.done) {
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_nsec += 100 * 1000000L;
            if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w.cv, &w.mu, &t);
            if (!w.done && !cancelled && http_client_gone(r)) {
                bat_cancel(j);
                cancelled = true;
            }
        }
        pthread_mutex_unlock(&w.mu);
        bat_job_release(j);
        if (res->st) {
            *err = res->err;
            status = 500;
        }
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return status;
}

typedef struct streamer {
    pthread_mutex_t mu;   /* held by the submitter until the job pointer is set */
    srv *s;
    srv_model *m;
    double keep_alive_s;
    http_stream *st;
    const srv_stream_fmt *fmt;
    void *user;
    bat_job *job;
} streamer;

static bool stream_token(void *user, const gen_token *t, const char *text, size_t len)
{
    streamer *c = user;
    return c->fmt->piece(c->user, c->st, t, text, len);
}

static void stream_gone(void *arg)
{
    bat_cancel(((streamer *)arg)->job);
}

static void stream_end(void *user, hearth_status st, const gen_stats *stats,
                       const hearth_error *err)
{
    streamer *c = user;
    pthread_mutex_lock(&c->mu);
    pthread_mutex_unlock(&c->mu);
    if (!st)
        srv_count_generation(c->s, stats);
    c->fmt->done(c->user, c->st, st, stats, err);
    http_stream_on_gone(c->st, NULL, NULL);
    http_stream_close(c->st);
    bat_job_release(c->job);
    models_release(c->s->models, c->m, c->keep_alive_s);
    c->fmt->free(c->user);
    pthread_mutex_destroy(&c->mu);
    mem_free(c);
}

int srv_generate_stream(srv *s, http_req *r, const srv_gen_req *g, const srv_stream_fmt *fmt,
                        void *user, const char *content_type, hearth_error *err)
{
    streamer *c = mem_calloc(1, sizeof *c);
    http_stream *st = c ? http_stream_new() : NULL;
    if (!st) {
        mem_free(c);
        err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        return 500;
    }
    *c = (streamer){ .s = s, .m = g->m, .keep_alive_s = g->keep_alive_s, .st = st,
                     .fmt = fmt, .user = user };
    pthread_mutex_init(&c->mu, NULL);
    bat_request br = { .prompt = g->prompt, .n_prompt = g->n_prompt, .params = g->params,
                       .on_token = stream_token, .on_done = stream_end, .user = c };
    bool busy;
    pthread_mutex_lock(&c->mu);
    hearth_status rc = bat_submit(g->m->sched, &br, &c->job, &busy, err);
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_destroy(&c->mu);
        http_stream_close(st);
        http_stream_abandon(st);
        mem_free(c);
        return submit_status(rc, busy);
    }
    http_stream_on_gone(st, stream_gone, c);
    pthread_mutex_unlock(&c->mu); /* from here on the job's end may free c at any time */
    http_respond_stream(r, 200, content_type, st, NULL);
    return 200;
}
