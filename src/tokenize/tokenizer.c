/*
 * tokenizer.c — the entry points shared by all models: tok_encode (special-token
 * partition, then the model's encoder, then BOS/EOS), tok_decode and the streaming
 * detokenizer.
 *
 * Partition: before any model sees the text, occurrences of special-token strings are
 * cut out and become those tokens. Tokens are tried longest first, each over every
 * remaining stretch of plain text, left to right (the order llama.cpp uses, so
 * overlapping candidates resolve the same way). Control and unknown tokens take part
 * only with parse_special; user-defined tokens always do. A token with the LSTRIP /
 * RSTRIP attribute also eats ASCII white space on that side.
 */
#define _GNU_SOURCE /* memmem */
#include "tokenize/vocab.h"

#include <ctype.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

struct frag {
    size_t off, len; /* the text, when id == TOK_NONE */
    tok_id id;
};

struct frags {
    struct frag *f;
    size_t n, cap;
};

static hearth_status frag_add(struct frags *fs, size_t off, size_t len, tok_id id)
{
    if (id == TOK_NONE && len == 0)
        return HEARTH_OK;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        struct frag *p = mem_realloc_array(fs->f, cap, sizeof *p);
        if (!p)
            return HEARTH_ERR_NOMEM;
        fs->f = p;
        fs->cap = cap;
    }
    fs->f[fs->n++] = (struct frag){ off, len, id };
    return HEARTH_OK;
}

/* Cut every occurrence of token id out of the plain-text fragments of in. */
static hearth_status cut_token(const tok_vocab *v, const char *text, tok_id id,
                               const struct frags *in, struct frags *out)
{
    size_t tn = v->str_len[id];
    const char *ts = tok_sym_str(v, id);
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        struct frag fr = in->f[i];
        if (fr.id != TOK_NONE || fr.len < tn) {
            if (frag_add(out, fr.off, fr.len, fr.id) != HEARTH_OK)
                return HEARTH_ERR_NOMEM;
            continue;
        }
        size_t pos = fr.off, end = fr.off + fr.len;
        const char *hit;
        while (end - pos >= tn && (hit = memmem(text + pos, end - pos, ts, tn))) {
            size_t at = (size_t)(hit - text), left_end = at;
            if (v->attr[id] & TOK_ATTR_LSTRIP)
                while (left_end > pos && isspace((unsigned char)text[left_end - 1]))
                    left_end--;
            if (frag_add(out, pos, left_end - pos, TOK_NONE) != HEARTH_OK ||
                frag_add(out, 0, 0, id) != HEARTH_OK)
                return HEARTH_ERR_NOMEM;
            pos = at + tn;
            if (v->attr[id] & TOK_ATTR_RSTRIP)
                while (pos < end && isspace((unsigned char)text[pos]))
                    pos++;
        }
        if (frag_add(out, pos, end - pos, TOK_NONE) != HEARTH_OK)
            return HEARTH_ERR_NOMEM;
    }
    return HEARTH_OK;
}

static hearth_status partition(const tok_vocab *v, const char *text, size_t len,
                               bool parse_special, struct frags *res)
{
    struct frags a = { 0 }, b = { 0 };
    if (frag_add(&a, 0, len, TOK_NONE) != HEARTH_OK)
        return HEARTH_ERR_NOMEM;
    bool present[256] = { false }; /* bytes of the text: most tokens can be skipped */
    for (size_t i = 0; i < len; i++)
        present[(unsigned char)text[i]] = true;
    for (size_t k = 0; k < v->n_specials; k++) {
        tok_id id = v->specials[k];
        uint8_t t = v->type[id];
        if (!parse_special && (t == TOK_TYPE_CONTROL || t == TOK_TYPE_UNKNOWN))
            continue;
        if (!present[(unsigned char)tok_sym_str(v, id)[0]] || v->str_len[id] > len)
            continue;
        if (cut_token(v, text, id, &a, &b) != HEARTH_OK) {
            mem_free(a.f);
            mem_free(b.f);
            return HEARTH_ERR_NOMEM;
        }
        struct frags tmp = a;
        a = b;
        b = tmp;
    }
    mem_free(b.f);
    *res = a;
    return HEARTH_OK;
}

static hearth_status encode_frags(const tok_vocab *v, const char *text,
                                  const struct frags *fs, tok_ids *out)
{
    bool after_special = true; /* SPM: the text start counts as following a special */
    for (size_t i = 0; i < fs->n; i++) {
        const struct frag *fr = &fs->f[i];
        hearth_status st;
        if (fr->id != TOK_NONE) {
            st = tok_ids_push(out, fr->id);
            after_special = true;
        } else {
            const char *s = text + fr->off;
            switch (v->model) {
            case TOK_MODEL_SPM: st = tok_spm_encode(v, s, fr->len, after_special, out); break;
            case TOK_MODEL_BPE: st = tok_bpe_encode(v, s, fr->len, out); break;
            default: st = tok_wpm_encode(v, s, fr->len, out); break;
            }
            after_special = false;
        }
        if (st != HEARTH_OK)
            return st;
    }
    return HEARTH_OK;
}

hearth_status tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
                         bool parse_special, tok_ids *out, hearth_error *err)
{
    size_t n0 = out->n;
    struct frags fs = { 0 };
    hearth_status st = partition(v, text, len, parse_special, &fs);
    tok_id first = v->model == TOK_MODEL_WPM ? v->sp.cls : v->sp.bos;
    if (st == HEARTH_OK && add_special && v->add_bos)
        st = tok_ids_push(out, first);
    if (st == HEARTH_OK)
        st = encode_frags(v, text, &fs, out);
    if (st == HEARTH_OK && add_special && v->add_eos)
        st = tok_ids_push(out, v->sp.eos);
    if (st == HEARTH_OK && add_special && v->add_sep && v->model == TOK_MODEL_WPM)
        st = tok_ids_push(out, v->sp.sep);
    mem_free(fs.f);
    if (st != HEARTH_OK) {
        out->n = n0;
        return err_set(err, st, "out of memory tokenizing %zu bytes", len);
    }
    return HEARTH_OK;
}

/* ---- decoding ----------------------------------------------------------------------- */

/* Does this vocabulary put a space before the first word that LSTRIP should remove? */
static bool strips_lead(const tok_vocab *v, unsigned flags)
{
    if (!(flags & TOK_DECODE_LSTRIP))
        return false;
    return v->model == TOK_MODEL_WPM || (v->model == TOK_MODEL_SPM && v->add_space_prefix);
}

hearth_status tok_decode(const tok_vocab *v, const tok_id *ids, size_t n, unsigned flags,
                         tok_str *out, hearth_error *err)
{
    size_t n0 = out->n;
    bool strip = strips_lead(v, flags);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = tok_piece(v, ids[i], flags & TOK_DECODE_SPECIAL, &len);
        if (!p) {
            out->n = n0;
            if (out->s)
                out->s[n0] = '\0';
            return err_set(err, HEARTH_ERR_RANGE, "token id %d is out of range (%u tokens)",
                           ids[i], v->n_tokens);
        }
        if (strip && len > 0) {
            if (p[0] == ' ')
                p++, len--;
            strip = false;
        }
        if (tok_str_append(out, p, len) != HEARTH_OK) {
            out->n = n0;
            return err_set(err, HEARTH_ERR_NOMEM, "out of memory detokenizing");
        }
    }
    if (!out->s && tok_str_append(out, "", 0) != HEARTH_OK)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory detokenizing");
    return HEARTH_OK;
}

/* ---- streaming ---------------------------------------------------------------------- */

void tok_stream_init(tok_stream *s, const tok_vocab *v, unsigned flags)
{
    s->v = v;
    s->flags = flags;
    s->at_start = true;
    s->n_held = 0;
}

static hearth_status put_replacement(tok_str *out)
{
    return tok_str_append(out, "\xef\xbf\xbd", 3);
}

/* Emit the complete characters of b[0..n), U+FFFD for bytes that cannot start one, and
 * keep an unfinished character at the end in s->held. */
static hearth_status emit_chars(tok_stream *s, const char *b, size_t n, tok_str *out)
{
    size_t run = 0; /* start of the pending run of valid bytes */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(b + i, n - i, &cp);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (tok_str_append(out, b + run, i - run) != HEARTH_OK)
            return HEARTH_ERR_NOMEM;
        if (k == UTF8_INCOMPLETE) {
            memcpy(s->held, b + i, n - i);
            s->n_held = (unsigned)(n - i);
            return HEARTH_OK;
        }
        if (put_replacement(out) != HEARTH_OK)
            return HEARTH_ERR_NOMEM;
        run = ++i;
    }
    return tok_str_append(out, b + run, n - run);
}

hearth_status tok_stream_push(tok_stream *s, tok_id id, tok_str *out, hearth_error *err)
{
    size_t len;
    const char *p = tok_piece(s->v, id, s->flags & TOK_DECODE_SPECIAL, &len);
    if (!p)
        return err_set(err, HEARTH_ERR_RANGE, "token id %d is out of range (%u tokens)", id,
                       s->v->n_tokens);
    if (s->at_start && len > 0) {
        if (strips_lead(s->v, s->flags) && p[0] == ' ')
            p++, len--;
        s->at_start = false;
    }
    char *buf = mem_alloc(s->n_held + len + 1);
    if (!buf)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory detokenizing");
    memcpy(buf, s->held, s->n_held);
    memcpy(buf + s->n_held, p, len);
    size_t n = s->n_held + len;
    s->n_held = 0;
    hearth_status st = emit_chars(s, buf, n, out);
    mem_free(buf);
    if (st != HEARTH_OK)
        return err_set(err, st, "out of memory detokenizing");
    return HEARTH_OK;
}

hearth_status tok_stream_flush(tok_stream *s, tok_str *out, hearth_error *err)
{
    for (unsigned i = 0; i < s->n_held; i++)
        if (put_replacement(out) != HEARTH_OK)
            return err_set(err, HEARTH_ERR_NOMEM, "out of memory detokenizing");
    tok_stream_init(s, s->v, s->flags);
    return HEARTH_OK;
}
