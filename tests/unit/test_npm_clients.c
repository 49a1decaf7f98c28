/*
 * test_npm_clients.c — the official `openai` and `ollama` npm client packages against
 * `hearth serve` (in-process, on an ephemeral 127.0.0.1 port), run as
 * `node tests/js/NAME.mjs PORT MODEL`.
 *
 * Each script prints one JSON object with what the client received. Expected texts come
 * from `hearth run --temp 0` (the command-line generation path, a separate process) on the
 * same prompt: the raw prompt for completions and Ollama's raw generate, and for chat the
 * fixture's ChatML prompt written out here by hand from its template.
 *
 * The Responses API (openai_responses.mjs) is checked the same way, on text and on tools.
 * Tools: openai_tools.mjs runs against a copy of the fixture whose chat template is
 * replaced by Qwen2.5's (which renders tools), written here with the GGUF writer.
 *
 * The scripts need node and tests/js/node_modules (`cd tests/js && npm ci`); without them
 * each test prints a note and passes, so a machine without node still runs the suite.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "formats/gguf.h"
#include "server/server_int.h"
#include "test.h"
#include "templates_qwen25.h"

#define NMODEL TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf"
#define NMODEL_NAME "tiny-qwen2-bpe-q8_0"
#define N_PREDICT "12"

/* The fixture's template rendered for one user message "Hello" (read off the template). */
static const char chat_prompt[] =
    "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";

static bool have_node(void)
{
    char out[256];
    if (test_run("node --version", out, sizeof out) != 0 ||
        access("tests/js/node_modules/openai/package.json", R_OK) != 0 ||
        access("tests/js/node_modules/ollama/package.json", R_OK) != 0) {
        printf("  SKIP: node or tests/js/node_modules missing (run `cd tests/js && npm ci`)\n");
        return false;
    }
    return true;
}

static srv *start_model(const char *path)
{
    srv_config c = srv_default_config();
    c.port = 0;
    c.model_file = path;
    c.batch.n_parallel = 2;
    c.batch.ctx.n_ctx = 512;
    c.batch.ctx.n_threads = 1;
    srv *s;
    hearth_error err;
    if (srv_start(&s, &c, &err) != HEARTH_OK) {
        fprintf(stderr, "srv_start: %s\n", err.msg);
        return NULL;
    }
    return s;
}

/* Run `node tests/js/SCRIPT PORT ARGS` (ARGS: the model name, then any mode); its last
 * output line must be a JSON object. NULL on failure (reported). */
static cJSON *run_script(const char *script, int port, const char *args, char *out,
                         size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node tests/js/%s %d %s 2>&1", script, port, args);
    int rc = test_run(cmd, out, cap);
    if (rc != 0) {
        test_fail(__FILE__, __LINE__, "%s exited with %d: %.3000s", script, rc, out);
        return NULL;
    }
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    const char *last = strrchr(out, '\n');
    const char *line = last ? last + 1 : out;
    cJSON *j = cJSON_Parse(line);
    if (!cJSON_IsObject(j))
        test_fail(__FILE__, __LINE__, "%s printed no JSON object: %.3000s", script, out);
    return j;
}

/* `hearth run --temp 0` on a prompt (special-token text turned into tokens when special). */
static void hearth_run(const char *prompt, bool special, char *out, size_t cap)
{
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/npm_prompt.txt", test_tmpdir());
    FILE *f = fopen(path, "wb");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fputs(prompt, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "( %s run %s --temp 0 --ctx 512 -n %s %s -p - < '%s' 2>/dev/null )",
             test_bin(), NMODEL, N_PREDICT, special ? "--special" : "", path);
    if (test_run(cmd, out, cap) != 0)
        test_fail(__FILE__, __LINE__, "%s failed: %s", cmd, out);
    size_t n = strlen(out); /* run ends its output with a newline of its own */
    if (n > 0 && out[n - 1] == '\n')
        out[n - 1] = '\0';
}

static const char *str(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

TEST(npm_openai_chat_and_completions)
{
    if (!have_node())
        return;
    static char chat_ref[4096], text_ref[4096], out[1 << 16];
    hearth_run(chat_prompt, true, chat_ref, sizeof chat_ref);
    hearth_run("Once upon a time", false, text_ref, sizeof text_ref);
    REQUIRE(chat_ref[0] && text_ref[0]);
    srv *s = start_model(NMODEL);
    REQUIRE(s);
    cJSON *j = run_script("openai_basic.mjs", srv_port(s), NMODEL_NAME, out, sizeof out);
    srv_stop(s);
    REQUIRE(j);
    CHECK_STR(str(j, "chat"), chat_ref);
    CHECK_STR(str(j, "chat_stream"), chat_ref);
    CHECK_STR(str(j, "completion"), text_ref);
    CHECK_STR(str(j, "completion_stream"), text_ref);
    /* hearth run stopped at its 12-token limit on both prompts (else it would end early) */
    CHECK_STR(str(j, "chat_finish"), "length");
    CHECK_STR(str(j, "chat_stream_finish"), "length");
    CHECK_STR(str(j, "completion_finish"), "length");
    CHECK_STR(str(j, "completion_stream_finish"), "length");
    CHECK_EQ(num(j, "chat_usage"), 12);
    CHECK_EQ(num(j, "tools_status"), 400);
    CHECK_CONTAINS(str(j, "tools_error"), "no tool support");
    CHECK_EQ(num(j, "chat_stream_usage"), 12);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    CHECK(cJSON_GetArraySize(models) == 1 && cJSON_IsString(cJSON_GetArrayItem(models, 0)) &&
          strcmp(cJSON_GetArrayItem(models, 0)->valuestring, NMODEL_NAME) == 0);
    cJSON_Delete(j);
}

TEST(npm_ollama_chat_and_generate)
{
    if (!have_node())
        return;
    static char chat_ref[4096], text_ref[4096], out[1 << 16];
    hearth_run(chat_prompt, true, chat_ref, sizeof chat_ref);
    hearth_run("Once upon a time", false, text_ref, sizeof text_ref);
    REQUIRE(chat_ref[0] && text_ref[0]);
    srv *s = start_model(NMODEL);
    REQUIRE(s);
    cJSON *j = run_script("ollama_basic.mjs", srv_port(s), NMODEL_NAME, out, sizeof out);
    srv_stop(s);
    REQUIRE(j);
    CHECK_STR(str(j, "chat"), chat_ref);
    CHECK_STR(str(j, "chat_stream"), chat_ref);
    CHECK_STR(str(j, "generate"), text_ref);
    CHECK_STR(str(j, "generate_stream"), text_ref);
    CHECK_STR(str(j, "chat_done_reason"), "length");
    CHECK_EQ(num(j, "chat_eval_count"), 12);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "chat_stream_done")));
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    CHECK(cJSON_GetArraySize(models) == 1 && cJSON_IsString(cJSON_GetArrayItem(models, 0)) &&
          strcmp(cJSON_GetArrayItem(models, 0)->valuestring, NMODEL_NAME) == 0);
    cJSON_Delete(j);
}

TEST(npm_openai_responses_text)
{
    if (!have_node())
        return;
    static char chat_ref[4096], out[1 << 16];
    hearth_run(chat_prompt, true, chat_ref, sizeof chat_ref);
    REQUIRE(chat_ref[0]);
    srv *s = start_model(NMODEL);
    REQUIRE(s);
    cJSON *j = run_script("openai_responses.mjs", srv_port(s), NMODEL_NAME " text", out,
                          sizeof out);
    srv_stop(s);
    REQUIRE(j);
    /* a string input is one user turn: the same prompt as the chat tests */
    CHECK_STR(str(j, "text"), chat_ref);
    CHECK_STR(str(j, "stream_text"), chat_ref);
    CHECK_STR(str(j, "status"), "incomplete"); /* stopped by max_output_tokens */
    CHECK_EQ(num(j, "output_tokens"), 12);
    CHECK(num(j, "deltas") >= 2);
    cJSON_Delete(j);
}

/* ---- tools ----------------------------------------------------------------------------- */


/* What that template renders for openai_tools.mjs's final turn (written out by hand:
 * default system text, the two tools as tojson writes them, the assistant's call and the
 * tool's answer as a user turn; this version of the template prints its example call
 * with doubled braces, inside a string literal). */
static const char tools_final_prompt[] =
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n"
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "
    "\"Get the weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": "
    "{\"type\": \"string\", \"maxLength\": 12}, \"unit\": {\"type\": \"string\", \"enum\": "
    "[\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\", \"unit\"], "
    "\"additionalProperties\": false}}}\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": "
    "\"Get the time\", \"parameters\": {\"type\": \"object\", \"properties\": {\"zone\": "
    "{\"type\": \"integer\"}}, \"required\": [\"zone\"], \"additionalProperties\": false}}}\n"
    "</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, "
    "\"arguments\": <args-json-object>}}\n</tool_call><|im_end|>\n"
    "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n"
    "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
    "{\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n"
    "<|im_start|>user\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n";

/* A copy of the fixture with tokenizer.chat_template replaced: every key and tensor read
 * back from the original. */
static bool write_tools_model(const char *path)
{
    gguf_file *f;
    hearth_error err;
    if (gguf_open(&f, NMODEL, &err) != HEARTH_OK)
        return false;
    gguf_writer *w = gguf_writer_new();
    bool ok = w != NULL;
    for (uint64_t i = 0; ok && i < f->n_kv; i++)
        if (strcmp(f->kv[i].key.s, "tokenizer.chat_template") != 0)
            ok = gguf_set_value(w, f->kv[i].key.s, &f->kv[i].val) == HEARTH_OK;
    ok = ok && gguf_set_str(w, "tokenizer.chat_template", QWEN25) == HEARTH_OK;
    for (uint64_t i = 0; ok && i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        ok = gguf_add_tensor_ref(w, t->name.s, t->type, t->n_dims, t->ne, t->data,
                                 t->nbytes) == HEARTH_OK;
    }
    ok = ok && gguf_writer_write(w, path, &err) == HEARTH_OK;
    gguf_writer_free(w);
    gguf_close(f);
    return ok;
}

static const cJSON *call_of(const cJSON *j, const char *msg)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(j, msg), "tool_calls"), 0);
}

static const char *call_field(const cJSON *call, const char *key)
{
    return str(cJSON_GetObjectItemCaseSensitive(call, "function"), key);
}

TEST(npm_openai_tool_calls)
{
    if (!have_node())
        return;
    static char ref[4096], out[1 << 16], path[512];
    snprintf(path, sizeof path, "%s/tiny-qwen2-tools.gguf", test_tmpdir());
    REQUIRE(write_tools_model(path));
    hearth_run(tools_final_prompt, true, ref, sizeof ref);
    REQUIRE(ref[0]);
    srv *s = start_model(path);
    REQUIRE(s);
    cJSON *j = run_script("openai_tools.mjs", srv_port(s), "tiny-qwen2-tools", out, sizeof out);
    srv_stop(s);
    REQUIRE(j);
    /* the script checked each call against its schema; here: the streamed call equals the
     * same request answered whole, and the answer after the tool result is the greedy
     * continuation of the hand-rendered prompt */
    const cJSON *streamed = call_of(j, "streamed"), *named = call_of(j, "named");
    REQUIRE(streamed && named);
    CHECK_STR(call_field(streamed, "name"), "get_time");
    CHECK_STR(call_field(streamed, "name"), call_field(named, "name"));
    CHECK_STR(call_field(streamed, "arguments"), call_field(named, "arguments"));
    CHECK(num(j, "streamed_deltas") >= 2);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "required"), "content")));
    CHECK_STR(str(j, "final_none"), ref);
    CHECK_STR(str(j, "final_none_finish"), "length");
    /* auto may differ: its "free" branch admits only valid UTF-8 */
    CHECK(str(j, "final_auto") != NULL);
    CHECK_STR(str(j, "final_auto_stream"), str(j, "final_auto"));
    static char final_auto[4096];
    snprintf(final_auto, sizeof final_auto, "%s", str(j, "final_auto") ? str(j, "final_auto") : "");
    CHECK_STR(str(j, "final_auto_finish"), "length");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "final_auto_calls")));
    cJSON_Delete(j);

    /* the Responses API: the same conversation as input items gives the same answer */
    s = start_model(path);
    REQUIRE(s);
    j = run_script("openai_responses.mjs", srv_port(s), "tiny-qwen2-tools tools", out,
                   sizeof out);
    srv_stop(s);
    REQUIRE(j);
    const cJSON *call = cJSON_GetObjectItemCaseSensitive(j, "call");
    const cJSON *scall = cJSON_GetObjectItemCaseSensitive(j, "stream_call");
    CHECK_STR(str(call, "name"), "get_time");
    CHECK_STR(str(scall, "name"), "get_time");
    CHECK_STR(str(scall, "arguments"), str(call, "arguments"));
    CHECK_EQ(num(j, "argument_events"), 1);
    CHECK_STR(str(j, "final"), ref);
    cJSON_Delete(j);

    /* Ollama's chat with tools (always "auto"): the same final answer as /v1's auto */
    s = start_model(path);
    REQUIRE(s);
    j = run_script("ollama_tools.mjs", srv_port(s), "tiny-qwen2-tools", out, sizeof out);
    srv_stop(s);
    REQUIRE(j);
    CHECK_STR(str(j, "first_stream"), str(j, "first"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "first_calls")));
    CHECK_STR(str(j, "final"), final_auto);
    cJSON_Delete(j);
}
