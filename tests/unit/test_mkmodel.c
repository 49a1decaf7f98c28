/*
 * Tests for tools/mkmodel.c, the synthetic-model generator.
 *
 * Its output is read back through the same GGUF reader the fixtures are read with and
 * compared with an independent file: tiny-llama-spm-f16.gguf (written by another generator,
 * checked by llama.cpp) has exactly the shape we ask for, so tensor names, shapes, types
 * and metadata keys must match it, and the tokenizer must equal the vocab file's.
 */
#include "test.h"

#include <libgen.h>
#include <unistd.h>
#include <stdlib.h>

#include "base/mem.h"
#include "formats/gguf.h"
#include "tensor/quant.h"

#define SPM_VOCAB TESTDATA "/vocab/ggml-vocab-llama-spm.gguf"

/* build/mkmodel beside the hearth binary under test (build-asan/ under the sanitizers). */
static const char *mkmodel_path(void)
{
    static char path[512];
    char bin[512];
    snprintf(bin, sizeof bin, "%s", test_bin());
    snprintf(path, sizeof path, "%s/mkmodel", dirname(bin));
    return path;
}

/* Run mkmodel with args writing to test_tmpdir()/out; returns its exit code. */
static int run_mkmodel(const char *args, const char *out, char *log, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s -o %s/%s", mkmodel_path(), args, test_tmpdir(), out);
    return test_run(cmd, log, cap);
}

static gguf_file *open_tmp(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    gguf_file *f = NULL;
    hearth_error err;
    if (gguf_open(&f, path, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    return f;
}

static int64_t n_elems(const gguf_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

/* Mean and standard deviation of a tensor's dequantized values. */
static void tensor_stats(const gguf_tensor *t, double *mean, double *sd)
{
    int64_t n = n_elems(t);
    float *y = mem_alloc((size_t)n * sizeof *y);
    *mean = *sd = NAN;
    if (!y)
        return;
    tq_dequantize(t->type, t->data, y, n);
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
        s += y[i];
        ss += (double)y[i] * y[i];
    }
    *mean = s / (double)n;
    *sd = sqrt(ss / (double)n - *mean * *mean);
    mem_free(y);
}

/* Weights are N(0, std^2) and norms 1 + N(0, 0.05^2): check every tensor's moments, with
 * room for sampling error (the sd of a sample sd is about sd/sqrt(2n)) and quantization. */
static void check_weight_stats(const gguf_file *f, double std, double std_tol)
{
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const char *name = t->name.s;
        double mean, sd, n = (double)n_elems(t);
        tensor_stats(t, &mean, &sd);
        int is_norm = strstr(name, "norm") != NULL;
        double want_mean = is_norm ? 1.0 : 0.0, want_sd = is_norm ? 0.05 : std;
        double tol_sd = is_norm ? 0.3 : std_tol + 4 / sqrt(2 * n);
        if (!(fabs(mean - want_mean) <= 5 * want_sd / sqrt(n)) ||
            !(fabs(sd / want_sd - 1) <= tol_sd))
            test_fail(__FILE__, __LINE__, "%s: mean %g sd %g, want %g and %g", name, mean, sd,
                      want_mean, want_sd);
    }
}

static bool values_equal(const gguf_value *a, const gguf_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case GGUF_STRING:
        return a->v.str.len == b->v.str.len && !memcmp(a->v.str.s, b->v.str.s, a->v.str.len);
    case GGUF_F32: case GGUF_F64:
        return a->v.f64 == b->v.f64;
    case GGUF_ARRAY:
        if (a->v.arr.type != b->v.arr.type || a->v.arr.n != b->v.arr.n)
            return false;
        for (uint64_t i = 0; i < a->v.arr.n; i++) {
            if (a->v.arr.type == GGUF_STRING) {
                const gguf_str *x = &a->v.arr.strs[i], *y = &b->v.arr.strs[i];
                if (x->len != y->len || memcmp(x->s, y->s, x->len))
                    return false;
            } else if (a->v.arr.type == GGUF_ARRAY) {
                if (!values_equal(&a->v.arr.items[i], &b->v.arr.items[i]))
                    return false;
            } else if (gguf_arr_f64(a, i) != gguf_arr_f64(b, i)) {
                return false;
            }
        }
        return true;
    default:
        return a->v.u64 == b->v.u64;
    }
}

/* Every tokenizer.* key of the vocab file is in f with the same value, and no other. */
static void check_tokenizer_copied(const gguf_file *f, const char *vocab_path)
{
    gguf_file *v;
    hearth_error err;
    if (gguf_open(&v, vocab_path, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return;
    }
    int n_tok = 0;
    for (uint64_t i = 0; i < v->n_kv; i++) {
        if (strncmp(v->kv[i].key.s, "tokenizer.", 10) != 0)
            continue;
        n_tok++;
        const gguf_kv *kv = gguf_find(f, v->kv[i].key.s);
        if (!kv || !values_equal(&kv->val, &v->kv[i].val))
            test_fail(__FILE__, __LINE__, "%s differs from %s", v->kv[i].key.s, vocab_path);
    }
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (strncmp(f->kv[i].key.s, "tokenizer.", 10) == 0)
            n_tok--;
    CHECK_EQ(n_tok, 0);
    gguf_close(v);
}

static const gguf_tensor *need_tensor(const gguf_file *f, const char *name, int type,
                                      int64_t ne0, int64_t ne1)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        test_fail(__FILE__, __LINE__, "no tensor %s", name);
        return NULL;
    }
    if (t->type != type || t->ne[0] != ne0 || t->ne[1] != (ne1 ? ne1 : 1) ||
        t->n_dims != (ne1 ? 2 : 1))
        test_fail(__FILE__, __LINE__, "%s: %s [%lld, %lld], want %s [%lld, %lld]", name,
                  tq_type_name(t->type), (long long)t->ne[0], (long long)t->ne[1],
                  tq_type_name(type), (long long)ne0, (long long)ne1);
    return t;
}

static uint32_t get_u32(const gguf_file *f, const char *key)
{
    uint32_t v = 0;
    if (!gguf_get_u32(f, key, &v))
        test_fail(__FILE__, __LINE__, "missing %s", key);
    return v;
}

/* ---- Tests -------------------------------------------------------------------------------- */

TEST(mkmodel_matches_fixture_layout)
{
    char log[4096];
    int rc = run_mkmodel("--arch llama --embd 64 --layers 2 --heads 4 --kv-heads 2 --ffn 256 "
                         "--ctx 256 --type F16 --license mit --vocab " SPM_VOCAB,
                         "llama.gguf", log, sizeof log);
    CHECK_EQ(rc, 0);
    REQUIRE(rc == 0);
    gguf_file *f = open_tmp("llama.gguf"), *fx;
    hearth_error err;
    REQUIRE(f);
    REQUIRE(gguf_open(&fx, TESTDATA "/models/tiny-llama-spm-f16.gguf", &err) == HEARTH_OK);

    /* same tensors: names, dims, shapes, types */
    CHECK_EQ(f->n_tensors, fx->n_tensors);
    for (uint64_t i = 0; i < fx->n_tensors; i++) {
        const gguf_tensor *want = &fx->tensors[i], *got = gguf_find_tensor(f, want->name.s);
        if (!got) {
            test_fail(__FILE__, __LINE__, "missing tensor %s", want->name.s);
            continue;
        }
        CHECK_EQ(got->type, want->type);
        CHECK_EQ(got->n_dims, want->n_dims);
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            CHECK_EQ(got->ne[d], want->ne[d]);
    }
    /* same metadata keys; same values except the name */
    CHECK_EQ(f->n_kv, fx->n_kv);
    for (uint64_t i = 0; i < fx->n_kv; i++) {
        const char *key = fx->kv[i].key.s;
        const gguf_kv *kv = gguf_find(f, key);
        if (!kv)
            test_fail(__FILE__, __LINE__, "missing key %s", key);
        else if (strcmp(key, "general.name") != 0 && !values_equal(&kv->val, &fx->kv[i].val))
            test_fail(__FILE__, __LINE__, "key %s has another value than the fixture's", key);
    }
    check_tokenizer_copied(f, SPM_VOCAB);
    check_weight_stats(f, 0.02, 0.01);
    gguf_close(fx);
    gguf_close(f);
}

/* llama-quantize's per-tensor choices, as recorded in the quantized fixtures it wrote:
 * mkmodel asked for the same shape and preset must choose the same type for every tensor
 * (output Q6_K, Q4_K_M's "more bits" layers, fallbacks for rows that are not multiples). */
TEST(mkmodel_presets_match_llama_quantize)
{
    static const struct { const char *fixture, *type, *shape; } cases[] = {
        { "tiny-llama-spm-q8_0", "Q8_0", "--embd 64 --heads 4 --kv-heads 2 --ffn 256" },
        { "tiny-llama-spm-q4_0", "Q4_0", "--embd 64 --heads 4 --kv-heads 2 --ffn 256" },
        { "tiny-llama-spm-q5_1", "Q5_1", "--embd 64 --heads 4 --kv-heads 2 --ffn 256" },
        { "tiny-llama-spm-q4_k_m", "Q4_K_M", "--embd 64 --heads 4 --kv-heads 2 --ffn 256" },
        { "small-llama-spm-q4_k_m", "Q4_K_M", "--embd 256 --heads 4 --kv-heads 1 --ffn 768" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[512], log[8192], fx_path[256];
        snprintf(args, sizeof args, "--arch llama --layers 2 %s --type %s --vocab " SPM_VOCAB,
                 cases[i].shape, cases[i].type);
        REQUIRE(run_mkmodel(args, "preset.gguf", log, sizeof log) == 0);
        snprintf(fx_path, sizeof fx_path, TESTDATA "/models/%s.gguf", cases[i].fixture);
        gguf_file *f = open_tmp("preset.gguf"), *fx;
        hearth_error err;
        REQUIRE(f);
        REQUIRE(gguf_open(&fx, fx_path, &err) == HEARTH_OK);
        CHECK_EQ(f->n_tensors, fx->n_tensors);
        for (uint64_t t = 0; t < fx->n_tensors; t++) {
            const gguf_tensor *want = &fx->tensors[t], *got = gguf_find_tensor(f, want->name.s);
            if (!got || got->type != want->type)
                test_fail(__FILE__, __LINE__, "%s: %s is %s, llama-quantize chose %s",
                          cases[i].fixture, want->name.s, got ? tq_type_name(got->type) : "missing",
                          tq_type_name(want->type));
        }
        uint32_t ft = 0, fx_ft = 1;
        gguf_get_u32(f, "general.file_type", &ft);
        gguf_get_u32(fx, "general.file_type", &fx_ft);
        CHECK_EQ(ft, fx_ft);
        gguf_close(fx);
        gguf_close(f);
    }
}

TEST(mkmodel_qwen3_q6_k_gqa8_tied)
{
    char log[4096];
    int rc = run_mkmodel("--arch qwen3 --embd 256 --layers 2 --heads 8 --kv-heads 1 "
                         "--head-dim 128 --ffn 512 --type Q6_K --tied --std 0.05 --vocab "
                         SPM_VOCAB, "qwen3.gguf", log, sizeof log);
    CHECK_EQ(rc, 0);
    REQUIRE(rc == 0);
    gguf_file *f = open_tmp("qwen3.gguf");
    REQUIRE(f);
    CHECK_STR(gguf_get_str(f, "general.architecture"), "qwen3");
    CHECK_EQ(get_u32(f, "qwen3.attention.head_count"), 8);
    CHECK_EQ(get_u32(f, "qwen3.attention.head_count_kv"), 1);
    CHECK_EQ(get_u32(f, "qwen3.attention.key_length"), 128);
    CHECK_EQ(get_u32(f, "qwen3.attention.value_length"), 128);
    CHECK_EQ(get_u32(f, "qwen3.embedding_length"), 256);
    CHECK_EQ(get_u32(f, "qwen3.feed_forward_length"), 512);
    float base = 0;
    CHECK(gguf_get_f32(f, "qwen3.rope.freq_base", &base) && base == 1e6f);
    CHECK_EQ(f->n_tensors, 1 + 2 * 11 + 1); /* embd, 2 x 11 per layer, output_norm */
    CHECK(gguf_find_tensor(f, "output.weight") == NULL);
    need_tensor(f, "token_embd.weight", TQ_Q6_K, 256, 32000);
    need_tensor(f, "blk.1.attn_q.weight", TQ_Q6_K, 256, 1024);
    need_tensor(f, "blk.1.attn_k.weight", TQ_Q6_K, 256, 128);
    need_tensor(f, "blk.1.attn_v.weight", TQ_Q6_K, 256, 128);
    need_tensor(f, "blk.1.attn_output.weight", TQ_Q6_K, 1024, 256);
    need_tensor(f, "blk.1.attn_q_norm.weight", TQ_F32, 128, 0);
    need_tensor(f, "blk.1.attn_k_norm.weight", TQ_F32, 128, 0);
    need_tensor(f, "blk.0.ffn_down.weight", TQ_Q6_K, 512, 256);
    need_tensor(f, "output_norm.weight", TQ_F32, 256, 0);
    check_tokenizer_copied(f, SPM_VOCAB);
    check_weight_stats(f, 0.05, 0.02);
    gguf_close(f);
}

TEST(mkmodel_qwen2_q5_k_biases_and_fallback)
{
    char log[8192];
    int rc = run_mkmodel("--arch qwen2 --embd 320 --layers 1 --heads 8 --kv-heads 1 "
                         "--head-dim 128 --ffn 512 --type Q5_K --seed 7 --vocab " SPM_VOCAB,
                         "qwen2.gguf", log, sizeof log);
    CHECK_EQ(rc, 0);
    REQUIRE(rc == 0);
    /* rows of 320 are not whole 256-blocks: Q5_K falls back to Q5_1, as llama-quantize does */
    CHECK_CONTAINS(log, "blk.0.attn_q.weight");
    CHECK_CONTAINS(log, "Q5_1");
    gguf_file *f = open_tmp("qwen2.gguf");
    REQUIRE(f);
    CHECK_EQ(get_u32(f, "qwen2.attention.key_length"), 128);
    CHECK_EQ(f->n_tensors, 1 + 12 + 2);
    need_tensor(f, "token_embd.weight", TQ_Q5_1, 320, 32000);
    need_tensor(f, "blk.0.attn_q.weight", TQ_Q5_1, 320, 1024);
    need_tensor(f, "blk.0.attn_q.bias", TQ_F32, 1024, 0);
    need_tensor(f, "blk.0.attn_k.bias", TQ_F32, 128, 0);
    need_tensor(f, "blk.0.attn_v.bias", TQ_F32, 128, 0);
    need_tensor(f, "blk.0.attn_output.weight", TQ_Q5_K, 1024, 320);
    need_tensor(f, "blk.0.ffn_down.weight", TQ_Q5_K, 512, 320);
    /* the output matrix is Q6_K in llama-quantize's presets; rows of 320 fall back to Q8_0 */
    need_tensor(f, "output.weight", TQ_Q8_0, 320, 32000);
    CHECK(gguf_find_tensor(f, "blk.0.attn_q_norm.weight") == NULL);
    check_weight_stats(f, 0.02, 0.02);
    gguf_close(f);
}

TEST(mkmodel_is_deterministic)
{
    static const char *base = "--arch llama --embd 64 --layers 1 --ffn 128 --type Q4_0 "
                              "--vocab " SPM_VOCAB;
    char args[1024], log[4096];
    const char *names[3] = { "d1.gguf", "d2.gguf", "d3.gguf" };
    static const char *extra[3] = { "--seed 5 --threads 1", "--seed 5 --threads 2", "--seed 6" };
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s %s", base, extra[i]);
        REQUIRE(run_mkmodel(args, names[i], log, sizeof log) == 0);
    }
    gguf_file *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = open_tmp(names[i]);
    REQUIRE(f[0] && f[1] && f[2]);
    const gguf_tensor *a = gguf_find_tensor(f[0], "blk.0.ffn_up.weight");
    const gguf_tensor *b = gguf_find_tensor(f[1], "blk.0.ffn_up.weight");
    const gguf_tensor *c = gguf_find_tensor(f[2], "blk.0.ffn_up.weight");
    REQUIRE(a && b && c && a->nbytes == b->nbytes && a->nbytes == c->nbytes);
    CHECK(memcmp(a->data, b->data, a->nbytes) == 0); /* same seed, any thread count */
    CHECK(memcmp(a->data, c->data, a->nbytes) != 0); /* another seed */
    for (int i = 0; i < 3; i++)
        gguf_close(f[i]);
}

TEST(mkmodel_bad_arguments)
{
    static const struct { const char *args, *msg; } cases[] = {
        { "--vocab " SPM_VOCAB, "required" },
        { "--arch gpt5 --vocab " SPM_VOCAB, "gpt5" },
        { "--arch llama --type Q2_K --vocab " SPM_VOCAB, "Q2_K" },
        { "--arch llama --type Q8_K --vocab " SPM_VOCAB, "Q8_K" },
        { "--arch llama --embd 65 --heads 4 --vocab " SPM_VOCAB, "multiple" },
        { "--arch llama --heads 4 --kv-heads 3 --vocab " SPM_VOCAB, "--kv-heads" },
        { "--arch llama --layers 0 --vocab " SPM_VOCAB, "--layers" },
        { "--arch llama --layers 2x --vocab " SPM_VOCAB, "2x" },
        { "--arch llama --std -1 --vocab " SPM_VOCAB, "--std" },
        { "--arch llama --frobnicate 1 --vocab " SPM_VOCAB, "--frobnicate" },
        { "--arch llama --vocab " SPM_VOCAB " --ffn", "--ffn" },
    };
    char log[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run_mkmodel(cases[i].args, "bad.gguf", log, sizeof log);
        if (rc != 2)
            test_fail(__FILE__, __LINE__, "'%s': exit %d, want 2", cases[i].args, rc);
        CHECK_CONTAINS(log, cases[i].msg);
        CHECK_CONTAINS(log, "usage:");
    }
    /* a vocab file that is not there: an I/O failure naming it, and no output file */
    int rc = run_mkmodel("--arch llama --vocab /nonexistent/v.gguf", "none.gguf", log, sizeof log);
    CHECK_EQ(rc, 1);
    CHECK_CONTAINS(log, "/nonexistent/v.gguf");
    char path[512];
    snprintf(path, sizeof path, "%s/none.gguf", test_tmpdir());
    CHECK(access(path, F_OK) != 0);
}
