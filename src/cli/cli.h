/* cli.h — the subcommands of the hearth program (one file each in src/cli/). */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int cmd_ask(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_license(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);

/* bench_model.c: the model half of `hearth bench` (pp/tg tokens, threads, repetitions). */
int bench_model(const char *path, int pp, int tg, int threads, int reps, bool json);

/* pull.c: download ref into the registry with a progress bar (on stderr; the closing
 * summary goes to out); returns an exit code. */
int cli_pull(const char *ref, const char *name, const char *sha256, FILE *out);

/* default_model.c: the model to use when a command was given none. Returns 0 with *name
 * (mem_free) set to a registered model, after offering (and with yes, or the person's
 * consent, downloading) the default; otherwise prints why and returns an exit code. */
int cli_default_model(const char *cmd, bool yes, char **name);

/* list.c: 1536 -> "1.5 KiB" (binary units, as file sizes are usually shown). */
const char *cli_bytes(uint64_t n, char *buf, size_t cap);

#endif
