/*
 * test_server.c — `hearth serve` in-process on an ephemeral 127.0.0.1 port, driven with
 * libcurl: secure defaults, the OpenAI and Ollama routes, streaming chunk by chunk,
 * parallel requests, a full queue and a client that hangs up.
 *
 * Expected texts come from gen_run (the single-sequence generation service), not from
 * the server: greedy answers over HTTP, alone or in parallel, must equal it.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/mem.h"
#include "server/auth.h"
#include "server/server_int.h"
#include "test.h"

#define SMODEL TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf"
#define SMODEL_NAME "tiny-qwen2-bpe-q8_0"

typedef struct resp {
    long status;
    char body[1 << 16];
    size_t n;
    int writes;        /* write callbacks: pieces as they arrived */
    int abort_after;   /* > 0: hang up after this many pieces ... */
    atomic_bool *hangup; /* ... once this is set (NULL: at once) */
    char retry_after[16];
    char allow_origin[128]; /* Access-Control-Allow-Origin */
    char tail[32];          /* the last bytes received, even past the body's capacity */
} resp;

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    resp *r = user;
    size_t k = size * nmemb;
    size_t room = sizeof r->body - 1 - r->n;
    memcpy(r->body + r->n, p, k < room ? k : room);
    r->n += k < room ? k : room;
    r->body[r->n] = '\0';
    r->writes++;
    size_t t = strlen(r->tail), keep = k >= sizeof r->tail - 1 ? 0 : sizeof r->tail - 1 - k;
    if (t > keep) {
        memmove(r->tail, r->tail + t - keep, keep);
        t = keep;
    }
    size_t add = k < sizeof r->tail - 1 ? k : sizeof r->tail - 1;
    memcpy(r->tail + t, p + k - add, add);
    r->tail[t + add] = '\0';
    bool go = !r->hangup || atomic_load(r->hangup);
    return r->abort_after > 0 && r->writes >= r->abort_after && go ? 0 : k;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *user)
{
    resp *r = user;
    size_t k = size * nmemb;
    if (k > 13 && strncasecmp(p, "Retry-After: ", 13) == 0)
        snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(k - 13 - 2), p + 13);
    if (k > 29 && strncasecmp(p, "Access-Control-Allow-Origin: ", 29) == 0)
        snprintf(r->allow_origin, sizeof r->allow_origin, "%.*s", (int)(k - 29 - 2), p + 29);
    return k;
}

static void curl_global_init_default(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One request; body NULL: GET. headers: NULL-ended "Name: value" lines. */
static long http(int port, const char *path, const char *body, const char *const *headers,
                 resp *r)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, (void (*)(void))curl_global_init_default);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r->status;
}


static srv *start(int parallel, int queue, int n_ctx, const char *key)
{
    srv_config c = srv_default_config();
    c.port = 0;
    c.model_file = SMODEL;
    c.api_key = key;
    c.batch.n_parallel = parallel;
    c.batch.n_queue = queue;
    c.batch.ctx.n_ctx = n_ctx;
    c.batch.ctx.n_threads = 1;
    c.max_body = 64 * 1024;
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        fprintf(stderr, "srv_start: %s\n", err.msg);
        return NULL;
    }
    return s;
}

/* The reference: gen_run, greedy, n tokens, on a raw prompt (as `hearth run --temp 0`). */
static void reference(const char *prompt, int n, char *out, size_t cap);

typedef struct refbuf {
    char *s;
    size_t n, cap;
} refbuf;

static bool ref_cb(void *user, const gen_token *t, const char *text, size_t len)
{
    (void)t;
    refbuf *b = user;
    if (b->n + len < b->cap) {
        memcpy(b->s + b->n, text, len);
        b->n += len;
        b->s[b->n] = '\0';
    }
    return true;
}

static void reference(const char *prompt, int n, char *out, size_t cap)
{
    gen_model *m;
    hearth_error err;
    out[0] = '\0';
    if (gen_model_open(&m, SMODEL, llm_model_default_params(), &err) != HEARTH_OK)
        return;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 1;
    gen_session *gs;
    tok_ids ids = { 0 };
    if (gen_session_new(&gs, m->llm, m->vocab, cp, &err) == HEARTH_OK &&
        tok_encode(m->vocab, prompt, strlen(prompt), true, false, &ids, &err) == HEARTH_OK) {
        gen_params gp = gen_default_params();
        gp.sampling.temperature = 0;
        gp.n_predict = n;
        refbuf b = { out, 0, cap };
        gen_run(gs, ids.v, ids.n, &gp, ref_cb, &b, NULL, &err);
        gen_session_free(gs);
    }
    tok_ids_free(&ids);
    gen_model_free(m);
}

/* The text of every "data: {...}" SSE event's content, checked one by one. */
static int sse_collect(const char *body, bool chat, char *text, size_t cap, bool *done,
                       int *usage_tokens, char *finish, size_t fcap)
{
    int events = 0;
    text[0] = '\0';
    *done = false;
    for (const char *p = body; (p = strstr(p, "data: ")); ) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        if (!end)
            return -1;
        if (strncmp(p, "[DONE]", 6) == 0) {
            *done = true;
            break;
        }
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(end - p));
        if (!cJSON_IsObject(j))
            return -1;
        events++;
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        cJSON *u = cJSON_GetObjectItem(j, "usage");
        if (u)
            *usage_tokens = cJSON_GetObjectItem(u, "completion_tokens")->valueint;
        if (ch) {
            cJSON *piece = chat ? cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content")
                                : cJSON_GetObjectItem(ch, "text");
            if (cJSON_IsString(piece) && strlen(text) + strlen(piece->valuestring) < cap)
                strcat(text, piece->valuestring);
            cJSON *f = cJSON_GetObjectItem(ch, "finish_reason");
            if (cJSON_IsString(f))
                snprintf(finish, fcap, "%s", f->valuestring);
        }
        cJSON_Delete(j);
        p = end;
    }
    return events;
}

static const char *json_str(cJSON *j, const char *a, const char *b)
{
    cJSON *v = cJSON_GetObjectItem(j, a);
    if (b)
        v = cJSON_GetObjectItem(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

TEST(server_auth_helpers)
{
    CHECK(auth_equal("abcdefgh", "abcdefgh"));
    CHECK(!auth_equal("abcdefgh", "abcdefgx"));
    CHECK(!auth_equal("abcdefg", "abcdefgh"));
    CHECK(!auth_equal("abcdefghi", "abcdefgh"));
    CHECK(!auth_equal("", "abcdefgh"));
    CHECK(auth_bearer_ok("Bearer abcdefgh", "abcdefgh"));
    CHECK(auth_bearer_ok("bearer  abcdefgh", "abcdefgh"));
    CHECK(!auth_bearer_ok("Basic abcdefgh", "abcdefgh"));
    CHECK(!auth_bearer_ok(NULL, "abcdefgh"));
    const char *extra[] = { "box.lan", NULL };
    CHECK(auth_host_ok("localhost", NULL));
    CHECK(auth_host_ok("LOCALHOST:11435", NULL));
    CHECK(auth_host_ok("127.0.0.1:80", NULL));
    CHECK(auth_host_ok("127.1.2.3", NULL));
    CHECK(auth_host_ok("[::1]:11435", NULL));
    CHECK(auth_host_ok("box.lan:11435", extra));
    CHECK(!auth_host_ok("box.lan.evil.example", extra));
    CHECK(!auth_host_ok("localhost.evil.example", NULL));
    CHECK(!auth_host_ok("[::1", NULL));
    CHECK(!auth_host_ok("[::2]:80", NULL));
    CHECK(!auth_host_ok("", NULL));
    CHECK(auth_is_loopback("127.0.0.1") && auth_is_loopback("::1"));
    CHECK(!auth_is_loopback("0.0.0.0") && !auth_is_loopback("::") &&
          !auth_is_loopback("192.168.1.2"));
}

TEST(server_refuses_public_bind_without_key)
{
    srv_config c = srv_default_config();
    c.host = "0.0.0.0";
    c.port = 0;
    c.model_file = SMODEL;
    srv *s;
    hearth_error err;
    CHECK(srv_start(&s, &c, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "--api-key");
    c.host = "127.0.0.1";
    c.model_file = TESTDATA "/models/no-such-model.gguf";
    CHECK(srv_start(&s, &c, &err) != HEARTH_OK);
}

TEST(server_auth_host_size_and_routes)
{
    srv *s = start(1, 4, 256, "secret-key-123");
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    /* open routes: health and the page, no file paths */
    CHECK_EQ(http(port, "/health", NULL, NULL, r), 200);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "<html");
    CHECK(!strstr(r->body, "http://") && !strstr(r->body, "https://")); /* nothing external */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/../../etc/passwd", NULL, NULL, r), 401);
    /* the key */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, NULL, r), 401);
    CHECK_CONTAINS(r->body, "\"error\"");
    const char *wrong[] = { "Authorization: Bearer secret-key-124", NULL };
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, wrong, r), 401);
    const char *good[] = { "Authorization: Bearer secret-key-123", NULL };
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, good, r), 200);
    CHECK_CONTAINS(r->body, SMODEL_NAME);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/etc/passwd", NULL, good, r), 404);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/chat/completions", NULL, good, r), 405);
    /* DNS rebinding: a foreign Host */
    const char *foreign[] = { "Authorization: Bearer secret-key-123", "Host: evil.example:80",
                              NULL };
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, foreign, r), 403);
    const char *local[] = { "Authorization: Bearer secret-key-123", "Host: localhost:1", NULL };
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, local, r), 200);
    /* a body over the limit */
    char *big = mem_alloc(100 * 1024);
    memset(big, 'x', 100 * 1024 - 1);
    big[100 * 1024 - 1] = '\0';
    /* with Expect the answer comes before the body; without, after it */
    const char *expect[] = { "Authorization: Bearer secret-key-123", "Expect: 100-continue",
                             NULL };
    const char *no_expect[] = { "Authorization: Bearer secret-key-123", "Expect:", NULL };
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", big, expect, r), 413);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", big, no_expect, r), 413);
    CHECK_CONTAINS(r->body, "too large");
    mem_free(big);
    mem_free(r);
    srv_stop(s);
}

TEST(server_openai_matches_gen_run)
{
    char want[4096];
    reference("Once upon a time", 10, want, sizeof want);
    REQUIRE(want[0]);
    srv *s = start(2, 4, 256, NULL);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"model\":\"" SMODEL_NAME "\",\"prompt\":\"Once "
                  "upon a time\",\"max_tokens\":10,\"temperature\":0,\"unknown_field\":[1,2]}",
                  NULL, r), 200);
    cJSON *j = cJSON_Parse(r->body);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK_STR(json_str(c0, "text", NULL), want);
    CHECK_STR(json_str(c0, "finish_reason", NULL), "length");
    CHECK_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint, 10);
    CHECK_STR(json_str(j, "object", NULL), "text_completion");
    cJSON_Delete(j);

    /* streamed: every event is a whole JSON object, the pieces add up to the same text */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":10,"
                  "\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
                  NULL, r), 200);
    char text[4096], finish[32] = "";
    bool done;
    int usage = -1;
    int events = sse_collect(r->body, false, text, sizeof text, &done, &usage, finish,
                             sizeof finish);
    CHECK(events >= 3);
    CHECK(done);
    CHECK_STR(text, want);
    CHECK_EQ(usage, 10);
    CHECK_STR(finish, "length");

    /* chat, streamed and not, agree; logprobs come with top alternatives */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"Hi\"}],\"max_tokens\":6,\"temperature\":0,\"logprobs\":true,"
                  "\"top_logprobs\":3}", NULL, r), 200);
    j = cJSON_Parse(r->body);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    const char *chat_text = json_str(c0, "message", "content");
    REQUIRE(chat_text);
    char chat_copy[2048];
    snprintf(chat_copy, sizeof chat_copy, "%s", chat_text);
    CHECK_STR(json_str(c0, "message", "role"), "assistant");
    cJSON *lp = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "logprobs"), "content");
    CHECK_EQ(cJSON_GetArraySize(lp), 6);
    cJSON *first = cJSON_GetArrayItem(lp, 0);
    cJSON *top = cJSON_GetObjectItem(first, "top_logprobs");
    CHECK_EQ(cJSON_GetArraySize(top), 3);
    /* greedy: the chosen token is the most likely one, and log-probabilities are <= 0 */
    CHECK_NEAR(cJSON_GetObjectItem(first, "logprob")->valuedouble,
               cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "logprob")->valuedouble, 1e-6);
    CHECK(cJSON_GetObjectItem(first, "logprob")->valuedouble <= 0);
    cJSON_Delete(j);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":"
                  "[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"max_tokens\":6,\"temperature\":0,"
                  "\"stream\":true}", NULL, r), 200);
    events = sse_collect(r->body, true, text, sizeof text, &done, &usage, finish, sizeof finish);
    CHECK(events >= 2);
    CHECK(done);
    CHECK_STR(text, chat_copy);
    /* the counters saw all four: 10 + 10 + 6 + 6 tokens */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/metrics", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "hearth_generated_tokens_total 32\n");
    CHECK_CONTAINS(r->body, "hearth_http_requests_total{route=\"/v1/completions\",code=\"2xx\"} 2\n");
    CHECK_CONTAINS(r->body, "hearth_generations_total 4\n");
    mem_free(r);
    srv_stop(s);
}

TEST(server_openai_rejects_bad_requests)
{
    srv *s = start(1, 4, 64, NULL);
    REQUIRE(s);
    int port = srv_port(s);
    static const struct { const char *path, *body; long status; const char *msg; } cases[] = {
        { "/v1/completions", "{\"prompt\": \"Hi\"", 400, "JSON" },
        { "/v1/completions", "[1,2]", 400, "JSON object" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":-5}", 400, "max_tokens" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1e12}", 400, "max_tokens" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":\"10\"}", 400, "max_tokens" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"temperature\":-1}", 400, "temperature" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"top_logprobs\":3,\"logprobs\":99}", 400, "logprobs" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"logit_bias\":{\"99999999\":5}}", 400, "" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"logit_bias\":{\"-1\":5}}", 400, "logit_bias" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"stop\":[1]}", 400, "stop" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"n\":3}", 400, "'n'" },
        { "/v1/completions", "{\"prompt\":[-4]}", 400, "token ids" },
        { "/v1/completions", "{\"prompt\":\"Hi\",\"model\":\"nope\"}", 404, "not found" },
        { "/v1/chat/completions", "{\"messages\":\"Hi\"}", 400, "messages" },
        { "/v1/chat/completions", "{\"messages\":[{\"content\":\"Hi\"}]}", 400, "role" },
    };
    resp *r = mem_calloc(1, sizeof *r);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(r, 0, sizeof *r);
        long st = http(port, cases[i].path, cases[i].body, NULL, r);
        if (st != cases[i].status)
            test_fail(__FILE__, __LINE__, "%s: status %ld, want %ld (%s)", cases[i].body, st,
                      cases[i].status, r->body);
        CHECK_CONTAINS(r->body, "\"error\"");
        CHECK_CONTAINS(r->body, cases[i].msg);
    }
    /* a prompt longer than the context */
    char body[4096] = "{\"prompt\":\"";
    for (int i = 0; i < 200; i++)
        strcat(body, "word ");
    strcat(body, "\"}");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", body, NULL, r), 400);
    CHECK_CONTAINS(r->body, "context");
    mem_free(r);
    srv_stop(s);
}

TEST(server_ollama_routes)
{
    char want[4096];
    reference("Once upon a time", 5, want, sizeof want);
    srv *s = start(1, 4, 256, NULL);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(port, "/api/version", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"version\"");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/tags", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"name\":\"" SMODEL_NAME "\"");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/ps", NULL, NULL, r), 200);
    CHECK_STR(r->body, "{\"models\":[]}"); /* nothing loaded yet */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/show", "{\"model\":\"" SMODEL_NAME ":latest\"}", NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"general.architecture\":\"qwen2\"");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/show", "{\"model\":\"../etc/passwd\"}", NULL, r), 404);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/ps", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, SMODEL_NAME);

    /* raw generate, streamed as NDJSON: each line a JSON object, the last says done */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"model\":\"" SMODEL_NAME "\",\"prompt\":\"Once upon "
                  "a time\",\"raw\":true,\"options\":{\"temperature\":0,\"num_predict\":5}}",
                  NULL, r), 200);
    char text[4096] = "";
    int lines = 0, final = 0;
    for (char *line = strtok(r->body, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        CHECK(cJSON_IsObject(j));
        lines++;
        const char *piece = json_str(j, "response", NULL);
        if (piece)
            strncat(text, piece, sizeof text - strlen(text) - 1);
        if (cJSON_IsTrue(cJSON_GetObjectItem(j, "done"))) {
            final++;
            CHECK_EQ(cJSON_GetObjectItem(j, "eval_count")->valueint, 5);
            CHECK_STR(json_str(j, "done_reason", NULL), "length");
        }
        cJSON_Delete(j);
    }
    CHECK(lines >= 2);
    CHECK_EQ(final, 1);
    CHECK_STR(text, want);

    /* chat, not streamed; a bad option is refused */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/chat", "{\"model\":\"" SMODEL_NAME "\",\"messages\":[{\"role\":"
                  "\"user\",\"content\":\"Hi\"}],\"stream\":false,\"keep_alive\":\"10m\","
                  "\"options\":{\"temperature\":0,\"num_predict\":4,\"seed\":7,\"stop\":[\"zzz\"],"
                  "\"num_ctx\":2048}}", NULL, r), 200);
    cJSON *j = cJSON_Parse(r->body);
    CHECK_STR(json_str(j, "message", "role"), "assistant");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "done")));
    CHECK_EQ(cJSON_GetObjectItem(j, "eval_count")->valueint, 4);
    cJSON_Delete(j);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"prompt\":\"Hi\",\"options\":{\"num_predict\":-9}}",
                  NULL, r), 400);
    CHECK_CONTAINS(r->body, "num_predict");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"prompt\":\"Hi\",\"keep_alive\":\"soon\"}", NULL, r),
             400);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/chat", "{\"model\":\"other\",\"messages\":[]}", NULL, r), 404);
    /* keep_alive 0 unloads the model once idle */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"prompt\":\"\",\"keep_alive\":0}", NULL, r), 200);
    bool unloaded = false;
    for (int i = 0; i < 40 && !unloaded; i++) {
        nanosleep(&(struct timespec){ 0, 100000000L }, NULL);
        memset(r, 0, sizeof *r);
        http(port, "/api/ps", NULL, NULL, r);
        unloaded = strcmp(r->body, "{\"models\":[]}") == 0;
    }
    CHECK(unloaded);
    mem_free(r);
    srv_stop(s);
}

typedef struct client {
    int port;
    const char *body;
    resp r;
} client;

static void *client_thread(void *arg)
{
    client *c = arg;
    http(c->port, "/v1/completions", c->body, NULL, &c->r);
    return NULL;
}

/* Active generations of the (only) model. */
static void load_of(void *user, const srv_model *m, double now)
{
    (void)now;
    if (m->sched)
        *(bat_load *)user = bat_get_load(m->sched);
}

TEST(server_parallel_streams_match_single)
{
    static const char *prompts[] = { "Once upon a time", "The weather today", "1, 2, 3,",
                                     "Hello world" };
    enum { N = 4 };
    char want[N][2048];
    for (int i = 0; i < N; i++)
        reference(prompts[i], 48, want[i], sizeof want[i]);
    srv *s = start(N, 8, 256, NULL);
    REQUIRE(s);
    client *cl = mem_calloc(N, sizeof *cl);
    char bodies[N][256];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof bodies[i], "{\"prompt\":\"%s\",\"max_tokens\":48,"
                 "\"temperature\":0,\"stream\":true}", prompts[i]);
        cl[i].port = srv_port(s);
        cl[i].body = bodies[i];
        pthread_create(&th[i], NULL, client_thread, &cl[i]);
    }
    /* they run together: the scheduler holds several at once */
    int most = 0;
    for (int k = 0; k < 2000 && most < N; k++) {
        bat_load load = { 0, 0 };
        models_each(s->models, load_of, &load);
        most = load.active > most ? load.active : most;
        nanosleep(&(struct timespec){ 0, 500000L }, NULL);
    }
    CHECK(most >= 2);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(cl[i].r.status, 200);
        char text[4096], finish[32] = "";
        bool done;
        int usage;
        CHECK(sse_collect(cl[i].r.body, false, text, sizeof text, &done, &usage, finish,
                          sizeof finish) > 1);
        CHECK(done);
        CHECK_STR(text, want[i]);
    }
    mem_free(cl);
    srv_stop(s);
}

/* The loaded model's context, as /api/ps reports it (0 when nothing is loaded). */
static int ps_context(int port)
{
    resp *r = mem_calloc(1, sizeof *r);
    http(port, "/api/ps", NULL, NULL, r);
    cJSON *j = cJSON_Parse(r->body);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 0),
                                         "context_length");
    int ctx = cJSON_IsNumber(n) ? n->valueint : 0;
    cJSON_Delete(j);
    mem_free(r);
    return ctx;
}

typedef struct oll_client {
    int port;
    char body[512];
    resp r;
} oll_client;

static void *oll_thread(void *arg)
{
    oll_client *c = arg;
    http(c->port, "/api/generate", c->body, NULL, &c->r);
    return NULL;
}

/* A raw /api/generate body with a prompt of about `words` tokens and these options. */
static void long_prompt(char *body, size_t cap, int words, const char *options)
{
    int n = snprintf(body, cap, "{\"raw\":true,\"stream\":false,\"prompt\":\"");
    for (int i = 0; i < words && (size_t)n < cap - 200; i++)
        n += snprintf(body + n, cap - (size_t)n, "%s ", i % 2 ? "cat" : "dog");
    snprintf(body + n, cap - (size_t)n, "\",\"options\":{\"temperature\":0,%s}}", options);
}

TEST(server_ollama_num_ctx_grows_the_context)
{
    gguf_file *f;
    hearth_error err;
    uint32_t trained = 0;
    REQUIRE(gguf_open(&f, SMODEL, &err) == HEARTH_OK);
    CHECK(gguf_get_u32(f, "qwen2.context_length", &trained));
    gguf_close(f);
    REQUIRE(trained > 200);

    srv *s = start(1, 4, 64, NULL);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    char body[4096];
    /* about 100 tokens do not fit the server's context of 64 ... */
    long_prompt(body, sizeof body, 100, "\"num_predict\":2");
    CHECK_EQ(http(port, "/api/generate", body, NULL, r), 400);
    CHECK_CONTAINS(r->body, "context");
    CHECK_EQ(ps_context(port), 64);

    /* ... and do once a request asks for more; the larger context then stays */
    long_prompt(body, sizeof body, 100, "\"num_predict\":2,\"num_ctx\":160");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", body, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"eval_count\":2");
    CHECK_EQ(ps_context(port), 160);
    long_prompt(body, sizeof body, 100, "\"num_predict\":2,\"num_ctx\":100");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", body, NULL, r), 200);
    CHECK_EQ(ps_context(port), 160);

    /* a request asking for more while another one runs waits for it, then grows the
       context; the running one is not cut short */
    oll_client *a = mem_calloc(1, sizeof *a);
    a->port = port;
    snprintf(a->body, sizeof a->body, "{\"raw\":true,\"stream\":false,\"prompt\":\"Once\","
             "\"options\":{\"temperature\":0,\"num_predict\":40}}");
    pthread_t th;
    pthread_create(&th, NULL, oll_thread, a);
    bat_load load = { 0, 0 };
    for (int k = 0; k < 4000 && load.active == 0; k++) {
        models_each(s->models, load_of, &load);
        nanosleep(&(struct timespec){ 0, 500000L }, NULL);
    }
    CHECK_EQ(load.active, 1);
    long_prompt(body, sizeof body, 100, "\"num_predict\":2,\"num_ctx\":200");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", body, NULL, r), 200);
    pthread_join(th, NULL);
    CHECK_EQ(a->r.status, 200);
    CHECK_CONTAINS(a->r.body, "\"eval_count\":40");
    CHECK_EQ(ps_context(port), 200);
    mem_free(a);

    /* never past the model's training context */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"prompt\":\"Hi\",\"stream\":false,\"options\":"
                  "{\"num_predict\":1,\"num_ctx\":100000}}", NULL, r), 200);
    CHECK_EQ(ps_context(port), (int)trained);
    mem_free(r);
    srv_stop(s);
}

/* A server for SMODEL with one slot of n_ctx tokens and a memory budget; NULL if it fails. */
static srv *start_budget(int n_ctx, size_t budget)
{
    srv_config c = srv_default_config();
    c.port = 0;
    c.model_file = SMODEL;
    c.mem_budget = budget;
    c.batch.n_parallel = 1;
    c.batch.ctx.n_ctx = n_ctx;
    c.batch.ctx.n_threads = 1;
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    return s;
}

/* SMODEL's file, and its KV cache for one slot of n tokens, worked out by hand from its
 * shape (models/README.md): K and V * 2 layers * 2 KV heads * 8 dims * 2 bytes (F16). */
static size_t smodel_bytes(void)
{
    struct stat sb;
    return stat(SMODEL, &sb) == 0 ? (size_t)sb.st_size : 0;
}
#define SMODEL_KV(n) ((size_t)(n) * 2 * 2 * 2 * 8 * 2)

/* --max-memory counts the KV cache a num_ctx would grow: a context past the budget is
 * refused, naming it, and the model keeps serving at the context it had. */
TEST(server_ollama_num_ctx_past_the_memory_budget)
{
    const size_t file = smodel_bytes();
    REQUIRE(file > 0);
    srv *s = start_budget(64, file + SMODEL_KV(128)); /* room for a context of 128 */
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    static const char short_body[] = "{\"prompt\":\"Hi\",\"stream\":false,\"options\":"
                                     "{\"num_predict\":2}}";
    CHECK_EQ(http(port, "/api/generate", short_body, NULL, r), 200);
    CHECK_EQ(ps_context(port), 64);
    char body[4096];
    long_prompt(body, sizeof body, 100, "\"num_predict\":2,\"num_ctx\":256");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", body, NULL, r), 503);
    CHECK_CONTAINS(r->body, "context of 256 tokens");
    CHECK_CONTAINS(r->body, "does not fit --max-memory");
    CHECK_CONTAINS(r->body, "smaller num_ctx");
    CHECK_EQ(ps_context(port), 64);

    /* the model still answers at the context it kept ... */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", short_body, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"eval_count\":2");
    CHECK_EQ(ps_context(port), 64);

    /* ... and grows as far as the budget allows: of two requests waiting for a running one,
       the one asking too much gets the 503 and the other its smaller context, whichever
       of them tries to grow the model first */
    oll_client *c = mem_calloc(3, sizeof *c);
    snprintf(c[0].body, sizeof c[0].body, "{\"raw\":true,\"stream\":false,\"prompt\":"
             "\"Once\",\"options\":{\"temperature\":0,\"num_predict\":40}}");
    long_prompt(c[1].body, sizeof c[1].body, 60, "\"num_predict\":2,\"num_ctx\":256");
    long_prompt(c[2].body, sizeof c[2].body, 60, "\"num_predict\":2,\"num_ctx\":128");
    pthread_t th[3];
    c[0].port = port;
    pthread_create(&th[0], NULL, oll_thread, &c[0]);
    bat_load load = { 0, 0 };
    for (int k = 0; k < 4000 && load.active == 0; k++) {
        models_each(s->models, load_of, &load);
        nanosleep(&(struct timespec){ 0, 500000L }, NULL);
    }
    for (int i = 1; i < 3; i++) {
        c[i].port = port;
        pthread_create(&th[i], NULL, oll_thread, &c[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(c[0].r.status, 200);
    CHECK_EQ(c[1].r.status, 503);
    CHECK_CONTAINS(c[1].r.body, "context of 256 tokens");
    CHECK_EQ(c[2].r.status, 200);
    CHECK_EQ(ps_context(port), 128);
    mem_free(c);
    srv_stop(s);

    /* a request that loads the model and is then refused its context leaves the model
       loaded for the keep-alive, as any request does (it was unloaded within the janitor's
       second, to be loaded again by the next request) */
    s = start_budget(64, file + SMODEL_KV(128));
    REQUIRE(s);
    port = srv_port(s);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", body, NULL, r), 503);
    nanosleep(&(struct timespec){ 1, 300000000L }, NULL);
    CHECK_EQ(ps_context(port), 64);
    mem_free(r);
    srv_stop(s);
}

TEST(server_busy_and_disconnect)
{
    srv *s = start(1, 0, 2048, NULL); /* one slot, no queue */
    REQUIRE(s);
    int port = srv_port(s);
    /* a long answer (end-of-turn tokens banned) whose client hangs up after a few pieces */
    gen_model *gm;
    hearth_error err;
    REQUIRE(gen_model_open(&gm, SMODEL, llm_model_default_params(), &err) == HEARTH_OK);
    char body[512];
    snprintf(body, sizeof body, "{\"prompt\":\"Once\",\"max_tokens\":2000,\"stream\":true,"
             "\"logit_bias\":{\"%d\":-100,\"%d\":-100}}", tok_special(gm->vocab)->eos,
             tok_find(gm->vocab, "<|im_end|>", 10));
    gen_model_free(gm);
    client *a = mem_calloc(1, sizeof *a);
    a->port = port;
    a->body = body;
    a->r.abort_after = 3;
    atomic_bool hangup = false;
    a->r.hangup = &hangup;
    /* while it runs, a second request finds no slot and no queue: 503 + Retry-After */
    pthread_t th;
    pthread_create(&th, NULL, client_thread, a);
    bat_load load = { 0, 0 };
    for (int i = 0; i < 500 && load.active == 0; i++) {
        nanosleep(&(struct timespec){ 0, 2000000L }, NULL);
        models_each(s->models, load_of, &load);
    }
    resp *r = mem_calloc(1, sizeof *r);
    if (load.active == 1) {
        CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2}", NULL, r),
                 503);
        CHECK_STR(r->retry_after, "1");
    }
    CHECK_EQ(load.active, 1);
    atomic_store(&hangup, true);
    pthread_join(th, NULL);
    CHECK(a->r.writes >= 3);
    /* the hang-up frees the slot at once, long before 2000 tokens */
    double t0 = models_now();
    do {
        nanosleep(&(struct timespec){ 0, 5000000L }, NULL);
        models_each(s->models, load_of, &load);
    } while (load.active > 0 && models_now() - t0 < 5);
    CHECK_EQ(load.active, 0);
    CHECK(models_now() - t0 < 1.0);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2}", NULL, r), 200);
    /* shutting down mid-stream ends the stream cleanly */
    memset(a, 0, sizeof *a);
    a->port = port;
    a->body = body;
    pthread_create(&th, NULL, client_thread, a);
    load.active = 0;
    for (int i = 0; i < 500 && load.active == 0; i++) {
        nanosleep(&(struct timespec){ 0, 2000000L }, NULL);
        models_each(s->models, load_of, &load);
    }
    srv_stop(s);
    pthread_join(th, NULL);
    CHECK_EQ(a->r.status, 200);
    size_t tl = strlen(a->r.tail);
    CHECK(tl > 14 && strcmp(a->r.tail + tl - 14, "data: [DONE]\n\n") == 0);
    mem_free(r);
    mem_free(a);
}

TEST(server_cors_closed_by_default)
{
    srv_config c = srv_default_config();
    c.port = 0;
    c.model_file = SMODEL;
    c.cors_origin = "http://app.example";
    srv *s;
    hearth_error err;
    REQUIRE(srv_start(&s, &c, &err) == HEARTH_OK);
    resp *r = mem_calloc(1, sizeof *r);
    const char *other[] = { "Origin: http://evil.example", NULL };
    CHECK_EQ(http(srv_port(s), "/v1/models", NULL, other, r), 200);
    CHECK_STR(r->allow_origin, "");
    const char *app[] = { "Origin: http://app.example", NULL };
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(srv_port(s), "/v1/models", NULL, app, r), 200);
    CHECK_STR(r->allow_origin, "http://app.example");
    mem_free(r);
    srv_stop(s);
}

/* A server over the models in dir, with a memory budget (0: none); NULL if it fails. */
static srv *start_models_dir(const char *dir, size_t budget)
{
    srv_config c = srv_default_config();
    c.port = 0;
    c.models_dir = dir;
    c.mem_budget = budget;
    c.batch.ctx.n_ctx = 128;
    c.batch.ctx.n_threads = 1;
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    return s;
}

TEST(server_models_dir_and_memory_budget)
{
    /* a directory of two models whose files together exceed the budget */
    char dir[512], a[600], b[600];
    snprintf(dir, sizeof dir, "%s/srv-models", test_tmpdir());
    snprintf(a, sizeof a, "%s/alpha.gguf", dir);
    snprintf(b, sizeof b, "%s/beta.gguf", dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -sf \"$PWD/%s\" %s && ln -sf \"$PWD/%s\" %s && "
             "ln -sf \"$PWD/%s\" '%s/bad name.gguf'", dir, SMODEL, a,
             TESTDATA "/models/tiny-llama-spm-q8_0.gguf", b, SMODEL, dir);
    char out[256];
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    struct stat sa, sb;
    REQUIRE(stat(a, &sa) == 0 && stat(b, &sb) == 0);
    srv *s = start_models_dir(dir, (size_t)sa.st_size + (size_t)sb.st_size - 1);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"alpha\"");
    CHECK_CONTAINS(r->body, "\"beta\"");
    CHECK(!strstr(r->body, "bad name")); /* not a name a client could ask for */
    /* with several models, a request must name one */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}", NULL, r), 404);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"model\":\"alpha\",\"prompt\":\"Hi\","
                  "\"max_tokens\":1}", NULL, r), 200);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"model\":\"beta\",\"prompt\":\"Hi\","
                  "\"max_tokens\":1}", NULL, r), 200);
    /* loading beta had to unload the idle alpha */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/ps", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"beta\"");
    CHECK(!strstr(r->body, "\"alpha\""));
    mem_free(r);
    srv_stop(s);
}

/* --max-memory counts a model's KV cache with its file: a budget with room for the file
 * but not for both refuses the model, saying how large it is. */
TEST(server_memory_budget_counts_the_kv_cache)
{
    const size_t file = smodel_bytes();
    REQUIRE(file > 0);
    srv *s = start_budget(64, file + SMODEL_KV(64) - 1);
    REQUIRE(s);
    resp *r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(srv_port(s), "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}",
                  NULL, r), 503);
    CHECK_CONTAINS(r->body, "model '" SMODEL_NAME "'");
    CHECK_CONTAINS(r->body, "KV cache");
    char budget[64];
    snprintf(budget, sizeof budget, "larger than the memory budget (--max-memory %zu)",
             (file + SMODEL_KV(64) - 1) >> 20);
    CHECK_CONTAINS(r->body, budget);
    CHECK(!strstr(r->body, "testdata")); /* no server path in the answer */
    CHECK_EQ(ps_context(srv_port(s)), 0);
    mem_free(r);
    srv_stop(s);

    /* one byte more and it loads; /api/ps says what it holds, as Ollama's does */
    REQUIRE((s = start_budget(64, file + SMODEL_KV(64))));
    r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(srv_port(s), "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}",
                  NULL, r), 200);
    CHECK_EQ(ps_context(srv_port(s)), 64);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(srv_port(s), "/api/ps", NULL, NULL, r), 200);
    cJSON *j = cJSON_Parse(r->body);
    const cJSON *size = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"),
                                                               0), "size");
    CHECK(cJSON_IsNumber(size) && size->valuedouble == (double)(file + SMODEL_KV(64)));
    cJSON_Delete(j);
    mem_free(r);
    srv_stop(s);
}

/* A num_ctx whose KV cache fits the budget only without the other, idle, model unloads it.
 * KV caches by hand (models/README.md; 4 slots of 128 tokens, F16): alpha (qwen2) holds
 * 2 (K and V) * 2 layers * 2 KV heads * 8 dims * 2 bytes = 128 bytes a token, beta (llama)
 * 2 * 2 * 2 * 16 * 2 = 256. */
TEST(server_num_ctx_growth_unloads_idle_models)
{
    char dir[512], a[600], b[600];
    snprintf(dir, sizeof dir, "%s/srv-grow", test_tmpdir());
    snprintf(a, sizeof a, "%s/alpha.gguf", dir);
    snprintf(b, sizeof b, "%s/beta.gguf", dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -sf \"$PWD/%s\" %s && ln -sf \"$PWD/%s\" %s",
             dir, SMODEL, a, TESTDATA "/models/tiny-llama-spm-q8_0.gguf", b);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    struct stat sa, sb;
    REQUIRE(stat(a, &sa) == 0 && stat(b, &sb) == 0);
    const size_t kv_a = 128 * 128 * 4, kv_b = 256 * 128 * 4;
    /* room for both at 128 tokens, with less to spare than beta needs to double its cache */
    srv *s = start_models_dir(dir, (size_t)sa.st_size + (size_t)sb.st_size + kv_a + kv_b +
                                   kv_b / 2);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"model\":\"alpha\",\"prompt\":\"Hi\","
                  "\"stream\":false,\"options\":{\"num_predict\":1}}", NULL, r), 200);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"model\":\"beta\",\"prompt\":\"Hi\","
                  "\"stream\":false,\"options\":{\"num_predict\":1}}", NULL, r), 200);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/ps", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"alpha\"");
    CHECK_CONTAINS(r->body, "\"beta\"");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"model\":\"beta\",\"prompt\":\"Hi\","
                  "\"stream\":false,\"options\":{\"num_predict\":1,\"num_ctx\":256}}",
                  NULL, r), 200);
    CHECK_EQ(ps_context(port), 256);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/ps", NULL, NULL, r), 200);
    CHECK(!strstr(r->body, "\"alpha\""));
    mem_free(r);
    srv_stop(s);
}

/* A split model in the models directory (cut by the mock Hub's own splitter) is one model,
 * named without the part numbers, listed once and served. */
TEST(server_models_dir_split_model)
{
    char dir[512], cmd[2048];
    snprintf(dir, sizeof dir, "%s/srv-split", test_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && python3 -c \"import sys; sys.path.insert(0, "
             "'tests'); from mock_hub import split_gguf; d = open('%s', 'rb').read(); "
             "[open('%s/gamma-%%05d-of-00003.gguf' %% (i + 1), 'wb').write(p) for i, p in "
             "enumerate(split_gguf(d, 3))]\"", dir, TESTDATA "/models/tiny-llama-spm-q8_0.gguf",
             dir);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    srv *s = start_models_dir(dir, 0);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
    CHECK_EQ(http(port, "/v1/models", NULL, NULL, r), 200);
    CHECK_CONTAINS(r->body, "\"gamma\"");
    CHECK(!strstr(r->body, "of-0000")); /* no part listed as a model of its own */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"model\":\"gamma\",\"prompt\":\"Hi\","
                  "\"max_tokens\":2}", NULL, r), 200);
    mem_free(r);
    srv_stop(s);
}

/* The answer must satisfy the schema however unlikely the model finds it. */
static void check_answer(const char *text)
{
    cJSON *a = cJSON_Parse(text);
    CHECK(cJSON_IsObject(a));
    const char *v = json_str(a, "answer", NULL);
    CHECK(v && (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0));
    CHECK_EQ(cJSON_GetArraySize(a), 1);
    cJSON_Delete(a);
}

TEST(server_structured_output)
{
    srv *s = start(2, 4, 256, NULL);
    REQUIRE(s);
    int port = srv_port(s);
    resp *r = mem_calloc(1, sizeof *r);
#define SCHEMA "{\"type\":\"object\",\"properties\":{\"answer\":{\"enum\":[\"yes\",\"no\"]}}," \
               "\"required\":[\"answer\"],\"additionalProperties\":false}"
    CHECK_EQ(http(port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"Hi\"}],\"max_tokens\":60,\"temperature\":0.7,\"seed\":3,\"response_format\":"
                  "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":" SCHEMA "}}}",
                  NULL, r), 200);
    cJSON *j = cJSON_Parse(r->body);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK_STR(json_str(c0, "finish_reason", NULL), "stop");
    check_answer(json_str(c0, "message", "content"));
    cJSON_Delete(j);
    /* Ollama's format, streamed */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                  "\"format\":" SCHEMA ",\"options\":{\"temperature\":0,\"num_predict\":60}}",
                  NULL, r), 200);
    char text[4096] = "";
    for (char *line = strtok(r->body, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(line);
        const char *piece = json_str(e, "message", "content");
        if (piece)
            strncat(text, piece, sizeof text - strlen(text) - 1);
        cJSON_Delete(e);
    }
    check_answer(text);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Hi\",\"response_format\":{\"type\":"
                  "\"xml\"}}", NULL, r), 400);
    CHECK_CONTAINS(r->body, "response_format");
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/api/generate", "{\"prompt\":\"Hi\",\"format\":{\"type\":\"integer\","
                  "\"minimum\":3}}", NULL, r), 400);
    CHECK_CONTAINS(r->body, "minimum");
    /* a schema nothing can satisfy is refused up front, naming the conflict */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"Hi\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                  "{\"name\":\"a\",\"schema\":{\"type\":\"array\",\"minItems\":3,"
                  "\"maxItems\":1}}}}", NULL, r), 400);
    CHECK_CONTAINS(r->body, "minItems 3 is above maxItems 1");
    /* a GBNF grammar: obeyed when valid, a 400 with the position when not */
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":20,\"temperature\":1,"
                  "\"grammar\":\"root ::= (\\\"yes\\\" | \\\"no\\\")\"}", NULL, r), 200);
    cJSON *g = cJSON_Parse(r->body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(g, "choices"), 0);
    const char *gtext = ch ? cJSON_GetStringValue(cJSON_GetObjectItem(ch, "text")) : NULL;
    CHECK(gtext && (!strcmp(gtext, "yes") || !strcmp(gtext, "no")));
    cJSON_Delete(g);
    memset(r, 0, sizeof *r);
    CHECK_EQ(http(port, "/v1/completions", "{\"prompt\":\"Hi\",\"grammar\":\"root ::= [a-\"}",
                  NULL, r), 400);
    CHECK_CONTAINS(r->body, "grammar:1:");
    mem_free(r);
    srv_stop(s);
}
