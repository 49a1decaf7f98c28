/*
 * tokenizer.h — text <-> token ids for the vocabularies stored in GGUF files.
 *
 * A GGUF model carries its tokenizer as tokenizer.* metadata; tok_load reads it into an
 * immutable tok_vocab. Three algorithms cover the supported families, chosen by
 * tokenizer.ggml.model:
 *
 *   "llama"  SentencePiece-style BPE (spm.c): merges the highest-scoring adjacent pair,
 *            spaces escaped as U+2581 "▁", a "▁" prefixed to the text, bytes with no
 *            token fall back to <0xXX> byte tokens. Llama 2, Mistral, TinyLlama, Phi-3.
 *   "gpt2"   byte-level BPE (bpe.c): a pre-tokenizer (tokenizer.ggml.pre: default, gpt-2,
 *            llama-bpe, qwen2, deepseek-coder, smollm and their aliases) splits the text
 *            into words, each word's bytes are mapped to printable characters and merged
 *            by merge rank. Llama 3, Qwen 2/2.5/3, GPT-2, DeepSeek Coder, SmolLM.
 *   "bert"   WordPiece (wordpiece.c): BERT's basic tokenizer (lower-casing, accent
 *            stripping, splitting on punctuation and CJK), then greedy longest match.
 *
 * The results match llama.cpp's tokenizer token for token (checked against its test
 * vectors in ../shared/testdata/vocab). Special-token text ("<|im_start|>") is recognised
 * in the input only when parse_special is set; user-defined tokens always are (as in
 * llama.cpp and Hugging Face tokenizers).
 *
 * Usage
 *   tok_vocab *v;
 *   if (tok_load(&v, gguf, &err) != HEARTH_OK) ...
 *   tok_ids ids = {0};
 *   tok_encode(v, "Hello", 5, true, false, &ids, &err);    // ids.v[0..ids.n)
 *   tok_str text = {0};
 *   tok_decode(v, ids.v, ids.n, TOK_DECODE_LSTRIP, &text, &err);
 *   tok_ids_free(&ids); tok_str_free(&text); tok_free(v);
 *
 * Threads: a tok_vocab is read-only after tok_load and may be shared by any number of
 * threads; each tok_stream, tok_ids and tok_str belongs to one thread at a time.
 * Invalid UTF-8 input never fails: SPM tokenizes the stray bytes as byte tokens, BPE
 * and WordPiece see each invalid byte as U+FFFD (as llama.cpp does).
 */
#ifndef HEARTH_TOKENIZE_TOKENIZER_H
#define HEARTH_TOKENIZE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/gguf.h"

typedef int32_t tok_id;
#define TOK_NONE (-1)

typedef struct tok_vocab tok_vocab;

enum tok_model { TOK_MODEL_SPM, TOK_MODEL_BPE, TOK_MODEL_WPM };

/* Pre-tokenizers of the byte-level BPE model (meaningless for SPM and WordPiece). */
enum tok_pre {
    TOK_PRE_DEFAULT,        /* llama.cpp's generic split: punctuation runs, GPT-2, digits */
    TOK_PRE_GPT2,           /* GPT-2 regex */
    TOK_PRE_LLAMA3,         /* Llama 3 regex: numbers in groups of up to 3 digits */
    TOK_PRE_QWEN2,          /* Llama 3 regex with single digits */
    TOK_PRE_DEEPSEEK_CODER, /* newlines, letter runs, punctuation runs, CJK runs, digits */
    TOK_PRE_SMOLLM,         /* single digits, then GPT-2 regex */
};

/* tokenizer.ggml.token_type values (the GGUF convention). */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

/* Special token ids; TOK_NONE where the vocabulary has none. */
typedef struct tok_specials {
    tok_id bos, eos, eot, eom, unk, sep, pad, cls, mask;
} tok_specials;

/* ---- Loading ------------------------------------------------------------------------ */

/* Read the tokenizer.* metadata of f. The vocabulary copies what it needs, so f may be
 * closed afterwards. Metadata is untrusted: wrong types, array lengths that disagree,
 * ids out of range, duplicate tokens and malformed merges give HEARTH_ERR_FORMAT naming
 * the file and key; an unknown tokenizer.ggml.model or tokenizer.ggml.pre gives
 * HEARTH_ERR_UNSUPPORTED naming it (a missing pre means "default", as in llama.cpp).
 * Defaults where keys are absent follow llama.cpp: SPM adds BOS and a space prefix,
 * WordPiece adds [CLS] and [SEP], BPE adds BOS only for llama-bpe. */
hearth_status tok_load(tok_vocab **out, const gguf_file *f, hearth_error *err);
void tok_free(tok_vocab *v);

size_t tok_n_tokens(const tok_vocab *v);
enum tok_model tok_model_of(const tok_vocab *v);
enum tok_pre tok_pre_of(const tok_vocab *v);
/* The tokenizer.ggml.model / tokenizer.ggml.pre names, e.g. "gpt2", "qwen2". */
const char *tok_model_name(const tok_vocab *v);
const char *tok_pre_name(const tok_vocab *v);
const tok_specials *tok_special(const tok_vocab *v);
/* Does tok_encode(..., add_special = true, ...) add BOS / EOS / SEP? */
bool tok_adds_bos(const tok_vocab *v);
bool tok_adds_eos(const tok_vocab *v);
/* Does the token end generation (EOS, EOT, EOM, <|im_end|>, ...)? */
bool tok_is_eog(const tok_vocab *v, tok_id id);
/* The token's type (TOK_TYPE_UNDEFINED for an id out of range). */
enum tok_type tok_type_of(const tok_vocab *v, tok_id id);
/* The token's string as stored in the vocabulary (not decoded: "▁the", "Ġthe");
 * NULL for an id out of range. */
const char *tok_text(const tok_vocab *v, tok_id id, size_t *len);
/* The id of the token whose stored string is exactly text[0..len), or TOK_NONE. */
tok_id tok_find(const tok_vocab *v, const char *text, size_t len);

/* ---- Encoding ----------------------------------------------------------------------- */

/* A growable array of ids. Start with {0}; tok_ids_free releases it. */
typedef struct tok_ids {
    tok_id *v;
    size_t n, cap;
} tok_ids;

void tok_ids_free(tok_ids *ids);

/* Tokenize text[0..len) and append the ids to out. add_special adds BOS/EOS (or
 * [CLS]/[SEP]) as the vocabulary asks; parse_special turns control-token text in the
 * input into those tokens. Fails only on out-of-memory (HEARTH_ERR_NOMEM); out keeps
 * what it held before the call in that case. Time is O(len log len). */
hearth_status tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
                         bool parse_special, tok_ids *out, hearth_error *err);

/* ---- Decoding ----------------------------------------------------------------------- */

/* A growable byte string, always NUL-terminated once non-empty. Start with {0}. */
typedef struct tok_str {
    char *s;
    size_t n, cap;
} tok_str;

void tok_str_free(tok_str *s);
/* Append n bytes (and keep the NUL); HEARTH_ERR_NOMEM, s unchanged, on failure. */
hearth_status tok_str_append(tok_str *s, const char *bytes, size_t n);

/* The bytes one token stands for: SPM "▁" becomes a space and <0xXX> its byte, BPE's
 * mapped characters become the original bytes, WordPiece word-initial tokens get a
 * leading space (their "##" continuation form is stored without it). Control and
 * unknown tokens give their text when special is set and nothing otherwise. The bytes
 * may be a partial UTF-8 character. Returns NULL (and *len = 0) for an id out of range.
 * The pointer stays valid as long as the vocabulary. */
const char *tok_piece(const tok_vocab *v, tok_id id, bool special, size_t *len);

#define TOK_DECODE_SPECIAL 1u /* render control and unknown tokens as their text */
#define TOK_DECODE_LSTRIP 2u  /* drop the space SPM and WordPiece put before the first
                                 word (llama.cpp does this when the vocabulary adds a
                                 space prefix); a leading BOS is skipped over for it */

/* Append the concatenated pieces of ids[0..n) to out, byte-exact (no UTF-8 repair: a
 * BPE round trip gives back the exact input). HEARTH_ERR_RANGE for an id out of range. */
hearth_status tok_decode(const tok_vocab *v, const tok_id *ids, size_t n, unsigned flags,
                         tok_str *out, hearth_error *err);

/* Streaming detokenizer for chat output: push tokens one at a time and get only whole
 * UTF-8 characters. A character split across tokens is held back until it completes;
 * bytes that can never form a valid character are emitted as U+FFFD, one per byte, so
 * the output is always valid UTF-8. tok_stream_flush emits what is still held (an
 * unfinished character becomes U+FFFD per byte) and resets the stream. */
typedef struct tok_stream {
    const tok_vocab *v;
    unsigned flags;     /* TOK_DECODE_* */
    bool at_start;      /* no piece emitted yet (for TOK_DECODE_LSTRIP) */
    unsigned char held[4];
    unsigned n_held;
} tok_stream;

void tok_stream_init(tok_stream *s, const tok_vocab *v, unsigned flags);
hearth_status tok_stream_push(tok_stream *s, tok_id id, tok_str *out, hearth_error *err);
hearth_status tok_stream_flush(tok_stream *s, tok_str *out, hearth_error *err);

#endif
