/*
 * responses.c — POST /v1/responses, OpenAI's Responses API in the subset Ollama offers:
 * text in and out, streaming events, and function tools.
 *
 * Input is a string (one user turn) or a list of items: messages ({"role", "content": a
 * string or input_text/output_text parts}), earlier function calls ({"type":
 * "function_call", "call_id", "name", "arguments"}) and their results ({"type":
 * "function_call_output", "call_id", "output"}); "instructions" becomes a system turn.
 * Items map onto chat messages and the model's chat template, and tools go through the
 * same family formats, grammar and parser as chat completions (tools.h); Responses tools
 * are flat ({"type": "function", "name", "parameters"}) and are rewrapped for that.
 *
 * Streaming sends Server-Sent Events "event: TYPE\ndata: JSON\n\n", numbered: created,
 * in_progress, then per output item added / content_part.added / output_text.delta ... /
 * done events, and completed with the whole response. With tools (tool_choice not
 * "none") the text is held until the end, as a call cannot be told from text earlier.
 */
#include "server/server_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "server/tools.h"

#define RSP_MAX_ITEMS 1024

/* ---- request ------------------------------------------------------------------------- */


/* One function_call item as a chat tool_calls array (JSON text for the template). */
static char *call_as_tool_calls(const cJSON *it, hearth_error *err)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "call_id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(it, "arguments");
    if (!cJSON_IsString(name) || !cJSON_IsString(args)) {
        err_set(err, HEARTH_ERR_INVALID, "a function_call item needs 'name' and 'arguments' "
                "strings");
        return NULL;
    }
    cJSON *a = cJSON_CreateArray(), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(a, c);
    cJSON_AddStringToObject(c, "id", cJSON_IsString(id) ? id->valuestring : "");
    cJSON_AddStringToObject(c, "type", "function");
    cJSON *f = cJSON_AddObjectToObject(c, "function");
    cJSON_AddStringToObject(f, "name", name->valuestring);
    cJSON_AddStringToObject(f, "arguments", args->valuestring);
    char *s = tool_calls_for_template(a, err);
    cJSON_Delete(a);
    return s;
}

/* Fill msg from one input item; strings it points at are the item's or mem_alloc'd
 * (content, tool_calls: freed by the caller). */
static hearth_status item_message(const cJSON *it, int i, tpl_message *msg, hearth_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "message";
    if (!cJSON_IsObject(it))
        return err_set(err, HEARTH_ERR_INVALID, "input item %d must be an object", i);
    if (strcmp(t, "function_call") == 0) {
        msg->role = "assistant";
        msg->content = mem_strdup("");
        msg->tool_calls = call_as_tool_calls(it, err);
        return !msg->content ? err_set(err, HEARTH_ERR_NOMEM, "out of memory")
               : !msg->tool_calls ? (err->status ? err->status : HEARTH_ERR_NOMEM) : HEARTH_OK;
    }
    if (strcmp(t, "function_call_output") == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "call_id");
        msg->role = "tool";
        msg->tool_call_id = cJSON_IsString(id) ? id->valuestring : NULL;
        msg->content = srv_content_text(cJSON_GetObjectItemCaseSensitive(it, "output"), NULL,
                                        "an input item's 'output'", err);
    } else if (strcmp(t, "message") == 0) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        if (!cJSON_IsString(role))
            return err_set(err, HEARTH_ERR_INVALID, "input item %d has no 'role' string", i);
        msg->role = strcmp(role->valuestring, "developer") == 0 ? "system" : role->valuestring;
        msg->content = srv_content_text(cJSON_GetObjectItemCaseSensitive(it, "content"), NULL,
                                        "an input item's 'content'", err);
    } else {
        return err_set(err, HEARTH_ERR_INVALID, "input item %d: type '%.40s' is not supported "
                       "(message, function_call, function_call_output)", i, t);
    }
    return msg->content ? HEARTH_OK : (err->status ? err->status : HEARTH_ERR_NOMEM);
}

/* The prompt: instructions, then the input items, rendered by the chat template. */
static hearth_status input_prompt(const gen_model *gm, const cJSON *j, const char *tools_json,
                                  tok_ids *ids, hearth_error *err)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(j, "instructions");
    if (ins && !cJSON_IsNull(ins) && !cJSON_IsString(ins))
        return err_set(err, HEARTH_ERR_INVALID, "'instructions' must be a string");
    int n_in = cJSON_IsString(in) ? 1 : cJSON_GetArraySize(in);
    if (!(cJSON_IsString(in) || cJSON_IsArray(in)) || n_in < 1 || n_in > RSP_MAX_ITEMS)
        return err_set(err, HEARTH_ERR_INVALID, "'input' must be a string or an array of 1 to %d "
                       "items", RSP_MAX_ITEMS);
    tpl_message *msgs = mem_calloc((size_t)n_in + 1, sizeof *msgs);
    if (!msgs)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    int n = 0;
    hearth_status st = HEARTH_OK;
    if (cJSON_IsString(ins))
        msgs[n++] = (tpl_message){ .role = "system", .content = mem_strdup(ins->valuestring) };
    if (cJSON_IsString(in)) {
        msgs[n++] = (tpl_message){ .role = "user", .content = mem_strdup(in->valuestring) };
    } else {
        const cJSON *it;
        cJSON_ArrayForEach(it, in) {
            st = item_message(it, n, &msgs[n], err);
            n++;
            if (st)
                break;
        }
    }
    for (int k = 0; !st && k < n; k++)
        if (!msgs[k].content)
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (!st && tools_json) {
        st = tool_chat_prompt(gm, msgs, n, tools_json, ids, err);
    } else if (!st) {
        st = srv_chat_prompt(gm, msgs, n, ids, err);
    }
    for (int k = 0; k < n; k++) {
        mem_free((char *)msgs[k].content);
        mem_free((char *)msgs[k].tool_calls);
    }
    mem_free(msgs);
    return st;
}

/* Responses tools are flat; chat completions' wrap the function: rewrap for tools.h. */
static cJSON *chat_tools(const cJSON *tools)
{
    if (!cJSON_IsArray(tools))
        return cJSON_Duplicate(tools, true); /* tool_req_parse reports the bad value */
    cJSON *a = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        cJSON *w = cJSON_CreateObject();
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        cJSON_AddItemToObject(w, "type", cJSON_Duplicate(type, true));
        cJSON *f = cJSON_AddObjectToObject(w, "function");
        static const char *const keys[] = { "name", "description", "parameters" };
        for (int k = 0; k < 3; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, keys[k]);
            if (v)
                cJSON_AddItemToObject(f, keys[k], cJSON_Duplicate(v, true));
        }
        cJSON_AddItemToArray(a, w);
    }
    return a;
}

static cJSON *chat_choice(const cJSON *c)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    if (!cJSON_IsObject(c) || !cJSON_IsString(name))
        return cJSON_Duplicate(c, true);
    cJSON *w = cJSON_CreateObject();
    cJSON_AddStringToObject(w, "type", "function");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(w, "function"), "name", name->valuestring);
    return w;
}

/* ---- the response object ------------------------------------------------------------- */

typedef struct rsp {
    const gen_model *gm;
    char id[48], msg_id[56], model[128];
    long created;
    tool_family tools;      /* TOOL_NONE: plain text */
    grm_grammar *grammar;   /* owned: the job uses it until it ends */
    tok_str text;           /* the output so far */
    long seq;               /* next event's sequence_number */
    bool begun;             /* created / item-added events sent */
} rsp;

static cJSON *text_part(const char *text)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "output_text");
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddArrayToObject(p, "annotations");
    return p;
}

static cJSON *message_item(const rsp *o, const char *text, bool done)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", o->msg_id);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "status", done ? "completed" : "in_progress");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON *content = cJSON_AddArrayToObject(m, "content");
    if (text)
        cJSON_AddItemToArray(content, text_part(text));
    return m;
}

/* A chat tool call ({"id", "function": {"name", "arguments"}}) as a function_call item. */
static cJSON *call_item(const cJSON *call, int i, const rsp *o, bool with_args)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(call, "function");
    char id[80];
    snprintf(id, sizeof id, "fc_%s_%d", o->id, i);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", id);
    cJSON_AddStringToObject(c, "type", "function_call");
    cJSON_AddStringToObject(c, "status", with_args ? "completed" : "in_progress");
    cJSON_AddItemToObject(c, "call_id", cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(call, "id"), true));
    cJSON_AddItemToObject(c, "name", cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(f, "name"), true));
    if (with_args)
        cJSON_AddItemToObject(c, "arguments", cJSON_Duplicate(
            cJSON_GetObjectItemCaseSensitive(f, "arguments"), true));
    else
        cJSON_AddStringToObject(c, "arguments", "");
    return c;
}

/* The whole response; output NULL: still empty (in progress). */
static cJSON *response_json(const rsp *o, const char *status, cJSON *output,
                            const gen_stats *stats)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", o->id);
    cJSON_AddStringToObject(r, "object", "response");
    cJSON_AddNumberToObject(r, "created_at", (double)o->created);
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddStringToObject(r, "model", o->model);
    cJSON_AddNullToObject(r, "error");
    if (stats && (stats->finish == GEN_FINISH_LENGTH || stats->finish == GEN_FINISH_CONTEXT))
        cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "incomplete_details"), "reason",
                                "max_output_tokens");
    else
        cJSON_AddNullToObject(r, "incomplete_details");
    cJSON_AddItemToObject(r, "output", output ? output : cJSON_CreateArray());
    cJSON_AddBoolToObject(r, "parallel_tool_calls", false);
    if (stats) {
        cJSON *u = cJSON_AddObjectToObject(r, "usage");
        cJSON_AddNumberToObject(u, "input_tokens", stats->n_prompt);
        cJSON_AddNumberToObject(u, "output_tokens", stats->n_gen);
        cJSON_AddNumberToObject(u, "total_tokens", stats->n_prompt + stats->n_gen);
    }
    return r;
}

/* The output items of the finished text: a message (unless it is only calls), then the
 * calls. */
static cJSON *output_items(const rsp *o, const char *text, cJSON **calls_out)
{
    char *content = NULL;
    cJSON *calls = NULL;
    if (o->tools != TOOL_NONE && !tool_parse(o->tools, text, o->id, &content, &calls))
        return NULL;
    cJSON *out = cJSON_CreateArray();
    const char *t = content ? content : text;
    if (!calls || *t)
        cJSON_AddItemToArray(out, message_item(o, t, true));
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, calls)
        cJSON_AddItemToArray(out, call_item(c, i++, o, true));
    mem_free(content);
    if (calls_out)
        *calls_out = calls;
    else
        cJSON_Delete(calls);
    return out;
}

/* ---- streaming ----------------------------------------------------------------------- */

static bool event(rsp *o, http_stream *st, const char *type, cJSON *e)
{
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNumberToObject(e, "sequence_number", (double)o->seq++);
    char *text = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    if (!text)
        return false;
    char head[96];
    int n = snprintf(head, sizeof head, "event: %s\ndata: ", type);
    bool ok = http_stream_write(st, head, (size_t)n) &&
              http_stream_write(st, text, strlen(text)) && http_stream_write(st, "\n\n", 2);
    cJSON_free(text);
    return ok;
}

static cJSON *at(int output_index, const char *item_id, bool part)
{
    cJSON *e = cJSON_CreateObject();
    if (item_id)
        cJSON_AddStringToObject(e, "item_id", item_id);
    cJSON_AddNumberToObject(e, "output_index", output_index);
    if (part)
        cJSON_AddNumberToObject(e, "content_index", 0);
    return e;
}

static bool begin_message(rsp *o, http_stream *st, int index)
{
    cJSON *e = at(index, NULL, false);
    cJSON_AddItemToObject(e, "item", message_item(o, NULL, false));
    if (!event(o, st, "response.output_item.added", e))
        return false;
    e = at(index, o->msg_id, true);
    cJSON_AddItemToObject(e, "part", text_part(""));
    return event(o, st, "response.content_part.added", e);
}

static bool delta(rsp *o, http_stream *st, int index, const char *text)
{
    cJSON *e = at(index, o->msg_id, true);
    cJSON_AddStringToObject(e, "delta", text);
    return event(o, st, "response.output_text.delta", e);
}

static void end_message(rsp *o, http_stream *st, int index, const char *text)
{
    cJSON *e = at(index, o->msg_id, true);
    cJSON_AddStringToObject(e, "text", text);
    event(o, st, "response.output_text.done", e);
    e = at(index, o->msg_id, true);
    cJSON_AddItemToObject(e, "part", text_part(text));
    event(o, st, "response.content_part.done", e);
    e = at(index, NULL, false);
    cJSON_AddItemToObject(e, "item", message_item(o, text, true));
    event(o, st, "response.output_item.done", e);
}

static bool begin(rsp *o, http_stream *st)
{
    if (o->begun)
        return true;
    o->begun = true;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_json(o, "in_progress", NULL, NULL));
    if (!event(o, st, "response.created", e))
        return false;
    e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_json(o, "in_progress", NULL, NULL));
    if (!event(o, st, "response.in_progress", e))
        return false;
    return o->tools != TOOL_NONE || begin_message(o, st, 0);
}

static bool rsp_piece(void *user, http_stream *st, const gen_token *t, const char *text,
                      size_t len)
{
    (void)t;
    rsp *o = user;
    if (!begin(o, st) || tok_str_append(&o->text, text, len))
        return false;
    if (o->tools != TOOL_NONE || len == 0)
        return true;
    char *s = mem_strndup(text, len);
    bool ok = s && delta(o, st, 0, s);
    mem_free(s);
    return ok;
}

/* With tools, everything was held: send the items now. */
static void send_items(rsp *o, http_stream *st, const cJSON *output)
{
    int index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, output) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "type"));
        if (strcmp(type, "message") == 0) {
            const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(item, "content"), 0), "text"));
            begin_message(o, st, index);
            delta(o, st, index, text);
            end_message(o, st, index, text);
        } else {
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "id"));
            const char *args = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(item, "arguments"));
            cJSON *added = cJSON_Duplicate(item, true);
            cJSON_ReplaceItemInObjectCaseSensitive(added, "arguments", cJSON_CreateString(""));
            cJSON_ReplaceItemInObjectCaseSensitive(added, "status",
                                                   cJSON_CreateString("in_progress"));
            cJSON *e = at(index, NULL, false);
            cJSON_AddItemToObject(e, "item", added);
            event(o, st, "response.output_item.added", e);
            e = at(index, id, false);
            cJSON_AddStringToObject(e, "delta", args);
            event(o, st, "response.function_call_arguments.delta", e);
            e = at(index, id, false);
            cJSON_AddStringToObject(e, "arguments", args);
            event(o, st, "response.function_call_arguments.done", e);
            e = at(index, NULL, false);
            cJSON_AddItemToObject(e, "item", cJSON_Duplicate(item, true));
            event(o, st, "response.output_item.done", e);
        }
        index++;
    }
}

static void rsp_done(void *user, http_stream *st, hearth_status status, const gen_stats *stats,
                     const hearth_error *err)
{
    rsp *o = user;
    if (!begin(o, st))
        return;
    if (status) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "message", err ? err->msg : "generation failed");
        cJSON_AddStringToObject(e, "code", "server_error");
        event(o, st, "error", e);
        return;
    }
    const char *text = o->text.s ? o->text.s : "";
    cJSON *output = output_items(o, text, NULL);
    if (!output)
        return;
    if (o->tools == TOOL_NONE)
        end_message(o, st, 0, text);
    else
        send_items(o, st, output);
    bool incomplete = stats->finish == GEN_FINISH_LENGTH || stats->finish == GEN_FINISH_CONTEXT;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_json(o, incomplete ? "incomplete" : "completed",
                                                       output, stats));
    event(o, st, incomplete ? "response.incomplete" : "response.completed", e);
}

static void rsp_free(void *user)
{
    rsp *o = user;
    grm_free(o->grammar);
    tok_str_free(&o->text);
    mem_free(o);
}

static const srv_stream_fmt rsp_fmt = { rsp_piece, rsp_done, rsp_free };

/* ---- the route ----------------------------------------------------------------------- */

typedef struct rsp_req {
    cJSON *json, *tools, *choice; /* tools and choice: rewrapped for tools.h */
    tool_req tr;
    gen_params gp;
    bool stream;
} rsp_req;

static bool parse_params(rsp_req *q, hearth_error *err)
{
    const cJSON *j = q->json;
    if (!srv_oai_params(j, "max_output_tokens", &q->gp, err))
        return false;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "stream");
    if (s && !cJSON_IsNull(s) && !cJSON_IsBool(s))
        return err_set(err, HEARTH_ERR_INVALID, "'stream' must be true or false"), false;
    q->stream = cJSON_IsTrue(s);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(j, "tool_choice");
    q->tools = tools ? chat_tools(tools) : NULL;
    q->choice = choice ? chat_choice(choice) : NULL;
    return true;
}

void oai_responses(srv *s, http_req *r)
{
    hearth_error err = { 0 };
    rsp_req q = { .json = cJSON_ParseWithLength(r->body, r->body_len) };
    srv_model *m = NULL;
    tok_ids ids = { 0 };
    grm_grammar *grammar = NULL;
    int status = 400;
    if (!cJSON_IsObject(q.json)) {
        err_set(&err, HEARTH_ERR_INVALID, "the body must be a JSON object");
    } else if (parse_params(&q, &err) &&
               (status = 0, models_acquire(s->models,
                                           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                               q.json, "model")),
                                           0, &m, &status, &err)) == HEARTH_OK) {
        hearth_status st = tool_req_parse(&q.tr, q.tools, q.choice, m->gm->chat_template, &err);
        if (!st && q.tr.tools && q.tr.choice != TOOL_CHOICE_NONE)
            st = tool_grammar(&q.tr, &grammar, &err);
        if (!st)
            st = input_prompt(m->gm, q.json, q.tr.tools_json, &ids, &err);
        status = st ? (st == HEARTH_ERR_NOMEM ? 500 : 400) : 0;
    }
    q.gp.grammar = grammar;
    rsp *o = status ? NULL : mem_calloc(1, sizeof *o);
    if (!status && !o)
        status = 500, err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
    if (o) {
        long n = atomic_fetch_add(&s->next_id, 1) + 1;
        o->gm = m->gm;
        snprintf(o->id, sizeof o->id, "resp_%ld", n);
        snprintf(o->msg_id, sizeof o->msg_id, "msg_%ld", n);
        snprintf(o->model, sizeof o->model, "%s", m->name);
        o->created = (long)time(NULL);
        o->tools = grammar ? q.tr.family : TOOL_NONE;
        srv_gen_req g = { .m = m, .prompt = ids.v, .n_prompt = ids.n, .params = q.gp,
                          .keep_alive_s = s->c.keep_alive_s };
        if (q.stream) {
            o->grammar = grammar;
            status = srv_generate_stream(s, r, &g, &rsp_fmt, o, "text/event-stream", &err);
            if (status == 200)
                m = NULL, o = NULL, grammar = NULL; /* the stream owns them now */
            else
                o->grammar = NULL;
        } else {
            srv_result res;
            status = srv_generate(s, r, &g, &res, &err);
            cJSON *output = status == 200 ? output_items(o, res.text.s ? res.text.s : "", NULL)
                                          : NULL;
            if (output) {
                bool incomplete = res.stats.finish == GEN_FINISH_LENGTH ||
                                  res.stats.finish == GEN_FINISH_CONTEXT;
                srv_send_json(r, 200, response_json(o, incomplete ? "incomplete" : "completed",
                                                    output, &res.stats), NULL);
            } else if (status == 200) {
                status = 500;
                err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
            }
            srv_result_free(&res);
        }
    }
    if (status != 200)
        oai_error(r, status, err.msg[0] ? err.msg : "bad request");
    if (o)
        rsp_free(o);
    models_release(s->models, m, s->c.keep_alive_s);
    tok_ids_free(&ids);
    grm_free(grammar);
    tool_req_free(&q.tr);
    cJSON_Delete(q.tools);
    cJSON_Delete(q.choice);
    cJSON_Delete(q.json);
}
