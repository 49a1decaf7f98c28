/*
 * index.c — `hearth index NAME PATH... --embed MODEL`: build or update a knowledge base.
 *
 * Runs the ingest service over the given files and folders with a progress bar on stderr
 * (when it is a terminal), then prints what changed. The embedding model's path is kept
 * in the knowledge base, so later runs, `search` and `ask` can leave out --embed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "cli/genopts.h"
#include "cli/kbopen.h"
#include "knowledge/ingest.h"

static const char usage[] =
    "usage: hearth index NAME PATH... [--embed MODEL] [options]\n"
    "Add the files under each PATH to the knowledge base NAME (created on first use), or\n"
    "bring it up to date: unchanged files are skipped, changed ones re-embedded, deleted\n"
    "ones removed. Reads text, Markdown, HTML, source code, and PDF with pdftotext.\n"
    "  --embed MODEL       the embedding model (required the first time)\n"
    "  --chunk-tokens N    tokens per chunk (default 256)\n"
    "  --overlap N         tokens shared by neighbouring chunks (default 32)\n"
    "  -t, --threads N     threads (default: one per CPU)\n"
    "  -q, --quiet         no progress bar\n";

typedef struct progress {
    bool bar;
} progress;

static void on_progress(void *user, const kn_ingest_stats *s, bool done)
{
    const progress *p = user;
    if (!p->bar)
        return;
    int width = 30, fill = s->files_total ? (int)(width * s->files_done / s->files_total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double rate = s->seconds > 0 ? s->chunks / s->seconds : 0;
    fprintf(stderr, "\r[%s] %zu/%zu files  %zu chunks  %.0f chunks/s ", bar, s->files_done,
            s->files_total, s->chunks, rate);
    if (done)
        fprintf(stderr, "\n");
}

static void on_warn(void *user, const char *msg)
{
    const progress *p = user;
    fprintf(stderr, "%swarning: %s\n", p->bar ? "\r\033[K" : "", msg);
}

static void summary(const char *name, const kn_ingest_stats *s)
{
    printf("%s: %zu added, %zu updated, %zu unchanged, %zu removed; %zu chunks embedded in "
           "%.1f s\n", name, s->added, s->updated, s->unchanged, s->removed, s->chunks,
           s->seconds);
    if (s->binary)
        printf("skipped %zu binary file%s\n", s->binary, s->binary == 1 ? "" : "s");
    if (s->failed)
        printf("%zu file%s could not be read (see the warnings above)\n", s->failed,
               s->failed == 1 ? "" : "s");
    if (s->empty)
        printf("%zu file%s had no text\n", s->empty, s->empty == 1 ? "" : "s");
    if (s->pdf_skipped)
        printf("skipped %zu PDF file%s: the pdftotext program is not installed (it comes with "
               "poppler-utils)\n", s->pdf_skipped, s->pdf_skipped == 1 ? "" : "s");
    if (s->files_total == 0)
        printf("no files found in the given paths\n");
}

int cmd_index(int argc, char **argv)
{
    const char *name = NULL, *embed = NULL;
    const char **paths = mem_calloc((size_t)argc, sizeof *paths);
    int n_paths = 0;
    kn_ingest_params ip = kn_ingest_default_params();
    emb_params ep = emb_default_params();
    progress pr = { .bar = isatty(2) };
    if (!paths)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s", usage);
            mem_free(paths);
            return 0;
        } else if (!strcmp(a, "--embed") && i + 1 < argc) {
            embed = argv[++i];
        } else if (!strcmp(a, "--chunk-tokens") && i + 1 < argc && parse_int(argv[++i], 16, 8192, &v)) {
            ip.chunk.max_tokens = (int)v;
        } else if (!strcmp(a, "--overlap") && i + 1 < argc && parse_int(argv[++i], 0, 4096, &v)) {
            ip.chunk.overlap = (int)v;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc &&
                   parse_int(argv[++i], 1, 1024, &v)) {
            ep.n_threads = (int)v;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            pr.bar = false;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hearth index: unknown, incomplete or out-of-range option '%s'\n%s",
                    a, usage);
            mem_free(paths);
            return 2;
        } else if (!name) {
            name = a;
        } else {
            paths[n_paths++] = a;
        }
    }
    if (!name || !n_paths) {
        fprintf(stderr, "hearth index: need a NAME and at least one PATH\n%s", usage);
        mem_free(paths);
        return 2;
    }
    if (ip.chunk.overlap > ip.chunk.max_tokens / 2) {
        fprintf(stderr, "hearth index: --overlap must be at most half of --chunk-tokens\n");
        mem_free(paths);
        return 2;
    }
    for (int i = 0; i < n_paths; i++)
        if (access(paths[i], R_OK) != 0) {
            fprintf(stderr, "hearth index: %s: %s\n", paths[i], strerror(errno));
            mem_free(paths);
            return 1;
        }
    ip.progress = on_progress;
    ip.warn = on_warn;
    ip.user = &pr;
    hearth_error err;
    kb_handles kb;
    kn_ingest_stats stats;
    int rc = 1;
    /* the model is bound and remembered first, so a run killed part way can be resumed
     * without --embed */
    if (kb_open(&kb, name, true, embed, &ep, &err) ||
        kn_store_bind_model(kb.store, emb_identity(kb.emb), emb_dim(kb.emb), &err) ||
        kb_remember_model(&kb, &err) ||
        kn_ingest(kb.store, kb.emb, paths, n_paths, &ip, &stats, &err)) {
        fprintf(stderr, "%shearth index: %s\n", pr.bar ? "\r\033[K" : "", err.msg);
    } else {
        summary(name, &stats);
        rc = 0;
    }
    kb_close(&kb);
    mem_free(paths);
    return rc;
}
