/*
 * audio.h — audio in for speech recognition: decode, mix down, resample, log-mel.
 *
 * An audio_stream decodes any format libsndfile reads (WAV of every sample width, FLAC,
 * OGG/Vorbis, MP3 where the installed libsndfile has it) from a file or a memory buffer,
 * averages the channels to mono and resamples to AUDIO_RATE with libsoxr, handing out
 * samples in pieces: a two-hour recording never has to be in memory at once.
 *
 *   audio_stream *a; audio_open(&a, "memo.flac", &err);
 *   while (audio_read(a, buf, cap, &n, &err) == HEARTH_OK && n > 0) ...
 *   audio_close(a);
 *
 * audio_log_mel computes Whisper's log-mel spectrogram (400-point periodic Hann window,
 * hop 160, power spectrum, the model's mel filter bank, log10 clamped to 8 below the
 * maximum, scaled as (x + 4) / 4).
 */
#ifndef HEARTH_AUDIO_AUDIO_H
#define HEARTH_AUDIO_AUDIO_H

#include <stddef.h>

#include "base/error.h"

#define AUDIO_RATE 16000
#define AUDIO_N_FFT 400
#define AUDIO_HOP 160
#define AUDIO_FFT_BINS (AUDIO_N_FFT / 2 + 1)

typedef struct audio_stream audio_stream;

/* Open a file, or an in-memory copy of one (data must stay valid until audio_close; name
 * is used in messages). HEARTH_ERR_FORMAT names the file when libsndfile cannot read it. */
hearth_status audio_open(audio_stream **out, const char *path, hearth_error *err);
hearth_status audio_open_memory(audio_stream **out, const void *data, size_t size,
                                const char *name, hearth_error *err);
/* Up to cap mono samples at AUDIO_RATE into buf; *n = 0 once the stream is exhausted. */
hearth_status audio_read(audio_stream *a, float *buf, size_t cap, size_t *n, hearth_error *err);
/* Duration in seconds as the header states it (0 when unknown), the source's rate and
 * channel count. */
double audio_duration(const audio_stream *a);
int audio_source_rate(const audio_stream *a);
int audio_source_channels(const audio_stream *a);
void audio_close(audio_stream *a);

/* Decode a whole file to 16 kHz mono; refuses (HEARTH_ERR_RANGE) more than max_samples. */
hearth_status audio_load(const char *path, size_t max_samples, float **out, size_t *n,
                         hearth_error *err);

/* ---- resampling (resample.c) ------------------------------------------------------------- */
typedef struct audio_resampler audio_resampler;
audio_resampler *audio_resampler_new(double in_rate, double out_rate, hearth_error *err);
/* Consume up to n_in input samples (in == NULL: flush at the end), produce up to cap output
 * samples; *used and *made report how many. */
hearth_status audio_resample(audio_resampler *r, const float *in, size_t n_in, size_t *used,
                             float *out, size_t cap, size_t *made, hearth_error *err);
void audio_resampler_free(audio_resampler *r);

/* ---- log-mel spectrogram (mel.c) --------------------------------------------------------- */

/* Log-mel of n_frames frames into out[n_mels][n_frames]. Frame f is centred on sample
 * f * AUDIO_HOP of x; samples past n are zeros; before x[0], `before` real samples are
 * readable (x[-1] ... x[-before]), and beyond them the signal is reflected (x[-t] = x[t]),
 * as at the start of a recording. filters is [n_mels][AUDIO_FFT_BINS]. The clamp uses the
 * maximum over these n_frames. */
hearth_status audio_log_mel(const float *x, size_t n, size_t before, const float *filters,
                            int n_mels, int n_frames, float *out, hearth_error *err);

#endif
