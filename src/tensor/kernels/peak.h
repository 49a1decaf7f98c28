/*
 * peak.h — probes of the compute peak of one core, for `hearth bench --kernels`.
 *
 * A matrix product can only be called compute-bound next to what the core can do at most:
 * each probe runs `iters` rounds of ten independent multiply-adds of the set's widest kind
 * (ten chains cover the latency of every x86 core we know, so throughput, not latency,
 * decides) and returns the multiply-adds done. The caller times it. int8: 8-bit products
 * summed into int32 lanes (vpdpbusd for AVX-512 VNNI) or int16 pairs (vpmaddubsw for
 * AVX2). fp32: fused multiply-adds of float lanes.
 *
 * And the memory side, for tensor/membw.c: read_sum adds up `bytes` bytes (a multiple of
 * 256) from buf, 64-byte aligned, as one stream of the set's widest loads into four
 * independent sums, and returns the total so the reads have a use. On the project's Zen 4
 * host (two threads, 512 MB, 30 interleaved passes each) one stream per thread read 30-33
 * GB/s with 16-, 32- or 64-byte loads, two interleaved streams of 16-byte loads 29 GB/s,
 * and the Q8_0 kernel 28-31: the probe must not read slower than a kernel, or its bound is
 * no bound.
 */
#ifndef HEARTH_TENSOR_KERNELS_PEAK_H
#define HEARTH_TENSOR_KERNELS_PEAK_H

#include <stdint.h>

#include <stddef.h>

typedef uint64_t (*tq_peak_fn)(uint64_t iters);
typedef uint64_t (*tq_read_fn)(const void *buf, size_t bytes);

uint64_t tq_peak_int8_avx512(uint64_t iters);
uint64_t tq_peak_fp32_avx512(uint64_t iters);
uint64_t tq_peak_int8_avx2(uint64_t iters);
uint64_t tq_peak_fp32_avx2(uint64_t iters);
uint64_t tq_peak_int8_avxvnni(uint64_t iters);         /* gemm_vnni256.h */
uint64_t tq_peak_int8_vnni256_avx512(uint64_t iters);

uint64_t tq_read_sum_ref(const void *buf, size_t bytes);
uint64_t tq_read_sum_avx2(const void *buf, size_t bytes);
uint64_t tq_read_sum_avx512(const void *buf, size_t bytes);

#endif
