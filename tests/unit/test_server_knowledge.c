/*
 * test_server_knowledge.c — POST /v1/knowledge/NAME/search and /ask of `hearth serve`
 * (in-process, ephemeral 127.0.0.1 port, driven with libcurl).
 *
 * A tiny knowledge base is built at test time with the `hearth index` command (under a
 * HEARTH_HOME in the test's scratch folder); the expected chunk locations come from the
 * files written here (the line numbers are counted from their text), not from the
 * server's code. Ask runs the tiny qwen2 fixture for a few tokens: its words are
 * meaningless, so only the shapes (chat.completion, SSE chunks, sources) are checked.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/server_int.h"
#include "test.h"

#define BERT TESTDATA "/models/tiny-bert-q8_0.gguf"
#define QWEN TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf"

typedef struct kbuf {
    char *s;
    size_t n;
} kbuf;

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    kbuf *b = user;
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

static long post(int port, const char *path, const char *body, kbuf *b)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    free(b->s);
    b->s = NULL;
    b->n = 0;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Index two small files as knowledge base "notes" under home; false on failure. */
static bool make_base(const char *home)
{
    char dir[512], p[600], cmd[2048], out[4096];
    snprintf(dir, sizeof dir, "%s/kcorpus", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/a.txt", dir);
    write_file(p, "The lighthouse keeper logs every passing ship.\n");
    snprintf(p, sizeof p, "%s/c.md", dir);
    /* "## Trains" is line 5; its chunk runs to the last line, 7 */
    write_file(p, "# Travel\n\nPack the passport.\n\n## Trains\n\nThe night train to Vienna "
                  "leaves at ten.\n");
    snprintf(cmd, sizeof cmd, "HEARTH_HOME=%s %s index notes %s --embed %s -q -t 1", home,
             test_bin(), dir, BERT);
    return test_run(cmd, out, sizeof out) == 0;
}

static srv *start(const char *home)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setenv("HEARTH_HOME", home, 1);
    srv_config c = srv_default_config();
    c.port = 0;
    c.model_file = QWEN;
    c.batch.ctx.n_threads = 2;
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        fprintf(stderr, "srv_start: %s\n", err.msg);
        return NULL;
    }
    return s;
}

/* Is "c.md" lines 5-7 among the sources / results in array a? */
static bool has_trains(const cJSON *a)
{
    const cJSON *d;
    cJSON_ArrayForEach(d, a) {
        const cJSON *p = cJSON_GetObjectItem(d, "path");
        if (cJSON_IsString(p) && strstr(p->valuestring, "c.md") &&
            cJSON_GetObjectItem(d, "line_start")->valueint == 5 &&
            cJSON_GetObjectItem(d, "line_end")->valueint == 7)
            return true;
    }
    return false;
}

static void check_search(int port, kbuf *b)
{
    REQUIRE(post(port, "/v1/knowledge/notes/search",
                 "{\"query\":\"night train\",\"k\":2,\"mode\":\"bm25\"}", b) == 200);
    cJSON *j = cJSON_Parse(b->s);
    REQUIRE(j);
    CHECK_STR(cJSON_GetObjectItem(j, "object")->valuestring, "list");
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    CHECK_EQ(cJSON_GetArraySize(data), 1); /* only c.md has the words */
    CHECK(has_trains(data));
    const cJSON *d0 = cJSON_GetArrayItem(data, 0);
    CHECK_CONTAINS(cJSON_GetObjectItem(d0, "text")->valuestring, "Vienna");
    CHECK_CONTAINS(cJSON_GetObjectItem(d0, "heading")->valuestring, "Trains");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(d0, "score")));
    cJSON_Delete(j);
    REQUIRE(post(port, "/v1/knowledge/notes/search", "{\"query\":\"lighthouse\"}", b) == 200);
    CHECK_CONTAINS(b->s, "a.txt");
}

static void check_errors(int port, kbuf *b)
{
    CHECK_EQ(post(port, "/v1/knowledge/nope/search", "{\"query\":\"x\"}", b), 404);
    CHECK_CONTAINS(b->s, "\"error\"");
    CHECK_EQ(post(port, "/v1/knowledge/notes/search", "{\"query\":\"x\",\"k\":0}", b), 400);
    CHECK_CONTAINS(b->s, "k");
    CHECK_EQ(post(port, "/v1/knowledge/notes/search", "{\"query\":\"x\",\"mode\":\"x\"}", b),
             400);
    CHECK_CONTAINS(b->s, "mode");
    CHECK_EQ(post(port, "/v1/knowledge/notes/search", "{\"k\":3}", b), 400);
    CHECK_CONTAINS(b->s, "query");
    CHECK_EQ(post(port, "/v1/knowledge/notes/search", "not json", b), 400);
    CHECK_EQ(post(port, "/v1/knowledge/notes/ask", "{\"question\":\"x\",\"k\":21}", b), 400);
    CHECK_EQ(post(port, "/v1/knowledge/..x/search", "{\"query\":\"x\"}", b), 400);
    CHECK_EQ(post(port, "/v1/knowledge/notes/other", "{}", b), 404);
}

static void check_ask(int port, kbuf *b)
{
    REQUIRE(post(port, "/v1/knowledge/notes/ask", "{\"question\":\"When does the night "
                 "train leave?\",\"model\":\"tiny-qwen2-bpe-q8_0\",\"max_tokens\":4}", b) == 200);
    cJSON *j = cJSON_Parse(b->s);
    REQUIRE(j);
    CHECK_STR(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "message"), "content")));
    const cJSON *src = cJSON_GetObjectItem(j, "sources");
    CHECK(has_trains(src));
    CHECK_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(src, 0), "number")->valueint, 1);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(src, 0), "lines")->valuestring, "5-7");
    CHECK_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint,
             4);
    cJSON_Delete(j);

    REQUIRE(post(port, "/v1/knowledge/notes/ask", "{\"question\":\"When does the night "
                 "train leave?\",\"stream\":true,\"max_tokens\":3}", b) == 200);
    /* every event is "data: JSON\n\n"; the last before [DONE] has the sources */
    int chunks = 0;
    bool sources = false;
    char *p = b->s;
    while (p && *p) {
        REQUIRE(strncmp(p, "data: ", 6) == 0);
        char *end = strstr(p, "\n\n");
        REQUIRE(end);
        *end = '\0';
        if (strcmp(p + 6, "[DONE]") == 0) {
            CHECK(end[2] == '\0');
            break;
        }
        cJSON *e = cJSON_Parse(p + 6);
        REQUIRE(e);
        CHECK_STR(cJSON_GetObjectItem(e, "object")->valuestring, "chat.completion.chunk");
        chunks++;
        if (cJSON_GetObjectItem(e, "sources"))
            sources = has_trains(cJSON_GetObjectItem(e, "sources"));
        cJSON_Delete(e);
        p = end + 2;
    }
    CHECK(sources);
    CHECK(chunks >= 2);
}

TEST(server_knowledge_search_and_ask)
{
    char home[512];
    snprintf(home, sizeof home, "%s/khome", test_tmpdir());
    const char *old = getenv("HEARTH_HOME");
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", old ? old : "");
    REQUIRE(make_base(home));
    srv *s = start(home);
    REQUIRE(s);
    int port = srv_port(s);
    kbuf b = { 0 };
    check_search(port, &b);
    check_errors(port, &b);
    check_ask(port, &b);
    free(b.s);
    srv_stop(s);
    if (old)
        setenv("HEARTH_HOME", saved, 1);
    else
        unsetenv("HEARTH_HOME");
}
