/*
 * grammar.h — constrained sampling: a grammar decides which tokens may come next.
 *
 * A grammar is written in GBNF, the notation llama.cpp uses:
 *
 *   root   ::= "{" ws pair ("," ws pair)* "}"     # comments run to the end of the line
 *   pair   ::= [a-z]+ ":" ws [0-9]{1,3}
 *   ws     ::= [ \t\n]?
 *
 * Rules are `name ::= alternatives`; an alternative is a sequence of "literals" (with \n
 * \t \r \\ \" \xHH \uHHHH \UHHHHHHHH escapes), [character classes] ([^...] negated, a-z
 * ranges), `.` (any character), rule names and (groups), each optionally followed by
 * `*`, `+`, `?`, `{m}`, `{m,}` or `{m,n}`. A rule may span lines. `root` is the start.
 * Grammars work on Unicode code points, so the text they let through is always valid
 * UTF-8. Left recursion (`a ::= a "x"`) is refused when the grammar is parsed.
 *
 * Matching: a grm_matcher holds the set of parse stacks (positions in the grammar still
 * possible after the text so far) plus the bytes of an unfinished UTF-8 character, so a
 * token may end in the middle of a character or span several grammar symbols.
 * grm_mask sets the logit of every token that would lead out of the language to
 * -INFINITY: it walks a trie of the vocabulary's token bytes (a grm_vocab, built once per
 * tokenizer) against the stacks, pruning a subtree at the first byte that fails, and
 * caches the resulting bitmask per state, since JSON revisits the same states (inside a
 * string, after a comma) over and over. End-of-generation tokens are allowed exactly
 * when the text so far is a complete sentence of the grammar.
 *
 * Usage
 *   grm_grammar *g;  grm_parse(&g, text, len, "my.gbnf", &err);
 *   grm_vocab *gv;   grm_vocab_new(&gv, vocab, n_vocab, &err);      // once per model
 *   grm_matcher *m;  grm_matcher_new(&m, g, gv, &err);              // once per generation
 *   each step: grm_mask(m, logits, &err); id = sample(logits); grm_accept(m, id, &err);
 *              stop when grm_finished(m)
 * gen_sample (generate.h) does the sampling step the cheap way: it masks only when the
 * mask is cached or the unconstrained draw is refused (grm_mask_cached, grm_allows).
 *
 * Threads: grm_grammar and grm_vocab are read-only after creation and may be shared by
 * any number of threads; a grm_matcher belongs to one thread at a time.
 */
#ifndef HEARTH_GENERATE_GRAMMAR_H
#define HEARTH_GENERATE_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "tokenize/tokenizer.h"

#define GRM_MAX_TEXT (4u << 20) /* largest grammar text accepted, bytes */

typedef struct grm_grammar grm_grammar;
typedef struct grm_vocab grm_vocab;
typedef struct grm_matcher grm_matcher;

/* Parse GBNF text[0..len). source names the text in errors, which read
 * "SOURCE:LINE:COL: what is wrong" (HEARTH_ERR_FORMAT) or name the rule at fault
 * (undefined, left-recursive, matching no finite text). Limits on size, nesting and
 * repetition counts give HEARTH_ERR_RANGE. */
hearth_status grm_parse(grm_grammar **out, const char *text, size_t len, const char *source,
                        hearth_error *err);
void grm_free(grm_grammar *g);

/* The token trie of a vocabulary: ids [0, n_vocab) (n_vocab may exceed the tokenizer's
 * count: the extra ids are never allowed). Keeps a pointer to v, which must outlive it. */
hearth_status grm_vocab_new(grm_vocab **out, const tok_vocab *v, int n_vocab, hearth_error *err);
void grm_vocab_free(grm_vocab *gv);

/* A matcher at the start of the grammar. gv may be NULL for a matcher fed only with
 * grm_accept_bytes (no masking). g and gv must outlive it. */
hearth_status grm_matcher_new(grm_matcher **out, const grm_grammar *g, const grm_vocab *gv,
                              hearth_error *err);
void grm_matcher_free(grm_matcher *m);
/* Back to the start of the grammar (keeps the mask cache). */
void grm_matcher_reset(grm_matcher *m);

/* Set logits[id] = -INFINITY for every token that cannot come next. HEARTH_ERR_INVALID
 * when no token can (the vocabulary cannot spell what the grammar demands). */
hearth_status grm_mask(grm_matcher *m, float *logits, hearth_error *err);
/* If the mask of the current state is in the matcher's cache, apply it and return true;
 * otherwise (or if it allows nothing) leave logits alone and return false. Lets a caller
 * mask only when masking is cheap, and otherwise check a sampled token with grm_allows. */
bool grm_mask_cached(grm_matcher *m, float *logits);
/* Could token id come next? (One token's walk: cheap, for checking a sampled token.) */
bool grm_allows(grm_matcher *m, tok_id id);
/* Advance past token id (an end-of-generation token ends the grammar).
 * HEARTH_ERR_INVALID if it is not allowed; the matcher is unchanged then. */
hearth_status grm_accept(grm_matcher *m, tok_id id, hearth_error *err);
/* Advance past raw bytes (may end inside a UTF-8 character); HEARTH_ERR_INVALID and no
 * change if they lead out of the language. */
hearth_status grm_accept_bytes(grm_matcher *m, const char *bytes, size_t len,
                               hearth_error *err);
/* Is the text so far a complete sentence of the grammar? */
bool grm_accepting(const grm_matcher *m);
/* Complete, and nothing may follow: generation is over. */
bool grm_finished(const grm_matcher *m);

#endif
