/* Tests for tensor/types.c: the type table and FP16/BF16 conversion. */
#include "test.h"
#include "tensor/types.h"

TEST(types_table_sizes)
{
    /* Bytes per block from the ggml block layouts (ggml-common.h static_asserts). */
    CHECK_EQ(tq_row_size(TQ_Q4_0, 64), 36);
    CHECK_EQ(tq_row_size(TQ_Q4_K, 512), 288);
    CHECK_EQ(tq_row_size(TQ_Q6_K, 256), 210);
    CHECK_EQ(tq_row_size(TQ_Q8_K, 256), 292);
    CHECK_EQ(tq_row_size(TQ_Q4_K, 100), 0); /* not a multiple of the block */
    CHECK_EQ(tq_row_size(4, 32), 0);        /* a retired id */
    CHECK(tq_traits_of(TQ_IQ2_XXS) && !tq_traits_of(TQ_IQ2_XXS)->supported);
    CHECK_STR(tq_type_name(TQ_BF16), "BF16");
    CHECK_EQ(tq_type_from_name("q5_k"), TQ_Q5_K);
    CHECK_EQ(tq_type_from_name("nope"), -1);
}

TEST(types_f16_known_values)
{
    /* Values from the IEEE 754 binary16 definition. */
    CHECK_EQ(tq_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ(tq_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ(tq_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ(tq_f32_to_f16(65520.0f), 0x7c00);   /* rounds up to infinity */
    CHECK_EQ(tq_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal */
    CHECK_EQ(tq_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie rounds to even */
    CHECK_EQ(tq_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);
    CHECK_NEAR(tq_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(tq_f16_to_f32(0x0001), 5.9604644775390625e-8, 0);
    CHECK(isinf(tq_f16_to_f32(0x7c00)));
    CHECK(isnan(tq_f16_to_f32(0x7e00)));
    /* Every finite half survives a round trip through float. */
    for (unsigned h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        if (tq_f32_to_f16(tq_f16_to_f32((tq_f16)h)) != h) {
            CHECK_EQ(tq_f32_to_f16(tq_f16_to_f32((tq_f16)h)), h);
            break;
        }
    }
}

TEST(types_bf16_known_values)
{
    CHECK_EQ(tq_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ(tq_f32_to_bf16(-0.5f), 0xbf00);
    CHECK_NEAR(tq_bf16_to_f32(0x4049), 3.140625, 0);
    CHECK(isnan(tq_bf16_to_f32(tq_f32_to_bf16(NAN))));
}
