/*
 * whisper_avx2.c — rounding float vectors to F16 precision with the F16C instructions.
 *
 * whisper.c rounds every input of a product with F16 weights, the attention keys, values
 * and probabilities to F16, as ggml does; done one value at a time in portable C this
 * costs several percent of a transcription. The hardware conversion rounds to nearest
 * even like tq_f32_to_f16, so results are identical. This file is compiled with -mavx2
 * -mf16c (its name says so) and only called when the CPU has both.
 */
#include <immintrin.h>
#include <stddef.h>

void wsp_round_f16_avx2(float *x, size_t n);

void wsp_round_f16_avx2(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    if (i < n) {
        float tmp[8] = { 0 };
        for (size_t k = i; k < n; k++)
            tmp[k - i] = x[k];
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(tmp), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(tmp, _mm256_cvtph_ps(h));
        for (size_t k = i; k < n; k++)
            x[k] = tmp[k - i];
    }
}
