/*
 * test_audit.c — the privacy audit: servers found in a fabricated /proc tree, model hashes
 * re-verified, and the no-network check: `hearth run` and a scripted `hearth chat` (and
 * `hearth serve`, once the command exists) under `strace -f -e trace=connect,sendto`
 * must never connect or send to an address outside loopback.
 */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub/audit.h"

#define MODEL TESTDATA "/models/tiny-llama-spm-q8_0.gguf"

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

TEST(audit_loopback_addresses)
{
    CHECK(audit_is_loopback("127.0.0.1"));
    CHECK(audit_is_loopback("127.1.2.3"));
    CHECK(audit_is_loopback("::1"));
    CHECK(audit_is_loopback("::ffff:127.0.0.1"));
    CHECK(!audit_is_loopback("0.0.0.0"));
    CHECK(!audit_is_loopback("::"));
    CHECK(!audit_is_loopback("192.168.1.10"));
    CHECK(!audit_is_loopback("fe80::1"));
    CHECK(!audit_is_loopback("not an address"));
}

/* One fake process: cmdline (NUL-separated), sockets and the tcp tables it sees. */
static void fake_proc(const char *root, int pid, const char *cmd, size_t cmd_len,
                      const char *env, size_t env_len, const char *tcp, const char *tcp6,
                      const unsigned *inodes, int n_inodes)
{
    char dir[700], path[800], cmdline[1600];
    snprintf(dir, sizeof dir, "%s/%d", root, pid);
    snprintf(cmdline, sizeof cmdline, "mkdir -p '%s/fd' '%s/net'", dir, dir);
    test_run(cmdline, NULL, 0);
    snprintf(path, sizeof path, "%s/cmdline", dir);
    write_file(path, cmd, cmd_len);
    if (env) {
        snprintf(path, sizeof path, "%s/environ", dir);
        write_file(path, env, env_len);
    }
    const char *hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                      "retrnsmt   uid  timeout inode\n";
    char table[2048];
    snprintf(path, sizeof path, "%s/net/tcp", dir);
    snprintf(table, sizeof table, "%s%s", hdr, tcp);
    write_file(path, table, strlen(table));
    snprintf(path, sizeof path, "%s/net/tcp6", dir);
    snprintf(table, sizeof table, "%s%s", hdr, tcp6);
    write_file(path, table, strlen(table));
    for (int i = 0; i < n_inodes; i++) {
        char target[64];
        snprintf(path, sizeof path, "%s/fd/%d", dir, 3 + i);
        snprintf(target, sizeof target, "socket:[%u]", inodes[i]);
        if (symlink(target, path) != 0)
            test_fail(__FILE__, __LINE__, "symlink %s", path);
    }
}

TEST(audit_finds_servers_in_proc)
{
    char root[512];
    snprintf(root, sizeof root, "%s/fakeproc", test_tmpdir());
    /* pid 4242: hearth serve on 0.0.0.0:8080 (0x1F90) and [::1]:9090 (0x2382), key in env;
     * the kernel prints IPv4 addresses as one little-endian word: 127.0.0.1 = 0100007F. */
    static const char serve1[] = "/usr/local/bin/hearth\0serve\0--host\0" "0.0.0.0";
    static const unsigned in1[] = { 777, 778 };
    static const char env1[] = "HOME=/root\0HEARTH_API_KEY=abc";
    fake_proc(root, 4242, serve1, sizeof serve1, env1, sizeof env1,
              "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  "
              "0        0 777 1 0000000000000000 100 0 0 10 0\n"
              "   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  "
              "0        0 779 1 0000000000000000 100 0 0 10 0\n",
              "   0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 "
              "0A 00000000:00000000 00:00000000 00000000  0        0 778 1 0000000000000000 100\n",
              in1, 2);
    /* pid 4243: hearth run (not a server), listening socket it does not own */
    static const char run[] = "hearth\0run\0model.gguf\0-p\0serve";
    fake_proc(root, 4243, run, sizeof run, NULL, 0, "", "", NULL, 0);
    /* pid 4244: hearth serve on 127.0.0.1:8081, environment unreadable */
    static const char serve2[] = "hearth\0serve";
    static const unsigned in2[] = { 900 };
    fake_proc(root, 4244, serve2, sizeof serve2, NULL, 0,
              "   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  "
              "0        0 900 1 0000000000000000 100 0 0 10 0\n", "", in2, 1);

    audit_report r = { 0 };
    hearth_error err;
    REQUIRE(audit_servers(root, &r, &err) == HEARTH_OK);
    CHECK_EQ(r.n_servers, 2);
    REQUIRE(r.n_listeners == 3);
    int seen = 0;
    for (size_t i = 0; i < r.n_listeners; i++) {
        const audit_listener *l = &r.listeners[i];
        if (strcmp(l->addr, "0.0.0.0:8080") == 0) {
            CHECK_EQ(l->pid, 4242);
            CHECK(!l->loopback);
            CHECK_EQ(l->auth, 1);
            seen |= 1;
        } else if (strcmp(l->addr, "[::1]:9090") == 0) {
            CHECK(l->loopback);
            seen |= 2;
        } else if (strcmp(l->addr, "127.0.0.1:8081") == 0) {
            CHECK_EQ(l->pid, 4244);
            CHECK(l->loopback);
            CHECK_EQ(l->auth, -1);
            seen |= 4;
        } else {
            test_fail(__FILE__, __LINE__, "unexpected listener %s", l->addr);
        }
    }
    CHECK_EQ(seen, 7);
    audit_report_free(&r);
}

TEST(audit_reverifies_model_hashes)
{
    char home[512], copy[700], cmd[4000];
    snprintf(home, sizeof home, "%s/audit-home", test_tmpdir());
    snprintf(copy, sizeof copy, "%s/copy.gguf", test_tmpdir());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp '%s' '%s' && HEARTH_HOME='%s' %s import '%s' "
             "--name c >/dev/null && HEARTH_HOME='%s' %s import '%s' --name f >/dev/null",
             home, MODEL, copy, home, test_bin(), copy, home, test_bin(), MODEL);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    setenv("HEARTH_HOME", home, 1);
    audit_report r = { 0 };
    hearth_error err;
    REQUIRE(audit_models(&r, true, &err) == HEARTH_OK);
    REQUIRE(r.n_models == 2);
    CHECK(r.models[0].verified && r.models[0].hash_ok);
    CHECK_STR(lic_verdict_word(r.models[0].lic.verdict), "can"); /* the fixture says mit */
    audit_report_free(&r);

    /* Change one byte of the copy: flagged; remove it: missing. */
    FILE *f = fopen(copy, "r+b");
    REQUIRE(f);
    fseek(f, 100, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
    REQUIRE(audit_models(&r, true, &err) == HEARTH_OK);
    CHECK(r.models[0].verified && !r.models[0].hash_ok);
    CHECK(r.models[1].hash_ok);
    audit_report_free(&r);
    char out[8192];
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s audit", home, test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_CONTAINS(out, "CHANGED since registered");
    CHECK_CONTAINS(out, "src/hub/pull.c");
    CHECK_CONTAINS(out, "Is it really local?");
    unlink(copy);
    REQUIRE(audit_models(&r, true, &err) == HEARTH_OK);
    CHECK(!r.models[0].present);
    audit_report_free(&r);
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s audit --json --no-verify", home, test_bin());
    CHECK_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_CONTAINS(out, "\"network_code\":\t\"src/hub/pull.c\"");
    CHECK_CONTAINS(out, "\"present\":\tfalse");
}

/* A line of strace output that connects or sends to a non-loopback inet address. */
static bool leaves_machine(const char *line)
{
    if (!strstr(line, "connect(") && !strstr(line, "sendto("))
        return false;
    if (strstr(line, "sa_family=AF_INET6"))
        return !strstr(line, "\"::1\"") && !strstr(line, "\"::ffff:127.");
    if (strstr(line, "sa_family=AF_INET"))
        return !strstr(line, "inet_addr(\"127.");
    return false;
}

TEST(audit_strace_checker_can_fail)
{
    CHECK(leaves_machine("12 connect(5, {sa_family=AF_INET, sin_port=htons(443), "
                         "sin_addr=inet_addr(\"93.184.216.34\")}, 16) = -1 EINPROGRESS"));
    CHECK(leaves_machine("12 connect(5, {sa_family=AF_INET6, sin6_port=htons(443), "
                         "sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"2606:2800::1\", "
                         "&sin6_addr), sin6_scope_id=0}, 28) = 0"));
    CHECK(!leaves_machine("12 connect(5, {sa_family=AF_INET, sin_port=htons(8080), "
                          "sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0"));
    CHECK(!leaves_machine("12 connect(3, {sa_family=AF_UNIX, sun_path=\"/var/run/nscd/"
                          "socket\"}, 110) = -1 ENOENT"));
}

/* Run cmd under strace; fail on any connect/sendto that leaves the machine. */
static void no_network(const char *what, const char *cmd, bool must_succeed)
{
    char trace[600], full[3000], out[4096];
    snprintf(trace, sizeof trace, "%s/strace-%s.txt", test_tmpdir(), what);
    /* LeakSanitizer cannot run under ptrace: the ASan build's leak check is off here. */
    snprintf(full, sizeof full, "ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=connect,sendto "
             "-o '%s' %s", trace, cmd);
    int rc = test_run(full, out, sizeof out);
    if (must_succeed && rc != 0)
        test_fail(__FILE__, __LINE__, "%s failed (rc %d): %s", what, rc, out);
    FILE *f = fopen(trace, "r");
    if (!f) {
        test_fail(__FILE__, __LINE__, "%s: no strace output (rc %d): %s", what, rc, out);
        return;
    }
    char line[2048];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (leaves_machine(line))
            test_fail(__FILE__, __LINE__, "%s connects beyond loopback: %s", what, line);
    }
    fclose(f);
    CHECK(lines > 0); /* strace wrote at least the exit lines */
}

TEST(audit_no_network_for_run_chat_serve)
{
    char probe[64];
    if (test_run("strace -o /dev/null true", probe, sizeof probe) != 0) {
        printf("  (skipped: strace cannot trace here: %s)\n", probe);
        return;
    }
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "%s run %s -p 'Hello' -n 4", test_bin(), MODEL);
    no_network("run", cmd, true);
    snprintf(cmd, sizeof cmd, "sh -c \"printf 'hi\\n/reset\\nbye\\n' | %s chat %s -n 4\"",
             test_bin(), MODEL);
    no_network("chat", cmd, true);
    /* hearth serve: only when the command exists; stopped after two seconds. */
    snprintf(cmd, sizeof cmd, "%s serve --help", test_bin());
    char out[4096];
    if (test_run(cmd, out, sizeof out) == 0) {
        snprintf(cmd, sizeof cmd, "timeout -s INT 2 %s serve --model %s --port 0 --quiet",
                 test_bin(), MODEL);
        no_network("serve", cmd, false);
    }
}

/* Start `hearth serve` in the background with extra arguments; its pid, or 0. */
static int start_server(const char *args)
{
    char cmd[2000], out[64];
    snprintf(cmd, sizeof cmd, "%s serve --model %s --port 0 --quiet %s >/dev/null 2>&1 & "
             "echo $!", test_bin(), MODEL, args);
    if (test_run(cmd, out, sizeof out) != 0)
        return 0;
    return atoi(out);
}

/* Wait (up to 10 s) until the audit sees pid listening; its listener, copied. */
static bool find_listener(int pid, audit_listener *found)
{
    for (int tries = 0; tries < 100; tries++) {
        audit_report r = { 0 };
        hearth_error err;
        bool hit = false;
        if (audit_servers("/proc", &r, &err) == HEARTH_OK)
            for (size_t i = 0; i < r.n_listeners && !hit; i++)
                if (r.listeners[i].pid == pid) {
                    *found = r.listeners[i];
                    hit = true;
                }
        audit_report_free(&r);
        if (hit)
            return true;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

/* A real `hearth serve`: on loopback without a key, then on all addresses with one. */
TEST(audit_sees_running_servers)
{
    char probe[256];
    snprintf(probe, sizeof probe, "%s serve --help", test_bin());
    if (test_run(probe, NULL, 0) != 0) {
        printf("  (skipped: this build has no 'hearth serve')\n");
        return;
    }
    int local = start_server("");
    int open_ = start_server("--host 0.0.0.0 --api-key test-key");
    REQUIRE(local > 0 && open_ > 0);
    audit_listener l;
    if (find_listener(local, &l)) {
        CHECK(l.loopback);
        CHECK_CONTAINS(l.addr, "127.0.0.1:");
        CHECK_EQ(l.auth, 0);
    } else {
        test_fail(__FILE__, __LINE__, "hearth serve (pid %d) not found listening", local);
    }
    if (find_listener(open_, &l)) {
        CHECK(!l.loopback);
        CHECK_CONTAINS(l.addr, "0.0.0.0:");
        CHECK_EQ(l.auth, 1);
    } else {
        test_fail(__FILE__, __LINE__, "hearth serve (pid %d) not found listening", open_);
    }
    kill(local, SIGTERM);
    kill(open_, SIGTERM);
}

/* The audit's claim, checked on the source: the only file that includes libcurl's header
 * (hearth's only client networking) is AUDIT_NETWORK_SOURCE, and no file calls connect()
 * itself. The server listens (libmicrohttpd) but never connects out. */
static int scan_sources(const char *dir, char found[][512], int n)
{
    DIR *d = opendir(dir);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            n = scan_sources(path, found, n);
            continue;
        }
        size_t len = strlen(path);
        if (len < 2 || (strcmp(path + len - 2, ".c") && strcmp(path + len - 2, ".h")))
            continue;
        char *text = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "rb");
        if (f) {
            text = malloc((size_t)st.st_size + 1);
            size = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
            fclose(f);
        }
        if (!text)
            continue;
        text[size] = '\0';
        if ((strstr(text, "<curl/") || strstr(text, " connect(") || strstr(text, "\tconnect(") ||
             strstr(text, "(connect(")) && n < 16)
            snprintf(found[n++], 512, "%s", path);
        free(text);
    }
    closedir(d);
    return n;
}

TEST(audit_network_code_is_only_in_pull_c)
{
    char found[16][512];
    int n = scan_sources("src", found, 0);
    REQUIRE(n >= 1);
    for (int i = 0; i < n; i++)
        CHECK_STR(found[i], AUDIT_NETWORK_SOURCE);
}
