/*
 * tools.c — see tools.h: tool-call formats per model family, the grammar that constrains
 * a call, and parsing calls out of generated text.
 *
 * The grammar of a call is built from one JSON Schema: anyOf over the allowed functions of
 * {"name": const NAME, ARGS: the function's parameter schema}, compiled by json_schema.h;
 * its start rule is renamed "tcall" and wrapped in the family's opener and closer. For
 * tool_choice "auto" a second branch, "free", accepts any text that does not begin with
 * the opener; it is spelled out character by character (each prefix of the opener may be
 * followed by anything but the opener's next character), since GBNF has no negation of
 * strings.
 */
#include "server/tools.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "generate/json_schema.h"

#define TOOL_MAX 128 /* functions per request */

tool_family tool_family_of(const char *t)
{
    if (!t)
        return TOOL_NONE;
    if (strstr(t, "<tool_call>"))
        return TOOL_HERMES;
    if (strstr(t, "[TOOL_CALLS]"))
        return strstr(t, "[ARGS]") ? TOOL_MISTRAL_ARGS : TOOL_MISTRAL;
    if (strstr(t, "tools") && (strstr(t, "<|python_tag|>") || strstr(t, "ipython")))
        return TOOL_LLAMA3;
    return TOOL_NONE;
}

const char *tool_opener(tool_family f)
{
    switch (f) {
    case TOOL_HERMES: return "<tool_call>";
    case TOOL_LLAMA3: return "{";
    case TOOL_MISTRAL: case TOOL_MISTRAL_ARGS: return "[TOOL_CALLS]";
    default: return "";
    }
}

/* The key that holds a call's arguments in the family's output. */
static const char *args_key(tool_family f)
{
    return f == TOOL_LLAMA3 ? "parameters" : "arguments";
}

/* ---- the request --------------------------------------------------------------------- */

static const cJSON *fn_of(const cJSON *tool)
{
    return cJSON_GetObjectItemCaseSensitive(tool, "function");
}

static const char *fn_name(const cJSON *tool)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(fn_of(tool), "name");
    return cJSON_IsString(n) ? n->valuestring : NULL;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", s[i]))
            return false;
    return true;
}

static bool check_tools(const cJSON *tools, hearth_error *err)
{
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) > TOOL_MAX) {
        err_set(err, HEARTH_ERR_INVALID, "'tools' must be an array of at most %d tools", TOOL_MAX);
        return false;
    }
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn_of(t), "parameters");
        if (!cJSON_IsObject(t) || !cJSON_IsString(type) ||
            strcmp(type->valuestring, "function") != 0 || !cJSON_IsObject(fn_of(t)) ||
            !fn_name(t) || !name_ok(fn_name(t)) ||
            (params && !cJSON_IsNull(params) && !cJSON_IsObject(params))) {
            err_set(err, HEARTH_ERR_INVALID, "tools[%d] must be {\"type\": \"function\", "
                    "\"function\": {\"name\": N, \"parameters\": {...}}} with a name of 1 to 64 "
                    "letters, digits, '_', '-' or '.'", i);
            return false;
        }
        i++;
    }
    return true;
}

static const cJSON *find_tool(const cJSON *tools, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
        if (strcmp(fn_name(t), name) == 0)
            return t;
    return NULL;
}

static bool parse_choice(tool_req *q, const cJSON *c, hearth_error *err)
{
    q->choice = TOOL_AUTO;
    if (!c || cJSON_IsNull(c))
        return true;
    if (cJSON_IsString(c)) {
        static const char *const names[] = { "auto", "none", "required" };
        for (int i = 0; i < 3; i++)
            if (strcmp(c->valuestring, names[i]) == 0) {
                q->choice = (tool_choice)i;
                return true;
            }
    } else {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(c, "function"), "name");
        if (cJSON_IsString(n)) {
            if (!q->tools || !find_tool(q->tools, n->valuestring)) {
                err_set(err, HEARTH_ERR_INVALID, "'tool_choice' names the function '%.64s', "
                        "which is not in 'tools'", n->valuestring);
                return false;
            }
            q->choice = TOOL_NAMED;
            q->named = n->valuestring;
            return true;
        }
    }
    err_set(err, HEARTH_ERR_INVALID, "'tool_choice' must be \"auto\", \"none\", \"required\" or "
            "{\"type\": \"function\", \"function\": {\"name\": N}}");
    return false;
}

hearth_status tool_req_parse(tool_req *q, const cJSON *tools, const cJSON *choice,
                             const char *chat_template, hearth_error *err)
{
    memset(q, 0, sizeof *q);
    if (tools && !cJSON_IsNull(tools)) {
        if (!check_tools(tools, err))
            return HEARTH_ERR_INVALID;
        if (cJSON_GetArraySize(tools) > 0)
            q->tools = tools;
    }
    if (!parse_choice(q, choice, err))
        return HEARTH_ERR_INVALID;
    if (!q->tools) {
        if (q->choice == TOOL_REQUIRED)
            return err_set(err, HEARTH_ERR_INVALID, "'tool_choice' is \"required\" but no "
                           "'tools' are given");
        return HEARTH_OK;
    }
    q->family = tool_family_of(chat_template);
    if (q->family == TOOL_NONE)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "this model's chat template has no tool "
                       "support (it does not render 'tools'); send the request without them");
    q->tools_json = cJSON_PrintUnformatted(tools);
    if (!q->tools_json)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    return HEARTH_OK;
}

void tool_req_free(tool_req *q)
{
    cJSON_free(q->tools_json);
    q->tools_json = NULL;
}

/* ---- the grammar --------------------------------------------------------------------- */

/* {"name": const NAME, ARGS: schema} for one tool, after checking its schema alone so an
 * error names the function. */
static cJSON *call_schema(tool_family f, const cJSON *tool, hearth_error *err)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn_of(tool), "parameters");
    cJSON *args = cJSON_IsObject(params) ? cJSON_Duplicate(params, true)
                                         : cJSON_Parse("{\"type\": \"object\"}");
    char source[96], *gbnf = NULL;
    snprintf(source, sizeof source, "parameters of tool '%s'", fn_name(tool));
    if (!args || jsch_to_gbnf_json(args, source, &gbnf, err) != HEARTH_OK) {
        if (!args)
            err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        cJSON_Delete(args);
        return NULL;
    }
    mem_free(gbnf);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "name"), "const", fn_name(tool));
    cJSON_AddItemToObject(props, args_key(f), args);
    cJSON *req = cJSON_AddArrayToObject(s, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("name"));
    cJSON_AddItemToArray(req, cJSON_CreateString(args_key(f)));
    cJSON_AddFalseToObject(s, "additionalProperties");
    return s;
}

/* GBNF of one call's JSON, with its start rule named "tcall". */
static hearth_status tcall_gbnf(const tool_req *q, char **out, hearth_error *err)
{
    cJSON *schema = cJSON_CreateObject();
    cJSON *any = cJSON_AddArrayToObject(schema, "anyOf");
    const cJSON *t;
    hearth_status st = any ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    cJSON_ArrayForEach(t, q->tools) {
        if (st || (q->choice == TOOL_NAMED && strcmp(fn_name(t), q->named) != 0))
            continue;
        cJSON *c = call_schema(q->family, t, err);
        if (!c)
            st = err->status ? err->status : HEARTH_ERR_INVALID;
        else
            cJSON_AddItemToArray(any, c);
    }
    if (!st)
        st = jsch_to_gbnf_json(schema, "tools", out, err);
    cJSON_Delete(schema);
    if (st)
        return st;
    /* rules come before the start rule, so "root ::= " opens a line only there */
    char *root = strncmp(*out, "root ::= ", 9) == 0 ? *out : strstr(*out, "\nroot ::= ");
    if (!root) {
        mem_free(*out);
        *out = NULL;
        return err_set(err, HEARTH_ERR_INVALID, "tools: no start rule in the call grammar");
    }
    if (*root == '\n')
        root++;
    size_t n = strlen(*out), at = (size_t)(root - *out);
    char *s = mem_alloc(n + 2);
    if (!s) {
        mem_free(*out);
        *out = NULL;
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    memcpy(s, *out, at);
    memcpy(s + at, "tcall", 5);
    memcpy(s + at + 5, root + 4, n - at - 4 + 1);
    mem_free(*out);
    *out = s;
    return HEARTH_OK;
}

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->oom || k < 0)
        return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = (b->n + (size_t)k + 1) * 2;
        char *ns = mem_realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* "free": any text (possibly empty) that does not begin with the opener. */
static void free_rules(sbuf *b, const char *opener)
{
    size_t k = strlen(opener);
    for (size_t i = 0; i < k; i++) {
        unsigned c = (unsigned char)opener[i];
        sb_add(b, "free%zu ::= ([^\\x%02x] .*", i, c);
        if (i + 1 < k)
            sb_add(b, " | \"\\x%02x\" free%zu", c, i + 1);
        sb_add(b, ")?\n");
    }
}

/* [ARGS] format: tcall ::= "NAME[ARGS]" args0 | ..., each argsI the parameter grammar of
 * one allowed function (names are letters, digits and "_-.", safe in a literal). */
static hearth_status tcall_args_gbnf(const tool_req *q, char **out, hearth_error *err)
{
    const int n = cJSON_GetArraySize(q->tools);
    const cJSON **schemas = mem_calloc((size_t)n, sizeof *schemas);
    char (*names)[16] = mem_calloc((size_t)n, sizeof *names);
    const char **rule = mem_calloc((size_t)n, sizeof *rule);
    const char **fn = mem_calloc((size_t)n, sizeof *fn);
    cJSON *any = cJSON_Parse("{\"type\": \"object\"}");
    hearth_status st = schemas && names && rule && fn && any
                           ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, q->tools) {
        if (st || (q->choice == TOOL_NAMED && strcmp(fn_name(t), q->named) != 0))
            continue;
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn_of(t), "parameters");
        char source[96], *one = NULL;
        snprintf(source, sizeof source, "parameters of tool '%s'", fn_name(t));
        schemas[k] = cJSON_IsObject(params) ? params : any;
        st = jsch_to_gbnf_json(schemas[k], source, &one, err); /* errors name the function */
        mem_free(one);
        snprintf(names[k], sizeof names[k], "targs%d", k);
        rule[k] = names[k];
        fn[k++] = fn_name(t);
    }
    char *rules = NULL;
    if (!st)
        st = jsch_to_gbnf_rules(schemas, rule, k, "tools", &rules, err);
    sbuf b = { 0 };
    if (!st) {
        sb_add(&b, "tcall ::= ");
        for (int i = 0; i < k; i++)
            sb_add(&b, "%s\"%s[ARGS]\" %s", i ? " | " : "", fn[i], rule[i]);
        sb_add(&b, "\n%s", rules);
        if (b.oom)
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    mem_free(rules);
    if (st)
        mem_free(b.s);
    else
        *out = b.s;
    cJSON_Delete(any);
    mem_free(schemas);
    mem_free(names);
    mem_free(rule);
    mem_free(fn);
    return st;
}

hearth_status tool_grammar(const tool_req *q, grm_grammar **out, hearth_error *err)
{
    *out = NULL;
    if (!q->tools || q->choice == TOOL_CHOICE_NONE)
        return HEARTH_OK;
    char *tcall = NULL;
    hearth_status st = q->family == TOOL_MISTRAL_ARGS ? tcall_args_gbnf(q, &tcall, err)
                                                       : tcall_gbnf(q, &tcall, err);
    if (st)
        return st;
    static const char *const call[] = {
        [TOOL_HERMES] = "\"<tool_call>\\n\" tcall \"\\n</tool_call>\"",
        [TOOL_LLAMA3] = "tcall",
        [TOOL_MISTRAL] = "\"[TOOL_CALLS][\" tcall \"]\"",
        [TOOL_MISTRAL_ARGS] = "\"[TOOL_CALLS]\" tcall",
    };
    sbuf b = { 0 };
    sb_add(&b, "root ::= %s%s\n", call[q->family], q->choice == TOOL_AUTO ? " | free0" : "");
    if (q->choice == TOOL_AUTO)
        free_rules(&b, tool_opener(q->family));
    sb_add(&b, "%s", tcall);
    mem_free(tcall);
    if (b.oom)
        st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    else
        st = grm_parse(out, b.s, b.n, "tools", err);
    mem_free(b.s);
    return st;
}

/* ---- parsing output ------------------------------------------------------------------ */

/* Append {"id", "type", "function": {"name", "arguments"}} for a parsed call object;
 * false (nothing added) if it is not one. */
static bool add_call(cJSON *calls, const cJSON *c, const char *id)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "arguments");
    if (!args)
        args = cJSON_GetObjectItemCaseSensitive(c, "parameters");
    if (!cJSON_IsString(name) || !(cJSON_IsObject(args) || cJSON_IsString(args)))
        return false;
    char *text = cJSON_IsString(args) ? NULL : cJSON_PrintUnformatted(args);
    char cid[96];
    snprintf(cid, sizeof cid, "call_%.60s_%d", id, cJSON_GetArraySize(calls));
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", cid);
    cJSON_AddStringToObject(e, "type", "function");
    cJSON *f = cJSON_AddObjectToObject(e, "function");
    cJSON_AddStringToObject(f, "name", name->valuestring);
    cJSON_AddStringToObject(f, "arguments", text ? text : args->valuestring);
    cJSON_free(text);
    cJSON_AddItemToArray(calls, e);
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    return s;
}

/* Hermes: every <tool_call>JSON</tool_call> (the closer may be missing at the end). */
static bool parse_hermes(const char *p, cJSON *calls, const char *id)
{
    while ((p = strstr(p, "<tool_call>"))) {
        p += strlen("<tool_call>");
        const char *end = strstr(p, "</tool_call>");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        cJSON *c = cJSON_ParseWithLength(p, n);
        bool ok = c && add_call(calls, c, id);
        cJSON_Delete(c);
        if (!ok)
            return false;
        p += n;
    }
    return cJSON_GetArraySize(calls) > 0;
}

/* Llama 3: one JSON object (or several separated by ';'), after an optional <|python_tag|>. */
static bool parse_llama3(const char *p, cJSON *calls, const char *id)
{
    p = skip_ws(p);
    if (strncmp(p, "<|python_tag|>", 14) == 0)
        p = skip_ws(p + 14);
    while (*p == '{') {
        const char *end = NULL;
        cJSON *c = cJSON_ParseWithOpts(p, &end, false);
        bool ok = c && add_call(calls, c, id);
        cJSON_Delete(c);
        if (!ok)
            return false;
        p = skip_ws(end);
        if (*p == ';')
            p = skip_ws(p + 1);
    }
    return *p == '\0' && cJSON_GetArraySize(calls) > 0;
}

/* Mistral: [TOOL_CALLS] then a JSON array of calls. */
static bool parse_mistral(const char *p, cJSON *calls, const char *id)
{
    cJSON *a = cJSON_Parse(skip_ws(p + strlen("[TOOL_CALLS]")));
    bool ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, a)
        ok = ok && add_call(calls, c, id);
    cJSON_Delete(a);
    return ok;
}

/* Mistral's newer format: [TOOL_CALLS]NAME[ARGS]{...}, repeated for each call. */
static bool parse_mistral_args(const char *p, cJSON *calls, const char *id)
{
    while (strncmp(p, "[TOOL_CALLS]", 12) == 0) {
        p += 12;
        const char *args = strstr(p, "[ARGS]");
        if (!args || args - p < 1 || args - p > 64)
            return false;
        char name[65];
        memcpy(name, p, (size_t)(args - p));
        name[args - p] = '\0';
        const char *end = NULL;
        cJSON *a = cJSON_ParseWithOpts(skip_ws(args + 6), &end, false);
        cJSON *c = cJSON_CreateObject();
        bool ok = a && c && name_ok(name) && cJSON_AddStringToObject(c, "name", name);
        if (ok)
            cJSON_AddItemToObject(c, "arguments", a), a = NULL;
        ok = ok && add_call(calls, c, id);
        cJSON_Delete(a);
        cJSON_Delete(c);
        if (!ok)
            return false;
        p = skip_ws(end);
    }
    return *p == '\0' && cJSON_GetArraySize(calls) > 0;
}

bool tool_parse(tool_family f, const char *text, const char *id, char **content,
                cJSON **calls)
{
    *calls = NULL;
    const char *at = f == TOOL_NONE ? NULL : strstr(text, tool_opener(f));
    if (f == TOOL_LLAMA3) /* a Llama call is the whole answer */
        at = *skip_ws(text) == '{' || strncmp(skip_ws(text), "<|python_tag|>", 14) == 0
                 ? text : NULL;
    cJSON *c = at ? cJSON_CreateArray() : NULL;
    bool ok = c && (f == TOOL_HERMES         ? parse_hermes(at, c, id)
                    : f == TOOL_LLAMA3       ? parse_llama3(at, c, id)
                    : f == TOOL_MISTRAL_ARGS ? parse_mistral_args(at, c, id)
                                             : parse_mistral(at, c, id));
    if (!ok) {
        cJSON_Delete(c);
        at = NULL;
    }
    *content = mem_strndup(text, at ? (size_t)(at - text) : strlen(text));
    if (!*content) {
        cJSON_Delete(ok ? c : NULL);
        return false;
    }
    *calls = ok ? c : NULL;
    return true;
}

char *tool_calls_for_template(const cJSON *tool_calls, hearth_error *err)
{
    if (!cJSON_IsArray(tool_calls)) {
        err_set(err, HEARTH_ERR_INVALID, "a message's 'tool_calls' must be an array");
        return NULL;
    }
    cJSON *a = cJSON_Duplicate(tool_calls, true);
    cJSON *c;
    cJSON_ArrayForEach(c, a) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
        cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(f, "name"))) {
            cJSON_Delete(a);
            err_set(err, HEARTH_ERR_INVALID, "each tool call needs a 'function' with a 'name'");
            return NULL;
        }
        cJSON *obj = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
        if (cJSON_IsObject(obj))
            cJSON_ReplaceItemInObjectCaseSensitive(f, "arguments", obj);
        else
            cJSON_Delete(obj);
    }
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    char *out = s ? mem_strdup(s) : NULL;
    cJSON_free(s);
    if (!out)
        err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    return out;
}

hearth_status tool_chat_prompt(const gen_model *gm, const tpl_message *msgs, int n,
                               const char *tools_json, tok_ids *ids, hearth_error *err)
{
    const tok_vocab *v = gm->vocab;
    const tok_specials *sp = tok_special(v);
    tpl_options opt = { .add_generation_prompt = true,
                        .bos_token = sp->bos >= 0 ? tok_text(v, sp->bos, NULL) : "",
                        .eos_token = sp->eos >= 0 ? tok_text(v, sp->eos, NULL) : "",
                        .tools = tools_json, .enable_thinking = -1 };
    char *text = NULL;
    hearth_status st = tpl_render_ex(gm->chat_template, msgs, n, &opt, &text, err);
    if (st)
        return st;
    /* the template writes BOS itself when it wants one */
    bool has_bos = *opt.bos_token && strncmp(text, opt.bos_token, strlen(opt.bos_token)) == 0;
    st = tok_encode(v, text, strlen(text), !has_bos, true, ids, err);
    mem_free(text);
    return st;
}
