/*
 * audio.c — POST /v1/audio/transcriptions and /v1/audio/translations (OpenAI's speech to
 * text) on the transcription service (transcribe/transcribe.h).
 *
 * The request is multipart/form-data (multipart.h) with OpenAI's fields: file (required;
 * WAV, FLAC, OGG or MP3, decoded from memory), model, language, prompt, response_format
 * (json, text, srt, verbose_json, vtt) and temperature; other fields are ignored. The
 * model is a whisper.cpp file given with --whisper FILE (also answering to OpenAI's
 * "whisper-1") or NAME.bin in --models DIR, loaded on first use and kept (at most
 * SWSP_MAX files, counted against --max-memory) until the server stops.
 *
 * Transcriptions take turns: one runs at a time with all the server's threads, since a
 * second one at once would only split the same cores. Decoding is whisper's: beam search,
 * temperature fallback from 0 on degenerate windows (so `temperature` is range-checked
 * but decoding always starts at 0, as OpenAI documents for 0), audio capped at
 * SWSP_MAX_SECONDS. Two fields of whisper.cpp's server are understood too: beam_size
 * (1 = greedy) and temperature_inc (0 turns the fallback off).
 */
#include "server/server_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "server/multipart.h"
#include "transcribe/transcribe.h"

#define SWSP_MAX 2
#define SWSP_MAX_PARTS 16
#define SWSP_MAX_SECONDS (4 * 3600.0)

typedef struct swsp_slot {
    char path[4096];
    wsp_model *m;
} swsp_slot;

struct srv_whispers {
    pthread_mutex_t mu;   /* the table */
    pthread_mutex_t turn; /* one transcription at a time */
    swsp_slot slot[SWSP_MAX];
    int n;
};

srv_whispers *swsp_open(void)
{
    srv_whispers *t = mem_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->mu, NULL)) {
        mem_free(t);
        return NULL;
    }
    if (pthread_mutex_init(&t->turn, NULL)) {
        pthread_mutex_destroy(&t->mu);
        mem_free(t);
        return NULL;
    }
    return t;
}

void swsp_close(srv_whispers *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        wsp_free(t->slot[i].m);
    pthread_mutex_destroy(&t->turn);
    pthread_mutex_destroy(&t->mu);
    mem_free(t);
}

/* The loaded model for path (models stay loaded, so the pointer stays valid). */
static const wsp_model *load(srv *s, const char *path, int *status, hearth_error *err)
{
    srv_whispers *t = s->wsp;
    size_t pinned;
    pthread_mutex_lock(&t->mu);
    const wsp_model *m = NULL;
    for (int i = 0; i < t->n && !m; i++)
        if (strcmp(t->slot[i].path, path) == 0)
            m = t->slot[i].m;
    if (!m && t->n == SWSP_MAX) {
        *status = 503;
        err_set(err, HEARTH_ERR_RANGE, "%d speech models are loaded already", SWSP_MAX);
    } else if (!m && models_pin(s->models, path, &pinned, status, err) == HEARTH_OK) {
        swsp_slot *sl = &t->slot[t->n];
        snprintf(sl->path, sizeof sl->path, "%s", path);
        if (wsp_load(&sl->m, path, err) == HEARTH_OK) {
            m = sl->m;
            t->n++;
        } else {
            *status = 400; /* the file the request named is not a whisper model */
            models_unpin(s->models, pinned);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return m;
}

/* ---- the form ------------------------------------------------------------------------ */

typedef struct form {
    const mp_part *file;
    char model[136], language[16], prompt[2048], format[16];
    double temperature, temperature_inc; /* < 0: not given */
    int beam_size;                       /* 0: not given */
} form;

/* Copy text field name into out ("" when absent); false when too long or not text. */
static bool text_field(const mp_part *parts, int n, const char *name, char *out, size_t cap,
                       hearth_error *err)
{
    const mp_part *p = mp_find(parts, n, name);
    out[0] = '\0';
    if (!p)
        return true;
    if (p->len >= cap || memchr(p->data, '\0', p->len)) {
        err_set(err, HEARTH_ERR_INVALID, "the form field '%s' is too long (at most %zu bytes) "
                "or not text", name, cap - 1);
        return false;
    }
    memcpy(out, p->data, p->len);
    out[p->len] = '\0';
    return true;
}

/* A number field within [lo, hi] (a whole number when whole); *out = -1 when absent. */
static bool number_field(const mp_part *parts, int n, const char *name, double lo, double hi,
                         bool whole, double *out, hearth_error *err)
{
    char text[32], *end;
    *out = -1;
    if (!text_field(parts, n, name, text, sizeof text, err))
        return false;
    if (!*text)
        return true;
    double v = strtod(text, &end);
    if (*end || !(v >= lo && v <= hi) || (whole && v != (int)v))
        return err_set(err, HEARTH_ERR_INVALID, "'%s' must be a %s between %g and %g", name,
                       whole ? "whole number" : "number", lo, hi), false;
    *out = v;
    return true;
}

static bool parse_form(http_req *r, mp_part *parts, form *f, hearth_error *err)
{
    int n;
    if (mp_parse(http_header(r, "Content-Type"), r->body, r->body_len, parts, SWSP_MAX_PARTS,
                 &n, err))
        return false;
    f->file = mp_find(parts, n, "file");
    if (!f->file || f->file->len == 0)
        return err_set(err, HEARTH_ERR_INVALID, "the form needs a non-empty 'file' (the "
                       "audio)"), false;
    if (!text_field(parts, n, "model", f->model, sizeof f->model, err) ||
        !text_field(parts, n, "language", f->language, sizeof f->language, err) ||
        !text_field(parts, n, "prompt", f->prompt, sizeof f->prompt, err) ||
        !text_field(parts, n, "response_format", f->format, sizeof f->format, err))
        return false;
    for (const char *c = f->language; *c; c++)
        if (!isalpha((unsigned char)*c))
            return err_set(err, HEARTH_ERR_INVALID, "'language' must be a language code such "
                           "as \"en\""), false;
    if (!*f->format)
        strcpy(f->format, "json");
    if (strcmp(f->format, "json") && strcmp(f->format, "text") && strcmp(f->format, "srt") &&
        strcmp(f->format, "verbose_json") && strcmp(f->format, "vtt"))
        return err_set(err, HEARTH_ERR_INVALID, "'response_format' must be json, text, srt, "
                       "verbose_json or vtt"), false;
    double beam;
    return number_field(parts, n, "temperature", 0, 1, false, &f->temperature, err) &&
           number_field(parts, n, "temperature_inc", 0, 1, false, &f->temperature_inc, err) &&
           number_field(parts, n, "beam_size", 1, 16, true, &beam, err) &&
           ((f->beam_size = beam < 0 ? 0 : (int)beam), true);
}

/* ---- requests ------------------------------------------------------------------------ */

static int transcribe(srv *s, const form *f, bool translate, char **text, hearth_error *err)
{
    char path[4096];
    if (!srv_media_path(s, f->model, s->c.whisper_file, "whisper-1", ".bin", path,
                        sizeof path)) {
        if (*f->model)
            err_set(err, HEARTH_ERR_INVALID, "no speech model named '%s' (start the server "
                    "with --whisper FILE or put NAME.bin in --models DIR)", f->model);
        else
            err_set(err, HEARTH_ERR_INVALID, "no speech model: start the server with "
                    "--whisper FILE");
        return 404;
    }
    int status = 500;
    const wsp_model *m = load(s, path, &status, err);
    if (!m)
        return status;
    tr_params p = tr_params_default();
    p.language = *f->language ? f->language : "auto";
    p.translate = translate;
    p.initial_prompt = *f->prompt ? f->prompt : NULL;
    p.n_threads = s->c.batch.ctx.n_threads;
    p.max_seconds = SWSP_MAX_SECONDS;
    if (f->beam_size)
        p.beam_size = f->beam_size;
    if (f->temperature_inc == 0)
        p.temperature_fallback = 0;
    const char *name = *f->file->filename ? f->file->filename : "the uploaded file";
    audio_stream *a;
    tr_result res;
    hearth_status st = audio_open_memory(&a, f->file->data, f->file->len, name, err);
    if (!st) {
        pthread_mutex_lock(&s->wsp->turn);
        st = tr_transcribe_stream(m, a, &p, &res, err);
        pthread_mutex_unlock(&s->wsp->turn);
        audio_close(a);
    }
    if (st)
        return st == HEARTH_ERR_NOMEM || st == HEARTH_ERR_IO ? 500 : 400;
    st = tr_render(&res, strcmp(f->format, "text") ? f->format : "txt", text, err);
    tr_result_free(&res);
    return st ? 500 : 200;
}

static void speech(srv *s, http_req *r, bool translate)
{
    hearth_error err = { 0 };
    mp_part *parts = mem_calloc(SWSP_MAX_PARTS, sizeof *parts);
    form *f = mem_calloc(1, sizeof *f);
    char *text = NULL;
    int status = 500;
    if (!parts || !f)
        err_set(&err, HEARTH_ERR_NOMEM, "out of memory");
    else if (!parse_form(r, parts, f, &err))
        status = 400;
    else
        status = transcribe(s, f, translate, &text, &err);
    if (status == 200) {
        bool json = !strcmp(f->format, "json") || !strcmp(f->format, "verbose_json");
        http_respond(r, 200, json ? "application/json" : "text/plain; charset=utf-8", text,
                     strlen(text), NULL);
    } else {
        oai_error(r, status, err.msg);
    }
    mem_free(text);
    mem_free(f);
    mem_free(parts);
}

void oai_transcriptions(srv *s, http_req *r)
{
    speech(s, r, false);
}

void oai_translations(srv *s, http_req *r)
{
    speech(s, r, true);
}
