/*
 * ollama.c — the Ollama-compatible routes: /api/version, /api/tags, /api/ps, /api/show,
 * /api/generate and /api/chat, streaming as NDJSON (one JSON object per line, the last
 * with "done": true and the counts and durations in nanoseconds).
 *
 * Options map onto the sampler as Ollama's do (temperature, top_k, top_p, min_p,
 * num_predict, seed, stop, repeat_penalty, repeat_last_n, presence/frequency_penalty);
 * num_ctx grows the loaded model's context to that many tokens (models.c: when no request
 * is using the model, up to --max-ctx or its training context; never shrinks it).
 * format ("json" or a JSON schema) constrains the output with a grammar.
 * keep_alive is a duration ("5m", "30s", "1h"), a number of seconds, 0 to unload at once
 * or negative to keep the model loaded.
 *
 * /api/chat takes "tools" as Ollama does (OpenAI's function format; tool_calls in
 * messages carry arguments as objects; tool results are role "tool" messages): rendered
 * by the chat template, constrained and parsed per model family as for /v1 (tools.h,
 * tool_choice "auto"). A streamed answer with tools is held to the end, then sent as one
 * chunk with message.tool_calls (or the text) before the final one.
 */
#include "server/server_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "server/tools.h"

#define OLL_MAX_STOP 16

static void oll_error(http_req *r, int status, const char *msg)
{
    static const char *const retry[] = { "Retry-After", "1", NULL };
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    srv_send_json(r, status, o, status == 503 ? retry : NULL);
}

static void iso_time(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void oll_version(srv *s, http_req *r)
{
    (void)s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", HEARTH_VERSION);
    srv_send_json(r, 200, o, NULL);
}

static cJSON *details(const srv_model *m)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "format", "gguf");
    const char *arch = m->gm ? llm_model_hparams(m->gm->llm)->arch : "";
    cJSON_AddStringToObject(d, "family", arch);
    return d;
}

/* size: the file's bytes (/api/tags), or what the loaded model holds (/api/ps). */
static cJSON *model_entry(const srv_model *m, size_t size)
{
    char when[32];
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", m->name);
    cJSON_AddStringToObject(e, "model", m->name);
    iso_time((time_t)m->mtime, when, sizeof when);
    cJSON_AddStringToObject(e, "modified_at", when);
    cJSON_AddNumberToObject(e, "size", (double)size);
    cJSON_AddStringToObject(e, "digest", "");
    cJSON_AddItemToObject(e, "details", details(m));
    return e;
}

static void tag_entry(void *user, const srv_model *m, double now)
{
    (void)now;
    cJSON_AddItemToArray(user, model_entry(m, m->file_size));
}

static void ps_entry(void *user, const srv_model *m, double now)
{
    if (!m->gm)
        return;
    /* as Ollama's: the memory the model takes, its KV cache with its weights */
    cJSON *e = model_entry(m, m->file_size + bat_kv_held(m->sched));
    char when[32] = "0001-01-01T00:00:00Z"; /* Ollama's "never" */
    if (m->expires >= 0 && m->users == 0)
        iso_time(time(NULL) + (time_t)(m->expires - now), when, sizeof when);
    cJSON_AddStringToObject(e, "expires_at", when);
    cJSON_AddNumberToObject(e, "size_vram", 0);
    cJSON_AddNumberToObject(e, "context_length", bat_n_ctx(m->sched));
    cJSON_AddItemToArray(user, e);
}

void oll_tags(srv *s, http_req *r)
{
    cJSON *o = cJSON_CreateObject();
    models_each(s->models, tag_entry, cJSON_AddArrayToObject(o, "models"));
    srv_send_json(r, 200, o, NULL);
}

void oll_ps(srv *s, http_req *r)
{
    cJSON *o = cJSON_CreateObject();
    models_each(s->models, ps_entry, cJSON_AddArrayToObject(o, "models"));
    srv_send_json(r, 200, o, NULL);
}

/* The "model" (or older "name") field. */
static const char *model_name(const cJSON *j)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(v))
        v = cJSON_GetObjectItemCaseSensitive(j, "name");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void oll_show(srv *s, http_req *r)
{
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    srv_model *m = NULL;
    hearth_error err = { 0 };
    int status = 400;
    if (!cJSON_IsObject(j) || !model_name(j))
        err_set(&err, HEARTH_ERR_INVALID, "the body must be a JSON object with a 'model'");
    else if (models_acquire(s->models, model_name(j), 0, &m, &status, &err) == HEARTH_OK)
        status = 200;
    if (status != 200) {
        oll_error(r, status, err.msg);
    } else {
        const llm_hparams *hp = llm_model_hparams(m->gm->llm);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "modelfile", "");
        cJSON_AddStringToObject(o, "parameters", "");
        cJSON_AddStringToObject(o, "template", m->gm->chat_template ? m->gm->chat_template : "");
        cJSON_AddItemToObject(o, "details", details(m));
        cJSON *info = cJSON_AddObjectToObject(o, "model_info");
        char key[64];
        cJSON_AddStringToObject(info, "general.architecture", hp->arch);
        snprintf(key, sizeof key, "%s.context_length", hp->arch);
        cJSON_AddNumberToObject(info, key, hp->n_ctx_train);
        snprintf(key, sizeof key, "%s.embedding_length", hp->arch);
        cJSON_AddNumberToObject(info, key, hp->n_embd);
        snprintf(key, sizeof key, "%s.block_count", hp->arch);
        cJSON_AddNumberToObject(info, key, hp->n_layer);
        srv_send_json(r, 200, o, NULL);
    }
    models_release(s->models, m, s->c.keep_alive_s);
    cJSON_Delete(j);
}

/* ---- generation ---------------------------------------------------------------------- */

typedef struct oll_req {
    cJSON *json;
    gen_params gp;
    const char *stops[OLL_MAX_STOP];
    bool stream;
    double keep_alive_s;
    int n_ctx;            /* options.num_ctx; 0: not given */
    grm_grammar *grammar; /* format or the tool-call grammar, or NULL */
    tool_req tools;
} oll_req;

/* keep_alive: a number of seconds or a duration string; false on a bad value. */
static bool parse_keep_alive(const cJSON *v, double *out)
{
    if (!v || cJSON_IsNull(v))
        return true;
    if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble) || fabs(v->valuedouble) > 1e9)
            return false;
        *out = v->valuedouble;
        return true;
    }
    if (!cJSON_IsString(v))
        return false;
    char *end;
    double d = strtod(v->valuestring, &end);
    if (end == v->valuestring || !isfinite(d) || fabs(d) > 1e9)
        return false;
    static const struct { const char *unit; double s; } units[] = {
        { "", 1 }, { "s", 1 }, { "ms", 1e-3 }, { "m", 60 }, { "h", 3600 } };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            *out = d * units[i].s;
            return true;
        }
    return false;
}

static bool parse_options(oll_req *q, hearth_error *err)
{
    const cJSON *j = q->json;
    q->gp = gen_default_params();
    smp_params *sp = &q->gp.sampling;
    sp->seed = (uint64_t)time(NULL);
    q->stream = true;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stream");
    if (st && !cJSON_IsNull(st)) {
        if (!cJSON_IsBool(st))
            return err_set(err, HEARTH_ERR_INVALID, "'stream' must be true or false"), false;
        q->stream = cJSON_IsTrue(st);
    }
    if (!srv_output_grammar(cJSON_GetObjectItemCaseSensitive(j, "format"), true, &q->grammar,
                            err))
        return false;
    q->gp.grammar = q->grammar;
    if (!parse_keep_alive(cJSON_GetObjectItemCaseSensitive(j, "keep_alive"), &q->keep_alive_s))
        return err_set(err, HEARTH_ERR_INVALID, "'keep_alive' must be seconds or a duration "
                       "such as \"5m\""), false;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "options");
    if (!o || cJSON_IsNull(o))
        return true;
    if (!cJSON_IsObject(o))
        return err_set(err, HEARTH_ERR_INVALID, "'options' must be an object"), false;
    static const struct { const char *key; double lo, hi; bool integer; } opt[] = {
        { "temperature", 0, 100, false }, { "top_k", 0, 1 << 24, true },
        { "top_p", 0, 1, false },         { "min_p", 0, 1, false },
        { "num_predict", -2, 1 << 20, true }, { "seed", -9.007199254740992e15, 9.007199254740992e15, true },
        { "repeat_penalty", 0.01, 100, false }, { "repeat_last_n", -1, 1 << 20, true },
        { "presence_penalty", -2, 2, false }, { "frequency_penalty", -2, 2, false },
        { "num_ctx", 1, 1 << 22, true },
    };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        double v;
        int k = srv_json_num(o, opt[i].key, opt[i].lo, opt[i].hi, opt[i].integer, &v, err);
        if (k < 0)
            return false;
        if (k == 0)
            continue;
        switch (i) {
        case 0: sp->temperature = (float)v; break;
        case 1: sp->top_k = (int)v; break;
        case 2: sp->top_p = (float)v; break;
        case 3: sp->min_p = (float)v; break;
        case 4: q->gp.n_predict = v < 0 ? -1 : (int)v; break;
        case 5: sp->seed = (uint64_t)(int64_t)v; break;
        case 6: sp->repeat_penalty = (float)v; break;
        case 7: sp->penalty_last_n = v < 0 ? 1 << 20 : (int)v; break;
        case 8: sp->presence_penalty = (float)v; break;
        case 9: sp->frequency_penalty = (float)v; break;
        default: q->n_ctx = (int)v; break;
        }
    }
    int ns = srv_json_stops(cJSON_GetObjectItemCaseSensitive(o, "stop"), q->stops,
                            OLL_MAX_STOP, err);
    if (ns < 0)
        return false;
    q->gp.stop = q->stops;
    q->gp.n_stop = ns;
    return true;
}

typedef struct oll_stream {
    char model[128];
    char id[32];
    bool chat;
    grm_grammar *grammar; /* owned: the job uses it until it ends */
    tool_family tools;    /* TOOL_NONE: plain text */
    tok_str held;         /* with tools: the whole answer, sent at the end */
} oll_stream;

static cJSON *oll_envelope(const oll_stream *o)
{
    char when[32];
    iso_time(time(NULL), when, sizeof when);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "model", o->model);
    cJSON_AddStringToObject(e, "created_at", when);
    return e;
}

static void add_text(const oll_stream *o, cJSON *e, const char *text)
{
    if (o->chat) {
        cJSON *m = cJSON_AddObjectToObject(e, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text);
    } else {
        cJSON_AddStringToObject(e, "response", text);
    }
}

/* The answer of a request with tools: content and Ollama-style tool_calls
 * ({"function": {"name", "arguments": {...}}}). false on out-of-memory. */
static bool add_answer(const oll_stream *o, cJSON *e, const char *text)
{
    char *content = NULL;
    cJSON *calls = NULL;
    if (!tool_parse(o->tools, text, o->id, &content, &calls))
        return false;
    add_text(o, e, content);
    mem_free(content);
    if (!calls)
        return true;
    cJSON *tc = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(e, "message"),
                                       "tool_calls");
    const cJSON *c;
    cJSON_ArrayForEach(c, calls) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
        cJSON *of = cJSON_CreateObject();
        cJSON_AddItemToObject(of, "name", cJSON_Duplicate(
            cJSON_GetObjectItemCaseSensitive(f, "name"), true));
        cJSON *args = cJSON_Parse(cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(f, "arguments")));
        cJSON_AddItemToObject(of, "arguments", args ? args : cJSON_CreateObject());
        cJSON *w = cJSON_CreateObject();
        cJSON_AddItemToObject(w, "function", of);
        cJSON_AddItemToArray(tc, w);
    }
    cJSON_Delete(calls);
    return true;
}

static void add_final(cJSON *e, const gen_stats *st)
{
    cJSON_AddBoolToObject(e, "done", true);
    cJSON_AddStringToObject(e, "done_reason", st->finish == GEN_FINISH_LENGTH ||
                            st->finish == GEN_FINISH_CONTEXT ? "length" : "stop");
    cJSON_AddNumberToObject(e, "total_duration", round((st->prompt_ms + st->gen_ms) * 1e6));
    cJSON_AddNumberToObject(e, "load_duration", 0);
    cJSON_AddNumberToObject(e, "prompt_eval_count", st->n_prompt);
    cJSON_AddNumberToObject(e, "prompt_eval_duration", round(st->prompt_ms * 1e6));
    cJSON_AddNumberToObject(e, "eval_count", st->n_gen);
    cJSON_AddNumberToObject(e, "eval_duration", round(st->gen_ms * 1e6));
}

static bool send_line(http_stream *st, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return false;
    bool ok = http_stream_write(st, text, strlen(text)) && http_stream_write(st, "\n", 1);
    cJSON_free(text);
    return ok;
}

static bool oll_piece(void *user, http_stream *st, const gen_token *t, const char *text,
                      size_t len)
{
    (void)t;
    oll_stream *o = user;
    if (o->tools != TOOL_NONE)
        return tok_str_append(&o->held, text, len) == HEARTH_OK;
    if (len == 0)
        return true;
    char *s = mem_strndup(text, len);
    if (!s)
        return false;
    cJSON *e = oll_envelope(o);
    add_text(o, e, s);
    cJSON_AddBoolToObject(e, "done", false);
    mem_free(s);
    return send_line(st, e);
}

static void oll_done(void *user, http_stream *st, hearth_status status, const gen_stats *stats,
                     const hearth_error *err)
{
    oll_stream *o = user;
    cJSON *e = oll_envelope(o);
    if (status) {
        cJSON_AddStringToObject(e, "error", err ? err->msg : "generation failed");
    } else {
        if (o->tools != TOOL_NONE) {
            cJSON *a = oll_envelope(o);
            if (add_answer(o, a, o->held.s ? o->held.s : "")) {
                cJSON_AddBoolToObject(a, "done", false);
                send_line(st, a);
            } else {
                cJSON_Delete(a);
            }
        }
        add_text(o, e, "");
        add_final(e, stats);
    }
    send_line(st, e);
}

static void oll_free(void *user)
{
    oll_stream *o = user;
    grm_free(o->grammar);
    tok_str_free(&o->held);
    mem_free(o);
}

static const srv_stream_fmt oll_fmt = { oll_piece, oll_done, oll_free };

/* The prompt of /api/generate: raw text, or the prompt (and system) as a chat turn. */
static hearth_status generate_prompt(const gen_model *gm, const cJSON *j, tok_ids *ids,
                                     bool *empty, hearth_error *err)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(j, "system");
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(j, "raw");
    if ((p && !cJSON_IsNull(p) && !cJSON_IsString(p)) || (sys && !cJSON_IsNull(sys) &&
                                                          !cJSON_IsString(sys)))
        return err_set(err, HEARTH_ERR_INVALID, "'prompt' and 'system' must be strings");
    *empty = !cJSON_IsString(p) || !*p->valuestring;
    if (*empty)
        return HEARTH_OK;
    if (cJSON_IsTrue(raw))
        return srv_raw_prompt(gm, p->valuestring, ids, err);
    tpl_message msgs[2];
    int n = 0;
    if (cJSON_IsString(sys))
        msgs[n++] = (tpl_message){ .role = "system", .content = sys->valuestring };
    msgs[n++] = (tpl_message){ .role = "user", .content = p->valuestring };
    return srv_chat_prompt(gm, msgs, n, ids, err);
}

static hearth_status chat_prompt(const gen_model *gm, const cJSON *messages,
                                 const char *tools_json, tok_ids *ids, hearth_error *err)
{
    int n = cJSON_GetArraySize(messages);
    if (!cJSON_IsArray(messages) || n < 1 || n > 1024)
        return err_set(err, HEARTH_ERR_INVALID, "'messages' must be an array of 1 to 1024 "
                       "messages");
    tpl_message *msgs = mem_calloc((size_t)n, sizeof *msgs);
    if (!msgs)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    int i = 0;
    const cJSON *m;
    hearth_status st = HEARTH_OK;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "tool_name");
        if (!cJSON_IsString(role) || (content && !cJSON_IsNull(content) &&
                                      !cJSON_IsString(content))) {
            st = err_set(err, HEARTH_ERR_INVALID, "message %d needs a 'role' and a string "
                         "'content'", i);
            break;
        }
        msgs[i].role = role->valuestring;
        msgs[i].content = cJSON_IsString(content) ? content->valuestring : "";
        msgs[i].name = cJSON_IsString(name) ? name->valuestring : NULL;
        if (cJSON_GetArraySize(calls) > 0 &&
            !(msgs[i].tool_calls = tool_calls_for_template(calls, err))) {
            st = err->status ? err->status : HEARTH_ERR_NOMEM;
            break;
        }
        i++;
    }
    if (!st)
        st = tools_json ? tool_chat_prompt(gm, msgs, n, tools_json, ids, err)
                        : srv_chat_prompt(gm, msgs, n, ids, err);
    for (int k = 0; k < i; k++)
        mem_free((char *)msgs[k].tool_calls);
    mem_free(msgs);
    return st;
}

/* tools (chat only): checked against the template; their grammar replaces format. */
static hearth_status chat_tools(oll_req *q, const gen_model *gm, hearth_error *err)
{
    hearth_status st = tool_req_parse(&q->tools, cJSON_GetObjectItemCaseSensitive(q->json,
                                                                                "tools"),
                                      NULL, gm->chat_template, err);
    if (st || !q->tools.tools)
        return st;
    if (q->grammar)
        return err_set(err, HEARTH_ERR_INVALID, "give 'tools' or 'format', not both");
    st = tool_grammar(&q->tools, &q->grammar, err);
    q->gp.grammar = q->grammar;
    return st;
}

static void run(srv *s, http_req *r, bool chat)
{
    hearth_error err = { 0 };
    oll_req q = { .json = cJSON_ParseWithLength(r->body, r->body_len),
                  .keep_alive_s = s->c.keep_alive_s };
    srv_model *m = NULL;
    tok_ids ids = { 0 };
    int status = 400;
    bool empty = false;
    if (!cJSON_IsObject(q.json))
        err_set(&err, HEARTH_ERR_INVALID, "the body must be a JSON object");
    else if (parse_options(&q, &err) &&
             models_acquire(s->models, model_name(q.json), q.n_ctx, &m, &status, &err) ==
                 HEARTH_OK) {
        hearth_status st = chat ? chat_tools(&q, m->gm, &err) : HEARTH_OK;
        if (!st)
            st = chat ? chat_prompt(m->gm, cJSON_GetObjectItemCaseSensitive(q.json, "messages"),
                                    q.tools.tools_json, &ids, &err)
                      : generate_prompt(m->gm, q.json, &ids, &empty, &err);
        status = st ? (st == HEARTH_ERR_NOMEM ? 500 : 400) : 0;
    }
    oll_stream *o = status ? NULL : mem_calloc(1, sizeof *o);
    if (o) {
        snprintf(o->model, sizeof o->model, "%s", m->name);
        snprintf(o->id, sizeof o->id, "%ld", atomic_fetch_add(&s->next_id, 1) + 1);
        o->chat = chat;
        o->tools = q.tools.tools ? q.tools.family : TOOL_NONE;
    } else if (!status) {
        status = 500;
        err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
    }
    if (o && empty) { /* Ollama's way to load a model: an empty prompt */
        cJSON *e = oll_envelope(o);
        add_text(o, e, "");
        cJSON_AddBoolToObject(e, "done", true);
        cJSON_AddStringToObject(e, "done_reason", q.keep_alive_s == 0 ? "unload" : "load");
        srv_send_json(r, 200, e, NULL);
        status = 200;
    } else if (o) {
        srv_gen_req g = { .m = m, .prompt = ids.v, .n_prompt = ids.n, .params = q.gp,
                          .keep_alive_s = q.keep_alive_s };
        if (q.stream) {
            o->grammar = q.grammar;
            status = srv_generate_stream(s, r, &g, &oll_fmt, o, "application/x-ndjson", &err);
            if (status == 200)
                m = NULL, o = NULL, q.grammar = NULL; /* the stream owns them now */
            else
                o->grammar = NULL;
        } else {
            srv_result res;
            status = srv_generate(s, r, &g, &res, &err);
            if (status == 200) {
                cJSON *e = oll_envelope(o);
                const char *text = res.text.s ? res.text.s : "";
                if (o->tools == TOOL_NONE)
                    add_text(o, e, text);
                else if (!add_answer(o, e, text))
                    status = 500, err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
                add_final(e, &res.stats);
                if (status == 200)
                    srv_send_json(r, 200, e, NULL);
                else
                    cJSON_Delete(e);
            }
            srv_result_free(&res);
        }
    }
    if (status != 200)
        oll_error(r, status, err.msg[0] ? err.msg : "bad request");
    mem_free(o);
    models_release(s->models, m, q.keep_alive_s);
    tok_ids_free(&ids);
    grm_free(q.grammar);
    tool_req_free(&q.tools);
    cJSON_Delete(q.json);
}

void oll_generate(srv *s, http_req *r)
{
    run(s, r, false);
}

void oll_chat(srv *s, http_req *r)
{
    run(s, r, true);
}
