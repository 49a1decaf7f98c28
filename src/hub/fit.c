/*
 * fit.c — memory needs of a model against this machine (see fit.h for the model).
 *
 * Every number comes from the file's own tensor table and metadata, so the estimate is as
 * exact as the runtime's allocations: the buffer formula follows llm_ctx_new's list.
 * Smaller weight types are suggested from bits per weight of each type's main block
 * (llama.cpp's mixes add a little for the tensors they keep at higher precision), so
 * those sizes are stated as approximate.
 */
#include "hub/fit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/matmul.h"
#include "tensor/types.h"

/* llama.cpp's general.file_type ids (enum llama_ftype) and their preset names. */
static const struct { int id; const char *name; } ftypes[] = {
    { 0, "F32" },     { 1, "F16" },      { 2, "Q4_0" },    { 3, "Q4_1" },    { 7, "Q8_0" },
    { 8, "Q5_0" },    { 9, "Q5_1" },     { 10, "Q2_K" },   { 11, "Q3_K_S" }, { 12, "Q3_K_M" },
    { 13, "Q3_K_L" }, { 14, "Q4_K_S" },  { 15, "Q4_K_M" }, { 16, "Q5_K_S" }, { 17, "Q5_K_M" },
    { 18, "Q6_K" },   { 19, "IQ2_XXS" }, { 20, "IQ2_XS" }, { 21, "Q2_K_S" }, { 22, "IQ3_XS" },
    { 23, "IQ3_XXS" }, { 24, "IQ1_S" },  { 25, "IQ4_NL" }, { 26, "IQ3_S" },  { 27, "IQ3_M" },
    { 28, "IQ2_S" },  { 29, "IQ2_M" },   { 30, "IQ4_XS" }, { 31, "IQ1_M" },  { 32, "BF16" },
    { 36, "TQ1_0" },  { 37, "TQ2_0" },
};

/* Smaller presets to suggest, largest first, with approximate bits per weight. */
static const struct { const char *name; double bpw; } presets[] = {
    { "Q8_0", 8.5 }, { "Q6_K", 6.5625 }, { "Q5_K_M", 5.7 }, { "Q4_K_M", 4.9 },
    { "Q3_K_M", 3.9 }, { "Q2_K", 3.0 },
};

void fit_weight_type(const gguf_file *g, char out[16])
{
    uint32_t ft;
    if (gguf_get_u32(g, "general.file_type", &ft))
        for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
            if (ftypes[i].id == (int)ft) {
                snprintf(out, 16, "%s", ftypes[i].name);
                return;
            }
    uint64_t bytes[TQ_TYPE_COUNT] = { 0 };
    int best = -1;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int t = g->tensors[i].type;
        bytes[t] += g->tensors[i].nbytes;
        if (best < 0 || bytes[t] > bytes[best])
            best = t;
    }
    snprintf(out, 16, "%s", best < 0 ? "none" : tq_type_name(best));
}

static bool get_int(const gguf_file *g, const char *arch, const char *key, int *out)
{
    char k[160];
    uint64_t v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!gguf_get_u64(g, k, &v) || v > (1u << 30))
        return false;
    *out = (int)v;
    return true;
}

hearth_status fit_model_from_gguf(const gguf_file *g, fit_model *m, hearth_error *err)
{
    memset(m, 0, sizeof *m);
    const char *arch = gguf_get_str(g, "general.architecture");
    if (!arch)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: no general.architecture", g->path);
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    if (!get_int(g, arch, "block_count", &m->n_layer) ||
        !get_int(g, arch, "embedding_length", &m->n_embd) ||
        !get_int(g, arch, "attention.head_count", &m->n_head) || m->n_head <= 0)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: %s model without block_count, "
                       "embedding_length or attention.head_count", g->path, arch);
    if (!get_int(g, arch, "attention.head_count_kv", &m->n_head_kv))
        m->n_head_kv = m->n_head;
    if (!get_int(g, arch, "attention.key_length", &m->head_dim))
        m->head_dim = m->n_embd / m->n_head;
    get_int(g, arch, "feed_forward_length", &m->n_ff);
    get_int(g, arch, "context_length", &m->n_ctx_train);
    uint64_t nv = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &nv))
        m->n_vocab = (int)nv;
    fit_weight_type(g, m->weight_type);

    const gguf_tensor *embd = gguf_find_tensor(g, "token_embd.weight");
    bool tied = gguf_find_tensor(g, "output.weight") == NULL;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            n *= (uint64_t)t->ne[d];
        m->params += n;
        m->weights_bytes += t->nbytes;
        if (t->n_dims == 2 && t != embd) {
            size_t s = tq_matmul_scratch_size(t->type, (int)t->ne[0], FIT_BATCH);
            if (s > m->scratch_bytes)
                m->scratch_bytes = s;
        }
    }
    if (!m->n_vocab && embd)
        m->n_vocab = (int)embd->ne[1];
    m->step_bytes = m->weights_bytes;
    if (embd && !tied)
        m->step_bytes -= embd->nbytes - tq_row_size(embd->type, embd->ne[0]);
    return HEARTH_OK;
}

fit_params fit_default_params(void)
{
    return (fit_params){ .n_ctx = 0, .n_parallel = 1, .kv_type = TQ_F16, .n_threads = 1 };
}

hearth_status fit_read_meminfo(const char *path, fit_memory *mem, hearth_error *err)
{
    memset(mem, 0, sizeof *mem);
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot read the machine's memory", path);
    char line[256];
    unsigned long long kb;
    bool total = false, avail = false;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            mem->total = kb * 1024, total = true;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            mem->available = kb * 1024, avail = true;
    }
    fclose(f);
    if (!total || !avail)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: no MemTotal/MemAvailable line", path);
    return HEARTH_OK;
}

uint64_t fit_kv_bytes(const fit_model *m, int n_ctx, int n_parallel, int kv_type)
{
    uint64_t row = tq_row_size(kv_type, (int64_t)m->n_head_kv * m->head_dim);
    return 2 * row * (uint64_t)n_ctx * (uint64_t)m->n_layer * (uint64_t)n_parallel;
}

uint64_t fit_buffer_bytes(const fit_model *m, const fit_params *p)
{
    uint64_t B = FIT_BATCH, D = (uint64_t)m->n_embd, F = (uint64_t)m->n_ff;
    uint64_t Q = (uint64_t)m->n_head * m->head_dim, KV = (uint64_t)m->n_head_kv * m->head_dim;
    uint64_t floats = B * (2 * D + (Q > D ? Q : D) + Q + 2 * KV + 2 * F) +
                      (uint64_t)p->n_threads * ((uint64_t)p->n_ctx + 2 * m->head_dim) +
                      (uint64_t)m->n_vocab * p->n_parallel;
    return 4 * floats + m->scratch_bytes;
}

fit_verdict fit_judge(uint64_t need, const fit_memory *mem)
{
    if (need + need / 10 <= mem->available)
        return FIT_FITS;
    return need <= mem->total ? FIT_TIGHT : FIT_NO;
}

static uint64_t need_for(const fit_model *m, fit_params p)
{
    return m->weights_bytes + fit_kv_bytes(m, p.n_ctx, p.n_parallel, p.kv_type) +
           fit_buffer_bytes(m, &p);
}

static void suggest(const fit_model *m, const fit_params *p, const fit_memory *mem,
                    fit_report *r)
{
    for (int ctx = 1 << 20; ctx >= 256; ctx /= 2) {
        fit_params q = *p;
        q.n_ctx = ctx;
        if (ctx < p->n_ctx && fit_judge(need_for(m, q), mem) == FIT_FITS) {
            r->suggest_ctx = ctx;
            break;
        }
    }
    if (p->kv_type == TQ_F16 && m->head_dim % 32 == 0) {
        fit_params q = *p;
        q.kv_type = TQ_Q8_0;
        r->suggest_q8_kv = fit_judge(need_for(m, q), mem) == FIT_FITS;
    }
    double bpw = m->params ? 8.0 * (double)m->weights_bytes / (double)m->params : 0;
    uint64_t rest = r->total_bytes - r->weights_bytes;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        uint64_t w = (uint64_t)((double)m->params * presets[i].bpw / 8);
        if (presets[i].bpw < bpw - 0.1 && fit_judge(w + rest, mem) == FIT_FITS) {
            snprintf(r->suggest_type, sizeof r->suggest_type, "%s", presets[i].name);
            r->suggest_type_bytes = w;
            break;
        }
    }
}

hearth_status fit_compute(const fit_model *m, fit_params p, const fit_memory *mem,
                          double bandwidth_gbs, fit_report *r, hearth_error *err)
{
    memset(r, 0, sizeof *r);
    if (p.n_ctx <= 0)
        p.n_ctx = m->n_ctx_train > 0 ? m->n_ctx_train : 4096;
    if (p.n_parallel < 1 || p.n_parallel > 1024 || p.n_ctx > (1 << 24) || p.n_threads < 1)
        return err_set(err, HEARTH_ERR_RANGE, "context %d × %d sequences is out of range",
                       p.n_ctx, p.n_parallel);
    if (p.kv_type != TQ_F16 && p.kv_type != TQ_Q8_0)
        return err_set(err, HEARTH_ERR_INVALID, "the KV cache type must be f16 or q8_0");
    if (m->head_dim % tq_traits_of(p.kv_type)->blck)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "a %s KV cache needs a head size that is a "
                       "multiple of %d (this model's is %d)", tq_type_name(p.kv_type),
                       tq_traits_of(p.kv_type)->blck, m->head_dim);
    r->params = p;
    r->weights_bytes = m->weights_bytes;
    r->kv_cache_bytes = fit_kv_bytes(m, p.n_ctx, p.n_parallel, p.kv_type);
    r->buffer_bytes = fit_buffer_bytes(m, &p);
    r->total_bytes = r->weights_bytes + r->kv_cache_bytes + r->buffer_bytes;
    r->memory_total = mem->total;
    r->available_bytes = mem->available;
    r->verdict = fit_judge(r->total_bytes, mem);
    r->bytes_per_token = m->step_bytes + r->kv_cache_bytes / (uint64_t)p.n_parallel;
    if (bandwidth_gbs > 0 && r->bytes_per_token)
        r->tokens_per_s = bandwidth_gbs * 1e9 / (double)r->bytes_per_token;
    if (r->verdict != FIT_FITS)
        suggest(m, &p, mem, r);
    return HEARTH_OK;
}

const char *fit_verdict_str(fit_verdict v)
{
    return v == FIT_FITS ? "fits" : v == FIT_TIGHT ? "tight" : "does not fit";
}

int fit_parse_nvidia_smi(const char *text, fit_gpu *gpus, int n, int max)
{
    while (*text && n < max) {
        size_t len = strcspn(text, "\n");
        char line[256];
        if (len < sizeof line) {
            memcpy(line, text, len);
            line[len] = '\0';
            /* "NAME, TOTAL, FREE": the name may hold spaces but not commas. */
            char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL, *e1, *e2;
            if (c2) {
                *c1 = '\0';
                unsigned long long total = strtoull(c1 + 1, &e1, 10);
                unsigned long long free_mib = strtoull(c2 + 1, &e2, 10);
                while (*e2 == ' ' || *e2 == '\r')
                    e2++;
                if (e1 > c1 + 1 && *e1 == ',' && *e2 == '\0' && total > 0 && free_mib <= total &&
                    total < (1ull << 40)) {
                    fit_gpu *g = &gpus[n++];
                    snprintf(g->name, sizeof g->name, "%.63s", line + strspn(line, " "));
                    g->mem.total = total << 20;
                    g->mem.available = free_mib << 20;
                }
            }
        }
        text += len;
        text += *text == '\n';
    }
    return n;
}

static bool read_u64(const char *path, uint64_t *v)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    unsigned long long x;
    bool ok = fscanf(f, "%llu", &x) == 1;
    fclose(f);
    *v = x;
    return ok;
}

int fit_read_drm(const char *root, fit_gpu *gpus, int n, int max)
{
    DIR *d = opendir(root);
    if (!d)
        return n;
    struct dirent *e;
    while (n < max && (e = readdir(d))) {
        /* cardN only: cardN-HDMI-A-1 and the like are connectors of the same card. */
        if (strncmp(e->d_name, "card", 4) || !e->d_name[4] ||
            strspn(e->d_name + 4, "0123456789") != strlen(e->d_name + 4))
            continue;
        char path[4096];
        uint64_t total, used;
        snprintf(path, sizeof path, "%s/%s/device/mem_info_vram_total", root, e->d_name);
        if (!read_u64(path, &total) || total == 0 || total >= (1ull << 50)) /* not a size */
            continue;
        snprintf(path, sizeof path, "%s/%s/device/mem_info_vram_used", root, e->d_name);
        if (!read_u64(path, &used) || used > total)
            continue;
        fit_gpu *g = &gpus[n++];
        snprintf(g->name, sizeof g->name, "AMD GPU (%.40s)", e->d_name);
        g->mem.total = total;
        g->mem.available = total - used;
    }
    closedir(d);
    return n;
}

int fit_detect_gpus(fit_gpu *gpus, int max)
{
    int n = 0;
    /* A fixed command line: nothing from the user reaches the shell. */
    FILE *p = popen("nvidia-smi --query-gpu=name,memory.total,memory.free "
                    "--format=csv,noheader,nounits 2>/dev/null", "r");
    if (p) {
        char text[4096];
        size_t len = fread(text, 1, sizeof text - 1, p);
        text[len] = '\0';
        pclose(p);
        n = fit_parse_nvidia_smi(text, gpus, n, max);
    }
    return fit_read_drm("/sys/class/drm", gpus, n, max);
}
