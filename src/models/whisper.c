/*
 * whisper.c — loading whisper.cpp's ggml model files, and the encoder/decoder forward pass.
 *
 * File layout (little-endian, no alignment padding anywhere):
 *
 *   u32   magic 0x67676d6c ("ggml")
 *   i32 x 11  n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer
 *             n_text_ctx n_text_state n_text_head n_text_layer n_mels ftype
 *   i32 n_mel, i32 n_fft, f32[n_mel * n_fft]          the mel filter bank
 *   i32 n_tokens, then per token: u32 len, len bytes  the vocabulary (raw bytes)
 *   tensors until the end of the file, each:
 *     i32 n_dims, i32 name_len, i32 type, i32 ne[n_dims], name, data
 *
 * ftype may carry a quantization version as ftype / 1000, ignored here. Special tokens are
 * not stored: their ids follow from n_vocab (see specials_init). Every tensor is looked up
 * by name and its shape and type checked against what the hyper-parameters imply, so any
 * order in the file is accepted and anything else is an error naming the tensor.
 *
 * Numerics follow whisper.cpp's CPU path without flash attention, so that a random-weight
 * model — whose next-token choices are near-ties — decodes the same tokens: inputs to
 * products with F16 weights are rounded to F16 (ggml converts them), the attention keys,
 * values and probabilities are rounded to F16 (ggml keeps K/V in F16), and GELU goes
 * through F16 like ggml's lookup table. Each rounding is one cheap pass over a vector.
 */
#include "models/whisper.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/pool.h"
#include "tensor/quant.h"

#define WSP_MAGIC 0x67676d6cu
#define LN_EPS 1e-5f
#define MAX_TOKEN_BYTES 4096
#define MAX_NAME 256

/* ---- languages ---------------------------------------------------------------------------- */

static const char *const LANGS[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};

int wsp_lang_count(void)
{
    return (int)(sizeof LANGS / sizeof LANGS[0]);
}

int wsp_lang_index(const char *code)
{
    for (int i = 0; i < wsp_lang_count(); i++)
        if (strcmp(LANGS[i], code) == 0)
            return i;
    return -1;
}

const char *wsp_lang_code(int index)
{
    return index >= 0 && index < wsp_lang_count() ? LANGS[index] : NULL;
}

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct reader {
    const unsigned char *p;
    size_t size, pos;
    const char *path;
    hearth_error *err;
} reader;

static hearth_status need(reader *r, size_t n, const char *what)
{
    if (n > r->size - r->pos)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: truncated in %s (offset %zu, need %zu bytes)",
                       r->path, what, r->pos, n);
    return HEARTH_OK;
}

static hearth_status rd_i32(reader *r, int32_t *v, const char *what)
{
    hearth_status st = need(r, 4, what);
    if (st)
        return st;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return HEARTH_OK;
}

static void specials_init(wsp_model *m)
{
    wsp_specials *s = &m->sp;
    int n_vocab = m->hp.n_vocab;
    s->multilingual = n_vocab >= 51865;
    s->n_languages = n_vocab - 51765 - (s->multilingual ? 1 : 0);
    s->eot = 50256;
    s->sot = 50257;
    s->translate = 50357;
    s->transcribe = 50358;
    s->solm = 50359;
    s->prev = 50360;
    s->nosp = 50361;
    s->notimestamps = 50362;
    s->beg = 50363;
    if (s->multilingual) {
        int dt = s->n_languages - 98;
        s->eot++;
        s->sot++;
        s->translate += dt;
        s->transcribe += dt;
        s->solm += dt;
        s->prev += dt;
        s->nosp += dt;
        s->notimestamps += dt;
        s->beg += dt;
    }
}

static hearth_status read_hparams(wsp_model *m, reader *r)
{
    int32_t magic, v[11];
    hearth_status st = rd_i32(r, &magic, "magic");
    if (st)
        return st;
    if ((uint32_t)magic != WSP_MAGIC)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: not a whisper.cpp ggml file (magic 0x%08x)",
                       r->path, (unsigned)magic);
    for (int i = 0; i < 11; i++)
        if ((st = rd_i32(r, &v[i], "hyper-parameters")))
            return st;
    wsp_hparams *h = &m->hp;
    *h = (wsp_hparams){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10] % 1000 };
    static const char *names[] = { "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head",
                                   "n_audio_layer", "n_text_ctx", "n_text_state", "n_text_head",
                                   "n_text_layer", "n_mels" };
    static const int limits[] = { 1 << 20, 1 << 14, 1 << 14, 1 << 10, 1 << 8,
                                  1 << 14, 1 << 14, 1 << 10, 1 << 8, 1 << 10 };
    for (int i = 0; i < 10; i++)
        if (v[i] <= 0 || v[i] > limits[i])
            return err_set(r->err, HEARTH_ERR_FORMAT, "%s: %s = %d is out of range (1..%d)",
                           r->path, names[i], v[i], limits[i]);
    if (h->n_audio_state % h->n_audio_head || h->n_text_state % h->n_text_head)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: state size not a multiple of the heads",
                       r->path);
    if (h->n_audio_state != h->n_text_state)
        return err_set(r->err, HEARTH_ERR_UNSUPPORTED,
                       "%s: audio state %d differs from text state %d", r->path,
                       h->n_audio_state, h->n_text_state);
    if (h->n_vocab <= 50363 + 2)
        return err_set(r->err, HEARTH_ERR_FORMAT,
                       "%s: n_vocab = %d leaves no room for whisper's special tokens", r->path,
                       h->n_vocab);
    specials_init(m);
    if (m->sp.beg >= h->n_vocab)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: n_vocab = %d is too small", r->path, h->n_vocab);
    return HEARTH_OK;
}

static hearth_status read_filters(wsp_model *m, reader *r)
{
    int32_t n_mel, n_fft;
    hearth_status st;
    if ((st = rd_i32(r, &n_mel, "mel filters")) || (st = rd_i32(r, &n_fft, "mel filters")))
        return st;
    if (n_mel != m->hp.n_mels || n_fft != 201)
        return err_set(r->err, HEARTH_ERR_FORMAT,
                       "%s: mel filter bank is %d x %d, expected %d x 201", r->path, n_mel, n_fft,
                       m->hp.n_mels);
    size_t bytes = (size_t)n_mel * n_fft * 4;
    if ((st = need(r, bytes, "mel filters")))
        return st;
    m->mel_filters_owned = mem_alloc(bytes);
    if (!m->mel_filters_owned)
        return err_set(r->err, HEARTH_ERR_NOMEM, "%s: out of memory", r->path);
    memcpy(m->mel_filters_owned, r->p + r->pos, bytes);
    for (size_t i = 0; i < bytes / 4; i++)
        if (!isfinite(m->mel_filters_owned[i]))
            return err_set(r->err, HEARTH_ERR_FORMAT, "%s: mel filter %zu is not finite", r->path, i);
    m->mel_filters = m->mel_filters_owned;
    m->n_fft_bins = n_fft;
    r->pos += bytes;
    return HEARTH_OK;
}

static hearth_status read_vocab(wsp_model *m, reader *r)
{
    int32_t n;
    hearth_status st = rd_i32(r, &n, "vocabulary");
    if (st)
        return st;
    if (n < 0 || n > m->hp.n_vocab)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: %d tokens in the vocabulary, n_vocab is %d",
                       r->path, n, m->hp.n_vocab);
    m->n_vocab_file = n;
    m->tok_off = mem_calloc((size_t)m->hp.n_vocab, sizeof *m->tok_off);
    m->tok_len = mem_calloc((size_t)m->hp.n_vocab, sizeof *m->tok_len);
    if (!m->tok_off || !m->tok_len)
        return err_set(r->err, HEARTH_ERR_NOMEM, "%s: out of memory for the vocabulary", r->path);
    m->tok_data = r->p;
    m->space_token = -1;
    for (int i = 0; i < n; i++) {
        int32_t len;
        if ((st = rd_i32(r, &len, "vocabulary")))
            return st;
        if (len < 0 || len > MAX_TOKEN_BYTES)
            return err_set(r->err, HEARTH_ERR_FORMAT, "%s: token %d has length %d", r->path, i, len);
        if ((st = need(r, (size_t)len, "vocabulary")))
            return st;
        m->tok_off[i] = (uint32_t)r->pos;
        m->tok_len[i] = (uint32_t)len;
        if (len == 1 && r->p[r->pos] == ' ' && m->space_token < 0)
            m->space_token = i;
        r->pos += (size_t)len;
    }
    return HEARTH_OK;
}

/* What a tensor must look like: ne (0 = unused dimension) and whether it may be quantized. */
typedef struct spec {
    wsp_tensor *dst;
    int64_t ne[3];
    int kind; /* 0: F32 vector, 1: any matrix type, 2: F16/F32 (conv) */
} spec;

typedef struct spec_list {
    spec *v;
    char (*names)[MAX_NAME];
    int n, cap;
} spec_list;

static int add_spec(spec_list *l, wsp_tensor *dst, int kind, int64_t a, int64_t b, int64_t c,
                    const char *fmt, int layer)
{
    if (l->n == l->cap)
        return -1;
    snprintf(l->names[l->n], MAX_NAME, fmt, layer);
    l->v[l->n++] = (spec){ dst, { a, b, c }, kind };
    return 0;
}

static void layer_specs(spec_list *l, wsp_layer *y, const char *pre, int i, int s, int cross)
{
    char f[MAX_NAME];
#define ADD(field, kind, a, b, name)                                            \
    snprintf(f, sizeof f, "%s.blocks.%%d." name, pre);                         \
    add_spec(l, &y->field, kind, a, b, 0, f, i)
    ADD(attn_ln_w, 0, s, 0, "attn_ln.weight");
    ADD(attn_ln_b, 0, s, 0, "attn_ln.bias");
    ADD(attn_q_w, 1, s, s, "attn.query.weight");
    ADD(attn_q_b, 0, s, 0, "attn.query.bias");
    ADD(attn_k_w, 1, s, s, "attn.key.weight");
    ADD(attn_v_w, 1, s, s, "attn.value.weight");
    ADD(attn_v_b, 0, s, 0, "attn.value.bias");
    ADD(attn_o_w, 1, s, s, "attn.out.weight");
    ADD(attn_o_b, 0, s, 0, "attn.out.bias");
    ADD(mlp_ln_w, 0, s, 0, "mlp_ln.weight");
    ADD(mlp_ln_b, 0, s, 0, "mlp_ln.bias");
    ADD(mlp0_w, 1, s, 4 * s, "mlp.0.weight");
    ADD(mlp0_b, 0, 4 * s, 0, "mlp.0.bias");
    ADD(mlp2_w, 1, 4 * s, s, "mlp.2.weight");
    ADD(mlp2_b, 0, s, 0, "mlp.2.bias");
    if (cross) {
        ADD(cross_ln_w, 0, s, 0, "cross_attn_ln.weight");
        ADD(cross_ln_b, 0, s, 0, "cross_attn_ln.bias");
        ADD(cross_q_w, 1, s, s, "cross_attn.query.weight");
        ADD(cross_q_b, 0, s, 0, "cross_attn.query.bias");
        ADD(cross_k_w, 1, s, s, "cross_attn.key.weight");
        ADD(cross_v_w, 1, s, s, "cross_attn.value.weight");
        ADD(cross_v_b, 0, s, 0, "cross_attn.value.bias");
        ADD(cross_o_w, 1, s, s, "cross_attn.out.weight");
        ADD(cross_o_b, 0, s, 0, "cross_attn.out.bias");
    }
#undef ADD
}

static int build_specs(wsp_model *m, spec_list *l)
{
    const wsp_hparams *h = &m->hp;
    int s = h->n_audio_state;
    add_spec(l, &m->e_pos, 0, s, h->n_audio_ctx, 0, "encoder.positional_embedding", 0);
    add_spec(l, &m->conv1_w, 2, 3, h->n_mels, s, "encoder.conv1.weight", 0);
    add_spec(l, &m->conv1_b, 0, s, 0, 0, "encoder.conv1.bias", 0);
    add_spec(l, &m->conv2_w, 2, 3, s, s, "encoder.conv2.weight", 0);
    add_spec(l, &m->conv2_b, 0, s, 0, 0, "encoder.conv2.bias", 0);
    add_spec(l, &m->e_ln_w, 0, s, 0, 0, "encoder.ln_post.weight", 0);
    add_spec(l, &m->e_ln_b, 0, s, 0, 0, "encoder.ln_post.bias", 0);
    add_spec(l, &m->d_pos, 0, h->n_text_state, h->n_text_ctx, 0, "decoder.positional_embedding", 0);
    add_spec(l, &m->tok_emb, 1, h->n_text_state, h->n_vocab, 0, "decoder.token_embedding.weight", 0);
    add_spec(l, &m->d_ln_w, 0, h->n_text_state, 0, 0, "decoder.ln.weight", 0);
    add_spec(l, &m->d_ln_b, 0, h->n_text_state, 0, 0, "decoder.ln.bias", 0);
    for (int i = 0; i < h->n_audio_layer; i++)
        layer_specs(l, &m->e_layers[i], "encoder", i, s, 0);
    for (int i = 0; i < h->n_text_layer; i++)
        layer_specs(l, &m->d_layers[i], "decoder", i, h->n_text_state, 1);
    return l->n;
}

static int type_allowed(int kind, int type)
{
    switch (kind) {
    case 0: return type == TQ_F32;
    case 2: return type == TQ_F32 || type == TQ_F16;
    default:
        return type == TQ_F32 || type == TQ_F16 || type == TQ_Q4_0 || type == TQ_Q4_1 ||
               type == TQ_Q5_0 || type == TQ_Q5_1 || type == TQ_Q8_0;
    }
}

/* Read one tensor header, find its spec, check it and point the spec's slot at the data. */
static hearth_status read_tensor(wsp_model *m, reader *r, spec_list *l, unsigned char *seen)
{
    int32_t n_dims, name_len, type;
    hearth_status st;
    if ((st = rd_i32(r, &n_dims, "tensor header")) || (st = rd_i32(r, &name_len, "tensor header")) ||
        (st = rd_i32(r, &type, "tensor header")))
        return st;
    if (n_dims < 1 || n_dims > 3)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor at offset %zu has %d dimensions",
                       r->path, r->pos - 12, n_dims);
    if (name_len < 1 || name_len >= MAX_NAME)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor name length %d at offset %zu",
                       r->path, name_len, r->pos - 8);
    int64_t ne[3] = { 1, 1, 1 };
    for (int i = 0; i < n_dims; i++) {
        int32_t d;
        if ((st = rd_i32(r, &d, "tensor shape")))
            return st;
        if (d < 1 || d > (1 << 24))
            return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor dimension %d = %d", r->path, i, d);
        ne[i] = d;
    }
    if ((st = need(r, (size_t)name_len, "tensor name")))
        return st;
    char name[MAX_NAME];
    memcpy(name, r->p + r->pos, (size_t)name_len);
    name[name_len] = 0;
    r->pos += (size_t)name_len;
    /* whisper.cpp writes conv biases as [1, S] */
    if (n_dims == 2 && ne[0] == 1 && strstr(name, "conv") && strstr(name, ".bias")) {
        ne[0] = ne[1];
        ne[1] = 1;
    }
    int k = 0;
    while (k < l->n && strcmp(l->names[k], name) != 0)
        k++;
    if (k == l->n)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: unexpected tensor '%s'", r->path, name);
    if (seen[k])
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor '%s' appears twice", r->path, name);
    seen[k] = 1;
    const spec *sp = &l->v[k];
    for (int i = 0; i < 3; i++)
        if (ne[i] != (sp->ne[i] ? sp->ne[i] : 1))
            return err_set(r->err, HEARTH_ERR_FORMAT,
                           "%s: tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
                           r->path, name, (long long)ne[0], (long long)ne[1], (long long)ne[2],
                           (long long)sp->ne[0], (long long)(sp->ne[1] ? sp->ne[1] : 1),
                           (long long)(sp->ne[2] ? sp->ne[2] : 1));
    const tq_traits *tr = tq_traits_of(type);
    if (!tr)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor '%s' has unknown type %d", r->path,
                       name, type);
    if (!type_allowed(sp->kind, type))
        return err_set(r->err, HEARTH_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, not supported there",
                       r->path, name, tr->name);
    /* conv weights are used as matrices of rows ne[2] and ne[0]*ne[1] columns */
    int64_t row_vals = sp->kind == 2 ? ne[0] * ne[1] : ne[0];
    int64_t rows = sp->kind == 2 ? ne[2] : ne[1] * ne[2];
    size_t row = tq_row_size(type, row_vals);
    if (row == 0)
        return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor '%s': rows of %lld are not whole %s blocks",
                       r->path, name, (long long)row_vals, tr->name);
    size_t bytes = row * (size_t)rows;
    if ((st = need(r, bytes, name)))
        return st;
    sp->dst->data = r->p + r->pos;
    sp->dst->type = type;
    sp->dst->ne[0] = row_vals;
    sp->dst->ne[1] = rows;
    sp->dst->ne[2] = 1;
    if ((uintptr_t)sp->dst->data % (type == TQ_F32 ? 4 : 2)) {
        /* the format has no alignment: copy a misaligned tensor once, so kernels may read
         * it through typed pointers */
        void *copy = mem_alloc_aligned(bytes, 64);
        if (!copy)
            return err_set(r->err, HEARTH_ERR_NOMEM, "%s: out of memory for '%s'", r->path, name);
        memcpy(copy, sp->dst->data, bytes);
        m->owned[m->n_owned++] = copy;
        sp->dst->data = copy;
    }
    for (int64_t i = 0; sp->kind == 0 && i < ne[0] * ne[1]; i++)
        if (!isfinite(((const float *)sp->dst->data)[i]))
            return err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value",
                           r->path, name);
    m->weight_bytes += bytes;
    r->pos += bytes;
    return HEARTH_OK;
}

static hearth_status read_tensors(wsp_model *m, reader *r)
{
    int max = 11 + 15 * m->hp.n_audio_layer + 24 * m->hp.n_text_layer;
    spec_list l = { mem_calloc((size_t)max, sizeof(spec)), mem_calloc((size_t)max, MAX_NAME), 0, max };
    unsigned char *seen = mem_calloc((size_t)max, 1);
    hearth_status st = HEARTH_OK;
    if (!l.v || !l.names || !seen) {
        st = err_set(r->err, HEARTH_ERR_NOMEM, "%s: out of memory", r->path);
        goto done;
    }
    build_specs(m, &l);
    m->owned = mem_calloc((size_t)max, sizeof(void *));
    if (!m->owned) {
        st = err_set(r->err, HEARTH_ERR_NOMEM, "%s: out of memory", r->path);
        goto done;
    }
    while (r->pos < r->size && !st)
        st = read_tensor(m, r, &l, seen);
    for (int k = 0; k < l.n && !st; k++)
        if (!seen[k])
            st = err_set(r->err, HEARTH_ERR_FORMAT, "%s: tensor '%s' is missing", r->path, l.names[k]);
done:
    mem_free(l.v);
    mem_free(l.names);
    mem_free(seen);
    return st;
}

/* ---- tokenizing prompts ------------------------------------------------------------------- */

static uint32_t bytes_hash(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Open-addressing table from token bytes to id, built once at load for wsp_tokenize. */
static hearth_status build_token_index(wsp_model *m, hearth_error *err)
{
    m->tok_hash_size = 1;
    while (m->tok_hash_size < 2u * (uint32_t)m->n_vocab_file + 2)
        m->tok_hash_size <<= 1;
    m->tok_hash = mem_alloc(m->tok_hash_size * sizeof(int32_t));
    if (!m->tok_hash)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory for the token index", m->path);
    memset(m->tok_hash, 0xff, m->tok_hash_size * sizeof(int32_t));
    for (int id = 0; id < m->n_vocab_file; id++) {
        size_t len = m->tok_len[id];
        if (len == 0)
            continue;
        m->tok_max_len = len > m->tok_max_len ? len : m->tok_max_len;
        uint32_t i = bytes_hash(m->tok_data + m->tok_off[id], len) & (m->tok_hash_size - 1);
        while (m->tok_hash[i] >= 0) {
            int o = m->tok_hash[i];
            if (m->tok_len[o] == len && !memcmp(m->tok_data + m->tok_off[o], m->tok_data + m->tok_off[id], len))
                break; /* a duplicate: the first id wins */
            i = (i + 1) & (m->tok_hash_size - 1);
        }
        if (m->tok_hash[i] < 0)
            m->tok_hash[i] = id;
    }
    return HEARTH_OK;
}

static int token_lookup(const wsp_model *m, const unsigned char *p, size_t n)
{
    uint32_t i = bytes_hash(p, n) & (m->tok_hash_size - 1);
    for (; m->tok_hash[i] >= 0; i = (i + 1) & (m->tok_hash_size - 1)) {
        int id = m->tok_hash[i];
        if (m->tok_len[id] == n && !memcmp(m->tok_data + m->tok_off[id], p, n))
            return id;
    }
    return -1;
}

int wsp_tokenize(const wsp_model *m, const char *text, int *ids, int max)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text), pos = 0;
    int count = 0;
    while (pos < n) {
        size_t len = n - pos < m->tok_max_len ? n - pos : m->tok_max_len;
        int id = -1;
        for (; len > 0 && id < 0; len--)
            id = token_lookup(m, p + pos, len);
        if (id < 0) {
            pos++; /* a byte no token spells */
            continue;
        }
        if (count < max)
            ids[count] = id;
        count++;
        pos += m->tok_len[id];
    }
    return count;
}

/* Parse m->map (already set) as a model named name. */
static hearth_status parse(wsp_model *m, const char *name, hearth_error *err)
{
    m->path = mem_strdup(name);
    if (!m->path)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", name);
    reader r = { m->map.data, m->map.size, 0, name, err };
    hearth_status st = read_hparams(m, &r);
    if (!st)
        st = read_filters(m, &r);
    if (!st)
        st = read_vocab(m, &r);
    if (!st) {
        m->e_layers = mem_calloc((size_t)m->hp.n_audio_layer, sizeof(wsp_layer));
        m->d_layers = mem_calloc((size_t)m->hp.n_text_layer, sizeof(wsp_layer));
        if (!m->e_layers || !m->d_layers)
            st = err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!st)
        st = read_tensors(m, &r);
    if (!st)
        st = build_token_index(m, err);
    return st;
}

hearth_status wsp_load(wsp_model **out, const char *path, hearth_error *err)
{
    *out = NULL;
    wsp_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", path);
    hearth_status st = file_map_open(&m->map, path, err);
    if (st) {
        mem_free(m);
        return st;
    }
    m->owns_map = 1;
    if ((st = parse(m, path, err))) {
        wsp_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}

hearth_status wsp_load_memory(wsp_model **out, const void *data, size_t size, const char *name,
                              hearth_error *err)
{
    *out = NULL;
    wsp_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", name);
    m->map.data = data;
    m->map.size = size;
    hearth_status st = parse(m, name, err);
    if (st) {
        wsp_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}

void wsp_free(wsp_model *m)
{
    if (!m)
        return;
    if (m->owns_map)
        file_map_close(&m->map);
    mem_free(m->path);
    mem_free(m->mel_filters_owned);
    mem_free(m->tok_off);
    mem_free(m->tok_len);
    mem_free(m->tok_hash);
    mem_free(m->e_layers);
    mem_free(m->d_layers);
    for (int i = 0; i < m->n_owned; i++)
        mem_free_aligned(m->owned[i]);
    mem_free(m->owned);
    mem_free(m);
}

int wsp_n_frames(const wsp_model *m)
{
    return 2 * m->hp.n_audio_ctx;
}

const char *wsp_size_name(const wsp_model *m)
{
    const wsp_hparams *h = &m->hp;
    switch (h->n_audio_layer) {
    case 4: return "tiny";
    case 6: return "base";
    case 12: return "small";
    case 24: return "medium";
    case 32:
        if (h->n_text_layer == 4)
            return "large-v3-turbo";
        return h->n_mels == 128 ? "large-v3" : "large";
    default: return "unknown";
    }
}

const unsigned char *wsp_token_bytes(const wsp_model *m, int id, size_t *len)
{
    if (id < 0 || id >= m->n_vocab_file) {
        *len = 0;
        return (const unsigned char *)"";
    }
    *len = m->tok_len[id];
    return m->tok_data + m->tok_off[id];
}

/* ---- state -------------------------------------------------------------------------------- */

struct wsp_state {
    const wsp_model *m;
    tq_pool *pool;
    const tq_kernels *kern;
    int n_seq, n_threads;
    /* encoder buffers (C = n_audio_ctx, F = 2C frames, S = state) */
    float *col;       /* [F][3*max(M, S)] im2col */
    float *h1;        /* [F][S] conv1 output */
    float *x;         /* [C][S] residual stream */
    float *cur;       /* [C][4S] normalised input / MLP hidden */
    float *q, *k, *v; /* [C][S] */
    float *att;       /* [C][S] attention output */
    float *qh, *kh, *vt; /* per head: [C][dh], [C][dh], [dh][C] */
    float *scores;    /* [C][C] one head's scores */
    float *oh;        /* [C][dh] */
    /* cross-attention keys [L][C][S] and values transposed [L][S][C], F16 as in ggml */
    tq_f16 *ck, *cvt;
    int encoded;
    /* decoder self-attention cache per sequence and layer: keys [n_seq][L][T][S], values
     * transposed [n_seq][L][S][T], so both products are contiguous F16 dot products */
    tq_f16 *kv_k, *kv_vt;
    /* step buffers */
    float *dx, *dcur, *dq, *dk, *dv, *datt, *dh; /* [T][S] / [T][4S] */
    float *dscore;    /* [threads][max(C, T)] */
    tq_f16 *dscore16; /* the same, rounded to F16 for the product with V */
    int *row_seq, *row_pos; /* [T] rows of a wsp_decode call */
    void *scratch;
    size_t scratch_size;
    wsp_timings t;
};

static size_t max_scratch(const wsp_model *m, int batch)
{
    const wsp_hparams *h = &m->hp;
    const wsp_tensor *ws[] = { &m->conv1_w, &m->conv2_w, &m->tok_emb };
    size_t best = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t n = tq_matmul_scratch_size(ws[i]->type, (int)ws[i]->ne[0], batch);
        best = n > best ? n : best;
    }
    for (int pass = 0; pass < 2; pass++) {
        int nl = pass ? h->n_text_layer : h->n_audio_layer;
        const wsp_layer *ls = pass ? m->d_layers : m->e_layers;
        for (int l = 0; l < nl; l++) {
            const wsp_tensor *lw[] = { &ls[l].attn_q_w, &ls[l].attn_k_w, &ls[l].attn_v_w,
                                       &ls[l].attn_o_w, &ls[l].mlp0_w, &ls[l].mlp2_w,
                                       &ls[l].cross_q_w, &ls[l].cross_k_w, &ls[l].cross_v_w,
                                       &ls[l].cross_o_w };
            for (size_t i = 0; i < 10; i++) {
                if (!lw[i]->data)
                    continue;
                size_t n = tq_matmul_scratch_size(lw[i]->type, (int)lw[i]->ne[0], batch);
                best = n > best ? n : best;
            }
        }
    }
    return best;
}

wsp_state *wsp_state_new(const wsp_model *m, int n_threads, int n_seq, hearth_error *err)
{
    const wsp_hparams *h = &m->hp;
    if (n_seq < 1 || n_seq > 64) {
        err_set(err, HEARTH_ERR_INVALID, "whisper: %d decoder sequences (1..64)", n_seq);
        return NULL;
    }
    wsp_state *s = mem_calloc(1, sizeof *s);
    if (!s) {
        err_set(err, HEARTH_ERR_NOMEM, "whisper: out of memory for the state");
        return NULL;
    }
    s->m = m;
    s->n_seq = n_seq;
    s->pool = tq_pool_new(n_threads);
    s->kern = tq_kernels_best();
    s->n_threads = s->pool ? tq_pool_size(s->pool) : 1;
    size_t C = (size_t)h->n_audio_ctx, F = 2 * C, S = (size_t)h->n_audio_state;
    size_t T = (size_t)h->n_text_ctx, L = (size_t)h->n_text_layer;
    size_t dh = S / (size_t)h->n_audio_head, M = (size_t)h->n_mels;
    size_t ccols = 3 * (M > S ? M : S), cmax = C > T ? C : T;
    s->col = mem_calloc(F * ccols, sizeof(float));
    s->h1 = mem_calloc(F * S, sizeof(float));
    s->x = mem_calloc(C * S, sizeof(float));
    s->cur = mem_calloc(C * 4 * S, sizeof(float));
    s->q = mem_calloc(C * S, sizeof(float));
    s->k = mem_calloc(C * S, sizeof(float));
    s->v = mem_calloc(C * S, sizeof(float));
    s->att = mem_calloc(C * S, sizeof(float));
    s->qh = mem_calloc(C * dh, sizeof(float));
    s->kh = mem_calloc(C * dh, sizeof(float));
    s->vt = mem_calloc(C * dh, sizeof(float));
    s->oh = mem_calloc(C * dh, sizeof(float));
    s->scores = mem_calloc(C * C, sizeof(float));
    s->ck = mem_calloc(L * C * S, sizeof(tq_f16));
    s->cvt = mem_calloc(L * C * S, sizeof(tq_f16));
    s->kv_k = mem_calloc((size_t)n_seq * L * T * S, sizeof(tq_f16));
    s->kv_vt = mem_calloc((size_t)n_seq * L * T * S, sizeof(tq_f16));
    s->dx = mem_calloc(T * S, sizeof(float));
    s->dcur = mem_calloc(T * 4 * S, sizeof(float));
    s->dq = mem_calloc(T * S, sizeof(float));
    s->dk = mem_calloc(T * S, sizeof(float));
    s->dv = mem_calloc(T * S, sizeof(float));
    s->datt = mem_calloc(T * S, sizeof(float));
    s->dh = mem_calloc(T * 4 * S, sizeof(float));
    s->dscore = mem_calloc((size_t)s->n_threads * cmax, sizeof(float));
    s->dscore16 = mem_calloc((size_t)s->n_threads * cmax, sizeof(tq_f16));
    s->row_seq = mem_calloc(T, sizeof(int));
    s->row_pos = mem_calloc(T, sizeof(int));
    s->scratch_size = max_scratch(m, (int)(F > T ? F : T));
    s->scratch = mem_alloc_aligned(s->scratch_size + 64, 64);
    if (!s->pool || !s->col || !s->h1 || !s->x || !s->cur || !s->q || !s->k || !s->v || !s->att ||
        !s->qh || !s->kh || !s->vt || !s->oh || !s->scores || !s->ck || !s->cvt || !s->kv_k ||
        !s->kv_vt || !s->dx || !s->dcur || !s->dq || !s->dk || !s->dv || !s->datt || !s->dh ||
        !s->dscore || !s->dscore16 || !s->row_seq || !s->row_pos || !s->scratch) {
        err_set(err, HEARTH_ERR_NOMEM, "whisper: out of memory for the state of %s", m->path);
        wsp_state_free(s);
        return NULL;
    }
    return s;
}

void wsp_state_free(wsp_state *s)
{
    if (!s)
        return;
    tq_pool_free(s->pool);
    float *bufs[] = { s->col, s->h1, s->x, s->cur, s->q, s->k, s->v, s->att, s->qh, s->kh,
                      s->vt, s->oh, s->scores, s->dx, s->dcur, s->dq, s->dk, s->dv, s->datt,
                      s->dh, s->dscore };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        mem_free(bufs[i]);
    mem_free(s->ck), mem_free(s->cvt), mem_free(s->kv_k), mem_free(s->kv_vt);
    mem_free(s->dscore16);
    mem_free(s->row_seq), mem_free(s->row_pos);
    mem_free_aligned(s->scratch);
    mem_free(s);
}

wsp_timings wsp_state_timings(const wsp_state *s)
{
    return s->t;
}

/* ---- numerics shared by encoder and decoder ----------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline float f16_round(float x)
{
    return tq_f16_to_f32(tq_f32_to_f16(x));
}

static float gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

/* GELU (tanh form) of every F16 value, rounded to F16: ggml's CPU lookup table. */
static void gelu_table_init(void)
{
    for (int i = 0; i < 65536; i++) {
        float x = tq_f16_to_f32((tq_f16)i), y;
        tq_gelu(&y, &x, 1);
        gelu_table[i] = f16_round(y);
    }
}

static void gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (x[i] <= -10.0f)
            x[i] = 0.0f;
        else if (x[i] < 10.0f)
            x[i] = gelu_table[tq_f32_to_f16(x[i])];
    }
}

/* y[b] = W x[b] (+ bias) for `batch` rows. For F16 weights tq_matmul rounds x to F16 (as
 * ggml does). */
static void matmul(wsp_state *s, float *y, const wsp_tensor *w, const float *x, int batch,
                   const wsp_tensor *bias)
{
    int cols = (int)w->ne[0], rows = (int)w->ne[1];
    tq_matmul(s->pool, s->kern, y, w->data, w->type, rows, cols, x, batch, s->scratch);
    if (bias)
        for (int b = 0; b < batch; b++)
            tq_add(y + (size_t)b * rows, y + (size_t)b * rows, bias->data, rows);
}

static void layernorm(float *out, const float *x, int n_rows, int n, const wsp_tensor *w,
                      const wsp_tensor *b)
{
    for (int i = 0; i < n_rows; i++)
        tq_layernorm(out + (size_t)i * n, x + (size_t)i * n, w->data, b->data, n, LN_EPS);
}

/* Softmax of one row of scores after scaling; -INFINITY entries (masked) become 0. */
static void scaled_softmax(float *x, int n, float scale)
{
    for (int i = 0; i < n; i++)
        x[i] *= scale;
    tq_softmax(x, n);
}

/* ---- encoder ------------------------------------------------------------------------------ */

/* One head of encoder self-attention, split across threads by rows: gather (rounding to
 * F16), then, after the scores product, softmax and round each row. */
typedef struct enc_head_job {
    wsp_state *s;
    int hd, phase;
    float scale;
} enc_head_job;

static void enc_head_task(void *arg, int ith, int nth)
{
    const enc_head_job *j = arg;
    wsp_state *s = j->s;
    const wsp_hparams *h = &s->m->hp;
    int C = h->n_audio_ctx, S = h->n_audio_state, dh = S / h->n_audio_head;
    int t0 = C * ith / nth, t1 = C * (ith + 1) / nth;
    for (int t = t0; t < t1; t++) {
        if (j->phase == 0) {
            for (int d = 0; d < dh; d++) {
                size_t src = (size_t)t * S + j->hd * dh + d;
                s->qh[(size_t)t * dh + d] = f16_round(s->q[src]);
                s->kh[(size_t)t * dh + d] = f16_round(s->k[src]);
                s->vt[(size_t)d * C + t] = f16_round(s->v[src]);
            }
        } else if (j->phase == 1) {
            float *row = s->scores + (size_t)t * C;
            scaled_softmax(row, C, j->scale);
            s->kern->round_f16(row, row, C);
        } else {
            memcpy(s->att + (size_t)t * S + j->hd * dh, s->oh + (size_t)t * dh, dh * sizeof(float));
        }
    }
}

/* Self-attention over all C positions, one head at a time, as two matrix products each:
 * scores = Q K^T (K as the "weights"), then out = P V (V^T as the "weights"). */
static void encoder_attention(wsp_state *s)
{
    const wsp_hparams *h = &s->m->hp;
    int C = h->n_audio_ctx, H = h->n_audio_head, dh = h->n_audio_state / H;
    for (int hd = 0; hd < H; hd++) {
        enc_head_job j = { s, hd, 0, 1.0f / sqrtf((float)dh) };
        tq_pool_run(s->pool, enc_head_task, &j);
        tq_matmul(s->pool, s->kern, s->scores, s->kh, TQ_F32, C, dh, s->qh, C, NULL);
        j.phase = 1;
        tq_pool_run(s->pool, enc_head_task, &j);
        tq_matmul(s->pool, s->kern, s->oh, s->vt, TQ_F32, dh, C, s->scores, C, NULL);
        j.phase = 2;
        tq_pool_run(s->pool, enc_head_task, &j);
    }
}

static void encoder_attn_block(wsp_state *s, const wsp_layer *y)
{
    const wsp_hparams *h = &s->m->hp;
    int C = h->n_audio_ctx, S = h->n_audio_state;
    layernorm(s->cur, s->x, C, S, &y->attn_ln_w, &y->attn_ln_b);
    matmul(s, s->q, &y->attn_q_w, s->cur, C, &y->attn_q_b);
    matmul(s, s->k, &y->attn_k_w, s->cur, C, NULL);
    matmul(s, s->v, &y->attn_v_w, s->cur, C, &y->attn_v_b);
    encoder_attention(s);
    matmul(s, s->q, &y->attn_o_w, s->att, C, &y->attn_o_b);
    tq_add(s->x, s->x, s->q, C * S);
}

/* The hidden layer [C][4S] lives in cur; the normalised input in q (free by now). */
static void encoder_mlp_block(wsp_state *s, const wsp_layer *y)
{
    const wsp_hparams *h = &s->m->hp;
    int C = h->n_audio_ctx, S = h->n_audio_state;
    layernorm(s->q, s->x, C, S, &y->mlp_ln_w, &y->mlp_ln_b);
    matmul(s, s->cur, &y->mlp0_w, s->q, C, &y->mlp0_b);
    gelu(s->cur, (size_t)C * 4 * S);
    matmul(s, s->att, &y->mlp2_w, s->cur, C, &y->mlp2_b);
    tq_add(s->x, s->x, s->att, C * S);
}

/* 1-D convolution with kernel 3 and padding 1 as an im2col matrix product:
 * col[t][c*3 + k] = in[c][stride*t + k - 1] (0 outside), in addressed by two strides. */
static void conv_cols(float *col, int n_out, int n_in, int stride, const float *in,
                      size_t in_t_stride, size_t in_c_stride, int n_in_t)
{
    for (int t = 0; t < n_out; t++) {
        float *row = col + (size_t)t * 3 * n_in;
        for (int c = 0; c < n_in; c++)
            for (int k = 0; k < 3; k++) {
                int ti = stride * t + k - 1;
                row[c * 3 + k] = ti >= 0 && ti < n_in_t
                                     ? in[(size_t)ti * in_t_stride + (size_t)c * in_c_stride]
                                     : 0.0f;
            }
    }
}

static void encoder_conv(wsp_state *s, const float *mel)
{
    const wsp_model *m = s->m;
    const wsp_hparams *h = &m->hp;
    int C = h->n_audio_ctx, F = 2 * C, S = h->n_audio_state, M = h->n_mels;
    conv_cols(s->col, F, M, 1, mel, 1, (size_t)F, F);
    matmul(s, s->h1, &m->conv1_w, s->col, F, &m->conv1_b);
    gelu(s->h1, (size_t)F * S);
    conv_cols(s->col, C, S, 2, s->h1, (size_t)S, 1, F);
    matmul(s, s->x, &m->conv2_w, s->col, C, &m->conv2_b);
    gelu(s->x, (size_t)C * S);
    tq_add(s->x, s->x, m->e_pos.data, C * S);
}

static void cross_kv(wsp_state *s)
{
    const wsp_model *m = s->m;
    const wsp_hparams *h = &m->hp;
    int C = h->n_audio_ctx, S = h->n_text_state;
    size_t n = (size_t)C * S;
    float kscale = powf((float)(S / h->n_text_head), -0.25f);
    for (int l = 0; l < h->n_text_layer; l++) {
        const wsp_layer *y = &m->d_layers[l];
        tq_f16 *ck = s->ck + l * n, *cvt = s->cvt + l * n;
        matmul(s, s->k, &y->cross_k_w, s->cur, C, NULL);
        matmul(s, s->v, &y->cross_v_w, s->cur, C, &y->cross_v_b);
        for (size_t i = 0; i < n; i++)
            ck[i] = tq_f32_to_f16(s->k[i] * kscale);
        for (int t = 0; t < C; t++)
            for (int d = 0; d < S; d++)
                cvt[(size_t)d * C + t] = tq_f32_to_f16(s->v[(size_t)t * S + d]);
    }
}

hearth_status wsp_encode(wsp_state *s, const float *mel, hearth_error *err)
{
    const wsp_model *m = s->m;
    const wsp_hparams *h = &m->hp;
    double t0 = now_ms();
    pthread_once(&gelu_once, gelu_table_init);
    encoder_conv(s, mel);
    for (int l = 0; l < h->n_audio_layer; l++) {
        encoder_attn_block(s, &m->e_layers[l]);
        encoder_mlp_block(s, &m->e_layers[l]);
    }
    layernorm(s->cur, s->x, h->n_audio_ctx, h->n_audio_state, &m->e_ln_w, &m->e_ln_b);
    cross_kv(s);
    s->encoded = 1;
    s->t.encode_ms += now_ms() - t0;
    s->t.n_encode++;
    (void)err;
    return HEARTH_OK;
}

/* ---- decoder ------------------------------------------------------------------------------ */

static size_t kv_offset(const wsp_state *s, int seq, int layer)
{
    const wsp_hparams *h = &s->m->hp;
    return (((size_t)seq * h->n_text_layer + layer) * h->n_text_ctx) * h->n_text_state;
}

/* Attention for every (row, head) pair of a decoder batch, split across threads. Row i
 * belongs to sequence seq[i] at position pos[i]: self-attention reads that sequence's
 * cache at positions 0..pos[i] (this batch's keys and values are already in it); cross-
 * attention reads all C encoder positions. Keys are rows of stride S, values transposed
 * rows of stride ld; scores are scaled by scale before the softmax. */
typedef struct dec_att_job {
    wsp_state *s;
    const int *seq, *pos;
    int layer, cross, n;
    float scale;
} dec_att_job;

static void dec_att_task(void *arg, int ith, int nth)
{
    const dec_att_job *j = arg;
    wsp_state *s = j->s;
    const wsp_hparams *h = &s->m->hp;
    int S = h->n_text_state, H = h->n_text_head, dh = S / H, C = h->n_audio_ctx;
    int T = h->n_text_ctx;
    float *sc = s->dscore + (size_t)ith * (size_t)(C > T ? C : T);
    tq_f16 *sc16 = s->dscore16 + (size_t)ith * (size_t)(C > T ? C : T);
    tq_vec_dot_fn dot = s->kern->vec_dot[TQ_F16];
    tq_from_float_fn to_f16 = s->kern->from_float[TQ_F16];
    tq_f16 qr[1024];
    for (int job = ith; job < j->n * H; job += nth) {
        int i = job / H, hd = job % H, nk, ld;
        const tq_f16 *K, *Vt;
        if (j->cross) {
            K = s->ck + (size_t)j->layer * C * S;
            Vt = s->cvt + (size_t)j->layer * C * S;
            nk = ld = C;
        } else {
            K = s->kv_k + kv_offset(s, j->seq[i], j->layer);
            Vt = s->kv_vt + kv_offset(s, j->seq[i], j->layer);
            nk = j->pos[i] + 1;
            ld = T;
        }
        const float *q = s->dq + (size_t)i * S + hd * dh;
        to_f16(q, qr, dh);
        for (int t = 0; t < nk; t++)
            dot(dh, &sc[t], K + (size_t)t * S + hd * dh, qr);
        scaled_softmax(sc, nk, j->scale);
        to_f16(sc, sc16, nk);
        float *o = s->datt + (size_t)i * S + hd * dh;
        for (int d = 0; d < dh; d++)
            dot(nk, &o[d], Vt + (size_t)(hd * dh + d) * ld, sc16);
    }
}

static void dec_attention(wsp_state *s, const int *seq, const int *pos, int n, int l, int cross)
{
    int dh = s->m->hp.n_text_state / s->m->hp.n_text_head;
    dec_att_job j = { s, seq, pos, l, cross, n,
                      cross ? powf((float)dh, -0.25f) : 1.0f / sqrtf((float)dh) };
    tq_pool_run(s->pool, dec_att_task, &j);
}

static void decoder_layer(wsp_state *s, int l, const int *seq, const int *pos, int n)
{
    const wsp_hparams *h = &s->m->hp;
    const wsp_layer *y = &s->m->d_layers[l];
    int S = h->n_text_state, T = h->n_text_ctx;

    layernorm(s->dcur, s->dx, n, S, &y->attn_ln_w, &y->attn_ln_b);
    matmul(s, s->dq, &y->attn_q_w, s->dcur, n, &y->attn_q_b);
    matmul(s, s->dk, &y->attn_k_w, s->dcur, n, NULL);
    matmul(s, s->dv, &y->attn_v_w, s->dcur, n, &y->attn_v_b);
    for (int i = 0; i < n; i++) {
        tq_f16 *K = s->kv_k + kv_offset(s, seq[i], l) + (size_t)pos[i] * S;
        tq_f16 *Vt = s->kv_vt + kv_offset(s, seq[i], l) + pos[i];
        for (int d = 0; d < S; d++) {
            K[d] = tq_f32_to_f16(s->dk[(size_t)i * S + d]);
            Vt[(size_t)d * T] = tq_f32_to_f16(s->dv[(size_t)i * S + d]);
        }
    }
    dec_attention(s, seq, pos, n, l, 0);
    matmul(s, s->dq, &y->attn_o_w, s->datt, n, &y->attn_o_b);
    tq_add(s->dx, s->dx, s->dq, n * S);

    layernorm(s->dcur, s->dx, n, S, &y->cross_ln_w, &y->cross_ln_b);
    matmul(s, s->dq, &y->cross_q_w, s->dcur, n, &y->cross_q_b);
    dec_attention(s, seq, pos, n, l, 1);
    matmul(s, s->dq, &y->cross_o_w, s->datt, n, &y->cross_o_b);
    tq_add(s->dx, s->dx, s->dq, n * S);

    layernorm(s->dcur, s->dx, n, S, &y->mlp_ln_w, &y->mlp_ln_b);
    matmul(s, s->dh, &y->mlp0_w, s->dcur, n, &y->mlp0_b);
    gelu(s->dh, (size_t)n * 4 * S);
    matmul(s, s->dq, &y->mlp2_w, s->dh, n, &y->mlp2_b);
    tq_add(s->dx, s->dx, s->dq, n * S);
}

/* Run rows (seq[i], tok[i], pos[i]); logits of the last row (all_logits: of every row). */
static hearth_status decode_rows(wsp_state *s, const int *seq, const int *tok, const int *pos,
                                 int n, float *logits, int all_logits, hearth_error *err)
{
    const wsp_model *m = s->m;
    const wsp_hparams *h = &m->hp;
    int S = h->n_text_state;
    if (!s->encoded)
        return err_set(err, HEARTH_ERR_INVALID, "whisper: decode before encode");
    if (S / h->n_text_head > 1024)
        return err_set(err, HEARTH_ERR_UNSUPPORTED, "whisper: head size %d", S / h->n_text_head);
    for (int i = 0; i < n; i++) {
        if (seq[i] < 0 || seq[i] >= s->n_seq)
            return err_set(err, HEARTH_ERR_RANGE, "whisper: sequence %d of %d", seq[i], s->n_seq);
        if (pos[i] < 0 || pos[i] >= h->n_text_ctx)
            return err_set(err, HEARTH_ERR_RANGE, "whisper: position %d exceeds the text context of %d",
                           pos[i], h->n_text_ctx);
        if (tok[i] < 0 || tok[i] >= h->n_vocab)
            return err_set(err, HEARTH_ERR_RANGE, "whisper: token id %d out of range", tok[i]);
    }
    double t0 = now_ms();
    pthread_once(&gelu_once, gelu_table_init);
    size_t row = tq_row_size(m->tok_emb.type, S);
    for (int i = 0; i < n; i++) {
        float *x = s->dx + (size_t)i * S;
        tq_dequantize(m->tok_emb.type, (const char *)m->tok_emb.data + (size_t)tok[i] * row, x, S);
        tq_add(x, x, (const float *)m->d_pos.data + (size_t)pos[i] * S, S);
    }
    for (int l = 0; l < h->n_text_layer; l++)
        decoder_layer(s, l, seq, pos, n);
    if (logits) {
        int first = all_logits ? 0 : n - 1;
        layernorm(s->dcur, s->dx + (size_t)first * S, n - first, S, &m->d_ln_w, &m->d_ln_b);
        matmul(s, logits, &m->tok_emb, s->dcur, n - first, NULL);
    }
    s->t.decode_ms += now_ms() - t0;
    s->t.n_decode_tokens += n;
    return HEARTH_OK;
}

hearth_status wsp_decode(wsp_state *s, int seq, const int *tokens, int n, int n_past,
                         float *logits, hearth_error *err)
{
    const wsp_hparams *h = &s->m->hp;
    if (n < 1 || n_past < 0 || n > h->n_text_ctx - n_past)
        return err_set(err, HEARTH_ERR_RANGE, "whisper: %d tokens at position %d exceed the text context of %d",
                       n, n_past, h->n_text_ctx);
    for (int i = 0; i < n; i++) {
        s->row_seq[i] = seq;
        s->row_pos[i] = n_past + i;
    }
    return decode_rows(s, s->row_seq, tokens, s->row_pos, n, logits, 0, err);
}

hearth_status wsp_decode_batch(wsp_state *s, int n, const int *seqs, const int *tokens,
                               const int *pos, float *logits, hearth_error *err)
{
    if (n < 1 || n > s->m->hp.n_text_ctx)
        return err_set(err, HEARTH_ERR_RANGE, "whisper: batch of %d rows", n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < i; k++)
            if (seqs[k] == seqs[i])
                return err_set(err, HEARTH_ERR_INVALID, "whisper: sequence %d twice in a batch", seqs[i]);
    return decode_rows(s, seqs, tokens, pos, n, logits, 1, err);
}

void wsp_kv_copy(wsp_state *s, int dst, int src, int n)
{
    const wsp_hparams *h = &s->m->hp;
    if (dst == src || n <= 0)
        return;
    int S = h->n_text_state, T = h->n_text_ctx;
    for (int l = 0; l < h->n_text_layer; l++) {
        memcpy(s->kv_k + kv_offset(s, dst, l), s->kv_k + kv_offset(s, src, l),
               (size_t)n * S * sizeof(tq_f16));
        tq_f16 *d = s->kv_vt + kv_offset(s, dst, l);
        const tq_f16 *o = s->kv_vt + kv_offset(s, src, l);
        for (int r = 0; r < S; r++)
            memcpy(d + (size_t)r * T, o + (size_t)r * T, (size_t)n * sizeof(tq_f16));
    }
}
