/*
 * wordpiece.c — the WordPiece tokenizer of BERT-family vocabularies ("bert").
 *
 * First BERT's basic tokenizer: each code point is reduced to the first code point of
 * its NFD decomposition and combining marks are dropped (accent stripping, when
 * tokenizer.ggml.normalizer.strip_accents; it defaults to the lowercase flag), upper
 * case is folded (normalizer.lowercase, default on), control characters and U+FFFD are
 * dropped, white space separates words, and punctuation, ASCII symbols and CJK
 * ideographs become one-character words.
 *
 * Then each word is matched greedily, longest piece first. GGUF conversions store
 * word-initial pieces with a "▁" prefix and continuation pieces ("##ing" in BERT's
 * vocab.txt) without any, so the word is looked up as "▁word": the first match must
 * be a word-initial piece, later ones continuation pieces. A word that cannot be
 * covered, or that is longer than 100 code points (BERT's max_input_chars_per_word),
 * becomes [UNK]. The length limit is Hugging Face's rule; llama.cpp has none, and no
 * test text has a word that long.
 */
#include "tokenize/vocab.h"

#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "tokenize/unicode.h"

#define MAX_WORD_CHARS 100

static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

struct wp {
    const tok_vocab *v;
    char *word;      /* "▁" + the word being built */
    size_t n;        /* bytes in word, including the 3-byte prefix */
    size_t n_chars;  /* code points after the prefix */
    tok_ids *out;
};

/* Cover the current word with pieces, or emit [UNK]; then start a new word. */
static hearth_status finish_word(struct wp *w)
{
    if (w->n_chars == 0)
        return HEARTH_OK;
    const tok_vocab *v = w->v;
    size_t mark = w->out->n;
    bool ok = w->n_chars <= MAX_WORD_CHARS;
    for (size_t i = 0; ok && i < w->n;) {
        size_t j = w->n - i > v->max_token_len ? i + v->max_token_len : w->n;
        tok_id id = TOK_NONE;
        while (j > i && (id = tok_find(v, w->word + i, j - i)) == TOK_NONE)
            j--;
        if (id == TOK_NONE) {
            ok = false;
            break;
        }
        if (tok_ids_push(w->out, id) != HEARTH_OK)
            return HEARTH_ERR_NOMEM;
        i = j;
    }
    w->n = 3;
    w->n_chars = 0;
    if (ok)
        return HEARTH_OK;
    w->out->n = mark;
    return v->sp.unk == TOK_NONE ? HEARTH_OK : tok_ids_push(w->out, v->sp.unk);
}

static void append_char(struct wp *w, uint32_t cp)
{
    w->n += utf8_encode(cp, w->word + w->n);
    w->n_chars++;
}

hearth_status tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out)
{
    if (len > (SIZE_MAX - 8) / 4)
        return HEARTH_ERR_NOMEM;
    struct wp w = { v, mem_alloc(len * 4 + 8), 3, 0, out };
    if (!w.word)
        return HEARTH_ERR_NOMEM;
    memcpy(w.word, "\xe2\x96\x81", 3);
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; st == HEARTH_OK && i < len;) {
        uint32_t cp;
        int k = utf8_decode(text + i, len - i, &cp);
        if (k <= 0) {
            cp = UTF8_REPLACEMENT;
            k = 1;
        }
        i += (size_t)k;
        if (v->strip_accents)
            cp = uni_nfd_first(cp);
        enum uni_cat cat = uni_category(cp);
        if (uni_is_space(cp)) {
            st = finish_word(&w);
            continue;
        }
        if (cp == 0 || cp == UTF8_REPLACEMENT || cat == UNI_OTHER ||
            (v->strip_accents && cat == UNI_MARK))
            continue;
        uint32_t c = v->lowercase ? uni_tolower(cp) : cp;
        if (cat == UNI_PUNCT || (cp < 0x7F && cat == UNI_SYMBOL) || is_cjk(cp)) {
            st = finish_word(&w);
            append_char(&w, c);
            if (st == HEARTH_OK)
                st = finish_word(&w);
        } else {
            append_char(&w, c);
        }
    }
    if (st == HEARTH_OK)
        st = finish_word(&w);
    mem_free(w.word);
    return st;
}
