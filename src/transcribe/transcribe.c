/*
 * transcribe.c — windows, decoding strategies, segments and output formats (transcribe.h).
 *
 * Per 30-second window: log-mel, encoder, then a decoder run with a prompt of
 * <|startoftranscript|> [language] [task] [<|notimestamps|>]. Token choice follows OpenAI
 * Whisper's logit rules (as whisper.cpp implements them): special tokens are suppressed,
 * end-of-text and the blank are suppressed at the first step, and with timestamps on,
 * timestamps come in pairs around text, never go backwards, start within the first second,
 * and are forced whenever their total probability beats every single text token.
 * Beam search keeps beam_size hypotheses, each in its own KV-cache sequence; the state
 * holds two sets of sequences so survivors are copied from the old set into the new one.
 */
#include "transcribe/transcribe.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/mem.h"
#include "base/utf8.h"

#define HIST 200          /* samples kept before a window, for the first frame's left half */
#define MAX_BEAM 16
#define N_TEMPS 6         /* 0.0, 0.2, ..., 1.0 */

tr_params tr_params_default(void)
{
    return (tr_params){ .language = "auto", .beam_size = 5, .timestamps = 1,
                        .temperature_fallback = 1, .logprob_thold = -1.0f,
                        .entropy_thold = 2.4f, .no_speech_thold = 0.6f, .silence_rms = 1e-3f,
                        .seed = 1 };
}

typedef struct hyp {
    int *tok;            /* [max_len] */
    int n;
    double sum_logprob;
    int seq;             /* KV-cache sequence */
} hyp;

typedef struct run {
    const wsp_model *m;
    const tr_params *p;
    wsp_state *s;
    tr_result *r;
    int n_vocab, beam, max_len, lang, n_prompt;
    int *prompt;         /* [<|startofprev|> initial-prompt...] <|sot|> [lang] [task] [notimestamps] */
    int n_user;          /* tokens of the initial prompt, with <|startofprev|> */
    float *logits;       /* [MAX_BEAM][V] */
    float *lp;           /* [V] filtered log-probabilities */
    float *mel;
    float *buf;          /* [HIST + W] */
    size_t W, avail, hist_n;
    int ts_max;          /* largest timestamp index within this window */
    uint64_t rng;
    hyp h[2 * MAX_BEAM], fin[MAX_BEAM];
    int *tok_pool;
    int cap_seg;
} run;

/* ---- token rules -------------------------------------------------------------------------- */

static void suppress(float *lg, int from, int to)
{
    for (int v = from; v < to; v++)
        lg[v] = -INFINITY;
}

static void log_softmax(const float *lg, float *lp, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = lg[i] > mx ? lg[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += lg[i] == -INFINITY ? 0 : exp(lg[i] - mx);
    float lse = mx + (float)log(sum);
    for (int i = 0; i < n; i++)
        lp[i] = lg[i] - lse;
}

/* Apply the logit rules to lg (modified) for a hypothesis with tokens toks[0..n), then
 * write log-probabilities to ru->lp. */
static void filter(run *ru, const int *toks, int n, float *lg)
{
    const wsp_specials *sp = &ru->m->sp;
    int V = ru->n_vocab, beg = sp->beg;
    if (n == 0) {
        lg[sp->eot] = -INFINITY;
        if (ru->m->space_token >= 0)
            lg[ru->m->space_token] = -INFINITY;
    }
    suppress(lg, sp->eot + 1, beg);
    if (!ru->p->timestamps) {
        suppress(lg, beg, V);
        log_softmax(lg, ru->lp, V);
        return;
    }
    int last_ts = n >= 1 && toks[n - 1] >= beg;
    int penult_ts = n < 2 || toks[n - 2] >= beg;
    if (last_ts)
        suppress(lg, penult_ts ? beg : 0, penult_ts ? V : sp->eot);
    for (int i = n - 1; i >= 0; i--)
        if (toks[i] >= beg) {
            int lo = last_ts && !penult_ts ? toks[i] : toks[i] + 1;
            suppress(lg, beg, lo < V ? lo : V);
            break;
        }
    if (n == 0) {
        suppress(lg, 0, beg);
        suppress(lg, beg + 51, V); /* the first timestamp is within 1 s */
    }
    if (beg + ru->ts_max + 1 < V)
        suppress(lg, beg + ru->ts_max + 1, V);
    log_softmax(lg, ru->lp, V);
    double ts_sum = 0;
    float text_max = -INFINITY;
    for (int v = beg; v < V; v++)
        ts_sum += exp(ru->lp[v]);
    for (int v = 0; v < beg; v++)
        text_max = ru->lp[v] > text_max ? ru->lp[v] : text_max;
    if (ts_sum > 0 && log(ts_sum) > text_max) {
        suppress(lg, 0, beg);
        log_softmax(lg, ru->lp, V);
    }
}

static double uniform(run *ru)
{
    ru->rng ^= ru->rng << 13;
    ru->rng ^= ru->rng >> 7;
    ru->rng ^= ru->rng << 17;
    return (double)(ru->rng >> 11) / 9007199254740992.0;
}

static int pick(run *ru, float temperature)
{
    int V = ru->n_vocab, best = 0;
    for (int v = 1; v < V; v++)
        if (ru->lp[v] > ru->lp[best])
            best = v;
    if (temperature <= 0)
        return best;
    double sum = 0;
    for (int v = 0; v < V; v++)
        sum += exp((ru->lp[v] - ru->lp[best]) / temperature);
    double u = uniform(ru) * sum;
    for (int v = 0; v < V; v++) {
        u -= exp((ru->lp[v] - ru->lp[best]) / temperature);
        if (u <= 0)
            return v;
    }
    return best;
}

/* ---- decoding a window -------------------------------------------------------------------- */

static hearth_status decode_greedy(run *ru, float temperature, hyp *out, hearth_error *err)
{
    hyp *h = &ru->h[0];
    h->n = 0;
    h->sum_logprob = 0;
    float *lg = ru->logits;
    while (h->n < ru->max_len) {
        filter(ru, h->tok, h->n, lg);
        int t = pick(ru, temperature);
        h->sum_logprob += ru->lp[t];
        h->tok[h->n++] = t;
        if (t == ru->m->sp.eot)
            break;
        hearth_status st = wsp_decode(ru->s, 0, &t, 1, ru->n_prompt + h->n - 1, lg, err);
        if (st)
            return st;
    }
    *out = *h;
    return HEARTH_OK;
}

typedef struct cand {
    double score;
    int parent, tok;
} cand;

static int cand_cmp(const void *a, const void *b)
{
    double x = ((const cand *)a)->score, y = ((const cand *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The k most likely tokens of lp (finite only) as candidates extending beam `parent`, in
 * one pass with a small sorted list; returns how many were found. */
static int top_k(const float *lp, int V, int k, double base, int parent, cand *out)
{
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (lp[v] == -INFINITY || (n == k && base + lp[v] <= out[n - 1].score))
            continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && out[i - 1].score < base + lp[v]) {
            out[i] = out[i - 1];
            i--;
        }
        out[i] = (cand){ base + lp[v], parent, v };
    }
    return n;
}

static hearth_status decode_beam(run *ru, hyp *out, hearth_error *err)
{
    /* one live hypothesis to start with (sequence 0, after the prompt); the survivors of
     * each step move between sequences 0..B-1 and B..2B-1 alternately */
    int B = ru->beam, V = ru->n_vocab, n_fin = 0, n_live = 1, base = 0;
    cand *c = mem_calloc((size_t)B * B, sizeof(cand));
    if (!c)
        return err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
    ru->h[0].n = 0;
    ru->h[0].sum_logprob = 0;
    ru->h[0].seq = 0;
    hearth_status st = HEARTH_OK;
    for (int step = 0; step < ru->max_len && n_fin < B && !st; step++) {
        int nc = 0;
        for (int b = 0; b < n_live; b++) {
            hyp *h = &ru->h[base + b];
            filter(ru, h->tok, h->n, ru->logits + (size_t)b * V);
            nc += top_k(ru->lp, V, B, h->sum_logprob, b, c + nc);
        }
        qsort(c, (size_t)nc, sizeof *c, cand_cmp);
        int nb = base == 0 ? B : 0, kept = 0;
        for (int i = 0; i < nc && kept < B; i++) {
            hyp *par = &ru->h[base + c[i].parent];
            if (c[i].tok == ru->m->sp.eot || par->n + 1 >= ru->max_len) {
                if (n_fin < B) {
                    hyp *f = &ru->fin[n_fin++];
                    memcpy(f->tok, par->tok, (size_t)par->n * sizeof(int));
                    f->tok[par->n] = c[i].tok;
                    f->n = par->n + 1;
                    f->sum_logprob = c[i].score;
                }
                continue;
            }
            hyp *nh = &ru->h[nb + kept];
            memcpy(nh->tok, par->tok, (size_t)par->n * sizeof(int));
            nh->tok[par->n] = c[i].tok;
            nh->n = par->n + 1;
            nh->sum_logprob = c[i].score;
            nh->seq = nb + kept;
            wsp_kv_copy(ru->s, nh->seq, par->seq, ru->n_prompt + par->n);
            kept++;
        }
        base = nb;
        n_live = kept;
        if (n_live == 0)
            break;
        int seqs[MAX_BEAM], toks[MAX_BEAM], pos[MAX_BEAM];
        for (int b = 0; b < n_live; b++) {
            hyp *h = &ru->h[base + b];
            seqs[b] = h->seq;
            toks[b] = h->tok[h->n - 1];
            pos[b] = ru->n_prompt + h->n - 1;
        }
        st = wsp_decode_batch(ru->s, n_live, seqs, toks, pos, ru->logits, err);
    }
    mem_free(c);
    if (st)
        return st;
    /* best by mean log-probability, finished hypotheses first */
    hyp *best = NULL;
    for (int i = 0; i < n_fin; i++)
        if (!best || ru->fin[i].sum_logprob / ru->fin[i].n > best->sum_logprob / best->n)
            best = &ru->fin[i];
    for (int b = 0; !best && b < n_live; b++)
        if (!best || ru->h[base + b].sum_logprob / ru->h[base + b].n > best->sum_logprob / best->n)
            best = &ru->h[base + b];
    if (!best)
        return err_set(err, HEARTH_ERR_INVALID, "transcribe: beam search produced nothing");
    *out = *best;
    return HEARTH_OK;
}

/* Entropy of the last 32 tokens' counts: low when the output loops. */
static double token_entropy(const hyp *h)
{
    int n0 = h->n > 32 ? h->n - 32 : 0, n = h->n - n0;
    double e = 0;
    for (int i = n0; i < h->n; i++) {
        int cnt = 0, first = 1;
        for (int j = n0; j < h->n; j++) {
            cnt += h->tok[j] == h->tok[i];
            if (j < i && h->tok[j] == h->tok[i])
                first = 0;
        }
        if (first)
            e -= (double)cnt / n * log((double)cnt / n);
    }
    return e;
}

/* ---- segments ----------------------------------------------------------------------------- */

/* Copy bytes as valid UTF-8 (invalid bytes become U+FFFD), trimming the leading blank. */
static char *clean_text(const char *s, size_t n)
{
    char *out = mem_alloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < n && s[i] == ' ')
        i++;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        } else {
            o += utf8_encode(UTF8_REPLACEMENT, out + o);
            i++;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = 0;
    return out;
}

static hearth_status add_segment(run *ru, double t0, double t1, const char *text, size_t len,
                                 const hyp *h, double nsp, float temp, hearth_error *err)
{
    tr_result *r = ru->r;
    char *t = clean_text(text, len);
    if (!t)
        return err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
    if (!t[0]) {
        mem_free(t);
        return HEARTH_OK;
    }
    if (r->n_seg == ru->cap_seg) {
        int ncap = ru->cap_seg ? 2 * ru->cap_seg : 16;
        tr_segment *ns = mem_realloc_array(r->seg, (size_t)ncap, sizeof *ns);
        if (!ns) {
            mem_free(t);
            return err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
        }
        r->seg = ns;
        ru->cap_seg = ncap;
    }
    tr_segment *sg = &r->seg[r->n_seg++];
    *sg = (tr_segment){ t0, t1 > t0 ? t1 : t0, t, h->sum_logprob / (h->n ? h->n : 1), nsp, temp };
    if (ru->p->on_segment)
        ru->p->on_segment(sg, ru->p->user);
    return HEARTH_OK;
}

/* Turn a window's tokens into segments; returns how many samples the window consumed. */
static size_t emit_segments(run *ru, const hyp *h, double t_off, int last_window, double nsp,
                            float temp, hearth_error *err, hearth_status *st)
{
    const wsp_specials *sp = &ru->m->sp;
    char text[8192];
    size_t len = 0;
    double span = (double)ru->avail / AUDIO_RATE, start = 0, last_close = -1;
    *st = HEARTH_OK;
    for (int i = 0; i < h->n && !*st; i++) {
        int t = h->tok[i];
        if (t == sp->eot)
            break;
        if (t >= sp->beg) {
            double ts = (t - sp->beg) * 0.02;
            if (len > 0) {
                /* a character whose bytes straddle the timestamp goes to the next segment */
                const size_t tail = utf8_incomplete_tail(text, len);
                *st = add_segment(ru, t_off + start, t_off + ts, text, len - tail, h, nsp,
                                  temp, err);
                memmove(text, text + len - tail, tail);
                len = tail;
                last_close = ts;
            }
            start = ts;
            continue;
        }
        size_t bl;
        const unsigned char *b = wsp_token_bytes(ru->m, t, &bl);
        if (len + bl < sizeof text) {
            memcpy(text + len, b, bl);
            len += bl;
        }
    }
    if (*st)
        return ru->avail;
    if (len > 0 && ru->p->timestamps && !last_window && last_close > 0)
        return (size_t)(last_close * AUDIO_RATE); /* redo the unfinished sentence */
    if (len > 0)
        *st = add_segment(ru, t_off + start, t_off + span, text, len, h, nsp, temp, err);
    return ru->avail;
}

/* ---- windows ------------------------------------------------------------------------------ */

static hearth_status fill(run *ru, audio_stream *a, hearth_error *err)
{
    while (ru->avail < ru->W) {
        size_t n;
        hearth_status st = audio_read(a, ru->buf + HIST + ru->avail, ru->W - ru->avail, &n, err);
        if (st)
            return st;
        if (n == 0)
            break;
        ru->avail += n;
    }
    return HEARTH_OK;
}

static double window_rms(const run *ru)
{
    double e = 0;
    for (size_t i = 0; i < ru->avail; i++)
        e += (double)ru->buf[HIST + i] * ru->buf[HIST + i];
    return ru->avail ? sqrt(e / ru->avail) : 0;
}

static hearth_status detect_language(run *ru, hearth_error *err)
{
    const wsp_specials *sp = &ru->m->sp;
    int sot = sp->sot;
    hearth_status st = wsp_decode(ru->s, 0, &sot, 1, 0, ru->logits, err);
    if (st)
        return st;
    int best = 0;
    for (int i = 1; i < sp->n_languages && i < wsp_lang_count(); i++)
        if (ru->logits[sot + 1 + i] > ru->logits[sot + 1 + best])
            best = i;
    ru->lang = best;
    return HEARTH_OK;
}

static void set_prompt(run *ru)
{
    const wsp_specials *sp = &ru->m->sp;
    int n = ru->n_user;
    ru->prompt[n++] = sp->sot;
    if (sp->multilingual) {
        ru->prompt[n++] = sp->sot + 1 + ru->lang;
        ru->prompt[n++] = ru->p->translate ? sp->translate : sp->transcribe;
    }
    if (!ru->p->timestamps)
        ru->prompt[n++] = sp->notimestamps;
    ru->n_prompt = n;
    ru->max_len = ru->m->hp.n_text_ctx / 2 - 4; /* as whisper.cpp: room for the prompt */
}

static hearth_status decode_window(run *ru, double t_off, int last_window, size_t *used,
                                   hearth_error *err)
{
    const wsp_model *m = ru->m;
    hearth_status st = audio_log_mel(ru->buf + HIST, ru->avail, ru->hist_n, m->mel_filters,
                                     m->hp.n_mels, wsp_n_frames(m), ru->mel, err);
    if (!st)
        st = wsp_encode(ru->s, ru->mel, err);
    if (!st && ru->lang < 0)
        st = detect_language(ru, err);
    if (st)
        return st;
    set_prompt(ru);
    ru->ts_max = (int)(ru->avail / (AUDIO_RATE / 50));
    hyp best = { 0 };
    double nsp = 0;
    float temp = 0;
    for (int ti = 0; ti < N_TEMPS; ti++) {
        temp = 0.2f * ti;
        if ((st = wsp_decode(ru->s, 0, ru->prompt, ru->n_prompt, 0, ru->logits, err)))
            return st;
        log_softmax(ru->logits, ru->lp, ru->n_vocab);
        nsp = exp(ru->lp[m->sp.nosp]);
        st = ru->beam > 1 && temp == 0 ? decode_beam(ru, &best, err)
                                       : decode_greedy(ru, temp, &best, err);
        if (st)
            return st;
        double avg = best.sum_logprob / (best.n ? best.n : 1);
        int failed = avg < ru->p->logprob_thold ||
                     (best.n >= 32 && token_entropy(&best) < ru->p->entropy_thold);
        if (nsp > ru->p->no_speech_thold && avg < ru->p->logprob_thold) {
            *used = ru->avail; /* no speech: skip the window */
            return HEARTH_OK;
        }
        if (!failed || !ru->p->temperature_fallback)
            break;
    }
    *used = emit_segments(ru, &best, t_off, last_window, nsp, temp, err, &st);
    return st;
}

static hearth_status run_init(run *ru, const wsp_model *m, const tr_params *p, tr_result *out,
                              hearth_error *err)
{
    memset(ru, 0, sizeof *ru);
    ru->m = m, ru->p = p, ru->r = out;
    ru->n_vocab = m->hp.n_vocab;
    ru->beam = p->beam_size < 1 ? 1 : p->beam_size > MAX_BEAM ? MAX_BEAM : p->beam_size;
    ru->lang = -1;
    ru->rng = 0x9e3779b97f4a7c15ull ^ p->seed;
    const char *lang = p->language ? p->language : "auto";
    if (!m->sp.multilingual) {
        if (strcmp(lang, "auto") && strcmp(lang, "en"))
            return err_set(err, HEARTH_ERR_INVALID, "%s is an English-only model (language '%s')",
                           m->path, lang);
        ru->lang = 0;
    } else if (strcmp(lang, "auto")) {
        ru->lang = wsp_lang_index(lang);
        if (ru->lang < 0 || ru->lang >= m->sp.n_languages)
            return err_set(err, HEARTH_ERR_INVALID, "unknown language '%s'", lang);
    }
    ru->W = (size_t)wsp_n_frames(m) * AUDIO_HOP;
    size_t tmax = (size_t)m->hp.n_text_ctx;
    ru->s = wsp_state_new(m, p->n_threads, 2 * ru->beam, err);
    ru->logits = mem_calloc((size_t)MAX_BEAM * ru->n_vocab, sizeof(float));
    ru->lp = mem_calloc((size_t)ru->n_vocab, sizeof(float));
    ru->mel = mem_calloc((size_t)m->hp.n_mels * wsp_n_frames(m), sizeof(float));
    ru->buf = mem_calloc(HIST + ru->W, sizeof(float));
    ru->tok_pool = mem_calloc((size_t)3 * MAX_BEAM * tmax, sizeof(int));
    ru->prompt = mem_calloc(tmax / 2 + 8, sizeof(int));
    if (!ru->s || !ru->logits || !ru->lp || !ru->mel || !ru->buf || !ru->tok_pool || !ru->prompt)
        return err->status ? err->status : err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
    for (int i = 0; i < 2 * MAX_BEAM; i++)
        ru->h[i].tok = ru->tok_pool + (size_t)i * tmax;
    for (int i = 0; i < MAX_BEAM; i++)
        ru->fin[i].tok = ru->tok_pool + (size_t)(2 * MAX_BEAM + i) * tmax;
    if (p->initial_prompt && p->initial_prompt[0]) {
        /* keep the prompt's last tokens: at most half the text context, as Whisper does */
        int room = (int)tmax / 2 - 1, need = wsp_tokenize(m, p->initial_prompt, NULL, 0);
        int *all = mem_calloc((size_t)need + 1, sizeof(int));
        if (!all)
            return err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
        wsp_tokenize(m, p->initial_prompt, all, need);
        int keep = need < room ? need : room;
        ru->prompt[0] = m->sp.prev;
        memcpy(ru->prompt + 1, all + need - keep, (size_t)keep * sizeof(int));
        ru->n_user = keep + 1;
        mem_free(all);
    }
    return HEARTH_OK;
}

static void run_free(run *ru)
{
    wsp_state_free(ru->s);
    mem_free(ru->logits), mem_free(ru->lp), mem_free(ru->mel), mem_free(ru->buf);
    mem_free(ru->tok_pool);
    mem_free(ru->prompt);
}

hearth_status tr_transcribe_stream(const wsp_model *m, audio_stream *a, const tr_params *p,
                                   tr_result *out, hearth_error *err)
{
    memset(out, 0, sizeof *out);
    hearth_error local = { 0 };
    if (!err)
        err = &local;
    err_clear(err);
    run ru;
    hearth_status st = run_init(&ru, m, p, out, err);
    double total = audio_duration(a), done = 0;
    while (!st) {
        if ((st = fill(&ru, a, err)))
            break;
        if (ru.avail == 0 || (out->n_windows > 0 && ru.avail < AUDIO_RATE / 10))
            break;
        if (p->max_seconds > 0 && done + (double)ru.avail / AUDIO_RATE > p->max_seconds + 1e-9) {
            st = err_set(err, HEARTH_ERR_RANGE, "audio longer than %.0f s", p->max_seconds);
            break;
        }
        int last = ru.avail < ru.W;
        size_t used = ru.avail;
        if (window_rms(&ru) >= p->silence_rms)
            st = decode_window(&ru, done, last, &used, err);
        if (st)
            break;
        out->n_windows++;
        if (used == 0 || used > ru.avail)
            used = ru.avail;
        memmove(ru.buf, ru.buf + used, (HIST + ru.avail - used) * sizeof(float));
        ru.avail -= used;
        ru.hist_n = ru.hist_n + used < HIST ? ru.hist_n + used : HIST;
        done += (double)used / AUDIO_RATE;
        if (p->on_progress)
            p->on_progress(done, total > done ? total : done, p->user);
    }
    out->duration = done;
    if (ru.s)
        out->timings = wsp_state_timings(ru.s);
    out->translated = p->translate && m->sp.multilingual;
    snprintf(out->language, sizeof out->language, "%s", wsp_lang_code(ru.lang < 0 ? 0 : ru.lang));
    run_free(&ru);
    if (st)
        tr_result_free(out);
    return st;
}

hearth_status tr_transcribe_file(const wsp_model *m, const char *path, const tr_params *p,
                                 tr_result *out, hearth_error *err)
{
    audio_stream *a;
    memset(out, 0, sizeof *out);
    hearth_status st = audio_open(&a, path, err);
    if (st)
        return st;
    st = tr_transcribe_stream(m, a, p, out, err);
    audio_close(a);
    return st;
}

void tr_result_free(tr_result *r)
{
    for (int i = 0; i < r->n_seg; i++)
        mem_free(r->seg[i].text);
    mem_free(r->seg);
    r->seg = NULL;
    r->n_seg = 0;
}

/* ---- output formats ----------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t nc = (b->n + (size_t)k + 1) * 2;
        char *np = mem_realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np, b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

static void stamp(sbuf *b, double t, char sep)
{
    long ms = lround(t * 1000);
    sb_printf(b, "%02ld:%02ld:%02ld%c%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep,
              ms % 1000);
}

static char *render_json(const tr_result *r, int verbose)
{
    cJSON *o = cJSON_CreateObject();
    sbuf all = { 0 };
    for (int i = 0; i < r->n_seg; i++)
        sb_printf(&all, "%s%s", i ? " " : "", r->seg[i].text);
    cJSON_AddStringToObject(o, "text", all.p ? all.p : "");
    mem_free(all.p);
    if (verbose) {
        cJSON_AddStringToObject(o, "task", r->translated ? "translate" : "transcribe");
        cJSON_AddStringToObject(o, "language", r->language);
        cJSON_AddNumberToObject(o, "duration", r->duration);
        cJSON *arr = cJSON_AddArrayToObject(o, "segments");
        for (int i = 0; i < r->n_seg; i++) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddNumberToObject(s, "id", i);
            cJSON_AddNumberToObject(s, "start", round(r->seg[i].t0 * 1000) / 1000);
            cJSON_AddNumberToObject(s, "end", round(r->seg[i].t1 * 1000) / 1000);
            cJSON_AddStringToObject(s, "text", r->seg[i].text);
            cJSON_AddNumberToObject(s, "avg_logprob", r->seg[i].avg_logprob);
            cJSON_AddNumberToObject(s, "no_speech_prob", r->seg[i].no_speech_prob);
            cJSON_AddNumberToObject(s, "temperature", r->seg[i].temperature);
            cJSON_AddItemToArray(arr, s);
        }
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = txt ? mem_strdup(txt) : NULL;
    cJSON_free(txt);
    return out;
}

hearth_status tr_render(const tr_result *r, const char *format, char **out, hearth_error *err)
{
    *out = NULL;
    if (!strcmp(format, "json") || !strcmp(format, "verbose_json")) {
        *out = render_json(r, format[0] == 'v');
        if (!*out)
            return err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
        return HEARTH_OK;
    }
    int srt = !strcmp(format, "srt"), vtt = !strcmp(format, "vtt");
    if (!srt && !vtt && strcmp(format, "txt") && strcmp(format, "text"))
        return err_set(err, HEARTH_ERR_INVALID,
                       "unknown format '%s' (txt, srt, vtt, json, verbose_json)", format);
    sbuf b = { 0 };
    if (vtt)
        sb_printf(&b, "WEBVTT\n\n");
    for (int i = 0; i < r->n_seg; i++) {
        if (srt)
            sb_printf(&b, "%d\n", i + 1);
        if (srt || vtt) {
            stamp(&b, r->seg[i].t0, srt ? ',' : '.');
            sb_printf(&b, " --> ");
            stamp(&b, r->seg[i].t1, srt ? ',' : '.');
            sb_printf(&b, "\n");
        }
        sb_printf(&b, "%s\n%s", r->seg[i].text, srt || vtt ? "\n" : "");
    }
    sb_printf(&b, "%s", "");
    if (b.oom) {
        mem_free(b.p);
        return err_set(err, HEARTH_ERR_NOMEM, "transcribe: out of memory");
    }
    *out = b.p;
    return HEARTH_OK;
}
