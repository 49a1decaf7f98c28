/*
 * registry.c — the manifest of named local models (see registry.h for the layout).
 *
 * The manifest is small JSON read whole with cJSON. Every entry is validated on the way
 * in: a manifest with one bad entry is refused as a whole (with the entry's index and
 * what is wrong) rather than loaded partially, because a later save would otherwise drop
 * the bad entry without anyone noticing. reg_repair is the explicit, reported way out.
 */
#include "hub/registry.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "formats/gguf.h"

#define MANIFEST_MAX (64u << 20)

static hearth_status add_entry(registry *r, const reg_entry *e, hearth_error *err);

const char *const reg_license_file_names[] = { "LICENSE", "LICENSE.txt", "LICENSE.md",
                                               "LICENCE", "LICENSE.rst", NULL };

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = mem_alloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static char *dup_or_null(const char *s)
{
    return s ? mem_strdup(s) : NULL;
}

hearth_status reg_home(char **out, hearth_error *err)
{
    const char *h = getenv("HEARTH_HOME"), *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (h && *h)
        *out = mem_strdup(h);
    else if (x && *x == '/')
        *out = join(x, "hearth");
    else if (home && *home)
        *out = join(home, ".local/share/hearth");
    else
        return err_set(err, HEARTH_ERR_INVALID, "no models folder: set HEARTH_HOME or HOME");
    return *out ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
}

hearth_status reg_make_dirs(const char *path, hearth_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return err_set(err, HEARTH_ERR_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return err_set(err, HEARTH_ERR_IO, "%s: cannot create folder: %s", buf,
                           strerror(errno));
        *p = c;
        if (!c)
            return HEARTH_OK;
    }
}

bool reg_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > REG_NAME_MAX || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

void reg_name_for_file(const char *path, char out[REG_NAME_MAX + 1])
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    int parts;
    if (gguf_split_name(base, &parts)) /* a split model is named without "-00001-of-0000N" */
        n -= sizeof "-NNNNN-of-MMMMM.gguf" - 1;
    else if (n > 5 && strcasecmp(base + n - 5, ".gguf") == 0)
        n -= 5;
    size_t o = 0;
    for (size_t i = 0; i < n && o < REG_NAME_MAX; i++) {
        char c = base[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.';
        if (!ok || (c == '.' && o > 0 && out[o - 1] == '.'))
            c = '-';
        if (o == 0 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            continue;
        out[o++] = c;
    }
    out[o] = '\0';
    if (!reg_name_valid(out))
        strcpy(out, "model");
}

/* ---- Entries ------------------------------------------------------------------------------ */

static void entry_clear(reg_entry *e)
{
    mem_free(e->name);
    mem_free(e->path);
    mem_free(e->source);
    mem_free(e->parts_sha256);
    mem_free(e->added);
    mem_free(e->license.id);
    mem_free(e->license.name);
    mem_free(e->license.link);
    mem_free(e->license.file);
    memset(e, 0, sizeof *e);
}

static bool entry_copy(reg_entry *d, const reg_entry *s)
{
    memset(d, 0, sizeof *d);
    d->name = mem_strdup(s->name);
    d->path = mem_strdup(s->path);
    d->source = mem_strdup(s->source ? s->source : "imported");
    d->added = mem_strdup(s->added ? s->added : "");
    d->size = s->size;
    memcpy(d->sha256, s->sha256, sizeof d->sha256);
    d->parts_sha256 = dup_or_null(s->parts_sha256);
    d->license.id = dup_or_null(s->license.id);
    d->license.name = dup_or_null(s->license.name);
    d->license.link = dup_or_null(s->license.link);
    d->license.file = dup_or_null(s->license.file);
    bool ok = d->name && d->path && d->source && d->added &&
              (!s->parts_sha256 || d->parts_sha256) && (!s->license.id || d->license.id) &&
              (!s->license.name || d->license.name) && (!s->license.link || d->license.link) &&
              (!s->license.file || d->license.file);
    if (!ok)
        entry_clear(d);
    return ok;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* 2..GGUF_MAX_PARTS hashes one space apart, the first equal to the entry's sha256. */
static bool parts_hashes_valid(const char *s, const char *first)
{
    size_t n = strlen(s);
    if (n % 65 != 64 || n / 65 + 1 < 2 || n / 65 + 1 > GGUF_MAX_PARTS ||
        strncmp(s, first, 64) != 0)
        return false;
    for (size_t i = 0; i < n; i += 65) {
        char h[65];
        memcpy(h, s + i, 64);
        h[64] = '\0';
        if (!is_hex64(h) || (i + 64 < n && s[i + 64] != ' '))
            return false;
    }
    return true;
}

static const char *opt_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Parse one manifest entry into e (strings borrowed from the JSON); NULL or the reason. */
static const char *entry_from_json(const cJSON *o, reg_entry *e)
{
    memset(e, 0, sizeof *e);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *lic = cJSON_GetObjectItemCaseSensitive(o, "license");
    e->name = (char *)opt_str(o, "name");
    if (!cJSON_IsObject(o))
        return "not an object";
    if (!reg_name_valid(e->name))
        return "missing or invalid \"name\"";
    if (!cJSON_IsArray(files) || !cJSON_IsString(cJSON_GetArrayItem(files, 0)) ||
        cJSON_GetArrayItem(files, 0)->valuestring[0] != '/')
        return "\"files\" must list an absolute path";
    e->path = cJSON_GetArrayItem(files, 0)->valuestring;
    if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 9.0e15)
        return "missing or invalid \"size\"";
    e->size = (uint64_t)size->valuedouble;
    const char *sha = opt_str(o, "sha256");
    if (!is_hex64(sha))
        return "\"sha256\" must be 64 lowercase hex digits";
    memcpy(e->sha256, sha, 65);
    e->parts_sha256 = (char *)opt_str(o, "parts_sha256");
    if (cJSON_GetObjectItemCaseSensitive(o, "parts_sha256") &&
        !(e->parts_sha256 && parts_hashes_valid(e->parts_sha256, sha)))
        return "\"parts_sha256\" must be the parts' sha256 (the first as \"sha256\"), one "
               "space apart";
    e->source = (char *)opt_str(o, "source");
    e->added = (char *)opt_str(o, "added");
    if (!e->source || !e->added)
        return "missing \"source\" or \"added\"";
    if (lic && !cJSON_IsObject(lic))
        return "\"license\" must be an object";
    e->license.id = (char *)opt_str(lic, "id");
    e->license.name = (char *)opt_str(lic, "name");
    e->license.link = (char *)opt_str(lic, "link");
    e->license.file = (char *)opt_str(lic, "file");
    return NULL;
}

static cJSON *entry_to_json(const reg_entry *e)
{
    cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateArray(), *lic = cJSON_CreateObject();
    cJSON *path = cJSON_CreateString(e->path);
    bool ok = o && files && lic && path;
    if (ok) {
        cJSON_AddItemToArray(files, path);
        path = NULL;
        ok = cJSON_AddStringToObject(o, "name", e->name) &&
             cJSON_AddItemToObject(o, "files", files);
        files = NULL;
    }
    ok = ok && cJSON_AddNumberToObject(o, "size", (double)e->size) &&
         cJSON_AddStringToObject(o, "sha256", e->sha256) &&
         (!e->parts_sha256 || cJSON_AddStringToObject(o, "parts_sha256", e->parts_sha256)) &&
         cJSON_AddStringToObject(o, "source", e->source);
    const char *keys[4] = { "id", "name", "link", "file" };
    const char *vals[4] = { e->license.id, e->license.name, e->license.link, e->license.file };
    for (int i = 0; i < 4 && ok; i++)
        ok = vals[i] ? cJSON_AddStringToObject(lic, keys[i], vals[i]) != NULL
                     : cJSON_AddNullToObject(lic, keys[i]) != NULL;
    if (ok) {
        ok = cJSON_AddItemToObject(o, "license", lic);
        lic = NULL;
    }
    ok = ok && cJSON_AddStringToObject(o, "added", e->added);
    cJSON_Delete(path);
    cJSON_Delete(files);
    cJSON_Delete(lic);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- Open, save, repair ------------------------------------------------------------------- */

static registry *reg_new(hearth_error *err)
{
    registry *r = mem_calloc(1, sizeof *r);
    if (!r || reg_home(&r->home, err) != HEARTH_OK) {
        reg_free(r);
        if (!r)
            err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->manifest = join(r->home, "manifest.json");
    if (!r->manifest) {
        err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        reg_free(r);
        return NULL;
    }
    return r;
}

/* Load the manifest's entries into r. On a format problem *bad_index is the entry at
 * fault (-1: the file as a whole). */
static hearth_status load_entries(registry *r, cJSON *root, long *bad_index, hearth_error *err)
{
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    *bad_index = -1;
    if (!cJSON_IsObject(root) || !cJSON_IsArray(models))
        return err_set(err, HEARTH_ERR_FORMAT, "%s: no \"models\" list", r->manifest);
    int n = cJSON_GetArraySize(models);
    r->entries = mem_calloc((size_t)n + 1, sizeof *r->entries);
    if (!r->entries)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        reg_entry e;
        const char *why = entry_from_json(cJSON_GetArrayItem(models, i), &e);
        if (!why && reg_find(r, e.name))
            why = "the name is used twice";
        if (why) {
            *bad_index = i;
            return err_set(err, HEARTH_ERR_FORMAT, "%s: entry %d (%s): %s", r->manifest, i + 1,
                           e.name ? e.name : "unnamed", why);
        }
        if (!entry_copy(&r->entries[r->n], &e))
            return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
        r->n++;
    }
    return HEARTH_OK;
}

/* Read and parse the manifest; *root NULL when there is none. */
static hearth_status read_manifest(const registry *r, cJSON **root, hearth_error *err)
{
    *root = NULL;
    if (access(r->manifest, F_OK) != 0)
        return HEARTH_OK;
    char *text;
    size_t size;
    hearth_status st = file_read_all(r->manifest, MANIFEST_MAX, &text, &size, err);
    if (st)
        return st;
    *root = cJSON_ParseWithLength(text, size);
    if (!*root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + size ? (long)(at - text) : -1;
        mem_free(text);
        return err_set(err, HEARTH_ERR_FORMAT, "%s: not valid JSON (near byte %ld)", r->manifest,
                       off);
    }
    mem_free(text);
    return HEARTH_OK;
}

hearth_status reg_open(registry **out, hearth_error *err)
{
    *out = NULL;
    registry *r = reg_new(err);
    if (!r)
        return err ? err->status : HEARTH_ERR_IO;
    cJSON *root;
    long bad;
    hearth_status st = read_manifest(r, &root, err);
    if (!st && root)
        st = load_entries(r, root, &bad, err);
    cJSON_Delete(root);
    if (st == HEARTH_ERR_FORMAT && err) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; it was left untouched: fix it, or run 'hearth list --repair' to set it "
                 "aside and rebuild the registry");
    }
    if (st) {
        reg_free(r);
        return st;
    }
    *out = r;
    return HEARTH_OK;
}

void reg_free(registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        entry_clear(&r->entries[i]);
    mem_free(r->entries);
    mem_free(r->home);
    mem_free(r->manifest);
    mem_free(r);
}

hearth_status reg_save(const registry *r, hearth_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *models = root ? cJSON_AddArrayToObject(root, "models") : NULL;
    bool ok = models && cJSON_AddNumberToObject(root, "version", 1);
    for (size_t i = 0; i < r->n && ok; i++) {
        cJSON *e = entry_to_json(&r->entries[i]);
        ok = e && cJSON_AddItemToArray(models, e);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory writing %s", r->manifest);
    file_atomic a;
    hearth_status st = reg_make_dirs(r->home, err);
    if (!st)
        st = file_atomic_open(&a, r->manifest, err);
    if (!st) {
        fputs(text, a.fp);
        fputc('\n', a.fp);
        st = file_atomic_commit(&a, err);
    }
    cJSON_free(text);
    return st;
}

/* Register again every models/NAME/FILE.gguf that no kept entry already names. */
static size_t rescan_models(registry *r)
{
    char *dir = join(r->home, "models");
    DIR *d = dir ? opendir(dir) : NULL;
    size_t found = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!reg_name_valid(de->d_name) || reg_find(r, de->d_name))
            continue;
        char *sub = join(dir, de->d_name);
        DIR *sd = sub ? opendir(sub) : NULL;
        struct dirent *fe;
        while (sd && (fe = readdir(sd))) {
            size_t n = strlen(fe->d_name);
            if (n < 6 || strcmp(fe->d_name + n - 5, ".gguf") != 0)
                continue;
            /* the first file that imports: a split model's later parts do not (and may
               come first from readdir) */
            char *file = join(sub, fe->d_name);
            const reg_entry *e;
            bool imported = file && reg_import(r, file, de->d_name, &e, NULL) == HEARTH_OK;
            mem_free(file);
            if (imported) {
                mem_free(r->entries[r->n - 1].source);
                r->entries[r->n - 1].source = mem_strdup("recovered");
                found++;
                break;
            }
        }
        if (sd)
            closedir(sd);
        mem_free(sub);
    }
    if (d)
        closedir(d);
    mem_free(dir);
    return found;
}

hearth_status reg_repair(size_t *kept, size_t *found, char **aside, hearth_error *err)
{
    *kept = *found = 0;
    *aside = NULL;
    registry *r = reg_new(err);
    if (!r)
        return err ? err->status : HEARTH_ERR_IO;
    cJSON *root = NULL;
    long bad = -1;
    hearth_error why;
    hearth_status st = read_manifest(r, &root, &why);
    if (st == HEARTH_OK && root)
        st = load_entries(r, root, &bad, &why);
    if (st == HEARTH_OK || st == HEARTH_ERR_NOMEM) {
        cJSON_Delete(root);
        reg_free(r);
        return st ? err_set(err, st, "%s", why.msg) : HEARTH_OK;
    }
    /* Keep every entry that is fine on its own, in order. */
    for (size_t i = 0; i < r->n; i++)
        entry_clear(&r->entries[i]);
    r->n = 0;
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    for (int i = 0; root && i < cJSON_GetArraySize(models); i++) {
        reg_entry e;
        if (!entry_from_json(cJSON_GetArrayItem(models, i), &e) && !reg_find(r, e.name) &&
            add_entry(r, &e, NULL) == HEARTH_OK)
            (*kept)++;
    }
    cJSON_Delete(root);
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&now));
    size_t n = strlen(r->manifest) + 48;
    *aside = mem_alloc(n);
    if (!*aside) {
        reg_free(r);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    snprintf(*aside, n, "%s.broken-%s", r->manifest, stamp);
    if (rename(r->manifest, *aside) != 0) {
        st = err_set(err, HEARTH_ERR_IO, "%s: cannot move it aside: %s", r->manifest,
                     strerror(errno));
        reg_free(r);
        mem_free(*aside);
        *aside = NULL;
        return st;
    }
    *found = rescan_models(r);
    st = reg_save(r, err);
    reg_free(r);
    return st;
}

/* ---- Lookup and changes ------------------------------------------------------------------- */

const reg_entry *reg_find(const registry *r, const char *name)
{
    for (size_t i = 0; name && i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0)
            return &r->entries[i];
    return NULL;
}

/* reg_add without saving. */
static hearth_status add_entry(registry *r, const reg_entry *e, hearth_error *err)
{
    if (!reg_name_valid(e->name))
        return err_set(err, HEARTH_ERR_INVALID, "'%s' is not a valid model name (use letters, "
                       "digits, '.', '_' and '-', up to %d characters)", e->name, REG_NAME_MAX);
    if (reg_find(r, e->name))
        return err_set(err, HEARTH_ERR_INVALID, "a model named '%s' is already registered "
                       "('hearth rm %s' first, or choose another name with --name)", e->name,
                       e->name);
    reg_entry *grown = mem_realloc_array(r->entries, r->n + 1, sizeof *grown);
    if (!grown)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    r->entries = grown;
    if (!entry_copy(&r->entries[r->n], e))
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    r->n++;
    return HEARTH_OK;
}

hearth_status reg_add(registry *r, const reg_entry *e, hearth_error *err)
{
    hearth_status st = add_entry(r, e, err);
    if (!st && (st = reg_save(r, err)) != HEARTH_OK) {
        r->n--;
        entry_clear(&r->entries[r->n]);
    }
    return st;
}

/* Is path inside home/models/NAME/? Only such files were put there by hearth. */
static bool owned_by_registry(const registry *r, const reg_entry *e, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/models/%s/", r->home, e->name);
    return strncmp(e->path, dir, strlen(dir)) == 0 && !strstr(e->path + strlen(dir), "/");
}

hearth_status reg_remove(registry *r, const char *name, bool *deleted, hearth_error *err)
{
    *deleted = false;
    const reg_entry *e = reg_find(r, name);
    if (!e)
        return err_set(err, HEARTH_ERR_INVALID, "no model named '%s' in %s", name, r->manifest);
    size_t i = (size_t)(e - r->entries);
    reg_entry removed = r->entries[i];
    memmove(&r->entries[i], &r->entries[i + 1], (r->n - i - 1) * sizeof *r->entries);
    r->n--;
    hearth_status st = reg_save(r, err);
    if (st) {
        memmove(&r->entries[i + 1], &r->entries[i], (r->n - i) * sizeof *r->entries);
        r->entries[i] = removed;
        r->n++;
        return st;
    }
    char dir[PATH_MAX];
    if (owned_by_registry(r, &removed, dir, sizeof dir)) {
        unlink(removed.path);
        int parts = 0; /* a split model's other parts lie beside its first */
        char part[PATH_MAX];
        if (gguf_split_name(removed.path, &parts) == 1)
            for (int k = 2; k <= parts && k <= GGUF_MAX_PARTS; k++)
                if (gguf_split_sibling(removed.path, k, part, sizeof part))
                    unlink(part);
        if (removed.license.file && strncmp(removed.license.file, dir, strlen(dir)) == 0)
            unlink(removed.license.file);
        rmdir(dir);
        *deleted = true;
    }
    entry_clear(&removed);
    return HEARTH_OK;
}

/* A license text beside the model file, or NULL. */
static char *license_beside(const char *model_path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", model_path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    for (int i = 0; reg_license_file_names[i]; i++) {
        char *p = join(dir, reg_license_file_names[i]);
        if (p && access(p, R_OK) == 0)
            return p;
        mem_free(p);
    }
    return NULL;
}

hearth_status reg_hash_parts(const char *path, char **out, hearth_error *err)
{
    *out = NULL;
    int parts = 0;
    if (gguf_split_name(path, &parts) != 1)
        return HEARTH_OK;
    if (parts > GGUF_MAX_PARTS) /* the count comes from the name: no model has more */
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "%s: a model in %d parts (hearth opens at "
                       "most %d)", path, parts, GGUF_MAX_PARTS);
    char *hashes = mem_alloc((size_t)parts * 65);
    if (!hashes)
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    for (int k = 1; k <= parts && !st; k++) {
        char part[PATH_MAX];
        if (!gguf_split_sibling(path, k, part, sizeof part))
            st = err_set(err, HEARTH_ERR_IO, "%s: path too long", path);
        else
            st = sha256_file(part, hashes + (size_t)(k - 1) * 65, err);
        hashes[(size_t)k * 65 - 1] = k < parts ? ' ' : '\0';
    }
    if (st)
        mem_free(hashes);
    else
        *out = hashes;
    return st;
}

static void now_iso(char buf[32])
{
    time_t now = time(NULL);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

hearth_status reg_import(registry *r, const char *file, const char *name,
                         const reg_entry **out, hearth_error *err)
{
    char abs[PATH_MAX], derived[REG_NAME_MAX + 1], added[32];
    if (!realpath(file, abs))
        return err_set(err, HEARTH_ERR_IO, "%s: %s", file, strerror(errno));
    if (!name) {
        reg_name_for_file(abs, derived);
        name = derived;
    }
    reg_entry e = { .name = (char *)name, .path = abs, .source = "imported", .added = added };
    if (!reg_name_valid(name) || reg_find(r, name))
        return reg_add(r, &e, err); /* reports which */
    gguf_file *g;
    hearth_status st = gguf_open(&g, abs, err);
    if (st)
        return st;
    e.size = g->size;
    e.license.id = (char *)gguf_get_str(g, "general.license");
    e.license.name = (char *)gguf_get_str(g, "general.license.name");
    e.license.link = (char *)gguf_get_str(g, "general.license.link");
    e.license.file = license_beside(abs);
    now_iso(added);
    st = reg_hash_parts(abs, &e.parts_sha256, err);
    if (!st && e.parts_sha256)
        memcpy(e.sha256, e.parts_sha256, 64);
    else if (!st)
        st = sha256_file(abs, e.sha256, err);
    if (!st)
        st = reg_add(r, &e, err);
    gguf_close(g);
    mem_free(e.parts_sha256);
    mem_free(e.license.file);
    if (!st && out)
        *out = &r->entries[r->n - 1];
    return st;
}

hearth_status hub_resolve_model(const char *arg, char **path, hearth_error *err)
{
    *path = NULL;
    struct stat st;
    if (strchr(arg, '/') || stat(arg, &st) == 0) {
        *path = mem_strdup(arg);
        return *path ? HEARTH_OK : err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    if (!reg_name_valid(arg))
        return err_set(err, HEARTH_ERR_INVALID, "'%s' is neither a file nor a valid model name",
                       arg);
    registry *r;
    hearth_status s = reg_open(&r, err);
    if (s)
        return s;
    const reg_entry *e = reg_find(r, arg);
    if (e)
        *path = mem_strdup(e->path);
    else
        s = err_set(err, HEARTH_ERR_INVALID, "no file or registered model named '%s' (models "
                    "in %s: 'hearth list'; add one with 'hearth pull' or 'hearth import')", arg,
                    r->home);
    reg_free(r);
    if (!s && !*path)
        s = err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    return s;
}
