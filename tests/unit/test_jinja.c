/* Tests for generate/jinja.{c,h}: small templates whose output is worked out by hand from
 * Jinja2's documented semantics (with transformers' chat-template settings: trim_blocks,
 * lstrip_blocks, loop controls), and hostile templates that must end with an error, quickly. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <time.h>

#include "base/mem.h"
#include "generate/jinja.h"

static size_t fixed_date(char *buf, size_t cap, const char *fmt, void *user)
{
    (void)user;
    return (size_t)snprintf(buf, cap, "%s", strcmp(fmt, "%d %b %Y") == 0 ? "05 Mar 2025" : "?");
}

/* Render src with each key of the JSON object vars (may be NULL) as a variable. Returns the
 * output (mem_free it) or NULL, with *st and err filled. */
static char *render_lim(const char *src, const char *vars, const jj_limits *lim,
                        hearth_status *st, hearth_error *err)
{
    jj_template *t;
    char *out = NULL;
    err->msg[0] = '\0';
    *st = jj_parse(&t, src, strlen(src), err);
    if (*st != HEARTH_OK)
        return NULL;
    jj_ctx *c = jj_ctx_new(lim);
    if (!c) { /* only under injected allocation failures */
        *st = HEARTH_ERR_NOMEM;
        jj_template_free(t);
        return NULL;
    }
    cJSON *j = vars ? cJSON_Parse(vars) : NULL;
    if (vars && !j) {
        *st = HEARTH_ERR_INVALID;
        test_fail(__FILE__, __LINE__, "bad test setup: %s", vars);
    }
    jj_ctx_set_strftime(c, fixed_date, NULL);
    for (cJSON *e = j ? j->child : NULL; e && *st == HEARTH_OK; e = e->next) {
        char *txt = cJSON_PrintUnformatted(e);
        jj_value v;
        *st = jj_from_json(c, txt, &v, err);
        jj_set_var(c, e->string, v);
        free(txt);
    }
    cJSON_Delete(j);
    if (*st == HEARTH_OK)
        *st = jj_render(t, c, &out, NULL, err);
    jj_ctx_free(c);
    jj_template_free(t);
    return out;
}

static char *render(const char *src, const char *vars, hearth_status *st, hearth_error *err)
{
    return render_lim(src, vars, NULL, st, err);
}

static void check_render(const char *file, int line, const char *src, const char *vars,
                         const char *want)
{
    hearth_status st;
    hearth_error err;
    char *got = render(src, vars, &st, &err);
    if (st != HEARTH_OK)
        test_fail(file, line, "render of %s failed: %s", src, err.msg);
    else if (strcmp(got, want) != 0)
        test_fail(file, line, "render of %s:\n  got  \"%s\"\n  want \"%s\"", src, got, want);
    mem_free(got);
}
#define CHECK_RENDER(src, vars, want) check_render(__FILE__, __LINE__, src, vars, want)

static void check_error(const char *file, int line, const char *src, const char *vars,
                        hearth_status want, const char *msg_part)
{
    hearth_status st;
    hearth_error err;
    char *got = render(src, vars, &st, &err);
    if (st != want)
        test_fail(file, line, "%s: status %d (want %d), out \"%s\", msg %s", src, (int)st,
                  (int)want, got ? got : "", err.msg);
    else if (msg_part && !strstr(err.msg, msg_part))
        test_fail(file, line, "%s: message \"%s\" lacks \"%s\"", src, err.msg, msg_part);
    mem_free(got);
}
#define CHECK_ERROR(src, vars, st, part) check_error(__FILE__, __LINE__, src, vars, st, part)

TEST(jinja_text_output_comments)
{
    CHECK_RENDER("plain text", NULL, "plain text");
    CHECK_RENDER("a{{ x }}b", "{\"x\":\"X\"}", "aXb");
    CHECK_RENDER("[{{ missing }}]", NULL, "[]");
    CHECK_RENDER("{{ none }} {{ true }} {{ false }} {{ None }}", NULL, "None True False None");
    CHECK_RENDER("a{# gone #}b", NULL, "ab");
    CHECK_RENDER("{{ 'a\\nb\\t\"c\"' }}|{{ \"it's\" }}", NULL, "a\nb\t\"c\"|it's");
    CHECK_RENDER("{{ '\\u00e9\\x41\\101' }}", NULL, "\xc3\xa9" "AA");
    CHECK_RENDER("{{ 'a' 'b' }}", NULL, "ab");
    CHECK_RENDER("", NULL, "");
    CHECK_RENDER("x\n", NULL, "x"); /* one trailing newline is dropped */
    CHECK_RENDER("x\n\n", NULL, "x\n");
    CHECK_RENDER("a\r\nb", NULL, "a\nb");
    CHECK_RENDER("{ not a tag }", NULL, "{ not a tag }");
}

TEST(jinja_whitespace_control)
{
    /* trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before */
    CHECK_RENDER("{% if true %}\nx\n{% endif %}\ny", NULL, "x\ny");
    CHECK_RENDER("a\n    {% if true %}\n    b\n    {% endif %}\nc", NULL, "a\n    b\nc");
    CHECK_RENDER("a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}", NULL, "abcd");
    CHECK_RENDER("{{ 'a' }}\n{{ 'b' }}\n", NULL, "a\nb");
    CHECK_RENDER("x {% if true %}y{% endif %}", NULL, "x y"); /* not at a line start */
    CHECK_RENDER("  {%+ if true %}y{% endif %}", NULL, "  y");
    CHECK_RENDER("{% if true +%}\ny{% endif %}", NULL, "\ny");
    CHECK_RENDER("a\n{# c #}\nb", NULL, "a\nb");
    CHECK_RENDER("a  {#- c -#}  b", NULL, "ab");
}

TEST(jinja_statements)
{
    CHECK_RENDER("{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two"
                 "{% else %}many{% endif %},{% endfor %}", NULL, "one,two,many,");
    CHECK_RENDER("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}"
                 "{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}",
                 "{\"items\":[\"a\",\"b\"]}", "10TrueFalse22;21FalseTrue21;");
    CHECK_RENDER("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    CHECK_RENDER("{% for x in undefined_thing %}x{% else %}none{% endfor %}", NULL, "none");
    CHECK_RENDER("{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}"
                 "{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}", NULL, "13");
    CHECK_RENDER("{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}"
                 "{% if true %}{% set b = 3 %}{% endif %}{{ b }}", NULL, "213");
    CHECK_RENDER("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                 "{\"d\":{\"x\":1,\"y\":\"z\"}}", "x=1;y=z;");
    CHECK_RENDER("{% for k in d %}{{ k }}{% endfor %}", "{\"d\":{\"p\":1,\"q\":2}}", "pq");
    CHECK_RENDER("{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}:{{ x }}"
                 "{% if not loop.last %},{% endif %}{% endfor %}", NULL, "1:2,2:4");
    CHECK_RENDER("{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} "
                 "{% endfor %}{{ loop.index }}|{% endfor %}", NULL, "1x1 1y2 1|2x1 2y2 2|");
    CHECK_RENDER("{% for x in [1, 2, 3] %}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }} "
                 "{% endfor %}", NULL, "2a 13b 2a ");
    CHECK_RENDER("{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}"
                 "{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}"
                 "{% endif %}{% endfor %}{{ ns.total }} {{ ns.seen }}", NULL, "6 True");
    CHECK_RENDER("{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}", NULL, "x");
    CHECK_RENDER("{% set a, b = 1, 2 %}{{ b }}{{ a }}", NULL, "21");
    CHECK_RENDER("{% set x %}in{{ 1 + 1 }}{% endset %}[{{ x }}]", NULL, "[in2]");
    CHECK_RENDER("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                 "{{ greet('Ann') }} {{ greet('Bo', punct='?') }} {{ greet(name='Cy') }}", NULL,
                 "Hi Ann! Hi Bo? Hi Cy!");
    CHECK_RENDER("{% set top = 'T' %}{% macro m() %}{{ top }}{{ inner }}{% endmacro %}"
                 "{% for inner in [1] %}{{ m() }}{% endfor %}", NULL, "T");
    CHECK_RENDER("{% generation %}kept{% endgeneration %}", NULL, "kept");
}

TEST(jinja_expressions)
{
    CHECK_RENDER("{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 * 3 - 1 }}"
                 " {{ -4 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 1.5 + 1 }}", NULL,
                 "3 3 -4 1 2 5 -4 1024 3.5 3.0 2.5");
    CHECK_RENDER("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-7 }} {{ 123456.0 }} {{ 0.0001 }}", NULL,
                 "0.30000000000000004 1e+16 1.5e-07 123456.0 0.0001");
    CHECK_RENDER("{{ 1 < 2 }}{{ 2 <= 1 }}{{ 'a' == 'a' }}{{ 'a' != 'a' }}{{ 3 > 2 }}{{ 1 >= 1 }}"
                 "{{ 1 == 1.0 }}{{ 'b' > 'a' }}", NULL, "TrueFalseTrueFalseTrueTrueTrueTrue");
    CHECK_RENDER("{{ true and false }}{{ true or false }}{{ not true }}{{ not (1 == 2) }}"
                 "{{ 0 or 'x' }}{{ '' and 1 }}", NULL, "FalseTrueFalseTruex");
    CHECK_RENDER("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'q' not in d }}",
                 "{\"d\":{\"k\":1}}", "TrueTrueTrueTrue");
    CHECK_RENDER("{{ 'yes' if flag else 'no' }}[{{ 'a' if false }}]", "{\"flag\":true}", "yes[]");
    CHECK_RENDER("{{ 'n=' ~ 3 ~ none ~ x }}", NULL, "n=3None");
    CHECK_RENDER("{{ [1, 'a', none, true, 2.5, {'k': [1]}] }}", NULL,
                 "[1, 'a', None, True, 2.5, {'k': [1]}]");
    CHECK_RENDER("{{ \"it's\" ~ ['it\\'s'] }}", NULL, "it's[\"it's\"]");
    CHECK_RENDER("{{ m.a.b }}{{ m['a']['b'] }}{{ m.a.missing }}{{ l[0] }}{{ l[-1] }}{{ l[9] }}",
                 "{\"m\":{\"a\":{\"b\":7}},\"l\":[4,5]}", "7745");
    CHECK_RENDER("{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}{{ l[::2] }}{{ l[5:] }}{{ 'h\\u00e9llo'[1:3] }}"
                 "{{ 'abc'[::-1] }}{{ 'abc'[-1] }}", "{\"l\":[1,2,3]}",
                 "[2, 3][1, 2][3, 2, 1][1, 3][]\xc3\xa9l" "cbac");
    CHECK_RENDER("{{ 'ab' * 3 }}{{ [0] * 2 }}{{ [1] + [2] }}{{ 'a' + 'b' }}", NULL,
                 "ababab[0, 0][1, 2]ab");
    CHECK_RENDER("{{ (1, 2) }}{{ {'a': 1, 'b': 'x'} }}{{ () }}", NULL, "[1, 2]{'a': 1, 'b': 'x'}[]");
}

TEST(jinja_tests_operator)
{
    CHECK_RENDER("{{ x is defined }}{{ y is defined }}{{ y is not defined }}{{ n is none }}"
                 "{{ s is string }}{{ d is mapping }}{{ l is iterable }}{{ s is iterable }}"
                 "{{ x is number }}{{ x is integer }}{{ 1.5 is float }}",
                 "{\"x\":1,\"n\":null,\"s\":\"s\",\"d\":{},\"l\":[]}",
                 "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrue");
    CHECK_RENDER("{{ f is false }}{{ f is true }}{{ f is boolean }}{{ 3 is odd }}{{ 4 is even }}"
                 "{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 'ab' is lower }}"
                 "{{ 2 is in [1, 2] }}{{ 'x' is eq 'x' }}{{ range is callable }}",
                 "{\"f\":false}", "TrueFalseTrueTrueTrueTrueFalseTrueTrueTrueTrue");
    CHECK_RENDER("{{ not x is none }}", "{\"x\":1}", "True");
}

TEST(jinja_filters)
{
    CHECK_RENDER("{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'aBc' | upper }}"
                 "{{ 'aBc' | lower }}|{{ 'hello world' | capitalize }}|{{ 'they are' | title }}",
                 NULL, "hi|hi|ABCabc|Hello world|They Are");
    CHECK_RENDER("{{ 'h\\u00e9' | length }}{{ [1, 2] | length }}{{ {'a': 1} | count }}"
                 "{{ missing | length }}", NULL, "2210");
    CHECK_RENDER("{{ [1, 2, 3] | join('-') }}|{{ [1, 2] | join }}|{{ l | join(', ', attribute='n') }}",
                 "{\"l\":[{\"n\":\"a\"},{\"n\":\"b\"}]}", "1-2-3|12|a, b");
    CHECK_RENDER("{{ 'aXbX' | replace('X', '.') }}{{ [3, 4] | first }}{{ [3, 4] | last }}"
                 "{{ 'xyz' | first }}{{ 'xyz' | last }}", NULL, "a.b.34xz");
    CHECK_RENDER("{{ u | default('d') }}{{ n | default('d') }}{{ '' | default('d', true) }}"
                 "{{ u | d('e') }}", "{\"n\":null}", "dNonede");
    CHECK_RENDER("{{ '12' | int + 1 }}{{ 'x' | int }}{{ 3.9 | int }}{{ '2.5' | float }}"
                 "{{ 7 | string ~ 1 }}{{ 5 | float }}{{ -3 | abs }}", NULL, "1303" "2.571" "5.03");
    CHECK_RENDER("{{ d | items | list }}{{ 'ab' | list }}{{ [2, 1, 2] | unique | list }}"
                 "{{ [1, 2] | reverse | list }}{{ 'ab' | reverse }}",
                 "{\"d\":{\"a\":1}}", "[['a', 1]]['a', 'b'][2, 1][2, 1]ba");
    CHECK_RENDER("{{ msgs | selectattr('role', 'equalto', 'user') | list | length }} "
                 "{{ (msgs | selectattr('role', 'equalto', 'user') | list)[-1].content }} "
                 "{{ msgs | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join }} "
                 "{{ msgs | map(attribute='role') | select('ne', 'system') | list }}",
                 "{\"msgs\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
                 "\"content\":\"U1\"},{\"role\":\"assistant\",\"content\":\"A\"},"
                 "{\"role\":\"user\",\"content\":\"U2\"}]}",
                 "2 U2 SA ['user', 'assistant', 'user']");
    CHECK_RENDER("{% for i in items | selectattr('on') %}{{ i.n }}{% endfor %}"
                 "{{ ['a', 'b'] | map('upper') | join }}{{ [0, 1, 2] | select | list }}"
                 "{{ ['x', 'code_interpreter'] | reject('equalto', 'code_interpreter') | join }}",
                 "{\"items\":[{\"n\":1,\"on\":true},{\"n\":2,\"on\":false},{\"n\":3}]}",
                 "1AB[1, 2]x");
    CHECK_RENDER("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", NULL,
                 "a\n  b\n\n  c|  a\n  b");
    CHECK_RENDER("{{ 'x' | safe }}{{ 3 | string | length }}", NULL, "x1");
}

TEST(jinja_tojson)
{
    /* json.dumps(ensure_ascii=False, no sorting): ", " and ": " separators */
    CHECK_RENDER("{{ v | tojson }}",
                 "{\"v\":{\"b\":[1,2.5,null,true],\"a\":\"q\\\"\\n\\u00e9<\",\"e\":{},\"f\":[]}}",
                 "{\"b\": [1, 2.5, null, true], \"a\": \"q\\\"\\n\xc3\xa9<\", \"e\": {}, \"f\": []}");
    CHECK_RENDER("{{ v | tojson(indent=2) }}", "{\"v\":{\"a\":[1,{\"b\":2}],\"c\":{}}}",
                 "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}");
    CHECK_RENDER("{{ 'x\\ty' | tojson }}{{ none | tojson }}{{ 1.0 | tojson }}", NULL,
                 "\"x\\ty\"null1.0");
}

TEST(jinja_methods_globals)
{
    CHECK_RENDER("{{ s.startswith('<a') }}{{ s.endswith(('x', '>')) }}{{ s.split('|') }}"
                 "{{ ' a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}",
                 "{\"s\":\"<a|b>\"}", "TrueTrue['<a', 'b>']['a', 'b']['a', 'b,c']");
    CHECK_RENDER("[{{ '\\n x \\n'.strip() }}][{{ '\\nx\\n'.lstrip('\\n') }}][{{ 'xyy'.rstrip('y') }}]"
                 "{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'a b'.title() }}{{ 'abc'.replace('b', '') }}"
                 "{{ 'h\\u00e9llo'.find('l') }}{{ '-'.join(['a', 'b']) }}", NULL,
                 "[x][x\n][x]ABabA Bac2a-b");
    CHECK_RENDER("{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|"
                 "{{ c.split('</think>')[-1].lstrip('\\n') }}",
                 "{\"c\":\"<think>\\nhmm\\n</think>\\n\\nHello!\"}", "hmm|Hello!");
    CHECK_RENDER("{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 5) }}{{ d.keys() | list }}"
                 "{{ d.values() | list }}", "{\"d\":{\"a\":1}}", "1None5['a'][1]");
    CHECK_RENDER("{{ range(3) }}{{ range(1, 7, 2) }}{{ range(3, 0, -1) }}{{ dict(a=1) }}", NULL,
                 "[0, 1, 2][1, 3, 5][3, 2, 1]{'a': 1}");
    CHECK_RENDER("{{ strftime_now('%d %b %Y') }}", NULL, "05 Mar 2025");
    CHECK_RENDER("{% if not date_string is defined %}{% if strftime_now is defined %}"
                 "{% set date_string = strftime_now('%d %b %Y') %}{% else %}"
                 "{% set date_string = '26 Jul 2024' %}{% endif %}{% endif %}{{ date_string }}",
                 NULL, "05 Mar 2025");
}

TEST(jinja_errors)
{
    CHECK_ERROR("{{ raise_exception('roles must alternate') }}", NULL, HEARTH_ERR_INVALID,
                "roles must alternate");
    CHECK_ERROR("{% if x %}", NULL, HEARTH_ERR_FORMAT, "endif");
    CHECK_ERROR("{% for x in y %}{% endif %}", NULL, HEARTH_ERR_FORMAT, "endif");
    CHECK_ERROR("{{ x ", NULL, HEARTH_ERR_FORMAT, "unterminated");
    CHECK_ERROR("{% if x ", NULL, HEARTH_ERR_FORMAT, "unterminated");
    CHECK_ERROR("{# never closed", NULL, HEARTH_ERR_FORMAT, "comment");
    CHECK_ERROR("{{ 'abc }}", NULL, HEARTH_ERR_FORMAT, "string");
    CHECK_ERROR("{{ 1 + }}", NULL, HEARTH_ERR_FORMAT, "line 1");
    CHECK_ERROR("a\nb\n{{ ) }}", NULL, HEARTH_ERR_FORMAT, "line 3");
    CHECK_ERROR("{% include 'x' %}", NULL, HEARTH_ERR_UNSUPPORTED, "include");
    CHECK_ERROR("{{ x | frobnicate }}", NULL, HEARTH_ERR_UNSUPPORTED, "frobnicate");
    CHECK_ERROR("{{ x is frob }}", NULL, HEARTH_ERR_UNSUPPORTED, "frob");
    CHECK_ERROR("{% bogus %}", NULL, HEARTH_ERR_FORMAT, "bogus");
    CHECK_ERROR("{% break %}", NULL, HEARTH_ERR_FORMAT, "outside");
    CHECK_ERROR("{{ 'a' + 1 }}", NULL, HEARTH_ERR_FORMAT, "+");
    CHECK_ERROR("{{ u + 'a' }}", NULL, HEARTH_ERR_FORMAT, "undefined");
    CHECK_ERROR("{{ 1 // 0 }}", NULL, HEARTH_ERR_FORMAT, "zero");
    CHECK_ERROR("{{ 9223372036854775807 + 1 }}", NULL, HEARTH_ERR_RANGE, "overflow");
    CHECK_ERROR("{{ 10 ** 100 }}", NULL, HEARTH_ERR_RANGE, "overflow");
    CHECK_ERROR("{{ nofunc(1) }}", NULL, HEARTH_ERR_FORMAT, "nofunc");
    CHECK_ERROR("{{ 'x'.frob() }}", NULL, HEARTH_ERR_UNSUPPORTED, "frob");
    CHECK_ERROR("{% set d = {} %}{% set d.a = 1 %}", NULL, HEARTH_ERR_FORMAT, "namespace");
    CHECK_ERROR("{% for a, b in [1] %}{% endfor %}", NULL, HEARTH_ERR_FORMAT, "unpack");
}

/* Each hostile template must fail with a limit error (not crash, hang or exhaust memory)
 * well within a second. */
TEST(jinja_hostile_templates)
{
    static const char *const hostile[] = {
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 10**9 }}",
        "{{ [0] * 10**9 }}",
        "{% set s = 'ab' %}{% for i in range(100) %}{% set s = s ~ s %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{% for i in range(999999) %}{{ 'abcdefghij' * 10 }}{% endfor %}",
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
        "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}",
        "{% set s = 'a' * 4000000 %}{% for i in range(1000000) %}{% set t = s.strip() %}{% endfor %}",
        "{% set s = 'a' * 4000000 %}{% for i in range(1000000) %}{% set t = s.replace('a', 'b') %}{% endfor %}",
        "{% set s = 'a' * 4000000 %}{% for i in range(1000000) %}{% set t = s == s ~ '' %}{% endfor %}",
        "{% set s = ' a' * 2000000 %}{% for i in range(1000000) %}{% set t = s.split() %}{% endfor %}",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        hearth_status st;
        hearth_error err;
        clock_t t0 = clock();
        char *out = render(hostile[i], NULL, &st, &err);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (st != HEARTH_ERR_RANGE)
            test_fail(__FILE__, __LINE__, "%s: status %d, msg %s", hostile[i], (int)st, err.msg);
        if (secs > 2.0)
            test_fail(__FILE__, __LINE__, "%s took %.2f s", hostile[i], secs);
        mem_free(out);
    }
    /* Deep nesting fails at parse time. */
    static char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        deep[n++] = '(';
    n += (size_t)sprintf(deep + n, "1");
    for (int i = 0; i < 1000; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    char tpl[4200];
    snprintf(tpl, sizeof tpl, "{{ %s }}", deep);
    CHECK_ERROR(tpl, NULL, HEARTH_ERR_RANGE, "nested");
    n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(tpl + n, "{%% if true %%}");
    CHECK_ERROR(tpl, NULL, HEARTH_ERR_RANGE, "nested");
}

TEST(jinja_limits_are_configurable)
{
    jj_limits lim = jj_default_limits();
    lim.max_output = 10;
    hearth_status st;
    hearth_error err;
    char *out = render_lim("{{ 'x' * 10 }}", NULL, &lim, &st, &err);
    CHECK_EQ(st, HEARTH_OK);
    mem_free(out);
    out = render_lim("{{ 'x' * 11 }}", NULL, &lim, &st, &err);
    CHECK_EQ(st, HEARTH_ERR_RANGE);
    mem_free(out);
    lim = jj_default_limits();
    lim.max_iterations = 5;
    out = render_lim("{% for i in range(5) %}{{ i }}{% endfor %}", NULL, &lim, &st, &err);
    CHECK_STR(out, "01234");
    mem_free(out);
    out = render_lim("{% for i in [1,2,3] %}{% for j in [1,2,3] %}{% endfor %}{% endfor %}",
                     NULL, &lim, &st, &err);
    CHECK_EQ(st, HEARTH_ERR_RANGE);
    CHECK_CONTAINS(err.msg, "iterations");
    mem_free(out);
}

/* Out of memory at any allocation is an ordinary error, never a crash or a leak. */
TEST(jinja_out_of_memory)
{
    const char *src = "{% set ns = namespace(n=0) %}{% for m in msgs %}{% set ns.n = ns.n + 1 %}"
                      "{{ m.role | upper }}:{{ m.content | tojson }}{% endfor %}{{ ns.n }}";
    const char *vars = "{\"msgs\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    bool ok_seen = false;
    for (long k = 0; k < 200 && !ok_seen; k++) {
        hearth_status st;
        hearth_error err;
        mem_fail_after(k);
        char *out = render(src, vars, &st, &err);
        mem_fail_after(-1);
        if (st == HEARTH_OK) {
            CHECK_STR(out, "USER:\"hi\"1");
            ok_seen = true;
        } else {
            CHECK_EQ(st, HEARTH_ERR_NOMEM);
        }
        mem_free(out);
    }
    CHECK(ok_seen);
}
