/*
 * import.c — `hearth import FILE [--name N]`: register a GGUF file already on this machine.
 *
 * The file stays where it is; the registry records its path, size, sha256 and license
 * facts, so `hearth audit` can later tell whether it changed.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hub/registry.h"

static const char usage[] =
    "usage: hearth import FILE [--name NAME]\n"
    "Register a GGUF model file under a short name (default: from the file name). The file\n"
    "is not copied; 'hearth rm NAME' forgets it without deleting it.\n";

int cmd_import(int argc, char **argv)
{
    const char *file = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            fprintf(stderr, "hearth import: unexpected '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!file) {
        fputs(usage, stderr);
        return 2;
    }
    registry *r = NULL;
    hearth_error err;
    const reg_entry *e;
    if (reg_open(&r, &err) != HEARTH_OK || reg_import(r, file, name, &e, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth import: %s\n", err.msg);
        reg_free(r);
        return 1;
    }
    printf("imported %s as '%s' (sha256 %s)\n", e->path, e->name, e->sha256);
    reg_free(r);
    return 0;
}
