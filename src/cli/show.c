/*
 * show.c — `hearth show FILE [--json]`: summarise a GGUF model file.
 *
 * Opens the file with the GGUF reader (which validates everything) and prints what a
 * person deciding whether to use a model wants to know: architecture and size, the
 * hyperparameters, the tokenizer, the weight types with their byte counts, license
 * metadata, and a warning for weight types hearth cannot compute with yet. --json prints
 * the same facts as one JSON object; absent keys are null there and omitted in text.
 * Strings from the file are untrusted: control characters are replaced before they reach
 * the terminal. MODEL may be a registered name: then the registry's facts (source, sha256,
 * date, license verdict) are shown too.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "formats/gguf.h"
#include "hub/license.h"
#include "hub/registry.h"
#include "tensor/types.h"

struct summary {
    const char *path, *arch, *name, *tok_model, *tok_pre;
    const char *license, *license_name, *license_link;
    uint32_t version;
    int parts;
    uint64_t params, n_tensors, tensor_bytes, vocab;
    bool has_vocab, chat_template;
    /* Hyperparameters: value and whether the file has it. */
    struct { const char *label, *json, *suffix; uint64_t v; bool set; } hp[6];
    struct { const char *label, *key; uint64_t v; bool set; } tok_ids[2];
    uint64_t type_count[TQ_TYPE_COUNT], type_bytes[TQ_TYPE_COUNT];
};

static void usage(FILE *out)
{
    fprintf(out, "usage: hearth show FILE|NAME [--json]\n\n"
                 "Summarise a GGUF model file: architecture, parameter count, hyperparameters,\n"
                 "tokenizer, weight types and sizes, license metadata. For a registered NAME, the\n"
                 "registry's facts (source, sha256, license verdict) too.\n\n"
                 "  --json   print the summary as one JSON object\n");
}

static void summarise(const gguf_file *f, const char *path, struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->version = f->version;
    s->parts = f->n_parts;
    s->arch = gguf_get_str(f, "general.architecture");
    s->name = gguf_get_str(f, "general.name");
    s->license = gguf_get_str(f, "general.license");
    s->license_name = gguf_get_str(f, "general.license.name");
    s->license_link = gguf_get_str(f, "general.license.link");
    s->tok_model = gguf_get_str(f, "tokenizer.ggml.model");
    s->tok_pre = gguf_get_str(f, "tokenizer.ggml.pre");
    s->has_vocab = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &s->vocab) != NULL;
    s->chat_template = gguf_find(f, "tokenizer.chat_template") != NULL;

    static const char *const hp_keys[6][3] = {
        { "context length", "context_length", "context_length" },
        { "embedding length", "embedding_length", "embedding_length" },
        { "layers", "block_count", "block_count" },
        { "heads", "head_count", "attention.head_count" },
        { "kv heads", "head_count_kv", "attention.head_count_kv" },
        { "feed-forward length", "feed_forward_length", "feed_forward_length" },
    };
    for (int i = 0; i < 6; i++) {
        s->hp[i].label = hp_keys[i][0];
        s->hp[i].json = hp_keys[i][1];
        if (s->arch) {
            char key[256];
            snprintf(key, sizeof key, "%s.%s", s->arch, hp_keys[i][2]);
            s->hp[i].set = gguf_get_u64(f, key, &s->hp[i].v);
        }
    }
    s->tok_ids[0].label = "BOS token id";
    s->tok_ids[0].key = "tokenizer.ggml.bos_token_id";
    s->tok_ids[1].label = "EOS token id";
    s->tok_ids[1].key = "tokenizer.ggml.eos_token_id";
    for (int i = 0; i < 2; i++)
        s->tok_ids[i].set = gguf_get_u64(f, s->tok_ids[i].key, &s->tok_ids[i].v);

    s->n_tensors = f->n_tensors;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            n *= (uint64_t)t->ne[d];
        s->params += n;
        s->tensor_bytes += t->nbytes;
        s->type_count[t->type]++; /* the reader accepted only known type ids */
        s->type_bytes[t->type] += t->nbytes;
    }
}

/* ---- Text -------------------------------------------------------------------------------- */

/* A string from the file, made safe and short for the terminal. */
static const char *safe(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; s[n] && n + 4 < cap; n++)
        buf[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
    if (s[n])
        memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

/* 4600000 -> "4.6M", as model sizes are usually written. */
static const char *human_count(uint64_t n, char *buf, size_t cap)
{
    static const char units[] = "KMBT";
    if (n < 1000) {
        snprintf(buf, cap, "%" PRIu64, n);
        return buf;
    }
    double v = (double)n / 1000;
    int u = 0;
    while (v >= 999.95 && u < 3) {
        v /= 1000;
        u++;
    }
    snprintf(buf, cap, "%.1f%c", v, units[u]);
    return buf;
}

static const char *human_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static void line_str(const char *label, const char *v)
{
    char buf[256], lab[32];
    if (!v)
        return;
    snprintf(lab, sizeof lab, "%s:", label);
    printf("%-21s%s\n", lab, safe(v, buf, sizeof buf));
}

static void line_u64(const char *label, uint64_t v)
{
    char lab[32];
    snprintf(lab, sizeof lab, "%s:", label);
    printf("%-21s%" PRIu64 "\n", lab, v);
}

static void print_text(const struct summary *s)
{
    char a[128], b[48];
    line_str("file", s->path);
    if (s->parts > 1)
        line_u64("parts", (uint64_t)s->parts); /* a split model: the file is the first */
    line_u64("GGUF version", s->version);
    line_str("architecture", s->arch ? s->arch : "(not set)");
    line_str("name", s->name);
    snprintf(a, sizeof a, "%s (%" PRIu64 ")", human_count(s->params, b, sizeof b), s->params);
    line_str("parameters", a);
    for (int i = 0; i < 6; i++)
        if (s->hp[i].set)
            line_u64(s->hp[i].label, s->hp[i].v);
    line_str("tokenizer", s->tok_model);
    line_str("pre-tokenizer", s->tok_pre);
    if (s->has_vocab)
        line_u64("vocabulary size", s->vocab);
    for (int i = 0; i < 2; i++)
        if (s->tok_ids[i].set)
            line_u64(s->tok_ids[i].label, s->tok_ids[i].v);
    line_str("chat template", s->chat_template ? "yes" : "no");
    line_str("license", s->license);
    line_str("license name", s->license_name);
    line_str("license link", s->license_link);
    line_u64("tensors", s->n_tensors);
    snprintf(a, sizeof a, "%" PRIu64 " (%s)", s->tensor_bytes,
             human_bytes(s->tensor_bytes, b, sizeof b));
    line_str("tensor bytes", a);
    if (s->n_tensors) {
        printf("  %-8s %7s %14s\n", "type", "count", "bytes");
        for (int t = 0; t < TQ_TYPE_COUNT; t++)
            if (s->type_count[t])
                printf("  %-8s %7" PRIu64 " %14" PRIu64 "\n", tq_type_name(t), s->type_count[t],
                       s->type_bytes[t]);
    }
    for (int t = 0; t < TQ_TYPE_COUNT; t++)
        if (s->type_count[t] && !tq_traits_of(t)->supported)
            printf("warning: uses %s, which hearth does not support yet\n", tq_type_name(t));
}

/* The registry entry MODEL names, if it is a name; *lic gets its license verdict. */
static const reg_entry *registry_entry(const char *model, registry **r, lic_result *lic)
{
    *r = NULL;
    if (strchr(model, '/') || !reg_name_valid(model) || reg_open(r, NULL) != HEARTH_OK)
        return NULL;
    const reg_entry *e = reg_find(*r, model);
    if (!e || lic_judge_model(model, lic, NULL) != HEARTH_OK) {
        reg_free(*r);
        *r = NULL;
        return NULL;
    }
    return e;
}

static void print_registry_text(const reg_entry *e, const lic_result *lic)
{
    line_str("registry name", e->name);
    line_str("source", e->source);
    line_str("sha256", e->sha256);
    line_str("added", e->added);
    line_str("license verdict", lic_verdict_word(lic->verdict));
    line_str("openness tier", lic->tier);
}

static bool add_registry_json(cJSON *o, const reg_entry *e, const lic_result *lic)
{
    cJSON *r = cJSON_AddObjectToObject(o, "registry");
    return r && cJSON_AddStringToObject(r, "name", e->name) &&
           cJSON_AddStringToObject(r, "source", e->source) &&
           cJSON_AddStringToObject(r, "sha256", e->sha256) &&
           cJSON_AddStringToObject(r, "added", e->added) &&
           cJSON_AddStringToObject(r, "verdict", lic_verdict_word(lic->verdict)) &&
           cJSON_AddStringToObject(r, "tier", lic->tier) &&
           cJSON_AddStringToObject(r, "reason", lic->reason);
}

/* ---- JSON -------------------------------------------------------------------------------- */

static bool add_str_or_null(cJSON *o, const char *key, const char *v)
{
    return (v ? cJSON_AddStringToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

static bool add_num_or_null(cJSON *o, const char *key, bool set, uint64_t v)
{
    return (set ? cJSON_AddNumberToObject(o, key, (double)v) : cJSON_AddNullToObject(o, key))
           != NULL;
}

static cJSON *build_json(const struct summary *s)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    ok = ok && add_str_or_null(o, "file", s->path);
    ok = ok && add_num_or_null(o, "parts", true, (uint64_t)s->parts);
    ok = ok && add_num_or_null(o, "gguf_version", true, s->version);
    ok = ok && add_str_or_null(o, "architecture", s->arch);
    ok = ok && add_str_or_null(o, "name", s->name);
    ok = ok && add_num_or_null(o, "parameters", true, s->params);
    for (int i = 0; i < 6 && ok; i++)
        ok = add_num_or_null(o, s->hp[i].json, s->hp[i].set, s->hp[i].v);
    ok = ok && add_num_or_null(o, "tensor_count", true, s->n_tensors);
    ok = ok && add_num_or_null(o, "tensor_bytes", true, s->tensor_bytes);
    cJSON *types = ok ? cJSON_AddObjectToObject(o, "tensor_types") : NULL;
    cJSON *unsupported = types ? cJSON_AddArrayToObject(o, "unsupported_types") : NULL;
    ok = unsupported != NULL;
    for (int t = 0; t < TQ_TYPE_COUNT && ok; t++) {
        if (!s->type_count[t])
            continue;
        cJSON *e = cJSON_AddObjectToObject(types, tq_type_name(t));
        ok = e && add_num_or_null(e, "count", true, s->type_count[t]) &&
             add_num_or_null(e, "bytes", true, s->type_bytes[t]);
        if (ok && !tq_traits_of(t)->supported) {
            cJSON *name = cJSON_CreateString(tq_type_name(t));
            ok = name && cJSON_AddItemToArray(unsupported, name);
        }
    }
    cJSON *tok = ok ? cJSON_AddObjectToObject(o, "tokenizer") : NULL;
    ok = tok && add_str_or_null(tok, "model", s->tok_model) &&
         add_str_or_null(tok, "pre", s->tok_pre) &&
         add_num_or_null(tok, "vocab_size", s->has_vocab, s->vocab) &&
         add_num_or_null(tok, "bos_token_id", s->tok_ids[0].set, s->tok_ids[0].v) &&
         add_num_or_null(tok, "eos_token_id", s->tok_ids[1].set, s->tok_ids[1].v) &&
         cJSON_AddBoolToObject(o, "chat_template", s->chat_template);
    cJSON *lic = ok ? cJSON_AddObjectToObject(o, "license") : NULL;
    ok = lic && add_str_or_null(lic, "license", s->license) &&
         add_str_or_null(lic, "name", s->license_name) &&
         add_str_or_null(lic, "link", s->license_link);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int print_json(const struct summary *s, const reg_entry *e, const lic_result *lic)
{
    cJSON *o = build_json(s);
    if (o && e && !add_registry_json(o, e, lic)) {
        cJSON_Delete(o);
        o = NULL;
    }
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        fprintf(stderr, "hearth: %s: out of memory\n", s->path);
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int cmd_show(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hearth show: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "hearth show: one file at a time\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    cJSON_Hooks hooks = { mem_alloc, mem_free };
    cJSON_InitHooks(&hooks);

    gguf_file *f;
    hearth_error err;
    char *file = NULL;
    if (hub_resolve_model(path, &file, &err) != HEARTH_OK ||
        gguf_open(&f, file, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth: %s\n", err.msg);
        mem_free(file);
        return 1;
    }
    registry *reg;
    lic_result lic;
    const reg_entry *e = registry_entry(path, &reg, &lic);
    struct summary s;
    summarise(f, file, &s);
    int rc = 0;
    if (json)
        rc = print_json(&s, e, &lic);
    else
        print_text(&s);
    if (e && !json)
        print_registry_text(e, &lic);
    reg_free(reg);
    gguf_close(f);
    mem_free(file);
    return rc;
}
