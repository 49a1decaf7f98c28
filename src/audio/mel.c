/*
 * mel.c — Whisper's log-mel spectrogram.
 *
 * For each frame: 400 samples around the frame centre times a periodic Hann window, a
 * 400-point FFT (radix-2 splits down to a 25-point DFT: 400 = 2^4 * 25), the power of bins
 * 0..200, the model's mel filters (applied over each filter's non-zero span only), and
 * log10(max(p, 1e-10)). Then every value is clamped to at least (max - 8) and mapped to
 * (x + 4) / 4. Arithmetic is in double: the result matches a float64 numpy reference to
 * about 1e-6, well inside what the model can notice.
 */
#include <math.h>
#include <string.h>

#include "audio/audio.h"
#include "base/mem.h"

typedef struct mel_tables {
    double window[AUDIO_N_FFT];
    double cos_t[AUDIO_N_FFT], sin_t[AUDIO_N_FFT]; /* exp(-2 pi i k / 400) */
} mel_tables;

static void tables_init(mel_tables *t)
{
    for (int i = 0; i < AUDIO_N_FFT; i++) {
        double a = 2.0 * M_PI * i / AUDIO_N_FFT;
        t->window[i] = 0.5 * (1.0 - cos(a));
        t->cos_t[i] = cos(a);
        t->sin_t[i] = -sin(a);
    }
}

/* FFT of n real inputs in[0], in[stride], ... into (re, im)[0..n). n divides 400. */
static void fft(const mel_tables *t, const double *in, int n, int stride, double *re, double *im)
{
    if (n % 2) {
        int step = AUDIO_N_FFT / n;
        for (int k = 0; k < n; k++) {
            double sr = 0, si = 0;
            for (int j = 0; j < n; j++) {
                int idx = (j * k) % n * step;
                sr += in[j * stride] * t->cos_t[idx];
                si += in[j * stride] * t->sin_t[idx];
            }
            re[k] = sr;
            im[k] = si;
        }
        return;
    }
    int h = n / 2, step = AUDIO_N_FFT / n;
    fft(t, in, h, 2 * stride, re, im);
    fft(t, in + stride, h, 2 * stride, re + h, im + h);
    for (int k = 0; k < h; k++) {
        double wr = t->cos_t[k * step], wi = t->sin_t[k * step];
        double or_ = re[k + h] * wr - im[k + h] * wi, oi = re[k + h] * wi + im[k + h] * wr;
        double er = re[k], ei = im[k];
        re[k] = er + or_;
        im[k] = ei + oi;
        re[k + h] = er - or_;
        im[k + h] = ei - oi;
    }
}

/* Sample t of the signal as audio_log_mel defines it. */
static double sample_at(const float *x, size_t n, size_t before, long t)
{
    if (t < 0 && (size_t)-t > before)
        t = -t; /* reflect about x[0] */
    if (t >= 0 && (size_t)t >= n)
        return 0.0;
    return x[t];
}

hearth_status audio_log_mel(const float *x, size_t n, size_t before, const float *filters,
                            int n_mels, int n_frames, float *out, hearth_error *err)
{
    if (n_mels < 1 || n_frames < 1)
        return err_set(err, HEARTH_ERR_INVALID, "mel: %d bands, %d frames", n_mels, n_frames);
    mel_tables *t = mem_alloc(sizeof *t);
    int *lo = mem_calloc((size_t)n_mels, sizeof(int)), *hi = mem_calloc((size_t)n_mels, sizeof(int));
    if (!t || !lo || !hi) {
        mem_free(t), mem_free(lo), mem_free(hi);
        return err_set(err, HEARTH_ERR_NOMEM, "mel: out of memory");
    }
    tables_init(t);
    for (int m = 0; m < n_mels; m++) {
        const float *f = filters + (size_t)m * AUDIO_FFT_BINS;
        lo[m] = AUDIO_FFT_BINS;
        hi[m] = 0;
        for (int k = 0; k < AUDIO_FFT_BINS; k++)
            if (f[k] != 0.0f) {
                lo[m] = lo[m] < k ? lo[m] : k;
                hi[m] = k + 1;
            }
    }
    double frame[AUDIO_N_FFT], re[AUDIO_N_FFT], im[AUDIO_N_FFT], pw[AUDIO_FFT_BINS];
    double vmax = -INFINITY;
    for (int fi = 0; fi < n_frames; fi++) {
        long c = (long)fi * AUDIO_HOP - AUDIO_N_FFT / 2;
        for (int i = 0; i < AUDIO_N_FFT; i++)
            frame[i] = t->window[i] * sample_at(x, n, before, c + i);
        fft(t, frame, AUDIO_N_FFT, 1, re, im);
        for (int k = 0; k < AUDIO_FFT_BINS; k++)
            pw[k] = re[k] * re[k] + im[k] * im[k];
        for (int m = 0; m < n_mels; m++) {
            const float *f = filters + (size_t)m * AUDIO_FFT_BINS;
            double s = 0;
            for (int k = lo[m]; k < hi[m]; k++)
                s += f[k] * pw[k];
            double v = log10(s > 1e-10 ? s : 1e-10);
            out[(size_t)m * n_frames + fi] = (float)v;
            vmax = v > vmax ? v : vmax;
        }
    }
    double floor_ = vmax - 8.0;
    for (size_t i = 0; i < (size_t)n_mels * n_frames; i++) {
        double v = out[i] < floor_ ? floor_ : out[i];
        out[i] = (float)((v + 4.0) / 4.0);
    }
    mem_free(t), mem_free(lo), mem_free(hi);
    return HEARTH_OK;
}
