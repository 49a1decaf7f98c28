/*
 * sha256.h — SHA-256 (FIPS 180-4), for checking downloaded and registered model files.
 *
 * Streaming: init, update with any number of byte runs, final. sha256_file hashes a whole
 * file in bounded memory (a read loop, not a mapping) so a multi-gigabyte model costs
 * one buffer.
 */
#ifndef HEARTH_BASE_SHA256_H
#define HEARTH_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t total;      /* bytes hashed so far */
    unsigned char buf[64];
    size_t fill;         /* bytes waiting in buf */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Finish and write the 32-byte digest. */
void sha256_final(sha256_ctx *c, unsigned char digest[32]);
/* Digest as 64 lowercase hex characters plus NUL. */
void sha256_hex(const unsigned char digest[32], char hex[65]);
/* Hash the file at path into hex. HEARTH_ERR_IO naming the file on a read error. */
hearth_status sha256_file(const char *path, char hex[65], hearth_error *err);

#endif
