/*
 * kernels.c — the kernel sets (ref, avx2, avxvnni, avx512) and the choice among them at run
 * time. avxvnni is the avx2 set with the int8 GEMM of gemm_vnni256.h: on CPUs with AVX-VNNI
 * its VEX build, on those with AVX-512 VNNI (where it is never the best set, but tests and
 * benchmarks can ask for it) the AVX-512 VL build of the same code.
 *
 * Each set is a table of function pointers indexed by type. The SIMD tables list only the
 * kernels they implement; on first use every empty slot is filled from the reference table,
 * so a variant that lacks a kernel inherits the plain-C one (except the GEMM, see
 * kernels.h). A set is offered only when the CPU has its instructions and the OS saves the
 * registers they use (XCR0, read with xgetbv: a VM or kernel may leave AVX-512 state off
 * even where CPUID lists it). All of
 * this is decided once under pthread_once, after which the tables are read-only and safe
 * to share between threads.
 */
#include "tensor/kernels.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels/dot.h"
#include "tensor/ops.h"

#if defined(__x86_64__) || defined(__i386__)
#define TQ_X86 1
#include <cpuid.h>
#endif

static const tq_kernels ref_set = {
    .name = "ref",
    .vec_dot = {
        [TQ_F32] = tq_vec_dot_f32_f32_ref,
        [TQ_F16] = tq_vec_dot_f16_f16_ref,
        [TQ_BF16] = tq_vec_dot_bf16_f32_ref,
        [TQ_Q4_0] = tq_vec_dot_q4_0_q8_0_ref,
        [TQ_Q4_1] = tq_vec_dot_q4_1_q8_0_ref,
        [TQ_Q5_0] = tq_vec_dot_q5_0_q8_0_ref,
        [TQ_Q5_1] = tq_vec_dot_q5_1_q8_0_ref,
        [TQ_Q8_0] = tq_vec_dot_q8_0_q8_0_ref,
        /* K-quants (kquant_ref.c) */
        [TQ_Q2_K] = tq_vec_dot_q2_K_q8_K_ref,
        [TQ_Q3_K] = tq_vec_dot_q3_K_q8_K_ref,
        [TQ_Q4_K] = tq_vec_dot_q4_K_q8_K_ref,
        [TQ_Q5_K] = tq_vec_dot_q5_K_q8_K_ref,
        [TQ_Q6_K] = tq_vec_dot_q6_K_q8_K_ref,
    },
    .from_float = {
        [TQ_F32] = tq_from_float_f32_ref,
        [TQ_F16] = tq_from_float_f16_ref,
        [TQ_Q8_0] = tq_from_float_q8_0_ref,
        [TQ_Q8_K] = tq_from_float_q8_K_ref,
    },
    .round_f16 = tq_round_f16_ref,
    .gemm_unpack = tq_gemm_unpack_ref,
    .gemm = tq_gemm_ref,
    .gemmf_unpack = tq_gemmf_unpack_ref,
    .gemmf = tq_gemmf_ref,
    .swiglu = tq_swiglu,
    .attn_f16 = tq_attn_f16_ref,
    .read_sum = tq_read_sum_ref,
};

#ifdef TQ_X86
static tq_kernels avx2_set = {
    .name = "avx2",
    .vec_dot = {
        [TQ_F32] = tq_vec_dot_f32_f32_avx2,
        [TQ_F16] = tq_vec_dot_f16_f16_avx2,
        [TQ_BF16] = tq_vec_dot_bf16_f32_avx2,
        [TQ_Q4_0] = tq_vec_dot_q4_0_q8_0_avx2,
        [TQ_Q4_1] = tq_vec_dot_q4_1_q8_0_avx2,
        [TQ_Q5_0] = tq_vec_dot_q5_0_q8_0_avx2,
        [TQ_Q5_1] = tq_vec_dot_q5_1_q8_0_avx2,
        [TQ_Q8_0] = tq_vec_dot_q8_0_q8_0_avx2,
        /* K-quants (kquant_avx2.c) */
        [TQ_Q2_K] = tq_vec_dot_q2_K_q8_K_avx2,
        [TQ_Q3_K] = tq_vec_dot_q3_K_q8_K_avx2,
        [TQ_Q4_K] = tq_vec_dot_q4_K_q8_K_avx2,
        [TQ_Q5_K] = tq_vec_dot_q5_K_q8_K_avx2,
        [TQ_Q6_K] = tq_vec_dot_q6_K_q8_K_avx2,
    },
    .vec_dot_rows = {
        [TQ_Q4_0] = tq_vec_dot_rows_q4_0_q8_0_avx2,
    },
    .from_float = {
        [TQ_F16] = tq_from_float_f16_avx2,
        [TQ_Q8_0] = tq_from_float_q8_0_avx2,
        [TQ_Q8_K] = tq_from_float_q8_K_avx2,
    },
    .round_f16 = tq_round_f16_avx2,
    .gemm_unpack = tq_gemm_unpack_avx2,
    .gemm = tq_gemm_avx2,
    .gemmf_unpack = tq_gemmf_unpack_avx2,
    .gemmf = tq_gemmf_avx2,
    .attn_f16 = tq_attn_f16_avx2,
    .peak_int8 = tq_peak_int8_avx2,
    .peak_fp32 = tq_peak_fp32_avx2,
    .read_sum = tq_read_sum_avx2,
};

static tq_kernels avx512_set = {
    .name = "avx512",
    .vec_dot = {
        [TQ_F32] = tq_vec_dot_f32_f32_avx512,
        [TQ_F16] = tq_vec_dot_f16_f16_avx512,
        [TQ_BF16] = tq_vec_dot_bf16_f32_avx512,
        [TQ_Q4_0] = tq_vec_dot_q4_0_q8_0_avx512,
        [TQ_Q4_1] = tq_vec_dot_q4_1_q8_0_avx512,
        [TQ_Q5_0] = tq_vec_dot_q5_0_q8_0_avx512,
        [TQ_Q5_1] = tq_vec_dot_q5_1_q8_0_avx512,
        [TQ_Q8_0] = tq_vec_dot_q8_0_q8_0_avx512,
        /* K-quants (kquant_avx512.c) */
        [TQ_Q2_K] = tq_vec_dot_q2_K_q8_K_avx512,
        [TQ_Q3_K] = tq_vec_dot_q3_K_q8_K_avx512,
        [TQ_Q4_K] = tq_vec_dot_q4_K_q8_K_avx512,
        [TQ_Q5_K] = tq_vec_dot_q5_K_q8_K_avx512,
        [TQ_Q6_K] = tq_vec_dot_q6_K_q8_K_avx512,
    },
    .vec_dot_rows = {
        [TQ_Q4_0] = tq_vec_dot_rows_q4_0_q8_0_avx512,
        [TQ_Q4_K] = tq_vec_dot_rows_q4_K_q8_K_avx512,
        [TQ_Q5_K] = tq_vec_dot_rows_q5_K_q8_K_avx512,
    },
    .from_float = {
        [TQ_F16] = tq_from_float_f16_avx512,
        [TQ_Q8_0] = tq_from_float_q8_0_avx512,
        [TQ_Q8_K] = tq_from_float_q8_K_avx512,
    },
    .round_f16 = tq_round_f16_avx512,
    .gemm_unpack = tq_gemm_unpack_avx512,
    .gemm = tq_gemm_avx512,
    .gemmf_unpack = tq_gemmf_unpack_avx512,
    .gemmf = tq_gemmf_avx512,
    .swiglu = tq_swiglu_avx512,
    .attn_f16 = tq_attn_f16_avx512,
    .peak_int8 = tq_peak_int8_avx512,
    .peak_fp32 = tq_peak_fp32_avx512,
    .read_sum = tq_read_sum_avx512,
};

/* XCR0 bits: which register state the OS saves on a context switch. */
#define XCR0_AVX (1u << 1 | 1u << 2)                   /* XMM, YMM */
#define XCR0_AVX512 (XCR0_AVX | 1u << 5 | 1u << 6 | 1u << 7) /* + opmask, ZMM0-15 high, ZMM16-31 */

static unsigned cpuid1_ecx(void)
{
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) ? ecx : 0;
}

static unsigned os_saved_state(void)
{
    if (!(cpuid1_ecx() & bit_OSXSAVE))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return lo;
}

/* F16C is read from CPUID directly: not every compiler's __builtin_cpu_supports knows it. */
static bool cpu_has_avx2(unsigned xcr0)
{
    return (xcr0 & XCR0_AVX) == XCR0_AVX && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && (cpuid1_ecx() & bit_F16C);
}

/* AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4. */
static bool cpu_has_avxvnni(unsigned xcr0)
{
    unsigned eax, ebx, ecx, edx;
    return cpu_has_avx2(xcr0) && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) &&
           (eax >> 4 & 1);
}

static bool cpu_has_avx512(unsigned xcr0)
{
    return (xcr0 & XCR0_AVX512) == XCR0_AVX512 && cpu_has_avx2(xcr0) &&
           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
}

static void inherit_ref(tq_kernels *k)
{
    for (int t = 0; t < TQ_TYPE_COUNT; t++) {
        if (!k->vec_dot[t])
            k->vec_dot[t] = ref_set.vec_dot[t];
        if (!k->from_float[t])
            k->from_float[t] = ref_set.from_float[t];
    }
    if (!k->attn_f16)
        k->attn_f16 = ref_set.attn_f16;
    if (!k->swiglu)
        k->swiglu = ref_set.swiglu;
}
#endif /* TQ_X86 */

#ifdef TQ_X86
static tq_kernels avxvnni_set;
#endif
static const tq_kernels *avx2_avail, *avxvnni_avail, *avx512_avail, *best;

/* HEARTH_ISA caps the choice; an unknown value is ignored. */
static const tq_kernels *choose_best(void)
{
    const char *cap = getenv("HEARTH_ISA");
    int level = 3; /* 0 ref, 1 avx2, 2 avxvnni, 3 avx512 */
    if (cap && strcmp(cap, "ref") == 0)
        level = 0;
    else if (cap && strcmp(cap, "avx2") == 0)
        level = 1;
    else if (cap && strcmp(cap, "avxvnni") == 0)
        level = 2;
    if (level >= 3 && avx512_avail)
        return avx512_avail;
    if (level >= 2 && avxvnni_avail)
        return avxvnni_avail;
    if (level >= 1 && avx2_avail)
        return avx2_avail;
    return &ref_set;
}

static void init_sets(void)
{
#ifdef TQ_X86
    __builtin_cpu_init();
    unsigned xcr0 = os_saved_state();
    if (cpu_has_avx2(xcr0)) {
        inherit_ref(&avx2_set);
        avx2_avail = &avx2_set;
    }
    if (cpu_has_avx512(xcr0)) {
        inherit_ref(&avx512_set);
        avx512_avail = &avx512_set;
    }
    if (cpu_has_avxvnni(xcr0) || avx512_avail) {
        avxvnni_set = avx2_set;
        avxvnni_set.name = "avxvnni";
        avxvnni_set.gemm = avx512_avail ? tq_gemm_vnni256_avx512 : tq_gemm_avxvnni;
        avxvnni_set.peak_int8 = avx512_avail ? tq_peak_int8_vnni256_avx512
                                             : tq_peak_int8_avxvnni;
        avxvnni_avail = &avxvnni_set;
    }
#endif
    best = choose_best();
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* -1 also while the weight type has no reference kernel yet. */
int tq_vec_dot_type(int weight_type)
{
    if (weight_type < 0 || weight_type >= TQ_TYPE_COUNT || !ref_set.vec_dot[weight_type])
        return -1;
    switch (weight_type) {
    case TQ_F32: case TQ_BF16:
        return TQ_F32;
    case TQ_F16:
        return TQ_F16;
    case TQ_Q4_0: case TQ_Q4_1: case TQ_Q5_0: case TQ_Q5_1: case TQ_Q8_0:
        return TQ_Q8_0;
    case TQ_Q2_K: case TQ_Q3_K: case TQ_Q4_K: case TQ_Q5_K: case TQ_Q6_K:
        return TQ_Q8_K;
    default:
        return -1;
    }
}

bool tq_kernels_gemm_int8(const tq_kernels *k, int type)
{
    return k->gemm && tq_gemm_block_size(type) > 0;
}

const tq_kernels *tq_kernels_ref(void)
{
    return &ref_set;
}

const tq_kernels *tq_kernels_avx2(void)
{
    pthread_once(&init_once, init_sets);
    return avx2_avail;
}

const tq_kernels *tq_kernels_avxvnni(void)
{
    pthread_once(&init_once, init_sets);
    return avxvnni_avail;
}

const tq_kernels *tq_kernels_avx512(void)
{
    pthread_once(&init_once, init_sets);
    return avx512_avail;
}

const tq_kernels *tq_kernels_best(void)
{
    pthread_once(&init_once, init_sets);
    return best;
}
