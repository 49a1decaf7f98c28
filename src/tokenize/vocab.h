/*
 * vocab.h — the inside of a tok_vocab, shared by the files of src/tokenize/ only.
 *
 * Strings are interned in one pool: ids [0, n_tokens) are the vocabulary's tokens, ids
 * from n_tokens on are strings that only occur as halves or results of BPE merges but are
 * not tokens themselves (rare, but a merge may produce one, and llama.cpp keeps merging
 * through it). An open-addressing hash table maps bytes -> interned id; a second maps a
 * merge's (left id, right id) -> (rank, result id). Both are built once in tok_load.
 */
#ifndef HEARTH_TOKENIZE_VOCAB_H
#define HEARTH_TOKENIZE_VOCAB_H

#include "tokenize/tokenizer.h"

/* Per-token attribute bits (beyond the type). */
#define TOK_ATTR_LSTRIP 1u /* eat white space before the token when matching it in text */
#define TOK_ATTR_RSTRIP 2u /* ... and after it */
#define TOK_ATTR_EOG 4u    /* ends generation */

struct tok_merge {
    int32_t left, right; /* interned ids; left == -1 marks an empty slot */
    int32_t rank;        /* position in tokenizer.ggml.merges: lower merges first */
    int32_t result;      /* interned id of left+right */
};

#define TOK_MAX_STR_LEN ((1u << 24) - 1) /* bytes in one token string */

struct tok_vocab {
    enum tok_model model;
    enum tok_pre pre;
    char model_name[32], pre_name[32];
    uint32_t n_tokens;

    /* interned strings */
    uint32_t n_strs, cap_strs;
    uint64_t *str_off; /* into pool */
    uint32_t *str_len;
    char *pool;
    size_t pool_len, pool_cap;
    uint64_t *slots; /* hash << 32 | (interned id + 1); 0 = empty */
    size_t slot_mask;

    /* per token */
    float *score;
    uint8_t *type;
    uint8_t *attr;

    /* BPE merges */
    struct tok_merge *merges;
    size_t merge_mask; /* 0 when there are no merges */

    tok_specials sp;
    bool add_bos, add_eos, add_sep;
    bool add_space_prefix; /* SPM: prefix "▁" to text that does not follow a special */
    bool ignore_merges;    /* BPE: a word that is a whole token is not merged (Llama 3) */
    bool lowercase, strip_accents; /* WordPiece normalizer */
    uint32_t max_token_len;        /* bytes */

    /* tokens matched in raw text before tokenizing: control, user-defined, unknown;
     * longest first */
    tok_id *specials;
    size_t n_specials;

    /* SPM: token for each byte value (<0xXX>, else the one-byte token), or TOK_NONE.
     * BPE: interned id of the printable character each byte maps to, or TOK_NONE. */
    int32_t byte_sym[256];

    /* decoded pieces, one per token (see tok_piece) */
    uint64_t *piece_off;
    uint32_t *piece_len;
    char *piece_pool;
};

/* Interned id of the string s[0..len), or -1. */
int32_t tok_sym_find(const tok_vocab *v, const char *s, size_t len);
static inline const char *tok_sym_str(const tok_vocab *v, int32_t sym)
{
    return v->pool + v->str_off[sym];
}
/* The merge of interned ids (left, right), or NULL. */
const struct tok_merge *tok_merge_find(const tok_vocab *v, int32_t left, int32_t right);

/* Append one id (HEARTH_ERR_NOMEM on failure). */
hearth_status tok_ids_push(tok_ids *ids, tok_id id);

/* The byte <-> printable-character mapping of byte-level BPE: bytes that are printable
 * Latin-1 map to themselves, the other 68 to U+0100 + k in byte order. */
uint32_t tok_bpe_byte_to_cp(unsigned char b);
int tok_bpe_cp_to_byte(uint32_t cp); /* -1 if cp is no mapped byte */

/* The model-specific encoders: tokenize one fragment of plain text (no special-token
 * text left in it) and append to out. */
hearth_status tok_spm_encode(const tok_vocab *v, const char *text, size_t len,
                             bool prefix_space, tok_ids *out);
hearth_status tok_bpe_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out);
hearth_status tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out);

/* ---- A binary min-heap of candidate merges, shared by spm.c and bpe.c ----------------
 * Entries with smaller prio come first; equal prio: smaller left position first (both
 * tokenizers break ties towards the leftmost pair). */
struct tok_cand {
    double prio;
    int32_t left, right; /* symbol positions */
    int32_t a, b;        /* what the symbols held when the pair was queued */
};

struct tok_heap {
    struct tok_cand *e;
    size_t n, cap;
};

hearth_status tok_heap_push(struct tok_heap *h, struct tok_cand c);
struct tok_cand tok_heap_pop(struct tok_heap *h); /* h->n > 0 */
void tok_heap_free(struct tok_heap *h);

#endif
