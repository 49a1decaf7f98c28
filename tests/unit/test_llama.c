/*
 * Tests for models/llama.c against llama.cpp's outputs in ../shared/testdata/reference/.
 *
 * For every decoder fixture and prompt: evaluate the reference prompt ids as one batch and
 * compare the reference's top-5 logits at every position; then decode greedily and compare
 * ids and logits step by step until the reference's own top-two gap falls below the
 * threshold (past a near-tie a correct implementation may take the other branch).
 * Tolerances are those of reference/README.md: float math (F16 weights, or every weight
 * dequantized to F32 against NAME.exactf32.json) within 0.05 with gap 0.1; llama.cpp's
 * quantized-activation path (NAME.json of a quantized model) within 1.0 with gap 1.0.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "base/file.h"
#include "base/mem.h"
#include "formats/gguf.h"
#include "models/llama.h"
#include "tensor/types.h"

static cJSON *load_json(const char *path)
{
    char *text;
    size_t n;
    if (file_read_all(path, 64 << 20, &text, &n, NULL) != HEARTH_OK)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    mem_free(text);
    return j;
}

/* Compare reference top-5 [[id, logit], ...] with our logits; returns the max deviation. */
static double top5_dev(const cJSON *top5, const float *logits)
{
    double dev = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, top5) {
        int id = cJSON_GetArrayItem(e, 0)->valueint;
        double d = fabs(logits[id] - cJSON_GetArrayItem(e, 1)->valuedouble);
        if (d > dev)
            dev = d;
    }
    return dev;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static double top_gap(const cJSON *top5)
{
    return cJSON_GetArrayItem(cJSON_GetArrayItem(top5, 0), 1)->valuedouble -
           cJSON_GetArrayItem(cJSON_GetArrayItem(top5, 1), 1)->valuedouble;
}

/* Run one reference file; returns the number of greedy steps compared. */
static int check_reference_kv(const char *model, const char *ref, bool exact, double tol,
                               double gap_min, int kv_type)
{
    char path[512];
    snprintf(path, sizeof path, TESTDATA "/models/%s", model);
    hearth_error err;
    gguf_file *g;
    if (gguf_open(&g, path, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return 0;
    }
    llm_model_params mp = llm_model_default_params();
    mp.dequantize_all = exact;
    llm_model *m;
    if (llm_model_load(&m, g, mp, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "load %s: %s", model, err.msg);
        gguf_close(g);
        return 0;
    }
    snprintf(path, sizeof path, TESTDATA "/reference/%s", ref);
    cJSON *j = load_json(path);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 2;
    cp.kv_type = kv_type;
    llm_ctx *c = NULL;
    double worst = 0;
    int steps_checked = 0;
    int V = llm_model_hparams(m)->n_vocab;
    float *logits = mem_alloc((size_t)V * 512 * sizeof(float));
    if (!j || !logits || llm_ctx_new(&c, m, cp, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s: setup failed: %s", ref, err.msg);
        goto done;
    }
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(j, "cases")) {
        /* a fresh sequence: each case starts at position 0, overwriting the cache */
        const cJSON *ids = cJSON_GetObjectItem(cs, "prompt_ids");
        int n = cJSON_GetArraySize(ids);
        int32_t tok[512], pos[512];
        uint8_t want[512];
        for (int i = 0; i < n; i++) {
            tok[i] = cJSON_GetArrayItem(ids, i)->valueint;
            pos[i] = i;
            want[i] = 1;
        }
        if (llm_decode(c, n, tok, pos, NULL, want, logits, &err) != HEARTH_OK) {
            test_fail(__FILE__, __LINE__, "%s: decode: %s", ref, err.msg);
            break;
        }
        const cJSON *top5s = cJSON_GetObjectItem(cs, "prompt_top5");
        for (int i = 0; i < n; i++) {
            double d = top5_dev(cJSON_GetArrayItem(top5s, i), logits + (size_t)i * V);
            worst = d > worst ? d : worst;
            if (d > tol)
                test_fail(__FILE__, __LINE__, "%s: prompt position %d: logit off by %.4f", ref,
                          i, d);
        }
        /* greedy continuation */
        memmove(logits, logits + (size_t)(n - 1) * V, (size_t)V * sizeof(float));
        const cJSON *step;
        int p = n;
        cJSON_ArrayForEach(step, cJSON_GetObjectItem(cs, "greedy")) {
            const cJSON *top5 = cJSON_GetObjectItem(step, "top5");
            double d = top5_dev(top5, logits);
            worst = d > worst ? d : worst;
            if (d > tol)
                test_fail(__FILE__, __LINE__, "%s: greedy step %d: logit off by %.4f", ref,
                          p - n, d);
            if (top_gap(top5) < gap_min)
                break; /* a near-tie in the reference: paths may part here */
            int ours = argmax(logits, V), theirs = cJSON_GetObjectItem(step, "id")->valueint;
            if (ours != theirs) {
                test_fail(__FILE__, __LINE__, "%s: greedy step %d: token %d, reference %d",
                          ref, p - n, ours, theirs);
                break;
            }
            steps_checked++;
            int32_t t = ours, ps = p++;
            if (llm_decode(c, 1, &t, &ps, NULL, NULL, logits, &err) != HEARTH_OK) {
                test_fail(__FILE__, __LINE__, "%s: decode: %s", ref, err.msg);
                break;
            }
        }
    }
    printf("    %-36s max |dlogit| %.4f, %d greedy steps matched\n", ref, worst, steps_checked);
done:
    mem_free(logits);
    cJSON_Delete(j);
    llm_ctx_free(c);
    llm_model_free(m);
    gguf_close(g);
    return steps_checked;
}

static int check_reference(const char *model, const char *ref, bool exact, double tol,
                           double gap_min)
{
    return check_reference_kv(model, ref, exact, tol, gap_min, TQ_F16);
}

static const char *quantized[] = {
    "tiny-llama-spm-q8_0", "tiny-llama-spm-q4_0", "tiny-llama-spm-q4_1",
    "tiny-llama-spm-q5_0", "tiny-llama-spm-q5_1", "tiny-llama-spm-q4_k_m",
    "small-llama-spm-q2_k", "small-llama-spm-q4_k_m", "small-llama-spm-q5_k_m",
    "tiny-qwen2-bpe-q8_0",
};

TEST(llama_f16_matches_llamacpp)
{
    CHECK(check_reference("tiny-llama-spm-f16.gguf", "tiny-llama-spm-f16.json", false, 0.05,
                          0.1) > 0);
}

TEST(llama_exactf32_matches_llamacpp)
{
    for (size_t i = 0; i < sizeof quantized / sizeof quantized[0]; i++) {
        char model[128], ref[128];
        snprintf(model, sizeof model, "%s.gguf", quantized[i]);
        snprintf(ref, sizeof ref, "%s.exactf32.json", quantized[i]);
        CHECK(check_reference(model, ref, true, 0.05, 0.1) > 0);
    }
}

TEST(llama_quantized_matches_llamacpp)
{
    /* random-weight logits are close together, so a gap of 1.0 often ends the greedy
     * comparison early; across all files some steps must still be compared */
    int steps = 0;
    for (size_t i = 0; i < sizeof quantized / sizeof quantized[0]; i++) {
        char model[128], ref[128];
        snprintf(model, sizeof model, "%s.gguf", quantized[i]);
        snprintf(ref, sizeof ref, "%s.json", quantized[i]);
        steps += check_reference(model, ref, false, 1.0, 1.0);
    }
    CHECK(steps > 10);
}

/* ---- properties that need no reference: shapes the fixtures do not cover ---------------- */

/* Path of build/mkmodel beside the hearth binary under test. */
static void mkmodel_path(char *buf, size_t n)
{
    const char *bin = test_bin();
    const char *slash = strrchr(bin, '/');
    snprintf(buf, n, "%.*s/mkmodel", slash ? (int)(slash - bin) : 1, slash ? bin : ".");
}

static bool make_model(const char *out, const char *args)
{
    char tool[256], cmd[2048], log[4096];
    mkmodel_path(tool, sizeof tool);
    snprintf(cmd, sizeof cmd, "%s %s -o %s", tool, args, out);
    int rc = test_run(cmd, log, sizeof log);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "%s: exit %d: %s", cmd, rc, log);
    return rc == 0;
}

/* Evaluating a prompt as one batch, token by token, or as two sequences side by side must
 * give the same logits (up to activation-quantization noise on the quantized path). */
static void check_batch_consistency(const char *path, bool exact, double tol)
{
    hearth_error err;
    gguf_file *g = NULL;
    llm_model *m = NULL;
    llm_ctx *c = NULL;
    float *a = NULL, *b = NULL;
    REQUIRE(gguf_open(&g, path, &err) == HEARTH_OK);
    llm_model_params mp = llm_model_default_params();
    mp.dequantize_all = exact;
    if (llm_model_load(&m, g, mp, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        goto done;
    }
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_seq = 2;
    cp.n_threads = 2;
    REQUIRE(llm_ctx_new(&c, m, cp, &err) == HEARTH_OK);
    int V = llm_model_hparams(m)->n_vocab, n = 12;
    a = mem_alloc((size_t)V * n * sizeof(float));
    b = mem_alloc((size_t)V * sizeof(float));
    int32_t tok[12], pos[12], seq[12];
    uint8_t want[12];
    for (int i = 0; i < n; i++) {
        tok[i] = (i * 7919 + 13) % V;
        pos[i] = i;
        want[i] = 1;
        seq[i] = 1;
    }
    REQUIRE(llm_decode(c, n, tok, pos, seq, want, a, &err) == HEARTH_OK);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        /* sequence 0, one token at a time, while sequence 1 holds the batch result */
        REQUIRE(llm_decode(c, 1, &tok[i], &pos[i], NULL, NULL, b, &err) == HEARTH_OK);
        for (int v = 0; v < V; v++) {
            double d = fabs(a[(size_t)i * V + v] - b[v]);
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst <= tol);
    printf("    %s: batch vs one-by-one max |dlogit| %.5f\n", strrchr(path, '/') + 1, worst);
    /* a prompt past the context is refused, not written past the cache */
    int32_t p_end = 64, t0 = 1;
    CHECK(llm_decode(c, 1, &t0, &p_end, NULL, NULL, b, &err) == HEARTH_ERR_RANGE);
    CHECK_CONTAINS(err.msg, "context");
    int32_t bad = V;
    CHECK(llm_decode(c, 1, &bad, &pos[0], NULL, NULL, b, &err) == HEARTH_ERR_RANGE);
done:
    mem_free(a);
    mem_free(b);
    llm_ctx_free(c);
    llm_model_free(m);
    gguf_close(g);
}

TEST(llama_synthetic_shapes_batch_consistency)
{
    static const struct { const char *name, *args; } shapes[] = {
        { "gqa1-hd64-q8_0", "--arch llama --embd 256 --heads 4 --kv-heads 4 --ffn 512 --type Q8_0" },
        { "gqa2-hd128-q6_k", "--arch llama --embd 512 --heads 4 --kv-heads 2 --ffn 768 --type Q6_K" },
        { "gqa8-qwen3-q5_k", "--arch qwen3 --embd 256 --heads 16 --kv-heads 2 --head-dim 64 --ffn 512 --type Q5_K" },
        { "qwen2-q4_0", "--arch qwen2 --embd 256 --heads 4 --kv-heads 2 --ffn 512 --type Q4_0" },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char path[512], args[512];
        snprintf(path, sizeof path, "%s/%s.gguf", test_tmpdir(), shapes[i].name);
        snprintf(args, sizeof args, "%s --layers 2 --ctx 128 --vocab %s", shapes[i].args,
                 strstr(shapes[i].args, "qwen") ? TESTDATA "/vocab/ggml-vocab-qwen2.gguf"
                                                : TESTDATA "/vocab/ggml-vocab-llama-spm.gguf");
        if (!make_model(path, args))
            continue;
        check_batch_consistency(path, true, 1e-3);
        /* Quantized: a batch rounds the activations per 32 values (int8 GEMM) or sums
         * dequantized weights in float (AVX2's float GEMM), one token at a time per 256
         * (Q8_K). On the Q5_K model both batch paths differ from one-by-one by up to 0.021
         * and each is about 0.026 from the exact float model, one-by-one included: the
         * bound is the activation-quantization noise, not a defect of either path. */
        check_batch_consistency(path, false, 0.03);
    }
}

TEST(llama_refuses_truncated_and_foreign_models)
{
    hearth_error err;
    gguf_file *g;
    llm_model *m;
    /* a vocabulary-only file has no weights */
    REQUIRE(gguf_open(&g, TESTDATA "/vocab/ggml-vocab-llama-spm.gguf", &err) == HEARTH_OK);
    CHECK(llm_model_load(&m, g, llm_model_default_params(), &err) == HEARTH_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "token_embd.weight");
    gguf_close(g);
    /* an encoder is not a decoder */
    REQUIRE(gguf_open(&g, TESTDATA "/models/tiny-bert-q8_0.gguf", &err) == HEARTH_OK);
    CHECK(llm_model_load(&m, g, llm_model_default_params(), &err) == HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "bert");
    gguf_close(g);
    /* a file cut off mid-tensor never gets as far as the model loader */
    char cut[256], cmd[1200];
    snprintf(cut, sizeof cut, "%s/cut.gguf", test_tmpdir());
    snprintf(cmd, sizeof cmd, "head -c 3000000 " TESTDATA "/models/tiny-llama-spm-q8_0.gguf > %s", cut);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    CHECK(gguf_open(&g, cut, &err) == HEARTH_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "cut.gguf");
}

/* A Q8_0 KV cache rounds every key, value and (for the Q·K dot) query to 8-bit blocks, the
 * same kind of rounding as llama.cpp's quantized activations, which the reference README
 * measures as moving these random models' logits by 0.2 to 0.45. Measured here: up to
 * 0.22 against the float reference. So: within 0.5, greedy ids equal until a gap of 0.5. */
TEST(llama_q8_0_kv_cache)
{
    CHECK(check_reference_kv("small-llama-spm-q4_k_m.gguf", "small-llama-spm-q4_k_m.exactf32.json",
                             true, 0.5, 0.5, TQ_Q8_0) > 0);
    /* head size 16 cannot hold whole Q8_0 blocks per head: a clear refusal */
    hearth_error err;
    gguf_file *g;
    llm_model *m;
    llm_ctx *c = NULL;
    REQUIRE(gguf_open(&g, TESTDATA "/models/tiny-llama-spm-q8_0.gguf", &err) == HEARTH_OK);
    REQUIRE(llm_model_load(&m, g, llm_model_default_params(), &err) == HEARTH_OK);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.kv_type = TQ_Q8_0;
    CHECK(llm_ctx_new(&c, m, cp, &err) == HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "multiple of 32");
    cp.kv_type = TQ_Q4_K;
    CHECK(llm_ctx_new(&c, m, cp, &err) == HEARTH_ERR_UNSUPPORTED);
    llm_model_free(m);
    gguf_close(g);
}

/* A batch longer than the context's activation chunk (256 tokens) is run a chunk at a
 * time: its logits must equal those of the same tokens sent as smaller batches. */
TEST(llama_long_batch_equals_small_batches)
{
    hearth_error err;
    gguf_file *g;
    llm_model *m;
    llm_ctx *c = NULL;
    REQUIRE(gguf_open(&g, TESTDATA "/models/tiny-llama-spm-q8_0.gguf", &err) == HEARTH_OK);
    REQUIRE(llm_model_load(&m, g, llm_model_default_params(), &err) == HEARTH_OK);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.n_threads = 2;
    REQUIRE(llm_ctx_new(&c, m, cp, &err) == HEARTH_OK);
    enum { N = 300 };
    int V = llm_model_hparams(m)->n_vocab;
    float *a = mem_alloc((size_t)V * N * sizeof(float)), *b = mem_alloc((size_t)V * N * sizeof(float));
    int32_t tok[N], pos[N];
    uint8_t want[N];
    for (int i = 0; i < N; i++) {
        tok[i] = (i * 7919 + 11) % V;
        pos[i] = i;
        want[i] = 1;
    }
    REQUIRE(a && b);
    CHECK(llm_decode(c, N, tok, pos, NULL, want, a, &err) == HEARTH_OK);
    for (int i = 0; i < N; i += 100)
        CHECK(llm_decode(c, 100, tok + i, pos + i, NULL, want, b + (size_t)i * V, &err) ==
              HEARTH_OK);
    double worst = 0;
    for (size_t k = 0; k < (size_t)V * N; k++)
        worst = fmax(worst, fabs(a[k] - b[k]));
    CHECK(worst == 0);
    mem_free(a);
    mem_free(b);
    llm_ctx_free(c);
    llm_model_free(m);
    gguf_close(g);
}
