/*
 * loader.h — what the GGUF model loaders (llama.c, bert.c) share: metadata integers
 * checked for range, tensors found by name and checked for shape, vectors as F32 (converted
 * once where a file stores them otherwise, into memory the model owns), and weight matrices
 * used in place from the mapped file. A file is hostile input: every missing key or tensor,
 * wrong shape or unsupported type is an error naming the file and what is wrong.
 */
#ifndef HEARTH_MODELS_LOADER_H
#define HEARTH_MODELS_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/gguf.h"

/* A weight matrix: `rows` rows of `cols` values of `type`, row-major (data NULL: absent). */
typedef struct mdl_weight {
    const void *data;
    int type;
    int rows, cols;
} mdl_weight;

/* Allocations a model makes at load and frees with itself. */
typedef struct mdl_owned {
    void **p;
    int n;
} mdl_owned;

typedef struct mdl_loader {
    const gguf_file *g;
    const char *arch;      /* the prefix of the model's metadata keys */
    mdl_owned *owned;
    hearth_error *err;
} mdl_loader;

/* The integer ARCH.suffix into *out (def when absent and not required); values below min or
 * above 2^24 are refused. */
hearth_status mdl_get_u32(const mdl_loader *L, const char *suffix, bool required, int def,
                          int min, int *out);
/* Refuse a block_count larger than the file's tensor count (every block has tensors of its
 * own): a loader allocates its layers before it looks for them, and a hostile count of 2^24
 * would have it allocate gigabytes only to find the first block missing. */
hearth_status mdl_check_layers(const mdl_loader *L, int n_layer);
/* The tensor `name` of n_dims (1 or 2) dimensions [ne0, ne1]; NULL when absent (an error in
 * *st only if required) or of another shape (always an error in *st). */
const gguf_tensor *mdl_find(const mdl_loader *L, const char *name, int n_dims, int64_t ne0,
                            int64_t ne1, bool required, hearth_status *st);
/* A vector of n values (norm weight, bias) as F32; NULL when absent or on error (*st). */
const float *mdl_load_vec(const mdl_loader *L, const char *name, int64_t n, bool required,
                          hearth_status *st);
/* A matrix of `rows` rows of `cols` values, in place (absent and not required: w->data stays
 * NULL). Tables whose rows are only looked up (embeddings) need no dot kernel. */
hearth_status mdl_load_matrix(const mdl_loader *L, mdl_weight *w, const char *name,
                              int64_t cols, int64_t rows, bool required, bool lookup_only);

/* p, now owned by o (freed at once, and NULL returned, when o cannot grow). */
void *mdl_own(mdl_owned *o, void *p);
void mdl_owned_free(mdl_owned *o);

#endif
