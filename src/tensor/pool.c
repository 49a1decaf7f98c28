/*
 * pool.c — the thread pool behind tq_pool_run (see pool.h).
 *
 * A pool of n threads is the caller (thread 0) plus n-1 workers started once. A job is
 * published by writing fn/arg, setting `pending` to n-1 and bumping the generation counter
 * `gen`; each worker runs fn(arg, ith, n) when it sees a new generation and decrements
 * `pending`; the caller runs its own share and then waits for `pending` to reach 0.
 *
 * Why spin first: a generation step issues several matrix products per layer, each only
 * 10-50 µs of work, with short single-threaded gaps between them. Waking a sleeping thread
 * costs several microseconds, so both sides spin on the atomics for a bounded time
 * (SPIN_NS) before going to sleep on a condition variable, which keeps idle workers from
 * burning a core once the burst of work is over.
 *
 * Sleeping without lost wake-ups, and without a lock on the fast path: a sleeper announces
 * itself in a counter (`sleepers`, `caller_sleeping`) and re-checks the condition under the
 * mutex; the waker first changes the condition, then reads the counter and takes the mutex
 * only if someone announced sleep. Both sides use sequentially consistent operations, so at
 * least one of them sees the other's write (the classic store-then-load handshake).
 *
 * Running a job allocates nothing. One job runs at a time: the pool is driven by one
 * caller thread (a context), not shared between callers.
 */
#include "tensor/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"

#define SPIN_NS 100000   /* spin up to 0.1 ms before sleeping */
#define MAX_THREADS 512
#define CACHE_LINE 64

typedef struct worker {
    struct tq_pool *pool;
    int ith;
    pthread_t thread;
} worker;

struct tq_pool {
    int n;
    worker *workers;        /* n - 1 workers, index i runs as thread i + 1 */

    /* Written by the caller before publishing a job, read by the workers after. */
    tq_task_fn fn;
    void *arg;
    int stop;

    _Alignas(CACHE_LINE) atomic_uint gen;   /* bumped once per job (and at shutdown) */
    atomic_int sleepers;                    /* workers asleep or about to sleep on `wake` */
    _Alignas(CACHE_LINE) atomic_int pending; /* workers that have not finished the job */
    atomic_int caller_sleeping;

    pthread_mutex_t mu;
    pthread_cond_t wake;   /* a new generation was published */
    pthread_cond_t done;   /* pending reached 0 */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spin until *v != old or the spin budget runs out; returns the last value seen. The clock
 * is read only every 64 iterations so the loop stays a tight load + pause. */
static unsigned spin_while_equal(atomic_uint *v, unsigned old)
{
    long long deadline = 0;
    for (unsigned i = 1;; i++) {
        unsigned cur = atomic_load_explicit(v, memory_order_acquire);
        if (cur != old)
            return cur;
        if ((i & 63) == 0) {
            long long t = now_ns();
            if (deadline == 0)
                deadline = t + SPIN_NS;
            else if (t > deadline)
                return cur;
        }
        cpu_relax();
    }
}

static unsigned wait_for_job(tq_pool *pool, unsigned seen)
{
    unsigned g = spin_while_equal(&pool->gen, seen);
    if (g != seen)
        return g;
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1);
    while ((g = atomic_load(&pool->gen)) == seen)
        pthread_cond_wait(&pool->wake, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *worker_main(void *p)
{
    worker *w = p;
    tq_pool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (pool->stop)
            return NULL;
        pool->fn(pool->arg, w->ith, pool->n);
        if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_sleeping)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
}

/* Publish a new generation (fn/arg/stop already written) and wake sleeping workers. */
static void publish(tq_pool *pool)
{
    atomic_fetch_add(&pool->gen, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mu);
    }
}

static void wait_for_workers(tq_pool *pool)
{
    long long deadline = 0;
    for (unsigned i = 1; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; i++) {
        if ((i & 63) == 0) {
            long long t = now_ns();
            if (deadline == 0) {
                deadline = t + SPIN_NS;
            } else if (t > deadline) {
                pthread_mutex_lock(&pool->mu);
                atomic_store(&pool->caller_sleeping, 1);
                while (atomic_load(&pool->pending) != 0)
                    pthread_cond_wait(&pool->done, &pool->mu);
                atomic_store(&pool->caller_sleeping, 0);
                pthread_mutex_unlock(&pool->mu);
                return;
            }
        }
        cpu_relax();
    }
}

/* Stop and join the first n_started workers. */
static void stop_workers(tq_pool *pool, int n_started)
{
    pool->stop = 1;
    publish(pool);
    for (int i = 0; i < n_started; i++)
        pthread_join(pool->workers[i].thread, NULL);
}

static void destroy(tq_pool *pool)
{
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mu);
    mem_free(pool->workers);
    mem_free_aligned(pool);
}

tq_pool *tq_pool_new(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)(n < MAX_THREADS ? n : MAX_THREADS) : 1;
    }
    if (n_threads > MAX_THREADS)
        n_threads = MAX_THREADS;
    tq_pool *pool = mem_alloc_aligned(sizeof *pool, CACHE_LINE);
    if (!pool)
        return NULL;
    *pool = (tq_pool){ .n = n_threads };
    atomic_init(&pool->gen, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->caller_sleeping, 0);
    pool->workers = mem_calloc((size_t)n_threads, sizeof *pool->workers);
    if (!pool->workers) {
        mem_free_aligned(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int i = 0; i < n_threads - 1; i++) {
        pool->workers[i] = (worker){ .pool = pool, .ith = i + 1 };
        if (pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]) != 0) {
            stop_workers(pool, i);
            destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void tq_pool_free(tq_pool *pool)
{
    if (!pool)
        return;
    stop_workers(pool, pool->n - 1);
    destroy(pool);
}

int tq_pool_size(const tq_pool *pool)
{
    return pool ? pool->n : 1;
}

void tq_pool_run(tq_pool *pool, tq_task_fn fn, void *arg)
{
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    publish(pool);
    fn(arg, 0, pool->n);
    wait_for_workers(pool);
}
