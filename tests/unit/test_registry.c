/*
 * test_registry.c — the model registry: import, list, rm, names, broken manifests.
 *
 * Each test points HEARTH_HOME at its own folder under the test scratch directory.
 * Expected hashes come from the system's sha256sum, not from our own SHA-256.
 */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "hub/registry.h"

#define FIXTURE TESTDATA "/models/small-llama-spm-q4_k_m.gguf"

static const char *fresh_home(const char *tag)
{
    static char home[512];
    char cmd[600];
    snprintf(home, sizeof home, "%s/reg-%s", test_tmpdir(), tag);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    test_run(cmd, NULL, 0);
    setenv("HEARTH_HOME", home, 1);
    return home;
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

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

TEST(registry_names)
{
    CHECK(reg_name_valid("qwen3-0.6b"));
    CHECK(reg_name_valid("Llama_3.2-1B"));
    CHECK(!reg_name_valid(""));
    CHECK(!reg_name_valid("../etc"));
    CHECK(!reg_name_valid("a/b"));
    CHECK(!reg_name_valid("a..b"));
    CHECK(!reg_name_valid(".hidden"));
    CHECK(!reg_name_valid("-flag"));
    CHECK(!reg_name_valid("tab\there"));
    CHECK(!reg_name_valid("/abs"));
    char n[REG_NAME_MAX + 1];
    reg_name_for_file("/x/Qwen3-0.6B-Q8_0.gguf", n);
    CHECK_STR(n, "qwen3-0.6b-q8_0");
    reg_name_for_file("/x/..gguf", n);
    CHECK_STR(n, "model");
    reg_name_for_file("weird name (1).GGUF", n);
    CHECK_STR(n, "weird-name--1-");
    /* a split model is named for the model, not its first part */
    reg_name_for_file("/x/Llama-70B-Q4_K_M-00001-of-00002.gguf", n);
    CHECK_STR(n, "llama-70b-q4_k_m");
    reg_name_for_file("/x/m-1-of-2.gguf", n); /* not gguf-split's numbering: kept as it is */
    CHECK_STR(n, "m-1-of-2");
}

TEST(registry_import_records_facts)
{
    fresh_home("import");
    registry *r;
    hearth_error err;
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    const reg_entry *e;
    REQUIRE(reg_import(r, FIXTURE, NULL, &e, &err) == HEARTH_OK);
    CHECK_STR(e->name, "small-llama-spm-q4_k_m");
    CHECK(e->path[0] == '/');
    char hex[65];
    sha256sum(FIXTURE, hex);
    CHECK_STR(e->sha256, hex);
    struct stat st;
    REQUIRE(stat(FIXTURE, &st) == 0);
    CHECK_EQ(e->size, st.st_size);
    CHECK_STR(e->license.id, "llama3.2");
    CHECK_STR(e->source, "imported");
    reg_free(r);

    /* Reopen: the manifest on disk holds the same entry, and no temp file is left. */
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    CHECK_EQ(r->n, 1);
    e = reg_find(r, "small-llama-spm-q4_k_m");
    REQUIRE(e);
    CHECK_STR(e->sha256, hex);
    char cmd[700], out[256];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp", r->home);
    test_run(cmd, out, sizeof out);
    CHECK_STR(out, "0\n");
    /* Same name again, bad names, a file that is not GGUF: refused, nothing added. */
    CHECK(reg_import(r, FIXTURE, NULL, &e, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "already registered");
    CHECK(reg_import(r, FIXTURE, "../evil", &e, &err) == HEARTH_ERR_INVALID);
    CHECK(reg_import(r, TESTDATA "/README.md", "readme", &e, &err) != HEARTH_OK);
    CHECK_EQ(r->n, 1);
    reg_free(r);
}

TEST(registry_resolve_name_or_path)
{
    fresh_home("resolve");
    registry *r;
    hearth_error err;
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    REQUIRE(reg_import(r, FIXTURE, "sl", NULL, &err) == HEARTH_OK);
    reg_free(r);
    char *p;
    REQUIRE(hub_resolve_model("sl", &p, &err) == HEARTH_OK);
    CHECK_CONTAINS(p, "/models/small-llama-spm-q4_k_m.gguf");
    mem_free(p);
    REQUIRE(hub_resolve_model(FIXTURE, &p, &err) == HEARTH_OK);
    CHECK_STR(p, FIXTURE);
    mem_free(p);
    CHECK(hub_resolve_model("nope", &p, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "hearth pull");
    CHECK(hub_resolve_model("bad\x01name", &p, &err) == HEARTH_ERR_INVALID);
}

TEST(registry_rm_deletes_only_its_own_files)
{
    const char *home = fresh_home("rm");
    char dir[600], file[700], cmd[1500];
    snprintf(dir, sizeof dir, "%s/models/own", home);
    snprintf(file, sizeof file, "%s/own.gguf", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s'", dir, FIXTURE, file);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    registry *r;
    hearth_error err;
    bool deleted;
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    REQUIRE(reg_import(r, file, "own", NULL, &err) == HEARTH_OK);
    REQUIRE(reg_import(r, FIXTURE, "outside", NULL, &err) == HEARTH_OK);
    REQUIRE(reg_remove(r, "outside", &deleted, &err) == HEARTH_OK);
    CHECK(!deleted);
    struct stat st;
    CHECK(stat(FIXTURE, &st) == 0);
    REQUIRE(reg_remove(r, "own", &deleted, &err) == HEARTH_OK);
    CHECK(deleted);
    CHECK(stat(file, &st) != 0);
    CHECK(stat(dir, &st) != 0);
    CHECK(reg_remove(r, "own", &deleted, &err) == HEARTH_ERR_INVALID);
    CHECK_EQ(r->n, 0);
    reg_free(r);
}

TEST(registry_broken_manifest_is_explained_then_repaired)
{
    const char *home = fresh_home("broken");
    char dir[600], cmd[1500], manifest[700];
    snprintf(dir, sizeof dir, "%s/models/kept", home);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/kept.gguf'", dir, FIXTURE, dir);
    REQUIRE(test_run(cmd, NULL, 0) == 0);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", home);
    FILE *f = fopen(manifest, "w");
    REQUIRE(f);
    fputs("{\"version\":1,\"models\":[{\"name\":\"x\",", f); /* cut off mid-write */
    fclose(f);
    registry *r;
    hearth_error err;
    CHECK(reg_open(&r, &err) == HEARTH_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "not valid JSON");
    CHECK_CONTAINS(err.msg, "hearth list --repair");
    CHECK_STR(slurp(manifest), "{\"version\":1,\"models\":[{\"name\":\"x\",");
    size_t kept, found;
    char *aside;
    REQUIRE(reg_repair(&kept, &found, &aside, &err) == HEARTH_OK);
    REQUIRE(aside);
    CHECK_CONTAINS(aside, "manifest.json.broken-");
    CHECK_STR(slurp(aside), "{\"version\":1,\"models\":[{\"name\":\"x\",");
    mem_free(aside);
    CHECK_EQ(kept, 0);
    CHECK_EQ(found, 1);
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    const reg_entry *e = reg_find(r, "kept");
    REQUIRE(e);
    CHECK_STR(e->source, "recovered");
    reg_free(r);
    /* A fine manifest: repair does nothing. */
    REQUIRE(reg_repair(&kept, &found, &aside, &err) == HEARTH_OK);
    CHECK(aside == NULL);
}

TEST(registry_bad_entry_names_the_entry_and_repair_keeps_the_rest)
{
    const char *home = fresh_home("badentry");
    char manifest[700];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", home);
    registry *r;
    hearth_error err;
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    REQUIRE(reg_import(r, FIXTURE, "good", NULL, &err) == HEARTH_OK);
    reg_free(r);
    /* Append a second entry whose hash is not a hash. */
    char *text = slurp(manifest);
    char *end = strrchr(text, ']');
    REQUIRE(end);
    char edited[70000];
    snprintf(edited, sizeof edited, "%.*s, {\"name\":\"bad\",\"files\":[\"/x.gguf\"],\"size\":1,"
             "\"sha256\":\"xyz\",\"source\":\"imported\",\"added\":\"\"}%s",
             (int)(end - text), text, end);
    FILE *f = fopen(manifest, "w");
    REQUIRE(f);
    fputs(edited, f);
    fclose(f);
    CHECK(reg_open(&r, &err) == HEARTH_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "entry 2 (bad)");
    CHECK_CONTAINS(err.msg, "sha256");
    size_t kept, found;
    char *aside;
    REQUIRE(reg_repair(&kept, &found, &aside, &err) == HEARTH_OK);
    CHECK_EQ(kept, 1);
    mem_free(aside);
    REQUIRE(reg_open(&r, &err) == HEARTH_OK);
    CHECK(reg_find(r, "good") != NULL);
    CHECK(reg_find(r, "bad") == NULL);
    char sha[65];
    memcpy(sha, reg_find(r, "good")->sha256, sizeof sha);
    reg_free(r);

    /* a split model's part hashes: the first must be the entry's, all of them hashes */
    const char *bad_parts[] = { "zz", "", sha, "%s %s", "%s,%s", "%s 0123" };
    for (size_t i = 0; i < sizeof bad_parts / sizeof bad_parts[0]; i++) {
        char parts[200], entry[700];
        snprintf(parts, sizeof parts, bad_parts[i], sha, "nothex");
        snprintf(entry, sizeof entry, "{\"name\":\"split\",\"files\":[\"/x-00001-of-00002.gguf\"],"
                 "\"size\":1,\"sha256\":\"%s\",\"parts_sha256\":\"%s\",\"source\":\"imported\","
                 "\"added\":\"\"}", sha, parts);
        text = slurp(manifest);
        end = strrchr(text, ']');
        REQUIRE(end);
        snprintf(edited, sizeof edited, "%.*s, %s%s", (int)(end - text), text, entry, end);
        f = fopen(manifest, "w");
        REQUIRE(f);
        fputs(edited, f);
        fclose(f);
        CHECK(reg_open(&r, &err) == HEARTH_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, "parts_sha256");
        REQUIRE(reg_repair(&kept, &found, &aside, &err) == HEARTH_OK);
        mem_free(aside);
    }
}

/* The part count of a split model's name is input: more parts than any model may have is
 * refused before anything is allocated or read. */
TEST(registry_hash_parts_bounds)
{
    char *out = (char *)"unset";
    hearth_error err;
    CHECK_EQ(reg_hash_parts("/nowhere/m-00001-of-99999.gguf", &out, &err), HEARTH_ERR_UNSUPPORTED);
    CHECK(out == NULL);
    CHECK_CONTAINS(err.msg, "99999 parts");
    CHECK_EQ(reg_hash_parts("/nowhere/m-00001-of-00002.gguf", &out, &err), HEARTH_ERR_IO);
    CHECK(out == NULL);
    CHECK_EQ(reg_hash_parts(FIXTURE, &out, &err), HEARTH_OK); /* not a split model */
    CHECK(out == NULL);
}

TEST(registry_cli_import_list_show_rm)
{
    const char *home = fresh_home("cli");
    char cmd[2000], out[8192];
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s import %s --name tiny", home, test_bin(),
             TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf");
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "as 'tiny'");
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s list", home, test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "tiny ");
    CHECK_CONTAINS(out, "qwen2");
    CHECK_CONTAINS(out, "Q8_0");
    CHECK_CONTAINS(out, "can");
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s show tiny --json", home, test_bin());
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "\"registry\"");
    CHECK_CONTAINS(out, "\"verdict\":\t\"can\"");
    snprintf(cmd, sizeof cmd, "HEARTH_HOME='%s' %s rm tiny && HEARTH_HOME='%s' %s show tiny",
             home, test_bin(), home, test_bin());
    CHECK(test_run(cmd, out, sizeof out) != 0);
    CHECK_CONTAINS(out, "no file or registered model named 'tiny'");
}
