/*
 * spm.c — the SentencePiece-style tokenizer of the "llama" vocabularies (Llama 2,
 * Mistral, TinyLlama, Phi-3).
 *
 * How it works: spaces become "▁" (U+2581), and a "▁" is put in front of text that
 * starts the input or follows a special token (add_space_prefix). The text is cut into
 * UTF-8 characters; every adjacent pair whose concatenation is a token goes into a heap
 * ordered by that token's score (higher first, leftmost on ties). Popping the best pair
 * merges it — if both halves are still what they were when the pair was queued — and
 * queues the new pairs it forms with its neighbours. A byte that is not part of valid
 * UTF-8 is a symbol of its own (llama.cpp would glue it to the bytes after it, even to
 * an escaped space), so invalid input still round-trips exactly through byte tokens. When nothing merges any more, each
 * remaining piece is a token, or (a character the vocabulary lacks) its bytes as <0xXX>
 * byte tokens. The doubly linked symbol list and the heap make this O(n log n).
 */
#include "tokenize/vocab.h"

#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

struct sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the escaped text; n = 0 once merged into the left */
};

struct spm {
    const tok_vocab *v;
    char *text; /* escaped */
    struct sym *sym;
    struct tok_heap heap;
};

/* "▁" + text with every ' ' replaced by "▁". */
static char *escape(const char *text, size_t len, bool prefix, size_t *out_len)
{
    size_t spaces = prefix;
    for (size_t i = 0; i < len; i++)
        spaces += text[i] == ' ';
    if (len > (SIZE_MAX - 3) / 3)
        return NULL;
    char *buf = mem_alloc(len + 2 * spaces + 4);
    if (!buf)
        return NULL;
    size_t k = 0;
    if (prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            buf[k++] = text[i];
        }
    }
    *out_len = k;
    return buf;
}

static hearth_status try_pair(struct spm *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return HEARTH_OK;
    uint32_t n = s->sym[left].n + s->sym[right].n;
    tok_id id = tok_find(s->v, s->text + s->sym[left].off, n);
    if (id == TOK_NONE)
        return HEARTH_OK;
    struct tok_cand c = { -(double)s->v->score[id], left, right, (int32_t)n, 0 };
    return tok_heap_push(&s->heap, c);
}

static hearth_status merge_all(struct spm *s)
{
    while (s->heap.n > 0) {
        struct tok_cand c = tok_heap_pop(&s->heap);
        struct sym *l = &s->sym[c.left], *r = &s->sym[c.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != (uint32_t)c.a)
            continue; /* stale: one side changed since the pair was queued */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = c.left;
        hearth_status st;
        if ((st = try_pair(s, l->prev, c.left)) != HEARTH_OK ||
            (st = try_pair(s, c.left, l->next)) != HEARTH_OK)
            return st;
    }
    return HEARTH_OK;
}

static hearth_status emit(const struct spm *s, tok_ids *out)
{
    const tok_vocab *v = s->v;
    for (int32_t i = 0; i >= 0; i = s->sym[i].next) {
        const struct sym *y = &s->sym[i];
        tok_id id = tok_find(v, s->text + y->off, y->n);
        if (id != TOK_NONE) {
            if (tok_ids_push(out, id) != HEARTH_OK)
                return HEARTH_ERR_NOMEM;
            continue;
        }
        for (uint32_t k = 0; k < y->n; k++) {
            tok_id b = v->byte_sym[(unsigned char)s->text[y->off + k]];
            if (b == TOK_NONE)
                b = v->sp.unk; /* a vocabulary without byte tokens */
            if (b != TOK_NONE && tok_ids_push(out, b) != HEARTH_OK)
                return HEARTH_ERR_NOMEM;
        }
    }
    return HEARTH_OK;
}

hearth_status tok_spm_encode(const tok_vocab *v, const char *text, size_t len,
                             bool prefix_space, tok_ids *out)
{
    struct spm s = { v, NULL, NULL, { 0 } };
    size_t n_bytes;
    s.text = escape(text, len, prefix_space && v->add_space_prefix, &n_bytes);
    if (!s.text)
        return HEARTH_ERR_NOMEM;
    if (n_bytes == 0 || n_bytes > UINT32_MAX) {
        mem_free(s.text);
        return n_bytes == 0 ? HEARTH_OK : HEARTH_ERR_NOMEM;
    }
    s.sym = mem_calloc(n_bytes, sizeof *s.sym);
    hearth_status st = s.sym ? HEARTH_OK : HEARTH_ERR_NOMEM;
    int32_t n_sym = 0;
    for (size_t off = 0; st == HEARTH_OK && off < n_bytes; n_sym++) {
        uint32_t cp;
        int k = utf8_decode(s.text + off, n_bytes - off, &cp);
        size_t n = k > 0 ? (size_t)k : 1;
        s.sym[n_sym] = (struct sym){ n_sym - 1, off + n < n_bytes ? n_sym + 1 : -1,
                                     (uint32_t)off, (uint32_t)n };
        off += n;
    }
    for (int32_t i = 1; st == HEARTH_OK && i < n_sym; i++)
        st = try_pair(&s, i - 1, i);
    if (st == HEARTH_OK)
        st = merge_all(&s);
    if (st == HEARTH_OK)
        st = emit(&s, out);
    tok_heap_free(&s.heap);
    mem_free(s.sym);
    mem_free(s.text);
    return st;
}
