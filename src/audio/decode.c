/*
 * decode.c — audio files to 16 kHz mono floats, streamed.
 *
 * libsndfile reads the container and codec (WAV in 8/16/24/32-bit and float, FLAC,
 * OGG/Vorbis, MP3 on libsndfile >= 1.1) from a path or, through its virtual-I/O interface,
 * from a memory buffer (uploads). Frames are read in blocks of CHUNK, the channels are
 * averaged, and the result is pushed through the resampler when the source is not already
 * at 16 kHz. At most CHUNK frames plus the resampler's own buffer are held at any time, so
 * memory stays bounded whatever the length of the recording.
 */
#include <sndfile.h>
#include <string.h>

#include "audio/audio.h"
#include "base/mem.h"

#define CHUNK 4096
#define MAX_CHANNELS 64

typedef struct mem_src {
    const unsigned char *data;
    sf_count_t size, pos;
} mem_src;

struct audio_stream {
    SNDFILE *sf;
    SF_INFO info;
    char *name;
    mem_src mem;
    audio_resampler *rs;   /* NULL when the source is 16 kHz */
    float *frames;         /* [CHUNK][channels] interleaved */
    float mono[CHUNK];     /* mixed-down samples not yet consumed */
    size_t mono_pos, mono_len;
    int eof, flushed;
};

static sf_count_t vio_len(void *u)
{
    return ((mem_src *)u)->size;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    mem_src *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
    sf_count_t p = base + off;
    if (p < 0 || p > m->size)
        return -1;
    m->pos = p;
    return p;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *u)
{
    mem_src *m = u;
    sf_count_t left = m->size - m->pos;
    if (count > left)
        count = left;
    if (count > 0)
        memcpy(ptr, m->data + m->pos, (size_t)count);
    m->pos += count;
    return count;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *u)
{
    (void)ptr, (void)count, (void)u;
    return 0;
}

static sf_count_t vio_tell(void *u)
{
    return ((mem_src *)u)->pos;
}

static hearth_status finish_open(audio_stream *a, audio_stream **out, hearth_error *err)
{
    hearth_status st = HEARTH_OK;
    if (!a->sf)
        st = err_set(err, HEARTH_ERR_FORMAT, "%s: cannot decode audio: %s", a->name,
                     sf_strerror(NULL));
    else if (a->info.channels < 1 || a->info.channels > MAX_CHANNELS)
        st = err_set(err, HEARTH_ERR_FORMAT, "%s: %d channels", a->name, a->info.channels);
    else if (a->info.samplerate < 1000 || a->info.samplerate > 768000)
        st = err_set(err, HEARTH_ERR_FORMAT, "%s: sample rate %d Hz is out of range", a->name,
                     a->info.samplerate);
    if (!st) {
        a->frames = mem_calloc((size_t)CHUNK * a->info.channels, sizeof(float));
        if (!a->frames)
            st = err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", a->name);
    }
    if (!st && a->info.samplerate != AUDIO_RATE) {
        a->rs = audio_resampler_new(a->info.samplerate, AUDIO_RATE, err);
        if (!a->rs)
            st = err ? err->status : HEARTH_ERR_INVALID;
    }
    if (st) {
        audio_close(a);
        return st;
    }
    *out = a;
    return HEARTH_OK;
}

static audio_stream *new_stream(const char *name, hearth_error *err)
{
    audio_stream *a = mem_calloc(1, sizeof *a);
    if (a)
        a->name = mem_strdup(name);
    if (!a || !a->name) {
        mem_free(a);
        err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    return a;
}

hearth_status audio_open(audio_stream **out, const char *path, hearth_error *err)
{
    *out = NULL;
    audio_stream *a = new_stream(path, err);
    if (!a)
        return HEARTH_ERR_NOMEM;
    a->sf = sf_open(path, SFM_READ, &a->info);
    return finish_open(a, out, err);
}

hearth_status audio_open_memory(audio_stream **out, const void *data, size_t size,
                                const char *name, hearth_error *err)
{
    static SF_VIRTUAL_IO vio = { vio_len, vio_seek, vio_read, vio_write, vio_tell };
    *out = NULL;
    audio_stream *a = new_stream(name, err);
    if (!a)
        return HEARTH_ERR_NOMEM;
    a->mem = (mem_src){ data, (sf_count_t)size, 0 };
    a->sf = sf_open_virtual(&vio, SFM_READ, &a->info, &a->mem);
    return finish_open(a, out, err);
}

void audio_close(audio_stream *a)
{
    if (!a)
        return;
    if (a->sf)
        sf_close(a->sf);
    audio_resampler_free(a->rs);
    mem_free(a->frames);
    mem_free(a->name);
    mem_free(a);
}

double audio_duration(const audio_stream *a)
{
    return a->info.frames > 0 ? (double)a->info.frames / a->info.samplerate : 0.0;
}

int audio_source_rate(const audio_stream *a)
{
    return a->info.samplerate;
}

int audio_source_channels(const audio_stream *a)
{
    return a->info.channels;
}

/* Refill the mono buffer with the next block of frames; sets eof when none are left. */
static hearth_status refill(audio_stream *a, hearth_error *err)
{
    int ch = a->info.channels;
    sf_count_t got = sf_readf_float(a->sf, a->frames, CHUNK);
    if (got < 0 || (got == 0 && sf_error(a->sf) != SF_ERR_NO_ERROR))
        return err_set(err, HEARTH_ERR_FORMAT, "%s: decoding failed: %s", a->name, sf_strerror(a->sf));
    if (got == 0) {
        a->eof = 1;
        return HEARTH_OK;
    }
    for (sf_count_t i = 0; i < got; i++) {
        float sum = 0.0f;
        for (int c = 0; c < ch; c++)
            sum += a->frames[i * ch + c];
        a->mono[i] = sum / (float)ch;
    }
    a->mono_pos = 0;
    a->mono_len = (size_t)got;
    return HEARTH_OK;
}

hearth_status audio_read(audio_stream *a, float *buf, size_t cap, size_t *n, hearth_error *err)
{
    size_t done = 0;
    hearth_status st = HEARTH_OK;
    while (done < cap && !st) {
        if (a->mono_pos == a->mono_len && !a->eof) {
            st = refill(a, err);
            continue;
        }
        size_t avail = a->mono_len - a->mono_pos;
        if (!a->rs) {
            if (avail == 0)
                break;
            size_t k = avail < cap - done ? avail : cap - done;
            memcpy(buf + done, a->mono + a->mono_pos, k * sizeof(float));
            a->mono_pos += k;
            done += k;
            continue;
        }
        if (avail == 0 && a->flushed)
            break;
        size_t used = 0, made = 0;
        st = audio_resample(a->rs, avail ? a->mono + a->mono_pos : NULL, avail, &used,
                            buf + done, cap - done, &made, err);
        a->mono_pos += used;
        done += made;
        if (avail == 0 && made == 0)
            a->flushed = 1;
    }
    *n = done;
    return st;
}

hearth_status audio_load(const char *path, size_t max_samples, float **out, size_t *n,
                         hearth_error *err)
{
    *out = NULL;
    *n = 0;
    audio_stream *a;
    hearth_status st = audio_open(&a, path, err);
    if (st)
        return st;
    size_t len = 0, cap = 0;
    float *buf = NULL;
    for (;;) {
        if (cap - len < CHUNK) {
            size_t ncap = cap ? cap * 2 : 16 * CHUNK;
            float *nb = mem_realloc_array(buf, ncap, sizeof(float));
            if (!nb) {
                st = err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got;
        if ((st = audio_read(a, buf + len, cap - len, &got, err)) || got == 0)
            break;
        len += got;
        if (len > max_samples) {
            st = err_set(err, HEARTH_ERR_RANGE, "%s: longer than %.0f s", path,
                         (double)max_samples / AUDIO_RATE);
            break;
        }
    }
    audio_close(a);
    if (st) {
        mem_free(buf);
        return st;
    }
    *out = buf;
    *n = len;
    return HEARTH_OK;
}
