/*
 * matmul.c — y = W · x for weights of any type with a kernel (see matmul.h).
 *
 * Two phases, both on the pool:
 *  1. The activations are converted once to the weight type's vec_dot_type (Q8_0 / Q8_K
 *     blocks, or nothing at all for float weights, whose kernels read x directly). Since
 *     cols is a multiple of the block size, the batch rows are one run of whole blocks, so
 *     large batches are split across threads by blocks; a single row is converted by the
 *     caller, where a pool round trip would cost more than the work.
 *  2. Output rows are cut into chunks that threads claim from a shared counter, so a thread
 *     slowed by another process on its core does not hold everyone up. Where the kernel set
 *     has a multi-row kernel for the type, a chunk's rows go to it in one call per
 *     activation row, so the activation-side work is shared by them. For a batch, each
 *     chunk of weight rows is sized to stay in the core's cache while every activation row
 *     passes over it: the weights, the dominant traffic, are then read from memory once per
 *     product rather than once per batch row.
 *
 * tq_matmul_multi runs the vec_dot path of several weight matrices over the same
 * activations (q/k/v, gate/up) as one set of chunks: one conversion and one pool run
 * instead of one per matrix, so generation threads meet fewer times per layer.
 *
 * Batches of at least GEMM_MIN_BATCH rows on a weight type with a GEMM kernel take the
 * matrix-matrix path of kernels/gemm.h instead of phase 2: the activations are converted
 * and packed into groups of 16 (one pool run, split by groups), then threads claim panels
 * of TQ_GEMM_ROWS weight rows; each panel is decoded TQ_GEMM_KC values at a time into a
 * buffer on the thread's stack (56 KiB) and multiplied with every activation row there,
 * while the weights the thread decodes next are fetched into L2. The products of one
 * tq_matmul_multi share the packed activations where their types pack alike.
 * Float weights (F32, F16, BF16) take the float GEMM of gemm.h the same way: threads claim
 * panels of TQ_GEMMF_ROWS rows, decode TQ_GEMMF_KC values at a time to F32 (32 KiB on the
 * stack) and multiply them with float activations (for F16 weights rounded to F16 first,
 * see matmul_gemmf).
 *
 * Preconditions (checked by whoever maps the weights): cols is a multiple of the block size
 * of both the weight type and its vec_dot_type, and k has a vec_dot for the type. Nothing
 * is allocated here; `scratch` holds tq_matmul_scratch_size() bytes.
 */
#include "tensor/matmul.h"
#include "tensor/quant.h"

#include <stdatomic.h>
#include <stdint.h>

/* Below this many activation values, converting them is cheaper than waking the pool. */
#define PARALLEL_CONVERT_MIN 65536
/* Weight bytes per chunk for a batch: well inside a core's L2, so the chunk stays cached
 * across the whole batch. */
#define BATCH_CHUNK_BYTES (64 * 1024)
/* For one activation row, chunks per thread: enough to even out unequal thread speeds. */
#define CHUNKS_PER_THREAD 8
/* From this many activation rows on, the GEMM path beats one vec_dot per output. */
#define GEMM_MIN_BATCH 8
/* Chunks are whole cache lines of output (16 floats) so threads never share a line of y. */
#define ROW_ALIGN 16

typedef struct convert_job {
    tq_from_float_fn from_float;
    const float *x;
    char *dst;
    int64_t n_blocks;
    int blck;
    size_t block_bytes;
} convert_job;

/* One weight matrix of a dot job; its chunks are numbered from first_chunk on. */
typedef struct dot_part {
    tq_vec_dot_fn dot;
    tq_vec_dot_rows_fn dot_rows; /* NULL where the kernel set has none for the type */
    float *y;
    const char *W;
    size_t w_row;       /* bytes per weight row */
    int rows, chunk_rows, first_chunk;
} dot_part;

typedef struct dot_job {
    dot_part part[TQ_MATMUL_MAX_ITEMS];
    int n_parts;
    const char *xa;     /* activations in vec_dot_type */
    size_t x_row;       /* bytes per activation row */
    int cols, batch;
    int n_chunks;
    atomic_int next;    /* next unclaimed chunk */
} dot_job;

typedef struct gemm_job {
    const tq_kernels *k;
    int type, vt, bs;
    const float *x;
    const char *W;
    size_t w_row;
    int rows, cols, batch;
    char *xq;           /* activations in vec_dot_type */
    size_t x_row;
    uint8_t *act;       /* packed groups, group_stride bytes apart */
    size_t group_stride;
    float *y;
    int n_groups, n_panels;
    atomic_int next;    /* next unclaimed panel */
} gemm_job;

typedef struct gemmf_job {
    const tq_kernels *k;
    int type;
    const char *W;
    size_t w_row;
    int rows, cols, batch;
    const float *x;
    float *y;
    int n_panels;
    atomic_int next;    /* next unclaimed panel */
} gemmf_job;

/* Float weights take the float GEMM wherever a set has one. */
static bool use_gemmf(const tq_kernels *k, int type, int batch)
{
    return batch >= GEMM_MIN_BATCH && k->gemmf && tq_gemmf_type(type);
}

static bool use_gemm(const tq_kernels *k, int type, int batch)
{
    return batch >= GEMM_MIN_BATCH &&
           (tq_kernels_gemm_int8(k, type) || use_gemmf(k, type, batch));
}

/* The scratch of the GEMM path: the converted rows, then (64-byte aligned) the packed
 * groups of packed_group_bytes each. */
static size_t packed_offset(int vt, int cols, int batch)
{
    return ((size_t)batch * tq_row_size(vt, cols) + 63) & ~(size_t)63;
}

static size_t packed_group_bytes(int type, int cols)
{
    int bs = tq_gemm_block_size(type);
    return (size_t)(cols / bs) * tq_gemm_record_size(bs);
}

size_t tq_matmul_scratch_size(int type, int cols, int batch)
{
    int vt = tq_vec_dot_type(type);
    if (vt < 0 || vt == TQ_F32 || batch <= 0)
        return 0;
    size_t need = (size_t)batch * tq_row_size(vt, cols);
    if (batch >= GEMM_MIN_BATCH && tq_gemm_block_size(type) > 0) { /* the int8 GEMM */
        int groups = (batch + TQ_GEMM_COLS - 1) / TQ_GEMM_COLS;
        need = packed_offset(vt, cols, batch) + (size_t)groups * packed_group_bytes(type, cols);
    }
    /* the float GEMM of F16 weights: the activations rounded to F16, as floats */
    if (batch >= GEMM_MIN_BATCH && vt == TQ_F16)
        need = (size_t)batch * cols * sizeof(float);
    return need;
}

static void convert_task(void *arg, int ith, int nth)
{
    const convert_job *j = arg;
    int64_t b0 = j->n_blocks * ith / nth, b1 = j->n_blocks * (ith + 1) / nth;
    if (b1 > b0)
        j->from_float(j->x + b0 * j->blck, j->dst + b0 * (int64_t)j->block_bytes,
                      (b1 - b0) * j->blck);
}

static void dot_chunk(const dot_job *j, int c)
{
    int i = 0;
    while (i + 1 < j->n_parts && c >= j->part[i + 1].first_chunk)
        i++;
    const dot_part *p = &j->part[i];
    int r0 = (c - p->first_chunk) * p->chunk_rows;
    int r1 = r0 + p->chunk_rows < p->rows ? r0 + p->chunk_rows : p->rows;
    for (int b = 0; b < j->batch; b++) {
        const char *xb = j->xa + (size_t)b * j->x_row;
        float *yb = p->y + (size_t)b * p->rows;
        if (p->dot_rows) {
            p->dot_rows(j->cols, &yb[r0], p->W + (size_t)r0 * p->w_row, p->w_row, xb, r1 - r0);
            continue;
        }
        for (int r = r0; r < r1; r++)
            p->dot(j->cols, &yb[r], p->W + (size_t)r * p->w_row, xb);
    }
}

/* Thread ith starts with chunk ith (no contention on the counter for the first round),
 * then claims the rest one at a time. */
static void dot_task(void *arg, int ith, int nth)
{
    dot_job *j = arg;
    for (int c = ith; c < j->n_chunks; c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed))
        dot_chunk(j, c);
}

static int pick_chunk_rows(int rows, int batch, size_t w_row, int nth)
{
    int chunk;
    if (batch == 1) {
        chunk = (rows + nth * CHUNKS_PER_THREAD - 1) / (nth * CHUNKS_PER_THREAD);
    } else {
        size_t fit = BATCH_CHUNK_BYTES / (w_row ? w_row : 1);
        int per_thread = (rows + nth - 1) / nth;
        chunk = fit < 1 ? 1 : fit > (size_t)per_thread ? per_thread : (int)fit;
    }
    if (chunk >= ROW_ALIGN)
        chunk -= chunk % ROW_ALIGN;
    return chunk > 0 ? chunk : 1;
}

/* Convert and pack whole groups of activation rows; thread ith takes its share of groups. */
static void gemm_prep_task(void *arg, int ith, int nth)
{
    const gemm_job *j = arg;
    int g0 = j->n_groups * ith / nth, g1 = j->n_groups * (ith + 1) / nth;
    for (int g = g0; g < g1; g++) {
        int c0 = g * TQ_GEMM_COLS;
        for (int c = c0; c < c0 + TQ_GEMM_COLS && c < j->batch; c++)
            j->k->from_float[j->vt](j->x + (size_t)c * j->cols, j->xq + (size_t)c * j->x_row,
                                    j->cols);
        tq_gemm_pack_group(j->vt, j->bs, j->xq, j->x_row, c0, j->batch, j->cols / j->bs,
                           j->act + (size_t)g * j->group_stride);
    }
}

static int panel_rows(const gemm_job *j, int panel)
{
    const int r0 = panel * TQ_GEMM_ROWS;
    return j->rows - r0 < TQ_GEMM_ROWS ? j->rows - r0 : TQ_GEMM_ROWS;
}

/* The weights a thread decodes next: bytes [0, bytes) of rows rows from base, w_row apart. */
typedef struct weight_span {
    const char *base;
    size_t w_row, bytes;
    int rows;
} weight_span;

/* After chunk k0 of panel: its next chunk, or the first chunk of panel next (none if next
 * is past the end). */
static weight_span next_span(const gemm_job *j, int panel, int k0, int next)
{
    weight_span w = { .w_row = j->w_row };
    const int k1 = k0 + TQ_GEMM_KC;
    if (k1 < j->cols) {
        w.base = j->W + (size_t)panel * TQ_GEMM_ROWS * j->w_row + tq_row_size(j->type, k1);
        w.rows = panel_rows(j, panel);
        w.bytes = tq_row_size(j->type, j->cols - k1 < TQ_GEMM_KC ? j->cols - k1 : TQ_GEMM_KC);
    } else if (next < j->n_panels) {
        w.base = j->W + (size_t)next * TQ_GEMM_ROWS * j->w_row;
        w.rows = panel_rows(j, next);
        w.bytes = tq_row_size(j->type, j->cols < TQ_GEMM_KC ? j->cols : TQ_GEMM_KC);
    }
    return w;
}

/* Part `part` of `parts` of w's cache lines, into L2 (locality 2): decoding a panel waited
 * on its weights from memory (9 % of a 512-token Q8_0 prompt, 4.6 % with this), and L1 is
 * taken by the panel being multiplied. The division per line also paces the requests (tens
 * of cycles apart): the same loop stepping row and line without dividing issued them
 * faster than the core's miss queue takes them, and decoding was back at 9 %. Fetching one
 * line per block from inside the GEMM kernel instead left 5-6 % and measured no faster. */
static void prefetch_part(const weight_span *w, int part, int parts)
{
    const size_t lines = (w->bytes + 63) / 64, total = lines * (size_t)w->rows;
    for (size_t i = total * part / parts; i < total * (part + 1) / parts; i++)
        __builtin_prefetch(w->base + (i / lines) * w->w_row + (i % lines) * 64, 0, 2);
}

/* One panel, TQ_GEMM_KC values at a time: decode, then multiply with the activations two
 * groups per call, fetching a share of the weights decoded next after each call, so the
 * fetches are spread over the whole product. next: the panel this thread takes after this
 * one (n_panels if none). */
static void gemm_panel(const gemm_job *j, int panel, int next, tq_gemm_panel *p)
{
    const int r0 = panel * TQ_GEMM_ROWS, nr = panel_rows(j, panel);
    const size_t rec = tq_gemm_record_size(j->bs);
    const int parts = (j->n_groups + 1) / 2;
    for (int k0 = 0; k0 < j->cols; k0 += TQ_GEMM_KC) {
        int kc = j->cols - k0 < TQ_GEMM_KC ? j->cols - k0 : TQ_GEMM_KC;
        int blk0 = k0 / j->bs;
        j->k->gemm_unpack(j->type, j->W + (size_t)r0 * j->w_row, j->w_row, nr, blk0,
                          kc / j->bs, p);
        const weight_span w = next_span(j, panel, k0, next);
        for (int part = 0; part < parts; part++) {
            const int c0 = 2 * part * TQ_GEMM_COLS;
            const int nc = j->batch - c0 < 2 * TQ_GEMM_COLS ? j->batch - c0 : 2 * TQ_GEMM_COLS;
            j->k->gemm(p, j->act + (size_t)2 * part * j->group_stride + (size_t)blk0 * rec,
                       j->group_stride, j->y + (size_t)c0 * j->rows + r0, j->rows, nr, nc,
                       k0 > 0);
            if (w.rows)
                prefetch_part(&w, part, parts);
        }
    }
}

/* Each thread claims its next panel before multiplying the current one, so that it knows
 * which weights to fetch ahead. */
static void gemm_task(void *arg, int ith, int nth)
{
    gemm_job *j = arg;
    _Alignas(64) int8_t q[TQ_GEMM_ROWS * TQ_GEMM_KC];
    float d[TQ_GEMM_ROWS * TQ_GEMM_KC / 16], m[TQ_GEMM_ROWS * TQ_GEMM_KC / 16];
    int32_t corr[TQ_GEMM_ROWS * TQ_GEMM_KC / 16], sc[TQ_GEMM_ROWS * TQ_GEMM_KC / 16],
        mn[TQ_GEMM_ROWS * TQ_GEMM_KC / 16];
    tq_gemm_panel p = { .q = q, .d = d, .m = m, .corr = corr, .sc = sc, .mn = mn };
    (void)nth;
    for (int c = ith; c < j->n_panels;) {
        int next = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        gemm_panel(j, c, next, &p);
        c = next;
    }
}

/* packed: scratch already holds x converted and packed for this type's vec_dot type and
 * block size (the previous product of a tq_matmul_multi left it there). */
static void matmul_gemm(tq_pool *pool, const tq_kernels *k, float *y, const void *W, int type,
                        int rows, int cols, const float *x, int batch, void *scratch,
                        bool packed)
{
    const int vt = tq_vec_dot_type(type);
    gemm_job j = {
        .k = k, .type = type, .vt = vt, .bs = tq_gemm_block_size(type), .x = x, .W = W,
        .w_row = tq_row_size(type, cols), .rows = rows, .cols = cols, .batch = batch,
        .xq = scratch, .x_row = tq_row_size(vt, cols),
        .act = (uint8_t *)scratch + packed_offset(vt, cols, batch),
        .group_stride = packed_group_bytes(type, cols), .y = y,
        .n_groups = (batch + TQ_GEMM_COLS - 1) / TQ_GEMM_COLS,
        .n_panels = (rows + TQ_GEMM_ROWS - 1) / TQ_GEMM_ROWS,
    };
    if (!packed)
        tq_pool_run(pool, gemm_prep_task, &j);
    atomic_init(&j.next, tq_pool_size(pool));
    tq_pool_run(pool, gemm_task, &j);
}

/* Ask for weight rows r0 .. r0+nr-1, values k0 .. k0+kc-1, ahead of their decoding: a
 * panel's rows are w_row bytes apart, 32 streams at once, more than the hardware
 * prefetcher follows, and the AVX2 float decoder spent half its time waiting on these loads. */
static void prefetch_weights(const char *W, size_t w_row, int type, int r0, int nr, int k0,
                             int kc)
{
    const size_t off = tq_row_size(type, k0), bytes = tq_row_size(type, kc);
    for (int r = r0; r < r0 + nr; r++)
        for (size_t b = 0; b < bytes; b += 64)
            __builtin_prefetch(W + (size_t)r * w_row + off + b);
}

static void gemmf_task(void *arg, int ith, int nth)
{
    gemmf_job *j = arg;
    _Alignas(64) float panel[TQ_GEMMF_ROWS * TQ_GEMMF_KC];
    (void)nth;
    for (int c = ith; c < j->n_panels; c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) {
        const int r0 = c * TQ_GEMMF_ROWS;
        const int nr = j->rows - r0 < TQ_GEMMF_ROWS ? j->rows - r0 : TQ_GEMMF_ROWS;
        for (int k0 = 0; k0 < j->cols; k0 += TQ_GEMMF_KC) {
            int kc = j->cols - k0 < TQ_GEMMF_KC ? j->cols - k0 : TQ_GEMMF_KC;
            if (k0 + kc < j->cols) /* the next chunk, while this one is multiplied */
                prefetch_weights(j->W, j->w_row, j->type, r0, nr, k0 + kc,
                                 j->cols - k0 - kc < TQ_GEMMF_KC ? j->cols - k0 - kc
                                                                 : TQ_GEMMF_KC);
            j->k->gemmf_unpack(j->type, j->W + (size_t)r0 * j->w_row, j->w_row, nr, k0, kc, panel);
            j->k->gemmf(panel, kc, j->x + k0, (size_t)j->cols, j->y + r0, j->rows, nr, j->batch,
                        k0 > 0);
        }
    }
}

typedef struct round_job {
    const tq_kernels *k;
    int cols, batch;
    const float *x;
    float *xr;          /* x rounded to F16, as floats */
} round_job;

static void round_task(void *arg, int ith, int nth)
{
    const round_job *j = arg;
    for (int b = j->batch * ith / nth; b < j->batch * (ith + 1) / nth; b++)
        j->k->round_f16(j->x + (size_t)b * j->cols, j->xr + (size_t)b * j->cols, j->cols);
}

/* The activations of F16 weights (vec_dot type F16) are first rounded to F16, so a batch
 * multiplies the same activation values one row at a time would, and the two agree to
 * float rounding. */
static void matmul_gemmf(tq_pool *pool, const tq_kernels *k, float *y, const void *W, int type,
                         int rows, int cols, const float *x, int batch, void *scratch)
{
    if (tq_vec_dot_type(type) == TQ_F16) {
        round_job d = { .k = k, .cols = cols, .batch = batch, .x = x, .xr = scratch };
        tq_pool_run(pool, round_task, &d);
        x = d.xr;
    }
    gemmf_job j = {
        .k = k, .type = type, .W = W, .w_row = tq_row_size(type, cols), .rows = rows,
        .cols = cols, .batch = batch, .x = x, .y = y,
        .n_panels = (rows + TQ_GEMMF_ROWS - 1) / TQ_GEMMF_ROWS,
    };
    atomic_init(&j.next, tq_pool_size(pool));
    tq_pool_run(pool, gemmf_task, &j);
}

/* Convert the activations to vec_dot_type vt (in scratch), unless the kernels read floats.
 * Returns the converted rows and sets *x_row to their size. */
static const char *convert(tq_pool *pool, const tq_kernels *k, int vt, int cols,
                           const float *x, int batch, void *scratch, size_t *x_row)
{
    *x_row = (size_t)cols * sizeof(float);
    if (vt == TQ_F32)
        return (const char *)x;
    const tq_traits *at = tq_traits_of(vt);
    convert_job cj = {
        .from_float = k->from_float[vt], .x = x, .dst = scratch,
        .n_blocks = (int64_t)batch * cols / at->blck, .blck = at->blck,
        .block_bytes = at->type_size,
    };
    if ((int64_t)batch * cols >= PARALLEL_CONVERT_MIN)
        tq_pool_run(pool, convert_task, &cj);
    else
        convert_task(&cj, 0, 1);
    *x_row = tq_row_size(vt, cols);
    return scratch;
}

/* The vec_dot path for n items sharing x (and its vec_dot type): one pool run in all. */
static void matmul_dot(tq_pool *pool, const tq_kernels *k, const tq_matmul_item *items, int n,
                       int cols, const float *x, int batch, void *scratch)
{
    const int nth = tq_pool_size(pool);
    dot_job j = { .n_parts = n, .cols = cols, .batch = batch };
    j.xa = convert(pool, k, tq_vec_dot_type(items[0].type), cols, x, batch, scratch, &j.x_row);
    for (int i = 0; i < n; i++) {
        dot_part *p = &j.part[i];
        int t = items[i].type;
        *p = (dot_part){ .dot = k->vec_dot[t], .dot_rows = k->vec_dot_rows[t],
                         .y = items[i].y, .W = items[i].W, .w_row = tq_row_size(t, cols),
                         .rows = items[i].rows, .first_chunk = j.n_chunks };
        p->chunk_rows = pick_chunk_rows(p->rows, batch, p->w_row, nth);
        j.n_chunks += (p->rows + p->chunk_rows - 1) / p->chunk_rows;
    }
    atomic_init(&j.next, nth);
    if (nth == 1 || j.n_chunks == 1)
        dot_task(&j, 0, 1);
    else
        tq_pool_run(pool, dot_task, &j);
}

void tq_matmul(tq_pool *pool, const tq_kernels *k, float *y, const void *W, int type,
               int rows, int cols, const float *x, int batch, void *scratch)
{
    tq_matmul_item it = { .y = y, .W = W, .type = type, .rows = rows };
    tq_matmul_multi(pool, k, &it, 1, cols, x, batch, scratch);
}

void tq_matmul_multi(tq_pool *pool, const tq_kernels *k, const tq_matmul_item *items, int n,
                     int cols, const float *x, int batch, void *scratch)
{
    if (n <= 0 || batch <= 0)
        return;
    bool together = n <= TQ_MATMUL_MAX_ITEMS;
    for (int i = 0; i < n && together; i++)
        together = items[i].rows > 0 && !use_gemm(k, items[i].type, batch) &&
                   tq_vec_dot_type(items[i].type) == tq_vec_dot_type(items[0].type);
    if (together) {
        matmul_dot(pool, k, items, n, cols, x, batch, scratch);
        return;
    }
    /* what scratch holds: x packed for the int8 GEMM with this vec_dot type and block
     * size (q, k and v, or gate and up, of one weight type pack it once) */
    int packed_vt = -1, packed_bs = 0;
    for (int i = 0; i < n; i++) {
        const int t = items[i].type;
        if (items[i].rows <= 0)
            continue;
        if (use_gemmf(k, t, batch)) {
            matmul_gemmf(pool, k, items[i].y, items[i].W, t, items[i].rows, cols, x, batch,
                         scratch);
            packed_vt = -1;
        } else if (use_gemm(k, t, batch)) {
            const int vt = tq_vec_dot_type(t), bs = tq_gemm_block_size(t);
            matmul_gemm(pool, k, items[i].y, items[i].W, t, items[i].rows, cols, x, batch,
                        scratch, vt == packed_vt && bs == packed_bs);
            packed_vt = vt, packed_bs = bs;
        } else {
            matmul_dot(pool, k, &items[i], 1, cols, x, batch, scratch);
            packed_vt = -1;
        }
    }
}
