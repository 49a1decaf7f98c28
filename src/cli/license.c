/*
 * license.c — `hearth license MODEL [--json]`: can I ship this model's output?
 *
 * One sentence with the verdict and the deciding clause, the openness tier, and where
 * the license identifier was found. --json: license, verdict, tier, reason, title, source.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "hub/license.h"

static const char usage[] =
    "usage: hearth license MODEL [--json]\n"
    "Say whether this model's output may be used in a paid product, quoting the deciding\n"
    "clause of its license, and its openness tier. MODEL is a registered name or a file.\n";

static int print_json(const lic_result *r)
{
    cJSON_Hooks hooks = { mem_alloc, mem_free };
    cJSON_InitHooks(&hooks);
    cJSON *o = cJSON_CreateObject();
    char sentence[2048];
    lic_sentence(r, sentence, sizeof sentence);
    bool ok = o && cJSON_AddStringToObject(o, "license", r->license) &&
              cJSON_AddStringToObject(o, "verdict", lic_verdict_word(r->verdict)) &&
              cJSON_AddStringToObject(o, "tier", r->tier) &&
              cJSON_AddStringToObject(o, "reason", r->reason) &&
              (r->title ? cJSON_AddStringToObject(o, "title", r->title)
                        : cJSON_AddNullToObject(o, "title")) &&
              cJSON_AddStringToObject(o, "found_in", r->found_in) &&
              cJSON_AddStringToObject(o, "sentence", sentence);
    char *s = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "hearth license: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

int cmd_license(int argc, char **argv)
{
    const char *model = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            fprintf(stderr, "hearth license: unexpected '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!model) {
        fputs(usage, stderr);
        return 2;
    }
    lic_result r;
    hearth_error err;
    if (lic_judge_model(model, &r, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth license: %s\n", err.msg);
        return 1;
    }
    if (json)
        return print_json(&r);
    char sentence[2048];
    lic_sentence(&r, sentence, sizeof sentence);
    printf("%s\n\nlicense:  %s%s%s%s\ntier:     %s\n", sentence,
           r.license[0] ? r.license : "(none)",
           r.found_in[0] ? " (from " : "", r.found_in, r.found_in[0] ? ")" : "", r.tier);
    printf("\nThis is a summary of the license text to point you at the clause that decides; "
           "it is not legal advice.\n");
    return 0;
}
