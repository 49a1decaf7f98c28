/*
 * multipart.c — see multipart.h. The body is a sequence of parts, each introduced by a
 * delimiter line "--BOUNDARY", with MIME headers, an empty line, and data that runs up to
 * the CRLF before the next delimiter; "--BOUNDARY--" closes the body:
 *
 *   --B\r\n Content-Disposition: form-data; name="file"; filename="a.wav"\r\n
 *   Content-Type: audio/wav\r\n \r\n <bytes> \r\n--B\r\n ... \r\n--B--\r\n
 *
 * Everything is located with bounded searches over (pointer, length) pairs; nothing
 * assumes a NUL terminator inside the body.
 */
#define _GNU_SOURCE /* memmem */
#include "server/multipart.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* The value of parameter key in "a; key=value; ..." (value bare or quoted). Returns 1
 * found, 0 absent, -1 malformed or too long for out. */
static int param(const char *s, size_t n, const char *key, char *out, size_t cap)
{
    size_t kn = strlen(key), i = 0;
    while (i < n && s[i] != ';')
        i++;
    while (i < n) {
        i++; /* past ';' */
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t k0 = i;
        while (i < n && s[i] != '=' && s[i] != ';')
            i++;
        size_t k1 = i;
        while (k1 > k0 && (s[k1 - 1] == ' ' || s[k1 - 1] == '\t'))
            k1--;
        bool match = k1 - k0 == kn && strncasecmp(s + k0, key, kn) == 0;
        if (i >= n || s[i] == ';')
            continue;             /* a parameter without a value */
        i++;                      /* past '=' */
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t o = 0;
        if (i < n && s[i] == '"') {
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                if (match && o + 1 >= cap)
                    return -1;
                if (match)
                    out[o++] = s[i];
            }
            if (i >= n)
                return -1;        /* unterminated quoted string */
            i++;
        } else {
            for (; i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'; i++) {
                if (match && o + 1 >= cap)
                    return -1;
                if (match)
                    out[o++] = s[i];
            }
        }
        if (match) {
            out[o] = '\0';
            return 1;
        }
        while (i < n && s[i] != ';')
            i++;
    }
    return 0;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value,
                      size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    size_t i = k + 1;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    *value = line + i;
    *vn = n - i;
    return true;
}

/* Read one part's header block h[0..n) (CRLF-separated lines) into p. */
static hearth_status part_headers(const char *h, size_t n, mp_part *p, hearth_error *err)
{
    bool named = false;
    for (size_t i = 0; i < n;) {
        const char *eol = memmem(h + i, n - i, "\r\n", 2);
        size_t ln = eol ? (size_t)(eol - (h + i)) : n - i;
        const char *v;
        size_t vn;
        if (header_is(h + i, ln, "Content-Disposition", &v, &vn)) {
            if (vn < 9 || strncasecmp(v, "form-data", 9) != 0)
                return err_set(err, HEARTH_ERR_INVALID, "multipart body: a part is not form-data");
            int a = param(v, vn, "name", p->name, sizeof p->name);
            int b = param(v, vn, "filename", p->filename, sizeof p->filename);
            if (a < 0 || b < 0)
                return err_set(err, HEARTH_ERR_INVALID, "multipart body: a malformed or too long "
                               "field name or file name");
            named = a == 1;
        } else if (header_is(h + i, ln, "Content-Type", &v, &vn)) {
            if (vn >= sizeof p->type)
                return err_set(err, HEARTH_ERR_INVALID, "multipart body: a part's Content-Type "
                               "is too long");
            memcpy(p->type, v, vn);
            p->type[vn] = '\0';
        }
        i += ln + 2;
    }
    if (!named)
        return err_set(err, HEARTH_ERR_INVALID, "multipart body: a part has no "
                       "Content-Disposition name");
    return HEARTH_OK;
}

static hearth_status boundary_of(const char *ct, char *delim, size_t cap, size_t *dn,
                                 hearth_error *err)
{
    static const char mt[] = "multipart/form-data";
    if (!ct || strncasecmp(ct, mt, sizeof mt - 1) != 0 ||
        (ct[sizeof mt - 1] && ct[sizeof mt - 1] != ';' && !isspace((unsigned char)ct[sizeof mt - 1])))
        return err_set(err, HEARTH_ERR_INVALID, "the body must be multipart/form-data");
    char b[80];
    int r = param(ct, strlen(ct), "boundary", b, sizeof b);
    size_t bn = r == 1 ? strlen(b) : 0;
    if (bn == 0 || bn > 70 || bn + 4 >= cap)
        return err_set(err, HEARTH_ERR_INVALID, "multipart/form-data needs a boundary of 1 to "
                       "70 characters");
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, b, bn);
    *dn = bn + 4;
    return HEARTH_OK;
}

hearth_status mp_parse(const char *content_type, const char *body, size_t len, mp_part *parts,
                       int max, int *n, hearth_error *err)
{
    char delim[80];
    size_t dn = 0;
    *n = 0;
    if (boundary_of(content_type, delim, sizeof delim, &dn, err))
        return HEARTH_ERR_INVALID;
    /* the first delimiter opens the body, or follows a preamble line */
    size_t pos;
    if (len >= dn - 2 && memcmp(body, delim + 2, dn - 2) == 0) {
        pos = dn - 2;
    } else {
        const char *d = memmem(body, len, delim, dn);
        if (!d)
            return err_set(err, HEARTH_ERR_INVALID, "multipart body: no opening boundary");
        pos = (size_t)(d - body) + dn;
    }
    for (;;) {
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-')
            return HEARTH_OK; /* the closing delimiter; an epilogue is ignored */
        while (pos < len && (body[pos] == ' ' || body[pos] == '\t'))
            pos++;
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n')
            return err_set(err, HEARTH_ERR_INVALID, "multipart body: a boundary line is not "
                           "followed by CRLF (truncated body?)");
        pos += 2;
        if (*n == max)
            return err_set(err, HEARTH_ERR_INVALID, "multipart body: more than %d parts", max);
        mp_part *p = &parts[*n];
        memset(p, 0, sizeof *p);
        size_t hlen = 0;
        if (len - pos < 2 || memcmp(body + pos, "\r\n", 2) != 0) {
            size_t look = len - pos < MP_MAX_HEADER ? len - pos : MP_MAX_HEADER;
            const char *e = memmem(body + pos, look, "\r\n\r\n", 4);
            if (!e)
                return err_set(err, HEARTH_ERR_INVALID, "multipart body: a part's headers do "
                               "not end (or exceed %d bytes)", MP_MAX_HEADER);
            hlen = (size_t)(e - (body + pos)) + 2;
        }
        if (part_headers(body + pos, hlen, p, err))
            return HEARTH_ERR_INVALID;
        pos += hlen + 2;
        const char *end = memmem(body + pos, len - pos, delim, dn);
        if (!end)
            return err_set(err, HEARTH_ERR_INVALID, "multipart body: the part '%s' has no "
                           "closing boundary (truncated body?)", p->name);
        p->data = body + pos;
        p->len = (size_t)(end - (body + pos));
        (*n)++;
        pos = (size_t)(end - body) + dn;
    }
}

const mp_part *mp_find(const mp_part *parts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(parts[i].name, name) == 0)
            return &parts[i];
    return NULL;
}
