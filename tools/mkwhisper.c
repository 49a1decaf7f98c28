/*
 * mkwhisper — write a synthetic Whisper model (random weights) in whisper.cpp's ggml format.
 *
 *   mkwhisper -o OUT.bin [--size tiny|base|small|medium|large|large-v3|large-v3-turbo]
 *             [--type f32|f16|q4_0|q4_1|q5_0|q5_1|q8_0] [--en] [--seed N]
 *             [--state S] [--heads H] [--enc-layers N] [--dec-layers N] [--audio-ctx C]
 *             [--text-ctx T] [--mels M] [--vocab-from FILE]
 *
 * Tests and benchmarks need whisper models of every published shape and weight type, and
 * small ones with a short audio context (--audio-ctx 150 makes 3-second windows) so that
 * long-audio logic runs in milliseconds. The layout is whisper.cpp's (see
 * src/models/whisper.c): header, hyper-parameters, the mel filter bank, the vocabulary,
 * then tensors, each written row by row so that even a large-v3 file streams out in
 * constant memory.
 *
 * The mel filter bank is the Slaney-normalised triangular bank (librosa's default, which
 * Whisper uses) for 16 kHz and a 400-point FFT, computed here from its formula. The
 * vocabulary is copied from another whisper.cpp file with --vocab-from (e.g. the real GPT-2
 * bytes of a fixture); otherwise it is synthetic: ids 0..255 are the single bytes, the rest
 * short lowercase words, 50257 text tokens in all. Weights are uniform with standard
 * deviation 0.02 (norm weights 1 +- 0.05), from a xorshift stream seeded by --seed and the
 * tensor's index; 2-D and 3-D weights get --type (convolutions F16, or F32 for --type f32),
 * vectors and positional embeddings F32, as whisper.cpp's converter and quantizer do.
 * Exit status: 0 on success, 1 if writing failed, 2 for bad arguments.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/file.h"
#include "base/mem.h"
#include "tensor/quant.h"

typedef struct shape {
    int vocab, actx, state, heads, elayers, tctx, dlayers, mels;
} shape;

typedef struct writer {
    FILE *f;
    int type, ftype;
    uint64_t seed;
    int index;
    float *row;
    void *qrow;
} writer;

static void put_i32(FILE *f, int32_t v)
{
    fwrite(&v, 4, 1, f);
}

static double hz_to_mel(double f)
{
    double sp = 200.0 / 3, min_log_mel = 1000.0 / sp, step = log(6.4) / 27;
    return f < 1000 ? f / sp : min_log_mel + log(f / 1000.0) / step;
}

static double mel_to_hz(double m)
{
    double sp = 200.0 / 3, min_log_mel = 1000.0 / sp, step = log(6.4) / 27;
    return m < min_log_mel ? m * sp : 1000.0 * exp(step * (m - min_log_mel));
}

static void write_filters(FILE *f, int n_mels)
{
    put_i32(f, n_mels);
    put_i32(f, 201);
    double *pts = malloc((size_t)(n_mels + 2) * sizeof(double));
    double top = hz_to_mel(8000);
    for (int i = 0; i < n_mels + 2; i++)
        pts[i] = mel_to_hz(top * i / (n_mels + 1));
    for (int m = 0; m < n_mels; m++)
        for (int k = 0; k < 201; k++) {
            double fk = 8000.0 * k / 200;
            double lower = (fk - pts[m]) / (pts[m + 1] - pts[m]);
            double upper = (pts[m + 2] - fk) / (pts[m + 2] - pts[m + 1]);
            double w = fmax(0, fmin(lower, upper)) * 2.0 / (pts[m + 2] - pts[m]);
            float v = (float)w;
            fwrite(&v, 4, 1, f);
        }
    free(pts);
}

static int write_vocab(FILE *f, const char *from)
{
    if (from) {
        file_map m;
        hearth_error err = { 0 };
        if (file_map_open(&m, from, &err)) {
            fprintf(stderr, "mkwhisper: %s\n", err.msg);
            return -1;
        }
        /* magic, 11 hyper-parameters, then the filter bank's two dimensions */
        int32_t nm, nf, n;
        size_t pos = 48;
        if (m.size < pos + 8)
            goto bad;
        memcpy(&nm, m.data + pos, 4), memcpy(&nf, m.data + pos + 4, 4);
        if (nm < 0 || nf < 0 || nm > 1024 || nf > 1024)
            goto bad;
        pos += 8 + (size_t)nm * nf * 4;
        if (m.size < pos + 4)
            goto bad;
        memcpy(&n, m.data + pos, 4);
        size_t start = pos;
        pos += 4;
        for (int i = 0; i < n; i++) {
            uint32_t len;
            if (m.size < pos + 4)
                goto bad;
            memcpy(&len, m.data + pos, 4);
            if (len > m.size - pos - 4)
                goto bad;
            pos += 4 + len;
        }
        fwrite(m.data + start, 1, pos - start, f);
        file_map_close(&m);
        return 0;
    bad:
        fprintf(stderr, "mkwhisper: %s: not a whisper.cpp file with a vocabulary\n", from);
        file_map_close(&m);
        return -1;
    }
    put_i32(f, 50257);
    for (int i = 0; i < 50257; i++) {
        char w[16];
        int n = 0;
        if (i < 256) {
            w[n++] = (char)i;
        } else {
            int k = i - 256;
            w[n++] = ' ';
            do {
                w[n++] = (char)('a' + k % 26);
                k /= 26;
            } while (k && n < 8);
        }
        put_i32(f, n);
        fwrite(w, 1, (size_t)n, f);
    }
    return 0;
}

static float rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)(((*s >> 11) / 9007199254740992.0) * 2.0 - 1.0);
}

/* Write one tensor: ne (ggml order, n_dims of them), type; rows are ne[0] (or ne[0]*ne[1]
 * for 3-D) values around `center` with spread `std`. */
static void tensor(writer *w, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                   int type, float center, float std)
{
    int64_t ne[3] = { ne0, ne1, ne2 };
    put_i32(w->f, n_dims);
    put_i32(w->f, (int32_t)strlen(name));
    put_i32(w->f, type);
    for (int i = 0; i < n_dims; i++)
        put_i32(w->f, (int32_t)ne[i]);
    fwrite(name, 1, strlen(name), w->f);
    int64_t cols = n_dims == 3 ? ne0 * ne1 : ne0, rows = n_dims == 3 ? ne2 : ne1 * ne2;
    if (n_dims == 1)
        rows = 1;
    uint64_t s = w->seed * 0x9E3779B97F4A7C15ull + (uint64_t)++w->index * 0xBF58476D1CE4E5B9ull + 1;
    float a = std * sqrtf(3.0f);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++)
            w->row[c] = center + a * rnd(&s);
        size_t bytes = tq_quantize(type, w->row, w->qrow, cols);
        fwrite(w->qrow, 1, bytes, w->f);
    }
}

static void layer(writer *w, const char *pre, int i, int s, int cross)
{
    char n[128];
    const char *mats[] = { "attn.query", "attn.key", "attn.value", "attn.out", "cross_attn.query",
                           "cross_attn.key", "cross_attn.value", "cross_attn.out" };
    for (int k = 0; k < (cross ? 8 : 4); k++) {
        snprintf(n, sizeof n, "%s.blocks.%d.%s.weight", pre, i, mats[k]);
        tensor(w, n, 2, s, s, 1, w->type, 0, 0.02f);
        if (strcmp(mats[k], "attn.key") && strcmp(mats[k], "cross_attn.key")) {
            snprintf(n, sizeof n, "%s.blocks.%d.%s.bias", pre, i, mats[k]);
            tensor(w, n, 1, s, 1, 1, TQ_F32, 0, 0.02f);
        }
    }
    const char *lns[] = { "attn_ln", "mlp_ln", "cross_attn_ln" };
    for (int k = 0; k < (cross ? 3 : 2); k++) {
        snprintf(n, sizeof n, "%s.blocks.%d.%s.weight", pre, i, lns[k]);
        tensor(w, n, 1, s, 1, 1, TQ_F32, 1, 0.05f);
        snprintf(n, sizeof n, "%s.blocks.%d.%s.bias", pre, i, lns[k]);
        tensor(w, n, 1, s, 1, 1, TQ_F32, 0, 0.02f);
    }
    snprintf(n, sizeof n, "%s.blocks.%d.mlp.0.weight", pre, i);
    tensor(w, n, 2, s, 4 * s, 1, w->type, 0, 0.02f);
    snprintf(n, sizeof n, "%s.blocks.%d.mlp.0.bias", pre, i);
    tensor(w, n, 1, 4 * s, 1, 1, TQ_F32, 0, 0.02f);
    snprintf(n, sizeof n, "%s.blocks.%d.mlp.2.weight", pre, i);
    tensor(w, n, 2, 4 * s, s, 1, w->type, 0, 0.02f);
    snprintf(n, sizeof n, "%s.blocks.%d.mlp.2.bias", pre, i);
    tensor(w, n, 1, s, 1, 1, TQ_F32, 0, 0.02f);
}

static int preset(const char *name, shape *sh)
{
    static const struct { const char *n; int state, heads, el, dl, mels, vocab; } P[] = {
        { "tiny", 384, 6, 4, 4, 80, 51865 },      { "base", 512, 8, 6, 6, 80, 51865 },
        { "small", 768, 12, 12, 12, 80, 51865 },  { "medium", 1024, 16, 24, 24, 80, 51865 },
        { "large", 1280, 20, 32, 32, 80, 51865 }, { "large-v3", 1280, 20, 32, 32, 128, 51866 },
        { "large-v3-turbo", 1280, 20, 32, 4, 128, 51866 },
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        if (!strcmp(P[i].n, name)) {
            *sh = (shape){ P[i].vocab, 1500, P[i].state, P[i].heads, P[i].el, 448, P[i].dl, P[i].mels };
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    shape sh;
    preset("tiny", &sh);
    const char *out = NULL, *vocab_from = NULL, *tname = "f16";
    uint64_t seed = 1;
    int en = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *ip = !strcmp(a, "--state") ? &sh.state : !strcmp(a, "--heads") ? &sh.heads
                : !strcmp(a, "--enc-layers") ? &sh.elayers : !strcmp(a, "--dec-layers") ? &sh.dlayers
                : !strcmp(a, "--audio-ctx") ? &sh.actx : !strcmp(a, "--text-ctx") ? &sh.tctx
                : !strcmp(a, "--mels") ? &sh.mels : NULL;
        if (!strcmp(a, "--en")) {
            en = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mkwhisper: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (ip)
            *ip = atoi(v);
        else if (!strcmp(a, "-o"))
            out = v;
        else if (!strcmp(a, "--type"))
            tname = v;
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--vocab-from"))
            vocab_from = v;
        else if (!strcmp(a, "--size")) {
            if (preset(v, &sh)) {
                fprintf(stderr, "mkwhisper: unknown size %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "mkwhisper: unknown option %s\n", a);
            return 2;
        }
    }
    if (en)
        sh.vocab = 51864;
    static const struct { const char *n; int type, ftype; } T[] = {
        { "f32", TQ_F32, 0 },         { "f16", TQ_F16, 1 },         { "q4_0", TQ_Q4_0, 2002 },
        { "q4_1", TQ_Q4_1, 2003 },    { "q5_0", TQ_Q5_0, 2008 },    { "q5_1", TQ_Q5_1, 2009 },
        { "q8_0", TQ_Q8_0, 2007 },
    };
    int ti = -1;
    for (int i = 0; i < 7; i++)
        if (!strcasecmp(T[i].n, tname))
            ti = i;
    if (!out || ti < 0 || sh.state <= 0 || sh.heads <= 0 || sh.state % sh.heads ||
        sh.state % 32 || sh.actx <= 0 || sh.tctx <= 0 || sh.elayers <= 0 || sh.dlayers <= 0 ||
        sh.mels <= 0) {
        fprintf(stderr, "usage: mkwhisper -o OUT [--size NAME] [--type f16|q8_0|...] (state a multiple of 32 and of heads)\n");
        return 2;
    }
    FILE *f = fopen(out, "wb");
    if (!f) {
        fprintf(stderr, "mkwhisper: cannot create %s\n", out);
        return 1;
    }
    int hp[11] = { sh.vocab, sh.actx, sh.state, sh.heads, sh.elayers,
                   sh.tctx,  sh.state, sh.heads, sh.dlayers, sh.mels, T[ti].ftype };
    put_i32(f, 0x67676d6c);
    for (int i = 0; i < 11; i++)
        put_i32(f, hp[i]);
    write_filters(f, sh.mels);
    if (write_vocab(f, vocab_from)) {
        fclose(f);
        return 1;
    }
    int64_t maxrow = (int64_t)sh.vocab > 4 * sh.state * 3 ? sh.vocab : 4 * sh.state * 3;
    writer w = { f, T[ti].type, T[ti].ftype, seed, 0, malloc((size_t)maxrow * 4),
                 malloc((size_t)maxrow * 4) };
    int conv = T[ti].type == TQ_F32 ? TQ_F32 : TQ_F16, s = sh.state;
    tensor(&w, "encoder.positional_embedding", 2, s, sh.actx, 1, TQ_F32, 0, 0.02f);
    tensor(&w, "encoder.conv1.weight", 3, 3, sh.mels, s, conv, 0, 0.02f);
    tensor(&w, "encoder.conv1.bias", 2, 1, s, 1, TQ_F32, 0, 0.02f);
    tensor(&w, "encoder.conv2.weight", 3, 3, s, s, conv, 0, 0.02f);
    tensor(&w, "encoder.conv2.bias", 2, 1, s, 1, TQ_F32, 0, 0.02f);
    for (int i = 0; i < sh.elayers; i++)
        layer(&w, "encoder", i, s, 0);
    tensor(&w, "encoder.ln_post.weight", 1, s, 1, 1, TQ_F32, 1, 0.05f);
    tensor(&w, "encoder.ln_post.bias", 1, s, 1, 1, TQ_F32, 0, 0.02f);
    tensor(&w, "decoder.positional_embedding", 2, s, sh.tctx, 1, TQ_F32, 0, 0.02f);
    tensor(&w, "decoder.token_embedding.weight", 2, s, sh.vocab, 1, w.type, 0, 0.02f);
    for (int i = 0; i < sh.dlayers; i++)
        layer(&w, "decoder", i, s, 1);
    tensor(&w, "decoder.ln.weight", 1, s, 1, 1, TQ_F32, 1, 0.05f);
    tensor(&w, "decoder.ln.bias", 1, s, 1, 1, TQ_F32, 0, 0.02f);
    free(w.row);
    free(w.qrow);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "mkwhisper: writing %s failed\n", out);
        return 1;
    }
    return 0;
}
