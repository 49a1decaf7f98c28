/*
 * Tests for `hearth run` and `hearth chat`, run as the user would (test_bin()).
 *
 * Expected text and ids come from llama.cpp's greedy runs in ../shared/testdata/reference,
 * up to the first step whose top-two logit gap is below 0.1 (F16 model, float tolerance of
 * reference/README.md). Chat answers are checked against `hearth run` on the same prompt
 * written out by hand from the ChatML format / the fixture's template, so the chat loop
 * (templating, KV reuse across turns, /load) must give what a fresh run gives.
 * Error cases must print a clear message, exit non-zero and not crash (the suite also runs
 * under ASan/UBSan).
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"

#define F16 TESTDATA "/models/tiny-llama-spm-f16.gguf"
#define Q8 TESTDATA "/models/tiny-llama-spm-q8_0.gguf"
#define QWEN TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf"

/* ---- running hearth --------------------------------------------------------------------- */

typedef struct result {
    int rc;
    char out[16384]; /* stdout */
    char err[4096];  /* stderr */
} result;

static void slurp(const char *path, char *buf, size_t cap)
{
    char *text;
    size_t n;
    buf[0] = '\0';
    if (file_read_all(path, 1 << 20, &text, &n, NULL) != HEARTH_OK)
        return;
    n = n < cap - 1 ? n : cap - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    mem_free(text);
}

/* Run a shell command (printf-style; "$H" in it is the hearth binary) with stdout and
 * stderr captured separately. */
static result *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static result *sh(const char *fmt, ...)
{
    static result r;
    char cmd[6000], full[7000], out[300], err[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/stdout", test_tmpdir());
    snprintf(err, sizeof err, "%s/stderr", test_tmpdir());
    /* grouped: test_run adds its own 2>&1 after the command */
    snprintf(full, sizeof full, "( H='%s'; ( %s ) >'%s' 2>'%s' )", test_bin(), cmd, out, err);
    r.rc = test_run(full, NULL, 0);
    slurp(out, r.out, sizeof r.out);
    slurp(err, r.err, sizeof r.err);
    return &r;
}

/* Copy src into dst[cap], truncating. */
static void keep(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    n = n < cap - 1 ? n : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", test_tmpdir(), name);
}

static bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A failure the user can act on: non-zero exit, no crash or sanitizer report, and the
 * first line of stderr is the message and contains `want`. */
#define CHECK_CLEAN_ERROR(r, want_rc, want)                                   \
    do {                                                                      \
        CHECK_EQ((r)->rc, want_rc);                                           \
        CHECK_CONTAINS((r)->err, want);                                       \
        CHECK(strncmp((r)->err, "hearth ", 7) == 0);                          \
        CHECK(!strstr((r)->err, "Sanitizer") && !strstr((r)->err, "runtime error")); \
    } while (0)

/* ---- the reference (third prompt of prompts.txt, F16 model) ----------------------------- */

typedef struct ref {
    int n_prompt, steps;       /* steps: greedy steps before the first near-tie */
    int ids[32];
    char piece[32][64];
    double top[32][5];         /* reference top-5 logits, highest first */
    char text[1024];           /* the pieces of those steps, concatenated */
} ref;

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static bool load_ref(const char *file, int index, ref *rf)
{
    char path[256], *text;
    snprintf(path, sizeof path, TESTDATA "/reference/%s", file);
    if (file_read_all(path, 64 << 20, &text, NULL, NULL) != HEARTH_OK)
        return false;
    cJSON *j = cJSON_Parse(text);
    mem_free(text);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "cases"), index), *e;
    memset(rf, 0, sizeof *rf);
    rf->n_prompt = cJSON_GetArraySize(cJSON_GetObjectItem(c, "prompt_ids"));
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "greedy")) {
        const cJSON *top5 = cJSON_GetObjectItem(e, "top5");
        int k = rf->steps;
        for (int t = 0; t < 5; t++)
            rf->top[k][t] = cJSON_GetArrayItem(cJSON_GetArrayItem(top5, t), 1)->valuedouble;
        if (k == 32 || rf->top[k][0] - rf->top[k][1] < 0.1)
            break;
        rf->ids[k] = cJSON_GetObjectItem(e, "id")->valueint;
        const char *hex = cJSON_GetObjectItem(e, "piece_hex")->valuestring;
        for (size_t b = 0; b < strlen(hex) / 2 && b < 63; b++)
            rf->piece[k][b] = (char)(hexval(hex[2 * b]) * 16 + hexval(hex[2 * b + 1]));
        size_t used = strlen(rf->text);
        keep(rf->text + used, sizeof rf->text - used, rf->piece[k]);
        rf->steps++;
    }
    cJSON_Delete(j);
    return c && rf->steps > 0;
}

/* Line `line` (0-based) of prompts.txt into a file of its own; returns its path. */
static const char *prompt_file(int line, char *path, size_t n)
{
    char *text;
    if (file_read_all(TESTDATA "/reference/prompts.txt", 1 << 20, &text, NULL, NULL) != HEARTH_OK)
        return NULL;
    char *s = text;
    for (int i = 0; i < line && s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    bool ok = s != NULL;
    if (ok) {
        s[strcspn(s, "\n")] = '\0';
        snprintf(path, n, "%s/prompt%d.txt", test_tmpdir(), line);
        ok = write_file(path, s);
    }
    mem_free(text);
    return ok ? path : NULL;
}

/* ---- hearth run ------------------------------------------------------------------------- */

TEST(cli_run_greedy_text_matches_llamacpp)
{
    static ref rf;
    char pf[256];
    REQUIRE(load_ref("tiny-llama-spm-f16.json", 2, &rf));
    REQUIRE(rf.steps >= 7);
    REQUIRE(prompt_file(2, pf, sizeof pf));
    result *r = sh("\"$H\" run " F16 " -p - --temp 0 -n %d -t 2 < '%s'", rf.steps, pf);
    CHECK_EQ(r->rc, 0);
    char want[1100];
    snprintf(want, sizeof want, "%s\n", rf.text);
    CHECK_STR(r->out, want);
    char line[128];
    snprintf(line, sizeof line, "[%d prompt tokens", rf.n_prompt);
    CHECK_CONTAINS(r->err, line);
    snprintf(line, sizeof line, "%d generated", rf.steps);
    CHECK_CONTAINS(r->err, line);
    CHECK_CONTAINS(r->err, "stop: length");

    /* --stop across two tokens ("Level" " áll") ends the text right before it */
    r = sh("\"$H\" run " F16 " -p - --temp 0 -n %d -t 2 --stop 'vel \xc3\xa1l' < '%s'",
           rf.steps, pf);
    CHECK_EQ(r->rc, 0);
    CHECK_STR(r->out, "sun\xe8\xb1\xa1Le\n");
    CHECK_CONTAINS(r->err, "stop: stop");
}

TEST(cli_run_json_logprobs)
{
    static ref rf;
    char pf[256];
    REQUIRE(load_ref("tiny-llama-spm-f16.json", 2, &rf));
    REQUIRE(prompt_file(2, pf, sizeof pf));
    result *r = sh("\"$H\" run " F16 " -p - --temp 0 -n %d -t 2 --json --logprobs 3 < '%s'",
                   rf.steps, pf);
    CHECK_EQ(r->rc, 0);
    CHECK_EQ(count_lines(r->out), rf.steps);
    char *line = r->out;
    for (int i = 0; i < rf.steps && *line; i++) {
        char *nl = strchr(line, '\n');
        REQUIRE(nl);
        *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        line = nl + 1;
        REQUIRE(o);
        const cJSON *id = cJSON_GetObjectItem(o, "id"), *piece = cJSON_GetObjectItem(o, "piece");
        const cJSON *lp = cJSON_GetObjectItem(o, "logprob"), *top = cJSON_GetObjectItem(o, "top");
        CHECK(cJSON_IsNumber(id) && id->valueint == rf.ids[i]);
        CHECK(cJSON_IsString(piece) && !strcmp(piece->valuestring, rf.piece[i]));
        CHECK(cJSON_IsNumber(lp) && lp->valuedouble <= 0);
        CHECK(cJSON_GetArraySize(top) == 3);
        double sum = 0, prev = 0;
        for (int k = 0; k < cJSON_GetArraySize(top); k++) {
            const cJSON *e = cJSON_GetArrayItem(top, k);
            double l = cJSON_GetObjectItem(e, "logprob")->valuedouble;
            CHECK(l <= 0);
            if (k == 0) {
                CHECK_EQ(cJSON_GetObjectItem(e, "id")->valueint, rf.ids[i]); /* greedy: first */
                CHECK_NEAR(l, lp ? lp->valuedouble : 1, 1e-6);
            } else {
                CHECK(l <= prev);
            }
            /* log-probability differences are logit differences */
            double first = cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "logprob")->valuedouble;
            CHECK_NEAR(first - l, rf.top[i][0] - rf.top[i][k], 0.05);
            prev = l;
            sum += exp(l);
        }
        CHECK(sum <= 1 + 1e-5);
        cJSON_Delete(o);
    }
}

TEST(cli_run_seeded_sampling)
{
    char a[4096];
    const char *cmd = "\"$H\" run " Q8 " -p 'Once upon a time' --temp 1 -n 16 -t 1 --seed %d";
    result *r = sh(cmd, 7);
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "16 generated");
    keep(a, sizeof a, r->out);
    CHECK(strlen(a) > 1);
    r = sh(cmd, 7);
    CHECK_EQ(r->rc, 0);
    CHECK_STR(r->out, a);
    /* another seed: 16 draws from wide random-model distributions all agreeing is
     * vanishingly unlikely */
    r = sh(cmd, 8);
    CHECK_EQ(r->rc, 0);
    CHECK(strcmp(r->out, a) != 0);
}

TEST(cli_run_invalid_utf8_prompt)
{
    /* SPM: BOS, the "▁" space prefix, then byte tokens <0xFF> <0xFE>: 4 tokens */
    char out[4096];
    result *r = sh("\"$H\" run " Q8 " -p \"$(printf '\\377\\376')\" --temp 0 -n 4 -t 1");
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "[4 prompt tokens");
    CHECK(utf8_valid(r->out, strlen(r->out)));
    keep(out, sizeof out, r->out);
    r = sh("printf '\\377\\376' | \"$H\" run " Q8 " -p - --temp 0 -n 4 -t 1");
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "[4 prompt tokens");
    CHECK_STR(r->out, out);
}

TEST(cli_run_model_errors)
{
    char path[300];
    result *r = sh("\"$H\" run /nonexistent/model.gguf -p hi");
    CHECK_CLEAN_ERROR(r, 1, "/nonexistent/model.gguf");
    CHECK_EQ(count_lines(r->err), 1);

    tmp_path(path, sizeof path, "truncated.gguf");
    r = sh("head -c 1000000 " Q8 " > '%s' && \"$H\" run '%s' -p hi", path, path);
    CHECK_CLEAN_ERROR(r, 1, "truncated.gguf");
    CHECK_EQ(count_lines(r->err), 1);

    r = sh("\"$H\" run " TESTDATA "/vocab/ggml-vocab-llama-spm.gguf -p hi");
    CHECK_CLEAN_ERROR(r, 1, "token_embd.weight"); /* a vocabulary has no weights */
    CHECK_EQ(count_lines(r->err), 1);

    r = sh("\"$H\" run " TESTDATA "/models/tiny-bert-q8_0.gguf -p hi");
    CHECK_CLEAN_ERROR(r, 1, "'bert' is not supported");
    CHECK_EQ(count_lines(r->err), 1);
}

TEST(cli_run_prompt_errors)
{
    /* 100 words need far more than 32 positions */
    result *r = sh("\"$H\" run " Q8 " -c 32 -t 1 -p \"$(printf 'word %%.0s' $(seq 100))\"");
    CHECK_CLEAN_ERROR(r, 1, "context holds 32");
    CHECK_CONTAINS(r->err, "--ctx");
    CHECK_EQ(count_lines(r->err), 1);
    CHECK_STR(r->out, "");

    r = sh("\"$H\" run " Q8 " -p ''");
    CHECK_CLEAN_ERROR(r, 2, "the prompt is empty");
    CHECK_EQ(count_lines(r->err), 1);
    r = sh("\"$H\" run " Q8 " -p - < /dev/null");
    CHECK_CLEAN_ERROR(r, 2, "the prompt is empty");
}

TEST(cli_run_option_errors)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        { "--temp abc", "--temp 'abc' is not a number between 0 and 100" },
        { "-n -5", "-n '-5' is not a whole number between -1 and 16777216" },
        { "--top-p 2", "--top-p '2' is not a number between 0 and 1" },
        { "--seed -1", "--seed '-1' is not a whole number" },
        { "-c 8", "-c '8' is not a whole number between 16" },
        { "--logprobs 21", "--logprobs takes 0..20" },
        { "--stop ''", "--stop takes a non-empty text" },
        { "--bogus", "unknown or incomplete option '--bogus'" },
        { "-p", "unknown or incomplete option '-p'" }, /* -p without its text */
        { "extra.gguf", "unknown or incomplete option 'extra.gguf'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = strcmp(cases[i].args, "-p") ? "-p hi " : "";
        result *r = sh("\"$H\" run " Q8 " %s%s", p, cases[i].args);
        CHECK_CLEAN_ERROR(r, 2, cases[i].want);
        CHECK_STR(r->out, "");
    }
    result *r = sh("\"$H\" run -p hi");
    CHECK_CLEAN_ERROR(r, 2, "no MODEL given");
    /* numbers at the edges of their ranges are accepted */
    r = sh("\"$H\" run " Q8 " -p hi -n 1 -t 1 --seed 9000000000000000000 --top-p 1 --temp 0");
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "1 generated");
}

/* ---- hearth chat ------------------------------------------------------------------------ */

static cJSON *load_json_file(const char *path)
{
    char *text;
    if (file_read_all(path, 1 << 20, &text, NULL, NULL) != HEARTH_OK)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    mem_free(text);
    return j;
}

static const char *msg_field(const cJSON *conv, int i, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(conv, i), key);
    return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

/* `hearth run` on a hand-rendered prompt (special tokens parsed, as chat does); its stdout. */
static void run_rendered(const char *model, const char *prompt, const char *extra, char *out,
                         size_t cap)
{
    char pf[300];
    tmp_path(pf, sizeof pf, "rendered.txt");
    out[0] = '\0';
    if (!write_file(pf, prompt))
        return;
    result *r = sh("\"$H\" run %s -p - --special --temp 0 -n 8 -t 1 %s < '%s'", model, extra, pf);
    CHECK_EQ(r->rc, 0);
    keep(out, cap, r->out);
}

TEST(cli_chat_template_and_save)
{
    char conv[300], want[4096];
    tmp_path(conv, sizeof conv, "conv.json");
    result *r = sh("printf 'hi\\n/save %s\\n/exit\\n' | \"$H\" chat " QWEN
                   " --system 'be brief' -n 8 --temp 0 -t 1", conv);
    CHECK_EQ(r->rc, 0);
    CHECK(!strstr(r->err, "ChatML")); /* this model brings its own template */
    CHECK_CONTAINS(r->err, "saved 3 messages");
    char answer[4096];
    keep(answer, sizeof answer, r->out);
    cJSON *j = load_json_file(conv);
    REQUIRE(cJSON_IsArray(j));
    CHECK_EQ(cJSON_GetArraySize(j), 3);
    CHECK_STR(msg_field(j, 0, "role"), "system");
    CHECK_STR(msg_field(j, 0, "content"), "be brief");
    CHECK_STR(msg_field(j, 1, "role"), "user");
    CHECK_STR(msg_field(j, 1, "content"), "hi");
    CHECK_STR(msg_field(j, 2, "role"), "assistant");
    snprintf(want, sizeof want, "%s\n", msg_field(j, 2, "content"));
    CHECK_STR(answer, want); /* what was streamed is what was kept */
    cJSON_Delete(j);
    /* the fixture's template is Qwen's ChatML */
    run_rendered(QWEN,
                 "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
                 "<|im_start|>assistant\n",
                 "", want, sizeof want);
    CHECK_STR(answer, want);
}

TEST(cli_chat_chatml_fallback)
{
    result *r = sh("printf 'hi\\n/exit\\n' | \"$H\" chat " Q8 " -n 8 --temp 0 -t 1");
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "no chat template");
    CHECK_CONTAINS(r->err, "ChatML");
    char answer[4096], want[4096];
    keep(answer, sizeof answer, r->out);
    CHECK(strlen(answer) > 1);
    /* this vocabulary has no <|im_end|> token, so chat stops at its text instead */
    run_rendered(Q8, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                 "--stop '<|im_end|>'", want, sizeof want);
    CHECK_STR(answer, want);
}

TEST(cli_chat_second_turn_and_load)
{
    char conv[300], saved[300], prompt[8192], want[4096];
    /* two turns in one chat (the second reuses the first's KV cache) */
    tmp_path(saved, sizeof saved, "two.json");
    result *r = sh("printf 'hi\\nmore\\n/save %s\\n/exit\\n' | \"$H\" chat " QWEN
                   " -n 8 --temp 0 -t 1", saved);
    CHECK_EQ(r->rc, 0);
    char out[4096];
    keep(out, sizeof out, r->out);
    cJSON *j = load_json_file(saved);
    REQUIRE(cJSON_GetArraySize(j) == 4);
    CHECK_STR(msg_field(j, 2, "role"), "user");
    CHECK_STR(msg_field(j, 2, "content"), "more");
    const char *sys = "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n";
    snprintf(prompt, sizeof prompt,
             "%s<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n%s<|im_end|>\n"
             "<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n",
             sys, msg_field(j, 1, "content"));
    char both[8192];
    snprintf(both, sizeof both, "%s\n%s\n", msg_field(j, 1, "content"), msg_field(j, 3, "content"));
    CHECK_STR(out, both);
    run_rendered(QWEN, prompt, "", want, sizeof want);
    snprintf(both, sizeof both, "%s\n", msg_field(j, 3, "content"));
    CHECK_STR(want, both);
    cJSON_Delete(j);

    /* /load restores a conversation written by hand; the next turn continues it */
    tmp_path(conv, sizeof conv, "hand.json");
    REQUIRE(write_file(conv, "[{\"role\": \"user\", \"content\": \"hi\"},"
                             " {\"role\": \"assistant\", \"content\": \"Hello!\"}]"));
    r = sh("printf '/load %s\\nmore\\n/save %s\\n/exit\\n' | \"$H\" chat " QWEN
           " -n 8 --temp 0 -t 1", conv, saved);
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "loaded 2 messages");
    keep(out, sizeof out, r->out);
    snprintf(prompt, sizeof prompt,
             "%s<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
             "<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n",
             sys);
    run_rendered(QWEN, prompt, "", want, sizeof want);
    CHECK_STR(out, want);
    j = load_json_file(saved);
    CHECK_EQ(cJSON_GetArraySize(j), 4);
    CHECK_STR(msg_field(j, 1, "content"), "Hello!");
    cJSON_Delete(j);
}

TEST(cli_chat_load_errors)
{
    char bad[300], conv[300];
    tmp_path(bad, sizeof bad, "garbage.json");
    tmp_path(conv, sizeof conv, "after.json");
    REQUIRE(write_file(bad, "this is not JSON {"));
    result *r = sh("printf '/load %s\\n/load %s/missing.json\\n/load\\n/save %s\\n/exit\\n' | "
                   "\"$H\" chat " Q8 " --system sys -n 4 --temp 0 -t 1",
                   bad, test_tmpdir(), conv);
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "garbage.json is not a saved conversation");
    CHECK_CONTAINS(r->err, "missing.json: cannot open");
    CHECK_CONTAINS(r->err, "commands: /reset, /save FILE, /load FILE, /exit");
    CHECK(!strstr(r->err, "Sanitizer") && !strstr(r->err, "runtime error"));
    /* the failed loads left the conversation as it was */
    cJSON *j = load_json_file(conv);
    CHECK_EQ(cJSON_GetArraySize(j), 1);
    CHECK_STR(msg_field(j, 0, "content"), "sys");
    cJSON_Delete(j);

    r = sh("\"$H\" chat /nonexistent/model.gguf < /dev/null");
    CHECK_EQ(r->rc, 1);
    CHECK_CONTAINS(r->err, "hearth chat: /nonexistent/model.gguf");
    r = sh("\"$H\" chat " Q8 " --temp x < /dev/null");
    CHECK_EQ(r->rc, 2);
    CHECK_CONTAINS(r->err, "hearth chat: --temp 'x' is not a number");
}

TEST(cli_chat_context_limits)
{
    char conv[300];
    tmp_path(conv, sizeof conv, "ctx.json");
    /* the templated first turn needs more than 16 positions: an error, and the failed
     * user turn is forgotten */
    result *r = sh("printf 'hi\\n/save %s\\n/exit\\n' | \"$H\" chat " QWEN " -c 16 --temp 0 -t 1",
                   conv);
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "error: the prompt has");
    CHECK_CONTAINS(r->err, "context holds 16");
    CHECK_CONTAINS(r->err, "saved 0 messages");
    cJSON *j = load_json_file(conv);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 0);
    cJSON_Delete(j);
    /* room for the prompt but not for an unlimited answer: the answer is cut and kept */
    r = sh("printf 'hi\\n/save %s\\n/exit\\n' | \"$H\" chat " Q8 " -c 48 --temp 0 -t 1", conv);
    CHECK_EQ(r->rc, 0);
    CHECK_CONTAINS(r->err, "[the context is full");
    j = load_json_file(conv);
    CHECK_EQ(cJSON_GetArraySize(j), 2);
    CHECK_STR(msg_field(j, 1, "role"), "assistant");
    cJSON_Delete(j);
}
