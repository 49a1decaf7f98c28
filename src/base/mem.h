/*
 * mem.h — the one allocator every part of hearth goes through.
 *
 * All heap allocation calls these, so tests can make the Nth allocation fail
 * (mem_fail_after) and check that out-of-memory is an ordinary error, never a crash.
 * They behave like malloc/calloc/realloc/free; calloc and the array helpers check the
 * multiplication for overflow and fail instead of wrapping.
 */
#ifndef HEARTH_BASE_MEM_H
#define HEARTH_BASE_MEM_H

#include <stddef.h>

void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
/* realloc for an array of count elements of size bytes; NULL on overflow or failure
 * (p is left untouched then). */
void *mem_realloc_array(void *p, size_t count, size_t size);
void mem_free(void *p);
/* A NUL-terminated copy of the first n bytes of s. */
char *mem_strndup(const char *s, size_t n);
char *mem_strdup(const char *s);

/* Test hook: after n more successful allocations, every allocation fails until
 * mem_fail_after(-1) switches failure injection off again. Thread-safe. */
void mem_fail_after(long n);

/* Allocation aligned to `align` bytes (a power of two); release with mem_free_aligned. */
void *mem_alloc_aligned(size_t n, size_t align);
void mem_free_aligned(void *p);

#endif
