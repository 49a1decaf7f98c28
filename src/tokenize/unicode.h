/*
 * unicode.h — the few Unicode properties the tokenizers need.
 *
 * Pre-tokenizers split text by general category (\p{L} letters, \p{N} numbers, \p{P}
 * punctuation, ...) and white space; the BERT normalizer lower-cases and strips accents.
 * The tables are generated from Python 3's unicodedata by tools/gen_unicode.py (the
 * Unicode version is uni_version()); lookups are binary searches over sorted runs.
 * Everything here is pure and thread-safe.
 */
#ifndef HEARTH_TOKENIZE_UNICODE_H
#define HEARTH_TOKENIZE_UNICODE_H

#include <stdbool.h>
#include <stdint.h>

/* General-category classes (the first letter of the two-letter category). */
enum uni_cat {
    UNI_UNASSIGNED = 0, /* Cn, and anything above U+10FFFF */
    UNI_LETTER,         /* L* */
    UNI_NUMBER,         /* N* */
    UNI_PUNCT,          /* P* */
    UNI_SYMBOL,         /* S* */
    UNI_MARK,           /* M* (accents and other combining marks) */
    UNI_SEPARATOR,      /* Z* */
    UNI_OTHER,          /* Cc, Cf, Co, Cs: control, format, private use, surrogate */
};

/* Category and white space packed into one word for the pre-tokenizers' hot loops. */
#define UNI_F_CAT_MASK 0x0Fu
#define UNI_F_SPACE 0x10u /* the Unicode White_Space property */

enum uni_cat uni_category(uint32_t cp);
bool uni_is_space(uint32_t cp);
/* uni_category(cp) | (uni_is_space(cp) ? UNI_F_SPACE : 0) */
unsigned uni_flags(uint32_t cp);
/* Simple lowercase mapping (cp itself when it has none). */
uint32_t uni_tolower(uint32_t cp);
/* First code point of the canonical decomposition (NFD) of cp, or cp itself: a
 * precomposed letter maps to its base letter, e.g. U+00E9 'é' -> 'e'. */
uint32_t uni_nfd_first(uint32_t cp);
/* The Unicode version of the tables, e.g. "14.0.0". */
const char *uni_version(void);

#endif
