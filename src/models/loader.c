/*
 * loader.c — the GGUF loading steps llama.c and bert.c share (see loader.h).
 */
#include "models/loader.h"

#include <stdio.h>

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"

hearth_status mdl_get_u32(const mdl_loader *L, const char *suffix, bool required, int def,
                          int min, int *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    uint32_t v;
    if (!gguf_get_u32(L->g, key, &v)) {
        if (required)
            return err_set(L->err, HEARTH_ERR_FORMAT, "%s: missing metadata key %s",
                           L->g->path, key);
        *out = def;
        return HEARTH_OK;
    }
    if (v < (uint32_t)min || v > (1u << 24))
        return err_set(L->err, HEARTH_ERR_FORMAT, "%s: %s = %u is out of range", L->g->path,
                       key, v);
    *out = (int)v;
    return HEARTH_OK;
}

hearth_status mdl_check_layers(const mdl_loader *L, int n_layer)
{
    if ((uint64_t)n_layer > L->g->n_tensors)
        return err_set(L->err, HEARTH_ERR_FORMAT, "%s: %s.block_count = %d, but the file holds "
                       "only %llu tensors", L->g->path, L->arch, n_layer,
                       (unsigned long long)L->g->n_tensors);
    return HEARTH_OK;
}

const gguf_tensor *mdl_find(const mdl_loader *L, const char *name, int n_dims, int64_t ne0,
                            int64_t ne1, bool required, hearth_status *st)
{
    const gguf_tensor *t = gguf_find_tensor(L->g, name);
    if (!t) {
        if (required)
            *st = err_set(L->err, HEARTH_ERR_FORMAT, "%s: missing tensor %s", L->g->path, name);
        return NULL;
    }
    int64_t want[2] = { ne0, ne1 };
    bool ok = t->n_dims <= n_dims || (t->n_dims == 2 && n_dims == 1 && t->ne[1] == 1);
    for (int d = 0; d < 2 && ok; d++)
        ok = t->ne[d] == (d < n_dims ? want[d] : 1);
    for (int d = 2; d < GGUF_MAX_DIMS && ok; d++)
        ok = t->ne[d] == 1;
    if (!ok) {
        *st = err_set(L->err, HEARTH_ERR_FORMAT,
                      "%s: tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                      L->g->path, name, (long long)t->ne[0], (long long)t->ne[1],
                      (long long)t->ne[2], (long long)ne0, (long long)(n_dims > 1 ? ne1 : 1));
        return NULL;
    }
    return t;
}

const float *mdl_load_vec(const mdl_loader *L, const char *name, int64_t n, bool required,
                          hearth_status *st)
{
    const gguf_tensor *t = mdl_find(L, name, 1, n, 1, required, st);
    if (!t)
        return NULL;
    if (t->type == TQ_F32)
        return t->data;
    if (!tq_can_dequantize(t->type)) {
        *st = err_set(L->err, HEARTH_ERR_UNSUPPORTED, "%s: tensor %s has type %s, which hearth "
                      "does not support yet", L->g->path, name, tq_type_name(t->type));
        return NULL;
    }
    float *f = mdl_own(L->owned, mem_alloc((size_t)n * sizeof(float)));
    if (!f) {
        *st = err_set(L->err, HEARTH_ERR_NOMEM, "%s: out of memory", L->g->path);
        return NULL;
    }
    tq_dequantize(t->type, t->data, f, n);
    return f;
}

hearth_status mdl_load_matrix(const mdl_loader *L, mdl_weight *w, const char *name,
                              int64_t cols, int64_t rows, bool required, bool lookup_only)
{
    hearth_status st = HEARTH_OK;
    const gguf_tensor *t = mdl_find(L, name, 2, cols, rows, required, &st);
    if (!t)
        return st;
    if (!tq_can_dequantize(t->type) || (!lookup_only && tq_vec_dot_type(t->type) < 0))
        return err_set(L->err, HEARTH_ERR_UNSUPPORTED, "%s: tensor %s has type %s, which "
                       "hearth does not support yet", L->g->path, name, tq_type_name(t->type));
    *w = (mdl_weight){ .data = t->data, .type = t->type, .rows = (int)rows, .cols = (int)cols };
    return HEARTH_OK;
}

void *mdl_own(mdl_owned *o, void *p)
{
    if (!p)
        return NULL;
    void **list = mem_realloc_array(o->p, (size_t)o->n + 1, sizeof *list);
    if (!list) {
        mem_free(p);
        return NULL;
    }
    o->p = list;
    o->p[o->n++] = p;
    return p;
}

void mdl_owned_free(mdl_owned *o)
{
    for (int i = 0; i < o->n; i++)
        mem_free(o->p[i]);
    mem_free(o->p);
    *o = (mdl_owned){ 0 };
}
