/*
 * Decoder embedders through the embedding service: tiny-qwen3-embed-q8_0.gguf is a qwen3
 * model with qwen3.pooling_type = 3 (last token), as Qwen3-Embedding converts; its pooled
 * vectors must agree with llama.cpp's (reference/tiny-qwen3-embed-q8_0.embed.json, before
 * normalisation) to cosine >= 0.999 (quantized weights) and in length.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "base/file.h"
#include "base/mem.h"
#include "knowledge/embed.h"

TEST(embed_decoder_qwen3_matches_reference)
{
    hearth_error err;
    emb_model *e;
    emb_params p = emb_default_params();
    p.n_threads = 1;
    REQUIRE(emb_open(&e, TESTDATA "/models/tiny-qwen3-embed-q8_0.gguf", &p, &err) == HEARTH_OK);
    char *text = NULL;
    cJSON *j = NULL;
    REQUIRE(file_read_all(TESTDATA "/reference/tiny-qwen3-embed-q8_0.embed.json", 1 << 20,
                          &text, NULL, &err) == HEARTH_OK);
    j = cJSON_Parse(text);
    REQUIRE(j);
    int D = emb_dim(e), n_cases = 0;
    CHECK_EQ(D, 32);
    float *v = mem_calloc((size_t)D, sizeof(float));
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(j, "cases")) {
        const char *prompt = cJSON_GetObjectItem(cs, "prompt")->valuestring;
        const cJSON *ref = cJSON_GetObjectItem(cs, "embedding");
        REQUIRE(cJSON_GetArraySize(ref) == D);
        CHECK(emb_encode_raw(e, 1, &prompt, NULL, EMB_DOCUMENT, v, &err) == HEARTH_OK);
        double dot = 0, na = 0, nb = 0;
        for (int d = 0; d < D; d++) {
            double r = cJSON_GetArrayItem(ref, d)->valuedouble;
            dot += v[d] * r;
            na += (double)v[d] * v[d];
            nb += r * r;
        }
        double cos = dot / sqrt(na * nb);
        if (!(cos >= 0.999))
            test_fail(__FILE__, __LINE__, "case %d: cosine %.6f", n_cases, cos);
        CHECK_NEAR(sqrt(na / nb), 1.0, 0.01);
        n_cases++;
    }
    CHECK(n_cases >= 4);
    /* the normalised form has unit length */
    const char *t = "unit length";
    CHECK(emb_encode(e, 1, &t, NULL, EMB_QUERY, v, &err) == HEARTH_OK);
    double ss = 0;
    for (int d = 0; d < D; d++)
        ss += (double)v[d] * v[d];
    CHECK_NEAR(ss, 1.0, 1e-5);
    mem_free(v);
    cJSON_Delete(j);
    mem_free(text);
    emb_free(e);
}

TEST(embed_decoder_refuses_plain_lm)
{
    hearth_error err;
    emb_model *e;
    emb_params p = emb_default_params();
    CHECK(emb_open(&e, TESTDATA "/models/tiny-llama-spm-q8_0.gguf", &p, &err) ==
          HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "not an embedding model");
    CHECK_CONTAINS(err.msg, "tiny-llama-spm-q8_0.gguf");
}
