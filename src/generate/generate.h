/*
 * generate.h — the text-generation service: prompt in, streamed tokens out.
 *
 * A gen_session pairs a loaded model and its tokenizer with one context (sequence 0) and
 * remembers which tokens its KV cache holds, so the next prompt that starts the same way
 * (the next turn of a chat) only evaluates what is new. gen_run evaluates the prompt in
 * batches, then samples one token per step until an end-of-generation token, a stop
 * string, the token limit, the end of the context, or the callback says stop. Text reaches
 * the callback as whole UTF-8 characters, with anything that might be the start of a stop
 * string held back until it is known not to be.
 */
#ifndef HEARTH_GENERATE_GENERATE_H
#define HEARTH_GENERATE_GENERATE_H

#include <stdbool.h>
#include <stddef.h>

#include "generate/grammar.h"
#include "generate/sampling.h"
#include "models/llama.h"
#include "tokenize/tokenizer.h"

#define GEN_MAX_PROBS 20

/* A language model ready to generate: the mapped file, the weights and the tokenizer. */
typedef struct gen_model {
    gguf_file *gguf;
    llm_model *llm;
    tok_vocab *vocab;
    const char *chat_template; /* tokenizer.chat_template, or NULL */
} gen_model;

/* Open a GGUF file and load its decoder and tokenizer; errors name the file and problem. */
hearth_status gen_model_open(gen_model **out, const char *path, llm_model_params mp,
                             hearth_error *err);
void gen_model_free(gen_model *m);

typedef struct gen_params {
    smp_params sampling;
    int n_predict;             /* most tokens to generate; < 0: no limit but the context */
    const char *const *stop;   /* stop strings (not included in the output) */
    int n_stop;
    bool ignore_eog;           /* keep going past end-of-generation tokens */
    int n_probs;               /* top log-probabilities to report per token, 0..GEN_MAX_PROBS */
    const grm_grammar *grammar; /* constrain the output to this grammar (NULL: free text);
                                   generation ends ("stop") once nothing more may follow */
} gen_params;

gen_params gen_default_params(void);

enum gen_finish {
    GEN_FINISH_EOG,       /* the model ended its turn */
    GEN_FINISH_STOP,      /* a stop string appeared */
    GEN_FINISH_LENGTH,    /* n_predict tokens were generated */
    GEN_FINISH_CONTEXT,   /* the context is full */
    GEN_FINISH_CANCELLED, /* the callback returned false */
};

const char *gen_finish_name(enum gen_finish f); /* "eog", "stop", "length", ... */

/* One generated token: its id, its log-probability under the model's distribution (before
 * sampling settings), and the n_top most likely alternatives. */
typedef struct gen_token {
    tok_id id;
    float logprob;
    int n_top;
    tok_id top_id[GEN_MAX_PROBS];
    float top_logprob[GEN_MAX_PROBS];
} gen_token;

/* Called once per generated token with the text that became visible (possibly empty),
 * and once more with tok == NULL if text held back for a possible stop string is released
 * at the end.
 * Return false to stop generating (GEN_FINISH_CANCELLED). */
typedef bool (*gen_callback)(void *user, const gen_token *tok, const char *text, size_t len);

/* Fill t->logprob (of t->id) and the n most likely tokens of logits (log-softmax into
 * work, n_vocab floats). */
void gen_fill_probs(const float *logits, float *work, int n_vocab, gen_token *t, int n);

typedef struct gen_stats {
    int n_prompt;       /* prompt tokens */
    int n_cached;       /* of which were already in the KV cache */
    int n_gen;          /* tokens generated */
    double prompt_ms;   /* time evaluating the prompt */
    double gen_ms;      /* time generating */
    enum gen_finish finish;
} gen_stats;

typedef struct gen_session gen_session;

hearth_status gen_session_new(gen_session **out, const llm_model *m, const tok_vocab *v,
                              llm_ctx_params cp, hearth_error *err);
void gen_session_free(gen_session *s);
/* Forget what the KV cache holds (a new conversation). */
void gen_session_reset(gen_session *s);
int gen_session_n_ctx(const gen_session *s);

/* Choose the next token from logits (n_vocab floats) with the sampler, constrained by the
 * grammar matcher gm when it is not NULL (gen_run and the batch scheduler share this).
 * work (n_vocab floats) is scratch. logits are left unchanged when keep_logits is set or a
 * grammar is given; otherwise they may be used as scratch. Advances neither gm nor the
 * sampler's history (call grm_accept and smp_accept). With a grammar: HEARTH_ERR_INVALID
 * when no token can continue the text, HEARTH_ERR_NOMEM. */
hearth_status gen_sample(smp_sampler *smp, grm_matcher *gm, float *logits, float *work,
                         int n_vocab, bool keep_logits, tok_id *id, hearth_error *err);

/* Generate a continuation of prompt[0..n_prompt). Errors: empty prompt, a prompt that
 * does not fit the context (leaving room for at least one generated token), bad params. */
hearth_status gen_run(gen_session *s, const tok_id *prompt, size_t n_prompt,
                      const gen_params *p, gen_callback cb, void *user, gen_stats *stats,
                      hearth_error *err);

#endif
