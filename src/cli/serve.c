/*
 * serve.c — `hearth serve`: run the OpenAI- and Ollama-compatible API (server/server.h)
 * until SIGINT or SIGTERM, then stop gracefully.
 *
 * The signals are blocked before any thread starts, so every thread inherits the mask
 * and the main thread alone receives them through sigwait: no handler runs in the middle
 * of a request.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "base/mem.h"
#include "cli/genopts.h"
#include "hub/registry.h"
#include "server/server.h"
#include "tensor/types.h"

static const char usage[] =
    "usage: hearth serve [--model FILE.gguf | --models DIR | --embed FILE | --whisper FILE]\n"
    "                    [options]\n"
    "Serve the OpenAI API (/v1/...), the Ollama API (/api/...) and a web chat (/).\n"
    "With no model, offers the default model (as `hearth chat` does; --yes accepts).\n"
    "  --host ADDR           address to listen on (default 127.0.0.1)\n"
    "  --port N              port (default 11435; 0 picks a free one)\n"
    "  --model FILE          serve this model (named after the file)\n"
    "  --models DIR          serve every .gguf file in DIR (and, by name, embedding\n"
    "                        models NAME.gguf and whisper.cpp models NAME.bin)\n"
    "  --embed FILE          embedding model (bert GGUF) for /v1/embeddings, /api/embed\n"
    "  --whisper FILE        whisper.cpp model for /v1/audio/transcriptions, translations\n"
    "  --api-key KEY         require 'Authorization: Bearer KEY' (or set HEARTH_API_KEY)\n"
    "  --insecure-no-auth    allow a non-loopback --host without an API key\n"
    "  --allow-host NAME     accept this Host header too (repeatable; localhost always)\n"
    "  --cors-origin ORIGIN  let web pages from ORIGIN call the API\n"
    "  --parallel N          requests decoded together per model (default 4)\n"
    "  --queue N             requests that may wait for a slot; more get 503 (default 16)\n"
    "  -c, --ctx N           context per request in tokens (default: the model's, <= 4096)\n"
    "  --max-ctx N           most context an Ollama request's num_ctx may grow a model to\n"
    "                        (default: the model's training context)\n"
    "  -t, --threads N       threads per model (default: one per CPU)\n"
    "  --kv-cache f16|q8_0   KV cache type (default f16)\n"
    "  --max-memory MB       most MB of models loaded at once: chat models' files and KV\n"
    "                        caches, embedding and speech models' files (default: no\n"
    "                        limit); a num_ctx that would exceed it is refused\n"
    "  --keep-alive SECONDS  unload a model this long after its last request (default 300;\n"
    "                        negative: never)\n"
    "  --max-body BYTES      largest request body (default 8 MiB)\n"
    "  --log-prompts         include request bodies in the access log\n"
    "  --quiet               no access log\n"
    "  --yes                 with no model: fetch the default model without asking\n";

static void log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "%s\n", line);
}

static bool num(const char *flag, const char *v, long lo, long hi, long *out)
{
    if (v && parse_int(v, lo, hi, out))
        return true;
    fprintf(stderr, "hearth serve: %s needs a whole number between %ld and %ld\n", flag, lo, hi);
    return false;
}

/* Parse one option; false on an error (already reported). */
static bool option(srv_config *c, int argc, char **argv, int *i, int *n_allow, bool *quiet)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n;
    bool takes = true;
    if (!strcmp(a, "--insecure-no-auth")) {
        c->insecure_no_auth = true;
        takes = false;
    } else if (!strcmp(a, "--log-prompts")) {
        c->log_prompts = true;
        takes = false;
    } else if (!strcmp(a, "--quiet")) {
        *quiet = true;
        takes = false;
    } else if (!v) {
        fprintf(stderr, "hearth serve: %s needs a value (or is unknown)\n", a);
        return false;
    } else if (!strcmp(a, "--host")) {
        c->host = v;
    } else if (!strcmp(a, "--port")) {
        if (!num(a, v, 0, 65535, &n))
            return false;
        c->port = (int)n;
    } else if (!strcmp(a, "--model")) {
        c->model_file = v;
    } else if (!strcmp(a, "--models")) {
        c->models_dir = v;
    } else if (!strcmp(a, "--embed")) {
        c->embed_file = v;
    } else if (!strcmp(a, "--whisper")) {
        c->whisper_file = v;
    } else if (!strcmp(a, "--api-key")) {
        c->api_key = v;
    } else if (!strcmp(a, "--allow-host")) {
        if (*n_allow == SRV_MAX_ALLOW_HOSTS) {
            fprintf(stderr, "hearth serve: at most %d --allow-host\n", SRV_MAX_ALLOW_HOSTS);
            return false;
        }
        c->allow_hosts[(*n_allow)++] = v;
    } else if (!strcmp(a, "--cors-origin")) {
        c->cors_origin = v;
    } else if (!strcmp(a, "--parallel")) {
        if (!num(a, v, 1, 256, &n))
            return false;
        c->batch.n_parallel = (int)n;
    } else if (!strcmp(a, "--queue")) {
        if (!num(a, v, 0, 100000, &n))
            return false;
        c->batch.n_queue = (int)n;
    } else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
        if (!num(a, v, 16, 1 << 22, &n))
            return false;
        c->batch.ctx.n_ctx = (int)n;
    } else if (!strcmp(a, "--max-ctx")) {
        if (!num(a, v, 16, 1 << 22, &n))
            return false;
        c->max_ctx = (int)n;
    } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
        if (!num(a, v, 1, 1024, &n))
            return false;
        c->batch.ctx.n_threads = (int)n;
    } else if (!strcmp(a, "--kv-cache")) {
        int t = tq_type_from_name(v);
        if (t != TQ_F16 && t != TQ_Q8_0) {
            fprintf(stderr, "hearth serve: --kv-cache takes f16 or q8_0\n");
            return false;
        }
        c->batch.ctx.kv_type = t;
    } else if (!strcmp(a, "--max-memory")) {
        if (!num(a, v, 1, 1L << 30, &n))
            return false;
        c->mem_budget = (size_t)n << 20;
    } else if (!strcmp(a, "--keep-alive")) {
        if (!num(a, v, -1, 1L << 30, &n))
            return false;
        c->keep_alive_s = (double)n;
    } else if (!strcmp(a, "--max-body")) {
        if (!num(a, v, 1024, 1L << 30, &n))
            return false;
        c->max_body = (size_t)n;
    } else {
        fprintf(stderr, "hearth serve: unknown option '%s'\n%s", a, usage);
        return false;
    }
    if (takes)
        (*i)++;
    return true;
}

int cmd_serve(int argc, char **argv)
{
    srv_config c = srv_default_config();
    int n_allow = 0;
    bool quiet = false, yes = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--yes"))
            yes = true;
        else if (!option(&c, argc, argv, &i, &n_allow, &quiet))
            return 2;
    }
    /* no model at all: the same default-model offer as `hearth chat` */
    char *default_name = NULL, *default_path = NULL;
    if (!c.model_file && !c.models_dir && !c.embed_file && !c.whisper_file) {
        int rc = cli_default_model("serve", yes, &default_name);
        hearth_error err;
        if (rc)
            return rc;
        if (hub_resolve_model(default_name, &default_path, &err) != HEARTH_OK) {
            fprintf(stderr, "hearth serve: %s\n", err.msg);
            mem_free(default_name);
            return 1;
        }
        c.model_file = default_path;
    }
    if (!c.api_key && getenv("HEARTH_API_KEY") && *getenv("HEARTH_API_KEY"))
        c.api_key = getenv("HEARTH_API_KEY");
    if (!quiet)
        c.log = log_line;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth serve: %s\n", err.msg);
        mem_free(default_name);
        mem_free(default_path);
        return 1;
    }
    fprintf(stderr, "hearth serve: listening on http://%s%s%s:%d/%s\n",
            strchr(c.host, ':') ? "[" : "", c.host, strchr(c.host, ':') ? "]" : "",
            srv_port(s), c.api_key ? " (API key required)" : "");
    int sig;
    sigwait(&sigs, &sig);
    fprintf(stderr, "hearth serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    srv_stop(s);
    mem_free(default_name);
    mem_free(default_path);
    return 0;
}
