/*
 * resample.c — sample-rate conversion with libsoxr (its "high quality" preset: a linear-
 * phase filter with a 95 % passband and more than 100 dB rejection, far beyond what a
 * speech model can hear), fed piece by piece so long recordings stream through.
 */
#include <soxr.h>

#include "audio/audio.h"
#include "base/mem.h"

struct audio_resampler {
    soxr_t soxr;
};

audio_resampler *audio_resampler_new(double in_rate, double out_rate, hearth_error *err)
{
    if (!(in_rate > 0) || !(out_rate > 0) || in_rate > 1e6) {
        err_set(err, HEARTH_ERR_INVALID, "resample: bad rates %g -> %g", in_rate, out_rate);
        return NULL;
    }
    audio_resampler *r = mem_calloc(1, sizeof *r);
    if (!r) {
        err_set(err, HEARTH_ERR_NOMEM, "resample: out of memory");
        return NULL;
    }
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    r->soxr = soxr_create(in_rate, out_rate, 1, &e, &io, &q, NULL);
    if (!r->soxr || e) {
        err_set(err, HEARTH_ERR_INVALID, "resample: libsoxr refused %g -> %g Hz: %s", in_rate,
                out_rate, e ? e : "unknown error");
        mem_free(r);
        return NULL;
    }
    return r;
}

hearth_status audio_resample(audio_resampler *r, const float *in, size_t n_in, size_t *used,
                             float *out, size_t cap, size_t *made, hearth_error *err)
{
    size_t idone = 0, odone = 0;
    soxr_error_t e = soxr_process(r->soxr, in, in ? n_in : 0, &idone, out, cap, &odone);
    *used = idone;
    *made = odone;
    if (e)
        return err_set(err, HEARTH_ERR_INVALID, "resample: %s", e);
    return HEARTH_OK;
}

void audio_resampler_free(audio_resampler *r)
{
    if (!r)
        return;
    soxr_delete(r->soxr);
    mem_free(r);
}
