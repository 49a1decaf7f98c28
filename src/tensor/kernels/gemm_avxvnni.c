/*
 * gemm_avxvnni.c — the int8 GEMM of gemm_vnni256.h in AVX-VNNI's VEX encoding, for CPUs
 * with AVX-VNNI but no AVX-512 (built with -mavx2 -mfma -mf16c -mavxvnni).
 */
#include "tensor/kernels/gemm.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__AVXVNNI__)

#define VNNI_DPBUSD _mm256_dpbusd_avx_epi32
#define VNNI_NAME(x) x##_avxvnni
#include "tensor/kernels/gemm_vnni256.h"

#endif
