/*
 * embed.c — `hearth embed MODEL TEXT...`: print the embedding vector of each text.
 *
 * Plain output is one line per text of space-separated numbers; --json gives one object
 * with the model's identity, the dimension and the vectors. Vectors are unit length unless
 * --raw asks for the pooled output as the model gives it.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "cli/genopts.h"
#include "hub/registry.h"
#include "knowledge/embed.h"

static const char usage[] =
    "usage: hearth embed MODEL TEXT... [options]\n"
    "Print the embedding of each TEXT with the encoder in MODEL (bert or nomic-bert).\n"
    "  --json            one JSON object: model, dim, embeddings\n"
    "  --query           embed as a search query (the model's query prefix)\n"
    "  --document        embed as a document (the model's document prefix)\n"
    "  --raw             the pooled vectors before normalisation to unit length\n"
    "  -t, --threads N   threads (default: one per CPU)\n";

static void print_plain(const float *v, int n, int dim)
{
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < dim; d++)
            printf(d ? " %.7g" : "%.7g", v[(size_t)i * dim + d]);
        printf("\n");
    }
}

static void print_json(const emb_model *e, const float *v, int n, int dim)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", emb_identity(e));
    cJSON_AddNumberToObject(o, "dim", dim);
    cJSON *arr = cJSON_AddArrayToObject(o, "embeddings");
    for (int i = 0; i < n; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int d = 0; d < dim; d++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(v[(size_t)i * dim + d]));
        cJSON_AddItemToArray(arr, row);
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
}

int cmd_embed(int argc, char **argv)
{
    const char *model = NULL;
    const char **texts = mem_calloc((size_t)argc, sizeof *texts);
    int n = 0;
    bool json = false, raw = false;
    enum emb_kind kind = EMB_DOCUMENT;
    bool use_prefix = false; /* --query or --document given: use the model's prefix */
    emb_params p = emb_default_params();
    if (!texts)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long t;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s", usage);
            mem_free(texts);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (!strcmp(a, "--query") || !strcmp(a, "--document")) {
            kind = !strcmp(a, "--query") ? EMB_QUERY : EMB_DOCUMENT;
            use_prefix = true;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 1024, &t)) {
                fprintf(stderr, "hearth embed: --threads takes 1..1024\n");
                mem_free(texts);
                return 2;
            }
            p.n_threads = (int)t;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hearth embed: unknown or incomplete option '%s'\n%s", a, usage);
            mem_free(texts);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            texts[n++] = a;
        }
    }
    if (!model || n == 0) {
        fprintf(stderr, "hearth embed: need a MODEL and at least one TEXT\n%s", usage);
        mem_free(texts);
        return 2;
    }
    if (!use_prefix)
        p.query_prefix = p.doc_prefix = "";
    hearth_error err;
    char *path = NULL;
    emb_model *e = NULL;
    float *v = NULL;
    int rc = 1;
    if (hub_resolve_model(model, &path, &err) || emb_open(&e, path, &p, &err)) {
        fprintf(stderr, "hearth embed: %s\n", err.msg);
        goto done;
    }
    int dim = emb_dim(e);
    if (!(v = mem_calloc((size_t)n * dim, sizeof *v))) {
        fprintf(stderr, "hearth embed: out of memory\n");
        goto done;
    }
    hearth_status st = raw ? emb_encode_raw(e, n, texts, NULL, kind, v, &err)
                           : emb_encode(e, n, texts, NULL, kind, v, &err);
    if (st) {
        fprintf(stderr, "hearth embed: %s\n", err.msg);
        goto done;
    }
    if (json)
        print_json(e, v, n, dim);
    else
        print_plain(v, n, dim);
    rc = 0;
done:
    mem_free(v);
    emb_free(e);
    mem_free(path);
    mem_free(texts);
    return rc;
}
