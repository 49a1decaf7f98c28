/*
 * jinja.h — a small, bounded interpreter for the subset of Jinja2 that chat templates use.
 *
 * A GGUF model carries its chat template (Hugging Face Jinja2 text) in the metadata key
 * `tokenizer.chat_template`. That text is a program written by a stranger, so this
 * interpreter is deliberately small and closed: a template sees only the variables the host
 * puts into its context (the conversation), cannot read files, import other templates or
 * reach any host object, and every render is bounded in evaluation steps, loop iterations,
 * nesting depth, output bytes and memory. Anything past a limit, any syntax error and any
 * construct outside the subset ends the render with a one-line error naming the template
 * line, so the caller can fall back to a built-in format with a warning.
 *
 * Semantics follow what transformers' apply_chat_template gives: trim_blocks and
 * lstrip_blocks on, one trailing newline of the source dropped, loop controls
 * (break/continue) enabled, `tojson` as json.dumps(ensure_ascii=False, no key sorting),
 * default (lenient) Undefined: printing, iterating or testing it gives "", nothing, false.
 * Values are none, bool, int (64-bit, overflow is an error), float, string (UTF-8; indexing,
 * slicing and length count code points; upper/lower/title change ASCII letters only),
 * list and dict (string keys, insertion order). The supported statements, expressions,
 * filters, tests, methods and globals are listed at the top of jinja.c.
 *
 * Usage
 *   jj_template *t;
 *   if (jj_parse(&t, src, strlen(src), &err) != HEARTH_OK) ...
 *   jj_limits lim = jj_default_limits();
 *   jj_ctx *c = jj_ctx_new(&lim);                 // one context per render
 *   jj_value msg = jj_dict_new(c);
 *   jj_dict_set(c, msg, "role", jj_cstr(c, "user"));
 *   ...
 *   jj_set_var(c, "messages", list);
 *   char *out; size_t n;
 *   hearth_status st = jj_render(t, c, &out, &n, &err);   // out: mem_free it
 *   jj_ctx_free(c); jj_template_free(t);
 *
 * Threads: a parsed template is immutable and may be rendered from several threads at once,
 * each with its own jj_ctx.
 */
#ifndef HEARTH_GENERATE_JINJA_H
#define HEARTH_GENERATE_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum jj_type {
    JJ_UNDEFINED, JJ_NONE, JJ_BOOL, JJ_INT, JJ_FLOAT, JJ_STR, JJ_LIST, JJ_DICT,
    JJ_FUNC,  /* a built-in global function (range, namespace, ...) */
    JJ_MACRO, /* a {% macro %} defined by the template */
    JJ_LOOP,  /* the `loop` object inside a for loop */
} jj_type;

/* A value is passed by copy; strings, lists and dicts live in the jj_ctx's arena and are
 * shared by reference (a dict set through one copy is seen through all). */
typedef struct jj_value {
    jj_type type;
    union {
        bool b;
        int64_t i;
        double f;
        struct jj_str *s;
        struct jj_list *l;
        struct jj_dict *d;
        int fn;
        const struct jj_node *macro;
        const struct jj_loop *loop;
    } u;
} jj_value;

typedef struct jj_limits {
    long max_steps;       /* evaluation steps (a node evaluated, or ~64 bytes of work in a builtin) */
    long max_iterations;  /* loop iterations of the whole render, and the longest range() */
    int max_depth;        /* nesting of statements, expressions and macro calls */
    size_t max_output;    /* bytes of output, and of any one string built on the way */
    size_t max_memory;    /* bytes the render may allocate in all */
} jj_limits;

/* 1e6 steps, 1e6 iterations, depth 128, 4 MiB output, 64 MiB memory. */
jj_limits jj_default_limits(void);

/* ---- Templates ---------------------------------------------------------------------------- */

typedef struct jj_template jj_template;

/* Parse src[0..len). Errors: HEARTH_ERR_FORMAT (syntax, "chat template line N: ..."),
 * HEARTH_ERR_UNSUPPORTED (a tag, filter or test outside the subset), HEARTH_ERR_NOMEM.
 * Parsing is bounded too: nesting deeper than 256 is refused. */
hearth_status jj_parse(jj_template **out, const char *src, size_t len, hearth_error *err);
void jj_template_free(jj_template *t);

/* ---- Render contexts ---------------------------------------------------------------------- */

typedef struct jj_ctx jj_ctx;

/* A context for one render with the given limits (NULL: defaults). NULL on out of memory. */
jj_ctx *jj_ctx_new(const jj_limits *lim);
void jj_ctx_free(jj_ctx *c);

/* Host function behind the template global `strftime_now(fmt)`: write the formatted current
 * date/time into buf (cap bytes, NUL-terminated) and return its length. Without one,
 * `strftime_now` is undefined in the template (so `strftime_now is defined` is false). */
typedef size_t (*jj_strftime_fn)(char *buf, size_t cap, const char *fmt, void *user);
void jj_ctx_set_strftime(jj_ctx *c, jj_strftime_fn fn, void *user);

/* Value constructors. Those that allocate record an out-of-memory failure in the context
 * (returning none) and jj_render then fails with HEARTH_ERR_NOMEM, so building a context
 * needs no error checks. Strings are copied. */
jj_value jj_none(void);
jj_value jj_bool(bool b);
jj_value jj_int(int64_t i);
jj_value jj_float(double f);
jj_value jj_strn(jj_ctx *c, const char *s, size_t n);
jj_value jj_cstr(jj_ctx *c, const char *s);
jj_value jj_list_new(jj_ctx *c);
void jj_list_push(jj_ctx *c, jj_value list, jj_value item);
jj_value jj_dict_new(jj_ctx *c);
void jj_dict_set(jj_ctx *c, jj_value dict, const char *key, jj_value v);
/* Parse JSON text into a value (objects become dicts, arrays lists). HEARTH_ERR_FORMAT if the
 * text is not JSON. */
hearth_status jj_from_json(jj_ctx *c, const char *json, jj_value *out, hearth_error *err);
/* Set a global variable of the template (a later set replaces an earlier one). */
void jj_set_var(jj_ctx *c, const char *name, jj_value v);

/* Render t with the variables of c. On success *out is a NUL-terminated string of *out_len
 * bytes (out_len may be NULL) that the caller releases with mem_free. Errors: HEARTH_ERR_RANGE
 * (a limit), HEARTH_ERR_INVALID (the template called raise_exception: the message is its
 * text), HEARTH_ERR_FORMAT (a type error, e.g. adding a string to a number),
 * HEARTH_ERR_NOMEM. A context is used for one render. */
hearth_status jj_render(const jj_template *t, jj_ctx *c, char **out, size_t *out_len,
                        hearth_error *err);

#endif
