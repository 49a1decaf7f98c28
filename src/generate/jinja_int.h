/*
 * jinja_int.h — what jinja.c (arena, values, lexer, parser) and jinja_eval.c (evaluator,
 * filters, tests, methods) share. Not for use outside those two files.
 *
 * All memory of a template (its syntax tree) and of a render (every value built) comes from
 * an arena that is freed as a whole, so no value has an owner to track and a hostile
 * template cannot leak: the render's arena also enforces the memory limit.
 */
#ifndef HEARTH_GENERATE_JINJA_INT_H
#define HEARTH_GENERATE_JINJA_INT_H

#include "generate/jinja.h"

/* ---- Arena ---- */
typedef struct jj_arena_blk jj_arena_blk;
typedef struct jj_arena {
    jj_arena_blk *head;
    size_t total, limit; /* bytes taken from the system allocator, and the cap on that */
    bool over_limit;     /* the last failure was the cap, not the system allocator */
} jj_arena;

void *jj_arena_alloc(jj_arena *a, size_t n); /* zeroed; NULL on failure */
void jj_arena_free(jj_arena *a);

/* ---- Values ---- */
typedef struct jj_str {
    size_t len;
    char s[]; /* NUL-terminated */
} jj_str;

typedef struct jj_list {
    size_t n, cap;
    jj_value *v;
} jj_list;

typedef struct jj_dict {
    size_t n, cap;
    jj_str **k;
    jj_value *v;
    bool ns; /* made by namespace(): `set ns.attr = ...` may change it */
} jj_dict;

typedef struct jj_loop {
    int64_t index0, length;
    const jj_list *items;
} jj_loop;

jj_str *jj_str_make(jj_arena *a, const char *s, size_t n);
bool jj_list_append(jj_arena *a, jj_list *l, jj_value v);
/* Set key (copying it when new); false on out of memory. */
bool jj_dict_put(jj_arena *a, jj_dict *d, const char *key, size_t klen, jj_value v);
/* Index of key in d, or -1. */
long jj_dict_find(const jj_dict *d, const char *key, size_t klen);

/* ---- Syntax tree ---- */
enum jj_kind {
    /* expressions */
    N_CONST, N_NAME, N_LIST, N_DICT, N_ATTR, N_INDEX, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_UNARY, N_BINARY, N_COND,
    /* statements */
    S_TEXT, S_OUTPUT, S_IF, S_FOR, S_SET, S_MACRO, S_BREAK, S_CONTINUE, S_BLOCK,
};

enum jj_op {
    OP_NONE, OP_NOT, OP_NEG, OP_POS,
    OP_OR, OP_AND, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
};

/* One node shape for every kind; the comment on each kind says which fields it uses.
 *   N_CONST v | N_NAME s | N_LIST list | N_DICT list (keys), list2 (values)
 *   N_ATTR a.s | N_INDEX a[b] | N_SLICE a[b:c:d] (b, c, d may be NULL)
 *   N_CALL a(list, names=list2) | N_FILTER a|op(list, names=list2)
 *   N_TEST a is [neg] op(list) | N_UNARY op a | N_BINARY a op b | N_COND a if b else c
 *   S_TEXT s | S_OUTPUT a | S_IF a: list else list2
 *   S_FOR names in a [if b]: list else list2
 *   S_SET names = a, or names[0].s = a, or (a NULL) names = rendered list
 *   S_MACRO s(names = list2 defaults, NULL where none): list | S_BLOCK list
 */
typedef struct jj_node jj_node;
struct jj_node {
    int kind, op, line;
    bool neg;
    jj_node *a, *b, *c, *d;
    jj_node **list, **list2;
    int n, n2;
    jj_str *s;
    jj_str **names;
    int n_names;
    jj_value v;
};

/* Filters and tests are resolved by name when parsing. */
enum jj_filter {
    F_ABS, F_CAPITALIZE, F_COUNT, F_DEFAULT, F_FIRST, F_FLOAT, F_INDENT, F_INT, F_ITEMS,
    F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_REJECT, F_REJECTATTR, F_REPLACE,
    F_REVERSE, F_SAFE, F_SELECT, F_SELECTATTR, F_STRING, F_TITLE, F_TOJSON, F_TRIM,
    F_UNIQUE, F_UPPER,
    F_COUNT_
};
enum jj_test {
    T_DEFINED, T_UNDEFINED, T_NONE, T_STRING, T_NUMBER, T_INTEGER, T_FLOAT, T_MAPPING,
    T_ITERABLE, T_SEQUENCE, T_BOOLEAN, T_TRUE, T_FALSE, T_ODD, T_EVEN, T_DIVISIBLEBY,
    T_EQUALTO, T_NE, T_LT, T_LE, T_GT, T_GE, T_SAMEAS, T_LOWER, T_UPPER, T_IN, T_CALLABLE,
    T_COUNT_
};
/* Filter names by id; a test's id by name (aliases such as "==" included), -1 if unknown. */
extern const char *const jj_filter_names[F_COUNT_];
int jj_test_id(const char *name, size_t n);

struct jj_template {
    jj_arena arena;
    jj_node **body;
    int n;
};

struct jj_ctx {
    jj_arena arena;
    jj_limits lim;
    jj_dict *globals;
    jj_strftime_fn strftime_fn;
    void *strftime_user;
    bool oom;    /* a constructor failed: the render reports out of memory */
    bool used;   /* rendered once already */
};

#endif
