/*
 * audit.c — gathering the facts for `hearth audit` (see audit.h).
 *
 * /proc/net/tcp lines read "sl local rem st tx:rx tr:when retrnsmt uid timeout inode";
 * addresses are hex in the kernel's byte order (IPv4 one 32-bit word, IPv6 four), port
 * in plain hex, and state 0A is LISTEN. A process's sockets show in /proc/PID/fd as links
 * to "socket:[INODE]".
 */
#include "hub/audit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/sha256.h"
#include "formats/gguf.h"
#include "hub/registry.h"

#define MAX_INODES 256

bool audit_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/* Read a NUL-separated /proc file (cmdline, environ) into buf; returns its length. */
static size_t read_proc(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* Is this command line `hearth serve ...`? */
static bool is_hearth_serve(const char *cmd, size_t n)
{
    if (n == 0)
        return false;
    const char *base = strrchr(cmd, '/');
    base = base ? base + 1 : cmd;
    size_t first = strlen(cmd) + 1;
    return strcmp(base, "hearth") == 0 && first < n && strcmp(cmd + first, "serve") == 0;
}

/* Was an API key given? 1 yes, 0 no, -1 the environment could not be read. */
static int auth_given(const char *proc, const char *pid, const char *cmd, size_t n)
{
    for (size_t i = 0; i < n; i += strlen(cmd + i) + 1)
        if (strncmp(cmd + i, "--api-key", 9) == 0)
            return 1;
    char path[512], env[65536];
    snprintf(path, sizeof path, "%s/%s/environ", proc, pid);
    size_t m = read_proc(path, env, sizeof env);
    if (m == 0)
        return -1;
    for (size_t i = 0; i < m; i += strlen(env + i) + 1)
        if (strncmp(env + i, "HEARTH_API_KEY=", 15) == 0 && env[i + 15])
            return 1;
    return 0;
}

static size_t socket_inodes(const char *proc, const char *pid, unsigned long *inodes)
{
    char path[512], link[128];
    snprintf(path, sizeof path, "%s/%s/fd", proc, pid);
    DIR *d = opendir(path);
    size_t n = 0;
    struct dirent *de;
    while (d && n < MAX_INODES && (de = readdir(d))) {
        char fd[800];
        if (snprintf(fd, sizeof fd, "%s/%s", path, de->d_name) >= (int)sizeof fd)
            continue;
        ssize_t len = readlink(fd, link, sizeof link - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Kernel hex address -> text. */
static bool hex_addr(const char *hex, bool v6, char *out, size_t cap)
{
    if (!v6) {
        unsigned int w;
        if (strlen(hex) != 8 || sscanf(hex, "%8x", &w) != 1)
            return false;
        struct in_addr a = { .s_addr = w }; /* the kernel printed the word in host order */
        return inet_ntop(AF_INET, &a, out, (socklen_t)cap) != NULL;
    }
    struct in6_addr a;
    if (strlen(hex) != 32)
        return false;
    for (int i = 0; i < 4; i++) {
        unsigned int w;
        char part[9];
        memcpy(part, hex + 8 * i, 8);
        part[8] = '\0';
        if (sscanf(part, "%8x", &w) != 1)
            return false;
        memcpy(&a.s6_addr[4 * i], &w, 4);
    }
    return inet_ntop(AF_INET6, &a, out, (socklen_t)cap) != NULL;
}

static hearth_status add_listener(audit_report *r, const audit_listener *l, hearth_error *err)
{
    audit_listener *g = mem_realloc_array(r->listeners, r->n_listeners + 1, sizeof *g);
    if (!g)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    r->listeners = g;
    r->listeners[r->n_listeners++] = *l;
    return HEARTH_OK;
}

static hearth_status scan_tcp(const char *path, bool v6, const unsigned long *inodes, size_t n,
                              audit_listener base, audit_report *r, hearth_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return HEARTH_OK;
    char line[512];
    hearth_status st = HEARTH_OK;
    while (!st && fgets(line, sizeof line, f)) {
        char local[64], state[8];
        unsigned int port;
        unsigned long inode;
        if (sscanf(line, " %*s %63[0-9A-Fa-f]:%x %*s %7s %*s %*s %*s %*s %*s %lu", local, &port,
                   state, &inode) != 4 || strcmp(state, "0A") != 0)
            continue;
        bool mine = false;
        for (size_t i = 0; i < n && !mine; i++)
            mine = inodes[i] == inode;
        char text[INET6_ADDRSTRLEN];
        if (!mine || !hex_addr(local, v6, text, sizeof text))
            continue;
        audit_listener l = base;
        snprintf(l.addr, sizeof l.addr, v6 ? "[%s]:%u" : "%s:%u", text, port);
        l.loopback = audit_is_loopback(text);
        st = add_listener(r, &l, err);
    }
    fclose(f);
    return st;
}

hearth_status audit_servers(const char *proc, audit_report *r, hearth_error *err)
{
    DIR *d = opendir(proc);
    if (!d)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot list processes", proc);
    hearth_status st = HEARTH_OK;
    struct dirent *de;
    static char cmd[65536];
    while (!st && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s/cmdline", proc, de->d_name);
        size_t n = read_proc(path, cmd, sizeof cmd);
        if (!is_hearth_serve(cmd, n))
            continue;
        r->n_servers++;
        unsigned long inodes[MAX_INODES];
        size_t k = socket_inodes(proc, de->d_name, inodes);
        audit_listener base = { .pid = atoi(de->d_name),
                                .auth = auth_given(proc, de->d_name, cmd, n) };
        snprintf(path, sizeof path, "%s/%s/net/tcp", proc, de->d_name);
        st = scan_tcp(path, false, inodes, k, base, r, err);
        snprintf(path, sizeof path, "%s/%s/net/tcp6", proc, de->d_name);
        if (!st)
            st = scan_tcp(path, true, inodes, k, base, r, err);
    }
    closedir(d);
    return st;
}

/* Is the file there, and for a split model every part beside it? */
static bool parts_present(const char *path)
{
    if (access(path, R_OK) != 0)
        return false;
    int parts = 0;
    if (gguf_split_name(path, &parts) == 1)
        for (int k = 2; k <= parts; k++) {
            char part[4096];
            if (!gguf_split_sibling(path, k, part, sizeof part) || access(part, R_OK) != 0)
                return false;
        }
    return true;
}

/* Hash the model's file, or for a split model registered with its parts' hashes, every
 * part (an entry registered before those were recorded has its first part's only). */
static void verify_model(const reg_entry *e, audit_model *m)
{
    char hex[65], *parts = NULL;
    if (e->parts_sha256) {
        if (reg_hash_parts(e->path, &parts, NULL) == HEARTH_OK && parts) {
            m->verified = true;
            m->hash_ok = strcmp(parts, e->parts_sha256) == 0;
        }
        mem_free(parts);
    } else if (sha256_file(e->path, hex, NULL) == HEARTH_OK) {
        m->verified = true;
        m->hash_ok = strcmp(hex, e->sha256) == 0;
    }
}

hearth_status audit_models(audit_report *r, bool verify, hearth_error *err)
{
    registry *reg;
    hearth_status st = reg_open(&reg, err);
    if (st)
        return st;
    r->models = mem_calloc(reg->n + 1, sizeof *r->models);
    if (!r->models) {
        reg_free(reg);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < reg->n; i++) {
        const reg_entry *e = &reg->entries[i];
        audit_model *m = &r->models[r->n_models++];
        snprintf(m->name, sizeof m->name, "%s", e->name);
        snprintf(m->path, sizeof m->path, "%s", e->path);
        m->present = parts_present(e->path);
        if (m->present && verify)
            verify_model(e, m);
        if (!m->present || lic_judge_model(e->name, &m->lic, NULL) != HEARTH_OK)
            lic_judge(&e->license, &m->lic);
    }
    reg_free(reg);
    return HEARTH_OK;
}

void audit_report_free(audit_report *r)
{
    mem_free(r->listeners);
    mem_free(r->models);
    memset(r, 0, sizeof *r);
}
