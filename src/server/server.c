/*
 * server.c — see server.h: configuration checks, start and stop, the route table, the
 * checks every request passes (Host allow-list, CORS, API key), the access log, and the
 * JSON and prompt helpers both APIs use.
 *
 * Order of checks per request: Host (403) -> CORS preflight -> public routes (/, /health)
 * -> API key (401) -> route (404, 405). Nothing maps a URL to a file: the only page is the
 * one compiled into the binary.
 */
#include "server/server_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "generate/json_schema.h"
#include "server/auth.h"

srv_config srv_default_config(void)
{
    srv_config c;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.port = 11435;
    c.keep_alive_s = 300;
    c.batch = bat_default_params();
    c.max_body = 8u << 20;
    c.max_conn = 64;
    c.timeout_s = 60;
    return c;
}

/* ---- helpers ------------------------------------------------------------------------- */

int srv_json_num(const cJSON *o, const char *key, double lo, double hi, bool integer,
                 double *out, hearth_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d < lo || d > hi || (integer && d != floor(d))) {
        err_set(err, HEARTH_ERR_INVALID, "'%s' must be %s between %.15g and %.15g", key,
                integer ? "a whole number" : "a number", lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

bool srv_oai_params(const cJSON *j, const char *max_key, gen_params *gp, hearth_error *err)
{
    smp_params *sp = &gp->sampling;
    *gp = gen_default_params();
    sp->temperature = 1;
    sp->top_k = 0;
    sp->top_p = 1;
    sp->min_p = 0;
    sp->seed = (uint64_t)time(NULL);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model))
        return err_set(err, HEARTH_ERR_INVALID, "'model' must be a string"), false;
    double v;
    int k;
    if ((k = srv_json_num(j, max_key, 1, 1 << 20, true, &v, err)) < 0)
        return false;
    if (k)
        gp->n_predict = (int)v;
    if ((k = srv_json_num(j, "temperature", 0, 2, false, &v, err)) < 0)
        return false;
    if (k)
        sp->temperature = (float)v;
    if ((k = srv_json_num(j, "top_p", 0, 1, false, &v, err)) < 0)
        return false;
    if (k)
        sp->top_p = (float)v;
    return true;
}

bool srv_sse_data(http_stream *st, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return false;
    bool ok = http_stream_write(st, "data: ", 6) && http_stream_write(st, text, strlen(text)) &&
              http_stream_write(st, "\n\n", 2);
    cJSON_free(text);
    return ok;
}

int srv_json_stops(const cJSON *v, const char **stops, int max, hearth_error *err)
{
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v) && *v->valuestring) {
        stops[0] = v->valuestring;
        return 1;
    }
    int n = 0;
    const cJSON *e;
    bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) <= max;
    cJSON_ArrayForEach(e, v) {
        if (!ok || !cJSON_IsString(e) || !*e->valuestring || strlen(e->valuestring) > 256) {
            ok = false;
            break;
        }
        stops[n++] = e->valuestring;
    }
    if (!ok) {
        err_set(err, HEARTH_ERR_INVALID, "'stop' must be a non-empty string or an array of at "
                "most %d non-empty strings (up to 256 bytes each)", max);
        return -1;
    }
    return n;
}

char *srv_content_text(const cJSON *c, const char *type, const char *what, hearth_error *err)
{
    if (!c || cJSON_IsNull(c))
        return mem_strdup("");
    if (cJSON_IsString(c))
        return mem_strdup(c->valuestring);
    tok_str b = { 0 };
    const cJSON *part;
    bool ok = cJSON_IsArray(c);
    cJSON_ArrayForEach(part, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!ok || !cJSON_IsString(text) ||
            (type && (!cJSON_IsString(t) || strcmp(t->valuestring, type) != 0))) {
            ok = false;
            break;
        }
        size_t n = strlen(text->valuestring);
        char *nb = mem_realloc(b.s, b.n + n + 1);
        if (!nb) {
            ok = false;
            break;
        }
        b.s = nb;
        memcpy(b.s + b.n, text->valuestring, n + 1);
        b.n += n;
    }
    if (!ok) {
        mem_free(b.s);
        err_set(err, HEARTH_ERR_INVALID, "%s must be a string or an array of {\"type\": \"%s\", "
                "\"text\": ...} parts", what, type ? type : "input_text");
        return NULL;
    }
    return b.s ? b.s : mem_strdup("");
}

bool srv_output_grammar(const cJSON *v, bool ollama, grm_grammar **out, hearth_error *err)
{
    *out = NULL;
    const cJSON *schema = NULL;
    bool any = false;
    if (!v || cJSON_IsNull(v) || (ollama && cJSON_IsString(v) && !*v->valuestring))
        return true;
    if (ollama) {
        any = cJSON_IsString(v) && strcmp(v->valuestring, "json") == 0;
        schema = cJSON_IsObject(v) ? v : NULL;
    } else {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        if (strcmp(t, "text") == 0)
            return true;
        any = strcmp(t, "json_object") == 0;
        if (strcmp(t, "json_schema") == 0)
            schema = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(v, "json_schema"), "schema");
        if (schema && !cJSON_IsObject(schema) && !cJSON_IsBool(schema))
            schema = NULL;
    }
    if (!any && !schema) {
        err_set(err, HEARTH_ERR_INVALID, ollama ? "'format' must be \"json\" or a JSON schema"
                : "'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"}"
                  " or {\"type\": \"json_schema\", \"json_schema\": {\"schema\": ...}}");
        return false;
    }
    char *gbnf = NULL;
    const char *text = jsch_any_object_gbnf;
    if (schema) {
        if (jsch_to_gbnf_json(schema, "schema", &gbnf, err) != HEARTH_OK)
            return false;
        text = gbnf;
    }
    hearth_status st = grm_parse(out, text, strlen(text), "schema", err);
    mem_free(gbnf);
    return st == HEARTH_OK;
}

hearth_status srv_chat_prompt(const gen_model *gm, const tpl_message *msgs, int n,
                              tok_ids *out, hearth_error *err)
{
    const tok_vocab *v = gm->vocab;
    const tok_specials *sp = tok_special(v);
    const char *bos = sp->bos >= 0 ? tok_text(v, sp->bos, NULL) : "";
    const char *eos = sp->eos >= 0 ? tok_text(v, sp->eos, NULL) : "";
    char *text = NULL;
    hearth_status st = HEARTH_ERR_UNSUPPORTED;
    if (gm->chat_template)
        st = tpl_render(gm->chat_template, msgs, n, true, bos, eos, &text, err);
    if (st)
        st = tpl_render_chatml(msgs, n, true, &text, err);
    if (st)
        return st;
    /* the template writes BOS itself when it wants one */
    bool has_bos = bos && *bos && strncmp(text, bos, strlen(bos)) == 0;
    st = tok_encode(v, text, strlen(text), !has_bos, true, out, err);
    mem_free(text);
    return st;
}

hearth_status srv_raw_prompt(const gen_model *gm, const char *text, tok_ids *out,
                             hearth_error *err)
{
    return tok_encode(gm->vocab, text, strlen(text), true, false, out, err);
}

void srv_piece_utf8(const gen_model *gm, tok_id id, char *out, size_t cap)
{
    size_t n;
    const char *s = tok_piece(gm->vocab, id, true, &n);
    utf8_sanitize(s ? s : "", s ? n : 0, out, cap);
}

void srv_send_json(http_req *r, int status, cJSON *o, const char *const *headers)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}";
        http_respond(r, 500, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    http_respond(r, status, "application/json", text, strlen(text), headers);
    cJSON_free(text);
}

/* ---- routes -------------------------------------------------------------------------- */

static void health(srv *s, http_req *r)
{
    (void)s;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_respond(r, 200, "application/json", ok, sizeof ok - 1, NULL);
}

static void web_page(srv *s, http_req *r)
{
    (void)s;
    static const char *const hdr[] = {
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'", NULL };
    http_respond(r, 200, "text/html; charset=utf-8", web_index_html, strlen(web_index_html), hdr);
}

static void metrics(srv *s, http_req *r);

static const struct route {
    const char *method, *path;
    void (*fn)(srv *s, http_req *r);
    bool open; /* needs no API key */
} routes[] = {
    { "GET", "/", web_page, true },
    { "GET", "/health", health, true },
    { "GET", "/metrics", metrics, false },
    { "GET", "/v1/models", oai_models, false },
    { "POST", "/v1/chat/completions", oai_chat, false },
    { "POST", "/v1/completions", oai_completions, false },
    { "POST", "/v1/responses", oai_responses, false },
    { "GET", "/api/version", oll_version, false },
    { "GET", "/api/tags", oll_tags, false },
    { "GET", "/api/ps", oll_ps, false },
    { "POST", "/api/show", oll_show, false },
    { "POST", "/api/generate", oll_generate, false },
    { "POST", "/api/chat", oll_chat, false },
    { "POST", "/v1/embeddings", oai_embeddings, false },
    { "POST", "/api/embed", oll_embed, false },
    { "POST", "/api/embeddings", oll_embeddings, false },
    { "POST", "/v1/audio/transcriptions", oai_transcriptions, false },
    { "POST", "/v1/audio/translations", oai_translations, false },
};

_Static_assert(sizeof routes / sizeof routes[0] == SRV_N_ROUTES, "SRV_N_ROUTES");

void srv_count_generation(srv *s, const gen_stats *st)
{
    srv_metrics *m = &s->metrics;
    atomic_fetch_add(&m->generations, 1);
    atomic_fetch_add(&m->prompt_tokens, st->n_prompt);
    atomic_fetch_add(&m->gen_tokens, st->n_gen);
    atomic_fetch_add(&m->ttft_us, (long)(st->prompt_ms * 1e3));
    atomic_fetch_add(&m->gen_us, (long)(st->gen_ms * 1e3));
}

/* The page is best effort: a line that cannot be had is dropped. */
static void text_append(tok_str *b, const char *text)
{
    tok_str_append(b, text, strlen(text));
}

static void add_load(void *user, const srv_model *m, double now)
{
    (void)now;
    if (m->sched) {
        bat_load l = bat_get_load(m->sched);
        ((long *)user)[0] += l.active;
        ((long *)user)[1] += l.queued;
        ((long *)user)[2]++;
    }
}

static void metrics(srv *s, http_req *r)
{
    tok_str out = { 0 };
    char line[1200];
    long load[3] = { 0, 0, 0 };
    models_each(s->models, add_load, load);
    srv_metrics *m = &s->metrics;
    for (int i = 0; i <= SRV_N_ROUTES; i++)
        for (int c = 0; c < 5; c++) {
            long n = atomic_load(&m->requests[i][c]);
            if (!n)
                continue;
            snprintf(line, sizeof line, "hearth_http_requests_total{route=\"%s\",code=\"%dxx\"} %ld\n",
                     i < SRV_N_ROUTES ? routes[i].path : "other", c + 1, n);
            text_append(&out, line);
        }
    snprintf(line, sizeof line,
             "hearth_generations_total %ld\nhearth_prompt_tokens_total %ld\n"
             "hearth_generated_tokens_total %ld\nhearth_time_to_first_token_seconds_sum %.6f\n"
             "hearth_time_to_first_token_seconds_count %ld\n"
             "hearth_generation_seconds_total %.6f\nhearth_requests_active %ld\n"
             "hearth_requests_queued %ld\nhearth_models_loaded %ld\n",
             atomic_load(&m->generations), atomic_load(&m->prompt_tokens),
             atomic_load(&m->gen_tokens), atomic_load(&m->ttft_us) / 1e6,
             atomic_load(&m->generations), atomic_load(&m->gen_us) / 1e6, load[0], load[1],
             load[2]);
    text_append(&out, line);
    http_respond(r, 200, "text/plain; version=0.0.4", out.s ? out.s : "", out.n, NULL);
    tok_str_free(&out);
}

/* Answer r; returns the route's index (SRV_N_ROUTES: none) for the counters. */
static int dispatch(srv *s, http_req *r)
{
    if (!auth_host_ok(http_header(r, "Host"), s->c.allow_hosts)) {
        oai_error(r, 403, "this Host is not allowed (start the server with --allow-host NAME)");
        return SRV_N_ROUTES;
    }
    const char *origin = http_header(r, "Origin");
    bool cors = origin && s->c.cors_origin && strcmp(origin, s->c.cors_origin) == 0;
    if (cors)
        r->headers = s->cors;
    if (strcmp(r->method, "OPTIONS") == 0) {
        http_respond(r, cors ? 204 : 403, NULL, "", 0, NULL);
        return SRV_N_ROUTES;
    }
    const struct route *found = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(r->path, routes[i].path) != 0)
            continue;
        path_known = true;
        if (strcmp(r->method, routes[i].method) == 0 ||
            (strcmp(r->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            found = &routes[i];
    }
    if (!(found && found->open) && s->c.api_key &&
        !auth_bearer_ok(http_header(r, "Authorization"), s->c.api_key)) {
        static const char *const hdr[] = { "WWW-Authenticate", "Bearer", NULL };
        cJSON *o = cJSON_CreateObject();
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", "a valid API key is needed "
                                "(Authorization: Bearer KEY)");
        cJSON_AddStringToObject(e, "type", "invalid_request_error");
        cJSON_AddStringToObject(e, "code", "invalid_api_key");
        srv_send_json(r, 401, o, hdr);
        return found ? (int)(found - routes) : SRV_N_ROUTES;
    }
    if (!found && strncmp(r->path, "/v1/knowledge/", 14) == 0) {
        srv_knowledge(s, r);
        return SRV_N_ROUTES;
    }
    if (!found) {
        oai_error(r, path_known ? 405 : 404, path_known ? "method not allowed" : "not found");
        return SRV_N_ROUTES;
    }
    found->fn(s, r);
    return (int)(found - routes);
}

static void on_request(void *user, http_req *r)
{
    srv *s = user;
    double t0 = models_now();
    int route = dispatch(s, r);
    if (r->status >= 100 && r->status < 600)
        atomic_fetch_add(&s->metrics.requests[route][r->status / 100 - 1], 1);
    if (s->c.log) {
        char line[1024];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(line, sizeof line, "%s %s %.200s %d %.1fms%s%.600s", when, r->method, r->path,
                 r->status, (models_now() - t0) * 1e3, s->c.log_prompts ? " " : "",
                 s->c.log_prompts ? r->body : "");
        s->c.log(s->c.log_user, line);
    }
}

/* ---- lifetime ------------------------------------------------------------------------ */

hearth_status srv_start(srv **out, const srv_config *c, hearth_error *err)
{
    *out = NULL;
    if (c->api_key && strlen(c->api_key) < 8)
        return err_set(err, HEARTH_ERR_INVALID, "the API key is too short (at least 8 characters)");
    if (!auth_is_loopback(c->host) && !c->api_key && !c->insecure_no_auth)
        return err_set(err, HEARTH_ERR_INVALID, "refusing to listen on %s without an API key: "
                       "set --api-key KEY (or HEARTH_API_KEY), or pass --insecure-no-auth if "
                       "everyone who can reach this address may use it", c->host);
    srv *s = mem_calloc(1, sizeof *s);
    if (!s)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    s->c = *c;
    s->emb = semb_open();
    s->wsp = swsp_open();
    if (!s->emb || !s->wsp) {
        semb_close(s->emb);
        swsp_close(s->wsp);
        mem_free(s);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    /* clients reach a specific address by that address: allow it as a Host */
    int n_allow = 0;
    while (n_allow < SRV_MAX_ALLOW_HOSTS && s->c.allow_hosts[n_allow])
        n_allow++;
    if (n_allow < SRV_MAX_ALLOW_HOSTS && strcmp(c->host, "0.0.0.0") != 0 &&
        strcmp(c->host, "::") != 0)
        s->c.allow_hosts[n_allow] = c->host;
    if (c->cors_origin) {
        s->cors[0] = "Access-Control-Allow-Origin";
        s->cors[1] = c->cors_origin;
        s->cors[2] = "Access-Control-Allow-Headers";
        s->cors[3] = "Authorization, Content-Type";
        s->cors[4] = "Access-Control-Allow-Methods";
        s->cors[5] = "GET, POST, OPTIONS";
    }
    hearth_status st = models_open(&s->models, c, err);
    if (!st) {
        http_config hc = { .host = c->host, .port = c->port, .max_body = c->max_body,
                           .max_conn = c->max_conn, .timeout_s = c->timeout_s,
                           .handler = on_request, .user = s };
        st = http_start(&s->http, &hc, err);
    }
    if (st) {
        models_close(s->models);
        semb_close(s->emb);
        swsp_close(s->wsp);
        mem_free(s);
        return st;
    }
    *out = s;
    return HEARTH_OK;
}

int srv_port(const srv *s)
{
    return http_port(s->http);
}

void srv_stop(srv *s)
{
    if (!s)
        return;
    http_quiesce(s->http);
    models_stop(s->models); /* cancels generations: their streams and waits end */
    http_stop(s->http, 5);
    models_close(s->models);
    semb_close(s->emb);
    swsp_close(s->wsp);
    mem_free(s);
}
