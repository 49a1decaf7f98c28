/*
 * ingest.h — bringing folders of files into a knowledge base, incrementally.
 *
 * kn_ingest walks the given files and folders (hidden entries and symbolic links to
 * folders are skipped), and for every file it can read:
 *   .txt .md .markdown .rst and source code   as they are (Markdown chunked by heading)
 *   .html .htm                                 text only: tags, scripts and styles blanked
 *                                              out in place, so byte and line ranges still
 *                                              point into the original file
 *   .pdf                                       through the pdftotext program (poppler), if
 *                                              it is installed; otherwise counted and named
 *   anything else                              indexed if it looks like text, else counted
 *                                              as binary and skipped
 * A file whose SHA-256 matches the stored one is skipped; a changed one is chunked,
 * embedded and replaces the old version in one transaction; a stored file that no longer
 * exists under the given roots is removed. A kill at any moment loses at most the file
 * being written, and a re-run finishes the job.
 */
#ifndef HEARTH_KNOWLEDGE_INGEST_H
#define HEARTH_KNOWLEDGE_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "knowledge/chunk.h"
#include "knowledge/embed.h"
#include "knowledge/store.h"

typedef struct kn_ingest_stats {
    size_t files_total;     /* candidate files found by the walk */
    size_t files_done;      /* of which handled so far */
    size_t added, updated, unchanged, removed;
    size_t binary;          /* skipped: not text */
    size_t pdf_skipped;     /* skipped: no pdftotext */
    size_t failed;          /* could not be read */
    size_t empty;           /* no words in them */
    size_t chunks;          /* chunks embedded in this run */
    double seconds;
} kn_ingest_stats;

/* Called after each file (done = false) and once at the end (done = true). */
typedef void (*kn_progress_fn)(void *user, const kn_ingest_stats *s, bool done);
/* Called with a one-line message for each file that could not be indexed. */
typedef void (*kn_warn_fn)(void *user, const char *msg);

typedef struct kn_ingest_params {
    kn_chunk_params chunk;  /* count/user are filled in from the embedding model */
    int embed_batch;        /* chunks embedded together, across files (default 64) */
    size_t max_file_bytes;  /* larger files are skipped with a warning (default 64 MiB) */
    kn_progress_fn progress;
    kn_warn_fn warn;
    void *user;
} kn_ingest_params;

kn_ingest_params kn_ingest_default_params(void);

/* Index roots[0..n_roots) into s with embedding model e. Errors: a root that does not
 * exist, a store built with another model, database failures. Files that cannot be read
 * are warnings, not errors. */
hearth_status kn_ingest(kn_store *s, emb_model *e, const char *const *roots, int n_roots,
                        const kn_ingest_params *p, kn_ingest_stats *stats, hearth_error *err);

/* Blank out the markup of HTML text in place (same length, newlines kept). Exposed for tests. */
void kn_html_to_text(char *s, size_t n);

#endif
