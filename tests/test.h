/*
 * test.h — hearth's test helper.
 *
 * A test is a function declared with TEST(name); it registers itself at start-up, so a new
 * test file needs no list to edit. Checks record a failure with file:line and what was
 * expected, and a failing REQUIRE ends the test. The runner (tests/runner.c) runs every
 * test (or those whose name contains the filter given on the command line) and closes with
 * the line "N passed, N failed"; its exit status is non-zero when anything failed.
 *
 * Test data: ../shared/testdata is reached through TESTDATA; tests write scratch files
 * under test_tmpdir(). The hearth binary under test is test_bin() (--bin PATH).
 */
#ifndef HEARTH_TEST_H
#define HEARTH_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TESTDATA "../shared/testdata"

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test_failed(void);        /* has the running test failed so far? */
const char *test_tmpdir(void); /* a scratch directory, removed at exit */
const char *test_bin(void);    /* path of the hearth binary */
/* Run a shell command, capture stdout+stderr (truncated to cap) and return its exit code. */
int test_run(const char *cmd, char *out, size_t cap);

#define TEST(name)                                                            \
    static void test_##name(void);                                            \
    __attribute__((constructor)) static void test_reg_##name(void)            \
    {                                                                         \
        test_register(#name, test_##name);                                    \
    }                                                                         \
    static void test_##name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                \
    } while (0)

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);              \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                 \
    do {                                                                      \
        double a_ = (double)(a), b_ = (double)(b);                            \
        if (!(fabs(a_ - b_) <= (tol)))                                        \
            test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, \
                      (double)(tol));                                         \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,  \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                \
    } while (0)

/* Does haystack contain needle? */
#define CHECK_CONTAINS(hay, needle)                                           \
    do {                                                                      \
        const char *h_ = (hay), *n_ = (needle);                               \
        if (!h_ || !strstr(h_, n_))                                           \
            test_fail(__FILE__, __LINE__, "\"%s\" not found in: %.400s", n_, h_ ? h_ : "(null)"); \
    } while (0)

#endif
