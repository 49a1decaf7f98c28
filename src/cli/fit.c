/*
 * fit.c — `hearth fit MODEL [--ctx N] [--parallel N] [--kv-type f16|q8_0] [--json]`.
 *
 * Weights + KV cache + buffers against this machine's memory, a verdict, the generation
 * speed bound, and what would make it fit. The memory bandwidth is measured once (about
 * a second) and cached in $HEARTH_HOME/bandwidth; --bandwidth GBPS gives it instead
 * (0: no speed estimate). MODEL may be an hf: reference: then only the file's header is
 * fetched from the Hub (Range requests), so the answer comes before the download.
 * A GPU (nvidia-smi, or AMD's DRM sysfs files) gets a line of its own: hearth computes on
 * the CPU, so it never changes the verdict, but a person choosing a runner wants to know.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cli/genopts.h"
#include "hub/fit.h"
#include "hub/pull.h"
#include "hub/registry.h"
#include "tensor/membw.h"
#include "tensor/types.h"

static const char usage[] =
    "usage: hearth fit MODEL [--ctx N] [--parallel N] [--kv-type f16|q8_0] [--json]\n"
    "Will MODEL run here? Weights, KV cache and buffers against this machine's memory,\n"
    "the generation speed bound, and what would make it fit. MODEL is a registered name,\n"
    "a file, or hf:ORG/REPO[/FILE][@REV] (only the file's header is downloaded).\n"
    "  --ctx N           context length (default: the model's training context)\n"
    "  --parallel N      sequences served at once (default 1)\n"
    "  --kv-type T       KV cache type: f16 (default) or q8_0\n"
    "  --bandwidth GBPS  memory bandwidth to assume (default: measured once, cached)\n"
    "  --json            one JSON object\n";

/* Measured bandwidth, cached in the registry folder so later runs are instant. */
static double bandwidth(void)
{
    char *home = NULL, path[4096];
    double bw = 0;
    if (reg_home(&home, NULL) != HEARTH_OK)
        return 0;
    snprintf(path, sizeof path, "%s/bandwidth", home);
    reg_make_dirs(home, NULL);
    mem_free(home);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lf", &bw) != 1 || bw <= 0 || bw > 1e5)
            bw = 0;
        fclose(f);
        if (bw > 0)
            return bw;
    }
    tq_pool *pool = tq_pool_new(0);
    bw = pool ? tq_measure_bandwidth(pool, (size_t)256 << 20) : 0;
    tq_pool_free(pool);
    file_atomic a;
    if (bw > 0 && file_atomic_open(&a, path, NULL) == HEARTH_OK) {
        fprintf(a.fp, "%.3f\n", bw);
        file_atomic_commit(&a, NULL);
    }
    return bw;
}

static int print_json(const char *model, const fit_model *m, const fit_report *r,
                      const fit_gpu *gpus, int n_gpus)
{
    cJSON_Hooks hooks = { mem_alloc, mem_free };
    cJSON_InitHooks(&hooks);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return 1;
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "weight_type", m->weight_type);
    cJSON_AddNumberToObject(o, "n_ctx", r->params.n_ctx);
    cJSON_AddNumberToObject(o, "parallel", r->params.n_parallel);
    cJSON_AddStringToObject(o, "kv_type", r->params.kv_type == TQ_Q8_0 ? "q8_0" : "f16");
    cJSON_AddNumberToObject(o, "weights_bytes", (double)r->weights_bytes);
    cJSON_AddNumberToObject(o, "kv_cache_bytes", (double)r->kv_cache_bytes);
    cJSON_AddNumberToObject(o, "buffer_bytes", (double)r->buffer_bytes);
    cJSON_AddNumberToObject(o, "total_bytes", (double)r->total_bytes);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)r->memory_total);
    cJSON_AddNumberToObject(o, "available_bytes", (double)r->available_bytes);
    cJSON_AddStringToObject(o, "verdict", fit_verdict_str(r->verdict));
    cJSON_AddNumberToObject(o, "bytes_per_token", (double)r->bytes_per_token);
    cJSON_AddNumberToObject(o, "tokens_per_s_bound", r->tokens_per_s);
    cJSON *ga = cJSON_AddArrayToObject(o, "gpus");
    for (int i = 0; ga && i < n_gpus; i++) {
        cJSON *g = cJSON_CreateObject();
        if (!g || !cJSON_AddItemToArray(ga, g))
            break;
        cJSON_AddStringToObject(g, "name", gpus[i].name);
        cJSON_AddNumberToObject(g, "memory_bytes", (double)gpus[i].mem.total);
        cJSON_AddNumberToObject(g, "available_bytes", (double)gpus[i].mem.available);
        cJSON_AddStringToObject(g, "verdict",
                                fit_verdict_str(fit_judge(r->total_bytes, &gpus[i].mem)));
    }
    cJSON *s = cJSON_AddObjectToObject(o, "suggest");
    if (s) {
        cJSON_AddNumberToObject(s, "n_ctx", r->suggest_ctx);
        cJSON_AddBoolToObject(s, "kv_q8_0", r->suggest_q8_kv);
        cJSON_AddStringToObject(s, "weight_type", r->suggest_type);
        cJSON_AddNumberToObject(s, "weight_type_bytes", (double)r->suggest_type_bytes);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return 1;
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

static void print_text(const char *model, const fit_model *m, const fit_report *r,
                       const fit_gpu *gpus, int n_gpus)
{
    char a[32], b[32], c[32], d[32];
    printf("model:       %s (%s, %s, %.2fB parameters)\n", model, m->arch, m->weight_type,
           (double)m->params / 1e9);
    printf("context:     %d positions x %d sequence%s, %s KV cache\n", r->params.n_ctx,
           r->params.n_parallel, r->params.n_parallel > 1 ? "s" : "",
           r->params.kv_type == TQ_Q8_0 ? "Q8_0" : "F16");
    printf("weights:     %s\nKV cache:    %s\nbuffers:     %s\ntotal:       %s\n",
           cli_bytes(r->weights_bytes, a, sizeof a), cli_bytes(r->kv_cache_bytes, b, sizeof b),
           cli_bytes(r->buffer_bytes, c, sizeof c), cli_bytes(r->total_bytes, d, sizeof d));
    printf("this machine: %s available of %s\n", cli_bytes(r->available_bytes, a, sizeof a),
           cli_bytes(r->memory_total, b, sizeof b));
    printf("verdict:     %s\n", fit_verdict_str(r->verdict));
    for (int i = 0; i < n_gpus; i++)
        printf("GPU:         %s, %s available of %s: the model %s there (hearth itself runs "
               "on the CPU; this is for a GPU runner)\n", gpus[i].name,
               cli_bytes(gpus[i].mem.available, a, sizeof a),
               cli_bytes(gpus[i].mem.total, b, sizeof b),
               fit_judge(r->total_bytes, &gpus[i].mem) == FIT_FITS    ? "fits"
               : fit_judge(r->total_bytes, &gpus[i].mem) == FIT_TIGHT ? "fits only tightly"
                                                                       : "does not fit");
    if (r->tokens_per_s > 0)
        printf("speed bound: about %.1f tokens/s for generation (%s read per token)\n",
               r->tokens_per_s, cli_bytes(r->bytes_per_token, a, sizeof a));
    if (r->verdict == FIT_FITS)
        return;
    if (r->suggest_ctx)
        printf("suggestion:  --ctx %d would fit\n", r->suggest_ctx);
    if (r->suggest_q8_kv)
        printf("suggestion:  --kv-type q8_0 would fit\n");
    if (r->suggest_type[0])
        printf("suggestion:  a %s file (about %s of weights) would fit\n", r->suggest_type,
               cli_bytes(r->suggest_type_bytes, a, sizeof a));
    if (!r->suggest_ctx && !r->suggest_q8_kv && !r->suggest_type[0] && r->verdict == FIT_NO)
        printf("suggestion:  none of a smaller context, KV type or weight type is enough; "
               "choose a smaller model\n");
}

int cmd_fit(int argc, char **argv)
{
    const char *model = NULL;
    fit_params p = fit_default_params();
    double bw = -1;
    bool json = false;
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--ctx") == 0 && more && parse_int(argv[i + 1], 1, 1 << 24, &v)) {
            p.n_ctx = (int)v, i++;
        } else if (strcmp(a, "--parallel") == 0 && more &&
                   parse_int(argv[i + 1], 1, 1024, &v)) {
            p.n_parallel = (int)v, i++;
        } else if (strcmp(a, "--kv-type") == 0 && more &&
                   (strcmp(argv[i + 1], "f16") == 0 || strcmp(argv[i + 1], "q8_0") == 0)) {
            p.kv_type = strcmp(argv[++i], "f16") == 0 ? TQ_F16 : TQ_Q8_0;
        } else if (strcmp(a, "--bandwidth") == 0 && more) {
            char *end;
            bw = strtod(argv[++i], &end);
            if (*end || bw < 0) {
                fprintf(stderr, "hearth fit: --bandwidth takes GB/s, e.g. 50\n");
                return 2;
            }
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            fprintf(stderr, "hearth fit: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!model) {
        fputs(usage, stderr);
        return 2;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p.n_threads = ncpu > 0 && ncpu < 4096 ? (int)ncpu : 1;
    char *path = NULL;
    gguf_file *g = NULL;
    pull_header hub = { 0 };
    pull_params pp = { 0 };
    fit_model m;
    fit_memory mem;
    fit_report r;
    hearth_error err;
    int rc = 1;
    hearth_status st;
    if (strncmp(model, "hf:", 3) == 0) {
        st = pull_gguf_header(model, &pp, &hub, &err);
        g = hub.gguf;
        hub.gguf = NULL;
    } else {
        st = hub_resolve_model(model, &path, &err);
        if (!st)
            st = gguf_open(&g, path, &err);
    }
    if (st || fit_model_from_gguf(g, &m, &err) || fit_read_meminfo("/proc/meminfo", &mem, &err) ||
        fit_compute(&m, p, &mem, bw >= 0 ? bw : bandwidth(), &r, &err)) {
        fprintf(stderr, "hearth fit: %s\n", err.msg);
    } else {
        fit_gpu gpus[FIT_MAX_GPUS];
        int n_gpus = fit_detect_gpus(gpus, FIT_MAX_GPUS);
        rc = json ? print_json(model, &m, &r, gpus, n_gpus)
                  : (print_text(model, &m, &r, gpus, n_gpus), 0);
    }
    gguf_close(g);
    pull_header_free(&hub);
    mem_free(path);
    return rc;
}
