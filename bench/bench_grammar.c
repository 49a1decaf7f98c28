/*
 * bench_grammar.c — what constrained sampling costs: generation tokens/s with and without
 * a JSON schema on the same model, plus the time of one uncached token mask.
 *
 *   bench_grammar MODEL [TOKENS [THREADS [TEMP]]]        defaults: 128 tokens, 2 threads, 1.0
 *
 * Free and constrained runs alternate, 5 of each, and the best of each is reported, both
 * per second of wall time and per second of CPU time (which is steadier on a busy machine).
 *
 * Both runs generate exactly TOKENS tokens from the same prompt (the free run ignores
 * end-of-generation tokens; the schema — an array of at least 1000 objects with string
 * fields — cannot end sooner), so the difference is the cost of the grammar: checking
 * each sampled token, and masking the vocabulary when the check fails (with random weights,
 * most of the time at structural positions). The mask itself is timed on a fresh matcher,
 * so its cache does not help, in three states: the start, inside a string, after a value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "generate/generate.h"
#include "generate/json_schema.h"

static const char schema[] =
    "{\"type\":\"array\",\"minItems\":1000,\"items\":{\"type\":\"object\",\"properties\":"
    "{\"name\":{\"type\":\"string\"},\"score\":{\"type\":\"number\"},\"tags\":{\"type\":\"array\","
    "\"items\":{\"type\":\"string\"}}},\"required\":[\"name\",\"score\",\"tags\"],"
    "\"additionalProperties\":false}}";

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* One run: tokens per second of wall time; *cpu_tps per second of CPU time (all threads,
 * the prompt's share taken out). */
static double run(gen_session *s, const tok_ids *prompt, const grm_grammar *g, int n, float temp,
                  int seed, int *n_gen, double *cpu_tps)
{
    gen_params p = gen_default_params();
    p.sampling.temperature = temp;
    p.sampling.seed = (uint64_t)seed;
    p.n_predict = n;
    p.ignore_eog = true;
    p.grammar = g;
    gen_stats st;
    hearth_error err;
    gen_session_reset(s);
    double c0 = cpu_ms();
    if (gen_run(s, prompt->v, prompt->n, &p, NULL, NULL, &st, &err) != HEARTH_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        exit(1);
    }
    double cpu = cpu_ms() - c0;
    *cpu_tps = st.n_gen * 1e3 / (cpu * st.gen_ms / (st.prompt_ms + st.gen_ms));
    *n_gen = st.n_gen;
    return st.n_gen * 1e3 / st.gen_ms;
}

/* Microseconds of one uncached mask after text (best of 5). */
static double mask_us(const grm_grammar *g, const grm_vocab *gv, const char *text, int n_vocab)
{
    float *l = mem_calloc((size_t)n_vocab, sizeof *l);
    double best = 1e30;
    for (int rep = 0; rep < 5 && l; rep++) {
        grm_matcher *m;
        if (grm_matcher_new(&m, g, gv, NULL) != HEARTH_OK ||
            grm_accept_bytes(m, text, strlen(text), NULL) != HEARTH_OK)
            exit(1);
        double t0 = now_ms();
        grm_mask(m, l, NULL);
        double us = (now_ms() - t0) * 1e3;
        best = us < best ? us : best;
        grm_matcher_free(m);
    }
    mem_free(l);
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_grammar MODEL [TOKENS [THREADS [TEMP]]]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 128;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_threads = argc > 3 ? atoi(argv[3]) : 2;
    float temp = argc > 4 ? (float)atof(argv[4]) : 1.0f;
    cp.n_ctx = n + 64;
    gen_model *m;
    gen_session *s;
    grm_grammar *g;
    hearth_error err;
    tok_ids prompt = { 0 };
    if (gen_model_open(&m, argv[1], llm_model_default_params(), &err) ||
        gen_session_new(&s, m->llm, m->vocab, cp, &err) ||
        jsch_grammar(&g, schema, strlen(schema), "bench schema", &err) ||
        tok_encode(m->vocab, "A list of people as JSON:", 25, true, false, &prompt, &err)) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    int n_vocab = llm_model_hparams(m->llm)->n_vocab, n_free, n_schema;
    double t0 = now_ms();
    grm_vocab *gv;
    if (grm_vocab_new(&gv, m->vocab, n_vocab, &err)) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    double trie_ms = now_ms() - t0;
    double free_tps = 0, schema_tps = 0, free_cpu = 0, schema_cpu = 0, c;
    run(s, &prompt, NULL, 8, temp, 1, &n_free, &c); /* warm up */
    for (int rep = 0; rep < 5; rep++) { /* interleaved, best of 5 */
        double t = run(s, &prompt, NULL, n, temp, 42 + rep, &n_free, &c);
        free_tps = t > free_tps ? t : free_tps;
        free_cpu = c > free_cpu ? c : free_cpu;
        t = run(s, &prompt, g, n, temp, 42 + rep, &n_schema, &c);
        schema_tps = t > schema_tps ? t : schema_tps;
        schema_cpu = c > schema_cpu ? c : schema_cpu;
    }
    printf("model %s: vocabulary %d, %d threads, temperature %.1f\n", argv[1], n_vocab,
           cp.n_threads, temp);
    printf("  free text:   %4d tokens  %8.1f tok/s (wall)  %8.1f tok/s (CPU time)\n", n_free,
           free_tps, free_cpu);
    printf("  JSON schema: %4d tokens  %8.1f tok/s (wall)  %8.1f tok/s (CPU time)   cost %+.1f %% "
           "wall, %+.1f %% CPU\n", n_schema, schema_tps, schema_cpu, (free_tps / schema_tps - 1) * 100,
           (free_cpu / schema_cpu - 1) * 100);
    printf("  token trie built in %.1f ms; one uncached mask: start %.0f us, in a string "
           "%.0f us, after a value %.0f us\n", trie_ms,
           mask_us(g, gv, "", n_vocab), mask_us(g, gv, "[{\"name\":\"Jo", n_vocab),
           mask_us(g, gv, "[{\"name\":\"Jo\",\"score\":1.5", n_vocab));
    grm_vocab_free(gv);
    grm_free(g);
    tok_ids_free(&prompt);
    gen_session_free(s);
    gen_model_free(m);
    return 0;
}
