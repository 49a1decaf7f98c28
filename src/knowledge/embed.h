/*
 * embed.h — the embedding service: texts in, unit-length vectors out.
 *
 * Pairs an encoder (models/bert.h) with its tokenizer. Texts are tokenized, truncated to
 * the model's context (keeping the closing [SEP]), packed into batches of many texts, and
 * each pooled vector is scaled to unit length, so a dot product is the cosine similarity.
 *
 * Retrieval models are trained with different prefixes for queries and documents
 * ("search_query: " for nomic-embed, a sentence-long instruction for BGE queries);
 * emb_params sets them, and emb_open picks nomic's when none are given for a nomic-bert
 * file. The identity string names the model well enough that a knowledge base built with
 * one model refuses vectors from another.
 *
 * An emb_model is used by one thread at a time.
 */
#ifndef HEARTH_KNOWLEDGE_EMBED_H
#define HEARTH_KNOWLEDGE_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct emb_model emb_model;

typedef struct emb_params {
    int n_threads;              /* <= 0: one per CPU */
    int n_batch;                /* tokens per forward pass; <= 0: 2048 */
    const char *query_prefix;   /* NULL: the model's default ("" for most) */
    const char *doc_prefix;     /* NULL: the model's default */
} emb_params;

emb_params emb_default_params(void);

enum emb_kind { EMB_QUERY, EMB_DOCUMENT };

/* Open an embedding model file (bert or nomic-bert GGUF). Errors name the file. */
hearth_status emb_open(emb_model **out, const char *path, const emb_params *p,
                       hearth_error *err);
void emb_free(emb_model *e);

int emb_dim(const emb_model *e);
/* Most tokens of one text, [CLS] and [SEP] included. */
int emb_max_tokens(const emb_model *e);
/* "ARCH:NAME:DIMd:BYTES", e.g. "bert:bge-small-en-v1.5:384d:133093856". */
const char *emb_identity(const emb_model *e);

/* Tokens in s[0..n) without special tokens (for the chunker; kn_count_fn-compatible). */
size_t emb_count_tokens(void *e, const char *s, size_t n);

/* Embed n texts (lens NULL: NUL-terminated) with the prefix for `kind`; out receives n
 * unit vectors of emb_dim floats. Texts longer than the context are truncated. */
hearth_status emb_encode(emb_model *e, int n, const char *const *texts, const size_t *lens,
                         enum emb_kind kind, float *out, hearth_error *err);

/* Like emb_encode but the pooled vectors as the model gives them (not normalised). */
hearth_status emb_encode_raw(emb_model *e, int n, const char *const *texts,
                             const size_t *lens, enum emb_kind kind, float *out,
                             hearth_error *err);

#endif
