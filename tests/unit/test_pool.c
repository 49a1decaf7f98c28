/* Tests for tensor/pool.c: every thread index runs once per job, results are visible to the
 * caller afterwards, and the pool survives bursts, idle gaps (the sleeping path) and NULL. */
#include "test.h"

#include <stdatomic.h>
#include <time.h>

#include "tensor/pool.h"

#define MAXN 8

typedef struct {
    atomic_int count[MAXN];   /* how often each thread index ran */
    atomic_int bad_nth;       /* runs that saw an nth other than the pool size */
    int expect_nth;
    int stamp[MAXN];          /* plain writes: the pool must publish them to the caller */
    int round;
} job;

static void count_task(void *arg, int ith, int nth)
{
    job *j = arg;
    if (ith >= 0 && ith < MAXN)
        atomic_fetch_add(&j->count[ith], 1);
    if (nth != j->expect_nth)
        atomic_fetch_add(&j->bad_nth, 1);
    if (ith >= 0 && ith < MAXN)
        j->stamp[ith] = j->round;
}

static void job_init(job *j, int nth)
{
    memset(j, 0, sizeof *j);
    for (int i = 0; i < MAXN; i++)
        atomic_init(&j->count[i], 0);
    atomic_init(&j->bad_nth, 0);
    j->expect_nth = nth;
}

/* Run `rounds` jobs on a pool of n threads, checking after each that every index ran once
 * and that the caller sees what each thread wrote. */
static void run_rounds(int n, int rounds, long sleep_ns)
{
    tq_pool *pool = tq_pool_new(n);
    REQUIRE(pool);
    CHECK_EQ(tq_pool_size(pool), n);
    job j;
    job_init(&j, n);
    for (int r = 1; r <= rounds && !test_failed(); r++) {
        j.round = r;
        tq_pool_run(pool, count_task, &j);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(atomic_load(&j.count[i]), r);
            CHECK_EQ(j.stamp[i], r);
        }
        if (sleep_ns)
            nanosleep(&(struct timespec){ 0, sleep_ns }, NULL);
    }
    for (int i = n; i < MAXN; i++)
        CHECK_EQ(atomic_load(&j.count[i]), 0);
    CHECK_EQ(atomic_load(&j.bad_nth), 0);
    tq_pool_free(pool);
}

TEST(pool_each_index_once_sizes_1_to_8)
{
    for (int n = 1; n <= MAXN; n++)
        run_rounds(n, 200, 0);
}

TEST(pool_many_quick_runs)
{
    run_rounds(2, 20000, 0);
    run_rounds(4, 2000, 0);
}

TEST(pool_wakes_sleeping_workers)
{
    /* Gaps of 2 ms exceed the spin time, so every job has to wake sleeping workers. */
    run_rounds(3, 30, 2000000);
}

TEST(pool_null_and_default)
{
    job j;
    job_init(&j, 1);
    j.round = 7;
    tq_pool_run(NULL, count_task, &j);
    CHECK_EQ(atomic_load(&j.count[0]), 1);
    CHECK_EQ(j.stamp[0], 7);
    CHECK_EQ(atomic_load(&j.bad_nth), 0);
    CHECK_EQ(tq_pool_size(NULL), 1);
    tq_pool_free(NULL);

    tq_pool *pool = tq_pool_new(0); /* one per CPU */
    REQUIRE(pool);
    CHECK(tq_pool_size(pool) >= 1);
    tq_pool_free(pool);
}

TEST(pool_free_right_after_new)
{
    /* Workers may not have reached their wait loop yet when shutdown begins. */
    for (int i = 0; i < 50; i++) {
        tq_pool *pool = tq_pool_new(4);
        REQUIRE(pool);
        tq_pool_free(pool);
    }
}

#include <stdint.h>
#include <string.h>

#include "base/mem.h"
#include "tensor/membw.h"

TEST(membw_small_buffers_and_thread_counts)
{
    /* Buffer sizes that do not split evenly into the probe's blocks, with more threads
     * than some sizes have blocks: every size gives a positive figure (ASan checks that no
     * read leaves the buffer), and a buffer too small to time gives 0. */
    for (int n = 1; n <= 3; n++) {
        tq_pool *pool = tq_pool_new(n);
        REQUIRE(pool);
        size_t sizes[] = { 4096, 4096 + 8, 100000, (size_t)1 << 20 };
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            CHECK(tq_measure_bandwidth(pool, sizes[i]) > 0);
        CHECK(tq_measure_bandwidth(pool, 100) == 0);
        tq_pool_free(pool);
    }
}

/* A reading of resident memory: the mean rate of the passes cannot beat the best pass; an
 * unaligned start, a buffer too small to time, and zero passes give zeros or stay inside
 * the buffer (ASan). */
TEST(membw_read_reading_best_and_mean)
{
    const size_t bytes = (size_t)4 << 20;
    uint8_t *buf = mem_alloc(bytes);
    REQUIRE(buf);
    memset(buf, 1, bytes);
    tq_pool *pool = tq_pool_new(2);
    REQUIRE(pool);
    tq_bandwidth r = tq_measure_read_bandwidth(pool, buf + 3, bytes - 3, 3);
    CHECK(r.mean_gbs > 0);
    CHECK(r.best_gbs >= r.mean_gbs);
    r = tq_measure_read_bandwidth(pool, buf, 1000, 3);
    CHECK(r.best_gbs == 0 && r.mean_gbs == 0);
    r = tq_measure_read_bandwidth(pool, buf, bytes, 0);
    CHECK(r.best_gbs == 0 && r.mean_gbs == 0);
    tq_pool_free(pool);
    mem_free(buf);
}
