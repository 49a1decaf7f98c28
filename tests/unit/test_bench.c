/* Tests for `hearth bench` (src/cli/bench.c), run as a program: the kernel benchmark's JSON
 * has a positive bandwidth and one entry per weight type, and model benchmarks are refused. */
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>

/* env: a prefix for the command line (an ISA override, or ""). */
static void check_kernels_json(const char *env)
{
    static const char *types[] = { "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                                   "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K" };
    const int n_types = (int)(sizeof types / sizeof types[0]);
    char cmd[1024];
    static char out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s%s bench --kernels --json --mb 2 -t 2", env, test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    cJSON *root = cJSON_Parse(out);
    REQUIRE(root);
    cJSON *bw = cJSON_GetObjectItem(root, "bandwidth_gbs");
    CHECK(cJSON_IsNumber(bw) && bw->valuedouble > 0);
    cJSON *threads = cJSON_GetObjectItem(root, "threads");
    CHECK(cJSON_IsNumber(threads) && threads->valueint == 2);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(root, "isa")));
    cJSON *list = cJSON_GetObjectItem(root, "kernels");
    CHECK(cJSON_IsArray(list));
    CHECK_EQ(cJSON_GetArraySize(list), n_types);
    for (int i = 0; i < n_types && i < cJSON_GetArraySize(list); i++) {
        cJSON *e = cJSON_GetArrayItem(list, i);
        cJSON *type = cJSON_GetObjectItem(e, "type");
        CHECK_STR(cJSON_IsString(type) ? type->valuestring : NULL, types[i]);
        cJSON *bytes = cJSON_GetObjectItem(e, "bytes");
        /* Matrices of about 2 MB: whole rows, at most one row short of the target. */
        CHECK(cJSON_IsNumber(bytes) && bytes->valuedouble > (2 << 20) - 16384 &&
              bytes->valuedouble <= (2 << 20));
        cJSON *ref = cJSON_GetObjectItem(e, "ref_gbs"), *best = cJSON_GetObjectItem(e, "best_gbs");
        CHECK(cJSON_IsNumber(ref) && ref->valuedouble > 0);
        CHECK(cJSON_IsNumber(best) && best->valuedouble > 0);
    }
    /* The compute peaks and the batched products: every SIMD set has an int8 GEMM and an
     * FP32 one, and a probe for each; a product's share is its rate over the matching peak. */
    const char *isa = cJSON_GetObjectItem(root, "isa")->valuestring;
    double p8 = cJSON_GetObjectItem(root, "peak_int8_gmacs")->valuedouble;
    double p32 = cJSON_GetObjectItem(root, "peak_fp32_gmacs")->valuedouble;
    cJSON *gemm = cJSON_GetObjectItem(root, "gemm");
    REQUIRE(cJSON_IsArray(gemm));
    if (strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0) {
        CHECK(p8 > 0 && p32 > 0);
        bool q4_0 = false, f16 = false;
        for (int i = 0; i < cJSON_GetArraySize(gemm); i++) {
            cJSON *e = cJSON_GetArrayItem(gemm, i);
            const char *t = cJSON_GetObjectItem(e, "type")->valuestring;
            const char *ar = cJSON_GetObjectItem(e, "arithmetic")->valuestring;
            double g = cJSON_GetObjectItem(e, "gmacs")->valuedouble;
            double pct = cJSON_GetObjectItem(e, "pct_of_peak")->valuedouble;
            CHECK(g > 0);
            CHECK_NEAR(pct, 100 * g / (strcmp(ar, "int8") == 0 ? p8 : p32), 1e-6 * pct);
            q4_0 |= strcmp(t, "Q4_0") == 0 && strcmp(ar, "int8") == 0;
            f16 |= strcmp(t, "F16") == 0 && strcmp(ar, "fp32") == 0;
        }
        CHECK(q4_0 && f16);
    }
    cJSON_Delete(root);
}

TEST(bench_kernels_json)
{
    check_kernels_json("");
    if (__builtin_cpu_supports("avx2"))
        check_kernels_json("HEARTH_ISA=avx2 ");
}

TEST(bench_model_json)
{
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "%s bench " TESTDATA "/models/tiny-llama-spm-q8_0.gguf -p 16 -n 4 "
             "-r 2 -t 1 --json 2>&1", test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j);
    CHECK(cJSON_GetObjectItem(j, "pp_tps")->valuedouble > 0);
    CHECK(cJSON_GetObjectItem(j, "tg_tps")->valuedouble > 0);
    CHECK(cJSON_GetObjectItem(j, "bandwidth_gbs")->valuedouble > 0);
    /* the fixture: 21 tensors, 5208992-byte file; weights are most of it */
    double bytes = cJSON_GetObjectItem(j, "bytes")->valuedouble;
    CHECK(bytes > 4e6 && bytes < 5208992);
    cJSON_Delete(j);

    /* the kernel set that ran, as HEARTH_ISA capped it (plain C runs on every CPU) */
    snprintf(cmd, sizeof cmd, "HEARTH_ISA=ref %s bench " TESTDATA "/models/tiny-llama-spm-q8_0"
             ".gguf -p 8 -n 2 -r 1 -t 1 --json 2>&1", test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    REQUIRE((j = cJSON_Parse(out)));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kernels")), "ref");
    cJSON_Delete(j);
}

/* A model larger than PROBE_MIN (256 MiB) is its own bandwidth probe: a reading every 4
 * generated tokens and one after the repetition (40 tokens: after tokens 4, 8, ... 36 and
 * at the end), read from the mapped weights, so the peak memory stays near the file size (an
 * allocated 256 MiB probe buffer would add 70 % to this 358 MiB model). The best single
 * pass can be no slower than the mean of the passes. */
TEST(bench_model_probes_bandwidth_each_repetition)
{
    char tool[512], path[512], cmd[2048], out[8192];
    const char *bin = test_bin(), *slash = strrchr(bin, '/');
    snprintf(tool, sizeof tool, "%.*s/mkmodel", slash ? (int)(slash - bin) : 1,
             slash ? bin : ".");
    snprintf(path, sizeof path, "%s/probe-f16.gguf", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s --arch llama --layers 2 --embd 2048 --heads 16 --kv-heads 4 "
             "--ffn 8192 --ctx 512 --tied --type F16 --vocab " TESTDATA
             "/vocab/ggml-vocab-llama-spm.gguf -o %s 2>&1", tool, path);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    snprintf(cmd, sizeof cmd, "%s bench %s -p 8 -n 40 -r 2 -t 1 --json 2>&1", bin, path);
    int rc = test_run(cmd, out, sizeof out);
    remove(path);
    REQUIRE(rc == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j);
    CHECK_EQ(cJSON_GetObjectItem(j, "bandwidth_probes")->valuedouble, 20);
    double bw = cJSON_GetObjectItem(j, "bandwidth_gbs")->valuedouble;
    CHECK(bw > 0);
    CHECK(cJSON_GetObjectItem(j, "bandwidth_best_gbs")->valuedouble >= bw * 0.999);
    CHECK(cJSON_GetObjectItem(j, "tg_fraction_of_bound")->valuedouble > 0);
    double bytes = cJSON_GetObjectItem(j, "bytes")->valuedouble;
    double peak = cJSON_GetObjectItem(j, "peak_rss_bytes")->valuedouble;
    CHECK(bytes > 3.5e8);
    CHECK(peak < 1.3 * bytes);
    cJSON_Delete(j);
}

TEST(bench_usage_errors)
{
    char cmd[1024], out[1024];
    snprintf(cmd, sizeof cmd, "%s bench", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s bench --kernels --mb 0", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s bench m.gguf -r 0", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_CONTAINS(out, "repetition");
    snprintf(cmd, sizeof cmd, "%s bench /nonexistent.gguf -p 8 -n 2 -r 1", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_CONTAINS(out, "/nonexistent.gguf");
}
