/*
 * test_server_media.c — the embedding and speech endpoints of `hearth serve` (in-process,
 * ephemeral 127.0.0.1 port, driven with libcurl) and the multipart/form-data parser.
 *
 * Embeddings are checked against llama.cpp's pooled vectors for the tiny bert fixture
 * (../shared/testdata/reference/tiny-bert-q8_0.embed.json), token counts against its
 * prompt_ids. Transcripts are checked against the transcription service called directly
 * with the same settings (the service itself is checked against whisper.cpp in
 * test_transcribe.c); the request bodies are built by libcurl's own MIME encoder, and
 * by the official openai npm client (tests/js/openai_media.mjs; skipped with a note when
 * node or tests/js/node_modules is missing).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "server/multipart.h"
#include "server/server_int.h"
#include "test.h"
#include "transcribe/transcribe.h"

#define BERT TESTDATA "/models/tiny-bert-q8_0.gguf"
#define BERT_REF TESTDATA "/reference/tiny-bert-q8_0.embed.json"
#define WHISPER TESTDATA "/whisper/micro-en-f16.bin"
#define HELLO TESTDATA "/whisper/hello16k.wav"
#define SILENCE TESTDATA "/whisper/silence2s.wav"

/* ---- multipart parser ---------------------------------------------------------------- */

static hearth_status parse(const char *ct, const char *body, size_t len, mp_part *parts, int *n)
{
    hearth_error err;
    return mp_parse(ct, body, len, parts, 4, n, &err);
}

TEST(multipart_parses_form_data)
{
    static const char body[] =
        "preamble\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
        "whisper-1\r\n--XyZ\r\n"
        "content-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\n"
        "RI\0F\r\n--Xy\r\n-\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=empty\r\n\r\n"
        "\r\n--XyZ--\r\nepilogue";
    mp_part parts[4];
    int n;
    REQUIRE(parse("multipart/form-data; boundary=\"XyZ\"", body, sizeof body - 1, parts, &n) ==
            HEARTH_OK);
    REQUIRE(n == 3);
    CHECK_STR(parts[0].name, "model");
    CHECK_EQ(parts[0].len, 9);
    CHECK(memcmp(parts[0].data, "whisper-1", 9) == 0);
    CHECK_STR(parts[1].name, "file");
    CHECK_STR(parts[1].filename, "a \"b\".wav");
    CHECK_STR(parts[1].type, "audio/wav");
    CHECK_EQ(parts[1].len, 13);
    CHECK(memcmp(parts[1].data, "RI\0F\r\n--Xy\r\n-", 13) == 0);
    CHECK_STR(parts[2].name, "empty");
    CHECK_EQ(parts[2].len, 0);
    CHECK(mp_find(parts, n, "file") == &parts[1]);
    CHECK(mp_find(parts, n, "nope") == NULL);
}

TEST(multipart_refuses_malformed_bodies)
{
    static const char *const ok_ct = "multipart/form-data; boundary=B";
    static const struct { const char *ct, *body; } bad[] = {
        { "application/json", "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--B--" },
        { "multipart/form-data", "--B--" },                     /* no boundary */
        { "multipart/form-data; boundary=", "--B--" },
        { "multipart/form-data; boundary=\"B", "--B--" },       /* unterminated quote */
        { "multipart/form-data; boundary=12345678901234567890123456789012345678901234567890"
          "12345678901234567890123", "--B--" },                 /* longer than 70 */
        { "multipart/form-datax; boundary=B", "--B--" },
        { NULL, "" },
        { NULL, "no boundary at all" },
        { NULL, "--B" },                                        /* truncated */
        { NULL, "--Bjunk\r\n" },
        { NULL, "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx" },  /* no end */
        { NULL, "--B\r\nContent-Disposition: form-data; name=a\r\nx" },      /* headers */
        { NULL, "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--" },       /* no name */
        { NULL, "--B\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--B--" },
        { NULL, "--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--B--" },
        { NULL, "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--B\r\n"
                "Content-Disposition: form-data; name=b\r\n\r\ny\r\n--B\r\n"
                "Content-Disposition: form-data; name=c\r\n\r\ny\r\n--B\r\n"
                "Content-Disposition: form-data; name=d\r\n\r\ny\r\n--B\r\n"
                "Content-Disposition: form-data; name=e\r\n\r\ny\r\n--B--" }, /* > 4 parts */
    };
    mp_part parts[4];
    int n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *ct = bad[i].ct ? bad[i].ct : ok_ct;
        if (parse(ct, bad[i].body, strlen(bad[i].body), parts, &n) != HEARTH_ERR_INVALID)
            test_fail(__FILE__, __LINE__, "case %zu was accepted", i);
    }
    /* a name longer than its field, and headers past the limit */
    char *big = mem_alloc(MP_MAX_HEADER + 200);
    REQUIRE(big);
    int k = snprintf(big, 200, "--B\r\nContent-Disposition: form-data; name=\"");
    memset(big + k, 'a', 300);
    strcpy(big + k + 300, "\"\r\n\r\nx\r\n--B--");
    CHECK(parse(ok_ct, big, strlen(big), parts, &n) == HEARTH_ERR_INVALID);
    k = snprintf(big, 200, "--B\r\nX-Pad: ");
    memset(big + k, 'p', MP_MAX_HEADER);
    strcpy(big + k + MP_MAX_HEADER, "\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--B--");
    CHECK(parse(ok_ct, big, strlen(big), parts, &n) == HEARTH_ERR_INVALID);
    mem_free(big);
    /* every prefix of a good body is refused or yields whole parts only, never a crash */
    static const char good[] = "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nxy\r\n--B--";
    for (size_t len = 0; len < sizeof good - 1; len++) {
        char *copy = mem_alloc(len + 1); /* exactly len bytes readable: ASan sees overreads */
        REQUIRE(copy);
        memcpy(copy, good, len);
        if (parse(ok_ct, copy, len, parts, &n) == HEARTH_OK)
            CHECK(n == 1 && parts[0].len == 2);
        mem_free(copy);
    }
}

/* ---- the server ---------------------------------------------------------------------- */

typedef struct buf {
    char *s;
    size_t n;
    char type[128];
} buf;

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    buf *b = user;
    size_t k = size * nmemb;
    char *ns = realloc(b->s, b->n + k + 1);
    if (!ns)
        return 0;
    memcpy(ns + b->n, p, k);
    b->s = ns;
    b->n += k;
    b->s[b->n] = '\0';
    return k;
}

static long perform(CURL *c, int port, const char *path, buf *b)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    char *ct = NULL;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(b->type, sizeof b->type, "%s", ct ? ct : "");
    }
    return status;
}

static long post_json(int port, const char *path, const char *body, buf *b)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long st = perform(c, port, path, b);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return st;
}

/* A form: the file (NULL: none; raw/raw_len: bytes instead of a file) and NULL-ended
 * name, value pairs. */
static long post_form(int port, const char *path, const char *file, const char *raw,
                      size_t raw_len, const char *const *fields, buf *b)
{
    CURL *c = curl_easy_init();
    curl_mime *m = curl_mime_init(c);
    if (file || raw) {
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, "file");
        if (file)
            curl_mime_filedata(p, file);
        else {
            curl_mime_data(p, raw, raw_len);
            curl_mime_filename(p, "x.wav");
        }
    }
    for (int i = 0; fields && fields[i]; i += 2) {
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, fields[i]);
        curl_mime_data(p, fields[i + 1], CURL_ZERO_TERMINATED);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
    long st = perform(c, port, path, b);
    curl_mime_free(m);
    curl_easy_cleanup(c);
    return st;
}

static srv *start_media(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv_config c = srv_default_config();
    c.port = 0;
    c.embed_file = BERT;
    c.whisper_file = WHISPER;
    c.batch.ctx.n_threads = 2;
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        fprintf(stderr, "srv_start: %s\n", err.msg);
        return NULL;
    }
    return s;
}

/* The reference's first two cases: unit vectors and token counts. */
static int load_reference(float ref[2][64], int ntok[2], char prompts[2][128])
{
    char *text = NULL;
    size_t len;
    hearth_error err;
    if (file_read_all(BERT_REF, 1 << 24, &text, &len, &err) != HEARTH_OK)
        return 0;
    cJSON *j = cJSON_Parse(text);
    mem_free(text);
    int dim = 0;
    for (int i = 0; i < 2; i++) {
        cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "cases"), i);
        cJSON *e = cJSON_GetObjectItem(cs, "embedding");
        dim = cJSON_GetArraySize(e);
        if (dim > 64)
            return 0;
        double ss = 0;
        for (int d = 0; d < dim; d++) {
            ref[i][d] = (float)cJSON_GetArrayItem(e, d)->valuedouble;
            ss += (double)ref[i][d] * ref[i][d];
        }
        for (int d = 0; d < dim; d++)
            ref[i][d] /= (float)sqrt(ss);
        ntok[i] = cJSON_GetArraySize(cJSON_GetObjectItem(cs, "prompt_ids"));
        snprintf(prompts[i], 128, "%s", cJSON_GetObjectItem(cs, "prompt")->valuestring);
    }
    cJSON_Delete(j);
    return dim;
}

static double cosine(const cJSON *arr, const float *ref, int dim, double *norm)
{
    double dot = 0, ss = 0;
    if (cJSON_GetArraySize(arr) != dim)
        return -2;
    for (int d = 0; d < dim; d++) {
        double v = cJSON_GetArrayItem(arr, d)->valuedouble;
        dot += v * ref[d];
        ss += v * v;
    }
    *norm = sqrt(ss);
    return dot / sqrt(ss);
}

static int b64val(char c)
{
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(abc, c) : NULL;
    return p ? (int)(p - abc) : -1;
}

TEST(server_embeddings_openai_and_ollama)
{
    float ref[2][64];
    int ntok[2];
    char prompts[2][128];
    int dim = load_reference(ref, ntok, prompts);
    REQUIRE(dim > 0);
    srv *s = start_media();
    REQUIRE(s);
    int port = srv_port(s);
    char body[1024];
    buf b = { 0 };
    double norm;

    snprintf(body, sizeof body, "{\"model\":\"tiny-bert-q8_0\",\"input\":[\"%s\",\"%s\"]}",
             prompts[0], prompts[1]);
    CHECK_EQ(post_json(port, "/v1/embeddings", body, &b), 200);
    cJSON *j = cJSON_Parse(b.s);
    cJSON *data = cJSON_GetObjectItem(j, "data");
    REQUIRE(cJSON_GetArraySize(data) == 2);
    for (int i = 0; i < 2; i++) {
        cJSON *e = cJSON_GetArrayItem(data, i);
        CHECK_EQ(cJSON_GetObjectItem(e, "index")->valueint, i);
        CHECK(cosine(cJSON_GetObjectItem(e, "embedding"), ref[i], dim, &norm) >= 0.999);
        CHECK_NEAR(norm, 1.0, 1e-4);
    }
    CHECK_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "prompt_tokens")->valueint,
             ntok[0] + ntok[1]);
    CHECK_STR(cJSON_GetObjectItem(j, "object")->valuestring, "list");
    /* base64 float32 of the first 8 values, back at unit length */
    float full[64], cut8[8];
    cJSON *e0 = cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "embedding");
    for (int d = 0; d < dim; d++)
        full[d] = (float)cJSON_GetArrayItem(e0, d)->valuedouble;
    cJSON_Delete(j);
    free(b.s);
    b = (buf){ 0 };
    snprintf(body, sizeof body, "{\"input\":\"%s\",\"encoding_format\":\"base64\","
             "\"dimensions\":8}", prompts[0]);
    CHECK_EQ(post_json(port, "/v1/embeddings", body, &b), 200);
    j = cJSON_Parse(b.s);
    cJSON *s64 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0),
                                     "embedding");
    REQUIRE(cJSON_IsString(s64) && strlen(s64->valuestring) == 44);
    unsigned char raw[33];
    const char *t = s64->valuestring;
    for (int i = 0, o = 0; i < 44; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = t[i + k] == '=' ? 0 : b64val(t[i + k]);
        REQUIRE(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0);
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        raw[o++] = (unsigned char)(w >> 16);
        raw[o++] = (unsigned char)(w >> 8);
        raw[o++] = (unsigned char)w;
    }
    double ss = 0;
    for (int d = 0; d < 8; d++)
        ss += (double)full[d] * full[d];
    for (int d = 0; d < 8; d++) {
        uint32_t u = raw[4 * d] | raw[4 * d + 1] << 8 | raw[4 * d + 2] << 16 |
                     (uint32_t)raw[4 * d + 3] << 24;
        memcpy(&cut8[d], &u, 4);
        CHECK_NEAR(cut8[d], full[d] / sqrt(ss), 1e-5);
    }
    cJSON_Delete(j);
    free(b.s);
    b = (buf){ 0 };

    /* Ollama: /api/embed unit vectors, /api/embeddings as pooled (reference unnormalised) */
    snprintf(body, sizeof body, "{\"model\":\"tiny-bert-q8_0:latest\",\"input\":\"%s\"}",
             prompts[1]);
    CHECK_EQ(post_json(port, "/api/embed", body, &b), 200);
    j = cJSON_Parse(b.s);
    cJSON *emb = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "embeddings"), 0);
    CHECK(cosine(emb, ref[1], dim, &norm) >= 0.999);
    CHECK_NEAR(norm, 1.0, 1e-4);
    CHECK_EQ(cJSON_GetObjectItem(j, "prompt_eval_count")->valueint, ntok[1]);
    cJSON_Delete(j);
    free(b.s);
    b = (buf){ 0 };
    snprintf(body, sizeof body, "{\"prompt\":\"%s\"}", prompts[1]);
    CHECK_EQ(post_json(port, "/api/embeddings", body, &b), 200);
    j = cJSON_Parse(b.s);
    CHECK(cosine(cJSON_GetObjectItem(j, "embedding"), ref[1], dim, &norm) >= 0.999);
    CHECK(norm > 1.5); /* the reference's pooled vectors are far from unit length */
    cJSON_Delete(j);
    free(b.s);

    static const struct { const char *path, *body; long status; } bad[] = {
        { "/v1/embeddings", "{\"model\":\"nope\",\"input\":\"x\"}", 404 },
        { "/v1/embeddings", "{\"model\":\"../models/tiny-bert-q8_0\",\"input\":\"x\"}", 404 },
        { "/v1/embeddings", "{\"input\":[1,2,3]}", 400 },
        { "/v1/embeddings", "{\"input\":[]}", 400 },
        { "/v1/embeddings", "{\"input\":5}", 400 },
        { "/v1/embeddings", "{\"input\":\"x\",\"dimensions\":100000}", 400 },
        { "/v1/embeddings", "{\"input\":\"x\",\"dimensions\":-3}", 400 },
        { "/v1/embeddings", "{\"input\":\"x\",\"encoding_format\":\"hex\"}", 400 },
        { "/v1/embeddings", "{\"input\":\"x\",\"model\":7}", 400 },
        { "/v1/embeddings", "[1]", 400 },
        { "/api/embed", "{\"input\":\"x\",\"truncate\":\"no\"}", 400 },
        { "/api/embeddings", "{\"prompt\":[\"x\"]}", 400 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = (buf){ 0 };
        long st = post_json(port, bad[i].path, bad[i].body, &b);
        if (st != bad[i].status)
            test_fail(__FILE__, __LINE__, "%s %s: %ld (%s)", bad[i].path, bad[i].body, st, b.s);
        CHECK_CONTAINS(b.s, "error");
        free(b.s);
    }
    /* a text over the context: cut by default, refused with truncate: false */
    size_t n_long = 20000;
    char *lb = mem_alloc(n_long + 64);
    REQUIRE(lb);
    strcpy(lb, "{\"input\":\"");
    size_t o = strlen(lb);
    for (size_t i = 0; i < 2000; i++, o += 5)
        memcpy(lb + o, "word ", 5);
    strcpy(lb + o, "\",\"truncate\":false}");
    b = (buf){ 0 };
    CHECK_EQ(post_json(port, "/api/embed", lb, &b), 400);
    free(b.s);
    strcpy(lb + o, "\"}"); /* without the flag the text is cut to the context */
    b = (buf){ 0 };
    CHECK_EQ(post_json(port, "/api/embed", lb, &b), 200);
    free(b.s);
    mem_free(lb);
    srv_stop(s);
}

/* The service's transcript of path, with the settings the requests below ask for, in two
 * formats. */
static bool direct(const char *path, const char *f1, char **o1, const char *f2, char **o2)
{
    wsp_model *m;
    hearth_error err;
    *o1 = *o2 = NULL;
    if (wsp_load(&m, WHISPER, &err) != HEARTH_OK)
        return false;
    tr_params p = tr_params_default();
    p.beam_size = 1;
    p.temperature_fallback = 0;
    p.n_threads = 2;
    tr_result r;
    if (tr_transcribe_file(m, path, &p, &r, &err) == HEARTH_OK) {
        tr_render(&r, f1, o1, &err);
        tr_render(&r, f2, o2, &err);
        tr_result_free(&r);
    }
    wsp_free(m);
    return *o1 && *o2;
}

TEST(server_audio_transcriptions)
{
    srv *s = start_media();
    REQUIRE(s);
    int port = srv_port(s);
    char *want, *want_srt;
    REQUIRE(direct(HELLO, "verbose_json", &want, "srt", &want_srt));
    cJSON *wj = cJSON_Parse(want);
    const char *want_text = cJSON_GetObjectItem(wj, "text")->valuestring;
    REQUIRE(strlen(want_text) > 10);

    static const char *const f_json[] = { "model", "whisper-1", "beam_size", "1",
                                          "temperature_inc", "0", "language", "en", NULL };
    buf b = { 0 };
    CHECK_EQ(post_form(port, "/v1/audio/transcriptions", HELLO, NULL, 0, f_json, &b), 200);
    CHECK_CONTAINS(b.type, "application/json");
    cJSON *j = cJSON_Parse(b.s);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")), want_text);
    CHECK(cJSON_GetArraySize(j) == 1);
    cJSON_Delete(j);
    free(b.s);

    static const char *const f_srt[] = { "beam_size", "1", "temperature_inc", "0",
                                         "response_format", "srt", NULL };
    b = (buf){ 0 };
    CHECK_EQ(post_form(port, "/v1/audio/transcriptions", HELLO, NULL, 0, f_srt, &b), 200);
    CHECK_CONTAINS(b.type, "text/plain");
    CHECK_STR(b.s, want_srt);
    CHECK(b.s && strncmp(b.s, "1\n00:00:0", 9) == 0 && strstr(b.s, " --> "));
    free(b.s);
    mem_free(want_srt);

    /* silence through the translation route: no text, in each format */
    static const char *const f_vtt[] = { "response_format", "vtt", NULL };
    static const char *const f_text[] = { "response_format", "text", NULL };
    b = (buf){ 0 };
    CHECK_EQ(post_form(port, "/v1/audio/translations", SILENCE, NULL, 0, f_vtt, &b), 200);
    CHECK(b.s && strncmp(b.s, "WEBVTT", 6) == 0 && !strstr(b.s, "-->"));
    free(b.s);
    b = (buf){ 0 };
    CHECK_EQ(post_form(port, "/v1/audio/translations", SILENCE, NULL, 0, f_text, &b), 200);
    CHECK(!b.s || strspn(b.s, " \n") == strlen(b.s));
    free(b.s);
    static const char *const f_vj[] = { "model", "micro-en-f16", "response_format",
                                        "verbose_json", "temperature", "0", NULL };
    b = (buf){ 0 };
    CHECK_EQ(post_form(port, "/v1/audio/translations", SILENCE, NULL, 0, f_vj, &b), 200);
    j = cJSON_Parse(b.s);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")), "");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "language")), "en");
    CHECK_NEAR(cJSON_GetObjectItem(j, "duration")->valuedouble, 2.0, 0.02);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(j, "segments")));
    cJSON_Delete(j);
    free(b.s);

    static const char *const f_unknown[] = { "model", "nope", NULL };
    static const char *const f_path[] = { "model", "../whisper/micro-en-f16", NULL };
    static const char *const f_fmt[] = { "response_format", "xml", NULL };
    static const char *const f_temp[] = { "temperature", "7", NULL };
    static const char *const f_beam[] = { "beam_size", "2.5", NULL };
    static const char *const f_lang[] = { "language", "e/n", NULL };
    static const struct { const char *file, *raw; const char *const *fields; long status; } bad[] = {
        { NULL, NULL, f_text, 400 },                 /* no file */
        { HELLO, NULL, f_unknown, 404 },
        { HELLO, NULL, f_path, 404 },
        { HELLO, NULL, f_fmt, 400 },
        { HELLO, NULL, f_temp, 400 },
        { HELLO, NULL, f_beam, 400 },
        { HELLO, NULL, f_lang, 400 },
        { NULL, "RIFF\x10\0\0\0WAVEjunkjunk", NULL, 400 }, /* a corrupt header */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = (buf){ 0 };
        long st = post_form(port, "/v1/audio/transcriptions", bad[i].file, bad[i].raw,
                            bad[i].raw ? 20 : 0, bad[i].fields, &b);
        if (st != bad[i].status)
            test_fail(__FILE__, __LINE__, "case %zu: %ld (%s)", i, st, b.s);
        CHECK_CONTAINS(b.s, "\"error\"");
        free(b.s);
    }
    b = (buf){ 0 };
    CHECK_EQ(post_json(port, "/v1/audio/transcriptions", "{\"file\":\"x\"}", &b), 400);
    CHECK_CONTAINS(b.s, "multipart/form-data");
    free(b.s);
    cJSON_Delete(wj);
    mem_free(want);
    srv_stop(s);
}

static size_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (size_t)sb.st_size : 0;
}

static long get(int port, const char *path, buf *b)
{
    CURL *c = curl_easy_init();
    long st = perform(c, port, path, b);
    curl_easy_cleanup(c);
    return st;
}

/* --max-memory counts speech and embedding models with the chat models: with room for
 * any two of the three files but not all of them, loading the third unloads the idle chat
 * model, and the chat model then no longer fits beside the two that stay loaded. */
TEST(server_memory_budget_counts_speech_and_embedding_models)
{
    static const char *const chat = TESTDATA "/models/tiny-llama-spm-q8_0.gguf";
    const size_t chat_b = file_size(chat), bert_b = file_size(BERT), wsp_b = file_size(WHISPER);
    REQUIRE(chat_b && bert_b && wsp_b);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv_config c = srv_default_config();
    c.port = 0;
    c.model_file = chat;
    c.embed_file = BERT;
    c.whisper_file = WHISPER;
    c.mem_budget = chat_b + bert_b + wsp_b - 1;
    c.batch.ctx.n_threads = 2;
    c.batch.ctx.n_ctx = 128;
    srv *s;
    hearth_error err;
    REQUIRE(srv_start(&s, &c, &err) == HEARTH_OK);
    const int port = srv_port(s);
    static const char *const completion = "{\"prompt\":\"Hi\",\"max_tokens\":1}";
    static const char *const f_wsp[] = { "beam_size", "1", "temperature_inc", "0", NULL };
    buf b = { 0 };
    CHECK_EQ(post_json(port, "/v1/completions", completion, &b), 200);
    free(b.s), b = (buf){ 0 };
    CHECK_EQ(post_json(port, "/v1/embeddings", "{\"input\":\"hello\"}", &b), 200);
    free(b.s), b = (buf){ 0 };
    CHECK_EQ(get(port, "/api/ps", &b), 200);
    CHECK_CONTAINS(b.s, "tiny-llama-spm-q8_0");
    free(b.s), b = (buf){ 0 };
    CHECK_EQ(post_form(port, "/v1/audio/transcriptions", SILENCE, NULL, 0, f_wsp, &b), 200);
    free(b.s), b = (buf){ 0 };
    CHECK_EQ(get(port, "/api/ps", &b), 200);
    CHECK(b.s && !strstr(b.s, "tiny-llama-spm-q8_0"));
    free(b.s), b = (buf){ 0 };
    CHECK_EQ(post_json(port, "/v1/completions", completion, &b), 503);
    CHECK_CONTAINS(b.s, "memory budget");
    free(b.s);
    srv_stop(s);

    /* a speech model larger than the whole budget is refused, naming the budget */
    c = srv_default_config();
    c.port = 0;
    c.whisper_file = WHISPER;
    c.mem_budget = wsp_b - 1;
    REQUIRE(srv_start(&s, &c, &err) == HEARTH_OK);
    b = (buf){ 0 };
    CHECK_EQ(post_form(srv_port(s), "/v1/audio/transcriptions", SILENCE, NULL, 0, f_wsp, &b),
             503);
    CHECK_CONTAINS(b.s, "'micro-en-f16.bin'");
    CHECK_CONTAINS(b.s, "larger than the memory budget");
    CHECK(!strstr(b.s, "testdata")); /* no server path in the answer */
    free(b.s);
    srv_stop(s);
}

TEST(server_media_openai_npm_client)
{
    char out[1 << 16];
    if (test_run("node --version", out, sizeof out) != 0 ||
        access("tests/js/node_modules/openai/package.json", R_OK) != 0) {
        printf("  SKIP: node or tests/js/node_modules missing (cd tests/js && npm ci)\n");
        return;
    }
    float ref[2][64];
    int ntok[2];
    char prompts[2][128];
    int dim = load_reference(ref, ntok, prompts);
    REQUIRE(dim > 0 && strcmp(prompts[0], "The cat sat on the mat.") == 0);
    char *want, *want_txt;
    REQUIRE(direct(HELLO, "json", &want, "txt", &want_txt));
    cJSON *wj = cJSON_Parse(want);
    srv *s = start_media();
    REQUIRE(s);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "node tests/js/openai_media.mjs %d " HELLO, srv_port(s));
    int rc = test_run(cmd, out, sizeof out);
    srv_stop(s);
    const char *line = strstr(out, "{\"embedding_b64\"");
    cJSON *j = rc == 0 && line ? cJSON_Parse(line) : NULL;
    if (!j)
        test_fail(__FILE__, __LINE__, "openai_media.mjs exited with %d: %.3000s", rc, out);
    double norm;
    if (j) { /* the first text is the reference's first sentence */
        cJSON *b64 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "embedding_b64"), 0);
        cJSON *fl = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "embedding_float"), 0);
        CHECK(cosine(b64, ref[0], dim, &norm) >= 0.999);
        CHECK(cosine(fl, ref[0], dim, &norm) >= 0.999);
        for (int d = 0; d < dim && cJSON_GetArraySize(b64) == dim; d++)
            CHECK_NEAR(cJSON_GetArrayItem(b64, d)->valuedouble,
                       cJSON_GetArrayItem(fl, d)->valuedouble, 1e-6);
    }
    if (j) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "transcript")),
                  cJSON_GetStringValue(cJSON_GetObjectItem(wj, "text")));
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "transcript_text")), want_txt);
    }
    cJSON_Delete(j);
    cJSON_Delete(wj);
    mem_free(want);
    mem_free(want_txt);
}
