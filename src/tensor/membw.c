/*
 * membw.c — memory read bandwidth (see membw.h).
 *
 * The buffer is first written by the same threads that will read it (so on NUMA systems
 * each slice lives near its reader, and no page is the shared zero page), then every thread
 * reads its own slice as one stream through the read probe of the best kernel set
 * (kernels/peak.h: the widest loads, four independent sums so the memory system, not the
 * add chain, is the limit). Two interleaved streams per thread of 16-byte loads, the probe
 * before, read about 8 % slower than one stream and slower than the Q8_0 kernel itself,
 * which then came out above "its bound". tq_measure_bandwidth reports the best of several
 * passes (slower passes measure interference from other processes, not the memory); a
 * reading of resident memory also gives the mean rate, which is what a workload sharing
 * the machine at the same moments could get.
 */
#include "tensor/membw.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "tensor/kernels.h"

#define PASSES 8
#define MAX_SLOTS 512

typedef struct bw_job {
    const uint8_t *buf;          /* 64-byte aligned */
    size_t blocks;               /* BLOCK-byte blocks to read (or write) */
    int fill;                    /* 1: write the buffer, 0: read it */
    tq_read_fn read;
    uint64_t sink[MAX_SLOTS];    /* one result per thread, so the reads have a use */
} bw_job;

/* The unit of a thread's slice: a whole number of every read probe's loop steps. */
#define BLOCK 256

static void bw_task(void *arg, int ith, int nth)
{
    bw_job *j = arg;
    size_t b0 = j->blocks * (size_t)ith / (size_t)nth;
    size_t b1 = j->blocks * (size_t)(ith + 1) / (size_t)nth;
    const uint8_t *p = j->buf + b0 * BLOCK;
    if (j->fill) {
        uint64_t *w = (uint64_t *)p;
        for (size_t i = 0; i < (b1 - b0) * BLOCK / 8; i++)
            w[i] = (b0 * BLOCK / 8 + i) * 0x9e3779b97f4a7c15ull;
        return;
    }
    j->sink[ith % MAX_SLOTS] = j->read(p, (b1 - b0) * BLOCK);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* `passes` reads of j's buffer: the best pass and the mean rate, in GB/s. */
static tq_bandwidth read_passes(tq_pool *pool, bw_job *j, int passes)
{
    j->fill = 0;
    double best = 0, total = 0;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = seconds();
        tq_pool_run(pool, bw_task, j);
        double t = seconds() - t0;
        total += t;
        if (t > 0 && (best == 0 || t < best))
            best = t;
    }
    const double bytes = (double)(j->blocks * BLOCK);
    return (tq_bandwidth){ .best_gbs = best > 0 ? bytes / best / 1e9 : 0,
                           .mean_gbs = total > 0 ? bytes * passes / total / 1e9 : 0 };
}

static bw_job *new_job(void)
{
    bw_job *j = mem_calloc(1, sizeof *j);
    if (j)
        j->read = tq_kernels_best()->read_sum;
    return j;
}

double tq_measure_bandwidth(tq_pool *pool, size_t bytes)
{
    bw_job *j = bytes >= 4096 ? new_job() : NULL;
    if (!j)
        return 0;
    j->blocks = bytes / BLOCK;
    uint8_t *buf = mem_alloc_aligned(j->blocks * BLOCK, 4096);
    if (!buf) {
        mem_free(j);
        return 0;
    }
    j->buf = buf;
    j->fill = 1;
    tq_pool_run(pool, bw_task, j);
    double gbs = read_passes(pool, j, PASSES).best_gbs;
    mem_free_aligned(buf);
    mem_free(j);
    return gbs;
}

tq_bandwidth tq_measure_read_bandwidth(tq_pool *pool, const void *buf, size_t bytes,
                                       int passes)
{
    /* The probes' loads want 64-byte alignment: start at the next 64-byte boundary. */
    uintptr_t start = ((uintptr_t)buf + 63) & ~(uintptr_t)63;
    tq_bandwidth none = { 0, 0 };
    if (!buf || bytes < 4096 + 64 || passes < 1)
        return none;
    bw_job *j = new_job();
    if (!j)
        return none;
    j->buf = (const uint8_t *)start; /* read only: fill stays 0 */
    j->blocks = (bytes - (start - (uintptr_t)buf)) / BLOCK;
    tq_bandwidth r = read_passes(pool, j, passes);
    mem_free(j);
    return r;
}
