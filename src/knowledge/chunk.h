/*
 * chunk.h — cutting a document into overlapping pieces small enough to embed.
 *
 * A chunk is a byte range of the original text (so search results can point at path:lines
 * and show the exact words), at most max_tokens tokens long as counted by the embedding
 * model's own tokenizer, and sharing about `overlap` tokens with the chunk before it so a
 * sentence cut at a boundary is still found whole in one of them.
 *
 * Cuts fall between words (runs of non-space bytes). A word longer than max_tokens on its
 * own is cut inside, but only at a UTF-8 character boundary. Markdown is split at headings
 * first (never inside ``` fences): a chunk never spans two sections, and it carries the
 * heading path of its section ("Setup > Linux").
 */
#ifndef HEARTH_KNOWLEDGE_CHUNK_H
#define HEARTH_KNOWLEDGE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct kn_chunk {
    size_t start, end;          /* bytes [start, end) of the text */
    int line_start, line_end;   /* 1-based, inclusive */
    char *heading;              /* "A > B", or NULL outside any heading */
} kn_chunk;

/* Number of tokens in s[0..n) (a single word); NULL count: about one per 4 bytes. */
typedef size_t (*kn_count_fn)(void *user, const char *s, size_t n);

typedef struct kn_chunk_params {
    int max_tokens;     /* > 0 */
    int overlap;        /* 0 .. max_tokens / 2 */
    bool markdown;      /* split at # headings */
    kn_count_fn count;
    void *user;
} kn_chunk_params;

kn_chunk_params kn_chunk_default_params(void);

/* Chunk text[0..len). *out (caller frees with kn_chunks_free) receives *n chunks in text
 * order; a text with no words gives none. Errors: bad parameters, out of memory. */
hearth_status kn_chunk_text(const char *text, size_t len, const kn_chunk_params *p,
                            kn_chunk **out, size_t *n, hearth_error *err);
void kn_chunks_free(kn_chunk *c, size_t n);

#endif
