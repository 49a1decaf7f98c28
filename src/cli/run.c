/*
 * run.c — `hearth run MODEL -p TEXT`: continue a prompt, streamed to stdout.
 *
 * Plain mode prints text as it is generated and a one-line summary on stderr. --json
 * prints one JSON object per generated token (id, piece, logprob, top alternatives) for
 * scripts. The prompt is raw text: no chat template (that is `hearth chat`).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "cli/cli.h"
#include "cli/constrain.h"
#include "cli/genopts.h"
#include "hub/registry.h"

static const char usage[] =
    "usage: hearth run [MODEL] -p TEXT [options]\n"
    "Continue TEXT with the model in MODEL (a .gguf file); '-p -' reads the prompt from stdin.\n"
    "  --json                one JSON object per generated token\n"
    "  --logprobs K          with --json: the K most likely tokens at each step (0..20)\n"
    "  --no-bos              do not add the beginning-of-sequence token\n"
    "  --special             turn special-token text in the prompt into those tokens\n"
    "  --yes                 without MODEL: download the default model without asking\n";

typedef struct run_out {
    const tok_vocab *vocab;
    bool json;
} run_out;

static bool on_token(void *user, const gen_token *t, const char *text, size_t len)
{
    const run_out *r = user;
    if (!r->json) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        return true;
    }
    if (!t)
        return true;
    size_t plen;
    const char *piece = tok_piece(r->vocab, t->id, true, &plen);
    char buf[1024];
    utf8_sanitize(piece ? piece : "", plen, buf, sizeof buf);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", t->id);
    cJSON_AddStringToObject(o, "piece", buf);
    if (t->n_top > 0) {
        cJSON_AddNumberToObject(o, "logprob", t->logprob);
        cJSON *top = cJSON_AddArrayToObject(o, "top");
        for (int i = 0; i < t->n_top; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "id", t->top_id[i]);
            cJSON_AddNumberToObject(e, "logprob", t->top_logprob[i]);
            cJSON_AddItemToArray(top, e);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    cJSON_Delete(o);
    return true;
}

int cmd_run(int argc, char **argv)
{
    genopts o;
    genopts_init(&o);
    constrain_opts con = { 0 };
    const char *model = NULL, *prompt = NULL;
    bool json = false, no_bos = false, special = false, yes = false;
    long logprobs = 0;
    for (int i = 1; i < argc; i++) {
        bool ok;
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s%s%s", usage, constrain_help, genopts_help);
            return 0;
        } else if (genopts_parse(&o, "run", argc, argv, &i, &ok) ||
                   constrain_parse(&con, "run", argc, argv, &i, &ok)) {
            if (!ok)
                return 2;
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && i + 1 < argc) {
            prompt = argv[++i];
        } else if (strcmp(a, "--logprobs") == 0 && i + 1 < argc) {
            if (!parse_int(argv[++i], 0, GEN_MAX_PROBS, &logprobs)) {
                fprintf(stderr, "hearth run: --logprobs takes 0..%d\n", GEN_MAX_PROBS);
                return 2;
            }
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--no-bos") == 0) {
            no_bos = true;
        } else if (strcmp(a, "--special") == 0) {
            special = true;
        } else if (strcmp(a, "--yes") == 0) {
            yes = true;
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            fprintf(stderr, "hearth run: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!prompt) {
        fprintf(stderr, "hearth run: no prompt (-p TEXT)\n%s", usage);
        return 2;
    }
    hearth_error err;
    char *stdin_text = NULL;
    if (strcmp(prompt, "-") == 0) {
        if (file_read_all("/dev/stdin", 64 << 20, &stdin_text, NULL, &err) != HEARTH_OK) {
            fprintf(stderr, "hearth run: %s\n", err.msg);
            return 1;
        }
        prompt = stdin_text;
    }
    if (!*prompt) { /* BOS alone is no prompt: the continuation would be arbitrary */
        fprintf(stderr, "hearth run: the prompt is empty (give the text to continue with -p)\n");
        mem_free(stdin_text);
        return 2;
    }
    o.gen.n_probs = (int)logprobs;
    if (!constrain_load(&con, "run")) {
        mem_free(stdin_text);
        return 2;
    }
    o.gen.grammar = con.grammar;
    char *default_model = NULL;
    if (!model) {
        int rc = cli_default_model("run", yes, &default_model);
        if (rc) {
            mem_free(stdin_text);
            constrain_free(&con);
            return rc;
        }
        model = default_model;
    }

    gen_model *m = NULL;
    gen_session *s = NULL;
    tok_ids ids = { 0 };
    gen_stats stats;
    char *model_path = NULL;
    hearth_status st = hub_resolve_model(model, &model_path, &err);
    if (!st)
        st = gen_model_open(&m, model_path, llm_model_default_params(), &err);
    if (!st)
        st = gen_session_new(&s, m->llm, m->vocab, o.ctx, &err);
    if (!st)
        st = tok_encode(m->vocab, prompt, strlen(prompt), !no_bos, special, &ids, &err);
    run_out r = { .vocab = m ? m->vocab : NULL, .json = json };
    if (!st)
        st = gen_run(s, ids.v, ids.n, &o.gen, on_token, &r, &stats, &err);
    if (st) {
        fprintf(stderr, "hearth run: %s\n", err.msg);
    } else {
        if (!json)
            printf("\n");
        fprintf(stderr, "[%d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s, stop: %s]\n",
                stats.n_prompt, stats.prompt_ms > 0 ? stats.n_prompt * 1e3 / stats.prompt_ms : 0.0,
                stats.n_gen, stats.gen_ms > 0 ? stats.n_gen * 1e3 / stats.gen_ms : 0.0,
                gen_finish_name(stats.finish));
    }
    tok_ids_free(&ids);
    gen_session_free(s);
    gen_model_free(m);
    mem_free(model_path);
    mem_free(default_model);
    mem_free(stdin_text);
    constrain_free(&con);
    return st ? 1 : 0;
}
