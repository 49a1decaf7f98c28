/* constrain.c — see constrain.h. */
#include "cli/constrain.h"

#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "generate/json_schema.h"

const char constrain_help[] =
    "  --json-schema FILE    the output is JSON valid against the JSON Schema in FILE\n"
    "  --grammar FILE        the output follows the GBNF grammar in FILE\n"
    "  --json-object         the output is a JSON object\n";

bool constrain_parse(constrain_opts *c, const char *cmd, int argc, char **argv, int *i,
                     bool *ok)
{
    const char *a = argv[*i];
    bool schema = !strcmp(a, "--json-schema"), grammar = !strcmp(a, "--grammar");
    bool object = !strcmp(a, "--json-object");
    if (!schema && !grammar && !object)
        return false;
    *ok = true;
    if (c->schema_path || c->grammar_path || c->json_object) {
        fprintf(stderr, "hearth %s: give only one of --json-schema, --grammar, --json-object\n",
                cmd);
        *ok = false;
    } else if (object) {
        c->json_object = true;
    } else if (*i + 1 >= argc) {
        fprintf(stderr, "hearth %s: %s needs a FILE\n", cmd, a);
        *ok = false;
    } else if (schema) {
        c->schema_path = argv[++*i];
    } else {
        c->grammar_path = argv[++*i];
    }
    return true;
}

bool constrain_load(constrain_opts *c, const char *cmd)
{
    hearth_error err;
    hearth_status st = HEARTH_OK;
    const char *path = c->schema_path ? c->schema_path : c->grammar_path;
    if (c->json_object) {
        st = grm_parse(&c->grammar, jsch_any_object_gbnf, strlen(jsch_any_object_gbnf),
                       "json-object", &err);
    } else if (path) {
        char *text = NULL;
        size_t len = 0;
        st = file_read_all(path, GRM_MAX_TEXT, &text, &len, &err);
        if (!st && c->schema_path)
            st = jsch_grammar(&c->grammar, text, len, path, &err);
        else if (!st)
            st = grm_parse(&c->grammar, text, len, path, &err);
        mem_free(text);
    }
    if (st)
        fprintf(stderr, "hearth %s: %s\n", cmd, err.msg);
    return st == HEARTH_OK;
}

void constrain_free(constrain_opts *c)
{
    grm_free(c->grammar);
    c->grammar = NULL;
}
