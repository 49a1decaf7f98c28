/*
 * test_whisper.c — the whisper.cpp model loader and forward pass.
 *
 * References: ../shared/testdata/whisper/micro-en-f16.bin (written by whisper.cpp's tools)
 * and micro-en-f16.tokens.json, the tokens whisper.cpp's greedy decoder emits for two WAVs.
 * The greedy loop and its token suppression are written out here from the README's
 * description, independently of the transcription service.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "base/file.h"
#include "base/mem.h"
#include "models/whisper.h"
#include "tensor/types.h"
#include "test.h"

#define WDIR TESTDATA "/whisper/"
#define MICRO WDIR "micro-en-f16.bin"

TEST(whisper_loads_micro_model)
{
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, MICRO, &err) == HEARTH_OK);
    CHECK_EQ(m->hp.n_vocab, 51864);
    CHECK_EQ(m->hp.n_audio_ctx, 1500);
    CHECK_EQ(m->hp.n_audio_state, 64);
    CHECK_EQ(m->hp.n_text_layer, 2);
    CHECK_EQ(m->hp.n_mels, 80);
    CHECK_EQ(m->hp.ftype, 1);
    CHECK_EQ(m->sp.eot, 50256);
    CHECK_EQ(m->sp.sot, 50257);
    CHECK_EQ(m->sp.transcribe, 50358);
    CHECK_EQ(m->sp.notimestamps, 50362);
    CHECK_EQ(m->sp.beg, 50363);
    CHECK(!m->sp.multilingual);
    CHECK_EQ(m->n_vocab_file, 50257);
    CHECK_EQ(m->space_token, 220);
    CHECK_EQ(m->tok_emb.type, 1);
    CHECK_EQ(m->e_pos.type, 0);
    CHECK_STR(wsp_size_name(m), "unknown");
    size_t len;
    const unsigned char *b = wsp_token_bytes(m, 36536, &len); /* " resin" in the fixture */
    CHECK_EQ(len, 6);
    CHECK(memcmp(b, " resin", 6) == 0);
    /* the Slaney filter bank: every filter's area is 2 / (band width in Hz) > 0 */
    double sum = 0;
    for (int i = 0; i < 80 * 201; i++)
        sum += m->mel_filters[i];
    CHECK(sum > 0);
    int ids[8];
    CHECK_EQ(wsp_tokenize(m, "Hello world", ids, 8), 2); /* GPT-2's published ids */
    CHECK_EQ(ids[0], 15496);
    CHECK_EQ(ids[1], 995);
    CHECK_EQ(wsp_lang_index("en"), 0);
    CHECK_EQ(wsp_lang_index("yue"), 99);
    CHECK_STR(wsp_lang_code(2), "de");
    wsp_free(m);
}

/* Greedy decoding as whisper.cpp does it with timestamps off: every special token is
 * suppressed except end-of-text, which (with the blank " ") is also suppressed at the
 * first step. Returns how many of the n_ref reference ids were matched before the first
 * difference; records probabilities in p. */
static int greedy_match(wsp_model *m, const char *wav, const int *ref, const double *ref_p,
                        int n_ref, double *worst_p)
{
    hearth_error err = { 0 };
    float *x, *mel = malloc(80 * 3000 * sizeof(float)), *logits = malloc(51864 * sizeof(float));
    size_t n;
    if (!mel || !logits || audio_load(wav, 1u << 24, &x, &n, &err))
        return -1;
    audio_log_mel(x, n, 0, m->mel_filters, 80, 3000, mel, &err);
    mem_free(x);
    wsp_state *s = wsp_state_new(m, 2, 1, &err);
    int matched = 0;
    *worst_p = 0;
    if (s && wsp_encode(s, mel, &err) == HEARTH_OK) {
        int prompt[2] = { m->sp.sot, m->sp.notimestamps };
        int n_past = 0, tok = 0;
        wsp_decode(s, 0, prompt, 2, 0, logits, &err);
        n_past = 2;
        for (int i = 0; i < n_ref; i++) {
            for (int v = m->sp.eot; v < 51864; v++)
                if (v != m->sp.eot || i == 0)
                    logits[v] = -INFINITY;
            if (i == 0)
                logits[220] = -INFINITY;
            int best = 0;
            double mx = -INFINITY, sum = 0;
            for (int v = 0; v < 51864; v++)
                if (logits[v] > mx)
                    mx = logits[v], best = v;
            for (int v = 0; v < 51864; v++)
                sum += exp(logits[v] - mx);
            double p = 1.0 / sum;
            if (best != ref[i])
                break;
            double dp = fabs(p - ref_p[i]) / ref_p[i];
            *worst_p = dp > *worst_p ? dp : *worst_p;
            matched++;
            tok = best;
            if (wsp_decode(s, 0, &tok, 1, n_past++, logits, &err))
                break;
        }
    }
    wsp_state_free(s);
    free(mel), free(logits);
    return matched;
}

static void check_case(const char *audio, int min_match)
{
    char *json;
    size_t size;
    hearth_error err = { 0 };
    REQUIRE(file_read_all(WDIR "micro-en-f16.tokens.json", 1 << 22, &json, &size, &err) == HEARTH_OK);
    cJSON *root = cJSON_Parse(json);
    mem_free(json);
    REQUIRE(root);
    cJSON *c, *cases = cJSON_GetObjectItem(root, "cases");
    int ids[256], n = 0;
    double ps[256];
    cJSON_ArrayForEach(c, cases)
    {
        if (strcmp(cJSON_GetObjectItem(c, "audio")->valuestring, audio) != 0)
            continue;
        cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(c, "tokens"))
        {
            if (n < 256) {
                ids[n] = cJSON_GetObjectItem(t, "id")->valueint;
                ps[n++] = cJSON_GetObjectItem(t, "p")->valuedouble;
            }
        }
    }
    cJSON_Delete(root);
    REQUIRE(n == 220);
    wsp_model *m;
    REQUIRE(wsp_load(&m, MICRO, &err) == HEARTH_OK);
    char wav[256];
    snprintf(wav, sizeof wav, WDIR "%s", audio);
    double worst = 1;
    int k = greedy_match(m, wav, ids, ps, n, &worst);
    printf("  %s: %d of %d tokens match whisper.cpp, worst relative p error %.2g\n", audio, k, n, worst);
    CHECK(k >= min_match);
    CHECK(worst < 0.005); /* the reference gives p to 3 significant digits */
    wsp_free(m);
}

TEST(whisper_greedy_tokens_hello)
{
    check_case("hello16k.wav", 220);
}

TEST(whisper_greedy_tokens_silence)
{
    check_case("silence2s.wav", 220);
}

/* ---- malformed files ---------------------------------------------------------------------- */

static unsigned char *g_file;
static size_t g_size;

static int load_fixture(void)
{
    if (g_file)
        return 1;
    char *data;
    hearth_error err = { 0 };
    if (file_read_all(MICRO, 1 << 24, &data, &g_size, &err))
        return 0;
    g_file = (unsigned char *)data;
    return 1;
}

/* Write the first len bytes of the fixture with a 4-byte patch at off (off < 0: none) and
 * expect the loader to fail with a message naming the file and containing `what`. */
static void expect_fail(size_t len, long off, int32_t value, const char *what)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.bin", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    if (off >= 0) {
        fwrite(g_file, 1, (size_t)off, f);
        fwrite(&value, 4, 1, f);
        fwrite(g_file + off + 4, 1, len - (size_t)off - 4, f);
    } else {
        fwrite(g_file, 1, len, f);
    }
    fclose(f);
    hearth_error err = { 0 };
    wsp_model *m = NULL;
    hearth_status st = wsp_load(&m, path, &err);
    CHECK(st != HEARTH_OK);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.msg, "bad.bin");
    CHECK_CONTAINS(err.msg, what);
    if (m)
        wsp_free(m);
}

TEST(whisper_rejects_malformed_files)
{
    REQUIRE(load_fixture());
    /* layout offsets, walked here independently of the loader */
    size_t hp = 4, filters = hp + 44, vocab = filters + 8 + 80 * 201 * 4, pos = vocab + 4;
    int32_t nv;
    memcpy(&nv, g_file + vocab, 4);
    REQUIRE(nv == 50257);
    for (int i = 0; i < nv; i++) {
        uint32_t len;
        memcpy(&len, g_file + pos, 4);
        pos += 4 + len;
    }
    size_t tensor0 = pos;
    int32_t nd, nlen;
    memcpy(&nd, g_file + tensor0, 4);
    memcpy(&nlen, g_file + tensor0 + 4, 4);
    size_t data0 = tensor0 + 12 + 4 * (size_t)nd + (size_t)nlen;

    expect_fail(0, -1, 0, "truncated");
    expect_fail(3, -1, 0, "truncated");
    expect_fail(30, -1, 0, "truncated");
    expect_fail(filters + 100, -1, 0, "truncated");
    expect_fail(vocab + 1000, -1, 0, "truncated");
    expect_fail(tensor0 + 6, -1, 0, "truncated");
    expect_fail(data0 + 10, -1, 0, "truncated");
    expect_fail(g_size - 1, -1, 0, "truncated");
    expect_fail(tensor0, -1, 0, "missing");
    expect_fail(g_size, 0, 0x46554747, "magic");
    expect_fail(g_size, (long)hp, -1, "n_vocab");
    expect_fail(g_size, (long)hp, 1 << 30, "n_vocab");
    expect_fail(g_size, (long)hp + 4 * 4, 0, "n_audio_layer");
    expect_fail(g_size, (long)hp + 4 * 4, 1000000, "n_audio_layer");
    expect_fail(g_size, (long)hp + 2 * 4, 63, "multiple of the heads");
    expect_fail(g_size, (long)filters, 128, "mel filter");
    expect_fail(g_size, (long)vocab, 1 << 30, "tokens in the vocabulary");
    expect_fail(g_size, (long)vocab + 4, 0x7fffffff, "length");
    expect_fail(g_size, (long)tensor0, 9, "dimensions");
    expect_fail(g_size, (long)tensor0 + 4, 100000, "name length");
    expect_fail(g_size, (long)tensor0 + 8, 99, "unknown type");
    expect_fail(g_size, (long)tensor0 + 8, 12, "not supported");
    expect_fail(g_size, (long)tensor0 + 12, -5, "dimension");
    expect_fail(g_size, (long)tensor0 + 12, 65, "shape");
    mem_free(g_file);
    g_file = NULL;
}

TEST(whisper_rejects_missing_file)
{
    hearth_error err = { 0 };
    wsp_model *m;
    CHECK(wsp_load(&m, "/nonexistent/model.bin", &err) != HEARTH_OK);
    CHECK_CONTAINS(err.msg, "model.bin");
}

/* A batch of one token for each of three sequences gives the logits that decoding each
 * sequence on its own gives. */
TEST(whisper_batch_decode_matches_single)
{
    hearth_error err = { 0 };
    wsp_model *m;
    REQUIRE(wsp_load(&m, MICRO, &err) == HEARTH_OK);
    float *x, *mel = malloc(80 * 3000 * sizeof(float));
    size_t n;
    REQUIRE(mel && audio_load(WDIR "hello16k.wav", 1u << 24, &x, &n, &err) == HEARTH_OK);
    audio_log_mel(x, n, 0, m->mel_filters, 80, 3000, mel, &err);
    mem_free(x);
    int V = m->hp.n_vocab;
    float *batch = malloc(3 * (size_t)V * sizeof(float)), *one = malloc((size_t)V * sizeof(float));
    wsp_state *a = wsp_state_new(m, 2, 3, &err), *b = wsp_state_new(m, 2, 1, &err);
    REQUIRE(a && b && batch && one);
    REQUIRE(wsp_encode(a, mel, &err) == HEARTH_OK && wsp_encode(b, mel, &err) == HEARTH_OK);
    int prompts[3][3] = { { 50257, 50362, 440 }, { 50257, 50362, 1000 }, { 50257, 50362, 7 } };
    int seqs[3] = { 0, 1, 2 }, toks[3] = { 11, 12, 13 }, pos[3] = { 3, 3, 3 };
    for (int k = 0; k < 3; k++)
        REQUIRE(wsp_decode(a, k, prompts[k], 3, 0, NULL, &err) == HEARTH_OK);
    REQUIRE(wsp_decode_batch(a, 3, seqs, toks, pos, batch, &err) == HEARTH_OK);
    for (int k = 0; k < 3; k++) {
        REQUIRE(wsp_decode(b, 0, prompts[k], 3, 0, NULL, &err) == HEARTH_OK);
        REQUIRE(wsp_decode(b, 0, &toks[k], 1, 3, one, &err) == HEARTH_OK);
        double worst = 0;
        for (int v = 0; v < V; v++)
            worst = fmax(worst, fabs(batch[(size_t)k * V + v] - one[v]));
        CHECK_NEAR(worst, 0, 1e-4);
    }
    /* two rows of one sequence, and positions past the context, are refused */
    int dup[2] = { 1, 1 };
    CHECK_EQ(wsp_decode_batch(a, 2, dup, toks, pos, batch, &err), HEARTH_ERR_INVALID);
    int far[1] = { 448 };
    CHECK_EQ(wsp_decode_batch(a, 1, seqs, toks, far, batch, &err), HEARTH_ERR_RANGE);
    wsp_state_free(a), wsp_state_free(b);
    free(mel), free(batch), free(one);
    wsp_free(m);
}

/* Random byte corruption of the structural part of the file (hyper-parameters, filters,
 * vocabulary, the first tensor headers): each image loads or is refused, never crashes
 * (the sanitizer build checks every access). */
TEST(whisper_survives_random_corruption)
{
    REQUIRE(load_fixture());
    size_t span = 64376 + 4 + 50257 * 4 + 400000; /* through the vocabulary and beyond */
    unsigned char *img = malloc(g_size);
    REQUIRE(img);
    uint32_t r = 7;
    int loaded = 0;
    for (int it = 0; it < 200; it++) {
        memcpy(img, g_file, g_size);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            r = r * 1664525u + 1013904223u;
            size_t pos = (r >> 8) % span;
            r = r * 1664525u + 1013904223u;
            img[pos] = (unsigned char)(r >> 24);
        }
        size_t size = it % 5 == 4 ? (r >> 4) % g_size : g_size;
        wsp_model *m;
        hearth_error err;
        if (wsp_load_memory(&m, img, size, "corrupt", &err) == HEARTH_OK) {
            loaded++;
            wsp_free(m);
        } else {
            CHECK_CONTAINS(err.msg, "corrupt");
        }
    }
    CHECK(loaded > 0); /* most flips land in token bytes, which any value may take */
    free(img);
    mem_free(g_file);
    g_file = NULL;
}
