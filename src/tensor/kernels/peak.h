/*
 * peak.h — probes of the compute peak of one core, for `hearth bench --kernels`.
 *
 * A matrix product can only be called compute-bound next to what the core can do at most:
 * each probe runs `iters` rounds of ten independent multiply-adds of the set's widest kind
 * (ten chains cover the latency of every x86 core we know, so throughput, not latency,
 * decides) and returns the multiply-adds done. The caller times it. int8: 8-bit products
 * summed into int32 lanes (vpdpbusd for AVX-512 VNNI; NULL where a set has no single
 * instruction for it). fp32: fused multiply-adds of float lanes.
 */
#ifndef HEARTH_TENSOR_KERNELS_PEAK_H
#define HEARTH_TENSOR_KERNELS_PEAK_H

#include <stdint.h>

typedef uint64_t (*tq_peak_fn)(uint64_t iters);

uint64_t tq_peak_int8_avx512(uint64_t iters);
uint64_t tq_peak_fp32_avx512(uint64_t iters);
uint64_t tq_peak_fp32_avx2(uint64_t iters);

#endif
