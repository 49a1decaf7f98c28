/*
 * ingest.c — walk, read, extract text, chunk, embed, store (see ingest.h).
 *
 * Paths are stored absolute (realpath), so the same file reached through two spellings is
 * one document, and "deleted" means: under one of this run's roots and no longer there.
 * The whole file list is collected before work starts so progress can show a total.
 */
#include "knowledge/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "base/utf8.h"

enum kind { K_TEXT, K_MARKDOWN, K_HTML, K_PDF, K_UNKNOWN };

kn_ingest_params kn_ingest_default_params(void)
{
    return (kn_ingest_params){ .chunk = kn_chunk_default_params(), .embed_batch = 64,
                               .max_file_bytes = 64u << 20 };
}

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static bool strlist_push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = mem_realloc_array(l->v, cap, sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    return (l->v[l->n] = mem_strdup(s)) != NULL && ++l->n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- classifying and extracting ----------------------------------------------------------- */

static enum kind kind_of(const char *path)
{
    static const char *const text_ext[] = {
        "txt", "text", "rst", "org", "tex", "log", "csv", "tsv", "c", "h", "cc", "cpp", "cxx",
        "hpp", "hh", "py", "js", "mjs", "ts", "tsx", "jsx", "go", "rs", "java", "kt", "swift",
        "rb", "php", "pl", "lua", "sh", "bash", "zsh", "fish", "sql", "json", "yaml", "yml",
        "toml", "ini", "cfg", "conf", "xml", "css", "scss", "cs", "scala", "zig", "r", "m",
        "hs", "ml", "ex", "exs", "erl", "clj", "dart", "vim", "el", "nix", "cmake", "mk",
        "proto", "graphql", "svelte", "vue", NULL
    };
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return strcmp(base, "Makefile") == 0 || strcmp(base, "README") == 0 ? K_TEXT : K_UNKNOWN;
    const char *ext = dot + 1;
    if (!strcasecmp(ext, "md") || !strcasecmp(ext, "markdown") || !strcasecmp(ext, "mdx"))
        return K_MARKDOWN;
    if (!strcasecmp(ext, "html") || !strcasecmp(ext, "htm") || !strcasecmp(ext, "xhtml"))
        return K_HTML;
    if (!strcasecmp(ext, "pdf"))
        return K_PDF;
    for (int i = 0; text_ext[i]; i++)
        if (!strcasecmp(ext, text_ext[i]))
            return K_TEXT;
    return K_UNKNOWN;
}

/* Replace invalid UTF-8 bytes with '?' in place; returns how many there were. Lengths and
 * offsets are unchanged, so chunk ranges still point into the file. */
static size_t fix_utf8(char *s, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = utf8_decode(s + i, n - i, &cp);
        if (len > 0) {
            i += (size_t)len;
        } else {
            s[i++] = '?';
            bad++;
        }
    }
    return bad;
}

static bool looks_binary(const char *s, size_t n, bool known_text)
{
    size_t head = n < 8192 ? n : 8192;
    if (memchr(s, '\0', head))
        return true;
    if (known_text)
        return false;
    size_t bad = 0;
    for (size_t i = 0; i < head;) {
        uint32_t cp;
        int len = utf8_decode(s + i, head - i, &cp);
        if (len == UTF8_INCOMPLETE)
            break;
        if (len < 0 || (cp < 0x20 && cp != '\n' && cp != '\r' && cp != '\t' && cp != '\f'))
            bad++;
        i += len > 0 ? (size_t)len : 1;
    }
    return bad * 20 > head;
}

static void blank(char *s, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        if (s[i] != '\n')
            s[i] = ' ';
}

static bool starts_ci(const char *s, size_t n, const char *word)
{
    size_t k = strlen(word);
    return n >= k && strncasecmp(s, word, k) == 0;
}

/* Offset just past the first occurrence of needle (case-insensitive) at or after i. */
static size_t skip_past(const char *s, size_t n, size_t i, const char *needle)
{
    size_t k = strlen(needle);
    for (; i + k <= n; i++)
        if (strncasecmp(s + i, needle, k) == 0)
            return i + k;
    return n;
}

static int digit_value(char c, int base)
{
    int v = c >= '0' && c <= '9' ? c - '0'
            : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
    return v < base ? v : -1;
}

/* Decode the entity at s[i] == '&' in place; returns where scanning goes on. */
static size_t entity(char *s, size_t n, size_t i)
{
    static const struct { const char *name; char ch; } names[] = {
        { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' },
        { "nbsp;", ' ' },
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t len = strlen(names[k].name);
        if (i + 1 + len <= n && memcmp(s + i + 1, names[k].name, len) == 0) {
            s[i] = names[k].ch;
            blank(s, i + 1, i + 1 + len);
            return i + 1 + len;
        }
    }
    if (i + 3 < n && s[i + 1] == '#') {
        int base = s[i + 2] == 'x' || s[i + 2] == 'X' ? 16 : 10, d;
        size_t start = i + 2 + (base == 16), j = start;
        unsigned long cp = 0;
        while (j < n && j - start < 8 && (d = digit_value(s[j], base)) >= 0)
            cp = cp * (unsigned long)base + (unsigned long)d, j++;
        if (cp < 0x20)
            cp = ' '; /* a control character (a newline would shift the line numbers) */
        char buf[4];
        size_t len;
        /* the character's UTF-8 is never longer than the entity's text */
        if (j > start && j < n && s[j] == ';' && cp > 0 && cp <= 0x10FFFF &&
            !(cp >= 0xD800 && cp <= 0xDFFF) && (len = utf8_encode((uint32_t)cp, buf)) <= j + 1 - i) {
            memcpy(s + i, buf, len);
            blank(s, i + len, j + 1);
            return j + 1;
        }
    }
    return i + 1;
}

void kn_html_to_text(char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] == '&') {
            i = entity(s, n, i);
        } else if (s[i] != '<') {
            i++;
        } else if (starts_ci(s + i, n - i, "<!--")) {
            size_t e = skip_past(s, n, i + 4, "-->");
            blank(s, i, e);
            i = e;
        } else if (starts_ci(s + i, n - i, "<script") || starts_ci(s + i, n - i, "<style")) {
            bool script = starts_ci(s + i, n - i, "<script");
            size_t e = skip_past(s, n, i, script ? "</script" : "</style");
            e = skip_past(s, n, e, ">");
            blank(s, i, e);
            i = e;
        } else {
            size_t e = skip_past(s, n, i, ">");
            blank(s, i, e);
            i = e;
        }
    }
}

/* The pdftotext program on PATH, or false. */
static bool find_program(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len && (size_t)snprintf(out, cap, "%.*s/%s", (int)len, path, name) < cap &&
            access(out, X_OK) == 0)
            return true;
        path += len + (colon != NULL);
    }
    return false;
}

/* Run pdftotext PATH - and collect its output (at most max bytes). */
static hearth_status pdf_text(const char *prog, const char *path, size_t max, char **out,
                              size_t *n, hearth_error *err)
{
    int fd[2];
    if (pipe(fd) != 0)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot start pdftotext: %s", path,
                       strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return err_set(err, HEARTH_ERR_IO, "%s: cannot start pdftotext: %s", path,
                       strerror(errno));
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl(prog, "pdftotext", "-q", "-enc", "UTF-8", path, "-", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = mem_alloc(cap + 1);
    bool ok = buf != NULL;
    for (ssize_t r = 1; ok && r > 0;) {
        if (len == cap) {
            char *b = cap * 2 <= max ? mem_realloc(buf, cap * 2 + 1) : NULL;
            if (!b) {
                ok = false;
                break;
            }
            buf = b;
            cap *= 2;
        }
        r = read(fd[0], buf + len, cap - len);
        if (r > 0)
            len += (size_t)r;
        else if (r < 0 && errno == EINTR)
            r = 1;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        mem_free(buf);
        return err_set(err, HEARTH_ERR_IO, "%s: pdftotext could not read it%s", path,
                       ok ? "" : " (text too large)");
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return HEARTH_OK;
}

/* ---- walking ---------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- one file --------------------------------------------------------------------------- */

/* A file read and chunked, waiting for its vectors. Files are embedded in groups of about
 * embed_batch chunks, so many small files share one forward pass; each is still written
 * in its own transaction. */
typedef struct pending {
    char *path;
    char sha[65];
    int64_t size, mtime;
    bool existed;
    char *text;         /* owned */
    kn_chunk *ch;
    size_t n;
} pending;

typedef struct run {
    kn_store *s;
    emb_model *e;
    const kn_ingest_params *p;
    kn_ingest_stats *stats;
    char pdftotext[PATH_MAX];
    bool have_pdftotext;
    pending *q;
    size_t nq, cap_q, q_chunks;
} run;

static void warn(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(run *r, const char *fmt, ...)
{
    if (!r->p->warn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->p->warn(r->p->user, msg);
}

/* Collect the regular files under path. Symbolic links are not followed (an index must not
 * wander out of the folders it was given); they and unreadable folders are reported. */
static hearth_status walk(run *r, const char *path, strlist *files, int depth,
                          hearth_error *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return HEARTH_OK; /* vanished */
    if (S_ISREG(sb.st_mode))
        return strlist_push(files, path) ? HEARTH_OK
                                         : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (S_ISLNK(sb.st_mode)) {
        warn(r, "%s: skipped, a symbolic link (links are not followed)", path);
        return HEARTH_OK;
    }
    if (!S_ISDIR(sb.st_mode))
        return HEARTH_OK;
    if (depth > 64) {
        warn(r, "%s: skipped, folders nested more than 64 deep", path);
        return HEARTH_OK;
    }
    DIR *d = opendir(path);
    if (!d) {
        warn(r, "%s: skipped, cannot read the folder: %s", path, strerror(errno));
        return HEARTH_OK;
    }
    hearth_status st = HEARTH_OK;
    struct dirent *de;
    char sub[PATH_MAX];
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= sizeof sub) {
            warn(r, "%s/%s: skipped, path too long", path, de->d_name);
            continue;
        }
        st = walk(r, sub, files, depth + 1, err);
    }
    closedir(d);
    return st;
}



static void pending_free(pending *d)
{
    mem_free(d->path);
    mem_free(d->text);
    kn_chunks_free(d->ch, d->n);
}

/* The text that is embedded for a chunk: its heading path in front, then its text (the
 * stored text has no heading line added). */
static char *embed_text(const pending *d, const kn_chunk *c, size_t *len)
{
    size_t hl = c->heading ? strlen(c->heading) + 2 : 0, tl = c->end - c->start;
    char *t = mem_alloc(hl + tl + 1);
    if (!t)
        return NULL;
    if (hl)
        snprintf(t, hl + 1, "%s\n\n", c->heading);
    memcpy(t + hl, d->text + c->start, tl);
    t[hl + tl] = '\0';
    *len = hl + tl;
    return t;
}

static hearth_status store_doc(run *r, const pending *d, const float *vec, hearth_error *err)
{
    int D = emb_dim(r->e);
    kn_chunk_rec *rec = mem_calloc(d->n ? d->n : 1, sizeof *rec);
    if (!rec)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory storing %s", d->path);
    for (size_t i = 0; i < d->n; i++) {
        const kn_chunk *c = &d->ch[i];
        rec[i] = (kn_chunk_rec){ .text = d->text + c->start, .len = c->end - c->start,
                                 .start = c->start, .end = c->end, .line_start = c->line_start,
                                 .line_end = c->line_end, .heading = c->heading,
                                 .vec = vec + i * (size_t)D };
    }
    hearth_status st = kn_store_put_doc(r->s, d->path, d->sha, d->size, d->mtime, rec, d->n,
                                        err);
    mem_free(rec);
    if (!st) {
        r->stats->chunks += d->n;
        r->stats->empty += d->n == 0;
        if (d->existed)
            r->stats->updated++;
        else
            r->stats->added++;
    }
    return st;
}

/* Embed every queued chunk, then store each queued file in its own transaction. */
static hearth_status flush(run *r, hearth_error *err)
{
    size_t total = r->q_chunks, D = (size_t)emb_dim(r->e);
    float *vec = mem_calloc(total ? total * D : 1, sizeof *vec);
    char **texts = mem_calloc(total ? total : 1, sizeof *texts);
    size_t *lens = mem_calloc(total ? total : 1, sizeof *lens);
    hearth_status st = vec && texts && lens
                       ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory embedding");
    size_t k = 0;
    for (size_t i = 0; !st && i < r->nq; i++)
        for (size_t j = 0; !st && j < r->q[i].n; j++, k++)
            if (!(texts[k] = embed_text(&r->q[i], &r->q[i].ch[j], &lens[k])))
                st = err_set(err, HEARTH_ERR_NOMEM, "out of memory embedding %s", r->q[i].path);
    if (!st && total)
        st = emb_encode(r->e, (int)total, (const char *const *)texts, lens, EMB_DOCUMENT, vec,
                        err);
    for (size_t i = 0, off = 0; !st && i < r->nq; off += r->q[i].n, i++)
        st = store_doc(r, &r->q[i], vec + off * D, err);
    for (size_t i = 0; texts && i < k; i++)
        mem_free(texts[i]);
    mem_free(texts);
    mem_free(lens);
    mem_free(vec);
    for (size_t i = 0; i < r->nq; i++)
        pending_free(&r->q[i]);
    r->nq = r->q_chunks = 0;
    return st;
}

/* Chunk a file's text (taking ownership of it) and queue it; flush when the queue is full. */
static hearth_status queue_text(run *r, const char *path, const char *sha, const struct stat *sb,
                                char *text, size_t len, bool markdown, bool existed,
                                hearth_error *err)
{
    kn_chunk_params cp = r->p->chunk;
    cp.markdown = markdown;
    /* leave room for [CLS], [SEP], the prefix and the heading line within the context */
    int fit = emb_max_tokens(r->e) - 32;
    if (fit >= 16 && cp.max_tokens > fit) {
        cp.max_tokens = fit;
        if (cp.overlap > fit / 2)
            cp.overlap = fit / 2;
    }
    cp.count = emb_count_tokens;
    cp.user = r->e;
    pending d = { .size = (int64_t)sb->st_size, .mtime = (int64_t)sb->st_mtime,
                  .existed = existed, .text = text };
    snprintf(d.sha, sizeof d.sha, "%s", sha);
    hearth_status st = kn_chunk_text(text, len, &cp, &d.ch, &d.n, err);
    if (!st && !(d.path = mem_strdup(path)))
        st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (!st && r->nq == r->cap_q) {
        size_t cap = r->cap_q ? r->cap_q * 2 : 16;
        pending *q = mem_realloc_array(r->q, cap, sizeof *q);
        if (q) {
            r->q = q;
            r->cap_q = cap;
        } else {
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        }
    }
    if (st) {
        pending_free(&d);
        return st;
    }
    r->q[r->nq++] = d;
    r->q_chunks += d.n;
    size_t batch = r->p->embed_batch > 0 ? (size_t)r->p->embed_batch : 64;
    return r->q_chunks >= batch ? flush(r, err) : HEARTH_OK;
}

/* Index one file. Problems with the file itself are warnings; only store and embedding
 * failures are errors. */
static hearth_status ingest_file(run *r, const char *path, hearth_error *err)
{
    struct stat sb;
    enum kind k = kind_of(path);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return HEARTH_OK;
    if ((size_t)sb.st_size > r->p->max_file_bytes) {
        warn(r, "%s: skipped, larger than %zu MiB", path, r->p->max_file_bytes >> 20);
        r->stats->failed++;
        return HEARTH_OK;
    }
    hearth_error ferr;
    char *data = NULL, sha[65], old[65];
    size_t n = 0;
    if (file_read_all(path, r->p->max_file_bytes, &data, &n, &ferr) != HEARTH_OK) {
        warn(r, "%s", ferr.msg);
        r->stats->failed++;
        return HEARTH_OK;
    }
    sha256_ctx c;
    unsigned char dg[32];
    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final(&c, dg);
    sha256_hex(dg, sha);
    bool existed;
    hearth_status st = kn_store_doc_sha(r->s, path, old, &existed, err);
    if (st || (existed && strcmp(old, sha) == 0)) {
        r->stats->unchanged += !st;
        mem_free(data);
        return st;
    }
    if (k == K_PDF) {
        char *text = NULL;
        size_t tn = 0;
        if (!r->have_pdftotext) {
            r->stats->pdf_skipped++;
        } else if (pdf_text(r->pdftotext, path, r->p->max_file_bytes, &text, &tn, &ferr)) {
            warn(r, "%s", ferr.msg);
            r->stats->failed++;
        } else {
            fix_utf8(text, tn);
            st = queue_text(r, path, sha, &sb, text, tn, false, existed, err);
        }
    } else if (looks_binary(data, n, k != K_UNKNOWN)) {
        r->stats->binary++;
    } else {
        fix_utf8(data, n);
        if (k == K_HTML)
            kn_html_to_text(data, n);
        st = queue_text(r, path, sha, &sb, data, n, k == K_MARKDOWN, existed, err);
        data = NULL;
    }
    mem_free(data);
    return st;
}

/* Remove stored documents under the roots whose files are gone. */
static hearth_status remove_deleted(run *r, const strlist *roots, hearth_error *err)
{
    char **paths;
    size_t n;
    hearth_status st = kn_store_paths(r->s, &paths, &n, err);
    for (size_t i = 0; !st && i < n; i++) {
        bool under = false;
        for (size_t j = 0; j < roots->n && !under; j++) {
            size_t rl = strlen(roots->v[j]);
            under = strncmp(paths[i], roots->v[j], rl) == 0 &&
                    (paths[i][rl] == '\0' || paths[i][rl] == '/' || roots->v[j][rl - 1] == '/');
        }
        struct stat sb;
        if (under && stat(paths[i], &sb) != 0 && errno == ENOENT) {
            st = kn_store_delete_doc(r->s, paths[i], err);
            r->stats->removed += !st;
        }
    }
    kn_strings_free(paths, n);
    return st;
}

hearth_status kn_ingest(kn_store *s, emb_model *e, const char *const *roots, int n_roots,
                        const kn_ingest_params *p, kn_ingest_stats *stats, hearth_error *err)
{
    memset(stats, 0, sizeof *stats);
    double t0 = now_s();
    run r = { .s = s, .e = e, .p = p, .stats = stats };
    r.have_pdftotext = find_program("pdftotext", r.pdftotext, sizeof r.pdftotext);
    strlist abs = { 0 }, files = { 0 };
    hearth_status st = kn_store_bind_model(s, emb_identity(e), emb_dim(e), err);
    for (int i = 0; !st && i < n_roots; i++) {
        char real[PATH_MAX];
        if (!realpath(roots[i], real))
            st = err_set(err, HEARTH_ERR_IO, "%s: %s", roots[i], strerror(errno));
        else if (!strlist_push(&abs, real))
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        else
            st = walk(&r, real, &files, 0, err);
    }
    if (!st && files.n)
        qsort(files.v, files.n, sizeof *files.v, cmp_str);
    stats->files_total = files.n;
    for (size_t i = 0; !st && i < files.n; i++) {
        /* the same file under two overlapping roots is indexed once */
        if (i && strcmp(files.v[i], files.v[i - 1]) == 0) {
            stats->files_done++;
            continue;
        }
        st = ingest_file(&r, files.v[i], err);
        stats->files_done++;
        stats->seconds = now_s() - t0;
        if (p->progress)
            p->progress(p->user, stats, false);
    }
    if (!st)
        st = flush(&r, err);
    for (size_t i = 0; i < r.nq; i++) /* left over after an error */
        pending_free(&r.q[i]);
    mem_free(r.q);
    if (!st)
        st = remove_deleted(&r, &abs, err);
    stats->seconds = now_s() - t0;
    if (p->progress)
        p->progress(p->user, stats, true);
    kn_strings_free(abs.v, abs.n);
    kn_strings_free(files.v, files.n);
    return st;
}
