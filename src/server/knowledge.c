/*
 * knowledge.c — POST /v1/knowledge/NAME/search and POST /v1/knowledge/NAME/ask: search a
 * knowledge base, or answer from it with citations, over HTTP.
 *
 * Each request opens the base and the embedding model it records (as `hearth search` and
 * `hearth ask` do; the model counted against --max-memory while open) and closes them when
 * it is done: bases change under `hearth index`, and
 * a scan of the stored vectors is cheap next to generation (see knowledge/search.h). Ask
 * follows `hearth ask` step by step — hybrid retrieval, only the relevant sources, the
 * prompt from knowledge/rag.h shrunk until it fits — and generates through the scheduler
 * like /v1/chat/completions, answering a chat.completion or its SSE chunks with a
 * "sources" array added (in the streamed form, on a last chunk before [DONE]).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "knowledge/rag.h"
#include "server/server_int.h"

#define KN_MIN_SIM 0.5      /* `hearth ask`'s default --min-similarity */
#define KN_SOURCE_CHARS 1500 /* `hearth ask`'s default --source-chars */

typedef struct kn_open_base {
    char *db_path, *model_path;
    kn_store *store;
    emb_model *emb;
    kn_searcher *x;
    srv_models *ms;     /* where the embedding model's bytes are pinned */
    size_t pinned;
} kn_open_base;

static void base_close(kn_open_base *b)
{
    kn_searcher_free(b->x);
    emb_free(b->emb);
    if (b->pinned)
        models_unpin(b->ms, b->pinned);
    kn_store_close(b->store);
    mem_free(b->model_path);
    mem_free(b->db_path);
    memset(b, 0, sizeof *b);
}

/* Open knowledge base name for searching; returns 0, or the HTTP status with err. */
static int base_open(srv *s, kn_open_base *b, const char *name, hearth_error *err)
{
    memset(b, 0, sizeof *b);
    b->ms = s->models;
    emb_params ep = emb_default_params();
    if (!kn_name_valid(name)) {
        err_set(err, HEARTH_ERR_INVALID, "'%s' is not a valid knowledge base name", name);
        return 400;
    }
    if (kn_db_path(name, false, &b->db_path, err))
        return 500;
    if (access(b->db_path, F_OK) != 0) {
        err_set(err, HEARTH_ERR_IO, "no knowledge base named '%s'", name);
        return 404;
    }
    if (kn_store_open(&b->store, b->db_path, false, err))
        return 500;
    if (!(b->model_path = kn_store_meta_get(b->store, "model_path"))) {
        err_set(err, HEARTH_ERR_INVALID, "knowledge base '%s' has no embedding model yet", name);
        return 500;
    }
    int status = 500;
    if (models_pin(b->ms, b->model_path, &b->pinned, &status, err) ||
        emb_open(&b->emb, b->model_path, &ep, err) ||
        kn_searcher_open(&b->x, b->store, b->emb, KN_EXACT_MAX, err))
        return status;
    return 0;
}

/* The NAME and action of /v1/knowledge/NAME/ACTION into name (false if not that shape). */
static bool split_path(const char *path, char *name, size_t cap, const char **action)
{
    const char *p = path + strlen("/v1/knowledge/");
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= cap)
        return false;
    memcpy(name, p, (size_t)(slash - p));
    name[slash - p] = '\0';
    *action = slash + 1;
    return true;
}

static cJSON *source_json(const kn_result *r, int number)
{
    cJSON *o = cJSON_CreateObject();
    char loc[4200];
    kn_rag_location(&r->chunk, loc, sizeof loc);
    cJSON_AddNumberToObject(o, "number", number);
    cJSON_AddStringToObject(o, "path", r->chunk.path);
    cJSON_AddStringToObject(o, "lines", strchr(loc, ':') ? strrchr(loc, ':') + 1 : loc);
    cJSON_AddNumberToObject(o, "line_start", r->chunk.line_start);
    cJSON_AddNumberToObject(o, "line_end", r->chunk.line_end);
    if (r->chunk.heading)
        cJSON_AddStringToObject(o, "heading", r->chunk.heading);
    else
        cJSON_AddNullToObject(o, "heading");
    return o;
}

static cJSON *sources_json(const kn_result *r, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, source_json(&r[i], i + 1));
    return a;
}

/* A required non-empty string field, or NULL with err naming it. */
static const char *str_field(const cJSON *j, const char *key, hearth_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        err_set(err, HEARTH_ERR_INVALID, "'%s' must be a non-empty string", key);
        return NULL;
    }
    return v->valuestring;
}

/* ---- search ------------------------------------------------------------------------- */

static void do_search(srv *s, http_req *r, const char *name, const cJSON *j)
{
    hearth_error err = { 0 };
    const char *query = str_field(j, "query", &err);
    double k = 10;
    enum kn_mode mode = KN_HYBRID;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mode");
    if (!query || srv_json_num(j, "k", 1, 100, true, &k, &err) < 0) {
        oai_error(r, 400, err.msg);
        return;
    }
    if (m && !cJSON_IsNull(m) && !(cJSON_IsString(m) && kn_mode_parse(m->valuestring, &mode))) {
        oai_error(r, 400, "'mode' must be \"hybrid\", \"dense\" or \"bm25\"");
        return;
    }
    kn_open_base b;
    int status = base_open(s, &b, name, &err);
    kn_result *res = NULL;
    int n = 0;
    if (!status && kn_search(b.x, query, (int)k, mode, &res, &n, &err))
        status = 500;
    if (status) {
        oai_error(r, status, err.msg);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON *data = cJSON_AddArrayToObject(o, "data");
        for (int i = 0; i < n; i++) {
            cJSON *d = source_json(&res[i], i + 1);
            cJSON_AddNumberToObject(d, "score", res[i].score);
            cJSON_AddStringToObject(d, "text", res[i].chunk.text);
            cJSON_AddItemToArray(data, d);
        }
        srv_send_json(r, 200, o, NULL);
    }
    kn_results_free(res, n);
    base_close(&b);
}

/* ---- ask ---------------------------------------------------------------------------- */

typedef struct kn_stream {
    char id[48], model[128];
    long created;
    cJSON *sources;
} kn_stream;

static cJSON *envelope(const kn_stream *o, bool chunk)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", o->id);
    cJSON_AddStringToObject(e, "object", chunk ? "chat.completion.chunk" : "chat.completion");
    cJSON_AddNumberToObject(e, "created", (double)o->created);
    cJSON_AddStringToObject(e, "model", o->model);
    return e;
}

/* A chunk whose only choice has delta content text (NULL: none) and finish (NULL: null). */
static cJSON *chunk(const kn_stream *o, const char *text, const char *finish)
{
    cJSON *e = envelope(o, true);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    if (text)
        cJSON_AddStringToObject(d, "content", text);
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(e, "choices"), c);
    return e;
}

static const char *finish_reason(enum gen_finish f)
{
    return f == GEN_FINISH_LENGTH || f == GEN_FINISH_CONTEXT ? "length" : "stop";
}

static bool kn_piece(void *user, http_stream *st, const gen_token *t, const char *text,
                     size_t len)
{
    (void)t;
    if (!len)
        return true;
    char *s = mem_alloc(len + 1);
    if (!s)
        return false;
    memcpy(s, text, len);
    s[len] = '\0';
    bool ok = srv_sse_data(st, chunk(user, s, NULL));
    mem_free(s);
    return ok;
}

static void kn_done(void *user, http_stream *st, hearth_status status, const gen_stats *stats,
                    const hearth_error *err)
{
    kn_stream *o = user;
    if (status) {
        cJSON *e = cJSON_CreateObject();
        cJSON *x = cJSON_AddObjectToObject(e, "error");
        cJSON_AddStringToObject(x, "message", err ? err->msg : "generation failed");
        cJSON_AddStringToObject(x, "type", "server_error");
        srv_sse_data(st, e);
    } else {
        cJSON *e = chunk(o, NULL, finish_reason(stats->finish));
        cJSON_AddItemToObject(e, "sources", o->sources);
        o->sources = NULL;
        srv_sse_data(st, e);
    }
    http_stream_write(st, "data: [DONE]\n\n", 14);
}

static void kn_free(void *user)
{
    kn_stream *o = user;
    cJSON_Delete(o->sources);
    mem_free(o);
}

static const srv_stream_fmt kn_fmt = { kn_piece, kn_done, kn_free };

/* Sources worth showing the model, moved to the front (as `hearth ask` keeps them). */
static int keep_relevant(kn_result *r, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].bm25_rank > 0 || r[i].similarity >= KN_MIN_SIM) {
            kn_result t = r[k];
            r[k++] = r[i];
            r[i] = t;
        }
    }
    return k;
}

/* The RAG prompt, shrunk like `hearth ask` does until room tokens fit after it. */
static hearth_status fit_prompt(const gen_model *gm, int n_ctx, const kn_result *r,
                                int *n_src, const char *question, int room, tok_ids *ids,
                                hearth_error *err)
{
    int chars = KN_SOURCE_CHARS;
    for (;;) {
        char *system = NULL, *user = NULL;
        hearth_status st = kn_rag_prompt(r, *n_src, question, chars, &system, &user, err);
        tok_ids_free(ids);
        if (!st) {
            tpl_message msgs[2] = { { .role = "system", .content = system },
                                    { .role = "user", .content = user } };
            st = srv_chat_prompt(gm, msgs, 2, ids, err);
        }
        mem_free(system);
        mem_free(user);
        if (st || (int)ids->n + room <= n_ctx)
            return st;
        if (chars > 100)
            chars /= 2;
        else if (*n_src > 0)
            (*n_src)--;
        else
            return err_set(err, HEARTH_ERR_RANGE, "the question alone does not fit the "
                           "model's context of %d tokens", n_ctx);
    }
}

static void send_answer(http_req *r, kn_stream *o, const srv_result *res)
{
    cJSON *e = envelope(o, false);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", res->text.s ? res->text.s : "");
    cJSON_AddStringToObject(c, "finish_reason", finish_reason(res->stats.finish));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(e, "choices"), c);
    cJSON *u = cJSON_AddObjectToObject(e, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", res->stats.n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", res->stats.n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", res->stats.n_prompt + res->stats.n_gen);
    cJSON_AddItemToObject(e, "sources", o->sources);
    o->sources = NULL;
    srv_send_json(r, 200, e, NULL);
}

typedef struct ask_req {
    const char *question, *model;
    double k, max_tokens;
    bool stream;
} ask_req;

static bool parse_ask(const cJSON *j, ask_req *q, hearth_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stream");
    q->k = 6;
    q->max_tokens = -1;
    if (!(q->question = str_field(j, "question", err)))
        return false;
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m))
        return !err_set(err, HEARTH_ERR_INVALID, "'model' must be a string");
    q->model = cJSON_IsString(m) ? m->valuestring : NULL;
    if (st && !cJSON_IsNull(st) && !cJSON_IsBool(st))
        return !err_set(err, HEARTH_ERR_INVALID, "'stream' must be true or false");
    q->stream = cJSON_IsTrue(st);
    return srv_json_num(j, "k", 1, 20, true, &q->k, err) >= 0 &&
           srv_json_num(j, "max_tokens", 1, 1 << 20, true, &q->max_tokens, err) >= 0;
}

static void do_ask(srv *s, http_req *r, const char *name, const cJSON *j)
{
    hearth_error err = { 0 };
    ask_req q = { 0 };
    if (!parse_ask(j, &q, &err)) {
        oai_error(r, 400, err.msg);
        return;
    }
    kn_open_base b;
    kn_result *res = NULL;
    int n = 0, n_src = 0;
    srv_model *m = NULL;
    tok_ids ids = { 0 };
    kn_stream *o = NULL;
    int status = base_open(s, &b, name, &err);
    if (!status && kn_search(b.x, q.question, (int)q.k, KN_HYBRID, &res, &n, &err))
        status = 500;
    if (!status) {
        n_src = keep_relevant(res, n);
        models_acquire(s->models, q.model, 0, &m, &status, &err);
    }
    gen_params gp = gen_default_params();
    gp.n_predict = (int)q.max_tokens;
    if (!status) {
        int n_ctx = bat_n_ctx(m->sched);
        int room = gp.n_predict > 0 ? gp.n_predict : n_ctx / 4;
        hearth_status st = fit_prompt(m->gm, n_ctx, res, &n_src, q.question, room, &ids, &err);
        status = st ? (st == HEARTH_ERR_NOMEM ? 500 : 400) : 0;
    }
    if (!status && !(o = mem_calloc(1, sizeof *o))) {
        status = 500;
        err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
    }
    if (o) {
        snprintf(o->id, sizeof o->id, "chatcmpl-%ld", atomic_fetch_add(&s->next_id, 1) + 1);
        snprintf(o->model, sizeof o->model, "%s", m->name);
        o->created = (long)time(NULL);
        o->sources = sources_json(res, n_src);
        srv_gen_req g = { .m = m, .prompt = ids.v, .n_prompt = ids.n, .params = gp,
                          .keep_alive_s = s->c.keep_alive_s };
        if (q.stream) {
            status = srv_generate_stream(s, r, &g, &kn_fmt, o, "text/event-stream", &err);
            if (status == 200)
                m = NULL, o = NULL; /* the stream owns them now */
        } else {
            srv_result out;
            status = srv_generate(s, r, &g, &out, &err);
            if (status == 200)
                send_answer(r, o, &out);
            srv_result_free(&out);
        }
    }
    if (status != 200)
        oai_error(r, status, err.msg[0] ? err.msg : "bad request");
    if (o)
        kn_free(o);
    models_release(s->models, m, s->c.keep_alive_s);
    tok_ids_free(&ids);
    kn_results_free(res, n);
    base_close(&b);
}

void srv_knowledge(srv *s, http_req *r)
{
    char name[128];
    const char *action = NULL;
    if (!split_path(r->path, name, sizeof name, &action) ||
        (strcmp(action, "search") != 0 && strcmp(action, "ask") != 0)) {
        oai_error(r, 404, "not found");
        return;
    }
    if (strcmp(r->method, "POST") != 0) {
        oai_error(r, 405, "method not allowed");
        return;
    }
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(j))
        oai_error(r, 400, "the body must be a JSON object");
    else if (action[0] == 's')
        do_search(s, r, name, j);
    else
        do_ask(s, r, name, j);
    cJSON_Delete(j);
}
