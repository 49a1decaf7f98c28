/*
 * transcribe.c — `hearth transcribe MODEL FILE...`: speech to text, offline.
 *
 * Segments stream to the terminal as each 30-second window is decoded (to stdout in txt
 * format, otherwise as timed lines on stderr), with a progress bar on stderr for long
 * files; the chosen format is printed (or written with -o) when a file is done.
 * --bench transcribes a synthetic signal of --seconds length and reports the encoder time,
 * decoder tokens/s and the real-time factor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "hub/registry.h"
#include "transcribe/transcribe.h"

static const char usage[] =
    "usage: hearth transcribe MODEL FILE... [options]\n"
    "Transcribe audio files (WAV, FLAC, OGG, MP3) with a whisper.cpp model (a file or a\n"
    "registry name).\n"
    "  --language auto|xx    spoken language (default auto: detected per file)\n"
    "  --task transcribe|translate\n"
    "  --format txt|srt|vtt|json|verbose_json   (default txt)\n"
    "  --beam N              beam size, 1 = greedy (default 5)\n"
    "  --prompt TEXT         initial prompt (names, spelling, style) for every window\n"
    "  -o OUT                write the output to OUT (a directory when several files)\n"
    "  -t N                  threads (default: one per CPU)\n"
    "  --no-timestamps       one segment per 30-second window\n"
    "  --no-fallback         no retries at higher temperature\n"
    "  --bench               time a synthetic recording instead (see --seconds)\n"
    "  --seconds S           length of the --bench recording (default 60)\n";

typedef struct cli_state {
    int to_stdout_txt;     /* segments are the output itself */
    int bar;               /* draw a progress bar */
    int bar_drawn;
} cli_state;

static void stamp(double t, char *out, size_t cap)
{
    long ms = lround(t * 1000);
    snprintf(out, cap, "%02ld:%02ld:%02ld.%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             ms % 1000);
}

static void on_segment(const tr_segment *s, void *user)
{
    cli_state *c = user;
    if (c->bar_drawn) {
        fprintf(stderr, "\r\033[K");
        c->bar_drawn = 0;
    }
    if (c->to_stdout_txt) {
        printf("%s\n", s->text);
        fflush(stdout);
        return;
    }
    char a[32], b[32];
    stamp(s->t0, a, sizeof a);
    stamp(s->t1, b, sizeof b);
    fprintf(stderr, "[%s --> %s]  %s\n", a, b, s->text);
}

static void on_progress(double done, double total, void *user)
{
    cli_state *c = user;
    if (!c->bar || total <= 0)
        return;
    int w = 40, k = (int)(w * done / total + 0.5);
    k = k > w ? w : k;
    fprintf(stderr, "\r[");
    for (int i = 0; i < w; i++)
        fputc(i < k ? '#' : '.', stderr);
    fprintf(stderr, "] %3.0f%%  %.0f / %.0f s", 100 * done / total, done, total);
    fflush(stderr);
    c->bar_drawn = 1;
}

static int write_output(const char *out, const char *file, const char *format, int many,
                        const char *text)
{
    if (!out) {
        fputs(text, stdout);
        return 0;
    }
    char path[4096];
    if (many) {
        const char *base = strrchr(file, '/');
        snprintf(path, sizeof path, "%s/%s.%s", out, base ? base + 1 : file,
                 strcmp(format, "verbose_json") ? format : "json");
    } else {
        snprintf(path, sizeof path, "%s", out);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "hearth transcribe: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* Write a WAV of `seconds` of a speech-band signal (a gliding tone with harmonics and
 * noise, loud enough to pass the silence gate) into memory. */
static unsigned char *bench_wav(double seconds, size_t *size)
{
    size_t n = (size_t)(seconds * 16000);
    *size = 44 + 2 * n;
    unsigned char *w = mem_calloc(*size, 1);
    if (!w)
        return NULL;
    uint32_t v;
    memcpy(w, "RIFF", 4);
    v = (uint32_t)(*size - 8);
    memcpy(w + 4, &v, 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    uint32_t fmt[4] = { 16, 1 | (1u << 16), 16000, 32000 };
    memcpy(w + 16, fmt, 16);
    uint16_t align = 2, bits = 16;
    memcpy(w + 32, &align, 2);
    memcpy(w + 34, &bits, 2);
    memcpy(w + 36, "data", 4);
    v = (uint32_t)(2 * n);
    memcpy(w + 40, &v, 4);
    uint32_t rng = 1;
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        double t = i / 16000.0, f = 150 + 100 * sin(2 * M_PI * 0.3 * t);
        ph += 2 * M_PI * f / 16000;
        rng = rng * 1664525u + 1013904223u;
        double s = 0.2 * sin(ph) + 0.1 * sin(2 * ph) + 0.05 * sin(3 * ph) +
                   0.02 * ((rng >> 8) / 16777216.0 - 0.5);
        int16_t q = (int16_t)lround(s * 32767);
        memcpy(w + 44 + 2 * i, &q, 2);
    }
    return w;
}

static int bench(const wsp_model *m, tr_params *p, double seconds)
{
    size_t size;
    unsigned char *wav = bench_wav(seconds, &size);
    hearth_error err = { 0 };
    audio_stream *a;
    if (!wav || audio_open_memory(&a, wav, size, "bench", &err)) {
        fprintf(stderr, "hearth transcribe: %s\n", wav ? err.msg : "out of memory");
        mem_free(wav);
        return 1;
    }
    p->temperature_fallback = 0;
    p->on_segment = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tr_result r;
    hearth_status st = tr_transcribe_stream(m, a, p, &r, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    audio_close(a);
    mem_free(wav);
    if (st) {
        fprintf(stderr, "hearth transcribe: %s\n", err.msg);
        return 1;
    }
    double wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    const wsp_timings *t = &r.timings;
    printf("model %s (%s, %s weights, %.1f MiB): %.0f s of audio, %d windows, beam %d\n",
           m->path, wsp_size_name(m), m->tok_emb.type == 1 ? "F16" : "F32/quantized",
           m->weight_bytes / 1048576.0, r.duration, r.n_windows, p->beam_size);
    printf("encoder  %8.1f ms per window (%ld windows)\n",
           t->n_encode ? t->encode_ms / t->n_encode : 0, t->n_encode);
    printf("decoder  %8.1f tokens/s (%ld tokens, %.0f ms)\n",
           t->decode_ms > 0 ? t->n_decode_tokens / (t->decode_ms / 1e3) : 0, t->n_decode_tokens,
           t->decode_ms);
    printf("total    %8.2f s wall, real-time factor %.4f (%.1fx faster than real time)\n", wall,
           wall / seconds, seconds / wall);
    tr_result_free(&r);
    return 0;
}

int cmd_transcribe(int argc, char **argv)
{
    tr_params p = tr_params_default();
    const char *format = "txt", *out = NULL, *files[256];
    int n_files = 0, do_bench = 0;
    double seconds = 60;
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--language") && v) {
            p.language = v;
        } else if (!strcmp(a, "--task") && v) {
            if (strcmp(v, "transcribe") && strcmp(v, "translate")) {
                fprintf(stderr, "hearth transcribe: --task is transcribe or translate\n");
                return 2;
            }
            p.translate = !strcmp(v, "translate");
        } else if (!strcmp(a, "--format") && v) {
            format = v;
        } else if (!strcmp(a, "--beam") && v) {
            p.beam_size = atoi(v);
            if (p.beam_size < 1 || p.beam_size > 16) {
                fprintf(stderr, "hearth transcribe: --beam is 1..16\n");
                return 2;
            }
        } else if (!strcmp(a, "--prompt") && v) {
            p.initial_prompt = v;
        } else if (!strcmp(a, "-o") && v) {
            out = v;
        } else if (!strcmp(a, "-t") && v) {
            p.n_threads = atoi(v);
        } else if (!strcmp(a, "--seconds") && v) {
            seconds = atof(v);
            if (!(seconds > 0 && seconds <= 36000)) {
                fprintf(stderr, "hearth transcribe: --seconds is 0..36000\n");
                return 2;
            }
        } else {
            takes = 0;
            if (!strcmp(a, "--no-timestamps"))
                p.timestamps = 0;
            else if (!strcmp(a, "--no-fallback"))
                p.temperature_fallback = 0;
            else if (!strcmp(a, "--bench"))
                do_bench = 1;
            else if (a[0] == '-' && a[1]) {
                fprintf(stderr, "hearth transcribe: unknown or incomplete option %s\n%s", a, usage);
                return 2;
            } else if (!model)
                model = a;
            else if (n_files < 256)
                files[n_files++] = a;
        }
        i += takes;
    }
    tr_result probe = { 0 };
    char *check = NULL;
    hearth_error err = { 0 };
    if (tr_render(&probe, format, &check, &err)) {
        fprintf(stderr, "hearth transcribe: %s\n", err.msg);
        return 2;
    }
    mem_free(check);
    if (!model || (!n_files && !do_bench)) {
        fputs(usage, stderr);
        return 2;
    }
    struct stat sb;
    if (out && n_files > 1 && (stat(out, &sb) || !S_ISDIR(sb.st_mode))) {
        fprintf(stderr, "hearth transcribe: with several files, -o must be a directory\n");
        return 2;
    }
    wsp_model *m;
    char *model_path = NULL;
    hearth_status st = hub_resolve_model(model, &model_path, &err);
    if (!st)
        st = wsp_load(&m, model_path, &err);
    mem_free(model_path);
    if (st) {
        fprintf(stderr, "hearth transcribe: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (do_bench) {
        rc = bench(m, &p, seconds);
        wsp_free(m);
        return rc;
    }
    cli_state cs = { 0 };
    p.on_segment = on_segment;
    p.on_progress = on_progress;
    p.user = &cs;
    for (int f = 0; f < n_files; f++) {
        cs.to_stdout_txt = !out && !strcmp(format, "txt");
        cs.bar = isatty(2);
        tr_result r;
        if (tr_transcribe_file(m, files[f], &p, &r, &err)) {
            if (cs.bar_drawn)
                fprintf(stderr, "\r\033[K");
            fprintf(stderr, "hearth transcribe: %s\n", err.msg);
            rc = 1;
            continue;
        }
        if (cs.bar_drawn)
            fprintf(stderr, "\r\033[K");
        cs.bar_drawn = 0;
        char *text = NULL;
        if (!cs.to_stdout_txt) {
            if (tr_render(&r, format, &text, &err)) {
                fprintf(stderr, "hearth transcribe: %s\n", err.msg);
                rc = 1;
            } else {
                rc |= write_output(out, files[f], format, n_files > 1, text);
                if (!strncmp(format, "json", 4) || !strcmp(format, "verbose_json"))
                    if (!out)
                        putchar('\n');
            }
        }
        mem_free(text);
        tr_result_free(&r);
    }
    wsp_free(m);
    return rc;
}
