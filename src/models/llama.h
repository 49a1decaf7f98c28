/*
 * llama.h — decoder-only transformer language models: llama, qwen2, qwen3.
 *
 * An llm_model is immutable after loading: hyper-parameters plus pointers to the weights in
 * the memory-mapped GGUF file, shared by any number of contexts. An llm_ctx is one run's
 * mutable state: the KV cache (F16, allocated once), activation buffers sized for the
 * largest batch, and the thread pool. A batch is any set of (token, position, sequence)
 * triples: a prompt (many tokens of one sequence) and a generation step of several
 * sequences (one token each) go through the same forward pass.
 */
#ifndef HEARTH_MODELS_LLAMA_H
#define HEARTH_MODELS_LLAMA_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/gguf.h"

typedef struct llm_model llm_model;
typedef struct llm_ctx llm_ctx;

typedef struct llm_hparams {
    char arch[32];        /* "llama", "qwen2", "qwen3" */
    int n_vocab;
    int n_ctx_train;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;         /* key/value head size */
    int n_ff;
    int n_rot;            /* dimensions rotated by RoPE */
    bool rope_neox;       /* rotate (i, i + n_rot/2) pairs instead of adjacent ones */
    float rope_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
    float norm_eps;
} llm_hparams;

typedef struct llm_model_params {
    /* Dequantize every weight to F32 at load (float math end to end). For checking the
     * forward pass against float references; costs memory and speed. */
    bool dequantize_all;
} llm_model_params;

llm_model_params llm_model_default_params(void);

/* Load the model in gguf (which must outlive the model). Refuses architectures and weight
 * types it cannot run, naming them. */
hearth_status llm_model_load(llm_model **out, const gguf_file *gguf, llm_model_params params,
                             hearth_error *err);
void llm_model_free(llm_model *m);
const llm_hparams *llm_model_hparams(const llm_model *m);
/* Bytes of weights one generation step reads: every matrix and vector except the
 * embedding table, of which only one row is read (unless it doubles as the output). */
size_t llm_model_step_bytes(const llm_model *m);

typedef struct llm_ctx_params {
    int n_ctx;      /* positions per sequence (default: min(training context, 4096)) */
    int n_seq;      /* independent sequences sharing the context (default 1) */
    int n_batch;    /* most tokens per llm_decode call (default 512) */
    int n_threads;  /* <= 0: one per CPU */
    int kv_type;    /* KV cache type: TQ_F16 (default) or TQ_Q8_0 (half the memory; needs
                       a head size that is a multiple of 32) */
} llm_ctx_params;

llm_ctx_params llm_ctx_default_params(void);
hearth_status llm_ctx_new(llm_ctx **out, const llm_model *m, llm_ctx_params params,
                          hearth_error *err);
void llm_ctx_free(llm_ctx *c);
int llm_ctx_n_ctx(const llm_ctx *c);
/* Bytes of the KV cache (keys and values) llm_ctx_new allocates for m with params, its
 * defaults filled in as it does, before allocating anything: what a memory budget must
 * count. 0 for params llm_ctx_new refuses (it says why). */
size_t llm_ctx_kv_bytes(const llm_model *m, llm_ctx_params params);
/* The same for the KV cache c holds. */
size_t llm_ctx_kv_held(const llm_ctx *c);

/* One forward pass over n tokens. Token i goes to sequence seq[i] (NULL: all 0) at
 * position pos[i]; a sequence's positions must be consecutive with what its cache holds
 * (its KV entries 0..pos-1 are used). Logits are written for every i with want[i] != 0
 * (want NULL: only the last token), packed in order into `logits` (n_vocab floats each).
 * Errors: positions past n_ctx (HEARTH_ERR_RANGE), token ids out of range, n > n_batch. */
hearth_status llm_decode(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                         const int32_t *seq, const uint8_t *want, float *logits,
                         hearth_error *err);

/* Like llm_decode, but writes the final-normed hidden state (n_embd floats) of each wanted
 * token instead of its logits: what decoder embedding models (Qwen3-Embedding) pool. */
hearth_status llm_decode_hidden(llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                                const int32_t *seq, const uint8_t *want, float *hidden,
                                hearth_error *err);

#endif
