/*
 * pull.h — downloading models: the only code in hearth that opens a network connection.
 *
 * `hearth pull` accepts two kinds of reference and nothing else:
 *   hf:ORG/REPO[/FILE][@REVISION]   a Hugging Face Hub repository (or a mirror: HF_ENDPOINT)
 *   https://HOST/PATH               a file URL; Hub "/resolve/" URLs are treated as hf:
 * For a Hub reference it asks GET {endpoint}/api/models/ORG/REPO/revision/REV?blobs=true,
 * whose "siblings" list the files with their LFS sha256 and size and whose "cardData"
 * carries the model card's license metadata; without FILE it picks a GGUF (Q4_K_M, else
 * the closest preset). The file comes from {endpoint}/ORG/REPO/resolve/REV/FILE into
 * models/NAME/FILE.part, resuming with an HTTP Range request when a .part exists, and
 * joins the registry only after its sha256 matches the Hub's; a mismatch deletes the
 * partial file. A split model (gguf-split's NAME-00001-of-0000N.gguf) comes whole: every
 * part, each verified, into one folder (parts already there and verified are kept), and
 * is registered by its first part, by which gguf_open opens it. HF_TOKEN is sent (as a bearer token, to the endpoint's host only) when set.
 * Only https is spoken, and redirects may only go to https; plain http is allowed only to
 * a loopback endpoint (127.0.0.1, localhost, ::1), which is how the tests' mock Hub runs.
 * pull_gguf_header fetches only the start of a Hub GGUF (Range requests) so `hearth fit`
 * can judge a model before it is downloaded.
 * A transfer that receives nothing for the stall timeout (30 s; HEARTH_PULL_TIMEOUT
 * seconds overrides it) is abandoned with the .part kept for the next attempt.
 */
#ifndef HEARTH_HUB_PULL_H
#define HEARTH_HUB_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/gguf.h"
#include "hub/registry.h"

typedef struct pull_ref {
    char repo[256];     /* "ORG/REPO"; empty for a plain URL */
    char file[512];     /* path inside the repository; empty: pick one */
    char rev[128];      /* "main" unless given */
    char url[2048];     /* plain URL references only */
} pull_ref;

/* Parse and validate a reference (see above). */
hearth_status pull_parse_ref(const char *ref, pull_ref *out, hearth_error *err);

/* Pick the GGUF to download among a repository's file names: Q4_K_M, else the closest
 * preset in a fixed preference order; multimodal projectors, presets hearth cannot run
 * (IQ, TQ, MXFP4) and the later parts of split models are skipped (a first part stands for
 * its model). Returns an index into names, or -1 if none is usable. */
int pull_pick_gguf(const char *const *names, size_t n);

typedef struct pull_params {
    const char *name;      /* registry name; NULL: derived from the file name */
    const char *sha256;    /* expected hash for a plain URL (the Hub's is used for hf:) */
    /* Progress: bytes so far (including a resumed part), total (0 if unknown), bytes/s. */
    void (*progress)(void *user, uint64_t done, uint64_t total, double rate);
    /* One-line notes for the person: which file was picked, resuming at N bytes, ... */
    void (*note)(void *user, const char *line);
    void *user;
} pull_params;

/* Download ref into the registry r and register it; *out points at the new entry. */
hearth_status pull_model(registry *r, const char *ref, const pull_params *p,
                         const reg_entry **out, hearth_error *err);

/* The header of a Hub GGUF, fetched with Range requests: the metadata and tensor table
 * parsed as if the whole file were here (the tensor data is an untouched, unbacked
 * mapping of the file's size, never read). For a split model, every part's header, joined
 * as gguf_open joins the files. */
typedef struct pull_header {
    gguf_file *gguf;
    struct pull_map { void *p; size_t size; } *maps; /* one per part */
    int n_maps;
    uint64_t size;    /* bytes a pull would download (all parts) */
    uint64_t fetched; /* bytes actually downloaded */
    char license[64]; /* the model card's license identifier ("" if none) */
} pull_header;

/* ref must be an hf: reference; without FILE the same file pull would pick is used. */
hearth_status pull_gguf_header(const char *ref, const pull_params *p, pull_header *out,
                               hearth_error *err);
void pull_header_free(pull_header *h);

#endif
