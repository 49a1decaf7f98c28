/*
 * utf8.h — decoding and encoding UTF-8, strictly.
 *
 * Text from users and from model files is untrusted bytes. utf8_decode accepts exactly
 * the well-formed sequences of the Unicode standard (no overlongs, no surrogates, nothing
 * above U+10FFFF) and tells a truncated-but-so-far-valid sequence apart from an invalid
 * one, which is what a streaming decoder needs to hold back the start of a character
 * until its remaining bytes arrive.
 */
#ifndef HEARTH_BASE_UTF8_H
#define HEARTH_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFD
#define UTF8_INCOMPLETE 0 /* utf8_decode: a valid prefix of a longer sequence */
#define UTF8_INVALID (-1) /* utf8_decode: s[0] does not start a valid sequence */

/* Decode the character at s (n > 0 bytes available). Returns its length in bytes (1..4)
 * and stores the code point in *cp; UTF8_INCOMPLETE when the n bytes are a valid but
 * unfinished prefix; UTF8_INVALID when s[0] cannot start a well-formed sequence here
 * (a caller skips that one byte). */
int utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Write the UTF-8 form of cp (<= 0x10FFFF) to out; returns 1..4 (0 for cp > 0x10FFFF). */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Is s[0..n) entirely well-formed UTF-8? */
bool utf8_valid(const char *s, size_t n);

/* s[0..n) into out (cap >= 1 bytes, NUL-terminated) as well-formed UTF-8: each byte that
 * does not start a well-formed character becomes U+FFFD; stops once fewer than 5 bytes are
 * left (a character and the NUL might not fit). Returns the bytes written. For token
 * pieces, which may hold part of a character, shown to people or sent as JSON. */
size_t utf8_sanitize(const char *s, size_t n, char *out, size_t cap);

/* How many bytes at the end of s[0..n) are the valid start of a character whose remaining
 * bytes are missing (0 to 3): what a writer that cuts text into pieces carries over. */
size_t utf8_incomplete_tail(const char *s, size_t n);

#endif
