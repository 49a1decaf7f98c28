/*
 * Tests for knowledge/store.c: BM25 scores and ranks against the Okapi BM25 formula
 * computed here by hand (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), FTS5's
 * definition), document replacement and removal leaving no orphans, vectors round-trip,
 * and the refusals: another embedding model, a newer format version, a file that is not a
 * knowledge base, bad names.
 */
#include "test.h"

#include <sqlite3.h>
#include <stdio.h>

#include "base/mem.h"
#include "knowledge/store.h"

static kn_store *fresh(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    remove(path);
    kn_store *s = NULL;
    hearth_error err;
    if (kn_store_open(&s, path, true, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    return s;
}

static hearth_status put(kn_store *s, const char *path, const char *const *texts, int n,
                         const float *vecs)
{
    kn_chunk_rec rec[8];
    for (int i = 0; i < n; i++)
        rec[i] = (kn_chunk_rec){ .text = texts[i], .len = strlen(texts[i]), .start = 0,
                                 .end = strlen(texts[i]), .line_start = i + 1,
                                 .line_end = i + 1, .vec = vecs + i * kn_store_dim(s) };
    return kn_store_put_doc(s, path, "00", 1, 2, rec, (size_t)n, NULL);
}

/* Okapi BM25 of one document for the query terms, FTS5-style. */
static double bm25(const char *const *docs, int N, int doc, const char *const *terms, int nt)
{
    double total = 0;
    int len[8];
    for (int d = 0; d < N; d++) {
        len[d] = 0;
        for (const char *p = docs[d]; *p;) {
            while (*p == ' ')
                p++;
            if (*p)
                len[d]++;
            while (*p && *p != ' ')
                p++;
        }
        total += len[d];
    }
    double avgdl = total / N, score = 0;
    for (int t = 0; t < nt; t++) {
        int n_hit = 0, f = 0;
        for (int d = 0; d < N; d++) {
            int c = 0;
            size_t tl = strlen(terms[t]);
            for (const char *p = docs[d]; (p = strstr(p, terms[t])); p += tl)
                if ((p == docs[d] || p[-1] == ' ') && (p[tl] == ' ' || !p[tl]))
                    c++;
            n_hit += c > 0;
            if (d == doc)
                f = c;
        }
        double idf = log((N - n_hit + 0.5) / (n_hit + 0.5));
        if (idf <= 0)
            idf = 1e-6;
        score += idf * f * 2.2 / (f + 1.2 * (1 - 0.75 + 0.75 * len[doc] / avgdl));
    }
    return score;
}

TEST(store_bm25_matches_formula)
{
    kn_store *s = fresh("bm25.db");
    REQUIRE(s);
    REQUIRE(kn_store_bind_model(s, "test:model:2d:1", 2, NULL) == HEARTH_OK);
    const char *docs[] = {
        "apple banana apple cherry",
        "banana split with ice cream and more ice",
        "cherry pie recipe",
        "apple",
        "a long text about nothing in particular at all really nothing",
        "ice ice ice baby",
    };
    float vecs[12] = { 0 };
    for (int i = 0; i < 6; i++) {
        char path[32];
        snprintf(path, sizeof path, "/doc%d", i);
        REQUIRE(put(s, path, &docs[i], 1, vecs) == HEARTH_OK);
    }
    const char *queries[][2] = { { "apple", NULL }, { "ice", "cream" }, { "cherry", "apple" } };
    for (int qi = 0; qi < 3; qi++) {
        int nt = queries[qi][1] ? 2 : 1;
        char q[64];
        snprintf(q, sizeof q, "%s %s", queries[qi][0], nt == 2 ? queries[qi][1] : "");
        kn_hit hits[10];
        int n;
        REQUIRE(kn_store_bm25(s, q, 10, hits, &n, NULL) == HEARTH_OK);
        /* expected: every document with a hit, by descending formula score */
        double want[6];
        int order[6], m = 0;
        for (int d = 0; d < 6; d++) {
            want[d] = bm25(docs, 6, d, queries[qi], nt);
            if (want[d] > 0)
                order[m++] = d;
        }
        for (int a = 0; a < m; a++)
            for (int b = a + 1; b < m; b++)
                if (want[order[b]] > want[order[a]]) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
        REQUIRE(n == m);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(hits[i].chunk, order[i] + 1); /* chunk ids follow insertion order */
            CHECK_NEAR(hits[i].score, want[order[i]], 1e-9);
        }
    }
    /* FTS5 syntax in a query is just words */
    kn_hit hits[4];
    int n;
    CHECK(kn_store_bm25(s, "apple\" OR NEAR(x", 4, hits, &n, NULL) == HEARTH_OK);
    CHECK(kn_store_bm25(s, "*** ---", 4, hits, &n, NULL) == HEARTH_OK);
    CHECK_EQ(n, 0);
    kn_store_close(s);
}

TEST(store_replace_delete_and_vectors)
{
    kn_store *s = fresh("docs.db");
    REQUIRE(s);
    REQUIRE(kn_store_bind_model(s, "m:1:3d:9", 3, NULL) == HEARTH_OK);
    const char *a[] = { "first chunk", "second chunk" }, *b[] = { "replaced text" };
    float va[] = { 1, 0, 0, 0, 1, 0 }, vb[] = { 0, 0, 1 };
    REQUIRE(put(s, "/x.txt", a, 2, va) == HEARTH_OK);
    REQUIRE(put(s, "/y.txt", b, 1, vb) == HEARTH_OK);
    REQUIRE(put(s, "/x.txt", b, 1, vb) == HEARTH_OK); /* replaces both old chunks */
    kn_stats st;
    REQUIRE(kn_store_stats(s, &st, NULL) == HEARTH_OK);
    CHECK_EQ(st.documents, 2);
    CHECK_EQ(st.chunks, 2);
    kn_hit hits[4];
    int n;
    REQUIRE(kn_store_bm25(s, "first", 4, hits, &n, NULL) == HEARTH_OK);
    CHECK_EQ(n, 0); /* the replaced text is gone from the full-text index too */
    int64_t *ids;
    float *vecs;
    size_t nv;
    REQUIRE(kn_store_vectors(s, &ids, &vecs, &nv, NULL) == HEARTH_OK);
    CHECK_EQ(nv, 2);
    for (size_t i = 0; i < nv * 3; i++)
        CHECK_NEAR(vecs[i], vb[i % 3], 0);
    kn_chunk_info c;
    REQUIRE(kn_store_chunk(s, ids[0], &c, NULL) == HEARTH_OK);
    CHECK_STR(c.text, "replaced text");
    CHECK(c.path[0] == '/');
    kn_chunk_info_free(&c);
    mem_free(ids);
    mem_free(vecs);
    REQUIRE(kn_store_delete_doc(s, "/x.txt", NULL) == HEARTH_OK);
    REQUIRE(kn_store_stats(s, &st, NULL) == HEARTH_OK);
    CHECK_EQ(st.documents, 1);
    CHECK_EQ(st.chunks, 1);
    bool ok;
    REQUIRE(kn_store_check(s, &ok, NULL) == HEARTH_OK);
    CHECK(ok);
    char sha[65];
    bool found;
    REQUIRE(kn_store_doc_sha(s, "/y.txt", sha, &found, NULL) == HEARTH_OK);
    CHECK(found);
    CHECK_STR(sha, "00");
    /* another model is refused with both names */
    hearth_error err;
    CHECK(kn_store_bind_model(s, "other:2:3d:9", 3, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "m:1:3d:9");
    CHECK_CONTAINS(err.msg, "other:2:3d:9");
    kn_store_close(s);
}

TEST(store_refuses_bad_files)
{
    char path[512];
    hearth_error err;
    kn_store *s;
    /* newer format version */
    snprintf(path, sizeof path, "%s/newer.db", test_tmpdir());
    remove(path);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99; CREATE TABLE t(x);", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(kn_store_open(&s, path, true, &err) == HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "newer");
    /* another program's database */
    snprintf(path, sizeof path, "%s/other.db", test_tmpdir());
    remove(path);
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t(x);", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(kn_store_open(&s, path, true, &err) == HEARTH_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "not a hearth knowledge base");
    /* not SQLite at all */
    snprintf(path, sizeof path, "%s/junk.db", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("this is not a database, just some text that is long enough to look at", f);
    fclose(f);
    CHECK(kn_store_open(&s, path, true, &err) != HEARTH_OK);
    /* missing without create */
    snprintf(path, sizeof path, "%s/missing.db", test_tmpdir());
    CHECK(kn_store_open(&s, path, false, &err) == HEARTH_ERR_IO);
    CHECK_CONTAINS(err.msg, "hearth index");
    /* names */
    CHECK(kn_name_valid("notes"));
    CHECK(kn_name_valid("work-2026.v2"));
    CHECK(!kn_name_valid(""));
    CHECK(!kn_name_valid("../etc"));
    CHECK(!kn_name_valid("a/b"));
    CHECK(!kn_name_valid(".hidden"));
    CHECK(!kn_name_valid("tab\there"));
    CHECK(!kn_name_valid("a..b"));
}
