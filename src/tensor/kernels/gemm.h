/*
 * gemm.h — matrix-matrix products for prompt batches: the data layouts shared by
 * matmul.c, the kernels (gemm_ref.c, gemm_avx512.c) and their tests.
 *
 * Why a second path next to vec_dot: a batch of B activation rows against a weight matrix
 * costs B dot products per weight row, and vec_dot re-decodes the weight block, re-converts
 * its scale and reduces a vector to one float for every one of them. The GEMM path decodes
 * each weight once per product into a small panel of plain int8 values with one float scale
 * per block, and keeps 4 weight rows x 32 activation rows of accumulators in registers, so
 * the inner loop is nothing but integer multiply-adds (AVX-512 VNNI vpdpbusd).
 *
 * Arithmetic (exact within a block, float across blocks, as in vec_dot): a block holds bs
 * (16 or 32) values of one weight row: signed int8 quants q, a float scale d and, for the
 * types with a minimum, a float m. The activations of a block are the int8 quants a of the
 * vec_dot type with scale da and sum sa = da * sum(a). Then
 *     y += ((float)isum * da) * d  +  m * sa,      isum = sum(q * a)  (exact integer)
 * vpdpbusd multiplies unsigned by signed bytes, so the activations are stored as a + 128
 * and each weight block carries corr = -128 * sum(q), with which isum starts.
 *
 * K-quants (Q4_K, Q5_K: 8 blocks of 32 per super-block of 256; Q2_K, Q3_K, Q6_K: 16
 * blocks of 16) keep
 * their block scales as the small integers sc (and Q4_K/Q5_K their mins mn) of the file,
 * and their activations (Q8_K) have one scale da per super-block, so a whole super-block
 * sums exactly in integers, as their vec_dot does:
 *     T = sum over blocks of sc * isum,    M = sum over blocks of mn * A   (A = sum(a))
 *     y += (((float)T * d) + (float)M * dm) * da      (one fused multiply-add each, in
 *                                                        this order; dm = -dmin)
 * A block scale then costs one integer multiply instead of a float multiply and add, which
 * share the vector multiply units with vpdpbusd. Bounds (|a| <= 128): Q5_K |isum| <=
 * 32 * 31 * 128, times sc <= 63 and 8 blocks < 2^26; Q6_K 16 * 32 * 128 * 128 * 16 < 2^28;
 * M <= 63 * 32 * 128 * 8 < 2^21; Q2_K's and Q3_K's are smaller: no int32 overflow.
 *
 * Activation layout ("packed"): columns (activation rows) in groups of 16; per group and
 * block a record of 16 * bs bytes of quants, a dword (4 consecutive values) per column at a
 * time: byte [4 * (16 * g + c) + i] = a[c][4 * g + i] + 128, then float da[16], float sa[16].
 * For Q8_K activations (the K-quants' vec_dot type) da is the super-block's scale, and the
 * sa slot holds integers instead: on an even block, for each column the int16 pair
 * (A of this block, A of the next) as one dword, the operand of vpdpwssd; zero on odd ones.
 * Columns past the batch are zero (a = 0, da = sa = 0) and contribute nothing.
 *
 * Weight panel: TQ_GEMM_ROWS consecutive weight rows decoded over nblk blocks, row-major;
 * rows past the matrix are zero. K-quant panels have sub > 0 and hold the integer scales
 * in sc, the mins as int16 pairs in mn (on even blocks, as the activations' A), and the
 * super-block's d and dm in d and m on its first block.
 */
#ifndef HEARTH_TENSOR_KERNELS_GEMM_H
#define HEARTH_TENSOR_KERNELS_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TQ_GEMM_ROWS 16   /* weight rows per panel (a multiple of 4) */
#define TQ_GEMM_COLS 16   /* activation rows per packed group */
#define TQ_GEMM_KC 2048   /* values per panel: a multiple of 256, so K-quant blocks never straddle */

typedef struct tq_gemm_panel {
    int bs, nblk;        /* block size (16 or 32) and blocks per row */
    int sub;             /* K-quants: blocks per super-block (8 or 16); 0 for the others */
    bool has_min;        /* m (and for K-quants mn) is used */
    int max_q;           /* tq_gemm_max_q of the type: no |q| is larger */
    int8_t *q;           /* [TQ_GEMM_ROWS][nblk * bs] */
    float *d, *m;        /* [TQ_GEMM_ROWS][nblk] */
    int32_t *corr;       /* [TQ_GEMM_ROWS][nblk] = -128 * sum of the block's q */
    int32_t *sc, *mn;    /* [TQ_GEMM_ROWS][nblk], K-quants only */
} tq_gemm_panel;

/* Blocks per super-block of a type's GEMM panel: 8 or 16 for the K-quants, else 0. */
int tq_gemm_sub_blocks(int type);

/* Block size of the GEMM path for a weight type, 0 when the type has none. */
int tq_gemm_block_size(int type);
/* The largest |q| a panel of the type can hold (Q8_0: 128, Q6_K: 32, Q4_0: 8, ...): the
 * AVX2 kernel sums more products in int16 the smaller it is. */
int tq_gemm_max_q(int type);
/* Bytes of one packed record (one group of 16 columns, one block). */
size_t tq_gemm_record_size(int bs);

/* Pack columns c0 .. c0+15 (those below n are real) of activation rows already converted
 * to the vec_dot type vt (rows of x_row bytes) for blocks 0 .. nblk-1, into dst (nblk
 * records). */
void tq_gemm_pack_group(int vt, int bs, const void *xq, size_t x_row, int c0, int n, int nblk,
                        uint8_t *dst);

/* Decode weight rows 0 .. rows-1 (rows <= TQ_GEMM_ROWS; w_row bytes apart) over blocks
 * blk0 .. blk0+nblk-1 into p (p->q, d, m, corr point to buffers of the sizes above). */
typedef void (*tq_gemm_unpack_fn)(int type, const void *W, size_t w_row, int rows, int blk0,
                                  int nblk, tq_gemm_panel *p);
/* y[c * ldy + r] (+)= the product of panel row r with column c, for r < rows, c < cols.
 * act: the packed records of group 0 at the panel's first block; group_stride: bytes from
 * one group's records to the next. accumulate: add to y instead of storing. */
typedef void (*tq_gemm_fn)(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride,
                           float *y, int ldy, int rows, int cols, bool accumulate);

void tq_gemm_unpack_ref(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                        tq_gemm_panel *p);
void tq_gemm_ref(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                 int ldy, int rows, int cols, bool accumulate);
void tq_gemm_unpack_avx2(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                         tq_gemm_panel *p);
void tq_gemm_avx2(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                  int ldy, int rows, int cols, bool accumulate);
void tq_gemm_unpack_avx512(int type, const void *W, size_t w_row, int rows, int blk0, int nblk,
                           tq_gemm_panel *p);
void tq_gemm_avx512(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride, float *y,
                    int ldy, int rows, int cols, bool accumulate);
/* gemm_vnni256.h's kernel in its two encodings: AVX-VNNI, and AVX-512 VNNI with VL. */
void tq_gemm_avxvnni(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride,
                     float *y, int ldy, int rows, int cols, bool accumulate);
void tq_gemm_vnni256_avx512(const tq_gemm_panel *p, const uint8_t *act, size_t group_stride,
                            float *y, int ldy, int rows, int cols, bool accumulate);

/* ---- Float weights (F32, F16, BF16) ------------------------------------------------------
 * Batches on float weights multiply float activations (for F16 weights rounded to F16
 * first: the values their vec_dot sees). A panel is TQ_GEMMF_ROWS weight rows over
 * kc <= TQ_GEMMF_KC values, decoded to F32 and stored k-major: panel[k * TQ_GEMMF_ROWS + r]
 * (rows past the matrix, and k past kc up to the next multiple of 16, are 0). One k of the
 * panel is then two vectors of 16 rows, which the kernel multiplies by one broadcast
 * activation value per batch row: the output rows of a batch row come out contiguous, as y
 * stores them, and the activations need no packing. A panel (32 KiB) is decoded once per
 * product and used by every batch row. */
#define TQ_GEMMF_ROWS 32
#define TQ_GEMMF_KC 256   /* a multiple of 16 */

/* Is this a float weight type (F32, F16, BF16)? */
bool tq_gemmf_type(int type);
/* Values k0 .. k0+kc-1 of one row of a float type as floats. */
void tq_gemmf_decode_row(int type, const void *row, int k0, int kc, float *out);

/* Decode weight rows 0 .. rows-1 (rows <= TQ_GEMMF_ROWS, w_row bytes apart), values
 * k0 .. k0+kc-1, into panel (TQ_GEMMF_ROWS * TQ_GEMMF_KC floats). */
typedef void (*tq_gemmf_unpack_fn)(int type, const void *W, size_t w_row, int rows, int k0,
                                   int kc, float *panel);
/* y[c * ldy + r] (+)= sum over k < kc of panel[k][r] * x[c * ldx + k], for r < rows and
 * c < cols (x points at the batch's values k0 .. of row 0). accumulate: add to y. */
typedef void (*tq_gemmf_fn)(const float *panel, int kc, const float *x, size_t ldx, float *y,
                            int ldy, int rows, int cols, bool accumulate);

void tq_gemmf_unpack_ref(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                         float *panel);
void tq_gemmf_ref(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                  int rows, int cols, bool accumulate);
void tq_gemmf_unpack_avx512(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                            float *panel);
void tq_gemmf_unpack_avx2(int type, const void *W, size_t w_row, int rows, int k0, int kc,
                          float *panel);
void tq_gemmf_avx2(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                   int rows, int cols, bool accumulate);
void tq_gemmf_avx512(const float *panel, int kc, const float *x, size_t ldx, float *y, int ldy,
                     int rows, int cols, bool accumulate);

#endif
