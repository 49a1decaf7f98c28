/*
 * Tests for the public API in include/hearth.h, using nothing but that header (and cJSON to
 * read llama.cpp's reference continuation).
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "hearth.h"

typedef struct collect {
    char text[4096];
    size_t n;
    int calls, stop_after;
} collect;

static bool collect_text(void *user, const char *text, size_t len)
{
    collect *c = user;
    if (c->n + len < sizeof c->text) {
        memcpy(c->text + c->n, text, len);
        c->n += len;
        c->text[c->n] = '\0';
    }
    return ++c->calls != c->stop_after;
}

/* llama.cpp's greedy continuation of `prompt` up to its first near-tie (gap < 0.1). */
static int reference_text(const char *prompt, char *out, size_t cap)
{
    FILE *fp = fopen(TESTDATA "/reference/tiny-llama-spm-f16.json", "rb");
    if (!fp)
        return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    int steps = 0;
    size_t o = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(j, "cases")) {
        if (strcmp(cJSON_GetObjectItem(cs, "prompt")->valuestring, prompt) != 0)
            continue;
        const cJSON *st;
        cJSON_ArrayForEach(st, cJSON_GetObjectItem(cs, "greedy")) {
            const cJSON *top5 = cJSON_GetObjectItem(st, "top5");
            double gap = cJSON_GetArrayItem(cJSON_GetArrayItem(top5, 0), 1)->valuedouble -
                         cJSON_GetArrayItem(cJSON_GetArrayItem(top5, 1), 1)->valuedouble;
            if (gap < 0.1)
                break;
            const char *hex = cJSON_GetObjectItem(st, "piece_hex")->valuestring;
            for (size_t i = 0; hex[i] && hex[i + 1] && o + 1 < cap; i += 2) {
                char b[3] = { hex[i], hex[i + 1], 0 };
                out[o++] = (char)strtol(b, NULL, 16);
            }
            steps++;
        }
    }
    out[o] = '\0';
    cJSON_Delete(j);
    return steps;
}

TEST(api_generate_matches_llamacpp)
{
    hearth_error err;
    hearth_model *m;
    hearth_session *s;
    REQUIRE(hearth_model_load(&m, TESTDATA "/models/tiny-llama-spm-f16.gguf",
                              hearth_model_default_params(), &err) == HEARTH_OK);
    hearth_session_params sp = hearth_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = 1;
    REQUIRE(hearth_session_new(&s, m, sp, &err) == HEARTH_OK);
    const char *prompt = "The quick brown fox jumps over the lazy dog.";
    char want[2048];
    int steps = reference_text(prompt, want, sizeof want);
    CHECK(steps > 0);
    hearth_generate_params gp = hearth_generate_default_params();
    gp.temperature = 0;
    gp.n_predict = steps;
    collect c = { 0 };
    CHECK(hearth_generate(s, prompt, &gp, collect_text, &c, &err) == HEARTH_OK);
    CHECK_STR(c.text, want);
    /* a callback that says stop ends the answer after that piece */
    collect c2 = { .stop_after = 1 };
    gp.n_predict = 10;
    CHECK(hearth_generate(s, prompt, &gp, collect_text, &c2, &err) == HEARTH_OK);
    CHECK_EQ(c2.calls, 1);
    hearth_session_free(s);
    hearth_model_free(m);
}

TEST(api_chat_and_errors)
{
    hearth_error err;
    hearth_model *m;
    hearth_session *s;
    REQUIRE(hearth_model_load(&m, TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf",
                              hearth_model_default_params(), &err) == HEARTH_OK);
    REQUIRE(hearth_session_new(&s, m, hearth_session_default_params(), &err) == HEARTH_OK);
    hearth_message msgs[] = { { "system", "Be brief." }, { "user", "Hello" } };
    hearth_generate_params gp = hearth_generate_default_params();
    gp.n_predict = 5;
    gp.seed = 7;
    collect c = { 0 };
    CHECK(hearth_chat(s, msgs, 2, &gp, collect_text, &c, &err) == HEARTH_OK);
    CHECK(c.n > 0);
    CHECK(hearth_chat(s, msgs, 0, &gp, collect_text, &c, &err) == HEARTH_ERR_INVALID);
    hearth_session_free(s);
    hearth_model_free(m);

    CHECK(hearth_model_load(&m, "/nonexistent/model.gguf", hearth_model_default_params(),
                            &err) == HEARTH_ERR_IO);
    CHECK_CONTAINS(err.msg, "/nonexistent/model.gguf");
    CHECK(hearth_model_load(&m, TESTDATA "/models/tiny-bert-q8_0.gguf",
                            hearth_model_default_params(), &err) == HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "bert");
    hearth_model_free(NULL);
    hearth_session_free(NULL);
}
