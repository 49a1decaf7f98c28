/*
 * multipart.h — a small parser for multipart/form-data request bodies (RFC 7578), as
 * sent by OpenAI clients to /v1/audio/transcriptions.
 *
 * The body is hostile input: every search is bounded by its length, names and file names
 * must fit their fields (longer ones are an error, not truncated), a part's header block
 * is at most MP_MAX_HEADER bytes, and the number of parts is capped by the caller. Part
 * data is not copied: mp_part.data points into the body (which may hold any bytes,
 * NULs included), so the parts live as long as the body.
 */
#ifndef HEARTH_SERVER_MULTIPART_H
#define HEARTH_SERVER_MULTIPART_H

#include <stddef.h>

#include "base/error.h"

#define MP_MAX_HEADER 8192

typedef struct mp_part {
    char name[128];        /* the form field's name */
    char filename[256];    /* "" when the part is not a file */
    char type[128];        /* its Content-Type, "" when none was given */
    const char *data;      /* into the body */
    size_t len;
} mp_part;

/* Split body[0..len) by the boundary named in content_type (the request's Content-Type
 * header, which must be multipart/form-data). Fills up to max parts and sets *n. Returns
 * HEARTH_ERR_INVALID with a one-line reason for anything malformed. */
hearth_status mp_parse(const char *content_type, const char *body, size_t len, mp_part *parts,
                       int max, int *n, hearth_error *err);

/* The first part named name, or NULL. */
const mp_part *mp_find(const mp_part *parts, int n, const char *name);

#endif
