/*
 * bench.c — `hearth bench`: how fast this machine runs the kernels.
 *
 *   hearth bench --kernels [-t THREADS] [--json] [--mb MB]
 *
 * Generation is bound by memory bandwidth (every weight is read once per token), so the
 * numbers that matter are the machine's read bandwidth and, for each weight type, how many
 * bytes of weights per second a matrix-vector product gets through. For each type a matrix
 * of about MB megabytes (4096 columns, random values) is multiplied by one random vector;
 * the median of several runs is reported for the reference kernels (the in-run baseline)
 * and the best kernels this CPU offers, next to the measured bandwidth.
 *
 * Prompt processing is bound by compute instead, so the run also measures the cores' peak
 * multiply-add rate (int8 and FP32, every thread at once; kernels/peak.h) and times the
 * batched products (GEMM_BATCH activation rows against GEMM_ROWS weight rows) of each type
 * that has a batched path, as a share of the peak of the arithmetic they use.
 *
 * `hearth bench MODEL` (bench_model.c) times prompt processing and generation of a model.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"
#include "tensor/membw.h"
#include "tensor/pool.h"
#include "tensor/quant.h"

#define COLS 4096
#define SEED_ROWS 16          /* distinct random rows, repeated to fill the matrix */
#define BW_BYTES ((size_t)256 << 20) /* several times any common last-level cache */
#define MIN_REPS 3
#define MAX_REPS 9
#define REP_BUDGET_S 0.4      /* per type and kernel set, once MIN_REPS are done */
#define GEMM_BATCH 256
#define GEMM_ROWS 1024
#define PEAK_ITERS 4000000    /* about 10-40 ms per probe */

static const int bench_types[] = {
    TQ_F32, TQ_F16, TQ_BF16, TQ_Q8_0, TQ_Q4_0, TQ_Q4_1, TQ_Q5_0, TQ_Q5_1,
    TQ_Q2_K, TQ_Q3_K, TQ_Q4_K, TQ_Q5_K, TQ_Q6_K,
};
#define N_TYPES ((int)(sizeof bench_types / sizeof bench_types[0]))

typedef struct result {
    int type;
    int rows;
    size_t bytes;
    double ref_gbs, best_gbs;
    const char *best_isa;   /* the set whose kernel `best` actually uses for this type */
    double gemm_gmacs;      /* batched product, 0 when the type has no batched path */
    bool gemm_int8;         /* its arithmetic: int8 (quantized types) or FP32 */
} result;

typedef struct peaks {
    double int8_gmacs, fp32_gmacs; /* all threads; 0 where the set has no probe */
} peaks;

/* Buffers shared by every type, sized for the largest matrix. */
typedef struct bench {
    tq_pool *pool;
    size_t max_bytes;
    char *W;
    float *x, *y, *seed;
    void *scratch;
} bench;

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t rng = 12345;

static float rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 16777216.0 * 2.0 - 1.0);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hearth bench MODEL [-p 512] [-n 128] [-r 5] [-t THREADS] [--json]\n"
            "       hearth bench --kernels [-t THREADS] [--json] [--mb MB]\n\n"
            "  MODEL          prompt processing (-p tokens in one batch) and generation (-n\n"
            "                 tokens) in tokens/s over -r repetitions, next to the bandwidth bound\n"
            "  --kernels      memory bandwidth and matrix-vector throughput per weight type\n"
            "  -t, --threads  threads to use (default: one per CPU)\n"
            "  --json         print the results as JSON\n"
            "  --mb MB        size of each weight matrix in megabytes (default 128)\n");
}

/* The model name of the CPU, from /proc/cpuinfo where there is one. */
static void cpu_name(char *out, size_t cap)
{
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, cap, "%s", colon);
            break;
        }
    }
    fclose(f);
}

/* Fill `rows` rows of `type` with SEED_ROWS distinct random rows, repeated. Types without
 * a quantizer get random bytes: every bit pattern is a valid block, and the kernels' speed
 * does not depend on the values. */
static void fill_matrix(bench *b, char *W, int type, int rows, size_t row_bytes)
{
    for (int r = 0; r < SEED_ROWS && r < rows; r++) {
        char *dst = W + (size_t)r * row_bytes;
        if (tq_can_quantize(type)) {
            for (int c = 0; c < COLS; c++)
                b->seed[c] = rnd();
            tq_quantize(type, b->seed, dst, COLS);
        } else {
            for (size_t i = 0; i < row_bytes; i++)
                dst[i] = (char)(rnd() * 128);
        }
    }
    for (int r = SEED_ROWS; r < rows; r++)
        memcpy(W + (size_t)r * row_bytes, W + (size_t)(r % SEED_ROWS) * row_bytes, row_bytes);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median GB/s of weights read by y = W x with kernel set k. */
static double time_matvec(bench *b, const tq_kernels *k, int type, int rows, size_t bytes)
{
    double t[MAX_REPS];
    int n = 0;
    tq_matmul(b->pool, k, b->y, b->W, type, rows, COLS, b->x, 1, b->scratch); /* warm-up */
    double start = seconds();
    while (n < MAX_REPS && (n < MIN_REPS || seconds() - start < REP_BUDGET_S)) {
        double t0 = seconds();
        tq_matmul(b->pool, k, b->y, b->W, type, rows, COLS, b->x, 1, b->scratch);
        t[n++] = seconds() - t0;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    double med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    return med > 0 ? (double)bytes / med / 1e9 : 0;
}

/* Which kernel set the best set's kernel for this type really comes from: a SIMD set
 * without its own kernel for a type inherits the reference (or a narrower set's) one. */
static const char *isa_of(const tq_kernels *best, int type)
{
    const tq_kernels *ref = tq_kernels_ref(), *avx2 = tq_kernels_avx2();
    if (best->vec_dot[type] == ref->vec_dot[type])
        return ref->name;
    if (avx2 && best != avx2 && best->vec_dot[type] == avx2->vec_dot[type])
        return avx2->name;
    return best->name;
}

typedef struct peak_job {
    tq_peak_fn fn;
    _Atomic uint64_t done;
} peak_job;

static void peak_task(void *arg, int ith, int nth)
{
    peak_job *j = arg;
    (void)ith, (void)nth;
    j->done += j->fn(PEAK_ITERS);
}

/* Multiply-adds per second, in billions, of fn running on every thread at once; best of 5
 * (a neighbour on a shared machine takes whole passes away). */
static double measure_peak(tq_pool *pool, tq_peak_fn fn)
{
    double best = 0;
    for (int rep = 0; fn && rep < 5; rep++) {
        peak_job j = { .fn = fn };
        double t0 = seconds();
        tq_pool_run(pool, peak_task, &j);
        double t = seconds() - t0, rate = t > 0 ? (double)j.done / t / 1e9 : 0;
        best = rate > best ? rate : best;
    }
    return best;
}

/* Does the set multiply batches of this type in int8 (else in FP32, as matmul.c routes)? */
static bool gemm_is_int8(const tq_kernels *k, int type)
{
    return tq_kernels_gemm_int8(k, type);
}

/* Median multiply-adds per second (billions) of a GEMM_BATCH-row batch through the best
 * kernels (its own buffers: at most 16 MB of weights, which stay in the last-level cache
 * or close to it, as a product's panels do); 0 if the type has no batched path there. */
static double time_gemm(bench *b, const tq_kernels *k, int type)
{
    /* Only where a peak gives the figure its meaning: the plain-C set has none, and its
     * GEMM would take seconds per type. */
    const bool int8 = gemm_is_int8(k, type);
    const bool fp32 = !int8 && k->gemmf && tq_gemmf_type(type);
    if (!(int8 && k->peak_int8) && !(fp32 && k->peak_fp32))
        return 0;
    const size_t bytes = (size_t)GEMM_ROWS * tq_row_size(type, COLS);
    const size_t scratch = tq_matmul_scratch_size(type, COLS, GEMM_BATCH);
    float *x = mem_alloc((size_t)GEMM_BATCH * COLS * sizeof(float));
    float *y = mem_alloc((size_t)GEMM_BATCH * GEMM_ROWS * sizeof(float));
    char *W = mem_alloc_aligned(bytes, 64);
    void *sc = scratch ? mem_alloc_aligned(scratch, 64) : NULL;
    double gmacs = 0;
    if (x && y && W && (sc || !scratch)) {
        fill_matrix(b, W, type, GEMM_ROWS, tq_row_size(type, COLS));
        for (size_t i = 0; i < (size_t)GEMM_BATCH * COLS; i++)
            x[i] = rnd();
        double t[MIN_REPS];
        tq_matmul(b->pool, k, y, W, type, GEMM_ROWS, COLS, x, GEMM_BATCH, sc); /* warm-up */
        for (int n = 0; n < MIN_REPS; n++) {
            double t0 = seconds();
            tq_matmul(b->pool, k, y, W, type, GEMM_ROWS, COLS, x, GEMM_BATCH, sc);
            t[n] = seconds() - t0;
        }
        qsort(t, MIN_REPS, sizeof t[0], cmp_double);
        if (t[MIN_REPS / 2] > 0)
            gmacs = (double)GEMM_ROWS * COLS * GEMM_BATCH / t[MIN_REPS / 2] / 1e9;
    }
    mem_free(x);
    mem_free(y);
    mem_free_aligned(W);
    mem_free_aligned(sc);
    return gmacs;
}

static int bench_init(bench *b, int threads, size_t mb)
{
    memset(b, 0, sizeof *b);
    b->max_bytes = mb << 20;
    b->pool = tq_pool_new(threads);
    b->W = mem_alloc_aligned(b->max_bytes, 64);
    b->x = mem_alloc(COLS * sizeof(float));
    b->seed = mem_alloc(COLS * sizeof(float));
    size_t min_row = (size_t)-1, scratch = 1;
    for (int i = 0; i < N_TYPES; i++) {
        size_t row = tq_row_size(bench_types[i], COLS), s = tq_matmul_scratch_size(bench_types[i], COLS, 1);
        min_row = row < min_row ? row : min_row;
        scratch = s > scratch ? s : scratch;
    }
    b->y = mem_alloc(b->max_bytes / min_row * sizeof(float));
    b->scratch = mem_alloc(scratch);
    if (!b->pool || !b->W || !b->x || !b->seed || !b->y || !b->scratch)
        return 0;
    for (int c = 0; c < COLS; c++)
        b->x[c] = rnd();
    return 1;
}

static void bench_free(bench *b)
{
    tq_pool_free(b->pool);
    mem_free_aligned(b->W);
    mem_free(b->x);
    mem_free(b->seed);
    mem_free(b->y);
    mem_free(b->scratch);
}

static void run_type(bench *b, int type, result *res)
{
    const size_t row_bytes = tq_row_size(type, COLS);
    const int rows = (int)(b->max_bytes / row_bytes); /* >= 1: MB >= 1 exceeds any row */
    fill_matrix(b, b->W, type, rows, row_bytes);
    const tq_kernels *best = tq_kernels_best();
    *res = (result){ .type = type, .rows = rows, .bytes = (size_t)rows * row_bytes };
    res->ref_gbs = time_matvec(b, tq_kernels_ref(), type, rows, res->bytes);
    res->best_gbs = time_matvec(b, best, type, rows, res->bytes);
    res->best_isa = isa_of(best, type);
    res->gemm_gmacs = time_gemm(b, best, type);
    res->gemm_int8 = gemm_is_int8(best, type);
}

static double pct_of_peak(const result *r, const peaks *pk)
{
    double peak = r->gemm_int8 ? pk->int8_gmacs : pk->fp32_gmacs;
    return peak > 0 ? 100 * r->gemm_gmacs / peak : 0;
}

static void print_text(const char *cpu, int threads, double bw, size_t mb, const result *r,
                       const peaks *pk)
{
    printf("hearth bench --kernels: %s, %d threads, best kernels: %s\n", cpu, threads,
           tq_kernels_best()->name);
    printf("memory read bandwidth: %.1f GB/s (%zu MB buffer, best of several passes)\n", bw,
           BW_BYTES >> 20);
    printf("matrix-vector products: %d columns, about %zu MB of weights each, batch 1, median\n\n",
           COLS, mb);
    printf("%-6s %10s %10s %10s %-7s %8s\n", "type", "MB", "ref GB/s", "best GB/s", "ISA", "% of bw");
    for (int i = 0; i < N_TYPES; i++)
        printf("%-6s %10.1f %10.2f %10.2f %-7s %7.0f%%\n", tq_type_name(r[i].type),
               (double)r[i].bytes / (1 << 20), r[i].ref_gbs, r[i].best_gbs, r[i].best_isa,
               bw > 0 ? 100 * r[i].best_gbs / bw : 0);
    printf("\ncompute peak (all threads): int8 ");
    if (pk->int8_gmacs > 0)
        printf("%.0f G multiply-adds/s", pk->int8_gmacs);
    else
        printf("not measured (no int8 multiply-add instruction in this set)");
    printf(", FP32 ");
    if (pk->fp32_gmacs > 0)
        printf("%.0f G fused multiply-adds/s (%.0f GFLOP/s)\n", pk->fp32_gmacs,
               2 * pk->fp32_gmacs);
    else
        printf("not measured\n");
    printf("batched products: %d activation rows x %d weight rows x %d columns, median\n\n",
           GEMM_BATCH, GEMM_ROWS, COLS);
    int n_gemm = 0;
    for (int i = 0; i < N_TYPES; i++)
        n_gemm += r[i].gemm_gmacs > 0;
    if (!n_gemm) {
        printf("(not measured: the %s kernels have no batched kernel, or no peak probe to "
               "compare it with)\n", tq_kernels_best()->name);
        return;
    }
    printf("%-6s %12s %-5s %10s\n", "type", "G mul-add/s", "with", "% of peak");
    for (int i = 0; i < N_TYPES; i++)
        if (r[i].gemm_gmacs > 0)
            printf("%-6s %12.1f %-5s %9.0f%%\n", tq_type_name(r[i].type), r[i].gemm_gmacs,
                   r[i].gemm_int8 ? "int8" : "FP32", pct_of_peak(&r[i], pk));
}

static int print_json(const char *cpu, int threads, double bw, size_t mb, const result *r,
                      const peaks *pk)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "cpu", cpu);
    cJSON_AddStringToObject(root, "isa", tq_kernels_best()->name);
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddNumberToObject(root, "bandwidth_gbs", bw);
    cJSON_AddNumberToObject(root, "bandwidth_buffer_mb", (double)(BW_BYTES >> 20));
    cJSON_AddNumberToObject(root, "cols", COLS);
    cJSON_AddNumberToObject(root, "matrix_mb", (double)mb);
    cJSON *list = cJSON_AddArrayToObject(root, "kernels");
    for (int i = 0; i < N_TYPES && list; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", tq_type_name(r[i].type));
        cJSON_AddNumberToObject(e, "rows", r[i].rows);
        cJSON_AddNumberToObject(e, "bytes", (double)r[i].bytes);
        cJSON_AddNumberToObject(e, "ref_gbs", r[i].ref_gbs);
        cJSON_AddNumberToObject(e, "best_gbs", r[i].best_gbs);
        cJSON_AddStringToObject(e, "best_isa", r[i].best_isa);
        cJSON_AddNumberToObject(e, "pct_of_bandwidth", bw > 0 ? 100 * r[i].best_gbs / bw : 0);
        cJSON_AddItemToArray(list, e);
    }
    cJSON_AddNumberToObject(root, "peak_int8_gmacs", pk->int8_gmacs);
    cJSON_AddNumberToObject(root, "peak_fp32_gmacs", pk->fp32_gmacs);
    cJSON_AddNumberToObject(root, "gemm_batch", GEMM_BATCH);
    cJSON_AddNumberToObject(root, "gemm_rows", GEMM_ROWS);
    cJSON *gl = cJSON_AddArrayToObject(root, "gemm");
    for (int i = 0; i < N_TYPES && gl; i++) {
        if (r[i].gemm_gmacs <= 0)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", tq_type_name(r[i].type));
        cJSON_AddNumberToObject(e, "gmacs", r[i].gemm_gmacs);
        cJSON_AddStringToObject(e, "arithmetic", r[i].gemm_int8 ? "int8" : "fp32");
        cJSON_AddNumberToObject(e, "pct_of_peak", pct_of_peak(&r[i], pk));
        cJSON_AddItemToArray(gl, e);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "hearth bench: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

static int bench_kernels(int threads, int json, size_t mb)
{
    bench b;
    if (!bench_init(&b, threads, mb)) {
        fprintf(stderr, "hearth bench: cannot allocate %zu MB of buffers or start the threads\n", mb);
        bench_free(&b);
        return 1;
    }
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    double bw = tq_measure_bandwidth(b.pool, BW_BYTES);
    const tq_kernels *best = tq_kernels_best();
    peaks pk = { measure_peak(b.pool, best->peak_int8), measure_peak(b.pool, best->peak_fp32) };
    result res[N_TYPES];
    for (int i = 0; i < N_TYPES; i++)
        run_type(&b, bench_types[i], &res[i]);
    int n_threads = tq_pool_size(b.pool);
    bench_free(&b);
    if (json)
        return print_json(cpu, n_threads, bw, mb, res, &pk);
    print_text(cpu, n_threads, bw, mb, res, &pk);
    return 0;
}

/* A positive integer option value no larger than max, or -1. */
static long parse_count(const char *s, long max)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    return s && *s && *end == '\0' && v > 0 && v <= max ? v : -1;
}

int cmd_bench(int argc, char **argv)
{
    int kernels = 0, json = 0;
    long threads = 0, mb = 128, pp = 512, tg = 128, reps = 5;
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--kernels") == 0) {
            kernels = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if ((threads = parse_count(i + 1 < argc ? argv[++i] : NULL, 512)) < 0) {
                fprintf(stderr, "hearth bench: %s needs a thread count from 1 to 512\n", a);
                return 2;
            }
        } else if (strcmp(a, "--mb") == 0) {
            if ((mb = parse_count(i + 1 < argc ? argv[++i] : NULL, 16384)) < 0) {
                fprintf(stderr, "hearth bench: --mb needs a size from 1 to 16384 megabytes\n");
                return 2;
            }
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "-r") == 0) {
            const char *v = i + 1 < argc ? argv[++i] : NULL;
            long n = v && strcmp(v, "0") == 0 ? 0 : parse_count(v, a[1] == 'r' ? 1000 : 65536);
            if (n < 0 || (a[1] == 'r' && n == 0)) {
                fprintf(stderr, "hearth bench: %s needs a %s\n", a,
                        a[1] == 'r' ? "repetition count from 1 to 1000"
                                    : "token count from 0 to 65536");
                return 2;
            }
            *(a[1] == 'p' ? &pp : a[1] == 'n' ? &tg : &reps) = n;
        } else if (a[0] == '-') {
            fprintf(stderr, "hearth bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "hearth bench: one model at a time ('%s' and '%s')\n", model, a);
            return 2;
        }
    }
    if (kernels == !!model) {
        usage(stderr);
        return 2;
    }
    if (model)
        return bench_model(model, (int)pp, (int)tg, (int)threads, (int)reps, json);
    return bench_kernels((int)threads, json, (size_t)mb);
}
