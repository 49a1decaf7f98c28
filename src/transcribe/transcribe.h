/*
 * transcribe.h — the speech-to-text service: audio file in, timed text segments out.
 *
 * The audio is streamed through 30-second windows (the encoder's span). Each window is
 * encoded once and decoded with greedy or beam search; timestamp tokens cut the text into
 * segments, and the next window starts at the last complete segment's end, so a sentence
 * cut by the window edge is decoded again whole rather than dropped or repeated. A window
 * whose output looks degenerate (low average log-probability, or repetitive: low token
 * entropy) is decoded again at higher temperatures. A window is skipped as silence when its
 * energy is below silence_rms, or when the model's no-speech probability is above
 * no_speech_thold while the decoded text is unlikely (as in OpenAI's Whisper).
 *
 *   tr_params p = tr_params_default();
 *   p.language = "auto";
 *   tr_result r;
 *   if (tr_transcribe_file(model, "memo.wav", &p, &r, &err) == HEARTH_OK) {
 *       char *srt; tr_render(&r, "srt", &srt, &err); ...; mem_free(srt);
 *       tr_result_free(&r);
 *   }
 *
 * Thread-safety: a call uses its own state; several calls may share one model at once.
 */
#ifndef HEARTH_TRANSCRIBE_H
#define HEARTH_TRANSCRIBE_H

#include <stddef.h>

#include "audio/audio.h"
#include "base/error.h"
#include "models/whisper.h"

typedef struct tr_segment {
    double t0, t1;   /* seconds from the start of the audio */
    char *text;      /* valid UTF-8 (invalid bytes become U+FFFD) */
    double avg_logprob, no_speech_prob, temperature;
} tr_segment;

typedef struct tr_params {
    const char *language;   /* "auto" (detect) or a code such as "en"; NULL = "auto" */
    int translate;          /* 1: translate to English (multilingual models) */
    int beam_size;          /* 1 = greedy; default 5 */
    const char *initial_prompt; /* text that precedes each window (vocabulary, style); NULL: none */
    int timestamps;         /* 1: segments cut by timestamp tokens (default) */
    int n_threads;          /* <= 0: one per CPU */
    int temperature_fallback; /* 1: retry degenerate windows at 0.2, 0.4, ... 1.0 */
    float logprob_thold;    /* -1.0 */
    float entropy_thold;    /* 2.4 */
    float no_speech_thold;  /* 0.6 */
    float silence_rms;      /* 1e-3: windows quieter than this are silence; 0 disables */
    double max_seconds;     /* refuse longer audio (0 = no limit: it is streamed anyway) */
    unsigned seed;          /* for sampling at temperature > 0 */
    /* called for each new segment as soon as it is final, and after each window */
    void (*on_segment)(const tr_segment *seg, void *user);
    void (*on_progress)(double done_s, double total_s, void *user);
    void *user;
} tr_params;

tr_params tr_params_default(void);

typedef struct tr_result {
    tr_segment *seg;
    int n_seg;
    char language[8];
    double duration;        /* seconds of audio processed */
    int n_windows;
    int translated;         /* the task was translation */
    wsp_timings timings;
} tr_result;

/* Transcribe a file (any format audio_open reads), or an opened stream (not closed here;
 * name is used in messages). */
hearth_status tr_transcribe_file(const wsp_model *m, const char *path, const tr_params *p,
                                 tr_result *out, hearth_error *err);
hearth_status tr_transcribe_stream(const wsp_model *m, audio_stream *a, const tr_params *p,
                                   tr_result *out, hearth_error *err);
void tr_result_free(tr_result *r);

/* Render a result as "txt", "srt", "vtt", "json" ({"text": ...}) or "verbose_json"
 * (language, duration, segments with times). *out is NUL-terminated; free with mem_free. */
hearth_status tr_render(const tr_result *r, const char *format, char **out, hearth_error *err);

#endif
