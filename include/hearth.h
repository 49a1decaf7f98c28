/*
 * hearth.h — the public C API of libhearth.
 *
 * hearth runs open-weight models (chat, embeddings, speech, images) on your own machine,
 * offline. This header is the whole public surface; anything not declared here is internal
 * and may change.
 *
 * Conventions
 *   - Every function that can fail returns a hearth_status and, where it takes one, fills a
 *     caller-provided hearth_error with a one-line message naming what is wrong and where.
 *   - Objects are opaque handles with create/free pairs; free(NULL) is a no-op.
 *   - No global state: two handles never share mutable state, so different handles may be
 *     used from different threads at once; one handle must not be used by two threads at once.
 *
 * Usage
 *   hearth_error err;
 *   hearth_gguf *f;
 *   if (hearth_gguf_open(&f, "model.gguf", &err) != HEARTH_OK) {
 *       fprintf(stderr, "%s\n", err.msg);
 *       return 1;
 *   }
 *   ...
 *   hearth_gguf_free(f);
 */
#ifndef HEARTH_H
#define HEARTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_VERSION "0.1.0"

typedef enum hearth_status {
    HEARTH_OK = 0,
    HEARTH_ERR_INVALID,      /* a bad argument or request */
    HEARTH_ERR_IO,           /* a file could not be opened, read or written */
    HEARTH_ERR_NOMEM,        /* an allocation failed */
    HEARTH_ERR_FORMAT,       /* a file is malformed */
    HEARTH_ERR_UNSUPPORTED,  /* well-formed, but uses something hearth does not implement */
    HEARTH_ERR_RANGE,        /* a value is outside what is allowed (context full, too large) */
} hearth_status;

/* A status plus a one-line, human-readable message (never ends in a newline). */
typedef struct hearth_error {
    hearth_status status;
    char msg[512];
} hearth_error;

/* The library version, e.g. "0.1.0". */
const char *hearth_version(void);

/* A short name for a status, e.g. "format error". Never NULL. */
const char *hearth_status_str(hearth_status status);

/* ---- GGUF files ------------------------------------------------------------------------
 * A read-only view of a GGUF model file. The file is memory-mapped; tensor data is used in
 * place. Every length, count and offset is validated before use: a malformed file gives
 * HEARTH_ERR_FORMAT with a message naming the file and the problem.
 */
typedef struct gguf_file hearth_gguf;

hearth_status hearth_gguf_open(hearth_gguf **out, const char *path, hearth_error *err);
void hearth_gguf_free(hearth_gguf *f);

#ifdef __cplusplus
}
#endif
#endif
