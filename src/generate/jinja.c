/*
 * jinja.c — arena, values, lexer and parser of the chat-template interpreter (jinja.h).
 * The evaluator, filters, tests and methods are in jinja_eval.c.
 *
 * The subset
 *   tags        {{ expr }}  {% stmt %}  {# comment #}, with - (strip whitespace) and + (keep)
 *   statements  if/elif/else/endif; for a[, b] in expr [if cond] ... [else] endfor (loop.index,
 *               index0, revindex, revindex0, first, last, length, previtem, nextitem, cycle());
 *               break, continue; set x = e | set a, b = e | set ns.attr = e | set x ... endset;
 *               macro name(params, p=default) ... endmacro; generation ... endgeneration
 *   expressions literals (strings with Python escapes, ints, floats, true/false/none, lists,
 *               tuples, dicts); names; x.attr, x[i], x[a:b:c]; calls with keyword arguments;
 *               + - * / // % ** ~; == != < <= > >=; in, not in; and, or, not; is [not] test;
 *               a if c else b; | filter(args)
 *   filters     abs capitalize count default/d first float indent int items join last length
 *               list lower map reject rejectattr replace reverse safe select selectattr string
 *               title tojson trim unique upper
 *   tests       defined undefined none string number integer float mapping iterable sequence
 *               boolean true false odd even divisibleby eq/equalto/== ne/!= lt/< le/<= gt/> ge/>=
 *               sameas lower upper in callable
 *   methods     str: startswith endswith split strip lstrip rstrip upper lower title
 *               capitalize replace find join; dict: get items keys values
 *   globals     range namespace dict raise_exception, strftime_now when the host gives one
 * Not supported (an error, so the caller falls back): include, import, extends, block, call,
 * filter blocks, with, raw, recursive loops, and any filter, test or method not listed.
 *
 * The lexer turns the whole source into one token array, applying whitespace control as it
 * goes (so the parser never sees it); the parser is recursive descent with Jinja's operator
 * precedence and a depth bound, building jj_node trees in the template's arena.
 */
#include "generate/jinja_int.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define PARSE_MAX_DEPTH 256
#define ARENA_BLOCK 65536

/* ---- Arena ----------------------------------------------------------------------------- */

struct jj_arena_blk {
    jj_arena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *jj_arena_alloc(jj_arena *a, size_t n)
{
    if (n > ((size_t)1 << 40))
        return NULL;
    n = (n + 15) & ~(size_t)15;
    jj_arena_blk *h = a->head;
    if (h && h->cap - h->used >= n) {
        void *p = h->data + h->used;
        h->used += n;
        return p;
    }
    /* Big requests get a block of their own, kept behind the current one so its free space
     * is not lost. */
    size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
    if (a->limit && a->total + cap > a->limit) {
        a->over_limit = true;
        return NULL;
    }
    jj_arena_blk *b = mem_calloc(1, sizeof *b + cap);
    if (!b) {
        a->over_limit = false;
        return NULL;
    }
    a->total += cap;
    b->cap = cap;
    b->used = n;
    if (h && cap != ARENA_BLOCK) {
        b->next = h->next;
        h->next = b;
    } else {
        b->next = h;
        a->head = b;
    }
    return b->data;
}

void jj_arena_free(jj_arena *a)
{
    jj_arena_blk *b = a->head;
    while (b) {
        jj_arena_blk *next = b->next;
        mem_free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- Values ---------------------------------------------------------------------------- */

jj_str *jj_str_make(jj_arena *a, const char *s, size_t n)
{
    jj_str *r = jj_arena_alloc(a, sizeof *r + n + 1);
    if (!r)
        return NULL;
    r->len = n;
    if (n)
        memcpy(r->s, s, n);
    r->s[n] = '\0';
    return r;
}

bool jj_list_append(jj_arena *a, jj_list *l, jj_value v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jj_value *nv = jj_arena_alloc(a, cap * sizeof *nv);
        if (!nv)
            return false;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

long jj_dict_find(const jj_dict *d, const char *key, size_t klen)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i]->len == klen && memcmp(d->k[i]->s, key, klen) == 0)
            return (long)i;
    return -1;
}

bool jj_dict_put(jj_arena *a, jj_dict *d, const char *key, size_t klen, jj_value v)
{
    long at = jj_dict_find(d, key, klen);
    if (at >= 0) {
        d->v[at] = v;
        return true;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jj_str **nk = jj_arena_alloc(a, cap * sizeof *nk);
        jj_value *nv = jj_arena_alloc(a, cap * sizeof *nv);
        if (!nk || !nv)
            return false;
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    jj_str *k = jj_str_make(a, key, klen);
    if (!k)
        return false;
    d->k[d->n] = k;
    d->v[d->n++] = v;
    return true;
}

jj_limits jj_default_limits(void)
{
    return (jj_limits){ .max_steps = 1000000, .max_iterations = 1000000, .max_depth = 128,
                        .max_output = 4u << 20, .max_memory = 64u << 20 };
}

jj_ctx *jj_ctx_new(const jj_limits *lim)
{
    jj_ctx *c = mem_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lim = lim ? *lim : jj_default_limits();
    c->arena.limit = c->lim.max_memory;
    c->globals = jj_arena_alloc(&c->arena, sizeof *c->globals);
    if (!c->globals) {
        jj_arena_free(&c->arena);
        mem_free(c);
        return NULL;
    }
    return c;
}

void jj_ctx_free(jj_ctx *c)
{
    if (!c)
        return;
    jj_arena_free(&c->arena);
    mem_free(c);
}

void jj_ctx_set_strftime(jj_ctx *c, jj_strftime_fn fn, void *user)
{
    c->strftime_fn = fn;
    c->strftime_user = user;
}

jj_value jj_none(void) { return (jj_value){ .type = JJ_NONE }; }
jj_value jj_bool(bool b) { return (jj_value){ .type = JJ_BOOL, .u.b = b }; }
jj_value jj_int(int64_t i) { return (jj_value){ .type = JJ_INT, .u.i = i }; }
jj_value jj_float(double f) { return (jj_value){ .type = JJ_FLOAT, .u.f = f }; }

jj_value jj_strn(jj_ctx *c, const char *s, size_t n)
{
    jj_str *r = jj_str_make(&c->arena, s, n);
    if (!r) {
        c->oom = true;
        return jj_none();
    }
    return (jj_value){ .type = JJ_STR, .u.s = r };
}

jj_value jj_cstr(jj_ctx *c, const char *s)
{
    return jj_strn(c, s, strlen(s));
}

jj_value jj_list_new(jj_ctx *c)
{
    jj_list *l = jj_arena_alloc(&c->arena, sizeof *l);
    if (!l) {
        c->oom = true;
        return jj_none();
    }
    return (jj_value){ .type = JJ_LIST, .u.l = l };
}

void jj_list_push(jj_ctx *c, jj_value list, jj_value item)
{
    if (list.type != JJ_LIST || !jj_list_append(&c->arena, list.u.l, item))
        c->oom = true;
}

jj_value jj_dict_new(jj_ctx *c)
{
    jj_dict *d = jj_arena_alloc(&c->arena, sizeof *d);
    if (!d) {
        c->oom = true;
        return jj_none();
    }
    return (jj_value){ .type = JJ_DICT, .u.d = d };
}

void jj_dict_set(jj_ctx *c, jj_value dict, const char *key, jj_value v)
{
    if (dict.type != JJ_DICT || !jj_dict_put(&c->arena, dict.u.d, key, strlen(key), v))
        c->oom = true;
}

void jj_set_var(jj_ctx *c, const char *name, jj_value v)
{
    if (!jj_dict_put(&c->arena, c->globals, name, strlen(name), v))
        c->oom = true;
}

static jj_value from_cjson(jj_ctx *c, const cJSON *j)
{
    if (cJSON_IsNull(j))
        return jj_none();
    if (cJSON_IsBool(j))
        return jj_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* JSON has one number type; keep integers integers so they print as Python would. */
        if (d > -9.2e18 && d < 9.2e18 && d == (double)(int64_t)d)
            return jj_int((int64_t)d);
        return jj_float(d);
    }
    if (cJSON_IsString(j))
        return jj_cstr(c, j->valuestring);
    if (cJSON_IsArray(j)) {
        jj_value l = jj_list_new(c);
        for (const cJSON *e = j->child; e; e = e->next)
            jj_list_push(c, l, from_cjson(c, e));
        return l;
    }
    jj_value d = jj_dict_new(c);
    for (const cJSON *e = j->child; e; e = e->next)
        jj_dict_set(c, d, e->string ? e->string : "", from_cjson(c, e));
    return d;
}

hearth_status jj_from_json(jj_ctx *c, const char *json, jj_value *out, hearth_error *err)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        return err_set(err, HEARTH_ERR_FORMAT, "chat template input: not valid JSON: %.60s", json);
    *out = from_cjson(c, j);
    cJSON_Delete(j);
    return c->oom ? err_set(err, HEARTH_ERR_NOMEM, "chat template input: out of memory")
                  : HEARTH_OK;
}

/* ---- Lexer ----------------------------------------------------------------------------- */

enum tok_kind {
    K_TEXT, K_VAR_BEGIN, K_VAR_END, K_BLOCK_BEGIN, K_BLOCK_END, K_NAME, K_STRING, K_INT,
    K_FLOAT, K_OP, K_EOF
};

typedef struct token {
    int kind, line;
    const char *p; /* K_NAME, K_OP: the text in the source */
    size_t n;
    jj_str *s;     /* K_TEXT, K_STRING: the (unescaped) contents */
    int64_t i;
    double f;
} token;

typedef struct lexer {
    const char *src;
    size_t len, pos;
    int line;
    token *t;
    int n, cap;
    jj_arena *a;
    hearth_error *err;
    hearth_status st;
} lexer;

static bool lex_fail(lexer *L, hearth_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool lex_fail(lexer *L, hearth_status st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    L->st = err_set(L->err, st, "chat template line %d: %s", L->line, msg);
    return false;
}

static token *emit(lexer *L, int kind)
{
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 256;
        token *t = mem_realloc_array(L->t, (size_t)cap, sizeof *t);
        if (!t) {
            lex_fail(L, HEARTH_ERR_NOMEM, "out of memory");
            return NULL;
        }
        L->t = t;
        L->cap = cap;
    }
    token *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = L->line;
    return t;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void count_lines(lexer *L, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        L->line += L->src[i] == '\n';
}

/* Where the next {{, {% or {# starts at or after pos (len if none). */
static size_t find_tag(const char *s, size_t pos, size_t len)
{
    for (size_t i = pos; i + 1 < len; i++)
        if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#'))
            return i;
    return len;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode the body of a string literal with Python's escapes (what Jinja does). Unknown
 * escapes stay as written. The result is never longer than the source. */
static size_t unescape(const char *s, size_t n, char *o)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 == n) {
            o[k++] = s[i];
            continue;
        }
        char e = s[++i];
        const char *simple = e ? strchr("\\'\"nrtabfv\n", e) : NULL;
        if (simple) {
            static const char map[] = "\\'\"\n\r\t\a\b\f\v";
            if (e != '\n') /* a backslash-newline is a line continuation */
                o[k++] = map[simple - "\\'\"nrtabfv\n"];
            continue;
        }
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits && i + (size_t)digits < n) {
            uint32_t cp = 0;
            int d = 0;
            for (; d < digits && hexval(s[i + 1 + d]) >= 0; d++)
                cp = cp << 4 | (uint32_t)hexval(s[i + 1 + d]);
            if (d == digits && cp <= 0x10FFFF) { /* never longer than the escape */
                k += put_utf8(o + k, cp);
                i += (size_t)digits;
                continue;
            }
        }
        if (e >= '0' && e <= '7') {
            uint32_t cp = 0;
            int d = 0;
            for (; d < 3 && i + d < n && s[i + d] >= '0' && s[i + d] <= '7'; d++)
                cp = cp * 8 + (uint32_t)(s[i + d] - '0');
            k += put_utf8(o + k, cp);
            i += (size_t)d - 1;
            continue;
        }
        o[k++] = '\\';
        o[k++] = e;
    }
    return k;
}

static bool lex_string(lexer *L)
{
    char q = L->src[L->pos];
    size_t start = L->pos + 1, i = start;
    while (i < L->len && L->src[i] != q)
        i += L->src[i] == '\\' ? 2 : 1;
    if (i >= L->len)
        return lex_fail(L, HEARTH_ERR_FORMAT, "unterminated string literal");
    token *t = emit(L, K_STRING);
    if (!t)
        return false;
    char *tmp = jj_arena_alloc(L->a, i - start + 1);
    if (!tmp)
        return lex_fail(L, HEARTH_ERR_NOMEM, "out of memory");
    size_t n = unescape(L->src + start, i - start, tmp);
    t->s = jj_str_make(L->a, tmp, n);
    if (!t->s)
        return lex_fail(L, HEARTH_ERR_NOMEM, "out of memory");
    count_lines(L, start, i);
    L->pos = i + 1;
    return true;
}

static bool lex_number(lexer *L)
{
    const char *s = L->src;
    size_t i = L->pos;
    char buf[64];
    size_t k = 0;
    bool is_float = false;
#define ADD(ch) (k < sizeof buf - 1 ? (void)(buf[k++] = (ch)) : (void)(k = sizeof buf))
    for (; i < L->len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
        if (s[i] != '_')
            ADD(s[i]);
    if (i + 1 < L->len && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        is_float = true;
        ADD('.');
        for (i++; i < L->len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
            if (s[i] != '_')
                ADD(s[i]);
    }
    if (i < L->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < L->len && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < L->len && s[j] >= '0' && s[j] <= '9') {
            is_float = true;
            for (; i < j; i++)
                ADD(s[i]);
            for (; i < L->len && s[i] >= '0' && s[i] <= '9'; i++)
                ADD(s[i]);
        }
    }
#undef ADD
    if (k >= sizeof buf)
        return lex_fail(L, HEARTH_ERR_FORMAT, "number literal too long");
    buf[k] = '\0';
    token *t = emit(L, is_float ? K_FLOAT : K_INT);
    if (!t)
        return false;
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        int64_t v = 0;
        for (size_t d = 0; d < k; d++)
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, buf[d] - '0', &v))
                return lex_fail(L, HEARTH_ERR_FORMAT, "integer literal too large");
        t->i = v;
    }
    L->pos = i;
    return true;
}

/* Operators, longest first. */
static const char *const OPS[] = { "**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/",
                                   "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}",
                                   ",", ".", ":", "|" };

/* Tokens inside {{ }} or {% %} (end is '}' or '%'). Sets *strip_after for "-}}"/"-%}"
 * and *trim_nl for a block end that trim_blocks applies to. */
static bool lex_tag(lexer *L, char end, bool *strip_after, bool *trim_nl)
{
    int depth = 0, open_line = L->line;
    const char *s = L->src;
    for (;;) {
        while (L->pos < L->len && is_space(s[L->pos]))
            L->line += s[L->pos++] == '\n';
        if (L->pos >= L->len) {
            L->line = open_line;
            return lex_fail(L, HEARTH_ERR_FORMAT, "unterminated %s tag",
                            end == '}' ? "{{" : "{%");
        }
        size_t p = L->pos;
        char c = s[p];
        if (depth == 0) {
            bool mod = (c == '-' || c == '+') && p + 2 < L->len && s[p + 1] == end &&
                       s[p + 2] == '}';
            if (mod || (c == end && p + 1 < L->len && s[p + 1] == '}')) {
                if (!emit(L, end == '}' ? K_VAR_END : K_BLOCK_END))
                    return false;
                *strip_after = mod && c == '-';
                *trim_nl = end == '%' && !mod;
                L->pos = p + (mod ? 3 : 2);
                return true;
            }
        }
        if (c == '\'' || c == '"') {
            if (!lex_string(L))
                return false;
            continue;
        }
        if (c >= '0' && c <= '9') {
            if (!lex_number(L))
                return false;
            continue;
        }
        if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t q = p;
            while (q < L->len && (s[q] == '_' || (s[q] >= 'a' && s[q] <= 'z') ||
                                  (s[q] >= 'A' && s[q] <= 'Z') || (s[q] >= '0' && s[q] <= '9')))
                q++;
            token *t = emit(L, K_NAME);
            if (!t)
                return false;
            t->p = s + p;
            t->n = q - p;
            L->pos = q;
            continue;
        }
        size_t k = 0;
        for (; k < sizeof OPS / sizeof *OPS; k++) {
            size_t n = strlen(OPS[k]);
            if (p + n <= L->len && memcmp(s + p, OPS[k], n) == 0)
                break;
        }
        if (k == sizeof OPS / sizeof *OPS)
            return lex_fail(L, HEARTH_ERR_FORMAT, "unexpected character '%c'", c);
        token *t = emit(L, K_OP);
        if (!t)
            return false;
        t->p = OPS[k];
        t->n = strlen(OPS[k]);
        if (strchr("([{", c) && t->n == 1)
            depth++;
        else if (strchr(")]}", c) && t->n == 1 && depth > 0)
            depth--;
        L->pos = p + t->n;
    }
}

static bool lex(lexer *L)
{
    const char *s = L->src;
    bool strip_next = false;
    while (L->pos < L->len) {
        size_t start = L->pos, tag = find_tag(s, start, L->len);
        size_t tstart = start, tend = tag;
        if (strip_next)
            while (tstart < tend && is_space(s[tstart]))
                tstart++;
        strip_next = false;
        char kind = 0, mod = 0;
        if (tag < L->len) {
            kind = s[tag + 1];
            mod = tag + 2 < L->len ? s[tag + 2] : 0;
            if (mod == '-') {
                while (tend > tstart && is_space(s[tend - 1]))
                    tend--;
            } else if (kind != '{' && mod != '+') {
                /* lstrip_blocks: blanks from the start of a line up to a block tag go. */
                size_t k = tend;
                while (k > tstart && (s[k - 1] == ' ' || s[k - 1] == '\t'))
                    k--;
                if (k == 0 || s[k - 1] == '\n')
                    tend = k;
            }
        }
        if (tend > tstart) {
            token *t = emit(L, K_TEXT);
            if (!t)
                return false;
            t->line = L->line;
            if (!(t->s = jj_str_make(L->a, s + tstart, tend - tstart)))
                return lex_fail(L, HEARTH_ERR_NOMEM, "out of memory");
        }
        count_lines(L, start, tag);
        if (tag == L->len)
            break;
        size_t body = tag + 2 + (mod == '-' || mod == '+');
        bool trim_nl = false;
        if (kind == '#') {
            const char *e = NULL;
            for (size_t i = body; i + 1 < L->len && !e; i++)
                if (s[i] == '#' && s[i + 1] == '}')
                    e = s + i;
            if (!e)
                return lex_fail(L, HEARTH_ERR_FORMAT, "unterminated comment");
            size_t close = (size_t)(e - s);
            count_lines(L, tag, close);
            strip_next = close > body && s[close - 1] == '-';
            trim_nl = !strip_next && !(close > body && s[close - 1] == '+');
            L->pos = close + 2;
        } else {
            L->pos = body;
            if (!emit(L, kind == '{' ? K_VAR_BEGIN : K_BLOCK_BEGIN))
                return false;
            if (!lex_tag(L, kind == '{' ? '}' : '%', &strip_next, &trim_nl))
                return false;
        }
        if (trim_nl && L->pos < L->len && s[L->pos] == '\n') {
            L->pos++;
            L->line++;
        }
    }
    return emit(L, K_EOF) != NULL;
}

/* ---- Parser ---------------------------------------------------------------------------- */

typedef struct parser {
    token *t;
    int pos;
    jj_arena *a;
    hearth_error *err;
    hearth_status st;
    int depth, loops;
} parser;

static bool pfail(parser *P, hearth_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool pfail(parser *P, hearth_status st, const char *fmt, ...)
{
    if (P->st != HEARTH_OK)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    P->st = err_set(P->err, st, "chat template line %d: %s", P->t[P->pos].line, msg);
    return false;
}

static token *cur(parser *P) { return &P->t[P->pos]; }
static token *advance(parser *P)
{
    token *t = &P->t[P->pos];
    if (t->kind != K_EOF)
        P->pos++;
    return t;
}

static bool tok_is(const token *t, int kind, const char *text)
{
    return t->kind == kind && t->n == strlen(text) && memcmp(t->p, text, t->n) == 0;
}
static bool at_op(parser *P, const char *op) { return tok_is(cur(P), K_OP, op); }
static bool at_name(parser *P, const char *name) { return tok_is(cur(P), K_NAME, name); }

static const char *describe(const token *t, char *buf, size_t cap)
{
    switch (t->kind) {
    case K_NAME: case K_OP: snprintf(buf, cap, "'%.*s'", (int)t->n, t->p); break;
    case K_STRING: snprintf(buf, cap, "a string"); break;
    case K_INT: case K_FLOAT: snprintf(buf, cap, "a number"); break;
    case K_VAR_END: snprintf(buf, cap, "'}}'"); break;
    case K_BLOCK_END: snprintf(buf, cap, "'%%}'"); break;
    case K_EOF: snprintf(buf, cap, "the end of the template"); break;
    default: snprintf(buf, cap, "a tag");
    }
    return buf;
}

static bool expect_op(parser *P, const char *op)
{
    if (at_op(P, op)) {
        advance(P);
        return true;
    }
    char b[64];
    return pfail(P, HEARTH_ERR_FORMAT, "expected '%s', found %s", op, describe(cur(P), b, sizeof b));
}

static bool expect_kind(parser *P, int kind, const char *what)
{
    if (cur(P)->kind == kind) {
        advance(P);
        return true;
    }
    char b[64];
    return pfail(P, HEARTH_ERR_FORMAT, "expected %s, found %s", what, describe(cur(P), b, sizeof b));
}

static jj_node *mk(parser *P, int kind)
{
    jj_node *n = jj_arena_alloc(P->a, sizeof *n);
    if (!n) {
        pfail(P, HEARTH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->line = cur(P)->line;
    return n;
}

static jj_str *name_str(parser *P, const token *t)
{
    jj_str *s = jj_str_make(P->a, t->p, t->n);
    if (!s)
        pfail(P, HEARTH_ERR_NOMEM, "out of memory");
    return s;
}

/* A growable array of node pointers (or names) in the arena. */
typedef struct vec {
    void **v;
    int n, cap;
} vec;

static bool vpush(parser *P, vec *v, void *x)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        void **nv = jj_arena_alloc(P->a, (size_t)cap * sizeof *nv);
        if (!nv)
            return pfail(P, HEARTH_ERR_NOMEM, "out of memory");
        if (v->n)
            memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return true;
}

static bool enter(parser *P)
{
    if (++P->depth > PARSE_MAX_DEPTH)
        return pfail(P, HEARTH_ERR_RANGE, "nested more than %d deep", PARSE_MAX_DEPTH);
    return true;
}

static jj_node *parse_expr(parser *P);
static jj_node *parse_or(parser *P);
static jj_node *parse_unary(parser *P, bool with_filter);

/* Call arguments after '(': positional into args, keyword into knames/kvals. */
static bool parse_args(parser *P, jj_node *n)
{
    vec pos = { 0 }, kv = { 0 }, kn = { 0 };
    while (!at_op(P, ")")) {
        if (pos.n + kv.n > 0 && !expect_op(P, ","))
            return false;
        if (at_op(P, ")"))
            break;
        if (cur(P)->kind == K_NAME && tok_is(&P->t[P->pos + 1], K_OP, "=")) {
            jj_str *name = name_str(P, advance(P));
            advance(P);
            jj_node *v = parse_expr(P);
            if (!name || !v || !vpush(P, &kn, name) || !vpush(P, &kv, v))
                return false;
        } else if (at_op(P, "*") || at_op(P, "**")) {
            return pfail(P, HEARTH_ERR_UNSUPPORTED, "*args and **kwargs are not supported");
        } else {
            if (kv.n)
                return pfail(P, HEARTH_ERR_FORMAT, "positional argument after keyword argument");
            jj_node *v = parse_expr(P);
            if (!v || !vpush(P, &pos, v))
                return false;
        }
    }
    advance(P);
    n->list = (jj_node **)pos.v;
    n->n = pos.n;
    n->list2 = (jj_node **)kv.v;
    n->n2 = kv.n;
    n->names = (jj_str **)kn.v;
    n->n_names = kn.n;
    return true;
}

static int lookup_name(const char *const *names, int count, const char *p, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0)
            return i;
    return -1;
}

static jj_node *parse_filter(parser *P, jj_node *operand)
{
    token *t = cur(P);
    if (t->kind != K_NAME) {
        expect_kind(P, K_NAME, "a filter name");
        return NULL;
    }
    int id = lookup_name(jj_filter_names, F_COUNT_, t->p, t->n);
    if (id < 0 && tok_is(t, K_NAME, "d"))
        id = F_DEFAULT;
    if (id < 0) {
        pfail(P, HEARTH_ERR_UNSUPPORTED, "filter '%.*s' is not supported", (int)t->n, t->p);
        return NULL;
    }
    jj_node *n = mk(P, N_FILTER);
    if (!n)
        return NULL;
    advance(P);
    n->op = id;
    n->a = operand;
    if (at_op(P, "(")) {
        advance(P);
        if (!parse_args(P, n))
            return NULL;
    }
    return n;
}

static jj_node *parse_test(parser *P, jj_node *operand)
{
    jj_node *n = mk(P, N_TEST);
    if (!n)
        return NULL;
    n->a = operand;
    if (at_name(P, "not")) {
        advance(P);
        n->neg = true;
    }
    token *t = cur(P);
    if (t->kind != K_NAME) {
        expect_kind(P, K_NAME, "a test name");
        return NULL;
    }
    n->op = jj_test_id(t->p, t->n);
    if (n->op < 0) {
        pfail(P, HEARTH_ERR_UNSUPPORTED, "test '%.*s' is not supported", (int)t->n, t->p);
        return NULL;
    }
    advance(P);
    t = cur(P);
    if (at_op(P, "(")) {
        advance(P);
        if (!parse_args(P, n))
            return NULL;
    } else if ((t->kind == K_NAME || t->kind == K_STRING || t->kind == K_INT ||
                t->kind == K_FLOAT || at_op(P, "[") || at_op(P, "{")) &&
               !(t->kind == K_NAME && lookup_name((const char *const[]){ "else", "or", "and", "if",
                                                                          "in", "not", "is" },
                                                   7, t->p, t->n) >= 0)) {
        jj_node *arg = parse_unary(P, false);
        if (!arg)
            return NULL;
        n->list = jj_arena_alloc(P->a, sizeof *n->list);
        if (!n->list) {
            pfail(P, HEARTH_ERR_NOMEM, "out of memory");
            return NULL;
        }
        n->list[0] = arg;
        n->n = 1;
    }
    return n;
}

static jj_node *parse_primary(parser *P)
{
    token *t = cur(P);
    jj_node *n;
    if (t->kind == K_NAME) {
        static const char *const consts[] = { "true", "True", "false", "False", "none", "None" };
        int c = lookup_name(consts, 6, t->p, t->n);
        if (!(n = mk(P, c >= 0 ? N_CONST : N_NAME)))
            return NULL;
        advance(P);
        if (c >= 0)
            n->v = c < 4 ? jj_bool(c < 2) : jj_none();
        else if (!(n->s = name_str(P, t)))
            return NULL;
        return n;
    }
    if (t->kind == K_STRING) {
        if (!(n = mk(P, N_CONST)))
            return NULL;
        jj_str *s = advance(P)->s;
        while (cur(P)->kind == K_STRING) { /* adjacent literals concatenate */
            jj_str *b = advance(P)->s;
            jj_str *j = jj_arena_alloc(P->a, sizeof *j + s->len + b->len + 1);
            if (!j) {
                pfail(P, HEARTH_ERR_NOMEM, "out of memory");
                return NULL;
            }
            memcpy(j->s, s->s, s->len);
            memcpy(j->s + s->len, b->s, b->len + 1);
            j->len = s->len + b->len;
            s = j;
        }
        n->v = (jj_value){ .type = JJ_STR, .u.s = s };
        return n;
    }
    if (t->kind == K_INT || t->kind == K_FLOAT) {
        if (!(n = mk(P, N_CONST)))
            return NULL;
        advance(P);
        n->v = t->kind == K_INT ? jj_int(t->i) : jj_float(t->f);
        return n;
    }
    if (at_op(P, "(")) {
        advance(P);
        if (at_op(P, ")")) { /* the empty tuple */
            advance(P);
            return mk(P, N_LIST);
        }
        jj_node *e = parse_expr(P);
        if (!e)
            return NULL;
        if (at_op(P, ",")) {
            vec items = { 0 };
            if (!(n = mk(P, N_LIST)) || !vpush(P, &items, e))
                return NULL;
            while (at_op(P, ",")) {
                advance(P);
                if (at_op(P, ")"))
                    break;
                if (!(e = parse_expr(P)) || !vpush(P, &items, e))
                    return NULL;
            }
            n->list = (jj_node **)items.v;
            n->n = items.n;
            e = n;
        }
        return expect_op(P, ")") ? e : NULL;
    }
    if (at_op(P, "[") || at_op(P, "{")) {
        bool dict = at_op(P, "{");
        const char *close = dict ? "}" : "]";
        if (!(n = mk(P, dict ? N_DICT : N_LIST)))
            return NULL;
        advance(P);
        vec keys = { 0 }, vals = { 0 };
        while (!at_op(P, close)) {
            if (keys.n && !expect_op(P, ","))
                return NULL;
            if (at_op(P, close))
                break;
            jj_node *k = parse_expr(P);
            if (!k || !vpush(P, &keys, k))
                return NULL;
            if (dict) {
                jj_node *v;
                if (!expect_op(P, ":") || !(v = parse_expr(P)) || !vpush(P, &vals, v))
                    return NULL;
            }
        }
        advance(P);
        n->list = (jj_node **)keys.v;
        n->n = keys.n;
        n->list2 = (jj_node **)vals.v;
        n->n2 = vals.n;
        return n;
    }
    char b[64];
    pfail(P, HEARTH_ERR_FORMAT, "unexpected %s", describe(t, b, sizeof b));
    return NULL;
}

static jj_node *parse_postfix(parser *P, jj_node *e)
{
    while (e) {
        if (at_op(P, ".")) {
            advance(P);
            token *t = cur(P);
            jj_node *n = mk(P, t->kind == K_INT ? N_INDEX : N_ATTR);
            if (!n)
                return NULL;
            n->a = e;
            if (t->kind == K_INT) {
                jj_node *k = mk(P, N_CONST);
                if (!k)
                    return NULL;
                k->v = jj_int(t->i);
                n->b = k;
            } else if (t->kind != K_NAME) {
                expect_kind(P, K_NAME, "an attribute name");
                return NULL;
            } else if (!(n->s = name_str(P, t))) {
                return NULL;
            }
            advance(P);
            e = n;
        } else if (at_op(P, "[")) {
            advance(P);
            jj_node *n = mk(P, N_INDEX), *start = NULL;
            if (!n)
                return NULL;
            n->a = e;
            if (!at_op(P, ":") && !(start = parse_expr(P)))
                return NULL;
            if (at_op(P, ":")) {
                n->kind = N_SLICE;
                n->b = start;
                advance(P);
                if (!at_op(P, ":") && !at_op(P, "]") && !(n->c = parse_expr(P)))
                    return NULL;
                if (at_op(P, ":")) {
                    advance(P);
                    if (!at_op(P, "]") && !(n->d = parse_expr(P)))
                        return NULL;
                }
            } else {
                n->b = start;
            }
            if (!expect_op(P, "]"))
                return NULL;
            e = n;
        } else if (at_op(P, "(")) {
            jj_node *n = mk(P, N_CALL);
            if (!n)
                return NULL;
            advance(P);
            n->a = e;
            if (!parse_args(P, n))
                return NULL;
            e = n;
        } else {
            break;
        }
    }
    return e;
}

static jj_node *parse_filters(parser *P, jj_node *e)
{
    while (e) {
        if (at_op(P, "|")) {
            advance(P);
            e = parse_filter(P, e);
        } else if (at_name(P, "is")) {
            advance(P);
            e = parse_test(P, e);
        } else if (at_op(P, "(")) {
            jj_node *n = mk(P, N_CALL);
            if (!n)
                return NULL;
            advance(P);
            n->a = e;
            e = parse_args(P, n) ? n : NULL;
        } else {
            break;
        }
    }
    return e;
}

static jj_node *parse_unary(parser *P, bool with_filter)
{
    if (!enter(P))
        return NULL;
    jj_node *e;
    if (at_op(P, "-") || at_op(P, "+")) {
        e = mk(P, N_UNARY);
        if (!e)
            return NULL;
        e->op = at_op(P, "-") ? OP_NEG : OP_POS;
        advance(P);
        if (!(e->a = parse_unary(P, false)))
            return NULL;
    } else {
        e = parse_postfix(P, parse_primary(P));
    }
    if (with_filter)
        e = parse_filters(P, e);
    P->depth--;
    return e;
}

static jj_node *binary(parser *P, int op, jj_node *l, jj_node *r)
{
    if (!l || !r)
        return NULL;
    jj_node *n = mk(P, N_BINARY);
    if (n) {
        n->op = op;
        n->a = l;
        n->b = r;
    }
    return n;
}

/* One precedence level of left-associative operators. */
typedef jj_node *(*level_fn)(parser *P);
static jj_node *left_assoc(parser *P, level_fn next, const char *const *ops, const int *ids, int n_ops)
{
    jj_node *e = next(P);
    while (e) {
        int k = 0;
        while (k < n_ops && !at_op(P, ops[k]))
            k++;
        if (k == n_ops)
            break;
        advance(P);
        e = binary(P, ids[k], e, next(P));
    }
    return e;
}

static jj_node *parse_unary_f(parser *P) { return parse_unary(P, true); }
static jj_node *parse_pow(parser *P)
{
    return left_assoc(P, parse_unary_f, (const char *const[]){ "**" }, (const int[]){ OP_POW }, 1);
}
static jj_node *parse_mul(parser *P)
{
    return left_assoc(P, parse_pow, (const char *const[]){ "*", "/", "//", "%" },
                      (const int[]){ OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD }, 4);
}
static jj_node *parse_concat(parser *P)
{
    return left_assoc(P, parse_mul, (const char *const[]){ "~" }, (const int[]){ OP_CONCAT }, 1);
}
static jj_node *parse_add(parser *P)
{
    return left_assoc(P, parse_concat, (const char *const[]){ "+", "-" },
                      (const int[]){ OP_ADD, OP_SUB }, 2);
}

static jj_node *parse_compare(parser *P)
{
    static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
    static const int ids[] = { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
    jj_node *e = parse_add(P);
    while (e) {
        int op = -1;
        for (int k = 0; k < 6 && op < 0; k++)
            if (at_op(P, ops[k]))
                op = ids[k];
        if (op >= 0) {
            advance(P);
        } else if (at_name(P, "in")) {
            advance(P);
            op = OP_IN;
        } else if (at_name(P, "not") && tok_is(&P->t[P->pos + 1], K_NAME, "in")) {
            advance(P);
            advance(P);
            op = OP_NOTIN;
        } else {
            break;
        }
        e = binary(P, op, e, parse_add(P));
    }
    return e;
}

static jj_node *parse_not(parser *P)
{
    if (!at_name(P, "not"))
        return parse_compare(P);
    if (!enter(P))
        return NULL;
    jj_node *n = mk(P, N_UNARY);
    if (!n)
        return NULL;
    advance(P);
    n->op = OP_NOT;
    n->a = parse_not(P);
    P->depth--;
    return n->a ? n : NULL;
}

static jj_node *parse_logic(parser *P, const char *word, int op, level_fn next)
{
    jj_node *e = next(P);
    while (e && at_name(P, word)) {
        advance(P);
        e = binary(P, op, e, next(P));
    }
    return e;
}
static jj_node *parse_and_(parser *P) { return parse_logic(P, "and", OP_AND, parse_not); }
static jj_node *parse_or(parser *P) { return parse_logic(P, "or", OP_OR, parse_and_); }

static jj_node *parse_expr(parser *P)
{
    if (!enter(P))
        return NULL;
    jj_node *e = parse_or(P);
    while (e && at_name(P, "if")) {
        jj_node *n = mk(P, N_COND);
        if (!n)
            return NULL;
        advance(P);
        n->a = e;
        if (!(n->b = parse_or(P)))
            return NULL;
        if (at_name(P, "else")) {
            advance(P);
            if (!(n->c = parse_expr(P)))
                return NULL;
        }
        e = n;
    }
    P->depth--;
    return e;
}

/* ---- Statements ---- */

static bool parse_body(parser *P, vec *body, const char *const *ends, int n_ends, int *which);

static bool block_end(parser *P) { return expect_kind(P, K_BLOCK_END, "'%}'"); }

static bool body_into(parser *P, jj_node ***list, int *n, const char *const *ends, int n_ends,
                      int *which)
{
    vec v = { 0 };
    if (!parse_body(P, &v, ends, n_ends, which))
        return false;
    *list = (jj_node **)v.v;
    *n = v.n;
    return true;
}

static jj_node *parse_if(parser *P)
{
    static const char *const ends[] = { "elif", "else", "endif" };
    jj_node *n = mk(P, S_IF);
    int which;
    if (!n || !(n->a = parse_expr(P)) || !block_end(P) ||
        !body_into(P, &n->list, &n->n, ends, 3, &which))
        return NULL;
    if (which == 0) { /* elif: the rest is an if in the else branch */
        if (!enter(P))
            return NULL;
        jj_node *e = parse_if(P);
        P->depth--;
        if (!e || !(n->list2 = jj_arena_alloc(P->a, sizeof *n->list2))) {
            pfail(P, HEARTH_ERR_NOMEM, "out of memory");
            return NULL;
        }
        n->list2[0] = e;
        n->n2 = 1;
        return n;
    }
    if (which == 1 && (!block_end(P) || !body_into(P, &n->list2, &n->n2, ends + 2, 1, &which)))
        return NULL;
    return block_end(P) ? n : NULL;
}

static bool parse_targets(parser *P, jj_node *n)
{
    vec names = { 0 };
    bool paren = at_op(P, "(");
    if (paren)
        advance(P);
    do {
        if (names.n)
            advance(P);
        token *t = cur(P);
        if (t->kind != K_NAME)
            return expect_kind(P, K_NAME, "a variable name");
        jj_str *s = name_str(P, advance(P));
        if (!s || !vpush(P, &names, s))
            return false;
    } while (at_op(P, ","));
    if (paren && !expect_op(P, ")"))
        return false;
    n->names = (jj_str **)names.v;
    n->n_names = names.n;
    return true;
}

static jj_node *parse_for(parser *P)
{
    static const char *const ends[] = { "else", "endfor" };
    jj_node *n = mk(P, S_FOR);
    if (!n || !parse_targets(P, n))
        return NULL;
    if (!at_name(P, "in")) {
        expect_kind(P, -1, "'in'");
        return NULL;
    }
    advance(P);
    if (!(n->a = parse_or(P)))
        return NULL;
    if (at_name(P, "if")) {
        advance(P);
        if (!(n->b = parse_or(P)))
            return NULL;
    }
    if (at_name(P, "recursive")) {
        pfail(P, HEARTH_ERR_UNSUPPORTED, "recursive loops are not supported");
        return NULL;
    }
    int which;
    P->loops++;
    bool ok = block_end(P) && body_into(P, &n->list, &n->n, ends, 2, &which);
    P->loops--;
    if (!ok)
        return NULL;
    if (which == 0 && (!block_end(P) || !body_into(P, &n->list2, &n->n2, ends + 1, 1, &which)))
        return NULL;
    return block_end(P) ? n : NULL;
}

static jj_node *parse_set(parser *P)
{
    jj_node *n = mk(P, S_SET);
    if (!n || !parse_targets(P, n))
        return NULL;
    if (n->n_names == 1 && at_op(P, ".")) {
        advance(P);
        if (cur(P)->kind != K_NAME) {
            expect_kind(P, K_NAME, "an attribute name");
            return NULL;
        }
        if (!(n->s = name_str(P, advance(P))))
            return NULL;
    }
    if (!at_op(P, "=")) {
        if (n->s || n->n_names != 1) {
            expect_op(P, "=");
            return NULL;
        }
        static const char *const ends[] = { "endset" };
        int which;
        if (!block_end(P) || !body_into(P, &n->list, &n->n, ends, 1, &which))
            return NULL;
        return block_end(P) ? n : NULL;
    }
    advance(P);
    jj_node *v = parse_expr(P);
    if (v && at_op(P, ",")) { /* set a, b = x, y */
        jj_node *t = mk(P, N_LIST);
        vec items = { 0 };
        if (!t || !vpush(P, &items, v))
            return NULL;
        while (at_op(P, ",")) {
            advance(P);
            if (!(v = parse_expr(P)) || !vpush(P, &items, v))
                return NULL;
        }
        t->list = (jj_node **)items.v;
        t->n = items.n;
        v = t;
    }
    n->a = v;
    return v && block_end(P) ? n : NULL;
}

static jj_node *parse_macro(parser *P)
{
    jj_node *n = mk(P, S_MACRO);
    if (!n)
        return NULL;
    if (cur(P)->kind != K_NAME) {
        expect_kind(P, K_NAME, "a macro name");
        return NULL;
    }
    if (!(n->s = name_str(P, advance(P))) || !expect_op(P, "("))
        return NULL;
    vec names = { 0 }, defs = { 0 };
    while (!at_op(P, ")")) {
        if (names.n && !expect_op(P, ","))
            return NULL;
        if (cur(P)->kind != K_NAME) {
            expect_kind(P, K_NAME, "a parameter name");
            return NULL;
        }
        jj_str *s = name_str(P, advance(P));
        jj_node *d = NULL;
        if (at_op(P, "=")) {
            advance(P);
            if (!(d = parse_expr(P)))
                return NULL;
        }
        if (!s || !vpush(P, &names, s) || !vpush(P, &defs, d))
            return NULL;
    }
    advance(P);
    n->names = (jj_str **)names.v;
    n->n_names = names.n;
    n->list2 = (jj_node **)defs.v;
    n->n2 = defs.n;
    static const char *const ends[] = { "endmacro" };
    int which, loops = P->loops;
    P->loops = 0;
    bool ok = block_end(P) && body_into(P, &n->list, &n->n, ends, 1, &which);
    P->loops = loops;
    if (!ok)
        return NULL;
    if (cur(P)->kind == K_NAME) /* {% endmacro name %} */
        advance(P);
    return block_end(P) ? n : NULL;
}

static jj_node *parse_stmt(parser *P)
{
    token *t = cur(P);
    if (t->kind != K_NAME) {
        expect_kind(P, K_NAME, "a statement name");
        return NULL;
    }
    advance(P);
    if (tok_is(t, K_NAME, "if"))
        return parse_if(P);
    if (tok_is(t, K_NAME, "for"))
        return parse_for(P);
    if (tok_is(t, K_NAME, "set"))
        return parse_set(P);
    if (tok_is(t, K_NAME, "macro"))
        return parse_macro(P);
    if (tok_is(t, K_NAME, "break") || tok_is(t, K_NAME, "continue")) {
        if (!P->loops) {
            pfail(P, HEARTH_ERR_FORMAT, "'%.*s' outside a loop", (int)t->n, t->p);
            return NULL;
        }
        jj_node *n = mk(P, tok_is(t, K_NAME, "break") ? S_BREAK : S_CONTINUE);
        return n && block_end(P) ? n : NULL;
    }
    if (tok_is(t, K_NAME, "generation")) {
        /* transformers' marker for assistant-token masks: renders its body unchanged */
        static const char *const ends[] = { "endgeneration" };
        jj_node *n = mk(P, S_BLOCK);
        int which;
        if (!n || !block_end(P) || !body_into(P, &n->list, &n->n, ends, 1, &which))
            return NULL;
        return block_end(P) ? n : NULL;
    }
    static const char *const unsupported[] = { "include", "import", "from", "extends", "block",
                                               "call", "filter", "with", "raw", "autoescape",
                                               "do" };
    P->pos--;
    if (lookup_name(unsupported, 11, t->p, t->n) >= 0)
        pfail(P, HEARTH_ERR_UNSUPPORTED, "the '%.*s' tag is not supported", (int)t->n, t->p);
    else
        pfail(P, HEARTH_ERR_FORMAT, "unknown tag '%.*s'", (int)t->n, t->p);
    return NULL;
}

/* Statements until one of ends (a tag whose name is ends[*which], consumed with its name)
 * or, with n_ends 0, the end of the template. */
static bool parse_body(parser *P, vec *body, const char *const *ends, int n_ends, int *which)
{
    if (!enter(P))
        return false;
    for (;;) {
        token *t = cur(P);
        jj_node *n = NULL;
        if (t->kind == K_EOF) {
            if (n_ends)
                return pfail(P, HEARTH_ERR_FORMAT, "missing {%% %s %%}", ends[n_ends - 1]);
            break;
        }
        if (t->kind == K_TEXT) {
            if ((n = mk(P, S_TEXT)))
                n->s = advance(P)->s;
        } else if (t->kind == K_VAR_BEGIN) {
            advance(P);
            if ((n = mk(P, S_OUTPUT)) && (!(n->a = parse_expr(P)) || !expect_kind(P, K_VAR_END, "'}}'")))
                n = NULL;
        } else if (t->kind == K_BLOCK_BEGIN) {
            token *name = &P->t[P->pos + 1];
            int k = name->kind == K_NAME ? lookup_name(ends, n_ends, name->p, name->n) : -1;
            if (k >= 0) {
                P->pos += 2;
                *which = k;
                break;
            }
            static const char *const closers[] = { "elif", "else", "endif", "endfor", "endset",
                                                   "endmacro", "endgeneration" };
            if (name->kind == K_NAME && lookup_name(closers, 7, name->p, name->n) >= 0) {
                P->pos++;
                return pfail(P, HEARTH_ERR_FORMAT, "unexpected '%.*s'", (int)name->n, name->p);
            }
            advance(P);
            n = parse_stmt(P);
        } else {
            char b[64];
            return pfail(P, HEARTH_ERR_FORMAT, "unexpected %s", describe(t, b, sizeof b));
        }
        if (!n || !vpush(P, body, n))
            return false;
    }
    P->depth--;
    return true;
}

hearth_status jj_parse(jj_template **out, const char *src, size_t len, hearth_error *err)
{
    *out = NULL;
    jj_template *t = mem_calloc(1, sizeof *t);
    char *norm = mem_alloc(len + 1);
    if (!t || !norm) {
        mem_free(t);
        mem_free(norm);
        return err_set(err, HEARTH_ERR_NOMEM, "chat template: out of memory");
    }
    /* Newlines become \n, and one trailing newline goes (Jinja's keep_trailing_newline=False). */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            i += i + 1 < len && src[i + 1] == '\n';
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n')
        n--;
    norm[n] = '\0';
    lexer L = { .src = norm, .len = n, .line = 1, .a = &t->arena, .err = err, .st = HEARTH_OK };
    hearth_status st = HEARTH_OK;
    if (!lex(&L)) {
        st = L.st;
    } else {
        parser P = { .t = L.t, .a = &t->arena, .err = err, .st = HEARTH_OK };
        vec body = { 0 };
        int which;
        if (!parse_body(&P, &body, NULL, 0, &which))
            st = P.st;
        t->body = (jj_node **)body.v;
        t->n = body.n;
    }
    mem_free(L.t);
    mem_free(norm);
    if (st != HEARTH_OK) {
        jj_template_free(t);
        return st;
    }
    *out = t;
    return HEARTH_OK;
}

void jj_template_free(jj_template *t)
{
    if (!t)
        return;
    jj_arena_free(&t->arena);
    mem_free(t);
}
