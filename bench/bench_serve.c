/*
 * bench_serve.c — a bounded load test of `hearth serve`: many concurrent streaming
 * clients on loopback, against one client alone in the same run.
 *
 *   bench_serve [--clients 32] [--seconds 30] [--parallel 8] [--max-tokens 64]
 *               [--temperature 0] [--model FILE] [--hearth build/hearth] [--threads N]
 *               [--max-growth-mb 16]
 *
 * It starts `hearth serve --port 0 --parallel P --queue 2*clients` as a child process
 * (reading the port from its "listening on" line), then runs three phases, each client a
 * thread looping over streamed POST /v1/completions requests on one keep-alive
 * connection (libcurl): one client alone for a fifth of the time (the baseline),
 * all clients for a fifth (the warm-up: every slot, buffer and connection thread has been
 * used once), then all clients for the full time. A request counts as an error unless it
 * answers 200, streams to "data: [DONE]" and reports its completion tokens (usage).
 *
 * Reported: requests, errors, aggregate generated tokens/s for the full phase against
 * the single client's, and the server's resident memory (VmRSS) idle, after the warm-up
 * and after the load. Exit status 1 when there were errors or the RSS grew by more than
 * --max-growth-mb after the warm-up (negative: not checked), 2 on a setup failure.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"

typedef struct opts {
    int clients, parallel, max_tokens, threads;
    double seconds, max_growth_mb, temperature;
    const char *model, *hearth;
} opts;

typedef struct client {
    int id, port, max_tokens;
    double deadline, temperature;
    long requests, errors, tokens;
    char err[160];
    char *buf;          /* the current answer */
    size_t n, cap;
} client;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the server process -------------------------------------------------------------- */

/* Start hearth serve; returns its pid and sets *port, or -1. */
static pid_t spawn(const opts *o, int *port)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char par[16], queue[16], thr[16];
    snprintf(par, sizeof par, "%d", o->parallel);
    snprintf(queue, sizeof queue, "%d", 2 * o->clients);
    snprintf(thr, sizeof thr, "%d", o->threads);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        const char *argv[] = { o->hearth, "serve", "--model", o->model, "--port", "0",
                               "--parallel", par, "--queue", queue, "--quiet",
                               o->threads > 0 ? "--threads" : NULL, thr, NULL };
        execv(o->hearth, (char *const *)argv);
        fprintf(stderr, "cannot run %s\n", o->hearth);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    char line[512];
    *port = 0;
    while (f && !*port && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "listening on http://");
        const char *colon = p ? strrchr(p, ':') : NULL;
        if (colon)
            *port = atoi(colon + 1);
        else
            fputs(line, stderr);
    }
    if (f)
        fclose(f); /* the server ignores SIGPIPE; it is --quiet anyway */
    if (!*port) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* ---- clients ------------------------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    client *c = user;
    size_t k = size * nmemb;
    if (c->n + k + 1 > c->cap) {
        size_t cap = (c->n + k + 1) * 2;
        char *nb = mem_realloc(c->buf, cap);
        if (!nb)
            return 0;
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->n, p, k);
    c->n += k;
    c->buf[c->n] = '\0';
    return k;
}

static void fail(client *c, const char *what)
{
    c->errors++;
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "%s", what);
}

static void *client_main(void *arg)
{
    client *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char url[128], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", c->port);
    snprintf(body, sizeof body, "{\"prompt\":\"Client %d asks for a story about the sea\","
             "\"max_tokens\":%d,\"temperature\":%g,\"stream\":true,"
             "\"stream_options\":{\"include_usage\":true}}", c->id, c->max_tokens, c->temperature);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    while (now() < c->deadline) {
        c->n = 0;
        c->requests++;
        long status = 0;
        if (curl_easy_perform(h) != CURLE_OK) {
            fail(c, "transfer failed");
            continue;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        const char *u = c->n ? strstr(c->buf, "\"completion_tokens\":") : NULL;
        if (status != 200) {
            char msg[64];
            snprintf(msg, sizeof msg, "HTTP status %ld", status);
            fail(c, msg);
        } else if (!strstr(c->buf, "data: [DONE]") || !u) {
            fail(c, "the stream did not end with usage and [DONE]");
        } else {
            c->tokens += atol(u + 20);
        }
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    mem_free(c->buf);
    return NULL;
}

typedef struct phase {
    long requests, errors, tokens;
    double seconds;
} phase;

static phase run_phase(int port, int n, double seconds, const opts *o)
{
    phase r = { 0 };
    client *cs = mem_calloc((size_t)n, sizeof *cs);
    pthread_t *ts = mem_calloc((size_t)n, sizeof *ts);
    if (!cs || !ts) {
        mem_free(cs);
        mem_free(ts);
        r.errors = 1;
        return r;
    }
    double t0 = now();
    int started = 0;
    for (int i = 0; i < n; i++) {
        cs[i] = (client){ .id = i, .port = port, .max_tokens = o->max_tokens,
                          .temperature = o->temperature, .deadline = t0 + seconds };
        if (pthread_create(&ts[i], NULL, client_main, &cs[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(ts[i], NULL);
        r.requests += cs[i].requests;
        r.errors += cs[i].errors;
        r.tokens += cs[i].tokens;
        if (cs[i].err[0] && r.errors == cs[i].errors)
            fprintf(stderr, "client %d: %s\n", i, cs[i].err);
    }
    r.errors += n - started;
    r.seconds = now() - t0;
    mem_free(cs);
    mem_free(ts);
    return r;
}

/* ---- main ---------------------------------------------------------------------------- */

static bool parse(opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return false;
        if (!strcmp(a, "--clients"))
            o->clients = atoi(v);
        else if (!strcmp(a, "--seconds"))
            o->seconds = atof(v);
        else if (!strcmp(a, "--parallel"))
            o->parallel = atoi(v);
        else if (!strcmp(a, "--max-tokens"))
            o->max_tokens = atoi(v);
        else if (!strcmp(a, "--temperature"))
            o->temperature = atof(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--max-growth-mb"))
            o->max_growth_mb = atof(v);
        else if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--hearth"))
            o->hearth = v;
        else
            return false;
        i++;
    }
    return o->clients >= 1 && o->clients <= 1024 && o->seconds > 0 && o->parallel >= 1 &&
           o->max_tokens >= 1 && o->threads >= 0 && o->temperature >= 0 && o->temperature <= 2;
}

static void report(const char *name, const phase *p, int clients)
{
    printf("%-8s %3d clients %6.1f s  %6ld requests  %ld errors  %8ld tokens  %9.1f tokens/s\n",
           name, clients, p->seconds, p->requests, p->errors, p->tokens,
           p->tokens / p->seconds);
}

int main(int argc, char **argv)
{
    opts o = { .clients = 32, .parallel = 8, .max_tokens = 64, .seconds = 30,
               .max_growth_mb = 16, .model = "../shared/testdata/models/tiny-qwen2-bpe-q8_0.gguf",
               .hearth = "build/hearth" };
    if (!parse(&o, argc, argv)) {
        fprintf(stderr, "usage: bench_serve [--clients N] [--seconds S] [--parallel N] "
                "[--max-tokens N] [--temperature T] [--model FILE] [--hearth PATH] [--threads N] "
                "[--max-growth-mb MB]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int port;
    pid_t pid = spawn(&o, &port);
    if (pid < 0) {
        fprintf(stderr, "bench_serve: %s serve did not start\n", o.hearth);
        return 2;
    }
    printf("hearth serve pid %d port %d, --parallel %d, model %s, %d tokens per request at "
           "temperature %g\n", (int)pid, port, o.parallel, o.model, o.max_tokens, o.temperature);
    double short_s = o.seconds / 5 > 1 ? o.seconds / 5 : 1;
    long rss0 = rss_kb(pid);
    phase single = run_phase(port, 1, short_s, &o);
    phase warm = run_phase(port, o.clients, short_s, &o);
    long rss1 = rss_kb(pid);
    phase load = run_phase(port, o.clients, o.seconds, &o);
    long rss2 = rss_kb(pid);
    kill(pid, SIGTERM);
    int wst = 0;
    waitpid(pid, &wst, 0);
    report("single", &single, 1);
    report("warm-up", &warm, o.clients);
    report("load", &load, o.clients);
    double speedup = single.tokens > 0 ? (load.tokens / load.seconds) /
                                         (single.tokens / single.seconds) : 0;
    double growth_mb = (rss2 - rss1) / 1024.0;
    printf("aggregate %.1f tokens/s = %.2fx one client's %.1f\n", load.tokens / load.seconds,
           speedup, single.tokens / single.seconds);
    printf("server RSS: idle %.1f MB, after warm-up %.1f MB, after load %.1f MB "
           "(growth %+.1f MB)\n", rss0 / 1024.0, rss1 / 1024.0, rss2 / 1024.0, growth_mb);
    long errors = single.errors + warm.errors + load.errors;
    bool grew = o.max_growth_mb >= 0 && growth_mb > o.max_growth_mb;
    bool clean = WIFEXITED(wst) && WEXITSTATUS(wst) == 0;
    printf("errors %ld%s%s\n", errors, grew ? ", memory grew after the warm-up" : "",
           clean ? "" : ", the server did not exit cleanly");
    curl_global_cleanup();
    return errors || grew || !clean || single.tokens == 0 ? 1 : 0;
}
