/*
 * test_audio.c — audio decoding edge cases and the log-mel spectrogram.
 *
 * The spectrogram is checked against ../shared/testdata/whisper/ *.mel80x3000.f32, computed
 * with float64 numpy from the published recipe (independent of hearth). Edge-case WAVs are
 * written here byte by byte, so their content is known exactly.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio/audio.h"
#include "base/mem.h"
#include "models/whisper.h"
#include "test.h"

#define WDIR TESTDATA "/whisper/"

static float *read_f32(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    float *v = malloc(n * sizeof(float));
    if (v && fread(v, sizeof(float), n, f) != n) {
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

static void check_mel(const char *wav, const char *ref_path)
{
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, WDIR "micro-en-f16.bin", &err) == HEARTH_OK);
    float *x;
    size_t n;
    REQUIRE(audio_load(wav, 1u << 24, &x, &n, &err) == HEARTH_OK);
    float *ref = read_f32(ref_path, 80 * 3000);
    float *mel = malloc(80 * 3000 * sizeof(float));
    REQUIRE(ref && mel);
    CHECK(audio_log_mel(x, n, 0, m->mel_filters, 80, 3000, mel, &err) == HEARTH_OK);
    double worst = 0;
    for (size_t i = 0; i < 80 * 3000; i++) {
        double d = fabs(mel[i] - ref[i]);
        worst = d > worst ? d : worst;
    }
    CHECK_NEAR(worst, 0, 1e-4);
    free(ref), free(mel);
    mem_free(x);
    wsp_free(m);
}

TEST(audio_mel_hello_matches_numpy)
{
    check_mel(WDIR "hello16k.wav", WDIR "hello16k.mel80x3000.f32");
}

TEST(audio_mel_silence_matches_numpy)
{
    check_mel(WDIR "silence2s.wav", WDIR "silence2s.mel80x3000.f32");
}

/* A canonical 44-byte-header PCM WAV of n frames; sample(i, c) gives each value in
 * [-1, 1]. bits is 8, 16 or 24. */
static int write_wav(const char *path, int rate, int channels, int bits, long n,
                     double (*sample)(long i, int c, int rate))
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint32_t bps = (uint32_t)bits / 8, data = (uint32_t)(n * channels * bps);
    fwrite("RIFF", 1, 4, f);
    uint32_t v = 36 + data;
    fwrite(&v, 4, 1, f);
    fwrite("WAVEfmt ", 1, 8, f);
    v = 16;
    fwrite(&v, 4, 1, f);
    uint16_t fmt = 1, ch = (uint16_t)channels, align = (uint16_t)(channels * bps), b = (uint16_t)bits;
    uint32_t r = (uint32_t)rate, byte_rate = r * align;
    fwrite(&fmt, 2, 1, f), fwrite(&ch, 2, 1, f), fwrite(&r, 4, 1, f), fwrite(&byte_rate, 4, 1, f);
    fwrite(&align, 2, 1, f), fwrite(&b, 2, 1, f);
    fwrite("data", 1, 4, f);
    fwrite(&data, 4, 1, f);
    for (long i = 0; i < n; i++)
        for (int c = 0; c < channels; c++) {
            double s = sample(i, c, rate);
            long q = lround(s * ((1L << (bits - 1)) - 1));
            if (bits == 8) {
                uint8_t u = (uint8_t)(q + 128);
                fwrite(&u, 1, 1, f);
            } else {
                uint8_t bytes[3] = { (uint8_t)q, (uint8_t)(q >> 8), (uint8_t)(q >> 16) };
                fwrite(bytes, 1, bps, f);
            }
        }
    return fclose(f);
}

static double tone440(long i, int c, int rate)
{
    (void)c;
    return 0.5 * sin(2 * M_PI * 440.0 * i / rate);
}

/* left +0.5, right -0.5 → mono mix is silence */
static double opposite(long i, int c, int rate)
{
    (void)i, (void)rate;
    return c == 0 ? 0.5 : -0.5;
}

/* Decode a WAV and check the length at 16 kHz and the 440 Hz tone's amplitude. */
static void check_tone(int rate, int channels, int bits, double tol)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tone_%d_%d_%d.wav", test_tmpdir(), rate, channels, bits);
    REQUIRE(write_wav(path, rate, channels, bits, rate, tone440) == 0);
    hearth_error err = { 0 };
    float *x;
    size_t n;
    REQUIRE(audio_load(path, 1u << 20, &x, &n, &err) == HEARTH_OK);
    CHECK(labs((long)n - 16000) <= 2);
    /* correlate with the expected tone away from the edges */
    double dot = 0, e = 0;
    for (size_t i = 1000; i + 1000 < n; i++) {
        double ref = 0.5 * sin(2 * M_PI * 440.0 * i / 16000.0);
        dot += x[i] * ref;
        e += (x[i] - ref) * (x[i] - ref);
    }
    CHECK(dot > 0);
    CHECK_NEAR(sqrt(e / (n - 2000)), 0, tol);
    mem_free(x);
}

TEST(audio_wav_8bit_16bit_24bit)
{
    check_tone(16000, 1, 8, 0.01);
    check_tone(16000, 1, 16, 1e-4);
    check_tone(16000, 1, 24, 1e-5);
}

TEST(audio_resamples_8k_and_48k)
{
    check_tone(8000, 1, 16, 2e-3);
    check_tone(48000, 1, 16, 2e-3);
    check_tone(44100, 2, 16, 2e-3);
}

TEST(audio_stereo_mixes_down)
{
    char path[512];
    snprintf(path, sizeof path, "%s/opposite.wav", test_tmpdir());
    REQUIRE(write_wav(path, 16000, 2, 16, 1600, opposite) == 0);
    hearth_error err = { 0 };
    float *x;
    size_t n;
    REQUIRE(audio_load(path, 1u << 20, &x, &n, &err) == HEARTH_OK);
    CHECK_EQ(n, 1600);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fabs(x[i]) > worst ? fabs(x[i]) : worst;
    CHECK_NEAR(worst, 0, 1e-4);
    mem_free(x);
}

TEST(audio_empty_and_corrupt_files)
{
    char path[512];
    hearth_error err = { 0 };
    float *x;
    size_t n;
    /* a valid header with no samples: decodes to nothing */
    snprintf(path, sizeof path, "%s/empty.wav", test_tmpdir());
    REQUIRE(write_wav(path, 16000, 1, 16, 0, tone440) == 0);
    hearth_status st = audio_load(path, 1u << 20, &x, &n, &err);
    if (st == HEARTH_OK) {
        CHECK_EQ(n, 0);
        mem_free(x);
    } else {
        CHECK_CONTAINS(err.msg, "empty.wav");
    }
    /* a 0-byte file and a corrupt header are refused with the file's name */
    snprintf(path, sizeof path, "%s/zero.wav", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fclose(f);
    CHECK(audio_load(path, 1u << 20, &x, &n, &err) != HEARTH_OK);
    CHECK_CONTAINS(err.msg, "zero.wav");
    snprintf(path, sizeof path, "%s/corrupt.wav", test_tmpdir());
    f = fopen(path, "wb");
    REQUIRE(f);
    static const char bad[] = "RIFF\x10\x00\x00\x00WAVEfmt \xff\xff\xff\xff garbage garbage";
    fwrite(bad, 1, sizeof bad - 1, f);
    fclose(f);
    CHECK(audio_load(path, 1u << 20, &x, &n, &err) != HEARTH_OK);
    CHECK_CONTAINS(err.msg, "corrupt.wav");
    /* a decoded-length limit is enforced */
    snprintf(path, sizeof path, "%s/long.wav", test_tmpdir());
    REQUIRE(write_wav(path, 16000, 1, 16, 64000, tone440) == 0);
    CHECK_EQ(audio_load(path, 16000, &x, &n, &err), HEARTH_ERR_RANGE);
}

TEST(audio_reads_from_memory)
{
    FILE *f = fopen(WDIR "hello16k.wav", "rb");
    REQUIRE(f);
    static unsigned char buf[200000];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    hearth_error err = { 0 };
    audio_stream *a;
    REQUIRE(audio_open_memory(&a, buf, len, "upload", &err) == HEARTH_OK);
    CHECK_NEAR(audio_duration(a), 3.96, 0.01);
    float out[1000];
    size_t n, total = 0;
    while (audio_read(a, out, 1000, &n, &err) == HEARTH_OK && n > 0)
        total += n;
    CHECK_EQ(total, (126742 - 44) / 2); /* file size minus the 44-byte header, 16-bit mono */
    audio_close(a);
}

/* FLAC (lossless) decodes to the WAV's samples exactly; OGG/Vorbis (lossy) closely. The
 * files are made with sox at test time; the test is skipped where sox is missing. */
TEST(audio_flac_and_ogg)
{
    char cmd[2048], log[1024], flac[400], ogg[400];
    snprintf(flac, sizeof flac, "%s/h.flac", test_tmpdir());
    snprintf(ogg, sizeof ogg, "%s/h.ogg", test_tmpdir());
    snprintf(cmd, sizeof cmd, "sox %s %s && sox %s %s", WDIR "hello16k.wav", flac,
             WDIR "hello16k.wav", ogg);
    if (test_run(cmd, log, sizeof log) != 0) {
        printf("  skipped: sox could not make FLAC/OGG (%s)\n", log);
        return;
    }
    hearth_error err = { 0 };
    float *ref, *x;
    size_t n_ref, n;
    REQUIRE(audio_load(WDIR "hello16k.wav", 1u << 20, &ref, &n_ref, &err) == HEARTH_OK);
    REQUIRE(audio_load(flac, 1u << 20, &x, &n, &err) == HEARTH_OK);
    CHECK_EQ(n, n_ref);
    int same = n == n_ref && memcmp(x, ref, n * sizeof(float)) == 0;
    CHECK(same);
    mem_free(x);
    REQUIRE(audio_load(ogg, 1u << 20, &x, &n, &err) == HEARTH_OK);
    CHECK(labs((long)n - (long)n_ref) < 2000);
    double e = 0, s = 0;
    for (size_t i = 0; i < n && i < n_ref; i++) {
        e += (x[i] - ref[i]) * (x[i] - ref[i]);
        s += ref[i] * ref[i];
    }
    CHECK(e < 0.1 * s); /* within -10 dB of the signal */
    mem_free(x);
    mem_free(ref);
}
