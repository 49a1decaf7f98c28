/*
 * bert.h — encoder transformers that turn text into sentence embeddings: bert, nomic-bert.
 *
 *   bert        MiniLM, BGE, E5: token + token-type + absolute position embeddings, layer
 *               norm after each sub-layer, separate q/k/v with biases, GELU feed-forward
 *   nomic-bert  nomic-embed-text: rotary positions (NeoX pairs) instead of position
 *               embeddings, one fused qkv matrix, gated SiLU feed-forward, no biases
 *
 * Attention is bidirectional (every token sees every token of its own text). Many texts are
 * encoded in one batch: their tokens are packed one after the other and attention is limited
 * to each text's block, so the matrix products run over all tokens at once. The pooled
 * output (mean, CLS or last token, as bert.pooling_type says) is returned before
 * normalisation, as llama.cpp's embeddings are.
 *
 * A bert_model is immutable after loading and may be shared; a bert_ctx (buffers and the
 * thread pool) belongs to one thread at a time.
 */
#ifndef HEARTH_MODELS_BERT_H
#define HEARTH_MODELS_BERT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/gguf.h"

enum bert_pooling { BERT_POOL_NONE = 0, BERT_POOL_MEAN = 1, BERT_POOL_CLS = 2, BERT_POOL_LAST = 3 };

typedef struct bert_hparams {
    char arch[32];     /* "bert", "nomic-bert" */
    int n_vocab;
    int n_ctx_train;   /* most tokens in one text */
    int n_embd;
    int n_layer;
    int n_head;
    int n_ff;
    int n_token_types;
    bool rope;         /* rotary positions (nomic-bert) instead of position embeddings */
    float rope_base;
    float norm_eps;
    int pooling;       /* enum bert_pooling; NONE in the file means mean */
} bert_hparams;

typedef struct bert_model bert_model;
typedef struct bert_ctx bert_ctx;

/* Load the encoder in g (which must outlive the model). Refuses other architectures and
 * weight types it cannot run, naming them. */
hearth_status bert_model_load(bert_model **out, const gguf_file *g, hearth_error *err);
void bert_model_free(bert_model *m);
const bert_hparams *bert_model_hparams(const bert_model *m);

/* Buffers for batches of up to n_batch tokens (<= 0: 2048, at least n_ctx_train) and a
 * pool of n_threads threads (<= 0: one per CPU). */
hearth_status bert_ctx_new(bert_ctx **out, const bert_model *m, int n_batch, int n_threads,
                           hearth_error *err);
void bert_ctx_free(bert_ctx *c);
int bert_ctx_n_batch(const bert_ctx *c);

/* Encode n texts given as token ids (tokens[i][0..len[i]), 1 <= len[i] <= n_ctx_train,
 * sum of len <= n_batch) and write each pooled embedding (n_embd floats, not normalised)
 * to out + i * n_embd. Errors: empty or too long texts, ids outside the vocabulary. */
hearth_status bert_encode(bert_ctx *c, int n, const int32_t *const *tokens, const int *len,
                          float *out, hearth_error *err);

#endif
