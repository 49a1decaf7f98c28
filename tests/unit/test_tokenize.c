/*
 * test_tokenize.c — the tokenizers against llama.cpp's own test vectors and references.
 *
 * Expected ids come from ../shared/testdata (produced by llama.cpp, never by hearth):
 * vocab/NAME.gguf.inp/.out for 7 vocabularies × 46 texts, and the prompt_ids of the
 * JSON files in reference/ (add_special = true) for the fixture models. Round trips check
 * detokenizing against the input text itself; synthetic vocabularies written with the
 * GGUF writer check the loader's validation and a BPE merge order worked out by hand.
 */
#define _GNU_SOURCE /* memmem */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "tokenize/tokenizer.h"
#include "tokenize/unicode.h"

#define VOCAB_DIR TESTDATA "/vocab/ggml-vocab-"
#define SEPARATOR "\n__ggml_vocab_test__\n"

static const char *const vocab_names[] = {
    "llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2", "deepseek-coder", "bert-bge",
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static tok_vocab *open_vocab(const char *path)
{
    hearth_error err;
    gguf_file *f;
    if (gguf_open(&f, path, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    tok_vocab *v = NULL;
    if (tok_load(&v, f, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    gguf_close(f);
    return v;
}

static tok_vocab *open_named(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, VOCAB_DIR "%s.gguf", name);
    return open_vocab(path);
}

static char *read_file(const char *path, size_t *n)
{
    char *buf = NULL;
    hearth_error err;
    if (file_read_all(path, 1 << 24, &buf, n, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    return buf;
}

/* The texts of a .inp file: split on the separator line, as vocab/README.md says. */
struct texts {
    const char *s[64];
    size_t len[64];
    size_t n;
};

static void split_inp(char *buf, size_t n, struct texts *t)
{
    const size_t sep = strlen(SEPARATOR);
    t->n = 0;
    char *p = buf, *end = buf + n;
    while (p < end && t->n < 64) {
        char *hit = memmem(p, (size_t)(end - p), SEPARATOR, sep);
        if (!hit)
            hit = end;
        t->s[t->n] = p;
        t->len[t->n++] = (size_t)(hit - p);
        p = hit == end ? end : hit + sep;
    }
}

/* The ids of one line of a .out file. */
static size_t parse_ids(char **line, tok_id *ids, size_t cap)
{
    size_t n = 0;
    char *p = *line;
    while (*p && *p != '\n') {
        char *e;
        long x = strtol(p, &e, 10);
        if (e == p) {
            p++;
            continue;
        }
        if (n < cap)
            ids[n++] = (tok_id)x;
        p = e;
    }
    *line = *p ? p + 1 : p;
    return n;
}

static bool same_ids(const tok_ids *got, const tok_id *want, size_t n)
{
    return got->n == n && (n == 0 || memcmp(got->v, want, n * sizeof *want) == 0);
}

static void show_ids(const char *what, const tok_id *ids, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

/* Remove white space and ASCII-lowercase: what a WordPiece round trip can be compared on. */
static void squash(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            out[k++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    out[k] = '\0';
}

static bool is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

/* Detokenizing the expected ids gives the text back: exactly for BPE, up to the leading
 * space for SPM (TOK_DECODE_LSTRIP removes it), and on ASCII texts without [UNK] up to
 * case and spacing for WordPiece. Returns whether the case was comparable and matched. */
static bool round_trip(const tok_vocab *v, const char *text, size_t len, const tok_id *ids,
                       size_t n)
{
    tok_str s = { 0 };
    hearth_error err;
    bool ok = tok_decode(v, ids, n, TOK_DECODE_LSTRIP, &s, &err) == HEARTH_OK;
    if (ok && tok_model_of(v) != TOK_MODEL_WPM) {
        ok = s.n == len && memcmp(s.s, text, len) == 0;
    } else if (ok) {
        bool unk = false;
        for (size_t i = 0; i < n; i++)
            unk |= ids[i] == tok_special(v)->unk;
        if (!unk && is_ascii(text, len)) {
            char *a = malloc(len + 1), *b = malloc(s.n + 1);
            squash(text, len, a);
            squash(s.s, s.n, b);
            ok = strcmp(a, b) == 0;
            free(a);
            free(b);
        }
    }
    tok_str_free(&s);
    return ok;
}

TEST(tokenize_vocab_vectors)
{
    size_t total_pass = 0, total = 0;
    for (size_t k = 0; k < sizeof vocab_names / sizeof *vocab_names; k++) {
        char path[256];
        tok_vocab *v = open_named(vocab_names[k]);
        if (!v)
            continue;
        size_t n_inp, n_out;
        snprintf(path, sizeof path, VOCAB_DIR "%s.gguf.inp", vocab_names[k]);
        char *inp = read_file(path, &n_inp);
        snprintf(path, sizeof path, VOCAB_DIR "%s.gguf.out", vocab_names[k]);
        char *out = read_file(path, &n_out);
        struct texts t;
        if (inp && out) {
            split_inp(inp, n_inp, &t);
            CHECK_EQ(t.n, 46);
            char *line = out;
            size_t pass = 0, trips = 0;
            for (size_t i = 0; i < t.n; i++) {
                tok_id want[1024];
                size_t n_want = parse_ids(&line, want, 1024);
                tok_ids got = { 0 };
                hearth_error err;
                CHECK(tok_encode(v, t.s[i], t.len[i], false, false, &got, &err) == HEARTH_OK);
                if (same_ids(&got, want, n_want)) {
                    pass++;
                } else if (pass + 3 > i) { /* show the first few mismatches */
                    fprintf(stderr, "  %s case %zu: '%.*s'\n", vocab_names[k], i,
                            (int)t.len[i], t.s[i]);
                    show_ids("want", want, n_want);
                    show_ids("got ", got.v, got.n);
                }
                trips += round_trip(v, t.s[i], t.len[i], want, n_want);
                tok_ids_free(&got);
            }
            if (pass != t.n)
                test_fail(__FILE__, __LINE__, "%s: %zu of %zu cases match", vocab_names[k],
                          pass, t.n);
            if (trips != t.n)
                test_fail(__FILE__, __LINE__, "%s: %zu of %zu round trips match",
                          vocab_names[k], trips, t.n);
            total_pass += pass;
            total += t.n;
        }
        mem_free(inp);
        mem_free(out);
        tok_free(v);
    }
    CHECK_EQ(total, 7 * 46);
    CHECK_EQ(total_pass, total);
}

/* Every case with a prompt in the JSON files of reference/: the model file's tokenizer, add_special as
 * recorded (true everywhere), must give its prompt_ids. */
static void check_reference(const char *json_path, size_t *cases)
{
    size_t n;
    char *buf = read_file(json_path, &n);
    cJSON *root = buf ? cJSON_Parse(buf) : NULL;
    mem_free(buf);
    const cJSON *model = cJSON_GetObjectItem(root, "model");
    const cJSON *list = cJSON_GetObjectItem(root, "cases");
    if (!cJSON_IsString(model) || !cJSON_IsArray(list)) {
        cJSON_Delete(root);
        return;
    }
    char path[512];
    const char *base = strrchr(model->valuestring, '/');
    snprintf(path, sizeof path, TESTDATA "/models/%s", base ? base + 1 : model->valuestring);
    tok_vocab *v = open_vocab(path);
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        const cJSON *prompt = cJSON_GetObjectItem(c, "prompt");
        const cJSON *ids = cJSON_GetObjectItem(c, "prompt_ids");
        const cJSON *add = cJSON_GetObjectItem(c, "add_special");
        const cJSON *parse = cJSON_GetObjectItem(c, "parse_special");
        if (!v || !cJSON_IsString(prompt) || !cJSON_IsArray(ids))
            continue;
        tok_ids got = { 0 };
        hearth_error err;
        const char *p = prompt->valuestring;
        CHECK(tok_encode(v, p, strlen(p), !cJSON_IsFalse(add), cJSON_IsTrue(parse), &got,
                         &err) == HEARTH_OK);
        bool same = got.n == (size_t)cJSON_GetArraySize(ids);
        for (size_t i = 0; same && i < got.n; i++)
            same = got.v[i] == cJSON_GetArrayItem(ids, (int)i)->valueint;
        if (!same)
            test_fail(__FILE__, __LINE__, "%s: prompt '%.40s' gives other ids", json_path, p);
        (*cases)++;
        tok_ids_free(&got);
    }
    tok_free(v);
    cJSON_Delete(root);
}

TEST(tokenize_reference_prompts)
{
    DIR *d = opendir(TESTDATA "/reference");
    REQUIRE(d);
    size_t cases = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0 || strstr(e->d_name, "dequant"))
            continue;
        char path[512];
        snprintf(path, sizeof path, TESTDATA "/reference/%s", e->d_name);
        check_reference(path, &cases);
    }
    closedir(d);
    CHECK(cases >= 60); /* 3 prompts × 25 decoder files + 5 sentences × 5 embedders */
}

TEST(tokenize_load_time)
{
    double t0 = now_ms();
    tok_vocab *v = open_named("qwen2");
    double ms = now_ms() - t0;
    REQUIRE(v);
    CHECK_EQ(tok_n_tokens(v), 151936);
#if defined(__SANITIZE_ADDRESS__)
    const double limit = 2000; /* the sanitizers slow everything several-fold */
#else
    const double limit = 200; /* target 100 ms; slack for a busy machine */
#endif
    if (ms > limit)
        test_fail(__FILE__, __LINE__, "loading the qwen2 vocabulary took %.0f ms", ms);
    tok_free(v);
}

/* A 100 KB word without spaces: the merge loop must not be quadratic. */
TEST(tokenize_long_word)
{
    const size_t n = 100000;
    char *text = malloc(n);
    REQUIRE(text);
    for (size_t i = 0; i < n; i++)
        text[i] = "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 13) % 26];
    const char *names[] = { "qwen2", "llama-spm", "bert-bge" };
    for (size_t k = 0; k < 3; k++) {
        tok_vocab *v = open_named(names[k]);
        if (!v)
            continue;
        tok_ids ids = { 0 };
        tok_str back = { 0 };
        hearth_error err;
        double t0 = now_ms();
        CHECK(tok_encode(v, text, n, false, false, &ids, &err) == HEARTH_OK);
        double ms = now_ms() - t0;
        if (ms > 3000)
            test_fail(__FILE__, __LINE__, "%s: 100 KB word took %.0f ms", names[k], ms);
        if (tok_model_of(v) != TOK_MODEL_WPM) {
            CHECK(ids.n > 1000);
            CHECK(tok_decode(v, ids.v, ids.n, TOK_DECODE_LSTRIP, &back, &err) == HEARTH_OK);
            CHECK(back.n == n && memcmp(back.s, text, n) == 0);
        } else {
            CHECK_EQ(ids.n, 1); /* longer than 100 characters: [UNK] */
            CHECK_EQ(ids.v[0], tok_special(v)->unk);
        }
        tok_ids_free(&ids);
        tok_str_free(&back);
        tok_free(v);
    }
    free(text);
}

static void encode_str(const tok_vocab *v, const char *s, bool add, bool parse, tok_ids *out)
{
    hearth_error err;
    out->n = 0;
    CHECK(tok_encode(v, s, strlen(s), add, parse, out, &err) == HEARTH_OK);
}

TEST(tokenize_add_special_and_eog)
{
    tok_ids ids = { 0 };
    tok_vocab *v = open_named("llama-spm");
    if (v) {
        encode_str(v, "Hello", true, false, &ids);
        REQUIRE(ids.n >= 2);
        CHECK_EQ(ids.v[0], 1); /* <s> */
        CHECK(tok_is_eog(v, 2));
        CHECK(!tok_is_eog(v, 1));
        tok_free(v);
    }
    if ((v = open_named("bert-bge"))) {
        encode_str(v, "Hello", true, false, &ids);
        REQUIRE(ids.n >= 3);
        CHECK_EQ(ids.v[0], 101);
        CHECK_EQ(ids.v[ids.n - 1], 102);
        tok_free(v);
    }
    if ((v = open_named("llama-bpe"))) {
        encode_str(v, "Hello", true, false, &ids);
        REQUIRE(ids.n >= 2);
        CHECK_EQ(ids.v[0], 128000);
        CHECK(tok_is_eog(v, 128001) && tok_is_eog(v, 128009)); /* <|end_of_text|>, <|eot_id|> */
        CHECK_EQ(tok_special(v)->eot, 128009);
        tok_free(v);
    }
    if ((v = open_named("qwen2"))) {
        tok_ids plain = { 0 };
        encode_str(v, "Hello", false, false, &plain);
        encode_str(v, "Hello", true, false, &ids); /* Qwen adds nothing */
        CHECK(same_ids(&ids, plain.v, plain.n));
        CHECK(tok_is_eog(v, 151645) && tok_is_eog(v, 151643));
        /* special text is a token only with parse_special */
        encode_str(v, "<|im_start|>user", false, true, &ids);
        REQUIRE(ids.n >= 2);
        CHECK_EQ(ids.v[0], 151644);
        encode_str(v, "<|im_start|>user", false, false, &ids);
        for (size_t i = 0; i < ids.n; i++)
            CHECK(ids.v[i] != 151644);
        tok_ids_free(&plain);
        tok_free(v);
    }
    tok_ids_free(&ids);
}

static void check_piece(const tok_vocab *v, const char *text, const char *want)
{
    tok_id id = tok_find(v, text, strlen(text));
    size_t n;
    const char *p = tok_piece(v, id, false, &n);
    if (!p || n != strlen(want) || memcmp(p, want, n) != 0)
        test_fail(__FILE__, __LINE__, "piece of '%s' is '%.*s', want '%s'", text, (int)n,
                  p ? p : "", want);
}

TEST(tokenize_pieces)
{
    tok_vocab *v = open_named("llama-spm");
    if (v) {
        check_piece(v, "\xe2\x96\x81the", " the");
        check_piece(v, "<0x0A>", "\n");
        size_t n;
        CHECK(tok_piece(v, 1, false, &n) && n == 0);            /* <s> hidden */
        CHECK(tok_piece(v, 1, true, &n) && n == 3);             /* ... unless special */
        CHECK(tok_piece(v, 32000, false, &n) == NULL && n == 0); /* out of range */
        tok_free(v);
    }
    if ((v = open_named("gpt-2"))) {
        check_piece(v, "\xc4\xa0the", " the"); /* "Ġthe" */
        check_piece(v, "\xc4\x8a", "\n");      /* "Ċ" */
        tok_free(v);
    }
    if ((v = open_named("bert-bge"))) {
        check_piece(v, "\xe2\x96\x81hello", " hello");
        check_piece(v, "ing", "ing");
        tok_free(v);
    }
}

/* Invalid UTF-8 never crashes. SPM keeps the bytes (byte tokens), BPE and WordPiece see
 * each invalid byte as U+FFFD. */
TEST(tokenize_invalid_utf8)
{
    static const char bad[] = "\xff\xfe ok \xc3 \xe2\x82 \xed\xa0\x80 \xc0\xaf";
    const size_t n = sizeof bad - 1;
    for (size_t k = 0; k < sizeof vocab_names / sizeof *vocab_names; k++) {
        tok_vocab *v = open_named(vocab_names[k]);
        if (!v)
            continue;
        tok_ids ids = { 0 };
        tok_str back = { 0 };
        hearth_error err;
        CHECK(tok_encode(v, bad, n, true, true, &ids, &err) == HEARTH_OK);
        CHECK(ids.n > 0);
        CHECK(tok_decode(v, ids.v, ids.n, TOK_DECODE_LSTRIP, &back, &err) == HEARTH_OK);
        if (tok_model_of(v) == TOK_MODEL_SPM) {
            CHECK(back.n == n && memcmp(back.s, bad, n) == 0);
        } else if (tok_model_of(v) == TOK_MODEL_BPE) {
            CHECK(utf8_valid(back.s, back.n));
            CHECK(strstr(back.s, " ok ") != NULL);
            CHECK(strncmp(back.s, "\xef\xbf\xbd\xef\xbf\xbd", 6) == 0);
        }
        tok_ids_free(&ids);
        tok_str_free(&back);
        tok_free(v);
    }
}

/* Feeding a CJK/emoji text token by token: every chunk is whole characters, and some
 * token really ended inside a character (else the test would prove nothing). */
TEST(tokenize_stream_never_splits)
{
    static const char text[] = "日本語も少し。🦙🚀 emoji 😶‍🌫️ and 天工 ✅ done";
    const char *names[] = { "qwen2", "llama-bpe", "llama-spm", "gpt-2" };
    for (size_t k = 0; k < 4; k++) {
        tok_vocab *v = open_named(names[k]);
        if (!v)
            continue;
        tok_ids ids = { 0 };
        tok_str all = { 0 };
        hearth_error err;
        encode_str(v, text, false, false, &ids);
        tok_stream s;
        tok_stream_init(&s, v, TOK_DECODE_LSTRIP);
        size_t partial = 0;
        for (size_t i = 0; i < ids.n; i++) {
            size_t before = all.n, plen;
            const char *p = tok_piece(v, ids.v[i], false, &plen);
            partial += p && !utf8_valid(p, plen);
            CHECK(tok_stream_push(&s, ids.v[i], &all, &err) == HEARTH_OK);
            CHECK(utf8_valid(all.s + before, all.n - before));
        }
        CHECK(tok_stream_flush(&s, &all, &err) == HEARTH_OK);
        CHECK(all.n == strlen(text) && memcmp(all.s, text, all.n) == 0);
        CHECK(partial > 0);
        tok_ids_free(&ids);
        tok_str_free(&all);
        tok_free(v);
    }
}

TEST(tokenize_stream_flush_partial)
{
    tok_vocab *v = open_named("llama-spm");
    if (!v)
        return;
    tok_id e2 = tok_find(v, "<0xE2>", 6), x82 = tok_find(v, "<0x82>", 6);
    tok_id ff = tok_find(v, "<0xFF>", 6), a = tok_find(v, "a", 1);
    REQUIRE(e2 >= 0 && x82 >= 0 && ff >= 0 && a >= 0);
    tok_str out = { 0 };
    hearth_error err;
    tok_stream s;
    tok_stream_init(&s, v, 0);
    CHECK(tok_stream_push(&s, a, &out, &err) == HEARTH_OK);
    CHECK(tok_stream_push(&s, e2, &out, &err) == HEARTH_OK);
    CHECK(tok_stream_push(&s, x82, &out, &err) == HEARTH_OK);
    CHECK_STR(out.s, "a"); /* E2 82 is held back: it may still become € */
    CHECK(tok_stream_push(&s, ff, &out, &err) == HEARTH_OK);
    /* FF breaks the held sequence: two U+FFFD for E2 82, one for FF */
    CHECK_STR(out.s, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(tok_stream_push(&s, e2, &out, &err) == HEARTH_OK);
    CHECK(tok_stream_flush(&s, &out, &err) == HEARTH_OK);
    CHECK_STR(out.s, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(tok_stream_push(&s, 99999, &out, &err) == HEARTH_ERR_RANGE);
    tok_str_free(&out);
    tok_free(v);
}

/* ---- synthetic vocabularies ----------------------------------------------------------- */

struct synth {
    const char *model, *pre;
    const char *const *tokens;
    size_t n_tokens;
    const char *const *merges;
    size_t n_merges;
};

static hearth_status load_synth(const struct synth *s, void (*extra)(gguf_writer *),
                                tok_vocab **out, hearth_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tok_synth.gguf", test_tmpdir());
    gguf_writer *w = gguf_writer_new();
    if (s->model)
        gguf_set_str(w, "tokenizer.ggml.model", s->model);
    if (s->pre)
        gguf_set_str(w, "tokenizer.ggml.pre", s->pre);
    if (s->tokens)
        gguf_set_arr_str(w, "tokenizer.ggml.tokens", s->tokens, s->n_tokens);
    if (s->merges)
        gguf_set_arr_str(w, "tokenizer.ggml.merges", s->merges, s->n_merges);
    if (extra)
        extra(w);
    hearth_status st = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    if (st != HEARTH_OK)
        return st;
    gguf_file *f;
    if ((st = gguf_open(&f, path, err)) != HEARTH_OK)
        return st;
    st = tok_load(out, f, err);
    gguf_close(f);
    return st;
}

/* Byte-level BPE tokens for 'a' 'b' 'c' ' ' and some merges. */
static const char *const abc_tokens[] = { "a", "b", "c", "\xc4\xa0", "ab", "bc", "abc", "\xc4\xa0" "a" };
static const char *const abc_merges[] = { "b c", "a b", "a bc", "\xc4\xa0 a", "ab c" };

TEST(tokenize_synthetic_bpe)
{
    struct synth s = { "gpt2", "gpt-2", abc_tokens, 8, abc_merges, 5 };
    tok_vocab *v = NULL;
    hearth_error err;
    REQUIRE(load_synth(&s, NULL, &v, &err) == HEARTH_OK);
    tok_ids ids = { 0 };
    /* "abc": rank 0 merges b+c first, then a+bc (rank 2) -> "abc"; "ab c" never applies */
    encode_str(v, "abc", false, false, &ids);
    CHECK(ids.n == 1 && ids.v[0] == 6);
    /* " ab": Ġ+a (rank 3) competes with a+b (rank 1): a+b wins, leaving Ġ, ab */
    encode_str(v, " ab", false, false, &ids);
    CHECK(ids.n == 2 && ids.v[0] == 3 && ids.v[1] == 4);
    /* "cab": c stays, a+b */
    encode_str(v, "cab", false, false, &ids);
    CHECK(ids.n == 2 && ids.v[0] == 2 && ids.v[1] == 4);
    tok_ids_free(&ids);
    tok_free(v);
}

static void bad_bos(gguf_writer *w) { gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 99); }
static void bad_types(gguf_writer *w)
{
    int32_t t[3] = { 1, 1, 1 };
    gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, t, 3);
}
static void bad_type_value(gguf_writer *w)
{
    int32_t t[8] = { 1, 1, 1, 1, 1, 1, 1, 42 };
    gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, t, 8);
}
static void tokens_as_ints(gguf_writer *w)
{
    uint32_t t[3] = { 1, 2, 3 };
    gguf_set_arr(w, "tokenizer.ggml.tokens", GGUF_U32, t, 3);
}
static void bad_scores(gguf_writer *w)
{
    float sc[2] = { 0, 0 };
    gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, sc, 2);
}

static void expect_error(const struct synth *s, void (*extra)(gguf_writer *),
                         hearth_status want, const char *needle)
{
    tok_vocab *v = NULL;
    hearth_error err = { 0 };
    hearth_status st = load_synth(s, extra, &v, &err);
    if (st != want)
        test_fail(__FILE__, __LINE__, "want status %d, got %d (%s)", want, st, err.msg);
    CHECK(v == NULL);
    CHECK_CONTAINS(err.msg, needle);
    CHECK_CONTAINS(err.msg, "tok_synth.gguf");
    tok_free(v);
}

TEST(tokenize_malformed_vocab)
{
    static const char *const bad_merges[] = { "a b", "abc" };
    static const char *const dup[] = { "a", "b", "a" };
    struct synth ok = { "gpt2", "gpt-2", abc_tokens, 8, abc_merges, 5 };
    struct synth s = ok;
    expect_error(&s, bad_bos, HEARTH_ERR_FORMAT, "bos_token_id = 99");
    expect_error(&s, bad_types, HEARTH_ERR_FORMAT, "token_type has 3 entries for 8");
    expect_error(&s, bad_type_value, HEARTH_ERR_FORMAT, "token_type[7] = 42");
    expect_error(&s, bad_scores, HEARTH_ERR_FORMAT, "scores has 2 entries");
    s.merges = bad_merges, s.n_merges = 2;
    expect_error(&s, NULL, HEARTH_ERR_FORMAT, "merges[1]");
    s = ok, s.merges = NULL;
    expect_error(&s, NULL, HEARTH_ERR_FORMAT, "merges is missing");
    s = ok, s.tokens = NULL;
    expect_error(&s, NULL, HEARTH_ERR_FORMAT, "tokens is missing");
    expect_error(&s, tokens_as_ints, HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens is a array of u32");
    s = ok, s.tokens = dup, s.n_tokens = 3;
    expect_error(&s, NULL, HEARTH_ERR_FORMAT, "repeats token 0");
    s = ok, s.model = "t5";
    expect_error(&s, NULL, HEARTH_ERR_UNSUPPORTED, "'t5'");
    s = ok, s.pre = "mystery-pre";
    expect_error(&s, NULL, HEARTH_ERR_UNSUPPORTED, "'mystery-pre'");
    s = ok, s.model = NULL;
    expect_error(&s, NULL, HEARTH_ERR_FORMAT, "tokenizer.ggml.model is missing");
    /* a missing pre means "default", like llama.cpp */
    s = ok, s.pre = NULL;
    tok_vocab *v = NULL;
    hearth_error err;
    CHECK(load_synth(&s, NULL, &v, &err) == HEARTH_OK);
    CHECK(v && tok_pre_of(v) == TOK_PRE_DEFAULT);
    tok_free(v);
}

TEST(tokenize_unicode_tables)
{
    CHECK_EQ(uni_category('a'), UNI_LETTER);
    CHECK_EQ(uni_category(0x65E5), UNI_LETTER); /* 日 */
    CHECK_EQ(uni_category('7'), UNI_NUMBER);
    CHECK_EQ(uni_category(0x0661), UNI_NUMBER); /* Arabic-Indic one */
    CHECK_EQ(uni_category(0x00AB), UNI_PUNCT);  /* « */
    CHECK_EQ(uni_category(0x20AC), UNI_SYMBOL); /* € */
    CHECK_EQ(uni_category(0x0301), UNI_MARK);
    CHECK_EQ(uni_category(0x200D), UNI_OTHER);  /* zero-width joiner (Cf) */
    CHECK_EQ(uni_category(0x0378), UNI_UNASSIGNED);
    CHECK(uni_is_space(0x3000) && uni_is_space(0x85) && uni_is_space('\t'));
    CHECK(!uni_is_space(0x1F) && !uni_is_space(0x200B));
    CHECK_EQ(uni_tolower('Q'), 'q');
    CHECK_EQ(uni_tolower(0x00C4), 0x00E4); /* Ä -> ä */
    CHECK_EQ(uni_tolower(0x0130), 'i');    /* İ: first code point of "i̇" */
    CHECK_EQ(uni_nfd_first(0x00E9), 'e');  /* é */
    CHECK_EQ(uni_nfd_first(0x1EAD), 'a');  /* ậ, two marks */
    CHECK_EQ(uni_nfd_first(0xAC00), 0x1100); /* 가 -> leading jamo */
    CHECK_EQ(uni_nfd_first('x'), 'x');
    CHECK_STR(uni_version(), "14.0.0");
}

TEST(tokenize_cli)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s tokenize %s/models/tiny-llama-spm-q8_0.gguf 'Once upon a time'",
             test_bin(), TESTDATA);
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR(out, "1 9038 2501 263 931\n"); /* reference/tiny-llama-spm-q8_0.json */
    snprintf(cmd, sizeof cmd, "%s tokenize %s/models/tiny-llama-spm-q8_0.gguf 'Once' --no-bos --pieces",
             test_bin(), TESTDATA);
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "9038");
    CHECK_CONTAINS(out, "' Once'");
    snprintf(cmd, sizeof cmd, "%s tokenize %s/models/tiny-qwen2-bpe-q8_0.gguf 'Once upon a time' --json",
             test_bin(), TESTDATA);
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "[12522,5193,264,882]");
    snprintf(cmd, sizeof cmd, "%s tokenize /nonexistent.gguf hi", test_bin());
    CHECK(test_run(cmd, out, sizeof out) != 0);
    CHECK_CONTAINS(out, "/nonexistent.gguf");
}
