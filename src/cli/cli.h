/* cli.h — the subcommands of the hearth program (one file each in src/cli/). */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#include <stdbool.h>

int cmd_bench(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* bench_model.c: the model half of `hearth bench` (pp/tg tokens, threads, repetitions). */
int bench_model(const char *path, int pp, int tg, int threads, int reps, bool json);

#endif
