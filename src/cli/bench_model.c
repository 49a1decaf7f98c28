/*
 * bench_model.c — `hearth bench MODEL`: prompt-processing and generation speed.
 *
 * Measured the way llama.cpp's llama-bench measures, so the numbers compare: prompt
 * processing evaluates -p random tokens as one batch on an empty cache; generation
 * produces -n tokens one at a time, also from an empty cache. Each is repeated -r times
 * and reported as mean ± standard deviation in tokens/s. Generation reads every weight once
 * per token, so the run also measures memory bandwidth and reports generation speed as a
 * fraction of the bandwidth bound (bandwidth / bytes read per token). On a shared machine
 * the bandwidth moves by half within minutes, and from one 10 ms pass to the next, so it is
 * measured during every repetition: a short probe every PROBE_EVERY generated tokens and
 * one at the end, outside the timed steps, reading the model's own mapped weights (no
 * allocation: the peak memory figure stays the model's). Each repetition's speed is set
 * against the mean rate of its probes, an average over the same stretch of time as the
 * tokens' (the best single pass, also shown, is what the memory gives in the quietest
 * moment). Models under PROBE_MIN bytes, which a large cache could hold, get one probe on
 * a buffer of their own at the end instead.
 *
 * Time to first token is the prompt batch plus the first generated step after it (at
 * position pp), as a user of `hearth run` waits for it. Peak memory is the process's
 * maximum resident set (getrusage), which counts the mapped weight pages once touched, and
 * is shown next to its budget: the weights file plus the KV cache.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "formats/gguf.h"
#include "hub/registry.h"
#include "models/llama.h"
#include "tensor/kernels.h"
#include "tensor/membw.h"
#include "tensor/pool.h"

typedef struct stat_acc {
    double sum, sumsq;
    int n;
} stat_acc;

static void acc_add(stat_acc *a, double v)
{
    a->sum += v;
    a->sumsq += v * v;
    a->n++;
}

static double acc_mean(const stat_acc *a)
{
    return a->n ? a->sum / a->n : 0;
}

static double acc_std(const stat_acc *a)
{
    if (a->n < 2)
        return 0;
    double m = acc_mean(a), var = (a->sumsq - a->n * m * m) / (a->n - 1);
    return var > 0 ? sqrt(var) : 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static size_t file_weight_bytes(const gguf_file *g, uint64_t *params)
{
    size_t bytes = 0;
    *params = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++)
            n *= (uint64_t)t->ne[d];
        *params += n;
        bytes += t->nbytes;
    }
    return bytes;
}

/* Weights that far exceed any last-level cache can serve as the bandwidth probe's buffer;
 * each probe reads PROBE_BYTES of them (about 4 ms at 35 GB/s) every PROBE_EVERY generated
 * tokens (0.1-0.5 s on a 1B model) and after the repetition. Short, frequent probes follow
 * the host's swings (25-50 GB/s, lasting a second or so) better than a few long ones: on
 * the 1B models 2 passes of 256 MB every 16 tokens left the share at 85 +- 13 % (Q4_0)
 * and 108 +- 19 % (Q8_0) over 5 repetitions, one pass of 128 MB every 4 tokens 77 +- 6 %
 * and 101 +- 8 % over 3. */
#define PROBE_MIN ((size_t)256 << 20)
#define PROBE_BYTES ((size_t)128 << 20)
#define PROBE_PASSES 1
#define PROBE_EVERY 4

/* The bandwidth probes of one repetition, on the model's mapped weights. */
typedef struct probe {
    tq_pool *pool;        /* NULL: the model is too small to be its own probe */
    const uint8_t *buf;
    double bytes, secs;   /* all probes of the repetition: bytes read, time taken */
    double best;          /* fastest single pass, GB/s */
    int n;                /* probes taken */
} probe;

static void probe_read(probe *p)
{
    if (!p->pool)
        return;
    tq_bandwidth r = tq_measure_read_bandwidth(p->pool, p->buf, PROBE_BYTES, PROBE_PASSES);
    if (r.mean_gbs <= 0)
        return;
    double bytes = (double)PROBE_BYTES * PROBE_PASSES;
    p->bytes += bytes;
    p->secs += bytes / (r.mean_gbs * 1e9);
    if (r.best_gbs > p->best)
        p->best = r.best_gbs;
    p->n++;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024.0 : 0;
}

/* One repetition: pp tokens as a batch and the first step after them (time to first
 * token), then tg tokens one by one from position 0, with a bandwidth probe every
 * PROBE_EVERY tokens and at the end (outside the timed steps). */
static hearth_status run_rep(llm_ctx *c, int n_vocab, int pp, int tg, int32_t *tok,
                             int32_t *pos, float *logits, probe *pr, double *pp_s,
                             double *ttft_s, double *tg_s, hearth_error *err)
{
    for (int i = 0; i < pp; i++) {
        tok[i] = (int32_t)((i * 2654435761u) % (unsigned)n_vocab);
        pos[i] = i;
    }
    hearth_status st = HEARTH_OK;
    double t0 = now_s();
    if (pp > 0)
        st = llm_decode(c, pp, tok, pos, NULL, NULL, logits, err);
    *pp_s = now_s() - t0;
    if (pp > 0 && !st)
        st = llm_decode(c, 1, &tok[0], &pp, NULL, NULL, logits, err);
    *ttft_s = now_s() - t0;
    *tg_s = 0;
    for (int i = 0; i < tg && !st; i++) {
        if (pr && i > 0 && i % PROBE_EVERY == 0)
            probe_read(pr);
        t0 = now_s();
        st = llm_decode(c, 1, &tok[i % (pp > 0 ? pp : 1)], &i, NULL, NULL, logits, err);
        *tg_s += now_s() - t0;
    }
    if (pr && !st)
        probe_read(pr);
    return st;
}

int bench_model(const char *path, int pp, int tg, int threads, int reps, bool json)
{
    hearth_error err;
    gguf_file *g = NULL;
    llm_model *m = NULL;
    llm_ctx *c = NULL;
    int32_t *tok = NULL, *pos = NULL;
    float *logits = NULL;
    int rc = 1;
    char *model_path = NULL;
    if (hub_resolve_model(path, &model_path, &err) || gguf_open(&g, model_path, &err) || llm_model_load(&m, g, llm_model_default_params(), &err)) {
        fprintf(stderr, "hearth bench: %s\n", err.msg);
        goto done;
    }
    const llm_hparams *hp = llm_model_hparams(m);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = pp + tg + 1;
    cp.n_batch = pp > 0 ? pp : 1;
    cp.n_threads = threads;
    int nb = pp > tg ? pp : tg;
    tok = mem_calloc((size_t)nb + 1, sizeof *tok);
    pos = mem_calloc((size_t)nb + 1, sizeof *pos);
    logits = mem_calloc((size_t)hp->n_vocab, sizeof *logits);
    if (!tok || !pos || !logits || llm_ctx_new(&c, m, cp, &err)) {
        fprintf(stderr, "hearth bench: %s\n", tok && pos && logits ? err.msg : "out of memory");
        goto done;
    }
    uint64_t params;
    size_t file_bytes = file_weight_bytes(g, &params), step_bytes = llm_model_step_bytes(m);

    /* warm-up: touch every weight page and spin the threads up */
    double a, b, f;
    if (run_rep(c, hp->n_vocab, pp < 16 ? pp : 16, 2, tok, pos, logits, NULL, &a, &f, &b,
                &err)) {
        fprintf(stderr, "hearth bench: %s\n", err.msg);
        goto done;
    }
    /* the probes read the first part's weights (the whole file unless the model is split) */
    size_t weights = g->map.size > g->data_offset ? g->map.size - g->data_offset : 0;
    tq_pool *probe_pool = weights >= PROBE_MIN ? tq_pool_new(threads) : NULL;
    stat_acc pp_acc = { 0 }, tg_acc = { 0 }, ttft_acc = { 0 }, bw_acc = { 0 }, frac_acc = { 0 };
    double bw_best = 0;
    int probes = 0;
    for (int r = 0; r < reps; r++) {
        double pp_s, ttft_s, tg_s;
        probe pr = { .pool = probe_pool, .buf = g->map.data + g->data_offset };
        if (run_rep(c, hp->n_vocab, pp, tg, tok, pos, logits, &pr, &pp_s, &ttft_s, &tg_s,
                    &err)) {
            fprintf(stderr, "hearth bench: %s\n", err.msg);
            tq_pool_free(probe_pool);
            goto done;
        }
        if (pp > 0) {
            acc_add(&pp_acc, pp / pp_s);
            acc_add(&ttft_acc, ttft_s);
        }
        if (tg > 0)
            acc_add(&tg_acc, tg / tg_s);
        if (pr.n > 0) {
            double bw_r = pr.bytes / pr.secs / 1e9;
            acc_add(&bw_acc, bw_r);
            if (tg > 0 && step_bytes)
                acc_add(&frac_acc, tg / tg_s / (bw_r * 1e9 / (double)step_bytes));
            if (pr.best > bw_best)
                bw_best = pr.best;
            probes += pr.n;
        }
    }
    tq_pool_free(probe_pool);
    double peak = peak_rss_bytes();
    /* K and V, F16, every layer, every position of the context */
    double kv = 2.0 * hp->n_layer * (double)cp.n_ctx * hp->n_head_kv * hp->head_dim * 2.0;
    tq_pool *pool = tq_pool_new(threads);
    int nth = pool ? tq_pool_size(pool) : 1;
    if (bw_acc.n == 0) {
        double bw1 = pool ? tq_measure_bandwidth(pool, PROBE_MIN) : 0;
        acc_add(&bw_acc, bw1);
        bw_best = bw1;
        probes = 1;
        if (bw1 > 0 && step_bytes)
            acc_add(&frac_acc, acc_mean(&tg_acc) / (bw1 * 1e9 / (double)step_bytes));
    }
    tq_pool_free(pool);
    double bw = acc_mean(&bw_acc);
    double bound = step_bytes ? bw * 1e9 / (double)step_bytes : 0;
    double frac = acc_mean(&frac_acc);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", path);
        cJSON_AddStringToObject(o, "arch", hp->arch);
        cJSON_AddNumberToObject(o, "params", (double)params);
        cJSON_AddNumberToObject(o, "bytes", (double)file_bytes);
        cJSON_AddNumberToObject(o, "step_bytes", (double)step_bytes);
        cJSON_AddNumberToObject(o, "threads", nth);
        cJSON_AddStringToObject(o, "kernels", tq_kernels_best()->name);
        cJSON_AddNumberToObject(o, "reps", reps);
        cJSON_AddNumberToObject(o, "pp", pp);
        cJSON_AddNumberToObject(o, "pp_tps", acc_mean(&pp_acc));
        cJSON_AddNumberToObject(o, "pp_tps_std", acc_std(&pp_acc));
        cJSON_AddNumberToObject(o, "ttft_s", acc_mean(&ttft_acc));
        cJSON_AddNumberToObject(o, "ttft_s_std", acc_std(&ttft_acc));
        cJSON_AddNumberToObject(o, "tg", tg);
        cJSON_AddNumberToObject(o, "tg_tps", acc_mean(&tg_acc));
        cJSON_AddNumberToObject(o, "tg_tps_std", acc_std(&tg_acc));
        cJSON_AddNumberToObject(o, "bandwidth_gbs", bw);
        cJSON_AddNumberToObject(o, "bandwidth_gbs_std", acc_std(&bw_acc));
        cJSON_AddNumberToObject(o, "bandwidth_best_gbs", bw_best);
        cJSON_AddNumberToObject(o, "bandwidth_probes", probes);
        cJSON_AddNumberToObject(o, "tg_bound_tps", bound);
        cJSON_AddNumberToObject(o, "tg_fraction_of_bound", frac);
        cJSON_AddNumberToObject(o, "tg_fraction_of_bound_std", acc_std(&frac_acc));
        cJSON_AddNumberToObject(o, "peak_rss_bytes", peak);
        cJSON_AddNumberToObject(o, "kv_cache_bytes", kv);
        char *s = cJSON_Print(o);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        printf("model       %s (%s, %.2fB parameters, %.2f GiB of weights)\n", path, hp->arch,
               params / 1e9, file_bytes / 1073741824.0);
        printf("threads     %d, %d repetition%s, %s kernels\n", nth, reps, reps == 1 ? "" : "s",
               tq_kernels_best()->name);
        if (pp > 0)
            printf("pp%-8d  %8.2f ± %.2f tokens/s\n", pp, acc_mean(&pp_acc), acc_std(&pp_acc));
        if (pp > 0)
            printf("ttft        %8.3f ± %.3f s to the first token after a %d-token prompt\n",
                   acc_mean(&ttft_acc), acc_std(&ttft_acc), pp);
        if (tg > 0)
            printf("tg%-8d  %8.2f ± %.2f tokens/s\n", tg, acc_mean(&tg_acc), acc_std(&tg_acc));
        if (probes > 1)
            printf("memory      %.1f ± %.1f GB/s read by %d probes between generated tokens "
                   "(best pass %.1f); a step reads %.1f MB, so at most %.1f tokens/s\n", bw,
                   acc_std(&bw_acc), probes, bw_best, step_bytes / 1e6, bound);
        else
            printf("memory      %.1f GB/s measured once; a step reads %.1f MB, so at most "
                   "%.1f tokens/s\n", bw, step_bytes / 1e6, bound);
        if (tg > 0)
            printf("generation  %.0f ± %.0f%% of the bandwidth bound%s\n", 100 * frac,
                   100 * acc_std(&frac_acc),
                   frac_acc.n > 1 ? " (each repetition against the probes taken during it)"
                                  : "");
        printf("peak memory %.1f MiB resident (weights file %.1f MiB + KV cache %.1f MiB = "
               "%.0f%% of that)\n", peak / 1048576, file_bytes / 1048576.0, kv / 1048576,
               100 * peak / (file_bytes + kv));
    }
    rc = 0;
done:
    mem_free(tok);
    mem_free(pos);
    mem_free(logits);
    llm_ctx_free(c);
    llm_model_free(m);
    gguf_close(g);
    mem_free(model_path);
    return rc;
}
