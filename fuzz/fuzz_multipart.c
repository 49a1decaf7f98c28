/*
 * fuzz_multipart.c — libFuzzer target for the multipart/form-data parser (server/multipart.h).
 *
 * The first input line is the Content-Type header (so the boundary is fuzzed too), the rest
 * the body, copied to a buffer of exactly its size so any read past the end is caught.
 * Every accepted part's data is read in full and must lie inside the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/multipart.h"

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    if (!nl)
        return 0;
    size_t ct_len = (size_t)(nl - data), len = size - ct_len - 1;
    char ct[201];
    memcpy(ct, data, ct_len);
    ct[ct_len] = '\0';
    char *body = malloc(len ? len : 1);
    if (!body)
        return 0;
    memcpy(body, nl + 1, len);
    mp_part parts[8];
    int n;
    hearth_error err;
    if (mp_parse(ct, body, len, parts, 8, &n, &err) == HEARTH_OK) {
        for (int i = 0; i < n; i++) {
            if (parts[i].data < body || parts[i].data + parts[i].len > body + len)
                abort();
            for (size_t k = 0; k < parts[i].len; k++)
                sink += (unsigned char)parts[i].data[k];
            sink += (unsigned)strlen(parts[i].name) + (unsigned)strlen(parts[i].filename);
        }
    }
    free(body);
    return 0;
}
