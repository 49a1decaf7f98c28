/*
 * Tests for generate/grammar.c: GBNF parsing and its errors, matching byte sequences
 * (including characters split across calls), and the token mask against the real
 * vocabularies of the fixture models.
 *
 * Expected results come from the grammars' meaning worked out by hand, and for the mask
 * from a direct test of each token's bytes written independently here (e.g. "the piece is
 * 1 to 3 ASCII digits").
 */
#include "test.h"

#include <stdlib.h>

#include "base/mem.h"
#include "generate/grammar.h"

static grm_grammar *parse(const char *text)
{
    grm_grammar *g = NULL;
    hearth_error err;
    if (grm_parse(&g, text, strlen(text), "test.gbnf", &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "parse failed: %s", err.msg);
    return g;
}

/* Does the whole of text (fed in one call) take the grammar to an accepting state? */
static bool matches(const grm_grammar *g, const char *text, size_t len)
{
    grm_matcher *m;
    if (grm_matcher_new(&m, g, NULL, NULL) != HEARTH_OK)
        return false;
    bool ok = grm_accept_bytes(m, text, len, NULL) == HEARTH_OK && grm_accepting(m);
    grm_matcher_free(m);
    return ok;
}

static bool full(const grm_grammar *g, const char *text)
{
    return matches(g, text, strlen(text));
}

/* Is text a prefix of some sentence (accepted without error, complete or not)? */
static bool prefix_ok(const grm_grammar *g, const char *text, size_t len)
{
    grm_matcher *m;
    if (grm_matcher_new(&m, g, NULL, NULL) != HEARTH_OK)
        return false;
    bool ok = grm_accept_bytes(m, text, len, NULL) == HEARTH_OK;
    grm_matcher_free(m);
    return ok;
}

TEST(grammar_literals_classes_alternatives)
{
    grm_grammar *g = parse("root ::= \"ab\" [0-9]+ (\"x\" | \"yz\")?  # a comment\n");
    REQUIRE(g);
    CHECK(full(g, "ab1"));
    CHECK(full(g, "ab0123x"));
    CHECK(full(g, "ab9yz"));
    CHECK(!full(g, "ab"));
    CHECK(!full(g, "abx"));
    CHECK(!full(g, "ab1yzz"));
    CHECK(!full(g, "ab1y"));        /* a prefix, not a sentence */
    CHECK(prefix_ok(g, "ab1y", 4));
    CHECK(!prefix_ok(g, "ac", 2));
    grm_free(g);

    g = parse("root ::= item (\",\" item)*\nitem ::= [a-c] | \"{\" root \"}\"\n");
    REQUIRE(g);
    CHECK(full(g, "a,b,c"));
    CHECK(full(g, "{a,{b}},c"));
    CHECK(!full(g, "{a,b"));
    CHECK(!full(g, "a,,b"));
    CHECK(!full(g, "d"));
    grm_free(g);

    g = parse("root ::= [^\"\\\\]* \".\" . [\\x41-\\x43\\u00e9]\n");
    REQUIRE(g);
    CHECK(full(g, "hello.!A"));
    CHECK(full(g, ".\xe2\x82\xac\xc3\xa9")); /* "." then any char (€) then é */
    CHECK(!full(g, "he\"y.!A"));
    CHECK(!full(g, ".!D"));
    grm_free(g);
}

TEST(grammar_repetition_counts)
{
    grm_grammar *g = parse("root ::= \"a\"{2,4} \"b\"{0,} (\"cd\"){1}");
    REQUIRE(g);
    CHECK(!full(g, "acd"));
    CHECK(full(g, "aacd"));
    CHECK(full(g, "aaaabbbcd"));
    CHECK(!full(g, "aaaaacd"));
    CHECK(!full(g, "aacdcd"));
    grm_free(g);
    g = parse("root ::= [0-9]{3}");
    REQUIRE(g);
    CHECK(full(g, "123"));
    CHECK(!full(g, "12"));
    CHECK(!full(g, "1234"));
    grm_free(g);
}

/* Characters split across calls, and bytes that can never be UTF-8. */
TEST(grammar_partial_utf8)
{
    grm_grammar *g = parse("root ::= [\\u03b1-\\u03c9]+ \"!\"");
    REQUIRE(g);
    grm_matcher *m;
    REQUIRE(grm_matcher_new(&m, g, NULL, NULL) == HEARTH_OK);
    const char *text = "\xce\xb1\xce\xb2!"; /* αβ! */
    for (size_t i = 0; i < strlen(text); i++) {
        CHECK(grm_accept_bytes(m, text + i, 1, NULL) == HEARTH_OK);
        CHECK(grm_accepting(m) == (i + 1 == strlen(text)));
    }
    CHECK(grm_finished(m));
    grm_matcher_free(m);

    REQUIRE(grm_matcher_new(&m, g, NULL, NULL) == HEARTH_OK);
    CHECK(grm_accept_bytes(m, "\xce", 1, NULL) == HEARTH_OK);   /* U+0380..U+03BF so far */
    CHECK(!grm_accepting(m));
    hearth_error err;
    CHECK(grm_accept_bytes(m, "\x80", 1, &err) != HEARTH_OK);   /* U+0380: not in the class */
    CHECK(grm_accept_bytes(m, "\xb1\xcf", 2, NULL) == HEARTH_OK); /* α, then U+03C0.. */
    CHECK(grm_accept_bytes(m, "\x89!", 2, NULL) == HEARTH_OK);  /* ω! */
    CHECK(grm_accepting(m));
    grm_matcher_free(m);

    CHECK(!prefix_ok(g, "\xe6", 1));           /* a CJK lead byte: nothing Greek follows */
    CHECK(!prefix_ok(g, "\xff", 1));           /* never UTF-8 */
    CHECK(!prefix_ok(g, "\xc0\xb1", 2));       /* overlong */
    CHECK(!prefix_ok(g, "\xce\xb1\xb1", 3));   /* stray continuation byte */
    grm_free(g);

    g = parse("root ::= .+"); /* any text, as long as it is valid UTF-8 */
    REQUIRE(g);
    CHECK(full(g, "\xf0\x9f\x98\x80 ok"));
    CHECK(!prefix_ok(g, "\xed\xa0\x80", 3)); /* a surrogate */
    CHECK(!full(g, "\xf0\x9f\x98"));         /* an unfinished character is not the end */
    grm_free(g);
}

static void expect_error(const char *text, hearth_status want, const char *needle)
{
    grm_grammar *g = NULL;
    hearth_error err = { 0 };
    hearth_status st = grm_parse(&g, text, strlen(text), "bad.gbnf", &err);
    if (st != want || !strstr(err.msg, needle))
        test_fail(__FILE__, __LINE__, "grammar %s: status %d, message \"%s\" (want %d with "
                  "\"%s\")", text, st, err.msg, want, needle);
    CHECK(g == NULL);
    grm_free(g);
}

TEST(grammar_errors)
{
    expect_error("root ::= \"abc", HEARTH_ERR_FORMAT, "bad.gbnf:1:10: unterminated string");
    expect_error("root ::= [a-", HEARTH_ERR_FORMAT, "bad.gbnf:1:10: unterminated character");
    expect_error("root ::= a\nb ::= \"x\"", HEARTH_ERR_FORMAT, "bad.gbnf:1:10: rule 'a' is used "
                 "but never defined");
    expect_error("start ::= \"x\"", HEARTH_ERR_FORMAT, "no 'root' rule");
    expect_error("root ::= \"x\"\nroot ::= \"y\"", HEARTH_ERR_FORMAT, "bad.gbnf:2:1: rule 'root' "
                 "is defined twice");
    expect_error("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"", HEARTH_ERR_FORMAT,
                 "bad.gbnf:2:1: left recursion in rule 'expr'");
    expect_error("root ::= (\"\")* \"a\"", HEARTH_ERR_FORMAT, "left recursion in rule 'root'");
    expect_error("root ::= \"a\" root", HEARTH_ERR_FORMAT, "matches no finite text");
    expect_error("root ::= \"a\"{3,2}", HEARTH_ERR_FORMAT, "1:13: repetition {3,2}");
    expect_error("root ::= \"a\"{99999}", HEARTH_ERR_RANGE, "repetition count above");
    expect_error("root ::= \"\\q\"", HEARTH_ERR_FORMAT, "1:11: unknown escape '\\q'");
    expect_error("root ::= \"\\ud800\"", HEARTH_ERR_FORMAT, "not a Unicode character");
    expect_error("root ::= (\"a\"", HEARTH_ERR_FORMAT, "1:10: unclosed '('");
    expect_error("root ::= \"a\")", HEARTH_ERR_FORMAT, "1:13: ')' without '('");
    expect_error("root ::= \"a\" []", HEARTH_ERR_FORMAT, "1:14: empty character class");
    expect_error("root = \"a\"", HEARTH_ERR_FORMAT, "1:1: expected a rule definition");
    expect_error("root ::= \"a\" \xff", HEARTH_ERR_FORMAT, "1:14: unexpected character");
    /* hostile sizes: deep nesting, repetitions multiplying into a huge grammar */
    char deep[1200] = "root ::= ";
    for (int i = 0; i < 500; i++)
        strcat(deep, "(");
    expect_error(deep, HEARTH_ERR_RANGE, "nested more than");
    char *big = mem_alloc(100 * 16 + 16);
    REQUIRE(big);
    strcpy(big, "root ::= ");
    for (int i = 0; i < 100; i++) /* 100 x 30,000 elements */
        strcat(big, "\"a\"{0,9999} ");
    expect_error(big, HEARTH_ERR_RANGE, "1:333: more than 262144 rules");
    mem_free(big);
}

/* ---- the mask, on real vocabularies ------------------------------------------------------ */

typedef struct fixture {
    gguf_file *f;
    tok_vocab *v;
    grm_vocab *gv;
    int n;
} fixture;

static bool open_fixture(fixture *fx, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, TESTDATA "/models/%s", name);
    memset(fx, 0, sizeof *fx);
    hearth_error err;
    if (gguf_open(&fx->f, path, &err) || tok_load(&fx->v, fx->f, &err)) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    fx->n = (int)tok_n_tokens(fx->v);
    if (grm_vocab_new(&fx->gv, fx->v, fx->n, &err)) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    return true;
}

static void close_fixture(fixture *fx)
{
    grm_vocab_free(fx->gv);
    tok_free(fx->v);
    gguf_close(fx->f);
}

/* Mask a vector of zeros; allowed[i] = token i survived. */
static int mask_of(grm_matcher *m, int n, bool *allowed)
{
    float *l = mem_calloc((size_t)n, sizeof *l);
    hearth_error err;
    int count = 0;
    if (grm_mask(m, l, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "mask: %s", err.msg);
    for (int i = 0; i < n; i++)
        count += allowed[i] = l[i] == 0;
    mem_free(l);
    return count;
}

/* Compare the mask with want(piece) for every token; EOG tokens with eog_ok. */
static void check_mask(fixture *fx, grm_matcher *m, bool (*want)(const char *, size_t, void *),
                       void *ctx, bool eog_ok, int line)
{
    bool *allowed = mem_calloc((size_t)fx->n, 1);
    int got = mask_of(m, fx->n, allowed), expected = 0, wrong = 0;
    for (int i = 0; i < fx->n; i++) {
        size_t len;
        const char *s = tok_piece(fx->v, i, false, &len);
        bool w = tok_is_eog(fx->v, i) ? eog_ok : len > 0 && want(s, len, ctx);
        expected += w;
        if (w != allowed[i] && wrong++ < 5)
            test_fail(__FILE__, line, "token %d (\"%.*s\"): mask says %d, expected %d", i,
                      (int)len, s, allowed[i], w);
    }
    if (got != expected)
        test_fail(__FILE__, line, "%d tokens allowed, expected %d", got, expected);
    mem_free(allowed);
}

static bool digits_upto(const char *s, size_t len, void *ctx)
{
    size_t max = *(size_t *)ctx;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return len <= max;
}

/* Is s a prefix of (rep)* starting at offset off of rep? */
static bool in_repeat(const char *s, size_t len, void *ctx)
{
    const char *rep = ((const char **)ctx)[0];
    size_t off = (size_t)(((const char **)ctx)[1] - rep), n = strlen(rep);
    for (size_t i = 0; i < len; i++)
        if (s[i] != rep[(off + i) % n])
            return false;
    return true;
}

static void mask_digits_and_repeats(const char *model)
{
    fixture fx;
    if (!open_fixture(&fx, model))
        return;
    grm_grammar *g = parse("root ::= [0-9]{1,3}");
    grm_matcher *m;
    REQUIRE(g && grm_matcher_new(&m, g, fx.gv, NULL) == HEARTH_OK);
    size_t max = 3;
    check_mask(&fx, m, digits_upto, &max, false, __LINE__);
    CHECK(grm_accept_bytes(m, "4", 1, NULL) == HEARTH_OK);
    max = 2;
    check_mask(&fx, m, digits_upto, &max, true, __LINE__);
    CHECK(grm_accept_bytes(m, "22", 2, NULL) == HEARTH_OK);
    CHECK(grm_finished(m));
    grm_matcher_free(m);
    grm_free(g);

    /* "é€" repeated: tokens may end inside either character */
    const char *rep = "\xc3\xa9\xe2\x82\xac";
    g = parse("root ::= (\"\xc3\xa9\" \"\xe2\x82\xac\")+");
    REQUIRE(g && grm_matcher_new(&m, g, fx.gv, NULL) == HEARTH_OK);
    const char *ctx[2] = { rep, rep };
    check_mask(&fx, m, in_repeat, ctx, false, __LINE__);
    for (int k = 1; k <= 5; k++) { /* advance one byte at a time through "é€" */
        CHECK(grm_accept_bytes(m, rep + k - 1, 1, NULL) == HEARTH_OK);
        ctx[1] = rep + k % 5;
        check_mask(&fx, m, in_repeat, ctx, k == 5, __LINE__);
    }
    grm_matcher_free(m);
    grm_free(g);
    close_fixture(&fx);
}

TEST(grammar_mask_spm_32k)
{
    mask_digits_and_repeats("tiny-llama-spm-q8_0.gguf");
}

TEST(grammar_mask_bpe_152k)
{
    mask_digits_and_repeats("tiny-qwen2-bpe-q8_0.gguf");
}

/* grm_allows, grm_accept and the mask agree token by token; an end token finishes. */
TEST(grammar_accept_tokens)
{
    fixture fx;
    if (!open_fixture(&fx, "tiny-llama-spm-q8_0.gguf"))
        return;
    grm_grammar *g = parse("root ::= \"{\" [ a-z]* \"}\"");
    grm_matcher *m;
    REQUIRE(g && grm_matcher_new(&m, g, fx.gv, NULL) == HEARTH_OK);
    bool *allowed = mem_calloc((size_t)fx.n, 1);
    mask_of(m, fx.n, allowed);
    for (int i = 0; i < fx.n; i++)
        if (grm_allows(m, i) != allowed[i]) {
            test_fail(__FILE__, __LINE__, "token %d: allows %d, mask %d", i, grm_allows(m, i),
                      allowed[i]);
            break;
        }
    tok_id brace = tok_find(fx.v, "{", 1), close = tok_find(fx.v, "}", 1);
    tok_id eos = tok_special(fx.v)->eos;
    REQUIRE(brace >= 0 && close >= 0 && eos >= 0);
    CHECK(allowed[brace] && !allowed[close] && !allowed[eos]);
    CHECK(grm_accept(m, close, NULL) != HEARTH_OK);
    CHECK(grm_accept(m, brace, NULL) == HEARTH_OK);
    CHECK(grm_allows(m, close) && !grm_allows(m, brace) && !grm_allows(m, eos));
    CHECK(grm_accept(m, close, NULL) == HEARTH_OK);
    CHECK(grm_finished(m));
    CHECK(grm_allows(m, eos));
    CHECK(grm_accept(m, eos, NULL) == HEARTH_OK);
    float l = 0;
    CHECK(grm_mask(m, &l, NULL) != HEARTH_OK); /* complete: nothing may follow */
    mem_free(allowed);
    grm_matcher_free(m);
    grm_free(g);
    close_fixture(&fx);
}
