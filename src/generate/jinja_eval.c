/*
 * jinja_eval.c — renders a parsed chat template (see jinja.h for the contract and jinja.c
 * for the supported subset).
 *
 * A tree-walking evaluator over the jj_node tree. Every node evaluated costs a step and
 * a level of depth; builtins that touch many bytes or elements pay for that work too, and
 * every string and output buffer is checked against the output limit before it grows, so
 * a hostile template ends with a limit error after bounded time and memory. All values are
 * allocated in the context's arena (which enforces the memory limit); nothing is freed
 * until the context is.
 *
 * Scopes follow Jinja: a for loop and a macro call open a frame; `set` writes to the
 * innermost frame (so a set inside a loop is not seen after it — templates use namespace()
 * for that); a macro body sees its own frame and the template's top level, not its caller's.
 */
#define _GNU_SOURCE /* memmem */
#include "generate/jinja_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

const char *const jj_filter_names[F_COUNT_] = {
    [F_ABS] = "abs", [F_CAPITALIZE] = "capitalize", [F_COUNT] = "count",
    [F_DEFAULT] = "default", [F_FIRST] = "first", [F_FLOAT] = "float", [F_INDENT] = "indent",
    [F_INT] = "int", [F_ITEMS] = "items", [F_JOIN] = "join", [F_LAST] = "last",
    [F_LENGTH] = "length", [F_LIST] = "list", [F_LOWER] = "lower", [F_MAP] = "map",
    [F_REJECT] = "reject", [F_REJECTATTR] = "rejectattr", [F_REPLACE] = "replace",
    [F_REVERSE] = "reverse", [F_SAFE] = "safe", [F_SELECT] = "select",
    [F_SELECTATTR] = "selectattr", [F_STRING] = "string", [F_TITLE] = "title",
    [F_TOJSON] = "tojson", [F_TRIM] = "trim", [F_UNIQUE] = "unique", [F_UPPER] = "upper",
};

static const struct { const char *name; int id; } TESTS[] = {
    { "defined", T_DEFINED }, { "undefined", T_UNDEFINED }, { "none", T_NONE },
    { "string", T_STRING }, { "number", T_NUMBER }, { "integer", T_INTEGER },
    { "float", T_FLOAT }, { "mapping", T_MAPPING }, { "iterable", T_ITERABLE },
    { "sequence", T_SEQUENCE }, { "boolean", T_BOOLEAN }, { "true", T_TRUE },
    { "false", T_FALSE }, { "odd", T_ODD }, { "even", T_EVEN },
    { "divisibleby", T_DIVISIBLEBY }, { "eq", T_EQUALTO }, { "equalto", T_EQUALTO },
    { "==", T_EQUALTO }, { "ne", T_NE }, { "!=", T_NE }, { "lt", T_LT }, { "lessthan", T_LT },
    { "<", T_LT }, { "le", T_LE }, { "<=", T_LE }, { "gt", T_GT }, { "greaterthan", T_GT },
    { ">", T_GT }, { "ge", T_GE }, { ">=", T_GE }, { "sameas", T_SAMEAS },
    { "lower", T_LOWER }, { "upper", T_UPPER }, { "in", T_IN }, { "callable", T_CALLABLE },
};

int jj_test_id(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
        if (strlen(TESTS[i].name) == n && memcmp(TESTS[i].name, name, n) == 0)
            return TESTS[i].id;
    return -1;
}

enum { FN_RANGE, FN_NAMESPACE, FN_DICT, FN_RAISE, FN_STRFTIME };
static const char *const FN_NAMES[] = { "range", "namespace", "dict", "raise_exception",
                                        "strftime_now" };

/* ---- Render state ---------------------------------------------------------------------- */

typedef struct frame frame;
struct frame {
    frame *parent;
    bool barrier; /* a macro call: names not found here are looked up at the top level */
    jj_dict vars;
};

typedef struct sbuf {
    jj_str *s; /* s->len bytes used of cap */
    size_t cap;
} sbuf;

enum { CTL_NONE, CTL_BREAK, CTL_CONTINUE };

typedef struct R {
    jj_ctx *c;
    jj_arena *a;
    const jj_limits *lim;
    long steps, iters;
    int depth, line;
    sbuf *out;
    frame *top, *root;
    int ctl;
    hearth_error *err;
    hearth_status st;
} R;

/* Positional and keyword arguments of a call. */
typedef struct args {
    jj_value *pos;
    int np;
    jj_str **kn;
    jj_value *kv;
    int nk;
} args;

static bool fail(R *r, hearth_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(R *r, hearth_status st, const char *fmt, ...)
{
    if (r->st != HEARTH_OK)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->st = err_set(r->err, st, "chat template line %d: %s", r->line, msg);
    return false;
}

static bool oom(R *r)
{
    if (r->a->over_limit)
        return fail(r, HEARTH_ERR_RANGE, "uses more than %zu bytes of memory", r->lim->max_memory);
    return fail(r, HEARTH_ERR_NOMEM, "out of memory");
}

static bool work(R *r, long units)
{
    r->steps += units;
    if (r->steps > r->lim->max_steps)
        return fail(r, HEARTH_ERR_RANGE, "more than %ld evaluation steps", r->lim->max_steps);
    return true;
}

static void *alloc(R *r, size_t n)
{
    void *p = jj_arena_alloc(r->a, n);
    if (!p)
        oom(r);
    return p;
}

static const char *type_name(jj_value v)
{
    static const char *const names[] = { "undefined", "none", "bool", "int", "float",
                                         "string", "list", "dict", "function", "macro", "loop" };
    return names[v.type];
}

static jj_value vstr(jj_str *s) { return (jj_value){ .type = JJ_STR, .u.s = s }; }
static jj_value vlist(jj_list *l) { return (jj_value){ .type = JJ_LIST, .u.l = l }; }
static jj_value vdict(jj_dict *d) { return (jj_value){ .type = JJ_DICT, .u.d = d }; }
static jj_value undef(void) { return (jj_value){ .type = JJ_UNDEFINED }; }

/* ---- Strings and buffers ---- */

static bool sb_init(R *r, sbuf *b, size_t cap)
{
    b->cap = cap;
    b->s = alloc(r, sizeof *b->s + cap + 1);
    return b->s != NULL;
}

static bool sb_put(R *r, sbuf *b, const char *p, size_t n)
{
    size_t len = b->s->len;
    if (n > r->lim->max_output || len > r->lim->max_output - n)
        return fail(r, HEARTH_ERR_RANGE, "output or string longer than %zu bytes",
                    r->lim->max_output);
    if (!work(r, 1 + (long)(n >> 6)))
        return false;
    if (len + n > b->cap) {
        size_t cap = 2 * (len + n);
        if (cap > r->lim->max_output)
            cap = r->lim->max_output;
        jj_str *s = alloc(r, sizeof *s + cap + 1);
        if (!s)
            return false;
        memcpy(s->s, b->s->s, len);
        s->len = len;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s->s + len, p, n);
    b->s->len = len + n;
    b->s->s[len + n] = '\0';
    return true;
}

static bool sb_cstr(R *r, sbuf *b, const char *s) { return sb_put(r, b, s, strlen(s)); }

static bool new_str(R *r, const char *s, size_t n, jj_value *out)
{
    if (n > r->lim->max_output)
        return fail(r, HEARTH_ERR_RANGE, "string longer than %zu bytes", r->lim->max_output);
    if (!work(r, (long)(n >> 6)))
        return false;
    jj_str *js = jj_str_make(r->a, s, n);
    if (!js)
        return oom(r);
    *out = vstr(js);
    return true;
}

static bool new_list(R *r, jj_value *out)
{
    jj_list *l = alloc(r, sizeof *l);
    *out = vlist(l);
    return l != NULL;
}

static bool new_dict(R *r, jj_value *out)
{
    jj_dict *d = alloc(r, sizeof *d);
    *out = vdict(d);
    return d != NULL;
}

static bool push(R *r, jj_list *l, jj_value v)
{
    return jj_list_append(r->a, l, v) || oom(r);
}

static bool put(R *r, jj_dict *d, const char *k, size_t n, jj_value v)
{
    return jj_dict_put(r->a, d, k, n, v) || oom(r);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char up(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }
static char low(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }
static bool alpha(char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

static size_t cp_count(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Byte offsets of the code points of s (n+1 entries, the last = len); NULL for ASCII text,
 * where offsets equal indexes. */
static bool cp_offsets(R *r, const jj_str *s, size_t **offs, size_t *n)
{
    if (!work(r, (long)(s->len >> 6)))
        return false;
    *n = cp_count(s->s, s->len);
    *offs = NULL;
    if (*n == s->len)
        return true;
    size_t *o = alloc(r, (*n + 1) * sizeof *o);
    if (!o)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < s->len; i++)
        if (((unsigned char)s->s[i] & 0xC0) != 0x80)
            o[k++] = i;
    o[k] = s->len;
    *offs = o;
    return true;
}

static size_t cp_at(const size_t *offs, size_t i) { return offs ? offs[i] : i; }

/* Python's repr of a float: the shortest digits that read back the same, positional for
 * exponents in [-4, 16), scientific otherwise. */
static void fmt_float(double f, char *out, size_t cap)
{
    if (isnan(f) || isinf(f)) {
        snprintf(out, cap, "%s", isnan(f) ? "nan" : f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        snprintf(out, cap, "%s", signbit(f) ? "-0.0" : "0.0");
        return;
    }
    char e[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    char digits[24];
    int nd = 0;
    const char *q = e + (e[0] == '-');
    for (; *q && *q != 'e'; q++)
        if (*q != '.')
            digits[nd++] = *q;
    int ex = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char buf[64];
    int k = 0;
    if (f < 0)
        buf[k++] = '-';
    if (ex >= -4 && ex < 16) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++)
                buf[k++] = i < nd ? digits[i] : '0';
            buf[k++] = '.';
            if (nd > ex + 1)
                for (int i = ex + 1; i < nd; i++)
                    buf[k++] = digits[i];
            else
                buf[k++] = '0';
        } else {
            buf[k++] = '0';
            buf[k++] = '.';
            for (int i = 0; i < -ex - 1; i++)
                buf[k++] = '0';
            for (int i = 0; i < nd; i++)
                buf[k++] = digits[i];
        }
        buf[k] = '\0';
    } else {
        buf[k++] = digits[0];
        if (nd > 1) {
            buf[k++] = '.';
            for (int i = 1; i < nd; i++)
                buf[k++] = digits[i];
        }
        snprintf(buf + k, sizeof buf - (size_t)k, "e%c%02d", ex < 0 ? '-' : '+', abs(ex));
    }
    snprintf(out, cap, "%s", buf);
}

/* ---- Printing values ---- */

static bool repr_str(R *r, sbuf *b, const jj_str *s)
{
    bool sq = memchr(s->s, '\'', s->len) != NULL, dq = memchr(s->s, '"', s->len) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (!sb_put(r, b, &q, 1))
        return false;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->s[i];
        char esc[8];
        if (c == '\\' || c == (unsigned char)q)
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n' || c == '\r' || c == '\t')
            snprintf(esc, sizeof esc, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        else if (c < 0x20 || c == 0x7F)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        else {
            esc[0] = (char)c;
            esc[1] = '\0';
        }
        if (!sb_cstr(r, b, esc))
            return false;
    }
    return sb_put(r, b, &q, 1);
}

/* Python's str() of v (repr: its repr(), as inside a list). */
static bool write_value(R *r, sbuf *b, jj_value v, bool repr, int level)
{
    char num[48];
    if (level > r->lim->max_depth)
        return fail(r, HEARTH_ERR_RANGE, "value nested more than %d deep", r->lim->max_depth);
    switch (v.type) {
    case JJ_UNDEFINED: return true;
    case JJ_NONE: return sb_cstr(r, b, "None");
    case JJ_BOOL: return sb_cstr(r, b, v.u.b ? "True" : "False");
    case JJ_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return sb_cstr(r, b, num);
    case JJ_FLOAT: fmt_float(v.u.f, num, sizeof num); return sb_cstr(r, b, num);
    case JJ_STR: return repr ? repr_str(r, b, v.u.s) : sb_put(r, b, v.u.s->s, v.u.s->len);
    case JJ_LIST:
        if (!sb_cstr(r, b, "["))
            return false;
        for (size_t i = 0; i < v.u.l->n; i++)
            if ((i && !sb_cstr(r, b, ", ")) || !write_value(r, b, v.u.l->v[i], true, level + 1))
                return false;
        return sb_cstr(r, b, "]");
    case JJ_DICT:
        if (!sb_cstr(r, b, v.u.d->ns ? "<Namespace {" : "{"))
            return false;
        for (size_t i = 0; i < v.u.d->n; i++)
            if ((i && !sb_cstr(r, b, ", ")) || !repr_str(r, b, v.u.d->k[i]) ||
                !sb_cstr(r, b, ": ") || !write_value(r, b, v.u.d->v[i], true, level + 1))
                return false;
        return sb_cstr(r, b, v.u.d->ns ? "}>" : "}");
    default: return sb_cstr(r, b, v.type == JJ_LOOP ? "<LoopContext>" : "<function>");
    }
}

static bool to_string(R *r, jj_value v, jj_value *out)
{
    if (v.type == JJ_STR) {
        *out = v;
        return true;
    }
    sbuf b;
    if (!sb_init(r, &b, 32) || !write_value(r, &b, v, false, 0))
        return false;
    *out = vstr(b.s);
    return true;
}

static bool json_str(R *r, sbuf *b, const char *s, size_t n)
{
    if (!sb_cstr(r, b, "\""))
        return false;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[8];
        switch (c) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c);
        }
        if (!sb_put(r, b, s + run, i - run) || !sb_cstr(r, b, esc))
            return false;
        run = i + 1;
    }
    return sb_put(r, b, s + run, n - run) && sb_cstr(r, b, "\"");
}

static bool json_newline(R *r, sbuf *b, int indent, int level)
{
    if (indent < 0)
        return true;
    if (!sb_cstr(r, b, "\n"))
        return false;
    for (int i = 0; i < indent * level; i++)
        if (!sb_cstr(r, b, " "))
            return false;
    return true;
}

/* json.dumps(v, ensure_ascii=False, indent=indent (<0: none)), as transformers' tojson. */
static bool json_dump(R *r, sbuf *b, jj_value v, int indent, int level)
{
    char num[48];
    if (level > r->lim->max_depth)
        return fail(r, HEARTH_ERR_RANGE, "value nested more than %d deep", r->lim->max_depth);
    const char *sep = indent < 0 ? ", " : ",";
    switch (v.type) {
    case JJ_UNDEFINED: case JJ_NONE: return sb_cstr(r, b, "null");
    case JJ_BOOL: return sb_cstr(r, b, v.u.b ? "true" : "false");
    case JJ_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return sb_cstr(r, b, num);
    case JJ_FLOAT:
        if (isnan(v.u.f) || isinf(v.u.f))
            return sb_cstr(r, b, isnan(v.u.f) ? "NaN" : v.u.f < 0 ? "-Infinity" : "Infinity");
        fmt_float(v.u.f, num, sizeof num);
        return sb_cstr(r, b, num);
    case JJ_STR: return json_str(r, b, v.u.s->s, v.u.s->len);
    case JJ_LIST:
        if (!v.u.l->n)
            return sb_cstr(r, b, "[]");
        if (!sb_cstr(r, b, "["))
            return false;
        for (size_t i = 0; i < v.u.l->n; i++)
            if ((i && !sb_cstr(r, b, sep)) || !json_newline(r, b, indent, level + 1) ||
                !json_dump(r, b, v.u.l->v[i], indent, level + 1))
                return false;
        return json_newline(r, b, indent, level) && sb_cstr(r, b, "]");
    case JJ_DICT:
        if (!v.u.d->n)
            return sb_cstr(r, b, "{}");
        if (!sb_cstr(r, b, "{"))
            return false;
        for (size_t i = 0; i < v.u.d->n; i++)
            if ((i && !sb_cstr(r, b, sep)) || !json_newline(r, b, indent, level + 1) ||
                !json_str(r, b, v.u.d->k[i]->s, v.u.d->k[i]->len) || !sb_cstr(r, b, ": ") ||
                !json_dump(r, b, v.u.d->v[i], indent, level + 1))
                return false;
        return json_newline(r, b, indent, level) && sb_cstr(r, b, "}");
    default: return fail(r, HEARTH_ERR_FORMAT, "a %s cannot be converted to JSON", type_name(v));
    }
}

/* ---- Value semantics ---- */

static bool truthy(jj_value v)
{
    switch (v.type) {
    case JJ_BOOL: return v.u.b;
    case JJ_INT: return v.u.i != 0;
    case JJ_FLOAT: return v.u.f != 0;
    case JJ_STR: return v.u.s->len != 0;
    case JJ_LIST: return v.u.l->n != 0;
    case JJ_DICT: return v.u.d->n != 0;
    case JJ_FUNC: case JJ_MACRO: case JJ_LOOP: return true;
    default: return false;
    }
}

static bool is_int(jj_value v) { return v.type == JJ_INT || v.type == JJ_BOOL; }
static bool is_num(jj_value v) { return is_int(v) || v.type == JJ_FLOAT; }
static int64_t as_i(jj_value v) { return v.type == JJ_BOOL ? v.u.b : v.u.i; }
static double as_f(jj_value v) { return v.type == JJ_FLOAT ? v.u.f : (double)as_i(v); }

static bool equal(R *r, jj_value a, jj_value b, int level, bool *eq)
{
    *eq = false;
    if (level > r->lim->max_depth)
        return fail(r, HEARTH_ERR_RANGE, "value nested more than %d deep", r->lim->max_depth);
    if (!work(r, 1))
        return false;
    if (is_num(a) && is_num(b)) {
        *eq = is_int(a) && is_int(b) ? as_i(a) == as_i(b) : as_f(a) == as_f(b);
        return true;
    }
    if (a.type != b.type)
        return true;
    switch (a.type) {
    case JJ_STR:
        *eq = a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
        return work(r, (long)(a.u.s->len >> 6));
    case JJ_LIST:
        if (a.u.l->n != b.u.l->n)
            return true;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!equal(r, a.u.l->v[i], b.u.l->v[i], level + 1, eq) || !*eq)
                return r->st == HEARTH_OK;
        *eq = true;
        return true;
    case JJ_DICT:
        if (a.u.d->n != b.u.d->n)
            return true;
        for (size_t i = 0; i < a.u.d->n; i++) {
            long j = jj_dict_find(b.u.d, a.u.d->k[i]->s, a.u.d->k[i]->len);
            if (j < 0)
                return true;
            if (!equal(r, a.u.d->v[i], b.u.d->v[j], level + 1, eq) || !*eq)
                return r->st == HEARTH_OK;
        }
        *eq = true;
        return true;
    case JJ_FUNC: *eq = a.u.fn == b.u.fn; return true;
    case JJ_MACRO: *eq = a.u.macro == b.u.macro; return true;
    case JJ_LOOP: *eq = a.u.loop == b.u.loop; return true;
    default: *eq = true; return true; /* none == none, undefined == undefined */
    }
}

/* *cmp <0, 0, >0 as a is less, equal, greater than b. */
static bool compare(R *r, jj_value a, jj_value b, int *cmp)
{
    if (is_num(a) && is_num(b)) {
        if (is_int(a) && is_int(b))
            *cmp = (as_i(a) > as_i(b)) - (as_i(a) < as_i(b));
        else
            *cmp = (as_f(a) > as_f(b)) - (as_f(a) < as_f(b));
        return true;
    }
    if (a.type == JJ_STR && b.type == JJ_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        if (!work(r, (long)(n >> 6)))
            return false;
        int c = memcmp(a.u.s->s, b.u.s->s, n);
        *cmp = c ? c : (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
        return true;
    }
    return fail(r, HEARTH_ERR_FORMAT, "cannot compare a %s with a %s", type_name(a), type_name(b));
}

static bool contains(R *r, jj_value hay, jj_value needle, bool *res)
{
    *res = false;
    switch (hay.type) {
    case JJ_STR:
        if (needle.type != JJ_STR)
            return fail(r, HEARTH_ERR_FORMAT, "'in <string>' needs a string, not a %s",
                        type_name(needle));
        if (!work(r, (long)(hay.u.s->len >> 6)))
            return false;
        *res = needle.u.s->len == 0 ||
               memmem(hay.u.s->s, hay.u.s->len, needle.u.s->s, needle.u.s->len) != NULL;
        return true;
    case JJ_LIST:
        for (size_t i = 0; i < hay.u.l->n && !*res; i++)
            if (!equal(r, hay.u.l->v[i], needle, 0, res))
                return false;
        return true;
    case JJ_DICT:
        *res = needle.type == JJ_STR && jj_dict_find(hay.u.d, needle.u.s->s, needle.u.s->len) >= 0;
        return true;
    case JJ_UNDEFINED: return true;
    default: return fail(r, HEARTH_ERR_FORMAT, "'in' needs a container, not a %s", type_name(hay));
    }
}

/* The items a for loop or filter walks: a list's elements, a dict's keys, a string's
 * characters; nothing for undefined. */
static bool iterate(R *r, jj_value v, jj_list **out)
{
    if (v.type == JJ_LIST) {
        *out = v.u.l;
        return true;
    }
    jj_value l;
    if (!new_list(r, &l))
        return false;
    *out = l.u.l;
    if (v.type == JJ_DICT) {
        for (size_t i = 0; i < v.u.d->n; i++)
            if (!push(r, l.u.l, vstr(v.u.d->k[i])))
                return false;
    } else if (v.type == JJ_STR) {
        for (size_t i = 0; i < v.u.s->len;) {
            size_t j = i + 1;
            while (j < v.u.s->len && ((unsigned char)v.u.s->s[j] & 0xC0) == 0x80)
                j++;
            jj_value ch;
            if (!work(r, 1) || !new_str(r, v.u.s->s + i, j - i, &ch) || !push(r, l.u.l, ch))
                return false;
            i = j;
        }
    } else if (v.type != JJ_UNDEFINED) {
        return fail(r, HEARTH_ERR_FORMAT, "cannot iterate over a %s", type_name(v));
    }
    return true;
}

static bool get_attr(R *r, jj_value v, const char *name, size_t n, jj_value *out)
{
    *out = undef();
    if (v.type == JJ_DICT) {
        long i = jj_dict_find(v.u.d, name, n);
        if (i >= 0)
            *out = v.u.d->v[i];
    } else if (v.type == JJ_LOOP) {
        const jj_loop *l = v.u.loop;
        static const char *const f[] = { "index", "index0", "revindex", "revindex0", "first",
                                         "last", "length", "previtem", "nextitem" };
        int k = 0;
        while (k < 9 && !(strlen(f[k]) == n && memcmp(f[k], name, n) == 0))
            k++;
        int64_t i = l->index0, len = l->length;
        switch (k) {
        case 0: *out = jj_int(i + 1); break;
        case 1: *out = jj_int(i); break;
        case 2: *out = jj_int(len - i); break;
        case 3: *out = jj_int(len - i - 1); break;
        case 4: *out = jj_bool(i == 0); break;
        case 5: *out = jj_bool(i == len - 1); break;
        case 6: *out = jj_int(len); break;
        case 7: if (i > 0) *out = l->items->v[i - 1]; break;
        case 8: if (i + 1 < len) *out = l->items->v[i + 1]; break;
        }
    }
    (void)r;
    return true;
}

static bool get_item(R *r, jj_value v, jj_value k, jj_value *out)
{
    *out = undef();
    if (k.type == JJ_STR && (v.type == JJ_DICT || v.type == JJ_LOOP))
        return get_attr(r, v, k.u.s->s, k.u.s->len, out);
    if (!is_int(k) || (v.type != JJ_LIST && v.type != JJ_STR))
        return true;
    int64_t i = as_i(k);
    if (v.type == JJ_LIST) {
        int64_t n = (int64_t)v.u.l->n;
        if (i < 0)
            i += n;
        if (i >= 0 && i < n)
            *out = v.u.l->v[i];
        return true;
    }
    size_t *offs, n;
    if (!cp_offsets(r, v.u.s, &offs, &n))
        return false;
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || i >= (int64_t)n)
        return true;
    size_t a = cp_at(offs, (size_t)i), b = cp_at(offs, (size_t)i + 1);
    return new_str(r, v.u.s->s + a, b - a, out);
}

/* Python's slice rules: the first index and the count, for a sequence of len items. */
static bool slice_bounds(R *r, int64_t len, const jj_value *lo, const jj_value *hi,
                         int64_t step, int64_t *start, int64_t *count)
{
    if (step == 0)
        return fail(r, HEARTH_ERR_FORMAT, "slice step cannot be zero");
    int64_t b[2];
    const jj_value *in[2] = { lo, hi };
    for (int k = 0; k < 2; k++) {
        if (!in[k] || in[k]->type == JJ_NONE || in[k]->type == JJ_UNDEFINED) {
            b[k] = k == 0 ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
            continue;
        }
        if (!is_int(*in[k]))
            return fail(r, HEARTH_ERR_FORMAT, "slice indices must be integers");
        int64_t x = as_i(*in[k]);
        if (x < 0) {
            x = x < -len ? (step < 0 ? -1 : 0) : x + len;
        } else if (x >= len) {
            x = step < 0 ? len - 1 : len;
        }
        b[k] = x;
    }
    *start = b[0];
    if (step < 0)
        *count = b[1] < b[0] ? (b[0] - b[1] - 1) / -step + 1 : 0;
    else
        *count = b[0] < b[1] ? (b[1] - b[0] - 1) / step + 1 : 0;
    return true;
}

static bool slice(R *r, jj_value v, const jj_value *lo, const jj_value *hi, const jj_value *st,
                  jj_value *out)
{
    int64_t step = 1, start, count;
    if (st && st->type != JJ_NONE && st->type != JJ_UNDEFINED) {
        if (!is_int(*st))
            return fail(r, HEARTH_ERR_FORMAT, "slice indices must be integers");
        step = as_i(*st);
    }
    if (v.type == JJ_LIST) {
        if (!slice_bounds(r, (int64_t)v.u.l->n, lo, hi, step, &start, &count) ||
            !work(r, count) || !new_list(r, out))
            return false;
        for (int64_t i = 0; i < count; i++)
            if (!push(r, out->u.l, v.u.l->v[start + i * step]))
                return false;
        return true;
    }
    if (v.type == JJ_STR) {
        size_t *offs, n;
        sbuf b;
        if (!cp_offsets(r, v.u.s, &offs, &n) ||
            !slice_bounds(r, (int64_t)n, lo, hi, step, &start, &count) ||
            !sb_init(r, &b, step == 1 ? v.u.s->len : 32))
            return false;
        if (step == 1) {
            size_t a = cp_at(offs, (size_t)start), e = cp_at(offs, (size_t)(start + count));
            if (!sb_put(r, &b, v.u.s->s + a, e - a))
                return false;
        } else {
            for (int64_t i = 0; i < count; i++) {
                size_t k = (size_t)(start + i * step), a = cp_at(offs, k), e = cp_at(offs, k + 1);
                if (!sb_put(r, &b, v.u.s->s + a, e - a) || !work(r, 1))
                    return false;
            }
        }
        *out = vstr(b.s);
        return true;
    }
    if (v.type == JJ_UNDEFINED) {
        *out = undef();
        return true;
    }
    return fail(r, HEARTH_ERR_FORMAT, "cannot slice a %s", type_name(v));
}

/* ---- Arithmetic ---- */

static bool repeat(R *r, jj_value seq, int64_t times, jj_value *out)
{
    if (times < 0)
        times = 0;
    if (seq.type == JJ_STR) {
        size_t n = seq.u.s->len;
        if (n && (uint64_t)times > r->lim->max_output / n)
            return fail(r, HEARTH_ERR_RANGE, "string longer than %zu bytes", r->lim->max_output);
        sbuf b;
        if (!sb_init(r, &b, n * (size_t)times))
            return false;
        for (int64_t i = 0; i < times; i++)
            if (!sb_put(r, &b, seq.u.s->s, n))
                return false;
        *out = vstr(b.s);
        return true;
    }
    if (seq.u.l->n && (uint64_t)times > (uint64_t)r->lim->max_iterations / seq.u.l->n)
        return fail(r, HEARTH_ERR_RANGE, "list of more than %ld items", r->lim->max_iterations);
    if (!work(r, times * (int64_t)seq.u.l->n) || !new_list(r, out))
        return false;
    for (int64_t i = 0; i < times; i++)
        for (size_t j = 0; j < seq.u.l->n; j++)
            if (!push(r, out->u.l, seq.u.l->v[j]))
                return false;
    return true;
}

static bool int_pow(R *r, int64_t base, int64_t ex, jj_value *out)
{
    int64_t acc = 1;
    while (ex > 0) {
        if ((ex & 1) && __builtin_mul_overflow(acc, base, &acc))
            return fail(r, HEARTH_ERR_RANGE, "integer overflow in **");
        ex >>= 1;
        if (ex && __builtin_mul_overflow(base, base, &base))
            return fail(r, HEARTH_ERR_RANGE, "integer overflow in **");
    }
    *out = jj_int(acc);
    return true;
}

static const char *op_name(int op)
{
    static const char *const n[] = { [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
                                      [OP_DIV] = "/", [OP_FLOORDIV] = "//", [OP_MOD] = "%",
                                      [OP_POW] = "**" };
    return n[op];
}

static bool arith(R *r, int op, jj_value a, jj_value b, jj_value *out)
{
    if (op == OP_ADD && a.type == b.type && (a.type == JJ_STR || a.type == JJ_LIST)) {
        if (a.type == JJ_STR) {
            sbuf sb;
            if (!sb_init(r, &sb, a.u.s->len + b.u.s->len) || !sb_put(r, &sb, a.u.s->s, a.u.s->len) ||
                !sb_put(r, &sb, b.u.s->s, b.u.s->len))
                return false;
            *out = vstr(sb.s);
            return true;
        }
        if (!work(r, (long)(a.u.l->n + b.u.l->n)) || !new_list(r, out))
            return false;
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < (k ? b : a).u.l->n; i++)
                if (!push(r, out->u.l, (k ? b : a).u.l->v[i]))
                    return false;
        return true;
    }
    if (op == OP_MUL && (a.type == JJ_STR || a.type == JJ_LIST) && is_int(b))
        return repeat(r, a, as_i(b), out);
    if (op == OP_MUL && (b.type == JJ_STR || b.type == JJ_LIST) && is_int(a))
        return repeat(r, b, as_i(a), out);
    if (!is_num(a) || !is_num(b))
        return fail(r, HEARTH_ERR_FORMAT, "unsupported operands for %s: %s and %s", op_name(op),
                    type_name(a), type_name(b));
    if (is_int(a) && is_int(b) && op != OP_DIV && !(op == OP_POW && as_i(b) < 0)) {
        int64_t x = as_i(a), y = as_i(b), z = 0;
        bool ovf = false;
        switch (op) {
        case OP_ADD: ovf = __builtin_add_overflow(x, y, &z); break;
        case OP_SUB: ovf = __builtin_sub_overflow(x, y, &z); break;
        case OP_MUL: ovf = __builtin_mul_overflow(x, y, &z); break;
        case OP_POW: return int_pow(r, x, y, out);
        default: /* floor division and modulo, with Python's signs */
            if (y == 0)
                return fail(r, HEARTH_ERR_FORMAT, "division by zero");
            if (x == INT64_MIN && y == -1)
                return fail(r, HEARTH_ERR_RANGE, "integer overflow in %s", op_name(op));
            z = x / y;
            if (x % y != 0 && ((x < 0) != (y < 0)))
                z--;
            if (op == OP_MOD)
                z = x - z * y;
        }
        if (ovf)
            return fail(r, HEARTH_ERR_RANGE, "integer overflow in %s", op_name(op));
        *out = jj_int(z);
        return true;
    }
    double x = as_f(a), y = as_f(b), z;
    if (y == 0 && (op == OP_DIV || op == OP_FLOORDIV || op == OP_MOD))
        return fail(r, HEARTH_ERR_FORMAT, "division by zero");
    switch (op) {
    case OP_ADD: z = x + y; break;
    case OP_SUB: z = x - y; break;
    case OP_MUL: z = x * y; break;
    case OP_DIV: z = x / y; break;
    case OP_FLOORDIV: z = floor(x / y); break;
    case OP_MOD:
        z = fmod(x, y);
        if (z != 0 && ((z < 0) != (y < 0)))
            z += y;
        break;
    default: z = pow(x, y);
    }
    *out = jj_float(z);
    return true;
}

static bool binop(R *r, int op, jj_value a, jj_value b, jj_value *out)
{
    bool res;
    int cmp;
    switch (op) {
    case OP_EQ: case OP_NE:
        if (!equal(r, a, b, 0, &res))
            return false;
        *out = jj_bool(res == (op == OP_EQ));
        return true;
    case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (!compare(r, a, b, &cmp))
            return false;
        *out = jj_bool(op == OP_LT ? cmp < 0 : op == OP_LE ? cmp <= 0 : op == OP_GT ? cmp > 0 : cmp >= 0);
        return true;
    case OP_IN: case OP_NOTIN:
        if (!contains(r, b, a, &res))
            return false;
        *out = jj_bool(res == (op == OP_IN));
        return true;
    case OP_CONCAT: {
        sbuf sb;
        if (!sb_init(r, &sb, 64) || !write_value(r, &sb, a, false, 0) || !write_value(r, &sb, b, false, 0))
            return false;
        *out = vstr(sb.s);
        return true;
    }
    default:
        if (a.type == JJ_UNDEFINED || b.type == JJ_UNDEFINED)
            return fail(r, HEARTH_ERR_FORMAT, "undefined value in %s", op_name(op));
        return arith(r, op, a, b, out);
    }
}

/* ---- Frames ---- */

static bool push_frame(R *r, bool barrier)
{
    frame *f = alloc(r, sizeof *f);
    if (!f)
        return false;
    f->parent = r->top;
    f->barrier = barrier;
    r->top = f;
    return true;
}

static bool set_var(R *r, const jj_str *name, jj_value v)
{
    return put(r, &r->top->vars, name->s, name->len, v);
}

static jj_value lookup(R *r, const jj_str *name)
{
    for (frame *f = r->top; f; f = f->parent) {
        long i = jj_dict_find(&f->vars, name->s, name->len);
        if (i >= 0)
            return f->vars.v[i];
        if (f->barrier) {
            i = jj_dict_find(&r->root->vars, name->s, name->len);
            if (i >= 0)
                return r->root->vars.v[i];
            break;
        }
    }
    long i = jj_dict_find(r->c->globals, name->s, name->len);
    if (i >= 0)
        return r->c->globals->v[i];
    for (int k = 0; k < 5; k++)
        if (strcmp(name->s, FN_NAMES[k]) == 0 && (k != FN_STRFTIME || r->c->strftime_fn))
            return (jj_value){ .type = JJ_FUNC, .u.fn = k };
    return undef();
}

/* ---- Calls ---- */

static bool eval(R *r, const jj_node *n, jj_value *out);
static bool exec_body(R *r, jj_node *const *list, int n);
static bool apply_filter(R *r, int id, jj_value v, const args *a, jj_value *out);
static bool apply_test(R *r, int id, jj_value v, const args *a, bool *res);

static bool eval_args(R *r, const jj_node *n, args *a)
{
    memset(a, 0, sizeof *a);
    a->np = n->n;
    a->nk = n->n2;
    a->kn = n->names;
    if ((n->n && !(a->pos = alloc(r, (size_t)n->n * sizeof *a->pos))) ||
        (n->n2 && !(a->kv = alloc(r, (size_t)n->n2 * sizeof *a->kv))))
        return false;
    for (int i = 0; i < n->n; i++)
        if (!eval(r, n->list[i], &a->pos[i]))
            return false;
    for (int i = 0; i < n->n2; i++)
        if (!eval(r, n->list2[i], &a->kv[i]))
            return false;
    return true;
}

/* Argument i by position, or by keyword `name` (NULL: positional only). */
static bool arg(const args *a, int i, const char *name, jj_value *out)
{
    if (i >= 0 && i < a->np) {
        *out = a->pos[i];
        return true;
    }
    for (int k = 0; name && k < a->nk; k++)
        if (strcmp(a->kn[k]->s, name) == 0) {
            *out = a->kv[k];
            return true;
        }
    return false;
}

static bool arg_str(R *r, const args *a, int i, const char *name, const char *what,
                    const jj_str **out)
{
    jj_value v;
    *out = NULL;
    if (!arg(a, i, name, &v) || v.type == JJ_NONE)
        return true;
    if (v.type != JJ_STR)
        return fail(r, HEARTH_ERR_FORMAT, "%s expects a string argument, not a %s", what,
                    type_name(v));
    *out = v.u.s;
    return true;
}

static bool arg_int(R *r, const args *a, int i, const char *name, const char *what, int64_t *out)
{
    jj_value v;
    if (!arg(a, i, name, &v) || v.type == JJ_NONE)
        return true;
    if (!is_int(v))
        return fail(r, HEARTH_ERR_FORMAT, "%s expects an integer argument, not a %s", what,
                    type_name(v));
    *out = as_i(v);
    return true;
}

static bool call_builtin(R *r, int fn, const args *a, jj_value *out)
{
    *out = jj_none();
    if (fn == FN_RANGE) {
        int64_t lo = 0, hi = 0, st = 1;
        if (a->np < 1 || a->np > 3)
            return fail(r, HEARTH_ERR_FORMAT, "range() takes 1 to 3 arguments");
        for (int i = 0; i < a->np; i++)
            if (!is_int(a->pos[i]))
                return fail(r, HEARTH_ERR_FORMAT, "range() needs integers");
        if (a->np == 1)
            hi = as_i(a->pos[0]);
        else {
            lo = as_i(a->pos[0]);
            hi = as_i(a->pos[1]);
            if (a->np == 3)
                st = as_i(a->pos[2]);
        }
        if (st == 0)
            return fail(r, HEARTH_ERR_FORMAT, "range() step cannot be zero");
        double count = st > 0 ? ceil(((double)hi - (double)lo) / (double)st)
                              : ceil(((double)lo - (double)hi) / (double)-st);
        if (count > (double)r->lim->max_iterations)
            return fail(r, HEARTH_ERR_RANGE, "range() of %.0f items is over the limit of %ld",
                        count, r->lim->max_iterations);
        if (!new_list(r, out))
            return false;
        for (int64_t i = 0; i < (int64_t)count; i++)
            if (!work(r, 1) || !push(r, out->u.l, jj_int(lo + i * st)))
                return false;
        return true;
    }
    if (fn == FN_NAMESPACE || fn == FN_DICT) {
        if (!new_dict(r, out))
            return false;
        out->u.d->ns = fn == FN_NAMESPACE;
        for (int i = 0; i < a->np; i++) {
            if (a->pos[i].type != JJ_DICT)
                return fail(r, HEARTH_ERR_FORMAT, "%s() takes keyword arguments or a dict",
                            FN_NAMES[fn]);
            const jj_dict *d = a->pos[i].u.d;
            for (size_t k = 0; k < d->n; k++)
                if (!put(r, out->u.d, d->k[k]->s, d->k[k]->len, d->v[k]))
                    return false;
        }
        for (int k = 0; k < a->nk; k++)
            if (!put(r, out->u.d, a->kn[k]->s, a->kn[k]->len, a->kv[k]))
                return false;
        return true;
    }
    if (fn == FN_RAISE) {
        jj_value msg = undef();
        arg(a, 0, NULL, &msg);
        if (!to_string(r, msg, &msg))
            return false;
        return fail(r, HEARTH_ERR_INVALID, "raise_exception: %s", msg.u.s->s);
    }
    const jj_str *fmt;
    if (!arg_str(r, a, 0, NULL, "strftime_now()", &fmt))
        return false;
    char buf[256];
    size_t n = r->c->strftime_fn(buf, sizeof buf, fmt ? fmt->s : "", r->c->strftime_user);
    return new_str(r, buf, n < sizeof buf ? n : sizeof buf - 1, out);
}

static bool call_macro(R *r, const jj_node *m, const args *a, jj_value *out)
{
    if (a->np > m->n_names)
        return fail(r, HEARTH_ERR_FORMAT, "macro '%s' takes %d arguments, got %d", m->s->s,
                    m->n_names, a->np);
    for (int k = 0; k < a->nk; k++) {
        int i = 0;
        while (i < m->n_names && strcmp(m->names[i]->s, a->kn[k]->s) != 0)
            i++;
        if (i == m->n_names)
            return fail(r, HEARTH_ERR_FORMAT, "macro '%s' has no parameter '%s'", m->s->s,
                        a->kn[k]->s);
    }
    frame *saved_top = r->top;
    sbuf *saved_out = r->out;
    sbuf b;
    if (!push_frame(r, true) || !sb_init(r, &b, 64))
        return false;
    for (int i = 0; i < m->n_names; i++) {
        jj_value v = undef();
        if (!arg(a, i, m->names[i]->s, &v) && m->list2[i] && !eval(r, m->list2[i], &v))
            return false;
        if (!set_var(r, m->names[i], v))
            return false;
    }
    r->out = &b;
    bool ok = exec_body(r, m->list, m->n);
    r->out = saved_out;
    r->top = saved_top;
    r->ctl = CTL_NONE;
    *out = vstr(b.s);
    return ok;
}

static bool call_value(R *r, jj_value fn, const char *what, const args *a, jj_value *out)
{
    if (fn.type == JJ_FUNC)
        return call_builtin(r, fn.u.fn, a, out);
    if (fn.type == JJ_MACRO)
        return call_macro(r, fn.u.macro, a, out);
    if (fn.type == JJ_UNDEFINED)
        return fail(r, HEARTH_ERR_FORMAT, "'%s' is undefined", what);
    return fail(r, HEARTH_ERR_FORMAT, "'%s' is a %s, not a function", what, type_name(fn));
}

/* ---- String operations shared by filters and methods ---- */

/* Strip chars (NULL: whitespace) from the left and/or right. The chars are taken as bytes. */
static bool strip(R *r, const jj_str *s, const jj_str *chars, bool left, bool right, jj_value *out)
{
    size_t a = 0, b = s->len;
    if (!work(r, (long)(s->len >> 6)))
        return false;
#define STRIPPED(c) (chars ? memchr(chars->s, (c), chars->len) != NULL : is_ws(c))
    while (left && a < b && STRIPPED(s->s[a]))
        a++;
    while (right && b > a && STRIPPED(s->s[b - 1]))
        b--;
#undef STRIPPED
    return new_str(r, s->s + a, b - a, out);
}

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE };

static bool change_case(R *r, const jj_str *s, int how, jj_value *out)
{
    if (!new_str(r, s->s, s->len, out))
        return false;
    char *p = out->u.s->s;
    bool prev_letter = false;
    for (size_t i = 0; i < s->len; i++) {
        char c = p[i];
        switch (how) {
        case CASE_UPPER: p[i] = up(c); break;
        case CASE_LOWER: p[i] = low(c); break;
        case CASE_TITLE: p[i] = prev_letter ? low(c) : up(c); break;
        default: p[i] = i == 0 ? up(c) : low(c);
        }
        prev_letter = alpha(c) || (unsigned char)c >= 0x80;
    }
    return work(r, (long)(s->len >> 6));
}

static bool replace(R *r, const jj_str *s, const jj_str *old, const jj_str *rep, int64_t count,
                    jj_value *out)
{
    sbuf b;
    if (!sb_init(r, &b, s->len))
        return false;
    size_t i = 0;
    int64_t done = 0;
    if (old->len == 0) { /* Python inserts rep before every character and at the end */
        for (;;) {
            if ((count < 0 || done < count) && !sb_put(r, &b, rep->s, rep->len))
                return false;
            done++;
            if (i >= s->len)
                break;
            size_t j = i + 1;
            while (j < s->len && ((unsigned char)s->s[j] & 0xC0) == 0x80)
                j++;
            if (!sb_put(r, &b, s->s + i, j - i))
                return false;
            i = j;
        }
    } else {
        while (i < s->len) {
            const char *hit = count >= 0 && done >= count
                                  ? NULL
                                  : memmem(s->s + i, s->len - i, old->s, old->len);
            if (!hit)
                break;
            size_t at = (size_t)(hit - s->s);
            if (!sb_put(r, &b, s->s + i, at - i) || !sb_put(r, &b, rep->s, rep->len))
                return false;
            i = at + old->len;
            done++;
        }
        if (!sb_put(r, &b, s->s + i, s->len - i))
            return false;
    }
    *out = vstr(b.s);
    return true;
}

static bool split(R *r, const jj_str *s, const jj_str *sep, int64_t maxsplit, jj_value *out)
{
    if (sep && sep->len == 0)
        return fail(r, HEARTH_ERR_FORMAT, "split(): empty separator");
    if (!new_list(r, out))
        return false;
    size_t i = 0;
    int64_t done = 0;
    jj_value piece;
    if (!sep) { /* runs of whitespace, no empty pieces */
        for (;;) {
            while (i < s->len && is_ws(s->s[i]))
                i++;
            if (i == s->len)
                return true;
            size_t j = i;
            if (maxsplit >= 0 && done >= maxsplit) {
                j = s->len;
                while (j > i && is_ws(s->s[j - 1]))
                    j--;
            } else {
                while (j < s->len && !is_ws(s->s[j]))
                    j++;
            }
            if (!work(r, 1) || !new_str(r, s->s + i, j - i, &piece) || !push(r, out->u.l, piece))
                return false;
            done++;
            i = j;
        }
    }
    for (;;) {
        const char *hit = maxsplit >= 0 && done >= maxsplit
                              ? NULL
                              : memmem(s->s + i, s->len - i, sep->s, sep->len);
        size_t end = hit ? (size_t)(hit - s->s) : s->len;
        if (!work(r, 1) || !new_str(r, s->s + i, end - i, &piece) || !push(r, out->u.l, piece))
            return false;
        if (!hit)
            return true;
        i = end + sep->len;
        done++;
    }
}

static bool affix(R *r, const jj_str *s, jj_value pre, bool end, bool *res)
{
    *res = false;
    if (pre.type == JJ_LIST) {
        for (size_t i = 0; i < pre.u.l->n && !*res; i++)
            if (!affix(r, s, pre.u.l->v[i], end, res))
                return false;
        return true;
    }
    if (pre.type != JJ_STR)
        return fail(r, HEARTH_ERR_FORMAT, "%s() expects a string", end ? "endswith" : "startswith");
    size_t n = pre.u.s->len;
    if (!work(r, (long)(n >> 6)))
        return false;
    *res = n <= s->len && memcmp(s->s + (end ? s->len - n : 0), pre.u.s->s, n) == 0;
    return true;
}

static bool join(R *r, jj_list *items, const jj_str *sep, const jj_str *attr, jj_value *out)
{
    sbuf b;
    if (!sb_init(r, &b, 64))
        return false;
    for (size_t i = 0; i < items->n; i++) {
        jj_value v = items->v[i];
        if (attr && !get_attr(r, v, attr->s, attr->len, &v))
            return false;
        if ((i && sep && !sb_put(r, &b, sep->s, sep->len)) || !write_value(r, &b, v, false, 0) ||
            !work(r, 1))
            return false;
    }
    *out = vstr(b.s);
    return true;
}

/* d.items() ('i': [key, value] pairs), d.keys() ('k') or d.values() ('v'). */
static bool dict_items(R *r, const jj_dict *d, char which, jj_value *out)
{
    if (!work(r, (long)d->n) || !new_list(r, out))
        return false;
    for (size_t i = 0; i < d->n; i++) {
        jj_value item = which == 'k' ? vstr(d->k[i]) : d->v[i];
        if (which == 'i' && (!new_list(r, &item) || !push(r, item.u.l, vstr(d->k[i])) ||
                             !push(r, item.u.l, d->v[i])))
            return false;
        if (!push(r, out->u.l, item))
            return false;
    }
    return true;
}

static bool method(R *r, jj_value obj, const jj_str *name, const args *a, jj_value *out,
                   bool *found)
{
    const char *m = name->s;
    *found = true;
    if (obj.type == JJ_STR) {
        const jj_str *s = obj.u.s, *x = NULL, *y = NULL;
        int64_t n = -1;
        jj_value v;
        bool res;
        if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip"))
            return arg_str(r, a, 0, NULL, m, &x) && strip(r, s, x, m[0] != 'r', m[0] != 'l', out);
        if (!strcmp(m, "upper") || !strcmp(m, "lower") || !strcmp(m, "title") ||
            !strcmp(m, "capitalize"))
            return change_case(r, s, m[0] == 'u' ? CASE_UPPER : m[0] == 'l' ? CASE_LOWER
                                     : m[0] == 't' ? CASE_TITLE : CASE_CAPITALIZE, out);
        if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
            if (!arg(a, 0, NULL, &v))
                return fail(r, HEARTH_ERR_FORMAT, "%s() needs an argument", m);
            if (!affix(r, s, v, m[0] == 'e', &res))
                return false;
            *out = jj_bool(res);
            return true;
        }
        if (!strcmp(m, "split"))
            return arg_str(r, a, 0, "sep", m, &x) && arg_int(r, a, 1, "maxsplit", m, &n) &&
                   split(r, s, x, n, out);
        if (!strcmp(m, "replace")) {
            if (!arg_str(r, a, 0, NULL, m, &x) || !arg_str(r, a, 1, NULL, m, &y) ||
                !arg_int(r, a, 2, "count", m, &n))
                return false;
            if (!x || !y)
                return fail(r, HEARTH_ERR_FORMAT, "replace() needs two strings");
            return replace(r, s, x, y, n, out);
        }
        if (!strcmp(m, "find")) {
            if (!arg_str(r, a, 0, NULL, m, &x))
                return false;
            if (!x)
                return fail(r, HEARTH_ERR_FORMAT, "find() needs a string");
            if (!work(r, (long)(s->len >> 6)))
                return false;
            const char *hit = memmem(s->s, s->len, x->s, x->len);
            *out = jj_int(hit ? (int64_t)cp_count(s->s, (size_t)(hit - s->s)) : -1);
            return true;
        }
        if (!strcmp(m, "join")) {
            jj_list *items;
            if (!arg(a, 0, NULL, &v))
                return fail(r, HEARTH_ERR_FORMAT, "join() needs an argument");
            return iterate(r, v, &items) && join(r, items, s, NULL, out);
        }
    } else if (obj.type == JJ_DICT) {
        const jj_dict *d = obj.u.d;
        if (!strcmp(m, "get")) {
            jj_value k;
            if (!arg(a, 0, NULL, &k))
                return fail(r, HEARTH_ERR_FORMAT, "get() needs a key");
            if (!arg(a, 1, "default", out))
                *out = jj_none();
            long i = k.type == JJ_STR ? jj_dict_find(d, k.u.s->s, k.u.s->len) : -1;
            if (i >= 0)
                *out = d->v[i];
            return true;
        }
        if (!strcmp(m, "items") || !strcmp(m, "keys") || !strcmp(m, "values"))
            return dict_items(r, d, m[0], out);
    } else if (obj.type == JJ_LOOP && !strcmp(m, "cycle")) {
        if (a->np == 0)
            return fail(r, HEARTH_ERR_FORMAT, "loop.cycle() needs arguments");
        *out = a->pos[obj.u.loop->index0 % a->np];
        return true;
    }
    *found = false;
    if (obj.type == JJ_STR || obj.type == JJ_LIST)
        return fail(r, HEARTH_ERR_UNSUPPORTED, "method '%s' of a %s is not supported", m,
                    type_name(obj));
    return true;
}

/* ---- Filters and tests ---- */

static bool need_str(R *r, jj_value *v, const char *what)
{
    if (v->type == JJ_UNDEFINED || v->type == JJ_STR || v->type == JJ_NONE || is_num(*v))
        return to_string(r, *v, v);
    return fail(r, HEARTH_ERR_FORMAT, "%s expects a string, not a %s", what, type_name(*v));
}

static bool length(R *r, jj_value v, int64_t *n)
{
    switch (v.type) {
    case JJ_STR: *n = (int64_t)cp_count(v.u.s->s, v.u.s->len); return work(r, (long)(v.u.s->len >> 6));
    case JJ_LIST: *n = (int64_t)v.u.l->n; return true;
    case JJ_DICT: *n = (int64_t)v.u.d->n; return true;
    case JJ_UNDEFINED: *n = 0; return true;
    default: return fail(r, HEARTH_ERR_FORMAT, "a %s has no length", type_name(v));
    }
}

static bool parse_number(const jj_str *s, bool want_int, jj_value *out)
{
    char *end;
    const char *p = s->s;
    while (is_ws(*p))
        p++;
    if (want_int) {
        long long i = strtoll(p, &end, 10);
        if (end != p) {
            while (is_ws(*end))
                end++;
            if (!*end) {
                *out = jj_int(i);
                return true;
            }
        }
    }
    double f = strtod(p, &end);
    if (end == p)
        return false;
    while (is_ws(*end))
        end++;
    if (*end)
        return false;
    *out = want_int ? jj_int(f > 9.2e18 ? INT64_MAX : f < -9.2e18 ? INT64_MIN : (int64_t)f)
                    : jj_float(f);
    return true;
}

/* select/reject(test, arg...) and selectattr/rejectattr(attr, test, arg...). */
static bool select_items(R *r, int id, jj_value v, const args *a, jj_value *out)
{
    bool attr = id == F_SELECTATTR || id == F_REJECTATTR;
    bool keep_if = id == F_SELECT || id == F_SELECTATTR;
    int first = attr ? 1 : 0;
    const jj_str *aname = NULL, *tname = NULL;
    if ((attr && !arg_str(r, a, 0, NULL, jj_filter_names[id], &aname)) ||
        !arg_str(r, a, first, NULL, jj_filter_names[id], &tname))
        return false;
    if (attr && !aname)
        return fail(r, HEARTH_ERR_FORMAT, "%s needs an attribute name", jj_filter_names[id]);
    int test = tname ? jj_test_id(tname->s, tname->len) : -1;
    if (tname && test < 0)
        return fail(r, HEARTH_ERR_UNSUPPORTED, "test '%s' is not supported", tname->s);
    args targs = { .pos = a->pos + (a->np > first + 1 ? first + 1 : a->np),
                   .np = a->np > first + 1 ? a->np - first - 1 : 0 };
    jj_list *items;
    if (!iterate(r, v, &items) || !new_list(r, out))
        return false;
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i];
        bool res;
        if (attr && !get_attr(r, x, aname->s, aname->len, &x))
            return false;
        if (test >= 0) {
            if (!apply_test(r, test, x, &targs, &res))
                return false;
        } else {
            res = truthy(x);
        }
        if (!work(r, 1) || (res == keep_if && !push(r, out->u.l, items->v[i])))
            return false;
    }
    return true;
}

static bool map_items(R *r, jj_value v, const args *a, jj_value *out)
{
    jj_list *items;
    jj_value name, fname;
    bool by_attr = arg(a, -1, "attribute", &name);
    if (by_attr && name.type != JJ_STR)
        return fail(r, HEARTH_ERR_FORMAT, "map(attribute=) needs a string");
    if (!by_attr && (!arg(a, 0, NULL, &fname) || fname.type != JJ_STR))
        return fail(r, HEARTH_ERR_FORMAT, "map() needs a filter name or attribute=");
    int fid = -1;
    for (int k = 0; !by_attr && k < F_COUNT_; k++)
        if (!strcmp(jj_filter_names[k], fname.u.s->s))
            fid = k;
    if (!by_attr && (fid < 0 || fid == F_MAP))
        return fail(r, HEARTH_ERR_UNSUPPORTED, "map(): filter '%s' is not supported", fname.u.s->s);
    args fargs = { .pos = a->pos + (a->np > 0), .np = a->np > 0 ? a->np - 1 : 0 };
    if (!iterate(r, v, &items) || !new_list(r, out))
        return false;
    for (size_t i = 0; i < items->n; i++) {
        jj_value x;
        bool ok = by_attr ? get_attr(r, items->v[i], name.u.s->s, name.u.s->len, &x)
                          : apply_filter(r, fid, items->v[i], &fargs, &x);
        if (by_attr && x.type == JJ_UNDEFINED)
            arg(a, -1, "default", &x);
        if (!ok || !work(r, 1) || !push(r, out->u.l, x))
            return false;
    }
    return true;
}

static bool indent(R *r, jj_value v, const args *a, jj_value *out)
{
    int64_t width = 4;
    jj_value first = jj_bool(false), blank = jj_bool(false);
    if (!need_str(r, &v, "indent") || !arg_int(r, a, 0, "width", "indent", &width))
        return false;
    arg(a, 1, "first", &first);
    arg(a, 2, "blank", &blank);
    if (width < 0 || width > 256)
        return fail(r, HEARTH_ERR_RANGE, "indent width %lld out of range", (long long)width);
    char pad[257];
    memset(pad, ' ', (size_t)width);
    const jj_str *s = v.u.s;
    sbuf b;
    if (!sb_init(r, &b, s->len + 64))
        return false;
    if (truthy(first) && !sb_put(r, &b, pad, (size_t)width))
        return false;
    size_t i = 0;
    for (bool line1 = true; i < s->len; line1 = false) {
        const char *nl = memchr(s->s + i, '\n', s->len - i);
        size_t end = nl ? (size_t)(nl - s->s) : s->len;
        if (!line1 && (end > i || truthy(blank)) && !sb_put(r, &b, pad, (size_t)width))
            return false;
        if (!sb_put(r, &b, s->s + i, end - i) || (nl && !sb_put(r, &b, "\n", 1)))
            return false;
        i = end + 1;
    }
    *out = vstr(b.s);
    return true;
}

static bool apply_filter(R *r, int id, jj_value v, const args *a, jj_value *out)
{
    const char *name = jj_filter_names[id];
    const jj_str *x = NULL, *y = NULL;
    int64_t n = -1;
    jj_list *items;
    switch (id) {
    case F_ABS:
        if (v.type == JJ_FLOAT) {
            *out = jj_float(fabs(v.u.f));
            return true;
        }
        if (!is_int(v) || as_i(v) == INT64_MIN)
            return fail(r, HEARTH_ERR_FORMAT, "abs of a %s", type_name(v));
        *out = jj_int(as_i(v) < 0 ? -as_i(v) : as_i(v));
        return true;
    case F_CAPITALIZE: case F_LOWER: case F_UPPER: case F_TITLE:
        return need_str(r, &v, name) &&
               change_case(r, v.u.s, id == F_UPPER ? CASE_UPPER : id == F_LOWER ? CASE_LOWER
                                     : id == F_TITLE ? CASE_TITLE : CASE_CAPITALIZE, out);
    case F_COUNT: case F_LENGTH:
        if (!length(r, v, &n))
            return false;
        *out = jj_int(n);
        return true;
    case F_DEFAULT: {
        jj_value dflt, boolean = jj_bool(false);
        if (!arg(a, 0, "default_value", &dflt) && !new_str(r, "", 0, &dflt))
            return false;
        arg(a, 1, "boolean", &boolean);
        *out = v.type == JJ_UNDEFINED || (truthy(boolean) && !truthy(v)) ? dflt : v;
        return true;
    }
    case F_FIRST: case F_LAST:
        if (v.type == JJ_STR || v.type == JJ_LIST)
            return get_item(r, v, jj_int(id == F_FIRST ? 0 : -1), out);
        if (!iterate(r, v, &items))
            return false;
        *out = items->n ? items->v[id == F_FIRST ? 0 : items->n - 1] : undef();
        return true;
    case F_FLOAT: case F_INT:
        if (!arg(a, 0, "default", out))
            *out = id == F_INT ? jj_int(0) : jj_float(0);
        if (v.type == JJ_FLOAT && id == F_INT) {
            if (v.u.f > -9.2e18 && v.u.f < 9.2e18)
                *out = jj_int((int64_t)v.u.f);
        } else if (is_num(v)) {
            *out = id == F_INT ? jj_int(as_i(v)) : jj_float(as_f(v));
        } else if (v.type == JJ_STR) {
            parse_number(v.u.s, id == F_INT, out);
        }
        return true;
    case F_INDENT: return indent(r, v, a, out);
    case F_ITEMS:
        if (v.type == JJ_UNDEFINED)
            return new_list(r, out);
        if (v.type != JJ_DICT)
            return fail(r, HEARTH_ERR_FORMAT, "items of a %s", type_name(v));
        return dict_items(r, v.u.d, 'i', out);
    case F_JOIN:
        return arg_str(r, a, 0, "d", name, &x) && arg_str(r, a, 1, "attribute", name, &y) &&
               iterate(r, v, &items) && join(r, items, x, y, out);
    case F_LIST:
        if (!iterate(r, v, &items) || !new_list(r, out))
            return false;
        for (size_t i = 0; i < items->n; i++)
            if (!push(r, out->u.l, items->v[i]))
                return false;
        return work(r, (long)items->n);
    case F_MAP: return map_items(r, v, a, out);
    case F_SELECT: case F_REJECT: case F_SELECTATTR: case F_REJECTATTR:
        return select_items(r, id, v, a, out);
    case F_REPLACE:
        if (!need_str(r, &v, name) || !arg_str(r, a, 0, "old", name, &x) ||
            !arg_str(r, a, 1, "new", name, &y) || !arg_int(r, a, 2, "count", name, &n))
            return false;
        if (!x || !y)
            return fail(r, HEARTH_ERR_FORMAT, "replace needs two strings");
        return replace(r, v.u.s, x, y, n, out);
    case F_REVERSE:
        if (v.type == JJ_STR)
            return slice(r, v, NULL, NULL, &(jj_value){ .type = JJ_INT, .u.i = -1 }, out);
        if (!iterate(r, v, &items) || !new_list(r, out) || !work(r, (long)items->n))
            return false;
        for (size_t i = items->n; i-- > 0;)
            if (!push(r, out->u.l, items->v[i]))
                return false;
        return true;
    case F_SAFE: case F_STRING: return to_string(r, v, out);
    case F_TOJSON: {
        int64_t ind = -1;
        sbuf b;
        if (!arg_int(r, a, 0, "indent", name, &ind))
            return false;
        if (ind > 64)
            return fail(r, HEARTH_ERR_RANGE, "tojson indent %lld out of range", (long long)ind);
        if (!sb_init(r, &b, 64) || !json_dump(r, &b, v, (int)ind, 0))
            return false;
        *out = vstr(b.s);
        return true;
    }
    case F_TRIM:
        return need_str(r, &v, name) && arg_str(r, a, 0, "chars", name, &x) &&
               strip(r, v.u.s, x, true, true, out);
    case F_UNIQUE:
        if (!iterate(r, v, &items) || !new_list(r, out))
            return false;
        for (size_t i = 0; i < items->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < out->u.l->n && !seen; j++)
                if (!equal(r, out->u.l->v[j], items->v[i], 0, &seen))
                    return false;
            if (!seen && !push(r, out->u.l, items->v[i]))
                return false;
        }
        return true;
    }
    return fail(r, HEARTH_ERR_UNSUPPORTED, "filter '%s' is not supported", name);
}

static bool apply_test(R *r, int id, jj_value v, const args *a, bool *res)
{
    jj_value x = undef();
    bool has = arg(a, 0, NULL, &x);
    int cmp;
    switch (id) {
    case T_DEFINED: *res = v.type != JJ_UNDEFINED; return true;
    case T_UNDEFINED: *res = v.type == JJ_UNDEFINED; return true;
    case T_NONE: *res = v.type == JJ_NONE; return true;
    case T_STRING: *res = v.type == JJ_STR; return true;
    case T_NUMBER: *res = is_num(v); return true;
    case T_INTEGER: *res = v.type == JJ_INT; return true;
    case T_FLOAT: *res = v.type == JJ_FLOAT; return true;
    case T_MAPPING: *res = v.type == JJ_DICT; return true;
    case T_ITERABLE: *res = v.type == JJ_STR || v.type == JJ_LIST || v.type == JJ_DICT; return true;
    case T_SEQUENCE: *res = v.type == JJ_STR || v.type == JJ_LIST || v.type == JJ_DICT; return true;
    case T_BOOLEAN: *res = v.type == JJ_BOOL; return true;
    case T_TRUE: *res = v.type == JJ_BOOL && v.u.b; return true;
    case T_FALSE: *res = v.type == JJ_BOOL && !v.u.b; return true;
    case T_CALLABLE: *res = v.type == JJ_FUNC || v.type == JJ_MACRO; return true;
    case T_ODD: case T_EVEN: case T_DIVISIBLEBY:
        if (!is_int(v) || (id == T_DIVISIBLEBY && (!is_int(x) || as_i(x) == 0)))
            return fail(r, HEARTH_ERR_FORMAT, "test '%s' needs integers", id == T_ODD ? "odd"
                        : id == T_EVEN ? "even" : "divisibleby");
        *res = id == T_ODD ? as_i(v) % 2 != 0 : id == T_EVEN ? as_i(v) % 2 == 0
                                                             : as_i(v) % as_i(x) == 0;
        return true;
    case T_LOWER: case T_UPPER:
        *res = v.type == JJ_STR;
        for (size_t i = 0; *res && i < v.u.s->len; i++)
            *res = id == T_LOWER ? !(v.u.s->s[i] >= 'A' && v.u.s->s[i] <= 'Z')
                                 : !(v.u.s->s[i] >= 'a' && v.u.s->s[i] <= 'z');
        return true;
    case T_IN: return has ? contains(r, x, v, res) : fail(r, HEARTH_ERR_FORMAT, "test 'in' needs an argument");
    case T_SAMEAS:
        *res = v.type == x.type && (v.type == JJ_NONE || v.type == JJ_UNDEFINED ||
                                    (v.type == JJ_BOOL && v.u.b == x.u.b) ||
                                    (v.type == JJ_INT && v.u.i == x.u.i) ||
                                    (v.type >= JJ_STR && v.u.s == x.u.s));
        return true;
    case T_EQUALTO: case T_NE:
        if (!equal(r, v, x, 0, res))
            return false;
        *res = *res == (id == T_EQUALTO);
        return true;
    default: /* T_LT .. T_GE */
        if (!compare(r, v, x, &cmp))
            return false;
        *res = id == T_LT ? cmp < 0 : id == T_LE ? cmp <= 0 : id == T_GT ? cmp > 0 : cmp >= 0;
        return true;
    }
}

/* ---- Evaluation ---- */

static bool enter(R *r, const jj_node *n)
{
    r->line = n->line;
    if (!work(r, 1))
        return false;
    if (++r->depth > r->lim->max_depth)
        return fail(r, HEARTH_ERR_RANGE, "nested more than %d deep", r->lim->max_depth);
    return true;
}

static bool eval_call(R *r, const jj_node *n, jj_value *out)
{
    jj_value fn;
    args a;
    const jj_node *callee = n->a;
    if (callee->kind == N_ATTR) {
        jj_value obj;
        bool found;
        if (!eval(r, callee->a, &obj) || !eval_args(r, n, &a) ||
            !method(r, obj, callee->s, &a, out, &found))
            return false;
        if (found)
            return true;
        if (!get_attr(r, obj, callee->s->s, callee->s->len, &fn))
            return false;
        return call_value(r, fn, callee->s->s, &a, out);
    }
    if (!eval(r, callee, &fn) || !eval_args(r, n, &a))
        return false;
    return call_value(r, fn, callee->kind == N_NAME ? callee->s->s : "expression", &a, out);
}

static bool eval_inner(R *r, const jj_node *n, jj_value *out)
{
    jj_value x, y, z;
    args a;
    bool res;
    switch (n->kind) {
    case N_CONST: *out = n->v; return true;
    case N_NAME: *out = lookup(r, n->s); return true;
    case N_LIST:
        if (!new_list(r, out))
            return false;
        for (int i = 0; i < n->n; i++)
            if (!eval(r, n->list[i], &x) || !push(r, out->u.l, x))
                return false;
        return true;
    case N_DICT:
        if (!new_dict(r, out))
            return false;
        for (int i = 0; i < n->n; i++) {
            if (!eval(r, n->list[i], &x) || !eval(r, n->list2[i], &y))
                return false;
            if (x.type != JJ_STR)
                return fail(r, HEARTH_ERR_UNSUPPORTED, "dict keys must be strings, not %s",
                            type_name(x));
            if (!put(r, out->u.d, x.u.s->s, x.u.s->len, y))
                return false;
        }
        return true;
    case N_ATTR:
        return eval(r, n->a, &x) && get_attr(r, x, n->s->s, n->s->len, out);
    case N_INDEX:
        return eval(r, n->a, &x) && eval(r, n->b, &y) && get_item(r, x, y, out);
    case N_SLICE:
        y = z = undef();
        jj_value w = undef();
        if (!eval(r, n->a, &x) || (n->b && !eval(r, n->b, &y)) || (n->c && !eval(r, n->c, &z)) ||
            (n->d && !eval(r, n->d, &w)))
            return false;
        return slice(r, x, &y, &z, &w, out);
    case N_CALL: return eval_call(r, n, out);
    case N_FILTER:
        return eval(r, n->a, &x) && eval_args(r, n, &a) && apply_filter(r, n->op, x, &a, out);
    case N_TEST:
        if (!eval(r, n->a, &x) || !eval_args(r, n, &a) || !apply_test(r, n->op, x, &a, &res))
            return false;
        *out = jj_bool(res != n->neg);
        return true;
    case N_UNARY:
        if (!eval(r, n->a, &x))
            return false;
        if (n->op == OP_NOT) {
            *out = jj_bool(!truthy(x));
        } else if (x.type == JJ_FLOAT) {
            *out = jj_float(n->op == OP_NEG ? -x.u.f : x.u.f);
        } else if (is_int(x) && !(n->op == OP_NEG && as_i(x) == INT64_MIN)) {
            *out = jj_int(n->op == OP_NEG ? -as_i(x) : as_i(x));
        } else {
            return fail(r, HEARTH_ERR_FORMAT, "bad operand for unary %c: %s",
                        n->op == OP_NEG ? '-' : '+', type_name(x));
        }
        return true;
    case N_BINARY:
        if (!eval(r, n->a, &x))
            return false;
        if (n->op == OP_AND || n->op == OP_OR) {
            if (truthy(x) == (n->op == OP_OR)) {
                *out = x;
                return true;
            }
            return eval(r, n->b, out);
        }
        return eval(r, n->b, &y) && binop(r, n->op, x, y, out);
    case N_COND:
        if (!eval(r, n->b, &x))
            return false;
        if (truthy(x))
            return eval(r, n->a, out);
        *out = undef();
        return !n->c || eval(r, n->c, out);
    }
    return fail(r, HEARTH_ERR_FORMAT, "statement used as an expression");
}

static bool eval(R *r, const jj_node *n, jj_value *out)
{
    *out = undef();
    if (!enter(r, n))
        return false;
    bool ok = eval_inner(r, n, out);
    r->depth--;
    return ok;
}

/* ---- Statements ---- */

static bool bind(R *r, const jj_node *n, jj_value v)
{
    if (n->n_names == 1)
        return set_var(r, n->names[0], v);
    if (v.type != JJ_LIST || v.u.l->n != (size_t)n->n_names)
        return fail(r, HEARTH_ERR_FORMAT, "cannot unpack a %s into %d names", type_name(v),
                    n->n_names);
    for (int i = 0; i < n->n_names; i++)
        if (!set_var(r, n->names[i], v.u.l->v[i]))
            return false;
    return true;
}

static bool exec_for(R *r, const jj_node *n)
{
    jj_value seq;
    jj_list *items;
    frame *saved = r->top;
    if (!eval(r, n->a, &seq) || !iterate(r, seq, &items) || !push_frame(r, false))
        return false;
    if (n->b) { /* the loop runs over the items that pass the condition */
        jj_value kept, c;
        if (!new_list(r, &kept))
            return false;
        for (size_t i = 0; i < items->n; i++)
            if (!work(r, 1) || !bind(r, n, items->v[i]) || !eval(r, n->b, &c) ||
                (truthy(c) && !push(r, kept.u.l, items->v[i])))
                return false;
        items = kept.u.l;
    }
    jj_loop *lp = alloc(r, sizeof *lp);
    if (!lp)
        return false;
    lp->length = (int64_t)items->n;
    lp->items = items;
    jj_value loopv = { .type = JJ_LOOP, .u.loop = lp };
    if (!put(r, &r->top->vars, "loop", 4, loopv))
        return false;
    for (size_t i = 0; i < items->n; i++) {
        if (++r->iters > r->lim->max_iterations)
            return fail(r, HEARTH_ERR_RANGE, "more than %ld loop iterations",
                        r->lim->max_iterations);
        lp->index0 = (int64_t)i;
        if (!bind(r, n, items->v[i]) || !exec_body(r, n->list, n->n))
            return false;
        int ctl = r->ctl;
        r->ctl = CTL_NONE;
        if (ctl == CTL_BREAK)
            break;
    }
    r->top = saved;
    return items->n || exec_body(r, n->list2, n->n2);
}

static bool capture(R *r, jj_node *const *list, int n, jj_value *out)
{
    sbuf b, *saved = r->out;
    if (!sb_init(r, &b, 64))
        return false;
    r->out = &b;
    bool ok = exec_body(r, list, n);
    r->out = saved;
    *out = vstr(b.s);
    return ok;
}

static bool exec_set(R *r, const jj_node *n)
{
    jj_value v;
    if (n->s) {
        jj_value obj = lookup(r, n->names[0]);
        if (obj.type != JJ_DICT || !obj.u.d->ns)
            return fail(r, HEARTH_ERR_FORMAT, "cannot set '%s.%s': '%s' is not a namespace",
                        n->names[0]->s, n->s->s, n->names[0]->s);
        return eval(r, n->a, &v) && put(r, obj.u.d, n->s->s, n->s->len, v);
    }
    if (!n->a)
        return capture(r, n->list, n->n, &v) && set_var(r, n->names[0], v);
    return eval(r, n->a, &v) && bind(r, n, v);
}

static bool exec(R *r, const jj_node *n)
{
    if (!enter(r, n))
        return false;
    jj_value v;
    bool ok = true;
    switch (n->kind) {
    case S_TEXT: ok = sb_put(r, r->out, n->s->s, n->s->len); break;
    case S_OUTPUT: ok = eval(r, n->a, &v) && write_value(r, r->out, v, false, 0); break;
    case S_IF:
        ok = eval(r, n->a, &v) &&
             (truthy(v) ? exec_body(r, n->list, n->n) : exec_body(r, n->list2, n->n2));
        break;
    case S_FOR: ok = exec_for(r, n); break;
    case S_SET: ok = exec_set(r, n); break;
    case S_MACRO: ok = set_var(r, n->s, (jj_value){ .type = JJ_MACRO, .u.macro = n }); break;
    case S_BREAK: r->ctl = CTL_BREAK; break;
    case S_CONTINUE: r->ctl = CTL_CONTINUE; break;
    case S_BLOCK: ok = exec_body(r, n->list, n->n); break;
    default: ok = fail(r, HEARTH_ERR_FORMAT, "expression used as a statement");
    }
    r->depth--;
    return ok;
}

static bool exec_body(R *r, jj_node *const *list, int n)
{
    for (int i = 0; i < n && r->ctl == CTL_NONE; i++)
        if (!exec(r, list[i]))
            return false;
    return true;
}

hearth_status jj_render(const jj_template *t, jj_ctx *c, char **out, size_t *out_len,
                        hearth_error *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (c->oom)
        return err_set(err, HEARTH_ERR_NOMEM, "chat template: out of memory building its input");
    if (c->used)
        return err_set(err, HEARTH_ERR_INVALID, "chat template: a context renders only once");
    c->used = true;
    R r = { .c = c, .a = &c->arena, .lim = &c->lim, .err = err, .st = HEARTH_OK, .line = 1 };
    sbuf main;
    if (!push_frame(&r, false) || !sb_init(&r, &main, 4096))
        return r.st;
    r.root = r.top;
    r.out = &main;
    if (!exec_body(&r, t->body, t->n))
        return r.st;
    *out = mem_strndup(main.s->s, main.s->len);
    if (!*out)
        return err_set(err, HEARTH_ERR_NOMEM, "chat template: out of memory");
    if (out_len)
        *out_len = main.s->len;
    return HEARTH_OK;
}
