/*
 * Tests for knowledge/chunk.c: chunk boundaries worked out by hand for one-token words,
 * overlap, line ranges, Markdown heading paths (not inside code fences), and that no cut
 * ever falls inside a UTF-8 character.
 */
#include "test.h"

#include "base/mem.h"
#include "base/utf8.h"
#include "knowledge/chunk.h"

static size_t one_per_word(void *user, const char *s, size_t n)
{
    (void)user;
    (void)s;
    (void)n;
    return 1;
}

TEST(chunk_words_with_overlap)
{
    /* 25 words "w00".."w24", 5 per line */
    char text[256] = "";
    for (int i = 0; i < 25; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%02d%c", i, i % 5 == 4 ? '\n' : ' ');
        strcat(text, w);
    }
    kn_chunk_params p = { .max_tokens = 10, .overlap = 3, .count = one_per_word };
    kn_chunk *c;
    size_t n;
    REQUIRE(kn_chunk_text(text, strlen(text), &p, &c, &n, NULL) == HEARTH_OK);
    /* by hand: words [0,10) [7,17) [14,24) [21,25); word i starts at byte 4*i */
    int first[] = { 0, 7, 14, 21 }, last[] = { 9, 16, 23, 24 };
    REQUIRE(n == 4);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(c[i].start, 4 * first[i]);
        CHECK_EQ(c[i].end, 4 * last[i] + 3);
        CHECK_EQ(c[i].line_start, first[i] / 5 + 1);
        CHECK_EQ(c[i].line_end, last[i] / 5 + 1);
        CHECK(c[i].heading == NULL);
    }
    kn_chunks_free(c, n);
    /* empty and blank texts give no chunks; a bad overlap is refused */
    REQUIRE(kn_chunk_text(" \n\t ", 4, &p, &c, &n, NULL) == HEARTH_OK);
    CHECK_EQ(n, 0);
    kn_chunks_free(c, n);
    p.overlap = 6;
    hearth_error err;
    CHECK(kn_chunk_text(text, strlen(text), &p, &c, &n, &err) == HEARTH_ERR_INVALID);
}

TEST(chunk_markdown_headings)
{
    const char *md = "intro words\n"
                     "# Setup\n"
                     "setup text\n"
                     "## Linux\n"
                     "linux text\n"
                     "```\n"
                     "# not a heading\n"
                     "```\n"
                     "## macOS ##\n"
                     "mac text\n"
                     "# Usage\n"
                     "usage text\n";
    kn_chunk_params p = { .max_tokens = 100, .overlap = 0, .markdown = true,
                          .count = one_per_word };
    kn_chunk *c;
    size_t n;
    REQUIRE(kn_chunk_text(md, strlen(md), &p, &c, &n, NULL) == HEARTH_OK);
    REQUIRE(n == 5);
    CHECK(c[0].heading == NULL);
    CHECK_STR(c[1].heading, "Setup");
    CHECK_STR(c[2].heading, "Setup > Linux");
    CHECK_STR(c[3].heading, "Setup > macOS");
    CHECK_STR(c[4].heading, "Usage");
    CHECK_EQ(c[2].line_start, 4);
    CHECK_EQ(c[2].line_end, 8); /* the fence belongs to the Linux section */
    CHECK(memcmp(md + c[4].start, "# Usage", 7) == 0);
    kn_chunks_free(c, n);
}

TEST(chunk_never_splits_utf8)
{
    /* one 600-byte "word" of 2-, 3- and 4-byte characters, about 150 tokens by estimate */
    char text[700] = "";
    const char *chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
    size_t len = 0;
    for (int i = 0; len < 600; i++) {
        const char *ch = chars[i % 3];
        memcpy(text + len, ch, strlen(ch));
        len += strlen(ch);
    }
    kn_chunk_params p = { .max_tokens = 7, .overlap = 2 };
    kn_chunk *c;
    size_t n;
    REQUIRE(kn_chunk_text(text, len, &p, &c, &n, NULL) == HEARTH_OK);
    CHECK(n > 10);
    size_t covered = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(utf8_valid(text + c[i].start, c[i].end - c[i].start));
        CHECK(c[i].start <= covered); /* no gap between chunks */
        if (c[i].end > covered)
            covered = c[i].end;
    }
    CHECK_EQ(covered, len);
    kn_chunks_free(c, n);
}

TEST(chunk_out_of_memory_is_an_error)
{
    const char *md = "# A\n\nsome words here\n\n## B\n\nmore words and more words\n";
    kn_chunk_params p = { .max_tokens = 3, .overlap = 1, .markdown = true,
                          .count = one_per_word };
    bool saw_nomem = false, saw_ok = false;
    for (long k = 0; k < 64 && !saw_ok; k++) {
        kn_chunk *c = NULL;
        size_t n = 0;
        mem_fail_after(k);
        hearth_status st = kn_chunk_text(md, strlen(md), &p, &c, &n, NULL);
        mem_fail_after(-1);
        CHECK(st == HEARTH_OK || st == HEARTH_ERR_NOMEM);
        saw_nomem |= st == HEARTH_ERR_NOMEM;
        saw_ok |= st == HEARTH_OK;
        kn_chunks_free(c, n);
    }
    CHECK(saw_nomem && saw_ok);
}
