/*
 * models.c — the server's model table: which models exist, which are loaded, and when
 * to unload them.
 *
 * The table is fixed at start (one file, or the .gguf files of a directory, named by
 * file name without the extension; names are checked, never turned back into paths from
 * a request). A model loads on first use, under the table's lock (a second request for
 * it waits for the first load rather than loading twice). Each release sets when the
 * model may unload; a janitor thread unloads expired, unused models once a second.
 *
 * The memory budget (--max-memory) counts each loaded chat model's file and its KV cache,
 * the one allocation that grows with the context: a client's num_ctx could otherwise take
 * a budgeted server past the memory it was given. A load, or a context growth, that would
 * take the total past the budget first unloads idle models, least recently expiring
 * first, and is refused if that is not enough; one that exceeds the budget on its own is
 * refused without unloading anything. Embedding and speech models live in tables of their
 * own (embeddings.c, audio.c, knowledge.c) but count against the same budget: they pin
 * their file sizes here while loaded (models_pin), so a chat model's load makes room for
 * them too.
 */
#include "server/server_int.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/mem.h"

struct srv_models {
    srv_model *m;
    int n;
    size_t budget;
    size_t pinned;       /* bytes of embedding and speech models loaded elsewhere */
    int max_ctx;         /* most context a request may grow a model to; 0: its training one */
    double keep_alive_s;
    bat_params bp;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t janitor;
    bool quit;
};

double models_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void unload(srv_model *m)
{
    bat_free(m->sched);
    gen_model_free(m->gm);
    m->sched = NULL;
    m->gm = NULL;
    m->grow_to = 0; /* anyone still waiting for it to grow asks again */
}

static void *janitor(void *arg)
{
    srv_models *ms = arg;
    pthread_mutex_lock(&ms->mu);
    while (!ms->quit) {
        double now = models_now();
        for (int i = 0; i < ms->n; i++) {
            srv_model *m = &ms->m[i];
            if (m->gm && m->users == 0 && m->expires >= 0 && m->expires <= now)
                unload(m);
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&ms->cv, &ms->mu, &t);
    }
    pthread_mutex_unlock(&ms->mu);
    return NULL;
}

/* Names become JSON and log text: keep them to a plain, safe alphabet. */
static bool good_name(const char *name, size_t n)
{
    if (n == 0 || n >= sizeof ((srv_model *)0)->name)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '+'))
            return false;
    }
    return true;
}

/* Bytes of the model file at path, all parts of a split model together (a missing part
 * counts nothing: loading it will say which is missing); 0 if path cannot be read. */
static size_t model_bytes(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    size_t size = (size_t)sb.st_size;
    int parts = 0;
    if (gguf_split_name(path, &parts) == 1)
        for (int k = 2; k <= parts && k <= GGUF_MAX_PARTS; k++) {
            char other[4096];
            if (gguf_split_sibling(path, k, other, sizeof other) && stat(other, &sb) == 0)
                size += (size_t)sb.st_size;
        }
    return size;
}

/* A split model (gguf-split's NAME-00001-of-0000N.gguf) is listed once, by its first part,
 * as NAME, with the size of all its parts; the other parts are not models of their own. */
static hearth_status add_model(srv_models *ms, const char *path, hearth_error *err)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    int parts = 0;
    const int part = gguf_split_name(base, &parts);
    if (part > 1)
        return HEARTH_OK;
    if (part == 1)
        n -= sizeof "-NNNNN-of-MMMMM.gguf" - 1;
    else if (n > 5 && strcmp(base + n - 5, ".gguf") == 0)
        n -= 5;
    if (!good_name(base, n))
        return HEARTH_OK; /* skipped: not a name a client could ask for */
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return err_set(err, HEARTH_ERR_IO, "%s: not a readable file", path);
    srv_model *nm = mem_realloc_array(ms->m, (size_t)ms->n + 1, sizeof *nm);
    if (!nm)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    ms->m = nm;
    srv_model *m = &ms->m[ms->n];
    memset(m, 0, sizeof *m);
    memcpy(m->name, base, n);
    if (!(m->path = mem_strdup(path)))
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    m->file_size = model_bytes(path);
    m->mtime = (long)sb.st_mtime;
    ms->n++;
    return HEARTH_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const srv_model *)a)->name, ((const srv_model *)b)->name);
}

static hearth_status scan_dir(srv_models *ms, const char *dir, hearth_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot open the models directory", dir);
    hearth_status st = HEARTH_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".gguf") != 0 || e->d_name[0] == '.')
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        st = add_model(ms, path, err);
    }
    closedir(d);
    if (!st)
        qsort(ms->m, (size_t)ms->n, sizeof *ms->m, by_name);
    return st;
}

void models_stop(srv_models *ms)
{
    pthread_mutex_lock(&ms->mu);
    bool first = !ms->quit;
    ms->quit = true;
    pthread_cond_broadcast(&ms->cv);
    pthread_mutex_unlock(&ms->mu);
    if (!first)
        return;
    pthread_join(ms->janitor, NULL);
    for (int i = 0; i < ms->n; i++) {
        /* take the model out under the lock, free it outside: its jobs' callbacks release
         * the model and need the lock */
        pthread_mutex_lock(&ms->mu);
        srv_model copy = ms->m[i];
        ms->m[i].sched = NULL;
        ms->m[i].gm = NULL;
        pthread_mutex_unlock(&ms->mu);
        unload(&copy);
    }
}

void models_close(srv_models *ms)
{
    if (!ms)
        return;
    models_stop(ms);
    for (int i = 0; i < ms->n; i++)
        mem_free(ms->m[i].path);
    pthread_cond_destroy(&ms->cv);
    pthread_mutex_destroy(&ms->mu);
    mem_free(ms->m);
    mem_free(ms);
}

hearth_status models_open(srv_models **out, const srv_config *c, hearth_error *err)
{
    *out = NULL;
    srv_models *ms = mem_calloc(1, sizeof *ms);
    if (!ms)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    ms->budget = c->mem_budget;
    ms->max_ctx = c->max_ctx;
    ms->keep_alive_s = c->keep_alive_s;
    ms->bp = c->batch;
    hearth_status st = HEARTH_OK;
    if (c->model_file)
        st = add_model(ms, c->model_file, err);
    if (!st && c->models_dir)
        st = scan_dir(ms, c->models_dir, err);
    if (!st && ms->n == 0 && !c->embed_file && !c->whisper_file)
        st = err_set(err, HEARTH_ERR_INVALID, "no models to serve: give --model FILE.gguf, "
                     "--models DIR (with .gguf files named with letters, digits, '.', '-', '_'), "
                     "--embed FILE or --whisper FILE");
    if (!st && (pthread_mutex_init(&ms->mu, NULL) || pthread_cond_init(&ms->cv, NULL) ||
                pthread_create(&ms->janitor, NULL, janitor, ms)))
        st = err_set(err, HEARTH_ERR_NOMEM, "cannot start the model janitor thread");
    if (st) {
        for (int i = 0; i < ms->n; i++)
            mem_free(ms->m[i].path);
        mem_free(ms->m);
        mem_free(ms);
        return st;
    }
    *out = ms;
    return HEARTH_OK;
}

static srv_model *find(srv_models *ms, const char *name)
{
    if (!name || !*name)
        return ms->n == 1 ? &ms->m[0] : NULL;
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ":latest") == 0)
        n -= 7;
    for (int i = 0; i < ms->n; i++)
        if (strlen(ms->m[i].name) == n && strncmp(ms->m[i].name, name, n) == 0)
            return &ms->m[i];
    return NULL;
}

static double mb(size_t bytes)
{
    return (double)bytes / (1 << 20);
}

/* The scheduler parameters for context n_ctx (0: the server's --ctx, or the model's
 * default). */
static bat_params sched_params(const srv_models *ms, int n_ctx)
{
    bat_params bp = ms->bp;
    if (n_ctx > 0)
        bp.ctx.n_ctx = n_ctx;
    return bp;
}

/* Bytes the loaded model m holds against the budget: its file and its KV cache. */
static size_t held_bytes(const srv_model *m)
{
    return m->file_size + (m->sched ? bat_kv_held(m->sched) : 0);
}

/* Make room under the budget for need bytes, what keep (NULL: a model of another table)
 * will hold, by unloading idle models other than keep (mu held). False, unloading nothing,
 * when need alone is past the budget. */
static bool make_room(srv_models *ms, size_t need, const srv_model *keep)
{
    if (ms->budget == 0)
        return true;
    if (need > ms->budget)
        return false;
    for (;;) {
        size_t used = ms->pinned;
        srv_model *victim = NULL;
        for (int i = 0; i < ms->n; i++) {
            srv_model *m = &ms->m[i];
            if (!m->gm || m == keep)
                continue;
            used += held_bytes(m);
            if (m->users == 0 && (!victim || m->expires < victim->expires))
                victim = m;
        }
        if (used <= ms->budget - need)
            return true;
        if (!victim)
            return false;
        unload(victim);
    }
}

/* Make m's scheduler again (mu held, nobody using m) with context n_ctx (0: the server's
 * --ctx, or the model's default). */
static hearth_status renew_sched(const srv_models *ms, srv_model *m, int n_ctx,
                                 hearth_error *err)
{
    bat_free(m->sched);
    m->sched = NULL;
    return bat_new(&m->sched, m->gm, sched_params(ms, n_ctx), err);
}

/* Load model m (mu held). It is opened before room is made for it: the size of its KV
 * cache follows from its shape. Opening maps the file, which takes memory only as the
 * weights are read, so the budget is kept before anything large is allocated. */
static hearth_status load(srv_models *ms, srv_model *m, int *http_status, hearth_error *err)
{
    gen_model *gm = NULL;
    hearth_status st = gen_model_open(&gm, m->path, llm_model_default_params(), err);
    if (st) {
        *http_status = st == HEARTH_ERR_UNSUPPORTED ? 400 : 500;
        return st;
    }
    const size_t kv = bat_kv_bytes(gm, sched_params(ms, 0)), need = m->file_size + kv;
    if (!make_room(ms, need, m)) {
        gen_model_free(gm);
        *http_status = 503;
        if (need > ms->budget)
            return err_set(err, HEARTH_ERR_RANGE, "model '%s' (%.1f MB: file %.1f MB + KV "
                           "cache %.1f MB) is larger than the memory budget (--max-memory "
                           "%zu); a smaller --ctx or --parallel makes its KV cache smaller",
                           m->name, mb(need), mb(m->file_size), mb(kv), ms->budget >> 20);
        return err_set(err, HEARTH_ERR_RANGE, "model '%s' does not fit the memory budget "
                       "while other models are busy", m->name);
    }
    m->gm = gm;
    /* unload after the keep-alive, as if released now: a request that loads the model and
       is then refused (a num_ctx past the budget) releases nothing */
    m->expires = ms->keep_alive_s < 0 ? -1 : models_now() + ms->keep_alive_s;
    st = renew_sched(ms, m, 0, err);
    if (st) {
        *http_status = st == HEARTH_ERR_UNSUPPORTED ? 400 : 500;
        gen_model_free(m->gm);
        m->gm = NULL;
    }
    return st;
}

/* The context a request asking for want tokens needs the loaded model m to grow to, or 0
 * when its context is large enough already. */
static int ctx_to_grow(const srv_models *ms, const srv_model *m, int want)
{
    int cap = ms->max_ctx ? ms->max_ctx : (int)llm_model_hparams(m->gm->llm)->n_ctx_train;
    if (want > cap)
        want = cap;
    return want > bat_n_ctx(m->sched) ? want : 0;
}

/* Grow m's context to m->grow_to (mu held, nobody using m), unloading idle models first
 * when the budget needs it. If the larger KV cache does not fit the budget, m keeps the
 * context it had; if it cannot be allocated, m makes its old one again (or unloads, if
 * even that is gone now). */
static hearth_status grow(srv_models *ms, srv_model *m, int *http_status, hearth_error *err)
{
    const int had = bat_n_ctx(m->sched), want = m->grow_to;
    m->grow_to = 0;
    const size_t need = m->file_size + bat_kv_bytes(m->gm, sched_params(ms, want));
    if (!make_room(ms, need, m)) {
        *http_status = 503;
        return err_set(err, HEARTH_ERR_RANGE, "a context of %d tokens for model '%s' needs "
                       "%.1f MB with its file, which does not fit --max-memory %zu%s; the model "
                       "keeps its context of %d: ask for a smaller num_ctx, or start the server "
                       "with a larger --max-memory", want, m->name, mb(need), ms->budget >> 20,
                       need > ms->budget ? "" : " while other models are busy", had);
    }
    hearth_status st = renew_sched(ms, m, want, err);
    if (st) {
        *http_status = st == HEARTH_ERR_NOMEM ? 503 : 400;
        hearth_error again = { 0 };
        if (renew_sched(ms, m, had, &again))
            unload(m);
    }
    return st;
}

hearth_status models_acquire(srv_models *ms, const char *name, int n_ctx, srv_model **out,
                             int *http_status, hearth_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&ms->mu);
    srv_model *m = find(ms, name);
    hearth_status st = HEARTH_OK;
    if (!m) {
        *http_status = 404;
        st = err_set(err, HEARTH_ERR_INVALID, name && *name ? "model '%.100s' not found"
                     : "no model given (this server has several)%.0s", name ? name : "");
    }
    while (m && !st) {
        if (ms->quit) {
            *http_status = 503;
            st = err_set(err, HEARTH_ERR_RANGE, "the server is shutting down");
        } else if (!m->gm) {
            st = load(ms, m, http_status, err);
        } else if (n_ctx > 0 && ctx_to_grow(ms, m, n_ctx) > m->grow_to) {
            m->grow_to = ctx_to_grow(ms, m, n_ctx);
        } else if (m->grow_to && m->users > 0) {
            pthread_cond_wait(&ms->cv, &ms->mu);
        } else if (m->grow_to) {
            /* whoever finds the model free grows it; a failure is only this request's
               own when it needed the context that failed (the others who needed growth
               try again with their own, which may be smaller and fit) */
            const int want = m->grow_to;
            hearth_error gerr = { 0 };
            int gstatus = 500;
            if (grow(ms, m, &gstatus, &gerr) && n_ctx > 0 && m->gm &&
                ctx_to_grow(ms, m, n_ctx) >= want) {
                *http_status = gstatus;
                *err = gerr;
                st = gerr.status;
            }
        } else {
            break;
        }
    }
    if (!st) {
        m->users++;
        *out = m;
    }
    pthread_mutex_unlock(&ms->mu);
    return st;
}

hearth_status models_pin(srv_models *ms, const char *path, size_t *bytes, int *http_status,
                         hearth_error *err)
{
    *bytes = model_bytes(path);
    /* the answer goes to an API client: the file's name, not where the server keeps it */
    const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    pthread_mutex_lock(&ms->mu);
    hearth_status st = HEARTH_OK;
    if (ms->budget && *bytes > ms->budget) {
        *http_status = 503;
        st = err_set(err, HEARTH_ERR_RANGE, "'%s' (%zu MB) is larger than the memory budget "
                     "(--max-memory %zu)", file, *bytes >> 20, ms->budget >> 20);
    } else if (!make_room(ms, *bytes, NULL)) {
        *http_status = 503;
        st = err_set(err, HEARTH_ERR_RANGE, "'%s' does not fit the memory budget while other "
                     "models are busy", file);
    } else {
        ms->pinned += *bytes;
    }
    pthread_mutex_unlock(&ms->mu);
    if (st)
        *bytes = 0;
    return st;
}

void models_unpin(srv_models *ms, size_t bytes)
{
    pthread_mutex_lock(&ms->mu);
    ms->pinned -= bytes < ms->pinned ? bytes : ms->pinned;
    pthread_mutex_unlock(&ms->mu);
}

void models_release(srv_models *ms, srv_model *m, double keep_alive_s)
{
    if (!m)
        return;
    pthread_mutex_lock(&ms->mu);
    m->users--;
    m->expires = keep_alive_s < 0 ? -1 : models_now() + keep_alive_s;
    if (m->users == 0) /* for the janitor when keep_alive_s is 0 (this may be the model's own
                          worker thread, which cannot free its scheduler), and for requests
                          waiting to grow its context */
        pthread_cond_broadcast(&ms->cv);
    pthread_mutex_unlock(&ms->mu);
}

void models_each(srv_models *ms, void (*fn)(void *user, const srv_model *m, double now),
                 void *user)
{
    pthread_mutex_lock(&ms->mu);
    double now = models_now();
    for (int i = 0; i < ms->n; i++)
        fn(user, &ms->m[i], now);
    pthread_mutex_unlock(&ms->mu);
}
