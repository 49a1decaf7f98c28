/*
 * sampling.c — see sampling.h for the chain and why it is in this order.
 *
 * Candidates are (id, logit) pairs. Top-k selects with a partial sort (a binary heap of
 * size k), so a 150k vocabulary costs O(V log k), not a full sort. Without top-k, nothing
 * is sorted unless top-p or min-p needs an order, and then only as far as needed: the top
 * 256 first, four times more while the cut could lie beyond them.
 */
#include "generate/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

typedef struct cand {
    int32_t id;
    float logit;
} cand;

struct smp_sampler {
    smp_params p;
    smp_logit_bias *bias; /* owned copy */
    int n_vocab;
    cand *c;              /* (n_vocab) */
    float *prob;          /* (n_vocab) */
    int32_t *hist;        /* ring of the last penalty_last_n tokens */
    int n_hist, hist_at;
    int32_t *count;       /* (n_vocab) occurrences within the ring */
    uint64_t rng[4];
};

smp_params smp_default_params(void)
{
    return (smp_params){
        .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .penalty_last_n = 64, .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f, .seed = 0x5eed,
    };
}

/* ---- xoshiro256**, seeded through splitmix64 -------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double next_unit(uint64_t s[4]) /* uniform in [0, 1) */
{
    return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

hearth_status smp_new(smp_sampler **out, const smp_params *p, int n_vocab, hearth_error *err)
{
    *out = NULL;
    if (n_vocab <= 0)
        return err_set(err, HEARTH_ERR_INVALID, "sampler: vocabulary size %d", n_vocab);
    if (!(p->temperature >= 0 && p->temperature <= 100) || isnan(p->top_p) ||
        !(p->min_p >= 0 && p->min_p <= 1) || !(p->repeat_penalty > 0 && p->repeat_penalty <= 100) ||
        !(fabsf(p->presence_penalty) <= 100) || !(fabsf(p->frequency_penalty) <= 100) ||
        p->penalty_last_n < 0 || p->penalty_last_n > (1 << 20) || p->n_logit_bias < 0)
        return err_set(err, HEARTH_ERR_INVALID, "sampler: a parameter is out of range "
                       "(temperature 0..100, top_p, min_p 0..1, repeat_penalty > 0, "
                       "penalties -100..100, last_n >= 0)");
    for (int i = 0; i < p->n_logit_bias; i++)
        if (p->logit_bias[i].token < 0 || p->logit_bias[i].token >= n_vocab ||
            isnan(p->logit_bias[i].bias))
            return err_set(err, HEARTH_ERR_INVALID, "sampler: logit bias for token %d, "
                           "vocabulary is 0..%d", p->logit_bias[i].token, n_vocab - 1);
    smp_sampler *s = mem_calloc(1, sizeof *s);
    if (!s)
        return err_set(err, HEARTH_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = mem_calloc((size_t)n_vocab, sizeof *s->c);
    s->prob = mem_calloc((size_t)n_vocab, sizeof *s->prob);
    s->count = mem_calloc((size_t)n_vocab, sizeof *s->count);
    s->hist = mem_calloc((size_t)p->penalty_last_n + 1, sizeof *s->hist);
    s->bias = mem_calloc((size_t)p->n_logit_bias + 1, sizeof *s->bias);
    if (!s->c || !s->prob || !s->count || !s->hist || !s->bias) {
        smp_free(s);
        return err_set(err, HEARTH_ERR_NOMEM, "sampler: out of memory");
    }
    if (p->n_logit_bias)
        memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    s->p.logit_bias = s->bias;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    *out = s;
    return HEARTH_OK;
}

void smp_free(smp_sampler *s)
{
    if (!s)
        return;
    mem_free(s->c);
    mem_free(s->prob);
    mem_free(s->count);
    mem_free(s->hist);
    mem_free(s->bias);
    mem_free(s);
}

void smp_accept(smp_sampler *s, int32_t token)
{
    int cap = s->p.penalty_last_n;
    if (cap == 0 || token < 0 || token >= s->n_vocab)
        return;
    if (s->n_hist == cap) { /* drop the oldest */
        s->count[s->hist[s->hist_at]]--;
        s->n_hist--;
    }
    s->hist[s->hist_at] = token;
    s->hist_at = (s->hist_at + 1) % cap;
    s->n_hist++;
    s->count[token]++;
}

void smp_reset(smp_sampler *s)
{
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->n_hist = s->hist_at = 0;
}

/* ---- the chain ---------------------------------------------------------------------------- */

static void apply_penalties(const smp_sampler *s, float *logits)
{
    const smp_params *p = &s->p;
    for (int i = 0; i < p->n_logit_bias; i++)
        logits[p->logit_bias[i].token] += p->logit_bias[i].bias;
    /* hist[0..n_hist) are the valid ring entries; a negated count marks a token whose
     * penalty is applied, so repeats of it in the ring are skipped. */
    for (int i = 0; i < s->n_hist; i++) {
        int32_t t = s->hist[i];
        int32_t n = s->count[t];
        if (n <= 0)
            continue;
        float l = logits[t];
        if (p->repeat_penalty != 1.0f)
            l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        logits[t] = l - (float)n * p->frequency_penalty - p->presence_penalty;
        s->count[t] = -n;
    }
    for (int i = 0; i < s->n_hist; i++)
        if (s->count[s->hist[i]] < 0)
            s->count[s->hist[i]] = -s->count[s->hist[i]];
}

static int by_logit_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    return (x < y) - (x > y);
}

/* Keep the k largest candidates at the front of c[0..n), sorted descending. */
static int keep_top_k(cand *c, int n, int k)
{
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, by_logit_desc);
        return n;
    }
    /* min-heap of the k best so far in c[0..k) */
    for (int i = k / 2 - 1; i >= 0; i--)
        for (int j = i;;) {
            int l = 2 * j + 1, m = j;
            if (l < k && c[l].logit < c[m].logit) m = l;
            if (l + 1 < k && c[l + 1].logit < c[m].logit) m = l + 1;
            if (m == j) break;
            cand t = c[j]; c[j] = c[m]; c[m] = t; j = m;
        }
    for (int i = k; i < n; i++) {
        if (c[i].logit <= c[0].logit)
            continue;
        cand evicted = c[0]; /* swapped, not dropped: c keeps every candidate */
        c[0] = c[i];
        c[i] = evicted;
        for (int j = 0;;) {
            int l = 2 * j + 1, m = j;
            if (l < k && c[l].logit < c[m].logit) m = l;
            if (l + 1 < k && c[l + 1].logit < c[m].logit) m = l + 1;
            if (m == j) break;
            cand t = c[j]; c[j] = c[m]; c[m] = t; j = m;
        }
    }
    qsort(c, (size_t)k, sizeof *c, by_logit_desc);
    return k;
}

/* Softmax of the first n (sorted) candidates into prob, at temperature t. */
static void softmax_cands(const cand *c, int n, float t, float *prob)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        prob[i] = expf((c[i].logit - c[0].logit) / t);
        sum += prob[i];
    }
    for (int i = 0; i < n; i++)
        prob[i] = (float)(prob[i] / sum);
}

/* Without top-k: how many of the most likely candidates top-p and min-p keep, sorting
 * only a growing prefix. Probabilities are over all n candidates (sum of exp = z). */
static int keep_by_mass(smp_sampler *s, int n, float top_p, float min_p)
{
    double z = 0;
    float max = s->c[0].logit;
    for (int i = 1; i < n; i++)
        max = s->c[i].logit > max ? s->c[i].logit : max;
    for (int i = 0; i < n; i++)
        z += exp((double)s->c[i].logit - max);
    for (int k = n < 256 ? n : 256;; k = k * 4 < n ? k * 4 : n) {
        keep_top_k(s->c, n, k);
        double cum = 0, floor_p = min_p > 0 ? min_p / z : -1; /* p_max = 1/z */
        for (int i = 0; i < k; i++) {
            double p = exp((double)s->c[i].logit - max) / z;
            if (p < floor_p)
                return i > 0 ? i : 1;
            cum += p;
            if (top_p < 1.0f && cum >= top_p)
                return i + 1;
        }
        if (k == n)
            return n;
    }
}

int32_t smp_sample(smp_sampler *s, float *logits)
{
    const smp_params *p = &s->p;
    apply_penalties(s, logits);
    int n = 0;
    for (int i = 0; i < s->n_vocab; i++)
        if (logits[i] != -INFINITY)
            s->c[n++] = (cand){ i, logits[i] };
    if (n == 0)
        return 0; /* everything banned: nothing sensible to do, pick token 0 */
    if (p->temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (s->c[i].logit > s->c[best].logit)
                best = i;
        return s->c[best].id;
    }
    if (p->top_k > 0) {
        n = keep_top_k(s->c, n, p->top_k);
        softmax_cands(s->c, n, 1.0f, s->prob);
        if (p->top_p < 1.0f) {
            double cum = 0;
            for (int i = 0; i < n; i++) {
                cum += s->prob[i];
                if (cum >= p->top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        if (p->min_p > 0) {
            float floor_p = p->min_p * s->prob[0];
            int keep = 1;
            while (keep < n && s->prob[keep] >= floor_p)
                keep++;
            n = keep;
        }
    } else if (p->top_p < 1.0f || p->min_p > 0) {
        n = keep_by_mass(s, n, p->top_p, p->min_p);
    }
    /* draw from what is left, reshaped by the temperature (the set need not be sorted) */
    float max = s->c[0].logit;
    for (int i = 1; i < n; i++)
        max = s->c[i].logit > max ? s->c[i].logit : max;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((s->c[i].logit - max) / p->temperature);
        sum += s->prob[i];
    }
    double r = next_unit(s->rng) * sum, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->prob[i];
        if (r < cum)
            return s->c[i].id;
    }
    return s->c[n - 1].id;
}

void smp_log_softmax(const float *logits, float *out, int n)
{
    float max = logits[0];
    for (int i = 1; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    float lse = max + (float)log(sum);
    for (int i = 0; i < n; i++)
        out[i] = logits[i] - lse;
}
