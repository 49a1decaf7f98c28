/*
 * Tests for generate/json_schema.c and for grammar-constrained generation end to end.
 *
 * The converter is checked on hand-written JSON texts (which a schema accepts or not is
 * worked out by hand from the JSON Schema specification). Then the fixture models, whose
 * weights are random (the hardest case for a mask: they put no weight on valid JSON),
 * generate at temperature 1 (top-k 100 only) under 24 schemas and several seeds; every
 * output must be complete, must parse with cJSON, and must pass the small validator
 * below, which is written from the specification and shares no code with the converter.
 * HEARTH_GRAMMAR_SEEDS=N runs more seeds.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "base/mem.h"
#include "generate/generate.h"
#include "generate/json_schema.h"

/* ---- an independent validator for the keywords the tests use --------------------------- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool hexes(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
            return false;
    return true;
}

static bool format_ok(const char *f, const char *s)
{
    if (!strcmp(f, "date"))
        return strlen(s) == 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) &&
               s[7] == '-' && digits(s + 8, 2) && atoi(s + 5) >= 1 && atoi(s + 5) <= 12 &&
               atoi(s + 8) >= 1 && atoi(s + 8) <= 31;
    if (!strcmp(f, "uuid"))
        return strlen(s) == 36 && hexes(s, 8) && s[8] == '-' && hexes(s + 9, 4) &&
               s[13] == '-' && hexes(s + 14, 4) && s[18] == '-' && hexes(s + 19, 4) &&
               s[23] == '-' && hexes(s + 24, 12);
    return false;
}

static bool valid(const cJSON *v, const cJSON *s, const cJSON *root);

static bool type_ok(const cJSON *v, const char *t)
{
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    return false;
}

static bool valid(const cJSON *v, const cJSON *s, const cJSON *root)
{
    const cJSON *k;
    if ((k = cJSON_GetObjectItem(s, "$ref"))) /* "#/$defs/NAME" */
        return valid(v, cJSON_GetObjectItem(cJSON_GetObjectItem(root, "$defs"),
                                            k->valuestring + 8), root);
    if ((k = cJSON_GetObjectItem(s, "type"))) {
        bool any = false;
        if (cJSON_IsString(k))
            any = type_ok(v, k->valuestring);
        const cJSON *t;
        if (cJSON_IsArray(k))
            cJSON_ArrayForEach(t, k) any = any || type_ok(v, t->valuestring);
        if (!any)
            return false;
    }
    if ((k = cJSON_GetObjectItem(s, "enum"))) {
        bool any = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, k) any = any || cJSON_Compare(v, e, true);
        if (!any)
            return false;
    }
    if ((k = cJSON_GetObjectItem(s, "const")) && !cJSON_Compare(v, k, true))
        return false;
    if ((k = cJSON_GetObjectItem(s, "anyOf")) || (k = cJSON_GetObjectItem(s, "oneOf"))) {
        int n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, k) n += valid(v, e, root);
        if (n == 0 || (!strcmp(k->string, "oneOf") && n != 1))
            return false;
    }
    if (cJSON_IsString(v)) {
        size_t n = utf8_chars(v->valuestring);
        if ((k = cJSON_GetObjectItem(s, "minLength")) && n < (size_t)k->valueint) return false;
        if ((k = cJSON_GetObjectItem(s, "maxLength")) && n > (size_t)k->valueint) return false;
        if ((k = cJSON_GetObjectItem(s, "format")) && !format_ok(k->valuestring, v->valuestring))
            return false;
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if ((k = cJSON_GetObjectItem(s, "minItems")) && n < k->valueint) return false;
        if ((k = cJSON_GetObjectItem(s, "maxItems")) && n > k->valueint) return false;
        const cJSON *items = cJSON_GetObjectItem(s, "items"), *e;
        cJSON_ArrayForEach(e, v)
            if (items && !valid(e, items, root))
                return false;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItem(s, "properties"), *e;
        const cJSON *add = cJSON_GetObjectItem(s, "additionalProperties");
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(s, "required"))
            if (!cJSON_GetObjectItem(v, e->valuestring))
                return false;
        cJSON_ArrayForEach(e, v) {
            const cJSON *ps = cJSON_GetObjectItem(props, e->string);
            if (ps ? !valid(e, ps, root) : cJSON_IsFalse(add))
                return false;
            for (const cJSON *d = e->next; d; d = d->next) /* no duplicate keys */
                if (!strcmp(d->string, e->string))
                    return false;
        }
    }
    return true;
}

/* ---- the converter on hand-written texts ---------------------------------------------------- */

static grm_grammar *schema_grammar(const char *schema)
{
    grm_grammar *g = NULL;
    hearth_error err;
    if (jsch_grammar(&g, schema, strlen(schema), "test.json", &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "schema %s: %s", schema, err.msg);
    return g;
}

static bool accepts(const grm_grammar *g, const char *text)
{
    grm_matcher *m;
    if (grm_matcher_new(&m, g, NULL, NULL) != HEARTH_OK)
        return false;
    bool ok = grm_accept_bytes(m, text, strlen(text), NULL) == HEARTH_OK && grm_accepting(m);
    grm_matcher_free(m);
    return ok;
}

typedef struct text_case {
    const char *text;
    bool ok;
} text_case;

static void check_texts(const char *schema, const text_case *tc, int n, int line)
{
    grm_grammar *g = schema_grammar(schema);
    if (!g)
        return;
    for (int i = 0; i < n; i++)
        if (accepts(g, tc[i].text) != tc[i].ok)
            test_fail(__FILE__, line, "schema %s, text %s: accepted %d, expected %d", schema,
                      tc[i].text, !tc[i].ok, tc[i].ok);
    grm_free(g);
}

#define TEXTS(schema, ...)                                                            \
    do {                                                                             \
        static const text_case tc_[] = { __VA_ARGS__ };                              \
        check_texts(schema, tc_, (int)(sizeof tc_ / sizeof tc_[0]), __LINE__);       \
    } while (0)

TEST(json_schema_objects)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                    "\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},"
                    "\"required\":[\"b\"],\"additionalProperties\":false}";
    TEXTS(s, { "{\"b\":\"x\"}", true }, { "{\"a\":1,\"b\":\"\"}", true },
          { "{\"a\": -12, \"b\": \"hi\", \"c\": true}", true }, { "{\"b\":\"x\",\"c\":false}", true },
          { "{ \"b\" : \"x\" }", true }, { "{\n  \"b\": \"x\"\n}", true },
          { "{}", false }, { "{\"a\":1}", false }, { "{\"b\":\"x\",}", false },
          { "{,\"b\":\"x\"}", false }, { "{\"b\":1}", false }, { "{\"a\":1.5,\"b\":\"x\"}", false },
          { "{\"b\":\"x\",\"d\":1}", false }, { "{\"b\":\"x\"} ", false },
          { "{\"a\":01,\"b\":\"x\"}", false }, { "{\"b\":\"\\ud800\"}", false },
          { "{\"b\":\"\\u00e9\\n\\\"\"}", true }, { "{\"b\":\"tab\there\"}", false });
    /* additional properties allowed (the default), and as a schema */
    TEXTS("{\"properties\":{\"a\":{\"type\":\"null\"}}}", { "{}", true },
          { "{\"a\":null,\"z\":[1,{\"q\":\"r\"}]}", true }, { "{\"z\":1,\"a\":null}", false }, /* extras follow the listed */
          { "{\"ab\":1,\"b\":2,\"\":3,\"\u00e9\":4}", true },
          { "{\"z\":1}", true }, { "{\"a\":1}", false });
    TEXTS("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", { "{}", true },
          { "{\"x\":1,\"y\":2}", true }, { "{\"x\":\"1\"}", false });
    TEXTS("{\"type\":\"object\",\"required\":[\"k\"]}", { "{\"k\":[]}", true }, { "{}", false });
}

TEST(json_schema_arrays_strings_numbers)
{
    TEXTS("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}",
          { "[1,2]", true }, { "[1, 2, 3]", true }, { "[1]", false }, { "[1,2,3,4]", false },
          { "[]", false }, { "[1,\"2\"]", false });
    TEXTS("{\"type\":\"array\",\"maxItems\":0}", { "[]", true }, { "[ ]", true }, { "[1]", false });
    TEXTS("{\"type\":\"array\"}", { "[]", true }, { "[1,[true],{}]", true });
    TEXTS("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", { "\"ab\"", true },
          { "\"\\u00e9\\u00e9\\u00e9\"", true }, { "\"\xc3\xa9\xc3\xa9\"", true },
          { "\"a\"", false }, { "\"abcd\"", false });
    TEXTS("{\"type\":\"string\",\"format\":\"date\"}", { "\"2024-02-29\"", true },
          { "\"2024-13-01\"", false }, { "\"24-01-01\"", false });
    TEXTS("{\"type\":\"string\",\"format\":\"date-time\"}", { "\"2024-02-29T23:59:60Z\"", false },
          { "\"2024-02-29T23:59:59.123+01:00\"", true });
    TEXTS("{\"type\":\"string\",\"format\":\"uuid\"}",
          { "\"123e4567-e89b-12d3-a456-426614174000\"", true }, { "\"123e4567\"", false });
    TEXTS("{\"type\":\"number\"}", { "0", true }, { "-1.5e10", true }, { "1E+3", true },
          { "1.", false }, { ".5", false }, { "00", false }, { "+1", false });
    TEXTS("{\"type\":[\"integer\",\"null\"]}", { "7", true }, { "null", true }, { "7.0", false });
}

TEST(json_schema_enum_anyof_refs)
{
    TEXTS("{\"enum\":[\"red\",\"a\\\"b\",3,null,{\"x\":[1]}]}", { "\"red\"", true },
          { "\"a\\\"b\"", true }, { "3", true }, { "null", true }, { "{\"x\":[1]}", true },
          { "\"blue\"", false }, { "4", false });
    TEXTS("{\"const\":\"fixed\"}", { "\"fixed\"", true }, { "\"fixe\"", false });
    TEXTS("{\"anyOf\":[{\"type\":\"string\",\"maxLength\":1},{\"type\":\"boolean\"}]}",
          { "\"a\"", true }, { "false", true }, { "\"ab\"", false }, { "1", false });
    TEXTS("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}",
          { "[1,[2,[]]]", true }, { "[1,[\"x\"]]", false });
    TEXTS("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\","
          "\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"kids\"],"
          "\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
          { "{\"kids\":[{\"kids\":[]},{\"kids\":[{\"kids\":[]}]}]}", true },
          { "{\"kids\":[{}]}", false });
    TEXTS("{\"allOf\":[{\"type\":\"boolean\"}],\"title\":\"t\",\"description\":\"d\"}",
          { "true", true }, { "1", false });
    TEXTS("true", { "[{\"a\":null}]", true }, { "\"x\"", true });
}

static void expect_error(const char *schema, hearth_status want, const char *needle)
{
    char *gbnf = NULL;
    hearth_error err = { 0 };
    hearth_status st = jsch_to_gbnf(schema, strlen(schema), "s.json", &gbnf, &err);
    if (st != want || !strstr(err.msg, needle))
        test_fail(__FILE__, __LINE__, "schema %s: status %d, \"%s\" (want %d with \"%s\")",
                  schema, st, err.msg, want, needle);
    CHECK(gbnf == NULL);
    mem_free(gbnf);
}

TEST(json_schema_errors)
{
    expect_error("{\"type\":\"object\",\n \"properties\": {,}}", HEARTH_ERR_FORMAT,
                 "s.json:2:");
    expect_error("{\"type\":\"object\",\n \"properties\": {,}}", HEARTH_ERR_FORMAT,
                 "not valid JSON");
    expect_error("{\"properties\":{\"age\":{\"type\":\"integer\",\"minimum\":0}}}",
                 HEARTH_ERR_UNSUPPORTED, "s.json: /properties/age: keyword 'minimum' is not "
                 "supported");
    expect_error("{\"type\":\"string\",\"pattern\":\"^a\"}", HEARTH_ERR_UNSUPPORTED,
                 "keyword 'pattern'");
    expect_error("{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minItems\":1}}",
                 HEARTH_ERR_UNSUPPORTED, "/items: keyword 'minItems' is not supported here");
    expect_error("{\"type\":\"string\",\"format\":\"email\"}", HEARTH_ERR_UNSUPPORTED,
                 "format 'email'");
    expect_error("{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", HEARTH_ERR_INVALID,
                 "minItems 3 is above maxItems 2");
    expect_error("{\"type\":\"array\",\"minItems\":-1}", HEARTH_ERR_INVALID,
                 "'minItems' must be a non-negative whole number");
    expect_error("{\"enum\":[]}", HEARTH_ERR_INVALID, "'enum' must be a non-empty array");
    expect_error("{\"anyOf\":[{\"type\":\"integer\"},false]}", HEARTH_ERR_INVALID,
                 "/anyOf/1: the schema 'false' matches nothing");
    expect_error("{\"type\":\"object\",\"required\":[\"x\"],\"additionalProperties\":false}",
                 HEARTH_ERR_INVALID, "property 'x' is required but not in 'properties'");
    expect_error("{\"type\":\"strin\"}", HEARTH_ERR_INVALID, "unknown type 'strin'");
    expect_error("{\"$ref\":\"#/$defs/missing\"}", HEARTH_ERR_INVALID, "no such definition");
    expect_error("{\"$ref\":\"http://example.com/s.json\"}", HEARTH_ERR_UNSUPPORTED, "'$ref'");
    expect_error("{\"allOf\":[{},{}]}", HEARTH_ERR_UNSUPPORTED, "'allOf' with more than one");
    expect_error("{\"type\":\"array\",\"maxItems\":100000}", HEARTH_ERR_UNSUPPORTED,
                 "'maxItems' above 10000");
    char deep[2000] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "{\"items\":");
    strcat(deep, "{}");
    for (int i = 0; i < 100; i++)
        strcat(deep, "}");
    expect_error(deep, HEARTH_ERR_RANGE, "nested more than 64 deep");
}

/* ---- random-weight models under many schemas ------------------------------------------------- */

static const char *const schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
    "\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
    "{\"enum\":[\"red\",\"green\",\"blue\"]}",
    "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":4}",
    "{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{\"id\":"
    "{\"type\":\"integer\"},\"nick\":{\"type\":\"string\",\"maxLength\":5}},\"required\":[\"id\","
    "\"nick\"],\"additionalProperties\":false},\"active\":{\"type\":\"boolean\"}},\"required\":"
    "[\"user\",\"active\"],\"additionalProperties\":false}",
    "{\"anyOf\":[{\"type\":\"string\",\"maxLength\":5},{\"type\":\"integer\"},{\"type\":\"null\"}]}",
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{\"type\":\"null\"},"
    "\"c\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
    "{\"const\":{\"status\":\"ok\"}}",
    "{\"type\":\"array\",\"items\":{\"enum\":[\"x\",\"y\"]},\"maxItems\":3}",
    "{\"type\":[\"string\",\"null\"],\"maxLength\":4}",
    "{\"type\":\"number\"}",
    "{\"type\":\"object\",\"properties\":{\"rows\":{\"type\":\"array\",\"maxItems\":2,\"items\":"
    "{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"string\",\"maxLength\":3},\"v\":"
    "{\"type\":\"number\"}},\"required\":[\"k\",\"v\"],\"additionalProperties\":false}}},"
    "\"required\":[\"rows\"],\"additionalProperties\":false}",
    "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"a\"},\"n\":{\"type\":"
    "\"integer\"}},\"required\":[\"kind\",\"n\"],\"additionalProperties\":false},{\"type\":\"object\","
    "\"properties\":{\"kind\":{\"const\":\"b\"},\"ok\":{\"type\":\"boolean\"}},\"required\":"
    "[\"kind\",\"ok\"],\"additionalProperties\":false}]}",
    "{\"$defs\":{\"pt\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"},\"y\":"
    "{\"type\":\"integer\"}},\"required\":[\"x\",\"y\"],\"additionalProperties\":false}},\"type\":"
    "\"object\",\"properties\":{\"from\":{\"$ref\":\"#/$defs/pt\"},\"to\":{\"$ref\":\"#/$defs/pt\"}},"
    "\"required\":[\"from\",\"to\"],\"additionalProperties\":false}",
    "{\"type\":\"string\",\"format\":\"date\"}",
    "{\"type\":\"string\",\"format\":\"uuid\"}",
    "{\"type\":\"boolean\"}",
    "{\"enum\":[1,\"two\",null,true,{\"x\":[1,2]}]}",
    "{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":3,\"maxItems\":3}",
    "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"integer\"},\"q\":{\"type\":\"string\","
    "\"maxLength\":2},\"r\":{\"type\":\"boolean\"},\"s\":{\"enum\":[\"on\",\"off\"]}},\"required\":"
    "[\"q\",\"s\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"array\",\"maxItems\":2,\"items\":"
    "{\"type\":\"integer\"}}}",
    "{\"type\":\"string\",\"minLength\":2,\"maxLength\":4}",
    "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\",\"maxLength\":3},\"minItems\":1,\"maxItems\":3},\"id\":{\"anyOf\":[{\"type\":"
    "\"integer\"},{\"type\":\"string\",\"format\":\"uuid\"}]}},\"required\":[\"tags\",\"id\"],"
    "\"additionalProperties\":false}",
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":6},"
    "\"done\":{\"type\":\"boolean\"},\"when\":{\"type\":\"string\",\"format\":\"date\"}},"
    "\"required\":[\"title\",\"done\",\"when\"],\"additionalProperties\":false}",
    "{\"type\":\"object\",\"properties\":{\"e\":{\"type\":\"array\",\"maxItems\":0},\"m\":{\"type\":"
    "[\"integer\",\"boolean\"]}},\"required\":[\"e\",\"m\"],\"additionalProperties\":false}",
};

typedef struct collect {
    char text[8192];
    size_t n;
} collect;

static bool on_text(void *user, const gen_token *t, const char *text, size_t len)
{
    collect *c = user;
    (void)t;
    if (c->n + len < sizeof c->text) {
        memcpy(c->text + c->n, text, len);
        c->n += len;
        c->text[c->n] = '\0';
    }
    return true;
}

static void random_model_outputs(const char *file, int n_seeds)
{
    char path[256];
    snprintf(path, sizeof path, TESTDATA "/models/%s", file);
    const char *env = getenv("HEARTH_GRAMMAR_SEEDS");
    if (env && atoi(env) > 0)
        n_seeds = atoi(env);
    gen_model *m;
    gen_session *s;
    hearth_error err;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 1;
    REQUIRE(gen_model_open(&m, path, llm_model_default_params(), &err) == HEARTH_OK);
    REQUIRE(gen_session_new(&s, m->llm, m->vocab, cp, &err) == HEARTH_OK);
    tok_ids prompt = { 0 };
    REQUIRE(tok_encode(m->vocab, "JSON:", 5, true, false, &prompt, &err) == HEARTH_OK);
    int runs = 0, failures = 0;
    for (size_t k = 0; k < sizeof schemas / sizeof *schemas; k++) {
        grm_grammar *g = schema_grammar(schemas[k]);
        cJSON *schema = cJSON_Parse(schemas[k]);
        REQUIRE(g && schema);
        for (int seed = 1; seed <= n_seeds; seed++) {
            gen_params p = gen_default_params();
            p.sampling.temperature = 1.0f;
            p.sampling.top_k = 100; /* no truncation would fully sort the vocabulary per step */
            p.sampling.top_p = 1.0f;
            p.sampling.min_p = 0.0f;
            p.sampling.seed = (uint64_t)(seed * 1000 + (int)k);
            p.n_predict = (int)(cp.n_ctx - prompt.n - 1);
            p.grammar = g;
            collect out = { .n = 0 };
            gen_stats st;
            runs++;
            if (gen_run(s, prompt.v, prompt.n, &p, on_text, &out, &st, &err) != HEARTH_OK) {
                test_fail(__FILE__, __LINE__, "%s, schema %zu, seed %d: %s", file, k, seed,
                          err.msg);
                failures++;
                continue;
            }
            cJSON *v = cJSON_ParseWithOpts(out.text, NULL, true);
            bool ok = (st.finish == GEN_FINISH_STOP || st.finish == GEN_FINISH_EOG) && v &&
                      valid(v, schema, schema);
            if (!ok && failures++ < 5)
                test_fail(__FILE__, __LINE__, "%s, schema %zu, seed %d: finish %s, output "
                          "%s: %s", file, k, seed, gen_finish_name(st.finish), out.text,
                          v ? "does not validate" : "does not parse");
            cJSON_Delete(v);
        }
        cJSON_Delete(schema);
        grm_free(g);
    }
    CHECK_EQ(failures, 0);
    CHECK_EQ(runs, (int)(sizeof schemas / sizeof *schemas) * n_seeds);
    tok_ids_free(&prompt);
    gen_session_free(s);
    gen_model_free(m);
}

TEST(json_schema_random_model_spm_32k)
{
    random_model_outputs("tiny-llama-spm-q8_0.gguf", 3);
}

TEST(json_schema_random_model_bpe_152k)
{
    random_model_outputs("tiny-qwen2-bpe-q8_0.gguf", 2);
}

/* ---- from the command line ------------------------------------------------------------------ */

static const char *write_tmp(const char *name, const char *text)
{
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* Run `hearth ARGS`; stdout into out, the exit code returned, stderr into err. */
static int hearth(const char *args, char *out, size_t n_out, char *err, size_t n_err)
{
    char cmd[2048], o[512], e[512];
    snprintf(o, sizeof o, "%s/out.txt", test_tmpdir());
    snprintf(e, sizeof e, "%s/err.txt", test_tmpdir());
    snprintf(cmd, sizeof cmd, "( '%s' %s >'%s' 2>'%s' )", test_bin(), args, o, e);
    int rc = test_run(cmd, NULL, 0);
    const char *files[2] = { o, e };
    char *bufs[2] = { out, err };
    size_t caps[2] = { n_out, n_err };
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        size_t got = f ? fread(bufs[i], 1, caps[i] - 1, f) : 0;
        bufs[i][got] = '\0';
        if (f)
            fclose(f);
    }
    return rc;
}

TEST(json_schema_cli_run)
{
    const char *model = TESTDATA "/models/tiny-llama-spm-q8_0.gguf";
    const char *schema = write_tmp("s.json", schemas[3]);
    char args[1024], out[8192], err[2048];
    for (int seed = 1; seed <= 2; seed++) {
        snprintf(args, sizeof args, "run %s -p 'User record:' --json-schema '%s' --temp 1 "
                 "--seed %d -n 200", model, schema, seed);
        CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 0);
        cJSON *v = cJSON_Parse(out), *s = cJSON_Parse(schemas[3]);
        CHECK(v && valid(v, s, s));
        CHECK_CONTAINS(err, "stop: stop");
        cJSON_Delete(v);
        cJSON_Delete(s);
    }
    const char *gbnf = write_tmp("g.gbnf", "root ::= \"answer: \" (\"yes\" | \"no\") \".\"\n");
    snprintf(args, sizeof args, "run %s -p 'Q' --grammar '%s' --temp 1", model, gbnf);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "answer: yes.\n") || !strcmp(out, "answer: no.\n"));
    snprintf(args, sizeof args, "run %s -p 'Q' --json-object --temp 1 -n 20", model);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 0);
    CHECK(out[0] == '{');

    /* malformed files: one line naming the file and the position */
    const char *bad = write_tmp("bad.gbnf", "root ::= \"a\"\nitem ::= [abc\n");
    snprintf(args, sizeof args, "run %s -p 'Q' --grammar '%s'", model, bad);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 2);
    char want[1024];
    snprintf(want, sizeof want, "hearth run: %s:2:10: unterminated character class\n", bad);
    CHECK_STR(err, want);
    bad = write_tmp("bad.json", "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": "
                    "\"integer\", \"minimum\": 1}}}");
    snprintf(args, sizeof args, "chat %s --json-schema '%s' </dev/null", model, bad);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 2);
    snprintf(want, sizeof want, "hearth chat: %s: /properties/a: keyword 'minimum' is not "
             "supported\n", bad);
    CHECK_STR(err, want);
    snprintf(args, sizeof args, "run %s -p Q --json-schema /nonexistent.json", model);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 2);
    CHECK_CONTAINS(err, "/nonexistent.json");
    snprintf(args, sizeof args, "run %s -p Q --json-object --grammar '%s'", model, gbnf);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 2);
    CHECK_CONTAINS(err, "only one of");
}

/* Every answer of a chat follows the schema. */
TEST(json_schema_cli_chat)
{
    const char *schema = write_tmp("c.json", schemas[1]);
    char args[1024], out[8192], err[2048];
    const char *input = write_tmp("in.txt", "first\nsecond\n");
    snprintf(args, sizeof args, "chat %s --json-schema '%s' --temp 1 -n 50 <'%s'",
             TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf", schema, input);
    CHECK_EQ(hearth(args, out, sizeof out, err, sizeof err), 0);
    int answers = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        CHECK(!strcmp(line, "\"red\"") || !strcmp(line, "\"green\"") || !strcmp(line, "\"blue\""));
        answers++;
    }
    CHECK_EQ(answers, 2);
}
