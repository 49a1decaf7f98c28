/* test_sha256.c — SHA-256 against the FIPS 180-2 appendix B examples and a split stream. */
#include "test.h"

#include "base/mem.h"
#include "base/sha256.h"

static void hash_str(const char *s, char hex[65])
{
    sha256_ctx c;
    unsigned char d[32];
    sha256_init(&c);
    sha256_update(&c, s, strlen(s));
    sha256_final(&c, d);
    sha256_hex(d, hex);
}

TEST(sha256_fips_vectors)
{
    char hex[65];
    hash_str("abc", hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_str("", hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_str("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* One million 'a', fed in uneven pieces so every buffering path is taken. */
TEST(sha256_million_a_in_pieces)
{
    static char a[1000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    sha256_init(&c);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t n = step < 1000000 - done ? step : 1000000 - done;
        while (n) {
            size_t k = n < sizeof a ? n : sizeof a;
            sha256_update(&c, a, k);
            n -= k, done += k;
        }
        step = step * 7 % 997 + 1;
    }
    unsigned char d[32];
    char hex[65];
    sha256_final(&c, d);
    sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(sha256_file_matches_and_reports_missing)
{
    char path[512], hex[65];
    snprintf(path, sizeof path, "%s/sha256-abc.txt", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fputs("abc", f);
    fclose(f);
    hearth_error err;
    REQUIRE(sha256_file(path, hex, &err) == HEARTH_OK);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    snprintf(path, sizeof path, "%s/no-such-file", test_tmpdir());
    CHECK(sha256_file(path, hex, &err) == HEARTH_ERR_IO);
    CHECK_CONTAINS(err.msg, "no-such-file");
}
