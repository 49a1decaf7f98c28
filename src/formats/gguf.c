/*
 * gguf.c — GGUF reader and writer (the layout is documented in gguf.h).
 *
 * Reader. The whole file is mapped and parsed in one pass by a cursor that checks every
 * read against the bytes that remain. A count read from the file is first compared with
 * remaining_bytes / smallest_possible_encoding, so memory use stays a small multiple of
 * the file size whatever the counts say. Keys, metadata strings, string arrays and nested
 * arrays are copied into an arena owned by the gguf_file (one free at close); arrays of
 * scalars and tensor data are not copied, they point into the mapping. Keys and tensor
 * names go into open-addressing hash indexes while parsing, which finds duplicates in
 * linear time (a quadratic check would let a hostile file with a million names hang us)
 * and makes gguf_find/gguf_find_tensor O(1).
 *
 * Choices where the format leaves room:
 *   - n_dims must be 1..4 and every dimension >= 1. llama.cpp accepts n_dims 0 and empty
 *     dimensions, but its writer never produces them (it writes at least one dimension),
 *     and a zero-sized weight is never meaningful to a model loader, so we refuse them.
 *   - Tensor data must be aligned, lie inside the file, and not overlap. llama.cpp also
 *     requires the offsets to be exactly contiguous in file order; we do not, so files
 *     from writers that order or pad differently still load.
 *   - Arrays of arrays are read (up to GGUF_MAX_NEST levels), although llama.cpp refuses
 *     them; the Python gguf package can write them.
 *   - Version 1 (32-bit counts) is refused; a version that looks byte-swapped is refused as
 *     a big-endian file.
 *
 * Writer. Keys and tensors are kept in insertion order and written as version 3, the way
 * llama.cpp's writer lays a file out: header, kvs, tensor infos, padding to the alignment,
 * then each tensor followed by padding to the alignment. With no tensors nothing follows
 * the kvs (the tokenizer-only files llama.cpp ships end there too). So copying a
 * llama.cpp-written file key by key and tensor by tensor gives the same bytes back.
 *
 * Integers are little-endian on disk; the code assumes a little-endian host.
 */
#include "formats/gguf.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "tensor/types.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "gguf.c assumes a little-endian host");

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_NEST 8          /* levels of arrays within arrays */
#define ARENA_CHUNK (64 * 1024)
/* Smallest encodings, used to bound counts by the bytes that remain. */
#define MIN_KV_BYTES 14          /* key length 8 + 1 key byte + type 4 + 1-byte value */
#define MIN_TENSOR_INFO_BYTES 32 /* name length 8 + n_dims 4 + one dim 8 + type 4 + offset 8 */
#define MIN_STRING_BYTES 8
#define MIN_ARRAY_BYTES 12       /* element type 4 + count 8 */

static const size_t vtype_size[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4,
    [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8,
    [GGUF_F64] = 8,
};

/* double -> float without the undefined behaviour of converting an out-of-range value. */
static float to_float(double d)
{
    if (d > FLT_MAX)
        return INFINITY;
    if (d < -FLT_MAX)
        return -INFINITY;
    return (float)d;
}

static bool is_scalar(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VTYPE_COUNT && t != GGUF_STRING && t != GGUF_ARRAY;
}

static bool is_unsigned_int(enum gguf_vtype t)
{
    return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64;
}

static bool is_signed_int(enum gguf_vtype t)
{
    return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64;
}

const char *gguf_vtype_name(enum gguf_vtype t)
{
    static const char *const names[GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
        "u64", "i64", "f64",
    };
    return (unsigned)t < GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

/* ---- Tensor shapes (shared by reader and writer) ------------------------------------- */

enum shape_result { SHAPE_OK, SHAPE_BAD, SHAPE_UNKNOWN_TYPE };

/* Check a tensor's dimensions and type and compute its byte size; on failure `why` says
 * what is wrong, with the value. */
static enum shape_result tensor_shape(int type, int n_dims, const int64_t *ne, size_t *nbytes,
                                      char *why, size_t why_cap)
{
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        snprintf(why, why_cap, "has %d dimensions (1 to %d allowed)", n_dims, GGUF_MAX_DIMS);
        return SHAPE_BAD;
    }
    int64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) {
            snprintf(why, why_cap, "has dimension %d of size %" PRId64 " (must be >= 1)", d,
                     ne[d]);
            return SHAPE_BAD;
        }
        if (d > 0) {
            if (rows > INT64_MAX / ne[d]) {
                snprintf(why, why_cap, "has too many rows (dimensions overflow 64 bits)");
                return SHAPE_BAD;
            }
            rows *= ne[d];
        }
    }
    if (rows > INT64_MAX / ne[0]) {
        snprintf(why, why_cap, "has too many elements (dimensions overflow 64 bits)");
        return SHAPE_BAD;
    }
    const tq_traits *tr = tq_traits_of(type);
    if (!tr) {
        snprintf(why, why_cap, "has unknown tensor type id %d", type);
        return SHAPE_UNKNOWN_TYPE;
    }
    if (ne[0] % tr->blck != 0) {
        snprintf(why, why_cap, "has rows of %" PRId64 " values, not a multiple of the %s block "
                 "size %d", ne[0], tr->name, tr->blck);
        return SHAPE_BAD;
    }
    uint64_t blocks = (uint64_t)(ne[0] / tr->blck);
    if (blocks > SIZE_MAX / tr->type_size ||
        (uint64_t)rows > SIZE_MAX / (blocks * tr->type_size)) {
        snprintf(why, why_cap, "is too large (byte size overflows)");
        return SHAPE_BAD;
    }
    *nbytes = (size_t)blocks * tr->type_size * (size_t)rows;
    return SHAPE_OK;
}

/* ---- Arena and name index for the reader ---------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

/* Open addressing: a slot holds index + 1 of its entry, 0 when empty. Entries are gguf_kv
 * or gguf_tensor, both of which start with their gguf_str name. */
struct name_index {
    size_t *slots;
    size_t mask;
};

struct gguf_internal {
    struct chunk *chunks;
    struct name_index kv_index, tensor_index;
    uint64_t hash_seed;
    bool owns_map;
};

static void *arena_alloc(struct gguf_internal *in, size_t n)
{
    if (n == 0 || n > SIZE_MAX / 2)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    struct chunk *c = in->chunks;
    if (c && c->cap - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    /* Large requests get a chunk of their own, linked behind the current one so its
     * free space stays in use. */
    size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
    struct chunk *nc = mem_alloc(sizeof *nc + cap);
    if (!nc)
        return NULL;
    nc->cap = cap;
    nc->used = n;
    if (c && cap != ARENA_CHUNK) {
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        in->chunks = nc;
    }
    return nc->data;
}

static void arena_free(struct gguf_internal *in)
{
    struct chunk *c = in->chunks;
    while (c) {
        struct chunk *next = c->next;
        mem_free(c);
        c = next;
    }
    in->chunks = NULL;
}

/* FNV-1a from a per-file seed, then a finalizer so the low bits (the slot) depend on every
 * byte. The seed varies between runs, so a file cannot be crafted to make all its names
 * collide and the index degrade into a quadratic scan. */
static uint64_t hash_bytes(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static bool index_init(struct name_index *ix, uint64_t count)
{
    size_t cap = 2;
    while (cap < 2 * count)
        cap *= 2;
    ix->slots = mem_calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    return ix->slots != NULL;
}

/* The slot holding name (s, n), or the empty slot where it would go. */
static size_t *index_probe(const struct name_index *ix, uint64_t seed, const void *entries,
                           size_t stride, const char *s, size_t n)
{
    size_t h = (size_t)hash_bytes(seed, s, n) & ix->mask;
    for (;;) {
        size_t v = ix->slots[h];
        if (v == 0)
            return &ix->slots[h];
        const gguf_str *e = (const gguf_str *)((const char *)entries + (v - 1) * stride);
        if (e->len == n && memcmp(e->s, s, n) == 0)
            return &ix->slots[h];
        h = (h + 1) & ix->mask;
    }
}

/* ---- Reader --------------------------------------------------------------------------- */

struct rd {
    const unsigned char *p;
    size_t size, pos;
    gguf_file *f;
    struct gguf_internal *in;
    hearth_error *err;
    char what[128]; /* the item being read, for messages */
};

/* A short printable rendering of a name from the file, for one-line messages. */
static const char *printable(const gguf_str *s, char *buf, size_t cap)
{
    size_t n = 0, max = cap - 4;
    for (uint64_t i = 0; i < s->len && n < max; i++) {
        unsigned char c = (unsigned char)s->s[i];
        buf[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (s->len > n)
        memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

static hearth_status fail(struct rd *r, hearth_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static hearth_status fail(struct rd *r, hearth_status st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(r->err, st, "%s: %s", r->f->path, msg);
}

static hearth_status no_memory(struct rd *r)
{
    return fail(r, HEARTH_ERR_NOMEM, "out of memory reading %s", r->what);
}

static size_t remaining(const struct rd *r)
{
    return r->size - r->pos;
}

static hearth_status need(struct rd *r, uint64_t n)
{
    if (n > remaining(r))
        return fail(r, HEARTH_ERR_FORMAT, "truncated: %s needs %" PRIu64 " bytes at offset %zu, "
                    "file is %zu bytes", r->what, n, r->pos, r->size);
    return HEARTH_OK;
}

static hearth_status rd_u32(struct rd *r, uint32_t *v)
{
    hearth_status st = need(r, 4);
    if (st == HEARTH_OK) {
        memcpy(v, r->p + r->pos, 4);
        r->pos += 4;
    }
    return st;
}

static hearth_status rd_u64(struct rd *r, uint64_t *v)
{
    hearth_status st = need(r, 8);
    if (st == HEARTH_OK) {
        memcpy(v, r->p + r->pos, 8);
        r->pos += 8;
    }
    return st;
}

static hearth_status rd_str(struct rd *r, gguf_str *out)
{
    uint64_t len;
    hearth_status st = rd_u64(r, &len);
    if (st != HEARTH_OK)
        return st;
    if (len > remaining(r))
        return fail(r, HEARTH_ERR_FORMAT, "%s: string length %" PRIu64 " runs past the end of "
                    "the file (%zu bytes left)", r->what, len, remaining(r));
    char *s = arena_alloc(r->in, (size_t)len + 1);
    if (!s)
        return no_memory(r);
    memcpy(s, r->p + r->pos, (size_t)len);
    s[len] = '\0';
    r->pos += (size_t)len;
    out->s = s;
    out->len = len;
    return HEARTH_OK;
}

static hearth_status rd_array(struct rd *r, gguf_value *v, int depth);

/* Read one value of type t (already validated < GGUF_VTYPE_COUNT) into v. */
static hearth_status rd_value(struct rd *r, enum gguf_vtype t, gguf_value *v, int depth)
{
    v->type = t;
    if (t == GGUF_STRING)
        return rd_str(r, &v->v.str);
    if (t == GGUF_ARRAY)
        return rd_array(r, v, depth + 1);
    size_t n = vtype_size[t];
    hearth_status st = need(r, n);
    if (st != HEARTH_OK)
        return st;
    const unsigned char *b = r->p + r->pos;
    r->pos += n;
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } x;
    memcpy(&x, b, n);
    switch (t) {
    case GGUF_U8: v->v.u64 = x.u8; break;
    case GGUF_I8: v->v.i64 = x.i8; break;
    case GGUF_U16: v->v.u64 = x.u16; break;
    case GGUF_I16: v->v.i64 = x.i16; break;
    case GGUF_U32: v->v.u64 = x.u32; break;
    case GGUF_I32: v->v.i64 = x.i32; break;
    case GGUF_F32: v->v.f64 = x.f32; break;
    case GGUF_BOOL: v->v.u64 = x.u8 != 0; break;
    case GGUF_U64: v->v.u64 = x.u64; break;
    case GGUF_I64: v->v.i64 = x.i64; break;
    case GGUF_F64: v->v.f64 = x.f64; break;
    default: break;
    }
    return HEARTH_OK;
}

/* Read an array body (element type, count, elements) into v, which becomes GGUF_ARRAY. */
static hearth_status rd_array(struct rd *r, gguf_value *v, int depth)
{
    v->type = GGUF_ARRAY;
    memset(&v->v.arr, 0, sizeof v->v.arr);
    if (depth > GGUF_MAX_NEST)
        return fail(r, HEARTH_ERR_FORMAT, "%s: arrays nested more than %d deep", r->what,
                    GGUF_MAX_NEST);
    uint32_t et;
    uint64_t n;
    hearth_status st = rd_u32(r, &et);
    if (st != HEARTH_OK)
        return st;
    if (et >= GGUF_VTYPE_COUNT)
        return fail(r, HEARTH_ERR_FORMAT, "%s: array of unknown value type %" PRIu32, r->what,
                    et);
    if ((st = rd_u64(r, &n)) != HEARTH_OK)
        return st;
    enum gguf_vtype elem = (enum gguf_vtype)et;
    size_t min = et == GGUF_STRING ? MIN_STRING_BYTES
               : et == GGUF_ARRAY  ? MIN_ARRAY_BYTES : vtype_size[et];
    if (n > remaining(r) / min)
        return fail(r, HEARTH_ERR_FORMAT, "%s: array of %" PRIu64 " %s values runs past the end "
                    "of the file (%zu bytes left)", r->what, n, gguf_vtype_name(elem),
                    remaining(r));
    v->v.arr.type = elem;
    v->v.arr.n = n;
    if (is_scalar(elem)) {
        v->v.arr.data = r->p + r->pos;
        r->pos += (size_t)n * min;
        return HEARTH_OK;
    }
    if (n == 0)
        return HEARTH_OK;
    size_t item = elem == GGUF_STRING ? sizeof(gguf_str) : sizeof(gguf_value);
    void *items = arena_alloc(r->in, (size_t)n * item); /* n * item: n <= size / 8 */
    if (!items)
        return no_memory(r);
    memset(items, 0, (size_t)n * item);
    if (elem == GGUF_STRING) {
        v->v.arr.strs = items;
        for (uint64_t i = 0; i < n && st == HEARTH_OK; i++)
            st = rd_str(r, &v->v.arr.strs[i]);
    } else {
        v->v.arr.items = items;
        for (uint64_t i = 0; i < n && st == HEARTH_OK; i++)
            st = rd_array(r, &v->v.arr.items[i], depth + 1);
    }
    return st;
}

static hearth_status rd_header(struct rd *r)
{
    gguf_file *f = r->f;
    if (r->size < 4 || memcmp(r->p, GGUF_MAGIC, 4) != 0) {
        if (r->size < 4)
            return fail(r, HEARTH_ERR_FORMAT, "not a GGUF file (only %zu bytes)", r->size);
        char m[5];
        for (int i = 0; i < 4; i++)
            m[i] = (r->p[i] < 0x20 || r->p[i] >= 0x7f) ? '?' : (char)r->p[i];
        m[4] = '\0';
        return fail(r, HEARTH_ERR_FORMAT, "not a GGUF file (starts with '%s', expected 'GGUF')",
                    m);
    }
    r->pos = 4;
    snprintf(r->what, sizeof r->what, "the header");
    uint32_t v;
    hearth_status st = rd_u32(r, &v);
    if (st != HEARTH_OK)
        return st;
    f->version = v;
    if (v == 0)
        return fail(r, HEARTH_ERR_FORMAT, "bad GGUF version 0");
    if ((v & 0xffff) == 0)
        return fail(r, HEARTH_ERR_UNSUPPORTED, "GGUF version 0x%08" PRIx32 " looks byte-swapped: "
                    "big-endian GGUF files are not supported", v);
    if (v == 1)
        return fail(r, HEARTH_ERR_UNSUPPORTED, "GGUF version 1 is not supported (only 2 and 3); "
                    "convert the model again with a current llama.cpp");
    if (v > 3)
        return fail(r, HEARTH_ERR_UNSUPPORTED, "GGUF version %" PRIu32 " is newer than this "
                    "hearth understands (2 and 3)", v);
    if ((st = rd_u64(r, &f->n_tensors)) != HEARTH_OK || (st = rd_u64(r, &f->n_kv)) != HEARTH_OK)
        return st;
    size_t rem = remaining(r);
    if (f->n_kv > rem / MIN_KV_BYTES)
        return fail(r, HEARTH_ERR_FORMAT, "key count %" PRIu64 " cannot fit in a %zu-byte file",
                    f->n_kv, r->size);
    if (f->n_tensors > (rem - f->n_kv * MIN_KV_BYTES) / MIN_TENSOR_INFO_BYTES)
        return fail(r, HEARTH_ERR_FORMAT, "tensor count %" PRIu64 " cannot fit in a %zu-byte "
                    "file", f->n_tensors, r->size);
    return HEARTH_OK;
}

static hearth_status rd_kvs(struct rd *r)
{
    gguf_file *f = r->f;
    f->kv = mem_calloc((size_t)f->n_kv, sizeof *f->kv);
    if (!f->kv || !index_init(&r->in->kv_index, f->n_kv))
        return no_memory(r);
    char name[64];
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        snprintf(r->what, sizeof r->what, "key %" PRIu64, i);
        hearth_status st = rd_str(r, &kv->key);
        if (st != HEARTH_OK)
            return st;
        if (kv->key.len == 0)
            return fail(r, HEARTH_ERR_FORMAT, "key %" PRIu64 " is empty", i);
        size_t *slot = index_probe(&r->in->kv_index, r->in->hash_seed, f->kv, sizeof *f->kv,
                                   kv->key.s, (size_t)kv->key.len);
        if (*slot)
            return fail(r, HEARTH_ERR_FORMAT, "duplicate key '%s'",
                        printable(&kv->key, name, sizeof name));
        *slot = (size_t)i + 1;
        snprintf(r->what, sizeof r->what, "key '%s'", printable(&kv->key, name, sizeof name));
        uint32_t t;
        if ((st = rd_u32(r, &t)) != HEARTH_OK)
            return st;
        if (t >= GGUF_VTYPE_COUNT)
            return fail(r, HEARTH_ERR_FORMAT, "%s has unknown value type %" PRIu32, r->what, t);
        if ((st = rd_value(r, (enum gguf_vtype)t, &kv->val, 0)) != HEARTH_OK)
            return st;
    }
    return HEARTH_OK;
}

static hearth_status rd_alignment(struct rd *r)
{
    gguf_file *f = r->f;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find(f, "general.alignment");
    if (!kv)
        return HEARTH_OK;
    if (kv->val.type != GGUF_U32)
        return fail(r, HEARTH_ERR_FORMAT, "general.alignment has type %s, expected u32",
                    gguf_vtype_name(kv->val.type));
    uint64_t a = kv->val.v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(r, HEARTH_ERR_FORMAT, "general.alignment %" PRIu64 " is not a power of two",
                    a);
    f->alignment = (size_t)a;
    return HEARTH_OK;
}

static hearth_status rd_tensor_info(struct rd *r, uint64_t i)
{
    gguf_file *f = r->f;
    gguf_tensor *t = &f->tensors[i];
    char name[64], why[160];
    snprintf(r->what, sizeof r->what, "tensor %" PRIu64, i);
    hearth_status st = rd_str(r, &t->name);
    if (st != HEARTH_OK)
        return st;
    printable(&t->name, name, sizeof name);
    size_t *slot = index_probe(&r->in->tensor_index, r->in->hash_seed, f->tensors,
                               sizeof *f->tensors, t->name.s, (size_t)t->name.len);
    if (*slot)
        return fail(r, HEARTH_ERR_FORMAT, "duplicate tensor name '%s'", name);
    *slot = (size_t)i + 1;
    snprintf(r->what, sizeof r->what, "tensor '%s'", name);
    uint32_t n_dims, type;
    if ((st = rd_u32(r, &n_dims)) != HEARTH_OK)
        return st;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(r, HEARTH_ERR_FORMAT, "tensor '%s' has %" PRIu32 " dimensions (1 to %d "
                    "allowed)", name, n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((unsigned)d < n_dims && (st = rd_u64(r, &ne)) != HEARTH_OK)
            return st;
        t->ne[d] = (int64_t)ne;
    }
    if ((st = rd_u32(r, &type)) != HEARTH_OK)
        return st;
    t->type = (int)type;
    enum shape_result sr = type > INT32_MAX
        ? (snprintf(why, sizeof why, "has unknown tensor type id %" PRIu32, type),
           SHAPE_UNKNOWN_TYPE)
        : tensor_shape(t->type, t->n_dims, t->ne, &t->nbytes, why, sizeof why);
    if (sr != SHAPE_OK)
        return fail(r, sr == SHAPE_UNKNOWN_TYPE ? HEARTH_ERR_UNSUPPORTED : HEARTH_ERR_FORMAT,
                    "tensor '%s' %s", name, why);
    if ((st = rd_u64(r, &t->offset)) != HEARTH_OK)
        return st;
    if (t->offset % f->alignment != 0)
        return fail(r, HEARTH_ERR_FORMAT, "tensor '%s' has offset %" PRIu64 ", not a multiple of "
                    "the alignment %zu", name, t->offset, f->alignment);
    return HEARTH_OK;
}

static int by_offset(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensors must not share bytes. Files list them in offset order almost always, so the
 * sort (and its allocation) happens only for the others. */
static hearth_status check_overlap(struct rd *r)
{
    gguf_file *f = r->f;
    bool sorted = true;
    for (uint64_t i = 1; i < f->n_tensors && sorted; i++)
        sorted = f->tensors[i].offset >= f->tensors[i - 1].offset;
    const gguf_tensor **order = NULL;
    if (!sorted) {
        order = mem_calloc((size_t)f->n_tensors, sizeof *order);
        if (!order)
            return no_memory(r);
        for (uint64_t i = 0; i < f->n_tensors; i++)
            order[i] = &f->tensors[i];
        qsort(order, (size_t)f->n_tensors, sizeof *order, by_offset);
    }
    hearth_status st = HEARTH_OK;
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *a = order ? order[i - 1] : &f->tensors[i - 1];
        const gguf_tensor *b = order ? order[i] : &f->tensors[i];
        if (b->offset - a->offset < a->nbytes) {
            char na[64], nb[64];
            st = fail(r, HEARTH_ERR_FORMAT, "tensors '%s' and '%s' overlap (offsets %" PRIu64
                      " and %" PRIu64 ")", printable(&a->name, na, sizeof na),
                      printable(&b->name, nb, sizeof nb), a->offset, b->offset);
            break;
        }
    }
    mem_free(order);
    return st;
}

static hearth_status rd_tensors(struct rd *r)
{
    gguf_file *f = r->f;
    snprintf(r->what, sizeof r->what, "the tensor infos");
    f->tensors = mem_calloc((size_t)f->n_tensors, sizeof *f->tensors);
    if (!f->tensors || !index_init(&r->in->tensor_index, f->n_tensors))
        return no_memory(r);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        hearth_status st = rd_tensor_info(r, i);
        if (st != HEARTH_OK)
            return st;
    }
    f->data_offset = r->pos;
    if (f->n_tensors == 0)
        return HEARTH_OK;
    size_t start = (r->pos + f->alignment - 1) & ~(f->alignment - 1);
    if (start > r->size)
        return fail(r, HEARTH_ERR_FORMAT, "truncated: the data section would start at offset "
                    "%zu, file is %zu bytes", start, r->size);
    f->data_offset = start;
    size_t avail = r->size - start;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            char name[64];
            return fail(r, HEARTH_ERR_FORMAT, "tensor '%s' (%zu bytes at data offset %" PRIu64
                        ") runs past the end of the file (data section is %zu bytes)",
                        printable(&t->name, name, sizeof name), t->nbytes, t->offset, avail);
        }
        t->data = r->p + start + t->offset;
    }
    return check_overlap(r);
}

static hearth_status parse(gguf_file *f, hearth_error *err)
{
    struct rd r = { .p = f->map.data, .size = f->map.size, .f = f, .in = f->arena, .err = err };
    hearth_status st = rd_header(&r);
    if (st == HEARTH_OK)
        st = rd_kvs(&r);
    if (st == HEARTH_OK)
        st = rd_alignment(&r);
    if (st == HEARTH_OK)
        st = rd_tensors(&r);
    f->size = f->map.size;
    f->data_size = f->n_tensors ? f->map.size - f->data_offset : 0;
    f->n_parts = 1;
    return st;
}

/* A gguf_file with its path copied and the internal state allocated, nothing read yet. */
static hearth_status file_new(gguf_file **out, const char *name, hearth_error *err)
{
    gguf_file *f = mem_calloc(1, sizeof *f);
    struct gguf_internal *in = mem_calloc(1, sizeof *in);
    char *path = mem_strdup(name);
    if (!f || !in || !path) {
        mem_free(f);
        mem_free(in);
        mem_free(path);
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", name);
    }
    f->path = path;
    f->arena = in;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    in->hash_seed = ((uint64_t)(uintptr_t)in * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ts.tv_nsec ^
                    ((uint64_t)ts.tv_sec << 32);
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = f;
    return HEARTH_OK;
}

static hearth_status open_one(gguf_file **out, const char *path, hearth_error *err)
{
    *out = NULL;
    gguf_file *f;
    hearth_status st = file_new(&f, path, err);
    if (st != HEARTH_OK)
        return st;
    st = file_map_open(&f->map, path, err);
    if (st == HEARTH_OK) {
        ((struct gguf_internal *)f->arena)->owns_map = true;
        st = parse(f, err);
    }
    if (st != HEARTH_OK) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return HEARTH_OK;
}

/* ---- Split models ------------------------------------------------------------------------
 * A part names its place with split.no (from 0) and split.count; llama.cpp writes them as
 * u16 and the first part's split.tensors.count as i32, but any integer type is taken. The
 * parts' file names follow gguf-split's PREFIX-%05d-of-%05d.gguf (numbers from 1). */

/* split.no and split.count of f: count 0 when f is not a part of a split model. */
static hearth_status split_place(const gguf_file *f, uint32_t *no, uint32_t *count,
                                 hearth_error *err)
{
    *no = *count = 0;
    if (!gguf_find(f, "split.count"))
        return HEARTH_OK;
    if (!gguf_get_u32(f, "split.count", count) || *count < 1 || *count > GGUF_MAX_PARTS)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: split.count must be a number from 1 to %d",
                       f->path, GGUF_MAX_PARTS);
    if (!gguf_get_u32(f, "split.no", no) || *no >= *count)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: split.no must be a number below split.count "
                       "(%" PRIu32 ")", f->path, *count);
    return HEARTH_OK;
}

int gguf_split_name(const char *path, int *count)
{
    const size_t tail = sizeof "-NNNNN-of-MMMMM.gguf" - 1, len = strlen(path);
    if (len <= tail)
        return 0;
    const char *t = path + len - tail;
    if (t[0] != '-' || memcmp(t + 6, "-of-", 4) != 0 || strcmp(t + 15, ".gguf") != 0)
        return 0;
    int no = 0, n = 0;
    for (int i = 0; i < 5; i++) {
        if (t[1 + i] < '0' || t[1 + i] > '9' || t[10 + i] < '0' || t[10 + i] > '9')
            return 0;
        no = 10 * no + (t[1 + i] - '0');
        n = 10 * n + (t[10 + i] - '0');
    }
    if (no < 1 || no > n)
        return 0;
    *count = n;
    return no;
}

bool gguf_split_sibling(const char *path, int part, char *out, size_t cap)
{
    int count;
    if (!gguf_split_name(path, &count) || part < 1 || part > count)
        return false;
    const size_t plen = strlen(path) - (sizeof "-NNNNN-of-MMMMM.gguf" - 1);
    int n = snprintf(out, cap, "%.*s-%05d-of-%05d.gguf", (int)plen, path, part, count);
    return n > 0 && (size_t)n < cap;
}

hearth_status gguf_attach_parts(gguf_file *f, gguf_file **parts, int n, hearth_error *err)
{
    f->parts = mem_calloc((size_t)n, sizeof *f->parts);
    if (!f->parts) {
        for (int i = 0; i < n; i++)
            gguf_close(parts[i]);
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", f->path);
    }
    memcpy(f->parts, parts, (size_t)n * sizeof *parts);
    f->n_parts = n + 1;
    uint64_t total = f->n_tensors;
    for (int i = 0; i < n; i++) {
        const gguf_file *part = parts[i];
        uint32_t no, count;
        hearth_status st = split_place(part, &no, &count, err);
        if (st != HEARTH_OK)
            return st;
        if (count != (uint32_t)n + 1 || no != (uint32_t)i + 1)
            return err_set(err, HEARTH_ERR_FORMAT, "%s: says it is part %" PRIu32 " of %" PRIu32
                           ", expected part %d of %d", part->path, no + 1, count, i + 2, n + 1);
        total += part->n_tensors;
        f->size += part->size;
        f->data_size += part->data_size;
    }
    uint64_t want;
    if (gguf_get_u64(f, "split.tensors.count", &want) && want != total)
        return err_set(err, HEARTH_ERR_FORMAT, "%s: split.tensors.count is %" PRIu64 " but the "
                       "%d parts hold %" PRIu64 " tensors", f->path, want, n + 1, total);
    /* one list and one index over all parts (names stay in each part's arena) */
    struct gguf_internal *in = f->arena;
    gguf_tensor *all = mem_calloc((size_t)total, sizeof *all);
    struct name_index ix;
    if (!all || !index_init(&ix, total)) {
        mem_free(all);
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", f->path);
    }
    mem_free(in->tensor_index.slots);
    in->tensor_index = ix;
    memcpy(all, f->tensors, (size_t)f->n_tensors * sizeof *all);
    mem_free(f->tensors);
    f->tensors = all;
    for (int i = 0; i < n; i++) {
        memcpy(all + f->n_tensors, parts[i]->tensors, (size_t)parts[i]->n_tensors * sizeof *all);
        f->n_tensors += parts[i]->n_tensors;
    }
    for (uint64_t i = 0; i < total; i++) {
        size_t *slot = index_probe(&in->tensor_index, in->hash_seed, all, sizeof *all,
                                   all[i].name.s, (size_t)all[i].name.len);
        if (*slot) {
            char name[64];
            return err_set(err, HEARTH_ERR_FORMAT, "%s: tensor '%s' is in two of its parts",
                           f->path, printable(&all[i].name, name, sizeof name));
        }
        *slot = (size_t)i + 1;
    }
    return HEARTH_OK;
}

/* Open parts 2 .. count of f (the first part, named as gguf-split names it) beside it. */
static hearth_status open_parts(gguf_file *f, uint32_t count, hearth_error *err)
{
    const size_t cap = strlen(f->path) + 1;
    gguf_file **parts = mem_calloc(count - 1, sizeof *parts);
    char *path = mem_alloc(cap);
    hearth_status st = parts && path ? HEARTH_OK
                                     : err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", f->path);
    uint32_t opened = 0;
    for (uint32_t i = 1; i < count && st == HEARTH_OK; i++, opened++) {
        gguf_split_sibling(f->path, (int)i + 1, path, cap);
        st = access(path, F_OK) != 0
            ? err_set(err, HEARTH_ERR_IO, "%s: part %" PRIu32 " of this %" PRIu32 "-part model is "
                      "missing: %s (all parts belong in one directory)", f->path, i + 1, count,
                      path)
            : open_one(&parts[i - 1], path, err);
    }
    if (st == HEARTH_OK)
        st = gguf_attach_parts(f, parts, (int)count - 1, err);
    else
        for (uint32_t i = 0; parts && i < opened; i++)
            gguf_close(parts[i]);
    mem_free(parts);
    mem_free(path);
    return st;
}

hearth_status gguf_open(gguf_file **out, const char *path, hearth_error *err)
{
    gguf_file *f;
    hearth_status st = open_one(&f, path, err);
    if (st != HEARTH_OK)
        return st;
    uint32_t no, count;
    if ((st = split_place(f, &no, &count, err)) == HEARTH_OK && count > 1) {
        int named_count = 0;
        const bool named = gguf_split_name(path, &named_count) == (int)no + 1 &&
                           named_count == (int)count;
        char first[PATH_MAX];
        if (no != 0 && named && gguf_split_sibling(path, 1, first, sizeof first))
            st = err_set(err, HEARTH_ERR_INVALID, "%s is part %" PRIu32 " of a %" PRIu32 "-part "
                         "model: open the first part, %s", path, no + 1, count, first);
        else if (no != 0)
            st = err_set(err, HEARTH_ERR_INVALID, "%s is part %" PRIu32 " of a %" PRIu32 "-part "
                         "model: open the first part", path, no + 1, count);
        else if (!named)
            st = err_set(err, HEARTH_ERR_INVALID, "%s is the first part of a %" PRIu32 "-part "
                         "model, but not named NAME-00001-of-%05" PRIu32 ".gguf, so its other "
                         "parts cannot be found", path, count, count);
        else
            st = open_parts(f, count, err);
    }
    if (st != HEARTH_OK) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return HEARTH_OK;
}

hearth_status gguf_parse(gguf_file **out, const void *buf, size_t size, const char *name,
                         hearth_error *err)
{
    *out = NULL;
    gguf_file *f;
    hearth_status st = file_new(&f, name, err);
    if (st != HEARTH_OK)
        return st;
    f->map.data = buf;
    f->map.size = size;
    if ((st = parse(f, err)) != HEARTH_OK) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return HEARTH_OK;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (int p = 0; p < f->n_parts - 1; p++)
        gguf_close(f->parts[p]);
    mem_free(f->parts);
    struct gguf_internal *in = f->arena;
    if (in->owns_map)
        file_map_close(&f->map);
    arena_free(in);
    mem_free(in->kv_index.slots);
    mem_free(in->tensor_index.slots);
    mem_free(in);
    mem_free(f->kv);
    mem_free(f->tensors);
    mem_free(f->path);
    mem_free(f);
}

hearth_status hearth_gguf_open(hearth_gguf **out, const char *path, hearth_error *err)
{
    return gguf_open(out, path, err);
}

void hearth_gguf_free(hearth_gguf *f)
{
    gguf_close(f);
}

/* ---- Lookups -------------------------------------------------------------------------- */

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    const struct gguf_internal *in = f->arena;
    if (!in->kv_index.slots)
        return NULL;
    size_t v = *index_probe(&in->kv_index, in->hash_seed, f->kv, sizeof *f->kv, key,
                            strlen(key));
    return v ? &f->kv[v - 1] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    const struct gguf_internal *in = f->arena;
    if (!in->tensor_index.slots)
        return NULL;
    size_t v = *index_probe(&in->tensor_index, in->hash_seed, f->tensors, sizeof *f->tensors,
                            name, strlen(name));
    return v ? &f->tensors[v - 1] : NULL;
}

bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return false;
    if (is_unsigned_int(kv->val.type)) {
        *out = kv->val.v.u64;
        return true;
    }
    if (is_signed_int(kv->val.type) && kv->val.v.i64 >= 0) {
        *out = (uint64_t)kv->val.v.i64;
        return true;
    }
    return false;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    uint64_t v;
    if (!gguf_get_u64(f, key, &v) || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return false;
    if (is_signed_int(kv->val.type)) {
        *out = kv->val.v.i64;
        return true;
    }
    if (is_unsigned_int(kv->val.type) && kv->val.v.u64 <= INT64_MAX) {
        *out = (int64_t)kv->val.v.u64;
        return true;
    }
    return false;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || (kv->val.type != GGUF_F32 && kv->val.type != GGUF_F64))
        return false;
    *out = to_float(kv->val.v.f64);
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->val.type != GGUF_BOOL)
        return false;
    *out = kv->val.v.u64 != 0;
    return true;
}

const char *gguf_get_str(const gguf_file *f, const char *key)
{
    const gguf_kv *kv = gguf_find(f, key);
    return kv && kv->val.type == GGUF_STRING ? kv->val.v.str.s : NULL;
}

const gguf_value *gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype elem,
                               uint64_t *n)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->val.type != GGUF_ARRAY || kv->val.v.arr.type != elem)
        return NULL;
    if (n)
        *n = kv->val.v.arr.n;
    return &kv->val;
}

/* Element i of a scalar array, as its own type widened: *u for unsigned types and bool,
 * *s for signed ones, *d for floats. Returns which one was filled (0 u, 1 s, 2 d, -1 none). */
static int arr_elem(const gguf_value *arr, uint64_t i, uint64_t *u, int64_t *s, double *d)
{
    enum gguf_vtype t = arr->v.arr.type;
    if (arr->type != GGUF_ARRAY || !is_scalar(t) || i >= arr->v.arr.n)
        return -1;
    const unsigned char *p = (const unsigned char *)arr->v.arr.data + i * vtype_size[t];
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } x;
    memcpy(&x, p, vtype_size[t]);
    switch (t) {
    case GGUF_U8: *u = x.u8; return 0;
    case GGUF_BOOL: *u = x.u8 != 0; return 0;
    case GGUF_U16: *u = x.u16; return 0;
    case GGUF_U32: *u = x.u32; return 0;
    case GGUF_U64: *u = x.u64; return 0;
    case GGUF_I8: *s = x.i8; return 1;
    case GGUF_I16: *s = x.i16; return 1;
    case GGUF_I32: *s = x.i32; return 1;
    case GGUF_I64: *s = x.i64; return 1;
    case GGUF_F32: *d = x.f32; return 2;
    case GGUF_F64: *d = x.f64; return 2;
    default: return -1;
    }
}

double gguf_arr_f64(const gguf_value *arr, uint64_t i)
{
    uint64_t u = 0;
    int64_t s = 0;
    double d = 0;
    switch (arr_elem(arr, i, &u, &s, &d)) {
    case 0: return (double)u;
    case 1: return (double)s;
    case 2: return d;
    default: return 0;
    }
}

int64_t gguf_arr_i64(const gguf_value *arr, uint64_t i)
{
    uint64_t u = 0;
    int64_t s = 0;
    double d = 0;
    switch (arr_elem(arr, i, &u, &s, &d)) {
    case 0: return u > INT64_MAX ? INT64_MAX : (int64_t)u;
    case 1: return s;
    case 2: /* clamp: converting an out-of-range double is undefined */
        if (!(d > -9.2e18))
            return d != d ? 0 : INT64_MIN;
        return d < 9.2e18 ? (int64_t)d : INT64_MAX;
    default: return 0;
    }
}

/* ---- Writer --------------------------------------------------------------------------- */

struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    void *owned; /* data's copy, or NULL for a reference */
    size_t nbytes;
};

struct gguf_writer {
    gguf_kv *kv; /* keys, values and everything they point to are owned */
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
};

static void value_free(gguf_value *v)
{
    if (v->type == GGUF_STRING) {
        mem_free((void *)v->v.str.s);
    } else if (v->type == GGUF_ARRAY) {
        mem_free((void *)v->v.arr.data);
        if (v->v.arr.strs)
            for (uint64_t i = 0; i < v->v.arr.n; i++)
                mem_free((void *)v->v.arr.strs[i].s);
        mem_free(v->v.arr.strs);
        if (v->v.arr.items)
            for (uint64_t i = 0; i < v->v.arr.n; i++)
                value_free(&v->v.arr.items[i]);
        mem_free(v->v.arr.items);
    }
    memset(v, 0, sizeof *v);
}

static hearth_status str_copy(gguf_str *dst, const gguf_str *src)
{
    if (src->len >= SIZE_MAX)
        return HEARTH_ERR_NOMEM;
    dst->s = mem_strndup(src->s ? src->s : "", (size_t)src->len);
    dst->len = src->len;
    return dst->s ? HEARTH_OK : HEARTH_ERR_NOMEM;
}

/* Deep copy of src into dst (which is left zeroed on failure). */
static hearth_status value_copy(gguf_value *dst, const gguf_value *src, int depth)
{
    memset(dst, 0, sizeof *dst);
    if ((unsigned)src->type >= GGUF_VTYPE_COUNT)
        return HEARTH_ERR_INVALID;
    if (src->type == GGUF_STRING) {
        dst->type = GGUF_STRING;
        return str_copy(&dst->v.str, &src->v.str);
    }
    if (src->type != GGUF_ARRAY) {
        *dst = *src;
        return HEARTH_OK;
    }
    enum gguf_vtype et = src->v.arr.type;
    uint64_t n = src->v.arr.n;
    if (depth >= GGUF_MAX_NEST || (unsigned)et >= GGUF_VTYPE_COUNT)
        return HEARTH_ERR_INVALID;
    dst->type = GGUF_ARRAY;
    dst->v.arr.type = et;
    dst->v.arr.n = n;
    hearth_status st = HEARTH_OK;
    if (is_scalar(et)) {
        if (n > SIZE_MAX / vtype_size[et])
            return HEARTH_ERR_NOMEM;
        void *data = mem_alloc((size_t)n * vtype_size[et]);
        if (!data)
            st = HEARTH_ERR_NOMEM;
        else if (n)
            memcpy(data, src->v.arr.data, (size_t)n * vtype_size[et]);
        dst->v.arr.data = data;
    } else if (n > 0 && et == GGUF_STRING) {
        dst->v.arr.strs = mem_calloc((size_t)n, sizeof(gguf_str));
        st = dst->v.arr.strs ? HEARTH_OK : HEARTH_ERR_NOMEM;
        for (uint64_t i = 0; i < n && st == HEARTH_OK; i++)
            st = str_copy(&dst->v.arr.strs[i], &src->v.arr.strs[i]);
    } else if (n > 0) {
        dst->v.arr.items = mem_calloc((size_t)n, sizeof(gguf_value));
        st = dst->v.arr.items ? HEARTH_OK : HEARTH_ERR_NOMEM;
        for (uint64_t i = 0; i < n && st == HEARTH_OK; i++) {
            if (src->v.arr.items[i].type != GGUF_ARRAY)
                st = HEARTH_ERR_INVALID;
            else
                st = value_copy(&dst->v.arr.items[i], &src->v.arr.items[i], depth + 1);
        }
    }
    if (st != HEARTH_OK)
        value_free(dst);
    return st;
}

gguf_writer *gguf_writer_new(void)
{
    return mem_calloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        mem_free((void *)w->kv[i].key.s);
        value_free(&w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        mem_free(w->t[i].name);
        mem_free(w->t[i].owned);
    }
    mem_free(w->kv);
    mem_free(w->t);
    mem_free(w);
}

/* Store val (whose memory the writer takes over, also on failure) under key. */
static hearth_status set_kv(gguf_writer *w, const char *key, gguf_value *val)
{
    if (!key[0]) {
        value_free(val);
        return HEARTH_ERR_INVALID;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key.s, key) == 0) {
            value_free(&w->kv[i].val);
            w->kv[i].val = *val;
            return HEARTH_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        gguf_kv *kv = mem_realloc_array(w->kv, cap, sizeof *kv);
        if (!kv) {
            value_free(val);
            return HEARTH_ERR_NOMEM;
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = mem_strdup(key);
    if (!k) {
        value_free(val);
        return HEARTH_ERR_NOMEM;
    }
    w->kv[w->n_kv].key.s = k;
    w->kv[w->n_kv].key.len = strlen(key);
    w->kv[w->n_kv].val = *val;
    w->n_kv++;
    return HEARTH_OK;
}

static hearth_status set_scalar(gguf_writer *w, const char *key, gguf_value v)
{
    return set_kv(w, key, &v);
}

hearth_status gguf_set_u16(gguf_writer *w, const char *key, uint16_t v)
{
    return set_scalar(w, key, (gguf_value){ .type = GGUF_U16, .v.u64 = v });
}

hearth_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v)
{
    return set_scalar(w, key, (gguf_value){ .type = GGUF_U32, .v.u64 = v });
}

hearth_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v)
{
    return set_scalar(w, key, (gguf_value){ .type = GGUF_I32, .v.i64 = v });
}

hearth_status gguf_set_u64(gguf_writer *w, const char *key, uint64_t v)
{
    return set_scalar(w, key, (gguf_value){ .type = GGUF_U64, .v.u64 = v });
}

hearth_status gguf_set_f32(gguf_writer *w, const char *key, float v)
{
    return set_scalar(w, key, (gguf_value){ .type = GGUF_F32, .v.f64 = v });
}

hearth_status gguf_set_bool(gguf_writer *w, const char *key, bool v)
{
    return set_scalar(w, key, (gguf_value){ .type = GGUF_BOOL, .v.u64 = v });
}

hearth_status gguf_set_str(gguf_writer *w, const char *key, const char *v)
{
    gguf_value src = { .type = GGUF_STRING, .v.str = { v, strlen(v) } };
    return gguf_set_value(w, key, &src);
}

hearth_status gguf_set_arr(gguf_writer *w, const char *key, enum gguf_vtype elem,
                           const void *data, uint64_t n)
{
    if (!is_scalar(elem))
        return HEARTH_ERR_INVALID;
    gguf_value src = { .type = GGUF_ARRAY, .v.arr = { .type = elem, .n = n, .data = data } };
    return gguf_set_value(w, key, &src);
}

hearth_status gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                               uint64_t n)
{
    if (n > SIZE_MAX / sizeof(gguf_str))
        return HEARTH_ERR_NOMEM;
    gguf_value v = { .type = GGUF_ARRAY, .v.arr = { .type = GGUF_STRING, .n = n } };
    if (n > 0 && !(v.v.arr.strs = mem_calloc((size_t)n, sizeof(gguf_str))))
        return HEARTH_ERR_NOMEM;
    for (uint64_t i = 0; i < n; i++) {
        v.v.arr.strs[i].len = strlen(strs[i]);
        if (!(v.v.arr.strs[i].s = mem_strdup(strs[i]))) {
            value_free(&v);
            return HEARTH_ERR_NOMEM;
        }
    }
    return set_kv(w, key, &v);
}

hearth_status gguf_set_value(gguf_writer *w, const char *key, const gguf_value *v)
{
    gguf_value copy;
    hearth_status st = value_copy(&copy, v, 0);
    return st == HEARTH_OK ? set_kv(w, key, &copy) : st;
}

static hearth_status add_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                                const int64_t *ne, const void *data, size_t nbytes, bool copy)
{
    char why[160];
    size_t expect = 0;
    if (!name[0] || !data || tensor_shape(type, n_dims, ne, &expect, why, sizeof why) != SHAPE_OK
        || expect != nbytes)
        return HEARTH_ERR_INVALID;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return HEARTH_ERR_INVALID;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        struct wtensor *t = mem_realloc_array(w->t, cap, sizeof *t);
        if (!t)
            return HEARTH_ERR_NOMEM;
        w->t = t;
        w->cap_t = cap;
    }
    struct wtensor t = { .name = mem_strdup(name), .type = type, .n_dims = n_dims,
                         .data = data, .nbytes = nbytes };
    if (copy && t.name && (t.owned = mem_alloc(nbytes)) != NULL) {
        memcpy(t.owned, data, nbytes);
        t.data = t.owned;
    }
    if (!t.name || (copy && !t.owned)) {
        mem_free(t.name);
        return HEARTH_ERR_NOMEM;
    }
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t.ne[d] = d < n_dims ? ne[d] : 1;
    w->t[w->n_t++] = t;
    return HEARTH_OK;
}

hearth_status gguf_add_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                              const int64_t *ne, const void *data, size_t nbytes)
{
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, true);
}

hearth_status gguf_add_tensor_ref(gguf_writer *w, const char *name, int type, int n_dims,
                                  const int64_t *ne, const void *data, size_t nbytes)
{
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, false);
}

/* Output through the atomic file's stdio buffer; errors surface in ferror at commit. */
struct wout {
    FILE *fp;
    uint64_t pos;
};

static void put(struct wout *o, const void *p, size_t n)
{
    if (n)
        fwrite(p, 1, n, o->fp);
    o->pos += n;
}

static void put_u32(struct wout *o, uint32_t v)
{
    put(o, &v, 4);
}

static void put_u64(struct wout *o, uint64_t v)
{
    put(o, &v, 8);
}

static void put_str(struct wout *o, const gguf_str *s)
{
    put_u64(o, s->len);
    put(o, s->s, (size_t)s->len);
}

static void put_pad(struct wout *o, size_t alignment)
{
    static const unsigned char zeros[64];
    size_t pad = (size_t)((alignment - o->pos % alignment) % alignment);
    while (pad > 0) {
        size_t n = pad < sizeof zeros ? pad : sizeof zeros;
        put(o, zeros, n);
        pad -= n;
    }
}

static void put_array(struct wout *o, const gguf_value *v)
{
    enum gguf_vtype et = v->v.arr.type;
    uint64_t n = v->v.arr.n;
    put_u32(o, (uint32_t)et);
    put_u64(o, n);
    if (is_scalar(et))
        put(o, v->v.arr.data, (size_t)n * vtype_size[et]);
    else if (et == GGUF_STRING)
        for (uint64_t i = 0; i < n; i++)
            put_str(o, &v->v.arr.strs[i]);
    else
        for (uint64_t i = 0; i < n; i++)
            put_array(o, &v->v.arr.items[i]);
}

static void put_value(struct wout *o, const gguf_value *v)
{
    if (v->type == GGUF_STRING) {
        put_str(o, &v->v.str);
    } else if (v->type == GGUF_ARRAY) {
        put_array(o, v);
    } else if (v->type == GGUF_F32) {
        float x = to_float(v->v.f64);
        put(o, &x, 4);
    } else if (v->type == GGUF_F64) {
        put(o, &v->v.f64, 8);
    } else {
        /* Integers and bool: the low bytes of the 64-bit value are the little-endian
         * encoding of the narrower type, signed or not. */
        uint64_t x = v->type == GGUF_BOOL ? v->v.u64 != 0 : v->v.u64;
        put(o, &x, vtype_size[v->type]);
    }
}

static hearth_status writer_alignment(const gguf_writer *w, const char *path, size_t *out,
                                      hearth_error *err)
{
    *out = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key.s, "general.alignment") != 0)
            continue;
        const gguf_value *v = &w->kv[i].val;
        if (v->type != GGUF_U32 || v->v.u64 == 0 || (v->v.u64 & (v->v.u64 - 1)) != 0)
            return err_set(err, HEARTH_ERR_INVALID, "%s: general.alignment must be a u32 power "
                           "of two", path);
        *out = (size_t)v->v.u64;
    }
    return HEARTH_OK;
}

hearth_status gguf_writer_write(gguf_writer *w, const char *path, hearth_error *err)
{
    size_t alignment;
    hearth_status st = writer_alignment(w, path, &alignment, err);
    if (st != HEARTH_OK)
        return st;
    file_atomic a;
    if ((st = file_atomic_open(&a, path, err)) != HEARTH_OK)
        return st;
    struct wout o = { .fp = a.fp };
    put(&o, GGUF_MAGIC, 4);
    put_u32(&o, 3);
    put_u64(&o, w->n_t);
    put_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&o, &w->kv[i].key);
        put_u32(&o, (uint32_t)w->kv[i].val.type);
        put_value(&o, &w->kv[i].val);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        gguf_str name = { t->name, strlen(t->name) };
        put_str(&o, &name);
        put_u32(&o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            put_u64(&o, (uint64_t)t->ne[d]);
        put_u32(&o, (uint32_t)t->type);
        put_u64(&o, offset);
        offset += (t->nbytes + alignment - 1) / alignment * alignment;
    }
    if (w->n_t > 0)
        put_pad(&o, alignment);
    for (size_t i = 0; i < w->n_t; i++) {
        put(&o, w->t[i].data, w->t[i].nbytes);
        put_pad(&o, alignment);
    }
    return file_atomic_commit(&a, err);
}
