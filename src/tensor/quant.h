/*
 * quant.h — converting between float32 and every weight type.
 *
 * Dequantization is defined for every type hearth supports and is bit-exact with ggml's
 * meaning of each block layout (tested against gguf-py's values in
 * ../shared/testdata/reference/dequant.json). Quantization is offered for the types people
 * make models in (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) plus Q8_K
 * (activations); its round-trip error bounds are documented per type in quant.c and tested.
 * These are the plain-C definitions: fast paths live in kernels/.
 */
#ifndef HEARTH_TENSOR_QUANT_H
#define HEARTH_TENSOR_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

/* Can tq_dequantize handle this type? */
bool tq_can_dequantize(int type);
/* Dequantize n values (n a multiple of the type's block size) from src into dst. */
void tq_dequantize(int type, const void *src, float *dst, int64_t n);

/* Can tq_quantize produce this type? */
bool tq_can_quantize(int type);
/* Quantize n values (a multiple of the block size) into dst, which must hold
 * tq_row_size(type, n) bytes. Returns the number of bytes written. */
size_t tq_quantize(int type, const float *src, void *dst, int64_t n);

#endif
