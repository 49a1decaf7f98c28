/*
 * registry.h — the local model registry: short names for model files on this machine.
 *
 * The registry lives in $HEARTH_HOME (default $XDG_DATA_HOME/hearth, else
 * ~/.local/share/hearth): manifest.json lists the entries, and models/NAME/ holds the
 * files `hearth pull` downloaded. `hearth import` registers a file where it is (nothing is
 * copied), so `rm` deletes files only when they live under models/NAME/.
 *
 *   manifest.json = { "version": 1, "models": [ {
 *       "name": "qwen3-0.6b", "files": ["/abs/path.gguf"], "size": 639447744,
 *       "sha256": "64 hex", "source": "hf:Qwen/Qwen3-0.6B-GGUF/...@main" | "imported",
 *       "parts_sha256": "64 hex 64 hex ..." (split models only: every part's, in order),
 *       "license": { "id": "apache-2.0", "name": null, "link": null, "file": null },
 *       "added": "2026-11-23T10:53:20Z" }, ... ] }
 *
 * The manifest is written atomically (temp file, fsync, rename). A manifest that cannot
 * be read is never dropped or overwritten silently: reg_open refuses it with an
 * explanation, and reg_repair sets it aside and rebuilds what it can. Names are checked
 * by reg_name_valid before they are ever joined into a path.
 * Not safe for two processes writing at once: the last writer wins (each write is whole).
 */
#ifndef HEARTH_HUB_REGISTRY_H
#define HEARTH_HUB_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define REG_NAME_MAX 96

/* License facts as found (any field may be NULL). */
typedef struct reg_license {
    char *id;   /* identifier, e.g. "apache-2.0", "llama3.2", "other" */
    char *name; /* a longer name, e.g. "qwen-research" (Hub license_name / general.license.name) */
    char *link; /* URL of the license text */
    char *file; /* a license text stored beside the model */
} reg_license;

typedef struct reg_entry {
    char *name;
    char *path;      /* absolute path of the model file */
    uint64_t size;
    char sha256[65]; /* lowercase hex; a split model's: its first part's */
    char *parts_sha256; /* a split model's parts' sha256, in order, one space apart; else NULL */
    char *source;    /* "hf:ORG/REPO/FILE@REV", a URL, or "imported" */
    reg_license license;
    char *added;     /* ISO 8601 UTC */
} reg_entry;

typedef struct registry {
    char *home;     /* $HEARTH_HOME */
    char *manifest; /* home/manifest.json */
    reg_entry *entries;
    size_t n;
} registry;

/* The registry folder (not created). */
hearth_status reg_home(char **out, hearth_error *err);
/* Create a folder and any missing parents (mkdir -p). */
hearth_status reg_make_dirs(const char *path, hearth_error *err);

/* Open the registry; a missing folder or manifest is an empty registry (folders are
 * created on the first save, so looking never writes). An unreadable or malformed manifest gives HEARTH_ERR_FORMAT with the reason
 * and what to do ('hearth list --repair'); the file is left as it is. */
hearth_status reg_open(registry **out, hearth_error *err);
void reg_free(registry *r);
/* Write the manifest atomically. */
hearth_status reg_save(const registry *r, hearth_error *err);

/* Set a broken manifest aside as manifest.json.broken-TIME and rebuild: entries that are
 * still well-formed are kept, and model files under models/NAME/ are registered again.
 * *kept and *found count both; *aside receives the path the old file was moved to (caller
 * frees; NULL when the manifest was fine and nothing was done). */
hearth_status reg_repair(size_t *kept, size_t *found, char **aside, hearth_error *err);

/* For the first part of a split model (NAME-00001-of-0000N.gguf): the paths of its parts
 * are path's siblings. *out gets every part's sha256 in order, one space apart (caller
 * frees), as reg_entry.parts_sha256; NULL for any other file. HEARTH_ERR_IO naming a part
 * that is missing or unreadable. */
hearth_status reg_hash_parts(const char *path, char **out, hearth_error *err);

/* 1..REG_NAME_MAX of [A-Za-z0-9._-], starting with a letter or digit, no "..". */
bool reg_name_valid(const char *name);
/* A registry name for a file: its base name without .gguf, lowercased, other characters
 * replaced by '-'. Never fails (falls back to "model"). */
void reg_name_for_file(const char *path, char out[REG_NAME_MAX + 1]);

const reg_entry *reg_find(const registry *r, const char *name);
/* Add a copy of e (name must be valid and unused) and save the manifest; on any failure
 * the registry is as it was. */
hearth_status reg_add(registry *r, const reg_entry *e, hearth_error *err);
/* Drop the entry; its files are deleted only if they live under home/models/NAME/.
 * *deleted tells which happened. Saves the manifest. */
hearth_status reg_remove(registry *r, const char *name, bool *deleted, hearth_error *err);

/* Register a GGUF file in place: validates it, hashes it, records its license metadata
 * (general.license*) and a LICENSE file beside it. name NULL: derived from the file name.
 * Saves the manifest; *out points at the new entry. */
hearth_status reg_import(registry *r, const char *file, const char *name,
                         const reg_entry **out, hearth_error *err);

/* The one resolver every command taking MODEL uses: an existing file path (or anything
 * with a '/') is returned as is; otherwise arg is looked up as a registry name. *path is
 * heap-allocated (mem_free). Errors name the registry and how to add a model. */
hearth_status hub_resolve_model(const char *arg, char **path, hearth_error *err);

/* The license text files looked for beside a model (NULL-terminated list). */
extern const char *const reg_license_file_names[];

#endif
