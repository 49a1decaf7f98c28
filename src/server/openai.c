/*
 * openai.c — the OpenAI-compatible routes: /v1/models, /v1/chat/completions,
 * /v1/completions, with streaming as Server-Sent Events ("data: JSON\n\n" per chunk,
 * "data: [DONE]" last).
 *
 * Every field a client sends is checked for type and range before anything uses it
 * (400 with a message naming the field); fields we do not know are ignored, as OpenAI's
 * own clients add new ones often. Sampling defaults are OpenAI's (temperature 1, no
 * top-k or min-p), not the command line's. response_format json_object / json_schema
 * constrains the output with a grammar (json_schema.h); a "grammar" field (GBNF text, as
 * llama.cpp's server accepts) constrains it directly.
 *
 * Tools (tools.h): the tool definitions go to the chat template, the output is
 * constrained and parsed per model family, and calls come back as message.tool_calls
 * with finish_reason "tool_calls". When streaming, text that may be the start of a call
 * is held back; a call is sent whole once generation ends, as the two deltas OpenAI's
 * clients accumulate (id, type and name with empty arguments, then the arguments).
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "server/tools.h"

#define OAI_MAX_STOP 16
#define OAI_MAX_BIAS 300
#define OAI_MAX_MESSAGES 1024

void oai_error(http_req *r, int status, const char *msg)
{
    static const char *const retry[] = { "Retry-After", "1", NULL };
    const char *type = status == 401 ? "authentication_error"
                       : status == 403 ? "permission_error"
                       : status == 404 ? "not_found_error"
                       : status == 429 || status == 503 ? "server_busy"
                       : status >= 500 ? "server_error" : "invalid_request_error";
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNumberToObject(e, "code", status);
    srv_send_json(r, status, o, status == 429 || status == 503 ? retry : NULL);
}

/* ---- /v1/models ---------------------------------------------------------------------- */

static void add_model(void *user, const srv_model *m, double now)
{
    (void)now;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", m->name);
    cJSON_AddStringToObject(e, "object", "model");
    cJSON_AddNumberToObject(e, "created", (double)m->mtime);
    cJSON_AddStringToObject(e, "owned_by", "hearth");
    cJSON_AddItemToArray(user, e);
}

void oai_models(srv *s, http_req *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    models_each(s->models, add_model, data);
    srv_send_json(r, 200, o, NULL);
}

/* ---- request parsing ----------------------------------------------------------------- */

typedef struct oai_req {
    cJSON *json;
    const char *model;
    gen_params gp;
    const char *stops[OAI_MAX_STOP];
    smp_logit_bias bias[OAI_MAX_BIAS];
    bool stream, include_usage;
    int n_logprobs;   /* < 0: none; else top alternatives per token */
    bool chat;
    grm_grammar *grammar; /* response_format or the tool-call grammar, or NULL */
    tool_req tools;
} oai_req;

static bool get_bool(const cJSON *o, const char *key, bool *out, hearth_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsBool(v)) {
        err_set(err, HEARTH_ERR_INVALID, "'%s' must be true or false", key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

static bool parse_bias(const cJSON *v, oai_req *q, hearth_error *err)
{
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) > OAI_MAX_BIAS) {
        err_set(err, HEARTH_ERR_INVALID, "'logit_bias' must be an object of at most %d "
                "\"token id\": bias pairs", OAI_MAX_BIAS);
        return false;
    }
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, v) {
        char *end;
        long id = strtol(e->string, &end, 10);
        if (*end || end == e->string || id < 0 || id > 0x7fffffff || !cJSON_IsNumber(e) ||
            e->valuedouble < -100 || e->valuedouble > 100) {
            err_set(err, HEARTH_ERR_INVALID, "'logit_bias': keys are token ids, values numbers "
                    "between -100 and 100");
            return false;
        }
        q->bias[n].token = (int32_t)id;
        q->bias[n++].bias = (float)e->valuedouble;
    }
    q->gp.sampling.logit_bias = q->bias;
    q->gp.sampling.n_logit_bias = n;
    return true;
}

/* The fields chat and completions share. */
static bool parse_common(oai_req *q, hearth_error *err)
{
    const cJSON *j = q->json;
    smp_params *sp = &q->gp.sampling;
    if (!srv_oai_params(j, "max_tokens", &q->gp, err))
        return false;
    sp->penalty_last_n = 64;
    q->model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model"));
    double v;
    int k;
    if ((k = srv_json_num(j, "max_completion_tokens", 1, 1 << 20, true, &v, err)) < 0)
        return false;
    if (k)
        q->gp.n_predict = (int)v;
    if ((k = srv_json_num(j, "seed", -9.007199254740992e15, 9.007199254740992e15, true, &v,
                          err)) < 0)
        return false;
    if (k)
        sp->seed = (uint64_t)(int64_t)v;
    if ((k = srv_json_num(j, "presence_penalty", -2, 2, false, &v, err)) < 0)
        return false;
    if (k)
        sp->presence_penalty = (float)v;
    if ((k = srv_json_num(j, "frequency_penalty", -2, 2, false, &v, err)) < 0)
        return false;
    if (k)
        sp->frequency_penalty = (float)v;
    if ((k = srv_json_num(j, "n", 1, 1, true, &v, err)) < 0) {
        err_set(err, HEARTH_ERR_INVALID, "'n' must be 1 (one choice per request)");
        return false;
    }
    int ns = srv_json_stops(cJSON_GetObjectItemCaseSensitive(j, "stop"), q->stops, OAI_MAX_STOP,
                            err);
    if (ns < 0)
        return false;
    q->gp.stop = q->stops;
    q->gp.n_stop = ns;
    if (!parse_bias(cJSON_GetObjectItemCaseSensitive(j, "logit_bias"), q, err) ||
        !get_bool(j, "stream", &q->stream, err))
        return false;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    if (so && !cJSON_IsNull(so) &&
        (!cJSON_IsObject(so) || !get_bool(so, "include_usage", &q->include_usage, err)))
        return err_set(err, HEARTH_ERR_INVALID, "'stream_options' must be an object with a "
                       "boolean 'include_usage'"), false;
    q->n_logprobs = -1;
    if (q->chat) {
        bool lp = false;
        if (!get_bool(j, "logprobs", &lp, err))
            return false;
        if ((k = srv_json_num(j, "top_logprobs", 0, GEN_MAX_PROBS, true, &v, err)) < 0)
            return false;
        if (lp)
            q->n_logprobs = k ? (int)v : 0;
    } else {
        if ((k = srv_json_num(j, "logprobs", 0, 5, true, &v, err)) < 0)
            return false;
        if (k)
            q->n_logprobs = (int)v;
    }
    if (!srv_output_grammar(cJSON_GetObjectItemCaseSensitive(j, "response_format"), false,
                            &q->grammar, err))
        return false;
    /* "grammar": GBNF text, the extension llama.cpp's server offers for power users */
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "grammar");
    if (g && !cJSON_IsNull(g)) {
        if (!cJSON_IsString(g) || !*g->valuestring) {
            err_set(err, HEARTH_ERR_INVALID, "'grammar' must be a non-empty GBNF string");
            return false;
        }
        if (q->grammar) {
            err_set(err, HEARTH_ERR_INVALID, "give 'grammar' or 'response_format', not both");
            return false;
        }
        if (grm_parse(&q->grammar, g->valuestring, strlen(g->valuestring), "grammar", err))
            return false;
    }
    q->gp.grammar = q->grammar;
    /* the alternatives come from the same top list that gives the chosen token's rank */
    q->gp.n_probs = q->n_logprobs < 0 ? 0 : q->n_logprobs > 0 ? q->n_logprobs : 1;
    return true;
}

static const char *finish_reason(enum gen_finish f)
{
    return f == GEN_FINISH_LENGTH || f == GEN_FINISH_CONTEXT ? "length" : "stop";
}

static cJSON *usage_json(const gen_stats *st)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", st->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", st->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", st->n_prompt + st->n_gen);
    return u;
}

/* ---- log-probabilities --------------------------------------------------------------- */

static cJSON *bytes_json(const gen_model *gm, tok_id id)
{
    size_t n;
    const char *p = tok_piece(gm->vocab, id, true, &n);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; p && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((unsigned char)p[i]));
    return a;
}

/* One entry of chat's logprobs.content. */
static cJSON *chat_logprob(const gen_model *gm, const gen_token *t, int n_top)
{
    char piece[256];
    cJSON *e = cJSON_CreateObject();
    srv_piece_utf8(gm, t->id, piece, sizeof piece);
    cJSON_AddStringToObject(e, "token", piece);
    cJSON_AddNumberToObject(e, "logprob", t->logprob);
    cJSON_AddItemToObject(e, "bytes", bytes_json(gm, t->id));
    cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
    for (int i = 0; i < n_top && i < t->n_top; i++) {
        cJSON *a = cJSON_CreateObject();
        srv_piece_utf8(gm, t->top_id[i], piece, sizeof piece);
        cJSON_AddStringToObject(a, "token", piece);
        cJSON_AddNumberToObject(a, "logprob", t->top_logprob[i]);
        cJSON_AddItemToObject(a, "bytes", bytes_json(gm, t->top_id[i]));
        cJSON_AddItemToArray(top, a);
    }
    return e;
}

/* Legacy completions logprobs for toks[0..n), text offsets from `offset`. */
static cJSON *text_logprobs(const gen_model *gm, const gen_token *toks, int n, int n_top,
                            size_t offset)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *tk = cJSON_AddArrayToObject(o, "tokens");
    cJSON *lp = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *off = cJSON_AddArrayToObject(o, "text_offset");
    char piece[256];
    for (int i = 0; i < n; i++) {
        srv_piece_utf8(gm, toks[i].id, piece, sizeof piece);
        cJSON_AddItemToArray(tk, cJSON_CreateString(piece));
        cJSON_AddItemToArray(lp, cJSON_CreateNumber(toks[i].logprob));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset));
        offset += strlen(piece);
        cJSON *alt = cJSON_CreateObject();
        for (int k = 0; k < n_top && k < toks[i].n_top; k++) {
            srv_piece_utf8(gm, toks[i].top_id[k], piece, sizeof piece);
            cJSON_AddNumberToObject(alt, piece, toks[i].top_logprob[k]);
        }
        cJSON_AddItemToArray(top, alt);
    }
    return o;
}

/* ---- responses ----------------------------------------------------------------------- */

typedef struct oai_stream {
    const gen_model *gm;
    char id[48];
    char model[128];
    long created;
    bool chat, include_usage, role_sent;
    int n_logprobs;
    size_t offset;       /* text bytes sent so far (legacy text_offset) */
    grm_grammar *grammar; /* owned: the job uses it until it ends */
    tool_family tools;   /* TOOL_NONE: no tool calls expected */
    tok_str held;        /* text held back: maybe (the start of) a tool call */
    bool in_call;        /* held is a call, kept until the end */
    bool sent_text;      /* some content has gone out */
} oai_stream;

static cJSON *envelope(const oai_stream *o, bool chunk)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", o->id);
    cJSON_AddStringToObject(e, "object", o->chat ? (chunk ? "chat.completion.chunk"
                                                          : "chat.completion")
                                                 : "text_completion");
    cJSON_AddNumberToObject(e, "created", (double)o->created);
    cJSON_AddStringToObject(e, "model", o->model);
    cJSON_AddStringToObject(e, "system_fingerprint", "hearth");
    return e;
}

/* One streamed choice: delta (chat) or text (completions). */
static cJSON *stream_choice(oai_stream *o, cJSON *env, const char *text, const char *role)
{
    cJSON *choices = cJSON_AddArrayToObject(env, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (o->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (role)
            cJSON_AddStringToObject(d, "role", role);
        if (text)
            cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
    }
    return c;
}

/* A chunk of plain content (chat). */
static bool send_content(oai_stream *o, http_stream *st, const char *text, size_t len)
{
    char *s = mem_strndup(text, len);
    if (!s)
        return false;
    cJSON *env = envelope(o, true);
    cJSON *c = stream_choice(o, env, s, NULL);
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    mem_free(s);
    o->sent_text = true;
    return srv_sse_data(st, env);
}

/* Bytes at the end of s[0..n) that could begin the opener. */
static size_t opener_suffix(const char *s, size_t n, const char *op)
{
    size_t k = strlen(op);
    for (size_t m = k - 1 < n ? k - 1 : n; m > 0; m--)
        if (memcmp(s + n - m, op, m) == 0)
            return m;
    return 0;
}

/* Streaming with tools: content goes out except what may be a call; a call (from its
 * opener on) is held to the end. A Llama call is the whole answer, so there it is
 * decided by the first non-blank character. */
static bool tool_piece(oai_stream *o, http_stream *st, const char *text, size_t len)
{
    if (tok_str_append(&o->held, text, len))
        return false;
    if (o->in_call || o->held.n == 0)
        return true;
    size_t send, skip = 0;
    if (o->tools == TOOL_LLAMA3) {
        while (skip < o->held.n && strchr(" \n\t\r", o->held.s[skip]))
            skip++;
        if (!o->sent_text && skip == o->held.n)
            return true;
        o->in_call = !o->sent_text && (o->held.s[skip] == '{' || o->held.s[skip] == '<');
        send = o->in_call ? 0 : o->held.n;
    } else {
        const char *at = strstr(o->held.s, tool_opener(o->tools));
        o->in_call = at != NULL;
        send = at ? (size_t)(at - o->held.s)
                  : o->held.n - opener_suffix(o->held.s, o->held.n, tool_opener(o->tools));
    }
    if (send == 0)
        return true;
    bool ok = send_content(o, st, o->held.s, send);
    memmove(o->held.s, o->held.s + send, o->held.n - send + 1);
    o->held.n -= send;
    return ok;
}

/* The held text at the end, if it holds calls: content before them, then two deltas per
 * call. Returns false, sending nothing, when it holds none. */
static bool tool_flush(oai_stream *o, http_stream *st)
{
    char *content = NULL;
    cJSON *calls = NULL;
    if (!o->held.n || !tool_parse(o->tools, o->held.s, o->id, &content, &calls) || !calls) {
        mem_free(content); /* no call: the caller sends the held text as it is */
        return false;
    }
    if (*content)
        send_content(o, st, content, strlen(content));
    mem_free(content);
    int i = 0;
    const cJSON *call;
    cJSON_ArrayForEach(call, calls) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(call, "function");
        for (int part = 0; part < 2; part++) {
            cJSON *env = envelope(o, true);
            cJSON *c = stream_choice(o, env, NULL, NULL);
            cJSON *tc = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(c, "delta"),
                                               "tool_calls");
            cJSON *d = cJSON_CreateObject();
            cJSON_AddItemToArray(tc, d);
            cJSON_AddNumberToObject(d, "index", i);
            cJSON *df = cJSON_CreateObject();
            if (part == 0) {
                cJSON_AddItemToObject(d, "id", cJSON_Duplicate(
                    cJSON_GetObjectItemCaseSensitive(call, "id"), true));
                cJSON_AddStringToObject(d, "type", "function");
                cJSON_AddItemToObject(df, "name", cJSON_Duplicate(
                    cJSON_GetObjectItemCaseSensitive(f, "name"), true));
                cJSON_AddStringToObject(df, "arguments", "");
            } else {
                cJSON_AddItemToObject(df, "arguments", cJSON_Duplicate(
                    cJSON_GetObjectItemCaseSensitive(f, "arguments"), true));
            }
            cJSON_AddItemToObject(d, "function", df);
            cJSON_AddNullToObject(c, "logprobs");
            cJSON_AddNullToObject(c, "finish_reason");
            srv_sse_data(st, env);
        }
        i++;
    }
    cJSON_Delete(calls);
    return true;
}

static bool oai_piece(void *user, http_stream *st, const gen_token *t, const char *text,
                      size_t len)
{
    oai_stream *o = user;
    if (o->chat && !o->role_sent) {
        o->role_sent = true;
        cJSON *env = envelope(o, true);
        cJSON *c = stream_choice(o, env, "", "assistant");
        cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddNullToObject(c, "finish_reason");
        if (!srv_sse_data(st, env))
            return false;
    }
    if (o->tools != TOOL_NONE)
        return tool_piece(o, st, text, len);
    bool lp = o->n_logprobs >= 0 && t;
    if (len == 0 && !lp)
        return true;
    char *s = mem_strndup(text, len);
    if (!s)
        return false;
    cJSON *env = envelope(o, true);
    cJSON *c = stream_choice(o, env, s, NULL);
    if (lp && o->chat) {
        cJSON *l = cJSON_AddObjectToObject(c, "logprobs");
        cJSON *content = cJSON_AddArrayToObject(l, "content");
        cJSON_AddItemToArray(content, chat_logprob(o->gm, t, o->n_logprobs));
    } else if (lp) {
        cJSON_AddItemToObject(c, "logprobs", text_logprobs(o->gm, t, 1, o->n_logprobs, o->offset));
    } else {
        cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddNullToObject(c, "finish_reason");
    o->offset += len;
    mem_free(s);
    return srv_sse_data(st, env);
}

static void oai_done(void *user, http_stream *st, hearth_status status, const gen_stats *stats,
                     const hearth_error *err)
{
    oai_stream *o = user;
    if (status) {
        cJSON *e = cJSON_CreateObject();
        cJSON *x = cJSON_AddObjectToObject(e, "error");
        cJSON_AddStringToObject(x, "message", err ? err->msg : "generation failed");
        cJSON_AddStringToObject(x, "type", "server_error");
        srv_sse_data(st, e);
    } else {
        bool called = o->tools != TOOL_NONE && tool_flush(o, st);
        if (!called && o->held.n)
            send_content(o, st, o->held.s, o->held.n);
        cJSON *env = envelope(o, true);
        cJSON *c = stream_choice(o, env, o->chat ? NULL : "", NULL);
        cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddStringToObject(c, "finish_reason", called ? "tool_calls"
                                                           : finish_reason(stats->finish));
        srv_sse_data(st, env);
        if (o->include_usage) {
            env = envelope(o, true);
            cJSON_AddArrayToObject(env, "choices");
            cJSON_AddItemToObject(env, "usage", usage_json(stats));
            srv_sse_data(st, env);
        }
    }
    http_stream_write(st, "data: [DONE]\n\n", 14);
}

static void oai_free(void *user)
{
    oai_stream *o = user;
    grm_free(o->grammar);
    tok_str_free(&o->held);
    mem_free(o);
}

static const srv_stream_fmt oai_fmt = { oai_piece, oai_done, oai_free };

/* The whole answer at once. */
static void send_result(http_req *r, oai_stream *o, const srv_result *res)
{
    cJSON *env = envelope(o, false);
    cJSON *choices = cJSON_AddArrayToObject(env, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    const char *text = res->text.s ? res->text.s : "";
    char *content = NULL;
    cJSON *calls = NULL;
    if (o->tools != TOOL_NONE && !tool_parse(o->tools, text, o->id, &content, &calls)) {
        cJSON_Delete(env);
        oai_error(r, 500, "out of memory");
        return;
    }
    if (o->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        if (calls && !*content)
            cJSON_AddNullToObject(m, "content");
        else
            cJSON_AddStringToObject(m, "content", content ? content : text);
        if (calls)
            cJSON_AddItemToObject(m, "tool_calls", calls);
    } else {
        cJSON_AddStringToObject(c, "text", text);
    }
    if (o->n_logprobs >= 0 && o->chat) {
        cJSON *l = cJSON_AddObjectToObject(c, "logprobs");
        cJSON *lc = cJSON_AddArrayToObject(l, "content");
        for (int i = 0; i < res->n_toks; i++)
            cJSON_AddItemToArray(lc, chat_logprob(o->gm, &res->toks[i], o->n_logprobs));
    } else if (o->n_logprobs >= 0) {
        cJSON_AddItemToObject(c, "logprobs", text_logprobs(o->gm, res->toks, res->n_toks,
                                                          o->n_logprobs, 0));
    } else {
        cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddStringToObject(c, "finish_reason", calls ? "tool_calls"
                                                      : finish_reason(res->stats.finish));
    mem_free(content);
    cJSON_AddItemToObject(env, "usage", usage_json(&res->stats));
    srv_send_json(r, 200, env, NULL);
}

/* ---- prompts ------------------------------------------------------------------------- */


/* A string field of a message, or NULL; false when present but not a string. */
static bool msg_str(const cJSON *m, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    *out = cJSON_IsString(v) ? v->valuestring : NULL;
    return !v || cJSON_IsNull(v) || cJSON_IsString(v);
}

/* One message: role, content, and the tool fields (tool_calls of an assistant,
 * tool_call_id and name of a tool result). */
static hearth_status parse_message(const cJSON *m, int i, tpl_message *out, hearth_error *err)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (!cJSON_IsString(role))
        return err_set(err, HEARTH_ERR_INVALID, "message %d has no 'role' string", i);
    out->role = role->valuestring;
    if (!msg_str(m, "tool_call_id", &out->tool_call_id) || !msg_str(m, "name", &out->name))
        return err_set(err, HEARTH_ERR_INVALID, "message %d: 'tool_call_id' and 'name' must "
                       "be strings", i);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    if (calls && !cJSON_IsNull(calls) && cJSON_GetArraySize(calls) > 0 &&
        !(out->tool_calls = tool_calls_for_template(calls, err)))
        return err->status ? err->status : HEARTH_ERR_NOMEM;
    char *c = srv_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), "text",
                               "a message's 'content'", err);
    if (!c)
        return err->status ? err->status : HEARTH_ERR_NOMEM;
    out->content = c;
    return HEARTH_OK;
}

static hearth_status chat_prompt(const gen_model *gm, const cJSON *messages,
                                 const char *tools_json, tok_ids *ids, hearth_error *err)
{
    int n = cJSON_GetArraySize(messages);
    if (!cJSON_IsArray(messages) || n < 1 || n > OAI_MAX_MESSAGES)
        return err_set(err, HEARTH_ERR_INVALID, "'messages' must be an array of 1 to %d "
                       "messages", OAI_MAX_MESSAGES);
    tpl_message *msgs = mem_calloc((size_t)n, sizeof *msgs);
    if (!msgs)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        if ((st = parse_message(m, i, &msgs[i], err)) != HEARTH_OK)
            break;
        i++;
    }
    if (!st)
        st = tools_json ? tool_chat_prompt(gm, msgs, n, tools_json, ids, err)
                        : srv_chat_prompt(gm, msgs, n, ids, err);
    for (int k = 0; k <= i && k < n; k++) {
        mem_free((char *)msgs[k].content);
        mem_free((char *)msgs[k].tool_calls);
    }
    mem_free(msgs);
    return st;
}

static hearth_status text_prompt(const gen_model *gm, const cJSON *p, tok_ids *ids,
                                 hearth_error *err)
{
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child))
        p = p->child;
    if (cJSON_IsString(p))
        return srv_raw_prompt(gm, p->valuestring, ids, err);
    int n = cJSON_GetArraySize(p);
    if (!cJSON_IsArray(p) || n < 1)
        return err_set(err, HEARTH_ERR_INVALID, "'prompt' must be a string, or an array of one "
                       "string or of token ids");
    ids->v = mem_realloc_array(NULL, (size_t)n, sizeof *ids->v);
    if (!ids->v)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    ids->cap = (size_t)n;
    const cJSON *e;
    size_t vocab = tok_n_tokens(gm->vocab);
    cJSON_ArrayForEach(e, p) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (double)vocab ||
            e->valuedouble != (double)(int)e->valuedouble)
            return err_set(err, HEARTH_ERR_INVALID, "'prompt' token ids must be whole numbers "
                           "below %zu", vocab);
        ids->v[ids->n++] = (tok_id)e->valuedouble;
    }
    return HEARTH_OK;
}

/* ---- the two generation routes ------------------------------------------------------- */

/* tools and tool_choice: the template must support them; the call grammar replaces
 * response_format, so the two together are refused. */
static hearth_status chat_tools(oai_req *q, const gen_model *gm, hearth_error *err)
{
    hearth_status st = tool_req_parse(&q->tools, cJSON_GetObjectItemCaseSensitive(q->json, "tools"),
                                      cJSON_GetObjectItemCaseSensitive(q->json, "tool_choice"),
                                      gm->chat_template, err);
    if (st || !q->tools.tools || q->tools.choice == TOOL_CHOICE_NONE)
        return st;
    if (q->grammar)
        return err_set(err, HEARTH_ERR_INVALID, "give 'tools' or 'response_format', not both "
                       "(or set tool_choice to \"none\")");
    st = tool_grammar(&q->tools, &q->grammar, err);
    q->gp.grammar = q->grammar;
    return st;
}

static void complete(srv *s, http_req *r, bool chat)
{
    hearth_error err = { 0 };
    oai_req *q = mem_calloc(1, sizeof *q);
    if (!q) {
        oai_error(r, 500, "out of memory");
        return;
    }
    q->chat = chat;
    q->json = cJSON_ParseWithLength(r->body, r->body_len);
    srv_model *m = NULL;
    tok_ids ids = { 0 };
    int status = 400;
    if (!cJSON_IsObject(q->json))
        err_set(&err, HEARTH_ERR_INVALID, "the body must be a JSON object");
    else if (parse_common(q, &err) &&
             (status = 0, models_acquire(s->models, q->model, 0, &m, &status, &err)) == HEARTH_OK) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(q->json, chat ? "messages" : "prompt");
        hearth_status st = chat ? chat_tools(q, m->gm, &err) : HEARTH_OK;
        if (!st)
            st = chat ? chat_prompt(m->gm, in, q->tools.tools_json, &ids, &err)
                      : text_prompt(m->gm, in, &ids, &err);
        status = st ? (st == HEARTH_ERR_NOMEM ? 500 : 400) : 0;
    }
    oai_stream *o = status ? NULL : mem_calloc(1, sizeof *o);
    if (!status && !o) {
        status = 500;
        err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
    }
    if (o) {
        o->gm = m->gm;
        snprintf(o->id, sizeof o->id, "%s-%ld", chat ? "chatcmpl" : "cmpl",
                 atomic_fetch_add(&s->next_id, 1) + 1);
        snprintf(o->model, sizeof o->model, "%s", m->name);
        o->created = (long)time(NULL);
        o->chat = chat;
        o->include_usage = q->include_usage;
        o->n_logprobs = q->n_logprobs;
        if (q->tools.tools && q->tools.choice != TOOL_CHOICE_NONE)
            o->tools = q->tools.family;
        srv_gen_req g = { .m = m, .prompt = ids.v, .n_prompt = ids.n, .params = q->gp,
                          .keep_alive_s = s->c.keep_alive_s, .keep_tokens = q->n_logprobs >= 0 };
        if (q->stream) {
            o->grammar = q->grammar;
            status = srv_generate_stream(s, r, &g, &oai_fmt, o, "text/event-stream", &err);
            if (status == 200)
                m = NULL, o = NULL, q->grammar = NULL; /* the stream owns them now */
            else
                o->grammar = NULL;
        } else {
            srv_result res;
            status = srv_generate(s, r, &g, &res, &err);
            if (status == 200)
                send_result(r, o, &res);
            srv_result_free(&res);
        }
    }
    if (status != 200)
        oai_error(r, status, err.msg[0] ? err.msg : "bad request");
    mem_free(o);
    models_release(s->models, m, s->c.keep_alive_s);
    tok_ids_free(&ids);
    grm_free(q->grammar);
    tool_req_free(&q->tools);
    cJSON_Delete(q->json);
    mem_free(q);
}

void oai_chat(srv *s, http_req *r)
{
    complete(s, r, true);
}

void oai_completions(srv *s, http_req *r)
{
    complete(s, r, false);
}
