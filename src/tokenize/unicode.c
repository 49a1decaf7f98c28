/*
 * unicode.c — Unicode property lookups over the generated tables in unicode_data.inc.
 *
 * Categories are stored as runs (first code point of each run of equal class), lower-case
 * mappings as sorted pairs and NFD first code points as sorted ranges; each lookup is a
 * binary search. ASCII, by far the most common input, has its own branch-free path.
 */
#include "tokenize/unicode.h"

#include <stddef.h>

struct uni_run { uint32_t first; uint8_t cat; };
struct uni_map { uint32_t from, to; };
struct uni_range_map { uint32_t first, last, to; };

#include "tokenize/unicode_data.inc"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum uni_cat uni_category(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return UNI_UNASSIGNED;
    /* last run whose first code point is <= cp */
    size_t lo = 0, hi = COUNT(uni_cat_runs);
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (uni_cat_runs[mid].first <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (enum uni_cat)uni_cat_runs[lo].cat;
}

bool uni_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    for (size_t i = 0; i < COUNT(uni_space); i++)
        if (uni_space[i] == cp)
            return true;
    return false;
}

unsigned uni_flags(uint32_t cp)
{
    return (unsigned)uni_category(cp) | (uni_is_space(cp) ? UNI_F_SPACE : 0);
}

uint32_t uni_tolower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    size_t lo = 0, hi = COUNT(uni_lower);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_lower[mid].from < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < COUNT(uni_lower) && uni_lower[lo].from == cp ? uni_lower[lo].to : cp;
}

uint32_t uni_nfd_first(uint32_t cp)
{
    if (cp < 0xC0)
        return cp;
    size_t lo = 0, hi = COUNT(uni_nfd);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_nfd[mid].last < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < COUNT(uni_nfd) && uni_nfd[lo].first <= cp ? uni_nfd[lo].to : cp;
}

const char *uni_version(void)
{
    return UNI_DATA_VERSION;
}
