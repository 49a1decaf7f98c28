/*
 * test_transcribe.c — the transcription service, its output formats, the hearth transcribe
 * command and the mkwhisper generator.
 *
 * Independent references: whisper.cpp's greedy text for the micro fixture
 * (micro-en-f16.tokens.json), the Slaney filter bank whisper.cpp's converter stored in that
 * fixture (for mkwhisper's bank), and the structure the formats are defined by (SubRip,
 * WebVTT, JSON). Long-audio logic runs on a generated model with a 150-frame audio context,
 * i.e. 3-second windows, so many windows take milliseconds.
 */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "base/file.h"
#include "base/mem.h"
#include "transcribe/transcribe.h"
#include "test.h"

#define WDIR TESTDATA "/whisper/"
#define MICRO WDIR "micro-en-f16.bin"

static const char *tool_path(void)
{
    static char path[1024];
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", test_bin());
    snprintf(path, sizeof path, "%s/mkwhisper", dirname(bin));
    return path;
}

/* A small model in test_tmpdir()/name: 64-wide, 3-second windows, real GPT-2 vocabulary. */
static int make_model(const char *name, const char *type)
{
    char cmd[2048], log[4096];
    snprintf(cmd, sizeof cmd,
             "%s -o %s/%s --en --state 64 --heads 2 --enc-layers 1 --dec-layers 1 "
             "--audio-ctx 150 --text-ctx 64 --type %s --vocab-from %s",
             tool_path(), test_tmpdir(), name, type, MICRO);
    return test_run(cmd, log, sizeof log);
}

static tr_params quiet_params(void)
{
    tr_params p = tr_params_default();
    p.n_threads = 2;
    p.temperature_fallback = 0;
    p.beam_size = 1;
    return p;
}

TEST(mkwhisper_every_type_loads_and_runs)
{
    const char *types[] = { "f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0" };
    const int ids[] = { 0, 1, 2, 3, 6, 7, 8 };
    hearth_error err = { 0 };
    wsp_model *ref;
    REQUIRE(wsp_load(&ref, MICRO, &err) == HEARTH_OK);
    for (int i = 0; i < 7; i++) {
        char name[64], path[1024];
        snprintf(name, sizeof name, "m_%s.bin", types[i]);
        REQUIRE(make_model(name, types[i]) == 0);
        snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
        wsp_model *m;
        REQUIRE(wsp_load(&m, path, &err) == HEARTH_OK);
        CHECK_EQ(m->d_layers[0].mlp0_w.type, ids[i]);
        CHECK_EQ(m->tok_emb.type, ids[i]);
        CHECK_EQ(m->conv1_w.type, i == 0 ? 0 : 1);
        /* the generator's filter bank is the one whisper.cpp's converter stored */
        double worst = 0;
        for (int k = 0; k < 80 * 201; k++)
            worst = fmax(worst, fabs(m->mel_filters[k] - ref->mel_filters[k]));
        CHECK_NEAR(worst, 0, 1e-6);
        tr_params p = quiet_params();
        tr_result r;
        REQUIRE(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err) == HEARTH_OK);
        CHECK(r.n_seg >= 1);
        CHECK_EQ(r.n_windows, 2);
        for (int s = 0; s < r.n_seg; s++)
            CHECK(isfinite(r.seg[s].avg_logprob));
        tr_result_free(&r);
        wsp_free(m);
    }
    wsp_free(ref);
}

TEST(transcribe_matches_whisper_cpp_text)
{
    char *json;
    size_t size;
    hearth_error err = { 0 };
    REQUIRE(file_read_all(WDIR "micro-en-f16.tokens.json", 1 << 22, &json, &size, &err) == HEARTH_OK);
    cJSON *root = cJSON_Parse(json);
    mem_free(json);
    REQUIRE(root);
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 0);
    REQUIRE(c && !strcmp(cJSON_GetObjectItem(c, "audio")->valuestring, "hello16k.wav"));
    const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
    while (*want == ' ')
        want++;
    wsp_model *m;
    REQUIRE(wsp_load(&m, MICRO, &err) == HEARTH_OK);
    tr_params p = quiet_params();
    p.timestamps = 0;
    p.silence_rms = 0;
    tr_result r;
    REQUIRE(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err) == HEARTH_OK);
    REQUIRE(r.n_seg == 1);
    CHECK_STR(r.seg[0].text, want);
    CHECK_NEAR(r.seg[0].t0, 0, 1e-9);
    CHECK_NEAR(r.seg[0].t1, 63349 / 16000.0, 1e-3);
    CHECK_STR(r.language, "en");
    tr_result_free(&r);
    /* an initial prompt conditions the decoder: this random model then says something else */
    p.initial_prompt = "Hello world";
    REQUIRE(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err) == HEARTH_OK);
    REQUIRE(r.n_seg == 1);
    CHECK(strcmp(r.seg[0].text, want) != 0);
    tr_result_free(&r);
    cJSON_Delete(root);
    wsp_free(m);
}

TEST(transcribe_silence_gives_no_text)
{
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, MICRO, &err) == HEARTH_OK);
    tr_params p = quiet_params();
    tr_result r;
    REQUIRE(tr_transcribe_file(m, WDIR "silence2s.wav", &p, &r, &err) == HEARTH_OK);
    CHECK_EQ(r.n_seg, 0);
    CHECK_NEAR(r.duration, 2.0, 0.01);
    char *txt;
    REQUIRE(tr_render(&r, "txt", &txt, &err) == HEARTH_OK);
    CHECK_STR(txt, "");
    mem_free(txt);
    tr_result_free(&r);
    /* a language the English-only model cannot do is refused */
    p.language = "de";
    CHECK_EQ(tr_transcribe_file(m, WDIR "silence2s.wav", &p, &r, &err), HEARTH_ERR_INVALID);
    wsp_free(m);
}

/* Write `copies` repetitions of hello16k.wav's samples (plus 1 s of silence each) as one
 * 16-bit WAV; returns its duration in seconds or -1. */
static double write_long(const char *path, int copies)
{
    float *x;
    size_t n;
    hearth_error err = { 0 };
    if (audio_load(WDIR "hello16k.wav", 1 << 22, &x, &n, &err))
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint32_t total = (uint32_t)(copies * (n + 16000)), v;
    fwrite("RIFF", 1, 4, f);
    v = 36 + 2 * total;
    fwrite(&v, 4, 1, f);
    fwrite("WAVEfmt ", 1, 8, f);
    uint32_t fmt[4] = { 16, 1 | (1u << 16), 16000, 32000 };
    uint16_t tail[2] = { 2, 16 };
    fwrite(fmt, 4, 4, f);
    fwrite(tail, 2, 2, f);
    fwrite("data", 1, 4, f);
    v = 2 * total;
    fwrite(&v, 4, 1, f);
    for (int c = 0; c < copies; c++) {
        for (size_t i = 0; i < n + 16000; i++) {
            int16_t q = i < n ? (int16_t)lrintf(x[i] * 32767) : 0;
            fwrite(&q, 2, 1, f);
        }
    }
    fclose(f);
    mem_free(x);
    return total / 16000.0;
}

static void check_segments(const tr_result *r, double duration)
{
    for (int i = 0; i < r->n_seg; i++) {
        CHECK(r->seg[i].t0 <= r->seg[i].t1);
        CHECK(r->seg[i].t1 <= duration + 0.02);
        CHECK(r->seg[i].text[0] != 0);
        if (i)
            CHECK(r->seg[i].t0 >= r->seg[i - 1].t1 - 1e-9);
    }
}

TEST(transcribe_long_audio_in_windows)
{
    char model[1024], wav[1024];
    REQUIRE(make_model("long.bin", "q8_0") == 0);
    snprintf(model, sizeof model, "%s/long.bin", test_tmpdir());
    snprintf(wav, sizeof wav, "%s/long.wav", test_tmpdir());
    double dur = write_long(wav, 5);
    REQUIRE(dur > 20);
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, model, &err) == HEARTH_OK);
    for (int beam = 1; beam <= 3; beam += 2) {
        tr_params p = quiet_params();
        p.beam_size = beam;
        tr_result r;
        REQUIRE(tr_transcribe_file(m, wav, &p, &r, &err) == HEARTH_OK);
        CHECK_NEAR(r.duration, dur, 0.01);
        CHECK(r.n_windows >= (int)(dur / 3));
        CHECK(r.n_seg >= 5);
        check_segments(&r, dur);
        tr_result_free(&r);
    }
    /* a stated limit refuses longer audio */
    tr_params p = quiet_params();
    p.max_seconds = 10;
    tr_result r;
    CHECK_EQ(tr_transcribe_file(m, wav, &p, &r, &err), HEARTH_ERR_RANGE);
    wsp_free(m);
}

TEST(transcribe_formats_are_well_formed)
{
    char model[1024];
    REQUIRE(make_model("fmt.bin", "f16") == 0);
    snprintf(model, sizeof model, "%s/fmt.bin", test_tmpdir());
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, model, &err) == HEARTH_OK);
    tr_params p = quiet_params();
    tr_result r;
    REQUIRE(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err) == HEARTH_OK);
    REQUIRE(r.n_seg >= 1);
    char *s;
    /* SubRip: index line, "HH:MM:SS,mmm --> HH:MM:SS,mmm", text, blank line */
    REQUIRE(tr_render(&r, "srt", &s, &err) == HEARTH_OK);
    const char *q = s;
    for (int i = 0; i < r.n_seg; i++) {
        int idx, h0, m0, s0, ms0, h1, m1, s1, ms1, used = 0;
        REQUIRE(sscanf(q, "%d\n%d:%d:%d,%d --> %d:%d:%d,%d\n%n", &idx, &h0, &m0, &s0, &ms0, &h1,
                       &m1, &s1, &ms1, &used) == 9);
        CHECK_EQ(idx, i + 1);
        CHECK_NEAR(h0 * 3600 + m0 * 60 + s0 + ms0 / 1000.0, r.seg[i].t0, 0.0015);
        CHECK_NEAR(h1 * 3600 + m1 * 60 + s1 + ms1 / 1000.0, r.seg[i].t1, 0.0015);
        q += used;
        CHECK(!strncmp(q, r.seg[i].text, strlen(r.seg[i].text)));
        q = strstr(q, "\n\n");
        REQUIRE(q);
        q += 2;
    }
    CHECK_EQ(*q, 0);
    mem_free(s);
    REQUIRE(tr_render(&r, "vtt", &s, &err) == HEARTH_OK);
    CHECK(!strncmp(s, "WEBVTT\n\n", 8));
    CHECK_CONTAINS(s, " --> ");
    CHECK(strstr(s, ",") == NULL || strstr(r.seg[0].text, ","));
    mem_free(s);
    REQUIRE(tr_render(&r, "verbose_json", &s, &err) == HEARTH_OK);
    cJSON *o = cJSON_Parse(s);
    REQUIRE(o);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "segments")), r.n_seg);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "text")));
    CHECK_STR(cJSON_GetObjectItem(o, "language")->valuestring, "en");
    cJSON_Delete(o);
    mem_free(s);
    REQUIRE(tr_render(&r, "json", &s, &err) == HEARTH_OK);
    o = cJSON_Parse(s);
    CHECK(o && cJSON_GetObjectItem(o, "text"));
    cJSON_Delete(o);
    mem_free(s);
    REQUIRE(tr_render(&r, "txt", &s, &err) == HEARTH_OK);
    CHECK(!strncmp(s, r.seg[0].text, strlen(r.seg[0].text)));
    mem_free(s);
    CHECK_EQ(tr_render(&r, "docx", &s, &err), HEARTH_ERR_INVALID);
    tr_result_free(&r);
    wsp_free(m);
}

TEST(transcribe_cli_json_and_errors)
{
    char cmd[2048], out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s transcribe %s %s --format verbose_json --beam 1 --no-fallback -t 2 2>/dev/null",
             test_bin(), MICRO, WDIR "silence2s.wav");
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    cJSON *o = cJSON_Parse(out);
    REQUIRE(o);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "segments")), 0);
    CHECK_STR(cJSON_GetObjectItem(o, "text")->valuestring, "");
    cJSON_Delete(o);
    snprintf(cmd, sizeof cmd, "%s transcribe %s /nonexistent.wav", test_bin(), MICRO);
    CHECK(test_run(cmd, out, sizeof out) != 0);
    CHECK_CONTAINS(out, "nonexistent.wav");
    snprintf(cmd, sizeof cmd, "%s transcribe %s x.wav --format doc", test_bin(), MICRO);
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_CONTAINS(out, "unknown format");
}

TEST(transcribe_multilingual_v3_shape)
{
    /* large-v3's vocabulary (51866: 100 languages) and 128 mel bands, at a tiny width */
    char cmd[4096], log[4096], path[1024];
    snprintf(path, sizeof path, "%s/v3.bin", test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "%s -o %s --size large-v3 --state 64 --heads 2 --enc-layers 1 --dec-layers 1 "
             "--audio-ctx 150 --text-ctx 64 --type q5_1",
             tool_path(), path);
    REQUIRE(test_run(cmd, log, sizeof log) == 0);
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, path, &err) == HEARTH_OK);
    CHECK_EQ(m->hp.n_mels, 128);
    CHECK(m->sp.multilingual);
    CHECK_EQ(m->sp.n_languages, 100);
    /* the ids OpenAI's large-v3 tokenizer gives these tokens */
    CHECK_EQ(m->sp.eot, 50257);
    CHECK_EQ(m->sp.sot, 50258);
    CHECK_EQ(m->sp.translate, 50359);
    CHECK_EQ(m->sp.transcribe, 50360);
    CHECK_EQ(m->sp.notimestamps, 50364);
    CHECK_EQ(m->sp.beg, 50365);
    tr_params p = quiet_params();
    tr_result r;
    REQUIRE(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err) == HEARTH_OK);
    CHECK(wsp_lang_index(r.language) >= 0);
    tr_result_free(&r);
    p.language = "de";
    p.translate = 1;
    REQUIRE(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err) == HEARTH_OK);
    CHECK_STR(r.language, "de");
    char *s;
    REQUIRE(tr_render(&r, "verbose_json", &s, &err) == HEARTH_OK);
    CHECK_CONTAINS(s, "\"task\":\"translate\"");
    mem_free(s);
    tr_result_free(&r);
    p.language = "xx";
    CHECK_EQ(tr_transcribe_file(m, WDIR "hello16k.wav", &p, &r, &err), HEARTH_ERR_INVALID);
    wsp_free(m);
}

/* Opt-in (HEARTH_SLOW_TESTS=1): two hours of 8 kHz audio stream through in bounded memory. */
TEST(transcribe_two_hours_streams)
{
    if (!getenv("HEARTH_SLOW_TESTS"))
        return;
    char model[1024], wav[1024];
    REQUIRE(make_model("two_h.bin", "q8_0") == 0);
    snprintf(model, sizeof model, "%s/two_h.bin", test_tmpdir());
    snprintf(wav, sizeof wav, "%s/two_h.wav", test_tmpdir());
    FILE *f = fopen(wav, "wb");
    REQUIRE(f);
    uint32_t n = 7200u * 8000, v;
    fwrite("RIFF", 1, 4, f);
    v = 36 + 2 * n;
    fwrite(&v, 4, 1, f);
    fwrite("WAVEfmt ", 1, 8, f);
    uint32_t fmt[4] = { 16, 1 | (1u << 16), 8000, 16000 };
    uint16_t tail[2] = { 2, 16 };
    fwrite(fmt, 4, 4, f), fwrite(tail, 2, 2, f);
    fwrite("data", 1, 4, f);
    v = 2 * n;
    fwrite(&v, 4, 1, f);
    static int16_t block[8000];
    for (uint32_t s = 0; s < 7200; s++) {
        for (int i = 0; i < 8000; i++) /* a tone burst once a minute, silence otherwise */
            block[i] = s % 60 == 0 ? (int16_t)(8000 * sin(2 * M_PI * 300 * i / 8000.0)) : 0;
        fwrite(block, 2, 8000, f);
    }
    fclose(f);
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, model, &err) == HEARTH_OK);
    tr_params p = quiet_params();
    tr_result r;
    REQUIRE(tr_transcribe_file(m, wav, &p, &r, &err) == HEARTH_OK);
    CHECK_NEAR(r.duration, 7200, 1);
    check_segments(&r, 7200);
    tr_result_free(&r);
    wsp_free(m);
}
