/*
 * audit.h — "does anything leave this machine?": the facts `hearth audit` reports.
 *
 * - Telemetry: none, and where to look to check it: src/hub/pull.c is the only source
 *   file that opens network connections, and it runs only when a download is asked
 *   for (`hearth pull`, `hearth fit hf:...` for a header, or a yes to the default model
 *   that run, chat and serve offer when no model is named).
 * - Servers: every running `hearth serve` (found through /proc/PID/cmdline), the TCP
 *   addresses it listens on (its socket inodes matched against /proc/PID/net/tcp and
 *   tcp6), whether each is reachable beyond loopback, and whether an API key was given
 *   (--api-key on its command line or HEARTH_API_KEY in its environment, when readable).
 * - Models: every registry entry's file hashed again and compared with the recorded
 *   sha256, and its license verdict.
 * The /proc root is a parameter so tests can hand it a fabricated tree.
 */
#ifndef HEARTH_HUB_AUDIT_H
#define HEARTH_HUB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "hub/license.h"

#define AUDIT_NETWORK_SOURCE "src/hub/pull.c"

typedef struct audit_listener {
    int pid;
    char addr[64];   /* "127.0.0.1:8080", "[::]:8080" */
    bool loopback;   /* reachable only from this machine */
    int auth;        /* 1: an API key was given, 0: none found, -1: could not tell */
} audit_listener;

typedef struct audit_model {
    char name[REG_NAME_MAX + 1];
    char path[4096];
    bool present;
    bool verified;   /* hashed (false with verify off or a missing file) */
    bool hash_ok;    /* the file still has the recorded sha256 */
    lic_result lic;
} audit_model;

typedef struct audit_report {
    int n_servers;             /* hearth serve processes found */
    audit_listener *listeners; /* their listening sockets */
    size_t n_listeners;
    audit_model *models;
    size_t n_models;
} audit_report;

/* Find running `hearth serve` processes and their listening sockets under proc_root. */
hearth_status audit_servers(const char *proc_root, audit_report *r, hearth_error *err);
/* Check the registry's models (re-hash them when verify is set). */
hearth_status audit_models(audit_report *r, bool verify, hearth_error *err);
void audit_report_free(audit_report *r);

/* Is this "a.b.c.d" / IPv6 text address a loopback address? */
bool audit_is_loopback(const char *addr);

#endif
