/* auth.c — see auth.h. */
#include "server/auth.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

bool auth_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    /* walk the expected string whatever the input, so the time reveals only lengths */
    for (size_t i = 0; i < nb; i++)
        diff |= (unsigned char)(b[i] ^ (i < na ? a[i] : 0));
    return diff == 0;
}

bool auth_bearer_ok(const char *header, const char *key)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    header += 7;
    while (*header == ' ')
        header++;
    return auth_equal(header, key);
}

bool auth_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(addr, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

bool auth_host_ok(const char *host_header, const char *const *allowed)
{
    if (!host_header)
        return true; /* HTTP/1.0 clients send none; browsers always do */
    char host[256];
    size_t n = strlen(host_header);
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, host_header, n + 1);
    /* strip the port: "name:port", "[v6]:port" */
    char *end = host[0] == '[' ? strchr(host, ']') : strrchr(host, ':');
    if (host[0] == '[') {
        if (!end || (end[1] && end[1] != ':'))
            return false;
        *end = '\0';
        memmove(host, host + 1, strlen(host + 1) + 1);
    } else if (end && !strchr(host, ']')) {
        *end = '\0';
    }
    if (auth_is_loopback(host))
        return true;
    for (int i = 0; allowed && allowed[i]; i++)
        if (strcasecmp(host, allowed[i]) == 0)
            return true;
    return false;
}
