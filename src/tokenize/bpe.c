/*
 * bpe.c — byte-level BPE (tokenizer.ggml.model "gpt2"): pre-tokenizers and merging.
 *
 * Pre-tokenizing. Each model family splits text into words with regular expressions
 * over Unicode categories; we implement the ones llama.cpp uses as hand-written
 * matchers over code points (no regex library). A pre-tokenizer is a list of stages;
 * each stage splits every current segment further, keeping both what its pattern
 * matches and the gaps between matches (the semantics of llama.cpp's
 * unicode_regex_split). The patterns, per tokenizer.ggml.pre:
 *
 *   gpt-2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama-bpe  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2      the same with \p{N} (single digits) in place of \p{N}{1,3}
 *   smollm     \p{N}, then the gpt-2 pattern
 *   deepseek-coder  [\r\n], then \s?\p{L}+, then \s?\p{P}+, then [一-龥ࠀ-一가-퟿]+, then \p{N}
 *   default    [\p{P}\$\+<=>\^~\|]+, then gpt-2, then \p{N}+, then [0-9][0-9][0-9]
 *
 * \s is the Unicode White_Space property. The two big alternations are matched the way
 * a backtracking engine would (first alternative that matches wins), written out as
 * one function each (gpt2_match, llama3_match).
 *
 * Merging. A word's UTF-8 bytes are mapped to printable characters (tok_bpe_byte_to_cp),
 * one symbol per byte. Adjacent pairs that form a merge go into a heap by merge rank
 * (lowest first, leftmost on ties); popping a pair whose halves are unchanged merges it
 * and queues the new neighbouring pairs, so a word of n bytes costs O(n log n) — a
 * 100 KB word without spaces is fine. Llama 3 first looks the whole word up as a token
 * (ignore_merges). Invalid UTF-8 reaches the merger as U+FFFD, as in llama.cpp.
 */
#include "tokenize/vocab.h"

#include "base/mem.h"
#include "base/utf8.h"
#include "tokenize/unicode.h"

/* ---- the byte <-> character mapping ------------------------------------------------- */

static bool printable_byte(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_bpe_byte_to_cp(unsigned char b)
{
    if (printable_byte(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;        /* 0x00..0x20 -> U+0100..U+0120 */
    if (b <= 0xA0)
        return 0x121 + (b - 0x7F); /* 0x7F..0xA0 -> U+0121..U+0142 */
    return 0x143;                  /* 0xAD */
}

int tok_bpe_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return printable_byte(cp) ? (int)cp : -1;
    if (cp <= 0x120)
        return (int)(cp - 0x100);
    if (cp <= 0x142)
        return (int)(cp - 0x121 + 0x7F);
    return cp == 0x143 ? 0xAD : -1;
}

/* ---- text as code points with category flags ---------------------------------------- */

#define F_IN 0x80u /* set on every code point, so 0 means "outside the segment" */

struct text {
    uint32_t *cp;
    uint8_t *fl;
    size_t n;
};

static bool is_l(unsigned f) { return (f & UNI_F_CAT_MASK) == UNI_LETTER; }
static bool is_n(unsigned f) { return (f & UNI_F_CAT_MASK) == UNI_NUMBER; }
static bool is_p(unsigned f) { return (f & UNI_F_CAT_MASK) == UNI_PUNCT; }
static bool is_ws(unsigned f) { return (f & UNI_F_SPACE) != 0; }
/* [^\s\p{L}\p{N}] inside the segment */
static bool is_other(unsigned f) { return (f & F_IN) && !is_ws(f) && !is_l(f) && !is_n(f); }

static unsigned fl_at(const struct text *t, size_t i, size_t end)
{
    return i < end ? t->fl[i] : 0;
}

static hearth_status decode_text(struct text *t, const char *s, size_t len)
{
    t->cp = mem_alloc((len ? len : 1) * sizeof *t->cp);
    t->fl = mem_alloc(len ? len : 1);
    if (!t->cp || !t->fl)
        return HEARTH_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (k <= 0) { /* invalid or truncated: one byte becomes U+FFFD */
            cp = UTF8_REPLACEMENT;
            k = 1;
        }
        t->cp[n] = cp;
        t->fl[n] = (uint8_t)(uni_flags(cp) | F_IN);
        n++;
        i += (size_t)k;
    }
    t->n = n;
    return HEARTH_OK;
}

/* ---- the matchers ------------------------------------------------------------------- */

/* Length of 's|'t|'re|'ve|'m|'ll|'d at pos (case-folded when fold), or 0. */
static size_t contraction(const struct text *t, size_t pos, size_t end, bool fold)
{
    if (t->cp[pos] != '\'' || pos + 1 >= end)
        return 0;
    uint32_t a = fold ? uni_tolower(t->cp[pos + 1]) : t->cp[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 >= end)
        return 0;
    uint32_t b = fold ? uni_tolower(t->cp[pos + 2]) : t->cp[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* Number of white-space code points from pos; *last_nl gets the length up to and
 * including the last \r or \n among them (0 if none). */
static size_t spaces(const struct text *t, size_t pos, size_t end, size_t *last_nl)
{
    size_t n = 0;
    *last_nl = 0;
    while (is_ws(fl_at(t, pos + n, end))) {
        if (t->cp[pos + n] == '\r' || t->cp[pos + n] == '\n')
            *last_nl = n + 1;
        n++;
    }
    return n;
}

/* \s+(?!\S)|\s+ given a run of n spaces: leave the last space to the word after it. */
static size_t space_run(size_t pos, size_t n, size_t end)
{
    if (n > 1 && pos + n < end)
        return n - 1;
    return n ? n : 1; /* nothing matched: the code point stands alone */
}

/* The GPT-2 pattern at pos: always >= 1 (an unmatched code point is a piece of its own). */
static size_t gpt2_match(const struct text *t, size_t pos, size_t end)
{
    size_t k = contraction(t, pos, end, false);
    if (k)
        return k;
    bool sp = t->cp[pos] == ' ';
    unsigned f2 = sp ? fl_at(t, pos + 1, end) : t->fl[pos];
    size_t p = pos + sp;
    if (is_l(f2)) {
        while (is_l(fl_at(t, p, end)))
            p++;
        return p - pos;
    }
    if (is_n(f2)) {
        while (is_n(fl_at(t, p, end)))
            p++;
        return p - pos;
    }
    if (is_other(f2)) {
        while (is_other(fl_at(t, p, end)))
            p++;
        return p - pos;
    }
    size_t nl;
    return space_run(pos, spaces(t, pos, end, &nl), end);
}

/* The Llama 3 pattern at pos, numbers in runs of at most max_digits; always >= 1. */
static size_t llama3_match(const struct text *t, size_t pos, size_t end, size_t max_digits)
{
    size_t k = contraction(t, pos, end, true);
    if (k)
        return k;
    uint32_t c = t->cp[pos];
    unsigned f = t->fl[pos];
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c != '\r' && c != '\n' && !is_n(f) && (is_l(f) || is_l(fl_at(t, pos + 1, end)))) {
        size_t p = pos + 1;
        while (is_l(fl_at(t, p, end)))
            p++;
        return p - pos;
    }
    /* \p{N}{1,max} */
    if (is_n(f)) {
        size_t p = pos;
        while (p - pos < max_digits && is_n(fl_at(t, p, end)))
            p++;
        return p - pos;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    bool sp = c == ' ';
    unsigned f2 = sp ? fl_at(t, pos + 1, end) : f;
    if (!is_ws(f2) && !is_l(f2) && !is_n(f2)) {
        size_t p = pos + sp;
        while (is_other(fl_at(t, p, end)))
            p++;
        while (p < end && (t->cp[p] == '\r' || t->cp[p] == '\n'))
            p++;
        return p - pos;
    }
    /* \s*[\r\n]+|\s+(?!\S)|\s+ */
    size_t nl, n = spaces(t, pos, end, &nl);
    return nl ? nl : space_run(pos, n, end);
}

/* Patterns that may fail to match at a position (0 = no match there). */
static size_t m_newline(const struct text *t, size_t pos, size_t end)
{
    (void)end;
    return t->cp[pos] == '\r' || t->cp[pos] == '\n';
}

static size_t m_digit(const struct text *t, size_t pos, size_t end)
{
    (void)end;
    return is_n(t->fl[pos]);
}

static size_t m_digits(const struct text *t, size_t pos, size_t end)
{
    size_t p = pos;
    while (is_n(fl_at(t, p, end)))
        p++;
    return p - pos;
}

static size_t m_ascii_digits3(const struct text *t, size_t pos, size_t end)
{
    if (end - pos < 3)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (t->cp[pos + i] < '0' || t->cp[pos + i] > '9')
            return 0;
    return 3;
}

/* \s?X+ for a class X given as a predicate on flags. */
static size_t space_then_run(const struct text *t, size_t pos, size_t end,
                             bool (*in)(unsigned))
{
    size_t p = pos;
    if (is_ws(t->fl[pos]) && in(fl_at(t, pos + 1, end)))
        p++;
    size_t q = p;
    while (in(fl_at(t, q, end)))
        q++;
    return q > p ? q - pos : 0;
}

static size_t m_space_letters(const struct text *t, size_t pos, size_t end)
{
    return space_then_run(t, pos, end, is_l);
}

static size_t m_space_punct(const struct text *t, size_t pos, size_t end)
{
    return space_then_run(t, pos, end, is_p);
}

/* [一-龥ࠀ-一가-퟿]+ : U+4E00..U+9FA5, U+0800..U+4E00, U+AC00..U+D7FF */
static bool deepseek_cjk(uint32_t c)
{
    return (c >= 0x0800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF);
}

static size_t m_cjk(const struct text *t, size_t pos, size_t end)
{
    size_t p = pos;
    while (p < end && deepseek_cjk(t->cp[p]))
        p++;
    return p - pos;
}

/* [\p{P}\$\+<=>\^~\|]+ */
static bool default_punct(const struct text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return is_p(t->fl[i]) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
           c == '^' || c == '~' || c == '|';
}

static size_t m_punct_run(const struct text *t, size_t pos, size_t end)
{
    size_t p = pos;
    while (p < end && default_punct(t, p))
        p++;
    return p - pos;
}

/* ---- stages ------------------------------------------------------------------------- */

enum stage_kind { SEARCH, COVER_GPT2, COVER_LLAMA3, COVER_QWEN2 };

struct stage {
    enum stage_kind kind;
    size_t (*match)(const struct text *t, size_t pos, size_t end); /* SEARCH */
};

struct segs {
    size_t *len;
    size_t n;
};

static void seg_add(struct segs *s, size_t len)
{
    if (len)
        s->len[s->n++] = len;
}

/* Split [start, end) by one stage into out. */
static void split(const struct stage *st, const struct text *t, size_t start, size_t end,
                  struct segs *out)
{
    size_t gap = start;
    for (size_t pos = start; pos < end;) {
        size_t m;
        switch (st->kind) {
        case COVER_GPT2: m = gpt2_match(t, pos, end); break;
        case COVER_LLAMA3: m = llama3_match(t, pos, end, 3); break;
        case COVER_QWEN2: m = llama3_match(t, pos, end, 1); break;
        default: m = st->match(t, pos, end); break;
        }
        if (m == 0) {
            pos++;
            continue;
        }
        seg_add(out, pos - gap);
        seg_add(out, m);
        pos += m;
        gap = pos;
    }
    seg_add(out, end - gap);
}

static const struct stage st_gpt2 = { COVER_GPT2, NULL };

/* The stages of each pre-tokenizer; *n receives their number. */
static const struct stage *stages_of(enum tok_pre pre, size_t *n)
{
    static const struct stage deflt[] = {
        { SEARCH, m_punct_run }, { COVER_GPT2, NULL }, { SEARCH, m_digits },
        { SEARCH, m_ascii_digits3 },
    };
    static const struct stage llama3[] = { { COVER_LLAMA3, NULL } };
    static const struct stage qwen2[] = { { COVER_QWEN2, NULL } };
    static const struct stage deepseek[] = {
        { SEARCH, m_newline }, { SEARCH, m_space_letters }, { SEARCH, m_space_punct },
        { SEARCH, m_cjk },     { SEARCH, m_digit },
    };
    static const struct stage smollm[] = { { SEARCH, m_digit }, { COVER_GPT2, NULL } };
    switch (pre) {
    case TOK_PRE_GPT2: *n = 1; return &st_gpt2;
    case TOK_PRE_LLAMA3: *n = 1; return llama3;
    case TOK_PRE_QWEN2: *n = 1; return qwen2;
    case TOK_PRE_DEEPSEEK_CODER: *n = 5; return deepseek;
    case TOK_PRE_SMOLLM: *n = 2; return smollm;
    case TOK_PRE_DEFAULT: break;
    }
    *n = 4;
    return deflt;
}

/* Pre-tokenize t into word lengths (in code points) in *out (t->n entries allocated). */
static hearth_status pretokenize(const tok_vocab *v, const struct text *t, struct segs *out)
{
    struct segs a = { mem_alloc(t->n * sizeof(size_t)), 0 };
    struct segs b = { mem_alloc(t->n * sizeof(size_t)), 0 };
    if (!a.len || !b.len) {
        mem_free(a.len);
        mem_free(b.len);
        return HEARTH_ERR_NOMEM;
    }
    seg_add(&a, t->n);
    size_t n_stages;
    const struct stage *st = stages_of(v->pre, &n_stages);
    for (size_t s = 0; s < n_stages; s++) {
        b.n = 0;
        size_t start = 0;
        for (size_t i = 0; i < a.n; i++) {
            split(&st[s], t, start, start + a.len[i], &b);
            start += a.len[i];
        }
        struct segs tmp = a;
        a = b;
        b = tmp;
    }
    mem_free(b.len);
    *out = a;
    return HEARTH_OK;
}

/* ---- merging ------------------------------------------------------------------------ */

struct bsym {
    int32_t s;          /* interned string id, or -1 */
    int32_t prev, next; /* positions in the word */
    uint32_t n;         /* bytes covered; 0 once merged into the left neighbour */
};

struct merger {
    const tok_vocab *v;
    unsigned char *bytes; /* the current word */
    char *mapped;         /* its bytes as printable characters (ignore_merges lookup) */
    struct bsym *sym;
    struct tok_heap heap;
};

static hearth_status queue_pair(struct merger *m, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return HEARTH_OK;
    const struct tok_merge *mg = tok_merge_find(m->v, m->sym[l].s, m->sym[r].s);
    if (!mg)
        return HEARTH_OK;
    struct tok_cand c = { (double)mg->rank, l, r, m->sym[l].s, m->sym[r].s };
    return tok_heap_push(&m->heap, c);
}

static hearth_status emit_word(struct merger *m, size_t n, tok_ids *out)
{
    const tok_vocab *v = m->v;
    for (int32_t i = 0; i >= 0; i = m->sym[i].next) {
        const struct bsym *y = &m->sym[i];
        if (y->s >= 0 && (uint32_t)y->s < v->n_tokens) {
            if (tok_ids_push(out, y->s) != HEARTH_OK)
                return HEARTH_ERR_NOMEM;
            continue;
        }
        /* A piece that is not a token (only a broken vocabulary produces one): emit
         * the byte tokens it covers, skipping bytes that have none. */
        for (uint32_t k = 0; k < y->n && (size_t)i + k < n; k++) {
            int32_t b = v->byte_sym[m->bytes[i + k]];
            if (b >= 0 && (uint32_t)b < v->n_tokens && tok_ids_push(out, b) != HEARTH_OK)
                return HEARTH_ERR_NOMEM;
        }
    }
    return HEARTH_OK;
}

/* Merge one word of n bytes (m->bytes) and append its tokens. */
static hearth_status merge_word(struct merger *m, size_t n, tok_ids *out)
{
    const tok_vocab *v = m->v;
    if (v->ignore_merges) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            k += utf8_encode(tok_bpe_byte_to_cp(m->bytes[i]), m->mapped + k);
        tok_id id = tok_find(v, m->mapped, k);
        if (id != TOK_NONE)
            return tok_ids_push(out, id);
    }
    for (size_t i = 0; i < n; i++)
        m->sym[i] = (struct bsym){ v->byte_sym[m->bytes[i]], (int32_t)i - 1,
                                   i + 1 < n ? (int32_t)i + 1 : -1, 1 };
    m->heap.n = 0;
    hearth_status st = HEARTH_OK;
    for (size_t i = 1; st == HEARTH_OK && i < n; i++)
        st = queue_pair(m, (int32_t)i - 1, (int32_t)i);
    while (st == HEARTH_OK && m->heap.n > 0) {
        struct tok_cand c = tok_heap_pop(&m->heap);
        struct bsym *l = &m->sym[c.left], *r = &m->sym[c.right];
        if (l->n == 0 || r->n == 0 || l->s != c.a || r->s != c.b)
            continue; /* stale */
        l->s = tok_merge_find(v, c.a, c.b)->result;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            m->sym[r->next].prev = c.left;
        st = queue_pair(m, l->prev, c.left);
        if (st == HEARTH_OK)
            st = queue_pair(m, c.left, l->next);
    }
    return st == HEARTH_OK ? emit_word(m, n, out) : st;
}

hearth_status tok_bpe_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out)
{
    if (len == 0)
        return HEARTH_OK;
    if (len > SIZE_MAX / 16)
        return HEARTH_ERR_NOMEM;
    struct text t = { 0 };
    struct segs words = { 0 };
    struct merger m = { v, NULL, NULL, NULL, { 0 } };
    hearth_status st = decode_text(&t, text, len);
    if (st == HEARTH_OK)
        st = pretokenize(v, &t, &words);
    /* a word's bytes: at most 4 per code point (invalid input grows to U+FFFD) */
    size_t max_bytes = t.n * 4;
    if (st == HEARTH_OK) {
        m.bytes = mem_alloc(max_bytes);
        m.mapped = mem_alloc(max_bytes * 2);
        m.sym = mem_alloc(max_bytes * sizeof *m.sym);
        if (!m.bytes || !m.mapped || !m.sym)
            st = HEARTH_ERR_NOMEM;
    }
    size_t start = 0;
    for (size_t w = 0; st == HEARTH_OK && w < words.n; w++) {
        size_t n = 0;
        for (size_t i = start; i < start + words.len[w]; i++)
            n += utf8_encode(t.cp[i], (char *)m.bytes + n);
        start += words.len[w];
        st = merge_word(&m, n, out);
    }
    tok_heap_free(&m.heap);
    mem_free(m.bytes);
    mem_free(m.mapped);
    mem_free(m.sym);
    mem_free(words.len);
    mem_free(t.cp);
    mem_free(t.fl);
    return st;
}
