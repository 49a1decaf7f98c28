/*
 * matmul.h — matrix-vector and matrix-matrix products on weights of any supported type.
 *
 * Shapes follow GGUF: a weight matrix W has `rows` rows of `cols` values each, stored as
 * rows of tq_row_size(type, cols) bytes. Activations x are `batch` rows of `cols` floats;
 * the result y is `batch` rows of `rows` floats:  y[b][r] = sum_k W[r][k] * x[b][k].
 * The activations are converted once to the weight type's vec_dot_type into `scratch`
 * (tq_matmul_scratch_size bytes), then output rows are split across the pool's threads.
 */
#ifndef HEARTH_TENSOR_MATMUL_H
#define HEARTH_TENSOR_MATMUL_H

#include <stddef.h>

#include "tensor/kernels.h"
#include "tensor/pool.h"

size_t tq_matmul_scratch_size(int type, int cols, int batch);
void tq_matmul(tq_pool *pool, const tq_kernels *k, float *y, const void *W, int type,
               int rows, int cols, const float *x, int batch, void *scratch);

/* Several products of the same activations x (batch rows of cols): items[i].y = W_i . x.
 * Weights whose types share a vec_dot_type are done in one pool run; scratch holds the
 * largest tq_matmul_scratch_size of the items. At most TQ_MATMUL_MAX_ITEMS items are
 * fused; more are done one after another. */
#define TQ_MATMUL_MAX_ITEMS 4
typedef struct tq_matmul_item {
    float *y;
    const void *W;
    int type, rows;
} tq_matmul_item;
void tq_matmul_multi(tq_pool *pool, const tq_kernels *k, const tq_matmul_item *items, int n,
                     int cols, const float *x, int batch, void *scratch);

#endif
