/*
 * gguf.h — reading and writing GGUF files (the model format of llama.cpp and Ollama).
 *
 * On-disk layout (all integers little-endian; GGUF v2 and v3 use 64-bit counts/lengths,
 * v1 used 32-bit ones and is refused):
 *
 *   "GGUF" magic (4 bytes) | u32 version | u64 tensor_count | u64 kv_count
 *   kv_count × { string key | u32 value_type | value }
 *   tensor_count × { string name | u32 n_dims | n_dims × u64 ne | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32)
 *   data section: each tensor at data_start + offset (offset a multiple of the alignment)
 *
 *   string = u64 length | bytes (not NUL-terminated; UTF-8 by convention)
 *   value  = u8 | i8 | u16 | i16 | u32 | i32 | f32 | bool(u8) | string
 *          | array { u32 elem_type | u64 count | count × value (arrays may nest) }
 *          | u64 | i64 | f64
 *
 * Split models (llama.cpp's gguf-split: NAME-00001-of-0000N.gguf, ...): each part is a
 * GGUF file of its own with split.no (0-based), split.count and, in the first part,
 * split.tensors.count and all the model's metadata. gguf_open on the first part opens the
 * others from the same directory and lists every part's tensors as its own, so loaders see
 * one model; any other part, a missing one or an inconsistent one is refused by name.
 *
 * The reader maps the file and treats it as hostile: every count, length, dimension and
 * offset is checked against the bytes that remain and against overflow before it is used,
 * and allocation is bounded by the file size, so a 100-byte file can never make it allocate
 * gigabytes. Keys, metadata strings and tensor names are copied NUL-terminated into memory
 * owned by the gguf_file; tensor data stays in the mapping and is used in place.
 */
#ifndef HEARTH_FORMATS_GGUF_H
#define HEARTH_FORMATS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/file.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_PARTS 256 /* parts of a split model (llama.cpp writes up to 99999) */

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_VTYPE_COUNT
};

typedef struct gguf_str {
    const char *s; /* NUL-terminated copy (may also contain NULs: use len) */
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    enum gguf_vtype type;
    union {
        uint64_t u64; /* U8, U16, U32, U64, BOOL (0 or 1) */
        int64_t i64;  /* I8, I16, I32, I64 */
        double f64;   /* F32, F64 */
        gguf_str str;
        struct {
            enum gguf_vtype type; /* element type */
            uint64_t n;
            /* Scalars: `data` points at n packed little-endian elements in the mapping (or
             * the writer's copy). Strings: `strs` holds n strings. Nested arrays: `items`
             * holds n values. Exactly one of the three is used, per `type`. */
            const void *data;
            gguf_str *strs;
            gguf_value *items;
        } arr;
    } v;
};

typedef struct gguf_kv {
    gguf_str key;
    gguf_value val;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length (fastest-varying); unused dims 1 */
    int type;                  /* enum tq_type */
    uint64_t offset;           /* relative to the data section */
    size_t nbytes;
    const void *data;          /* in the mapping */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    file_map map;
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    size_t alignment;
    size_t data_offset; /* start of the data section in the file (the first part's) */
    uint64_t size;      /* bytes of the file, all parts of a split model together */
    uint64_t data_size; /* bytes of the data sections, all parts together */
    int n_parts;        /* 1, or the parts of a split model */
    struct gguf_file **parts; /* parts 2 .. n_parts, whose tensors are listed in tensors */
    /* internal: arena holding the copied strings and value arrays */
    void *arena;
} gguf_file;

/* Open and validate path (and, for the first part of a split model, its other parts). On
 * any problem: HEARTH_ERR_IO/FORMAT/UNSUPPORTED and a one-line message "PATH: what is
 * wrong". Tensors of types hearth cannot compute with (IQ…) are accepted here (so `hearth
 * show` can list them); model loaders refuse them by name. */
hearth_status gguf_open(gguf_file **out, const char *path, hearth_error *err);
/* Parse a GGUF image already in memory (used by the fuzzer); `name` is used in messages.
 * buf must outlive the returned file. */
hearth_status gguf_parse(gguf_file **out, const void *buf, size_t size, const char *name,
                         hearth_error *err);
void gguf_close(gguf_file *f);

/* Split models' file names (gguf-split's PREFIX-NNNNN-of-MMMMM.gguf): the part number of
 * path (from 1, with *count the parts) or 0 when path is not named so; and the name of
 * another part of the same model (false if path is not a part's name or out is short). */
int gguf_split_name(const char *path, int *count);
bool gguf_split_sibling(const char *path, int part, char *out, size_t cap);
/* Make parts[0 .. n) parts 2 .. n + 1 of f, its first part (as gguf_open does with files
 * beside it; for headers fetched one by one): each must say it is that part of n + 1, and
 * their tensors join f's. f owns the parts from the call on, also when it fails. */
hearth_status gguf_attach_parts(gguf_file *f, gguf_file **parts, int n, hearth_error *err);

/* Lookup helpers. gguf_find returns NULL if the key is absent. The typed getters return
 * false if the key is absent or holds an incompatible type (any integer type converts to
 * an integer getter if the value fits). */
const gguf_kv *gguf_find(const gguf_file *f, const char *key);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
const char *gguf_get_str(const gguf_file *f, const char *key); /* NULL if absent/not string */
/* An array value of the given element type (NULL otherwise); n receives its length. */
const gguf_value *gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype elem,
                               uint64_t *n);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);
/* Element i of a scalar array as double / int64 (caller checks i < n). */
double gguf_arr_f64(const gguf_value *arr, uint64_t i);
int64_t gguf_arr_i64(const gguf_value *arr, uint64_t i);
const char *gguf_vtype_name(enum gguf_vtype t);

/* ---- Writer ------------------------------------------------------------------------------
 * Collect metadata and tensors, then write the whole file atomically. Values and tensor
 * data are copied at the call unless noted, so the caller may free its buffers.
 */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
/* Set (or replace) a key. Scalars: */
hearth_status gguf_set_u16(gguf_writer *w, const char *key, uint16_t v);
hearth_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
hearth_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
hearth_status gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
hearth_status gguf_set_f32(gguf_writer *w, const char *key, float v);
hearth_status gguf_set_bool(gguf_writer *w, const char *key, bool v);
hearth_status gguf_set_str(gguf_writer *w, const char *key, const char *v);
/* Arrays of scalars (n packed elements of type elem) and of strings. */
hearth_status gguf_set_arr(gguf_writer *w, const char *key, enum gguf_vtype elem,
                           const void *data, uint64_t n);
hearth_status gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                               uint64_t n);
/* Copy any value (including nested arrays) from a reader, e.g. to carry a tokenizer over. */
hearth_status gguf_set_value(gguf_writer *w, const char *key, const gguf_value *v);
/* Add a tensor; data (nbytes = tq_row_size(type, ne[0]) * rows) is copied, or, with
 * gguf_add_tensor_ref, only referenced until gguf_writer_write returns. */
hearth_status gguf_add_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                              const int64_t *ne, const void *data, size_t nbytes);
hearth_status gguf_add_tensor_ref(gguf_writer *w, const char *name, int type, int n_dims,
                                  const int64_t *ne, const void *data, size_t nbytes);
/* Write version-3 GGUF to path (temp file + fsync + rename). Uses general.alignment if set. */
hearth_status gguf_writer_write(gguf_writer *w, const char *path, hearth_error *err);

#endif
