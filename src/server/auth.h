/*
 * auth.h — who may talk to the server: an API key and a Host-header allow-list.
 *
 * The key is compared in constant time (the time taken does not depend on where the
 * first differing byte is). The Host check defeats DNS rebinding: a web page on a
 * stranger's domain that resolves to 127.0.0.1 still sends its own name as Host, which is
 * not on the list (localhost names, the bound address, and names added with --allow-host).
 */
#ifndef HEARTH_SERVER_AUTH_H
#define HEARTH_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Equal strings, in time depending only on their lengths. */
bool auth_equal(const char *a, const char *b);
/* Does an "Authorization: Bearer KEY" header value carry key? */
bool auth_bearer_ok(const char *header, const char *key);
/* Is the host (a Host header value, with or without port) allowed? allowed is a NULL-ended
 * list of extra names (case-insensitive). */
bool auth_host_ok(const char *host_header, const char *const *allowed);
/* Is the address a loopback one (127.0.0.0/8, ::1, "localhost")? */
bool auth_is_loopback(const char *addr);

#endif
