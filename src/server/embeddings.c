/*
 * embeddings.c — POST /v1/embeddings (OpenAI), /api/embed and /api/embeddings (Ollama) on
 * the embedding service (knowledge/embed.h), and the name-to-file rule the embedding and
 * speech endpoints share.
 *
 * Embedding models are bert / nomic-bert GGUF files, given with --embed FILE or found as
 * NAME.gguf in --models DIR. They are loaded on first use and kept (at most SEMB_MAX
 * files, counted against --max-memory) until the server stops. An emb_model serves one thread at a time, so each loaded
 * model has its own lock and requests for it take turns; each request is one batched
 * emb_encode call. Texts are embedded as given (no query/document prefix), like
 * `hearth embed` without --query.
 *
 * OpenAI's answer carries unit vectors as float arrays or, with encoding_format "base64"
 * (the official clients' default), as base64 of little-endian float32; `dimensions`
 * keeps the first N values and scales them back to unit length (Matryoshka truncation).
 * Ollama's /api/embed gives unit vectors; its older /api/embeddings gives one vector as
 * the model pools it, unnormalised, as Ollama does.
 */
#include "server/server_int.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "knowledge/embed.h"

#define SEMB_MAX 4
#define SEMB_MAX_INPUTS 2048

typedef struct semb_slot {
    char path[4096];
    emb_model *e;
    pthread_mutex_t use;
} semb_slot;

struct srv_embedders {
    pthread_mutex_t mu;
    semb_slot slot[SEMB_MAX];
    int n;
};

srv_embedders *semb_open(void)
{
    srv_embedders *t = mem_calloc(1, sizeof *t);
    if (t && pthread_mutex_init(&t->mu, NULL)) {
        mem_free(t);
        return NULL;
    }
    return t;
}

void semb_close(srv_embedders *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++) {
        emb_free(t->slot[i].e);
        pthread_mutex_destroy(&t->slot[i].use);
    }
    pthread_mutex_destroy(&t->mu);
    mem_free(t);
}

/* ---- names to files ------------------------------------------------------------------ */

static size_t stem_len(const char *base, const char *ext)
{
    size_t n = strlen(base), k = strlen(ext);
    return n > k && strcmp(base + n - k, ext) == 0 ? n - k : n;
}

bool srv_media_path(const srv *s, const char *name, const char *file, const char *alias,
                    const char *ext, char *out, size_t cap)
{
    size_t n = name ? strlen(name) : 0;
    if (n > 7 && strcmp(name + n - 7, ":latest") == 0)
        n -= 7;
    if (file) {
        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        size_t sn = stem_len(base, ext);
        if (n == 0 || (n == sn && strncmp(name, base, n) == 0) ||
            (alias && n == strlen(alias) && strncmp(name, alias, n) == 0))
            return snprintf(out, cap, "%s", file) < (int)cap;
    }
    if (!s->c.models_dir || n == 0 || n > 128 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '+'))
            return false; /* never a path: no '/', so no way out of the directory */
    }
    struct stat sb;
    return snprintf(out, cap, "%s/%.*s%s", s->c.models_dir, (int)n, name, ext) < (int)cap &&
           stat(out, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- the model table ----------------------------------------------------------------- */

/* The loaded model for path, locked for the caller (semb_release unlocks). */
static semb_slot *acquire(srv *s, const char *path, int *status, hearth_error *err)
{
    srv_embedders *t = s->emb;
    size_t pinned;
    pthread_mutex_lock(&t->mu);
    semb_slot *sl = NULL;
    for (int i = 0; i < t->n && !sl; i++)
        if (strcmp(t->slot[i].path, path) == 0)
            sl = &t->slot[i];
    if (!sl && t->n == SEMB_MAX) {
        *status = 503;
        err_set(err, HEARTH_ERR_RANGE, "%d embedding models are loaded already", SEMB_MAX);
    } else if (!sl && models_pin(s->models, path, &pinned, status, err) == HEARTH_OK) {
        emb_params p = emb_default_params();
        p.n_threads = s->c.batch.ctx.n_threads;
        p.query_prefix = p.doc_prefix = "";
        sl = &t->slot[t->n];
        snprintf(sl->path, sizeof sl->path, "%s", path);
        if (emb_open(&sl->e, path, &p, err) != HEARTH_OK) {
            *status = 400; /* the file named by the request is not an embedding model */
            sl = NULL;
        } else if (pthread_mutex_init(&sl->use, NULL)) {
            emb_free(sl->e);
            *status = 500;
            err_set(err, HEARTH_ERR_NOMEM, "cannot create a lock");
            sl = NULL;
        } else {
            t->n++;
        }
        if (!sl)
            models_unpin(s->models, pinned);
    }
    pthread_mutex_unlock(&t->mu);
    if (sl)
        pthread_mutex_lock(&sl->use);
    return sl;
}

/* ---- requests ------------------------------------------------------------------------ */

typedef struct emb_job {
    const char *model;     /* as the request named it ("" when absent) */
    const char **texts;
    int n;
    int dims;              /* 0: the model's */
    bool raw, truncate;
    float *v;              /* n x dim */
    int dim, n_tokens;
} emb_job;

/* input: a string or an array of strings. */
static bool parse_input(const cJSON *in, emb_job *j, hearth_error *err)
{
    int n = cJSON_IsString(in) ? 1 : cJSON_IsArray(in) ? cJSON_GetArraySize(in) : 0;
    if (n < 1 || n > SEMB_MAX_INPUTS) {
        err_set(err, HEARTH_ERR_INVALID, "'input' must be a string or an array of 1 to %d "
                "strings", SEMB_MAX_INPUTS);
        return false;
    }
    if (!(j->texts = mem_calloc((size_t)n, sizeof *j->texts))) {
        err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        return false;
    }
    if (cJSON_IsString(in))
        j->texts[0] = in->valuestring;
    const cJSON *e, *arr = cJSON_IsArray(in) ? in : NULL;
    int i = 0;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsString(e)) {
            err_set(err, HEARTH_ERR_INVALID, "'input' must hold strings (token-id arrays are "
                    "not supported: send the text)");
            return false;
        }
        j->texts[i++] = e->valuestring;
    }
    j->n = n;
    return true;
}

/* Resolve, load and run; returns 200 or an HTTP status with err filled. */
static int run(srv *s, emb_job *j, hearth_error *err)
{
    char path[4096];
    if (!srv_media_path(s, j->model, s->c.embed_file, NULL, ".gguf", path, sizeof path)) {
        if (*j->model)
            err_set(err, HEARTH_ERR_INVALID, "no embedding model named '%.128s' (start the "
                    "server with --embed FILE or put NAME.gguf in --models DIR)", j->model);
        else
            err_set(err, HEARTH_ERR_INVALID, "no embedding model: start the server with "
                    "--embed FILE");
        return 404;
    }
    int status = 500;
    semb_slot *sl = acquire(s, path, &status, err);
    if (!sl)
        return status;
    j->dim = emb_dim(sl->e);
    int max = emb_max_tokens(sl->e);
    status = 200;
    for (int i = 0; i < j->n; i++) {
        int k = (int)emb_count_tokens(sl->e, j->texts[i], strlen(j->texts[i])) + 2;
        if (k > max && !j->truncate) {
            err_set(err, HEARTH_ERR_INVALID, "input %d has %d tokens, more than the model's "
                    "%d (or set truncate: true)", i, k, max);
            status = 400;
        }
        j->n_tokens += k < max ? k : max;
    }
    if (status == 200 && j->dims > j->dim) {
        err_set(err, HEARTH_ERR_INVALID, "'dimensions' is at most %d for this model", j->dim);
        status = 400;
    }
    if (status == 200 && !(j->v = mem_calloc((size_t)j->n * j->dim, sizeof *j->v))) {
        err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        status = 500;
    }
    if (status == 200 &&
        (j->raw ? emb_encode_raw : emb_encode)(sl->e, j->n, j->texts, NULL, EMB_DOCUMENT,
                                                j->v, err) != HEARTH_OK)
        status = 500;
    pthread_mutex_unlock(&sl->use);
    return status;
}

static void job_free(emb_job *j)
{
    mem_free(j->texts);
    mem_free(j->v);
}

/* Row i cut to d values and scaled back to unit length when cut. */
static void cut(const emb_job *j, int i, int d, float *out)
{
    const float *v = j->v + (size_t)i * j->dim;
    double ss = 0;
    for (int k = 0; k < d; k++)
        ss += (double)v[k] * v[k];
    float scale = d < j->dim && ss > 0 ? (float)(1 / sqrt(ss)) : 1.0f;
    for (int k = 0; k < d; k++)
        out[k] = v[k] * scale;
}

static cJSON *float_array(const float *v, int d)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < d; k++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[k]));
    return a;
}

/* base64 of d little-endian float32 values. */
static cJSON *base64_floats(const float *v, int d)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = (size_t)d * 4;
    char *out = mem_alloc((nb + 2) / 3 * 4 + 1);
    unsigned char *b = mem_alloc(nb ? nb : 1);
    cJSON *s = NULL;
    if (out && b) {
        for (int k = 0; k < d; k++) {
            uint32_t u;
            memcpy(&u, &v[k], 4);
            for (int i = 0; i < 4; i++)
                b[4 * k + i] = (unsigned char)(u >> (8 * i));
        }
        size_t o = 0;
        for (size_t i = 0; i < nb; i += 3) {
            uint32_t w = (uint32_t)b[i] << 16 | (i + 1 < nb ? (uint32_t)b[i + 1] << 8 : 0) |
                         (i + 2 < nb ? b[i + 2] : 0);
            out[o++] = abc[w >> 18];
            out[o++] = abc[(w >> 12) & 63];
            out[o++] = i + 1 < nb ? abc[(w >> 6) & 63] : '=';
            out[o++] = i + 2 < nb ? abc[w & 63] : '=';
        }
        out[o] = '\0';
        s = cJSON_CreateString(out);
    }
    mem_free(out);
    mem_free(b);
    return s;
}

static const char *model_field(const cJSON *body, hearth_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m)) {
        err_set(err, HEARTH_ERR_INVALID, "'model' must be a string");
        return NULL;
    }
    return cJSON_IsString(m) ? m->valuestring : "";
}

static cJSON *parse_body(http_req *r, hearth_error *err)
{
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        err_set(err, HEARTH_ERR_INVALID, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

void oai_embeddings(srv *s, http_req *r)
{
    hearth_error err = { 0 };
    emb_job j = { .truncate = true };
    int status = 400;
    cJSON *body = parse_body(r, &err), *out = NULL;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(body, "encoding_format");
    bool b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    double dims = 0;
    if (!body || !(j.model = model_field(body, &err)))
        goto fail;
    if (fmt && !cJSON_IsNull(fmt) && !b64 &&
        !(cJSON_IsString(fmt) && strcmp(fmt->valuestring, "float") == 0)) {
        err_set(&err, HEARTH_ERR_INVALID, "'encoding_format' must be \"float\" or \"base64\"");
        goto fail;
    }
    if (srv_json_num(body, "dimensions", 1, 65536, true, &dims, &err) < 0 ||
        !parse_input(cJSON_GetObjectItemCaseSensitive(body, "input"), &j, &err))
        goto fail;
    j.dims = (int)dims;
    if ((status = run(s, &j, &err)) != 200)
        goto fail;
    int d = j.dims ? j.dims : j.dim;
    float *row = mem_alloc((size_t)d * sizeof *row);
    out = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(out, "data");
    for (int i = 0; row && i < j.n; i++) {
        cut(&j, i, d, row);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "object", "embedding");
        cJSON_AddNumberToObject(e, "index", i);
        cJSON_AddItemToObject(e, "embedding", b64 ? base64_floats(row, d) : float_array(row, d));
        cJSON_AddItemToArray(data, e);
    }
    if (!row) {
        cJSON_Delete(out);
        err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
        status = 500;
        goto fail;
    }
    mem_free(row);
    cJSON_AddStringToObject(out, "object", "list");
    cJSON_AddStringToObject(out, "model", *j.model ? j.model : "embedding");
    cJSON *u = cJSON_AddObjectToObject(out, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", j.n_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", j.n_tokens);
    srv_send_json(r, 200, out, NULL);
    job_free(&j);
    cJSON_Delete(body);
    return;
fail:
    oai_error(r, status, err.msg);
    job_free(&j);
    cJSON_Delete(body);
}

static void oll_error(http_req *r, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    srv_send_json(r, status, o, NULL);
}

/* /api/embed (legacy false: input, unit vectors) or /api/embeddings (prompt, raw). */
static void ollama(srv *s, http_req *r, bool legacy)
{
    hearth_error err = { 0 };
    emb_job j = { .truncate = true, .raw = legacy };
    int status = 400;
    double t0 = models_now();
    cJSON *body = parse_body(r, &err);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(body, "truncate");
    if (!body || !(j.model = model_field(body, &err)))
        goto fail;
    if (tr && !cJSON_IsNull(tr) && !cJSON_IsBool(tr)) {
        err_set(&err, HEARTH_ERR_INVALID, "'truncate' must be true or false");
        goto fail;
    }
    j.truncate = !cJSON_IsFalse(tr);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, legacy ? "prompt" : "input");
    if (legacy && !cJSON_IsString(in)) {
        err_set(&err, HEARTH_ERR_INVALID, "'prompt' must be a string");
        goto fail;
    }
    if (!parse_input(in, &j, &err) || (status = run(s, &j, &err)) != 200)
        goto fail;
    cJSON *out = cJSON_CreateObject();
    if (legacy) {
        cJSON_AddItemToObject(out, "embedding", float_array(j.v, j.dim));
    } else {
        cJSON_AddStringToObject(out, "model", j.model);
        cJSON *a = cJSON_AddArrayToObject(out, "embeddings");
        for (int i = 0; i < j.n; i++)
            cJSON_AddItemToArray(a, float_array(j.v + (size_t)i * j.dim, j.dim));
        cJSON_AddNumberToObject(out, "total_duration", (models_now() - t0) * 1e9);
        cJSON_AddNumberToObject(out, "prompt_eval_count", j.n_tokens);
    }
    srv_send_json(r, 200, out, NULL);
    job_free(&j);
    cJSON_Delete(body);
    return;
fail:
    oll_error(r, status, err.msg);
    job_free(&j);
    cJSON_Delete(body);
}

void oll_embed(srv *s, http_req *r)
{
    ollama(s, r, false);
}

void oll_embeddings(srv *s, http_req *r)
{
    ollama(s, r, true);
}
