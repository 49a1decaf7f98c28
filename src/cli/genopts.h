/*
 * genopts.h — the generation options shared by `hearth run`, `chat` and `bench`:
 * sampling, limits, context and threads, parsed strictly (a malformed number is an error
 * naming the flag, never a silent zero).
 */
#ifndef HEARTH_CLI_GENOPTS_H
#define HEARTH_CLI_GENOPTS_H

#include <stdbool.h>

#include "generate/generate.h"

#define GENOPTS_MAX_STOP 16

typedef struct genopts {
    gen_params gen;
    llm_ctx_params ctx;
    const char *stop[GENOPTS_MAX_STOP];
} genopts;

void genopts_init(genopts *o);
/* If argv[*i] is a generation option, consume it (and its value), set *ok, return true.
 * On a malformed value prints "hearth CMD: ..." and sets *ok = false. */
bool genopts_parse(genopts *o, const char *cmd, int argc, char **argv, int *i, bool *ok);
/* The option list for --help texts. */
extern const char genopts_help[];

/* Strict number parsing: whole string, within [lo, hi]. */
bool parse_int(const char *s, long lo, long hi, long *out);
bool parse_float(const char *s, double lo, double hi, double *out);

#endif
