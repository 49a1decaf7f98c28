/*
 * pull.c — Hub and URL downloads with libcurl (see pull.h for what and why).
 *
 * This file is the only one in hearth that opens network connections; `hearth audit`
 * names it, and a test runs the other commands under strace to show they never connect.
 *
 * A download streams into NAME/FILE.part while a SHA-256 runs over the same bytes; a
 * resumed download first hashes the bytes already on disk, then asks for the rest with a
 * Range header. If the server answers a range request with the whole file (200 instead of
 * 206) the part is truncated and the hash restarted. Nothing joins the registry until the
 * size and the hash match what the Hub published.
 */
#include "hub/pull.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/sha256.h"
#include "hearth.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define DEFAULT_STALL_S 30
#define API_MAX (16u << 20)     /* a repository listing */
#define LICENSE_MAX (1u << 20)  /* a license text */

/* ---- References ---------------------------------------------------------------------------- */

static bool seg_ok(const char *s, size_t n, const char *extra)
{
    if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || (extra && c && strchr(extra, c));
        if (!ok)
            return false;
    }
    return true;
}

/* '/'-separated segments, each seg_ok, none "." or "..". */
static bool path_ok(const char *s, const char *extra)
{
    if (!*s || *s == '/' || strstr(s, ".."))
        return false;
    for (const char *p = s;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!seg_ok(p, n, extra))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

/* hf:ORG/REPO[/FILE][@REV] without the "hf:" */
static hearth_status parse_hf(const char *ref, const char *spec, pull_ref *out,
                              hearth_error *err)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf)
        return err_set(err, HEARTH_ERR_INVALID, "%s: reference too long", ref);
    char *at = strrchr(buf, '@');
    snprintf(out->rev, sizeof out->rev, "%s", at ? at + 1 : "main");
    if (at)
        *at = '\0';
    char *s1 = strchr(buf, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (s2)
        *s2 = '\0';
    if (!s1 || !seg_ok(buf, (size_t)(s1 - buf), NULL) || !seg_ok(s1 + 1, strlen(s1 + 1), NULL))
        return err_set(err, HEARTH_ERR_INVALID, "%s: expected hf:ORG/REPO[/FILE][@REVISION]",
                       ref);
    if (snprintf(out->repo, sizeof out->repo, "%s", buf) >= (int)sizeof out->repo)
        return err_set(err, HEARTH_ERR_INVALID, "%s: repository name too long", ref);
    if (s2 && (strlen(s2 + 1) >= sizeof out->file || !path_ok(s2 + 1, "+")))
        return err_set(err, HEARTH_ERR_INVALID, "%s: the file name has unusual characters or "
                       "'..'", ref);
    snprintf(out->file, sizeof out->file, "%s", s2 ? s2 + 1 : "");
    if (!*out->rev || !path_ok(out->rev, NULL))
        return err_set(err, HEARTH_ERR_INVALID, "%s: bad revision '%s'", ref, out->rev);
    return HEARTH_OK;
}

hearth_status pull_parse_ref(const char *ref, pull_ref *out, hearth_error *err)
{
    memset(out, 0, sizeof *out);
    if (strncmp(ref, "hf:", 3) == 0)
        return parse_hf(ref, ref + 3, out, err);
    if (strncmp(ref, "https://", 8) != 0)
        return err_set(err, HEARTH_ERR_INVALID, "%s: pull takes hf:ORG/REPO[/FILE][@REVISION] "
                       "or an https:// URL, nothing else", ref);
    const char *host = ref + 8, *path = strchr(host, '/');
    if (!path || strlen(ref) >= sizeof out->url || strpbrk(ref, " \t\r\n\"<>\\^`{|}"))
        return err_set(err, HEARTH_ERR_INVALID, "%s: not a file URL", ref);
    /* A Hub file URL: https://huggingface.co/ORG/REPO/resolve/REV/FILE */
    const char *res = strstr(path, "/resolve/");
    if (strncmp(host, "huggingface.co/", 15) == 0 && res) {
        char spec[1024];
        const char *rev = res + 9, *file = strchr(rev, '/');
        if (file && snprintf(spec, sizeof spec, "%.*s/%s@%.*s", (int)(res - path - 1), path + 1,
                             file + 1, (int)(file - rev), rev) < (int)sizeof spec)
            return parse_hf(ref, spec, out, err);
    }
    const char *base = strrchr(path, '/') + 1;
    size_t n = strcspn(base, "?#");
    if (!seg_ok(base, n, "+"))
        return err_set(err, HEARTH_ERR_INVALID, "%s: the URL does not end in a file name", ref);
    snprintf(out->file, sizeof out->file, "%.*s", (int)n, base);
    snprintf(out->url, sizeof out->url, "%s", ref);
    return HEARTH_OK;
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Does s carry, as a token of its own (delimited as file names write presets), a preset
 * whose weights hearth cannot compute with: the IQ quants (IQ1_S .. IQ4_XS), the ternary
 * TQ1_0/TQ2_0 and MXFP4? Picking one would download a model that then cannot run. */
static bool unsupported_preset(const char *s)
{
    static const char *const other[] = { "TQ1_0", "TQ2_0", "MXFP4" };
    for (const char *h = find_ci(s, "IQ"); h; h = find_ci(h + 1, "IQ"))
        if ((h == s || strchr("-._/", h[-1])) && h[2] >= '1' && h[2] <= '4' && h[3] == '_')
            return true;
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
        for (const char *h = find_ci(s, other[k]); h; h = find_ci(h + 1, other[k])) {
            char after = h[strlen(other[k])];
            if ((h == s || strchr("-._/", h[-1])) && after && strchr("-._", after))
                return true;
        }
    return false;
}

int pull_pick_gguf(const char *const *names, size_t n)
{
    static const char *const prefer[] = {
        "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q5_K_S", "Q4_1", "Q5_0", "Q6_K", "Q3_K_L",
        "Q5_1", "Q8_0", "Q3_K_M", "Q3_K_S", "Q2_K", "BF16", "F16", "F32",
    };
    int best = -1, best_rank = INT_MAX;
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        size_t len = strlen(s);
        int parts = 0;
        if (len < 6 || strcasecmp(s + len - 5, ".gguf") != 0 || find_ci(s, "mmproj") ||
            unsupported_preset(s) || (strstr(s, "-of-") && gguf_split_name(s, &parts) != 1))
            continue; /* of a split model, only its first part is offered */
        int rank = (int)(sizeof prefer / sizeof prefer[0]); /* unknown preset: last resort */
        for (int k = 0; k < (int)(sizeof prefer / sizeof prefer[0]) && k < rank; k++) {
            size_t pl = strlen(prefer[k]);
            for (const char *h = find_ci(s, prefer[k]); h; h = find_ci(h + 1, prefer[k])) {
                char before = h > s ? h[-1] : '-', after = h[pl];
                if (strchr("-._/", before) && after && strchr("-._", after))
                    rank = k;
            }
        }
        if (rank < best_rank)
            best = (int)i, best_rank = rank;
    }
    return best;
}

/* ---- Connections --------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct net {
    char base[512];   /* endpoint without a trailing '/' */
    bool allow_http;  /* only for a loopback endpoint */
    const char *token;
    long stall_s;
} net;

/* Plain http is refused except to this machine: the tests' mock Hub listens on loopback,
 * and nothing on the way to a loopback address can read or alter the traffic. */
static bool loopback_http(const char *url)
{
    static const char *const hosts[] = { "http://127.0.0.1", "http://localhost", "http://[::1]" };
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(url, hosts[i], n) == 0 && (url[n] == ':' || url[n] == '/' || !url[n]))
            return true;
    }
    return false;
}

static hearth_status net_init(net *c, hearth_error *err)
{
    memset(c, 0, sizeof *c);
    const char *ep = getenv("HF_ENDPOINT"), *tok = getenv("HF_TOKEN"),
               *stall = getenv("HEARTH_PULL_TIMEOUT");
    if (!ep || !*ep)
        ep = DEFAULT_ENDPOINT;
    if (snprintf(c->base, sizeof c->base, "%s", ep) >= (int)sizeof c->base)
        return err_set(err, HEARTH_ERR_INVALID, "HF_ENDPOINT is too long");
    size_t n = strlen(c->base);
    while (n && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    c->allow_http = loopback_http(c->base);
    if (strncmp(c->base, "https://", 8) != 0 && !c->allow_http)
        return err_set(err, HEARTH_ERR_INVALID, "HF_ENDPOINT=%s: must be an https:// URL (plain "
                       "http is allowed only to 127.0.0.1, localhost or [::1])", c->base);
    c->token = tok && *tok ? tok : NULL;
    c->stall_s = DEFAULT_STALL_S;
    if (stall && *stall) {
        char *end;
        long s = strtol(stall, &end, 10);
        if (*end || s < 1 || s > 3600)
            return err_set(err, HEARTH_ERR_INVALID, "HEARTH_PULL_TIMEOUT=%s: give seconds, "
                           "1..3600", stall);
        c->stall_s = s;
    }
    pthread_once(&curl_once, curl_start);
    return HEARTH_OK;
}

static CURL *handle(const net *c, const char *url, bool send_token)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    bool http = c->allow_http && strncmp(url, c->base, strlen(c->base)) == 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, http ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hearth/" HEARTH_VERSION);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->stall_s);
    if (send_token && c->token) {
        /* curl sends bearer credentials only to the original host, not across redirects. */
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, c->token);
    }
    return h;
}

/* What went wrong, in words a person can act on. */
static hearth_status net_error(const net *c, CURL *h, CURLcode rc, const char *what,
                               const char *url, hearth_error *err)
{
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_HTTP_RETURNED_ERROR && code == 401)
        return err_set(err, HEARTH_ERR_INVALID, "%s: %s (HTTP 401): the repository is gated or "
                       "private; set HF_TOKEN to a token of an account that accepted its terms",
                       what, c->token ? "the token in HF_TOKEN was not accepted"
                                      : "login required");
    if (rc == CURLE_HTTP_RETURNED_ERROR && code == 403)
        return err_set(err, HEARTH_ERR_INVALID, "%s: access denied (HTTP 403): %s", what,
                       c->token ? "the account behind HF_TOKEN has not been granted access; "
                                  "accept the model's terms on its page first"
                                : "the repository is gated; set HF_TOKEN and accept its terms");
    if (rc == CURLE_HTTP_RETURNED_ERROR && code == 404)
        return err_set(err, HEARTH_ERR_INVALID, "%s: not found (HTTP 404) at %s", what, url);
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        return err_set(err, HEARTH_ERR_IO, "%s: the server answered HTTP %ld", what, code);
    if (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_ABORTED_BY_CALLBACK)
        return err_set(err, HEARTH_ERR_IO, "%s: no data for %ld s, the transfer stalled; run "
                       "the same command again to resume", what, c->stall_s);
    if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        return err_set(err, HEARTH_ERR_INVALID, "%s: refused a redirect or URL that is not "
                       "https (%s)", what, url);
    return err_set(err, HEARTH_ERR_IO, "%s: %s", what, curl_easy_strerror(rc));
}

/* Stall detection: curl's own low-speed check averages over a window of several seconds,
 * so a server that sends a little and then nothing would be noticed late; instead the
 * progress callback (called at least once a second) aborts when no byte has arrived for
 * the stall timeout. */
typedef struct watch {
    long stall_s;
    curl_off_t last_now;
    struct timespec last_change;
    bool stalled;
} watch;

static bool watch_stalled(watch *w, curl_off_t dlnow)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (dlnow != w->last_now || w->last_change.tv_sec == 0) {
        w->last_now = dlnow;
        w->last_change = t;
        return false;
    }
    double idle = (double)(t.tv_sec - w->last_change.tv_sec) +
                  (t.tv_nsec - w->last_change.tv_nsec) * 1e-9;
    w->stalled = idle >= (double)w->stall_s;
    return w->stalled;
}

static int watch_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut,
                          curl_off_t un)
{
    return watch_stalled(user, dlnow);
}

static void watch_install(CURL *h, watch *w, long stall_s)
{
    memset(w, 0, sizeof *w);
    w->stall_s = stall_s;
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}

typedef struct membuf {
    char *p;
    size_t n, cap, max;
} membuf;

static size_t to_mem(char *data, size_t size, size_t nmemb, void *user)
{
    membuf *b = user;
    size_t n = size * nmemb;
    if (b->n + n + 1 > b->max)
        return 0;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2 < b->max ? (b->n + n + 1) * 2 : b->max;
        char *q = mem_realloc(b->p, cap);
        if (!q)
            return 0;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GET a small document into memory (NUL-terminated; caller frees b->p). */
static hearth_status get_small(const net *c, const char *url, size_t max, const char *what,
                               membuf *b, hearth_error *err)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    CURL *h = handle(c, url, true);
    if (!h)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_mem);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    watch w;
    watch_install(h, &w, c->stall_s);
    CURLcode rc = curl_easy_perform(h);
    hearth_status st = HEARTH_OK;
    if (rc == CURLE_WRITE_ERROR)
        st = err_set(err, HEARTH_ERR_RANGE, "%s: larger than %zu bytes", what, max);
    else if (rc != CURLE_OK)
        st = net_error(c, h, rc, what, url, err);
    curl_easy_cleanup(h);
    if (!st && !b->p)
        st = (b->p = mem_strdup("")) ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (st) {
        mem_free(b->p);
        b->p = NULL;
    }
    return st;
}

/* ---- The download -------------------------------------------------------------------------- */

typedef struct dl {
    CURL *h;
    FILE *fp;
    sha256_ctx sha;
    uint64_t offset;     /* bytes on disk before this transfer */
    uint64_t got;        /* bytes written by this transfer */
    uint64_t expect;     /* total size, 0 if unknown */
    int write_errno;
    bool checked;        /* the response status was looked at */
    struct timespec t0;
    const pull_params *p;
    watch w;
} dl;

static size_t to_file(char *data, size_t size, size_t nmemb, void *user)
{
    dl *d = user;
    size_t n = size * nmemb;
    if (!d->checked) {
        long code = 0;
        curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &code);
        d->checked = true;
        if (code == 200 && d->offset > 0) { /* the server ignored the range: start over */
            if (fflush(d->fp) != 0 || ftruncate(fileno(d->fp), 0) != 0 ||
                fseeko(d->fp, 0, SEEK_SET) != 0) {
                d->write_errno = errno;
                return 0;
            }
            d->offset = 0;
            sha256_init(&d->sha);
        }
    }
    if (fwrite(data, 1, n, d->fp) != n) {
        d->write_errno = errno ? errno : EIO;
        return 0;
    }
    sha256_update(&d->sha, data, n);
    d->got += n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut,
                       curl_off_t un)
{
    dl *d = user;
    if (watch_stalled(&d->w, dlnow))
        return 1;
    if (!d->p->progress)
        return 0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double s = (double)(t.tv_sec - d->t0.tv_sec) + (t.tv_nsec - d->t0.tv_nsec) * 1e-9;
    uint64_t total = d->expect ? d->expect : dltotal > 0 ? d->offset + (uint64_t)dltotal : 0;
    d->p->progress(d->p->user, d->offset + (uint64_t)dlnow, total, s > 0 ? dlnow / s : 0);
    return 0;
}

static void note(const pull_params *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const pull_params *p, const char *fmt, ...)
{
    if (!p->note)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->note(p->user, line);
}

/* Hash what a previous attempt left in the part file. */
static hearth_status hash_existing(dl *d, const char *part, hearth_error *err)
{
    unsigned char buf[1 << 16];
    size_t n;
    rewind(d->fp);
    while ((n = fread(buf, 1, sizeof buf, d->fp)) > 0)
        sha256_update(&d->sha, buf, n);
    if (ferror(d->fp))
        return err_set(err, HEARTH_ERR_IO, "%s: read error", part);
    return fseeko(d->fp, 0, SEEK_END) == 0 ? HEARTH_OK
                                           : err_set(err, HEARTH_ERR_IO, "%s: seek failed", part);
}

static hearth_status check_space(const char *dir, uint64_t need, hearth_error *err)
{
    struct statvfs vfs;
    if (need == 0 || statvfs(dir, &vfs) != 0)
        return HEARTH_OK;
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (free_bytes < need)
        return err_set(err, HEARTH_ERR_IO, "%s: not enough disk space: the download needs "
                       "%" PRIu64 " more bytes, %" PRIu64 " are free", dir, need, free_bytes);
    return HEARTH_OK;
}

/* Download url into part (resuming), then check size and hash and rename to dest.
 * sha256 is the expected hash or NULL (then *got_sha receives what was downloaded). */
static hearth_status download(const net *c, const char *url, const char *dest,
                              uint64_t expect, const char *sha256, char got_sha[65],
                              const pull_params *p, hearth_error *err)
{
    char part[PATH_MAX + 8];
    if (snprintf(part, sizeof part, "%s.part", dest) >= (int)sizeof part)
        return err_set(err, HEARTH_ERR_INVALID, "%s: path too long", dest);
    dl d = { .expect = expect, .p = p };
    sha256_init(&d.sha);
    struct stat st;
    if (stat(part, &st) == 0 && expect && (uint64_t)st.st_size > expect)
        unlink(part); /* longer than the file: not a prefix of it */
    d.offset = stat(part, &st) == 0 ? (uint64_t)st.st_size : 0;
    d.fp = fopen(part, d.offset ? "r+b" : "wb");
    if (!d.fp)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot create: %s", part, strerror(errno));
    hearth_status s = d.offset ? hash_existing(&d, part, err) : HEARTH_OK;
    if (!s && d.offset)
        note(p, "resuming at %" PRIu64 " of %" PRIu64 " bytes (%s)", d.offset, expect, part);
    char *slash = strrchr(part, '/');
    if (!s && slash) {
        *slash = '\0';
        s = check_space(part, expect > d.offset ? expect - d.offset : 0, err);
        *slash = '/';
    }
    if (!s && (!expect || d.offset < expect)) {
        d.h = handle(c, url, true);
        if (!d.h) {
            s = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        } else {
            char range[32];
            snprintf(range, sizeof range, "%" PRIu64 "-", d.offset);
            if (d.offset)
                curl_easy_setopt(d.h, CURLOPT_RANGE, range);
            curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, to_file);
            curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
            curl_easy_setopt(d.h, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(d.h, CURLOPT_XFERINFODATA, &d);
            curl_easy_setopt(d.h, CURLOPT_NOPROGRESS, 0L);
            d.w.stall_s = c->stall_s;
            clock_gettime(CLOCK_MONOTONIC, &d.t0);
            CURLcode rc = curl_easy_perform(d.h);
            if (rc == CURLE_WRITE_ERROR && d.write_errno)
                s = err_set(err, HEARTH_ERR_IO, "cannot write %s: %s%s; the partial file is "
                            "kept, free some space and run the same command again", part,
                            strerror(d.write_errno),
                            d.write_errno == ENOSPC || d.write_errno == EFBIG
                                ? " (the disk is full or a file size limit was reached)" : "");
            else if (rc != CURLE_OK)
                s = net_error(c, d.h, rc, "download", url, err);
            if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR)
                s = err_set(err, HEARTH_ERR_IO, "download: the connection closed after %" PRIu64
                            " of %" PRIu64 " bytes; run the same command again to resume "
                            "(kept in %s)", d.offset + d.got, expect, part);
            curl_easy_cleanup(d.h);
        }
    }
    if (fflush(d.fp) != 0 || fsync(fileno(d.fp)) != 0) {
        if (!s)
            s = err_set(err, HEARTH_ERR_IO, "cannot write %s: %s", part, strerror(errno));
    }
    fclose(d.fp);
    if (s)
        return s;
    uint64_t size = d.offset + d.got;
    unsigned char digest[32];
    sha256_final(&d.sha, digest);
    sha256_hex(digest, got_sha);
    if (expect && size != expect) {
        unlink(part);
        return err_set(err, HEARTH_ERR_FORMAT, "download: got %" PRIu64 " bytes, the Hub says "
                       "%" PRIu64 "; the partial file was deleted", size, expect);
    }
    if (sha256 && strcmp(sha256, got_sha) != 0) {
        unlink(part);
        return err_set(err, HEARTH_ERR_FORMAT, "checksum mismatch: expected sha256 %s, the "
                       "download has %s; the partial file was deleted and nothing was "
                       "registered (try again; if it repeats, the source or the network is "
                       "altering the file)", sha256, got_sha);
    }
    if (rename(part, dest) != 0)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot rename into place: %s", part,
                       strerror(errno));
    return HEARTH_OK;
}

/* ---- The Hub ------------------------------------------------------------------------------- */

typedef struct hub_info {
    cJSON *root;
    const cJSON *siblings;
    const char *license, *license_name, *license_link;
} hub_info;

static hearth_status hub_fetch(const net *c, const pull_ref *ref, hub_info *info,
                               hearth_error *err)
{
    memset(info, 0, sizeof *info);
    char url[2048], what[512];
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", c->base, ref->repo,
             ref->rev);
    snprintf(what, sizeof what, "%s@%s", ref->repo, ref->rev);
    membuf b;
    hearth_status s = get_small(c, url, API_MAX, what, &b, err);
    if (s)
        return s;
    info->root = cJSON_ParseWithLength(b.p, b.n);
    mem_free(b.p);
    info->siblings = cJSON_GetObjectItemCaseSensitive(info->root, "siblings");
    if (!cJSON_IsArray(info->siblings)) {
        cJSON_Delete(info->root);
        info->root = NULL;
        return err_set(err, HEARTH_ERR_FORMAT, "%s: the Hub's answer has no file list", what);
    }
    const cJSON *card = cJSON_GetObjectItemCaseSensitive(info->root, "cardData");
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(card, "license")) && cJSON_IsString(v))
        info->license = v->valuestring;
    else if (cJSON_IsArray(v) && cJSON_IsString(cJSON_GetArrayItem(v, 0)))
        info->license = cJSON_GetArrayItem(v, 0)->valuestring;
    if ((v = cJSON_GetObjectItemCaseSensitive(card, "license_name")) && cJSON_IsString(v))
        info->license_name = v->valuestring;
    if ((v = cJSON_GetObjectItemCaseSensitive(card, "license_link")) && cJSON_IsString(v))
        info->license_link = v->valuestring;
    return HEARTH_OK;
}

static const char *sibling_name(const cJSON *s)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
    return cJSON_IsString(n) ? n->valuestring : NULL;
}

static const cJSON *find_sibling(const hub_info *info, const char *file)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, info->siblings)
    {
        const char *n = sibling_name(s);
        if (n && strcmp(n, file) == 0)
            return s;
    }
    return NULL;
}

/* Choose the file when the reference names none. */
static hearth_status pick(const hub_info *info, pull_ref *ref, const pull_params *p,
                          hearth_error *err)
{
    int n = cJSON_GetArraySize(info->siblings);
    const char **names = mem_calloc((size_t)n + 1, sizeof *names);
    if (!names)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    int n_gguf = 0;
    for (int i = 0; i < n; i++) {
        names[i] = sibling_name(cJSON_GetArrayItem(info->siblings, i));
        if (!names[i])
            names[i] = "";
        size_t len = strlen(names[i]);
        n_gguf += len > 5 && strcasecmp(names[i] + len - 5, ".gguf") == 0;
    }
    int k = pull_pick_gguf(names, (size_t)n);
    hearth_status s = HEARTH_OK;
    if (k < 0)
        s = err_set(err, HEARTH_ERR_UNSUPPORTED, "%s@%s has no GGUF model hearth can run (%d "
                    ".gguf files: IQ, TQ and MXFP4 quants, projectors and later parts of split "
                    "models are not offered)", ref->repo, ref->rev, n_gguf);
    else if (strlen(names[k]) >= sizeof ref->file || !path_ok(names[k], "+"))
        s = err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: unusual file name '%s'", ref->repo,
                    names[k]);
    else {
        snprintf(ref->file, sizeof ref->file, "%s", names[k]);
        note(p, "picked %s (%d GGUF file%s in %s; name another with hf:%s/FILE)", ref->file,
             n_gguf, n_gguf == 1 ? "" : "s", ref->repo, ref->repo);
    }
    mem_free((void *)names);
    return s;
}

/* Fetch the repository's LICENSE text, if it has one, beside the model. */
static char *fetch_license(const net *c, const pull_ref *ref, const hub_info *info,
                           const char *dir, const pull_params *p)
{
    for (int i = 0; reg_license_file_names[i]; i++) {
        if (!find_sibling(info, reg_license_file_names[i]))
            continue;
        char url[2048], path[PATH_MAX];
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", c->base, ref->repo, ref->rev,
                 reg_license_file_names[i]);
        if (snprintf(path, sizeof path, "%s/%s", dir, reg_license_file_names[i]) >=
            (int)sizeof path)
            return NULL;
        membuf b;
        hearth_error e;
        if (get_small(c, url, LICENSE_MAX, "license text", &b, &e) != HEARTH_OK) {
            note(p, "could not fetch %s: %s", reg_license_file_names[i], e.msg);
            return NULL;
        }
        FILE *f = fopen(path, "wb");
        bool ok = f && fwrite(b.p, 1, b.n, f) == b.n;
        if (f && fclose(f) != 0)
            ok = false;
        mem_free(b.p);
        return ok ? mem_strdup(path) : NULL;
    }
    return NULL;
}

/* ---- Putting it together ------------------------------------------------------------------- */

static hearth_status model_dir(const registry *r, const char *name, char *dir, size_t cap,
                               hearth_error *err)
{
    if (snprintf(dir, cap, "%s/models/%s", r->home, name) >= (int)cap)
        return err_set(err, HEARTH_ERR_INVALID, "%s: path too long", r->home);
    return reg_make_dirs(dir, err);
}

static hearth_status choose_name(const registry *r, const pull_ref *ref, const pull_params *p,
                                 char name[REG_NAME_MAX + 1], hearth_error *err)
{
    if (p->name)
        snprintf(name, REG_NAME_MAX + 1, "%s", p->name);
    else
        reg_name_for_file(ref->file, name);
    if (!reg_name_valid(name) || (p->name && strlen(p->name) > REG_NAME_MAX))
        return err_set(err, HEARTH_ERR_INVALID, "'%s' is not a valid model name", name);
    if (reg_find(r, name))
        return err_set(err, HEARTH_ERR_INVALID, "a model named '%s' is already registered "
                       "('hearth rm %s' first, or choose another name with --name)", name, name);
    return HEARTH_OK;
}

/* The files of a pull: one, or every part of a split model (at most GGUF_MAX_PARTS). */
typedef struct pull_file {
    char url[2048], dest[PATH_MAX + 600];
    const char *sha256; /* expected, or NULL (a plain URL without --sha256) */
    uint64_t size;      /* expected, 0 if unknown */
} pull_file;

/* The Hub's entry for file in ref's repository: its LFS hash and size into f. */
static hearth_status hub_file(const hub_info *info, const pull_ref *ref, const char *file,
                              pull_file *f, hearth_error *err)
{
    const cJSON *sib = find_sibling(info, file);
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(sib, "lfs");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(lfs, "sha256");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(lfs, "size");
    if (!sib)
        return err_set(err, HEARTH_ERR_INVALID, "%s is not in %s@%s (not found)", file,
                       ref->repo, ref->rev);
    if (!cJSON_IsString(sha) || strlen(sha->valuestring) != 64 || !cJSON_IsNumber(size) ||
        size->valuedouble < 0)
        return err_set(err, HEARTH_ERR_FORMAT, "%s@%s: the Hub lists no LFS sha256 for %s, so "
                       "it cannot be verified", ref->repo, ref->rev, file);
    f->sha256 = sha->valuestring;
    f->size = (uint64_t)size->valuedouble;
    return HEARTH_OK;
}

/* The files to fetch for a Hub reference: ref->file, or all parts when it is the first part
 * of a split model (a later part is refused: the model opens by its first). */
static hearth_status hub_files(const net *c, const hub_info *info, const pull_ref *ref,
                               const char *dir, pull_file **out, int *n, hearth_error *err)
{
    int count = 0;
    const int no = gguf_split_name(ref->file, &count);
    char first[512];
    if (no > 1 && gguf_split_sibling(ref->file, 1, first, sizeof first))
        return err_set(err, HEARTH_ERR_INVALID, "%s is part %d of a %d-part model: pull its first "
                       "part, hf:%s/%s", ref->file, no, count, ref->repo, first);
    if (no == 1 && count > GGUF_MAX_PARTS)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: a model in %d parts (hearth opens at "
                       "most %d)", ref->file, count, GGUF_MAX_PARTS);
    *n = no == 1 ? count : 1;
    pull_file *f = *out = mem_calloc((size_t)*n, sizeof *f);
    if (!f)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    for (int k = 0; k < *n; k++) {
        char file[512];
        if (*n == 1)
            snprintf(file, sizeof file, "%s", ref->file);
        else
            gguf_split_sibling(ref->file, k + 1, file, sizeof file);
        hearth_status s = hub_file(info, ref, file, &f[k], err);
        if (s)
            return s;
        const char *base = strrchr(file, '/');
        snprintf(f[k].url, sizeof f[k].url, "%s/%s/resolve/%s/%s", c->base, ref->repo, ref->rev,
                 file);
        snprintf(f[k].dest, sizeof f[k].dest, "%s/%s", dir, base ? base + 1 : file);
    }
    return HEARTH_OK;
}

/* A part already in place from an earlier, interrupted pull of a split model: kept if its
 * size and hash are the Hub's. */
static bool already_here(const pull_file *f, char got[65])
{
    struct stat st;
    return f->sha256 && stat(f->dest, &st) == 0 && (uint64_t)st.st_size == f->size &&
           sha256_file(f->dest, got, NULL) == HEARTH_OK && strcmp(got, f->sha256) == 0;
}

hearth_status pull_model(registry *r, const char *refstr, const pull_params *p,
                         const reg_entry **out, hearth_error *err)
{
    pull_ref ref;
    net c;
    hub_info info = { 0 };
    char name[REG_NAME_MAX + 1], dir[PATH_MAX] = "", source[2048];
    char got[65], first_sha[65], added[32];
    pull_file *files = NULL;
    int n_files = 0;
    hearth_status s = pull_parse_ref(refstr, &ref, err);
    if (!s)
        s = net_init(&c, err);
    bool hub = !s && ref.repo[0];
    if (hub) {
        s = hub_fetch(&c, &ref, &info, err);
        if (!s && !ref.file[0])
            s = pick(&info, &ref, p, err);
        snprintf(source, sizeof source, "hf:%s/%s@%s", ref.repo, ref.file, ref.rev);
    } else if (!s) {
        int parts = 0;
        if (gguf_split_name(ref.file, &parts) && parts > 1)
            s = err_set(err, HEARTH_ERR_UNSUPPORTED, "%s is a part of a split model: pull it "
                        "from the Hub (hf:ORG/REPO/FILE), where every part is listed with its "
                        "checksum", ref.url);
        snprintf(source, sizeof source, "%s", ref.url);
    }
    if (!s)
        s = choose_name(r, &ref, p, name, err);
    if (!s)
        s = model_dir(r, name, dir, sizeof dir, err);
    if (!s && hub) {
        s = hub_files(&c, &info, &ref, dir, &files, &n_files, err);
    } else if (!s) {
        files = mem_calloc(1, sizeof *files);
        s = files ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        if (!s) {
            n_files = 1;
            const char *base = strrchr(ref.file, '/');
            snprintf(files->url, sizeof files->url, "%s", ref.url);
            snprintf(files->dest, sizeof files->dest, "%s/%s", dir, base ? base + 1 : ref.file);
            files->sha256 = p->sha256;
        }
    }
    if (!s && n_files > 1) { /* room for every part before the first one starts */
        uint64_t need = 0;
        for (int k = 0; k < n_files; k++) {
            char part[PATH_MAX + 608];
            struct stat st;
            snprintf(part, sizeof part, "%s.part", files[k].dest);
            uint64_t have = stat(files[k].dest, &st) == 0 ? (uint64_t)st.st_size
                            : stat(part, &st) == 0        ? (uint64_t)st.st_size
                                                          : 0;
            need += files[k].size > have ? files[k].size - have : 0;
        }
        s = check_space(dir, need, err);
    }
    uint64_t total = 0;
    char *parts_sha = NULL; /* a split model's parts' sha256, one space apart */
    if (!s && n_files > 1 && !(parts_sha = mem_alloc((size_t)n_files * 65)))
        s = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    for (int k = 0; !s && k < n_files; k++) {
        if (n_files > 1)
            note(p, "part %d of %d: %s", k + 1, n_files, strrchr(files[k].dest, '/') + 1);
        if (n_files > 1 && already_here(&files[k], got))
            note(p, "already downloaded and verified");
        else
            s = download(&c, files[k].url, files[k].dest, files[k].size, files[k].sha256, got,
                         p, err);
        total += files[k].size;
        if (k == 0)
            memcpy(first_sha, got, sizeof got);
        if (parts_sha) {
            memcpy(parts_sha + (size_t)k * 65, got, 64);
            parts_sha[(size_t)k * 65 + 64] = k + 1 < n_files ? ' ' : '\0';
        }
    }
    if (s && dir[0])
        rmdir(dir); /* only if empty: a kept .part stays for the next attempt */
    if (!s && !hub && !p->sha256)
        note(p, "a plain URL publishes no checksum: recorded sha256 %s (pass --sha256 to "
             "verify a download)", first_sha);
    if (!s) {
        time_t now = time(NULL);
        strftime(added, sizeof added, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        struct stat st;
        /* a split model is registered by its first part, with every part's hash and the
           parts' size */
        reg_entry e = { .name = name, .path = files[0].dest, .source = source, .added = added,
                        .parts_sha256 = parts_sha,
                        .size = n_files > 1 ? total
                                : stat(files[0].dest, &st) == 0 ? (uint64_t)st.st_size : 0 };
        memcpy(e.sha256, first_sha, sizeof first_sha);
        e.license.id = (char *)info.license;
        e.license.name = (char *)info.license_name;
        e.license.link = (char *)info.license_link;
        e.license.file = hub ? fetch_license(&c, &ref, &info, dir, p) : NULL;
        s = reg_add(r, &e, err); /* on failure the file stays: 'hearth import' can add it */
        mem_free(e.license.file);
        if (!s && out)
            *out = &r->entries[r->n - 1];
    }
    mem_free(parts_sha);
    mem_free(files);
    cJSON_Delete(info.root);
    return s;
}

/* ---- Just the header ----------------------------------------------------------------------- */

#define HEADER_FIRST (2u << 20)   /* most GGUF headers (with a tokenizer) fit in this */
#define HEADER_MAX (512u << 20)

typedef struct span {
    unsigned char *dst;
    uint64_t pos, end; /* writing dst[pos..end) */
} span;

/* Keep bytes up to end; a server that ignores the range and sends more is cut off. */
static size_t to_span(char *data, size_t size, size_t nmemb, void *user)
{
    span *s = user;
    size_t n = size * nmemb, take = n;
    if (take > s->end - s->pos)
        take = (size_t)(s->end - s->pos);
    memcpy(s->dst + s->pos, data, take);
    s->pos += take;
    return take;
}

static hearth_status fetch_span(const net *c, const char *url, unsigned char *map, uint64_t from,
                                uint64_t to, hearth_error *err)
{
    CURL *h = handle(c, url, true);
    if (!h)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    char range[64];
    snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, from, to - 1);
    span s = { .dst = map, .pos = from, .end = to };
    watch w;
    curl_easy_setopt(h, CURLOPT_RANGE, range);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_span);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    watch_install(h, &w, c->stall_s);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    hearth_status st = HEARTH_OK;
    if (code == 200 && from > 0)
        st = err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: the server ignores Range requests", url);
    else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && s.pos == to))
        st = net_error(c, h, rc, "header", url, err);
    else if (s.pos != to)
        st = err_set(err, HEARTH_ERR_IO, "%s: got %" PRIu64 " header bytes, asked for %" PRIu64,
                     url, s.pos - from, to - from);
    curl_easy_cleanup(h);
    return st;
}

/* Fetch the header of the file at url (size bytes) into a new mapping m and parse it as
 * name into *out. Adds the bytes fetched to *fetched. */
static hearth_status fetch_header(const net *c, const char *url, uint64_t size, const char *name,
                                  struct pull_map *m, uint64_t *fetched, gguf_file **out,
                                  hearth_error *err)
{
    *out = NULL;
    m->size = (size_t)size;
    m->p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1, 0);
    if (m->p == MAP_FAILED) {
        m->p = NULL;
        return err_set(err, HEARTH_ERR_NOMEM, "cannot reserve %zu bytes of address space",
                       m->size);
    }
    /* Grow the fetched prefix until the parsed header ends inside it: only then was every
     * byte the parser read a real one (the rest of the mapping reads as zeros). */
    uint64_t have = 0, want = size < HEADER_FIRST ? size : HEADER_FIRST;
    hearth_status s = HEARTH_OK;
    while (!s && !*out) {
        s = fetch_span(c, url, m->p, have, want, err);
        if (s)
            break;
        *fetched += want - have;
        have = want;
        hearth_error perr;
        gguf_file *g;
        if (gguf_parse(&g, m->p, m->size, name, &perr) == HEARTH_OK) {
            if (g->data_offset <= have) {
                *out = g;
                break;
            }
            want = g->data_offset;
            gguf_close(g);
        } else if (want == size || want >= HEADER_MAX) {
            s = err_set(err, perr.status, "%s", perr.msg);
        } else {
            want = want * 4 < size ? want * 4 : size;
        }
        if (!s && want > HEADER_MAX)
            s = err_set(err, HEARTH_ERR_RANGE, "%s: the header is larger than %u bytes", name,
                        HEADER_MAX);
    }
    return s;
}

/* The size the Hub lists for file, or 0 when it lists none (or an absurd one). */
static uint64_t hub_size(const hub_info *info, const char *file)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(find_sibling(info, file), "size");
    return cJSON_IsNumber(size) && size->valuedouble >= 32 && size->valuedouble <= 1e13
               ? (uint64_t)size->valuedouble : 0;
}

hearth_status pull_gguf_header(const char *refstr, const pull_params *p, pull_header *h,
                               hearth_error *err)
{
    memset(h, 0, sizeof *h);
    pull_ref ref;
    net c;
    hub_info info = { 0 };
    hearth_status s = pull_parse_ref(refstr, &ref, err);
    if (!s && !ref.repo[0])
        s = err_set(err, HEARTH_ERR_INVALID, "%s: only hf: references can be checked before "
                    "downloading", refstr);
    if (!s)
        s = net_init(&c, err);
    if (!s)
        s = hub_fetch(&c, &ref, &info, err);
    if (!s && !ref.file[0])
        s = pick(&info, &ref, p, err);
    int count = 0, no = s ? 0 : gguf_split_name(ref.file, &count);
    if (!s && no > 1)
        s = err_set(err, HEARTH_ERR_INVALID, "%s is part %d of a %d-part model: name its first "
                    "part", ref.file, no, count);
    else if (!s && no == 1 && count > GGUF_MAX_PARTS)
        s = err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: a model in %d parts (hearth opens at most "
                    "%d)", ref.file, count, GGUF_MAX_PARTS);
    const int n = no == 1 ? count : 1;
    if (!s) {
        h->maps = mem_calloc((size_t)n, sizeof *h->maps);
        if (!h->maps)
            s = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    gguf_file **parts = NULL;
    if (!s && n > 1 && !(parts = mem_calloc((size_t)n - 1, sizeof *parts)))
        s = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (!s && info.license)
        snprintf(h->license, sizeof h->license, "%s", info.license);
    for (int k = 0; !s && k < n; k++) {
        char file[512], url[2048], name[1024];
        if (n == 1)
            snprintf(file, sizeof file, "%s", ref.file);
        else
            gguf_split_sibling(ref.file, k + 1, file, sizeof file);
        const uint64_t size = hub_size(&info, file);
        if (!size) {
            s = err_set(err, HEARTH_ERR_INVALID, "%s is not in %s@%s, or its size is unknown",
                        file, ref.repo, ref.rev);
            break;
        }
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", c.base, ref.repo, ref.rev, file);
        snprintf(name, sizeof name, "hf:%s/%s@%s", ref.repo, file, ref.rev);
        h->size += size;
        h->n_maps++;
        s = fetch_header(&c, url, size, name, &h->maps[k], &h->fetched,
                         k ? &parts[k - 1] : &h->gguf, err);
    }
    if (!s && n > 1)
        s = gguf_attach_parts(h->gguf, parts, n - 1, err);
    else if (parts)
        for (int k = 0; k < n - 1; k++)
            gguf_close(parts[k]);
    mem_free(parts);
    cJSON_Delete(info.root);
    if (s)
        pull_header_free(h);
    return s;
}

void pull_header_free(pull_header *h)
{
    gguf_close(h->gguf);
    for (int k = 0; k < h->n_maps; k++)
        if (h->maps[k].p)
            munmap(h->maps[k].p, h->maps[k].size);
    mem_free(h->maps);
    memset(h, 0, sizeof *h);
}
