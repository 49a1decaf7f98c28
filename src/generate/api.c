/*
 * api.c — the language-model part of the public API (include/hearth.h), a thin layer over
 * the generation service: hearth_model is a gen_model, hearth_session a gen_session, and
 * the public parameter structs map field by field onto the internal ones.
 */
#include "hearth.h"

#include <string.h>

#include "base/mem.h"
#include "generate/generate.h"
#include "generate/templates.h"

struct hearth_model {
    gen_model *g;
};

struct hearth_session {
    const hearth_model *m;
    gen_session *s;
};

hearth_model_params hearth_model_default_params(void)
{
    return (hearth_model_params){ 0 };
}

hearth_session_params hearth_session_default_params(void)
{
    return (hearth_session_params){ .n_ctx = 0, .n_threads = 0 };
}

hearth_generate_params hearth_generate_default_params(void)
{
    smp_params sp = smp_default_params();
    return (hearth_generate_params){
        .n_predict = -1, .temperature = sp.temperature, .top_k = sp.top_k, .top_p = sp.top_p,
        .min_p = sp.min_p, .repeat_penalty = sp.repeat_penalty, .seed = sp.seed,
    };
}

hearth_status hearth_model_load(hearth_model **out, const char *path, hearth_model_params p,
                                hearth_error *err)
{
    (void)p;
    *out = NULL;
    hearth_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", path);
    hearth_status st = gen_model_open(&m->g, path, llm_model_default_params(), err);
    if (st) {
        mem_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}

void hearth_model_free(hearth_model *m)
{
    if (!m)
        return;
    gen_model_free(m->g);
    mem_free(m);
}

hearth_status hearth_session_new(hearth_session **out, const hearth_model *m,
                                 hearth_session_params p, hearth_error *err)
{
    *out = NULL;
    hearth_session *s = mem_calloc(1, sizeof *s);
    if (!s)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_threads = p.n_threads;
    hearth_status st = gen_session_new(&s->s, m->g->llm, m->g->vocab, cp, err);
    if (st) {
        mem_free(s);
        return st;
    }
    s->m = m;
    *out = s;
    return HEARTH_OK;
}

void hearth_session_free(hearth_session *s)
{
    if (!s)
        return;
    gen_session_free(s->s);
    mem_free(s);
}

typedef struct relay {
    hearth_text_fn fn;
    void *user;
} relay;

static bool relay_text(void *user, const gen_token *t, const char *text, size_t len)
{
    (void)t;
    const relay *r = user;
    return len == 0 || !r->fn || r->fn(r->user, text, len);
}

/* Tokenize text (special tokens recognised when `special`; BOS added unless the text starts
 * with it) and generate; extra_stop (may be NULL) joins the caller's stop strings. */
static hearth_status run(hearth_session *s, const char *text, bool special,
                         const hearth_generate_params *p, const char *extra_stop,
                         hearth_text_fn on_text, void *user, hearth_error *err)
{
    if (p->n_stop < 0 || p->n_stop > 1000 || (p->n_stop > 0 && !p->stop))
        return err_set(err, HEARTH_ERR_INVALID, "bad stop-string list (%d strings)", p->n_stop);
    const char **stops = mem_calloc((size_t)p->n_stop + 1, sizeof *stops);
    if (!stops)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    for (int i = 0; i < p->n_stop; i++)
        stops[i] = p->stop[i];
    int n_stop = p->n_stop;
    if (extra_stop)
        stops[n_stop++] = extra_stop;
    const tok_vocab *v = s->m->g->vocab;
    const tok_specials *sp = tok_special(v);
    const char *bos = sp->bos >= 0 ? tok_text(v, sp->bos, NULL) : NULL;
    bool has_bos = special && bos && *bos && strncmp(text, bos, strlen(bos)) == 0;
    tok_ids ids = { 0 };
    hearth_status st = tok_encode(v, text, strlen(text), !has_bos, special, &ids, err);
    if (!st) {
        gen_params gp = gen_default_params();
        gp.n_predict = p->n_predict;
        gp.sampling.temperature = p->temperature;
        gp.sampling.top_k = p->top_k;
        gp.sampling.top_p = p->top_p;
        gp.sampling.min_p = p->min_p;
        gp.sampling.repeat_penalty = p->repeat_penalty;
        gp.sampling.seed = p->seed;
        gp.stop = stops;
        gp.n_stop = n_stop;
        relay r = { on_text, user };
        st = gen_run(s->s, ids.v, ids.n, &gp, relay_text, &r, NULL, err);
    }
    tok_ids_free(&ids);
    mem_free(stops);
    return st;
}

hearth_status hearth_generate(hearth_session *s, const char *prompt,
                              const hearth_generate_params *p, hearth_text_fn on_text,
                              void *user, hearth_error *err)
{
    return run(s, prompt, false, p, NULL, on_text, user, err);
}

hearth_status hearth_chat(hearth_session *s, const hearth_message *msgs, int n_msgs,
                          const hearth_generate_params *p, hearth_text_fn on_text, void *user,
                          hearth_error *err)
{
    if (n_msgs <= 0 || n_msgs > 100000)
        return err_set(err, HEARTH_ERR_INVALID, "a conversation needs 1..100000 messages");
    tpl_message *tm = mem_calloc((size_t)n_msgs, sizeof *tm);
    if (!tm)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_msgs; i++)
        tm[i] = (tpl_message){ .role = msgs[i].role, .content = msgs[i].content };
    const gen_model *g = s->m->g;
    const tok_specials *sp = tok_special(g->vocab);
    const char *bos = sp->bos >= 0 ? tok_text(g->vocab, sp->bos, NULL) : "";
    const char *eos = sp->eos >= 0 ? tok_text(g->vocab, sp->eos, NULL) : "";
    char *prompt = NULL;
    const char *extra_stop = NULL;
    hearth_status st = HEARTH_ERR_UNSUPPORTED;
    if (g->chat_template)
        st = tpl_render(g->chat_template, tm, n_msgs, true, bos, eos, &prompt, NULL);
    if (st) {
        st = tpl_render_chatml(tm, n_msgs, true, &prompt, err);
        /* a vocabulary without an <|im_end|> token sees it as text: stop on the text */
        if (tok_find(g->vocab, "<|im_end|>", 10) == TOK_NONE)
            extra_stop = "<|im_end|>";
    }
    mem_free(tm);
    if (!st)
        st = run(s, prompt, true, p, extra_stop, on_text, user, err);
    mem_free(prompt);
    return st;
}
