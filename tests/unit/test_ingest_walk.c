/*
 * Ingest's folder walk: symbolic links are not followed (an index never wanders outside
 * the folders it was given) and each one is reported, not silently dropped.
 */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "knowledge/embed.h"
#include "knowledge/ingest.h"
#include "knowledge/store.h"

typedef struct warnings {
    int n, links;
} warnings;

static void on_warn(void *user, const char *msg)
{
    warnings *w = user;
    w->n++;
    if (strstr(msg, "symbolic link") && strstr(msg, "dangling.txt"))
        w->links++;
}

TEST(ingest_reports_links_it_does_not_follow)
{
    char dir[256], db[300], cmd[2400];
    snprintf(dir, sizeof dir, "%s/walk", test_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s/sub && printf 'plain words here\\n' > %s/a.txt && "
             "ln -sf /nonexistent/file %s/dangling.txt && ln -sf /etc %s/sub/etc-link",
             dir, dir, dir, dir);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    hearth_error err;
    emb_model *e;
    emb_params ep = emb_default_params();
    ep.n_threads = 1;
    REQUIRE(emb_open(&e, TESTDATA "/models/tiny-bert-q8_0.gguf", &ep, &err) == HEARTH_OK);
    snprintf(db, sizeof db, "%s/walk.db", test_tmpdir());
    kn_store *s;
    REQUIRE(kn_store_open(&s, db, true, &err) == HEARTH_OK);
    warnings w = { 0 };
    kn_ingest_params p = kn_ingest_default_params();
    p.warn = on_warn;
    p.user = &w;
    kn_ingest_stats stats;
    const char *roots[] = { dir };
    CHECK(kn_ingest(s, e, roots, 1, &p, &stats, &err) == HEARTH_OK);
    CHECK_EQ(stats.files_total, 1); /* a.txt only: /etc is not indexed through the link */
    CHECK_EQ(w.links, 1);
    CHECK_EQ(w.n, 2);               /* the dangling link and the link to /etc */
    kn_store_close(s);
    emb_free(e);
}
