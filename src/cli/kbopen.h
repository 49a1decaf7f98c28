/*
 * kbopen.h — opening a knowledge base and its embedding model for `index`, `search` and
 * `ask`.
 *
 * NAME becomes $HEARTH_HOME/knowledge/NAME.db (validated first). The embedding model is
 * --embed when given (a file or a registered name), else the one recorded by the last
 * `hearth index`, so a knowledge base remembers how it was built.
 */
#ifndef HEARTH_CLI_KBOPEN_H
#define HEARTH_CLI_KBOPEN_H

#include <stdbool.h>

#include "knowledge/embed.h"
#include "knowledge/store.h"

typedef struct kb_handles {
    char *db_path;
    char *model_path;
    kn_store *store;
    emb_model *emb;
} kb_handles;

/* Open knowledge base name (create: make it if missing) and its embedding model. */
hearth_status kb_open(kb_handles *kb, const char *name, bool create, const char *embed,
                      const emb_params *ep, hearth_error *err);
/* Record the model's absolute path in the knowledge base for later runs. */
hearth_status kb_remember_model(kb_handles *kb, hearth_error *err);
void kb_close(kb_handles *kb);

#endif
