/*
 * store.h — one knowledge base: an SQLite database of documents, chunks and vectors.
 *
 * Schema (PRAGMA user_version = KN_FORMAT_VERSION; a newer version is refused):
 *   meta(key PRIMARY KEY, value)           "model" = embedding identity, "dim" = its size,
 *                                          "query_prefix" / "doc_prefix" as used
 *   documents(id, path UNIQUE, sha256, size, mtime)
 *   chunks(id, doc_id -> documents, seq, byte_start, byte_end, line_start, line_end,
 *          heading, text, vec BLOB)         vec: dim little-endian float32, unit length
 *   chunks_fts: FTS5 over chunks(text, heading), kept in step by triggers; BM25 ranks it
 *
 * The database runs in WAL mode. Every document is replaced or removed in one transaction,
 * so a crash at any moment leaves each document either wholly old or wholly new, and no
 * chunk without its document.
 *
 * Knowledge bases live in $HEARTH_HOME/knowledge/NAME.db ($HEARTH_HOME defaults to
 * $XDG_DATA_HOME/hearth, else ~/.local/share/hearth).
 */
#ifndef HEARTH_KNOWLEDGE_STORE_H
#define HEARTH_KNOWLEDGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define KN_FORMAT_VERSION 1

typedef struct kn_store kn_store;

/* Is NAME usable as a knowledge base name (1..64 bytes of [A-Za-z0-9._-], no "..", not
 * starting with '.')? */
bool kn_name_valid(const char *name);
/* The database path of knowledge base NAME (mem_free it); creates the folders when
 * create is set. */
hearth_status kn_db_path(const char *name, bool create, char **path, hearth_error *err);

/* Open (create: or create) the database at path. Errors: missing (without create), not a
 * hearth knowledge base, a newer format version. */
hearth_status kn_store_open(kn_store **out, const char *path, bool create, hearth_error *err);
void kn_store_close(kn_store *s);

/* The embedding model the vectors come from ("" / 0 while the base is empty of vectors). */
const char *kn_store_model(const kn_store *s);
int kn_store_dim(const kn_store *s);
/* Record the model on first use; refuse (HEARTH_ERR_INVALID, naming both) a different one. */
hearth_status kn_store_bind_model(kn_store *s, const char *model, int dim, hearth_error *err);
/* Stored text settings ("query_prefix", ...); NULL if absent. Caller frees. */
char *kn_store_meta_get(kn_store *s, const char *key);
hearth_status kn_store_meta_set(kn_store *s, const char *key, const char *value,
                                hearth_error *err);

/* A document's stored hash; *found false if the path is not in the base. */
hearth_status kn_store_doc_sha(kn_store *s, const char *path, char sha256[65], bool *found,
                               hearth_error *err);

typedef struct kn_chunk_rec {
    const char *text;
    size_t len;
    size_t start, end;
    int line_start, line_end;
    const char *heading; /* may be NULL */
    const float *vec;    /* dim floats */
} kn_chunk_rec;

/* Replace document `path` (its old chunks, if any, go) in one transaction. */
hearth_status kn_store_put_doc(kn_store *s, const char *path, const char *sha256,
                               int64_t size, int64_t mtime, const kn_chunk_rec *c, size_t n,
                               hearth_error *err);
/* Remove a document and its chunks (one transaction). */
hearth_status kn_store_delete_doc(kn_store *s, const char *path, hearth_error *err);
/* All document paths (free with kn_strings_free). */
hearth_status kn_store_paths(kn_store *s, char ***paths, size_t *n, hearth_error *err);
void kn_strings_free(char **v, size_t n);

typedef struct kn_stats {
    int64_t documents, chunks;
} kn_stats;
hearth_status kn_store_stats(kn_store *s, kn_stats *st, hearth_error *err);

typedef struct kn_hit {
    int64_t chunk;
    double score;
} kn_hit;

/* Full-text search: the k best chunks by BM25 for the words of query (any of them),
 * best first; score = -bm25 (higher is better). */
hearth_status kn_store_bm25(kn_store *s, const char *query, int k, kn_hit *out, int *n,
                            hearth_error *err);

/* Every chunk id with its vector (ids: n, vecs: n x dim), for the vector index. */
hearth_status kn_store_vectors(kn_store *s, int64_t **ids, float **vecs, size_t *n,
                               hearth_error *err);

typedef struct kn_chunk_info {
    int64_t id;
    char *path;
    char *heading;  /* NULL if none */
    char *text;
    int line_start, line_end;
} kn_chunk_info;

hearth_status kn_store_chunk(kn_store *s, int64_t id, kn_chunk_info *out, hearth_error *err);
void kn_chunk_info_free(kn_chunk_info *c);

/* The SQLite check: "ok" as *ok when PRAGMA integrity_check passes and no chunk is
 * without its document. */
hearth_status kn_store_check(kn_store *s, bool *ok, hearth_error *err);

#endif
