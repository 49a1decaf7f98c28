/*
 * search.c — `hearth search NAME QUERY`: the chunks of a knowledge base that match.
 *
 * Each result shows where it is (path:lines, the heading path), its score, and a one-line
 * snippet; --json gives the same with the whole chunk text, for scripts.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "cli/cli.h"
#include "cli/genopts.h"
#include "cli/kbopen.h"
#include "knowledge/rag.h"
#include "knowledge/search.h"

static const char usage[] =
    "usage: hearth search NAME QUERY [options]\n"
    "Find the passages of knowledge base NAME that best match QUERY.\n"
    "  -k N                   how many results (default 10)\n"
    "  --mode hybrid|dense|bm25  ranking: words and meaning fused (default), meaning only,\n"
    "                         or words only\n"
    "  --embed MODEL          the embedding model (default: the one NAME was built with)\n"
    "  --json                 one JSON object with the results\n"
    "  -t, --threads N        threads (default: one per CPU)\n";

/* The first ~width bytes of text on one line (white space collapsed), whole characters. */
static void snippet(const char *text, char *out, size_t width)
{
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; text[i] && o + 8 < width;) {
        uint32_t cp;
        int len = utf8_decode(text + i, strlen(text + i), &cp);
        if (len <= 0) {
            i++;
            continue;
        }
        if (cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r') {
            space = o > 0;
        } else {
            if (space)
                out[o++] = ' ';
            space = false;
            memcpy(out + o, text + i, (size_t)len);
            o += (size_t)len;
        }
        i += (size_t)len;
        if (o + 8 >= width && text[i])
            o += (size_t)snprintf(out + o, width - o, "…");
    }
    out[o] = '\0';
}

static void print_plain(const kn_result *r, int n)
{
    if (n == 0)
        printf("no matches\n");
    for (int i = 0; i < n; i++) {
        char loc[4200], snip[240];
        kn_rag_location(&r[i].chunk, loc, sizeof loc);
        snippet(r[i].chunk.text, snip, sizeof snip);
        printf("%2d. %s  score %.4f", i + 1, loc, r[i].score);
        if (r[i].chunk.heading)
            printf("  [%s]", r[i].chunk.heading);
        printf("\n    %s\n", snip);
    }
}

static void print_json(const char *query, const char *mode, const kn_result *r, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "query", query);
    cJSON_AddStringToObject(o, "mode", mode);
    cJSON *arr = cJSON_AddArrayToObject(o, "results");
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", r[i].chunk.path);
        cJSON_AddNumberToObject(e, "line_start", r[i].chunk.line_start);
        cJSON_AddNumberToObject(e, "line_end", r[i].chunk.line_end);
        if (r[i].chunk.heading)
            cJSON_AddStringToObject(e, "heading", r[i].chunk.heading);
        cJSON_AddNumberToObject(e, "score", r[i].score);
        cJSON_AddNumberToObject(e, "similarity", r[i].similarity);
        cJSON_AddNumberToObject(e, "bm25_rank", r[i].bm25_rank);
        cJSON_AddNumberToObject(e, "dense_rank", r[i].dense_rank);
        cJSON_AddStringToObject(e, "text", r[i].chunk.text);
        cJSON_AddItemToArray(arr, e);
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
}

int cmd_search(int argc, char **argv)
{
    const char *name = NULL, *query = NULL, *embed = NULL, *mode_name = "hybrid";
    long k = 10, t;
    bool json = false;
    enum kn_mode mode = KN_HYBRID;
    emb_params ep = emb_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s", usage);
            return 0;
        } else if (!strcmp(a, "-k") && i + 1 < argc && parse_int(argv[++i], 1, 1000, &k)) {
        } else if (!strcmp(a, "--mode") && i + 1 < argc && kn_mode_parse(argv[++i], &mode)) {
            mode_name = argv[i];
        } else if (!strcmp(a, "--embed") && i + 1 < argc) {
            embed = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc &&
                   parse_int(argv[++i], 1, 1024, &t)) {
            ep.n_threads = (int)t;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hearth search: unknown, incomplete or out-of-range option '%s'\n%s",
                    a, usage);
            return 2;
        } else if (!name) {
            name = a;
        } else if (!query) {
            query = a;
        } else {
            fprintf(stderr, "hearth search: one QUERY only (quote it)\n");
            return 2;
        }
    }
    if (!name || !query) {
        fprintf(stderr, "hearth search: need a NAME and a QUERY\n%s", usage);
        return 2;
    }
    hearth_error err;
    kb_handles kb;
    kn_searcher *x = NULL;
    kn_result *r = NULL;
    int n = 0, rc = 1;
    if (kb_open(&kb, name, false, embed, &ep, &err) ||
        kn_searcher_open(&x, kb.store, kb.emb, 0, &err) ||
        kn_search(x, query, (int)k, mode, &r, &n, &err)) {
        fprintf(stderr, "hearth search: %s\n", err.msg);
    } else {
        if (json)
            print_json(query, mode_name, r, n);
        else
            print_plain(r, n);
        rc = 0;
    }
    kn_results_free(r, n);
    kn_searcher_free(x);
    kb_close(&kb);
    return rc;
}
