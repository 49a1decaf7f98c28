/*
 * membw.h — measuring the machine's memory read bandwidth.
 *
 * Token generation streams every weight once per token, so the read bandwidth of main
 * memory is its speed limit; `hearth bench` reports kernel throughput as a share of it.
 */
#ifndef HEARTH_TENSOR_MEMBW_H
#define HEARTH_TENSOR_MEMBW_H

#include <stddef.h>

#include "tensor/pool.h"

/* Read bandwidth in GB/s (1e9 bytes per second) of all the pool's threads streaming
 * through a buffer of `bytes` bytes (pick several times the last-level cache so the reads
 * come from memory), best of a few passes. Returns 0 if the buffer cannot be allocated or
 * bytes is too small to time. Takes roughly bytes / (bandwidth) * 6 plus the time to fill. */
double tq_measure_bandwidth(tq_pool *pool, size_t bytes);

/* A reading over memory that is already there and resident (a model's mapped weights):
 * no allocation, so the process's peak memory does not grow; buf is only read. best_gbs
 * is the fastest of `passes` passes (what the memory gives when nothing else competes),
 * mean_gbs all the bytes over all the time (what a workload running at the same moments
 * could get). Zeros if bytes is too small to time. */
typedef struct tq_bandwidth {
    double best_gbs, mean_gbs;
} tq_bandwidth;

tq_bandwidth tq_measure_read_bandwidth(tq_pool *pool, const void *buf, size_t bytes,
                                       int passes);

#endif
