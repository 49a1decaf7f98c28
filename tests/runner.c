/*
 * runner.c — runs every registered test and prints "N passed, N failed".
 *
 *   build/tests [--bin PATH] [FILTER...]
 *
 * Tests run one after another in this process, in name order, so output is deterministic.
 * A FILTER runs only tests whose name contains it.
 */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 4096

static struct { const char *name; test_fn fn; } tests[MAX_TESTS];
static int n_tests;
static int cur_failed;
static const char *cur_name;
static char tmpdir[256];
static const char *bin_path = "build/hearth";

void test_register(const char *name, test_fn fn)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests (raise MAX_TESTS)\n");
        exit(2);
    }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    if (cur_failed < 10) {
        fprintf(stderr, "  FAIL %s (%s:%d): ", cur_name, file, line);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    cur_failed++;
}

int test_failed(void)
{
    return cur_failed != 0;
}

const char *test_tmpdir(void)
{
    return tmpdir;
}

const char *test_bin(void)
{
    return bin_path;
}

int test_run(const char *cmd, char *out, size_t cap)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t n = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && n + 1 < cap) {
            size_t take = got < cap - 1 - n ? got : cap - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
        }
    }
    if (out && cap)
        out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
    const char *filters[64];
    int n_filters = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc)
            bin_path = argv[++i];
        else if (n_filters < 64)
            filters[n_filters++] = argv[i];
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hearth-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    atexit(remove_tmpdir);
    qsort(tests, n_tests, sizeof tests[0], by_name);

    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        int selected = n_filters == 0;
        for (int f = 0; f < n_filters; f++)
            if (strstr(tests[i].name, filters[f]))
                selected = 1;
        if (!selected)
            continue;
        cur_name = tests[i].name;
        cur_failed = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (cur_failed) {
            failed++;
            fprintf(stderr, "FAIL %s (%d checks failed)\n", cur_name, cur_failed);
        } else {
            passed++;
            printf("ok   %s (%.0f ms)\n", cur_name, ms);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
