/*
 * grammar.c — parsing GBNF grammars (see grammar.h); matching is in grammar_match.c.
 *
 * Parsing flattens every rule into one element array (grammar_int.h). Groups and
 * repetitions become rules of their own: x* is r ::= x r | (empty), x{m,n} is m copies of
 * x then a chain of n-m nested optional rules. After parsing, the grammar is checked:
 * every used rule defined, no left recursion (a rule reaching itself before matching a
 * character would make the matcher loop), and root able to match some finite text.
 * The text is hostile: sizes, nesting and repetition counts are bounded.
 */
#include "generate/grammar_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

#define MAX_RULES (1 << 18)
#define MAX_ELEMS (1 << 21)
#define MAX_REPEAT 10000
#define MAX_NEST 100

/* ---- small growable arrays ---------------------------------------------------------- */

bool grm_grow(void *pp, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return true;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = mem_realloc_array(*(void **)pp, (size_t)c, size);
    if (!p)
        return false;
    *(void **)pp = p;
    *cap = c;
    return true;
}

/* ---- parser ------------------------------------------------------------------------- */

typedef struct prule {
    char *name;        /* NULL for a group or repetition */
    size_t used_at;    /* first reference, for "undefined" errors */
    size_t def_at;     /* where it is defined */
    bool defined;
    elem *body;
    int n, cap;
} prule;

typedef struct parser {
    const char *s, *src;
    size_t n, i;
    hearth_error *err;
    hearth_status st;
    prule *r;
    int n_r, cap_r;
    range *rg;
    int n_rg, cap_rg;
    cclass *cl;
    int n_cl, cap_cl;
    long n_el;
    int nest;
    int32_t *names; /* hash table of named rules (-1: empty), n_names slots */
    int n_names, n_named;
} parser;

static void where(const parser *p, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t k = 0; k < at && k < p->n; k++) {
        if (p->s[k] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)p->s[k] & 0xC0) != 0x80) {
            ++*col;
        }
    }
}

__attribute__((format(printf, 4, 5)))
static bool fail(parser *p, hearth_status st, size_t at, const char *fmt, ...)
{
    if (p->st)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(p, at, &line, &col);
    p->st = err_set(p->err, st, "%s:%d:%d: %s", p->src, line, col, msg);
    return false;
}

static bool oom(parser *p)
{
    if (!p->st)
        p->st = err_set(p->err, HEARTH_ERR_NOMEM, "%s: out of memory", p->src);
    return false;
}

static int new_rule(parser *p, const char *name, size_t name_len)
{
    if (p->n_r >= MAX_RULES) {
        fail(p, HEARTH_ERR_RANGE, p->i, "more than %d rules (with groups and repetitions)",
             MAX_RULES);
        return -1;
    }
    if (!grm_grow(&p->r, &p->cap_r, p->n_r + 1, sizeof *p->r))
        return oom(p), -1;
    prule *r = &p->r[p->n_r];
    memset(r, 0, sizeof *r);
    if (name && !(r->name = mem_strndup(name, name_len)))
        return oom(p), -1;
    return p->n_r++;
}

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Make the name table hold at least twice the named rules (a hostile grammar may name
 * hundreds of thousands, so lookups must not be linear). */
static bool names_fit(parser *p)
{
    if ((p->n_named + 1) * 2 <= p->n_names)
        return true;
    int n = p->n_names ? p->n_names * 2 : 256;
    int32_t *t = mem_alloc((size_t)n * sizeof *t);
    if (!t)
        return oom(p);
    memset(t, 0xff, (size_t)n * sizeof *t);
    for (int k = 0; k < p->n_r; k++) {
        if (!p->r[k].name)
            continue;
        uint32_t h = name_hash(p->r[k].name, strlen(p->r[k].name)) & (uint32_t)(n - 1);
        while (t[h] >= 0)
            h = (h + 1) & (uint32_t)(n - 1);
        t[h] = k;
    }
    mem_free(p->names);
    p->names = t;
    p->n_names = n;
    return true;
}

static int find_rule(parser *p, const char *name, size_t len, size_t at)
{
    if (!names_fit(p))
        return -1;
    uint32_t mask = (uint32_t)p->n_names - 1, h = name_hash(name, len) & mask;
    for (; p->names[h] >= 0; h = (h + 1) & mask) {
        const char *n = p->r[p->names[h]].name;
        if (strlen(n) == len && !memcmp(n, name, len))
            return p->names[h];
    }
    int k = new_rule(p, name, len);
    if (k >= 0) {
        p->r[k].used_at = at;
        p->names[h] = k;
        p->n_named++;
    }
    return k;
}

static bool push(parser *p, int rule, int type, int arg)
{
    if (++p->n_el > MAX_ELEMS)
        return fail(p, HEARTH_ERR_RANGE, p->i, "the grammar expands to more than %d elements",
                    MAX_ELEMS);
    prule *r = &p->r[rule];
    if (!grm_grow(&r->body, &r->cap, r->n + 1, sizeof *r->body))
        return oom(p);
    r->body[r->n++] = (elem){ type, arg };
    return true;
}

static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Close the class whose ranges start at rg[off]: sort and merge them. */
static int add_class(parser *p, int off, bool neg)
{
    if (!grm_grow(&p->cl, &p->cap_cl, p->n_cl + 1, sizeof *p->cl))
        return oom(p), -1;
    int n = p->n_rg - off, m = 0;
    range *v = n ? p->rg + off : NULL;
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, range_cmp);
    for (int k = 0; k < n; k++) {
        if (m && v[k].lo <= v[m - 1].hi + 1) {
            if (v[k].hi > v[m - 1].hi)
                v[m - 1].hi = v[k].hi;
        } else {
            v[m++] = v[k];
        }
    }
    p->n_rg = off + m;
    p->cl[p->n_cl] = (cclass){ off, m, neg };
    return p->n_cl++;
}

static bool add_range(parser *p, uint32_t lo, uint32_t hi)
{
    if (!grm_grow(&p->rg, &p->cap_rg, p->n_rg + 1, sizeof *p->rg))
        return oom(p);
    p->rg[p->n_rg++] = (range){ lo, hi };
    return true;
}

static void skip_space(parser *p)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '#') {
            while (p->i < p->n && p->s[p->i] != '\n')
                p->i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            p->i++;
        } else {
            break;
        }
    }
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static size_t name_len(const parser *p, size_t at)
{
    size_t k = at;
    while (k < p->n && name_char(p->s[k]))
        k++;
    return k - at;
}

/* If a rule definition (name ::=) starts at p->i, the offset just after "::=", else 0. */
static size_t at_definition(const parser *p)
{
    size_t len = name_len(p, p->i), k = p->i + len;
    if (!len)
        return 0;
    while (k < p->n && (p->s[k] == ' ' || p->s[k] == '\t'))
        k++;
    return k + 3 <= p->n && !memcmp(p->s + k, "::=", 3) ? k + 3 : 0;
}

static int hexdigit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class, escapes decoded, into *cp. */
static bool read_char(parser *p, uint32_t *cp)
{
    size_t at = p->i;
    if (p->i >= p->n)
        return fail(p, HEARTH_ERR_FORMAT, at, "unexpected end of the grammar");
    if (p->s[p->i] != '\\') {
        int len = utf8_decode(p->s + p->i, p->n - p->i, cp);
        if (len <= 0)
            return fail(p, HEARTH_ERR_FORMAT, at, "invalid UTF-8");
        p->i += (size_t)len;
        return true;
    }
    if (++p->i >= p->n)
        return fail(p, HEARTH_ERR_FORMAT, at, "unfinished escape");
    char c = p->s[p->i++];
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int k = 0; k < digits; k++) {
            int h = p->i < p->n ? hexdigit(p->s[p->i]) : -1;
            if (h < 0)
                return fail(p, HEARTH_ERR_FORMAT, at, "\\%c needs %d hex digits", c, digits);
            v = v * 16 + (uint32_t)h;
            p->i++;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return fail(p, HEARTH_ERR_FORMAT, at, "\\%c%.*s is not a Unicode character", c,
                        digits, p->s + at + 2);
        *cp = v;
        return true;
    }
    static const char from[] = "nrt\\\"[]-/^.'", to[] = "\n\r\t\\\"[]-/^.'";
    const char *hit = c ? strchr(from, c) : NULL;
    if (!hit)
        return fail(p, HEARTH_ERR_FORMAT, at, "unknown escape '\\%c'", c);
    *cp = (unsigned char)to[hit - from];
    return true;
}

static bool parse_alternates(parser *p, int rule);

/* Replace the last element group body[start..) of rule by its repetition {lo, hi}
 * (hi < 0: unbounded). */
static bool repeat(parser *p, int rule, int start, long lo, long hi)
{
    elem x;
    int cnt = p->r[rule].n - start;
    if (cnt == 1) {
        x = p->r[rule].body[start];
    } else {
        int g = new_rule(p, NULL, 0);
        if (g < 0)
            return false;
        for (int k = 0; k < cnt; k++)
            if (!push(p, g, p->r[rule].body[start + k].type, p->r[rule].body[start + k].arg))
                return false;
        if (!push(p, g, E_END, 0))
            return false;
        x = (elem){ E_REF, g };
    }
    p->n_el -= cnt;
    p->r[rule].n = start;
    for (long k = 0; k < lo; k++)
        if (!push(p, rule, x.type, x.arg))
            return false;
    if (hi == lo)
        return true;
    int tail = -1; /* r ::= x r | (empty), or the optional chain r_k ::= x r_{k-1} | (empty) */
    for (long k = 0; k < (hi < 0 ? 1 : hi - lo); k++) {
        int r = new_rule(p, NULL, 0);
        if (r < 0 || !push(p, r, x.type, x.arg))
            return false;
        if (hi < 0 ? !push(p, r, E_REF, r) : tail >= 0 && !push(p, r, E_REF, tail))
            return false;
        if (!push(p, r, E_ALT, 0) || !push(p, r, E_END, 0))
            return false;
        tail = r;
    }
    return push(p, rule, E_REF, tail);
}

static bool parse_count(parser *p, long *v)
{
    size_t at = p->i;
    *v = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        *v = *v * 10 + (p->s[p->i++] - '0');
        if (*v > MAX_REPEAT)
            return fail(p, HEARTH_ERR_RANGE, at, "repetition count above %d", MAX_REPEAT);
    }
    return p->i > at || fail(p, HEARTH_ERR_FORMAT, at, "expected a number");
}

/* {m}, {m,}, {m,n} after the opening brace. */
static bool parse_braces(parser *p, long *lo, long *hi)
{
    size_t at = p->i - 1;
    skip_space(p);
    if (!parse_count(p, lo))
        return false;
    skip_space(p);
    *hi = *lo;
    if (p->i < p->n && p->s[p->i] == ',') {
        p->i++;
        skip_space(p);
        *hi = -1;
        if (p->i < p->n && p->s[p->i] != '}' && !parse_count(p, hi))
            return false;
        skip_space(p);
    }
    if (p->i >= p->n || p->s[p->i] != '}')
        return fail(p, HEARTH_ERR_FORMAT, at, "expected '}' to close the repetition");
    p->i++;
    if (*hi >= 0 && *hi < *lo)
        return fail(p, HEARTH_ERR_FORMAT, at, "repetition {%ld,%ld}: the maximum is below the "
                    "minimum", *lo, *hi);
    return true;
}

static bool parse_class(parser *p, int rule)
{
    size_t at = p->i++;
    bool neg = p->i < p->n && p->s[p->i] == '^';
    if (neg)
        p->i++;
    int off = p->n_rg;
    while (p->i < p->n && p->s[p->i] != ']') {
        uint32_t lo, hi;
        if (!read_char(p, &lo))
            return false;
        hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            if (!read_char(p, &hi))
                return false;
            if (hi < lo)
                return fail(p, HEARTH_ERR_FORMAT, at, "character range with its end before its "
                            "start");
        }
        if (!add_range(p, lo, hi))
            return false;
    }
    if (p->i >= p->n)
        return fail(p, HEARTH_ERR_FORMAT, at, "unterminated character class");
    if (p->n_rg == off && !neg)
        return fail(p, HEARTH_ERR_FORMAT, at, "empty character class [] (it matches nothing)");
    p->i++;
    int c = add_class(p, off, neg);
    return c >= 0 && push(p, rule, E_CLASS, c);
}

static bool parse_literal(parser *p, int rule)
{
    size_t at = p->i++;
    while (p->i < p->n && p->s[p->i] != '"') {
        uint32_t cp;
        int off = p->n_rg;
        if (!read_char(p, &cp) || !add_range(p, cp, cp))
            return false;
        int c = add_class(p, off, false);
        if (c < 0 || !push(p, rule, E_CLASS, c))
            return false;
    }
    if (p->i >= p->n)
        return fail(p, HEARTH_ERR_FORMAT, at, "unterminated string literal");
    p->i++;
    return true;
}

static bool parse_group(parser *p, int rule)
{
    size_t at = p->i++;
    if (++p->nest > MAX_NEST)
        return fail(p, HEARTH_ERR_RANGE, at, "groups nested more than %d deep", MAX_NEST);
    int g = new_rule(p, NULL, 0);
    if (g < 0 || !parse_alternates(p, g) || !push(p, g, E_END, 0))
        return false;
    skip_space(p);
    if (p->i >= p->n || p->s[p->i] != ')')
        return fail(p, HEARTH_ERR_FORMAT, at, "unclosed '('");
    p->i++;
    p->nest--;
    return push(p, rule, E_REF, g);
}

static bool parse_sequence(parser *p, int rule)
{
    for (;;) {
        skip_space(p);
        if (p->i >= p->n || at_definition(p))
            return true;
        char c = p->s[p->i];
        int start = p->r[rule].n;
        bool ok;
        if (c == '|' || c == ')')
            return true;
        if (c == '"') {
            ok = parse_literal(p, rule);
        } else if (c == '[') {
            ok = parse_class(p, rule);
        } else if (c == '(') {
            ok = parse_group(p, rule);
        } else if (c == '.') {
            p->i++;
            int cl = add_class(p, p->n_rg, true);
            ok = cl >= 0 && push(p, rule, E_CLASS, cl);
        } else if (name_len(p, p->i)) {
            size_t len = name_len(p, p->i);
            int r = find_rule(p, p->s + p->i, len, p->i);
            p->i += len;
            ok = r >= 0 && push(p, rule, E_REF, r);
        } else {
            return fail(p, HEARTH_ERR_FORMAT, p->i, "unexpected character '%c'", c);
        }
        if (!ok)
            return false;
        skip_space(p);
        if (p->i < p->n && strchr("*+?{", p->s[p->i])) {
            char op = p->s[p->i++];
            long lo = op == '+' ? 1 : 0, hi = op == '?' ? 1 : -1;
            if (op == '{' && !parse_braces(p, &lo, &hi))
                return false;
            /* an empty literal has nothing to repeat */
            if (p->r[rule].n > start && !repeat(p, rule, start, lo, hi))
                return false;
        }
    }
}

static bool parse_alternates(parser *p, int rule)
{
    if (!parse_sequence(p, rule))
        return false;
    while (p->i < p->n && p->s[p->i] == '|') {
        p->i++;
        if (!push(p, rule, E_ALT, 0) || !parse_sequence(p, rule))
            return false;
    }
    return true;
}

static bool parse_rules(parser *p)
{
    for (;;) {
        skip_space(p);
        if (p->i >= p->n)
            return true;
        size_t at = p->i, len = name_len(p, p->i), body = at_definition(p);
        if (!body)
            return fail(p, HEARTH_ERR_FORMAT, at, "expected a rule definition (name ::= ...)");
        int r = find_rule(p, p->s + at, len, at);
        if (r < 0)
            return false;
        if (p->r[r].defined)
            return fail(p, HEARTH_ERR_FORMAT, at, "rule '%.*s' is defined twice", (int)len,
                        p->s + at);
        p->r[r].defined = true;
        p->r[r].def_at = at;
        p->i = body;
        if (!parse_alternates(p, r) || !push(p, r, E_END, 0))
            return false;
        if (p->i < p->n && p->s[p->i] == ')')
            return fail(p, HEARTH_ERR_FORMAT, p->i, "')' without '('");
    }
}

/* ---- checks on the parsed grammar ----------------------------------------------------- */

/* nullable[r]: r can match the empty text; productive[r]: r can match some finite text. */
static void fixpoints(const grm_grammar *g, bool *nullable, bool *productive)
{
    for (bool changed = true; changed;) {
        changed = false;
        for (int r = 0; r < g->n_rules; r++)
            for (int a = g->alt_off[r]; a < g->alt_off[r + 1]; a++) {
                bool nul = true, prod = true;
                for (int k = g->alt_pos[a]; g->el[k].type >= E_REF; k++) {
                    bool ref = g->el[k].type == E_REF;
                    nul = nul && ref && nullable[g->el[k].arg];
                    prod = prod && (!ref || productive[g->el[k].arg]);
                }
                if (nul && !nullable[r])
                    nullable[r] = changed = true;
                if (prod && !productive[r])
                    productive[r] = changed = true;
            }
    }
}

/* Is there a rule that can reach itself without consuming a character? Iterative DFS over
 * "r may start with s" edges; colour 1 = on the path, 2 = done. Returns the rule or -1. */
static int left_recursive(const grm_grammar *g, const bool *nullable, uint8_t *colour,
                          int32_t *path, int32_t *edge, int *cycle_from, int *cycle_to)
{
    for (int s = 0; s < g->n_rules; s++) {
        if (colour[s])
            continue;
        int depth = 0;
        path[0] = s;
        edge[0] = g->alt_off[s] >= g->alt_off[s + 1] ? -1 : g->alt_pos[g->alt_off[s]];
        colour[s] = 1;
        /* edge[d]: the next element to look at in rule path[d] (element index), -1 when done */
        int32_t *alt_i = edge + g->n_rules; /* alternative index per depth */
        alt_i[0] = g->alt_off[s];
        while (depth >= 0) {
            int r = path[depth];
            int k = edge[depth];
            int next = -1;
            while (next < 0 && alt_i[depth] < g->alt_off[r + 1]) {
                if (k < 0 || g->el[k].type < E_REF) { /* end of this alternative */
                    if (++alt_i[depth] < g->alt_off[r + 1])
                        k = g->alt_pos[alt_i[depth]];
                    continue;
                }
                if (g->el[k].type == E_REF) {
                    next = g->el[k].arg;
                    k = nullable[next] ? k + 1 : -1;
                } else {
                    k = -1; /* a character: nothing further starts this alternative */
                }
            }
            edge[depth] = k;
            if (next < 0) {
                colour[r] = 2;
                depth--;
            } else if (colour[next] == 1) {
                *cycle_from = depth; /* the cycle is path[k..depth] with path[k] == next */
                while (path[*cycle_from] != next)
                    --*cycle_from;
                *cycle_to = depth;
                return next;
            } else if (!colour[next]) {
                colour[next] = 1;
                path[++depth] = next;
                alt_i[depth] = g->alt_off[next];
                edge[depth] = alt_i[depth] < g->alt_off[next + 1] ? g->alt_pos[alt_i[depth]] : -1;
            }
        }
    }
    return -1;
}

static bool check_grammar(parser *p, grm_grammar *g)
{
    bool *nullable = mem_calloc((size_t)g->n_rules, 2 * sizeof(bool));
    uint8_t *colour = mem_calloc((size_t)g->n_rules, 1);
    int32_t *path = mem_calloc((size_t)g->n_rules, 3 * sizeof(int32_t));
    bool ok = nullable && colour && path;
    if (!ok) {
        oom(p);
    } else {
        bool *productive = nullable + g->n_rules;
        fixpoints(g, nullable, productive);
        int from = 0, to = -1;
        if (left_recursive(g, nullable, colour, path, path + g->n_rules, &from, &to) >= 0) {
            int named = -1; /* groups have no name: report a named rule on the cycle */
            for (int k = from; k <= to && named < 0; k++)
                if (p->r[path[k]].name)
                    named = path[k];
            if (named < 0) /* the cycle is inside one rule's groups: name the rule using them */
                for (int k = from; k >= 0 && named < 0; k--)
                    if (p->r[path[k]].name)
                        named = path[k];
            ok = fail(p, HEARTH_ERR_FORMAT, named >= 0 ? p->r[named].def_at : 0,
                      "left recursion in rule '%s': it can reach itself without matching a "
                      "character", named >= 0 ? p->r[named].name : "?");
        } else if (!productive[g->root]) {
            ok = fail(p, HEARTH_ERR_FORMAT, p->r[g->root].def_at, "the grammar matches no "
                      "finite text (every alternative of 'root' recurses forever)");
        }
    }
    mem_free(nullable);
    mem_free(colour);
    mem_free(path);
    return ok;
}

/* Move the parsed rules into g's flat arrays. */
static bool flatten(parser *p, grm_grammar *g)
{
    int32_t *start = mem_calloc((size_t)p->n_r + 1, sizeof *start);
    g->el = mem_calloc((size_t)p->n_el + 1, sizeof *g->el);
    g->alt_off = mem_calloc((size_t)p->n_r + 1, sizeof *g->alt_off);
    g->alt_pos = mem_calloc((size_t)p->n_el + 1, sizeof *g->alt_pos);
    if (!start || !g->el || !g->alt_off || !g->alt_pos) {
        mem_free(start);
        return oom(p);
    }
    int n = 0, na = 0;
    for (int r = 0; r < p->n_r; r++) {
        start[r] = n;
        g->alt_off[r] = na;
        g->alt_pos[na++] = n;
        for (int k = 0; k < p->r[r].n; k++) {
            g->el[n++] = p->r[r].body[k];
            if (p->r[r].body[k].type == E_ALT)
                g->alt_pos[na++] = n;
        }
    }
    g->alt_off[p->n_r] = na;
    g->n_rules = p->n_r;
    mem_free(start);
    g->rg = p->rg;
    g->cl = p->cl;
    p->rg = NULL;
    p->cl = NULL;
    return true;
}

hearth_status grm_parse(grm_grammar **out, const char *text, size_t len, const char *source,
                        hearth_error *err)
{
    *out = NULL;
    parser p = { .s = text, .n = len, .src = source ? source : "grammar", .err = err };
    if (len > GRM_MAX_TEXT)
        return err_set(err, HEARTH_ERR_RANGE, "%s: the grammar is %zu bytes (at most %u)",
                       p.src, len, GRM_MAX_TEXT);
    if (memchr(text, '\0', len))
        return err_set(err, HEARTH_ERR_FORMAT, "%s: the grammar contains a NUL byte", p.src);
    grm_grammar *g = mem_calloc(1, sizeof *g);
    if (!g)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", p.src);
    if (parse_rules(&p)) {
        int root = -1;
        for (int r = 0; r < p.n_r && !p.st; r++) {
            if (p.r[r].name && !p.r[r].defined)
                fail(&p, HEARTH_ERR_FORMAT, p.r[r].used_at, "rule '%s' is used but never "
                     "defined", p.r[r].name);
            if (p.r[r].name && !strcmp(p.r[r].name, "root"))
                root = r;
        }
        if (!p.st && root < 0)
            fail(&p, HEARTH_ERR_FORMAT, 0, "no 'root' rule (the grammar starts at root ::= ...)");
        g->root = root;
        if (!p.st && flatten(&p, g))
            check_grammar(&p, g);
    }
    for (int r = 0; r < p.n_r; r++) {
        mem_free(p.r[r].name);
        mem_free(p.r[r].body);
    }
    mem_free(p.r);
    mem_free(p.names);
    mem_free(p.rg);
    mem_free(p.cl);
    if (p.st) {
        grm_free(g);
        return p.st;
    }
    *out = g;
    return HEARTH_OK;
}

void grm_free(grm_grammar *g)
{
    if (!g)
        return;
    mem_free(g->el);
    mem_free(g->alt_off);
    mem_free(g->alt_pos);
    mem_free(g->rg);
    mem_free(g->cl);
    mem_free(g);
}

