/*
 * mkmodel — write a synthetic decoder model (random weights, a real tokenizer) as GGUF.
 *
 *   mkmodel --arch llama|qwen2|qwen3 --vocab VOCAB.gguf -o OUT.gguf [--layers 2] [--embd 64]
 *           [--heads 4] [--kv-heads 2] [--head-dim D] [--ffn 256] [--ctx 256] [--type F16]
 *           [--seed 1] [--tied] [--rope-base B] [--std 0.02] [--eps 1e-5] [--license ID]
 *           [--name NAME] [--threads N]
 *
 * Tests and benchmarks need models of shapes the fixtures in ../shared/testdata do not
 * cover (a Llama-3.2-1B shape, head_dim 128, GQA 8, every weight type). The file follows
 * llama.cpp's conventions for the architecture, so llama.cpp could load it too:
 *
 *   token_embd.weight          [embd, vocab]
 *   blk.N.attn_norm.weight     [embd]                    F32, near 1
 *   blk.N.attn_q.weight        [embd, heads*head_dim]     (+ attn_q.bias for qwen2)
 *   blk.N.attn_k.weight        [embd, kv_heads*head_dim]  (+ attn_k.bias for qwen2)
 *   blk.N.attn_v.weight        [embd, kv_heads*head_dim]  (+ attn_v.bias for qwen2)
 *   blk.N.attn_q_norm.weight   [head_dim]                 qwen3 only, F32
 *   blk.N.attn_k_norm.weight   [head_dim]                 qwen3 only, F32
 *   blk.N.attn_output.weight   [heads*head_dim, embd]
 *   blk.N.ffn_norm.weight      [embd]                    F32
 *   blk.N.ffn_gate.weight, blk.N.ffn_up.weight [embd, ffn]; blk.N.ffn_down.weight [ffn, embd]
 *   output_norm.weight         [embd]                    F32
 *   output.weight              [embd, vocab]             absent with --tied
 *
 * Matrices get the requested type, with llama-quantize's exceptions so that a synthetic
 * file has the same mix of types as a real one of that preset: the output matrix (or the
 * embedding table when --tied makes it the output) is Q6_K for every quantized type but
 * Q8_0; Q4_K_M is Q4_K with Q6_K for attn_v and ffn_down in the layers llama-quantize
 * gives "more bits" (the first and last eighth, and every third in between). Where a row
 * length is not a multiple of the type's block, the type falls back the way llama-quantize
 * does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16 if even that does not divide)
 * with a note on stderr.
 *
 * Weights are N(0, std^2); norm weights are 1 + N(0, 0.05^2); biases N(0, std^2). The
 * generator is portable and documented so any implementation can reproduce a file: row r
 * of the t-th tensor written (0-based) draws from a splitmix64 stream seeded with
 * mix(seed ^ mix(t << 32 | r)) (mix = the splitmix64 finaliser), and each pair of normals
 * comes from two uniforms u = ((bits >> 11) + 0.5) / 2^53 by Box-Muller
 * (sqrt(-2 ln u1) * cos/sin(2 pi u2)), computed in double and rounded to float.
 * Per-row streams let rows be generated on several threads with identical results.
 *
 * Memory: rows are generated and quantized one matrix at a time, so only one matrix exists
 * in float; the file is assembled from the quantized tensors (what the GGUF writer needs).
 * Exit status: 0 on success, 1 if reading or writing failed, 2 for bad arguments.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"
#include "formats/gguf.h"
#include "tensor/pool.h"
#include "tensor/quant.h"

enum arch { ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3 };
static const char *const arch_names[] = { "llama", "qwen2", "qwen3" };

typedef struct opts {
    int arch; /* enum arch, -1 until given */
    const char *vocab, *out, *license, *name;
    long layers, embd, heads, kv_heads, head_dim, ffn, ctx, threads;
    int type;
    int mix_q4_k_m; /* --type Q4_K_M */
    uint64_t seed;
    int tied;
    double rope_base, std, eps;
} opts;

/* ---- Errors and arguments ----------------------------------------------------------------- */

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mkmodel --arch llama|qwen2|qwen3 --vocab VOCAB.gguf -o OUT.gguf [options]\n"
            "  --layers N (2)  --embd N (64)  --heads N (4)  --kv-heads N (2)\n"
            "  --head-dim N (embd/heads)  --ffn N (256)  --ctx N (256)\n"
            "  --type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q4_K|Q4_K_M|Q5_K|Q6_K (F16)\n"
            "  --seed N (1)  --tied  --rope-base B (10000; qwen2/qwen3: 1000000)\n"
            "  --std S (0.02)  --eps E (1e-5)  --license ID  --name NAME  --threads N\n");
}

static int bad_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_arg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mkmodel: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    usage(stderr);
    return 2;
}

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return bad_arg("%s wants an integer from %ld to %ld, got '%s'", flag, lo, hi, s);
    *out = v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0)
        return bad_arg("%s wants a positive number, got '%s'", flag, s);
    *out = v;
    return 0;
}

/* The weight types a user may ask for: everything tq_quantize can write but Q8_K, which
 * is an activation format. */
static int parse_type(const char *s)
{
    int t = tq_type_from_name(s);
    if (t < 0 || t == TQ_Q8_K || !tq_can_quantize(t))
        return -1;
    return t;
}

static int parse_args(int argc, char **argv, opts *o)
{
    *o = (opts){ .arch = -1, .layers = 2, .embd = 64, .heads = 4, .kv_heads = 2, .head_dim = 0,
                 .ffn = 256, .ctx = 256, .threads = 0, .type = TQ_F16, .seed = 1, .std = 0.02,
                 .eps = 1e-5 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--tied")) {
            o->tied = 1;
            continue;
        }
        if (i + 1 >= argc)
            return bad_arg("%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--arch")) {
            for (int k = 0; k < 3; k++)
                if (!strcmp(v, arch_names[k]))
                    o->arch = k;
            if ((int)o->arch < 0)
                return bad_arg("unknown --arch '%s' (llama, qwen2 or qwen3)", v);
        } else if (!strcmp(a, "--vocab")) {
            o->vocab = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            o->out = v;
        } else if (!strcmp(a, "--license")) {
            o->license = v;
        } else if (!strcmp(a, "--name")) {
            o->name = v;
        } else if (!strcmp(a, "--layers")) {
            rc = parse_long(a, v, 1, 1024, &o->layers);
        } else if (!strcmp(a, "--embd")) {
            rc = parse_long(a, v, 1, 1 << 16, &o->embd);
        } else if (!strcmp(a, "--heads")) {
            rc = parse_long(a, v, 1, 1024, &o->heads);
        } else if (!strcmp(a, "--kv-heads")) {
            rc = parse_long(a, v, 1, 1024, &o->kv_heads);
        } else if (!strcmp(a, "--head-dim")) {
            rc = parse_long(a, v, 1, 4096, &o->head_dim);
        } else if (!strcmp(a, "--ffn")) {
            rc = parse_long(a, v, 1, 1 << 18, &o->ffn);
        } else if (!strcmp(a, "--ctx")) {
            rc = parse_long(a, v, 1, 1 << 24, &o->ctx);
        } else if (!strcmp(a, "--threads")) {
            rc = parse_long(a, v, 1, 256, &o->threads);
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 0);
            if (errno || end == v || *end || v[0] == '-')
                return bad_arg("--seed wants a non-negative integer, got '%s'", v);
        } else if (!strcmp(a, "--type")) {
            o->mix_q4_k_m = !strcasecmp(v, "Q4_K_M");
            if ((o->type = o->mix_q4_k_m ? TQ_Q4_K : parse_type(v)) < 0)
                return bad_arg("--type '%s' is not one of F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 "
                               "Q5_1 Q4_K Q4_K_M Q5_K Q6_K", v);
        } else if (!strcmp(a, "--rope-base")) {
            rc = parse_double(a, v, &o->rope_base);
        } else if (!strcmp(a, "--std")) {
            rc = parse_double(a, v, &o->std);
        } else if (!strcmp(a, "--eps")) {
            rc = parse_double(a, v, &o->eps);
        } else {
            return bad_arg("unknown option '%s'", a);
        }
        if (rc)
            return rc;
    }
    if ((int)o->arch < 0 || !o->vocab || !o->out)
        return bad_arg("--arch, --vocab and -o are required");
    if (!o->head_dim) {
        if (o->embd % o->heads)
            return bad_arg("--embd %ld is not a multiple of --heads %ld (give --head-dim)",
                           o->embd, o->heads);
        o->head_dim = o->embd / o->heads;
    }
    if (o->heads % o->kv_heads)
        return bad_arg("--heads %ld is not a multiple of --kv-heads %ld", o->heads, o->kv_heads);
    if (o->heads * o->head_dim > 1 << 18)
        return bad_arg("--heads x --head-dim is too large (%ld)", o->heads * o->head_dim);
    if (!o->rope_base)
        o->rope_base = o->arch == ARCH_LLAMA ? 10000.0 : 1000000.0;
    return 0;
}

/* ---- Random numbers ----------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t next64(uint64_t *s)
{
    return mix64(*s += 0x9e3779b97f4a7c15ull);
}

static double unit(uint64_t *s)
{
    return ((double)(next64(s) >> 11) + 0.5) * 0x1p-53;
}

/* n values mean + std * N(0,1) from row r of tensor t. */
static void normal_row(float *x, int64_t n, uint64_t seed, uint64_t t, uint64_t r, double mean,
                       double std)
{
    uint64_t s = mix64(seed ^ mix64(t << 32 | r));
    for (int64_t i = 0; i < n; i += 2) {
        double rad = sqrt(-2 * log(unit(&s))), ang = 6.283185307179586 * unit(&s);
        x[i] = (float)(mean + std * rad * cos(ang));
        if (i + 1 < n)
            x[i + 1] = (float)(mean + std * rad * sin(ang));
    }
}

/* ---- Tensors ------------------------------------------------------------------------------- */

/* One matrix being generated: rows split over the pool's threads. */
typedef struct gen_job {
    int64_t ne0, rows;
    int type;
    size_t row_bytes;
    uint64_t seed, index;
    double mean, std;
    unsigned char *out;
    int failed;
} gen_job;

static void gen_rows(void *arg, int ith, int nth)
{
    gen_job *j = arg;
    float *row = mem_alloc((size_t)j->ne0 * sizeof *row);
    if (!row) {
        j->failed = 1;
        return;
    }
    int64_t r0 = j->rows * ith / nth, r1 = j->rows * (ith + 1) / nth;
    for (int64_t r = r0; r < r1; r++) {
        normal_row(row, j->ne0, j->seed, j->index, (uint64_t)r, j->mean, j->std);
        tq_quantize(j->type, row, j->out + (size_t)r * j->row_bytes, j->ne0);
    }
    mem_free(row);
}

/* llama-quantize's fallback when a row is not a multiple of the type's block. */
static int fallback_type(int type, int64_t ne0)
{
    if (ne0 % tq_traits_of(type)->blck == 0)
        return type;
    int t = type == TQ_Q4_K ? TQ_Q5_0 : type == TQ_Q5_K ? TQ_Q5_1 : type == TQ_Q6_K ? TQ_Q8_0 : -1;
    return t >= 0 && ne0 % tq_traits_of(t)->blck == 0 ? t : TQ_F16;
}

typedef struct builder {
    const opts *o;
    gguf_writer *w;
    tq_pool *pool;
    void **bufs; /* tensor data, referenced by the writer until it has written */
    int n_bufs, n_total;
    int64_t n_params;
    int verbose;
} builder;

/* Does llama-quantize give layer i of n "more bits" (its use_more_bits rule)? */
static int more_bits(long i, long n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The type llama-quantize would choose for a matrix of the requested preset. */
static int preset_type(const opts *o, const char *name)
{
    int quantized = tq_traits_of(o->type)->blck > 1;
    if (!strcmp(name, "output.weight") || (o->tied && !strcmp(name, "token_embd.weight")))
        return quantized && o->type != TQ_Q8_0 ? TQ_Q6_K : o->type;
    int layer;
    char what[64];
    if (o->mix_q4_k_m && sscanf(name, "blk.%d.%63s", &layer, what) == 2 &&
        (!strcmp(what, "attn_v.weight") || !strcmp(what, "ffn_down.weight")) &&
        more_bits(layer, o->layers))
        return TQ_Q6_K;
    return o->type;
}

/* Generate and add one tensor: a matrix [ne0, ne1] in the model's type (1-D: F32). */
static int add(builder *b, const char *name, int64_t ne0, int64_t ne1, double mean, double std)
{
    int n_dims = ne1 > 0 ? 2 : 1;
    int want = n_dims == 1 ? TQ_F32 : preset_type(b->o, name);
    int type = n_dims == 1 ? TQ_F32 : fallback_type(want, ne0);
    int64_t rows = n_dims == 1 ? 1 : ne1, ne[2] = { ne0, ne1 };
    if (type != want)
        fprintf(stderr, "mkmodel: note: %s has rows of %lld, not a multiple of %s's %d; "
                "using %s as llama-quantize does\n", name, (long long)ne0,
                tq_type_name(want), tq_traits_of(want)->blck, tq_type_name(type));
    gen_job j = { .ne0 = ne0, .rows = rows, .type = type, .row_bytes = tq_row_size(type, ne0),
                  .seed = b->o->seed, .index = (uint64_t)b->n_bufs, .mean = mean, .std = std };
    j.out = mem_alloc(j.row_bytes * (size_t)rows);
    if (!j.out)
        return fprintf(stderr, "mkmodel: out of memory for %s\n", name), 1;
    b->bufs[b->n_bufs++] = j.out;
    if (b->verbose)
        fprintf(stderr, "mkmodel: [%d/%d] %-28s %-5s %lld x %lld\n", b->n_bufs, b->n_total,
                name, tq_type_name(type), (long long)ne0, (long long)rows);
    tq_pool_run(rows > 1 ? b->pool : NULL, gen_rows, &j);
    if (j.failed)
        return fprintf(stderr, "mkmodel: out of memory for %s\n", name), 1;
    b->n_params += ne0 * rows;
    if (gguf_add_tensor_ref(b->w, name, type, n_dims, ne, j.out, j.row_bytes * (size_t)rows))
        return fprintf(stderr, "mkmodel: cannot add tensor %s\n", name), 1;
    return 0;
}

static int add_layer(builder *b, int l)
{
    const opts *o = b->o;
    int64_t e = o->embd, q = o->heads * o->head_dim, kv = o->kv_heads * o->head_dim;
    double sd = o->std;
    char n[96];
#define T(suffix, ne0, ne1, mean, std)                                         \
    do {                                                                       \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                         \
        if (add(b, n, ne0, ne1, mean, std))                                    \
            return 1;                                                          \
    } while (0)
    T("attn_norm.weight", e, 0, 1.0, 0.05);
    T("attn_q.weight", e, q, 0.0, sd);
    T("attn_k.weight", e, kv, 0.0, sd);
    T("attn_v.weight", e, kv, 0.0, sd);
    if (o->arch == ARCH_QWEN2) {
        T("attn_q.bias", q, 0, 0.0, sd);
        T("attn_k.bias", kv, 0, 0.0, sd);
        T("attn_v.bias", kv, 0, 0.0, sd);
    }
    if (o->arch == ARCH_QWEN3) {
        T("attn_q_norm.weight", o->head_dim, 0, 1.0, 0.05);
        T("attn_k_norm.weight", o->head_dim, 0, 1.0, 0.05);
    }
    T("attn_output.weight", q, e, 0.0, sd);
    T("ffn_norm.weight", e, 0, 1.0, 0.05);
    T("ffn_gate.weight", e, o->ffn, 0.0, sd);
    T("ffn_up.weight", e, o->ffn, 0.0, sd);
    T("ffn_down.weight", o->ffn, e, 0.0, sd);
#undef T
    return 0;
}

/* ---- Metadata ------------------------------------------------------------------------------ */

/* llama.cpp's llama_ftype for a file whose matrices are mostly `type`. */
static uint32_t file_type_of(int type)
{
    switch (type) {
    case TQ_F32: return 0;
    case TQ_F16: return 1;
    case TQ_Q4_0: return 2;
    case TQ_Q4_1: return 3;
    case TQ_Q8_0: return 7;
    case TQ_Q5_0: return 8;
    case TQ_Q5_1: return 9;
    case TQ_Q4_K: return 14; /* Q4_K_S (Q4_K_M: 15, set by the caller) */
    case TQ_Q5_K: return 16; /* Q5_K_S */
    case TQ_Q6_K: return 18;
    default: return 32;      /* BF16 */
    }
}

static int set_metadata(gguf_writer *w, const opts *o, const gguf_file *vocab)
{
    const char *a = arch_names[o->arch];
    char key[128], name[128];
    int st = 0;
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
    snprintf(name, sizeof name, "mkmodel-%s-%ldx%ld", a, o->embd, o->layers);
    st |= gguf_set_str(w, "general.architecture", a);
    st |= gguf_set_str(w, "general.name", o->name ? o->name : name);
    if (o->license)
        st |= gguf_set_str(w, "general.license", o->license);
    st |= gguf_set_u32(w, KEY("context_length"), (uint32_t)o->ctx);
    st |= gguf_set_u32(w, KEY("embedding_length"), (uint32_t)o->embd);
    st |= gguf_set_u32(w, KEY("block_count"), (uint32_t)o->layers);
    st |= gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)o->ffn);
    st |= gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)o->heads);
    st |= gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)o->kv_heads);
    st |= gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)o->eps);
    st |= gguf_set_f32(w, KEY("rope.freq_base"), (float)o->rope_base);
    if (o->head_dim * o->heads != o->embd) {
        st |= gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)o->head_dim);
        st |= gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)o->head_dim);
    }
#undef KEY
    st |= gguf_set_u32(w, "general.quantization_version", 2);
    st |= gguf_set_u32(w, "general.file_type", o->mix_q4_k_m ? 15 : file_type_of(o->type));
    for (uint64_t i = 0; i < vocab->n_kv; i++)
        if (strncmp(vocab->kv[i].key.s, "tokenizer.", 10) == 0)
            st |= gguf_set_value(w, vocab->kv[i].key.s, &vocab->kv[i].val);
    return st;
}

/* ---- Main ---------------------------------------------------------------------------------- */

static int build(builder *b, int64_t n_vocab)
{
    const opts *o = b->o;
    if (add(b, "token_embd.weight", o->embd, n_vocab, 0.0, o->std))
        return 1;
    for (int l = 0; l < o->layers; l++)
        if (add_layer(b, l))
            return 1;
    if (add(b, "output_norm.weight", o->embd, 0, 1.0, 0.05))
        return 1;
    if (!o->tied && add(b, "output.weight", o->embd, n_vocab, 0.0, o->std))
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    hearth_error err;
    gguf_file *vocab;
    if (gguf_open(&vocab, o.vocab, &err) != HEARTH_OK) {
        fprintf(stderr, "mkmodel: %s\n", err.msg);
        return 1;
    }
    uint64_t n_vocab = 0;
    if (!gguf_get_arr(vocab, "tokenizer.ggml.tokens", GGUF_STRING, &n_vocab) || n_vocab == 0) {
        fprintf(stderr, "mkmodel: %s: no tokenizer.ggml.tokens array\n", o.vocab);
        gguf_close(vocab);
        return 2;
    }
    int per_layer = 9 + (o.arch == ARCH_QWEN2 ? 3 : o.arch == ARCH_QWEN3 ? 2 : 0);
    builder b = { .o = &o, .w = gguf_writer_new(), .n_total = 2 + !o.tied + per_layer * (int)o.layers };
    b.bufs = mem_calloc((size_t)b.n_total, sizeof *b.bufs);
    b.pool = tq_pool_new((int)o.threads);
    int64_t approx = (int64_t)o.layers * (4 * o.embd * o.heads * o.head_dim + 3 * o.embd * o.ffn) +
                     2 * o.embd * (int64_t)n_vocab;
    b.verbose = approx > 50 * 1000 * 1000;
    rc = 1;
    if (!b.w || !b.bufs) {
        fprintf(stderr, "mkmodel: out of memory\n");
    } else if (set_metadata(b.w, &o, vocab) != 0) {
        fprintf(stderr, "mkmodel: cannot set metadata (out of memory?)\n");
    } else if (build(&b, (int64_t)n_vocab) == 0) {
        if (b.verbose)
            fprintf(stderr, "mkmodel: writing %s\n", o.out);
        if (gguf_writer_write(b.w, o.out, &err) != HEARTH_OK) {
            fprintf(stderr, "mkmodel: %s\n", err.msg);
        } else {
            fprintf(stderr, "mkmodel: wrote %s: %s, %lld parameters, %s, vocab %llu\n", o.out,
                    arch_names[o.arch], (long long)b.n_params, tq_type_name(o.type),
                    (unsigned long long)n_vocab);
            rc = 0;
        }
    }
    gguf_writer_free(b.w);
    for (int i = 0; i < b.n_bufs; i++)
        mem_free(b.bufs[i]);
    mem_free(b.bufs);
    tq_pool_free(b.pool);
    gguf_close(vocab);
    return rc;
}
