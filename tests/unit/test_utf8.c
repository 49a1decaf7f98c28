/* test_utf8.c — strict UTF-8 decoding against the boundaries of Table 3-7 of the Unicode
 * standard, and the unfinished-character tail that writers carry from one piece of text to
 * the next. */
#include "test.h"

#include <string.h>

#include "base/utf8.h"

static int decode(const char *s, uint32_t *cp)
{
    return utf8_decode(s, strlen(s), cp);
}

TEST(utf8_decode_table_3_7_boundaries)
{
    uint32_t cp = 0;
    CHECK_EQ(decode("\xE0\xA0\x80", &cp), 3);
    CHECK_EQ(cp, 0x800u);
    CHECK_EQ(decode("\xED\x9F\xBF", &cp), 3);
    CHECK_EQ(cp, 0xD7FFu);
    CHECK_EQ(decode("\xF4\x8F\xBF\xBF", &cp), 4);
    CHECK_EQ(cp, 0x10FFFFu);
    CHECK_EQ(decode("\xC2\x80", &cp), 2);
    CHECK_EQ(cp, 0x80u);
    CHECK_EQ(decode("\xE0\x9F\xBF", &cp), UTF8_INVALID);     /* overlong */
    CHECK_EQ(decode("\xED\xA0\x80", &cp), UTF8_INVALID);     /* surrogate */
    CHECK_EQ(decode("\xF4\x90\x80\x80", &cp), UTF8_INVALID); /* above U+10FFFF */
    CHECK_EQ(decode("\xC0\x80", &cp), UTF8_INVALID);
    CHECK_EQ(decode("\x80", &cp), UTF8_INVALID);
    CHECK_EQ(decode("\xE2\x82", &cp), UTF8_INCOMPLETE);
}

TEST(utf8_incomplete_tail_counts_only_unfinished_starts)
{
    CHECK_EQ(utf8_incomplete_tail("", 0), 0u);
    CHECK_EQ(utf8_incomplete_tail("abc", 3), 0u);
    CHECK_EQ(utf8_incomplete_tail("ab\xE2", 3), 1u);             /* first byte of U+20AC */
    CHECK_EQ(utf8_incomplete_tail("ab\xE2\x82", 4), 2u);
    CHECK_EQ(utf8_incomplete_tail("ab\xE2\x82\xAC", 5), 0u);      /* finished */
    CHECK_EQ(utf8_incomplete_tail("\xF0\x9F\x98", 3), 3u);        /* U+1F600 less its last */
    CHECK_EQ(utf8_incomplete_tail("a\x82", 2), 0u);               /* a stray continuation */
    CHECK_EQ(utf8_incomplete_tail("a\xE0\x80", 3), 0u);           /* can never finish */
    CHECK_EQ(utf8_incomplete_tail("\xE2\x82\xAC\xE2", 4), 1u);
}

/* Cutting a text at every byte position and carrying the tail into the second piece, as
 * the transcript writer does at timestamps, leaves two well-formed pieces. */
TEST(utf8_incomplete_tail_splits_text_into_valid_pieces)
{
    static const char text[] = "d\xC3\xA9j\xC3\xA0 \xE2\x82\xAC 5 \xF0\x9F\x98\x80 \xE4\xB8\xAD";
    const size_t n = sizeof text - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        const size_t tail = utf8_incomplete_tail(text, cut);
        REQUIRE(tail <= cut);
        CHECK(utf8_valid(text, cut - tail));
        CHECK(utf8_valid(text + cut - tail, n - (cut - tail)));
    }
}

/* Bad bytes become U+FFFD one by one (a character cut short counts as bad bytes), good
 * characters pass whole; the output stops while a 4-byte character and the NUL still fit. */
TEST(utf8_sanitize_replaces_bad_bytes_and_respects_cap)
{
    static const char in[] = "a\xff\xc3\xa9\xe2\x82";
    char out[64];
    size_t n = utf8_sanitize(in, sizeof in - 1, out, sizeof out);
    CHECK_STR(out, "a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_EQ(n, strlen(out));
    CHECK(utf8_valid(out, n));
    CHECK_EQ(utf8_sanitize("abcdef", 6, out, 6), 2);
    CHECK_STR(out, "ab");
    CHECK_EQ(utf8_sanitize("abc", 3, out, 1), 0);
    CHECK_STR(out, "");
}
