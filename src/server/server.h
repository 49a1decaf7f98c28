/*
 * server.h — `hearth serve`: the OpenAI- and Ollama-compatible HTTP API.
 *
 * srv_start loads nothing: models are found (one file, or every .gguf in a directory,
 * named by file name) and loaded on first use, each with its own scheduler (batch.h)
 * running up to batch.n_parallel requests together; an idle model is unloaded after its
 * keep-alive, and loading one that would exceed the memory budget first unloads idle
 * ones. Safe defaults: loopback only unless an API key is set (or insecure_no_auth),
 * Host-header allow-list, bounded bodies, connections and queues.
 *
 * Routes: GET / (web chat), /health, /metrics (Prometheus text), /v1/models, POST /v1/chat/completions,
 * /v1/completions; GET /api/version, /api/tags, /api/ps, POST /api/show, /api/generate,
 * /api/chat; POST /v1/embeddings, /api/embed, /api/embeddings (embeddings.c: bert models
 * from --embed FILE or NAME.gguf in --models DIR), /v1/audio/transcriptions and
 * /v1/audio/translations (audio.c: whisper.cpp models from --whisper FILE or NAME.bin in
 * --models DIR).
 */
#ifndef HEARTH_SERVER_SERVER_H
#define HEARTH_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "generate/batch.h"

#define SRV_MAX_ALLOW_HOSTS 16

typedef struct srv_config {
    const char *host;              /* default "127.0.0.1" */
    int port;                      /* default 11435; 0: ephemeral */
    const char *api_key;           /* NULL: no key */
    bool insecure_no_auth;         /* allow a non-loopback bind without a key */
    const char *allow_hosts[SRV_MAX_ALLOW_HOSTS + 1]; /* extra Host names, NULL-ended */
    const char *cors_origin;       /* NULL: no cross-origin access */
    const char *model_file;        /* one model ... */
    const char *models_dir;        /* ... or every .gguf here */
    const char *embed_file;        /* --embed: the default embedding model (bert GGUF) */
    const char *whisper_file;      /* --whisper: the default speech model (whisper.cpp) */
    size_t mem_budget;             /* bytes of loaded models: chat models' files and KV
                                      caches, embedding and speech models' files; 0: no
                                      limit */
    double keep_alive_s;           /* default idle time before unloading; < 0: forever */
    int max_ctx;                   /* most context a request (num_ctx) may grow a model to;
                                      0: the model's training context */
    bat_params batch;
    size_t max_body;               /* request-body limit */
    int max_conn;
    int timeout_s;                 /* slow / idle client timeout */
    bool log_prompts;              /* include prompt text in the access log */
    void (*log)(void *user, const char *line); /* one line per request; NULL: none */
    void *log_user;
} srv_config;

srv_config srv_default_config(void);

typedef struct srv srv;

/* Check the configuration (refuses a non-loopback bind without a key), find the models
 * and start listening. */
hearth_status srv_start(srv **out, const srv_config *c, hearth_error *err);
int srv_port(const srv *s);
/* Graceful stop: refuse new connections, cancel running generations (their streams end
 * cleanly), close connections, unload models. */
void srv_stop(srv *s);

#endif
