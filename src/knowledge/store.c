/*
 * store.c — the SQLite knowledge store (see store.h for the schema).
 *
 * Statements are prepared per call: their cost is small next to embedding a chunk, and it
 * keeps every function self-contained. Messages name the database file and SQLite's reason.
 */
#include "knowledge/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "hub/registry.h"

struct kn_store {
    sqlite3 *db;
    char *path;
    char *model;
    int dim;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL,"
    " sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY,"
    " doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
    " byte_start INTEGER NOT NULL, byte_end INTEGER NOT NULL, line_start INTEGER NOT NULL,"
    " line_end INTEGER NOT NULL, heading TEXT, text TEXT NOT NULL, vec BLOB);"
    "CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, heading,"
    " content='chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN"
    " INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading); END;"
    "CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN"
    " INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)"
    " VALUES ('delete', old.id, old.text, old.heading); END;";

/* ---- names and paths -------------------------------------------------------------------- */

bool kn_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static hearth_status mkdirs(char *path, hearth_error *err)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char save = *p;
        *p = '\0';
        int rc = mkdir(path, 0700);
        int e = errno;
        *p = save;
        if (rc != 0 && e != EEXIST) {
            *p = '\0';
            hearth_status st = err_set(err, HEARTH_ERR_IO, "cannot create folder %s: %s", path,
                                       strerror(e));
            *p = save;
            return st;
        }
        if (!save)
            return HEARTH_OK;
    }
}

hearth_status kn_db_path(const char *name, bool create, char **path, hearth_error *err)
{
    *path = NULL;
    if (!kn_name_valid(name))
        return err_set(err, HEARTH_ERR_INVALID, "'%.80s' is not a valid knowledge base name "
                       "(letters, digits, '.', '_', '-'; at most 64)", name);
    char *base;
    hearth_status st = reg_home(&base, err);
    if (st)
        return st;
    size_t n = strlen(base) + strlen(name) + 32;
    char *p = mem_alloc(n);
    if (!p) {
        mem_free(base);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    snprintf(p, n, "%s/knowledge", base);
    st = create ? mkdirs(p, err) : HEARTH_OK;
    if (!st)
        snprintf(p, n, "%s/knowledge/%s.db", base, name);
    mem_free(base);
    if (st) {
        mem_free(p);
        return st;
    }
    *path = p;
    return HEARTH_OK;
}

/* ---- opening ---------------------------------------------------------------------------- */

static hearth_status db_err(kn_store *s, hearth_error *err, const char *what)
{
    return err_set(err, HEARTH_ERR_IO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static hearth_status exec(kn_store *s, const char *sql, hearth_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return HEARTH_OK;
    hearth_status st = err_set(err, HEARTH_ERR_IO, "%s: %s", s->path,
                               msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return st;
}

static hearth_status prepare(kn_store *s, const char *sql, sqlite3_stmt **st,
                             hearth_error *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK)
        return HEARTH_OK;
    return db_err(s, err, "cannot prepare a query");
}

static int user_version(kn_store *s)
{
    sqlite3_stmt *q;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

static hearth_status load_model(kn_store *s, hearth_error *err)
{
    char *m = kn_store_meta_get(s, "model"), *d = kn_store_meta_get(s, "dim");
    s->model = m ? m : mem_strdup("");
    s->dim = d ? atoi(d) : 0;
    mem_free(d);
    if (!s->model)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (s->dim < 0 || s->dim > 65536)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: stored vector size %d is out of range",
                       s->path, s->dim);
    return HEARTH_OK;
}

/* Tables exist, or (in an empty file) are created. Anything else is not ours. */
static hearth_status init_schema(kn_store *s, bool create, hearth_error *err)
{
    int v = user_version(s);
    if (v < 0)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: not a hearth knowledge base (%s)", s->path,
                       sqlite3_errmsg(s->db));
    if (v > KN_FORMAT_VERSION)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: knowledge base format %d is newer than "
                       "this hearth understands (%d); upgrade hearth", s->path, v,
                       KN_FORMAT_VERSION);
    if (v == KN_FORMAT_VERSION)
        return HEARTH_OK;
    sqlite3_stmt *q;
    hearth_status st = prepare(s, "SELECT count(*) FROM sqlite_master", &q, err);
    if (st)
        return st;
    int n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    if (n != 0 || !create)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: not a hearth knowledge base", s->path);
    char sql[sizeof schema + 64];
    snprintf(sql, sizeof sql, "BEGIN;%sPRAGMA user_version=%d;COMMIT;", schema,
             KN_FORMAT_VERSION);
    return exec(s, sql, err);
}

hearth_status kn_store_open(kn_store **out, const char *path, bool create, hearth_error *err)
{
    *out = NULL;
    kn_store *s = mem_calloc(1, sizeof *s);
    if (!s || !(s->path = mem_strdup(path))) {
        mem_free(s);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    hearth_status st = HEARTH_OK;
    struct stat sb;
    if (!create && stat(path, &sb) != 0)
        st = err_set(err, HEARTH_ERR_IO, "%s: no such knowledge base (build it with "
                     "'hearth index')", path);
    else if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK)
        st = err_set(err, HEARTH_ERR_IO, "%s: cannot open: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
    if (!st) {
        sqlite3_busy_timeout(s->db, 10000);
        st = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;", err);
        if (st)
            st = err_set(err, HEARTH_ERR_FORMAT, "%s: not a hearth knowledge base (%s)", path,
                         sqlite3_errmsg(s->db));
    }
    if (!st)
        st = init_schema(s, create, err);
    if (!st)
        st = load_model(s, err);
    if (st) {
        kn_store_close(s);
        return st;
    }
    *out = s;
    return HEARTH_OK;
}

void kn_store_close(kn_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    mem_free(s->path);
    mem_free(s->model);
    mem_free(s);
}

/* ---- metadata --------------------------------------------------------------------------- */

const char *kn_store_model(const kn_store *s)
{
    return s->model;
}

int kn_store_dim(const kn_store *s)
{
    return s->dim;
}

char *kn_store_meta_get(kn_store *s, const char *key)
{
    sqlite3_stmt *q;
    char *v = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &q, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = mem_strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return v;
}

hearth_status kn_store_meta_set(kn_store *s, const char *key, const char *value,
                                hearth_error *err)
{
    sqlite3_stmt *q;
    hearth_status st = prepare(s, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", &q,
                               err);
    if (st)
        return st;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_err(s, err, "cannot write settings");
    sqlite3_finalize(q);
    return st;
}

hearth_status kn_store_bind_model(kn_store *s, const char *model, int dim, hearth_error *err)
{
    if (s->model[0]) {
        if (strcmp(s->model, model) == 0 && s->dim == dim)
            return HEARTH_OK;
        return err_set(err, HEARTH_ERR_INVALID, "%s was built with the embedding model %s; "
                       "%s cannot be mixed into it (use the same model, or a new knowledge "
                       "base)", s->path, s->model, model);
    }
    char d[16];
    snprintf(d, sizeof d, "%d", dim);
    hearth_status st = exec(s, "BEGIN IMMEDIATE", err);
    if (!st)
        st = kn_store_meta_set(s, "model", model, err);
    if (!st)
        st = kn_store_meta_set(s, "dim", d, err);
    if (!st)
        st = exec(s, "COMMIT", err);
    if (st) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    char *m = mem_strdup(model);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    mem_free(s->model);
    s->model = m;
    s->dim = dim;
    return HEARTH_OK;
}

/* ---- documents -------------------------------------------------------------------------- */

hearth_status kn_store_doc_sha(kn_store *s, const char *path, char sha256[65], bool *found,
                               hearth_error *err)
{
    sqlite3_stmt *q;
    *found = false;
    hearth_status st = prepare(s, "SELECT sha256 FROM documents WHERE path = ?", &q, err);
    if (st)
        return st;
    sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        snprintf(sha256, 65, "%s", (const char *)sqlite3_column_text(q, 0));
        *found = true;
    } else if (rc != SQLITE_DONE) {
        st = db_err(s, err, "cannot read documents");
    }
    sqlite3_finalize(q);
    return st;
}

static hearth_status delete_doc_rows(kn_store *s, const char *path, hearth_error *err)
{
    static const char *const sql[] = {
        "DELETE FROM chunks WHERE doc_id IN (SELECT id FROM documents WHERE path = ?1)",
        "DELETE FROM documents WHERE path = ?1",
    };
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *q;
        hearth_status st = prepare(s, sql[i], &q, err);
        if (st)
            return st;
        sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_err(s, err, "cannot delete a document");
        sqlite3_finalize(q);
        if (st)
            return st;
    }
    return HEARTH_OK;
}

static hearth_status insert_chunks(kn_store *s, int64_t doc, const kn_chunk_rec *c, size_t n,
                                   hearth_error *err)
{
    sqlite3_stmt *q;
    hearth_status st = prepare(s, "INSERT INTO chunks(doc_id, seq, byte_start, byte_end, "
                               "line_start, line_end, heading, text, vec) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &q, err);
    for (size_t i = 0; !st && i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, doc);
        sqlite3_bind_int64(q, 2, (int64_t)i);
        sqlite3_bind_int64(q, 3, (int64_t)c[i].start);
        sqlite3_bind_int64(q, 4, (int64_t)c[i].end);
        sqlite3_bind_int(q, 5, c[i].line_start);
        sqlite3_bind_int(q, 6, c[i].line_end);
        if (c[i].heading)
            sqlite3_bind_text(q, 7, c[i].heading, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 7);
        sqlite3_bind_text(q, 8, c[i].text, (int)c[i].len, SQLITE_STATIC);
        sqlite3_bind_blob(q, 9, c[i].vec, s->dim * (int)sizeof(float), SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_err(s, err, "cannot write a chunk");
    }
    sqlite3_finalize(q);
    return st;
}

hearth_status kn_store_put_doc(kn_store *s, const char *path, const char *sha256,
                               int64_t size, int64_t mtime, const kn_chunk_rec *c, size_t n,
                               hearth_error *err)
{
    if (n && s->dim <= 0)
        return err_set(err, HEARTH_ERR_INVALID, "%s: no embedding model bound", s->path);
    hearth_status st = exec(s, "BEGIN IMMEDIATE", err);
    if (st)
        return st;
    st = delete_doc_rows(s, path, err);
    sqlite3_stmt *q = NULL;
    if (!st)
        st = prepare(s, "INSERT INTO documents(path, sha256, size, mtime) VALUES (?, ?, ?, ?)",
                     &q, err);
    if (!st) {
        sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, size);
        sqlite3_bind_int64(q, 4, mtime);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_err(s, err, "cannot write a document");
    }
    sqlite3_finalize(q);
    if (!st)
        st = insert_chunks(s, sqlite3_last_insert_rowid(s->db), c, n, err);
    if (!st)
        st = exec(s, "COMMIT", err);
    if (st)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

hearth_status kn_store_delete_doc(kn_store *s, const char *path, hearth_error *err)
{
    hearth_status st = exec(s, "BEGIN IMMEDIATE", err);
    if (!st)
        st = delete_doc_rows(s, path, err);
    if (!st)
        st = exec(s, "COMMIT", err);
    if (st)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

void kn_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        mem_free(v[i]);
    mem_free(v);
}

hearth_status kn_store_paths(kn_store *s, char ***paths, size_t *n, hearth_error *err)
{
    *paths = NULL;
    *n = 0;
    sqlite3_stmt *q;
    hearth_status st = prepare(s, "SELECT path FROM documents ORDER BY path", &q, err);
    size_t cap = 0;
    int rc;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **v = mem_realloc_array(*paths, cap, sizeof *v);
            if (!v) {
                st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
                break;
            }
            *paths = v;
        }
        if (!((*paths)[*n] = mem_strdup((const char *)sqlite3_column_text(q, 0))))
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        else
            (*n)++;
    }
    if (!st && rc != SQLITE_DONE)
        st = db_err(s, err, "cannot list documents");
    sqlite3_finalize(q);
    if (st) {
        kn_strings_free(*paths, *n);
        *paths = NULL;
        *n = 0;
    }
    return st;
}

static int64_t count_rows(kn_store *s, const char *sql)
{
    sqlite3_stmt *q;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

hearth_status kn_store_stats(kn_store *s, kn_stats *st, hearth_error *err)
{
    st->documents = count_rows(s, "SELECT count(*) FROM documents");
    st->chunks = count_rows(s, "SELECT count(*) FROM chunks");
    if (st->documents < 0 || st->chunks < 0)
        return db_err(s, err, "cannot count documents");
    return HEARTH_OK;
}

/* ---- search ----------------------------------------------------------------------------- */

/* The words of a free-text query as an FTS5 expression: "w1" OR "w2" ... (quoted, so no
 * character of the user's text is FTS5 syntax). Empty if there are no words. */
static char *fts_query(const char *q)
{
    size_t n = strlen(q);
    char *out = mem_alloc(n * 6 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && !(((unsigned char)q[i] >= 0x80) || (q[i] >= '0' && q[i] <= '9') ||
                          ((q[i] | 32) >= 'a' && (q[i] | 32) <= 'z')))
            i++;
        size_t j = i;
        while (j < n && (((unsigned char)q[j] >= 0x80) || (q[j] >= '0' && q[j] <= '9') ||
                         ((q[j] | 32) >= 'a' && (q[j] | 32) <= 'z')))
            j++;
        if (j > i) {
            if (o)
                o += (size_t)sprintf(out + o, " OR ");
            out[o++] = '"';
            memcpy(out + o, q + i, j - i);
            o += j - i;
            out[o++] = '"';
        }
        i = j;
    }
    out[o] = '\0';
    return out;
}

hearth_status kn_store_bm25(kn_store *s, const char *query, int k, kn_hit *out, int *n,
                            hearth_error *err)
{
    *n = 0;
    char *expr = fts_query(query);
    if (!expr)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    if (!expr[0] || k <= 0) {
        mem_free(expr);
        return HEARTH_OK;
    }
    sqlite3_stmt *q;
    hearth_status st = prepare(s, "SELECT rowid, bm25(chunks_fts) FROM chunks_fts "
                               "WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts), rowid "
                               "LIMIT ?", &q, err);
    if (!st) {
        sqlite3_bind_text(q, 1, expr, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, k);
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < k)
            out[(*n)++] = (kn_hit){ sqlite3_column_int64(q, 0), -sqlite3_column_double(q, 1) };
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            st = db_err(s, err, "full-text search failed");
    }
    sqlite3_finalize(q);
    mem_free(expr);
    return st;
}

hearth_status kn_store_vectors(kn_store *s, int64_t **ids, float **vecs, size_t *n,
                               hearth_error *err)
{
    *ids = NULL;
    *vecs = NULL;
    *n = 0;
    int64_t total = count_rows(s, "SELECT count(*) FROM chunks");
    if (total < 0)
        return db_err(s, err, "cannot count chunks");
    if (total == 0 || s->dim <= 0)
        return HEARTH_OK;
    size_t D = (size_t)s->dim;
    *ids = mem_calloc((size_t)total, sizeof **ids);
    *vecs = mem_calloc((size_t)total * D, sizeof **vecs);
    sqlite3_stmt *q = NULL;
    hearth_status st = *ids && *vecs ? prepare(s, "SELECT id, vec FROM chunks ORDER BY id", &q,
                                               err)
                                     : err_set(err, HEARTH_ERR_NOMEM, "out of memory loading "
                                               "%lld vectors", (long long)total);
    while (!st && *n < (size_t)total && sqlite3_step(q) == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(q, 1);
        if (!b || (size_t)sqlite3_column_bytes(q, 1) != D * sizeof(float)) {
            st = err_set(err, HEARTH_ERR_FORMAT, "%s: chunk %lld has a vector of the wrong "
                         "size", s->path, (long long)sqlite3_column_int64(q, 0));
            break;
        }
        (*ids)[*n] = sqlite3_column_int64(q, 0);
        memcpy(*vecs + *n * D, b, D * sizeof(float));
        (*n)++;
    }
    sqlite3_finalize(q);
    if (st) {
        mem_free(*ids);
        mem_free(*vecs);
        *ids = NULL;
        *vecs = NULL;
        *n = 0;
    }
    return st;
}

hearth_status kn_store_chunk(kn_store *s, int64_t id, kn_chunk_info *out, hearth_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    hearth_status st = prepare(s, "SELECT d.path, c.heading, c.text, c.line_start, c.line_end "
                               "FROM chunks c JOIN documents d ON d.id = c.doc_id "
                               "WHERE c.id = ?", &q, err);
    if (st)
        return st;
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) == SQLITE_ROW) {
        out->id = id;
        out->path = mem_strdup((const char *)sqlite3_column_text(q, 0));
        const char *h = (const char *)sqlite3_column_text(q, 1);
        out->heading = h ? mem_strdup(h) : NULL;
        out->text = mem_strdup((const char *)sqlite3_column_text(q, 2));
        out->line_start = sqlite3_column_int(q, 3);
        out->line_end = sqlite3_column_int(q, 4);
        if (!out->path || !out->text || (h && !out->heading))
            st = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    } else {
        st = err_set(err, HEARTH_ERR_INVALID, "%s: no chunk %lld", s->path, (long long)id);
    }
    sqlite3_finalize(q);
    if (st)
        kn_chunk_info_free(out);
    return st;
}

void kn_chunk_info_free(kn_chunk_info *c)
{
    mem_free(c->path);
    mem_free(c->heading);
    mem_free(c->text);
    memset(c, 0, sizeof *c);
}

hearth_status kn_store_check(kn_store *s, bool *ok, hearth_error *err)
{
    sqlite3_stmt *q;
    *ok = false;
    hearth_status st = prepare(s, "PRAGMA integrity_check", &q, err);
    if (st)
        return st;
    bool integrity = sqlite3_step(q) == SQLITE_ROW &&
                     strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    int64_t orphans = count_rows(s, "SELECT count(*) FROM chunks WHERE doc_id NOT IN "
                                    "(SELECT id FROM documents)");
    /* FTS5's own check compares its index with the chunks table */
    bool fts = sqlite3_exec(s->db, "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')",
                            NULL, NULL, NULL) == SQLITE_OK;
    *ok = integrity && orphans == 0 && fts;
    return HEARTH_OK;
}
