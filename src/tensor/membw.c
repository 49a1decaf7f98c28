/*
 * membw.c — memory read bandwidth (see membw.h).
 *
 * The buffer is first written by the same threads that will read it (so on NUMA systems
 * each slice lives near its reader, and no page is the shared zero page), then every thread
 * sums its own slice in 16-byte vectors, walking the two halves of the slice side by side.
 * Two streams per thread keep more of the hardware prefetcher busy, as a matrix-vector
 * product does (it reads several weight rows at once); a single scalar stream measured
 * 5-15 % below what generation itself reaches on the project's machine. Eight independent
 * sums keep enough loads in flight for the memory system, not the add chain, to be the
 * limit; the sums are stored so the compiler cannot drop the reads. tq_measure_bandwidth
 * reports the best of several passes (slower passes measure interference from other
 * processes, not the memory); a reading of resident memory also gives the mean rate, which
 * is what a workload sharing the machine at the same moments could get.
 */
#include "tensor/membw.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"

#define PASSES 8
#define MAX_SLOTS 512

typedef struct bw_job {
    uint64_t *buf;
    size_t words;
    int fill;                    /* 1: write the buffer, 0: read it */
    uint64_t sink[MAX_SLOTS];    /* one result per thread, so the reads have a use */
} bw_job;

typedef uint64_t v2u64 __attribute__((vector_size(16)));

static void bw_task(void *arg, int ith, int nth)
{
    bw_job *j = arg;
    /* Slices are whole multiples of 32 words: two streams of 16 words (8 vectors). */
    size_t blocks = j->words / 32;
    size_t b0 = blocks * (size_t)ith / (size_t)nth;
    size_t b1 = blocks * (size_t)(ith + 1) / (size_t)nth;
    uint64_t *p = j->buf;
    if (j->fill) {
        for (size_t i = b0 * 32; i < b1 * 32; i++)
            p[i] = i * 0x9e3779b97f4a7c15ull;
        return;
    }
    size_t half = (b1 - b0) * 16;
    const v2u64 *a = (const v2u64 *)(p + b0 * 32);
    const v2u64 *b = (const v2u64 *)(p + b0 * 32 + half);
    v2u64 s[8] = { 0 };
    for (size_t i = 0; i < half / 2; i += 4) {
        for (int l = 0; l < 4; l++) {
            s[l] += a[i + l];
            s[4 + l] += b[i + l];
        }
    }
    v2u64 t = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    j->sink[ith % MAX_SLOTS] = t[0] + t[1];
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
    const double bytes = (double)(j->words * sizeof(uint64_t));
    return (tq_bandwidth){ .best_gbs = best > 0 ? bytes / best / 1e9 : 0,
                           .mean_gbs = total > 0 ? bytes * passes / total / 1e9 : 0 };
}

double tq_measure_bandwidth(tq_pool *pool, size_t bytes)
{
    bw_job *j = mem_calloc(1, sizeof *j);
    if (!j || bytes < 4096) {
        mem_free(j);
        return 0;
    }
    j->words = bytes / sizeof(uint64_t) / 32 * 32;
    j->buf = mem_alloc_aligned(j->words * sizeof(uint64_t), 4096);
    if (!j->buf) {
        mem_free(j);
        return 0;
    }
    j->fill = 1;
    tq_pool_run(pool, bw_task, j);
    double gbs = read_passes(pool, j, PASSES).best_gbs;
    mem_free_aligned(j->buf);
    mem_free(j);
    return gbs;
}

tq_bandwidth tq_measure_read_bandwidth(tq_pool *pool, const void *buf, size_t bytes,
                                       int passes)
{
    /* The vector loads want 16-byte alignment: start at the next 64-byte boundary. */
    uintptr_t start = ((uintptr_t)buf + 63) & ~(uintptr_t)63;
    tq_bandwidth none = { 0, 0 };
    if (!buf || bytes < 4096 + 64 || passes < 1)
        return none;
    bw_job *j = mem_calloc(1, sizeof *j);
    if (!j)
        return none;
    j->buf = (uint64_t *)start; /* read only: fill stays 0 */
    j->words = (bytes - (start - (uintptr_t)buf)) / sizeof(uint64_t) / 32 * 32;
    tq_bandwidth r = read_passes(pool, j, passes);
    mem_free(j);
    return r;
}
