/*
 * chat.c — `hearth chat MODEL`: an interactive, streamed, multi-turn conversation.
 *
 * Each turn renders the whole conversation with the model's chat template, tokenizes it
 * and hands it to the generation service, which reuses the KV cache for the part of the
 * prompt it has already seen, so a long conversation does not get slower per turn.
 * Ctrl-C stops the answer being written, not the program. Commands start with '/'.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cli/constrain.h"
#include "cli/genopts.h"
#include "generate/templates.h"
#include "hub/registry.h"

static const char usage[] =
    "usage: hearth chat [MODEL] [--system TEXT] [options]\n"
    "Talk with MODEL (a registered name or a .gguf file; without it, the default model is\n"
    "offered). In the chat: /reset starts over,\n"
    "/save FILE and /load FILE keep a conversation, /exit (or Ctrl-D) quits, Ctrl-C stops\n"
    "an answer.\n"
    "  --system TEXT         the system prompt\n"
    "  --yes                 without MODEL: download the default model without asking\n";

#define MAX_MESSAGES 4096

typedef struct chat {
    gen_model *m;
    gen_session *s;
    genopts o;
    constrain_opts con;   /* every answer follows this grammar, if given */
    tpl_message msg[MAX_MESSAGES];
    int n_msg;
    bool use_chatml;      /* the model's template is missing or failed */
    tok_str answer;       /* the reply being streamed */
} chat;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool add_message(chat *c, const char *role, const char *content)
{
    if (c->n_msg == MAX_MESSAGES)
        return false;
    char *r = mem_strdup(role), *t = mem_strdup(content);
    if (!r || !t) {
        mem_free(r);
        mem_free(t);
        return false;
    }
    c->msg[c->n_msg++] = (tpl_message){ .role = r, .content = t };
    return true;
}

static void drop_messages(chat *c, int keep)
{
    while (c->n_msg > keep) {
        c->n_msg--;
        mem_free((char *)c->msg[c->n_msg].role);
        mem_free((char *)c->msg[c->n_msg].content);
    }
}

static bool on_token(void *user, const gen_token *t, const char *text, size_t len)
{
    chat *c = user;
    (void)t;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (c->answer.n + len + 1 > c->answer.cap) {
        size_t cap = (c->answer.n + len + 1) * 2;
        char *s = mem_realloc(c->answer.s, cap);
        if (!s)
            return false;
        c->answer.s = s;
        c->answer.cap = cap;
    }
    memcpy(c->answer.s + c->answer.n, text, len);
    c->answer.n += len;
    c->answer.s[c->answer.n] = '\0';
    return !interrupted;
}

/* Switch to the ChatML fallback. A vocabulary without an <|im_end|> token sees that text
 * as plain characters, so it becomes a stop string. */
static void fall_back_to_chatml(chat *c)
{
    c->use_chatml = true;
    if (tok_find(c->m->vocab, "<|im_end|>", 10) == TOK_NONE && c->o.gen.n_stop < GENOPTS_MAX_STOP)
        c->o.stop[c->o.gen.n_stop++] = "<|im_end|>";
}

/* Render the conversation; warns once and switches to ChatML if the template fails. */
static hearth_status render(chat *c, char **out, hearth_error *err)
{
    const tok_vocab *v = c->m->vocab;
    const tok_specials *sp = tok_special(v);
    if (!c->use_chatml) {
        const char *bos = sp->bos >= 0 ? tok_text(v, sp->bos, NULL) : "";
        const char *eos = sp->eos >= 0 ? tok_text(v, sp->eos, NULL) : "";
        if (tpl_render(c->m->chat_template, c->msg, c->n_msg, true, bos, eos, out, err) ==
            HEARTH_OK)
            return HEARTH_OK;
        fprintf(stderr, "warning: the model's chat template could not be used (%s); "
                "falling back to ChatML\n", err->msg);
        fall_back_to_chatml(c);
    }
    return tpl_render_chatml(c->msg, c->n_msg, true, out, err);
}

/* One assistant turn for the conversation so far. */
static void respond(chat *c)
{
    hearth_error err;
    char *prompt = NULL;
    tok_ids ids = { 0 };
    hearth_status st = render(c, &prompt, &err);
    if (!st) {
        /* the template writes BOS itself when it wants one */
        const tok_specials *sp = tok_special(c->m->vocab);
        const char *bos = sp->bos >= 0 ? tok_text(c->m->vocab, sp->bos, NULL) : NULL;
        bool has_bos = bos && *bos && strncmp(prompt, bos, strlen(bos)) == 0;
        st = tok_encode(c->m->vocab, prompt, strlen(prompt), !has_bos, true, &ids, &err);
    }
    gen_stats stats;
    c->answer.n = 0;
    interrupted = 0;
    if (!st)
        st = gen_run(c->s, ids.v, ids.n, &c->o.gen, on_token, c, &stats, &err);
    printf("\n");
    if (st) {
        fprintf(stderr, "error: %s\n", err.msg);
        drop_messages(c, c->n_msg - 1); /* forget the user turn that failed */
    } else {
        if (stats.finish == GEN_FINISH_CANCELLED)
            fprintf(stderr, "[stopped]\n");
        else if (stats.finish == GEN_FINISH_CONTEXT)
            fprintf(stderr, "[the context is full: /reset to start a new conversation]\n");
        if (!add_message(c, "assistant", c->answer.n ? c->answer.s : ""))
            fprintf(stderr, "error: the conversation is too long to keep\n");
    }
    tok_ids_free(&ids);
    mem_free(prompt);
}

static void save(chat *c, const char *path)
{
    cJSON *root = cJSON_CreateArray();
    for (int i = 0; i < c->n_msg; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", c->msg[i].role);
        cJSON_AddStringToObject(m, "content", c->msg[i].content);
        cJSON_AddItemToArray(root, m);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    file_atomic f;
    hearth_error err;
    if (!text || file_atomic_open(&f, path, &err) != HEARTH_OK) {
        fprintf(stderr, "error: %s\n", text ? err.msg : "out of memory");
    } else {
        fputs(text, f.fp);
        fputc('\n', f.fp);
        if (file_atomic_commit(&f, &err) != HEARTH_OK)
            fprintf(stderr, "error: %s\n", err.msg);
        else
            fprintf(stderr, "[saved %d messages to %s]\n", c->n_msg, path);
    }
    cJSON_free(text);
}

static void load(chat *c, const char *path)
{
    char *text;
    hearth_error err;
    if (file_read_all(path, 64 << 20, &text, NULL, &err) != HEARTH_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        return;
    }
    cJSON *root = cJSON_Parse(text);
    mem_free(text);
    const cJSON *m;
    bool ok = cJSON_IsArray(root);
    cJSON_ArrayForEach(m, root) {
        const cJSON *role = cJSON_GetObjectItem(m, "role"), *content = cJSON_GetObjectItem(m, "content");
        ok = ok && cJSON_IsString(role) && cJSON_IsString(content);
    }
    if (!ok) {
        fprintf(stderr, "error: %s is not a saved conversation (a JSON array of "
                "{\"role\", \"content\"} objects)\n", path);
    } else {
        drop_messages(c, 0);
        cJSON_ArrayForEach(m, root)
            if (!add_message(c, cJSON_GetObjectItem(m, "role")->valuestring,
                             cJSON_GetObjectItem(m, "content")->valuestring))
                break;
        gen_session_reset(c->s);
        fprintf(stderr, "[loaded %d messages from %s]\n", c->n_msg, path);
    }
    cJSON_Delete(root);
}

/* A command line starting with '/'; returns false to quit. */
static bool command(chat *c, char *line, int n_system)
{
    char *arg = strchr(line, ' ');
    if (arg) {
        *arg++ = '\0';
        while (*arg == ' ')
            arg++;
    }
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit") || !strcmp(line, "/bye"))
        return false;
    if (!strcmp(line, "/reset")) {
        drop_messages(c, n_system);
        gen_session_reset(c->s);
        fprintf(stderr, "[new conversation]\n");
    } else if (!strcmp(line, "/save") && arg && *arg) {
        save(c, arg);
    } else if (!strcmp(line, "/load") && arg && *arg) {
        load(c, arg);
    } else {
        fprintf(stderr, "commands: /reset, /save FILE, /load FILE, /exit\n");
    }
    return true;
}

static int chat_loop(chat *c, int n_system)
{
    bool tty = isatty(STDIN_FILENO);
    char line[65536];
    for (;;) {
        if (tty) {
            printf("> ");
            fflush(stdout);
        }
        interrupted = 0;
        if (!fgets(line, sizeof line, stdin)) {
            if (errno == EINTR && interrupted) { /* Ctrl-C at the prompt */
                clearerr(stdin);
                errno = 0;
                fprintf(stderr, "\n(/exit or Ctrl-D quits)\n");
                continue;
            }
            break;
        }
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        if (line[0] == '/') {
            if (!command(c, line, n_system))
                break;
            continue;
        }
        if (!add_message(c, "user", line)) {
            fprintf(stderr, "error: the conversation is too long to keep; /reset\n");
            continue;
        }
        respond(c);
    }
    return 0;
}

int cmd_chat(int argc, char **argv)
{
    chat *c = mem_calloc(1, sizeof *c);
    if (!c)
        return 1;
    genopts_init(&c->o);
    const char *model = NULL, *system = NULL;
    bool yes = false;
    for (int i = 1; i < argc; i++) {
        bool ok;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s%s%s", usage, constrain_help, genopts_help);
            mem_free(c);
            return 0;
        } else if (genopts_parse(&c->o, "chat", argc, argv, &i, &ok) ||
                   constrain_parse(&c->con, "chat", argc, argv, &i, &ok)) {
            if (!ok) {
                mem_free(c);
                return 2;
            }
        } else if (!strcmp(a, "--system") && i + 1 < argc) {
            system = argv[++i];
        } else if (!strcmp(a, "--yes")) {
            yes = true;
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            fprintf(stderr, "hearth chat: unknown or incomplete option '%s'\n%s", a, usage);
            mem_free(c);
            return 2;
        }
    }
    char *default_model = NULL;
    if (!model) {
        int drc = cli_default_model("chat", yes, &default_model);
        if (drc) {
            mem_free(c);
            return drc;
        }
        model = default_model;
    }
    hearth_error err;
    int rc = 1;
    if (!constrain_load(&c->con, "chat")) {
        mem_free(default_model);
        mem_free(c);
        return 2;
    }
    c->o.gen.grammar = c->con.grammar;
    char *model_path = NULL;
    if (hub_resolve_model(model, &model_path, &err) != HEARTH_OK ||
        gen_model_open(&c->m, model_path, llm_model_default_params(), &err) != HEARTH_OK ||
        gen_session_new(&c->s, c->m->llm, c->m->vocab, c->o.ctx, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth chat: %s\n", err.msg);
        goto done;
    }
    if (!c->m->chat_template) {
        fprintf(stderr, "warning: %s has no chat template; using ChatML\n", model);
        fall_back_to_chatml(c);
    } else if (!strcmp(tpl_guess_family(c->m->chat_template), "unknown")) {
        fprintf(stderr, "note: the chat template is not one of the common families; "
                "rendering it as written\n");
    }
    if (system && !add_message(c, "system", system))
        goto done;
    struct sigaction sa = { .sa_handler = on_sigint }; /* no SA_RESTART: fgets returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    rc = chat_loop(c, system ? 1 : 0);
done:
    drop_messages(c, 0);
    tok_str_free(&c->answer);
    gen_session_free(c->s);
    gen_model_free(c->m);
    mem_free(model_path);
    mem_free(default_model);
    constrain_free(&c->con);
    mem_free(c);
    return rc;
}
