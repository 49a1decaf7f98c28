/*
 * grammar_int.h — what the GBNF parser (grammar.c) and the matcher (grammar_match.c)
 * share: the flat representation of a parsed grammar. Not part of the API.
 *
 * A rule is its alternatives one after another, each ended by E_ALT, the last by E_END;
 * an element is a character class (terminal) or a reference to a rule.
 */
#ifndef HEARTH_GENERATE_GRAMMAR_INT_H
#define HEARTH_GENERATE_GRAMMAR_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "generate/grammar.h"

enum { E_END, E_ALT, E_REF, E_CLASS };

typedef struct elem {
    int32_t type, arg; /* arg: rule index (E_REF) or class index (E_CLASS) */
} elem;

typedef struct range {
    uint32_t lo, hi;
} range;

typedef struct cclass {
    int32_t off, n; /* ranges[off..off+n), sorted and merged */
    bool neg;
} cclass;

struct grm_grammar {
    elem *el;
    int32_t *alt_off; /* (n_rules + 1) alternatives of rule r: alt_pos[alt_off[r]..alt_off[r+1]) */
    int32_t *alt_pos; /* element index where each alternative starts */
    range *rg;
    cclass *cl;
    int n_rules, root;
};

/* Grow *pp (an array of *cap elements of size bytes) to hold need; false when out of memory. */
bool grm_grow(void *pp, int *cap, int need, size_t size);

#endif
