/*
 * test_tools.c — server/tools.c without a model: template families, the tool-call
 * grammar (fed bytes by hand: what it must accept and refuse), parsing calls out of
 * output written in each family's documented format, and request checks.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "base/mem.h"
#include "server/tools.h"
#include "test.h"

static const char tools_json[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, "
    "\"required\": [\"city\"], \"additionalProperties\": false}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"zone\": {\"type\": \"integer\"}}, "
    "\"required\": [\"zone\"], \"additionalProperties\": false}}}]";

/* Template fragments that identify each family (from the published templates). */
#define T_HERMES "{%- if tools %}<tools>{{ tool | tojson }}</tools><tool_call>{% endif %}"
#define T_LLAMA3 "{%- if tools %}Environment: ipython{% endif %}<|python_tag|><|eom_id|>"
#define T_MISTRAL "{%- if tools %}[AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]"
#define T_MISTRAL_ARGS "{{- '[TOOL_CALLS]' + tool['function']['name'] + '[ARGS]' + arguments }}"
#define T_CHATML "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"

TEST(tools_family_of_template)
{
    CHECK_EQ(tool_family_of(T_HERMES), TOOL_HERMES);
    CHECK_EQ(tool_family_of(T_LLAMA3), TOOL_LLAMA3);
    CHECK_EQ(tool_family_of(T_MISTRAL), TOOL_MISTRAL);
    CHECK_EQ(tool_family_of(T_MISTRAL_ARGS), TOOL_MISTRAL_ARGS);
    CHECK_EQ(tool_family_of(T_CHATML), TOOL_NONE);
    CHECK_EQ(tool_family_of(NULL), TOOL_NONE);
}

/* Parse a request's tools and tool_choice (choice: JSON text or NULL). */
static hearth_status req(tool_req *q, cJSON **tools, cJSON **choice, const char *choice_json,
                         const char *tpl, hearth_error *err)
{
    *tools = cJSON_Parse(tools_json);
    *choice = choice_json ? cJSON_Parse(choice_json) : NULL;
    return tool_req_parse(q, *tools, *choice, tpl, err);
}

/* Does the grammar accept text as a complete output? */
static int accepts(const grm_grammar *g, const char *text)
{
    grm_matcher *m;
    hearth_error err;
    if (grm_matcher_new(&m, g, NULL, &err) != HEARTH_OK)
        return -1;
    int ok = grm_accept_bytes(m, text, strlen(text), &err) == HEARTH_OK && grm_accepting(m);
    grm_matcher_free(m);
    return ok;
}

static grm_grammar *grammar_for(const char *choice_json, const char *tpl)
{
    tool_req q;
    cJSON *tools, *choice;
    hearth_error err = { 0 };
    grm_grammar *g = NULL;
    if (req(&q, &tools, &choice, choice_json, tpl, &err) != HEARTH_OK ||
        tool_grammar(&q, &g, &err) != HEARTH_OK)
        fprintf(stderr, "  tools: %s\n", err.msg);
    tool_req_free(&q);
    cJSON_Delete(tools);
    cJSON_Delete(choice);
    return g;
}

TEST(tools_grammar_required_hermes)
{
    grm_grammar *g = grammar_for("\"required\"", T_HERMES);
    REQUIRE(g);
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 5}}\n"
                        "</tool_call>"), 1);
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}"
                        "\n</tool_call>"), 1);
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"5\"}}"
                        "\n</tool_call>"), 0);   /* zone must be an integer */
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n"
                        "</tool_call>"), 0);     /* zone is required */
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>"), 0);
    CHECK_EQ(accepts(g, "Sure, let me check."), 0); /* a call is required */
    grm_free(g);
}

TEST(tools_grammar_named_and_auto)
{
    grm_grammar *g = grammar_for("{\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}",
                                 T_HERMES);
    REQUIRE(g);
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 1}}\n"
                        "</tool_call>"), 1);
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}"
                        "\n</tool_call>"), 0);
    grm_free(g);
    g = grammar_for(NULL, T_HERMES); /* auto */
    REQUIRE(g);
    CHECK_EQ(accepts(g, ""), 1);
    CHECK_EQ(accepts(g, "It is sunny in Oslo."), 1);
    CHECK_EQ(accepts(g, "<think>\nhmm\n</think>"), 1);
    CHECK_EQ(accepts(g, "<tool_ca"), 1); /* a prefix of the opener is still free text */
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 1}}\n"
                        "</tool_call>"), 1);
    CHECK_EQ(accepts(g, "<tool_call>\n{\"name\": \"nope\""), 0); /* after the opener: a call */
    grm_free(g);
    g = grammar_for("\"required\"", T_LLAMA3);
    REQUIRE(g);
    CHECK_EQ(accepts(g, "{\"name\": \"get_time\", \"parameters\": {\"zone\": 2}}"), 1);
    CHECK_EQ(accepts(g, "{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}"), 0);
    grm_free(g);
    g = grammar_for("\"required\"", T_MISTRAL);
    REQUIRE(g);
    CHECK_EQ(accepts(g, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}]"), 1);
    grm_free(g);
    CHECK(grammar_for("\"none\"", T_HERMES) == NULL); /* none: free output */
}

/* Mistral's newer format: the function's name, "[ARGS]", then its arguments' JSON. */
TEST(tools_grammar_mistral_args)
{
    grm_grammar *g = grammar_for("\"required\"", T_MISTRAL_ARGS);
    REQUIRE(g);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_time[ARGS]{\"zone\": 2}"), 1);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_weather[ARGS]{\"city\":\"Oslo\"}"), 1);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_time[ARGS]{\"city\": \"Oslo\"}"), 0); /* wrong args */
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_weather[ARGS]{\"zone\": 2}"), 0);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]rm_rf[ARGS]{}"), 0);
    CHECK_EQ(accepts(g, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}]"),
             0); /* the older format is not this one */
    grm_free(g);
    g = grammar_for("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}",
                    T_MISTRAL_ARGS);
    REQUIRE(g);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}"), 1);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_time[ARGS]{\"zone\": 2}"), 0);
    grm_free(g);
    g = grammar_for(NULL, T_MISTRAL_ARGS); /* auto */
    REQUIRE(g);
    CHECK_EQ(accepts(g, "It is sunny."), 1);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]get_time[ARGS]{\"zone\": 0}"), 1);
    CHECK_EQ(accepts(g, "[TOOL_CALLS]nope"), 0);
    grm_free(g);
}

TEST(tools_parse_mistral_args)
{
    char *content = NULL;
    cJSON *c = NULL;
    CHECK(tool_parse(TOOL_MISTRAL_ARGS, "[TOOL_CALLS]get_time[ARGS]{\"zone\": 3}"
                     "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}", "7", &content, &c));
    CHECK_STR(content, "");
    mem_free(content);
    REQUIRE(cJSON_GetArraySize(c) == 2);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(c, 1), "function");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "name")), "get_weather");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "arguments")),
              "{\"city\":\"Oslo\"}");
    cJSON_Delete(c);
    /* text first, then a call; and outputs that are not calls stay content */
    CHECK(tool_parse(TOOL_MISTRAL_ARGS, "Checking.[TOOL_CALLS]get_time[ARGS]{\"zone\": 1}", "7",
                     &content, &c));
    CHECK_STR(content, "Checking.");
    CHECK(cJSON_GetArraySize(c) == 1);
    mem_free(content);
    cJSON_Delete(c);
    static const char *const bad[] = { "[TOOL_CALLS]get_time{\"zone\": 1}",
                                       "[TOOL_CALLS]get_time[ARGS]{\"zone\": ",
                                       "[TOOL_CALLS]bad name[ARGS]{}",
                                       "[TOOL_CALLS][ARGS]{}",
                                       "[TOOL_CALLS]get_time[ARGS]{} trailing" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(tool_parse(TOOL_MISTRAL_ARGS, bad[i], "7", &content, &c));
        CHECK(c == NULL);
        CHECK_STR(content, bad[i]);
        mem_free(content);
    }
}

/* Parse out; returns the calls (caller frees) and checks the content. */
static cJSON *parse(tool_family f, const char *out, const char *content)
{
    char *c = NULL;
    cJSON *calls = NULL;
    CHECK(tool_parse(f, out, "7", &c, &calls));
    CHECK_STR(c, content);
    mem_free(c);
    return calls;
}

static void check_call(const cJSON *calls, int i, const char *name, const char *args)
{
    const cJSON *c = cJSON_GetArrayItem(calls, i);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type")), "function");
    CHECK(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "id")) != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "name")), name);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "arguments")), args);
}

TEST(tools_parse_output)
{
    cJSON *c = parse(TOOL_HERMES, "Let me look.\n<tool_call>\n{\"name\": \"get_time\", "
                     "\"arguments\": {\"zone\": 5}}\n</tool_call>\n<tool_call>\n{\"name\": "
                     "\"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
                     "Let me look.\n");
    REQUIRE(cJSON_GetArraySize(c) == 2);
    check_call(c, 0, "get_time", "{\"zone\":5}");
    check_call(c, 1, "get_weather", "{\"city\":\"Oslo\"}");
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(c, 0),
                                                                      "id")),
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(c, 1),
                                                                      "id"))) != 0);
    cJSON_Delete(c);
    c = parse(TOOL_LLAMA3, "<|python_tag|>{\"name\": \"get_time\", \"parameters\": {\"zone\": 1}}",
              "");
    REQUIRE(cJSON_GetArraySize(c) == 1);
    check_call(c, 0, "get_time", "{\"zone\":1}");
    cJSON_Delete(c);
    c = parse(TOOL_MISTRAL, "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {\"zone\": 3}}]",
              "");
    REQUIRE(cJSON_GetArraySize(c) == 1);
    check_call(c, 0, "get_time", "{\"zone\":3}");
    cJSON_Delete(c);
    /* not a call: everything is content */
    CHECK(parse(TOOL_HERMES, "<tool_call>\n{\"name\": \"get_ti", "<tool_call>\n{\"name\": \"get_ti")
          == NULL);
    CHECK(parse(TOOL_LLAMA3, "{ not json", "{ not json") == NULL);
    CHECK(parse(TOOL_HERMES, "plain text", "plain text") == NULL);
}

TEST(tools_request_errors)
{
    tool_req q;
    cJSON *tools, *choice;
    hearth_error err = { 0 };
    CHECK_EQ(req(&q, &tools, &choice, NULL, T_CHATML, &err), HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "no tool support");
    tool_req_free(&q);
    cJSON_Delete(tools);
    CHECK_EQ(req(&q, &tools, &choice, "{\"type\": \"function\", \"function\": {\"name\": \"x\"}}",
                 T_HERMES, &err), HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "'x'");
    tool_req_free(&q);
    cJSON_Delete(tools);
    cJSON_Delete(choice);
    CHECK_EQ(req(&q, &tools, &choice, "\"sometimes\"", T_HERMES, &err), HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "tool_choice");
    tool_req_free(&q);
    cJSON_Delete(tools);
    cJSON_Delete(choice);
    /* a parameter schema with an unsupported keyword: the error names the function */
    cJSON *bad = cJSON_Parse("[{\"type\": \"function\", \"function\": {\"name\": \"f\", "
                             "\"parameters\": {\"type\": \"object\", \"properties\": {\"n\": "
                             "{\"type\": \"integer\", \"minimum\": 3}}}}}]");
    CHECK_EQ(tool_req_parse(&q, bad, NULL, T_HERMES, &err), HEARTH_OK);
    grm_grammar *g = NULL;
    CHECK(tool_grammar(&q, &g, &err) != HEARTH_OK);
    CHECK_CONTAINS(err.msg, "tool 'f'");
    CHECK_CONTAINS(err.msg, "minimum");
    tool_req_free(&q);
    cJSON_Delete(bad);
    bad = cJSON_Parse("[{\"type\": \"function\", \"function\": {\"name\": \"bad name\"}}]");
    CHECK_EQ(tool_req_parse(&q, bad, NULL, T_HERMES, &err), HEARTH_ERR_INVALID);
    cJSON_Delete(bad);
}

TEST(tools_calls_for_template)
{
    cJSON *calls = cJSON_Parse("[{\"id\": \"c1\", \"type\": \"function\", \"function\": "
                               "{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}}]");
    hearth_error err;
    char *s = tool_calls_for_template(calls, &err);
    CHECK_STR(s, "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                 "\"arguments\":{\"a\":1}}}]");
    mem_free(s);
    cJSON_Delete(calls);
    calls = cJSON_Parse("{\"not\": \"an array\"}");
    CHECK(tool_calls_for_template(calls, &err) == NULL);
    cJSON_Delete(calls);
}
