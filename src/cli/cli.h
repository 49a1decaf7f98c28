/* cli.h — the subcommands of the hearth program (one file each in src/cli/). */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#endif
