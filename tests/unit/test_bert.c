/*
 * Tests for models/bert.c against llama.cpp's pooled embeddings in
 * ../shared/testdata/reference/NAME.embed.json (one case per line of sentences.txt):
 * the WordPiece ids must be the reference's, and the pooled vector must point the same way
 * (cosine >= 0.9999 for the F32 model, >= 0.999 for the Q8_0 ones) with a similar norm.
 * Batching must not change a text's embedding: all sentences encoded together give what
 * each gives alone.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "base/file.h"
#include "base/mem.h"
#include "formats/gguf.h"
#include "models/bert.h"
#include "tokenize/tokenizer.h"

static double cosine(const float *a, const double *b, int n, double *norm_a, double *norm_b)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += b[i] * b[i];
    }
    *norm_a = sqrt(aa);
    *norm_b = sqrt(bb);
    return ab / (sqrt(aa) * sqrt(bb));
}

#define MAX_CASES 8

static void check_model(const char *name, double min_cos)
{
    char path[256];
    snprintf(path, sizeof path, TESTDATA "/models/%s.gguf", name);
    gguf_file *g = NULL;
    bert_model *m = NULL;
    bert_ctx *c = NULL;
    tok_vocab *v = NULL;
    char *text = NULL;
    cJSON *j = NULL;
    hearth_error err;
    REQUIRE(gguf_open(&g, path, &err) == HEARTH_OK);
    if (bert_model_load(&m, g, &err) != HEARTH_OK || tok_load(&v, g, &err) != HEARTH_OK ||
        bert_ctx_new(&c, m, 0, 2, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s: %s", name, err.msg);
        goto done;
    }
    snprintf(path, sizeof path, TESTDATA "/reference/%s.embed.json", name);
    size_t n;
    if (file_read_all(path, 16 << 20, &text, &n, NULL) != HEARTH_OK ||
        !(j = cJSON_Parse(text))) {
        test_fail(__FILE__, __LINE__, "cannot read %s", path);
        goto done;
    }
    int D = bert_model_hparams(m)->n_embd, n_cases = 0;
    tok_ids ids[MAX_CASES] = { 0 };
    const int32_t *toks[MAX_CASES];
    int lens[MAX_CASES];
    const cJSON *cases = cJSON_GetObjectItem(j, "cases"), *cs;
    float *batch = mem_calloc((size_t)MAX_CASES * D, sizeof(float));
    float *one = mem_calloc((size_t)D, sizeof(float));
    double *ref = mem_calloc((size_t)D, sizeof(double));
    cJSON_ArrayForEach(cs, cases) {
        if (n_cases == MAX_CASES)
            break;
        const char *prompt = cJSON_GetObjectItem(cs, "prompt")->valuestring;
        tok_ids *t = &ids[n_cases];
        CHECK(tok_encode(v, prompt, strlen(prompt), true, false, t, &err) == HEARTH_OK);
        const cJSON *want = cJSON_GetObjectItem(cs, "prompt_ids");
        CHECK_EQ(t->n, cJSON_GetArraySize(want));
        for (size_t i = 0; i < t->n && i < (size_t)cJSON_GetArraySize(want); i++)
            CHECK_EQ(t->v[i], cJSON_GetArrayItem(want, (int)i)->valueint);
        toks[n_cases] = t->v;
        lens[n_cases] = (int)t->n;
        n_cases++;
    }
    CHECK(n_cases >= 4);
    CHECK(bert_encode(c, n_cases, toks, lens, batch, &err) == HEARTH_OK);
    int i = 0;
    cJSON_ArrayForEach(cs, cases) {
        if (i == n_cases)
            break;
        const cJSON *e = cJSON_GetObjectItem(cs, "embedding");
        REQUIRE(cJSON_GetArraySize(e) == D);
        for (int d = 0; d < D; d++)
            ref[d] = cJSON_GetArrayItem(e, d)->valuedouble;
        double na, nb, cos = cosine(batch + (size_t)i * D, ref, D, &na, &nb);
        if (!(cos >= min_cos))
            test_fail(__FILE__, __LINE__, "%s case %d: cosine %.6f < %.4f", name, i, cos,
                      min_cos);
        CHECK_NEAR(na / nb, 1.0, 0.01);
        /* the same text alone gives the same vector */
        CHECK(bert_encode(c, 1, &toks[i], &lens[i], one, &err) == HEARTH_OK);
        for (int d = 0; d < D; d++)
            CHECK_NEAR(one[d], batch[(size_t)i * D + d], 1e-4);
        i++;
    }
    for (int k = 0; k < n_cases; k++)
        tok_ids_free(&ids[k]);
    mem_free(batch);
    mem_free(one);
    mem_free(ref);
done:
    cJSON_Delete(j);
    mem_free(text);
    bert_ctx_free(c);
    tok_free(v);
    bert_model_free(m);
    gguf_close(g);
}

TEST(bert_f32_matches_reference)
{
    check_model("tiny-bert-f32", 0.9999);
}

TEST(bert_q8_0_matches_reference)
{
    check_model("tiny-bert-q8_0", 0.999);
}

TEST(bert_nomic_q8_0_matches_reference)
{
    check_model("tiny-nomic-bert-q8_0", 0.999);
}

TEST(bert_refuses_decoder_and_bad_input)
{
    gguf_file *g = NULL;
    bert_model *m = NULL;
    bert_ctx *c = NULL;
    hearth_error err;
    REQUIRE(gguf_open(&g, TESTDATA "/models/tiny-llama-spm-q8_0.gguf", &err) == HEARTH_OK);
    CHECK(bert_model_load(&m, g, &err) == HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "llama");
    gguf_close(g);
    REQUIRE(gguf_open(&g, TESTDATA "/models/tiny-bert-f32.gguf", &err) == HEARTH_OK);
    REQUIRE(bert_model_load(&m, g, &err) == HEARTH_OK);
    REQUIRE(bert_ctx_new(&c, m, 0, 1, &err) == HEARTH_OK);
    float out[64];
    int32_t bad[] = { 101, 999999, 102 }, ok[] = { 101, 102 };
    const int32_t *t1 = bad, *t2 = ok;
    int len = 3, zero = 0;
    CHECK(bert_encode(c, 1, &t1, &len, out, &err) == HEARTH_ERR_RANGE);
    CHECK(bert_encode(c, 1, &t2, &zero, out, &err) == HEARTH_ERR_RANGE);
    bert_ctx_free(c);
    bert_model_free(m);
    gguf_close(g);
}

TEST(bert_out_of_memory_is_an_error)
{
    gguf_file *g = NULL;
    hearth_error err;
    REQUIRE(gguf_open(&g, TESTDATA "/models/tiny-nomic-bert-q8_0.gguf", &err) == HEARTH_OK);
    bool saw_ok = false;
    for (long k = 0; k < 64 && !saw_ok; k++) {
        bert_model *m = NULL;
        bert_ctx *c = NULL;
        mem_fail_after(k);
        hearth_status st = bert_model_load(&m, g, &err);
        if (!st)
            st = bert_ctx_new(&c, m, 0, 1, &err);
        mem_fail_after(-1);
        CHECK(st == HEARTH_OK || st == HEARTH_ERR_NOMEM);
        saw_ok = st == HEARTH_OK;
        bert_ctx_free(c);
        bert_model_free(m);
    }
    CHECK(saw_ok);
    gguf_close(g);
}
