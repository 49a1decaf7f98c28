/*
 * rag.c — the retrieval-augmented prompt and citation parsing (see rag.h).
 */
#include "knowledge/rag.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"

static const char system_prompt[] =
    "You answer questions using only the numbered sources you are given from the user's "
    "own files. After each statement, cite the sources that support it by number in square "
    "brackets, like [1] or [2][3]. If the sources do not contain the answer, say that the "
    "knowledge base has nothing on it; do not answer from memory.";

static const char no_sources[] =
    "Sources: none. Nothing in the knowledge base matches this question, so tell the user "
    "that the knowledge base has nothing on it.\n\n";

typedef struct buf {
    char *s;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = mem_realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

void kn_rag_location(const kn_chunk_info *c, char *out, size_t cap)
{
    if (c->line_end > c->line_start)
        snprintf(out, cap, "%s:%d-%d", c->path, c->line_start, c->line_end);
    else
        snprintf(out, cap, "%s:%d", c->path, c->line_start);
}

hearth_status kn_rag_prompt(const kn_result *src, int n, const char *question, int max_chars,
                            char **system, char **user, hearth_error *err)
{
    *system = *user = NULL;
    buf b = { 0 };
    if (n == 0)
        puts_(&b, no_sources);
    else
        puts_(&b, "Sources:\n\n");
    for (int i = 0; i < n; i++) {
        const kn_chunk_info *c = &src[i].chunk;
        char head[4200];
        char loc[4096];
        kn_rag_location(c, loc, sizeof loc);
        snprintf(head, sizeof head, "[%d] %s%s%s\n", i + 1, loc, c->heading ? " — " : "",
                 c->heading ? c->heading : "");
        puts_(&b, head);
        size_t len = strlen(c->text);
        if (max_chars > 0 && len > (size_t)max_chars) {
            len = (size_t)max_chars;
            while (len > 0 && ((unsigned char)c->text[len] & 0xC0) == 0x80)
                len--;
        }
        put(&b, c->text, len);
        puts_(&b, len < strlen(c->text) ? " …\n\n" : "\n\n");
    }
    puts_(&b, "Question: ");
    puts_(&b, question);
    *system = mem_strdup(system_prompt);
    if (b.oom || !b.s || !*system) {
        mem_free(b.s);
        mem_free(*system);
        *system = NULL;
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory building the prompt");
    }
    *user = b.s;
    return HEARTH_OK;
}

int kn_rag_cited(const char *answer, int n, bool *cited)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        cited[i] = false;
    for (const char *p = strchr(answer, '['); p; p = strchr(p + 1, '[')) {
        /* [1] or [1, 2, 3]: digits separated by commas and spaces, closed by ']' */
        const char *q = p + 1;
        int nums[32], k = 0;
        bool ok = true;
        while (ok) {
            while (*q == ' ')
                q++;
            long v = 0;
            int digits = 0;
            while (*q >= '0' && *q <= '9' && digits < 6)
                v = v * 10 + (*q++ - '0'), digits++;
            if (!digits) {
                ok = false;
                break;
            }
            if (k < 32)
                nums[k++] = (int)v;
            while (*q == ' ')
                q++;
            if (*q == ']')
                break;
            if (*q++ != ',')
                ok = false;
        }
        for (int i = 0; ok && i < k; i++)
            if (nums[i] >= 1 && nums[i] <= n && !cited[nums[i] - 1]) {
                cited[nums[i] - 1] = true;
                count++;
            }
    }
    return count;
}
