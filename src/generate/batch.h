/*
 * batch.h — the sequence scheduler: many generation requests share one loaded model.
 *
 * A bat_sched owns one llm_ctx with n_parallel sequences (slots) and one worker thread.
 * Requests wait in a bounded FIFO queue until a slot is free. Each step of the worker
 * builds ONE llm_decode batch holding the next token of every generating sequence plus
 * as many prompt tokens of newly admitted requests as still fit in n_batch (continuous
 * batching: a new request's prompt is evaluated while the others keep generating), then
 * samples one token for every sequence whose logits came back.
 *
 * A slot remembers the tokens its KV cache holds after a request ends; a new request goes
 * to the free slot sharing the longest prefix with its prompt, so the next turn of a chat
 * only evaluates what is new. Stop strings, UTF-8 streaming, log-probabilities and finish
 * reasons behave as in gen_run (generate.h), so a greedy request gives the same text here
 * as there.
 *
 * Threads: bat_submit, bat_cancel and bat_job_release may be called from any thread. The
 * callbacks run on the worker thread: keep them short (append to a buffer and signal).
 */
#ifndef HEARTH_GENERATE_BATCH_H
#define HEARTH_GENERATE_BATCH_H

#include <stdbool.h>

#include "generate/generate.h"

typedef struct bat_sched bat_sched;
typedef struct bat_job bat_job;

typedef struct bat_params {
    int n_parallel;        /* sequences decoded together (slots), >= 1 */
    int n_queue;           /* requests that may wait while every slot is taken; more are
                              refused (busy) */
    llm_ctx_params ctx;    /* n_ctx is per sequence; n_seq is set from n_parallel */
} bat_params;

bat_params bat_default_params(void);

/* Called once when a job ends (finished, cancelled or failed); st != HEARTH_OK with err
 * filled for a failure. The job is not touched by the scheduler afterwards. */
typedef void (*bat_done_fn)(void *user, hearth_status st, const gen_stats *stats,
                            const hearth_error *err);

typedef struct bat_request {
    const tok_id *prompt;  /* copied by bat_submit */
    size_t n_prompt;
    gen_params params;     /* stop strings and logit biases are copied; a grammar must
                              outlive the job (until on_done) */
    gen_callback on_token; /* as gen_run's callback; returning false cancels */
    bat_done_fn on_done;
    void *user;
} bat_request;

/* Create the context and start the worker. m must outlive the scheduler. */
hearth_status bat_new(bat_sched **out, const gen_model *m, bat_params p, hearth_error *err);
/* Cancel every queued and running job (each gets its on_done), stop the worker, free. */
void bat_free(bat_sched *s);
int bat_n_ctx(const bat_sched *s);
/* Bytes of the KV cache bat_new would allocate for m with p (every slot's context
 * together), known before making it, so a caller can keep to a memory budget. 0 for
 * params bat_new refuses. */
size_t bat_kv_bytes(const gen_model *m, bat_params p);
/* Bytes of the KV cache s holds. */
size_t bat_kv_held(const bat_sched *s);

/* Validate a request the way bat_submit will (empty prompt, prompt too long for a slot's
 * context, bad sampling or stop settings) without queuing it. */
hearth_status bat_check(const bat_sched *s, const bat_request *r, hearth_error *err);

/* Queue a request. On success *job holds a reference the caller drops with
 * bat_job_release (after on_done, or after bat_cancel if it no longer cares). When the
 * queue is full, returns HEARTH_ERR_RANGE with *busy = true. */
hearth_status bat_submit(bat_sched *s, const bat_request *r, bat_job **job, bool *busy,
                         hearth_error *err);
/* Ask for the job to end as soon as possible (finish reason "cancelled"). */
void bat_cancel(bat_job *j);
void bat_job_release(bat_job *j);

typedef struct bat_load {
    int active;  /* requests holding a slot */
    int queued;  /* requests waiting for one */
} bat_load;

bat_load bat_get_load(bat_sched *s);

#endif
