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
 *     slowed by another process on its core does not hold everyone up. For a batch, each
 *     chunk of weight rows is sized to stay in the core's cache while every activation row
 *     passes over it: the weights, the dominant traffic, are then read from memory once per
 *     product rather than once per batch row.
 *
 * Preconditions (checked by whoever maps the weights): cols is a multiple of the block size
 * of both the weight type and its vec_dot_type, and k has a vec_dot for the type. Nothing
 * is allocated here; `scratch` holds tq_matmul_scratch_size() bytes.
 */
#include "tensor/matmul.h"

#include <stdatomic.h>

/* Below this many activation values, converting them is cheaper than waking the pool. */
#define PARALLEL_CONVERT_MIN 65536
/* Weight bytes per chunk for a batch: well inside a core's L2, so the chunk stays cached
 * across the whole batch. */
#define BATCH_CHUNK_BYTES (64 * 1024)
/* For one activation row, chunks per thread: enough to even out unequal thread speeds. */
#define CHUNKS_PER_THREAD 8
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

typedef struct dot_job {
    tq_vec_dot_fn dot;
    float *y;
    const char *W;
    size_t w_row;       /* bytes per weight row */
    const char *xa;     /* activations in vec_dot_type */
    size_t x_row;       /* bytes per activation row */
    int rows, cols, batch;
    int chunk_rows, n_chunks;
    atomic_int next;    /* next unclaimed chunk */
} dot_job;

size_t tq_matmul_scratch_size(int type, int cols, int batch)
{
    int vt = tq_vec_dot_type(type);
    if (vt < 0 || vt == TQ_F32 || batch <= 0)
        return 0;
    return (size_t)batch * tq_row_size(vt, cols);
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
    int r0 = c * j->chunk_rows;
    int r1 = r0 + j->chunk_rows < j->rows ? r0 + j->chunk_rows : j->rows;
    for (int b = 0; b < j->batch; b++) {
        const char *xb = j->xa + (size_t)b * j->x_row;
        float *yb = j->y + (size_t)b * j->rows;
        for (int r = r0; r < r1; r++)
            j->dot(j->cols, &yb[r], j->W + (size_t)r * j->w_row, xb);
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

void tq_matmul(tq_pool *pool, const tq_kernels *k, float *y, const void *W, int type,
               int rows, int cols, const float *x, int batch, void *scratch)
{
    if (rows <= 0 || batch <= 0)
        return;
    const int vt = tq_vec_dot_type(type);
    const char *xa = (const char *)x;
    size_t x_row = (size_t)cols * sizeof(float);
    if (vt != TQ_F32) {
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
        xa = scratch;
        x_row = tq_row_size(vt, cols);
    }
    const int nth = tq_pool_size(pool);
    dot_job j = {
        .dot = k->vec_dot[type], .y = y, .W = W, .w_row = tq_row_size(type, cols),
        .xa = xa, .x_row = x_row, .rows = rows, .cols = cols, .batch = batch,
    };
    j.chunk_rows = pick_chunk_rows(rows, batch, j.w_row, nth);
    j.n_chunks = (rows + j.chunk_rows - 1) / j.chunk_rows;
    atomic_init(&j.next, nth);
    if (nth == 1 || j.n_chunks == 1)
        dot_task(&j, 0, 1);
    else
        tq_pool_run(pool, dot_task, &j);
}
