/*
 * ask.c — `hearth ask NAME QUESTION --model LLM`: an answer from your own files, with
 * citations.
 *
 * Retrieves the best chunks (hybrid search), keeps those that are relevant (the question's
 * words occur in them, or their meaning is close enough), builds a prompt with numbered
 * sources (knowledge/rag.h), streams the model's answer, and lists the sources with their
 * paths and lines, marking the ones the answer cites. With nothing relevant the model is
 * told the sources are empty, and the output says so too. The prompt is shrunk (shorter
 * source excerpts, then fewer sources) until it fits the context with room to answer.
 */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "cli/genopts.h"
#include "cli/kbopen.h"
#include "generate/templates.h"
#include "hub/registry.h"
#include "knowledge/rag.h"

static const char usage[] =
    "usage: hearth ask NAME QUESTION --model LLM [options]\n"
    "Answer QUESTION from the knowledge base NAME with the language model LLM, citing the\n"
    "sources as [1], [2], ... and listing their files and lines.\n"
    "  --model LLM            the language model (a .gguf file or a registered name)\n"
    "  --embed MODEL          the embedding model (default: the one NAME was built with)\n"
    "  -k N                   sources to retrieve (default 6)\n"
    "  --min-similarity S     a source without the question's words must be at least this\n"
    "                         similar in meaning (cosine, default 0.5)\n"
    "  --source-chars N       longest excerpt of one source in the prompt (default 1500)\n"
    "  --show-prompt          print the prompt before the answer\n";

typedef struct answer {
    char *s;
    size_t n, cap;
} answer;

static bool on_token(void *user, const gen_token *t, const char *text, size_t len)
{
    answer *a = user;
    (void)t;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (a->n + len + 1 > a->cap) {
        size_t cap = (a->n + len + 1) * 2;
        char *s = mem_realloc(a->s, cap);
        if (!s)
            return false;
        a->s = s;
        a->cap = cap;
    }
    memcpy(a->s + a->n, text, len);
    a->n += len;
    a->s[a->n] = '\0';
    return true;
}

/* Render the two messages with the model's template (ChatML if it has none or it fails)
 * and tokenize. */
static hearth_status build_prompt(gen_model *m, const char *system, const char *user,
                                  tok_ids *ids, char **text, hearth_error *err)
{
    tpl_message msgs[2] = { { .role = "system", .content = system },
                            { .role = "user", .content = user } };
    const tok_vocab *v = m->vocab;
    const tok_specials *sp = tok_special(v);
    const char *bos = sp->bos >= 0 ? tok_text(v, sp->bos, NULL) : "";
    const char *eos = sp->eos >= 0 ? tok_text(v, sp->eos, NULL) : "";
    hearth_status st = HEARTH_ERR_INVALID;
    if (m->chat_template)
        st = tpl_render(m->chat_template, msgs, 2, true, bos, eos, text, err);
    if (st)
        st = tpl_render_chatml(msgs, 2, true, text, err);
    if (st)
        return st;
    bool has_bos = bos && *bos && strncmp(*text, bos, strlen(bos)) == 0;
    ids->n = 0;
    return tok_encode(v, *text, strlen(*text), !has_bos, true, ids, err);
}

/* Sources worth showing the model: the question's words are in them, or they are close. */
static int keep_relevant(kn_result *r, int n, double min_sim)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].bm25_rank > 0 || r[i].similarity >= min_sim) {
            kn_result t = r[k];
            r[k++] = r[i];
            r[i] = t;
        }
    }
    return k;
}

static void print_sources(const char *name, const kn_result *r, int n, const char *ans)
{
    if (n == 0) {
        printf("\nNo sources: nothing in the knowledge base '%s' matches this question.\n", name);
        return;
    }
    bool cited[64] = { 0 };
    int nc = kn_rag_cited(ans ? ans : "", n < 64 ? n : 64, cited);
    printf("\nSources%s:\n", nc ? "" : " (the answer cites none of them)");
    for (int i = 0; i < n; i++) {
        char loc[4200];
        kn_rag_location(&r[i].chunk, loc, sizeof loc);
        printf("[%d] %s%s%s%s\n", i + 1, loc, r[i].chunk.heading ? " — " : "",
               r[i].chunk.heading ? r[i].chunk.heading : "", i < 64 && cited[i] ? "  (cited)" : "");
    }
}

typedef struct ask_opts {
    const char *name, *question, *model, *embed;
    long k, source_chars;
    double min_sim;
    bool show_prompt;
    genopts o;
} ask_opts;

static int parse(ask_opts *a, int argc, char **argv)
{
    genopts_init(&a->o);
    a->k = 6;
    a->source_chars = 1500;
    a->min_sim = 0.5;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool ok;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            printf("%s%s", usage, genopts_help);
            return 0;
        } else if (genopts_parse(&a->o, "ask", argc, argv, &i, &ok)) {
            if (!ok)
                return 2;
        } else if (!strcmp(s, "--model") && i + 1 < argc) {
            a->model = argv[++i];
        } else if (!strcmp(s, "--embed") && i + 1 < argc) {
            a->embed = argv[++i];
        } else if (!strcmp(s, "-k") && i + 1 < argc && parse_int(argv[++i], 1, 64, &a->k)) {
        } else if (!strcmp(s, "--source-chars") && i + 1 < argc &&
                   parse_int(argv[++i], 50, 1 << 20, &a->source_chars)) {
        } else if (!strcmp(s, "--min-similarity") && i + 1 < argc &&
                   parse_float(argv[++i], -1, 2, &a->min_sim)) {
        } else if (!strcmp(s, "--show-prompt")) {
            a->show_prompt = true;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "hearth ask: unknown, incomplete or out-of-range option '%s'\n%s",
                    s, usage);
            return 2;
        } else if (!a->name) {
            a->name = s;
        } else if (!a->question) {
            a->question = s;
        } else {
            fprintf(stderr, "hearth ask: one QUESTION only (quote it)\n");
            return 2;
        }
    }
    if (!a->name || !a->question || !a->model) {
        fprintf(stderr, "hearth ask: need NAME, QUESTION and --model LLM\n%s", usage);
        return 2;
    }
    return -1;
}

/* Build a prompt that fits: shorter excerpts first, then fewer sources. */
static hearth_status fit_prompt(gen_model *m, gen_session *s, const ask_opts *a,
                                const kn_result *r, int *n_src, tok_ids *ids, char **text,
                                hearth_error *err)
{
    int chars = (int)a->source_chars, n_ctx = gen_session_n_ctx(s);
    int room = a->o.gen.n_predict > 0 ? a->o.gen.n_predict : n_ctx / 4;
    for (;;) {
        char *system = NULL, *user = NULL;
        hearth_status st = kn_rag_prompt(r, *n_src, a->question, chars, &system, &user, err);
        mem_free(*text);
        *text = NULL;
        if (!st)
            st = build_prompt(m, system, user, ids, text, err);
        mem_free(system);
        mem_free(user);
        if (st || (int)ids->n + room <= n_ctx)
            return st;
        if (chars > 100)
            chars /= 2;
        else if (*n_src > 0)
            (*n_src)--;
        else
            return err_set(err, HEARTH_ERR_RANGE, "the question alone does not fit the "
                           "model's context of %d tokens", n_ctx);
    }
}

int cmd_ask(int argc, char **argv)
{
    ask_opts a = { 0 };
    int rc = parse(&a, argc, argv);
    if (rc >= 0)
        return rc;
    rc = 1;
    hearth_error err;
    emb_params ep = emb_default_params();
    ep.n_threads = a.o.ctx.n_threads;
    kb_handles kb;
    kn_searcher *x = NULL;
    kn_result *r = NULL;
    int n = 0;
    char *llm_path = NULL, *text = NULL;
    gen_model *m = NULL;
    gen_session *s = NULL;
    tok_ids ids = { 0 };
    answer ans = { 0 };
    gen_stats stats;
    if (kb_open(&kb, a.name, false, a.embed, &ep, &err) ||
        kn_searcher_open(&x, kb.store, kb.emb, 0, &err) ||
        kn_search(x, a.question, (int)a.k, KN_HYBRID, &r, &n, &err) ||
        hub_resolve_model(a.model, &llm_path, &err) ||
        gen_model_open(&m, llm_path, llm_model_default_params(), &err) ||
        gen_session_new(&s, m->llm, m->vocab, a.o.ctx, &err)) {
        fprintf(stderr, "hearth ask: %s\n", err.msg);
        goto done;
    }
    int n_src = keep_relevant(r, n, a.min_sim);
    if (fit_prompt(m, s, &a, r, &n_src, &ids, &text, &err)) {
        fprintf(stderr, "hearth ask: %s\n", err.msg);
        goto done;
    }
    if (a.show_prompt)
        printf("--- prompt ---\n%s\n--- answer ---\n", text);
    if (gen_run(s, ids.v, ids.n, &a.o.gen, on_token, &ans, &stats, &err)) {
        fprintf(stderr, "\nhearth ask: %s\n", err.msg);
        goto done;
    }
    printf("\n");
    print_sources(a.name, r, n_src, ans.s);
    rc = 0;
done:
    mem_free(ans.s);
    tok_ids_free(&ids);
    mem_free(text);
    gen_session_free(s);
    gen_model_free(m);
    mem_free(llm_path);
    kn_results_free(r, n);
    kn_searcher_free(x);
    kb_close(&kb);
    return rc;
}
