/*
 * test_pull.c — pulling from a mock Hub (tests/mock_hub.py) on an ephemeral loopback port.
 *
 * Each test starts its own mock (so its one-shot behaviours, like the cut-off first
 * download, start fresh) and its own HEARTH_HOME. Expected hashes come from the system's
 * sha256sum of the fixture the mock serves.
 */
#include "test.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hub/fit.h"
#include "hub/pull.h"

typedef struct mock {
    pid_t pid;
    char endpoint[64];
} mock;

static bool mock_start(mock *m)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    m->pid = fork();
    if (m->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", "tests/mock_hub.py", TESTDATA "/models", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[32] = "";
    size_t n = 0;
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    while (m->pid > 0 && n + 1 < sizeof line && poll(&pfd, 1, 10000) > 0) {
        ssize_t got = read(fds[0], line + n, 1);
        if (got <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(fds[0]);
    int port = atoi(line);
    snprintf(m->endpoint, sizeof m->endpoint, "http://127.0.0.1:%d", port);
    setenv("HF_ENDPOINT", m->endpoint, 1);
    unsetenv("HF_TOKEN");
    unsetenv("HEARTH_PULL_TIMEOUT");
    return port > 0;
}

static void mock_stop(mock *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGTERM);
        waitpid(m->pid, NULL, 0);
    }
}

static registry *fresh_registry(const char *tag)
{
    char home[512], cmd[600];
    snprintf(home, sizeof home, "%s/pull-%s", test_tmpdir(), tag);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    test_run(cmd, NULL, 0);
    setenv("HEARTH_HOME", home, 1);
    registry *r = NULL;
    hearth_error err;
    if (reg_open(&r, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    return r;
}

static void sha256sum(const char *path, char hex[65])
{
    char cmd[600], out[256];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    hex[0] = '\0';
    if (test_run(cmd, out, sizeof out) == 0 && strlen(out) >= 64) {
        memcpy(hex, out, 64);
        hex[64] = '\0';
    }
}

typedef struct seen {
    char notes[4096];
    uint64_t last_done, last_total;
    int calls;
} seen;

static void on_note(void *user, const char *line)
{
    seen *s = user;
    size_t n = strlen(s->notes);
    snprintf(s->notes + n, sizeof s->notes - n, "%s\n", line);
}

static void on_progress(void *user, uint64_t done, uint64_t total, double rate)
{
    seen *s = user;
    s->last_done = done, s->last_total = total, s->calls++;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

TEST(pull_parse_refs)
{
    pull_ref r;
    hearth_error err;
    REQUIRE(pull_parse_ref("hf:Qwen/Qwen3-0.6B-GGUF", &r, &err) == HEARTH_OK);
    CHECK_STR(r.repo, "Qwen/Qwen3-0.6B-GGUF");
    CHECK_STR(r.file, "");
    CHECK_STR(r.rev, "main");
    REQUIRE(pull_parse_ref("hf:org/repo/sub/m-Q8_0.gguf@v1.0", &r, &err) == HEARTH_OK);
    CHECK_STR(r.repo, "org/repo");
    CHECK_STR(r.file, "sub/m-Q8_0.gguf");
    CHECK_STR(r.rev, "v1.0");
    REQUIRE(pull_parse_ref("https://huggingface.co/org/repo/resolve/main/m.gguf", &r, &err) ==
            HEARTH_OK);
    CHECK_STR(r.repo, "org/repo");
    CHECK_STR(r.file, "m.gguf");
    REQUIRE(pull_parse_ref("https://example.org/files/m.gguf?download=1", &r, &err) == HEARTH_OK);
    CHECK_STR(r.repo, "");
    CHECK_STR(r.file, "m.gguf");
    static const char *const bad[] = {
        "http://example.org/m.gguf", "file:///etc/passwd", "ftp://x/m.gguf", "hf:org",
        "hf:../x/y", "hf:org/repo/../../etc/passwd", "hf:org/repo/a b.gguf", "hf:org/repo@",
        "https://example.org/", "Qwen/Qwen3", "hf:org/repo@../x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(pull_parse_ref(bad[i], &r, &err) == HEARTH_ERR_INVALID);
        if (!strstr(err.msg, bad[i]) && !strstr(err.msg, "pull takes"))
            test_fail(__FILE__, __LINE__, "message for %s: %s", bad[i], err.msg);
    }
}

TEST(pull_picks_q4_k_m_else_closest)
{
    const char *a[] = { "README.md", "m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-Q4_K_S.gguf",
                        "m-F16.gguf" };
    CHECK_EQ(pull_pick_gguf(a, 5), 2);
    const char *b[] = { "m.Q8_0.gguf", "m.q4_k_s.gguf", "mmproj-m-Q4_K_M.gguf" };
    CHECK_EQ(pull_pick_gguf(b, 3), 1);
    const char *c[] = { "m-f16.gguf", "m-Q8_0.gguf" };
    CHECK_EQ(pull_pick_gguf(c, 2), 1);
    /* of a split model only the first part, which opens the others */
    const char *d[] = { "m-Q4_K_M-00002-of-00002.gguf", "m-Q4_K_M-00001-of-00002.gguf", "x.bin",
                        "m-Q8_0.gguf" };
    CHECK_EQ(pull_pick_gguf(d, 4), 1);
    CHECK_EQ(pull_pick_gguf(d, 1), -1);
    const char *e[] = { "model.gguf" }; /* unnamed preset: still a GGUF to offer */
    CHECK_EQ(pull_pick_gguf(e, 1), 0);
    /* presets hearth cannot run are never offered, however well they would rank */
    const char *f[] = { "m-IQ4_XS.gguf", "m.iq4_nl.gguf", "m-IQ3_M.gguf", "m-TQ2_0.gguf",
                        "m-MXFP4.gguf", "m-Q2_K.gguf" };
    CHECK_EQ(pull_pick_gguf(f, 6), 5);
    CHECK_EQ(pull_pick_gguf(f, 5), -1);
    const char *g[] = { "SQIQ2_X-Q8_0.gguf", "IQ2-Chat-Q4_0.gguf" }; /* names, not presets */
    CHECK_EQ(pull_pick_gguf(g, 1), 0);
    CHECK_EQ(pull_pick_gguf(g + 1, 1), 0);
}

TEST(pull_normal_picks_verifies_and_registers)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("normal");
    REQUIRE(r);
    seen s = { 0 };
    pull_params p = { .note = on_note, .progress = on_progress, .user = &s };
    const reg_entry *e = NULL;
    hearth_error err;
    hearth_status st = pull_model(r, "hf:test/tiny-GGUF", &p, &e, &err);
    mock_stop(&m);
    if (st)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    REQUIRE(st == HEARTH_OK && e);
    CHECK_CONTAINS(s.notes, "picked tiny-Q4_K_M.gguf");
    CHECK_STR(e->name, "tiny-q4_k_m");
    CHECK_CONTAINS(e->path, "/models/tiny-q4_k_m/tiny-Q4_K_M.gguf");
    char want[65];
    sha256sum(TESTDATA "/models/tiny-llama-spm-q4_k_m.gguf", want);
    CHECK_STR(e->sha256, want);
    CHECK_EQ(e->size, file_size(TESTDATA "/models/tiny-llama-spm-q4_k_m.gguf"));
    CHECK_STR(e->source, "hf:test/tiny-GGUF/tiny-Q4_K_M.gguf@main");
    CHECK_STR(e->license.id, "apache-2.0");
    REQUIRE(e->license.file);
    CHECK(file_size(e->license.file) > 0);
    CHECK(s.calls > 0);
    CHECK_EQ(s.last_done, e->size);
    CHECK_EQ(s.last_total, e->size);
    reg_free(r);
}

/* A split model (the mock's three parts of the small Q4_K_M fixture, cut by its own GGUF
 * reader): picked by its first part, every part verified and stored, registered by the
 * first under the name without the part numbers; a second pull reuses parts already in
 * place; a later part named alone is refused; removing the model removes every part. */
TEST(pull_split_model)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("split");
    REQUIRE(r);
    seen s = { 0 };
    pull_params p = { .note = on_note, .progress = on_progress, .user = &s };
    const reg_entry *e = NULL;
    hearth_error err;
    hearth_status st = pull_model(r, "hf:test/split-GGUF", &p, &e, &err);
    if (st)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    REQUIRE(st == HEARTH_OK && e);
    CHECK_CONTAINS(s.notes, "picked Q4_K_M/split-Q4_K_M-00001-of-00003.gguf");
    CHECK_CONTAINS(s.notes, "part 3 of 3: split-Q4_K_M-00003-of-00003.gguf");
    CHECK_STR(e->name, "split-q4_k_m");
    CHECK_CONTAINS(e->path, "/models/split-q4_k_m/split-Q4_K_M-00001-of-00003.gguf");
    char want[65], part[600];
    sha256sum(e->path, want);
    CHECK_STR(e->sha256, want);
    off_t total = 0;
    for (int k = 1; k <= 3; k++) {
        REQUIRE(gguf_split_sibling(e->path, k, part, sizeof part));
        CHECK(file_size(part) > 0);
        total += file_size(part);
    }
    CHECK_EQ(e->size, (uint64_t)total);
    /* every part's hash is recorded, as sha256sum computes them, and read back */
    char hashes[3 * 65] = "";
    for (int k = 1; k <= 3; k++) {
        char h[65];
        REQUIRE(gguf_split_sibling(e->path, k, part, sizeof part));
        sha256sum(part, h);
        snprintf(hashes + strlen(hashes), sizeof hashes - strlen(hashes), "%s%s", k > 1 ? " " : "",
                 h);
    }
    CHECK_STR(e->parts_sha256 ? e->parts_sha256 : "(none)", hashes);
    registry *again;
    REQUIRE(reg_open(&again, &err) == HEARTH_OK);
    const reg_entry *back = reg_find(again, "split-q4_k_m");
    CHECK(back && back->parts_sha256 && strcmp(back->parts_sha256, hashes) == 0);
    reg_free(again);
    gguf_file *g;
    REQUIRE(gguf_open(&g, e->path, &err) == HEARTH_OK);
    CHECK_EQ(g->n_parts, 3);
    CHECK_EQ(g->size, (uint64_t)total);
    gguf_close(g);

    /* parts already in place are checked, not fetched again */
    char dir[512], cmd[2000];
    snprintf(dir, sizeof dir, "%s", e->path);
    *strrchr(dir, '/') = '\0';
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/../again' && cp '%s'/*-0000[12]-of-* '%s/../again/'",
             dir, dir, dir);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    memset(&s, 0, sizeof s);
    p.name = "again";
    REQUIRE(pull_model(r, "hf:test/split-GGUF/Q4_K_M/split-Q4_K_M-00001-of-00003.gguf", &p, &e,
                       &err) == HEARTH_OK);
    CHECK_CONTAINS(s.notes, "part 2 of 3: split-Q4_K_M-00002-of-00003.gguf\n"
                            "already downloaded and verified\n");
    const char *third = strstr(s.notes, "part 3 of 3");
    REQUIRE(third);
    CHECK(!strstr(third, "already downloaded"));

    p.name = "later";
    CHECK_EQ(pull_model(r, "hf:test/split-GGUF/Q4_K_M/split-Q4_K_M-00002-of-00003.gguf", &p, &e,
                        &err), HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "pull its first part, "
                            "hf:test/split-GGUF/Q4_K_M/split-Q4_K_M-00001-of-00003.gguf");
    mock_stop(&m);

    bool deleted = false;
    REQUIRE(reg_remove(r, "split-q4_k_m", &deleted, &err) == HEARTH_OK);
    CHECK(deleted);
    snprintf(part, sizeof part, "%s/split-Q4_K_M-00003-of-00003.gguf", dir);
    CHECK_EQ(file_size(part), -1);
    CHECK_EQ(file_size(dir), -1); /* the folder went with its last file */
    reg_free(r);
}

TEST(pull_interrupted_then_resumed)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("resume");
    REQUIRE(r);
    seen s = { 0 };
    pull_params p = { .note = on_note, .user = &s };
    const reg_entry *e = NULL;
    hearth_error err;
    const char *ref = "hf:test/flaky-GGUF/flaky-Q8_0.gguf";
    CHECK(pull_model(r, ref, &p, &e, &err) == HEARTH_ERR_IO);
    CHECK_CONTAINS(err.msg, "run the same command again to resume");
    char part[700];
    snprintf(part, sizeof part, "%s/models/flaky-q8_0/flaky-Q8_0.gguf.part", r->home);
    off_t full = file_size(TESTDATA "/models/tiny-llama-spm-q8_0.gguf");
    CHECK(file_size(part) > 0 && file_size(part) < full);
    CHECK_EQ(r->n, 0);
    hearth_status st = pull_model(r, ref, &p, &e, &err);
    char cmd[200], log[8192];
    snprintf(cmd, sizeof cmd, "curl -s %s/_log", m.endpoint);
    test_run(cmd, log, sizeof log);
    mock_stop(&m);
    if (st)
        test_fail(__FILE__, __LINE__, "%s", err.msg);
    REQUIRE(st == HEARTH_OK);
    CHECK_CONTAINS(s.notes, "resuming at");
    CHECK_CONTAINS(log, "\"range\": \"bytes=");
    char want[65];
    sha256sum(TESTDATA "/models/tiny-llama-spm-q8_0.gguf", want);
    CHECK_STR(e->sha256, want);
    CHECK_EQ(file_size(e->path), full);
    CHECK_EQ(file_size(part), -1);
    reg_free(r);
}

TEST(pull_checksum_mismatch_deletes_the_file)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("mismatch");
    REQUIRE(r);
    pull_params p = { 0 };
    const reg_entry *e;
    hearth_error err;
    CHECK(pull_model(r, "hf:test/bad-GGUF", &p, &e, &err) == HEARTH_ERR_FORMAT);
    mock_stop(&m);
    CHECK_CONTAINS(err.msg, "checksum mismatch");
    CHECK_CONTAINS(err.msg, "partial file was deleted");
    char dir[700];
    snprintf(dir, sizeof dir, "%s/models/bad-q8_0", r->home);
    CHECK_EQ(file_size(dir), -1);
    CHECK_EQ(r->n, 0);
    reg_free(r);
}

TEST(pull_gated_401_403_then_token)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("gated");
    REQUIRE(r);
    pull_params p = { 0 };
    const reg_entry *e;
    hearth_error err;
    CHECK(pull_model(r, "hf:test/gated-GGUF", &p, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "HTTP 401");
    CHECK_CONTAINS(err.msg, "set HF_TOKEN");
    setenv("HF_TOKEN", "hf_wrong", 1);
    CHECK(pull_model(r, "hf:test/gated-GGUF", &p, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "HTTP 403");
    setenv("HF_TOKEN", "hf_good", 1);
    hearth_status st = pull_model(r, "hf:test/gated-GGUF", &p, &e, &err);
    unsetenv("HF_TOKEN");
    mock_stop(&m);
    CHECK(st == HEARTH_OK);
    CHECK_EQ(r->n, 1);
    reg_free(r);
}

TEST(pull_404_repo_and_file)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("404");
    REQUIRE(r);
    pull_params p = { 0 };
    const reg_entry *e;
    hearth_error err;
    CHECK(pull_model(r, "hf:test/no-such-repo", &p, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not found (HTTP 404)");
    CHECK(pull_model(r, "hf:test/tiny-GGUF/nope.gguf", &p, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "nope.gguf is not in test/tiny-GGUF@main");
    CHECK(pull_model(r, "hf:test/tiny-GGUF@v9", &p, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "HTTP 404");
    mock_stop(&m);
    CHECK_EQ(r->n, 0);
    reg_free(r);
}

TEST(pull_stall_times_out)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("stall");
    REQUIRE(r);
    setenv("HEARTH_PULL_TIMEOUT", "1", 1);
    pull_params p = { 0 };
    const reg_entry *e;
    hearth_error err;
    time_t t0 = time(NULL);
    CHECK(pull_model(r, "hf:test/stall-GGUF", &p, &e, &err) == HEARTH_ERR_IO);
    CHECK(time(NULL) - t0 < 20);
    unsetenv("HEARTH_PULL_TIMEOUT");
    mock_stop(&m);
    CHECK_CONTAINS(err.msg, "stalled");
    reg_free(r);
}

TEST(pull_refuses_plain_http_beyond_loopback)
{
    registry *r = fresh_registry("http");
    REQUIRE(r);
    setenv("HF_ENDPOINT", "http://example.org", 1);
    pull_params p = { 0 };
    const reg_entry *e;
    hearth_error err;
    CHECK(pull_model(r, "hf:test/tiny-GGUF", &p, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "must be an https:// URL");
    setenv("HF_ENDPOINT", "http://127.0.0.1.example.org", 1);
    CHECK(pull_model(r, "hf:test/tiny-GGUF", &p, &e, &err) == HEARTH_ERR_INVALID);
    unsetenv("HF_ENDPOINT");
    reg_free(r);
}

/* The command line: a progress bar, and a file size limit reported like a full disk. */
TEST(pull_cli_and_size_limit)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("cli");
    REQUIRE(r);
    char cmd[2000], out[8192];
    snprintf(cmd, sizeof cmd,
             "sh -c 'ulimit -f 1000; %s pull hf:test/tiny-GGUF/tiny-Q8_0.gguf --name t'",
             test_bin());
    CHECK(test_run(cmd, out, sizeof out) == 1);
    CHECK_CONTAINS(out, "cannot write");
    CHECK_CONTAINS(out, "file size limit");
    snprintf(cmd, sizeof cmd, "(%s pull hf:test/tiny-GGUF/tiny-Q8_0.gguf --name t && %s list)",
             test_bin(), test_bin());
    int rc = test_run(cmd, out, sizeof out);
    mock_stop(&m);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "resuming at");
    CHECK_CONTAINS(out, "100% 5.0 MiB / 5.0 MiB");
    CHECK_CONTAINS(out, "verified");
    CHECK_CONTAINS(out, "t  ");
    reg_free(r);
}

/* fit before download: the header fetched with Range requests gives the same numbers as
 * the whole file, and only a small part of the file is downloaded. split: ref is a split
 * model made from fixture (every part's header is fetched). */
static void header_matches(const char *ref, const char *fixture, bool split)
{
    pull_params p = { 0 };
    pull_header h;
    hearth_error err;
    if (pull_gguf_header(ref, &p, &h, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s: %s", ref, err.msg);
        return;
    }
    gguf_file *g;
    fit_model remote, local;
    REQUIRE(gguf_open(&g, fixture, &err) == HEARTH_OK);
    CHECK(fit_model_from_gguf(g, &local, &err) == HEARTH_OK);
    CHECK(fit_model_from_gguf(h.gguf, &remote, &err) == HEARTH_OK);
    CHECK_EQ(remote.weights_bytes, local.weights_bytes);
    CHECK_EQ(remote.params, local.params);
    CHECK_EQ(remote.n_vocab, local.n_vocab);
    CHECK_EQ(remote.step_bytes, local.step_bytes);
    CHECK_EQ(h.gguf->n_parts, split ? 3 : 1);
    if (!split) {
        CHECK_EQ(h.gguf->data_offset, g->data_offset);
        CHECK_EQ(h.size, g->size);
    }
    CHECK(h.fetched >= h.gguf->data_offset && h.fetched < h.size);
    gguf_close(g);
    pull_header_free(&h);
}

TEST(pull_header_for_fit_before_download)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("header");
    REQUIRE(r);
    header_matches("hf:test/tiny-GGUF/tiny-Q8_0.gguf", TESTDATA "/models/tiny-llama-spm-q8_0.gguf",
                   false);
    header_matches("hf:test/qwen-GGUF", TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf", false);
    header_matches("hf:test/split-GGUF", TESTDATA "/models/small-llama-spm-q4_k_m.gguf", true);
    char cmd[1000], out[8192];
    snprintf(cmd, sizeof cmd, "%s fit hf:test/tiny-GGUF --json --bandwidth 0", test_bin());
    int rc = test_run(cmd, out, sizeof out);
    mock_stop(&m);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "\"weights_bytes\":\t3670656"); /* the Q4_K_M fixture's tensor bytes */
    CHECK_EQ(r->n, 0); /* nothing was registered */
    reg_free(r);
}

/* chat/run without a model: explain (no network) unless asked; with --yes show fit and
 * license, pull the default, remember it; offline: say how to get a model. */
TEST(pull_default_model_offer)
{
    mock m;
    REQUIRE(mock_start(&m));
    registry *r = fresh_registry("default");
    REQUIRE(r);
    char cmd[1000], out[16384];
    snprintf(cmd, sizeof cmd, "%s run -p Hello -n 2 </dev/null", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_CONTAINS(out, "no MODEL given");
    CHECK_CONTAINS(out, "--yes");
    snprintf(cmd, sizeof cmd, "%s run -p Hello -n 2 --yes </dev/null", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "fit:     fits here");
    CHECK_CONTAINS(out, "license: You can ship this model's output");
    CHECK_CONTAINS(out, "pulled hf:Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf@main as 'qwen3-0.6b'");
    CHECK_CONTAINS(out, "2 generated");
    snprintf(cmd, sizeof cmd, "%s run -p Hello -n 2 </dev/null", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK(!strstr(out, "pulled"));
    /* serve with no model serves the remembered default (timeout stops it with SIGTERM) */
    snprintf(cmd, sizeof cmd, "timeout -s TERM 4 %s serve --port 0 --quiet </dev/null",
             test_bin());
    test_run(cmd, out, sizeof out);
    CHECK_CONTAINS(out, "listening on http://127.0.0.1:");
    CHECK_CONTAINS(out, "stopping");
    mock_stop(&m);
    reg_free(r);

    r = fresh_registry("offline");
    REQUIRE(r);
    setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);
    snprintf(cmd, sizeof cmd, "%s chat --yes </dev/null", test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_CONTAINS(out, "cannot be fetched");
    CHECK_CONTAINS(out, "hearth pull hf:Qwen/Qwen3-0.6B-GGUF");
    CHECK_CONTAINS(out, "hearth import FILE");
    unsetenv("HF_ENDPOINT");
    reg_free(r);
}
