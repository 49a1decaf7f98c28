/*
 * chunk.c — token-counted, overlapping chunks with Markdown sections (see chunk.h).
 *
 * Work per section: list its words with their token counts, then walk them greedily: a
 * chunk takes words while they fit in max_tokens, and the next chunk starts as far back as
 * `overlap` tokens allow (always at least one word further on, so the walk ends). Token
 * counts of words add up to the count of the whole text for WordPiece, which splits on
 * white space first; for other tokenizers the sum is a close upper bound.
 */
#include "knowledge/chunk.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"

typedef struct word {
    size_t s, e;
    size_t tok;
} word;

typedef struct chunker {
    const char *text;
    size_t len;
    const kn_chunk_params *p;
    size_t *nl;             /* offsets of '\n' bytes */
    size_t n_nl;
    word *w;
    size_t n_w, cap_w;
    kn_chunk *c;
    size_t n_c, cap_c;
    char *stack[6];         /* current Markdown heading titles by level */
} chunker;

kn_chunk_params kn_chunk_default_params(void)
{
    return (kn_chunk_params){ .max_tokens = 256, .overlap = 32, .markdown = false };
}

static size_t count(const chunker *k, size_t s, size_t e)
{
    if (k->p->count)
        return k->p->count(k->p->user, k->text + s, e - s);
    return (e - s + 3) / 4;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* 1-based line of byte offset off. */
static int line_of(const chunker *k, size_t off)
{
    size_t lo = 0, hi = k->n_nl; /* number of newlines before off */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k->nl[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)lo + 1;
}

static bool push_word(chunker *k, size_t s, size_t e, size_t tok)
{
    if (k->n_w == k->cap_w) {
        size_t cap = k->cap_w ? k->cap_w * 2 : 256;
        word *w = mem_realloc_array(k->w, cap, sizeof *w);
        if (!w)
            return false;
        k->w = w;
        k->cap_w = cap;
    }
    k->w[k->n_w++] = (word){ s, e, tok };
    return true;
}

/* The nearest UTF-8 character start at or before off (but after s). */
static size_t char_boundary(const char *t, size_t s, size_t off)
{
    while (off > s + 1 && ((unsigned char)t[off] & 0xC0) == 0x80)
        off--;
    return off;
}

/* Add word [s, e), halving it at character boundaries while it is over the limit. */
static bool add_word(chunker *k, size_t s, size_t e)
{
    size_t tok = count(k, s, e);
    if (tok <= (size_t)k->p->max_tokens || e - s < 2)
        return push_word(k, s, e, tok ? tok : 1);
    size_t mid = char_boundary(k->text, s, s + (e - s) / 2);
    if (mid <= s || mid >= e) /* one character: cannot cut */
        return push_word(k, s, e, tok);
    return add_word(k, s, mid) && add_word(k, mid, e);
}

static char *heading_path(chunker *k)
{
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        if (k->stack[i])
            n += strlen(k->stack[i]) + 3;
    if (!n)
        return NULL;
    char *s = mem_alloc(n + 1);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < 6; i++)
        if (k->stack[i]) {
            if (s[0])
                strcat(s, " > ");
            strcat(s, k->stack[i]);
        }
    return s;
}

static bool push_chunk(chunker *k, size_t s, size_t e)
{
    if (k->n_c == k->cap_c) {
        size_t cap = k->cap_c ? k->cap_c * 2 : 16;
        kn_chunk *c = mem_realloc_array(k->c, cap, sizeof *c);
        if (!c)
            return false;
        k->c = c;
        k->cap_c = cap;
    }
    kn_chunk *c = &k->c[k->n_c];
    *c = (kn_chunk){ .start = s, .end = e, .line_start = line_of(k, s),
                     .line_end = line_of(k, e - 1) };
    bool has_heading = false;
    for (int i = 0; i < 6; i++)
        has_heading |= k->stack[i] != NULL;
    if (has_heading && !(c->heading = heading_path(k)))
        return false;
    k->n_c++;
    return true;
}

/* Chunk the section [s, e). */
static bool chunk_section(chunker *k, size_t s, size_t e)
{
    k->n_w = 0;
    for (size_t i = s; i < e;) {
        while (i < e && is_space(k->text[i]))
            i++;
        size_t j = i;
        while (j < e && !is_space(k->text[j]))
            j++;
        if (j > i && !add_word(k, i, j))
            return false;
        i = j;
    }
    size_t max = (size_t)k->p->max_tokens, ov = (size_t)k->p->overlap;
    for (size_t i = 0; i < k->n_w;) {
        size_t j = i, acc = 0;
        while (j < k->n_w && (j == i || acc + k->w[j].tok <= max))
            acc += k->w[j++].tok;
        if (!push_chunk(k, k->w[i].s, k->w[j - 1].e))
            return false;
        if (j == k->n_w)
            break;
        size_t next = j, back = 0;
        while (next - 1 > i && back + k->w[next - 1].tok <= ov)
            back += k->w[--next].tok;
        i = next;
    }
    return true;
}

/* Is the line [s, e) a Markdown heading? Sets its level and title range. */
static bool md_heading(const char *t, size_t s, size_t e, int *level, size_t *ts, size_t *te)
{
    size_t i = s;
    for (int sp = 0; sp < 3 && i < e && t[i] == ' '; sp++)
        i++;
    int n = 0;
    while (i < e && t[i] == '#' && n < 7)
        i++, n++;
    if (n < 1 || n > 6 || (i < e && t[i] != ' ' && t[i] != '\t'))
        return false;
    while (i < e && (t[i] == ' ' || t[i] == '\t'))
        i++;
    while (e > i && is_space(t[e - 1]))
        e--;
    while (e > i && t[e - 1] == '#')
        e--;
    while (e > i && is_space(t[e - 1]))
        e--;
    *level = n;
    *ts = i;
    *te = e;
    return true;
}

static bool md_fence(const char *t, size_t s, size_t e)
{
    while (s < e && t[s] == ' ')
        s++;
    return e - s >= 3 && (memcmp(t + s, "```", 3) == 0 || memcmp(t + s, "~~~", 3) == 0);
}

/* Split at headings and chunk each section. */
static bool chunk_markdown(chunker *k)
{
    size_t sec = 0;
    bool fence = false;
    for (size_t ls = 0; ls < k->len;) {
        const char *nl = memchr(k->text + ls, '\n', k->len - ls);
        size_t le = nl ? (size_t)(nl - k->text) : k->len;
        int level;
        size_t ts, te;
        if (md_fence(k->text, ls, le)) {
            fence = !fence;
        } else if (!fence && md_heading(k->text, ls, le, &level, &ts, &te)) {
            if (!chunk_section(k, sec, ls))
                return false;
            sec = ls;
            for (int i = level - 1; i < 6; i++) {
                mem_free(k->stack[i]);
                k->stack[i] = NULL;
            }
            if (te > ts && !(k->stack[level - 1] = mem_strndup(k->text + ts, te - ts)))
                return false;
        }
        ls = le + 1;
    }
    return chunk_section(k, sec, k->len);
}

hearth_status kn_chunk_text(const char *text, size_t len, const kn_chunk_params *p,
                            kn_chunk **out, size_t *n, hearth_error *err)
{
    *out = NULL;
    *n = 0;
    if (p->max_tokens <= 0 || p->overlap < 0 || p->overlap > p->max_tokens / 2)
        return err_set(err, HEARTH_ERR_INVALID, "chunk size %d with overlap %d: the size must "
                       "be positive and the overlap at most half of it", p->max_tokens,
                       p->overlap);
    chunker k = { .text = text, .len = len, .p = p };
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++)
        if (text[i] == '\n') {
            if (k.n_nl % 1024 == 0) {
                size_t *nl = mem_realloc_array(k.nl, k.n_nl + 1024, sizeof *nl);
                ok = nl != NULL;
                if (nl)
                    k.nl = nl;
            }
            if (ok)
                k.nl[k.n_nl++] = i;
        }
    if (ok)
        ok = p->markdown ? chunk_markdown(&k) : chunk_section(&k, 0, len);
    for (int i = 0; i < 6; i++)
        mem_free(k.stack[i]);
    mem_free(k.nl);
    mem_free(k.w);
    if (!ok) {
        kn_chunks_free(k.c, k.n_c);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory chunking %zu bytes", len);
    }
    *out = k.c;
    *n = k.n_c;
    return HEARTH_OK;
}

void kn_chunks_free(kn_chunk *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        mem_free(c[i].heading);
    mem_free(c);
}
