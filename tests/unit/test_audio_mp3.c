/*
 * MP3 decoding (libsndfile with mpg123). The MP3 is made at test time from the fixture
 * speech recording with the `lame` encoder; without lame the test says SKIP and passes.
 * MP3 is lossy and its encoder adds a little silence, so the check is physical: the
 * decoded audio lasts as long as the WAV (3.96 s, within 0.1 s) and carries the same energy
 * (RMS within 15 %).
 */
#include "test.h"

#include <math.h>

#include "audio/audio.h"
#include "base/mem.h"

static double rms(const float *x, size_t n)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    return n ? sqrt(ss / (double)n) : 0;
}

TEST(audio_decodes_mp3)
{
    char mp3[512], cmd[1200];
    if (test_run("command -v lame", NULL, 0) != 0) {
        printf("    SKIP: lame is not installed (apt-get install lame)\n");
        return;
    }
    snprintf(mp3, sizeof mp3, "%s/hello.mp3", test_tmpdir());
    snprintf(cmd, sizeof cmd, "lame --quiet -b 64 " TESTDATA "/whisper/hello16k.wav %s", mp3);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    hearth_error err;
    float *wav = NULL, *dec = NULL;
    size_t n_wav = 0, n_dec = 0;
    REQUIRE(audio_load(TESTDATA "/whisper/hello16k.wav", 16000 * 60, &wav, &n_wav, &err) ==
            HEARTH_OK);
    if (audio_load(mp3, 16000 * 60, &dec, &n_dec, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        mem_free(wav);
        return;
    }
    CHECK_NEAR(n_dec / 16000.0, n_wav / 16000.0, 0.1);
    CHECK_NEAR(rms(dec, n_dec) / rms(wav, n_wav), 1.0, 0.15);
    mem_free(wav);
    mem_free(dec);
}
