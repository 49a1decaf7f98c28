/*
 * kquant.h — unpacking of the packed sub-block scales of the K-quants, shared by
 * kquant_ref.c, kquant_avx2.c and kquant_avx512.c (private to those files).
 *
 * Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes; Q3_K packs
 * sixteen 6-bit scales (stored with a +32 bias) into 12 bytes. Both unpackers work on
 * 32-bit words with per-byte masks, so no shift moves a bit from one byte into another and
 * the result does not depend on the host's byte order.
 */
#ifndef HEARTH_TENSOR_KERNELS_KQUANT_H
#define HEARTH_TENSOR_KERNELS_KQUANT_H

#include <stdint.h>
#include <string.h>

/* The unpackers fill four 32-bit words (bytes in memory order), which SIMD callers move
 * straight into a vector register: going through a byte array in memory would make a
 * 16-byte load wait on four 4-byte stores (a store-forwarding stall per super-block). */

/* Bytes 0..7 = scales of the eight 32-value sub-blocks, bytes 8..15 = their mins (0..63).
 * Packed, bytes 0..3 hold scales 0..3 and bytes 4..7 mins 0..3 (low six bits); scales and
 * mins 4..7 take their low nibble from bytes 8..11 and their top two bits from the spare
 * top bits of bytes 0..3 (scales) and 4..7 (mins). */
static inline void kq_unpack_scales_q4k(const uint8_t packed[12], uint32_t w[4])
{
    uint32_t a0, a1, a2;
    memcpy(&a0, packed, 4);
    memcpy(&a1, packed + 4, 4);
    memcpy(&a2, packed + 8, 4);
    w[0] = a0 & 0x3f3f3f3fu;
    w[1] = (a2 & 0x0f0f0f0fu) | (((a0 >> 6) & 0x03030303u) << 4);
    w[2] = a1 & 0x3f3f3f3fu;
    w[3] = ((a2 >> 4) & 0x0f0f0f0fu) | (((a1 >> 6) & 0x03030303u) << 4);
}

/* Byte i = biased 6-bit scale of 16-value group i (0..63; the real scale is byte i - 32).
 * Low nibbles: bytes 0..7 low halves for groups 0..7, high halves for groups 8..15. Top
 * two bits: byte 8 + i%4, bit pair i/4. */
static inline void kq_unpack_scales_q3k(const uint8_t packed[12], uint32_t w[4])
{
    uint32_t a0, a1, a2;
    memcpy(&a0, packed, 4);
    memcpy(&a1, packed + 4, 4);
    memcpy(&a2, packed + 8, 4);
    w[0] = (a0 & 0x0f0f0f0fu) | ((a2 & 0x03030303u) << 4);
    w[1] = (a1 & 0x0f0f0f0fu) | (((a2 >> 2) & 0x03030303u) << 4);
    w[2] = ((a0 >> 4) & 0x0f0f0f0fu) | (((a2 >> 4) & 0x03030303u) << 4);
    w[3] = ((a1 >> 4) & 0x0f0f0f0fu) | (((a2 >> 6) & 0x03030303u) << 4);
}

#endif
