/* kbopen.c — see kbopen.h. */
#include "cli/kbopen.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "hub/registry.h"

hearth_status kb_open(kb_handles *kb, const char *name, bool create, const char *embed,
                      const emb_params *ep, hearth_error *err)
{
    memset(kb, 0, sizeof *kb);
    hearth_status st = kn_db_path(name, create, &kb->db_path, err);
    if (!st)
        st = kn_store_open(&kb->store, kb->db_path, create, err);
    if (st)
        return st;
    if (embed) {
        st = hub_resolve_model(embed, &kb->model_path, err);
    } else if (!(kb->model_path = kn_store_meta_get(kb->store, "model_path"))) {
        return err_set(err, HEARTH_ERR_INVALID, "knowledge base '%s' has no embedding model "
                       "yet: give one with --embed MODEL", name);
    }
    if (!st)
        st = emb_open(&kb->emb, kb->model_path, ep, err);
    return st;
}

hearth_status kb_remember_model(kb_handles *kb, hearth_error *err)
{
    char real[PATH_MAX];
    const char *p = realpath(kb->model_path, real) ? real : kb->model_path;
    return kn_store_meta_set(kb->store, "model_path", p, err);
}

void kb_close(kb_handles *kb)
{
    emb_free(kb->emb);
    kn_store_close(kb->store);
    mem_free(kb->model_path);
    mem_free(kb->db_path);
    memset(kb, 0, sizeof *kb);
}
