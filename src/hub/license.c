/*
 * license.c — the table of licenses hearth can judge, and the matching against it.
 *
 * Matching: identifiers are compared after lower-casing and dropping spaces, '-' and
 * '_' ("Llama 3.2" = "llama3.2"), against each row's aliases; the identifier is tried
 * first, then the longer name (the Hub writes `license: other` plus `license_name`), then
 * the license text beside the model is searched for each row's title phrase (whitespace
 * collapsed). The first row that matches decides; more specific rows come first.
 *
 * The reasons quote the deciding clause where the wording is short and well known, and
 * otherwise paraphrase it precisely; they are summaries to point a person at the right
 * clause, not legal advice, and the sentence says which license it read.
 */
#include "hub/license.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/file.h"
#include "base/mem.h"
#include "formats/gguf.h"

#define OPEN_SOURCE "open source"
#define OPEN_WEIGHTS "open weights"
#define RESTRICTED "weights available with restrictions"

typedef struct lic_rule {
    const char *title;
    const char *aliases[10]; /* normalized identifiers, NULL-terminated */
    const char *marker;      /* phrase in the license text (lowercase, single spaces) */
    lic_verdict verdict;
    const char *tier;
    const char *reason;
} lic_rule;

#define LLAMA_700M                                                                         \
    "if the monthly active users of your products exceeded 700 million on the release "  \
    "date, you must request a license from Meta (section 2); "
#define LLAMA_BUILT_WITH                                                                   \
    "you must display \"Built with Llama\" with a product that uses it and begin the name " \
    "of any model you derive from it with \"Llama\" (section 1.b.i); "

static const lic_rule rules[] = {
    { "Apache License 2.0",
      { "apache2.0", "apache2", "apachelicense2.0", "apachelicenseversion2.0", NULL },
      "apache license version 2.0", LIC_CAN, OPEN_SOURCE,
      "section 2 grants \"a perpetual, worldwide, non-exclusive, no-charge, royalty-free, "
      "irrevocable copyright license to reproduce, prepare Derivative Works of, publicly "
      "display, publicly perform, sublicense, and distribute the Work\"; when you pass the "
      "weights on, keep the license and NOTICE text (section 4)" },
    { "MIT License", { "mit", "mitlicense", "expat", NULL },
      "permission is hereby granted, free of charge", LIC_CAN, OPEN_SOURCE,
      "it grants the rights \"to use, copy, modify, merge, publish, distribute, sublicense, "
      "and/or sell copies\" without restriction, provided the copyright and permission "
      "notice are included with copies of the weights" },
    { "BSD License", { "bsd", "bsd2clause", "bsd3clause", "bsd3clauseclear", "0bsd", NULL },
      "redistribution and use in source and binary forms", LIC_CAN, OPEN_SOURCE,
      "\"Redistribution and use in source and binary forms, with or without modification, "
      "are permitted\" provided the copyright notice, the conditions and the disclaimer are "
      "kept (the 3-clause form also forbids using the authors' names to promote products)" },
    { "Creative Commons Attribution-NonCommercial-NoDerivatives",
      { "ccbyncnd4.0", "ccbyncnd3.0", "ccbyncnd2.0", "ccbyncnd", NULL },
      "attribution-noncommercial-noderivatives", LIC_CANNOT, RESTRICTED,
      "rights are granted only for NonCommercial purposes, i.e. \"not primarily intended "
      "for or directed towards commercial advantage or monetary compensation\", and adapted "
      "versions may not be shared" },
    { "Creative Commons Attribution-NonCommercial-ShareAlike",
      { "ccbyncsa4.0", "ccbyncsa3.0", "ccbyncsa2.0", "ccbyncsa", NULL },
      "attribution-noncommercial-sharealike", LIC_CANNOT, RESTRICTED,
      "rights are granted only for NonCommercial purposes, i.e. \"not primarily intended "
      "for or directed towards commercial advantage or monetary compensation\"; adaptations "
      "must carry the same license" },
    { "Creative Commons Attribution-NonCommercial",
      { "ccbync4.0", "ccbync3.0", "ccbync2.0", "ccbync", NULL },
      "attribution-noncommercial", LIC_CANNOT, RESTRICTED,
      "rights are granted only for NonCommercial purposes, i.e. \"not primarily intended "
      "for or directed towards commercial advantage or monetary compensation\"" },
    { "Creative Commons Attribution-ShareAlike",
      { "ccbysa4.0", "ccbysa3.0", "ccbysa2.0", "ccbysa", NULL },
      "attribution-sharealike", LIC_CONDITIONS, OPEN_WEIGHTS,
      "commercial use is allowed on two conditions: give appropriate credit with a link to "
      "the license (Attribution), and license anything you adapt from it under the same "
      "terms (ShareAlike)" },
    { "Creative Commons Attribution", { "ccby4.0", "ccby3.0", "ccby2.0", "ccby", NULL },
      "creative commons attribution 4.0", LIC_CONDITIONS, OPEN_WEIGHTS,
      "commercial use is allowed on condition that you give appropriate credit, link to "
      "the license and say whether you made changes (Attribution)" },
    { "OpenRAIL (Responsible AI License)",
      { "openrail", "openrail++", "creativemlopenrailm", "bigscienceopenrailm",
        "bigcodeopenrailm", "bigsciencebloomrail1.0", "openrailm", NULL },
      "open rail", LIC_CONDITIONS, OPEN_WEIGHTS,
      "commercial use is allowed, but the use restrictions in the license's attachment "
      "bind you and must be passed on in your own terms to anyone you give the model or a "
      "derivative to; the licensor claims no rights in the output, but \"no use of the "
      "output can contravene any provision as stated in the License\"" },
    { "Llama 2 Community License", { "llama2", "llama2communitylicense", NULL },
      "llama 2 community license agreement", LIC_CONDITIONS, RESTRICTED,
      LLAMA_700M "use must follow Meta's Acceptable Use Policy; and you may not use Llama 2 "
      "or its output \"to improve any other large language model\" except Llama 2 "
      "derivatives (section 1.b.v)" },
    { "Meta Llama 3 Community License", { "llama3", "metallama3", "llama3communitylicense", NULL },
      "meta llama 3 community license agreement", LIC_CONDITIONS, RESTRICTED,
      LLAMA_700M "you must display \"Built with Meta Llama 3\" and begin the name of any "
      "model you derive from it with \"Llama 3\" (section 1.b.i); you may not use Llama 3 "
      "or its output \"to improve any other large language model\" except Llama 3 "
      "derivatives (section 1.b.v); use must follow Meta's Acceptable Use Policy" },
    { "Llama 3.1 Community License", { "llama3.1", "llama3.1communitylicense", NULL },
      "llama 3.1 community license agreement", LIC_CONDITIONS, RESTRICTED,
      LLAMA_700M LLAMA_BUILT_WITH "use must follow Meta's Acceptable Use Policy" },
    { "Llama 3.2 Community License", { "llama3.2", "llama3.2communitylicense", NULL },
      "llama 3.2 community license agreement", LIC_CONDITIONS, RESTRICTED,
      LLAMA_700M LLAMA_BUILT_WITH "use must follow Meta's Acceptable Use Policy, which "
      "withholds the rights to the multimodal Llama 3.2 models from individuals domiciled, "
      "and companies with their principal place of business, in the European Union (end "
      "users of a product built on them are not affected)" },
    { "Llama 3.3 Community License", { "llama3.3", "llama3.3communitylicense", NULL },
      "llama 3.3 community license agreement", LIC_CONDITIONS, RESTRICTED,
      LLAMA_700M LLAMA_BUILT_WITH "use must follow Meta's Acceptable Use Policy" },
    { "Llama 4 Community License", { "llama4", "llama4communitylicense", NULL },
      "llama 4 community license agreement", LIC_CONDITIONS, RESTRICTED,
      LLAMA_700M LLAMA_BUILT_WITH "use must follow Meta's Acceptable Use Policy, which "
      "withholds the rights to the multimodal Llama 4 models from individuals domiciled, "
      "and companies with their principal place of business, in the European Union (end "
      "users of a product built on them are not affected)" },
    { "Gemma Terms of Use", { "gemma", "gemmatermsofuse", NULL },
      "gemma terms of use", LIC_CONDITIONS, OPEN_WEIGHTS,
      "commercial use is allowed; Google \"claims no rights in Outputs you generate using "
      "Gemma\", but use must follow the Gemma Prohibited Use Policy and you must pass these "
      "use restrictions on to anyone you give the model or a derivative to" },
    { "Qwen Research License", { "qwenresearch", "qwenresearchlicense",
                                 "tongyiqianwenresearch", "tongyiqianwenresearchlicense", NULL },
      "qwen research license agreement", LIC_CANNOT, RESTRICTED,
      "the materials may be used only for non-commercial purposes such as research and "
      "evaluation; commercial use needs a separate license from Alibaba Cloud" },
    { "Tongyi Qianwen (Qwen) License", { "qwen", "tongyiqianwen", "qwenlicense",
                                         "tongyiqianwenlicense", NULL },
      "tongyi qianwen license agreement", LIC_CONDITIONS, RESTRICTED,
      "commercial use is allowed, but if your product or service has more than 100 million "
      "monthly active users you must request a license from Alibaba Cloud; you must also "
      "keep the license's notices with copies you distribute" },
    { "FLUX Non-Commercial License (FLUX.2 [dev], FLUX.2 [klein] 9B)",
      { "fluxnoncommerciallicense", "fluxdevnoncommerciallicense",
        "flux2devnoncommerciallicense", "flux.2devnoncommerciallicense",
        "flux2klein9bnoncommerciallicense", "flux.2dev", NULL },
      "flux non-commercial license", LIC_CANNOT, RESTRICTED,
      "the weights are licensed for non-commercial, non-production use only; running the "
      "model for a paid product needs a commercial license from Black Forest Labs (FLUX.2 "
      "[klein] 4B, by contrast, is Apache-2.0)" },
    { "FLUX.1 [dev] Non-Commercial License",
      { "flux1devnoncommerciallicense", "flux.1devnoncommerciallicense", "flux.1dev", NULL },
      "flux.1 [dev] non-commercial license", LIC_CANNOT, RESTRICTED,
      "a Non-Commercial Purpose holds \"only so far as you do not receive any direct or "
      "indirect payment arising from the use of the model or its output\", and \"use for "
      "revenue-generating activity\" is excluded; outputs you made under non-commercial use "
      "may be used for any purpose (section 2.d), but running it for a paid product needs "
      "a commercial license from Black Forest Labs (FLUX.1 [schnell] is Apache-2.0)" },
    { "Stability AI Community License",
      { "stabilityaicommunity", "stabilityaicommunitylicense", "stabilityaiaicommunity",
        "stabilitycommunitylicense", NULL },
      "stability ai community license agreement", LIC_CONDITIONS, RESTRICTED,
      "research, non-commercial and commercial use are free for individuals and "
      "organisations with less than USD 1,000,000 in annual revenue; above that threshold "
      "commercial use needs an Enterprise license from Stability AI" },
};

#define N_RULES (sizeof rules / sizeof rules[0])

/* Lowercase, without spaces, '-' and '_'. */
static void normalize(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; s && *s && o + 1 < cap; s++) {
        char c = *s;
        if (c == ' ' || c == '-' || c == '_' || c == '\t')
            continue;
        out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[o] = '\0';
}

static const lic_rule *by_identifier(const char *id)
{
    char n[160];
    normalize(id, n, sizeof n);
    for (size_t i = 0; n[0] && i < N_RULES; i++)
        for (int a = 0; rules[i].aliases[a]; a++)
            if (strcmp(n, rules[i].aliases[a]) == 0)
                return &rules[i];
    return NULL;
}

/* Search the first 64 KiB of a license text, lowercased with whitespace collapsed. */
static const lic_rule *by_text(const char *path)
{
    char *text;
    size_t size;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    text = mem_alloc(65537);
    size = text ? fread(text, 1, 65536, f) : 0;
    fclose(f);
    if (!text)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
        if (space && (o == 0 || text[o - 1] == ' '))
            continue;
        text[o++] = space ? ' ' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    text[o] = '\0';
    const lic_rule *hit = NULL;
    for (size_t i = 0; i < N_RULES && !hit; i++)
        if (strstr(text, rules[i].marker))
            hit = &rules[i];
    mem_free(text);
    return hit;
}

void lic_judge(const reg_license *facts, lic_result *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = LIC_UNKNOWN;
    out->tier = "unknown";
    const lic_rule *r = NULL;
    if (facts->id && (r = by_identifier(facts->id)))
        snprintf(out->found_in, sizeof out->found_in, "license identifier");
    else if (facts->name && (r = by_identifier(facts->name)))
        snprintf(out->found_in, sizeof out->found_in, "license name");
    else if (facts->file && (r = by_text(facts->file)))
        snprintf(out->found_in, sizeof out->found_in, "%s", facts->file);
    const char *shown = facts->id && strcmp(facts->id, "other") != 0 ? facts->id
                        : facts->name ? facts->name : facts->id ? facts->id : "";
    snprintf(out->license, sizeof out->license, "%s", shown);
    if (r) {
        out->title = r->title;
        out->verdict = r->verdict;
        out->tier = r->tier;
        snprintf(out->reason, sizeof out->reason, "%s", r->reason);
        if (!out->license[0])
            snprintf(out->license, sizeof out->license, "%s", r->title);
        return;
    }
    const char *read = facts->file ? facts->file : facts->link ? facts->link : NULL;
    if (read)
        snprintf(out->reason, sizeof out->reason, "unknown — read %s", read);
    else
        snprintf(out->reason, sizeof out->reason, "unknown — read the model's license on "
                 "its model card (no license text was found beside the file)");
}

void lic_facts_clear(reg_license *f)
{
    mem_free(f->id);
    mem_free(f->name);
    mem_free(f->link);
    mem_free(f->file);
    memset(f, 0, sizeof *f);
}

hearth_status lic_facts_from_gguf(const char *path, reg_license *facts, hearth_error *err)
{
    memset(facts, 0, sizeof *facts);
    gguf_file *g;
    hearth_status st = gguf_open(&g, path, err);
    if (st)
        return st;
    const char *v[3] = { gguf_get_str(g, "general.license"),
                         gguf_get_str(g, "general.license.name"),
                         gguf_get_str(g, "general.license.link") };
    char **dst[3] = { &facts->id, &facts->name, &facts->link };
    for (int i = 0; i < 3 && !st; i++)
        if (v[i] && !(*dst[i] = mem_strdup(v[i])))
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    gguf_close(g);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    size_t base = slash ? (size_t)(slash - dir) + 1 : 0;
    for (int i = 0; !st && reg_license_file_names[i] && !facts->file; i++) {
        snprintf(dir + base, sizeof dir - base, "%s", reg_license_file_names[i]);
        FILE *f = fopen(dir, "rb");
        if (f) {
            fclose(f);
            if (!(facts->file = mem_strdup(dir)))
                st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        }
    }
    if (st)
        lic_facts_clear(facts);
    return st;
}

/* Take each fact b has and a lacks. */
static void merge(reg_license *a, reg_license *b)
{
    char **da[4] = { &a->id, &a->name, &a->link, &a->file };
    char **db[4] = { &b->id, &b->name, &b->link, &b->file };
    for (int i = 0; i < 4; i++)
        if (!*da[i] && *db[i]) {
            *da[i] = *db[i];
            *db[i] = NULL;
        }
}

hearth_status lic_judge_model(const char *model, lic_result *out, hearth_error *err)
{
    char *path;
    hearth_status st = hub_resolve_model(model, &path, err);
    if (st)
        return st;
    reg_license facts = { 0 }, file_facts;
    registry *r = NULL;
    if (!strchr(model, '/') && reg_open(&r, NULL) == HEARTH_OK) {
        const reg_entry *e = reg_find(r, model);
        if (e && strcmp(e->path, path) == 0) {
            const char *v[4] = { e->license.id, e->license.name, e->license.link,
                                 e->license.file };
            char **d[4] = { &facts.id, &facts.name, &facts.link, &facts.file };
            for (int i = 0; i < 4; i++)
                *d[i] = v[i] ? mem_strdup(v[i]) : NULL;
        }
    }
    reg_free(r);
    st = lic_facts_from_gguf(path, &file_facts, err);
    if (!st) {
        merge(&facts, &file_facts);
        lic_facts_clear(&file_facts);
        lic_judge(&facts, out);
    }
    lic_facts_clear(&facts);
    mem_free(path);
    return st;
}

const char *lic_verdict_word(lic_verdict v)
{
    static const char *const words[] = { "can", "conditions", "cannot", "unknown" };
    return (unsigned)v < 4 ? words[v] : "unknown";
}

void lic_sentence(const lic_result *r, char *buf, size_t cap)
{
    static const char *const lead[] = {
        "You can ship this model's output in a paid product",
        "You can, under conditions, ship this model's output in a paid product",
        "You cannot ship this model's output in a paid product",
    };
    if (r->verdict == LIC_UNKNOWN) {
        snprintf(buf, cap, "hearth does not know %s%s%s: %s.",
                 r->license[0] ? "the license '" : "this model's license",
                 r->license, r->license[0] ? "'" : "", r->reason);
        return;
    }
    snprintf(buf, cap, "%s, because the %s says: %s.", lead[r->verdict], r->title, r->reason);
}
