/*
 * stopper.h — holding back streamed text that might be the start of a stop string.
 *
 * Generated text is appended as it is detokenized; only the part that can no longer become
 * (part of) a stop string is released. Output ends just before the earliest complete stop
 * string. Used by the single-sequence loop (generate.c) and the batch scheduler (batch.c),
 * so both stream byte-for-byte the same text.
 */
#ifndef HEARTH_GENERATE_STOPPER_H
#define HEARTH_GENERATE_STOPPER_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenize/tokenizer.h"

typedef struct gen_stopper {
    const char *const *stop; /* borrowed; must outlive the stopper */
    int n_stop;
    tok_str pending;         /* text not yet released; pending.s[0..n) */
} gen_stopper;

void gen_stopper_init(gen_stopper *s, const char *const *stop, int n_stop);
void gen_stopper_free(gen_stopper *s);
/* Append text[0..len). Sets *hit when a stop string is complete and *emit_len to the bytes
 * at the start of s->pending that are ready to show (everything before the stop string,
 * or before the earliest suffix that could still grow into one). False on out of memory. */
bool gen_stopper_push(gen_stopper *s, const char *text, size_t len, size_t *emit_len,
                      bool *hit);
/* Drop the first n bytes of pending (those the caller has shown). */
void gen_stopper_consume(gen_stopper *s, size_t n);

#endif
