/*
 * fuzz_grammar.c — libFuzzer target for the GBNF parser, the JSON Schema converter and
 * the matcher.
 *
 * The first byte picks what the rest is: even, a GBNF grammar; odd, a JSON Schema. The
 * input up to the first NUL byte is the grammar or schema; what follows is text fed to
 * the matcher of whatever parsed, whole and then byte by byte, so the sanitizers see the
 * parser's checks and the matcher's stacks on hostile grammars.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/mem.h"
#include "generate/json_schema.h"

static volatile int sink;

static void feed(const grm_grammar *g, const char *text, size_t len)
{
    grm_matcher *m;
    if (grm_matcher_new(&m, g, NULL, NULL) != HEARTH_OK)
        return;
    sink += grm_accept_bytes(m, text, len, NULL) == HEARTH_OK && grm_accepting(m);
    grm_matcher_reset(m);
    for (size_t i = 0; i < len; i++)
        if (grm_accept_bytes(m, text + i, 1, NULL) != HEARTH_OK)
            break;
    sink += grm_finished(m);
    grm_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *src = (const char *)data + 1;
    size_t n = size - 1;
    const char *nul = memchr(src, '\0', n);
    size_t glen = nul ? (size_t)(nul - src) : n;
    const char *text = nul ? nul + 1 : "";
    size_t tlen = nul ? n - glen - 1 : 0;
    grm_grammar *g = NULL;
    if (data[0] & 1) {
        char *gbnf;
        if (jsch_to_gbnf(src, glen, "fuzz", &gbnf, NULL) != HEARTH_OK)
            return 0;
        grm_parse(&g, gbnf, strlen(gbnf), "fuzz", NULL);
        mem_free(gbnf);
    } else {
        grm_parse(&g, src, glen, "fuzz", NULL);
    }
    if (g)
        feed(g, text, tlen);
    grm_free(g);
    return 0;
}
