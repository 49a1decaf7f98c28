/*
 * rm.c — `hearth rm NAME`: forget a registered model.
 *
 * Files hearth downloaded (under the registry's models/ folder) are deleted; imported
 * files stay where they are and only the entry goes.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hub/registry.h"

int cmd_rm(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        bool help = argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs("usage: hearth rm NAME\nForget a registered model; files that 'hearth pull' "
              "downloaded are deleted,\nimported files are left where they are.\n",
              help ? stdout : stderr);
        return help ? 0 : 2;
    }
    registry *r = NULL;
    hearth_error err;
    bool deleted;
    if (reg_open(&r, &err) != HEARTH_OK || reg_remove(r, argv[1], &deleted, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth rm: %s\n", err.msg);
        reg_free(r);
        return 1;
    }
    printf("removed '%s'%s\n", argv[1], deleted ? " and deleted its files" :
                                                   " (the imported file was left in place)");
    reg_free(r);
    return 0;
}
