/*
 * test_license.c — license verdicts, one test per license hearth knows.
 *
 * Each test writes a GGUF file whose metadata carries the license facts as llama.cpp's
 * converter records them (general.license = the Hub card's `license:`; for `other`,
 * general.license.name = the card's `license_name`) and checks the verdict and the
 * deciding clause against the license texts themselves (expected values below were taken
 * from the texts, e.g. the 700-million-user clause of the Llama licenses).
 */
#include "test.h"

#include "formats/gguf.h"
#include "hub/license.h"

static void write_model(const char *path, const char *id, const char *name)
{
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "llama");
    if (id)
        gguf_set_str(w, "general.license", id);
    if (name)
        gguf_set_str(w, "general.license.name", name);
    hearth_error err;
    if (gguf_writer_write(w, path, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "writing %s: %s", path, err.msg);
    gguf_writer_free(w);
}

/* Judge a fresh GGUF carrying (id, name) in its own folder. */
static void judge(const char *tag, const char *id, const char *name, lic_result *r)
{
    char dir[512], path[600], cmd[700];
    snprintf(dir, sizeof dir, "%s/lic-%s", test_tmpdir(), tag);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    test_run(cmd, NULL, 0);
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    write_model(path, id, name);
    reg_license facts;
    hearth_error err;
    memset(r, 0, sizeof *r);
    if (lic_facts_from_gguf(path, &facts, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return;
    }
    lic_judge(&facts, r);
    lic_facts_clear(&facts);
}

#define LICENSE_TEST(tag, ID, NAME, VERDICT, TIER, CLAUSE)                     \
    TEST(license_##tag)                                                        \
    {                                                                          \
        lic_result r;                                                          \
        judge(#tag, ID, NAME, &r);                                             \
        CHECK_STR(lic_verdict_word(r.verdict), VERDICT);                       \
        CHECK_STR(r.tier, TIER);                                               \
        CHECK_CONTAINS(r.reason, CLAUSE);                                      \
    }

#define OS "open source"
#define OW "open weights"
#define WR "weights available with restrictions"

LICENSE_TEST(apache_2_0, "apache-2.0", NULL, "can", OS, "royalty-free")
LICENSE_TEST(mit, "mit", NULL, "can", OS, "sell copies")
LICENSE_TEST(bsd_3_clause, "bsd-3-clause", NULL, "can", OS, "Redistribution and use")
LICENSE_TEST(cc_by_4_0, "cc-by-4.0", NULL, "conditions", OW, "Attribution")
LICENSE_TEST(cc_by_sa_4_0, "cc-by-sa-4.0", NULL, "conditions", OW, "ShareAlike")
LICENSE_TEST(cc_by_nc_4_0, "cc-by-nc-4.0", NULL, "cannot", WR, "NonCommercial")
LICENSE_TEST(cc_by_nc_sa_4_0, "cc-by-nc-sa-4.0", NULL, "cannot", WR, "same license")
LICENSE_TEST(cc_by_nc_nd_4_0, "cc-by-nc-nd-4.0", NULL, "cannot", WR, "may not be shared")
LICENSE_TEST(openrail, "openrail", NULL, "conditions", OW, "use restrictions")
LICENSE_TEST(creativeml_openrail_m, "creativeml-openrail-m", NULL, "conditions", OW,
             "no use of the output can contravene")
LICENSE_TEST(bigcode_openrail_m, "bigcode-openrail-m", NULL, "conditions", OW, "use restrictions")
LICENSE_TEST(llama2, "llama2", NULL, "conditions", WR, "improve any other large language model")
LICENSE_TEST(llama3, "llama3", NULL, "conditions", WR, "Built with Meta Llama 3")
LICENSE_TEST(llama3_1, "llama3.1", NULL, "conditions", WR, "700 million")
LICENSE_TEST(llama3_2, "llama3.2", NULL, "conditions", WR, "European Union")
LICENSE_TEST(llama3_3, "llama3.3", NULL, "conditions", WR, "Built with Llama")
LICENSE_TEST(llama4, "llama4", NULL, "conditions", WR, "multimodal Llama 4")
LICENSE_TEST(gemma, "gemma", NULL, "conditions", OW, "Prohibited Use Policy")
LICENSE_TEST(qwen, "other", "qwen", "conditions", WR, "100 million")
LICENSE_TEST(qwen_research, "other", "qwen-research", "cannot", WR, "non-commercial")
LICENSE_TEST(flux1_dev, "other", "flux-1-dev-non-commercial-license", "cannot", WR,
             "revenue-generating")
LICENSE_TEST(flux2_dev, "other", "flux-dev-non-commercial-license", "cannot", WR, "non-commercial")
/* FLUX.1 [schnell] and FLUX.2 [klein] 4B are published under Apache-2.0. */
LICENSE_TEST(flux1_schnell_apache, "apache-2.0", "FLUX.1 [schnell]", "can", OS, "royalty-free")
LICENSE_TEST(stability_community, "other", "stabilityai-ai-community", "conditions", WR,
             "1,000,000")

TEST(license_unknown_is_never_guessed)
{
    lic_result r;
    judge("unknown", "some-custom-license", NULL, &r);
    CHECK_STR(lic_verdict_word(r.verdict), "unknown");
    CHECK_STR(r.tier, "unknown");
    CHECK_STR(r.license, "some-custom-license");
    CHECK_CONTAINS(r.reason, "unknown — read");
    judge("none", NULL, NULL, &r);
    CHECK_STR(lic_verdict_word(r.verdict), "unknown");
    /* "other" with no name says nothing either. */
    judge("other", "other", NULL, &r);
    CHECK_STR(lic_verdict_word(r.verdict), "unknown");
}

TEST(license_read_from_text_beside_the_model)
{
    lic_result r;
    judge("text", "other", NULL, &r);
    char path[600];
    snprintf(path, sizeof path, "%s/lic-text/LICENSE", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("\n                                 Apache License\n"
          "                           Version 2.0, January 2004\n", f);
    fclose(f);
    reg_license facts;
    hearth_error err;
    snprintf(path, sizeof path, "%s/lic-text/model.gguf", test_tmpdir());
    REQUIRE(lic_facts_from_gguf(path, &facts, &err) == HEARTH_OK);
    REQUIRE(facts.file != NULL);
    CHECK_CONTAINS(facts.file, "lic-text/LICENSE");
    lic_judge(&facts, &r);
    CHECK_STR(lic_verdict_word(r.verdict), "can");
    CHECK_CONTAINS(r.found_in, "LICENSE");
    /* An unfamiliar text: unknown, pointing at the file to read. */
    f = fopen(facts.file, "w");
    REQUIRE(f);
    fputs("You may do anything except sell it on Tuesdays.\n", f);
    fclose(f);
    lic_judge(&facts, &r);
    CHECK_STR(lic_verdict_word(r.verdict), "unknown");
    CHECK_CONTAINS(r.reason, "read ");
    CHECK_CONTAINS(r.reason, "lic-text/LICENSE");
    lic_facts_clear(&facts);
}

TEST(license_sentence_names_verdict_and_clause)
{
    lic_result r;
    char s[2048];
    judge("sentence", "llama3.2", NULL, &r);
    lic_sentence(&r, s, sizeof s);
    CHECK_CONTAINS(s, "You can, under conditions, ship this model's output in a paid product");
    CHECK_CONTAINS(s, "Llama 3.2 Community License says:");
    judge("sentence2", "cc-by-nc-4.0", NULL, &r);
    lic_sentence(&r, s, sizeof s);
    CHECK_CONTAINS(s, "You cannot ship");
}

/* The fixtures carry real identifiers: mit, llama3.2, apache-2.0. */
TEST(license_fixture_models)
{
    static const struct { const char *file, *verdict; } cases[] = {
        { "tiny-llama-spm-q8_0.gguf", "can" },
        { "small-llama-spm-q4_k_m.gguf", "conditions" },
        { "tiny-qwen2-bpe-q8_0.gguf", "can" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, TESTDATA "/models/%s", cases[i].file);
        reg_license facts;
        hearth_error err;
        REQUIRE(lic_facts_from_gguf(path, &facts, &err) == HEARTH_OK);
        lic_result r;
        lic_judge(&facts, &r);
        CHECK_STR(lic_verdict_word(r.verdict), cases[i].verdict);
        lic_facts_clear(&facts);
    }
}
