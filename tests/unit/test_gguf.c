/*
 * Tests for formats/gguf.c and `hearth show`.
 *
 * Expected values come from the fixtures' READMEs (../shared/testdata/models/README.md and
 * vocab/README.md, written when llama.cpp made the files) and from formulas (parameter
 * counts from the hyperparameters). The malformed-file corpus is generated here: a small
 * valid image is laid out byte by byte by a builder in this file (independent of the
 * writer, whose output must match it exactly), then single fields are patched.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "formats/gguf.h"
#include "models/llama.h"
#include "tensor/types.h"

#define MODELS TESTDATA "/models/"
#define VOCAB TESTDATA "/vocab/"

/* ---- Fixture tables (from the READMEs) ------------------------------------------------- */

struct type_count {
    int type, count; /* count -1: present, number not given by the README */
};

static const struct model_fixture {
    const char *file, *arch;
    int n_embd, layers, heads, kv_heads, ffn, ctx;
    const char *tok_model, *tok_pre;
    uint64_t vocab;
    const char *license;
    struct type_count types[6]; /* ends at count 0 */
} models[] = {
    { "tiny-llama-spm-f16.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000, "mit",
      { { TQ_F16, 16 }, { TQ_F32, 5 } } },
    { "tiny-llama-spm-q8_0.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000, "mit",
      { { TQ_F32, 5 }, { TQ_Q8_0, 16 } } },
    { "tiny-llama-spm-q4_0.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000, "mit",
      { { TQ_F32, 5 }, { TQ_Q4_0, 15 }, { TQ_Q8_0, 1 } } },
    { "tiny-llama-spm-q4_1.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000, "mit",
      { { TQ_F32, 5 }, { TQ_Q4_1, 15 }, { TQ_Q8_0, 1 } } },
    { "tiny-llama-spm-q5_0.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000, "mit",
      { { TQ_F32, 5 }, { TQ_Q5_0, 15 }, { TQ_Q8_0, 1 } } },
    { "tiny-llama-spm-q5_1.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000, "mit",
      { { TQ_F32, 5 }, { TQ_Q5_1, 15 }, { TQ_Q8_0, 1 } } },
    { "tiny-llama-spm-q4_k_m.gguf", "llama", 64, 2, 4, 2, 256, 256, "llama", "default", 32000,
      "mit", { { TQ_F32, 5 }, { TQ_Q5_0, 12 }, { TQ_Q8_0, 2 }, { TQ_Q4_K, 1 }, { TQ_Q6_K, 1 } } },
    { "small-llama-spm-q2_k.gguf", "llama", 256, 2, 4, 1, 768, 256, "llama", "default", 32000,
      "llama3.2",
      { { TQ_F32, 5 }, { TQ_Q2_K, 9 }, { TQ_Q3_K, 4 }, { TQ_Q4_K, 2 }, { TQ_Q6_K, 1 } } },
    { "small-llama-spm-q4_k_m.gguf", "llama", 256, 2, 4, 1, 768, 256, "llama", "default", 32000,
      "llama3.2", { { TQ_F32, 5 }, { TQ_Q4_K, 13 }, { TQ_Q6_K, 3 } } },
    { "small-llama-spm-q5_k_m.gguf", "llama", 256, 2, 4, 1, 768, 256, "llama", "default", 32000,
      "llama3.2", { { TQ_F32, 5 }, { TQ_Q5_K, 13 }, { TQ_Q6_K, 3 } } },
    { "tiny-qwen2-bpe-q8_0.gguf", "qwen2", 32, 2, 4, 2, 128, 256, "gpt2", "qwen2", 151936,
      "apache-2.0", { { TQ_F32, 11 }, { TQ_Q8_0, 16 } } },
    { "tiny-bert-f32.gguf", "bert", 64, 2, 4, 4, 256, 512, "bert", "bert-bge", 30522, "mit",
      { { TQ_F32, 37 } } },
    { "tiny-bert-q8_0.gguf", "bert", 64, 2, 4, 4, 256, 512, "bert", "bert-bge", 30522, "mit",
      { { TQ_F32, 24 }, { TQ_Q8_0, 13 } } },
    { "tiny-nomic-bert-q8_0.gguf", "nomic-bert", 64, 2, 4, 4, 256, 512, "bert", "bert-bge", 30522,
      "apache-2.0", { { TQ_F32, -1 }, { TQ_Q8_0, -1 } } },
    { "tiny-qwen3-embed-q8_0.gguf", "qwen3", 32, 2, 4, 2, 96, 256, "gpt2", "qwen2", 151936,
      "apache-2.0", { { TQ_F32, -1 }, { TQ_Q8_0, -1 } } },
};

static const struct vocab_fixture {
    const char *file;
    size_t bytes;
    const char *arch, *model, *pre;
    uint64_t tokens;
} vocabs[] = {
    { "ggml-vocab-llama-spm.gguf", 723869, "llama", "llama", "default", 32000 },
    { "ggml-vocab-phi-3.gguf", 726019, "phi3", "llama", "default", 32064 },
    { "ggml-vocab-llama-bpe.gguf", 7818140, "llama", "gpt2", "llama-bpe", 128256 },
    { "ggml-vocab-qwen2.gguf", 5928681, "qwen2", "gpt2", "qwen2", 151936 },
    { "ggml-vocab-gpt-2.gguf", 1766807, "gpt2", "gpt2", "gpt-2", 50257 },
    { "ggml-vocab-deepseek-coder.gguf", 1156067, "llama", "gpt2", "deepseek-coder", 32256 },
    { "ggml-vocab-bert-bge.gguf", 627549, "bert", "bert", "bert-bge", 30522 },
};

#define N_MODELS (sizeof models / sizeof models[0])
#define N_VOCABS (sizeof vocabs / sizeof vocabs[0])

static uint64_t arch_u64(const gguf_file *f, const char *arch, const char *suffix)
{
    char key[128];
    uint64_t v = UINT64_MAX;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_u64(f, key, &v) ? v : UINT64_MAX;
}

static void check_model(const struct model_fixture *m)
{
    char path[512];
    snprintf(path, sizeof path, MODELS "%s", m->file);
    gguf_file *f;
    hearth_error err;
    if (gguf_open(&f, path, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return;
    }
    CHECK_EQ(f->version, 3);
    CHECK_STR(gguf_get_str(f, "general.architecture"), m->arch);
    CHECK_EQ(arch_u64(f, m->arch, "embedding_length"), m->n_embd);
    CHECK_EQ(arch_u64(f, m->arch, "block_count"), m->layers);
    CHECK_EQ(arch_u64(f, m->arch, "attention.head_count"), m->heads);
    CHECK_EQ(arch_u64(f, m->arch, "attention.head_count_kv"), m->kv_heads);
    CHECK_EQ(arch_u64(f, m->arch, "feed_forward_length"), m->ffn);
    CHECK_EQ(arch_u64(f, m->arch, "context_length"), m->ctx);
    CHECK_STR(gguf_get_str(f, "tokenizer.ggml.model"), m->tok_model);
    CHECK_STR(gguf_get_str(f, "tokenizer.ggml.pre"), m->tok_pre);
    CHECK_STR(gguf_get_str(f, "general.license"), m->license);
    uint64_t n = 0;
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &n) != NULL);
    CHECK_EQ(n, m->vocab);

    /* The token embedding is an n_embd x vocab matrix. */
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    CHECK(emb != NULL);
    if (emb) {
        CHECK_EQ(emb->ne[0], m->n_embd);
        CHECK_EQ(emb->ne[1], m->vocab);
    }

    int count[TQ_TYPE_COUNT] = { 0 };
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        REQUIRE(t->type >= 0 && t->type < TQ_TYPE_COUNT);
        count[t->type]++;
        CHECK(gguf_find_tensor(f, t->name.s) == t);
        /* In place in the mapping, aligned, inside the file. */
        const unsigned char *d = t->data;
        CHECK(d >= f->map.data + f->data_offset && d + t->nbytes <= f->map.data + f->map.size);
        CHECK_EQ((size_t)(d - f->map.data) % f->alignment, 0);
    }
    int listed = 0;
    for (const struct type_count *tc = m->types; tc->count; tc++) {
        if (tc->count > 0)
            CHECK_EQ(count[tc->type], tc->count);
        else
            CHECK(count[tc->type] > 0);
        listed += count[tc->type];
    }
    CHECK_EQ(listed, f->n_tensors); /* no other types */
    gguf_close(f);
}

TEST(gguf_fixture_models)
{
    for (size_t i = 0; i < N_MODELS; i++)
        check_model(&models[i]);
}

TEST(gguf_fixture_model_extras)
{
    /* Pooling types from the README: bert mean (1), qwen3 embedding last token (3). */
    gguf_file *f;
    hearth_error err;
    REQUIRE(gguf_open(&f, MODELS "tiny-bert-q8_0.gguf", &err) == HEARTH_OK);
    uint32_t v = 0;
    CHECK(gguf_get_u32(f, "bert.pooling_type", &v) && v == 1);
    float eps = 0;
    CHECK(gguf_get_f32(f, "bert.attention.layer_norm_epsilon", &eps));
    CHECK_NEAR(eps, 1e-12, 1e-18);
    gguf_close(f);
    REQUIRE(gguf_open(&f, MODELS "tiny-qwen3-embed-q8_0.gguf", &err) == HEARTH_OK);
    CHECK(gguf_get_u32(f, "qwen3.pooling_type", &v) && v == 3);
    CHECK(gguf_find_tensor(f, "output.weight") == NULL); /* tied output */
    gguf_close(f);
    REQUIRE(gguf_open(&f, MODELS "tiny-qwen2-bpe-q8_0.gguf", &err) == HEARTH_OK);
    CHECK(gguf_get_f32(f, "qwen2.rope.freq_base", &eps));
    CHECK_NEAR(eps, 1000000.0, 0);
    CHECK(gguf_find_tensor(f, "blk.0.attn_q.bias") != NULL);
    gguf_close(f);
}

TEST(gguf_fixture_vocabs)
{
    for (size_t i = 0; i < N_VOCABS; i++) {
        const struct vocab_fixture *v = &vocabs[i];
        char path[512];
        snprintf(path, sizeof path, VOCAB "%s", v->file);
        hearth_gguf *f;
        hearth_error err;
        if (hearth_gguf_open(&f, path, &err) != HEARTH_OK) {
            test_fail(__FILE__, __LINE__, "%s", err.msg);
            continue;
        }
        CHECK_EQ(f->map.size, v->bytes);
        CHECK_EQ(f->n_tensors, 0);
        CHECK_STR(gguf_get_str(f, "general.architecture"), v->arch);
        CHECK_STR(gguf_get_str(f, "tokenizer.ggml.model"), v->model);
        CHECK_STR(gguf_get_str(f, "tokenizer.ggml.pre"), v->pre);
        uint64_t n = 0;
        const gguf_value *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &n);
        CHECK_EQ(n, v->tokens);
        CHECK(toks && toks->v.arr.strs[0].s != NULL);
        hearth_gguf_free(f);
    }
}

/* ---- hearth show ----------------------------------------------------------------------- */

/* The value after "label:" on its own line of `hearth show` output, or "" if absent. */
static const char *field(const char *out, const char *label, char *buf, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", label);
    const char *p;
    buf[0] = '\0';
    if (strncmp(out, pat + 1, strlen(pat + 1)) == 0)
        p = out + strlen(pat + 1);
    else if ((p = strstr(out, pat)) != NULL)
        p += strlen(pat);
    else
        return buf;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Parameters of a llama model without tied embeddings, from its hyperparameters. */
static uint64_t llama_params(uint64_t embd, uint64_t layers, uint64_t heads, uint64_t kv_heads,
                             uint64_t ffn, uint64_t vocab)
{
    uint64_t kv_dim = embd / heads * kv_heads;
    uint64_t layer = 2 * embd               /* attn_norm, ffn_norm */
                   + 2 * embd * embd        /* attn_q, attn_output */
                   + 2 * embd * kv_dim      /* attn_k, attn_v */
                   + 3 * embd * ffn;        /* ffn_gate, ffn_up, ffn_down */
    return 2 * embd * vocab + embd + layers * layer; /* token_embd, output; output_norm */
}

TEST(gguf_show_text)
{
    char cmd[1024], out[16384], v[256];
    snprintf(cmd, sizeof cmd, "%s show " MODELS "tiny-llama-spm-q4_k_m.gguf", test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_STR(field(out, "file", v, sizeof v), MODELS "tiny-llama-spm-q4_k_m.gguf");
    CHECK_STR(field(out, "GGUF version", v, sizeof v), "3");
    CHECK_STR(field(out, "architecture", v, sizeof v), "llama");
    CHECK_STR(field(out, "embedding length", v, sizeof v), "64");
    CHECK_STR(field(out, "layers", v, sizeof v), "2");
    CHECK_STR(field(out, "heads", v, sizeof v), "4");
    CHECK_STR(field(out, "kv heads", v, sizeof v), "2");
    CHECK_STR(field(out, "feed-forward length", v, sizeof v), "256");
    CHECK_STR(field(out, "context length", v, sizeof v), "256");
    CHECK_STR(field(out, "tokenizer", v, sizeof v), "llama");
    CHECK_STR(field(out, "pre-tokenizer", v, sizeof v), "default");
    CHECK_STR(field(out, "vocabulary size", v, sizeof v), "32000");
    CHECK_STR(field(out, "license", v, sizeof v), "mit");
    CHECK_STR(field(out, "tensors", v, sizeof v), "21");
    CHECK_STR(field(out, "chat template", v, sizeof v), "no");
    uint64_t p = llama_params(64, 2, 4, 2, 256, 32000);
    char expect[64];
    snprintf(expect, sizeof expect, "4.2M (%llu)", (unsigned long long)p);
    CHECK_STR(field(out, "parameters", v, sizeof v), expect);
    /* Per-type rows "  TYPE  COUNT  BYTES". */
    CHECK(strstr(out, "\n  Q5_0 ") != NULL);
    const char *row = strstr(out, "\n  Q5_0 ");
    if (row)
        CHECK_EQ(strtol(row + 8, NULL, 10), 12);
    CHECK(strstr(out, "warning:") == NULL);

    snprintf(cmd, sizeof cmd, "%s show " MODELS "small-llama-spm-q2_k.gguf", test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    p = llama_params(256, 2, 4, 1, 768, 32000);
    snprintf(expect, sizeof expect, "17.9M (%llu)", (unsigned long long)p);
    CHECK_STR(field(out, "parameters", v, sizeof v), expect);
    CHECK_STR(field(out, "kv heads", v, sizeof v), "1");
    CHECK_STR(field(out, "license", v, sizeof v), "llama3.2");
    row = strstr(out, "\n  Q3_K ");
    CHECK(row && strtol(row + 8, NULL, 10) == 4);
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

TEST(gguf_show_json)
{
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "%s show --json " MODELS "tiny-qwen2-bpe-q8_0.gguf", test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j != NULL);
    CHECK_STR(json_str(j, "architecture"), "qwen2");
    CHECK_EQ(json_num(j, "gguf_version"), 3);
    CHECK_EQ(json_num(j, "embedding_length"), 32);
    CHECK_EQ(json_num(j, "block_count"), 2);
    CHECK_EQ(json_num(j, "head_count"), 4);
    CHECK_EQ(json_num(j, "head_count_kv"), 2);
    CHECK_EQ(json_num(j, "feed_forward_length"), 128);
    CHECK_EQ(json_num(j, "context_length"), 256);
    CHECK_EQ(json_num(j, "tensor_count"), 27);
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(j, "tensor_types");
    CHECK_EQ(json_num(cJSON_GetObjectItemCaseSensitive(types, "F32"), "count"), 11);
    CHECK_EQ(json_num(cJSON_GetObjectItemCaseSensitive(types, "Q8_0"), "count"), 16);
    /* Q8_0 bytes: 34 bytes per 32 values; F32: 4 bytes per value. Their sum is the total. */
    double total = json_num(cJSON_GetObjectItemCaseSensitive(types, "F32"), "bytes") +
                   json_num(cJSON_GetObjectItemCaseSensitive(types, "Q8_0"), "bytes");
    CHECK_EQ(json_num(j, "tensor_bytes"), total);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "tokenizer");
    CHECK_STR(json_str(tok, "model"), "gpt2");
    CHECK_STR(json_str(tok, "pre"), "qwen2");
    CHECK_EQ(json_num(tok, "vocab_size"), 151936);
    const cJSON *lic = cJSON_GetObjectItemCaseSensitive(j, "license");
    CHECK_STR(json_str(lic, "license"), "apache-2.0");
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "unsupported_types")));
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "unsupported_types")), 0);
    cJSON_Delete(j);
}

/* A writer-made file exercises what the fixtures lack: IQ weights, license name and link,
 * a chat template, and hostile characters in strings. */
TEST(gguf_show_unsupported_and_license)
{
    gguf_writer *w = gguf_writer_new();
    REQUIRE(w);
    static unsigned char iq[66], f32[4 * 256];
    int64_t ne[] = { 256 };
    CHECK_EQ(gguf_set_str(w, "general.architecture", "llama"), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "general.name", "evil\x1b[2Jname"), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "general.license", "other"), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "general.license.name", "example-license"), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "general.license.link", "https://example.org/LICENSE"), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "tokenizer.chat_template", "{{ messages }}"), HEARTH_OK);
    CHECK_EQ(gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 7), HEARTH_OK);
    CHECK_EQ(gguf_set_i32(w, "tokenizer.ggml.eos_token_id", 9), HEARTH_OK);
    CHECK_EQ(gguf_add_tensor(w, "a", TQ_IQ2_XXS, 1, ne, iq, sizeof iq), HEARTH_OK);
    CHECK_EQ(gguf_add_tensor(w, "b", TQ_F32, 1, ne, f32, sizeof f32), HEARTH_OK);
    char path[512], cmd[1024], out[8192], v[256];
    hearth_error err;
    snprintf(path, sizeof path, "%s/iq.gguf", test_tmpdir());
    REQUIRE(gguf_writer_write(w, path, &err) == HEARTH_OK);
    gguf_writer_free(w);

    snprintf(cmd, sizeof cmd, "%s show %s", test_bin(), path);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "\nwarning: uses IQ2_XXS, which hearth does not support yet\n");
    CHECK(strchr(out, 0x1b) == NULL);
    CHECK_STR(field(out, "name", v, sizeof v), "evil?[2Jname");
    CHECK_STR(field(out, "license name", v, sizeof v), "example-license");
    CHECK_STR(field(out, "license link", v, sizeof v), "https://example.org/LICENSE");
    CHECK_STR(field(out, "chat template", v, sizeof v), "yes");
    CHECK_STR(field(out, "BOS token id", v, sizeof v), "7");
    CHECK_STR(field(out, "EOS token id", v, sizeof v), "9");
    CHECK_STR(field(out, "parameters", v, sizeof v), "512 (512)");
    char bytes[64];
    snprintf(bytes, sizeof bytes, "%zu (1.1 KiB)", sizeof iq + sizeof f32);
    CHECK_STR(field(out, "tensor bytes", v, sizeof v), bytes);

    snprintf(cmd, sizeof cmd, "%s show --json %s", test_bin(), path);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j);
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(j, "unsupported_types");
    CHECK(cJSON_GetArraySize(un) == 1 &&
          strcmp(cJSON_GetArrayItem(un, 0)->valuestring, "IQ2_XXS") == 0);
    CHECK_STR(json_str(j, "name"), "evil\x1b[2Jname"); /* JSON escapes it */
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "chat_template")));
    const cJSON *lic = cJSON_GetObjectItemCaseSensitive(j, "license");
    CHECK_STR(json_str(lic, "name"), "example-license");
    CHECK_EQ(json_num(cJSON_GetObjectItemCaseSensitive(j, "tokenizer"), "eos_token_id"), 9);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "context_length")));
    cJSON_Delete(j);
}

TEST(gguf_show_usage)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s show", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s show --frobnicate x.gguf", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s show --help", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "usage: hearth show FILE");
    snprintf(cmd, sizeof cmd, "( %s show %s/does-not-exist.gguf >/dev/null )", test_bin(),
             test_tmpdir());
    CHECK_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_CONTAINS(out, "hearth: ");
    CHECK_CONTAINS(out, "does-not-exist.gguf: ");
}

/* ---- Round trips ----------------------------------------------------------------------- */

static bool values_equal(const gguf_value *a, const gguf_value *b);

static bool strs_equal(const gguf_str *a, const gguf_str *b)
{
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0 && a->s[a->len] == '\0';
}

static size_t scalar_size(enum gguf_vtype t)
{
    static const size_t sz[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return sz[t];
}

static bool values_equal(const gguf_value *a, const gguf_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case GGUF_STRING: return strs_equal(&a->v.str, &b->v.str);
    case GGUF_F32: case GGUF_F64: return memcmp(&a->v.f64, &b->v.f64, 8) == 0;
    case GGUF_ARRAY: break;
    default: return a->v.u64 == b->v.u64;
    }
    if (a->v.arr.type != b->v.arr.type || a->v.arr.n != b->v.arr.n)
        return false;
    for (uint64_t i = 0; i < a->v.arr.n; i++) {
        if (a->v.arr.type == GGUF_STRING) {
            if (!strs_equal(&a->v.arr.strs[i], &b->v.arr.strs[i]))
                return false;
        } else if (a->v.arr.type == GGUF_ARRAY) {
            if (!values_equal(&a->v.arr.items[i], &b->v.arr.items[i]))
                return false;
        }
    }
    if (a->v.arr.type != GGUF_STRING && a->v.arr.type != GGUF_ARRAY)
        return memcmp(a->v.arr.data, b->v.arr.data, a->v.arr.n * scalar_size(a->v.arr.type)) == 0;
    return true;
}

static bool files_identical(const char *p, const char *q)
{
    file_map a, b;
    hearth_error err;
    if (file_map_open(&a, p, &err) != HEARTH_OK)
        return false;
    if (file_map_open(&b, q, &err) != HEARTH_OK) {
        file_map_close(&a);
        return false;
    }
    bool same = a.size == b.size && (a.size == 0 || memcmp(a.data, b.data, a.size) == 0);
    file_map_close(&a);
    file_map_close(&b);
    return same;
}

static void roundtrip(const char *path)
{
    gguf_file *f, *g;
    hearth_error err;
    REQUIRE(gguf_open(&f, path, &err) == HEARTH_OK);
    gguf_writer *w = gguf_writer_new();
    REQUIRE(w);
    for (uint64_t i = 0; i < f->n_kv; i++)
        CHECK_EQ(gguf_set_value(w, f->kv[i].key.s, &f->kv[i].val), HEARTH_OK);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        CHECK_EQ(gguf_add_tensor_ref(w, t->name.s, t->type, t->n_dims, t->ne, t->data,
                                     t->nbytes), HEARTH_OK);
    }
    char out[512];
    snprintf(out, sizeof out, "%s/roundtrip.gguf", test_tmpdir());
    CHECK_EQ(gguf_writer_write(w, out, &err), HEARTH_OK);
    gguf_writer_free(w);

    if (gguf_open(&g, out, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        gguf_close(f);
        return;
    }
    CHECK_EQ(g->n_kv, f->n_kv);
    CHECK_EQ(g->n_tensors, f->n_tensors);
    for (uint64_t i = 0; i < f->n_kv && i < g->n_kv; i++) {
        CHECK(strs_equal(&f->kv[i].key, &g->kv[i].key));
        CHECK(values_equal(&f->kv[i].val, &g->kv[i].val));
    }
    for (uint64_t i = 0; i < f->n_tensors && i < g->n_tensors; i++) {
        const gguf_tensor *a = &f->tensors[i], *b = &g->tensors[i];
        CHECK(strs_equal(&a->name, &b->name));
        CHECK(a->type == b->type && a->n_dims == b->n_dims && a->nbytes == b->nbytes);
        CHECK(memcmp(a->ne, b->ne, sizeof a->ne) == 0);
        CHECK(memcmp(a->data, b->data, a->nbytes) == 0);
    }
    gguf_close(g);
    gguf_close(f);
    /* llama.cpp's layout, reproduced: the very same bytes. */
    CHECK(files_identical(path, out));
}

TEST(gguf_roundtrip_fixtures)
{
    roundtrip(MODELS "tiny-llama-spm-q4_k_m.gguf");
    roundtrip(MODELS "small-llama-spm-q2_k.gguf");
    roundtrip(MODELS "tiny-bert-q8_0.gguf");
    roundtrip(VOCAB "ggml-vocab-bert-bge.gguf");
}

/* A file with every value type, nested arrays and several tensor types reads back exactly. */
TEST(gguf_writer_all_types)
{
    gguf_writer *w = gguf_writer_new();
    REQUIRE(w);
    CHECK_EQ(gguf_set_u32(w, "general.alignment", 64), HEARTH_OK);
    CHECK_EQ(gguf_set_u32(w, "t.u32", 4000000000u), HEARTH_OK);
    CHECK_EQ(gguf_set_i32(w, "t.i32", -123456), HEARTH_OK);
    CHECK_EQ(gguf_set_u64(w, "t.u64", 0xfedcba9876543210ull), HEARTH_OK);
    CHECK_EQ(gguf_set_f32(w, "t.f32", 0.1f), HEARTH_OK);
    CHECK_EQ(gguf_set_bool(w, "t.bool", true), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "t.str", "héllo\twörld"), HEARTH_OK);
    CHECK_EQ(gguf_set_str(w, "t.empty", ""), HEARTH_OK);
    gguf_value sv[] = {
        { .type = GGUF_U8, .v.u64 = 255 },       { .type = GGUF_I8, .v.i64 = -128 },
        { .type = GGUF_U16, .v.u64 = 65535 },    { .type = GGUF_I16, .v.i64 = -32768 },
        { .type = GGUF_I64, .v.i64 = INT64_MIN }, { .type = GGUF_F64, .v.f64 = -1e300 },
    };
    const char *sv_keys[] = { "t.u8", "t.i8", "t.u16", "t.i16", "t.i64", "t.f64" };
    for (int i = 0; i < 6; i++)
        CHECK_EQ(gguf_set_value(w, sv_keys[i], &sv[i]), HEARTH_OK);

    const uint8_t a_u8[] = { 0, 1, 255 };
    const int8_t a_i8[] = { -1, 0, 127 };
    const uint16_t a_u16[] = { 1, 65535 };
    const int16_t a_i16[] = { -2, 3 };
    const uint32_t a_u32[] = { 7, 8, 9, 4294967295u };
    const int32_t a_i32[] = { -5 };
    const float a_f32[] = { 1.5f, -0.25f };
    const uint8_t a_bool[] = { 1, 0, 1 };
    const uint64_t a_u64[] = { 1ull << 63 };
    const int64_t a_i64[] = { -1, 2 };
    const double a_f64[] = { 3.25, 1e-300 };
    struct { const char *key; enum gguf_vtype t; const void *d; uint64_t n; } arrs[] = {
        { "a.u8", GGUF_U8, a_u8, 3 },    { "a.i8", GGUF_I8, a_i8, 3 },
        { "a.u16", GGUF_U16, a_u16, 2 }, { "a.i16", GGUF_I16, a_i16, 2 },
        { "a.u32", GGUF_U32, a_u32, 4 }, { "a.i32", GGUF_I32, a_i32, 1 },
        { "a.f32", GGUF_F32, a_f32, 2 }, { "a.bool", GGUF_BOOL, a_bool, 3 },
        { "a.u64", GGUF_U64, a_u64, 1 }, { "a.i64", GGUF_I64, a_i64, 2 },
        { "a.f64", GGUF_F64, a_f64, 2 }, { "a.empty", GGUF_U32, a_u32, 0 },
    };
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        CHECK_EQ(gguf_set_arr(w, arrs[i].key, arrs[i].t, arrs[i].d, arrs[i].n), HEARTH_OK);
    const char *strs[] = { "", "a", "<s>", "日本語" };
    CHECK_EQ(gguf_set_arr_str(w, "a.str", strs, 4), HEARTH_OK);
    CHECK_EQ(gguf_set_arr_str(w, "a.str_empty", strs, 0), HEARTH_OK);
    CHECK_EQ(gguf_set_arr(w, "a.bad", GGUF_STRING, strs, 1), HEARTH_ERR_INVALID);

    /* [[[1, 2], []], [["x", "yz"]]]: arrays three deep, ints and strings at the bottom. */
    gguf_str xs[] = { { "x", 1 }, { "yz", 2 } };
    gguf_value lvl3[] = {
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_I32, .n = 2, .data = (int32_t[]){ 1, 2 } } },
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_I32, .n = 0, .data = a_i32 } },
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_STRING, .n = 2, .strs = xs } },
    };
    gguf_value lvl2[] = {
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_ARRAY, .n = 2, .items = lvl3 } },
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_ARRAY, .n = 1, .items = lvl3 + 2 } },
    };
    gguf_value nested = { .type = GGUF_ARRAY,
                          .v.arr = { .type = GGUF_ARRAY, .n = 2, .items = lvl2 } };
    CHECK_EQ(gguf_set_value(w, "a.nested", &nested), HEARTH_OK);
    /* Replacing a key keeps its place. */
    CHECK_EQ(gguf_set_u32(w, "t.u32", 42), HEARTH_OK);

    float wf32[64];
    for (int i = 0; i < 64; i++)
        wf32[i] = (float)i * 0.5f - 3;
    unsigned char wq[2 * 34 * 2], wk[144 * 2];
    for (size_t i = 0; i < sizeof wq; i++)
        wq[i] = (unsigned char)(i * 37 + 11);
    for (size_t i = 0; i < sizeof wk; i++)
        wk[i] = (unsigned char)(i * 91 + 5);
    int64_t ne_f32[] = { 16, 4 }, ne_q[] = { 64, 2 }, ne_k[] = { 256, 1, 2 }, ne_bad[] = { 33, 1 };
    CHECK_EQ(gguf_add_tensor(w, "w.f32", TQ_F32, 2, ne_f32, wf32, sizeof wf32), HEARTH_OK);
    CHECK_EQ(gguf_add_tensor(w, "w.q8", TQ_Q8_0, 2, ne_q, wq, 2 * 2 * 34), HEARTH_OK);
    CHECK_EQ(gguf_add_tensor(w, "w.q4k", TQ_Q4_K, 3, ne_k, wk, sizeof wk), HEARTH_OK);
    /* Refused: duplicate name, size mismatch, row not a multiple of the block. */
    CHECK_EQ(gguf_add_tensor(w, "w.f32", TQ_F32, 2, ne_f32, wf32, sizeof wf32), HEARTH_ERR_INVALID);
    CHECK_EQ(gguf_add_tensor(w, "w.x", TQ_F32, 2, ne_f32, wf32, 8), HEARTH_ERR_INVALID);
    CHECK_EQ(gguf_add_tensor(w, "w.y", TQ_Q8_0, 2, ne_bad, wq, 34), HEARTH_ERR_INVALID);
    memset(wf32, 0, sizeof wf32); /* the writer copied them */

    char path[512];
    hearth_error err;
    snprintf(path, sizeof path, "%s/alltypes.gguf", test_tmpdir());
    REQUIRE(gguf_writer_write(w, path, &err) == HEARTH_OK);
    gguf_writer_free(w);

    gguf_file *f;
    if (gguf_open(&f, path, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return;
    }
    CHECK_EQ(f->version, 3);
    CHECK_EQ(f->alignment, 64);
    CHECK_EQ(f->data_offset % 64, 0);
    CHECK_STR(f->kv[1].key.s, "t.u32"); /* insertion order, replaced in place */
    uint32_t u32 = 0;
    CHECK(gguf_get_u32(f, "t.u32", &u32) && u32 == 42);
    int64_t i64 = 0;
    CHECK(gguf_get_i64(f, "t.i32", &i64) && i64 == -123456);
    CHECK(!gguf_get_u32(f, "t.i32", &u32)); /* negative: no unsigned view */
    uint64_t u64 = 0;
    CHECK(gguf_get_u64(f, "t.u64", &u64) && u64 == 0xfedcba9876543210ull);
    CHECK(!gguf_get_i64(f, "t.u64", &i64)); /* does not fit */
    CHECK(!gguf_get_u32(f, "t.u64", &u32));
    float f32 = 0;
    CHECK(gguf_get_f32(f, "t.f32", &f32) && f32 == 0.1f);
    CHECK(!gguf_get_f32(f, "t.str", &f32));
    bool b = false;
    CHECK(gguf_get_bool(f, "t.bool", &b) && b);
    CHECK(!gguf_get_u64(f, "t.bool", &u64));
    CHECK_STR(gguf_get_str(f, "t.str"), "héllo\twörld");
    CHECK_STR(gguf_get_str(f, "t.empty"), "");
    CHECK(gguf_get_str(f, "t.u32") == NULL);
    CHECK(gguf_find(f, "no.such.key") == NULL);
    CHECK(gguf_get_u64(f, "t.u8", &u64) && u64 == 255);
    CHECK(gguf_get_i64(f, "t.i8", &i64) && i64 == -128);
    CHECK(gguf_get_u64(f, "t.u16", &u64) && u64 == 65535);
    CHECK(gguf_get_i64(f, "t.i16", &i64) && i64 == -32768);
    CHECK(gguf_get_i64(f, "t.i64", &i64) && i64 == INT64_MIN);
    const gguf_kv *kv = gguf_find(f, "t.f64");
    CHECK(kv && kv->val.type == GGUF_F64 && kv->val.v.f64 == -1e300);

    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        uint64_t n = 99;
        const gguf_value *a = gguf_get_arr(f, arrs[i].key, arrs[i].t, &n);
        CHECK(a != NULL);
        if (!a)
            continue;
        CHECK_EQ(n, arrs[i].n);
        CHECK(n == 0 || memcmp(a->v.arr.data, arrs[i].d, n * scalar_size(arrs[i].t)) == 0);
    }
    const gguf_value *a = gguf_get_arr(f, "a.f32", GGUF_F32, NULL);
    CHECK(a && gguf_arr_f64(a, 1) == -0.25 && gguf_arr_i64(a, 0) == 1);
    a = gguf_get_arr(f, "a.i8", GGUF_I8, NULL);
    CHECK(a && gguf_arr_i64(a, 0) == -1 && gguf_arr_f64(a, 2) == 127);
    a = gguf_get_arr(f, "a.u64", GGUF_U64, NULL);
    CHECK(a && gguf_arr_i64(a, 0) == INT64_MAX); /* clamped */
    CHECK(gguf_get_arr(f, "a.u8", GGUF_I8, NULL) == NULL);
    uint64_t n = 0;
    a = gguf_get_arr(f, "a.str", GGUF_STRING, &n);
    REQUIRE(a && n == 4);
    for (int i = 0; i < 4; i++)
        CHECK_STR(a->v.arr.strs[i].s, strs[i]);
    CHECK(gguf_get_arr(f, "a.str_empty", GGUF_STRING, &n) && n == 0);
    a = gguf_get_arr(f, "a.nested", GGUF_ARRAY, &n);
    REQUIRE(a && n == 2);
    CHECK(values_equal(a, &nested));
    const gguf_value *deep = &a->v.arr.items[1].v.arr.items[0];
    CHECK(deep->v.arr.type == GGUF_STRING && deep->v.arr.n == 2);
    CHECK_STR(deep->v.arr.strs[1].s, "yz");

    REQUIRE(f->n_tensors == 3);
    const gguf_tensor *t = gguf_find_tensor(f, "w.f32");
    REQUIRE(t);
    CHECK(t->type == TQ_F32 && t->n_dims == 2 && t->ne[0] == 16 && t->ne[1] == 4 && t->ne[2] == 1);
    for (int i = 0; i < 64; i++)
        wf32[i] = (float)i * 0.5f - 3;
    CHECK(memcmp(t->data, wf32, sizeof wf32) == 0);
    t = gguf_find_tensor(f, "w.q8");
    CHECK(t && t->nbytes == 2 * 2 * 34 && memcmp(t->data, wq, t->nbytes) == 0);
    t = gguf_find_tensor(f, "w.q4k");
    CHECK(t && t->n_dims == 3 && t->ne[2] == 2 && memcmp(t->data, wk, sizeof wk) == 0);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        CHECK_EQ(f->tensors[i].offset % 64, 0);
    gguf_close(f);
}

TEST(gguf_writer_alignment_checked)
{
    gguf_writer *w = gguf_writer_new();
    REQUIRE(w);
    CHECK_EQ(gguf_set_u32(w, "general.alignment", 48), HEARTH_OK);
    char path[512];
    hearth_error err;
    snprintf(path, sizeof path, "%s/badalign.gguf", test_tmpdir());
    CHECK_EQ(gguf_writer_write(w, path, &err), HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "general.alignment");
    gguf_writer_free(w);
}

/* ---- The malformed-file corpus --------------------------------------------------------- */

/* A byte builder for GGUF images, with the offsets of the fields the corpus patches. */
struct img {
    unsigned char b[4096];
    size_t n;
};

static void put(struct img *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static size_t put_u32(struct img *m, uint32_t v)
{
    size_t at = m->n;
    put(m, &v, 4);
    return at;
}

static size_t put_u64(struct img *m, uint64_t v)
{
    size_t at = m->n;
    put(m, &v, 8);
    return at;
}

static size_t put_str(struct img *m, const char *s)
{
    size_t at = put_u64(m, strlen(s));
    put(m, s, strlen(s));
    return at;
}

struct layout {
    size_t version, n_tensors, n_kv;
    size_t key0_len, kv0_type, align_type, align_val;
    size_t arr_key, arr_type, arr_count, sarr_key, sarr_count, sarr_str0, nested_inner_count;
    size_t t_name[3], t_ndims[3], t_ne[3][2], t_type[3], t_off[3];
    size_t info_end, data_start;
};

/* Base image content (mirrored by write_base with the writer). */
static const char *base_str[] = { "a", "bc" };
static const uint32_t base_u32[] = { 1, 2, 3 };
static const int32_t base_i32[] = { 1, 2, 3 };

static void tensor_bytes(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * seed + 3);
}

static void build_base(struct img *m, struct layout *L)
{
    m->n = 0;
    put(m, "GGUF", 4);
    L->version = put_u32(m, 3);
    L->n_tensors = put_u64(m, 3);
    L->n_kv = put_u64(m, 5);
    L->key0_len = put_str(m, "general.architecture");
    L->kv0_type = put_u32(m, GGUF_STRING);
    put_str(m, "test");
    put_str(m, "general.alignment");
    L->align_type = put_u32(m, GGUF_U32);
    L->align_val = put_u32(m, 32);
    L->arr_key = put_str(m, "test.u32arr");
    put_u32(m, GGUF_ARRAY);
    L->arr_type = put_u32(m, GGUF_U32);
    L->arr_count = put_u64(m, 3);
    put(m, base_u32, sizeof base_u32);
    L->sarr_key = put_str(m, "test.strarr");
    put_u32(m, GGUF_ARRAY);
    put_u32(m, GGUF_STRING);
    L->sarr_count = put_u64(m, 2);
    L->sarr_str0 = put_str(m, base_str[0]);
    put_str(m, base_str[1]);
    put_str(m, "test.nested"); /* [[1, 2], [3]] */
    put_u32(m, GGUF_ARRAY);
    put_u32(m, GGUF_ARRAY);
    put_u64(m, 2);
    put_u32(m, GGUF_I32);
    L->nested_inner_count = put_u64(m, 2);
    put(m, base_i32, 8);
    put_u32(m, GGUF_I32);
    put_u64(m, 1);
    put(m, base_i32 + 2, 4);

    /* t0: F32 [8] (32 bytes at 0); t1: Q8_0 [32, 2] (68 bytes at 32); t2: F16 [4, 2] (16 at 128) */
    static const char *names[] = { "t0", "t1", "t2" };
    static const int types[] = { TQ_F32, TQ_Q8_0, TQ_F16 };
    static const int64_t ne[3][2] = { { 8, 1 }, { 32, 2 }, { 4, 2 } };
    static const int n_dims[] = { 1, 2, 2 };
    static const uint64_t offs[] = { 0, 32, 128 };
    for (int i = 0; i < 3; i++) {
        L->t_name[i] = put_str(m, names[i]);
        L->t_ndims[i] = put_u32(m, (uint32_t)n_dims[i]);
        for (int d = 0; d < n_dims[i]; d++)
            L->t_ne[i][d] = put_u64(m, (uint64_t)ne[i][d]);
        L->t_type[i] = put_u32(m, (uint32_t)types[i]);
        L->t_off[i] = put_u64(m, offs[i]);
    }
    L->info_end = m->n;
    while (m->n % 32)
        m->b[m->n++] = 0;
    L->data_start = m->n;
    memset(m->b + m->n, 0, 160);
    tensor_bytes(m->b + m->n, 32, 5);
    tensor_bytes(m->b + m->n + 32, 68, 7);
    tensor_bytes(m->b + m->n + 128, 16, 9);
    m->n += 160;
}

static hearth_status write_base(const char *path, hearth_error *err)
{
    unsigned char d0[32], d1[68], d2[16];
    tensor_bytes(d0, 32, 5);
    tensor_bytes(d1, 68, 7);
    tensor_bytes(d2, 16, 9);
    gguf_value inner[] = {
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_I32, .n = 2, .data = base_i32 } },
        { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_I32, .n = 1, .data = base_i32 + 2 } },
    };
    gguf_value nested = { .type = GGUF_ARRAY,
                          .v.arr = { .type = GGUF_ARRAY, .n = 2, .items = inner } };
    gguf_writer *w = gguf_writer_new();
    if (!w)
        return HEARTH_ERR_NOMEM;
    hearth_status st = HEARTH_OK;
    int64_t ne0[] = { 8 }, ne1[] = { 32, 2 }, ne2[] = { 4, 2 };
    if (gguf_set_str(w, "general.architecture", "test") ||
        gguf_set_u32(w, "general.alignment", 32) ||
        gguf_set_arr(w, "test.u32arr", GGUF_U32, base_u32, 3) ||
        gguf_set_arr_str(w, "test.strarr", base_str, 2) ||
        gguf_set_value(w, "test.nested", &nested) ||
        gguf_add_tensor(w, "t0", TQ_F32, 1, ne0, d0, 32) ||
        gguf_add_tensor(w, "t1", TQ_Q8_0, 2, ne1, d1, 68) ||
        gguf_add_tensor(w, "t2", TQ_F16, 2, ne2, d2, 16))
        st = HEARTH_ERR_NOMEM;
    if (st == HEARTH_OK)
        st = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return st;
}

/* Parse exactly n bytes from a heap copy, so the sanitizer sees any read past the end. */
static hearth_status parse_copy(const unsigned char *p, size_t n, const char *name,
                                hearth_error *err)
{
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy)
        return HEARTH_ERR_NOMEM;
    memcpy(copy, p, n);
    gguf_file *f = NULL;
    hearth_status st = gguf_parse(&f, copy, n, name, err);
    if (st == HEARTH_OK) {
        /* Touch every tensor byte and string: they must be inside the buffer. */
        unsigned sum = 0;
        for (uint64_t i = 0; i < f->n_tensors; i++)
            for (size_t j = 0; j < f->tensors[i].nbytes; j++)
                sum += ((const unsigned char *)f->tensors[i].data)[j];
        for (uint64_t i = 0; i < f->n_kv; i++)
            sum += (unsigned)strlen(f->kv[i].key.s);
        (void)sum;
    }
    gguf_close(f);
    free(copy);
    return st;
}

TEST(gguf_base_image_matches_writer)
{
    struct img m;
    struct layout L;
    build_base(&m, &L);
    char path[512];
    hearth_error err;
    snprintf(path, sizeof path, "%s/base.gguf", test_tmpdir());
    REQUIRE(write_base(path, &err) == HEARTH_OK);
    file_map fm;
    REQUIRE(file_map_open(&fm, path, &err) == HEARTH_OK);
    CHECK_EQ(fm.size, m.n);
    CHECK(fm.size == m.n && memcmp(fm.data, m.b, m.n) == 0);
    file_map_close(&fm);
    CHECK_EQ(parse_copy(m.b, m.n, "base.gguf", &err), HEARTH_OK);
}

struct patch {
    size_t at;
    int width; /* 4 or 8 bytes, or 0 for the end of the list */
    uint64_t value;
};

struct bad_case {
    const char *name;
    hearth_status expect;
    struct patch p[3];
};

/* Apply patches given as (layout field, width, value) to a copy of the base image. */
static void apply(struct img *m, const struct patch *p)
{
    for (; p->width; p++)
        memcpy(m->b + p->at, &p->value, (size_t)p->width);
}

static void check_rejected(const char *what, const unsigned char *b, size_t n, hearth_status expect)
{
    char name[128];
    hearth_error err;
    err_clear(&err);
    snprintf(name, sizeof name, "corpus/%s.gguf", what);
    hearth_status st = parse_copy(b, n, name, &err);
    if (st != expect)
        test_fail(__FILE__, __LINE__, "%s: status %d (expected %d): %s", what, st, expect, err.msg);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s: ", name);
    if (st != HEARTH_OK && (strncmp(err.msg, prefix, strlen(prefix)) != 0 || strchr(err.msg, '\n')))
        test_fail(__FILE__, __LINE__, "%s: message should be one line naming the file: %s", what,
                  err.msg);
}

#define FMT HEARTH_ERR_FORMAT
#define UNSUP HEARTH_ERR_UNSUPPORTED

TEST(gguf_corpus_patched_fields)
{
    struct img base, m;
    struct layout L;
    build_base(&base, &L);
    const uint64_t huge = UINT64_MAX;
    const struct bad_case cases[] = {
        { "magic", FMT, { { 0, 4, 0x58554747 } } }, /* "GGUX" */
        { "version0", FMT, { { L.version, 4, 0 } } },
        { "version1", UNSUP, { { L.version, 4, 1 } } },
        { "version4", UNSUP, { { L.version, 4, 4 } } },
        { "version_byteswapped", UNSUP, { { L.version, 4, 0x03000000 } } },
        { "n_tensors_2^63", FMT, { { L.n_tensors, 8, 1ull << 63 } } },
        { "n_tensors_2^40", FMT, { { L.n_tensors, 8, 1ull << 40 } } },
        { "n_tensors_plus_one", FMT, { { L.n_tensors, 8, 4 } } },
        { "n_kv_2^63", FMT, { { L.n_kv, 8, 1ull << 63 } } },
        { "n_kv_2^40", FMT, { { L.n_kv, 8, 1ull << 40 } } },
        { "n_kv_plus_one", FMT, { { L.n_kv, 8, 6 } } },
        { "key_len_max", FMT, { { L.key0_len, 8, huge } } },
        { "key_len_past_eof", FMT, { { L.key0_len, 8, 1000 } } },
        { "key_empty", FMT, { { L.key0_len, 8, 0 } } },
        { "value_type_13", FMT, { { L.kv0_type, 4, 13 } } },
        { "value_type_max", FMT, { { L.kv0_type, 4, 0xffffffff } } },
        { "array_elem_type_13", FMT, { { L.arr_type, 4, 13 } } },
        { "array_count_2^62", FMT, { { L.arr_count, 8, 1ull << 62 } } },
        { "array_count_max", FMT, { { L.arr_count, 8, huge } } },
        { "string_array_count_huge", FMT, { { L.sarr_count, 8, 1ull << 61 } } },
        { "string_len_max", FMT, { { L.sarr_str0, 8, huge } } },
        { "string_len_past_eof", FMT, { { L.sarr_str0, 8, 2000 } } },
        { "nested_count_huge", FMT, { { L.nested_inner_count, 8, 1ull << 60 } } },
        { "alignment_0", FMT, { { L.align_val, 4, 0 } } },
        { "alignment_3", FMT, { { L.align_val, 4, 3 } } },
        { "alignment_2^31", FMT, { { L.align_val, 4, 1u << 31 } } },
        { "alignment_type_i32", FMT, { { L.align_type, 4, GGUF_I32 } } },
        { "n_dims_0", FMT, { { L.t_ndims[0], 4, 0 } } },
        { "n_dims_5", FMT, { { L.t_ndims[1], 4, 5 } } },
        { "n_dims_max", FMT, { { L.t_ndims[1], 4, 0xffffffff } } },
        { "dim_zero", FMT, { { L.t_ne[1][1], 8, 0 } } },
        { "dim_negative", FMT, { { L.t_ne[0][0], 8, (uint64_t)-8 } } },
        { "dim_2^63", FMT, { { L.t_ne[0][0], 8, 1ull << 63 } } },
        { "dims_overflow_int64", FMT,
          { { L.t_ne[1][0], 8, 1ull << 32 }, { L.t_ne[1][1], 8, 1ull << 32 } } },
        { "rows_overflow_int64", FMT, { { L.t_ne[1][1], 8, 1ull << 62 } } },
        { "bytes_overflow_size_t", FMT, { { L.t_ne[0][0], 8, 1ull << 62 } } },
        { "row_not_block_multiple", FMT, { { L.t_ne[1][0], 8, 16 } } },
        { "type_retired_4", UNSUP, { { L.t_type[0], 4, 4 } } },
        { "type_99", UNSUP, { { L.t_type[0], 4, 99 } } },
        { "type_2^31", UNSUP, { { L.t_type[2], 4, 0x80000000u } } },
        { "name_with_control_chars", UNSUP,
          { { L.t_name[1] + 8, 2, 0x1b0a }, { L.t_type[1], 4, 99 } } },
        { "offset_huge", FMT, { { L.t_off[2], 8, 1ull << 63 } } },
        { "offset_past_end", FMT, { { L.t_off[2], 8, 160 } } },
        { "offset_tail_past_end", FMT, { { L.t_off[1], 8, 128 } } },
        { "offset_misaligned", FMT, { { L.t_off[2], 8, 144 } } }, /* no overlap: only misaligned */
        { "overlap_sorted", FMT, { { L.t_off[1], 8, 0 } } },
        { "overlap_unsorted", FMT, { { L.t_off[0], 8, 128 } } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m = base;
        apply(&m, cases[i].p);
        check_rejected(cases[i].name, m.b, m.n, cases[i].expect);
    }
    /* Renames: the second of two same-length names becomes the first. */
    m = base;
    memcpy(m.b + L.sarr_key + 8, "test.u32arr", 11);
    check_rejected("duplicate_key", m.b, m.n, FMT);
    m = base;
    memcpy(m.b + L.t_name[1] + 8, "t0", 2);
    check_rejected("duplicate_tensor", m.b, m.n, FMT);
}

/* Edges that are valid and must stay valid. */
TEST(gguf_corpus_valid_edges)
{
    struct img base, m;
    struct layout L;
    build_base(&base, &L);
    hearth_error err;
    m = base;
    apply(&m, (struct patch[]){ { L.version, 4, 2 }, { 0, 0, 0 } });
    CHECK_EQ(parse_copy(m.b, m.n, "v2.gguf", &err), HEARTH_OK);
    /* Tensors out of offset order but not overlapping: t2 at 0, t1 at 32, t0 at 128. */
    m = base;
    apply(&m, (struct patch[]){ { L.t_off[0], 8, 128 }, { L.t_off[2], 8, 0 }, { 0, 0, 0 } });
    CHECK_EQ(parse_copy(m.b, m.n, "unsorted.gguf", &err), HEARTH_OK);
    /* The padding after the last tensor (t2: 16 bytes at 128) is not required. */
    CHECK_EQ(parse_copy(base.b, L.data_start + 144, "nopad.gguf", &err), HEARTH_OK);
}

/* One key holding `depth` arrays, each the single element of the one above. */
static void build_nested(struct img *m, int depth)
{
    m->n = 0;
    put(m, "GGUF", 4);
    put_u32(m, 3);
    put_u64(m, 0);
    put_u64(m, 1);
    put_str(m, "deep");
    put_u32(m, GGUF_ARRAY);
    for (int i = 1; i < depth; i++) {
        put_u32(m, GGUF_ARRAY);
        put_u64(m, 1);
    }
    put_u32(m, GGUF_I32);
    put_u64(m, 1);
    put_u32(m, 7);
}

TEST(gguf_corpus_nesting_depth)
{
    struct img m;
    hearth_error err;
    build_nested(&m, 8);
    CHECK_EQ(parse_copy(m.b, m.n, "depth8.gguf", &err), HEARTH_OK);
    build_nested(&m, 9);
    check_rejected("depth9", m.b, m.n, FMT);
    build_nested(&m, 200);
    check_rejected("depth200", m.b, m.n, FMT);
}

TEST(gguf_corpus_truncation)
{
    struct img base;
    struct layout L;
    build_base(&base, &L);
    /* The writer's file is the base image (gguf_base_image_matches_writer); cut it. */
    char path[512];
    hearth_error err;
    snprintf(path, sizeof path, "%s/trunc-src.gguf", test_tmpdir());
    REQUIRE(write_base(path, &err) == HEARTH_OK);
    file_map fm;
    REQUIRE(file_map_open(&fm, path, &err) == HEARTH_OK);
    REQUIRE(fm.size == base.n);
    char what[64];
    for (size_t n = 0; n <= L.data_start; n++) {
        snprintf(what, sizeof what, "truncated-%zu", n);
        check_rejected(what, fm.data, n, FMT);
    }
    const size_t in_data[] = { 1, 31, 40, 99, 143 }; /* each cuts into a tensor */
    for (size_t i = 0; i < sizeof in_data / sizeof in_data[0]; i++) {
        snprintf(what, sizeof what, "truncated-data-%zu", in_data[i]);
        check_rejected(what, fm.data, L.data_start + in_data[i], FMT);
    }
    file_map_close(&fm);
}

TEST(gguf_corpus_through_show)
{
    struct img base, m;
    struct layout L;
    build_base(&base, &L);
    const struct bad_case cases[] = {
        { "magic", FMT, { { 0, 4, 0x58554747 } } },
        { "version1", UNSUP, { { L.version, 4, 1 } } },
        { "n_kv_2^63", FMT, { { L.n_kv, 8, 1ull << 63 } } },
        { "string_len_max", FMT, { { L.sarr_str0, 8, UINT64_MAX } } },
        { "dim_negative", FMT, { { L.t_ne[0][0], 8, (uint64_t)-8 } } },
        { "type_99", UNSUP, { { L.t_type[0], 4, 99 } } },
        { "offset_past_end", FMT, { { L.t_off[2], 8, 160 } } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m = base;
        apply(&m, cases[i].p);
        char path[512], cmd[1200], out[4096], expect[600];
        snprintf(path, sizeof path, "%s/bad-%s.gguf", test_tmpdir(), cases[i].name);
        FILE *fp = fopen(path, "wb");
        REQUIRE(fp);
        fwrite(m.b, 1, m.n, fp);
        fclose(fp);
        /* stdout discarded: what remains is stderr. */
        snprintf(cmd, sizeof cmd, "( %s show %s >/dev/null )", test_bin(), path);
        CHECK_EQ(test_run(cmd, out, sizeof out), 1);
        snprintf(expect, sizeof expect, "hearth: %s: ", path);
        CHECK(strncmp(out, expect, strlen(expect)) == 0);
        CHECK(strchr(out, '\n') == out + strlen(out) - 1);
    }
}

/* ---- Allocation failure ------------------------------------------------------------------ */

TEST(gguf_open_out_of_memory)
{
    const char *path = MODELS "tiny-qwen2-bpe-q8_0.gguf";
    hearth_error err;
    long k;
    for (k = 0; k < 100000; k++) {
        gguf_file *f = NULL;
        mem_fail_after(k);
        hearth_status st = gguf_open(&f, path, &err);
        mem_fail_after(-1);
        if (st == HEARTH_OK) {
            gguf_close(f);
            break;
        }
        CHECK_EQ(st, HEARTH_ERR_NOMEM);
        CHECK(f == NULL);
        CHECK_CONTAINS(err.msg, path);
        if (test_failed())
            break;
    }
    CHECK(k > 3); /* the path, the state, the tables, the arena: several allocations */
    CHECK(k < 100000);
}

TEST(gguf_writer_out_of_memory)
{
    char path[512];
    hearth_error err;
    snprintf(path, sizeof path, "%s/oom.gguf", test_tmpdir());
    long k;
    for (k = 0; k < 10000; k++) {
        mem_fail_after(k);
        hearth_status st = write_base(path, &err);
        mem_fail_after(-1);
        if (st == HEARTH_OK)
            break;
        CHECK_EQ(st, HEARTH_ERR_NOMEM);
        if (test_failed())
            break;
    }
    CHECK(k > 3 && k < 10000);
    CHECK_EQ(parse_copy((const unsigned char *)"", 0, "empty.gguf", &err), HEARTH_ERR_FORMAT);
}

/* ---- Split models ------------------------------------------------------------------------
 * Parts laid out as llama.cpp's gguf-split writes them: PREFIX-0000i-of-0000n.gguf, every
 * part with split.no and split.count (u16), the first with split.tensors.count (i32) and
 * all the metadata, each with its run of tensors. */

/* Write src as n parts; the tensors are cut into n runs in file order. */
static bool write_split(const char *src, const char *prefix, int n)
{
    hearth_error err;
    gguf_file *f;
    if (gguf_open(&f, src, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    bool ok = true;
    for (int part = 0; part < n && ok; part++) {
        gguf_writer *w = gguf_writer_new();
        ok = w != NULL;
        for (uint64_t i = 0; ok && part == 0 && i < f->n_kv; i++)
            ok = gguf_set_value(w, f->kv[i].key.s, &f->kv[i].val) == HEARTH_OK;
        ok = ok && gguf_set_u16(w, "split.no", (uint16_t)part) == HEARTH_OK &&
             gguf_set_u16(w, "split.count", (uint16_t)n) == HEARTH_OK;
        if (ok && part == 0)
            ok = gguf_set_i32(w, "split.tensors.count", (int32_t)f->n_tensors) == HEARTH_OK;
        const uint64_t t0 = f->n_tensors * (uint64_t)part / (uint64_t)n;
        const uint64_t t1 = f->n_tensors * (uint64_t)(part + 1) / (uint64_t)n;
        for (uint64_t i = t0; ok && i < t1; i++) {
            const gguf_tensor *t = &f->tensors[i];
            ok = gguf_add_tensor_ref(w, t->name.s, t->type, t->n_dims, t->ne, t->data,
                                     t->nbytes) == HEARTH_OK;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s-%05d-of-%05d.gguf", prefix, part + 1, n);
        ok = ok && gguf_writer_write(w, path, &err) == HEARTH_OK;
        gguf_writer_free(w);
    }
    gguf_close(f);
    CHECK(ok);
    return ok;
}

static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The logits of the last of 12 prompt tokens, from the model in file path, into out[V]. */
static bool last_logits(const char *path, float *out, int V)
{
    hearth_error err;
    gguf_file *g = NULL;
    llm_model *m = NULL;
    llm_ctx *c = NULL;
    float *all = mem_alloc((size_t)12 * V * sizeof(float));
    bool ok = all && gguf_open(&g, path, &err) == HEARTH_OK;
    if (ok && (llm_model_load(&m, g, llm_model_default_params(), &err) != HEARTH_OK ||
               llm_ctx_new(&c, m, llm_ctx_default_params(), &err) != HEARTH_OK))
        ok = false;
    int32_t tok[12], pos[12];
    uint8_t want[12] = { 0 };
    for (int i = 0; i < 12; i++)
        tok[i] = 100 + 37 * i, pos[i] = i;
    want[11] = 1;
    ok = ok && llm_decode(c, 12, tok, pos, NULL, want, all, &err) == HEARTH_OK;
    if (ok)
        memcpy(out, all, (size_t)V * sizeof(float));
    else
        test_fail(__FILE__, __LINE__, "%s: %s", path, err.msg);
    llm_ctx_free(c);
    llm_model_free(m);
    gguf_close(g);
    mem_free(all);
    return ok;
}

/* The parts of a split model open as one file: every tensor of the original, with the same
 * bytes, found by name; sizes summed over the parts; the same logits from the model. */
TEST(gguf_split_model_opens_as_one)
{
    const char *src = MODELS "small-llama-spm-q4_k_m.gguf";
    char prefix[512], first[600];
    snprintf(prefix, sizeof prefix, "%s/split3", test_tmpdir());
    REQUIRE(write_split(src, prefix, 3));
    snprintf(first, sizeof first, "%s-00001-of-00003.gguf", prefix);
    hearth_error err;
    gguf_file *orig, *f;
    REQUIRE(gguf_open(&orig, src, &err) == HEARTH_OK);
    if (gguf_open(&f, first, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        gguf_close(orig);
        return;
    }
    CHECK_EQ(f->n_parts, 3);
    CHECK_EQ(f->n_tensors, orig->n_tensors);
    uint64_t size = 0;
    for (int i = 1; i <= 3; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s-%05d-of-00003.gguf", prefix, i);
        size += file_bytes(p);
    }
    CHECK_EQ(f->size, size);
    CHECK_STR(gguf_get_str(f, "general.architecture"), "llama");
    for (uint64_t i = 0; i < orig->n_tensors; i++) {
        const gguf_tensor *a = &orig->tensors[i], *b = gguf_find_tensor(f, a->name.s);
        if (!b || b->type != a->type || b->nbytes != a->nbytes ||
            memcmp(b->data, a->data, a->nbytes) != 0 || memcmp(b->ne, a->ne, sizeof a->ne)) {
            test_fail(__FILE__, __LINE__, "tensor %s differs in the split model", a->name.s);
            break;
        }
    }
    /* `hearth show` names the parts */
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "%s show --json %s", test_bin(), first);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j != NULL);
    CHECK_EQ(json_num(j, "parts"), 3);
    CHECK_EQ(json_num(j, "tensor_count"), (double)orig->n_tensors);
    cJSON_Delete(j);
    uint64_t V = 0;
    REQUIRE(gguf_get_arr(orig, "tokenizer.ggml.tokens", GGUF_STRING, &V) && V > 0);
    float *a = mem_alloc((size_t)V * sizeof(float)), *b = mem_alloc((size_t)V * sizeof(float));
    REQUIRE(a && b);
    if (last_logits(src, a, (int)V) && last_logits(first, b, (int)V))
        CHECK(memcmp(a, b, (size_t)V * sizeof(float)) == 0);
    mem_free(a);
    mem_free(b);
    gguf_close(f);
    gguf_close(orig);
}

/* Flip one byte of the file at path, at offset at. */
static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
}

TEST(gguf_split_model_import_records_and_audit_checks_every_part)
{
    char prefix[512], first[600], home[600], cmd[4000], out[16384];
    snprintf(prefix, sizeof prefix, "%s/split-audit", test_tmpdir());
    snprintf(home, sizeof home, "%s/split-audit-home", test_tmpdir());
    REQUIRE(write_split(MODELS "small-llama-spm-q4_k_m.gguf", prefix, 3));
    snprintf(first, sizeof first, "%s-00001-of-00003.gguf", prefix);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && HEARTH_HOME='%s' %s import '%s' --name sp "
             ">/dev/null", home, home, test_bin(), first);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    /* the manifest lists every part's hash, as sha256sum computes them */
    snprintf(cmd, sizeof cmd, "sha256sum '%s'-0000[123]-of-00003.gguf | cut -c1-64 | "
             "paste -sd' '", prefix);
    char want[300] = "";
    REQUIRE(test_run(cmd, want, sizeof want) == 0);
    want[strcspn(want, "\n")] = '\0';
    CHECK_EQ(strlen(want), 3 * 65 - 1);
    snprintf(cmd, sizeof cmd, "cat '%s/manifest.json'", home);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    cJSON *j = cJSON_Parse(out);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "parts_sha256")), want);
    CHECK(strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "sha256")), want, 64) == 0);
    cJSON_Delete(j);

    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s audit", home, test_bin());
    test_run(cmd, out, sizeof out);
    CHECK_CONTAINS(out, "sha256 ok");
    /* a changed byte in a later part is found; so is a missing part */
    char third[600];
    snprintf(third, sizeof third, "%s-00003-of-00003.gguf", prefix);
    flip_byte(third, 100);
    test_run(cmd, out, sizeof out);
    CHECK_CONTAINS(out, "CHANGED since registered");
    flip_byte(third, 100);
    test_run(cmd, out, sizeof out);
    CHECK_CONTAINS(out, "sha256 ok");
    unlink(third);
    test_run(cmd, out, sizeof out);
    CHECK_CONTAINS(out, "MISSING");
}

/* Rebuilding a broken registry finds a split model by its first part, whichever part the
 * directory lists first (it took the first .gguf listed and gave up when that was a later
 * part; with six parts, a later part comes first in most directory orders). */
TEST(gguf_split_model_recovered_by_list_repair)
{
    char home[600], prefix[700], cmd[4000], out[16384];
    snprintf(home, sizeof home, "%s/split-repair-home", test_tmpdir());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/models/sp' && echo '{broken' > "
             "'%s/manifest.json'", home, home, home);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    snprintf(prefix, sizeof prefix, "%s/models/sp/sp", home);
    REQUIRE(write_split(MODELS "small-llama-spm-q4_k_m.gguf", prefix, 6));
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s list --repair && HEARTH_HOME='%s' %s list "
             "--json", home, test_bin(), home, test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "/models/sp/sp-00001-of-00006.gguf");
}

/* Part no (from 0) of count, holding tensors named names[0 .. n) (4 F32 values each);
 * tensors < 0 leaves split.tensors.count out. */
static bool write_part(const char *path, int no, int count, int tensors, const char *const *names,
                       int n)
{
    hearth_error err;
    gguf_writer *w = gguf_writer_new();
    bool ok = w && gguf_set_str(w, "general.architecture", "llama") == HEARTH_OK &&
              gguf_set_u16(w, "split.no", (uint16_t)no) == HEARTH_OK &&
              gguf_set_u16(w, "split.count", (uint16_t)count) == HEARTH_OK;
    if (ok && tensors >= 0)
        ok = gguf_set_i32(w, "split.tensors.count", tensors) == HEARTH_OK;
    const float v[4] = { 1, 2, 3, 4 };
    const int64_t ne[1] = { 4 };
    for (int i = 0; ok && i < n; i++)
        ok = gguf_add_tensor(w, names[i], TQ_F32, 1, ne, v, sizeof v) == HEARTH_OK;
    ok = ok && gguf_writer_write(w, path, &err) == HEARTH_OK;
    gguf_writer_free(w);
    CHECK(ok);
    return ok;
}

/* gguf_open on path, expecting status st and (on failure) a message containing want. */
static void expect_refusal(const char *path, hearth_status st, const char *want)
{
    hearth_error err;
    gguf_file *f = NULL;
    CHECK_EQ(gguf_open(&f, path, &err), st);
    CHECK((f == NULL) == (st != HEARTH_OK));
    if (st != HEARTH_OK)
        CHECK_CONTAINS(err.msg, want);
    gguf_close(f);
}

TEST(gguf_split_model_refusals)
{
    const char *d = test_tmpdir();
    const char *a[] = { "a" }, *b[] = { "b" }, *c[] = { "c" };
    char p1[512], p2[512], p3[512], msg[1024];
    /* a good 3-part set first, then one fault at a time */
    snprintf(p1, sizeof p1, "%s/m-00001-of-00003.gguf", d);
    snprintf(p2, sizeof p2, "%s/m-00002-of-00003.gguf", d);
    snprintf(p3, sizeof p3, "%s/m-00003-of-00003.gguf", d);
    REQUIRE(write_part(p1, 0, 3, 3, a, 1) && write_part(p2, 1, 3, -1, b, 1) &&
            write_part(p3, 2, 3, -1, c, 1));
    hearth_error err;
    gguf_file *f;
    REQUIRE(gguf_open(&f, p1, &err) == HEARTH_OK);
    CHECK_EQ(f->n_tensors, 3);
    CHECK(gguf_find_tensor(f, "c") != NULL);
    gguf_close(f);

    /* a later part, opened by itself */
    snprintf(msg, sizeof msg, "open the first part, %s", p1);
    expect_refusal(p2, HEARTH_ERR_INVALID, msg);
    /* a part that says it is another one */
    REQUIRE(write_part(p2, 2, 3, -1, b, 1));
    expect_refusal(p1, HEARTH_ERR_FORMAT, "says it is part 3 of 3, expected part 2 of 3");
    REQUIRE(write_part(p2, 1, 4, -1, b, 1));
    expect_refusal(p1, HEARTH_ERR_FORMAT, "says it is part 2 of 4, expected part 2 of 3");
    /* a tensor in two parts */
    REQUIRE(write_part(p2, 1, 3, -1, c, 1));
    expect_refusal(p1, HEARTH_ERR_FORMAT, "tensor 'c' is in two of its parts");
    /* fewer tensors than the first part announces */
    REQUIRE(write_part(p2, 1, 3, -1, NULL, 0));
    expect_refusal(p1, HEARTH_ERR_FORMAT, "split.tensors.count is 3 but the 3 parts hold 2");
    /* a missing part */
    REQUIRE(write_part(p2, 1, 3, -1, b, 1));
    REQUIRE(remove(p3) == 0);
    snprintf(msg, sizeof msg, "part 3 of this 3-part model is missing: %s", p3);
    expect_refusal(p1, HEARTH_ERR_IO, msg);
    /* a first part whose name does not lead to the others */
    char odd[512];
    snprintf(odd, sizeof odd, "%s/renamed.gguf", d);
    REQUIRE(write_part(odd, 0, 3, 3, a, 1));
    expect_refusal(odd, HEARTH_ERR_INVALID, "not named NAME-00001-of-00003.gguf");
    /* impossible places */
    REQUIRE(write_part(odd, 3, 3, -1, a, 1));
    expect_refusal(odd, HEARTH_ERR_FORMAT, "split.no must be a number below split.count (3)");
    REQUIRE(write_part(odd, 0, 0, -1, a, 1));
    expect_refusal(odd, HEARTH_ERR_FORMAT, "split.count must be a number from 1 to 256");
    REQUIRE(write_part(odd, 0, 1, -1, a, 1)); /* one part of one: an ordinary file */
    expect_refusal(odd, HEARTH_OK, "");
}

TEST(gguf_split_names)
{
    int count = -1;
    CHECK_EQ(gguf_split_name("/m/x-00002-of-00003.gguf", &count), 2);
    CHECK_EQ(count, 3);
    CHECK_EQ(gguf_split_name("x-00001-of-00001.gguf", &count), 1);
    CHECK_EQ(gguf_split_name("x-00000-of-00003.gguf", &count), 0); /* parts count from 1 */
    CHECK_EQ(gguf_split_name("x-00004-of-00003.gguf", &count), 0);
    CHECK_EQ(gguf_split_name("x-0001-of-00003.gguf", &count), 0);
    CHECK_EQ(gguf_split_name("x-00001-of-0000a.gguf", &count), 0);
    CHECK_EQ(gguf_split_name("x-00001-of-00003.bin", &count), 0);
    CHECK_EQ(gguf_split_name("-00001-of-00003.gguf", &count), 0); /* no name before it */
    CHECK_EQ(gguf_split_name("", &count), 0);
    char out[64];
    CHECK(gguf_split_sibling("/m/x-00002-of-00003.gguf", 3, out, sizeof out));
    CHECK_STR(out, "/m/x-00003-of-00003.gguf");
    CHECK(!gguf_split_sibling("/m/x-00002-of-00003.gguf", 4, out, sizeof out));
    CHECK(!gguf_split_sibling("/m/x.gguf", 1, out, sizeof out));
    CHECK(!gguf_split_sibling("/m/x-00002-of-00003.gguf", 1, out, 10)); /* too short */
}
