/*
 * list.c — `hearth list [--json] [--repair]`: the registered models, one line each.
 *
 * For each entry it maps the file (cheap) to show architecture, parameters and weight
 * type, and judges the license in a word. A file that has gone missing is shown, never
 * skipped. --repair sets a broken manifest aside and rebuilds it (registry.h).
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "formats/gguf.h"
#include "hub/fit.h"
#include "hub/license.h"
#include "hub/registry.h"

const char *cli_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

typedef struct row {
    char arch[32], type[16], params[24];
    uint64_t n_params;
    bool present;
    lic_result lic;
} row;

static void describe(const reg_entry *e, row *w)
{
    memset(w, 0, sizeof *w);
    gguf_file *g;
    if (gguf_open(&g, e->path, NULL) == HEARTH_OK) {
        w->present = true;
        const char *arch = gguf_get_str(g, "general.architecture");
        snprintf(w->arch, sizeof w->arch, "%s", arch ? arch : "?");
        fit_weight_type(g, w->type);
        for (uint64_t t = 0; t < g->n_tensors; t++) {
            uint64_t n = 1;
            for (int d = 0; d < GGUF_MAX_DIMS; d++)
                n *= (uint64_t)g->tensors[t].ne[d];
            w->n_params += n;
        }
        gguf_close(g);
    }
    double p = (double)w->n_params;
    snprintf(w->params, sizeof w->params, p >= 1e9 ? "%.1fB" : p >= 1e6 ? "%.1fM" : "%.0fK",
             p >= 1e9 ? p / 1e9 : p >= 1e6 ? p / 1e6 : p / 1e3);
    if (!w->present || lic_judge_model(e->name, &w->lic, NULL) != HEARTH_OK)
        lic_judge(&e->license, &w->lic);
}

static int print_json(const registry *r)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < r->n; i++) {
        const reg_entry *e = &r->entries[i];
        row w;
        describe(e, &w);
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "path", e->path);
        cJSON_AddBoolToObject(o, "present", w.present);
        cJSON_AddStringToObject(o, "architecture", w.arch);
        cJSON_AddNumberToObject(o, "parameters", (double)w.n_params);
        cJSON_AddStringToObject(o, "weight_type", w.type);
        cJSON_AddNumberToObject(o, "size", (double)e->size);
        cJSON_AddStringToObject(o, "sha256", e->sha256);
        cJSON_AddStringToObject(o, "source", e->source);
        cJSON_AddStringToObject(o, "license", w.lic.license);
        cJSON_AddStringToObject(o, "verdict", lic_verdict_word(w.lic.verdict));
        cJSON_AddStringToObject(o, "added", e->added);
    }
    char *s = arr ? cJSON_Print(arr) : NULL;
    cJSON_Delete(arr);
    if (!s) {
        fprintf(stderr, "hearth list: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

static void print_text(const registry *r)
{
    if (r->n == 0) {
        printf("no models in %s yet: add one with 'hearth pull hf:ORG/REPO' or "
               "'hearth import FILE'\n", r->home);
        return;
    }
    printf("%-28s %-12s %8s %-8s %10s  %s\n", "NAME", "ARCH", "PARAMS", "TYPE", "SIZE",
           "LICENSE");
    for (size_t i = 0; i < r->n; i++) {
        const reg_entry *e = &r->entries[i];
        row w;
        char size[32];
        describe(e, &w);
        if (!w.present) {
            printf("%-28s (file missing: %s)\n", e->name, e->path);
            continue;
        }
        printf("%-28s %-12s %8s %-8s %10s  %s\n", e->name, w.arch, w.params, w.type,
               cli_bytes(e->size, size, sizeof size), lic_verdict_word(w.lic.verdict));
    }
}

static int repair(void)
{
    size_t kept, found;
    char *aside;
    hearth_error err;
    if (reg_repair(&kept, &found, &aside, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth list --repair: %s\n", err.msg);
        return 1;
    }
    if (!aside) {
        printf("the manifest is fine; nothing to repair\n");
        return 0;
    }
    printf("moved the broken manifest to %s\nkept %zu valid entries, re-registered %zu "
           "downloaded models; imported files that were lost can be imported again\n",
           aside, kept, found);
    mem_free(aside);
    return 0;
}

int cmd_list(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--repair") == 0) {
            return repair();
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fputs("usage: hearth list [--json] [--repair]\nThe registered models: name, "
                  "architecture, parameters, weight type, size,\nlicense verdict. --repair "
                  "sets a broken manifest aside and rebuilds it.\n", help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    cJSON_Hooks hooks = { mem_alloc, mem_free };
    cJSON_InitHooks(&hooks);
    registry *r;
    hearth_error err;
    if (reg_open(&r, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth list: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (json)
        rc = print_json(r);
    else
        print_text(r);
    reg_free(r);
    return rc;
}
