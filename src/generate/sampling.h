/*
 * sampling.h — choosing the next token from a vector of logits.
 *
 * The chain, in order (the order llama.cpp's default sampler uses, so settings mean the
 * same thing in both):
 *   logit bias → repetition / presence / frequency penalties → (temperature 0: argmax)
 *   → top-k → top-p → min-p → temperature → draw from the distribution.
 * Filters are computed on the penalised logits before temperature; temperature then reshapes
 * what is left. Draws use a seeded xoshiro256** generator, so a seed reproduces a run.
 * A sampler owns its candidate buffer (allocated once) and the recent-token history the
 * penalties look at; smp_sample allocates nothing.
 */
#ifndef HEARTH_GENERATE_SAMPLING_H
#define HEARTH_GENERATE_SAMPLING_H

#include <stdint.h>

#include "base/error.h"

typedef struct smp_logit_bias {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} smp_logit_bias;

typedef struct smp_params {
    float temperature;       /* <= 0: greedy (argmax after bias and penalties) */
    int top_k;               /* keep the k most likely; <= 0: off */
    float top_p;             /* keep the smallest set with cumulative p >= top_p; >= 1: off */
    float min_p;             /* drop tokens with p < min_p * p_max; <= 0: off */
    float repeat_penalty;    /* divide positive / multiply negative logits of recent tokens; 1: off */
    int penalty_last_n;      /* how many recent tokens the penalties look at (0: none) */
    float presence_penalty;  /* subtracted once from any recent token's logit */
    float frequency_penalty; /* subtracted per occurrence */
    uint64_t seed;
    const smp_logit_bias *logit_bias;
    int n_logit_bias;
} smp_params;

smp_params smp_default_params(void);

typedef struct smp_sampler smp_sampler;

/* Validates params (ranges, bias token ids) and allocates. */
hearth_status smp_new(smp_sampler **out, const smp_params *p, int n_vocab, hearth_error *err);
void smp_free(smp_sampler *s);
/* Choose a token. logits (n_vocab floats) is used as scratch and modified. */
int32_t smp_sample(smp_sampler *s, float *logits);
/* Record a token of the context (prompt or generated) for the penalties. */
void smp_accept(smp_sampler *s, int32_t token);
/* Forget the history (a new conversation); keeps the random state. */
void smp_reset(smp_sampler *s);

/* log-softmax of logits into out (for logprobs), numerically stable. */
void smp_log_softmax(const float *logits, float *out, int n);

#endif
