/*
 * json_schema.c — JSON Schema to GBNF (see json_schema.h).
 *
 * Every schema node becomes one rule, named nN; the node's rule is written after its
 * children's names are known, so the text is a flat list of rules that grm_parse reads
 * like any user grammar. Shared pieces (strings, numbers, whitespace, any value) are fixed
 * rules appended at the end.
 *
 * Objects. Properties keep the schema's order; each may be present or (unless required)
 * absent, and a comma must come before every present property but the first. Two chains
 * of rules say that without listing subsets: first_i ("properties i.. with none written
 * yet") and rest_i ("properties i.. after one was written"):
 *   rest_i  ::= "," ws kv_i rest_i+1          (required)   | ("," ws kv_i)? rest_i+1
 *   first_i ::= kv_i rest_i+1                 (required)   | kv_i rest_i+1 | first_i+1
 * with extra properties (additionalProperties) allowed after the listed ones.
 */
#include "generate/json_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

#define MAX_NEST 64
#define MAX_ITEMS 10000
#define MAX_REFS 256

#define COMMON_RULES \
    "ws ::= (\" \" | \"\\n\" [ \\t]{0,20})?\n" \
    "string ::= \"\\\"\" char* \"\\\"\"\n" \
    "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" escape)\n" \
    "escape ::= [0-9a-cA-Ce-fE-F] hex{3} | [dD] [0-7] hex{2}\n" \
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n" \
    "number ::= integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n" \
    "boolean ::= \"true\" | \"false\"\n" \
    "null ::= \"null\"\n" \
    "value ::= object | array | string | number | boolean | null\n" \
    "object ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"\n" \
    "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n" \
    "date ::= [0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01])\n" \
    "time ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,9})? " \
    "(\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])\n" \
    "hex ::= [0-9a-fA-F]\n" \
    "uuid ::= hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}\n"

static const char common_rules[] = COMMON_RULES;
const char jsch_any_object_gbnf[] = "root ::= object\n" COMMON_RULES;

/* ---- output text ----------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

__attribute__((format(printf, 2, 3)))
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->oom || need < 0)
        return;
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->n + (size_t)need + 1) * 2;
        char *s = cap <= 2 * (size_t)GRM_MAX_TEXT ? mem_realloc(b->s, cap) : NULL;
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* text as a GBNF literal: quotes, backslashes and control characters escaped */
static void sb_literal(sbuf *b, const char *text)
{
    sb_printf(b, "\"");
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            sb_printf(b, "\\%c", *c);
        else if (*c < 0x20)
            sb_printf(b, "\\x%02x", *c);
        else
            sb_printf(b, "%c", *c);
    }
    sb_printf(b, "\"");
}

/* ---- conversion ------------------------------------------------------------------------------ */

typedef struct conv {
    const cJSON *root;
    const char *src;
    hearth_error *err;
    hearth_status st;
    sbuf out;
    int n_rules, nest;
    char path[512];
    struct { const char *ref; int rule; } refs[MAX_REFS];
    int n_refs;
} conv;

__attribute__((format(printf, 3, 4)))
static int fail(conv *c, hearth_status st, const char *fmt, ...)
{
    if (c->st)
        return -1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = err_set(c->err, st, "%s: %s: %s", c->src, c->path[0] ? c->path : "/", msg);
    return -1;
}

static size_t path_push(conv *c, const char *a, const char *b)
{
    size_t at = strlen(c->path);
    snprintf(c->path + at, sizeof c->path - at, "/%s%s%s", a, b ? "/" : "", b ? b : "");
    return at;
}

static int schema_rule(conv *c, const cJSON *s);

/* A child schema under path /a/b. */
static int child(conv *c, const cJSON *s, const char *a, const char *b)
{
    size_t at = path_push(c, a, b);
    int r = schema_rule(c, s);
    c->path[at] = '\0';
    return r;
}

static const char *const annotations[] = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions", "contentMediaType", "contentEncoding",
};

static bool is_annotation(const char *k)
{
    for (size_t i = 0; i < sizeof annotations / sizeof *annotations; i++)
        if (!strcmp(k, annotations[i]))
            return true;
    return false;
}

/* Is every keyword of s an annotation or in the space-separated list allowed? */
static bool only_keywords(conv *c, const cJSON *s, const char *allowed)
{
    const cJSON *k;
    cJSON_ArrayForEach(k, s) {
        if (is_annotation(k->string))
            continue;
        const char *at = strstr(allowed, k->string);
        size_t n = strlen(k->string);
        if (at && (at == allowed || at[-1] == ' ') && (at[n] == ' ' || at[n] == '\0'))
            continue;
        fail(c, HEARTH_ERR_UNSUPPORTED, "keyword '%s' is not supported%s", k->string,
             strstr("pattern minimum maximum exclusiveMinimum exclusiveMaximum multipleOf "
                    "uniqueItems contains minProperties maxProperties patternProperties not "
                    "if then else prefixItems dependentRequired propertyNames", k->string)
                 ? "" : " here");
        return false;
    }
    return true;
}

/* A non-negative integer keyword, or def when absent. */
static long count_kw(conv *c, const cJSON *s, const char *kw, long def, long max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, kw);
    if (!v)
        return def;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != (double)(long)v->valuedouble)
        return fail(c, HEARTH_ERR_INVALID, "'%s' must be a non-negative whole number", kw);
    if (v->valuedouble > max)
        return fail(c, HEARTH_ERR_UNSUPPORTED, "'%s' above %ld is not supported", kw, max);
    return (long)v->valuedouble;
}

static int new_rule(conv *c)
{
    return c->n_rules++;
}

static int literal_rule(conv *c, const cJSON *values, bool single)
{
    if (!single && (!cJSON_IsArray(values) || cJSON_GetArraySize(values) == 0))
        return fail(c, HEARTH_ERR_INVALID, "'enum' must be a non-empty array");
    int r = new_rule(c);
    sb_printf(&c->out, "n%d ::= ", r);
    const cJSON *v;
    int k = 0;
    for (v = single ? values : values->child; v; v = single ? NULL : v->next) {
        char *text = cJSON_PrintUnformatted(v);
        if (!text) {
            c->out.oom = true;
            break;
        }
        sb_printf(&c->out, "%s", k++ ? " | " : "");
        sb_literal(&c->out, text);
        cJSON_free(text);
    }
    sb_printf(&c->out, "\n");
    return r;
}

static int alternatives_rule(conv *c, const cJSON *list, const char *kw)
{
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return fail(c, HEARTH_ERR_INVALID, "'%s' must be a non-empty array of schemas", kw);
    int n = cJSON_GetArraySize(list), *sub = mem_calloc((size_t)n, sizeof *sub);
    if (!sub)
        return c->out.oom = true, -1;
    for (int i = 0; i < n && !c->st; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        sub[i] = child(c, cJSON_GetArrayItem(list, i), kw, idx);
    }
    int r = -1;
    if (!c->st) {
        r = new_rule(c);
        sb_printf(&c->out, "n%d ::= ", r);
        for (int i = 0; i < n; i++)
            sb_printf(&c->out, "%sn%d", i ? " | " : "", sub[i]);
        sb_printf(&c->out, "\n");
    }
    mem_free(sub);
    return r;
}

static int ref_rule(conv *c, const cJSON *ref)
{
    if (!cJSON_IsString(ref))
        return fail(c, HEARTH_ERR_INVALID, "'$ref' must be a string");
    const char *r = ref->valuestring;
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, r))
            return c->refs[i].rule;
    const cJSON *target = NULL;
    const char *name = NULL;
    if (!strcmp(r, "#")) {
        target = c->root;
    } else if (!strncmp(r, "#/$defs/", 8) || !strncmp(r, "#/definitions/", 14)) {
        name = strchr(r + 2, '/') + 1;
        target = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(c->root, r[2] == '$' ? "$defs" : "definitions"), name);
        if (!target)
            return fail(c, HEARTH_ERR_INVALID, "'$ref' %s: no such definition", r);
    } else {
        return fail(c, HEARTH_ERR_UNSUPPORTED, "'$ref' %s: only \"#\", \"#/$defs/NAME\" and "
                    "\"#/definitions/NAME\" are supported", r);
    }
    if (c->n_refs == MAX_REFS)
        return fail(c, HEARTH_ERR_RANGE, "more than %d distinct $refs", MAX_REFS);
    /* the rule's name is known before its body, so the definition may refer to itself */
    int rule = new_rule(c), at = c->n_refs++;
    c->refs[at].ref = r;
    c->refs[at].rule = rule;
    char saved[sizeof c->path];
    memcpy(saved, c->path, sizeof saved);
    snprintf(c->path, sizeof c->path, "%s", r + 1);
    int body = schema_rule(c, target);
    memcpy(c->path, saved, sizeof saved);
    if (body >= 0)
        sb_printf(&c->out, "n%d ::= n%d\n", rule, body);
    return body < 0 ? -1 : rule;
}

static int string_rule(conv *c, const cJSON *s, bool check)
{
    if (check && !only_keywords(c, s, "type minLength maxLength format"))
        return -1;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(s, "format");
    long lo = count_kw(c, s, "minLength", 0, MAX_ITEMS), hi = count_kw(c, s, "maxLength", -1, MAX_ITEMS);
    if (c->st)
        return -1;
    int r = new_rule(c);
    if (format) {
        static const char *const known[] = { "date", "time", "date-time", "uuid" };
        const char *f = cJSON_IsString(format) ? format->valuestring : "";
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            ok = ok || !strcmp(f, known[i]);
        if (!ok)
            return fail(c, HEARTH_ERR_UNSUPPORTED, "format '%s' is not supported (date, time, "
                        "date-time and uuid are)", f);
        if (lo > 0 || hi >= 0)
            return fail(c, HEARTH_ERR_UNSUPPORTED, "'format' together with a length limit is "
                        "not supported");
        sb_printf(&c->out, "n%d ::= \"\\\"\" %s \"\\\"\"\n", r,
                  !strcmp(f, "date-time") ? "date \"T\" time" : f);
        return r;
    }
    if (hi >= 0 && hi < lo)
        return fail(c, HEARTH_ERR_INVALID, "minLength %ld is above maxLength %ld", lo, hi);
    if (hi < 0)
        sb_printf(&c->out, "n%d ::= \"\\\"\" char{%ld,} \"\\\"\"\n", r, lo);
    else
        sb_printf(&c->out, "n%d ::= \"\\\"\" char{%ld,%ld} \"\\\"\"\n", r, lo, hi);
    return r;
}

static int array_rule(conv *c, const cJSON *s, bool check)
{
    if (check && !only_keywords(c, s, "type items minItems maxItems"))
        return -1;
    long lo = count_kw(c, s, "minItems", 0, MAX_ITEMS), hi = count_kw(c, s, "maxItems", -1, MAX_ITEMS);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (c->st)
        return -1;
    if (hi >= 0 && hi < lo)
        return fail(c, HEARTH_ERR_INVALID, "minItems %ld is above maxItems %ld", lo, hi);
    int item = items ? child(c, items, "items", NULL) : -1;
    if (c->st)
        return -1;
    char it[32], more[32] = ""; /* the item rule; the upper bound of the items after the first */
    snprintf(it, sizeof it, item >= 0 ? "n%d" : "value", item);
    if (hi > 0)
        snprintf(more, sizeof more, "%ld", hi - 1);
    int r = new_rule(c);
    if (hi == 0)
        sb_printf(&c->out, "n%d ::= \"[\" ws \"]\"\n", r);
    else if (lo == 0)
        sb_printf(&c->out, "n%d ::= \"[\" ws (%s ws (\",\" ws %s ws){0,%s})? \"]\"\n", r, it, it,
                  more);
    else
        sb_printf(&c->out, "n%d ::= \"[\" ws %s ws (\",\" ws %s ws){%ld,%s} \"]\"\n", r, it, it,
                  lo - 1, more);
    return r;
}

typedef struct prop {
    const char *name;
    const cJSON *schema;
    bool required;
    int rule; /* kv rule */
} prop;

static bool is_required(const cJSON *required, const char *name)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, required)
        if (cJSON_IsString(r) && !strcmp(r->valuestring, name))
            return true;
    return false;
}

/* The key-value rule of one property: "\"name\"" ws ":" ws VALUE ws */
static int kv_rule(conv *c, const char *name, int value)
{
    cJSON *key = cJSON_CreateString(name);
    char *text = key ? cJSON_PrintUnformatted(key) : NULL;
    cJSON_Delete(key);
    if (!text)
        return c->out.oom = true, -1;
    int r = new_rule(c);
    sb_printf(&c->out, "n%d ::= ", r);
    sb_literal(&c->out, text);
    if (value >= 0)
        sb_printf(&c->out, " ws \":\" ws n%d ws\n", value);
    else
        sb_printf(&c->out, " ws \":\" ws value ws\n");
    cJSON_free(text);
    return r;
}

/* Keys of extra properties must differ from the listed names (else {"a": 1} would pass as
 * an extra "a" beside a declared {"a": {"type": "null"}}). One rule per node of the names'
 * trie: at a node, close the key (unless a name ends there), follow a trie edge, or take
 * any other character and be free. Names needing escapes in JSON, or longer than
 * MAX_KEY_CHARS, are not excluded, nor are names spelt with \u escapes. */
#define MAX_KEY_CHARS 256

typedef struct key_name {
    uint32_t cp[MAX_KEY_CHARS];
    int n;
} key_name;

static int key_node(conv *c, const key_name *names, const int *idx, int n, int depth)
{
    int r = new_rule(c), *sub = mem_calloc((size_t)n + 1, sizeof *sub), n_alt = 0;
    uint32_t *edge = mem_calloc((size_t)n + 1, sizeof *edge);
    int *child_rule = mem_calloc((size_t)n + 1, sizeof *child_rule);
    if (!sub || !edge || !child_rule) {
        c->out.oom = true;
        n = 0;
    }
    bool ends_here = false;
    for (int i = 0; i < n && !c->st; i++) {
        const key_name *k = &names[idx[i]];
        if (k->n == depth) {
            ends_here = true;
            continue;
        }
        uint32_t ch = k->cp[depth];
        bool seen = false;
        for (int e = 0; e < n_alt; e++)
            seen = seen || edge[e] == ch;
        if (seen)
            continue;
        int m = 0; /* the names continuing with ch */
        for (int j = i; j < n; j++)
            if (names[idx[j]].n > depth && names[idx[j]].cp[depth] == ch)
                sub[m++] = idx[j];
        edge[n_alt] = ch;
        child_rule[n_alt++] = key_node(c, names, sub, m, depth + 1);
    }
    if (!c->st) {
        sb_printf(&c->out, "n%d ::= %s([^\"\\\\\\x00-\\x1f", r, ends_here ? "" : "\"\\\"\" | ");
        for (int e = 0; e < n_alt; e++)
            sb_printf(&c->out, "\\U%08x", (unsigned)edge[e]);
        sb_printf(&c->out, "] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" escape)) char* \"\\\"\"");
        for (int e = 0; e < n_alt; e++)
            sb_printf(&c->out, " | \"\\U%08x\" n%d", (unsigned)edge[e], child_rule[e]);
        sb_printf(&c->out, "\n");
    }
    mem_free(sub);
    mem_free(edge);
    mem_free(child_rule);
    return r;
}

/* The rule of a key (quotes included) that is none of props[0..n)'s names. */
static int other_key_rule(conv *c, const prop *p, int n)
{
    key_name *names = mem_calloc((size_t)n + 1, sizeof *names);
    int *idx = mem_calloc((size_t)n + 1, sizeof *idx), m = 0;
    if (!names || !idx) {
        mem_free(names);
        mem_free(idx);
        return c->out.oom = true, -1;
    }
    for (int i = 0; i < n; i++) {
        key_name *k = &names[m];
        const char *s = p[i].name;
        size_t len = strlen(s);
        bool ok = true;
        k->n = 0;
        for (size_t at = 0; at < len && ok;) {
            uint32_t cp;
            int l = utf8_decode(s + at, len - at, &cp);
            ok = l > 0 && cp >= 0x20 && cp != '"' && cp != '\\' && k->n < MAX_KEY_CHARS;
            if (ok)
                k->cp[k->n++] = cp;
            at += l > 0 ? (size_t)l : 1;
        }
        if (ok) {
            idx[m] = m;
            m++;
        }
    }
    int root = key_node(c, names, idx, m, 0), r = new_rule(c);
    sb_printf(&c->out, "n%d ::= \"\\\"\" n%d\n", r, root);
    mem_free(names);
    mem_free(idx);
    return r;
}

/* first_i / rest_i chains over props[0..n), then the object rule. */
static int object_body(conv *c, prop *p, int n, int extra)
{
    int rest = new_rule(c), first = new_rule(c);
    if (extra >= 0) {
        sb_printf(&c->out, "n%d ::= (\",\" ws n%d)*\n", rest, extra);
        sb_printf(&c->out, "n%d ::= (n%d (\",\" ws n%d)*)?\n", first, extra, extra);
    } else {
        sb_printf(&c->out, "n%d ::= \"\"\nn%d ::= \"\"\n", rest, first);
    }
    for (int i = n - 1; i >= 0; i--) {
        int r = new_rule(c), f = new_rule(c);
        if (p[i].required) {
            sb_printf(&c->out, "n%d ::= \",\" ws n%d n%d\n", r, p[i].rule, rest);
            sb_printf(&c->out, "n%d ::= n%d n%d\n", f, p[i].rule, rest);
        } else {
            sb_printf(&c->out, "n%d ::= (\",\" ws n%d)? n%d\n", r, p[i].rule, rest);
            sb_printf(&c->out, "n%d ::= n%d n%d | n%d\n", f, p[i].rule, rest, first);
        }
        rest = r;
        first = f;
    }
    int obj = new_rule(c);
    sb_printf(&c->out, "n%d ::= \"{\" ws n%d \"}\"\n", obj, first);
    return obj;
}

static int object_rule(conv *c, const cJSON *s, bool check)
{
    if (check && !only_keywords(c, s, "type properties required additionalProperties"))
        return -1;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    if (props && !cJSON_IsObject(props))
        return fail(c, HEARTH_ERR_INVALID, "'properties' must be an object");
    if (required && !cJSON_IsArray(required))
        return fail(c, HEARTH_ERR_INVALID, "'required' must be an array of names");
    const cJSON *e;
    cJSON_ArrayForEach(e, required)
        if (!cJSON_IsString(e))
            return fail(c, HEARTH_ERR_INVALID, "'required' must be an array of names");
    bool closed = cJSON_IsFalse(add);
    int n = cJSON_GetArraySize(props) + cJSON_GetArraySize(required), k = 0;
    prop *p = mem_calloc((size_t)n + 1, sizeof *p);
    if (!p)
        return c->out.oom = true, -1;
    cJSON_ArrayForEach(e, props)
        p[k++] = (prop){ e->string, e, is_required(required, e->string), -1 };
    cJSON_ArrayForEach(e, required) { /* required but not described: any value */
        if (cJSON_GetObjectItemCaseSensitive(props, e->valuestring))
            continue;
        bool dup = false;
        for (int i = 0; i < k; i++)
            dup = dup || !strcmp(p[i].name, e->valuestring);
        if (closed && !dup) {
            mem_free(p);
            return fail(c, HEARTH_ERR_INVALID, "property '%s' is required but not in "
                        "'properties', and additionalProperties is false", e->valuestring);
        }
        if (!dup)
            p[k++] = (prop){ e->valuestring, NULL, true, -1 };
    }
    for (int i = 0; i < k && !c->st; i++) {
        int v = p[i].schema ? child(c, p[i].schema, "properties", p[i].name) : -1;
        if (!c->st)
            p[i].rule = kv_rule(c, p[i].name, v);
    }
    int extra = -1;
    if (!c->st && !closed) { /* extra properties: "key": value */
        int v = add && !cJSON_IsTrue(add) ? child(c, add, "additionalProperties", NULL) : -1;
        if (!c->st) {
            char val[32] = "value";
            if (v >= 0)
                snprintf(val, sizeof val, "n%d", v);
            int key = k ? other_key_rule(c, p, k) : -1;
            char keyname[32] = "string";
            if (key >= 0)
                snprintf(keyname, sizeof keyname, "n%d", key);
            extra = new_rule(c);
            sb_printf(&c->out, "n%d ::= %s ws \":\" ws %s ws\n", extra, keyname, val);
        }
    }
    int r = c->st ? -1 : object_body(c, p, k, extra);
    mem_free(p);
    return r;
}

/* Every keyword some type understands (a list of types shares one set of keywords). */
static const char all_type_keywords[] = "type minLength maxLength format items minItems maxItems "
                                        "properties required additionalProperties";

/* One type's rule; s gives the keywords. check: refuse keywords this type does not use
 * (off for a member of a type list, whose keywords may belong to another member). */
static int typed_rule(conv *c, const cJSON *s, const char *type, bool check)
{
    if (!strcmp(type, "object"))
        return object_rule(c, s, check);
    if (!strcmp(type, "array"))
        return array_rule(c, s, check);
    if (!strcmp(type, "string"))
        return string_rule(c, s, check);
    const char *fixed = NULL;
    static const char *const simple[] = { "number", "integer", "boolean", "null" };
    for (size_t i = 0; i < sizeof simple / sizeof *simple; i++)
        if (!strcmp(type, simple[i]))
            fixed = simple[i];
    if (!fixed)
        return fail(c, HEARTH_ERR_INVALID, "unknown type '%s'", type);
    if (check && !only_keywords(c, s, "type"))
        return -1;
    int r = new_rule(c);
    sb_printf(&c->out, "n%d ::= %s\n", r, fixed);
    return r;
}

/* Which type does a schema without "type" describe, judging by its keywords? */
static const char *implied_type(const cJSON *s)
{
    static const struct { const char *kw, *type; } hints[] = {
        { "properties", "object" }, { "required", "object" }, { "additionalProperties", "object" },
        { "items", "array" }, { "minItems", "array" }, { "maxItems", "array" },
        { "minLength", "string" }, { "maxLength", "string" }, { "format", "string" },
    };
    for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
        if (cJSON_GetObjectItemCaseSensitive(s, hints[i].kw))
            return hints[i].type;
    return NULL;
}

static int schema_rule(conv *c, const cJSON *s)
{
    if (c->st)
        return -1;
    if (++c->nest > MAX_NEST) {
        c->nest--;
        return fail(c, HEARTH_ERR_RANGE, "schemas nested more than %d deep", MAX_NEST);
    }
    int r = -1;
    const cJSON *kw;
    if (cJSON_IsFalse(s)) {
        r = fail(c, HEARTH_ERR_INVALID, "the schema 'false' matches nothing");
    } else if (cJSON_IsTrue(s)) {
        r = new_rule(c);
        sb_printf(&c->out, "n%d ::= value\n", r);
    } else if (!cJSON_IsObject(s)) {
        r = fail(c, HEARTH_ERR_INVALID, "a schema must be an object or a boolean");
    } else if ((kw = cJSON_GetObjectItemCaseSensitive(s, "$ref"))) {
        if (only_keywords(c, s, "$ref"))
            r = ref_rule(c, kw);
    } else if ((kw = cJSON_GetObjectItemCaseSensitive(s, "enum")) ||
               (kw = cJSON_GetObjectItemCaseSensitive(s, "const"))) {
        if (only_keywords(c, s, "type enum const"))
            r = literal_rule(c, kw, !strcmp(kw->string, "const"));
    } else if ((kw = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) ||
               (kw = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        if (only_keywords(c, s, kw->string))
            r = alternatives_rule(c, kw, kw->string);
    } else if ((kw = cJSON_GetObjectItemCaseSensitive(s, "allOf"))) {
        if (only_keywords(c, s, "allOf") && cJSON_GetArraySize(kw) != 1)
            r = fail(c, HEARTH_ERR_UNSUPPORTED, "'allOf' with more than one schema is not "
                     "supported");
        else if (!c->st)
            r = child(c, cJSON_GetArrayItem(kw, 0), "allOf", "0");
    } else {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
        if (cJSON_IsString(type)) {
            r = typed_rule(c, s, type->valuestring, true);
        } else if (cJSON_IsArray(type) && cJSON_GetArraySize(type) > 0) {
            int n = cJSON_GetArraySize(type), sub[8];
            if (n > 7) {
                r = fail(c, HEARTH_ERR_INVALID, "'type' lists more than 7 types");
            } else if (only_keywords(c, s, all_type_keywords)) {
                for (int i = 0; i < n && !c->st; i++) {
                    const cJSON *t = cJSON_GetArrayItem(type, i);
                    sub[i] = cJSON_IsString(t) ? typed_rule(c, s, t->valuestring, false)
                                               : fail(c, HEARTH_ERR_INVALID, "'type' must be "
                                                      "a name or a list of names");
                }
                if (!c->st) {
                    r = new_rule(c);
                    sb_printf(&c->out, "n%d ::=", r);
                    for (int i = 0; i < n; i++)
                        sb_printf(&c->out, "%s n%d", i ? " |" : "", sub[i]);
                    sb_printf(&c->out, "\n");
                }
            }
        } else if (type) {
            r = fail(c, HEARTH_ERR_INVALID, "'type' must be a name or a list of names");
        } else if (implied_type(s)) {
            r = typed_rule(c, s, implied_type(s), true);
        } else if (only_keywords(c, s, "")) {
            r = new_rule(c);
            sb_printf(&c->out, "n%d ::= value\n", r);
        }
    }
    c->nest--;
    if (c->out.oom)
        return fail(c, HEARTH_ERR_NOMEM, "out of memory (or a grammar above %u bytes)",
                    GRM_MAX_TEXT);
    return c->st ? -1 : r;
}

hearth_status jsch_to_gbnf_rules(const cJSON *const *schemas, const char *const *names, int n,
                                 const char *source, char **gbnf, hearth_error *err)
{
    *gbnf = NULL;
    conv *c = mem_calloc(1, sizeof *c);
    if (!c)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    c->src = source ? source : "schema";
    c->err = err;
    for (int i = 0; i < n && !c->st; i++) {
        c->root = schemas[i]; /* "#" and "#/$defs/..." are each schema's own */
        c->n_refs = 0;
        int top = schema_rule(c, schemas[i]);
        if (!c->st)
            sb_printf(&c->out, "%s ::= n%d\n", names[i], top);
    }
    if (!c->st) {
        sb_printf(&c->out, "%s", common_rules);
        if (c->out.oom)
            fail(c, HEARTH_ERR_NOMEM, "out of memory (or a grammar above %u bytes)", GRM_MAX_TEXT);
    }
    hearth_status st = c->st;
    if (st)
        mem_free(c->out.s);
    else
        *gbnf = c->out.s;
    mem_free(c);
    return st;
}

hearth_status jsch_to_gbnf_json(const cJSON *schema, const char *source, char **gbnf,
                                hearth_error *err)
{
    static const char *const root = "root";
    return jsch_to_gbnf_rules(&schema, &root, 1, source, gbnf, err);
}

hearth_status jsch_to_gbnf(const char *text, size_t len, const char *source, char **gbnf,
                           hearth_error *err)
{
    *gbnf = NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j) {
        int line = 1, col = 1;
        for (const char *p = text; end && p < end && p < text + len; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return err_set(err, HEARTH_ERR_FORMAT, "%s:%d:%d: not valid JSON", source ? source :
                       "schema", line, col);
    }
    hearth_status st = jsch_to_gbnf_json(j, source, gbnf, err);
    cJSON_Delete(j);
    return st;
}

hearth_status jsch_grammar(grm_grammar **out, const char *text, size_t len, const char *source,
                           hearth_error *err)
{
    *out = NULL;
    char *gbnf;
    hearth_status st = jsch_to_gbnf(text, len, source, &gbnf, err);
    if (st)
        return st;
    st = grm_parse(out, gbnf, strlen(gbnf), source, err);
    mem_free(gbnf);
    return st;
}
