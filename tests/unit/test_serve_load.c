/*
 * test_serve_load.c — a short run of the load test (bench/bench_serve.c): 8 concurrent
 * streaming clients for 3 seconds against `hearth serve --parallel 8` (the binary under
 * test, as a separate process) must finish with no errors, every request streamed to its
 * end with its usage, and, in an optimized build, no more than 16 MB of resident-memory
 * growth after the warm-up. (AddressSanitizer keeps freed memory in quarantine, so its
 * build only checks the errors.) The full run is `build/bench_serve` (32 clients, 30 s).
 */
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define MAX_GROWTH "-1"
#else
#define MAX_GROWTH "16"
#endif

TEST(serve_load_short)
{
    char dir[4096], bench[4200], cmd[9000], out[8192];
    snprintf(dir, sizeof dir, "%s", test_bin());
    snprintf(bench, sizeof bench, "%s/bench_serve", dirname(dir));
    if (access(bench, X_OK) != 0) {
        printf("  SKIP: %s not built (make)\n", bench);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s --clients 8 --seconds 3 --threads 1 --hearth %s --model "
             TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf --max-growth-mb " MAX_GROWTH,
             bench, test_bin());
    int rc = test_run(cmd, out, sizeof out);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "bench_serve exited with %d: %s", rc, out);
    CHECK_CONTAINS(out, "errors 0");
    CHECK_CONTAINS(out, "aggregate ");
}
