/*
 * Tests for the knowledge services: ingest (incremental by hash, deletions, binary and
 * HTML handling), hybrid search, the RAG prompt and citation parsing, and the CLI end to
 * end (`hearth index`, `search`, `ask` with the random fixture models), including a
 * `kill -9` in the middle of indexing followed by a re-run that leaves a consistent index.
 *
 * Expected values come from the corpora written here: which file holds which word, how
 * many files of each kind, and reciprocal-rank-fusion scores worked out by hand.
 */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "knowledge/ingest.h"
#include "knowledge/rag.h"
#include "knowledge/search.h"

#define BERT TESTDATA "/models/tiny-bert-f32.gguf"
#define NOMIC TESTDATA "/models/tiny-nomic-bert-q8_0.gguf"
#define CHAT TESTDATA "/models/tiny-llama-spm-q8_0.gguf"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

/* A small corpus: three text files with distinct words, a Markdown file, an HTML file, a
 * binary file, and an empty folder. */
static void make_corpus(const char *dir)
{
    char p[512];
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/empty", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/a.txt", dir);
    write_file(p, "The lighthouse keeper logs every passing ship.\n");
    snprintf(p, sizeof p, "%s/b.txt", dir);
    write_file(p, "Sourdough bread needs a starter, flour and patience.\n");
    snprintf(p, sizeof p, "%s/sub/c.md", dir);
    write_file(p, "# Travel\n\nPack the passport.\n\n## Trains\n\nThe night train to Vienna "
                  "leaves at ten.\n");
    snprintf(p, sizeof p, "%s/sub/d.html", dir);
    write_file(p, "<html><script>var hidden = 'zebra';</script><p>Quantum &amp; "
                  "entanglement notes</p></html>\n");
    snprintf(p, sizeof p, "%s/sub/e.c", dir);
    write_file(p, "int main(void) { return frobnicate(42); }\n");
    snprintf(p, sizeof p, "%s/blob.dat", dir);
    FILE *f = fopen(p, "wb");
    if (f) {
        for (int i = 0; i < 4096; i++)
            fputc(i * 7 % 256, f);
        fclose(f);
    }
}

static kn_store *open_store(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    remove(path);
    kn_store *s = NULL;
    if (kn_store_open(&s, path, true, NULL) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "cannot create %s", path);
    return s;
}

TEST(knowledge_ingest_incremental)
{
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/corpus1", test_tmpdir());
    make_corpus(dir);
    emb_model *e;
    emb_params ep = emb_default_params();
    ep.n_threads = 1;
    hearth_error err;
    REQUIRE(emb_open(&e, BERT, &ep, &err) == HEARTH_OK);
    kn_store *s = open_store("ingest.db");
    REQUIRE(s);
    kn_ingest_params ip = kn_ingest_default_params();
    kn_ingest_stats st;
    const char *roots[] = { dir };
    REQUIRE(kn_ingest(s, e, roots, 1, &ip, &st, &err) == HEARTH_OK);
    CHECK_EQ(st.files_total, 6);
    CHECK_EQ(st.added, 5);
    CHECK_EQ(st.binary, 1);
    CHECK_EQ(st.chunks, 6); /* c.md has two sections */
    /* second run: nothing to do */
    REQUIRE(kn_ingest(s, e, roots, 1, &ip, &st, &err) == HEARTH_OK);
    CHECK_EQ(st.unchanged, 5);
    CHECK_EQ(st.added + st.updated + st.removed + st.chunks, 0);
    /* one file changed, one deleted */
    snprintf(p, sizeof p, "%s/a.txt", dir);
    write_file(p, "The lighthouse keeper now logs passing whales too.\n");
    snprintf(p, sizeof p, "%s/b.txt", dir);
    remove(p);
    REQUIRE(kn_ingest(s, e, roots, 1, &ip, &st, &err) == HEARTH_OK);
    CHECK_EQ(st.updated, 1);
    CHECK_EQ(st.removed, 1);
    CHECK_EQ(st.unchanged, 3);
    CHECK_EQ(st.chunks, 1);
    kn_stats ks;
    REQUIRE(kn_store_stats(s, &ks, NULL) == HEARTH_OK);
    CHECK_EQ(ks.documents, 4);
    CHECK_EQ(ks.chunks, 5);
    bool ok;
    REQUIRE(kn_store_check(s, &ok, NULL) == HEARTH_OK);
    CHECK(ok);

    /* search: the unique word finds its file, also through hybrid fusion */
    kn_searcher *x;
    REQUIRE(kn_searcher_open(&x, s, e, 0, &err) == HEARTH_OK);
    kn_result *r;
    int n;
    REQUIRE(kn_search(x, "whales", 3, KN_HYBRID, &r, &n, &err) == HEARTH_OK);
    REQUIRE(n == 3);
    CHECK_CONTAINS(r[0].chunk.path, "/a.txt");
    CHECK_EQ(r[0].bm25_rank, 1);
    CHECK_NEAR(r[0].similarity, 1.0, 1.0); /* a cosine */
    kn_results_free(r, n);
    /* HTML: the script's words are not indexed, the text's are, entities decoded */
    REQUIRE(kn_search(x, "zebra", 3, KN_BM25, &r, &n, &err) == HEARTH_OK);
    CHECK_EQ(n, 0);
    kn_results_free(r, n);
    REQUIRE(kn_search(x, "entanglement", 3, KN_BM25, &r, &n, &err) == HEARTH_OK);
    REQUIRE(n == 1);
    CHECK_CONTAINS(r[0].chunk.text, "Quantum &");
    kn_results_free(r, n);
    /* Markdown heading path and lines */
    REQUIRE(kn_search(x, "Vienna", 1, KN_BM25, &r, &n, &err) == HEARTH_OK);
    REQUIRE(n == 1);
    CHECK_STR(r[0].chunk.heading, "Travel > Trains");
    CHECK_EQ(r[0].chunk.line_start, 5);
    CHECK_EQ(r[0].chunk.line_end, 7);
    kn_results_free(r, n);
    /* dense search returns every chunk when k is large, best first */
    REQUIRE(kn_search(x, "ship", 10, KN_DENSE, &r, &n, &err) == HEARTH_OK);
    CHECK_EQ(n, 5);
    for (int i = 1; i < n; i++)
        CHECK(r[i].score <= r[i - 1].score);
    /* the same dense ranking through the HNSW graph (forced on for five vectors) */
    kn_searcher *g;
    REQUIRE(kn_searcher_open(&g, s, e, 1, &err) == HEARTH_OK);
    kn_result *rg;
    int ng;
    REQUIRE(kn_search(g, "ship", 10, KN_DENSE, &rg, &ng, &err) == HEARTH_OK);
    CHECK_EQ(ng, n);
    for (int i = 0; i < n && i < ng; i++) {
        CHECK_STR(rg[i].chunk.text, r[i].chunk.text);
        CHECK_NEAR(rg[i].score, r[i].score, 1e-6);
    }
    kn_results_free(rg, ng);
    kn_searcher_free(g);
    kn_results_free(r, n);
    kn_searcher_free(x);
    emb_free(e);

    /* another embedding model is refused */
    REQUIRE(emb_open(&e, NOMIC, &ep, &err) == HEARTH_OK);
    CHECK(kn_ingest(s, e, roots, 1, &ip, &st, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "cannot be mixed");
    CHECK(kn_searcher_open(&x, s, e, 0, &err) == HEARTH_ERR_INVALID);
    emb_free(e);
    kn_store_close(s);
}

TEST(knowledge_rrf_by_hand)
{
    /* BM25 list 10, 20, 30; dense list 30, 40, 10.
     * 10: 1/61 + 1/63; 30: 1/63 + 1/61; 20: 1/62; 40: 1/62. Ties by smaller id. */
    int64_t a[] = { 10, 20, 30 }, b[] = { 30, 40, 10 }, out[4];
    double sc[4];
    REQUIRE(kn_rrf(a, 3, b, 3, 4, out, sc) == 4);
    CHECK_EQ(out[0], 10);
    CHECK_EQ(out[1], 30);
    CHECK_EQ(out[2], 20);
    CHECK_EQ(out[3], 40);
    CHECK_NEAR(sc[0], 1.0 / 61 + 1.0 / 63, 1e-12);
    CHECK_NEAR(sc[2], 1.0 / 62, 1e-12);
    CHECK_EQ(kn_rrf(a, 3, b, 0, 2, out, sc), 2);
    CHECK_EQ(out[1], 20);
}

TEST(knowledge_rag_prompt_and_citations)
{
    kn_result r[2] = { 0 };
    r[0].chunk = (kn_chunk_info){ .path = "/n/a.md", .heading = "Intro", .text = "Alpha text.",
                                  .line_start = 3, .line_end = 9 };
    r[1].chunk = (kn_chunk_info){ .path = "/n/b.txt", .text = "Beta \xc3\xa9t\xc3\xa9 long",
                                  .line_start = 4, .line_end = 4 };
    char *sys, *user;
    REQUIRE(kn_rag_prompt(r, 2, "What?", 8, &sys, &user, NULL) == HEARTH_OK);
    CHECK_CONTAINS(sys, "[1]");
    CHECK_CONTAINS(user, "[1] /n/a.md:3-9 — Intro\nAlpha te …");
    CHECK_CONTAINS(user, "[2] /n/b.txt:4\nBeta \xc3\xa9t …"); /* cut before a split character */
    CHECK_CONTAINS(user, "Question: What?");
    mem_free(sys);
    mem_free(user);
    REQUIRE(kn_rag_prompt(r, 0, "What?", 100, &sys, &user, NULL) == HEARTH_OK);
    CHECK_CONTAINS(user, "Sources: none");
    mem_free(sys);
    mem_free(user);
    bool cited[4];
    CHECK_EQ(kn_rag_cited("Yes [2]. Also [1, 3] and [9] and [x] and [4][2]", 4, cited), 4);
    CHECK(cited[0] && cited[1] && cited[2] && cited[3]);
    CHECK_EQ(kn_rag_cited("none [ 2 ] here", 1, cited), 0);
    CHECK_EQ(kn_rag_cited("[2", 4, cited), 0);
}

TEST(knowledge_html_to_text)
{
    char s[] = "<p class=\"x\">A &lt;b&gt; &#233;&#x41;</p>\n<!-- note -->"
               "<style>p{}</style>Z";
    size_t n = strlen(s);
    kn_html_to_text(s, n);
    CHECK_EQ(strlen(s), n);
    /* each markup byte becomes a space; an entity becomes its character, then spaces */
    CHECK(strncmp(s, "             A <   b>    \xc3\xa9    A         ", 41) == 0);
    CHECK(strchr(s, '\n') == s + 41);
    CHECK(s[n - 1] == 'Z');
    for (size_t i = 42; i < n - 1; i++)
        CHECK(s[i] == ' ');
}

/* ---- the command line ------------------------------------------------------------------ */

static char out[65536];

static int hearth(const char *home, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "HEARTH_HOME=%s %s %s", home, test_bin(), args);
    return test_run(cmd, out, sizeof out);
}

TEST(knowledge_cli_index_search_ask)
{
    char home[512], dir[512], args[2048];
    snprintf(home, sizeof home, "%s/home-cli", test_tmpdir());
    snprintf(dir, sizeof dir, "%s/corpus-cli", test_tmpdir());
    make_corpus(dir);
    snprintf(args, sizeof args, "index notes %s --embed %s -t 1", dir, BERT);
    REQUIRE(hearth(home, args) == 0);
    CHECK_CONTAINS(out, "5 added");
    CHECK_CONTAINS(out, "skipped 1 binary file");
    /* the model is remembered */
    REQUIRE(hearth(home, "search notes 'night train' -k 2 -t 1") == 0);
    CHECK_CONTAINS(out, "c.md:5-7");
    CHECK_CONTAINS(out, "[Travel > Trains]");
    REQUIRE(hearth(home, "search notes lighthouse --mode bm25 --json") == 0);
    CHECK_CONTAINS(out, "\"line_start\":1");
    CHECK_CONTAINS(out, "a.txt");
    /* ask: the prompt carries the retrieved chunk and the source list maps [1] to it */
    snprintf(args, sizeof args, "ask notes 'When does the night train leave?' --model %s "
             "-k 2 -n 4 --temp 0 --show-prompt -t 1", CHAT);
    REQUIRE(hearth(home, args) == 0);
    CHECK_CONTAINS(out, "The night train to Vienna leaves at ten.");
    CHECK_CONTAINS(out, "[1] ");
    CHECK_CONTAINS(out, "Sources");
    CHECK_CONTAINS(out, "c.md:5-7 — Travel > Trains");
    /* words found nowhere, and no dense match allowed: the model is told, and so is the user */
    snprintf(args, sizeof args, "ask notes 'xylophone quokka' --model %s -n 2 "
             "--min-similarity 1.5 --show-prompt -t 1", CHAT);
    REQUIRE(hearth(home, args) == 0);
    CHECK_CONTAINS(out, "Sources: none");
    CHECK_CONTAINS(out, "No sources: nothing in the knowledge base 'notes'");
    /* bad input: another model, a bad name, an empty folder, a missing base */
    snprintf(args, sizeof args, "index notes %s --embed %s", dir, NOMIC);
    CHECK(hearth(home, args) != 0);
    CHECK_CONTAINS(out, "cannot be mixed");
    CHECK(hearth(home, "search ../x query") != 0);
    CHECK_CONTAINS(out, "not a valid knowledge base name");
    snprintf(args, sizeof args, "index other %s/empty --embed %s", dir, BERT);
    REQUIRE(hearth(home, args) == 0);
    CHECK_CONTAINS(out, "no files found");
    CHECK(hearth(home, "search nosuch query") != 0);
    CHECK_CONTAINS(out, "no such knowledge base");
}

TEST(knowledge_cli_embed)
{
    char args[1024];
    /* the first value of llama.cpp's reference vector for this sentence is -0.4198561 */
    snprintf(args, sizeof args, "embed %s 'The cat sat on the mat.' --raw -t 1", BERT);
    REQUIRE(hearth(test_tmpdir(), args) == 0);
    CHECK_NEAR(strtod(out, NULL), -0.4198561, 2e-3);
    snprintf(args, sizeof args, "embed %s one two --json -t 1", BERT);
    REQUIRE(hearth(test_tmpdir(), args) == 0);
    CHECK_CONTAINS(out, "\"dim\":64");
    CHECK_CONTAINS(out, "],[");
    snprintf(args, sizeof args, "embed %s hello", CHAT);
    CHECK(hearth(test_tmpdir(), args) != 0);
    CHECK_CONTAINS(out, "not an embedding model");
}

/* 2,000 mixed files; indexing killed with SIGKILL part way, then run again. */
TEST(knowledge_cli_kill9_and_rerun)
{
    char home[512], dir[512], p[700], args[2048];
    snprintf(home, sizeof home, "%s/home-kill", test_tmpdir());
    snprintf(dir, sizeof dir, "%s/corpus-kill", test_tmpdir());
    mkdir(dir, 0700);
    int n_text = 0;
    for (int i = 0; i < 2000; i++) {
        static const char *const ext[] = { "txt", "md", "html", "py", "bin" };
        const char *x = ext[i % 5];
        snprintf(p, sizeof p, "%s/f%04d.%s", dir, i, x);
        char body[256];
        if (i % 5 == 4) {
            snprintf(body, sizeof body, "bin%c%c%c", 0, 1, 2);
            FILE *f = fopen(p, "wb");
            if (f) {
                fwrite(body, 1, 6, f);
                fclose(f);
            }
            continue;
        }
        snprintf(body, sizeof body, "%sword%d appears in file %d only. %s\n",
                 i % 5 == 1 ? "# Heading\n\n" : i % 5 == 2 ? "<p>" : "", i, i,
                 i % 5 == 2 ? "</p>" : "");
        write_file(p, body);
        n_text++;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "HEARTH_HOME=%s %s index big %s --embed %s -q -t 1 & pid=$!; "
             "while [ ! -s %s/knowledge/big.db-wal ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done; "
             "sleep 0.05; kill -9 $pid 2>/dev/null; { wait $pid; } 2>/dev/null; true", home, test_bin(), dir, BERT,
             home);
    test_run(cmd, out, sizeof out);
    /* right after the kill: consistent, every stored file whole (one chunk each) */
    char db[700];
    snprintf(db, sizeof db, "%s/knowledge/big.db", home);
    kn_store *s;
    REQUIRE(kn_store_open(&s, db, false, NULL) == HEARTH_OK);
    kn_stats ks;
    bool ok;
    REQUIRE(kn_store_stats(s, &ks, NULL) == HEARTH_OK);
    CHECK_EQ(ks.chunks, ks.documents);
    CHECK(ks.documents <= n_text);
    REQUIRE(kn_store_check(s, &ok, NULL) == HEARTH_OK);
    CHECK(ok);
    kn_store_close(s);
    snprintf(args, sizeof args, "index big %s -t 1", dir);
    REQUIRE(hearth(home, args) == 0);
    CHECK_CONTAINS(out, "skipped 400 binary files");
    REQUIRE(kn_store_open(&s, db, false, NULL) == HEARTH_OK);
    REQUIRE(kn_store_stats(s, &ks, NULL) == HEARTH_OK);
    CHECK_EQ(ks.documents, n_text);
    CHECK_EQ(ks.chunks, n_text);
    REQUIRE(kn_store_check(s, &ok, NULL) == HEARTH_OK);
    CHECK(ok);
    kn_store_close(s);
    /* a third run re-embeds only the file that changed */
    snprintf(p, sizeof p, "%s/f0000.txt", dir);
    write_file(p, "changed words\n");
    REQUIRE(hearth(home, args) == 0);
    CHECK_CONTAINS(out, "0 added, 1 updated");
    CHECK_CONTAINS(out, "1 chunks embedded");
}
