/*
 * default_model.c — what `hearth chat` / `run` do when no model is named.
 *
 * A model chosen before (remembered in $HEARTH_HOME/default) is used silently. Otherwise
 * hearth offers a small, permissively licensed default, Qwen3-0.6B at Q8_0 (Apache-2.0).
 * Nothing touches the network without consent: on a terminal it asks first whether to
 * look the model up, then shows whether it fits this machine and what its license allows
 * (from the file's header and model card, without the weights), then asks before
 * downloading; --yes answers both; without a terminal and without --yes it only explains.
 * The choice is remembered. Without a network it says plainly that a model must be
 * pulled or imported, and how.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "hub/fit.h"
#include "hub/license.h"
#include "hub/pull.h"
#include "hub/registry.h"

#define DEFAULT_REF "hf:Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf"
#define DEFAULT_NAME "qwen3-0.6b"

/* The remembered default's name, if it is still registered. */
static bool remembered(const registry *r, char name[REG_NAME_MAX + 1])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/default", r->home);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(name, REG_NAME_MAX + 1, f) != NULL;
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
    return ok && reg_find(r, name) != NULL;
}

static void remember(const registry *r, const char *name)
{
    char path[4096];
    file_atomic a;
    snprintf(path, sizeof path, "%s/default", r->home);
    if (file_atomic_open(&a, path, NULL) == HEARTH_OK) {
        fprintf(a.fp, "%s\n", name);
        file_atomic_commit(&a, NULL);
    }
}

/* Fit and license of the default, from its header; false when the Hub cannot be reached. */
static bool describe_default(const char *cmd)
{
    pull_params p = { 0 };
    pull_header h;
    hearth_error err;
    if (pull_gguf_header(DEFAULT_REF, &p, &h, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth %s: no model was named, and the default model cannot be "
                "fetched (%s).\nhearth needs a model file: on a machine with a network run\n"
                "  hearth pull %s\nor register a GGUF file you already have with\n"
                "  hearth import FILE\n", cmd, err.msg, DEFAULT_REF);
        return false;
    }
    fit_model m;
    fit_memory mem;
    fit_report fr;
    char a[32], b[32];
    if (fit_model_from_gguf(h.gguf, &m, &err) == HEARTH_OK &&
        fit_read_meminfo("/proc/meminfo", &mem, &err) == HEARTH_OK &&
        fit_compute(&m, fit_default_params(), &mem, 0, &fr, &err) == HEARTH_OK)
        fprintf(stderr, "  fit:     %s here (%s needed with a %d-token context, %s available)\n",
                fit_verdict_str(fr.verdict), cli_bytes(fr.total_bytes, a, sizeof a),
                fr.params.n_ctx, cli_bytes(fr.available_bytes, b, sizeof b));
    reg_license facts = { .id = h.license[0] ? h.license : NULL };
    lic_result lic;
    char sentence[2048];
    lic_judge(&facts, &lic);
    lic_sentence(&lic, sentence, sizeof sentence);
    fprintf(stderr, "  license: %s\n", sentence);
    fprintf(stderr, "  size:    %s to download\n", cli_bytes(h.size, a, sizeof a));
    pull_header_free(&h);
    return true;
}

static bool ask(const char *question)
{
    fprintf(stderr, "%s [y/N] ", question);
    char line[16];
    return fgets(line, sizeof line, stdin) && (line[0] == 'y' || line[0] == 'Y');
}

int cli_default_model(const char *cmd, bool yes, char **name)
{
    *name = NULL;
    registry *r;
    hearth_error err;
    if (reg_open(&r, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth %s: %s\n", cmd, err.msg);
        return 1;
    }
    char chosen[REG_NAME_MAX + 1];
    bool have = remembered(r, chosen);
    if (!have && reg_find(r, DEFAULT_NAME)) {
        snprintf(chosen, sizeof chosen, "%s", DEFAULT_NAME);
        remember(r, chosen);
        have = true;
    }
    if (have) {
        reg_free(r);
        *name = mem_strdup(chosen);
        return *name ? 0 : 1;
    }
    size_t n_models = r->n;
    reg_free(r);
    fprintf(stderr, "hearth %s: no MODEL given. Name a registered model%s or a .gguf file, "
            "or use the default: Qwen3-0.6B (Q8_0, Apache-2.0, about 0.6 GB) from %s.\n",
            cmd, n_models ? " ('hearth list')" : "", DEFAULT_REF);
    if (!yes && !isatty(0)) {
        fprintf(stderr, "Run again with --yes to download it, or 'hearth pull' / 'hearth "
                "import' a model first.\n");
        return 2;
    }
    if (!yes && !ask("Look it up on the Hub (fetches only the file's header)?"))
        return 2;
    if (!describe_default(cmd))
        return 1;
    if (!yes && !ask("Download it now?")) {
        fprintf(stderr, "Nothing downloaded. Name a model, or 'hearth pull' one first.\n");
        return 1;
    }
    int rc = cli_pull(DEFAULT_REF, DEFAULT_NAME, NULL, stderr);
    if (rc)
        return rc;
    if (reg_open(&r, &err) == HEARTH_OK) {
        remember(r, DEFAULT_NAME);
        reg_free(r);
    }
    *name = mem_strdup(DEFAULT_NAME);
    return *name ? 0 : 1;
}
