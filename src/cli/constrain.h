/*
 * constrain.h — the output-constraint options of `hearth run` and `hearth chat`:
 * --json-schema FILE, --grammar FILE (GBNF) and --json-object, turned into one grammar
 * for gen_params.grammar. Errors are printed as "hearth CMD: FILE:LINE:COL: what".
 */
#ifndef HEARTH_CLI_CONSTRAIN_H
#define HEARTH_CLI_CONSTRAIN_H

#include <stdbool.h>

#include "generate/grammar.h"

typedef struct constrain_opts {
    const char *schema_path, *grammar_path;
    bool json_object;
    grm_grammar *grammar; /* after constrain_load; NULL when no option was given */
} constrain_opts;

/* If argv[*i] is one of the options, consume it (and its value) and return true;
 * *ok = false (with a message printed) when its value is missing or it repeats. */
bool constrain_parse(constrain_opts *c, const char *cmd, int argc, char **argv, int *i,
                     bool *ok);
/* Read and compile the file the options name; prints the error and returns false. */
bool constrain_load(constrain_opts *c, const char *cmd);
void constrain_free(constrain_opts *c);

extern const char constrain_help[];

#endif
