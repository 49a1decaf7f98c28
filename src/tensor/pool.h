/*
 * pool.h — the thread pool every kernel runs on.
 *
 * One pool per context; tq_pool_run(pool, fn, arg) calls fn(arg, ith, nth) on all nth
 * threads at once (the caller is thread 0) and returns when all have finished. Work is
 * split by the callee, usually by output rows. Running a job allocates nothing, so it can
 * sit on the per-token path.
 */
#ifndef HEARTH_TENSOR_POOL_H
#define HEARTH_TENSOR_POOL_H

typedef struct tq_pool tq_pool;
typedef void (*tq_task_fn)(void *arg, int ith, int nth);

/* n_threads <= 0 means one per online CPU. Returns NULL on failure. */
tq_pool *tq_pool_new(int n_threads);
void tq_pool_free(tq_pool *pool);
int tq_pool_size(const tq_pool *pool);
/* Run fn on every thread of the pool; pool may be NULL (runs fn(arg, 0, 1) inline). */
void tq_pool_run(tq_pool *pool, tq_task_fn fn, void *arg);

#endif
