/*
 * pull.c — `hearth pull hf:ORG/REPO[/FILE][@REV] | https://URL [--name N] [--sha256 HEX]`.
 *
 * Renders the library's progress as a bar on stderr (bytes, speed, ETA), redrawn at most
 * ten times a second on a terminal and every 10% otherwise. SIGXFSZ is ignored so that a
 * file size limit shows up as a write error with a clear message, like a full disk.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hub/license.h"
#include "hub/pull.h"

static const char usage[] =
    "usage: hearth pull REF [--name NAME] [--sha256 HEX]\n"
    "Download a model into the registry. REF is hf:ORG/REPO[/FILE][@REVISION] (without FILE,\n"
    "a GGUF is picked: Q4_K_M, else the closest) or an https:// URL. The file is verified\n"
    "against the Hub's sha256 before it is registered; an interrupted pull resumes.\n"
    "  --name NAME    the registry name (default: from the file name)\n"
    "  --sha256 HEX   the expected hash, for a plain URL\n"
    "Environment: HF_TOKEN (gated repositories), HF_ENDPOINT (a mirror),\n"
    "HEARTH_PULL_TIMEOUT (seconds without data before giving up, default 30).\n";

typedef struct bar {
    bool tty;
    double last;
    int last_decile;
} bar;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void on_progress(void *user, uint64_t done, uint64_t total, double rate)
{
    bar *b = user;
    int decile = total ? (int)(done * 10 / total) : 0;
    double t = now();
    if (b->tty ? t - b->last < 0.1 && done != total : decile == b->last_decile)
        return;
    b->last = t;
    b->last_decile = decile;
    char d[32], tot[32], r[32], eta[32] = "";
    cli_bytes(done, d, sizeof d);
    cli_bytes(total, tot, sizeof tot);
    cli_bytes((uint64_t)rate, r, sizeof r);
    if (rate > 0 && total > done) {
        long s = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof eta, "  ETA %ld:%02ld", s / 60, s % 60);
    }
    if (total)
        fprintf(stderr, "%s%3d%% %s / %s  %s/s%s%s", b->tty ? "\r" : "",
                (int)(done * 100 / total), d, tot, r, eta, b->tty ? "   " : "\n");
    else
        fprintf(stderr, "%s%s  %s/s%s", b->tty ? "\r" : "", d, r, b->tty ? "   " : "\n");
}

static void on_note(void *user, const char *line)
{
    bar *b = user;
    fprintf(stderr, "%s%s\n", b->tty && b->last > 0 ? "\n" : "", line);
}

int cli_pull(const char *ref, const char *name, const char *sha256, FILE *out)
{
    bar b = { .tty = isatty(2), .last_decile = -1 };
    pull_params p = { .name = name, .sha256 = sha256, .progress = on_progress,
                      .note = on_note, .user = &b };
    signal(SIGXFSZ, SIG_IGN);
    registry *r = NULL;
    hearth_error err;
    const reg_entry *e;
    if (reg_open(&r, &err) != HEARTH_OK || pull_model(r, ref, &p, &e, &err) != HEARTH_OK) {
        fprintf(stderr, "%shearth pull: %s\n", b.tty && b.last > 0 ? "\n" : "", err.msg);
        reg_free(r);
        return 1;
    }
    if (b.tty)
        fputc('\n', stderr);
    lic_result lic;
    lic_judge(&e->license, &lic);
    fprintf(out, "pulled %s as '%s' (sha256 %s, verified)\nlicense: %s (%s) — see 'hearth "
            "license %s'\n", e->source, e->name, e->sha256,
            lic.license[0] ? lic.license : "none found",
           lic_verdict_word(lic.verdict), e->name);
    reg_free(r);
    return 0;
}

int cmd_pull(int argc, char **argv)
{
    const char *ref = NULL, *name = NULL, *sha256 = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (strcmp(argv[i], "--sha256") == 0 && i + 1 < argc) {
            sha256 = argv[++i];
        } else if (argv[i][0] != '-' && !ref) {
            ref = argv[i];
        } else {
            fprintf(stderr, "hearth pull: unexpected '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!ref) {
        fputs(usage, stderr);
        return 2;
    }
    return cli_pull(ref, name, sha256, stdout);
}
